# Runs inside the kernel-client guest: a 100,000-key directory lists completely, in the same order
# every time, and matches the names the host wrote (/bin/bigdir.names, sorted).
fail=0
ck() {
  name=$1
  shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fail=$((fail + 1)); fi
}
# busybox find prints entries in READDIR order (busybox ls always sorts).
find huge -mindepth 1 -maxdepth 1 | sed 's|^huge/||' >/tmp/first
ck "100,000 entries listed" test "$(wc -l </tmp/first)" -eq 100000
ck "listing matches the bucket's keys" sh -c 'sort /tmp/first | cmp - /bin/bigdir.names'
find huge -mindepth 1 -maxdepth 1 | sed 's|^huge/||' >/tmp/second
ck "second listing in the same order" cmp /tmp/first /tmp/second
ck "an entry deep in the listing resolves" test "$(cat huge/k099999)" = "99999"
exit $fail
