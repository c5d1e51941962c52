#!/usr/bin/env bash
# Boots a Hearth image in QEMU (UEFI via OVMF, q35, software emulation unless
# ACCEL=kvm) the way a mini-PC would boot it, and controls that machine:
#
#   image/qemu.sh start [--reuse] [IMAGE]   boot in the background; prints the
#                                           pid, serial log and QMP socket paths
#   image/qemu.sh poweroff [SECONDS]        ACPI power button via QMP; waits (default
#                                           120 s) for a clean shutdown, then kills
#   image/qemu.sh kill                      pull the plug (power cut)
#   image/qemu.sh status                    running or not
#
# The image itself is never written: the machine boots a qcow2 overlay
# ($RUN/overlay.qcow2) whose virtual size ($GROW, default 8G) is larger than the
# image, like a real disk bigger than the image flashed onto it, so first boot
# grows the data partition. --reuse boots the same overlay (and UEFI variables)
# again: a second boot of the same box. Without --reuse the overlay is new: a
# freshly flashed box.
#
# Environment: RUN (default image/out/run), PORT (default 28080: host
# 127.0.0.1:$PORT -> guest :80, $PORT+1 -> :443), GROW, MEM (2048), ACCEL (tcg),
# DEBUG_SHELL=1 (the second serial port on the unix socket $RUN/ttyS1.sock,
# where an image built with HEARTH_DEBUG_SHELL=1 has a root shell).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
RUN=${RUN:-$HERE/out/run}
PORT=${PORT:-28080}
GROW=${GROW:-8G}
MEM=${MEM:-2048}
ACCEL=${ACCEL:-tcg}
OVMF_CODE=/usr/share/OVMF/OVMF_CODE_4M.fd
OVMF_VARS=/usr/share/OVMF/OVMF_VARS_4M.fd
PIDFILE=$RUN/qemu.pid
QMP=$RUN/qmp.sock

die() { echo "image/qemu.sh: $*" >&2; exit 1; }

# The pid of our QEMU, only if it is still running and really is ours (a
# stale pid file must never make us signal some other process).
our_pid() {
    local pid
    [ -f "$PIDFILE" ] || return 1
    pid=$(cat "$PIDFILE")
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q "qemu-system-x86_64 .*$RUN/overlay.qcow2" || return 1
    echo "$pid"
}

qmp() {  # qmp COMMAND: sends one QMP command, bounded by a 10 s timeout
    timeout 10 python3 - "$QMP" "$1" <<'EOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(8)
s.connect(sys.argv[1])
f = s.makefile("rw")
f.readline()  # greeting
for cmd in ("qmp_capabilities", sys.argv[2]):
    f.write(json.dumps({"execute": cmd}) + "\n")
    f.flush()
    while True:  # skip asynchronous events until the command's answer
        answer = json.loads(f.readline())
        if "return" in answer or "error" in answer:
            break
    if "error" in answer:
        sys.exit(f"QMP {cmd}: {answer['error']}")
EOF
}

cmd_start() {
    local reuse=0 img=""
    while [ $# -gt 0 ]; do
        case "$1" in
            --reuse) reuse=1 ;;
            -*) die "unknown option $1" ;;
            *) img=$1 ;;
        esac
        shift
    done
    if pid=$(our_pid); then die "already running (pid $pid); use poweroff or kill first"; fi
    [ -r "$OVMF_CODE" ] || die "no OVMF firmware: run bash image/deps.sh"
    mkdir -p "$RUN"
    if [ "$reuse" = 1 ]; then
        [ -f "$RUN/overlay.qcow2" ] || die "--reuse: no overlay in $RUN (start once without --reuse)"
    else
        if [ -z "$img" ]; then
            img=$(ls -t "$HERE"/out/hearth-*.img 2>/dev/null | head -1)
            [ -n "$img" ] || die "no image in $HERE/out: run image/build.sh, or name one"
        fi
        [ -f "$img" ] || die "no image at $img"
        rm -f "$RUN/overlay.qcow2"
        qemu-img create -q -f qcow2 -b "$(realpath "$img")" -F raw "$RUN/overlay.qcow2" "$GROW"
        cp "$OVMF_VARS" "$RUN/vars.fd"
    fi
    local serial
    serial=$RUN/serial-$(date +%Y%m%d-%H%M%S).log
    rm -f "$QMP" "$PIDFILE"
    local debug=()
    if [ "${DEBUG_SHELL:-0}" = 1 ]; then
        rm -f "$RUN/ttyS1.sock"
        debug=(-serial unix:"$RUN/ttyS1.sock",server=on,wait=off)
    fi
    # Keep the serial logs of the last few boots only.
    { ls -t "$RUN"/serial-*.log 2>/dev/null || true; } | tail -n +6 | xargs -r rm -f
    qemu-system-x86_64 -name hearth -machine q35,accel="$ACCEL" -cpu max -smp 2 -m "$MEM" \
        -nodefaults -display none \
        -drive if=pflash,format=raw,unit=0,readonly=on,file="$OVMF_CODE" \
        -drive if=pflash,format=raw,unit=1,file="$RUN/vars.fd" \
        -drive file="$RUN/overlay.qcow2",format=qcow2,if=virtio \
        -netdev user,id=n0,hostfwd=tcp:127.0.0.1:"$PORT"-:80,hostfwd=tcp:127.0.0.1:"$((PORT + 1))"-:443 \
        -device virtio-net-pci,netdev=n0 -device virtio-rng-pci \
        -serial file:"$serial" "${debug[@]}" -qmp unix:"$QMP",server=on,wait=off \
        -pidfile "$PIDFILE" -daemonize
    ln -sfn "$(basename "$serial")" "$RUN/serial.log"
    echo "pid $(cat "$PIDFILE")"
    echo "serial $serial"
    echo "qmp $QMP"
    echo "http http://127.0.0.1:$PORT/"
}

wait_gone() {  # wait_gone PID SECONDS: true once PID has exited
    local i
    for ((i = 0; i < $2 * 2; i++)); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.5
    done
    return 1
}

cmd_poweroff() {
    local limit=${1:-120} pid t0
    pid=$(our_pid) || { echo "not running"; return 0; }
    t0=$(date +%s%N)
    qmp system_powerdown || echo "QMP power button failed" >&2
    if wait_gone "$pid" "$limit"; then
        awk -v ns=$(( $(date +%s%N) - t0 )) 'BEGIN { printf "clean power-off after %.1f s\n", ns / 1e9 }'
        rm -f "$PIDFILE"
        return 0
    fi
    echo "no clean power-off within ${limit} s: killing pid $pid" >&2
    cmd_kill
    return 1
}

cmd_kill() {
    local pid
    pid=$(our_pid) || { echo "not running"; return 0; }
    kill -KILL "$pid"
    wait_gone "$pid" 10 || die "pid $pid survives SIGKILL"
    rm -f "$PIDFILE"
    echo "killed pid $pid (power cut)"
}

cmd_status() {
    if pid=$(our_pid); then echo "running, pid $pid, serial $(realpath "$RUN/serial.log")"; else echo "not running"; fi
}

case "${1:-}" in
    start) shift; cmd_start "$@" ;;
    poweroff) shift; cmd_poweroff "$@" ;;
    kill) cmd_kill ;;
    status) cmd_status ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 2 ;;
esac
