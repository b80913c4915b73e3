#!/usr/bin/env bash
# Metadata walk benchmark: S3 requests and wall time of a first and a second full walk
# (`ls -lR`: READDIR of every directory, a stat of every entry) of a tree of 20,000 objects in
# 200 directories, through bucketfs (the Linux kernel NFS client under qemu), s3fs and rclone
# mount, each against the same bucket behind an S3 proxy that counts requests and can add a
# per-request latency (0 and 50 ms by default). Prints one table and the ratios.
#
# Usage: bench/metadata_walk/run.sh [BUCKETFS_BINARY]
# Environment: BENCH_DIRS (200), BENCH_FILES_PER_DIR (100), BENCH_DELAYS_MS ("0 50"),
#   BENCH_SYSTEMS ("bucketfs s3fs rclone"), BENCH_REPEAT (1; medians over repeats),
#   BENCH_TTL (bucketfs --metadata-ttl, 600 s: walk 2 runs inside it).
# Needs root (FUSE mounts), moto_server, qemu (tests/kclient), s3fs and rclone:
#   apt-get install -y s3fs rclone fuse3
# Everything runs on 127.0.0.1 and is stopped by PID at exit.
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
source "$repo/tests/integration/lib.sh"
BUCKETFS=${1:-$repo/build/release/src/cli/bucketfs}
dirs=${BENCH_DIRS:-200}
per_dir=${BENCH_FILES_PER_DIR:-100}
delays=${BENCH_DELAYS_MS:-"0 50"}
systems=${BENCH_SYSTEMS:-"bucketfs s3fs rclone"}
repeat=${BENCH_REPEAT:-1}
ttl=${BENCH_TTL:-600}
bucket=walk
results=$BFS_TMP/results.tsv
mounts=()

need() { command -v "$1" >/dev/null || { echo "missing $1: $2" >&2; exit 2; }; }
[[ -x $BUCKETFS ]] || { echo "no bucketfs binary at $BUCKETFS (build first, or pass its path)" >&2; exit 2; }
for s in $systems; do
  case $s in
    s3fs) need s3fs "apt-get install -y s3fs fuse3" ;;
    rclone) need rclone "apt-get install -y rclone fuse3" ;;
    bucketfs) need qemu-system-x86_64 "scripts/install-deps.sh --with-tests" ;;
    *) echo "unknown system $s" >&2; exit 2 ;;
  esac
done
unmount_all() {
  local m
  for m in "${mounts[@]}"; do mountpoint -q "$m" && fusermount -u "$m" 2>/dev/null || true; done
  bfs_cleanup
}
trap unmount_all EXIT

# ---- the bucket and the proxy ----
start_moto
echo "== filling s3://$bucket with $((dirs * per_dir)) objects in $dirs directories"
python3 - "$MOTO_URL" "$bucket" "$dirs" "$per_dir" <<'PY'
import concurrent.futures, sys, boto3
from botocore.config import Config
url, bucket, dirs, per = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
                  aws_secret_access_key="test", config=Config(max_pool_connections=16))
s3.create_bucket(Bucket=bucket)
keys = [f"d{d:03d}/f{f:03d}.bin" for d in range(dirs) for f in range(per)]
with concurrent.futures.ThreadPoolExecutor(16) as ex:
    list(ex.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=k.encode().ljust(16)), keys))
PY
PROXY_PORT=$(free_port)
python3 "$repo/tests/s3proxy/s3_latency_proxy.py" --upstream "$MOTO_URL" --port "$PROXY_PORT" \
  >"$BFS_TMP/proxy.log" 2>&1 &
BFS_PIDS+=($!)
wait_port "$PROXY_PORT" 10
PROXY=http://127.0.0.1:$PROXY_PORT
proxy() { curl -sf -X "$1" "$PROXY/__proxy/$2"; }

# record SYSTEM DELAY WALK SECONDS — the proxy's counters since the last reset, then reset.
record() {
  local stats
  stats=$(proxy GET stats)
  proxy POST reset >/dev/null
  python3 -c 'import json,sys; s=json.loads(sys.argv[5]); print("\t".join(sys.argv[1:5] + [str(s[k]) for k in ("LIST","HEAD","GET","total")]))' \
    "$1" "$2" "$3" "$4" "$stats" >>"$results"
  echo "   $1 delay=${2}ms walk $3: ${4}s $(echo "$stats" | tr -d '{}"')"
}

# wait_line PATTERN FILE SECONDS
wait_line() {
  local deadline=$((SECONDS + $3))
  until grep -q "$1" "$2" 2>/dev/null; do
    ((SECONDS < deadline)) || { echo "timed out waiting for '$1' in $2" >&2; tail -20 "$2" >&2; return 1; }
    sleep 0.2
  done
}

