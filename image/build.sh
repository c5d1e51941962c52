#!/usr/bin/env bash
# Builds Hearth's flashable OS image and its update bundle, without Docker,
# loop devices or mounts (none of which this build machine has):
#   mmdebstrap -> root tree -> mkfs.ext4 -d (root, data) + mkfs.vfat/mtools
#   (ESP) -> sfdisk + dd into one raw GPT disk file.
#
# Output ($OUT, default image/out):
#   hearth-<version>.img        raw disk image (GPT, UEFI), sparse
#   hearth-<version>.img.zst    the same, compressed: what people flash
#   hearth-<version>.bundle     the update bundle (see image/README.md)
#
# Inputs (environment):
#   HEARTH_BIN        the hearth binary (default target/debug/hearth); copied stripped,
#                     with the llama.cpp libraries it names (hearth engine-libraries)
#   HEARTH_UNIT       its systemd unit (default systemd/hearth.service); the
#                     appliance's other hearth-* units beside it are installed
#                     and enabled (screen, updates, recover, health, SSH)
#   HEARTH_MODEL      the model put on the data partition
#                     (default ~/.cache/hearth/models/SmolLM2-135M-Instruct.Q4_1.gguf)
#   HEARTH_VERSION    default: Cargo.toml's version
#   HEARTH_GENERATION integer, orders boot entries (newer sorts first); default 1
#   HEARTH_UPDATE_KEY minisign secret key (no password) that signs the bundle's
#                     manifest; its public key (same name + .pub) goes into the
#                     image as /usr/share/hearth/update.pub, the key the box's
#                     updater trusts. Default: a development key pair, made once
#                     in ~/.cache/hearth/image/ (never for boxes in the field)
#   SOURCE_DATE_EPOCH default: the last git commit's time; all file times are
#                     clamped to it, so the same inputs give the same root fs
#   HEARTH_TEST_BREAK=1  for the update test only: hearth.service in this
#                     version cannot start
#   HEARTH_DEBUG_SHELL=1 for debugging under QEMU only: a root shell on the
#                     second serial port (DEBUG_SHELL=1 image/qemu.sh start);
#                     never for a box in the field
#   OUT, APT_CACHE (.deb cache, default ~/.cache/hearth/image/apt),
#   MIRROR, SECURITY_MIRROR, COMPRESS=0 (skip the .img.zst)
#
# Usage (as root): bash image/deps.sh && HEARTH_BIN=/tmp/hearth-v1 bash image/build.sh
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
cd "$REPO"

