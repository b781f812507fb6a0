#!/usr/bin/env bash
# Build (or reuse) a lab-VM image that boots like a distro cloud image: an MBR-partitioned disk
# whose first partition holds the root filesystem, booted by GRUB from the disk itself (no
# kernel files beside it). Made from the image provision/vm/build-image.sh builds, so it has the
# same packages; `lab class up --image` then takes its disk.qcow2 the way it takes Debian's
# genericcloud qcow2 (bootloader boot), which cannot be downloaded on machines without internet.
#
#   sudo provision/vm/bootloader-image.sh            # Debian 12 (bookworm)
#   sudo provision/vm/bootloader-image.sh trixie     # Debian 13
#                                                    # prints the image directory on the last line
#
# Cached beside build-image.sh's images ($LAB_VM_CACHE, default /var/cache/lab/vm) under the suite
# and a hash of both scripts. Needs grub-pc-bin (installed here when missing: only GRUB's files,
# nothing is installed as this machine's bootloader). No partition devices are needed: GRUB's
# core image is written into the disk file itself, the filesystem is edited through an offset loop.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${LAB_VM_CACHE:-/var/cache/lab/vm}"
SUITE="${1:-bookworm}"
case "$SUITE" in
  bookworm|trixie) ;;
  -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
  *) echo "vm/bootloader-image: error: unknown suite '$SUITE': use bookworm or trixie" >&2; exit 2 ;;
esac
die() { echo "vm/bootloader-image: error: $*" >&2; exit 1; }
step() { echo "vm/bootloader-image: $*" >&2; }
[ "$(id -u)" = 0 ] || die "must run as root: sudo $0"

SRC=$("$HERE/build-image.sh" "$SUITE" | tail -n 1)
KEY=$(cat "${BASH_SOURCE[0]}" "$HERE/build-image.sh" | sha256sum | cut -c1-16)
OUT="$CACHE/$SUITE-bios-$KEY"
if [ -f "$OUT/done" ]; then step "cached image in $OUT"; echo "$OUT"; exit 0; fi

# GRUB's files only (group vm-bootloader of provision/packages.txt): not this machine's bootloader.
mapfile -t GRUB_PKGS < <(sed -n "s/^vm-bootloader:[[:space:]]*//p" "$HERE/../packages.txt" | tr -s ' ' '\n' | sed '/^$/d')
MISSING=()
for p in "${GRUB_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || MISSING+=("$p")
done
if [ "${#MISSING[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${MISSING[@]}" >&2
fi
GRUB=/usr/lib/grub/i386-pc

exec 9>"$CACHE/.lock"
flock 9
if [ -f "$OUT/done" ]; then step "cached image in $OUT"; echo "$OUT"; exit 0; fi
WORK=$(mktemp -d "$CACHE/bios.XXXXXX")
LOOP=""
cleanup() {
  mountpoint -q "$WORK/mnt" 2>/dev/null && umount "$WORK/mnt"
  [ -n "$LOOP" ] && losetup -d "$LOOP" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
START=$SECONDS

step "disk: MBR, partition 1 = the root filesystem of $SRC"
qemu-img convert -f qcow2 -O raw "$SRC/disk.qcow2" "$WORK/fs.raw"
FS_BYTES=$(stat -c %s "$WORK/fs.raw")
truncate -s $((FS_BYTES + 1048576)) "$WORK/disk.raw"
printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk -q "$WORK/disk.raw"
dd if="$WORK/fs.raw" of="$WORK/disk.raw" bs=1M seek=1 conv=sparse,notrunc status=none
rm "$WORK/fs.raw"

step "root filesystem: mounted by label, GRUB's config"
mkdir "$WORK/mnt"
LOOP=$(losetup --show -f -o 1048576 "$WORK/disk.raw")
mount "$LOOP" "$WORK/mnt"
sed -i 's|^/dev/vda[[:space:]]|LABEL=lab-root |' "$WORK/mnt/etc/fstab"
KERNEL=$(cd "$WORK/mnt/boot" && ls -1 vmlinuz-* | sort -V | tail -n 1)
INITRD=$(cd "$WORK/mnt/boot" && ls -1 initrd.img-* | sort -V | tail -n 1)
mkdir -p "$WORK/mnt/boot/grub"
cat > "$WORK/mnt/boot/grub/grub.cfg" <<CFG
# Written by provision/vm/bootloader-image.sh
set timeout=1
menuentry 'Debian GNU/Linux ($SUITE)' {
  search --no-floppy --label --set=root lab-root
  linux /boot/$KERNEL root=LABEL=lab-root ro console=ttyS0
  initrd /boot/$INITRD
}
CFG
umount "$WORK/mnt"
losetup -d "$LOOP"
LOOP=""

step "GRUB (BIOS): boot.img in the MBR, core.img in the gap before partition 1"
# What grub-install does, on a file: grub-bios-setup wants an OS disk device, and partition
# devices of loop files are not there on every machine. boot.img's defaults load core.img from
# sector 1, and grub-mkimage sets core.img's own blocklist (the rest of it, from sector 2).
# Everything GRUB needs is in the core image: no module is read from the disk at boot.
grub-mkimage -O i386-pc -d "$GRUB" -o "$WORK/core.img" -p '(hd0,msdos1)/boot/grub' \
  biosdisk part_msdos ext2 normal linux search search_label configfile echo test gzio
CORE_BYTES=$(stat -c %s "$WORK/core.img")
[ "$CORE_BYTES" -lt $((2047 * 512)) ] || die "core.img ($CORE_BYTES bytes) does not fit before partition 1"
dd if="$GRUB/boot.img" of="$WORK/disk.raw" bs=440 count=1 conv=notrunc status=none
dd if="$WORK/core.img" of="$WORK/disk.raw" bs=512 seek=1 conv=notrunc status=none

qemu-img convert -f raw -O qcow2 "$WORK/disk.raw" "$WORK/disk.qcow2"
mkdir -p "$OUT"
mv "$WORK/disk.qcow2" "$OUT/"
touch "$OUT/done"
find "$CACHE" -mindepth 1 -maxdepth 1 -type d -name "$SUITE-bios-*" ! -name "$SUITE-bios-$KEY" -exec rm -rf {} +
step "built $OUT in $((SECONDS - START)) s"
echo "$OUT"
