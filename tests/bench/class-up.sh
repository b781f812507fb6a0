#!/usr/bin/env bash
# Benchmark of `lab class up` on this machine: N (2) student VMs from the build-image.sh image
# on a real libvirtd started here inside a network namespace of its own (the VMs' NAT network
# stays in it), then the wall time of each VM split into its stages from the class journal
# (vms.json), and a `--dry-run` plan for 40 students over 3 hosts (this libvirtd reached three
# ways: qemu:///system and qemu+ssh:// to 127.0.0.2 and 127.0.0.3, so each "host" reports this
# machine's CPUs and free memory). Everything made is removed at the end (`lab class down`).
#
#   sudo tests/bench/class-up.sh [N] [--accel tcg|auto]
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
BINS=$("$REPO/provision/build-static.sh" | tail -n 1)
IMAGE=$("$REPO/provision/vm/build-image.sh" bookworm | tail -n 1)
NS="lab-bench-virt-$$"
WORK=$(mktemp -d /var/tmp/lab-bench-class-up.XXXXXX)
IN() { ip netns exec "$NS" "$@"; }
SSHD_PID=""
cleanup() {
  IN "$LAB" class down --class "$WORK/class" --yes >/dev/null 2>&1 || true
  [ -n "$SSHD_PID" ] && kill "$SSHD_PID" 2>/dev/null || true
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

echo "== lab class up: $N VMs ($ACCEL), load average $(cut -d' ' -f1 /proc/loadavg)"
START=$(date +%s.%N)
IN "$LAB" class up --class "$WORK/class" --students "$N" --image "$IMAGE" --bin-dir "$BINS" \
  --accel "$ACCEL" --memory 1536M >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log"; exit 1; }
END=$(date +%s.%N)
python3 - "$WORK/class/vms.json" "$(echo "$END - $START" | bc)" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
stages = ["queued", "creating", "defined", "booting", "ssh", "cloud-init", "doctor"]
print(f"{'vm':<10}" + "".join(f"{s:>11}" for s in stages) + f"{'total':>9}")
for name, vm in sorted(j["vms"].items()):
    t = vm["timings"]
    print(f"{name:<10}" + "".join(f"{t.get(s, 0):>10.1f}s" for s in stages) + f"{sum(t.values()):>8.1f}s")
print(f"wall time of `lab class up` (provisioning and base image upload included): {float(sys.argv[2]):.1f} s")
PY

echo "== --dry-run: 40 students over 3 hosts (this libvirtd, reached three ways)"
mkdir -p "$WORK/sshd"
ssh-keygen -q -t ed25519 -N "" -f "$WORK/sshd/key"
ssh-keygen -q -t ed25519 -N "" -f "$WORK/sshd/host"
cp "$WORK/sshd/key.pub" "$WORK/sshd/authorized_keys"
PORT=$((20000 + $$ % 20000))
IN ip addr add 127.0.0.2/8 dev lo 2>/dev/null || true
IN ip addr add 127.0.0.3/8 dev lo 2>/dev/null || true
cat > "$WORK/sshd/config" <<CFG
Port $PORT
ListenAddress 0.0.0.0
HostKey $WORK/sshd/host
PidFile $WORK/sshd/pid
AuthorizedKeysFile $WORK/sshd/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
StrictModes no
UseDNS no
CFG
IN /usr/sbin/sshd -D -f "$WORK/sshd/config" & SSHD_PID=$!
sleep 1
Q="keyfile=$WORK/sshd/key&no_verify=1"
HOSTS="qemu:///system,qemu+ssh://root@127.0.0.2:$PORT/system?$Q,qemu+ssh://root@127.0.0.3:$PORT/system?$Q"
/usr/bin/time -f "dry run: %e s wall" ip netns exec "$NS" "$LAB" class up --class "$WORK/plan40" \
  --students 40 --hosts "$HOSTS" --image "$IMAGE" --accel "$ACCEL" --memory 1G --vcpus 1 --dry-run \
  2>&1 | sed "s|$Q|…|g" || true
echo "== --dry-run: 20 students over the same 3 hosts"
ip netns exec "$NS" "$LAB" class up --class "$WORK/plan20" --students 20 --hosts "$HOSTS" \
  --image "$IMAGE" --accel "$ACCEL" --memory 1G --vcpus 1 --dry-run 2>&1 | sed "s|$Q|…|g"
