#!/usr/bin/env bash
# The shared block cache, end to end, through the Linux kernel client (under qemu):
#  1. O_DIRECT reads at random offsets and sizes (across 1 MiB block boundaries, at and past EOF)
#     return exactly the object's bytes, cold and then from the cache (memory budget of a few
#     blocks, so blocks are evicted to the disk tier and read back);
#  2. an object replaced through S3 while cached is served only with its new bytes;
#  3. after a gateway restart, the disk tier serves the object without a GET to S3.
# Usage: cache_test.sh BUCKETFS_BINARY
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
BUCKETFS=$1
bucket=cache-test
s3() { python3 "$here/s3_put.py" "$MOTO_URL" "$bucket" "$@"; }

start_moto
s3 mkbucket
size=$((20 * 1048576 + 123))
# cases FILE SEED: writes random slices of the object (seeded) with their sha256.
put_and_cases() {
  python3 - "$MOTO_URL" "$bucket" "$size" "$2" "$1" <<'PY'
import hashlib, random, sys, boto3
url, bucket, size, seed, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
data = random.Random(seed).randbytes(size)
boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
             aws_secret_access_key="test").put_object(Bucket=bucket, Key="big.bin", Body=data)
rng = random.Random(seed + 1000)
mib = 1 << 20
cases = [(0, 1), (mib - 1, 2), (mib - 100, 200), (3 * mib, mib), (size - 10, 10), (size - 10, 100),
         (size - 1, 1), (5 * mib - 7, 3 * mib + 11)]
for _ in range(40):
    off = rng.randrange(size)
    cases.append((off, rng.randrange(1, 3 * mib)))
with open(out, "w") as f:
    for off, n in cases:
        f.write(f"{off} {n} {hashlib.sha256(data[off:off + n]).hexdigest()}\n")
PY
}
put_and_cases "$BFS_TMP/cases-old.txt" 1

serve_args=(--bucket "$bucket" --endpoint "$MOTO_URL" --region us-east-1 --metadata-ttl 1
  --cache-block-size 1M --cache-memory 6M --cache-disk-size 64M --read-ahead 4)
start_bucketfs "${serve_args[@]}"
echo "== bucketfs on 127.0.0.1:$NFS_PORT"

wait_sync() {  # wait_sync STEP FILE SECONDS
  local deadline=$((SECONDS + $3))
  until grep -q "^SYNC $1" "$2" 2>/dev/null; do
    ((SECONDS < deadline)) || { echo "guest never reached step $1" >&2; return 1; }
    sleep 0.2
  done
}
gets() { grep -c "GET /$bucket/big.bin" "$BFS_TMP/moto.log" || true; }

# The replacement's slices must exist before the guest boots (files are copied in at boot): write
# them now from the replacement's seed, and put the replacement when the guest asks.
python3 - "$size" "$BFS_TMP/cases-new.txt" "$BFS_TMP/cases-old.txt" <<'PY'
import hashlib, random, sys
size, out, old = int(sys.argv[1]), sys.argv[2], sys.argv[3]
data = random.Random(2).randbytes(size)
with open(old) as f, open(out, "w") as o:
    for line in f:
        off, n, _ = line.split()
        off, n = int(off), int(n)
        o.write(f"{off} {n} {hashlib.sha256(data[off:off + n]).hexdigest()}\n")
PY

guest_out=$BFS_TMP/guest.out
KCLIENT_FILES="$BFS_TMP/cases-old.txt $BFS_TMP/cases-new.txt" KCLIENT_OPTS=actimeo=1 \
  "$here/../kclient/run_guest.sh" "$NFS_PORT" "/$bucket" "$here/cache_guest.sh" >"$guest_out" 2>&1 &
guest=$!
BFS_PIDS+=("$guest")
guest_ok=1
gets_before_restart=0
if wait_sync replace "$guest_out" 900; then
  python3 - "$MOTO_URL" "$bucket" "$size" <<'PY'
import random, sys, boto3
url, bucket, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
             aws_secret_access_key="test").put_object(
    Bucket=bucket, Key="big.bin", Body=random.Random(2).randbytes(size))
PY
  echo "== replaced s3://$bucket/big.bin behind the gateway"
  if wait_sync restart "$guest_out" 900; then
    kill -TERM "$BFS_PID"
    wait "$BFS_PID" 2>/dev/null || true
    gets_before_restart=$(gets)
    start_bucketfs "${serve_args[@]}"
    echo "== gateway restarted (pid $BFS_PID), $gets_before_restart GETs of big.bin so far"
  else
    guest_ok=0
  fi
else
  guest_ok=0
fi
guest_rc=0
wait "$guest" || guest_rc=$?
grep -E '^(ok|FAIL|GUEST|SYNC|kclient|     slice)' "$guest_out" || true
check "kernel client: cached reads byte-exact, replaced object, restart (rc=$guest_rc)" \
  test "$guest_ok$guest_rc" = 10
gets_after_restart=$(($(gets) - gets_before_restart))
echo "     GETs of big.bin after the restart: $gets_after_restart"
# The memory tier starts empty; whatever the disk tier holds is served without S3. With a 64 MiB
# disk tier the whole 20 MiB object fits, so no block needs a GET.
check "after a restart the disk tier serves without GETs" test "$gets_after_restart" -eq 0
check "gateway logged no damaged cache blocks" sh -c "! grep -q 'damaged' '$BFS_TMP/bucketfs.log'"
check "bucketfs still running" kill -0 "$BFS_PID"
if ((CHECKS_FAILED)); then
  echo "--- bucketfs log (tail)"; tail -40 "$BFS_TMP/bucketfs.log"
  echo "cache_test: $CHECKS_FAILED check(s) failed"
  exit 1
fi
echo "cache_test: all checks passed"
