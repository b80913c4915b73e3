#!/usr/bin/env bash
# Read-path benchmarks (issue 4), side by side with s3fs, rclone mount and nfs-ganesha, in one
# invocation:
#   1. fan-out: 8 readers (8 NFS connections) read the same 512 MiB (8 x 64 MiB objects) at once;
#      S3 GET bytes / data bytes for bucketfs versus 8 s3fs mounts read the same way;
#   2. a 1 GiB object read sequentially, cold then hot: MiB/s for bucketfs, s3fs and rclone mount;
#      the hot read also for nfs-ganesha serving the same file from local disk;
#   3. hot random 4 KiB reads of that file at 1 and 32 outstanding requests (one connection per
#      reader): ops/s, p50 and p99, bucketfs versus nfs-ganesha;
#   4. the block size: cold sequential 1 GiB through the proxy with BENCH_DELAY_MS (30) per
#      request (first-byte latency of real S3), at --cache-block-size 1M, 4M and 16M.
# The sections run in that order, each against the setup docs/benchmarks.md describes: every
# section starts its own gateway (default flags but --cache-memory 2G --cache-disk-size 0, and in
# section 4 the block size measured; empty cache); S3 is s3rver (serves ranges from files; moto reads whole objects per range GET), behind
# the counting proxy (tests/s3proxy) for sections 1 and 4 and directly for 2 and 3; section 3
# first reads the file once so that the gateway serves it from memory. nfs-ganesha runs only for
# the sections that compare with it (2 and 3).
#
# Usage: bench/read_path/run.sh [BUILD_DIR]   (default build/release; needs bucketfs and
#   bench/read_client built there). Needs root (FUSE, ganesha), and:
#   apt-get install -y s3fs rclone fuse3 nfs-ganesha nfs-ganesha-vfs libnfs-dev
#   npm install --prefix "$BENCH_NODE_DIR" s3rver@3.7.1   (BENCH_NODE_DIR, default ~/.cache/bucketfs-bench)
# Environment: BENCH_SKIP ("fanout seq rand blocksize" words to skip), BENCH_RAND_SECONDS (10).
# Everything binds 127.0.0.1; every process started here is stopped by PID at exit.
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
source "$repo/tests/integration/lib.sh"
build=${1:-$repo/build/release}
BUCKETFS=$build/src/cli/bucketfs
CLIENT=$build/bench/read_client
node_dir=${BENCH_NODE_DIR:-$HOME/.cache/bucketfs-bench}
skip=" ${BENCH_SKIP:-} "
rand_seconds=${BENCH_RAND_SECONDS:-10}
mounts=()

need() { command -v "$1" >/dev/null || { echo "missing $1: $2" >&2; exit 2; }; }
[[ -x $BUCKETFS && -x $CLIENT ]] || { echo "build bucketfs and read_client in $build first" >&2; exit 2; }
need s3fs "apt-get install -y s3fs fuse3"
need rclone "apt-get install -y rclone"
need ganesha.nfsd "apt-get install -y nfs-ganesha nfs-ganesha-vfs"
[[ -x $node_dir/node_modules/.bin/s3rver ]] ||
  { echo "missing s3rver: npm install --prefix $node_dir s3rver@3.7.1" >&2; exit 2; }
cleanup_all() {
  local m
  for m in "${mounts[@]}"; do mountpoint -q "$m" && fusermount -u "$m" 2>/dev/null || true; done
  bfs_cleanup
}
trap cleanup_all EXIT

# ---- S3 (s3rver) with the data, and the proxy ----
S3_PORT=$(free_port)
mkdir -p "$BFS_TMP/s3rver"
NODE_OPTIONS=--openssl-legacy-provider "$node_dir/node_modules/.bin/s3rver" -d "$BFS_TMP/s3rver" \
  -a 127.0.0.1 -p "$S3_PORT" -s >"$BFS_TMP/s3rver.log" 2>&1 &
