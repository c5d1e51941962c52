#!/bin/bash
# Prints the boot report (see hearth-boot-report.service). Every wait is
# bounded: the report comes even when something is broken, and says so.
set -u

state=starting
for _ in $(seq 300); do
    state=$(systemctl is-system-running 2>/dev/null)
    [ "$state" != starting ] && [ "$state" != initializing ] && break
    sleep 1
done

# Hearth is ready when GET /readyz answers 200 (plain bash: no curl on the box).
readyz() {
    local status
    exec 3<>/dev/tcp/127.0.0.1/80 || return 1
    printf 'GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
    read -r -t 10 _ status _ <&3 || status=""
    exec 3<&- 3>&-
    [ "$status" = 200 ]
}
ready="not ready after 600 s"
for _ in $(seq 600); do
    if (readyz) 2>/dev/null; then ready="$(cut -d' ' -f1 /proc/uptime) s after kernel start"; break; fi
    sleep 1
done

# The running slot: the boot entry's root=PARTLABEL=root-<slot>.
slot=$(sed -n 's/.*root=PARTLABEL=root-\([a-z]*\).*/\1/p' /proc/cmdline)
# systemd-boot's EFI variable: 4 bytes of attributes, then UTF-16 text.
# (cat first: efivarfs files are read whole, tail's seek does not work there.)
entry=$(cat /sys/firmware/efi/efivars/LoaderEntrySelected-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f 2>/dev/null | tail -c +5 | tr -d '\0')
if [ "$(systemctl show -P ConditionResult hearth-firstboot.service)" = yes ]; then
    first="yes (hearth-firstboot ran)"
else
    first="no"
fi

echo "=== HEARTH-BOOT-REPORT ==="
echo "system state: $state"
systemd-analyze time 2>/dev/null | head -1
echo "hearth ready: $ready"
echo "first boot: $first"
echo "slot: ${slot:-?} (root $(findmnt -no SOURCE /)); boot entry: ${entry:-?}"
echo "hearth: $(systemctl show -P ActiveState hearth.service), restarts $(systemctl show -P NRestarts hearth.service), status: $(systemctl show -P StatusText hearth.service)"
echo "boot counting: $(systemctl is-active boot-complete.target) boot-complete.target"
echo "failed units:"
systemctl --failed --no-legend --plain | sed 's/^/  /'
for unit in $(systemctl --failed --no-legend --plain | awk '{print $1}'); do
    echo "  -- $unit (wanted by: $(systemctl show -P WantedBy -P RequiredBy -P TriggeredBy "$unit" | tr '\n' ' '))"
    journalctl -b -u "$unit" --no-pager -n 6 -o cat 2>/dev/null | sed 's/^/     /'
done
echo "listening sockets:"
ss -tulnH | awk '{print "  " $1, $5}' | sort -u
echo "security: $(systemd-analyze security hearth.service --no-pager 2>/dev/null | tail -1)"
echo "firewall: $(nft list chain inet hearth input >/dev/null 2>&1 && echo loaded || echo MISSING)"
# The name staff open, looked up by multicast DNS as a laptop would.
echo "mdns: hearth.local -> $(hearth lan resolve hearth.local --timeout 5 2>&1 | tr '\n' ' ')"
echo "console: $(systemctl is-active hearth-console@tty1.service) on tty1, $(systemctl is-active hearth-console@ttyS0.service) on ttyS0"
echo "update units: $(systemctl is-active hearth-update.path) hearth-update.path, $(systemctl is-active hearth-update-recover.service) recover, $(systemctl is-active hearth-health.service) health, $(systemctl is-active hearth-ssh.path) hearth-ssh.path"
# Touching /efi mounts the ESP (automount): proves vfat mounts on this box.
echo "esp: $(ls /efi/loader/entries 2>&1 | tr '\n' ' ')($(findmnt -no FSTYPE,OPTIONS /efi 2>/dev/null | tail -1))"
echo "disk:"
df -h --output=target,size,used,avail / /var/lib/hearth | sed 's/^/  /'
echo "=== END ==="
