#!/usr/bin/env bash
# Installs, idempotently, the Debian packages that building the OS image
# (image/build.sh) and booting it under QEMU (image/qemu.sh, image/test.sh)
# need. Like .ci/deps it only installs what is missing, so it is cheap to run
# before every build.
#
# Usage: bash image/deps.sh
set -euo pipefail

# Why each package is here:
#   mmdebstrap       builds the root file system without mounts or Docker
#   fdisk            sfdisk writes the GPT partition table into a plain file
#   dosfstools       mkfs.vfat makes the EFI system partition
#   mtools           mmd/mcopy fill the ESP without mounting it (no vfat here)
#   e2fsprogs        mkfs.ext4 -d fills the root and data file systems
#   zstd             compresses the image and the update bundle's root fs
#   binutils         strip -o copies the hearth binary without debug symbols
#   qemu-system-x86  boots the image in the test
#   qemu-utils       qemu-img makes the copy-on-write overlay the test boots
#   ovmf             UEFI firmware for QEMU (the image is UEFI-only)
#   python3          the update bundle's manifest; QMP and HTTP in the test
#   minisign         signs the update bundle's manifest
#   curl             the test's HTTP requests
APT_PACKAGES=(mmdebstrap fdisk dosfstools mtools e2fsprogs zstd binutils minisign
  qemu-system-x86 qemu-utils ovmf python3 curl)

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

still_missing() {
  local p
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}

mapfile -t missing < <(still_missing)
if [ ${#missing[@]} -gt 0 ]; then
  echo "image deps: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # apt may remove a package we need to install another: a machine with
  # qemu-utils from bookworm-backports loses it when bookworm's
  # qemu-system-x86 comes in (their versions must match). Install again
  # what went, now in the version that fits.
  mapfile -t removed < <(still_missing)
  if [ ${#removed[@]} -gt 0 ]; then
    echo "image deps: apt removed ${removed[*]} on the way; installing again"
    $SUDO apt-get install -y -qq --no-install-recommends "${removed[@]}" >/dev/null
  fi
  mapfile -t removed < <(still_missing)
  if [ ${#removed[@]} -gt 0 ]; then
    echo "image deps: could not install ${removed[*]}" >&2
    exit 1
  fi
fi
