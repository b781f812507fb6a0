#!/usr/bin/env bash
# Record the tool output shown on the slides (slides/captures/*.txt) by running our tools, as
# root, against small workloads started here. Nothing on the slides is typed by hand.
#
#   sudo slides/capture.sh              # every capture whose tool is available
#   sudo slides/capture.sh runqlat ...  # only these captures
#
# Tools are taken from $LAB_BIN (a directory), else $CARGO_TARGET_DIR/release, target/release,
# then PATH. A capture whose tool is missing or fails is skipped and keeps its previous file;
# the summary at the end lists what was recorded and what was not.
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
OUT="$HERE/captures"
[ "$(id -u)" = 0 ] || { echo "capture.sh: needs root to load BPF programs: sudo $0 $*" >&2; exit 2; }
mkdir -p "$OUT"
WORK=$(mktemp -d /var/tmp/lab-capture.XXXXXX)
PIDS=()
XFS_MNT=""
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  [ -n "$XFS_MNT" ] && umount "$XFS_MNT"
  rm -rf "$WORK"
}
trap cleanup EXIT
ulimit -l unlimited 2>/dev/null  # else bpftrace prints a (harmless) RLIMIT_MEMLOCK error line
[ -e /sys/kernel/tracing/events ] || mount -t tracefs tracefs /sys/kernel/tracing

# Our builds first on PATH too, so `lab tools` lists them as installed.
for dir in "$REPO/target/release" "${CARGO_TARGET_DIR:+$CARGO_TARGET_DIR/release}" "${LAB_BIN:-}"; do
  [ -n "$dir" ] && [ -d "$dir" ] && PATH="$dir:$PATH"
done
export PATH

find_tool() {
  local name=$1 dir
  for dir in "${LAB_BIN:-}" "${CARGO_TARGET_DIR:+$CARGO_TARGET_DIR/release}" "$REPO/target/release"; do
    [ -n "$dir" ] && [ -x "$dir/$name" ] && { echo "$dir/$name"; return 0; }
  done
  command -v "$name" 2>/dev/null
}

# Background load, stopped by stop_load. Two busy dd copies pinned to CPU 0 make a run queue.
BUSY=""
cpu_load() {
  for _ in 1 2; do
    taskset -c 0 dd if=/dev/zero of=/dev/null bs=64k status=none & PIDS+=($!)
    BUSY=$!
  done
}
# Small synchronous writes with a large write now and then: a latency distribution with outliers.
disk_load() {
  ( for round in 1 2 3 4 5 6; do
      dd if=/dev/zero of="$WORK/records" bs=4k count=200 oflag=direct,dsync conv=notrunc status=none
      dd if=/dev/zero of="$WORK/dump.$round" bs=1M count=16 oflag=direct status=none
    done ) & PIDS+=($!)
}
# A few short-lived processes, like a health-check script, run as user nobody so that execsnoop
# can be filtered to them (-u) on a machine that is busy with other work.
NOBODY=65534
proc_load() {
  ( sleep 1
    setpriv --reuid=$NOBODY --regid=$NOBODY --clear-groups sh -c \
      'for i in 1 2; do date +%s; cat /etc/hostname; uname -r; df -h /; done; sleep 0.2' >/dev/null 2>&1
  ) & PIDS+=($!)
}
# Three short TCP sessions on loopback (port 8080), each way a chosen number of bytes, like a
# client fetching from a local service; python3 plays both ends.
net_load() {
  ( sleep 1.5
    python3 - <<'PY'
import socket, threading
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 8080)); srv.listen(8)
def serve():
    for reply in (200000, 1500, 1500):
        c = srv.accept()[0]
        while c.recv(65536): pass
        c.sendall(b"r" * reply); c.close()
t = threading.Thread(target=serve); t.start()
for n in (4000, 52000, 300):
    c = socket.create_connection(("127.0.0.1", 8080)); c.sendall(b"x" * n); c.shutdown(socket.SHUT_WR)
    while c.recv(65536): pass
    c.close()
t.join()
PY
  ) & PIDS+=($!)
}
# An XFS file system on a loop device (needs mkfs.xfs, package xfsprogs), and on it a writer of
# records with an fsync after each batch and a reader of an older file: xfsslower/xfsdist work.
xfs_setup() {
  command -v mkfs.xfs >/dev/null || return 1
  truncate -s 512M "$WORK/xfs.img" && mkfs.xfs -q "$WORK/xfs.img" && mkdir -p "$WORK/xfs" &&
    mount -o loop "$WORK/xfs.img" "$WORK/xfs" && XFS_MNT="$WORK/xfs"
}
xfs_load() {
  dd if=/dev/urandom of="$XFS_MNT/old.db" bs=1M count=32 conv=fsync status=none
  ( for round in $(seq 1 40); do
      dd if=/dev/zero of="$XFS_MNT/journal" bs=64k count=64 conv=fsync,notrunc status=none
      dd if="$XFS_MNT/old.db" of=/dev/null bs=128k count=8 skip=$((round % 30)) iflag=direct status=none
      sleep 0.1
    done ) & PIDS+=($!)
}
stop_load() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  PIDS=()
}

