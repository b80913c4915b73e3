#!/usr/bin/env bash
# Write-path benchmark, side by side with s3fs and rclone mount (and nfs-ganesha on local disk as
# the ceiling of the NFS client harness), all against the same local S3 (moto_server):
#   a. small-file create rate: FILES (1,000) files of 4 KiB, each written and closed in turn
#      (files/s), then the time until the last one is an object in S3;
#   b. single stream: SEQ_MIB (1,024) MiB written sequentially into one new file, MiB/s including
#      the close, then the time until the object is complete in S3.
# bucketfs and nfs-ganesha are mounted by the Linux kernel NFS client (vers=4.1) in a qemu guest
# (tests/kclient/run_guest.sh: software emulation, qemu user networking), the FUSE peers on the
# host: the guest path costs CPU of its own, which the nfs-ganesha row (no S3 at all) measures
# (bench/write_path/native.sh measures bucketfs with a native NFS client instead).
# S3 requests are counted from moto_server's request log. One run each; the machine is shared.
#
# Usage: bench/write_path/run.sh [BUILD_DIR | BUCKETFS_BINARY]   (default build/release)
# Environment: BENCH_SYSTEMS ("bucketfs ganesha s3fs rclone"), BENCH_FILES (1000),
#   BENCH_SEQ_MIB (1024, a multiple of 64), BENCH_RCLONE_CACHE (rclone --vfs-cache-mode, "writes").
# Needs root (FUSE, ganesha), moto_server, qemu (scripts/install-deps.sh --with-tests) and, for the
# peers, apt-get install -y s3fs rclone fuse3 nfs-ganesha nfs-ganesha-vfs (missing ones are skipped).
# Everything binds 127.0.0.1; every process started here is stopped by PID at exit.
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
source "$repo/tests/integration/lib.sh"
arg=${1:-$repo/build/release}
if [[ -d $arg ]]; then BUCKETFS=$arg/src/cli/bucketfs; else BUCKETFS=$arg; fi
systems=${BENCH_SYSTEMS:-"bucketfs ganesha s3fs rclone"}
files=${BENCH_FILES:-1000}
seq_mib=${BENCH_SEQ_MIB:-1024}
chunks=$((seq_mib / 64))
rclone_cache=${BENCH_RCLONE_CACHE:-writes}
bucket=wbench
results=$BFS_TMP/results.tsv
mounts=()

[[ -x $BUCKETFS ]] || { echo "no bucketfs binary at $BUCKETFS (build first, or pass its path)" >&2; exit 2; }
((chunks >= 1 && chunks * 64 == seq_mib)) || { echo "BENCH_SEQ_MIB must be a multiple of 64" >&2; exit 2; }
command -v qemu-system-x86_64 >/dev/null ||
  { echo "missing qemu-system-x86_64: scripts/install-deps.sh --with-tests" >&2; exit 2; }
avail=""
declare -A version
version[bucketfs]=$(git -C "$repo" log -1 --format=%h 2>/dev/null || echo "?")
for s in $systems; do
  case $s in
    bucketfs) avail+=" $s" ;;
    ganesha)
      if command -v ganesha.nfsd >/dev/null; then
        avail+=" $s"
        version[$s]=$(dpkg-query -W -f '${Version}' nfs-ganesha 2>/dev/null || echo "?")
      else echo "SKIP nfs-ganesha: not installed (apt-get install -y nfs-ganesha nfs-ganesha-vfs)"; fi ;;
    s3fs)
      if command -v s3fs >/dev/null && [[ -w /dev/fuse ]]; then
        avail+=" $s"
        version[$s]=$(s3fs --version 2>&1 | sed -n 's/.*V\([0-9.]*\).*/\1/p' | head -1)
      else echo "SKIP s3fs: not installed or no /dev/fuse (apt-get install -y s3fs fuse3)"; fi ;;
    rclone)
      if command -v rclone >/dev/null && [[ -w /dev/fuse ]]; then
        avail+=" $s"
        version[$s]=$(rclone version 2>/dev/null | head -1 | awk '{print $2}')
      else echo "SKIP rclone: not installed or no /dev/fuse (apt-get install -y rclone fuse3)"; fi ;;
    *) echo "unknown system $s" >&2; exit 2 ;;
  esac
