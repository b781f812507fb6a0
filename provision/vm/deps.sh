#!/usr/bin/env bash
# Host packages the lab-VM tooling and its tests need, installed idempotently (root): the
# groups vm-tools, vm-qemu (from bookworm-backports on Debian 12) and vm-libvirt of
# provision/packages.txt, which says why each package is there.
#
#   sudo provision/vm/deps.sh                  # everything above
#   sudo provision/vm/deps.sh --schema         # only cloud-init (for `cloud-init schema`)
#   provision/vm/deps.sh --print-packages      # what it would install
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
die() { echo "vm/deps: error: $*" >&2; exit 1; }
# The packages of `group` in provision/packages.txt, one a line.
packages() { sed -n "s/^$1:[[:space:]]*//p" "$HERE/../packages.txt" | tr -s ' ' '\n' | sed '/^$/d'; }
SCHEMA_ONLY=0
for arg in "$@"; do
  case "$arg" in
    --schema) SCHEMA_ONLY=1 ;;
    --print-packages) packages vm-tools; packages vm-qemu; packages vm-libvirt; exit 0 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) die "unknown option '$arg' (try --help)" ;;
  esac
done
[ "$(id -u)" = 0 ] || die "must run as root: sudo $0 $*"

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }
UPDATED=0
update_once() { [ "$UPDATED" = 1 ] || { apt-get update -qq; UPDATED=1; }; }
apt_install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"; }

# cloud-init is installed here only for its schema validator: keep it from configuring this
# machine at its next boot unless the machine already used cloud-init.
if ! installed cloud-init; then
  [ -d /etc/cloud ] || { mkdir -p /etc/cloud; touch /etc/cloud/cloud-init.disabled; }
fi
if [ "$SCHEMA_ONLY" = 1 ]; then PKGS=(cloud-init); else mapfile -t PKGS < <(packages vm-tools); fi
MISSING=()
for p in "${PKGS[@]}"; do installed "$p" || MISSING+=("$p"); done
if [ "${#MISSING[@]}" -gt 0 ]; then update_once; apt_install "${MISSING[@]}"; fi
[ "$SCHEMA_ONLY" = 1 ] && exit 0

mapfile -t QEMU_PKGS < <(packages vm-qemu)
if ! installed qemu-system-x86; then
  . /etc/os-release
  SUITE="${VERSION_CODENAME:-bookworm}-backports"
  if ! grep -rqs -- "$SUITE" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "vm/deps: adding $SUITE to /etc/apt/sources.list.d/lab-backports.sources"
    cat > /etc/apt/sources.list.d/lab-backports.sources <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: $SUITE
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    UPDATED=0
  fi
  update_once
  # Backports only for these: the match for the qemu-utils already installed.
  apt_install -t "$SUITE" "${QEMU_PKGS[@]}"
fi
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing after install"

# libvirt after qemu: its qemu driver then takes the backports qemu installed above.
mapfile -t LIBVIRT_PKGS < <(packages vm-libvirt)
MISSING=()
for p in "${LIBVIRT_PKGS[@]}"; do installed "$p" || MISSING+=("$p"); done
if [ "${#MISSING[@]}" -gt 0 ]; then update_once; apt_install "${MISSING[@]}"; fi
