#!/usr/bin/env bash
# Benchmark of `lab class up` on this machine: N (2) student VMs from the build-image.sh image
# on a real libvirtd started here inside a network namespace of its own (the VMs' NAT network
# stays in it), then the wall time of each VM split into its stages from the class journal
# (vms.json), and `--dry-run` plans for 40 and 8 students on this host's real CPUs, memory and
# disk (N=0: the plans only). Everything made is removed at the end (`lab class down`).
#
#   tests/bench/class-up.sh [N] [--accel tcg|auto]     # as root
#
# Needs: the debug or release build of lab (LAB, default target/release/lab, else target/debug),
# the static payload (provision/build-static.sh), the image (provision/vm/build-image.sh).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
N="${1:-2}"
ACCEL="tcg"
[ "${2:-}" = "--accel" ] && ACCEL="${3:-tcg}"
LAB="${LAB:-$REPO/target/release/lab}"
[ -x "$LAB" ] || LAB="$REPO/target/debug/lab"
[ "$(id -u)" = 0 ] || { echo "class-up bench: run as root" >&2; exit 2; }
for pidfile in /run/libvirtd.pid /run/virtlogd.pid; do
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "class-up bench: a libvirt daemon already runs ($pidfile): stop it first" >&2; exit 2
  fi
done

"$REPO/provision/vm/deps.sh" >&2
BINS="${LAB_VM_BIN_DIR:-$("$REPO/provision/build-static.sh" | tail -n 1)}"
IMAGE=$("$REPO/provision/vm/build-image.sh" bookworm | tail -n 1)
NS="lab-bench-virt-$$"
WORK=$(mktemp -d /var/tmp/lab-bench-class-up.XXXXXX)
IN() { ip netns exec "$NS" "$@"; }
cleanup() {
  IN "$LAB" class down --class "$WORK/class" --yes >/dev/null 2>&1 || true
  virsh -q -c qemu:///system net-destroy default >/dev/null 2>&1 || true
  for pidfile in /run/libvirtd.pid /run/virtlogd.pid; do
    [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
  done
  sleep 1
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add "$NS"
IN ip link set lo up
# /dev/kvm masked in the daemons' mount namespace where only root may open it (no udev): else
# libvirtd re-probes QEMU on every call (see tests/it/class_up/libvirt.rs).
DAEMON_START='[ "$(stat -c %a /dev/kvm 2>/dev/null)" = 600 ] && mount --bind /dev/null /dev/kvm; exec "$0" -d'
IN sh -c "$DAEMON_START" /usr/sbin/virtlogd
IN sh -c "$DAEMON_START" /usr/sbin/libvirtd
for _ in $(seq 50); do virsh -q -c qemu:///system uri >/dev/null 2>&1 && break; sleep 0.2; done
virsh -q -c qemu:///system net-start default >/dev/null

if [ "$N" -gt 0 ]; then
echo "== lab class up: $N VMs ($ACCEL), load average $(cut -d' ' -f1 /proc/loadavg)"
START=$(date +%s.%N)
IN "$LAB" class up --class "$WORK/class" --students "$N" --image "$IMAGE" --bin-dir "$BINS" \
  --accel "$ACCEL" --memory 1536M >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log"; exit 1; }
END=$(date +%s.%N)
python3 - "$WORK/class/vms.json" "$START" "$END" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
stages = ["queued", "creating", "defined", "booting", "ssh", "cloud-init", "doctor"]
print(f"{'vm':<10}" + "".join(f"{s:>11}" for s in stages) + f"{'total':>9}")
for name, vm in sorted(j["vms"].items()):
    t = vm["timings"]
    print(f"{name:<10}" + "".join(f"{t.get(s, 0):>10.1f}s" for s in stages) + f"{sum(t.values()):>8.1f}s")
print(f"wall time of `lab class up` (provisioning and base image upload included): {float(sys.argv[3]) - float(sys.argv[2]):.1f} s")
PY
fi

# Placement of a whole class, planned on this host's real figures (a second host under another
# name would be refused: one libvirtd's room must not count twice).
for STUDENTS in 40 8; do
  echo "== --dry-run: $STUDENTS students, 1 vCPU and 1 GiB each, on this host"
  /usr/bin/time -f "dry run: %e s wall" ip netns exec "$NS" "$LAB" class up \
    --class "$WORK/plan$STUDENTS" --students "$STUDENTS" --image "$IMAGE" --accel "$ACCEL" \
    --memory 1G --vcpus 1 --bin-dir "$BINS" --dry-run 2>&1 || true
done
