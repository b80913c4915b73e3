#!/usr/bin/env bash
# Read path, end to end: moto_server as S3, a bucket filled through S3 by another tool (boto3),
# bucketfs serving it, and two NFS clients nobody here wrote reading every byte and listing:
# the Linux kernel client (vers=4.1 and vers=4.0, under qemu) and libnfs (NFSv4.0).
# Usage: read_path_test.sh BUCKETFS_BINARY
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
BUCKETFS=$1
bucket=read-path

start_moto
echo "== filling s3://$bucket through moto at $MOTO_URL"
python3 "$here/fill_bucket.py" "$MOTO_URL" "$bucket" "$BFS_TMP"
# A second export of the same bucket under a key prefix, as /deep. Served --read-only: the guest
# checks that writes are refused (the write path has its own tests).
start_bucketfs --bucket "$bucket" --bucket "deep=$bucket:a/b" --endpoint "$MOTO_URL" \
  --region us-east-1 --read-only
echo "== bucketfs serving on 127.0.0.1:$NFS_PORT"

kclient() {
  KCLIENT_VERS=$1 \
    KCLIENT_FILES="$BFS_TMP/sample.sha256 $BFS_TMP/tenk.names" \
    "$here/../kclient/run_guest.sh" "$NFS_PORT" "/$bucket" "$here/read_tree_guest.sh"
}
for vers in 4.1 4.0; do
  check "kernel client vers=$vers reads the tree" kclient "$vers"
done

url="nfs://127.0.0.1/$bucket"
q="?version=4&nfsport=$NFS_PORT"
libnfs_sum() {  # libnfs_sum PATH — sha256 of the file read through libnfs (NFSv4.0)
  nfs-cat "$url/$1$q" | sha256sum | cut -d' ' -f1
}
expected_sum() { grep "  $1\$" "$BFS_TMP/expected.sha256" | cut -d' ' -f1; }
for p in empty.bin one.bin sizes/mib-plus-one.bin sizes/big64.bin meta/owned.txt a/b/c/d/deep.txt; do
  check "libnfs nfs-cat $p" test "$(libnfs_sum "$p")" = "$(expected_sum "$p")"
done
libnfs_names() { nfs-ls "$url/$1$q" | awk '{print $NF}' | sort; }
check "libnfs nfs-ls big/10k lists 10,000 names" \
  cmp <(libnfs_names big/10k) <(sort "$BFS_TMP/tenk.names")
check "libnfs nfs-ls root" test "$(libnfs_names "" | tr '\n' ' ')" = \
  "a bad big clash datasets empty-dir empty.bin meta one.bin sizes with-marker "

check "second export /deep serves the key prefix a/b/" test \
  "$(nfs-ls "nfs://127.0.0.1/deep/c/d$q" | awk '{print $NF}')" = deep.txt
check "libnfs reads through the prefixed export" test \
  "$(nfs-cat "nfs://127.0.0.1/deep/c/d/deep.txt$q")" = deep

check "bucketfs still running" kill -0 "$BFS_PID"
echo "$CHECKS_FAILED checks failed"
exit $((CHECKS_FAILED > 0))