BFS_PIDS+=($!)
wait_port "$S3_PORT" 30
S3_URL=http://127.0.0.1:$S3_PORT
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
mkdir -p "$BFS_TMP/local"
echo "== writing 8 x 64 MiB + 1 GiB of random data to s3://bench"
python3 - "$S3_URL" "$BFS_TMP/local" <<'PY'
import os, sys, boto3
from boto3.s3.transfer import TransferConfig
url, local = sys.argv[1], sys.argv[2]
s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                  aws_access_key_id="S3RVER", aws_secret_access_key="S3RVER")
s3.create_bucket(Bucket="bench")
cfg = TransferConfig(multipart_threshold=1 << 40)  # single PUTs: s3rver lacks some multipart ops
def put(key, size):
    path = os.path.join(local, key.replace("/", "_"))
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 64 << 20)
            f.write(os.urandom(n))
            left -= n
    s3.upload_file(path, "bench", key, Config=cfg)
for i in range(8):
    put(f"fan/f{i}.bin", 64 << 20)
put("big/1g.bin", 1 << 30)
PY
sync  # let the upload's writeback finish before anything is timed
sleep 5
PROXY_PORT=$(free_port)
python3 "$repo/tests/s3proxy/s3_latency_proxy.py" --upstream "$S3_URL" --port "$PROXY_PORT" \
  >"$BFS_TMP/proxy.log" 2>&1 &
BFS_PIDS+=($!)
wait_port "$PROXY_PORT" 10
PROXY=http://127.0.0.1:$PROXY_PORT
proxy_get_bytes() { curl -sf "$PROXY/__proxy/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GET_BYTES"])'; }
proxy_reset() { curl -sf -X POST "$PROXY/__proxy/reset" >/dev/null; }

results=$BFS_TMP/results.txt
: >"$results"
say() { echo "$*" | tee -a "$results"; }

# ---- bucketfs ----
start_gw() {  # ENDPOINT [ARGS...]: a fresh gateway (empty cache) on ENDPOINT
  [[ -n ${BFS_PID:-} ]] && { kill "$BFS_PID"; wait "$BFS_PID" 2>/dev/null || true; }
  rm -rf "$BFS_TMP/state"
  unset NFS_PORT
  local endpoint=$1
  shift
  start_bucketfs --bucket bench --endpoint "$endpoint" --region us-east-1 --cache-memory 2G \
    --cache-disk-size 0 "$@"
  NFS_URL="nfs://127.0.0.1/bench?version=4&nfsport=$NFS_PORT"
}

mount_s3fs() {  # DIR ENDPOINT
  printf 'S3RVER:S3RVER\n' >"$BFS_TMP/passwd"; chmod 600 "$BFS_TMP/passwd"
  mkdir -p "$1"
  s3fs bench "$1" -f -o passwd_file="$BFS_TMP/passwd" -o url="$2" -o use_path_request_style \
    -o endpoint=us-east-1 >>"$BFS_TMP/s3fs.log" 2>&1 &
  BFS_PIDS+=($!); mounts+=("$1")
  wait_mount "$1"
}
mount_rclone() {  # DIR ENDPOINT
  printf '[r]\ntype = s3\nprovider = Other\naccess_key_id = S3RVER\nsecret_access_key = S3RVER\nendpoint = %s\nregion = us-east-1\nforce_path_style = true\n' \
    "$2" >"$BFS_TMP/rclone.conf"
  mkdir -p "$1"
  rclone --config "$BFS_TMP/rclone.conf" mount r:bench "$1" >>"$BFS_TMP/rclone.log" 2>&1 &
  BFS_PIDS+=($!); mounts+=("$1")
  wait_mount "$1"
}
wait_mount() {
  local deadline=$((SECONDS + 60))
  until mountpoint -q "$1"; do
    ((SECONDS < deadline)) || { echo "no mount at $1" >&2; exit 1; }
    sleep 0.2
  done
}
unmount() { fusermount -u "$1"; }

