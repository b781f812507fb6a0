#!/usr/bin/env bash
# The whole test suite: installs what it needs (provision/setup.sh --deps, idempotent), builds
# every binary, then runs every test: on this machine's kernel, and inside both lab-VM guests
# (tests/guest: Debian 12 and Debian 13, booted under qemu side by side from one static build).
# Root-only tests (real BPF, workloads, sshd, VMs) skip with a printed reason when not root;
# under CI they must run.
#
#   tests/run.sh                     # everything (as root; or: sudo tests/run.sh)
#   tests/run.sh --guest debian12    # this host and one guest (repeatable: a comma list)
#   tests/run.sh --no-guests         # this host only
#   tests/run.sh doctor              # extra args go to the test binaries (a name filter)
#
# LAB_GUESTS_AT_ONCE=1 runs the guests one after the other (docs/lab-vm-kernels.md has both
# timings).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
export PATH="$HOME/.cargo/bin:$PATH"
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --guest)
      [ $# -ge 2 ] || { echo "tests/run.sh: --guest needs a guest id (debian12, debian13)" >&2; exit 2; }
      export LAB_GUESTS="${LAB_GUESTS:+$LAB_GUESTS,}$2"; shift ;;
    --guest=*) export LAB_GUESTS="${LAB_GUESTS:+$LAB_GUESTS,}${1#--guest=}" ;;
    --no-guests) export LAB_GUESTS=none ;;
    # Both guests are the default now; the old flag still works.
    --all-kernels) export LAB_GUESTS=all ;;
    *) ARGS+=("$1") ;;
  esac
  shift
done
if [ "$(id -u)" = 0 ]; then
  provision/setup.sh --deps --test-deps
else
  echo "tests/run.sh: not root: skipping setup; root-only tests will be reported as SKIPPED" >&2
fi
export LAB_REQUIRE_EBPF=1
cargo build --locked --bins
# --no-fail-fast: a failing guest must not hide the host results (and the other way round).
cargo test --locked --workspace --no-fail-fast -- "${ARGS[@]}"
