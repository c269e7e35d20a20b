#!/usr/bin/env bash
# `npm run setup`: installs the system packages x0tta6bl4 needs on Debian/Ubuntu:
# nats-server >= 2.9 (Debian bookworm ships 2.9.10), and the XDP toolchain (clang, libbpf
# headers, bpftool, iproute2, ping). Idempotent: when everything is already there, apt is
# not touched.
set -euo pipefail

MIN_MAJOR=2
MIN_MINOR=9
PACKAGES=(nats-server ca-certificates)

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# Debian installs nats-server to /usr/sbin, which is not on a normal user's PATH.
find_nats() {
  if [[ -n "${X0_NATS_SERVER:-}" ]]; then echo "$X0_NATS_SERVER"
  elif command -v nats-server >/dev/null 2>&1; then command -v nats-server
  elif [[ -x /usr/sbin/nats-server ]]; then echo /usr/sbin/nats-server
  fi
}

# Prints "2.9.10" for a working binary, nothing otherwise.
nats_version() {
  local bin=$1
  [[ -n "$bin" ]] || return 0
  "$bin" --version 2>/dev/null | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n 1 || true
}

new_enough() {
  local v=$1 major minor
  [[ -n "$v" ]] || return 1
  major=${v%%.*}
  minor=${v#*.}
  minor=${minor%%.*}
  ((major > MIN_MAJOR || (major == MIN_MAJOR && minor >= MIN_MINOR)))
}

if [[ $(id -u) -eq 0 ]]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  SUDO=(missing)
fi

as_root() {
  [[ "${SUDO[0]:-}" != missing ]] || die "installing system packages needs root: run this as root, or install sudo"
  "${SUDO[@]}" "$@"
}

bin=$(find_nats)
version=$(nats_version "$bin")
installed_now=false
apt_updated=false

if new_enough "$version"; then
  say "nats-server $version already installed ($bin); nothing to install"
else
  if [[ -n "$version" ]]; then
    say "nats-server $version at $bin is older than $MIN_MAJOR.$MIN_MINOR; upgrading"
  fi
  if ! command -v apt-get >/dev/null 2>&1; then
    die "no apt-get: this script supports Debian and Ubuntu only.
  Install nats-server $MIN_MAJOR.$MIN_MINOR or newer yourself, then run npm ci:
    macOS:  brew install nats-server
    other:  a release binary from https://github.com/nats-io/nats-server/releases
  Put it on PATH or set X0_NATS_SERVER to its path (or point NATS_URL at a running server)."
  fi
  export DEBIAN_FRONTEND=noninteractive
  # A fresh machine has stale or empty package lists.
  say "apt-get update"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  apt_updated=true
  say "apt-get install ${PACKAGES[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"
  installed_now=true
  bin=$(find_nats)
  version=$(nats_version "$bin")
  [[ -n "$version" ]] || die "apt installed nats-server but it does not run (\`$bin --version\` failed)"
  new_enough "$version" || die "this distribution's nats-server is $version; x0tta6bl4 needs $MIN_MAJOR.$MIN_MINOR or newer.
  Install a release binary from https://github.com/nats-io/nats-server/releases and set X0_NATS_SERVER to its path."
fi

# The Debian package starts a system service on 127.0.0.1:4222 (without JetStream). x0 runs
# its own servers, and that port belongs to infra/nats/cluster; stop the service we just
# installed, but leave one the machine already had alone.
if $installed_now && [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1 &&
  systemctl is-enabled --quiet nats-server 2>/dev/null; then
  as_root systemctl disable --now nats-server >/dev/null 2>&1 || true
  say "disabled the nats-server system service (x0 starts its own); re-enable: systemctl enable --now nats-server"
fi

# Make `nats-server` resolvable for users whose PATH lacks /usr/sbin.
if [[ -z "${X0_NATS_SERVER:-}" ]] && ! command -v nats-server >/dev/null 2>&1 && [[ "$bin" == /usr/sbin/nats-server ]]; then
  if [[ "${SUDO[0]:-}" != missing ]] && "${SUDO[@]}" ln -sf /usr/sbin/nats-server /usr/local/bin/nats-server; then
    say "linked /usr/local/bin/nats-server -> /usr/sbin/nats-server (/usr/sbin is not on your PATH)"
  else
    say "warning: /usr/sbin is not on your PATH; set X0_NATS_SERVER=/usr/sbin/nats-server"
  fi
fi

say "nats-server $version ready ($bin)"

# XDP (ebpf/, adapters/xdp, test/kernel): clang builds the program, libbpf-dev and
# linux-libc-dev hold its headers, bpftool loads it and updates its pinned maps, iproute2
# attaches it, ping and nsenter (util-linux) drive the kernel tests. batctl drives batman-adv
# (adapters/batman-adv); user-mode-linux is the guest kernel with batman-adv for the batman-adv
# lab (test/kernel/batman.test.ts), whose modules kmod's modprobe loads.
XDP_PACKAGES=(clang llvm libbpf-dev linux-libc-dev bpftool iproute2 iputils-ping util-linux batctl user-mode-linux kmod)
is_installed() { dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null | grep -qx installed; }
missing=()
for package in "${XDP_PACKAGES[@]}"; do is_installed "$package" || missing+=("$package"); done
if ((${#missing[@]} == 0)); then
  say "XDP toolchain already installed (${XDP_PACKAGES[*]})"
elif ! command -v apt-get >/dev/null 2>&1; then
  say "warning: no apt-get to install ${missing[*]}; \`npm run build:ebpf\` and the kernel tests need clang, libbpf headers, bpftool, iproute2 and ping"
else
  if ! $apt_updated; then
    say "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  fi
  # Ubuntu ships bpftool in linux-tools, matched to the running kernel.
  if [[ " ${missing[*]} " == *" bpftool "* ]] && ! apt-cache show bpftool >/dev/null 2>&1; then
    missing=("${missing[@]/bpftool/linux-tools-common}" "linux-tools-$(uname -r)")
  fi
  say "apt-get install ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