# ---- nfs-ganesha serving the same 1 GiB file from local disk (sections 2 and 3) ----
start_ganesha() {  # once; sets G_URL
  [[ -n ${G_PID:-} ]] && return
  G_PORT=$(free_port)
  mkdir -p "$BFS_TMP/g/export/big" "$BFS_TMP/g/recov"
  cp "$BFS_TMP/local/big_1g.bin" "$BFS_TMP/g/export/big/1g.bin"
  cat >"$BFS_TMP/g/ganesha.conf" <<EOF
NFS_CORE_PARAM { Bind_Addr = 127.0.0.1; NFS_Port = $G_PORT; Protocols = 4;
                 Enable_NLM = false; Enable_RQUOTA = false; Enable_UDP = false; }
NFSV4 { Graceless = true; Lease_Lifetime = 20; Minor_Versions = 0, 1, 2;
        RecoveryBackend = fs; RecoveryRoot = $BFS_TMP/g/recov; Only_Numeric_Owners = true; }
EXPORT { Export_Id = 1; Path = $BFS_TMP/g/export; Pseudo = /vfs; Access_Type = RO;
         Squash = No_Root_Squash; SecType = sys; Protocols = 4; Transports = TCP; FSAL { Name = VFS; } }
EOF
  ganesha.nfsd -F -f "$BFS_TMP/g/ganesha.conf" -L "$BFS_TMP/g/ganesha.log" -p "$BFS_TMP/g/ganesha.pid" &
  G_PID=$!
  BFS_PIDS+=("$G_PID")
  wait_port "$G_PORT" 30
  G_URL="nfs://127.0.0.1/vfs?version=4&nfsport=$G_PORT"
  cat "$BFS_TMP/g/export/big/1g.bin" >/dev/null  # warm the page cache: ganesha serves it hot
}
stop_ganesha() {
  [[ -n ${G_PID:-} ]] || return 0
  kill "$G_PID" 2>/dev/null || true
  wait "$G_PID" 2>/dev/null || true
  unset G_PID G_URL
}

fan_files=(fan/f0.bin fan/f1.bin fan/f2.bin fan/f3.bin fan/f4.bin fan/f5.bin fan/f6.bin fan/f7.bin)
data_bytes=$((512 << 20))

if [[ $skip != *" fanout "* ]]; then
  say "== 1. fan-out: 8 readers x the same 512 MiB; S3 GET bytes through the proxy"
  start_gw "$PROXY"
  proxy_reset
  out=$("$CLIENT" fanout "$NFS_URL" 8 "${fan_files[@]}")
  got=$(proxy_get_bytes)
  say "bucketfs  8 NFS connections: $out s3_get_bytes=$got ratio=$(awk "BEGIN{printf \"%.2f\", $got/$data_bytes}")x"
  targets=""
  for i in 0 1 2 3 4 5 6 7; do mount_s3fs "$BFS_TMP/s3fs$i" "$PROXY"; targets+="${targets:+,}$BFS_TMP/s3fs$i"; done
  proxy_reset
  out=$("$CLIENT" fanout "$targets" 8 "${fan_files[@]}")
  got=$(proxy_get_bytes)
  say "s3fs      8 mounts:          $out s3_get_bytes=$got ratio=$(awk "BEGIN{printf \"%.2f\", $got/$data_bytes}")x"
  for i in 0 1 2 3 4 5 6 7; do unmount "$BFS_TMP/s3fs$i"; done
fi

if [[ $skip != *" seq "* ]]; then
  say "== 2. sequential read of a 1 GiB object, cold then hot (MiB/s; S3 = s3rver directly)"
  start_gw "$S3_URL"
  say "bucketfs cold: $("$CLIENT" seq "$NFS_URL" big/1g.bin)"
  say "bucketfs hot:  $("$CLIENT" seq "$NFS_URL" big/1g.bin)"
  mount_s3fs "$BFS_TMP/s3fs-seq" "$S3_URL"
  say "s3fs     cold: $("$CLIENT" seq "$BFS_TMP/s3fs-seq" big/1g.bin)"
  say "s3fs     hot:  $("$CLIENT" seq "$BFS_TMP/s3fs-seq" big/1g.bin)"
  unmount "$BFS_TMP/s3fs-seq"
  mount_rclone "$BFS_TMP/rclone-seq" "$S3_URL"
  say "rclone   cold: $("$CLIENT" seq "$BFS_TMP/rclone-seq" big/1g.bin)"
  say "rclone   hot:  $("$CLIENT" seq "$BFS_TMP/rclone-seq" big/1g.bin)"
  unmount "$BFS_TMP/rclone-seq"
  start_ganesha
  "$CLIENT" seq "$G_URL" big/1g.bin >/dev/null
  say "ganesha  hot:  $("$CLIENT" seq "$G_URL" big/1g.bin)"
