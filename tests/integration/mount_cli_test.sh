#!/usr/bin/env bash
# `bucketfs mount create|list|delete` against a running gateway (moto_server as S3): the error
# paths with their messages (no gateway, missing bucket, rejected credentials, unreachable
# endpoint, a protocol other than nfs, a duplicate name, a delete while uploads are pending, an
# unknown export), an export created at runtime mounted by the Linux kernel client (under qemu)
# without a restart, per-export metadata TTLs, `mount delete --force` letting the pending upload
# finish, and exports made with `mount create` still there after a restart.
# Usage: mount_cli_test.sh BUCKETFS_BINARY
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
BUCKETFS=$1
s3() { python3 "$here/s3_put.py" "$MOTO_URL" "$@"; }

# expect_cli_failure NAME PATTERN ARGS... — `bucketfs ARGS` must exit non-zero with one stderr line
# matching PATTERN (an extended regex).
expect_cli_failure() {
  local name=$1 pattern=$2
  shift 2
  local out rc=0
  out=$(timeout 150 "$BUCKETFS" "$@" 2>&1 >/dev/null) || rc=$?
  echo "     $name: exit $rc: $out"
  check "$name" bash -c "[[ $rc -ne 0 && $rc -ne 124 && \$(wc -l <<<\"\$1\") -eq 1 ]] && grep -qE \"\$2\" <<<\"\$1\"" _ "$out" "$pattern"
}

# expect_output NAME PATTERN ARGS... — `bucketfs ARGS` must exit 0 with a stdout line matching.
expect_output() {
  local name=$1 pattern=$2
  shift 2
  local out rc=0
  out=$(timeout 150 "$BUCKETFS" "$@" 2>&1) || rc=$?
  echo "     $name: exit $rc: $(head -c 2000 <<<"$out")"
  check "$name" bash -c "[[ $rc -eq 0 ]] && grep -qE \"\$2\" <<<\"\$1\"" _ "$out" "$pattern"
}

wait_socket() {  # wait_socket PATH — until the gateway's admin socket exists
  local deadline=$((SECONDS + 10))
  until [[ -S $1 ]]; do
    ((SECONDS < deadline)) || { echo "no admin socket at $1" >&2; return 1; }
    sleep 0.1
  done
}

# until_true SECONDS COMMAND... — until COMMAND succeeds (bounded).
until_true() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}

start_moto
s3 base-data mkbucket
s3 base-data put base.txt base
s3 fresh-data mkbucket
s3 fresh-data put hello.txt "hello from a live export"
s3 fresh-data put docs/readme.txt nested
s3 quick-data mkbucket
s3 quick-data put before.txt before

STATE=$BFS_TMP/state
SOCK=$STATE/admin.sock
mount_() { "$BUCKETFS" mount "$@" --state-dir "$STATE"; }

# --- No gateway ----------------------------------------------------------------------------------
for sub in "list" "create --bucket fresh-data" "delete fresh"; do
  # shellcheck disable=SC2086
  expect_cli_failure "mount $sub without a gateway" \
    "^bucketfs: error: cannot reach the gateway at $SOCK \(is .bucketfs serve. running\?\): No such file or directory$" \
    mount $sub --state-dir "$STATE"
done

# A long metadata TTL for the gateway (and so for exports that give none), uploads held back so
# that written files stay pending, a short lease (the grace period after the restart is one lease).
serve_args=(--bucket base-data --endpoint "$MOTO_URL" --region us-east-1 --metadata-ttl 3600
  --upload-delay 600000 --lease 10)
start_bucketfs "${serve_args[@]}"
wait_socket "$SOCK"
echo "== bucketfs on 127.0.0.1:$NFS_PORT"

# --- Errors of `mount create` --------------------------------------------------------------------
expect_cli_failure "create: missing bucket" \
  "^bucketfs: error: export /absent-data not created: bucket 'absent-data' does not exist" \
  mount create --bucket absent-data --state-dir "$STATE"
# moto checks access keys once INITIAL_NO_AUTH_ACTION_COUNT=0: unknown keys are rejected.
AUTH_PORT=$(free_port)
INITIAL_NO_AUTH_ACTION_COUNT=0 moto_server -H 127.0.0.1 -p "$AUTH_PORT" >"$BFS_TMP/moto-auth.log" 2>&1 &
BFS_PIDS+=($!)
wait_port "$AUTH_PORT" 30
expect_cli_failure "create: rejected credentials" \
  "^bucketfs: error: export /fresh-data not created: .*credentials rejected" \
  mount create --bucket fresh-data --endpoint "http://127.0.0.1:$AUTH_PORT" --state-dir "$STATE"
