#!/usr/bin/env bash
# Turn a fresh Debian 12+/Ubuntu 22.04+ machine into one that builds, runs and tests `lab`.
# Idempotent: every step checks first, so a second run takes seconds. Run as root (or via sudo).
#
#   provision/setup.sh                 # packages, toolchains, build, install onto PATH
#   provision/setup.sh --deps          # only packages and toolchains (no build)
#   --test-deps                        # also what the test suite needs (chromium, VM tools)
#   --print-packages                   # the apt packages it would install (provision/packages.txt)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${LAB_PREFIX:-/usr/local}"
BPF_LINKER_VERSION="0.13.0"
LLVM_CANDIDATES=(22 21 23)
DEPS_ONLY=0
TEST_DEPS=0
PRINT_PACKAGES=0

for arg in "$@"; do
  case "$arg" in
    --deps) DEPS_ONLY=1 ;;
    --test-deps) TEST_DEPS=1 ;;
    --print-packages) PRINT_PACKAGES=1 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "setup: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

# The packages of `group` in provision/packages.txt (the one list; it says why each is there),
# one a line; @LLVM@ stays as it is until LLVM is picked.
packages() {
  sed -n "s/^$1:[[:space:]]*//p" "$REPO/provision/packages.txt" | tr -s ' ' '\n' | sed '/^$/d' |
    sed "s/@LLVM@/${LLVM:-@LLVM@}/g"
}
if [ "$PRINT_PACKAGES" = 1 ]; then
  packages build; packages lab; [ "$TEST_DEPS" = 0 ] || packages test
  exit 0
fi

step() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die()  { echo "setup: error: $*" >&2; exit 1; }
trap 'echo "setup: error: step failed at line $LINENO: $BASH_COMMAND" >&2' ERR

[ "$(id -u)" = 0 ] || die "must run as root (e.g. sudo $0${*:+ $*})"

# --- distro -------------------------------------------------------------------------------
OS_RELEASE="${LAB_OS_RELEASE:-/etc/os-release}"   # override only for tests of this check
. "$OS_RELEASE" 2>/dev/null || die "cannot read /etc/os-release; supported: Debian 12+, Ubuntu 22.04+"
case "${ID:-}" in
  debian) [ "${VERSION_ID%%.*}" -ge 12 ] 2>/dev/null || die "Debian ${VERSION_ID:-?} is not supported; need Debian 12 or newer" ;;
  ubuntu) [ "${VERSION_ID%%.*}" -ge 22 ] 2>/dev/null || die "Ubuntu ${VERSION_ID:-?} is not supported; need Ubuntu 22.04 or newer" ;;
  *) die "distribution '${ID:-unknown}' is not supported; need Debian 12+ or Ubuntu 22.04+" ;;
esac

# --- apt packages -------------------------------------------------------------------------
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }
APT_UPDATED=0
apt_update_once() { [ "$APT_UPDATED" = 1 ] || { apt-get update -qq; APT_UPDATED=1; }; }

pick_llvm() {
  for v in "${LLVM_CANDIDATES[@]}"; do
    if installed "llvm-$v-dev"; then echo "$v"; return; fi
  done
  apt_update_once
  for v in "${LLVM_CANDIDATES[@]}"; do
    if apt-cache show "llvm-$v-dev" >/dev/null 2>&1; then echo "$v"; return; fi
  done
  return 1
}

step "apt packages"
LLVM=$(pick_llvm) || die "no llvm-21/22/23-dev package in the apt sources (bpf-linker needs one); on Debian 12 enable bookworm-security"
mapfile -t PKGS < <(packages build; packages lab)
MISSING=()
for p in "${PKGS[@]}"; do installed "$p" || MISSING+=("$p"); done
if [ "${#MISSING[@]}" -gt 0 ]; then
  apt_update_once
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${MISSING[@]}"
else
  echo "    all ${#PKGS[@]} packages present"
fi