fi

if [[ $skip != *" rand "* ]]; then
  say "== 3. hot random 4 KiB reads of the 1 GiB file (${rand_seconds} s each; S3 = s3rver directly)"
  # Its own gateway in the default setup, whatever ran before; one sequential read puts the whole
  # file in its memory tier.
  start_gw "$S3_URL"
  "$CLIENT" seq "$NFS_URL" big/1g.bin >/dev/null
  start_ganesha
  for n in 1 32; do
    say "bucketfs $n outstanding: $("$CLIENT" rand "$NFS_URL" big/1g.bin "$n" "$rand_seconds")"
    say "ganesha  $n outstanding: $("$CLIENT" rand "$G_URL" big/1g.bin "$n" "$rand_seconds")"
  done
fi
stop_ganesha

if [[ $skip != *" blocksize "* ]]; then
  say "== 4. block size: cold sequential 1 GiB read through the proxy with ${BENCH_DELAY_MS:-30} ms per request"
  curl -sf -X POST "$PROXY/__proxy/delay?ms=${BENCH_DELAY_MS:-30}" >/dev/null
  for bs in 1M 4M 16M; do
    start_gw "$PROXY" --cache-block-size "$bs"
    proxy_reset
    out=$("$CLIENT" seq "$NFS_URL" big/1g.bin)
    say "bucketfs block $bs cold: $out gets=$(curl -sf "$PROXY/__proxy/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GET"])')"
  done
  curl -sf -X POST "$PROXY/__proxy/delay?ms=0" >/dev/null
fi

echo
echo "== summary (nproc $(nproc); one run; the machine is shared, repeat for medians)"
python3 - "$results" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
def get(prefix, key):
    for l in lines:
        if l.startswith(prefix):
            m = re.search(r"\b" + key + r"=([0-9.]+)", l)
            if m:
                return float(m.group(1))
    return None
def ratio(a, b, fmt="{:.2f}x"):
    return fmt.format(a / b) if a and b else "n/a"
b = get("bucketfs  8", "ratio"); s = get("s3fs      8", "ratio")
if b is not None:
    print(f"fan-out S3 bytes / data: bucketfs {b:.2f}x, 8 s3fs mounts {s:.2f}x -> s3fs fetches {ratio(s, b)} as much")
for sysname in ("s3fs", "rclone"):
    for kind in ("cold", "hot"):
        bv = get(f"bucketfs {kind}", "mib_s"); pv = get(f"{sysname:8} {kind}", "mib_s")
        if bv and pv:
            print(f"seq {kind}: bucketfs {bv:.0f} MiB/s vs {sysname} {pv:.0f} MiB/s -> {ratio(bv, pv)}")
g = get("ganesha  hot", "mib_s"); bh = get("bucketfs hot", "mib_s")
if g and bh:
    print(f"seq hot: bucketfs {bh:.0f} MiB/s vs ganesha (local disk) {g:.0f} MiB/s -> {ratio(bh, g)}")
for n in (1, 32):
    bo = get(f"bucketfs {n} outstanding", "ops_s"); go = get(f"ganesha  {n} outstanding", "ops_s")
    if bo and go:
        print(f"rand 4K x{n}: bucketfs {bo:.0f} ops/s (p50 {get(f'bucketfs {n} outstanding', 'p50_us'):.0f} us, "
              f"p99 {get(f'bucketfs {n} outstanding', 'p99_us'):.0f} us) vs ganesha {go:.0f} ops/s "
              f"(p50 {get(f'ganesha  {n} outstanding', 'p50_us'):.0f} us, p99 {get(f'ganesha  {n} outstanding', 'p99_us'):.0f} us) -> {ratio(bo, go)}")
PY