expect_cli_failure "create: unreachable endpoint" \
  "^bucketfs: error: export /fresh-data not created: .*cannot connect to 127.0.0.1:1" \
  mount create --bucket fresh-data --endpoint http://127.0.0.1:1 --state-dir "$STATE"
expect_cli_failure "create: endpoint that is not a URL" \
  "^bucketfs: error: endpoint 'ftp://x' must start with http:// or https://$" \
  mount create --bucket fresh-data --endpoint ftp://x --state-dir "$STATE"
expect_cli_failure "create: protocol other than nfs" \
  "^bucketfs: error: --protocol smb is not supported: bucketfs serves NFS only \(--protocol nfs\)$" \
  mount create --bucket fresh-data --protocol smb --state-dir "$STATE"
expect_cli_failure "create: bad bucket name" "^bucketfs: error: 'Bad Bucket' is not a valid bucket name$" \
  mount create --bucket "Bad Bucket" --state-dir "$STATE"
expect_cli_failure "create: name taken by a configured export" \
  "^bucketfs: error: export /base-data already exists \(bucket 'base-data'\); choose another --name$" \
  mount create --bucket fresh-data --name base-data --state-dir "$STATE"

# --- `mount create` and a kernel client, no restart ----------------------------------------------
expect_output "create prints the mount command" \
  "^sudo mount -t nfs4 -o vers=4.1,port=$NFS_PORT 127.0.0.1:/fresh /mnt/fresh$" \
  mount create --bucket fresh-data --name fresh --state-dir "$STATE"
expect_cli_failure "create: duplicate export" \
  "^bucketfs: error: export /fresh already exists \(bucket 'fresh-data'\); choose another --name$" \
  mount create --bucket quick-data --name fresh --state-dir "$STATE"
check "the saved list holds the new export" python3 - "$STATE/exports.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert [e["name"] for e in d["exports"]] == ["fresh"], d
assert d["exports"][0]["bucket"] == "fresh-data" and not d["exports"][0]["draining"], d
PY

guest_out=$BFS_TMP/guest.out
guest_rc=0
"$here/../kclient/run_guest.sh" "$NFS_PORT" /fresh "$here/mount_guest.sh" >"$guest_out" 2>&1 || guest_rc=$?
grep -E '^(ok|FAIL|GUEST|kclient)' "$guest_out" || true
check "kernel client mounts and reads the export made at runtime (rc=$guest_rc)" test "$guest_rc" = 0

# --- Per-export metadata TTL ---------------------------------------------------------------------
expect_output "create with its own metadata TTL" "^sudo mount .*:/quick /mnt/quick$" \
  mount create --bucket quick-data --name quick --metadata-ttl 0 --state-dir "$STATE"
nfs_ls() { nfs-ls "nfs://127.0.0.1/$1/?version=4&nfsport=$NFS_PORT" | awk '{print $NF}' | sort | tr '\n' ' '; }
check "quick lists its bucket" test "$(nfs_ls quick)" = "before.txt "
check "fresh lists its bucket" test "$(nfs_ls fresh)" = "docs guest.txt hello.txt "
s3 quick-data put behind.txt x
s3 fresh-data put behind.txt x
check "TTL 0: an object put behind the gateway is listed at once" \
  test "$(nfs_ls quick)" = "before.txt behind.txt "
check "the gateway's TTL (3600 s): it is not, yet" test "$(nfs_ls fresh)" = "docs guest.txt hello.txt "

# --- `mount list` --------------------------------------------------------------------------------
expect_output "list: the table header" "^NAME +BUCKET +PREFIX +ENDPOINT +RO +TTL +CREATED BY +STATE +PENDING$" \
  mount list --state-dir "$STATE"
expect_output "list: a configured export" \
  "^/base-data +base-data +- +http://127.0.0.1:$MOTO_PORT +no +3600s +config +serving +0$" \
  mount list --state-dir "$STATE"
expect_output "list: the guest's write is pending on /fresh" \
  "^/fresh +fresh-data +- +http://127.0.0.1:$MOTO_PORT +no +3600s +mount create +serving +1 \(21 B staged\)$" \
  mount list --state-dir "$STATE"
expect_output "list: /quick with its TTL" "^/quick +quick-data +- +.* +0s +mount create +serving +0$" \
  mount list --state-dir "$STATE"
expect_output "list: NFS clients and cache use" "^block cache: .* of 1.0 GiB in memory" \
  mount list --state-dir "$STATE"
