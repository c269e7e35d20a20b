#!/usr/bin/env bash
# `npm run build:ebpf`: compiles ebpf/*.c into ebpf/build/*.o (BPF bytecode with BTF; git-ignored).
# Needs clang and the libbpf and kernel UAPI headers (`npm run setup` installs them on Debian).
# Safe to run concurrently: each object is written to a temporary file and renamed into place.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

die() { printf 'build:ebpf: error: %s\n' "$*" >&2; exit 1; }

CLANG=${CLANG:-clang}
command -v "$CLANG" >/dev/null 2>&1 || die "$CLANG not found; run \`npm run setup\` (Debian: apt-get install clang llvm libbpf-dev)"
[[ -f /usr/include/bpf/bpf_helpers.h ]] || die "libbpf headers not found (/usr/include/bpf); run \`npm run setup\` (Debian: apt-get install libbpf-dev)"

# -target bpf drops the host's multiarch include directory, where Debian keeps <asm/types.h>.
multiarch=$("$CLANG" -print-multiarch 2>/dev/null || true)
includes=()
[[ -n "$multiarch" && -d "/usr/include/$multiarch" ]] && includes+=(-I "/usr/include/$multiarch")

mkdir -p build
for src in *.c; do
  obj="build/${src%.c}.o"
  tmp=$(mktemp "build/.${src%.c}.XXXXXX")
  # -mcpu=v3: 64-bit compare-and-swap for the lock-free token bucket (kernel >= 5.12).
  if ! "$CLANG" -O2 -g -target bpf -mcpu=v3 -Wall -Werror "${includes[@]}" -c "$src" -o "$tmp"; then
    rm -f "$tmp"
    die "clang failed on ebpf/$src"
  fi
  chmod 0644 "$tmp"
  mv -f "$tmp" "$obj"
  printf 'build:ebpf: ebpf/%s\n' "$obj"
done
