#!/usr/bin/env bash
# `bucketfs serve` refuses to start, with one line naming the cause and a non-zero exit status,
# when the endpoint is wrong, the bucket is missing, the credentials are rejected or missing, or
# the port, state directory or admin socket is taken. `bucketfs status` and `bucketfs refresh`
# report a missing gateway and failed refreshes the same way, and work against a running one.
# Usage: cli_errors_test.sh BUCKETFS_BINARY
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
BUCKETFS=$1

# expect_cli_failure NAME PATTERN ARGS... — `bucketfs ARGS` must exit non-zero with one stderr line
# matching.
expect_cli_failure() {
  local name=$1 pattern=$2
  shift 2
  local out rc=0
  out=$(timeout 60 "$BUCKETFS" "$@" 2>&1 >/dev/null) || rc=$?
  echo "     $name: exit $rc: $out"
  check "$name" bash -c "[[ $rc -ne 0 && $rc -ne 124 && \$(wc -l <<<\"\$1\") -eq 1 ]] && grep -qE \"\$2\" <<<\"\$1\"" _ "$out" "$pattern"
}

# expect_failure NAME PATTERN ARGS... — `bucketfs serve ARGS` must fail that way.
expect_failure() {
  local name=$1 pattern=$2
  shift 2
  expect_cli_failure "$name" "$pattern" serve "$@"
}

# expect_output NAME PATTERN ARGS... — `bucketfs ARGS` must exit 0 with stdout matching.
expect_output() {
  local name=$1 pattern=$2
  shift 2
  local out rc=0
  out=$(timeout 60 "$BUCKETFS" "$@" 2>&1) || rc=$?
  echo "     $name: exit $rc: $out"
  check "$name" bash -c "[[ $rc -eq 0 ]] && grep -qE \"\$2\" <<<\"\$1\"" _ "$out" "$pattern"
}

start_moto
python3 - "$MOTO_URL" <<'PY'
import sys, boto3
boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1").create_bucket(Bucket="present")
PY

expect_failure "nothing listens at the endpoint" "cannot connect to 127.0.0.1:1" \
  --bucket present --endpoint http://127.0.0.1:1 --region us-east-1
expect_failure "endpoint that is not a URL" "must start with http" \
  --bucket present --endpoint ftp://example --region us-east-1
expect_failure "missing bucket" "bucket 'absent' does not exist" \
  --bucket absent --endpoint "$MOTO_URL" --region us-east-1
# Missing credentials: none in the environment, no shared credentials file.
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY HOME="$BFS_TMP/nohome" \
  AWS_SHARED_CREDENTIALS_FILE="$BFS_TMP/none" bash -c '
  out=$(timeout 60 "$0" serve --bucket present --endpoint "$1" 2>&1 >/dev/null); rc=$?
  echo "     no credentials: exit $rc: $out"
  [[ $rc -ne 0 ]] && grep -q "no S3 credentials" <<<"$out"' "$BUCKETFS" "$MOTO_URL"
check "missing credentials are named" test $? -eq 0

# moto checks access keys once INITIAL_NO_AUTH_ACTION_COUNT=0: unknown keys are rejected.
AUTH_PORT=$(free_port)
INITIAL_NO_AUTH_ACTION_COUNT=0 moto_server -H 127.0.0.1 -p "$AUTH_PORT" >"$BFS_TMP/moto-auth.log" 2>&1 &
BFS_PIDS+=($!)
wait_port "$AUTH_PORT" 30
expect_failure "rejected credentials" "credentials rejected" \
  --bucket present --endpoint "http://127.0.0.1:$AUTH_PORT" --region us-east-1

start_bucketfs --bucket present --endpoint "$MOTO_URL" --region us-east-1
expect_failure "port in use" "127.0.0.1:$NFS_PORT is already in use" \
  --bucket present --endpoint "$MOTO_URL" --region us-east-1 --listen "127.0.0.1:$NFS_PORT"
