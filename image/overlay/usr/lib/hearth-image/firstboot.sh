#!/bin/sh
# First-boot setup of a freshly flashed Hearth box (hearth-firstboot.service).
# The data partition and its file system were already grown to the disk by
# systemd-repart and systemd-growfs; this reports that, checks the host name,
# and leaves the marker that keeps this from running again. Hearth makes its
# own secrets (the setup code, session keys) in its data directory, so none
# are needed here. SSH host keys are not made: SSH is off until enabled.
set -eu
say() { echo "HEARTH-FIRSTBOOT: $*"; }

data=/var/lib/hearth
say "first boot of this box"
say "data partition: $(df -h --output=size,avail "$data" | tail -1 | awk '{print $1 " (" $2 " free)"}') at $data"

# The image ships host name "hearth"; Hearth's mDNS makes it hearth.local.
# (Two boxes in one office: Hearth's mDNS resolves the clash, not the OS.)
name=$(cat /etc/hostname 2>/dev/null || true)
if [ "$name" != hearth ]; then
    echo hearth > /etc/hostname
    hostname hearth
    name=hearth
fi
say "host name: $name"

touch "$data/.hearth-firstboot-done"
sync "$data/.hearth-firstboot-done" 2>/dev/null || sync
say "done; Hearth starts next and prints its setup code"
