#!/usr/bin/env bash
# The OS image test: boots Hearth's image under QEMU like a freshly flashed
# mini-PC and uses it from outside, as the office would:
#   1st boot: /readyz answers, the setup code is on the console, setup over
#             the API, sign-in, a streamed answer from the local model, a
#             document uploaded and found; the boot report shows only Hearth's
#             ports listening and the data partition grown; clean power-off.
#   2nd boot (same disk): first-boot did not rerun, the account signs in, the
#             document is still found; then a power cut (QEMU killed).
#   3rd boot: the same checks again after the power cut; clean power-off.
# Prints timings; exits non-zero on any failure, with the last serial lines.
#
# Usage: bash image/test.sh [--build]    (--build: rebuild the image first;
#        it is built anyway when missing). Must run as root (for the build).
# Environment: HEARTH_BIN (default /tmp/hearth-appliance if present, else
# /tmp/hearth-v1, else target/debug/hearth), READY_TIMEOUT (s, default 720),
# PORT, and image/build.sh's variables.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
cd "$REPO"
OUT=${OUT:-$HERE/out}
export RUN=${RUN:-$OUT/run}
export PORT=${PORT:-28080}
READY_TIMEOUT=${READY_TIMEOUT:-720}
BASE=http://127.0.0.1:$PORT
VERSION=${HEARTH_VERSION:-$(sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -1)}
IMG=$OUT/hearth-$VERSION.img
if [ -z "${HEARTH_BIN:-}" ]; then
    for candidate in /tmp/hearth-appliance /tmp/hearth-v1 target/debug/hearth; do
        [ -x "$candidate" ] && { HEARTH_BIN=$candidate; break; }
    done
fi
export HEARTH_BIN

T0=$(date +%s)
since() { echo $(( $(date +%s) - $1 )); }
TIMINGS=()
timing() { TIMINGS+=("$(printf '%-28s %5s s' "$1" "$2")"); echo "  [$1: $2 s]"; }

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

bash "$HERE/deps.sh"

# ---------------------------------------------------------------- build
if [ "${1:-}" = --build ] || [ ! -f "$IMG" ]; then
    t=$(date +%s)
    bash "$HERE/build.sh" || fail "image build failed"
    BUILT=1
    timing "build" "$(since "$t")"
fi
[ -f "$IMG" ] || fail "no image at $IMG"

# wait_ready SECONDS: until GET /readyz is 200, or QEMU stops, or time is up.
wait_ready() {
    local t0; t0=$(date +%s)
    while [ "$(since "$t0")" -lt "$1" ]; do
        bash "$HERE/qemu.sh" status | grep -q running || fail "QEMU stopped before Hearth was ready"
        if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Host: localhost' "$BASE/readyz")" = 200 ]; then
            return 0
        fi
        sleep 3
    done
    fail "Hearth not ready within $1 s"
}

# report: the boot report of the current boot (waits for it, bounded).
report() {
    local i
    for ((i = 0; i < 120; i++)); do
        grep -aq '=== END ===' "$RUN/serial.log" && break
        sleep 2
    done
    grep -aq '=== END ===' "$RUN/serial.log" || fail "no boot report on the serial console"
    # Only the report's own lines, without the kernel's "[ time] unit[pid]: " prefix.
    sed -n '/=== HEARTH-BOOT-REPORT ===/,/=== END ===/p' "$RUN/serial.log" | tr -d '\r' \
        | grep -a 'boot-report.sh\[' | sed -E 's/^.*boot-report\.sh\[[0-9]+\]: //'
}

# check_report REPORT FIRSTBOOT(yes|no): the facts every boot must show.
check_report() {
    local rep=$1 sockets bad
    echo "$rep" | grep -q '^system state: running' || fail "system not running cleanly (failed units?)"
    echo "$rep" | grep -q "^first boot: $2" || fail "boot report: first boot should be '$2'"
    echo "$rep" | grep -q '^firewall: loaded' || fail "firewall not loaded"
    # Listening sockets: only Hearth's :80 (and :443, udp 5353 when present)
    # on the outside; resolved's stub on 127.0.0.53/54 and loopback are fine,
    # and so is networkd's DHCP client (udp 68 / 546 bound to the link).
    sockets=$(echo "$rep" | sed -n '/^listening sockets:/,/^security:/p' | sed '1d;$d')
    bad=$(echo "$sockets" | awk '{print $2}' \
        | grep -vE '^(0\.0\.0\.0|\[::\]|\*):(80|443)$|^(0\.0\.0\.0|\[::\]|\*):5353$|^127\.|^\[::1\]:|^[^ ]*%[a-z0-9]+:(68|546)$' || true)
    [ -z "$bad" ] || fail "unexpected listening sockets: $(echo "$bad" | tr '\n' ' ')"
    echo "$sockets" | grep -qE ':80$' || fail "nothing listens on :80"
    echo "$sockets" | grep -qE ':443$' || fail "nothing listens on :443"
    echo "$rep" | grep -qE '^mdns: hearth.local -> [0-9]' || fail "hearth.local does not resolve by mDNS inside the box"
    echo "$rep" | grep -q '^console: active on tty1, active on ttyS0' || fail "the box's screen (hearth console) is not running"
    # hearth-health runs only when a new version is on trial (boot counting
    # pulls boot-complete.target in), so on these boots it is inactive.
    echo "$rep" | grep -q '^update units: active hearth-update.path, active recover, inactive health, active hearth-ssh.path' \
        || fail "the update and SSH units are not as they should be"
}

