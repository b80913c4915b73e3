#!/usr/bin/env bash
# Installs what is missing, builds bucketfs (release), and serves a demo bucket from the embedded
# local-directory object store (no S3 account needed) on 127.0.0.1:2049.
#   BUCKETFS_DEMO_DIR  where the demo bucket lives [~/.local/share/bucketfs-demo]
#   BUCKETFS_LISTEN    listen address [127.0.0.1:2049]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target bucketfs -j "$(nproc)"

data=${BUCKETFS_DEMO_DIR:-$HOME/.local/share/bucketfs-demo}
bucket=$data/demo
if [[ ! -d $bucket ]]; then
  mkdir -p "$bucket/datasets/mnist" "$bucket/checkpoints"
  echo "Welcome to bucketfs. Every file here is an object in the bucket 'demo'." >"$bucket/README.txt"
  for i in 0 1 2; do head -c 1048576 /dev/urandom >"$bucket/datasets/mnist/shard-00$i.bin"; done
  echo '{"epoch": 3, "loss": 0.12}' >"$bucket/checkpoints/latest.json"
fi
exec build/release/src/cli/bucketfs serve --local-dir "$data" --bucket demo \
  --state-dir "${BUCKETFS_STATE_DIR:-$HOME/.local/state/bucketfs-demo}" --listen "${BUCKETFS_LISTEN:-127.0.0.1:2049}"