die() { echo "image/build.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (mmdebstrap and chroot need it)"
for tool in mmdebstrap sfdisk mkfs.vfat mcopy mkfs.ext4 debugfs zstd strip python3 minisign; do
    command -v "$tool" >/dev/null || die "$tool is missing: run bash image/deps.sh"
done

HEARTH_BIN=${HEARTH_BIN:-target/debug/hearth}
HEARTH_UNIT=${HEARTH_UNIT:-systemd/hearth.service}
HEARTH_MODEL=${HEARTH_MODEL:-$HOME/.cache/hearth/models/SmolLM2-135M-Instruct.Q4_1.gguf}
HEARTH_VERSION=${HEARTH_VERSION:-$(sed -n 's/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -1)}
HEARTH_GENERATION=${HEARTH_GENERATION:-1}
OUT=${OUT:-$HERE/out}
APT_CACHE=${APT_CACHE:-$HOME/.cache/hearth/image/apt}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || true)}
export SOURCE_DATE_EPOCH

[ -x "$HEARTH_BIN" ] || die "no hearth binary at $HEARTH_BIN (cargo build, or set HEARTH_BIN)"
[ -f "$HEARTH_UNIT" ] || die "no systemd unit at $HEARTH_UNIT"
[ -s "$HEARTH_MODEL" ] || die "no model at $HEARTH_MODEL (bash .ci/deps fetches it)"
[ -n "$HEARTH_VERSION" ] || die "no version (Cargo.toml) and HEARTH_VERSION unset"
[[ "$HEARTH_GENERATION" =~ ^[0-9]+$ ]] || die "HEARTH_GENERATION must be an integer"
[[ "$SOURCE_DATE_EPOCH" =~ ^[0-9]+$ ]] || die "SOURCE_DATE_EPOCH must be seconds since 1970"
if [ -z "${HEARTH_UPDATE_KEY:-}" ]; then
    HEARTH_UPDATE_KEY=$HOME/.cache/hearth/image/update-dev.key
    if [ ! -f "$HEARTH_UPDATE_KEY" ]; then
        mkdir -p "$(dirname "$HEARTH_UPDATE_KEY")"
        minisign -G -W -s "$HEARTH_UPDATE_KEY" -p "$HEARTH_UPDATE_KEY.pub" >/dev/null
    fi
    echo "note: signing the update bundle with the development key $HEARTH_UPDATE_KEY"
fi
[ -f "$HEARTH_UPDATE_KEY" ] && [ -f "$HEARTH_UPDATE_KEY.pub" ] \
    || die "HEARTH_UPDATE_KEY: need the secret key and its public key beside it (.pub)"

# ---------------------------------------------------------------- the layout
# Fixed identities: the same inputs give the same bytes, and the updater and
# fstab find partitions by these names. Every box flashed from any release
# shares them; nothing on the box relies on them being unique.
DISK_GUID=6c1f2a0e-9d3b-4f57-8e21-4b3d5a6f7c80
ESP_PARTUUID=b2a4c6e8-1d3f-4a5b-9c7d-0e1f2a3b4c5d
ROOT_A_PARTUUID=3f1d0a7c-2b4e-4c6d-8e9f-a1b2c3d4e5f6
ROOT_B_PARTUUID=4e2c1b8d-3c5f-4d7e-9fa0-b2c3d4e5f607
DATA_PARTUUID=5d3b2c9e-4d6a-4e8f-a0b1-c3d4e5f60718
ROOT_FS_UUID=7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d   # same in both slots: a slot is a copy
DATA_FS_UUID=8b7c6d5e-4f3a-4b2c-8d9e-8f7a6b5c4d3e
ESP_VOLID=48454152                                 # "HEAR"
# GPT partition types (the Discoverable Partitions Specification).
TYPE_ESP=C12A7328-F81F-11D2-BA4B-00A0C93EC93B
TYPE_ROOT_X86_64=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709
TYPE_LINUX=0FC63DAF-8483-4772-8E79-3D69D8477DE4
# Sizes in MiB. A root slot's size is fixed for the product's life: an update
# can only write a root file system that fits the slot already on the disk.
ESP_MB=256
ROOT_SLOT_MB=${ROOT_SLOT_MB:-1536}
HEARTH_UID=973                                     # fixed: data files keep their owner across slots

NAME=hearth-$HEARTH_VERSION
WORK=$OUT/work
ROOTFS=$WORK/rootfs
KERNEL_CMDLINE_COMMON="rw rootwait console=tty0 console=ttyS0,115200n8"

T0=$(date +%s%N)
TLAST=$T0
step() {
    local now; now=$(date +%s%N)
    printf '  %-34s %6.1f s  (total %6.1f s)\n' "$1" \
        "$(( (now - TLAST) / 1000000 ))e-3" "$(( (now - T0) / 1000000 ))e-3"
    TLAST=$now
}

echo "building $NAME (generation $HEARTH_GENERATION, SOURCE_DATE_EPOCH $SOURCE_DATE_EPOCH) into $OUT"
rm -rf "$WORK" "$OUT/$NAME".*
mkdir -p "$OUT" "$WORK" "$APT_CACHE"

# ---------------------------------------------------------------- 1. root tree
# The mirror list: the host's has only "main"; real mini-PCs need firmware
# from non-free-firmware (firmware-realtek for their network ports).
cat > "$WORK/sources.list" <<EOF
deb $MIRROR bookworm main non-free-firmware
deb $MIRROR bookworm-updates main non-free-firmware
deb $SECURITY_MIRROR bookworm-security main non-free-firmware
EOF
PACKAGES=(
    systemd systemd-sysv udev kmod dbus
    linux-image-amd64 initramfs-tools zstd          # the generic kernel: real hardware
    systemd-boot systemd-boot-efi                   # boot loader, bootctl, systemd-bless-boot
    systemd-timesyncd systemd-resolved
    iproute2 nftables e2fsprogs ca-certificates
    netbase                                         # /etc/protocols, /etc/services (nft, resolvers)
    openssh-server                                  # installed, disabled (the owner may enable it)
    firmware-realtek                                # the usual mini-PC network chips
    libgomp1                                        # hearth links llama.cpp's OpenMP
    poppler-utils tesseract-ocr tesseract-ocr-eng   # hearth's PDF and OCR text extraction
)
# mmdebstrap runs apt with its own configuration and ignores the host's
# apt.conf.d, so the mirror options are repeated. The .deb cache is carried in
# and out (sync-in/sync-out) to make rebuilds fast. systemd-boot's postinst
# runs bootctl only when it finds an ESP; in the build chroot there is none,
# so it does nothing (the ESP is assembled below instead).
mmdebstrap --mode=root --variant=minbase \
    --include="$(IFS=,; echo "${PACKAGES[*]}")" \
    --aptopt='Acquire::Check-Valid-Until "false"' --aptopt='Acquire::Check-Date "false"' \
    --aptopt='Acquire::Languages "none"' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --dpkgopt='path-exclude=/usr/share/bash-completion/*' \
    --skip=download/empty \
    --setup-hook='mkdir -p "$1"/var/cache/apt/archives' \
    --setup-hook="sync-in $APT_CACHE /var/cache/apt/archives/" \
    --customize-hook="sync-out /var/cache/apt/archives $APT_CACHE" \
    --customize-hook='rm -f "$1"/var/cache/apt/archives/*.deb' \
    bookworm "$ROOTFS" "$WORK/sources.list" > "$WORK/mmdebstrap.log" 2>&1 \
    || { tail -40 "$WORK/mmdebstrap.log" >&2; die "mmdebstrap failed (log: $WORK/mmdebstrap.log)"; }
step "mmdebstrap"

# ---------------------------------------------------------------- 2. customise
cp -a "$HERE/overlay/." "$ROOTFS/"
strip -o "$ROOTFS/usr/bin/hearth" "$HEARTH_BIN"
chmod 0755 "$ROOTFS/usr/bin/hearth"
# llama.cpp's shared libraries and its CPU kernels, one library per CPU
# generation (the binary loads the best for the CPU it runs on), in
# /usr/lib/hearth, where /usr/bin/hearth looks (its RUNPATH and the kernel
# search). The binary itself says which files they are; none when
# llama.cpp is linked in.
"$HEARTH_BIN" engine-libraries > "$WORK/engine-libraries" \
  || die "$HEARTH_BIN cannot list its llama.cpp libraries"
install -d -m 0755 "$ROOTFS/usr/lib/hearth"
while read -r lib; do
  strip --strip-unneeded -o "$ROOTFS/usr/lib/hearth/$(basename "$lib")" "$lib"
  chmod 0644 "$ROOTFS/usr/lib/hearth/$(basename "$lib")"
done < "$WORK/engine-libraries"
install -D -m 0644 "$HEARTH_UPDATE_KEY.pub" "$ROOTFS/usr/share/hearth/update.pub"
install -m 0644 "$HEARTH_UNIT" "$ROOTFS/usr/lib/systemd/system/hearth.service"
# The appliance's other units, from beside hearth.service in the source:
# the box's screen (hearth-console@), updates (hearth-update.path/.service,
# hearth-update-recover, hearth-health) and SSH on the owner's word
# (hearth-ssh.path/.service).
UNITS_DIR=$(dirname "$HEARTH_UNIT")
for unit in "$UNITS_DIR"/hearth-*.service "$UNITS_DIR"/hearth-*.path; do
    [ -f "$unit" ] || continue
    install -m 0644 "$unit" "$ROOTFS/usr/lib/systemd/system/$(basename "$unit")"
done
# What this system is, for Admin -> System and the updater (which refuses a
# bundle that is not newer).
printf '{"version": "%s", "generation": %s}\n' "$HEARTH_VERSION" "$HEARTH_GENERATION" \
    > "$ROOTFS/usr/share/hearth/release.json"
if [ "${HEARTH_TEST_BREAK:-0}" = 1 ]; then
    # For the update test only: a version whose Hearth service cannot start
    # (everything else, the hearth command included, works), to prove that
    # the box goes back to the version before.
    echo "note: HEARTH_TEST_BREAK=1: this version's hearth.service will not start"
    mkdir -p "$ROOTFS/etc/systemd/system/hearth.service.d"
    printf '[Service]\nExecStart=\nExecStart=/bin/false\n' \
        > "$ROOTFS/etc/systemd/system/hearth.service.d/zz-test-break.conf"
fi

# The hearth user, with a fixed uid/gid: the data partition's files keep their
# owner whichever slot (and whichever release's passwd) boots.
chroot "$ROOTFS" groupadd --system --gid "$HEARTH_UID" hearth
chroot "$ROOTFS" useradd --system --uid "$HEARTH_UID" --gid hearth --no-create-home \
    --home-dir /var/lib/hearth --shell /usr/sbin/nologin --comment "Hearth" hearth
mkdir -p "$ROOTFS/var/lib/hearth" "$ROOTFS/efi"   # mount points: data partition, ESP

# Services. systemctl works offline in the chroot (it only makes symlinks).
chroot "$ROOTFS" systemctl enable --quiet hearth.service hearth-firstboot.service \
    hearth-boot-report.service systemd-networkd.service systemd-resolved.service \
    systemd-timesyncd.service nftables.service
for unit in hearth-update.path hearth-update-recover.service hearth-health.service \
    hearth-ssh.path hearth-ssh.service hearth-console@tty1.service hearth-console@ttyS0.service; do
    file=$unit
    case $unit in *@*.service) file="${unit%%@*}@.service" ;; esac
    if [ -f "$ROOTFS/usr/lib/systemd/system/$file" ]; then
        chroot "$ROOTFS" systemctl enable --quiet "$unit"
    fi
