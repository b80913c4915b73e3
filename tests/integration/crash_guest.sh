# Runs inside the kernel-client guest (busybox sh), cwd = the mounted export, while the host
# kill -9s and restarts the gateway over and over (crash_test.sh). Each round writes a file under a
# temporary name, fsyncs it, renames it into place and only then acknowledges it ("ACKED NAME
# SHA256" on the console and in /tmp/acked): a round that fails is simply not acknowledged.
# Stops when the host puts control/stop (or after 15 minutes), then checks through NFS that every
# acknowledged file is there with its bytes and that no acknowledged rename is half-visible.
sum() { sha256sum "$1" | cut -d' ' -f1; }
mkdir -p work
: >/tmp/acked
i=0
start=$(date +%s)
while [ ! -e control/stop ] && [ $(($(date +%s) - start)) -lt 900 ]; do
  tmp=work/w$i.tmp
  if dd if=/dev/urandom of="$tmp" bs=4096 count=$((16 + i % 48)) conv=fsync 2>/dev/null &&
    s=$(sum "$tmp") && mv "$tmp" "work/w$i" 2>/dev/null; then
    echo "ACKED w$i $s"
    echo "w$i $s" >>/tmp/acked
  else
    echo "round $i failed"
  fi
  i=$((i + 1))
done
echo "SYNC stopped"
echo 3 >/proc/sys/vm/drop_caches
bad=0
n=0
while read -r name s; do
  n=$((n + 1))
  if [ "$(sum "work/$name" 2>/dev/null)" != "$s" ]; then
    echo "FAIL acknowledged $name lost or wrong"
    bad=$((bad + 1))
  fi
  if [ -e "work/$name.tmp" ]; then
    echo "FAIL $name visible under both names"
    bad=$((bad + 1))
  fi
done </tmp/acked
echo "GUEST checked $n acknowledged files, $bad bad, $i rounds"
[ "$n" -gt 0 ] && [ "$bad" = 0 ]
