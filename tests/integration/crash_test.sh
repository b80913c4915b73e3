#!/usr/bin/env bash
# Crash safety: the gateway is killed with SIGKILL at random moments (at least 20 times, bounded)
# while a kernel-client guest runs a write + fsync + rename workload (crash_guest.sh), and
# restarted on the same state directory each time. Afterwards every write the guest saw
# acknowledged (fsync returned, rename returned) must be there: through NFS (checked in the
# guest) and, once the gateway drained its journal, in S3 (checked here with boto3); no
# acknowledged rename may be half-visible (temp name still there) in either.
# Usage: crash_test.sh BUCKETFS_BINARY [KILLS]
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
BUCKETFS=$1
kills=${2:-22}
bucket=crash-test
s3() { python3 "$here/s3_put.py" "$MOTO_URL" "$bucket" "$@"; }

start_moto
s3 mkbucket
METRICS_PORT=$(free_port)
serve_args=(--bucket "$bucket" --endpoint "$MOTO_URL" --region us-east-1 --metadata-ttl 1
  --upload-delay 100 --lease 10 --metrics-listen "127.0.0.1:$METRICS_PORT")
start_bucketfs "${serve_args[@]}"
echo "== bucketfs on 127.0.0.1:$NFS_PORT"

out=$BFS_TMP/guest.out
KCLIENT_OPTS=actimeo=1 KCLIENT_TIMEOUT=1500 \
  "$here/../kclient/run_guest.sh" "$NFS_PORT" "/$bucket" "$here/crash_guest.sh" >"$out" 2>&1 &
guest=$!
BFS_PIDS+=("$guest")

# Wait for the workload to start, then kill and restart the gateway at random moments.
deadline=$((SECONDS + 600))
until grep -q '^ACKED' "$out" 2>/dev/null || ((SECONDS > deadline)); do sleep 0.5; done
done_kills=0
for ((k = 1; k <= kills; k++)); do
  sleep "$(python3 -c 'import random; print(round(random.uniform(0.3, 3.0), 2))')"
  kill -0 "$guest" 2>/dev/null || break
  kill -KILL "$BFS_PID"
  wait "$BFS_PID" 2>/dev/null || true
  start_bucketfs "${serve_args[@]}"
  done_kills=$k
done
acked_before=$(grep -c '^ACKED' "$out" || true)
echo "== $done_kills kill -9 + restart cycles; $acked_before writes acknowledged so far"
sleep 5
s3 put control/stop yes
rc=0
wait "$guest" || rc=$?
grep -h -E '^(FAIL|GUEST|SYNC|kclient)' "$out" || true
check "at least 20 crashes survived" test "$done_kills" -ge 20
check "every acknowledged write is there through NFS, no half-visible rename (rc=$rc)" test "$rc" = 0

metric() {
  curl -s "http://127.0.0.1:$METRICS_PORT/metrics" |
    awk -v m="$1" '$1 ~ "^"m"({|$)" {s += $2} END {print s + 0}'
}
deadline=$((SECONDS + 300))
until [[ $(metric bucketfs_journal_pending) == 0 && $(metric bucketfs_staged_bytes) == 0 ]] ||
  ((SECONDS > deadline)); do sleep 1; done
grep -h '^ACKED' "$out" | tr -d '\r' >"$BFS_TMP/acked.txt"
check "every acknowledged write is in S3, no temp name left for it" python3 - "$MOTO_URL" \
  "$bucket" "$BFS_TMP/acked.txt" <<'PY'
import hashlib, sys, boto3
url, bucket, acked = sys.argv[1:4]
s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
                  aws_secret_access_key="test")
keys = set()
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="work/"):
    keys.update(o["Key"] for o in page.get("Contents", []))
bad = 0
n = 0
import re
for line in open(acked):
    m = re.search(r"ACKED (w[0-9]+) ([0-9a-f]{64})", line)
    if not m:
        continue  # a console line cut by kernel messages
    name, sha = m.groups()
    n += 1
    key = "work/" + name
    if key not in keys or hashlib.sha256(
            s3.get_object(Bucket=bucket, Key=key)["Body"].read()).hexdigest() != sha:
        print("     missing or wrong in S3:", key)
        bad += 1
    if key + ".tmp" in keys:
        print("     temp name left in S3:", key + ".tmp")
        bad += 1
print(f"     {n} acknowledged writes checked in S3, {bad} bad")
sys.exit(1 if bad or n == 0 else 0)
PY
check "bucketfs still running" kill -0 "$BFS_PID"
if ((CHECKS_FAILED)); then
  echo "--- guest (tail)"; tail -30 "$out"
  echo "--- bucketfs log (tail)"; tail -60 "$BFS_TMP/bucketfs.log"
  echo "crash_test: $CHECKS_FAILED check(s) failed"
  exit 1
fi
echo "crash_test: all checks passed"