# ---------------------------------------------------------------- first boot
echo "== first boot (fresh disk, 8G overlay over the image)"
t=$(date +%s)
bash "$HERE/qemu.sh" start "$IMG"
wait_ready "$READY_TIMEOUT"
timing "first boot to ready" "$(since "$t")"

code=$(grep -ao 'setup code: [A-Z0-9]\{4\}-[A-Z0-9]\{4\}-[A-Z0-9]\{4\}' "$RUN/serial.log" | tail -1 | cut -d' ' -f3)
[ -n "$code" ] || fail "no setup code on the serial console"
echo "setup code from the console: $code"
grep -aq 'HEARTH-FIRSTBOOT: done' "$RUN/serial.log" || fail "hearth-firstboot did not report on the console"

t=$(date +%s)
python3 "$HERE/http_check.py" first "$BASE" "$RUN/state.json" "$code" || fail "HTTP checks (first boot)"
timing "setup, chat, documents" "$(since "$t")"

rep=$(report)
echo "$rep"
check_report "$rep" "yes"
# The data partition grew from its ~0.2 GiB in the image to most of the 8G disk.
data_size=$(echo "$rep" | awk '$1 == "/var/lib/hearth" {print $2}')
case "$data_size" in *G) [ "${data_size%%.*}" -ge 4 ] 2>/dev/null || fail "data partition not grown ($data_size)" ;;
    *) fail "data partition not grown ($data_size)" ;; esac

# HTTPS with the certificate the box made at its first start.
[ "$(curl -sk -o /dev/null -w '%{http_code}' --max-time 20 -H 'Host: localhost' "https://127.0.0.1:$((PORT + 1))/readyz")" = 200 ] \
    || fail "HTTPS (:443) does not answer /readyz"
# The box's screen on the serial console: the address and the setup code in
# large letters, drawn by hearth console.
grep -aq 'Open Hearth in a web browser in the office' "$RUN/serial.log" || fail "the box's screen is not on the serial console"

t=$(date +%s)
bash "$HERE/qemu.sh" poweroff 120 || fail "no clean power-off"
timing "power-off" "$(since "$t")"

# ---------------------------------------------------------------- second boot
echo "== second boot (same disk)"
first_serial=$(realpath "$RUN/serial.log")
t=$(date +%s)
bash "$HERE/qemu.sh" start --reuse
[ "$(realpath "$RUN/serial.log")" != "$first_serial" ] || fail "second boot reuses the first serial log"
wait_ready "$READY_TIMEOUT"
timing "second boot to ready" "$(since "$t")"
python3 "$HERE/http_check.py" second "$BASE" "$RUN/state.json" || fail "HTTP checks (second boot)"
rep=$(report)
echo "$rep"
check_report "$rep" "no"
if grep -aq 'HEARTH-FIRSTBOOT' "$RUN/serial.log"; then fail "first-boot ran again on the second boot"; fi

# ---------------------------------------------------------------- power cut
# Pull the plug while Hearth runs, boot again: the file systems recover from
# their journals and the data is still there.
echo "== power cut, third boot (same disk)"
bash "$HERE/qemu.sh" kill
t=$(date +%s)
bash "$HERE/qemu.sh" start --reuse
wait_ready "$READY_TIMEOUT"
timing "boot after power cut" "$(since "$t")"
python3 "$HERE/http_check.py" second "$BASE" "$RUN/state.json" || fail "HTTP checks (after power cut)"
rep=$(report)
check_report "$rep" "no"
t=$(date +%s)
bash "$HERE/qemu.sh" poweroff 120 || fail "no clean power-off (third boot)"
timing "power-off (third)" "$(since "$t")"

echo
echo "image test passed ($IMG${BUILT:+, built from $HEARTH_BIN})"
printf '  %s\n' "${TIMINGS[@]}"
echo "  total                        $(since "$T0") s"
