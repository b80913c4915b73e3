#!/usr/bin/env bash
# Checks the deployment files under deploy/ (Dockerfile, systemd unit, Kubernetes manifests)
# without a Docker engine, a running systemd or a cluster: see check_deploy.py for what is checked.
# Every `bucketfs serve` command line they contain is started once for real on loopback.
# Usage: check_deploy.sh BUCKETFS_BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[[ $# -eq 1 && -x $1 ]] || { echo "usage: $0 BUCKETFS_BINARY" >&2; exit 2; }
exec python3 "$here/check_deploy.py" "$(cd "$here/../.." && pwd)" "$1"