expect_failure "bad export spec" "not a valid bucket name" \
  --bucket "bad bucket" --endpoint "$MOTO_URL"
expect_failure "bad cache size" "cache-memory: '4Q': unknown size unit" \
  --bucket present --endpoint "$MOTO_URL" --cache-memory 4Q
expect_failure "bad cache policy" "unknown cache policy 'arc'" \
  --bucket present --endpoint "$MOTO_URL" --cache-policy arc --state-dir "$BFS_TMP/state-policy"
touch "$BFS_TMP/not-a-dir"
expect_failure "unusable cache directory" "cache directory $BFS_TMP/not-a-dir/cache" \
  --bucket present --endpoint "$MOTO_URL" --cache-dir "$BFS_TMP/not-a-dir/cache" \
  --state-dir "$BFS_TMP/state-cachedir"

# --- The admin endpoint: `bucketfs status` and `bucketfs refresh` -------------------------------
kill "$BFS_PID"
wait "$BFS_PID" 2>/dev/null || true
STATE=$BFS_TMP/state
SOCK=$STATE/admin.sock
check "a stopped gateway removes its admin socket" test ! -e "$SOCK"
expect_cli_failure "status without a gateway" \
  "^bucketfs: error: cannot reach the gateway at $SOCK \(is .bucketfs serve. running\?\): No such file or directory$" \
  status --state-dir "$STATE"
expect_cli_failure "refresh without a gateway" "cannot reach the gateway at $BFS_TMP/other.sock" \
  refresh /demo/x --admin-socket "$BFS_TMP/other.sock"

# wait_socket PATH — until the gateway's admin socket exists (it is bound right after the NFS port).
wait_socket() {
  local deadline=$((SECONDS + 10))
  until [[ -S $1 ]]; do
    ((SECONDS < deadline)) || { echo "no admin socket at $1" >&2; return 1; }
    sleep 0.1
  done
}

mkdir -p "$BFS_TMP/local/demo/dir"
echo hello >"$BFS_TMP/local/demo/dir/file.txt"
unset NFS_PORT
start_bucketfs --bucket demo --bucket sub=demo:dir --local-dir "$BFS_TMP/local"
wait_socket "$SOCK"
check "the admin socket is owner-only" test "$(stat -c %a "$SOCK")" = 600
expect_output "status lists the exports" \
  "^  /demo +$BFS_TMP/local/demo/\$" status --state-dir "$STATE"
expect_output "status shows the listen address" "on 127.0.0.1:$NFS_PORT, up " \
  status --state-dir "$STATE"
expect_output "status through --admin-socket" "^  /sub +$BFS_TMP/local/demo/dir/\$" \
  status --admin-socket "$SOCK"
expect_output "refresh of a file" "^refreshed /demo/dir/file.txt\$" \
  refresh /demo/dir/file.txt --state-dir "$STATE"
expect_output "refresh of an export root" "^refreshed /sub\$" refresh /sub --state-dir "$STATE"
echo new >"$BFS_TMP/local/demo/dir/new file.txt"
expect_output "refresh finds an object written behind the gateway" \
  "^refreshed /demo/dir/new file.txt\$" refresh "/demo/dir/new file.txt" --state-dir "$STATE"
expect_cli_failure "refresh of an unknown export" \
  "^bucketfs: error: no export named nosuchexport$" \
  refresh /nosuchexport/x --state-dir "$STATE"
expect_cli_failure "refresh of a missing path" \
  "^bucketfs: error: /demo/dir/missing.txt: no such file or directory in the bucket" \
  refresh /demo/dir/missing.txt --state-dir "$STATE"
expect_cli_failure "refresh of a path without an export" "is not a path of the form /EXPORT/PATH" \
  refresh demo/dir --state-dir "$STATE"

