#!/usr/bin/env bash
# Graceful shutdown (SIGTERM) in the middle of uploads loses nothing: files written through libnfs
# (each COMMITted) are being uploaded to a slow S3 (moto behind s3_latency_proxy.py, 3 s per
# request) when the gateway gets SIGTERM, and one more file is still being written. The gateway
# must report "shutting down" on /healthz, answer or drop the calls in flight, make staged data
# durable and exit 0 within seconds; restarted on the same state directory it resumes the uploads,
# and every byte of every file whose COMMIT was acknowledged is in the bucket (checked with boto3).
# No kernel client: libnfs only.
# Usage: shutdown_test.sh BUCKETFS_BINARY
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
BUCKETFS=$1
# Under ASan: the uploads in flight at SIGTERM are abandoned on purpose (their staged data is
# persisted and the journal resumes them at the next start), and LeakSanitizer counts their
# suspended coroutine frames as leaks and turns the exit status into 1. The exit status is what
# this test checks; leak checking stays on in every other test.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

gcc -O2 -o "$BFS_TMP/nfs_put" "$here/host_tools/nfs_put.c" -lnfs \
  2>"$BFS_TMP/nfs_put.cc.log" || { cat "$BFS_TMP/nfs_put.cc.log" >&2; exit 1; }

start_moto
bucket=shutdown
python3 "$here/s3_put.py" "$MOTO_URL" "$bucket" mkbucket
PROXY_PORT=$(free_port)
python3 "$here/../s3proxy/s3_latency_proxy.py" --upstream "$MOTO_URL" --port "$PROXY_PORT" \
  --delay-ms 3000 >"$BFS_TMP/proxy.log" 2>&1 &
BFS_PIDS+=($!)
wait_port "$PROXY_PORT" 30
PROXY_URL=http://127.0.0.1:$PROXY_PORT

# big.bin is a multipart upload (24 MiB, 16 MiB parts); the others are single PUTs.
for f in big:24 small1:1 small2:3 racing:16; do
  head -c "$((${f#*:} << 20))" /dev/urandom >"$BFS_TMP/${f%:*}.bin"
done

METRICS_PORT=$(free_port)
serve_args=(--bucket "$bucket" --endpoint "$PROXY_URL" --region us-east-1 --upload-delay 0
  --lease 5 --metrics-listen "127.0.0.1:$METRICS_PORT")
start_bucketfs "${serve_args[@]}"
wait_port "$METRICS_PORT" 30
url() { echo "nfs://127.0.0.1/$bucket/$1?version=4&nfsport=$NFS_PORT"; }
healthz="http://127.0.0.1:$METRICS_PORT/healthz"
check "healthz is 200 ok while serving" bash -c \
  "[[ \$(curl -s $healthz) == ok && \$(curl -s -o /dev/null -w '%{http_code}' $healthz) == 200 ]]"

acked=()
for f in big small1 small2; do
  if "$BFS_TMP/nfs_put" "$BFS_TMP/$f.bin" "$(url "$f.bin")" >/dev/null; then acked+=("$f"); fi
done
check "three files written and committed through libnfs" test "${#acked[@]}" -eq 3
# The uploads are under way (each S3 request takes 3 s): SIGTERM now, with one more file being
# written.
sleep 1
running=$(metric bucketfs_journal_running)
echo "     uploads running at SIGTERM: $running, pending: $(metric bucketfs_journal_pending)"
check "uploads are in progress when SIGTERM arrives" test "$running" -ge 1
"$BFS_TMP/nfs_put" "$BFS_TMP/racing.bin" "$(url racing.bin)" >"$BFS_TMP/racing.out" 2>&1 &
racer=$!
sleep 0.5
term_at=$SECONDS
kill -TERM "$BFS_PID"
# The first answer of /healthz that is not "ok" (the signal may take a moment to arrive).
health=ok
for _ in $(seq 100); do
  health=$(curl -s -m 2 "$healthz" || true)
  [[ $health == ok ]] || break
  sleep 0.01
done
echo "     healthz after SIGTERM: '${health}'"
rc=0
wait "$BFS_PID" || rc=$?
check "gateway exits 0 after SIGTERM (rc=$rc, $((SECONDS - term_at)) s)" \
  test "$rc" -eq 0 -a $((SECONDS - term_at)) -lt 30
check "healthz said shutting down, or was already gone" \
  bash -c "[[ '$health' == 'shutting down' || -z '$health' ]]"
racer_rc=0
wait "$racer" || racer_rc=$?
echo "     racing write: exit $racer_rc: $(tr '\n' ' ' <"$BFS_TMP/racing.out")"
if ((racer_rc == 0)); then acked+=(racing); fi
check "shutdown was logged" grep -q "signal 15: shutting down" "$BFS_TMP/bucketfs.log"
left=$(python3 - "$MOTO_URL" "$bucket" "$BFS_TMP" "${acked[@]}" <<'PY'
import hashlib, sys, boto3
url, bucket, tmp, *names = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
have = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
print(sum(1 for n in names if n + ".bin" not in have))
PY
)
echo "     acknowledged files not yet in the bucket at exit: $left of ${#acked[@]}"
check "some uploads were still pending at exit (else the test proves nothing)" test "$left" -ge 1

# Restart on the same state directory, S3 at full speed: the journal resumes the uploads.
curl -sf -X POST "$PROXY_URL/__proxy/delay?ms=0" >/dev/null
start_bucketfs "${serve_args[@]}"
wait_port "$METRICS_PORT" 30
deadline=$((SECONDS + 120))
until [[ $(metric bucketfs_journal_pending) == 0 ]]; do
  ((SECONDS < deadline)) || break
  sleep 0.5
done
check "the restarted gateway drained the journal" test "$(metric bucketfs_journal_pending)" = 0
verify_bucket() {
  python3 - "$MOTO_URL" "$bucket" "$BFS_TMP" "${acked[@]}" <<'PY'
import hashlib, sys, boto3
url, bucket, tmp, *names = sys.argv[1:]
s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
ok = True
for n in names:
    want = hashlib.sha256(open(f"{tmp}/{n}.bin", "rb").read()).hexdigest()
    try:
        got = hashlib.sha256(s3.get_object(Bucket=bucket, Key=n + ".bin")["Body"].read()).hexdigest()
    except Exception as e:  # noqa: BLE001
        got = f"missing ({e})"
    print(f"     s3://{bucket}/{n}.bin: {'ok' if got == want else 'WRONG: ' + got}")
    ok = ok and got == want
sys.exit(0 if ok else 1)
PY
}
check "every byte of every acknowledged file is in the bucket (${acked[*]})" verify_bucket
kill -TERM "$BFS_PID"
wait "$BFS_PID" 2>/dev/null || true

if ((CHECKS_FAILED > 0)); then
  echo "$CHECKS_FAILED check(s) failed; gateway log:" >&2
  tail -50 "$BFS_TMP/bucketfs.log" >&2
  exit 1
fi
echo "all shutdown checks passed"
