# Runs inside the kernel-client guest (busybox sh), cwd = the mounted export: two full walks of
# the tree, each `ls -lR` (READDIR of every directory, a stat of every entry). Talks to run.sh on
# the host through "SYNC <step>" lines; after each it waits for the host to read the S3 counters.
now() { cut -d' ' -f1 /proc/uptime; }
echo "SYNC mounted"
sleep 3
for walk in 1 2; do
  start=$(now)
  files=$(ls -lR . | grep -c '^-')
  end=$(now)
  echo "WALK $walk files=$files seconds=$(echo "$end $start" | awk '{printf "%.2f", $1 - $2}')"
  echo "SYNC walk$walk"
  sleep 3
done