check "list --json: the raw document" bash -c "\"\$0\" mount list --json --state-dir \"\$1\" | python3 -c '
import json, sys
d = json.load(sys.stdin)
by = {e[\"name\"]: e for e in d[\"exports\"]}
assert set(by) == {\"base-data\", \"fresh\", \"quick\"}, by
assert by[\"fresh\"][\"pending_changes\"] == 1 and by[\"fresh\"][\"staged_bytes\"] == 21, by[\"fresh\"]
assert by[\"quick\"][\"metadata_ttl_seconds\"] == 0 and by[\"quick\"][\"created_by\"] == \"cli\"
assert by[\"base-data\"][\"created_by\"] == \"config\"
assert by[\"fresh\"][\"endpoint\"] == \"$MOTO_URL\" and by[\"fresh\"][\"region\"] == \"us-east-1\"
assert \"clients\" in d[\"nfs\"] and \"sessions\" in d[\"nfs\"], d
assert d[\"cache\"][\"memory_limit_bytes\"] == 1 << 30, d
'" "$BUCKETFS" "$STATE"

# --- `mount delete` ------------------------------------------------------------------------------
expect_cli_failure "delete: refused while uploads are pending" \
  "^bucketfs: error: export /fresh has 1 changes not yet uploaded to the bucket \(21 bytes staged in 1 files\); retry once .bucketfs mount list. shows none pending, or use --force" \
  mount delete fresh --state-dir "$STATE"
expect_cli_failure "delete: unknown export" "^bucketfs: error: no export named nosuch$" \
  mount delete nosuch --state-dir "$STATE"
expect_output "delete --force: removed, the upload goes on" \
  "^export /fresh deleted; its 1 pending changes keep uploading in the background" \
  mount delete /fresh --force --state-dir "$STATE"
check "the pending upload reaches the bucket" until_true 60 python3 -c '
import sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1")
body = s3.get_object(Bucket="fresh-data", Key="guest.txt")["Body"].read()
sys.exit(body != b"written by the guest\n")' "$MOTO_URL"
gone_from_list() { ! mount_ list --json | grep -q '"name":"fresh"'; }
check "once drained, the export is gone from the list" until_true 30 gone_from_list
check "and from the saved list" until_true 10 bash -c "! grep -q '\"fresh\"' '$STATE/exports.json'"
check "clients no longer find it" bash -c "! nfs-ls 'nfs://127.0.0.1/fresh/?version=4&nfsport=$NFS_PORT' >/dev/null 2>&1"
expect_output "delete: a configured export comes back at the next start" \
  "^export /base-data removed from the running gateway; it is configured \(serve --bucket or the config file\), so it comes back at the next start$" \
  mount delete base-data --state-dir "$STATE"

# --- Saved exports survive a restart -------------------------------------------------------------
expect_output "create a read-only export of a prefix" "^sudo mount .*:/keep /mnt/keep$" \
  mount create --bucket fresh-data --name keep --prefix docs --read-only --state-dir "$STATE"
kill -TERM "$BFS_PID"
wait "$BFS_PID" 2>/dev/null || true
start_bucketfs "${serve_args[@]}"
wait_socket "$SOCK"
expect_output "after a restart: the configured export is back" "^/base-data +base-data +.* +config +serving" \
  mount list --state-dir "$STATE"
expect_output "after a restart: the saved export is back" \
  "^/keep +fresh-data +docs/ +http://127.0.0.1:$MOTO_PORT +yes +3600s +mount create +serving +0$" \
  mount list --state-dir "$STATE"
expect_output "after a restart: /quick keeps its TTL" "^/quick +quick-data +- +.* +0s +mount create" \
  mount list --state-dir "$STATE"
check "after a restart: the deleted export stays deleted" bash -c "! \"\$0\" mount list --state-dir \"\$1\" | grep -q '^/fresh '" "$BUCKETFS" "$STATE"
read_keep() { [[ $(nfs-cat "nfs://127.0.0.1/keep/readme.txt?version=4&nfsport=$NFS_PORT" 2>/dev/null) == nested ]]; }
check "after a restart: a file of the saved export reads over NFS (after the grace period)" \
  until_true 60 read_keep
check "the gateway logged the saved exports" grep -q "exporting s3://fresh-data/docs/ as /keep (added with .bucketfs mount create.)" "$BFS_TMP/bucketfs.log"

echo "$CHECKS_FAILED checks failed"
exit $((CHECKS_FAILED > 0))