done
# A boot is good (boot counting) only when Hearth started: see hearth.service.d/image.conf.
# hearth-health.service (RequiredBy=boot-complete.target) decides for a
# version on trial.
mkdir -p "$ROOTFS/etc/systemd/system/boot-complete.target.requires"
ln -sf /usr/lib/systemd/system/hearth.service "$ROOTFS/etc/systemd/system/boot-complete.target.requires/hearth.service"
# SSH: installed for the owner to enable later; off, and without host keys
# (each box would otherwise share the build's keys).
chroot "$ROOTFS" systemctl disable --quiet ssh.service ssh.socket 2>/dev/null || true
rm -f "$ROOTFS"/etc/ssh/ssh_host_*
# Nobody logs in on the console: the screen shows Hearth's status instead.
# systemd-firstboot would ask questions on the console on first boot.
chroot "$ROOTFS" systemctl mask --quiet getty@.service serial-getty@.service \
    autovt@.service console-getty.service systemd-firstboot.service
if [ "${HEARTH_DEBUG_SHELL:-0}" = 1 ]; then
    echo "note: HEARTH_DEBUG_SHELL=1: a root shell on ttyS1 (debugging only)"
    mkdir -p "$ROOTFS/etc/systemd/system/multi-user.target.wants"
    cat > "$ROOTFS/etc/systemd/system/hearth-debug-shell.service" <<'UNIT'
