#!/usr/bin/env bash
# Prepares the kernel-client harness: Debian's own kernel package (with its nfs/nfsv4 modules) is
# downloaded from the Debian archive and unpacked into a cache directory, once. Prints that
# directory. Needs qemu-system-x86, busybox-static and cpio (scripts/install-deps.sh --with-tests).
set -euo pipefail
cache=${BUCKETFS_KCLIENT_CACHE:-/var/tmp/bucketfs-kclient}
if [[ ! -f "$cache/kver" ]]; then
  mkdir -p "$cache"
  find_pkg() {
    apt-cache depends linux-image-amd64 2>/dev/null |
      awk '/Depends: linux-image-[0-9]/ {print $2; exit}'
  }
  pkg=$(find_pkg)
  if [[ -z "$pkg" ]]; then
    apt-get update -qq >/dev/null
    pkg=$(find_pkg)
  fi
  [[ -n "$pkg" ]] || { echo "kclient: cannot find Debian's linux-image package" >&2; exit 1; }
  work=$(mktemp -d)
  (cd "$work" && apt-get download -qq "$pkg" 2>/dev/null && dpkg -x "$pkg"_*.deb "$cache/root")
  rm -rf "$work"
  echo "${pkg#linux-image-}" >"$cache/kver"
fi
echo "$cache"
