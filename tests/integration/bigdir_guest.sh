# Runs inside the kernel-client guest: a 100,000-key directory lists completely, in the same order
# every time, and matches the names the host wrote (/bin/bigdir.names, sorted). Listed with
# listdir (guest_tools), which only reads the directory: find and ls stat every entry, and 100,000
# GETATTRs through the emulated guest take far longer than the listing itself.
fail=0
ck() {
  name=$1
  shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fail=$((fail + 1)); fi
}
listdir huge >/tmp/first
ck "100,000 entries listed" test "$(wc -l </tmp/first)" -eq 100000
ck "listing matches the bucket's keys" sh -c 'sort /tmp/first | cmp - /bin/bigdir.names'
# The second listing comes from the gateway again, not from the client's page cache.
sync
echo 3 >/proc/sys/vm/drop_caches
listdir huge >/tmp/second
ck "second listing (after dropping the client's caches) in the same order" cmp /tmp/first /tmp/second
ck "an entry deep in the listing resolves" test "$(cat huge/k099999)" = "99999"
exit $fail