[Unit]
Description=Root shell on ttyS1 (debug image only)
[Service]
ExecStart=/bin/sh -c 'exec /bin/bash -i </dev/ttyS1 >/dev/ttyS1 2>&1'
Restart=always
# An interactive bash ignores SIGTERM: without this, every shutdown waited 90 s.
KillSignal=SIGKILL
[Install]
WantedBy=multi-user.target
UNIT
    ln -sf ../hearth-debug-shell.service \
        "$ROOTFS/etc/systemd/system/multi-user.target.wants/hearth-debug-shell.service"
fi
# root has no password (locked), the default of a Debian minbase tree.
grep -q '^root:[*!]' "$ROOTFS/etc/shadow" || die "root has a password in the image"

ln -sf ../run/systemd/resolve/stub-resolv.conf "$ROOTFS/etc/resolv.conf"
ln -sf /usr/share/zoneinfo/Etc/UTC "$ROOTFS/etc/localtime"
echo 'LANG=C.UTF-8' > "$ROOTFS/etc/locale.conf"
# "uninitialized": systemd makes the box's own machine-id on first boot (and
# ConditionFirstBoot= holds then). Nothing random from the build may remain.
echo uninitialized > "$ROOTFS/etc/machine-id"
rm -f "$ROOTFS/var/lib/dbus/machine-id" "$ROOTFS/var/lib/systemd/random-seed" \
    "$ROOTFS/var/cache/ldconfig/aux-cache" "$ROOTFS"/var/cache/debconf/*-old \
    "$ROOTFS"/var/lib/dpkg/*-old "$ROOTFS"/etc/*- "$ROOTFS/etc/.pwd.lock"
ln -sf /etc/machine-id "$ROOTFS/var/lib/dbus/machine-id"
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/log/* "$ROOTFS"/tmp/* "$ROOTFS"/var/tmp/*
mkdir -p "$ROOTFS/var/log/journal"

# Kernel and initrd go to the ESP (and into the bundle), not the root fs.
KVER=$(basename "$(ls -d "$ROOTFS"/lib/modules/* | sort -V | tail -1)")
cp "$ROOTFS/boot/vmlinuz-$KVER" "$WORK/vmlinuz"
cp "$ROOTFS/boot/initrd.img-$KVER" "$WORK/initrd.img"
rm -f "$ROOTFS/boot/initrd.img-$KVER" "$ROOTFS/boot/vmlinuz-$KVER" "$ROOTFS"/boot/System.map-* \
    "$ROOTFS"/vmlinuz* "$ROOTFS"/initrd.img*
step "customise"

# ---------------------------------------------------------------- 3. file systems
# Reproducibility: every file time is clamped to SOURCE_DATE_EPOCH before
# mkfs (files made by maintainer scripts carry the build's time), and
# mkfs.ext4 gets fixed UUIDs, a fixed directory hash seed and a fake clock for
# the superblock. mkfs.ext4 -d (1.47.0) still copies each file's ctime and
# atime from the build tree, which touch cannot set: debugfs sets them after.
clamp_tree() {
    find "$1" -newermt "@$SOURCE_DATE_EPOCH" -print0 | xargs -0r touch --no-dereference -d "@$SOURCE_DATE_EPOCH"
}
mkfs_ext4_reproducible() {  # tree image size_mb uuid label owner(uid:gid of /)
    local tree=$1 img=$2 size_mb=$3 uuid=$4 label=$5 owner=$6
    clamp_tree "$tree"
    rm -f "$img"
    E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH mkfs.ext4 -q -L "$label" -U "$uuid" -m 0 \
        -E "hash_seed=$uuid,root_owner=$owner" -d "$tree" "$img" "${size_mb}M" >/dev/null
    (cd "$tree" && find . -printf '%P\n') | LC_ALL=C sort | awk -v t="@$SOURCE_DATE_EPOCH" '
        { gsub(/"/, "\\\"") ; printf "set_inode_field \"/%s\" ctime %s\nset_inode_field \"/%s\" atime %s\n", $0, t, $0, t }' \
        > "$WORK/debugfs.cmds"
    E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH debugfs -w -f "$WORK/debugfs.cmds" "$img" >/dev/null 2>"$WORK/debugfs.err" \
        || { cat "$WORK/debugfs.err" >&2; die "debugfs failed on $img"; }
    if grep -v '^debugfs ' "$WORK/debugfs.err" | grep -q .; then
        grep -v '^debugfs ' "$WORK/debugfs.err" | head >&2; die "debugfs could not set times in $img"
    fi
    e2fsck -fn "$img" >/dev/null 2>&1 || die "e2fsck finds errors in $img"
}

ROOT_USED_MB=$(du -sm --apparent-size "$ROOTFS" | cut -f1)
[ "$ROOT_USED_MB" -lt $(( ROOT_SLOT_MB * 85 / 100 )) ] \
    || die "root tree ${ROOT_USED_MB} MiB does not fit a ${ROOT_SLOT_MB} MiB slot with 15% spare"
ROOT_IMG=$WORK/rootfs.ext4
mkfs_ext4_reproducible "$ROOTFS" "$ROOT_IMG" "$ROOT_SLOT_MB" "$ROOT_FS_UUID" hearth-root 0:0
ROOT_SHA=$(sha256sum "$ROOT_IMG" | cut -d' ' -f1)
# The tree is in the image now: free its ~750 MiB before the disk is written
# (CI machines can be short of disk), keeping the one file the ESP needs.
cp "$ROOTFS/usr/lib/systemd/boot/efi/systemd-bootx64.efi" "$WORK/systemd-bootx64.efi"
rm -rf "$ROOTFS"
step "root fs (${ROOT_USED_MB} MiB in ${ROOT_SLOT_MB} MiB)"

# The data partition: Hearth's data_dir, owned by hearth, with the default
# model in models/. Small in the image; grown to the disk on first boot.
DATA_TREE=$WORK/data
mkdir -p "$DATA_TREE/models"
cp "$HEARTH_MODEL" "$DATA_TREE/models/$(basename "$HEARTH_MODEL")"
chown -R "$HEARTH_UID:$HEARTH_UID" "$DATA_TREE"
chmod 0750 "$DATA_TREE"
MODEL_MB=$(du -sm --apparent-size "$DATA_TREE" | cut -f1)
DATA_MB=$(( (MODEL_MB + 128 + 63) / 64 * 64 ))
DATA_IMG=$WORK/data.ext4
# Its root directory is hearth's (StateDirectory= would otherwise chown it).
mkfs_ext4_reproducible "$DATA_TREE" "$DATA_IMG" "$DATA_MB" "$DATA_FS_UUID" hearth-data "$HEARTH_UID:$HEARTH_UID"
step "data fs (${DATA_MB} MiB)"

# ---------------------------------------------------------------- 4. ESP
# FAT, filled with mtools: no mount. systemd-boot is the fallback loader
# (EFI/BOOT/BOOTX64.EFI), so no NVRAM boot entry is needed. Each slot has its
# kernel and initrd under /hearth/<slot>/ and one boot entry.
ESP_IMG=$WORK/esp.vfat
export MTOOLS_SKIP_CHECK=1
truncate -s "${ESP_MB}M" "$ESP_IMG"
mkfs.vfat -F 32 -n HEARTH-ESP -i "$ESP_VOLID" --invariant "$ESP_IMG" >/dev/null
mmd -i "$ESP_IMG" ::/EFI ::/EFI/BOOT ::/loader ::/loader/entries ::/hearth ::/hearth/a ::/hearth/b
mcopy -i "$ESP_IMG" "$WORK/systemd-bootx64.efi" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$ESP_IMG" "$WORK/vmlinuz" ::/hearth/a/vmlinuz
mcopy -i "$ESP_IMG" "$WORK/initrd.img" ::/hearth/a/initrd.img
# No "default": systemd-boot boots the first entry in its order, where entries
# with no tries left sort last and, with equal sort-key, the higher version
# (the generation) first.
cat > "$WORK/loader.conf" <<EOF
timeout 0
editor no
EOF
cat > "$WORK/hearth-a.conf" <<EOF
title Hearth $HEARTH_VERSION
sort-key hearth
version $HEARTH_GENERATION
linux /hearth/a/vmlinuz
initrd /hearth/a/initrd.img
options root=PARTLABEL=root-a $KERNEL_CMDLINE_COMMON
EOF
mcopy -i "$ESP_IMG" "$WORK/loader.conf" ::/loader/loader.conf
mcopy -i "$ESP_IMG" "$WORK/hearth-a.conf" ::/loader/entries/hearth-a.conf
step "esp"

# ---------------------------------------------------------------- 5. disk
# GPT: esp | root-a | root-b (empty) | hearth-data (last: it grows).
IMG=$OUT/$NAME.img
MiB=2048  # sectors
ESP_START=$MiB
ROOT_A_START=$(( ESP_START + ESP_MB * MiB ))
ROOT_B_START=$(( ROOT_A_START + ROOT_SLOT_MB * MiB ))
DATA_START=$(( ROOT_B_START + ROOT_SLOT_MB * MiB ))
DISK_SECTORS=$(( DATA_START + DATA_MB * MiB + MiB ))   # + 1 MiB for the backup GPT
truncate -s $(( DISK_SECTORS * 512 )) "$IMG"
sfdisk --quiet --no-reread --no-tell-kernel "$IMG" <<EOF
label: gpt
label-id: $DISK_GUID
start=$ESP_START, size=$(( ESP_MB * MiB )), type=$TYPE_ESP, uuid=$ESP_PARTUUID, name="esp"
start=$ROOT_A_START, size=$(( ROOT_SLOT_MB * MiB )), type=$TYPE_ROOT_X86_64, uuid=$ROOT_A_PARTUUID, name="root-a"
start=$ROOT_B_START, size=$(( ROOT_SLOT_MB * MiB )), type=$TYPE_ROOT_X86_64, uuid=$ROOT_B_PARTUUID, name="root-b"
start=$DATA_START, size=$(( DATA_MB * MiB )), type=$TYPE_LINUX, uuid=$DATA_PARTUUID, name="hearth-data"
EOF
dd if="$ESP_IMG" of="$IMG" bs=1M seek=$(( ESP_START / MiB )) conv=notrunc,sparse status=none
dd if="$ROOT_IMG" of="$IMG" bs=1M seek=$(( ROOT_A_START / MiB )) conv=notrunc,sparse status=none
dd if="$DATA_IMG" of="$IMG" bs=1M seek=$(( DATA_START / MiB )) conv=notrunc,sparse status=none
step "disk"

# ---------------------------------------------------------------- 6. update bundle
# A plain tar (each member compressed on its own, so the updater can stream
# the root fs straight onto the other slot); the manifest lists every file's
# SHA-256 as stored in the tar, and is signed with minisign. See image/README.md.
BUNDLE_DIR=$WORK/bundle
mkdir -p "$BUNDLE_DIR"
cp "$WORK/vmlinuz" "$WORK/initrd.img" "$BUNDLE_DIR/"
zstd -q -T0 -10 "$ROOT_IMG" -o "$BUNDLE_DIR/rootfs.ext4.zst"
python3 - "$BUNDLE_DIR" "$HEARTH_VERSION" "$HEARTH_GENERATION" "$SOURCE_DATE_EPOCH" "$ROOT_IMG" <<'EOF'
import datetime, hashlib, json, os, sys
d, version, generation, epoch, root_img = sys.argv[1:]
def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
manifest = {
    "version": version,
    "generation": int(generation),
    "kernel": {"file": "vmlinuz", "sha256": sha(f"{d}/vmlinuz")},
    "initrd": {"file": "initrd.img", "sha256": sha(f"{d}/initrd.img")},
    # sha256: of rootfs.ext4.zst as stored, like every member. size and
    # image_sha256: of the uncompressed file system image, what lands on the
    # slot (the root fs digest build.sh prints).
    "rootfs": {"file": "rootfs.ext4.zst", "sha256": sha(f"{d}/rootfs.ext4.zst"),
               "size": os.path.getsize(root_img), "image_sha256": sha(root_img)},
    "created": datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
}
with open(f"{d}/manifest.json", "w") as f:
    json.dump(manifest, f, indent=2)
    f.write("\n")
EOF
# Fixed comments: minisign's default trusted comment holds the time of signing.
minisign -S -s "$HEARTH_UPDATE_KEY" -m "$BUNDLE_DIR/manifest.json" -x "$BUNDLE_DIR/manifest.json.minisig" \
    -c "hearth update manifest" -t "hearth $HEARTH_VERSION generation $HEARTH_GENERATION" </dev/null >/dev/null \
    || die "minisign could not sign the manifest (a key with a password? make one with minisign -G -W)"
minisign -V -q -p "$HEARTH_UPDATE_KEY.pub" -m "$BUNDLE_DIR/manifest.json" -x "$BUNDLE_DIR/manifest.json.minisig" \
    || die "the manifest's signature does not verify"
BUNDLE=$OUT/$NAME.bundle
tar --create --file "$BUNDLE" --directory "$BUNDLE_DIR" --format=gnu --owner=0 --group=0 \
    --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" --mode=0644 \
    manifest.json manifest.json.minisig vmlinuz initrd.img rootfs.ext4.zst
step "bundle"

rm -rf "$WORK"
if [ "${COMPRESS:-1}" = 1 ]; then
    zstd -q -T0 -10 -f "$IMG" -o "$IMG.zst"
    step "zstd image"
fi
mib() { echo "$(( $(stat -c %s "$1") / 1048576 )) MiB"; }
echo
echo "kernel $KVER; root tree ${ROOT_USED_MB} MiB; root slot ${ROOT_SLOT_MB} MiB; data ${DATA_MB} MiB"
echo "root fs sha256: $ROOT_SHA"
echo "image:   $IMG  $(mib "$IMG") (allocated $(du -m "$IMG" | cut -f1) MiB)"
[ -f "$IMG.zst" ] && echo "zstd:    $IMG.zst  $(mib "$IMG.zst")"
echo "bundle:  $BUNDLE  $(mib "$BUNDLE")"
echo "built in $(( ($(date +%s%N) - T0) / 1000000000 )) s"