done
moto_version=$(python3 -c 'import importlib.metadata as m; print(m.version("moto"))' 2>/dev/null || echo "?")

unmount_all() {
  local m
  for m in "${mounts[@]}"; do mountpoint -q "$m" && fusermount -u "$m" 2>/dev/null || true; done
  bfs_cleanup
}
trap unmount_all EXIT

start_moto
python3 "$repo/tests/integration/s3_put.py" "$MOTO_URL" "$bucket" mkbucket
now() { date +%s.%N; }
elapsed() { [[ $1 == nan || $2 == nan ]] && echo nan || awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b - a}'; }
log_mark() { wc -l <"$BFS_TMP/moto.log"; }
# s3_requests MARK: requests moto served since MARK (a line count of its log), by method.
s3_requests() {
  tail -n +"$(($1 + 1))" "$BFS_TMP/moto.log" |
    awk '$0 ~ /"(GET|PUT|POST|HEAD|DELETE) \// {n++} END {print n + 0}'
}
# s3_wait KIND PREFIX COUNT|BYTES SECONDS: until PREFIX holds COUNT objects (KIND=count) or the
# object PREFIX is BYTES long (KIND=size); prints the time it happened and the polls it made.
s3_wait() {
  python3 - "$MOTO_URL" "$bucket" "$@" <<'PY'
import sys, time, boto3
url, bucket, kind, prefix, want, limit = sys.argv[1:7]
want, deadline = int(want), time.time() + float(limit)
s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
                  aws_secret_access_key="test")
polls = 0
while time.time() < deadline:
    polls += 1
    if kind == "count":
        n = 0
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            n += len(page.get("Contents", []))
            polls += 1
        polls -= 1
        done = n >= want
    else:
        try:
            done = s3.head_object(Bucket=bucket, Key=prefix)["ContentLength"] == want
        except Exception:
            done = False
    if done:
        print(f"{time.time():.3f} {polls}")
        sys.exit(0)
    time.sleep(0.25)
print(f"nan {polls}")
sys.exit(1)
PY
}
s3_clear() {  # delete everything (keeps moto's memory bounded between systems)
  python3 - "$MOTO_URL" "$bucket" <<'PY'
import sys, boto3
url, bucket = sys.argv[1:3]
s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
                  aws_secret_access_key="test")
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
    keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
    if keys:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})
PY
}
# record SYSTEM PHASE SECONDS S3_SECONDS REQUESTS
record() {
  printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$results"
  echo "   $1 $2: ${3}s, in S3 after ${4}s, $5 S3 requests"
}
: >"$results"

# ---- the NFS systems: one guest boot runs both phases; the host follows its console ----
guest_script=$BFS_TMP/write_guest.sh
{
  echo "files=$files chunks=$chunks"
  cat <<'GUEST'
# Runs inside the kernel-client guest (busybox sh), cwd = the mounted export.
now() { cut -d' ' -f1 /proc/uptime; }
waitfor() { n=0; while [ ! -e "$1" ] && [ $n -lt 1200 ]; do sleep 0.5; n=$((n + 1)); done; [ -e "$1" ]; }
data=$(head -c 3072 /dev/urandom | base64 | tr -d '\n')  # 4,096 bytes
head -c 67108864 /dev/urandom >/tmp/chunk
args=""
j=0
while [ $j -lt $chunks ]; do args="$args /tmp/chunk"; j=$((j + 1)); done
mkdir -p small seq
sync
echo "SYNC small-start"
t0=$(now)
i=0
while [ $i -lt $files ]; do printf '%s' "$data" >small/f$i; i=$((i + 1)); done
t1=$(now)
echo "RESULT small $(echo "$t0 $t1" | awk '{printf "%.2f", $2 - $1}')"
echo "SYNC small-done"
waitfor control/seq || { echo "GUEST: the host never started the sequential phase"; exit 1; }
echo "SYNC seq-start"
t0=$(now)
cat $args >seq/big.bin
t1=$(now)
echo "RESULT seq $(echo "$t0 $t1" | awk '{printf "%.2f", $2 - $1}')"
echo "SYNC seq-done"
echo "GUEST small files: $(ls small | wc -l), seq size: $(stat -c %s seq/big.bin)"
GUEST
} >"$guest_script"

