#!/usr/bin/env bash
# `bucketfs serve` refuses to start, with one line naming the cause and a non-zero exit status,
# when the endpoint is wrong, the bucket is missing, the credentials are rejected or missing, or
# the port is taken. Usage: cli_errors_test.sh BUCKETFS_BINARY
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
BUCKETFS=$1

# expect_failure NAME PATTERN ARGS... — bucketfs must exit non-zero with one stderr line matching.
expect_failure() {
  local name=$1 pattern=$2
  shift 2
  local out rc=0
  out=$(timeout 60 "$BUCKETFS" serve "$@" 2>&1 >/dev/null) || rc=$?
  echo "     $name: exit $rc: $out"
  check "$name" bash -c "[[ $rc -ne 0 && $rc -ne 124 && \$(wc -l <<<\"\$1\") -eq 1 ]] && grep -qE \"\$2\" <<<\"\$1\"" _ "$out" "$pattern"
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

echo "$CHECKS_FAILED checks failed"
exit $((CHECKS_FAILED > 0))
