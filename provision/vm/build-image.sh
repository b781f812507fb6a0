#!/usr/bin/env bash
# Build (or reuse) a Debian lab-VM disk image for qemu: debootstrap minbase with a kernel,
# cloud-init and the labs' packages preinstalled, then `mkfs.ext4 -d` and qcow2. No partition
# table and no bootloader: qemu boots the kernel directly (-kernel/-initrd, root=/dev/vda).
#
#   sudo provision/vm/build-image.sh             # Debian 12 (bookworm, kernel 6.1)
#   sudo provision/vm/build-image.sh trixie      # Debian 13 (trixie, kernel 6.12)
#                                                # prints the image directory on the last line
#   provision/vm/build-image.sh --print-packages # what debootstrap installs (provision/packages.txt)
#
# The image is cached in $LAB_VM_CACHE (default /var/cache/lab/vm) under the suite and a hash of
# this script, so a second run takes a second and any edit here builds a fresh one (older images
# of the same suite are removed; other suites are kept); so does an edit of packages.txt. The
# directory holds:
#   disk.qcow2   root filesystem (use a qcow2 overlay per VM: it is shared)
#   vmlinuz, initrd.img   the guest kernel and initramfs for direct boot
# Installs its own host packages first (provision/vm/deps.sh).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${LAB_VM_CACHE:-/var/cache/lab/vm}"
SUITE="${1:-${LAB_VM_SUITE:-bookworm}}"
case "$SUITE" in
  bookworm|trixie) ;;
  -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
  --print-packages) ;;
  *) echo "vm/build-image: error: unknown suite '$SUITE': use bookworm (Debian 12) or trixie (Debian 13)" >&2; exit 2 ;;
esac
MIRROR="${LAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DISK_SIZE=6G   # the labs want >= 2 GiB free in /var/tmp; qcow2 stores only what is used
# The image's system, what a lab VM needs and what the guest tests need, from the one package
# list (provision/packages.txt says why each is there). Preinstalled here: cloud-init would
# otherwise install them at first boot (minutes under TCG).
PACKAGES="$HERE/../packages.txt"
INCLUDE=$(sed -n 's/^\(image\|lab\|guest-test\):[[:space:]]*//p' "$PACKAGES" | tr -s ' \n' ',' | sed 's/^,//; s/,$//')

die() { echo "vm/build-image: error: $*" >&2; exit 1; }
step() { echo "vm/build-image: $*" >&2; }
[ "${1:-}" = --print-packages ] && { echo "$INCLUDE" | tr ',' '\n'; exit 0; }
[ "$(id -u)" = 0 ] || die "must run as root: sudo $0"

# The cache key: this script and the package list it reads.
KEY=$(cat "${BASH_SOURCE[0]}" "$PACKAGES" | sha256sum | cut -c1-16)
OUT="$CACHE/$SUITE-$KEY"
if [ -f "$OUT/done" ]; then step "cached image in $OUT"; echo "$OUT"; exit 0; fi

"$HERE/deps.sh" >&2
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9   # one builder at a time; a concurrent run waits, then finds the cache
if [ -f "$OUT/done" ]; then step "cached image in $OUT"; echo "$OUT"; exit 0; fi

WORK=$(mktemp -d "$CACHE/build.XXXXXX")
trap 'umount -R "$WORK/rootfs/proc" "$WORK/rootfs/sys" 2>/dev/null || true; rm -rf "$WORK"' EXIT
ROOTFS="$WORK/rootfs"
START=$SECONDS

step "debootstrap $SUITE (minbase; several minutes) into $OUT"
debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
  || { tail -30 "$WORK/debootstrap.log" >&2; die "debootstrap failed (log above)"; }

step "rootfs tweaks"
echo "/dev/vda / ext4 defaults 0 1" > "$ROOTFS/etc/fstab"
: > "$ROOTFS/etc/machine-id"            # regenerated at first boot: each VM is unique
rm -f "$ROOTFS"/etc/ssh/ssh_host_*      # likewise the SSH host keys (cloud-init makes them)
printf 'datasource_list: [ NoCloud, None ]\n' > "$ROOTFS/etc/cloud/cloud.cfg.d/90-lab-datasource.cfg"
# Network: systemd-networkd, DHCPv4 on whatever the NIC is called, and cloud-init keeps out of
# it. cloud-init's own fallback asks for DHCPv6 too; on trixie it renders `iface ens3 inet6 dhcp`,
# which qemu's user network never answers, so networking.service failed after ~5 minutes and SSH
# came up after 332 s instead of ~35 s.
printf 'network: {config: disabled}\n' > "$ROOTFS/etc/cloud/cloud.cfg.d/91-lab-network.cfg"
mkdir -p "$ROOTFS/etc/systemd/network"
cat > "$ROOTFS/etc/systemd/network/50-lab-dhcp.network" <<NET
[Match]
Name=en* eth*

[Network]
DHCP=ipv4
IPv6AcceptRA=no
NET
chroot "$ROOTFS" systemctl enable systemd-networkd >/dev/null
# qemu's user network always answers DNS at 10.0.2.3 (systemd-resolved would do the same but
# fails to configure inside debootstrap).
rm -f "$ROOTFS/etc/resolv.conf"
echo "nameserver 10.0.2.3" > "$ROOTFS/etc/resolv.conf"
echo 'LANG=C.UTF-8' > "$ROOTFS/etc/default/locale"
echo lab-vm > "$ROOTFS/etc/hostname"
chroot "$ROOTFS" apt-get clean
rm -rf "$ROOTFS"/var/lib/apt/lists/*

step "kernel and initramfs"
cp "$(ls -1 "$ROOTFS"/boot/vmlinuz-* | sort -V | tail -1)" "$WORK/vmlinuz"
cp "$(ls -1 "$ROOTFS"/boot/initrd.img-* | sort -V | tail -1)" "$WORK/initrd.img"

step "filesystem image ($DISK_SIZE)"
mkfs.ext4 -q -F -L lab-root -d "$ROOTFS" "$WORK/disk.raw" "$DISK_SIZE"
qemu-img convert -f raw -O qcow2 "$WORK/disk.raw" "$WORK/disk.qcow2"

mkdir -p "$OUT"
mv "$WORK/disk.qcow2" "$WORK/vmlinuz" "$WORK/initrd.img" "$OUT/"
touch "$OUT/done"
# Older images (other hashes of the script and package list) are dead weight, but the newest of
# them may be another checkout's (a branch not yet merged) in use: keep it, remove the rest.
# Only this suite's images (SUITE-<16 hex digits>), never another builder's (bookworm-bios-...).
find "$CACHE" -mindepth 1 -maxdepth 1 -type d -regextype posix-extended \
  -regex ".*/$SUITE-[0-9a-f]{16}" ! -name "$SUITE-$KEY" -printf '%T@ %p\n' |
  sort -rn | tail -n +2 | cut -d' ' -f2- | xargs -r rm -rf
step "built $OUT in $((SECONDS - START)) s"
echo "$OUT"
