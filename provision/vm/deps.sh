#!/usr/bin/env bash
# Host packages the lab-VM tooling and its tests need, installed idempotently (root):
#   qemu-system-x86 (+common, +data) from bookworm-backports: bookworm's qemu-system 7.2 conflicts
#     with the backports qemu-utils 10.0 these machines carry; name only these three packages so
#     apt does not upgrade anything else from backports.
#   debootstrap (image builder), cloud-image-utils (cloud-localds, NoCloud seed), sshpass
#     (password SSH login in the VM test), cloud-init (its `cloud-init schema` validator).
#   libvirt (daemon, virsh, dnsmasq for its NAT network): `lab class up` and its tests.
#
#   sudo provision/vm/deps.sh            # everything above
#   sudo provision/vm/deps.sh --schema   # only cloud-init (for `cloud-init schema`)
set -euo pipefail

die() { echo "vm/deps: error: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root: sudo $0 $*"
SCHEMA_ONLY=0
for arg in "$@"; do
  case "$arg" in
    --schema) SCHEMA_ONLY=1 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) die "unknown option '$arg' (try --help)" ;;
  esac
done

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }
UPDATED=0
update_once() { [ "$UPDATED" = 1 ] || { apt-get update -qq; UPDATED=1; }; }
apt_install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"; }

# cloud-init is installed here only for its schema validator: keep it from configuring this
# machine at its next boot unless the machine already used cloud-init.
if ! installed cloud-init; then
  [ -d /etc/cloud ] || { mkdir -p /etc/cloud; touch /etc/cloud/cloud-init.disabled; }
fi
PKGS=(cloud-init)
[ "$SCHEMA_ONLY" = 1 ] || PKGS+=(debootstrap cloud-image-utils sshpass openssh-client qemu-utils)
MISSING=()
for p in "${PKGS[@]}"; do installed "$p" || MISSING+=("$p"); done
if [ "${#MISSING[@]}" -gt 0 ]; then update_once; apt_install "${MISSING[@]}"; fi
[ "$SCHEMA_ONLY" = 1 ] && exit 0

QEMU_PKGS=(qemu-system-x86 qemu-system-common qemu-system-data)
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
  # Backports only for these three: the match for the qemu-utils already installed.
  apt_install -t "$SUITE" "${QEMU_PKGS[@]}"
fi
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing after install"

# libvirt after qemu: its qemu driver then takes the backports qemu installed above.
LIBVIRT_PKGS=(libvirt-daemon-system libvirt-clients dnsmasq-base)
MISSING=()
for p in "${LIBVIRT_PKGS[@]}"; do installed "$p" || MISSING+=("$p"); done
if [ "${#MISSING[@]}" -gt 0 ]; then update_once; apt_install "${MISSING[@]}"; fi