wait_line() {  # PATTERN FILE SECONDS: prints the time the line was seen
  local deadline=$((SECONDS + $3))
  until grep -q "$1" "$2" 2>/dev/null; do
    ((SECONDS < deadline)) || { echo "timed out waiting for '$1'" >&2; tail -20 "$2" >&2; return 1; }
    sleep 0.05
  done
  now
}

run_nfs() {  # SYSTEM PORT EXPORT GO_COMMAND...: GO_COMMAND makes control/seq appear in the export
  local system=$1 port=$2 export_path=$3 out=$BFS_TMP/guest-$1.out t_start t_s3 mark polls
  shift 3
  KCLIENT_MEM=1024 KCLIENT_TIMEOUT=3600 KCLIENT_OPTS=actimeo=1 \
    "$repo/tests/kclient/run_guest.sh" "$port" "$export_path" "$guest_script" >"$out" 2>&1 &
  local guest=$!
  BFS_PIDS+=("$guest")
  t_start=$(wait_line '^SYNC small-start' "$out" 600) || return 1
  mark=$(log_mark)
  wait_line '^SYNC small-done' "$out" 3600 >/dev/null || return 1
  if [[ $system == ganesha ]]; then
    t_s3=$t_start polls=0
  else
    read -r t_s3 polls < <(s3_wait count small/ "$files" 600)
  fi
  record "$system" small "$(sed -n 's/^RESULT small //p' "$out")" "$(elapsed "$t_start" "$t_s3")" \
    "$(($(s3_requests "$mark") - polls))"
  "$@"
  t_start=$(wait_line '^SYNC seq-start' "$out" 600) || return 1
  mark=$(log_mark)
  wait_line '^SYNC seq-done' "$out" 3600 >/dev/null || return 1
  if [[ $system == ganesha ]]; then
    t_s3=$t_start polls=0
  else
    read -r t_s3 polls < <(s3_wait size seq/big.bin "$((seq_mib << 20))" 1200)
  fi
  record "$system" seq "$(sed -n 's/^RESULT seq //p' "$out")" "$(elapsed "$t_start" "$t_s3")" \
    "$(($(s3_requests "$mark") - polls))"
  wait "$guest" || { echo "guest failed:"; tail -20 "$out"; }
  grep '^GUEST small' "$out" | sed 's/^/   /'
}

run_bucketfs() {
  echo "== bucketfs ${version[bucketfs]} (kernel client, vers=4.1, in the qemu guest)"
  rm -rf "$BFS_TMP/state"
  unset NFS_PORT
  start_bucketfs --bucket "$bucket" --endpoint "$MOTO_URL" --region us-east-1
  run_nfs bucketfs "$NFS_PORT" "/$bucket" \
    python3 "$repo/tests/integration/s3_put.py" "$MOTO_URL" "$bucket" put control/seq go
  kill "$BFS_PID"
  wait "$BFS_PID" 2>/dev/null || true
}

