#!/usr/bin/env bash
# Write-path benchmarks with a native NFS client (run.sh drives the kernel client in a qemu guest
# instead: real client, emulated CPU), side by side with s3fs and rclone mount on the same bucket, in
# one invocation (AWS S3 File Gateway documents 16 small files/s for comparison):
#   1. small-file create rate: 1,000 files of 4 KiB, each created, written, fsynced and closed
#      one after the other: files/s as the writer sees it, and until every object is in S3;
#   2. a single-stream 1 GiB sequential write (1 MiB writes), fsync and close: MiB/s as the
#      writer sees it, and until the object is complete in S3.
# bucketfs is driven by bench/write_client (a small NFSv4.1 client, 16 WRITEs in flight, like the
# kernel client's default), s3fs and rclone through their FUSE mounts with the same program. S3 is
# moto_server (the same for all three). rclone runs with --vfs-cache-mode writes (needed for
# fsync and random writes); s3fs with its defaults (uploads at close).
#
# Usage: bench/write_path/native.sh [BUILD_DIR]   (default build/release; needs bucketfs and
#   bench/write_client built there). Needs root (FUSE) and: apt-get install -y s3fs rclone fuse3
# Environment: BENCH_FILES (1000), BENCH_MIB (1024), BENCH_SKIP ("s3fs rclone" to skip peers).
# Everything binds 127.0.0.1; every process started here is stopped by PID at exit.
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
source "$repo/tests/integration/lib.sh"
build=${1:-$repo/build/release}
BUCKETFS=$build/src/cli/bucketfs
CLIENT=$build/bench/write_client
files=${BENCH_FILES:-1000}
mib=${BENCH_MIB:-1024}
skip=" ${BENCH_SKIP:-} "
mounts=()
[[ -x $BUCKETFS && -x $CLIENT ]] || { echo "build bucketfs and write_client in $build first" >&2; exit 2; }
cleanup_all() {
  local m
  for m in "${mounts[@]}"; do mountpoint -q "$m" && fusermount -u "$m" 2>/dev/null || true; done
  bfs_cleanup
}
trap cleanup_all EXIT

start_moto
python3 "$repo/tests/integration/s3_put.py" "$MOTO_URL" bench mkbucket
results=$BFS_TMP/results.txt
: >"$results"
say() { echo "$*" | tee -a "$results"; }
# until_in_s3 PREFIX COUNT BYTES: seconds until COUNT objects under PREFIX with BYTES in total.
until_in_s3() {
  python3 - "$MOTO_URL" "$1" "$2" "$3" <<'PY'
import sys, time, boto3
url, prefix, count, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
                  aws_secret_access_key="test")
start = time.time()
while time.time() - start < 1800:
    n = total = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="bench", Prefix=prefix):
        for o in page.get("Contents", []):
            n += 1
            total += o["Size"]
    if n >= count and total >= size:
        break
    time.sleep(0.2)
print(f"{time.time() - start:.2f}")
PY
}
run_peer() {  # NAME TARGET: the two workloads through TARGET, timed until in S3 too
  local name=$1 target=$2 out t0 t1 extra
  t0=$(date +%s.%N)
  out=$("$CLIENT" create "$target" "$name-small" "$files" 4096)
  extra=$(until_in_s3 "$name-small-f" "$files" $((files * 4096)))
  t1=$(awk "BEGIN{print $(echo "$out" | sed 's/.*seconds=\([0-9.]*\).*/\1/') + $extra}")
  say "$name create: $out in_s3_seconds=$t1 in_s3_files_s=$(awk "BEGIN{printf \"%.1f\", $files/$t1}")"
  out=$("$CLIENT" seq "$target" "$name-big.bin" "$mib")
  extra=$(until_in_s3 "$name-big.bin" 1 $((mib << 20)))
  t1=$(awk "BEGIN{print $(echo "$out" | sed 's/.*seconds=\([0-9.]*\).*/\1/') + $extra}")
  say "$name seq: $out in_s3_seconds=$t1 in_s3_mib_s=$(awk "BEGIN{printf \"%.1f\", $mib/$t1}")"
}

say "== bucketfs (write_client over NFSv4.1; staged on the gateway, uploaded in the background)"
start_bucketfs --bucket bench --endpoint "$MOTO_URL" --region us-east-1
run_peer bucketfs "nfs://127.0.0.1:$NFS_PORT/bench"

if [[ $skip != *" s3fs "* ]] && command -v s3fs >/dev/null; then
  say "== s3fs $(s3fs --version 2>&1 | head -1 | awk '{print $NF}')"
  printf 'test:test\n' >"$BFS_TMP/passwd"; chmod 600 "$BFS_TMP/passwd"
  mkdir -p "$BFS_TMP/s3fs"
  s3fs bench "$BFS_TMP/s3fs" -f -o passwd_file="$BFS_TMP/passwd" -o url="$MOTO_URL" \
    -o use_path_request_style -o endpoint=us-east-1 >>"$BFS_TMP/s3fs.log" 2>&1 &
  BFS_PIDS+=($!); mounts+=("$BFS_TMP/s3fs")
  until mountpoint -q "$BFS_TMP/s3fs"; do sleep 0.2; done
  run_peer s3fs "$BFS_TMP/s3fs"
fi
if [[ $skip != *" rclone "* ]] && command -v rclone >/dev/null; then
  say "== rclone $(rclone version 2>/dev/null | head -1 | awk '{print $2}') mount --vfs-cache-mode writes"
  printf '[r]\ntype = s3\nprovider = Other\naccess_key_id = test\nsecret_access_key = test\nendpoint = %s\nregion = us-east-1\nforce_path_style = true\n' \
    "$MOTO_URL" >"$BFS_TMP/rclone.conf"
  mkdir -p "$BFS_TMP/rclone"
  rclone --config "$BFS_TMP/rclone.conf" mount r:bench "$BFS_TMP/rclone" --vfs-cache-mode writes \
    --cache-dir "$BFS_TMP/rclone-cache" >>"$BFS_TMP/rclone.log" 2>&1 &
  BFS_PIDS+=($!); mounts+=("$BFS_TMP/rclone")
  until mountpoint -q "$BFS_TMP/rclone"; do sleep 0.2; done
  run_peer rclone "$BFS_TMP/rclone"
fi

echo
echo "== summary (nproc $(nproc); one run on a shared machine; AWS S3 File Gateway: 16 small files/s)"
python3 - "$results" <<'PY'
import re, sys
rows = {}
for line in open(sys.argv[1]):
    m = re.match(r"(\w+) (create|seq): (.*)", line.strip())
    if m:
        rows[(m.group(1), m.group(2))] = dict(kv.split("=") for kv in m.group(3).split())
def val(name, kind, key):
    r = rows.get((name, kind))
    return float(r[key]) if r and key in r else None
for kind, key, unit in (("create", "files_s", "files/s"), ("create", "in_s3_files_s", "files/s in S3"),
                        ("seq", "mib_s", "MiB/s"), ("seq", "in_s3_mib_s", "MiB/s in S3")):
    b = val("bucketfs", kind, key)
    parts = [f"bucketfs {b:.1f}"] if b else []
    for peer in ("s3fs", "rclone"):
        p = val(peer, kind, key)
        if p and b:
            parts.append(f"{peer} {p:.1f} ({b / p:.1f}x)")
    print(f"{kind:6} {unit:15}: " + ", ".join(parts))
PY
