# Runs inside the kernel-client guest (busybox sh), cwd = the mounted export. Verifies the tree that
# fill_bucket.py wrote; the expected files were copied into /bin by the harness.
fail=0
ck() {
  name=$1
  shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fail=$((fail + 1)); fi
}
sums_ok() {
  sha256sum -c "$1" >/tmp/sum.out 2>&1 && return 0
  grep -v ': OK$' /tmp/sum.out | head -5
  return 1
}
ck "ls -lR has no errors" sh -c 'ls -lR . >/tmp/lslR 2>/tmp/lslR.err && ! test -s /tmp/lslR.err'
ck "root listing" test "$(ls | tr '\n' ' ')" = \
  "a bad big clash datasets empty-dir empty.bin meta one.bin sizes with-marker "
ck "checksums of every file but the 10k directory + every 250th there" sums_ok /bin/sample.sha256
ck "10,000-key directory lists every name in order" sh -c 'ls big/10k | cmp - /bin/tenk.names'
ck "64 MiB size" test "$(stat -c %s sizes/big64.bin)" = 67108864
ck "0 B and 1 B sizes" test "$(stat -c %s empty.bin one.bin | tr '\n' ' ')" = "0 1 "
ck "s3fs mode/uid/gid/mtime" test "$(stat -c '%a %u %g %Y %s %F' meta/owned.txt)" = \
  "640 1000 1000 1700000000 6 regular file"
ck "symlink object" test "$(readlink meta/link)" = owned.txt
ck "symlink followed" test "$(cat meta/link)" = owned
ck "directories are directories" test "$(stat -c '%F %a' a/b)" = "directory 755"
ck "keys that cannot be names are hidden" test "$(ls bad)" = ok.txt
ck "a key both file and prefix is a directory" test "$(cat clash/inner.txt)" = inner
ck "empty marker-only directory" sh -c 'test -d empty-dir && test -z "$(ls empty-dir)"'
ck "marker directory" test -f with-marker/inside.txt
ck "read-only export refuses writes" sh -c '! touch newfile 2>/dev/null'
echo "GUEST: $fail failures"
exit $fail