run_ganesha() {
  echo "== nfs-ganesha ${version[ganesha]} (VFS on local disk, no S3; the same guest path)"
  local g=$BFS_TMP/g port
  port=$(free_port)
  mkdir -p "$g/export" "$g/recov"
  cat >"$g/ganesha.conf" <<EOF
NFS_CORE_PARAM { Bind_Addr = 127.0.0.1; NFS_Port = $port; Protocols = 4;
                 Enable_NLM = false; Enable_RQUOTA = false; Enable_UDP = false; }
NFSV4 { Graceless = true; Lease_Lifetime = 20; Minor_Versions = 0, 1, 2;
        RecoveryBackend = fs; RecoveryRoot = $g/recov; Only_Numeric_Owners = true; }
EXPORT { Export_Id = 1; Path = $g/export; Pseudo = /vfs; Access_Type = RW;
         Squash = No_Root_Squash; SecType = sys; Protocols = 4; Transports = TCP; FSAL { Name = VFS; } }
EOF
  ganesha.nfsd -F -f "$g/ganesha.conf" -L "$g/ganesha.log" -p "$g/ganesha.pid" &
  local gpid=$!
  BFS_PIDS+=("$gpid")
  wait_port "$port" 30
  run_nfs ganesha "$port" /vfs sh -c "mkdir -p '$g/export/control' && touch '$g/export/control/seq'"
  kill "$gpid"
  wait "$gpid" 2>/dev/null || true
  rm -rf "$g"
}

# ---- the FUSE peers, on the host ----
mount_fuse() {  # SYSTEM DIR
  case $1 in
    s3fs)
      printf 'test:test\n' >"$BFS_TMP/passwd"
      chmod 600 "$BFS_TMP/passwd"
      s3fs "$bucket" "$2" -f -o passwd_file="$BFS_TMP/passwd" -o url="$MOTO_URL" \
        -o use_path_request_style -o endpoint=us-east-1 >"$BFS_TMP/s3fs.log" 2>&1 &
      ;;
    rclone)
      printf '[remote]\ntype = s3\nprovider = Other\naccess_key_id = test\nsecret_access_key = test\nendpoint = %s\nregion = us-east-1\nforce_path_style = true\n' \
        "$MOTO_URL" >"$BFS_TMP/rclone.conf"
      rclone --config "$BFS_TMP/rclone.conf" mount "remote:$bucket" "$2" \
        --vfs-cache-mode "$rclone_cache" --cache-dir "$BFS_TMP/rclone-cache" \
        >"$BFS_TMP/rclone.log" 2>&1 &
      ;;
  esac
  FUSE_PID=$!
  BFS_PIDS+=("$FUSE_PID")
  mounts+=("$2")
  local deadline=$((SECONDS + 60))
  until mountpoint -q "$2"; do
    ((SECONDS < deadline)) || { echo "$1 did not mount" >&2; tail "$BFS_TMP/$1.log" >&2; return 1; }
    sleep 0.2
  done
}

run_fuse() {  # SYSTEM
  local system=$1 mnt=$BFS_TMP/mnt-$1 data t0 t1 t_s3 mark polls i args=()
  echo "== $system ${version[$system]} (FUSE on the host)"
  mkdir -p "$mnt"
  mount_fuse "$system" "$mnt" || return 1
  data=$(head -c 3072 /dev/urandom | base64 -w 0)
  head -c $((64 << 20)) /dev/urandom >"$BFS_TMP/chunk"
  for ((i = 0; i < chunks; i++)); do args+=("$BFS_TMP/chunk"); done
  mkdir -p "$mnt/small" "$mnt/seq"
  sleep 1
  mark=$(log_mark)
  t0=$(now)
  for ((i = 0; i < files; i++)); do printf '%s' "$data" >"$mnt/small/f$i"; done
  t1=$(now)
  read -r t_s3 polls < <(s3_wait count small/ "$files" 600)
  record "$system" small "$(elapsed "$t0" "$t1")" "$(elapsed "$t0" "$t_s3")" \
    "$(($(s3_requests "$mark") - polls))"
  mark=$(log_mark)
  t0=$(now)
  cat "${args[@]}" >"$mnt/seq/big.bin"
  t1=$(now)
  read -r t_s3 polls < <(s3_wait size seq/big.bin "$((seq_mib << 20))" 1200)
  record "$system" seq "$(elapsed "$t0" "$t1")" "$(elapsed "$t0" "$t_s3")" \
    "$(($(s3_requests "$mark") - polls))"
  fusermount -u "$mnt"
  wait "$FUSE_PID" 2>/dev/null || true
  rm -rf "$BFS_TMP/chunk" "$BFS_TMP/rclone-cache"
}

