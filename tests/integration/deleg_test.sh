#!/usr/bin/env bash
# Read delegations end to end: moto_server as S3, bucketfs, the Linux kernel NFS client (4.1,
# under qemu) reading two files, then
#   1. another client (libnfs, NFSv4.0) writes one of them: its OPEN waits (NFS4ERR_DELAY) while
#      the gateway sends CB_RECALL over the guest's back channel, and completes once the guest
#      returned the delegation;
#   2. the other file is replaced in the bucket behind the gateway: the periodic check of
#      delegated files recalls that delegation too;
# and the guest then reads the new bytes of both (tests/integration/deleg_guest.sh).
# Usage: deleg_test.sh BUCKETFS_BINARY
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
BUCKETFS=$1
bucket=deleg-test
s3() { python3 "$here/s3_put.py" "$MOTO_URL" "$bucket" "$@"; }

gcc -O2 -o "$BFS_TMP/nfs_overwrite" "$here/host_tools/nfs_overwrite.c" -lnfs \
  2>"$BFS_TMP/nfs_overwrite.cc.log" || { cat "$BFS_TMP/nfs_overwrite.cc.log" >&2; exit 1; }
start_moto
s3 mkbucket
s3 put d/nfs.txt v1
s3 put d/s3.txt s1
METRICS_PORT=$(free_port)
start_bucketfs --bucket "$bucket" --endpoint "$MOTO_URL" --region us-east-1 --metadata-ttl 1 \
  --delegations --lease 20 --upload-delay 200 --log-level "${BFS_LOG_LEVEL:-info}" \
  --metrics-listen "127.0.0.1:$METRICS_PORT"
echo "== bucketfs on 127.0.0.1:$NFS_PORT"

wait_line() {  # wait_line PATTERN FILE SECONDS
  local deadline=$((SECONDS + $3))
  until grep -q "$1" "$2" 2>/dev/null; do
    ((SECONDS < deadline)) || { echo "never saw '$1' in $(basename "$2")" >&2; return 1; }
    sleep 0.5
  done
}
recalls() {  # recalls OUTCOME: bucketfs_nfs_delegation_recalls_total{outcome="OUTCOME"}
  curl -s "http://127.0.0.1:$METRICS_PORT/metrics" |
    awk -v s="bucketfs_nfs_delegation_recalls_total{outcome=\"$1\"}" \
      'index($0, s) == 1 {v = $2} END {print v + 0}'
}
wait_recalls() {  # wait_recalls COUNT SECONDS: until at least COUNT recalls were sent
  local deadline=$((SECONDS + $2))
  until (($(recalls sent) >= $1)); do
    ((SECONDS < deadline)) || { echo "recalls sent: $(recalls sent), wanted >= $1" >&2; return 1; }
    sleep 0.5
  done
}

wait_returned() {  # wait_returned SECONDS: until no delegation is held
  local deadline=$((SECONDS + $1))
  until (($(metric bucketfs_nfs_delegations) == 0)); do
    ((SECONDS < deadline)) || { echo "still $(metric bucketfs_nfs_delegations) delegations" >&2; return 1; }
    sleep 0.5
  done
}

out=$BFS_TMP/guest.out
KCLIENT_TIMEOUT=900 "$here/../kclient/run_guest.sh" "$NFS_PORT" "/$bucket" \
  "$here/deleg_guest.sh" >"$out" 2>&1 &
guest=$!
BFS_PIDS+=("$guest")

if wait_line '^SYNC delegated' "$out" 700; then
  check "the guest holds two read delegations (bucketfs_nfs_delegations)" \
    test "$(metric bucketfs_nfs_delegations)" -ge 2
  start=$SECONDS
  check "libnfs writes the delegated file (its OPEN waits for the recall)" \
    "$BFS_TMP/nfs_overwrite" "nfs://127.0.0.1/$bucket/d/nfs.txt?version=4&nfsport=$NFS_PORT" v2 120
  echo "== the conflicting write took $((SECONDS - start)) s"
  check "a CB_RECALL was sent" wait_recalls 1 30
  s3 put d/s3.txt s2
  check "a change in the bucket recalls the other delegation" wait_recalls 2 60
  check "no recall failed" test "$(recalls failed)" = 0
  # Recalled is not yet returned: the guest may read from its cache until its DELEGRETURN.
  check "the guest returned both delegations" wait_returned 60
  check "the gateway serves the bucket's new d/s3.txt (libnfs)" test \
    "$(nfs-cat "nfs://127.0.0.1/$bucket/d/s3.txt?version=4&nfsport=$NFS_PORT")" = s2
  s3 put control/changed yes
fi
rc=0
wait "$guest" || rc=$?
grep -h -E '^(ok|FAIL|GUEST|SYNC|kclient)' "$out" || true
check "kernel client reads the new bytes after both recalls (rc=$rc)" test "$rc" = 0
check "bucketfs still running" kill -0 "$BFS_PID"
if ((CHECKS_FAILED)); then
  echo "--- guest (tail)"; tail -30 "$out"
  echo "--- bucketfs log (tail)"; tail -40 "$BFS_TMP/bucketfs.log"
  echo "deleg_test: $CHECKS_FAILED check(s) failed"
  exit 1
fi
echo "deleg_test: all checks passed"
