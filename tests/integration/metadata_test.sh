#!/usr/bin/env bash
# Persistent metadata, end to end, through the Linux kernel client (under qemu) and libnfs:
#  1. a file held open keeps reading, byte-exact, across a SIGKILL + restart of the gateway, and the
#     directory tree keeps its inode numbers (handles persisted in the state directory);
#  2. objects added, replaced (same size) and deleted directly in S3 are seen after the TTL;
#  3. a 100,000-key directory lists completely and in a stable order (local-directory store by
#     default; BUCKETFS_TEST_BIGDIR_S3=1 puts the 100,000 keys into moto instead, ~10 min);
#  4. a damaged metadata database is moved aside and rebuilt from the bucket at the next start.
# Usage: metadata_test.sh BUCKETFS_BINARY
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
BUCKETFS=$1
bucket=meta-test
s3() { python3 "$here/s3_put.py" "$MOTO_URL" "$bucket" "$@"; }

start_moto
echo "== filling s3://$bucket"
s3 mkbucket
s3 putrand big.bin 40 7 "$BFS_TMP/big.sha256"
for d in 0 1 2 3; do
  puts=()  # not a bare `wait`: that would also wait for moto_server
  for f in 0 1 2 3 4; do s3 put "tree/d$d/f$f.txt" "$d$f" & puts+=($!); done
  wait "${puts[@]}"
done
s3 put change/keep.txt keep
s3 put change/replace.txt old1
s3 put change/delete.txt doomed

serve_args=(--bucket "$bucket" --endpoint "$MOTO_URL" --region us-east-1 --metadata-ttl 2)
start_bucketfs "${serve_args[@]}"
echo "== bucketfs on 127.0.0.1:$NFS_PORT, state in $BFS_TMP/state"

# wait_sync STEP FILE SECONDS — until the guest printed "SYNC STEP".
wait_sync() {
  local deadline=$((SECONDS + $3))
  until grep -q "^SYNC $1" "$2" 2>/dev/null; do
    ((SECONDS < deadline)) || { echo "guest never reached step $1" >&2; return 1; }
    sleep 0.2
  done
}

guest_out=$BFS_TMP/guest.out
KCLIENT_FILES="$BFS_TMP/big.sha256" KCLIENT_OPTS=actimeo=1 \
  "$here/../kclient/run_guest.sh" "$NFS_PORT" "/$bucket" "$here/metadata_guest.sh" >"$guest_out" 2>&1 &
guest=$!
BFS_PIDS+=("$guest")

guest_ok=1
if wait_sync restart "$guest_out" 300; then
  kill -KILL "$BFS_PID"
  wait "$BFS_PID" 2>/dev/null || true
  start_bucketfs "${serve_args[@]}"
  echo "== gateway killed and restarted (pid $BFS_PID)"
  if wait_sync mutate "$guest_out" 300; then
    s3 put change/added.txt "brand new"
    s3 put change/replace.txt new1
    s3 delete change/delete.txt
    echo "== changed s3://$bucket/change/ behind the gateway"
  else
    guest_ok=0
  fi
else
  guest_ok=0
fi
guest_rc=0
wait "$guest" || guest_rc=$?
cat "$guest_out" | grep -E '^(ok|FAIL|GUEST|SYNC|kclient)' || true
check "kernel client: restart mid-read and changes behind the gateway (rc=$guest_rc)" \
  test "$guest_ok$guest_rc" = 10
check "gateway did not log a failed metadata commit" sh -c "! grep -q 'commit failed' '$BFS_TMP/bucketfs.log'"

# 4. A damaged database: moved aside, rebuilt, still serving the right bytes.
kill -TERM "$BFS_PID"
wait "$BFS_PID" 2>/dev/null || true
head -c 65536 /dev/urandom >"$BFS_TMP/state/meta.db"
rm -f "$BFS_TMP/state/meta.db-wal" "$BFS_TMP/state/meta.db-shm"
start_bucketfs "${serve_args[@]}"
check "damaged database is reported and moved aside" \
  sh -c "grep -q 'is damaged; moved to' '$BFS_TMP/bucketfs.log' && ls '$BFS_TMP'/state/meta.db.corrupt-* >/dev/null"
libnfs_sum=$(nfs-cat "nfs://127.0.0.1/$bucket/big.bin?version=4&nfsport=$NFS_PORT" | sha256sum | cut -d' ' -f1)
check "rebuilt namespace serves the right bytes (libnfs)" test "$libnfs_sum" = "$(cut -d' ' -f1 "$BFS_TMP/big.sha256")"
kill -TERM "$BFS_PID"
wait "$BFS_PID" 2>/dev/null || true

# 3. The 100,000-key directory.
python3 - "$BFS_TMP/bigdir.names" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(100000):
        f.write(f"k{i:06d}\n")
PY
unset NFS_PORT
if [[ "${BUCKETFS_TEST_BIGDIR_S3:-0}" == 1 ]]; then
  echo "== putting 100,000 keys into moto (slow)"
  python3 - "$MOTO_URL" <<'PY'
import concurrent.futures, sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test")
s3.create_bucket(Bucket="bigdir")
with concurrent.futures.ThreadPoolExecutor(8) as ex:
    list(ex.map(lambda i: s3.put_object(Bucket="bigdir", Key=f"huge/k{i:06d}", Body=str(i).encode()),
                range(100000)))
PY
  BFS_STATE_DIR=$BFS_TMP/state-big start_bucketfs --bucket bigdir --endpoint "$MOTO_URL" --region us-east-1
else
  mkdir -p "$BFS_TMP/local/bigdir/huge"
  python3 - "$BFS_TMP/local/bigdir/huge" <<'PY'
import os, sys
for i in range(100000):
    with open(os.path.join(sys.argv[1], f"k{i:06d}"), "w") as f:
        f.write(str(i))
PY
  BFS_STATE_DIR=$BFS_TMP/state-big start_bucketfs --bucket bigdir --local-dir "$BFS_TMP/local"
fi
guest_tool listdir
check "kernel client lists a 100,000-key directory completely and stably" \
  env KCLIENT_FILES="$BFS_TMP/bigdir.names $BFS_TMP/listdir" KCLIENT_TIMEOUT=900 \
  "$here/../kclient/run_guest.sh" "$NFS_PORT" /bigdir "$here/bigdir_guest.sh"

check "bucketfs still running" kill -0 "$BFS_PID"
if ((CHECKS_FAILED)); then
  echo "--- bucketfs log (tail)"; tail -40 "$BFS_TMP/bucketfs.log"
  echo "metadata_test: $CHECKS_FAILED check(s) failed"
  exit 1
fi
echo "metadata_test: all checks passed"