run_bucketfs() {  # DELAY
  local out=$BFS_TMP/guest.out walk secs
  rm -rf "$BFS_TMP/state" "$out"
  unset NFS_PORT
  start_bucketfs --bucket "$bucket" --endpoint "$PROXY" --region us-east-1 --metadata-ttl "$ttl"
  KCLIENT_TIMEOUT=3600 "$repo/tests/kclient/run_guest.sh" "$NFS_PORT" "/$bucket" \
    "$here/walk_guest.sh" >"$out" 2>&1 &
  local guest=$!
  wait_line "^SYNC mounted" "$out" 600
  proxy POST reset >/dev/null
  for walk in 1 2; do
    wait_line "^SYNC walk$walk" "$out" 3600
    secs=$(sed -n "s/^WALK $walk files=[0-9]* seconds=//p" "$out")
    grep -q "^WALK $walk files=$((dirs * per_dir)) " "$out" || echo "   WARNING: walk $walk saw $(grep "^WALK $walk" "$out")"
    record bucketfs "$1" "$walk" "$secs"
  done
  wait "$guest" || { echo "guest failed:"; tail -20 "$out"; }
  kill "$BFS_PID"; wait "$BFS_PID" 2>/dev/null || true
}

mount_fuse() {  # SYSTEM DIR
  case $1 in
    s3fs)
      printf 'test:test\n' >"$BFS_TMP/passwd"; chmod 600 "$BFS_TMP/passwd"
      s3fs "$bucket" "$2" -f -o passwd_file="$BFS_TMP/passwd" -o url="$PROXY" \
        -o use_path_request_style -o endpoint=us-east-1 >"$BFS_TMP/s3fs.log" 2>&1 &
      ;;
    rclone)
      printf '[remote]\ntype = s3\nprovider = Other\naccess_key_id = test\nsecret_access_key = test\nendpoint = %s\nregion = us-east-1\nforce_path_style = true\n' \
        "$PROXY" >"$BFS_TMP/rclone.conf"
      rclone --config "$BFS_TMP/rclone.conf" mount "remote:$bucket" "$2" \
        >"$BFS_TMP/rclone.log" 2>&1 &
      ;;
  esac
  FUSE_PID=$!
  BFS_PIDS+=("$FUSE_PID")
  mounts+=("$2")
  local deadline=$((SECONDS + 60))
  until mountpoint -q "$2"; do
    ((SECONDS < deadline)) || { echo "$1 did not mount" >&2; tail "$BFS_TMP/$1.log" >&2; exit 1; }
    sleep 0.2
  done
}

run_fuse() {  # SYSTEM DELAY
  local mnt=$BFS_TMP/mnt-$1 walk start files secs
  mkdir -p "$mnt"
  mount_fuse "$1" "$mnt"
  sleep 1
  proxy POST reset >/dev/null
  for walk in 1 2; do
    start=$(date +%s.%N)
    files=$(ls -lR "$mnt" | grep -c '^-')
    secs=$(echo "$(date +%s.%N) $start" | awk '{printf "%.2f", $1 - $2}')
    ((files == dirs * per_dir)) || echo "   WARNING: $1 walk $walk saw $files files"
    record "$1" "$2" "$walk" "$secs"
  done
  fusermount -u "$mnt"
  wait "$FUSE_PID" 2>/dev/null || true
}

: >"$results"
for r in $(seq "$repeat"); do
  for delay in $delays; do
    proxy POST "delay?ms=$delay" >/dev/null
    for s in $systems; do
      echo "== run $r: $s, ${delay} ms per S3 request"
      if [[ $s == bucketfs ]]; then run_bucketfs "$delay"; else run_fuse "$s" "$delay"; fi
    done
  done
done

echo
echo "== $((dirs * per_dir)) objects in $dirs directories; medians of $repeat run(s); nproc $(nproc)"
python3 - "$results" <<'PY'
import collections, statistics, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    system, delay, walk, secs, lst, head, get, total = line.split("\t")
    rows[(system, int(delay), int(walk))].append(
        (float(secs), int(lst), int(head), int(get), int(total)))
med = {k: tuple(statistics.median(col) for col in zip(*v)) for k, v in rows.items()}
print(f"{'system':10} {'delay':>6} {'walk':>4} {'seconds':>9} {'LIST':>7} {'HEAD':>7} {'GET':>6} {'requests':>9}")
for (system, delay, walk), (secs, lst, head, get, total) in sorted(med.items(), key=lambda kv: (kv[0][1], kv[0][0], kv[0][2])):
    print(f"{system:10} {delay:>4}ms {walk:>4} {secs:>9.2f} {lst:>7.0f} {head:>7.0f} {get:>6.0f} {total:>9.0f}")
print()
print("ratios (peer / bucketfs; > 1 means bucketfs is faster or sends fewer requests):")
for (system, delay, walk), (secs, _, _, _, total) in sorted(med.items(), key=lambda kv: (kv[0][1], kv[0][0], kv[0][2])):
    if system == "bucketfs":
        continue
    b = med.get(("bucketfs", delay, walk))
    if not b:
        continue
    t = f"{secs / b[0]:.2f}x" if b[0] > 0 else "n/a"
    req = f"{total / b[4]:.1f}x" if b[4] > 0 else f"{total:.0f} vs 0"
    print(f"  {system:8} delay {delay:>2} ms walk {walk}: time {t:>8}  requests {req}")
PY
