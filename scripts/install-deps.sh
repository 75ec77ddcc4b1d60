#!/usr/bin/env bash
# Installs what building and testing engine needs on a fresh Debian machine (run as root).
# Idempotent: packages already present are skipped without touching apt.
set -euo pipefail

packages=(
  pkg-config   # -sys crates
  libclang-dev libdevmapper-dev  # devicemapper-sys: bindgen and devmapper.pc
  libseccomp-dev  # runtime: Docker's seccomp profile compiled by libseccomp
  xfsprogs     # overlay2.size tests: project quota on a loop-mounted xfs
  e2fsprogs    # mkfs.ext4 for loop-device tests
  kmod
  busybox-static  # runtime tests build a rootfs from /bin/busybox
  # Real peers for the image interop tests (tests/images.rs, tests/registry.rs):
  skopeo umoci docker-registry apache2-utils openssl
  docker-compose  # tests/clients.rs: Docker Compose 1.29 against engine daemon
  python3-venv    # tests/clients.rs: a venv for Docker's Python SDK (scripts/client-venv.sh)
  docker.io       # dockerd 20.10: docker save/load round trips, benchmark comparisons
  netavark aardvark-dns iptables  # networks: bridges, NAT, port forwarding, DNS by name
  docker-compose  # the compose test drives the API daemon with it
  hyperfine       # network latency measurements (docs/benchmarks.md)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v cargo >/dev/null || { echo "install-deps: cargo not found; install Rust (rustup) first" >&2; exit 1; }
