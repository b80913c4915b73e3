#!/usr/bin/env bash
# Installs every Debian package bucketfs needs to build, run and test. Idempotent: packages already
# present are not touched, so a second run takes a second. Needs root (or sudo) for apt-get.
set -euo pipefail

build_pkgs=(
  g++ cmake ninja-build pkg-config git
  libboost1.81-dev libboost-system1.81-dev libssl-dev libsqlite3-dev libpugixml-dev
  libcli11-dev libtomlplusplus-dev libspdlog-dev libfmt-dev
)
test_pkgs=(
  libgtest-dev libgmock-dev libbenchmark-dev clang libclang-rt-14-dev
  libnfs-utils libnfs-dev            # libnfs: an independent NFSv4.0 client
  qemu-system-x86 busybox-static cpio # the Linux kernel NFS client, booted under qemu
  python3 python3-yaml curl          # python3-yaml: tests/deploy/check_deploy.py
)

want=("${build_pkgs[@]}")
[[ "${1:-}" == "--with-tests" ]] && want+=("${test_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [[ "${1:-}" == "--with-tests" ]] && ! command -v moto_server >/dev/null; then
  echo "install-deps: moto_server (pip package moto[server]) is not on PATH; the S3 integration" \
       "tests need it" >&2
  exit 1
fi