RECORDED=()
SKIPPED=()
# capture NAME SECONDS TOOL [ARGS...]: run for at most SECONDS (SIGINT, as Ctrl-C would), keep
# the output as captures/NAME.txt under a "# command" line when the tool succeeds.
capture() {
  local name=$1 secs=$2 tool=$3; shift 3
  local path
  if ! path=$(find_tool "$tool"); then
    SKIPPED+=("$name (no $tool binary)"); return
  fi
  local shown=$tool arg
  for arg in "$@"; do
    case $arg in *[!A-Za-z0-9_.,:/=-]*) shown+=" '$arg'" ;; *) shown+=" $arg" ;; esac
  done
  echo "capture.sh: $name: $shown" >&2
  local tmp="$WORK/$name.txt"
  { echo "# $shown"; timeout --preserve-status -s INT -k 5 "$secs" "$path" "$@" 2>&1; } >"$tmp"
  local rc=$?
  if [ "$rc" = 0 ] && [ "$(wc -l <"$tmp")" -gt 1 ]; then
    # Strip trailing spaces and terminal escapes; the text is otherwise exactly what was printed.
    sed -e 's/\x1b\[[0-9;]*m//g' -e 's/[[:space:]]*$//' "$tmp" >"$OUT/$name.txt"
    RECORDED+=("$name")
  else
    SKIPPED+=("$name ($tool exited $rc: $(tail -n 1 "$tmp" | cut -c1-120))")
  fi
}

want() { [ "${#ONLY[@]}" = 0 ] || printf '%s\n' "${ONLY[@]}" | grep -qx "$1"; }
ONLY=("$@")

if want tcpdump-d; then capture tcpdump-d 10 tcpdump -d 'tcp dst port 22'; fi

if want execsnoop; then
  proc_load
  capture execsnoop 4 execsnoop -T -u $NOBODY
  stop_load
fi

cpu_load; sleep 1
want vmstat && capture vmstat 10 vmstat 1 5
want mpstat && capture mpstat 10 mpstat -P ALL 1 1
# Filtered to one of the busy processes: other work on the machine would bury it.
want runqlat && capture runqlat 20 runqlat -p "$BUSY" 5 1
want runqlen && capture runqlen 20 runqlen 5 1
want profile && capture profile 20 profile -F 99 -f -p "$BUSY" 3
stop_load

if want biolatency; then
  disk_load
  capture biolatency 20 biolatency 5 1
  stop_load
fi
if want bpftrace-bytes; then
  disk_load
  capture bpftrace-bytes 4 bpftrace -e 't:block:block_rq_issue { @bytes = hist(args->bytes); }'
  stop_load
fi

if want tcplife; then
  net_load
  capture tcplife 4 tcplife
fi

if want funccount; then
  # Kernel functions where kprobes exist (the lab VMs), else the open syscalls' tracepoints.
  if [ -e /sys/bus/event_source/devices/kprobe ]; then
    ( for _ in $(seq 200); do cat /etc/hostname >/dev/tcp/127.0.0.1/22; done ) 2>/dev/null & PIDS+=($!)
    capture funccount 10 funccount -d 3 'tcp_s*'
  else
    proc_load
    capture funccount 10 funccount -d 3 't:syscalls:sys_enter_open*'
  fi
  stop_load
fi

if want trace; then
  # Every file the health-check script (user nobody) opens, and the opens that failed.
  proc_load
  capture trace 6 trace -M 10 --uid $NOBODY 't:syscalls:sys_enter_openat "%s", args->filename' \
    't:syscalls:sys_exit_openat (args->ret < 0) "ret %d", args->ret'
  stop_load
fi

if want xfsslower || want xfsdist; then
  if [ -n "$XFS_MNT" ] || xfs_setup; then
    xfs_load
    want xfsslower && capture xfsslower 6 xfsslower 10
    stop_load
    xfs_load
    want xfsdist && capture xfsdist 20 xfsdist 5 1
    stop_load
  else
    SKIPPED+=("xfsslower/xfsdist (no mkfs.xfs: apt-get install xfsprogs)")
  fi
fi

want lab-tools && capture lab-tools 10 lab tools

echo "capture.sh: recorded ${#RECORDED[@]}: ${RECORDED[*]:-none}"
for s in "${SKIPPED[@]}"; do echo "capture.sh: skipped $s"; done
