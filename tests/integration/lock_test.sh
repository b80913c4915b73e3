#!/usr/bin/env bash
# Byte-range locks end to end: moto_server as S3, bucketfs (lease 15 s) serving a writable export,
# and two Linux kernel NFS clients in two qemu guests (vers=4.1 and vers=4.0) running
# tests/integration/lock_guest.sh: concurrent SQLite writers with no corruption, fcntl and flock
# conflicts across the clients (DENIED, F_GETLK, a blocking lock granted on release), a lock held
# across a kill -9 and restart of the gateway (reclaimed in the grace period), and the lock of a
# client whose VM is killed released once its lease runs out.
# Usage: lock_test.sh BUCKETFS_BINARY
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
BUCKETFS=$1
bucket=lock-test
lease=15

guest_tool locktool
guest_tool sqlite_writer -lsqlite3 -lm -lpthread -ldl

start_moto
python3 "$here/s3_put.py" "$MOTO_URL" "$bucket" mkbucket
METRICS_PORT=$(free_port)
serve_args=(--bucket "$bucket" --endpoint "$MOTO_URL" --region us-east-1 --metadata-ttl 1
  --lease "$lease" --upload-delay 200 --log-level "${BFS_LOG_LEVEL:-info}"
  --metrics-listen "127.0.0.1:$METRICS_PORT")
start_bucketfs "${serve_args[@]}"
echo "== bucketfs on 127.0.0.1:$NFS_PORT (lease $lease s)"

wait_line() {  # wait_line PATTERN FILE SECONDS
  local deadline=$((SECONDS + $3))
  until grep -q "$1" "$2" 2>/dev/null; do
    ((SECONDS < deadline)) || { echo "never saw '$1' in $(basename "$2")" >&2; return 1; }
    sleep 0.5
  done
}
descendants() { local p; for p in $(pgrep -P "$1"); do echo "$p"; descendants "$p"; done; }

out_a=$BFS_TMP/guest-a.out out_b=$BFS_TMP/guest-b.out
export KCLIENT_FILES="$BFS_TMP/locktool $BFS_TMP/sqlite_writer" KCLIENT_OPTS=actimeo=1
KCLIENT_ROLE=a KCLIENT_TIMEOUT=1200 \
  "$here/../kclient/run_guest.sh" "$NFS_PORT" "/$bucket" "$here/lock_guest.sh" >"$out_a" 2>&1 &
guest_a=$!
KCLIENT_ROLE=b KCLIENT_VERS=4.0 KCLIENT_TIMEOUT=1200 \
  "$here/../kclient/run_guest.sh" "$NFS_PORT" "/$bucket" "$here/lock_guest.sh" >"$out_b" 2>&1 &
guest_b=$!
BFS_PIDS+=("$guest_a" "$guest_b")

restarted=0
if wait_line '^SYNC a-holds-for-restart' "$out_a" 1100; then
  kill -KILL "$BFS_PID"
  wait "$BFS_PID" 2>/dev/null || true
  start_bucketfs "${serve_args[@]}"
  wait_port "$METRICS_PORT" 10
  check "the restarted gateway runs a grace period (bucketfs_nfs_grace)" \
    test "$(metric bucketfs_nfs_grace)" = 1
  python3 "$here/s3_put.py" "$MOTO_URL" "$bucket" put control/restarted yes
  restarted=1
  echo "== gateway killed (-9) and restarted (pid $BFS_PID) while client a held a lock"
fi
killed=0
if wait_line '^SYNC b-will-hold' "$out_b" 1100 && wait_line '^SYNC saw-b-holds' "$out_a" 300; then
  check "the lock client b holds is counted (bucketfs_nfs_locks)" \
    test "$(metric bucketfs_nfs_locks)" -ge 1
  for p in $(descendants "$guest_b"); do
    if [[ $(cat "/proc/$p/comm" 2>/dev/null) == qemu-system-* ]]; then
      kill -KILL "$p" && killed=1
    fi
  done
  echo "== killed guest b's VM while it held a lock"
fi
wait "$guest_b" 2>/dev/null || true
rc_a=0
wait "$guest_a" || rc_a=$?
grep -h -E '^(ok|FAIL|GUEST|SYNC|INSERTED|CHECK|GRANTED|kclient)' "$out_a" "$out_b" || true
check "gateway restarted while a client held a lock" test "$restarted" = 1
check "guest b's VM was killed while holding its lock" test "$killed" = 1
check "guest b's checks passed before it was killed" bash -c "! grep -q '^FAIL' '$out_b'"
check "kernel client a: SQLite, conflicts and lease release (rc=$rc_a)" test "$rc_a" = 0
check "bucketfs still running" kill -0 "$BFS_PID"
if ((CHECKS_FAILED)); then
  echo "--- guest a (tail)"; tail -30 "$out_a"
  echo "--- guest b (tail)"; tail -30 "$out_b"
  echo "--- bucketfs log (tail)"; tail -40 "$BFS_TMP/bucketfs.log"
  echo "lock_test: $CHECKS_FAILED check(s) failed"
  exit 1
fi
echo "lock_test: all checks passed"
