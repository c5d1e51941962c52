#!/usr/bin/env bash
# The update test: A/B updates on the real image, boot loader and units,
# under QEMU, driven from outside as the owner would (Admin -> System).
#   1. A freshly flashed v1 box (generation 1): setup, a document.
#   2. The v2 bundle (generation 2) uploaded: the updater writes slot B, the
#      box restarts into it, the power is cut while v2 boots for the first
#      time, the box tries v2 again and confirms it; Admin -> System says
#      "Updated", the account and the document are still there.
#   3. A power cut while the updater writes v3 to slot A: the box boots v2
#      again with its data, and says the update was interrupted.
#   4. A broken v3 (its Hearth cannot start) uploaded again: three tries,
#      then the box goes back to v2 by itself, with the data as it was, and
#      says so.
# Prints timings; exits non-zero on any failure, with the last serial lines.
#
# Usage (as root): bash image/test-update.sh
# It builds what is missing: the v1 image (as image/test.sh does) and the v2
# and v3 bundles (image/out/v2, image/out/v3; about 2 minutes each with a
# warm package cache). Environment: as image/test.sh.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
cd "$REPO"
OUT=${OUT:-$HERE/out}
export RUN=${RUN:-$OUT/run-update}
export PORT=${PORT:-28090}
READY_TIMEOUT=${READY_TIMEOUT:-720}
BASE=http://127.0.0.1:$PORT
V1=$(sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -1)
V2=$V1-u2
V3=$V1-u3
IMG=$OUT/hearth-$V1.img
STATE=$RUN/state.json
if [ -z "${HEARTH_BIN:-}" ]; then
    for candidate in /tmp/hearth-appliance target/debug/hearth; do
        [ -x "$candidate" ] && { HEARTH_BIN=$candidate; break; }
    done
fi
export HEARTH_BIN

T0=$(date +%s)
since() { echo $(( $(date +%s) - $1 )); }
TIMINGS=()
timing() { TIMINGS+=("$(printf '%-34s %5s s' "$1" "$2")"); echo "  [$1: $2 s]"; }
fail() {
    echo "FAIL: $*" >&2
    if [ -f "$RUN/serial.log" ]; then
        echo "--- last 60 serial lines ($(realpath "$RUN/serial.log")) ---" >&2
        tail -n 60 "$RUN/serial.log" | tr -d '\r' >&2
    fi
    exit 1
}
cleanup() { bash "$HERE/qemu.sh" kill >/dev/null 2>&1 || true; }
trap cleanup EXIT
mkdir -p "$RUN"
bash "$HERE/deps.sh"

# ---------------------------------------------------------------- builds
build() {  # build OUT_DIR VERSION GENERATION [extra env...]
    local dir=$1 version=$2 generation=$3
    shift 3
    [ -f "$dir/hearth-$version.bundle" ] && [ "${REBUILD:-0}" != 1 ] && return 0
    local t; t=$(date +%s)
    env OUT="$dir" HEARTH_VERSION="$version" HEARTH_GENERATION="$generation" COMPRESS=0 "$@" \
        bash "$HERE/build.sh" > "$dir.log" 2>&1 || { tail -20 "$dir.log"; fail "building $version failed"; }
    # Only the bundle is needed; the raw image takes gigabytes of sparse file.
    rm -f "$dir/hearth-$version.img"
    timing "build $version (bundle)" "$(since "$t")"
}
if [ ! -f "$IMG" ]; then
    t=$(date +%s)
    bash "$HERE/build.sh" > "$OUT/v1.log" 2>&1 || { tail -20 "$OUT/v1.log"; fail "building v1 failed"; }
    timing "build $V1 (image)" "$(since "$t")"
fi
mkdir -p "$OUT/v2" "$OUT/v3"
build "$OUT/v2" "$V2" 2
build "$OUT/v3" "$V3" 3 HEARTH_TEST_BREAK=1

