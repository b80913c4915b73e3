# Runs inside the kernel-client guest (busybox sh), cwd = the mounted export. Reads slices of
# big.bin with O_DIRECT (so every read reaches the gateway instead of the guest's page cache) at
# the offsets and sizes listed in /bin/cases-*.txt ("OFFSET COUNT SHA256" per line) and compares.
# Talks to cache_test.sh through "SYNC <step>" lines.
fail=0
ck() {
  name=$1
  shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fail=$((fail + 1)); fi
}
slices() {  # CASES-FILE: prints the number of mismatching slices
  bad=0
  while read -r off n sum; do
    got=$(dd if=big.bin iflag=direct,skip_bytes,count_bytes skip="$off" count="$n" bs=4194304 \
      2>/dev/null | sha256sum | cut -d' ' -f1)
    if [ "$got" != "$sum" ]; then
      bad=$((bad + 1))
      echo "     slice $off+$n: got $got want $sum"
    fi
  done <"$1"
  echo "$bad"
}

ck "random slices across block boundaries and EOF (cold)" test "$(slices /bin/cases-old.txt | tail -1)" = 0
ck "the same slices again (from the cache)" test "$(slices /bin/cases-old.txt | tail -1)" = 0
echo "SYNC replace"
sleep 6  # the host replaces big.bin through S3 (same size, other bytes); TTL 1 s
ck "after a replacement in S3: only the new bytes" test "$(slices /bin/cases-new.txt | tail -1)" = 0
echo "SYNC restart"
sleep 6  # the host restarts the gateway on the same state directory
ck "after a restart: the disk tier serves the same bytes" test "$(slices /bin/cases-new.txt | tail -1)" = 0
exit $fail
