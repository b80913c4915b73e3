#!/usr/bin/env bash
# Read delegations end to end: moto_server as S3, bucketfs, the Linux kernel NFS client (under
# qemu; once with vers=4.1, then with vers=4.0) reading two files, then
#   1. another client (libnfs, NFSv4.0) writes one of them: its OPEN waits (NFS4ERR_DELAY) while
#      the gateway sends CB_RECALL — over the 4.1 guest's back channel, or over the callback
#      connection the gateway opened to the 4.0 guest's callback address after probing it with
#      CB_NULL — and completes once the guest returned the delegation;
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
for d in d41 d40; do
  s3 put "$d/nfs.txt" v1
  s3 put "$d/s3.txt" s1
done
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

# round VERS DIR: the scenario with a guest mounting with VERS, on the files under DIR/.
round() {
  local vers=$1 d=$2 out=$BFS_TMP/guest-$2.out base
  base=$(recalls sent)
  KCLIENT_VERS=$vers KCLIENT_ROLE=$d KCLIENT_TIMEOUT=900 "$here/../kclient/run_guest.sh" \
    "$NFS_PORT" "/$bucket" "$here/deleg_guest.sh" >"$out" 2>&1 &
  local guest=$!
  BFS_PIDS+=("$guest")
  echo "== NFSv$vers guest"
  if wait_line '^SYNC delegated' "$out" 700; then
    check "$vers: the guest holds two read delegations (bucketfs_nfs_delegations)" \
      test "$(metric bucketfs_nfs_delegations)" -ge 2
    local start=$SECONDS
    check "$vers: libnfs writes the delegated file (its OPEN waits for the recall)" \
      "$BFS_TMP/nfs_overwrite" "nfs://127.0.0.1/$bucket/$d/nfs.txt?version=4&nfsport=$NFS_PORT" v2 120
    echo "== the conflicting write took $((SECONDS - start)) s"
    check "$vers: a CB_RECALL was sent" wait_recalls $((base + 1)) 30
    s3 put "$d/s3.txt" s2
    check "$vers: a change in the bucket recalls the other delegation" wait_recalls $((base + 2)) 60
    check "$vers: no recall failed" test "$(recalls failed)" = 0
    # Recalled is not yet returned: the guest may read from its cache until its DELEGRETURN.
    check "$vers: the guest returned both delegations" wait_returned 60
    check "$vers: the gateway serves the bucket's new $d/s3.txt (libnfs)" test \
      "$(nfs-cat "nfs://127.0.0.1/$bucket/$d/s3.txt?version=4&nfsport=$NFS_PORT")" = s2
    s3 put "control/$d" yes
  fi
  local rc=0
  wait "$guest" || rc=$?
  grep -h -E '^(ok|FAIL|GUEST|SYNC|kclient)' "$out" || true
  check "$vers: kernel client reads the new bytes after both recalls (rc=$rc)" test "$rc" = 0
  if ((CHECKS_FAILED)); then echo "--- $vers guest (tail)"; tail -30 "$out"; fi
}
round 4.1 d41
round 4.0 d40
check "bucketfs still running" kill -0 "$BFS_PID"
if ((CHECKS_FAILED)); then
  echo "--- bucketfs log (tail)"; tail -40 "$BFS_TMP/bucketfs.log"
  echo "deleg_test: $CHECKS_FAILED check(s) failed"
  exit 1
fi
echo "deleg_test: all checks passed"