echo "== write path: $files x 4 KiB files, then one $seq_mib MiB file; S3 = moto_server $moto_version"
echo "   on loopback; nproc $(nproc). For scale: AWS S3 File Gateway documents about 16 small"
echo "   files/s for a single writer (its published performance guidance)."
for s in $avail; do
  case $s in
    bucketfs) run_bucketfs ;;
    ganesha) run_ganesha ;;
    *) run_fuse "$s" ;;
  esac
  s3_clear
done

echo
echo "== results (one run each; shared machine: repeat for medians)"
python3 - "$results" "$files" "$seq_mib" "$rclone_cache" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    system, phase, secs, s3secs, reqs = line.rstrip("\n").split("\t")
    f = lambda v: float(v) if v not in ("", "nan") else float("nan")
    rows[(system, phase)] = (f(secs), f(s3secs), int(reqs or 0))
files, mib, rcache = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
names = {"bucketfs": "bucketfs", "ganesha": "nfs-ganesha*", "s3fs": "s3fs",
         "rclone": f"rclone ({rcache})"}
order = [s for s in ("bucketfs", "ganesha", "s3fs", "rclone") if (s, "small") in rows]
print(f"{'system':18} {'files/s':>8} {'in S3 s':>8} {'S3 req':>7} | {'MiB/s':>7} {'close s':>8} {'in S3 s':>8} {'S3 req':>7}")
m = {}
for s in order:
    a, b = rows.get((s, "small")), rows.get((s, "seq"), (float("nan"),) * 2 + (0,))
    rate = files / a[0] if a[0] > 0 else float("nan")
    mibs = mib / b[0] if b[0] > 0 else float("nan")
    m[s] = (rate, mibs, a[1], b[1])
    s3a = "-" if s == "ganesha" else f"{a[1]:.1f}"
    s3b = "-" if s == "ganesha" else f"{b[1]:.1f}"
    print(f"{names[s]:18} {rate:>8.1f} {s3a:>8} {a[2]:>7} | {mibs:>7.1f} {b[0]:>8.1f} {s3b:>8} {b[2]:>7}")
print("* nfs-ganesha writes to local disk (no S3): the ceiling of the guest's NFS client path. When")
print("  bucketfs is close to it, the emulated guest is the bottleneck and the ratios to the FUSE")
print("  peers (native on the host) understate bucketfs: bench/write_path/native.sh drives bucketfs")
print("  with a native NFS client instead. 'in S3 s' counts from the first write.")
if "bucketfs" in m:
    print()
    print("ratios bucketfs / peer (> 1: bucketfs faster; 'to S3' compares time until the data is in S3, peer/bucketfs):")
    bf = m["bucketfs"]
    for s in order:
        if s == "bucketfs":
            continue
        p = m[s]
        r = lambda x, y: f"{x / y:.2f}x" if x == x and y == y and y > 0 else "n/a"
        line = f"  vs {names[s]:16} small files/s {r(bf[0], p[0]):>8}   seq MiB/s {r(bf[1], p[1]):>8}"
        if s != "ganesha":
            line += f"   small to S3 {r(p[2], bf[2]):>8}   seq to S3 {r(p[3], bf[3]):>8}"
        print(line)
    print(f"  vs AWS S3 File Gateway (16 files/s, documented): small files/s {bf[0] / 16:.2f}x")
PY