# A second gateway on the same state directory stops at its lock; on another state directory but
# the same admin socket, at the socket. Either way the first one keeps serving.
expect_failure "second gateway, same state directory" \
  "state directory $STATE is in use by another running bucketfs gateway" \
  --bucket demo --local-dir "$BFS_TMP/local" --listen "127.0.0.1:$(free_port)" --state-dir "$STATE"
expect_failure "second gateway, same admin socket" \
  "^bucketfs: error: another gateway is already serving admin socket $SOCK$" \
  --bucket demo --local-dir "$BFS_TMP/local" --listen "127.0.0.1:$(free_port)" \
  --state-dir "$BFS_TMP/state2" --admin-socket "$SOCK"
expect_output "the first gateway still answers" "^refreshed /demo\$" \
  refresh /demo --state-dir "$STATE"

# A killed gateway leaves its socket file behind: the CLI says nobody answers, and the next
# gateway replaces the stale file.
{
  kill -9 "$BFS_PID"
  wait "$BFS_PID" || true
} 2>/dev/null  # no "Killed" notice
check "a killed gateway leaves a stale socket" test -S "$SOCK"
expect_cli_failure "status with a stale socket" \
  "cannot reach the gateway at $SOCK \(is .bucketfs serve. running\?\): Connection refused$" \
  status --state-dir "$STATE"
start_bucketfs --bucket demo --local-dir "$BFS_TMP/local"
wait_socket "$SOCK"
expect_output "a restarted gateway replaces a stale socket" "^  /demo " status --state-dir "$STATE"

# --- Metrics: the Prometheus endpoint counts NFS ops, S3 requests and the cache ------------------
kill "$BFS_PID"
wait "$BFS_PID" 2>/dev/null || true
METRICS_PORT=$(free_port)
unset NFS_PORT
BFS_STATE_DIR=$BFS_TMP/state-metrics start_bucketfs --bucket demo --local-dir "$BFS_TMP/local" \
  --metrics-listen "127.0.0.1:$METRICS_PORT"
wait_port "$METRICS_PORT" 10
check "a file read over NFS (libnfs)" \
  test "$(nfs-cat "nfs://127.0.0.1/demo/dir/file.txt?version=4&nfsport=$NFS_PORT")" = hello
curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" >"$BFS_TMP/metrics.txt"
check "metrics: exposition parses and counts the read" python3 - "$BFS_TMP/metrics.txt" <<'PY'
import re, sys
sample = re.compile(r'^([a-z_:][a-z0-9_:]*)(\{[^}]*\})? (-?[0-9.e+-]+|\+Inf|NaN)$')
values = {}
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if line.startswith("# HELP ") or line.startswith("# TYPE "):
        continue
    m = sample.match(line)
    if not m:
        sys.exit(f"unparsable line: {line!r}")
    values[m.group(1) + (m.group(2) or "")] = float(m.group(3))
need = {
    'bucketfs_nfs_ops_total{op="READ",status="ok"}': 1,
    'bucketfs_nfs_ops_total{op="PUTROOTFH",status="ok"}': 1,
    'bucketfs_nfs_read_bytes_total': 6,
    'bucketfs_s3_requests_total{op="GET",outcome="ok"}': 1,
    'bucketfs_cache_misses_total{tier="memory"}': 1,
    'bucketfs_rpc_connections_total': 1,
    'bucketfs_nfs_op_duration_seconds_count{op="READ"}': 1,
}
for k, v in need.items():
    if values.get(k, 0) < v:
        sys.exit(f"{k} = {values.get(k)}, want >= {v}")
PY
check "metrics: unknown path is 404" \
  test "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$METRICS_PORT/nope")" = 404
expect_failure "metrics address in use" "metrics address 127.0.0.1:$METRICS_PORT is already in use" \
  --bucket demo --local-dir "$BFS_TMP/local" --listen "127.0.0.1:$(free_port)" \
  --state-dir "$BFS_TMP/state-metrics2" --metrics-listen "127.0.0.1:$METRICS_PORT"

echo "$CHECKS_FAILED checks failed"
exit $((CHECKS_FAILED > 0))