# --- test-only packages (--test-deps; tests/run.sh asks for them) -------------------------
# (Debian's chromium; Ubuntu's is a snap stub that does not run here.)
if [ "$TEST_DEPS" = 1 ]; then
  step "test packages (chromium for the slides test, python3, tmux)"
  mapfile -t TEST_PKGS < <(packages test)
  TEST_MISSING=()
  for p in "${TEST_PKGS[@]}"; do installed "$p" || TEST_MISSING+=("$p"); done
  if [ "${#TEST_MISSING[@]}" -gt 0 ]; then
    apt_update_once
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${TEST_MISSING[@]}"
  else
    echo "    present"
  fi
fi

# --- rust toolchains ----------------------------------------------------------------------
step "rust toolchains"
export PATH="$HOME/.cargo/bin:$PATH"
command -v rustup >/dev/null || die "rustup not found; install Rust with rustup (https://rustup.rs) and re-run"
rustup toolchain list | grep -q '^stable' || rustup toolchain install stable --profile minimal
# The kernel halves need a nightly whose LLVM major matches bpf-linker's (LLVM $LLVM here):
# tools/ebpf/NIGHTLY pins it (a newer nightly emits bitcode bpf-linker rejects: "Invalid record").
NIGHTLY=$(cat "$REPO/tools/ebpf/NIGHTLY")
if ! rustup component list --toolchain "$NIGHTLY" --installed 2>/dev/null | grep -q '^rust-src'; then
  rustup toolchain install "$NIGHTLY" --profile minimal --component rust-src
else
  echo "    $NIGHTLY + rust-src present"
fi

# --- bpf-linker ---------------------------------------------------------------------------
step "bpf-linker $BPF_LINKER_VERSION (LLVM $LLVM)"
if bpf-linker --version 2>/dev/null | grep -q "$BPF_LINKER_VERSION"; then
  echo "    present"
else
  PATH="/usr/lib/llvm-$LLVM/bin:$PATH" cargo install bpf-linker --locked --version "$BPF_LINKER_VERSION" \
    --no-default-features --features "llvm-$LLVM"
fi

# --- tracefs ------------------------------------------------------------------------------
step "tracefs"
if [ -e /sys/kernel/tracing/events ]; then echo "    mounted"; else
  mount -t tracefs tracefs /sys/kernel/tracing && echo "    mounted tracefs at /sys/kernel/tracing"
fi

[ "$DEPS_ONLY" = 1 ] && { step "done (dependencies only)"; exit 0; }

# --- build and install --------------------------------------------------------------------
step "build (release)"
cd "$REPO"
LAB_REQUIRE_EBPF=1 cargo build --release --locked --bins
step "install into $PREFIX"
install -d "$PREFIX/bin" "$PREFIX/share/lab"
# Every executable cargo just built in target/release is one of ours (lab, lab-workload, the tools).
find target/release -maxdepth 1 -type f -executable -print0 | while IFS= read -r -d '' bin; do
  install -m 0755 "$bin" "$PREFIX/bin/$(basename "$bin")"
done
# bpftrace starter tools (labs 4-5): plain .bt files, listed by `lab tools`. Our names never
# shadow /usr/sbin's (the Debian bpftrace package ships its own execsnoop.bt etc. there).
step "bpftrace starters into $PREFIX/share/lab/bpftrace"
install -d "$PREFIX/share/lab/bpftrace"
install -m 0644 "$REPO"/tools/bpftrace/*.bt "$PREFIX/share/lab/bpftrace/"
# Man pages: every tool renders its own (clap_mangen) with --man.
step "man pages into $PREFIX/share/man/man8"
install -d "$PREFIX/share/man/man8"
for src in "$REPO"/tools/cli/src/bin/*.rs; do
  tool=$(basename "$src" .rs)
  [ -x "$PREFIX/bin/$tool" ] || continue
  if "$PREFIX/bin/$tool" --man > "$PREFIX/share/man/man8/$tool.8.tmp" 2>/dev/null; then
    mv "$PREFIX/share/man/man8/$tool.8.tmp" "$PREFIX/share/man/man8/$tool.8"
  else
    rm -f "$PREFIX/share/man/man8/$tool.8.tmp"
  fi
done
# Say sudo only to whoever came through it: a fresh root-only Debian has no sudo to type.
AS_ROOT=""; [ -n "${SUDO_USER:-}" ] && AS_ROOT="sudo "
step "done: run '${AS_ROOT}lab doctor' to check this machine, '${AS_ROOT}lab start 1' to begin"
