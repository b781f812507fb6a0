#!/usr/bin/env bash
# Build the lab VM payload: static (musl) release builds of lab, lab-workload and every tool,
# runnable on any x86_64 Linux regardless of its libc. Prints the directory holding them on the
# last line: pass it to `lab provision cloud-init --bin-dir`.
#
#   provision/build-static.sh      # honours CARGO_TARGET_DIR (default: target/)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET=x86_64-unknown-linux-musl
export PATH="$HOME/.cargo/bin:$PATH"
cd "$REPO"
rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET" >&2
# The kernel halves must be real: an empty eBPF object would make a payload that cannot trace.
LAB_REQUIRE_EBPF=1 cargo build --release --locked --target "$TARGET" --bins >&2
echo "${CARGO_TARGET_DIR:-$REPO/target}/$TARGET/release"
