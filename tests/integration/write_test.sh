#!/usr/bin/env bash
# The write path, end to end: moto_server as S3, bucketfs serving a writable export, and two Linux
# kernel NFS clients (two qemu guests, one mounting with vers=4.1, the other with vers=4.0) writing
# through it (tests/integration/write_guest.sh): files of several sizes, the write-temp-then-rename
# checkpoint pattern from both clients at once, a 1,000-file directory rename, appends, random 4 KiB
# overwrites in a 64 MiB file, chmod/chown/utimes, symlinks, hard links, rm/rmdir, cp. Then the
# bucket is checked with boto3: every object byte-exact, s3fs-compatible metadata, no temp names
# left, the renamed prefix complete and the old one empty; s3fs (when this machine can mount it)
# sees the same modes; and after kill -9 and a restart of the gateway the guest finds everything
# again.
# Usage: write_test.sh BUCKETFS_BINARY
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
BUCKETFS=$1
bucket=write-test
s3() { python3 "$here/s3_put.py" "$MOTO_URL" "$bucket" "$@"; }

start_moto
s3 mkbucket
METRICS_PORT=$(free_port)
serve_args=(--bucket "$bucket" --endpoint "$MOTO_URL" --region us-east-1 --metadata-ttl 1
  --upload-delay 200 --metrics-listen "127.0.0.1:$METRICS_PORT")
start_bucketfs "${serve_args[@]}"
echo "== bucketfs on 127.0.0.1:$NFS_PORT"

wait_sync() {  # wait_sync STEP FILE SECONDS
  local deadline=$((SECONDS + $3))
  until grep -q "^SYNC $1" "$2" 2>/dev/null; do
    ((SECONDS < deadline)) || { echo "guest never reached step $1" >&2; return 1; }
    sleep 0.5
  done
}
drained() {  # until nothing is staged or pending, twice in a row (bounded)
  local deadline=$((SECONDS + $1)) quiet=0
  while ((SECONDS < deadline)); do
    if [[ $(metric bucketfs_journal_pending) == 0 && $(metric bucketfs_staged_bytes) == 0 ]]; then
      quiet=$((quiet + 1))
      ((quiet >= 2)) && return 0
    else
      quiet=0
    fi
    sleep 1
  done
  echo "still pending: $(metric bucketfs_journal_pending) changes, $(metric bucketfs_staged_bytes) bytes" >&2
  return 1
}

out_a=$BFS_TMP/guest-a.out out_b=$BFS_TMP/guest-b.out
KCLIENT_ROLE=a KCLIENT_OPTS=actimeo=1 KCLIENT_TIMEOUT=1500 \
  "$here/../kclient/run_guest.sh" "$NFS_PORT" "/$bucket" "$here/write_guest.sh" >"$out_a" 2>&1 &
guest_a=$!
KCLIENT_ROLE=b KCLIENT_VERS=4.0 KCLIENT_OPTS=actimeo=1 KCLIENT_TIMEOUT=900 \
  "$here/../kclient/run_guest.sh" "$NFS_PORT" "/$bucket" "$here/write_guest.sh" >"$out_b" 2>&1 &
guest_b=$!
BFS_PIDS+=("$guest_a" "$guest_b")

rc_b=0
wait "$guest_b" || rc_b=$?
check "second client's checkpoint loop (rc=$rc_b)" test "$rc_b" = 0
steps_ok=1
if wait_sync uploaded "$out_a" 1200; then
  check "every write reached S3 (journal drained)" drained 300
  grep -h -E '^(SUM|VERSION) ' "$out_a" "$out_b" | tr -d '\r' >"$BFS_TMP/sums.txt"
  check "the bucket holds what the clients wrote" python3 - "$MOTO_URL" "$bucket" \
    "$BFS_TMP/sums.txt" <<'PY'
import hashlib, sys, boto3
url, bucket, sums = sys.argv[1:4]
s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="test",
                  aws_secret_access_key="test")
keys = {}
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
    for o in page.get("Contents", []):
        keys[o["Key"]] = o
