#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test bucketfs has:
#   1. debug build: unit tests and integration tests (moto_server as S3, the Linux kernel NFS
#      client under qemu, libnfs), all started on loopback by the tests themselves;
#   2. ASan+UBSan build: unit tests and the non-kernel integration tests;
#   3. libFuzzer build: a short smoke run of every fuzz target.
# Long benchmarks and pynfs are not part of this (see docs/testing.md).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)

scripts/install-deps.sh --with-tests
tests/kclient/setup.sh >/dev/null

echo "== debug build: unit + integration tests"
scripts/build.sh debug
ctest --preset debug -j "$jobs"

echo "== ASan+UBSan build: unit tests and non-kernel integration tests"
scripts/build.sh asan
ASAN_OPTIONS=detect_leaks=1 ctest --preset asan -j "$jobs" -LE kclient

echo "== fuzz smoke run"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target fuzz_targets -j "$jobs"
for f in build/fuzz/tests/fuzz/*_fuzz; do
  [[ -x $f ]] || continue
  echo "-- $(basename "$f")"
  "$f" -max_total_time="${BUCKETFS_FUZZ_SECONDS:-30}" -print_final_stats=0 2>&1 | tail -2
done
echo "all tests passed"
