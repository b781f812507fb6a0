#!/usr/bin/env bash
# Benchmark: `lab class status` against N loopback "VMs" (default 40), printing the wall time.
# Goal (issue 14): under 5 s for 40 reachable hosts. Not a test: it prints a figure.
#
#   sudo tests/bench/class-status.sh [N] [LAB]     LAB: the lab binary (default target/release/lab,
#                                                  else target/debug/lab)
#
# One sshd on 127.0.0.1 (a free port, MaxStartups raised so 40 parallel handshakes are not
# throttled as a single real sshd would be; 40 real VMs each have their own sshd), N accounts
# (lcb01..lcbNN, useradd'd here and removed on exit) each with some lab progress in
# /var/lib/lab/USER, the instructor key authorized for all. Everything is removed on exit.
set -euo pipefail
N=${1:-40}
cd "$(dirname "$0")/../.."
LAB=${2:-}
if [[ -z $LAB ]]; then
    LAB=target/release/lab
    [[ -x $LAB ]] || LAB=target/debug/lab
fi
LAB=$(realpath "$LAB")
[[ $(id -u) == 0 ]] || { echo "class-status.sh: needs root (useradd, sshd); run it with sudo" >&2; exit 2; }
[[ -x $LAB ]] || { echo "class-status.sh: no lab binary at $LAB; cargo build --bins first" >&2; exit 2; }

DIR=$(mktemp -d /tmp/lab-class-bench.XXXXXX)
chmod 755 "$DIR"
USERS=()
SSHD_PID=
cleanup() {
    [[ -n $SSHD_PID ]] && kill "$SSHD_PID" 2>/dev/null && wait "$SSHD_PID" 2>/dev/null || true
    for u in "${USERS[@]}"; do
        userdel -r "$u" >/dev/null 2>&1 || true
        rm -rf "/var/lib/lab/$u"
    done
    rm -rf "$DIR"
}
trap cleanup EXIT

ssh-keygen -q -t ed25519 -N '' -f "$DIR/instructor"
ssh-keygen -q -t ed25519 -N '' -f "$DIR/host_ed25519"
cp "$DIR/instructor.pub" "$DIR/authorized_keys"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo "name,host,user,password,instance_id" > "$DIR/roster.csv"
NOW=$(date +%s)
for i in $(seq -w 1 "$N"); do
    u=lcb$i
    userdel -r "$u" >/dev/null 2>&1 || true
    useradd --create-home --shell /bin/sh "$u"
    USERS+=("$u")
    mkdir -p "/var/lib/lab/$u"
    cat > "/var/lib/lab/$u/state.json" <<JSON
{"format": 1, "labs": {"1": {"time_spent": 600, "hints_revealed": 1,
  "questions": {"process": {"passed": true, "answer": "x", "measured": "x", "at": $NOW}},
  "passed_at": $NOW}}}
JSON
    echo "student-$i,127.0.0.1:$PORT,$u,," >> "$DIR/roster.csv"
done
chmod 600 "$DIR/roster.csv"
cat > "$DIR/sshd_config" <<CONF
Port $PORT
ListenAddress 127.0.0.1
HostKey $DIR/host_ed25519
PidFile $DIR/sshd.pid
AuthorizedKeysFile $DIR/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM yes
StrictModes no
UseDNS no
MaxStartups 200
AllowUsers ${USERS[*]}
CONF
/usr/sbin/sshd -D -e -f "$DIR/sshd_config" 2>/dev/null &
SSHD_PID=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done

# CPU seconds (user+sys, itself and reaped children) of a process from /proc/PID/stat.
cpu_of() {
    python3 -c 'import os,sys; f=open(f"/proc/{sys.argv[1]}/stat").read().rsplit(")",1)[1].split(); print(sum(int(x) for x in f[11:15])/os.sysconf("SC_CLK_TCK"))' "$1"
}
run() {
    local start end sshd0 sshd1 kids0 kids1
    sshd0=$(cpu_of "$SSHD_PID")
    kids0=$(python3 -c 'import os; t=os.times(); print(t.children_user+t.children_system)')
    start=$(date +%s.%N)
    # In a subshell so its children's CPU (lab class and every ssh client) can be read after.
    kids1=$( (
        "$LAB" class status --roster "$DIR/roster.csv" -i "$DIR/instructor" --lab-command "$LAB" \
            --known-hosts "$DIR/known_hosts" --json > "$DIR/out.json"
        python3 -c 'import os; t=os.times(); print(t.children_user+t.children_system)'
    ) )
    end=$(date +%s.%N)
    sshd1=$(cpu_of "$SSHD_PID")
    python3 - "$DIR/out.json" "$start" "$end" "$1" "$sshd0" "$sshd1" "$kids1" <<'PY'
import json, os, sys
rows = json.load(open(sys.argv[1]))["rows"]
ok = sum(1 for r in rows if r["status"])
wall = float(sys.argv[3]) - float(sys.argv[2])
server = float(sys.argv[6]) - float(sys.argv[5])
client = float(sys.argv[7])
print(f"{sys.argv[4]}: {len(rows)} hosts, {ok} answered, {wall:.2f} s wall"
      f" (slowest host {max(r['elapsed_ms'] for r in rows)} ms); CPU: {client:.2f} s lab class + ssh clients,"
      f" {server:.2f} s sshd + remote lab status; load average {os.getloadavg()[0]:.1f}")
PY
}
echo "lab class status, $N loopback targets, $(nproc) CPUs, lab: $LAB"
run "first run (host key learned)"
run "second run"
run "third run"
