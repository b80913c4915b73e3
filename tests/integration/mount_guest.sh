# Runs inside the kernel-client guest (busybox sh), cwd = an export added with `bucketfs mount
# create` while the gateway was running (mount_cli_test.sh).
fail=0
ck() {
  name=$1
  shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fail=$((fail + 1)); fi
}
ck "the new export lists its bucket" test "$(ls | tr '\n' ' ')" = "docs hello.txt "
ck "a file of the new bucket reads back" test "$(cat hello.txt)" = "hello from a live export"
ck "a nested file reads back" test "$(cat docs/readme.txt)" = "nested"
ck "the export is writable" sh -c 'echo written by the guest >guest.txt && sync && test "$(cat guest.txt)" = "written by the guest"'
exit $fail
