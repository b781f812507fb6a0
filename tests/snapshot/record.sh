#!/usr/bin/env bash
# A snapshot of what `lab` and the tools say, to show a refactoring changed no behaviour: record
# one before and one after, then compare them (tests/snapshot/compare.sh A B). Numbers that
# change from run to run (PIDs, times, latencies, sizes) are masked as N; the raw outputs are
# kept next to the masked ones.
#
#   sudo tests/snapshot/record.sh OUT [BIN_DIR]   # BIN_DIR: the built binaries (target/debug)
#
# Records: every tool's --help; lab --help and each subcommand's; lab tools; lab doctor --json;
# lab dev check; and for labs 1-3 a seeded session (lab start N --seed S, lab status/list --json,
# lab hint, lab check N --json with fixed answers, lab stop). Starts labs and loads BPF: take
# the machine lock (flock /tmp/work/machine.lock) where others share the machine. A few minutes.
set -uo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT="${1:?usage: tests/snapshot/record.sh OUT [BIN_DIR]}"
BIN="$(cd "${2:-$REPO/target/debug}" && pwd)"
[ "$(id -u)" = 0 ] || { echo "record.sh: must run as root (starts labs)" >&2; exit 1; }
[ -x "$BIN/lab" ] || { echo "record.sh: no lab in $BIN: cargo build --bins first" >&2; exit 1; }
mkdir -p "$OUT/raw"
STATE="$(mktemp -d /var/tmp/lab-snapshot.XXXXXX)"
export LAB_STATE_DIR="$STATE" NO_COLOR=1 COLUMNS=100
unset LAB_LABS_DIR LAB_DEV_SESSION
lab() { "$BIN/lab" "$@"; }
trap 'lab stop >/dev/null 2>&1; rm -rf "$STATE"' EXIT

# rec NAME CMD...: stdout, stderr and the exit code of CMD, in raw/NAME.
rec() {
  local name="$1"; shift
  "$@" >"$OUT/raw/$name.out" 2>"$OUT/raw/$name.err" </dev/null
  echo "exit $?" >"$OUT/raw/$name.rc"
}

for t in "$REPO"/tools/cli/src/bin/*.rs; do
  t=$(basename "$t" .rs)
  rec "help-$t" "$BIN/$t" --help
done
rec help-lab lab --help
for c in doctor provision class tools slides list start status hint stop check reset dev solution; do
  rec "help-lab-$c" lab "$c" --help
done
rec tools lab tools
rec doctor-json lab doctor --json
rec list-json-fresh lab list --json
rec status-json-idle lab status --json
rec dev-check lab dev check

# Fixed answers: right or wrong is decided by the seed alone for the names, syscalls and
# choices; numeric answers are graded against measurements and are masked in the comparison.
declare -A ANSWERS=(
  [1]="process=ledgerd;file=ledger-11.log;io_size=4K;sync=fsync;outlier_size=8M;outlier_latency=20ms;fix=make the I/O asynchronous"
  [2]="culprit=sleep;processes=10;parent=bash;login_time=2s;fix=more memory"
  [3]="threads=3;cpu=1;syscall=read;bytes=4096;runqlat_p99=10ms;problems=2"
)
for n in 1 2 3; do
  seed=$((n * 11))
  rec "lab$n-start" lab start "$n" --seed "$seed"
  rec "lab$n-status-json" lab status --json
  rec "lab$n-list-json" lab list --json
  rec "lab$n-hint" lab hint
  args=()
  IFS=';' read -r -a pairs <<<"${ANSWERS[$n]}"
  for p in "${pairs[@]}"; do args+=(--answer "$p"); done
  rec "lab$n-check-json" lab check "$n" --json "${args[@]}"
  rec "lab$n-check-bad-id" lab check "$n" --answer nosuch=1
  rec "lab$n-stop" lab stop
done
rec status-json-after lab status --json
rec list-json-after lab list --json

# The binaries name their source tree (starter .bt files): masked, so two trees compare.
SRC="$(cd "$BIN/../.." 2>/dev/null && pwd)"
python3 "$REPO/tests/snapshot/mask.py" "$OUT/raw" "$OUT/masked" "$SRC" "$REPO"
echo "record.sh: $(ls "$OUT/raw" | wc -l) files in $OUT (masked copies in $OUT/masked)"
