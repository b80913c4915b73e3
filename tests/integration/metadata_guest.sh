# Runs inside the kernel-client guest (busybox sh), cwd = the mounted export, mounted with
# actimeo=1 so that the client's own attribute cache adds at most a second to the gateway's TTL.
# Talks to metadata_test.sh on the host through "SYNC <step>" lines on the console: the host acts
# on each, the guest waits long enough for it.
fail=0
ck() {
  name=$1
  shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fail=$((fail + 1)); fi
}

# Handles survive a restart: a file held open, part read before and the rest after.
ls -liR tree >/tmp/tree.before 2>&1
exec 3<big.bin
dd bs=1048576 count=2 <&3 >/tmp/big.head 2>/dev/null
echo "SYNC restart"
sleep 4  # the host kills the gateway (SIGKILL) and starts it again on the same state directory
dd bs=1048576 <&3 >/tmp/big.tail 2>/dev/null
exec 3<&-
ck "file held open across a gateway restart reads every byte" \
  sh -c 'cat /tmp/big.head /tmp/big.tail | sha256sum | cut -d" " -f1 | grep -qx "$(cut -d" " -f1 /bin/big.sha256)"'
ls -liR tree >/tmp/tree.after 2>&1
ck "directory tree (names, inode numbers, times) identical after the restart" \
  sh -c "cmp /tmp/tree.before /tmp/tree.after || diff /tmp/tree.before /tmp/tree.after"
ck "no stale handles after the restart" sh -c '! grep -qi stale /tmp/tree.after'

# Changes made through S3 behind the gateway's back.
ck "before: replace.txt" test "$(cat change/replace.txt)" = "old1"
ck "before: delete.txt" test "$(cat change/delete.txt)" = "doomed"
ck "before: listing" test "$(ls change | tr '\n' ' ')" = "delete.txt keep.txt replace.txt "
# within SECONDS: retries COMMAND every half second until it succeeds (bounded).
within() {
  limit=$(($1 * 2))
  shift
  n=0
  until "$@"; do
    n=$((n + 1))
    [ $n -ge $limit ] && return 1
    sleep 0.5
  done
}
echo "SYNC mutate"
sleep 6  # the host adds, replaces (same size) and deletes objects; TTL 2 s + actimeo 1 s
ck "added object appears" test "$(cat change/added.txt)" = "brand new"
# With read delegations on (`--delegations`) the client trusts its cache until the gateway's
# check of delegated files (once per TTL) recalls them, so these two may take a few seconds more
# than the TTL (bounded at 30 s).
ck "same-size replacement is seen (change attribute)" \
  within 30 sh -c 'test "$(cat change/replace.txt)" = new1'
ck "deleted object is gone" within 30 sh -c '! cat change/delete.txt 2>/dev/null'
ck "listing after the changes" test "$(ls change | tr '\n' ' ')" = "added.txt keep.txt replace.txt "
ck "untouched object unchanged" test "$(cat change/keep.txt)" = "keep"
exit $fail