wait_ready() {  # wait_ready SECONDS
    local t0; t0=$(date +%s)
    while [ "$(since "$t0")" -lt "$1" ]; do
        bash "$HERE/qemu.sh" status | grep -q running || fail "QEMU stopped"
        if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Host: localhost' "$BASE/readyz")" = 200 ]; then
            return 0
        fi
        sleep 3
    done
    fail "Hearth not ready within $1 s"
}
# wait_restart SECONDS: until the box has gone down (readyz stops answering)
# and come back up.
wait_restart() {
    local t0; t0=$(date +%s)
    while [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Host: localhost' "$BASE/readyz")" = 200 ]; do
        [ "$(since "$t0")" -lt 300 ] || fail "the box did not restart"
        sleep 2
    done
    wait_ready "$1"
}
# Boots so far in this serial log: the kernel's banner starts each one.
boots() { grep -ac 'Linux version' "$RUN/serial.log" || true; }

# ---------------------------------------------------------------- 1. v1
echo "== v1: a freshly flashed box"
t=$(date +%s)
bash "$HERE/qemu.sh" start "$IMG" >/dev/null
wait_ready "$READY_TIMEOUT"
timing "v1 boot to ready" "$(since "$t")"
code=$(grep -ao 'setup code: [A-Z0-9]\{4\}-[A-Z0-9]\{4\}-[A-Z0-9]\{4\}' "$RUN/serial.log" | tail -1 | cut -d' ' -f3)
[ -n "$code" ] || fail "no setup code on the serial console"
python3 "$HERE/http_check.py" setup "$BASE" "$STATE" "$code" || fail "setup on v1"
python3 "$HERE/http_check.py" system "$BASE" "$STATE" "runs Hearth $V1" || fail "v1's Admin -> System"

# ---------------------------------------------------------------- 2. v2
echo "== v2: uploaded on Admin -> System, installed into slot B, restarted into"
t=$(date +%s)
python3 "$HERE/http_check.py" update "$BASE" "$STATE" "$OUT/v2/hearth-$V2.bundle" || fail "installing v2"
timing "v2 upload, check and write" "$(since "$t")"
# A power cut while v2 boots for the first time (a try spent), then v2 again.
before=$(boots)
for _ in $(seq 120); do [ "$(boots)" -gt "$before" ] && break; sleep 1; done
[ "$(boots)" -gt "$before" ] || fail "the box did not restart into v2"
sleep 10
bash "$HERE/qemu.sh" kill >/dev/null
t=$(date +%s)
bash "$HERE/qemu.sh" start --reuse >/dev/null
wait_ready "$READY_TIMEOUT"
timing "v2 boot after a power cut in its first boot" "$(since "$t")"
# Confirmed by hearth-health (the entry is blessed): Admin -> System says so.
for _ in $(seq 60); do
    python3 "$HERE/http_check.py" system "$BASE" "$STATE" "Updated from version $V1 to $V2" >/dev/null 2>&1 && break
    sleep 3
done
python3 "$HERE/http_check.py" system "$BASE" "$STATE" "runs Hearth $V2" "Updated from version $V1 to $V2" \
    || fail "v2 is not confirmed on Admin -> System"
python3 "$HERE/http_check.py" second "$BASE" "$STATE" || fail "the data after the update to v2"
python3 "$HERE/http_check.py" system "$BASE" "$STATE" "slot B" || fail "v2 did not boot from slot B"

# ---------------------------------------------------------------- 3. power cut
echo "== a power cut while the updater writes v3 into slot A"
python3 "$HERE/http_check.py" update "$BASE" "$STATE" "$OUT/v3/hearth-$V3.bundle" writing \
    || fail "starting the v3 update"
sleep 3
bash "$HERE/qemu.sh" kill >/dev/null
t=$(date +%s)
bash "$HERE/qemu.sh" start --reuse >/dev/null
wait_ready "$READY_TIMEOUT"
timing "boot after the power cut" "$(since "$t")"
python3 "$HERE/http_check.py" system "$BASE" "$STATE" "runs Hearth $V2" "was interrupted" \
    || fail "after the power cut, Admin -> System"
python3 "$HERE/http_check.py" second "$BASE" "$STATE" || fail "the data after the power cut"
python3 "$HERE/http_check.py" system "$BASE" "$STATE" "slot B" || fail "after the power cut the box did not boot v2 from slot B"

# ---------------------------------------------------------------- 4. broken v3
echo "== a broken v3: three tries, then back to v2 by itself"
before=$(boots)
t=$(date +%s)
python3 "$HERE/http_check.py" update "$BASE" "$STATE" "$OUT/v3/hearth-$V3.bundle" || fail "installing v3"
wait_restart $(( READY_TIMEOUT * 3 ))
timing "broken v3 to back on v2" "$(since "$t")"
# Boots since the upload: v3's tries, then v2 again.
tries=$(( $(boots) - before - 1 ))
echo "boots of v3 before going back: $tries"
python3 "$HERE/http_check.py" system "$BASE" "$STATE" "runs Hearth $V2" "went back to version $V2" \
    || fail "after the failed v3, Admin -> System"
python3 "$HERE/http_check.py" second "$BASE" "$STATE" || fail "the data after going back"
python3 "$HERE/http_check.py" system "$BASE" "$STATE" "slot B" || fail "the box did not go back to slot B"
[ "$tries" = 3 ] || fail "v3 was tried $tries times (expected 3 boots)"
bash "$HERE/qemu.sh" poweroff 120 >/dev/null || fail "no clean power-off"

echo
echo "update test passed ($IMG, bundles $V2 and broken $V3, from $HEARTH_BIN)"
printf '  %s\n' "${TIMINGS[@]}"
echo "  total                              $(since "$T0") s"