def body(k): return s3.get_object(Bucket=bucket, Key=k)["Body"].read()
def meta(k): return s3.head_object(Bucket=bucket, Key=k)["Metadata"]
bad = []
def want(cond, what):
    if not cond: bad.append(what)
versions = set()
for line in open(sums):
    kind, *rest = line.split()
    if kind == "SUM":
        name, sha = rest
        want(name in keys and hashlib.sha256(body(name)).hexdigest() == sha, f"{name} content")
    else:
        versions.add(rest[0])
want("ck/model.pt" in keys and hashlib.sha256(body("ck/model.pt")).hexdigest() in versions,
     "ck/model.pt is one complete checkpoint version")
want(not [k for k in keys if k.startswith("ck/model.pt.tmp")], "no checkpoint temp names left")
moved = [k for k in keys if k.startswith("moved/") and k != "moved/"]
want(len(moved) == 1000, f"moved/ holds 1000 files ({len(moved)})")
want(not [k for k in keys if k.startswith("many/")], "nothing left under many/")
want(body("moved/f123") == b"file 123\n", "moved/f123 content")
m = meta("attrs.txt")
want(m.get("mode") == str(0o100640) and m.get("uid") == "1000" and m.get("gid") == "1001" and
     m.get("mtime", "").split(".")[0] == "1612325106", f"attrs.txt metadata {m}")
want(meta("link.to.page").get("mode") == str(0o120777) and body("link.to.page") == b"sizes.page",
     "symlink stored as s3fs does")
want(body("hard.a") == body("hard.b") == b"linked\nmore\n", "both hard link keys hold the file")
want("emptydir/" in keys and "emptydir/sub/" not in keys, "mkdir marker, rmdir removed its marker")
want("gone.txt" not in keys, "removed file deleted")
left = [k for k in keys if k.startswith("race/") and k != "race/"]
want(not left, f"directories removed right after mkdir left no marker ({left[:5]})")
want(meta("sizes.page").get("mode") == str(0o100644), "new file mode 0644")
for b in bad:
    print("     bucket:", b)
sys.exit(1 if bad else 0)
PY
  if command -v s3fs >/dev/null && [[ -w /dev/fuse ]] && command -v fusermount >/dev/null; then
    mnt=$BFS_TMP/s3fs
    mkdir -p "$mnt"
    echo "test:test" >"$BFS_TMP/passwd-s3fs" && chmod 600 "$BFS_TMP/passwd-s3fs"
    if s3fs "$bucket" "$mnt" -o url="$MOTO_URL",use_path_request_style,passwd_file="$BFS_TMP/passwd-s3fs" 2>/dev/null; then
      check "s3fs sees the modes and owners bucketfs wrote" test \
        "$(stat -c '%a %u %g' "$mnt/attrs.txt") $(stat -c %a "$mnt/sizes.page")" = "640 1000 1001 644"
      check "s3fs reads the symlink" test "$(readlink "$mnt/link.to.page")" = sizes.page
      fusermount -u "$mnt" || true
    else
      echo "SKIP s3fs cross-check: s3fs could not mount here"
    fi
  else
    echo "SKIP s3fs cross-check: no s3fs or no usable /dev/fuse on this machine"
  fi
  kill -KILL "$BFS_PID"
  wait "$BFS_PID" 2>/dev/null || true
  start_bucketfs "${serve_args[@]}"
  echo "== gateway killed (-9) and restarted (pid $BFS_PID)"
  s3 put control/restarted yes
else
  steps_ok=0
fi
rc_a=0
wait "$guest_a" || rc_a=$?
grep -h -E '^(ok|FAIL|GUEST|SYNC|kclient)' "$out_a" "$out_b" || true
check "kernel client: the write workload (rc=$rc_a)" test "$steps_ok$rc_a" = 10
check "bucketfs still running" kill -0 "$BFS_PID"
if ((CHECKS_FAILED)); then
  echo "--- guest a (tail)"; tail -30 "$out_a"
  echo "--- bucketfs log (tail)"; tail -40 "$BFS_TMP/bucketfs.log"
  echo "write_test: $CHECKS_FAILED check(s) failed"
  exit 1
fi
echo "write_test: all checks passed"
