#!/bin/sh
# Runs in the kernel-client guest (vers=4.1 or 4.0) for tests/integration/deleg_test.sh: opens
# two files of directory $KCLIENT_ROLE for reading (the gateway hands out read delegations),
# tells the host, and after the host has changed one file through NFS (libnfs) and the other in
# the bucket, checks that both reads show the new bytes: the delegations were recalled and
# returned, so no stale cache is served.
d=${KCLIENT_ROLE:-d}
fail=0
ck() {
  name=$1
  shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fail=$((fail + 1)); fi
}
waitfor() {  # waitfor FILE SECONDS; keeps reading both files meanwhile
  n=0
  while [ ! -e "$1" ]; do
    n=$((n + 1))
    [ $n -gt $(($2 * 2)) ] && { echo "FAIL waited $2 s for $1"; return 1; }
    sleep 0.5
    # The client returns delegations it has not used for a while: keep them in use.
    cat $d/nfs.txt $d/s3.txt >/dev/null
    ls control >/dev/null 2>&1
  done
}
ck "first read of $d/nfs.txt" test "$(cat $d/nfs.txt)" = v1
ck "first read of $d/s3.txt" test "$(cat $d/s3.txt)" = s1
# Held open as well: the client must reclaim this open (CLAIM_DELEG_CUR_FH, or CLAIM_DELEGATE_CUR
# for 4.0) when it returns the delegation.
exec 3<$d/nfs.txt
echo "SYNC delegated"
waitfor control/$d 240 || exit 1
ck "open held across the recall still reads" test "$(cat <&3)" = v2
exec 3<&-
ck "$d/nfs.txt after a write by another client" test "$(cat $d/nfs.txt)" = v2
ck "$d/s3.txt after a change in the bucket" test "$(cat $d/s3.txt)" = s2
exit $fail
