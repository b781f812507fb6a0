#!/usr/bin/env bash
# The whole test suite: installs what it needs (provision/setup.sh --deps, idempotent), builds
# every binary, then runs every test: on this machine's kernel, and inside lab-VM guests
# (tests/guest: Debian 12 by default) booted under qemu. Root-only tests (real BPF, workloads,
# sshd, VMs) skip with a printed reason when not root; under CI they must run.
#
#   tests/run.sh                     # everything (as root; or: sudo tests/run.sh)
#   tests/run.sh --all-kernels       # also the Debian 13 (6.12) guest; see "Tested kernels" in README
#   tests/run.sh doctor              # extra args go to the test binaries (a name filter)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
export PATH="$HOME/.cargo/bin:$PATH"
ARGS=()
for arg in "$@"; do
  case "$arg" in
    --all-kernels) export LAB_GUESTS=all ;;
    *) ARGS+=("$arg") ;;
  esac
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
