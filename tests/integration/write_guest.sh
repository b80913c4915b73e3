# Runs inside a kernel-client guest (busybox sh), cwd = the mounted export. The write path through
# the real Linux NFS client. Role "a" runs everything; role "b" (a second guest mounted with
# vers=4.0, a second NFS client) only runs the checkpoint loop at the same time as "a". Prints "SUM
# NAME SHA256" for the host to compare with the objects in S3, "VERSION SHA256" for every checkpoint
# version written, and talks to write_test.sh through "SYNC <step>" lines.
fail=0
ck() {
  name=$1
  shift
  if "$@"; then echo "ok   $name"; else echo "FAIL $name"; fail=$((fail + 1)); return 1; fi
}
sum() { sha256sum "$1" | cut -d' ' -f1; }
dropcaches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# Write-temp-then-rename, as checkpointing code does: every version is complete when it appears.
checkpoints() {
  i=0
  while [ $i -lt 20 ]; do
    tmp=model.pt.tmp.$KCLIENT_ROLE.$i
    dd if=/dev/urandom of="$tmp" bs=65536 count=$((1 + i % 5)) 2>/dev/null
    echo "VERSION $(sum "$tmp")"
    sync "$tmp" 2>/dev/null || sync
    mv "$tmp" model.pt
    # Whatever name model.pt has now, it is one complete version (checked by the host).
    [ -s model.pt ] || echo "FAIL model.pt empty after rename $i"
    i=$((i + 1))
  done
}

if [ "$KCLIENT_ROLE" = b ]; then
  mkdir -p ck && cd ck && checkpoints
  exit 0
fi

mkdir -p ck && cd ck && checkpoints && cd ..

# Files of several sizes, read back after dropping the client's caches.
for spec in zero:0 one:1 page:4096 mibplus:1048577 twenty:20971520; do
  name=${spec%%:*}
  size=${spec#*:}
  head -c "$size" /dev/urandom >"sizes.$name"
done
for f in sizes.*; do eval "want_$(echo "$f" | tr . _)=$(sum "$f")"; done
dropcaches
for f in sizes.*; do
  want=$(eval echo "\$want_$(echo "$f" | tr . _)")
  ck "$f reads back" test "$(sum "$f")" = "$want"
  echo "SUM $f $want"
done

# Rename of a directory holding 1,000 files.
mkdir many
i=0
while [ $i -lt 1000 ]; do
  echo "file $i" >"many/f$i"
  i=$((i + 1))
done
mv many moved
ck "renamed directory lists 1,000 names" test "$(ls moved | wc -l)" = 1000
ck "old directory name is gone" sh -c '! ls many >/dev/null 2>&1'
ck "a file in the renamed directory" test "$(cat moved/f777)" = "file 777"

# Append.
for word in one two three; do echo "$word" >>appended; done
ck "append" test "$(cat appended | tr '\n' ' ')" = "one two three "
echo "SUM appended $(sum appended)"

# Random 4 KiB overwrites in a 64 MiB file, mirrored into a reference copy in guest memory.
dd if=/dev/urandom of=r64 bs=1048576 count=64 2>/dev/null
cp r64 /tmp/ref64
n=0
while [ $n -lt 200 ]; do
  blk=$(( $(od -An -N2 -tu2 /dev/urandom) % 16384 ))
  dd if=/dev/urandom of=/tmp/blk bs=4096 count=1 2>/dev/null
  dd if=/tmp/blk of=r64 bs=4096 seek=$blk count=1 conv=notrunc 2>/dev/null
  dd if=/tmp/blk of=/tmp/ref64 bs=4096 seek=$blk count=1 conv=notrunc 2>/dev/null
  n=$((n + 1))
done
dropcaches
ck "64 MiB file after 200 random 4 KiB overwrites" test "$(sum r64)" = "$(sum /tmp/ref64)" ||
  { echo "r64 differs (offset, ours, expected; first 5):"; cmp -l r64 /tmp/ref64 | head -5
    echo "r64 size $(stat -c %s r64)"; sleep 2; echo "r64 re-read now $(cmp r64 /tmp/ref64 && echo same)"; }
r64_sum=$(sum /tmp/ref64)
echo "SUM r64 $r64_sum"
rm -f /tmp/ref64

# Attributes, symlinks, directories, hard links.
echo attrs >attrs.txt
chmod 640 attrs.txt
chown 1000:1001 attrs.txt
touch -d "2021-02-03 04:05:06" attrs.txt
ck "chmod/chown/utimes seen by stat" test "$(stat -c '%a %u %g %Y' attrs.txt)" = "640 1000 1001 1612325106"
ln -s sizes.page link.to.page
ck "symlink" test "$(readlink link.to.page)" = sizes.page
ck "read through the symlink" test "$(sum link.to.page)" = "$(sum sizes.page)"
mkdir -p emptydir/sub && rmdir emptydir/sub
ck "rmdir" test ! -e emptydir/sub
echo linked >hard.a
ln hard.a hard.b
ck "hard link count" test "$(stat -c %h hard.a)" = 2
echo more >>hard.b
ck "hard link: one file, two names" test "$(cat hard.a | tr '\n' ' ')" = "linked more "
ck "hard link: same inode" test "$(stat -c %i hard.a)" = "$(stat -c %i hard.b)"
echo "SUM hard.a $(sum hard.a)"
echo scratch >gone.txt && rm gone.txt
ck "rm" test ! -e gone.txt
ck "rmdir of a non-empty directory fails" sh -c '! rmdir moved 2>/dev/null'
# rmdir right after mkdir (and chmod), while the directory's marker PUT is still in flight: the
# marker must not stay behind in the bucket (the directory came back after a re-listing).
mkdir race
i=0
while [ $i -lt 20 ]; do
  mkdir race/d$i && rmdir race/d$i
  mkdir race/m$i && chmod 700 race/m$i && rmdir race/m$i
  i=$((i + 1))
done
ck "mkdir/rmdir in a loop leaves no directory" test -z "$(ls race)"
cp sizes.mibplus copied.bin
ck "cp (NFS COPY where the client uses it)" test "$(sum copied.bin)" = "$(sum sizes.mibplus)"
echo "SUM copied.bin $(sum copied.bin)"

sync
echo "SYNC uploaded"
# The host waits until everything is in S3, checks the bucket, kill -9s the gateway and restarts
# it on the same state directory, then puts the object control/restarted through S3.
waited=0
until [ -e control/restarted ] || [ $waited -ge 300 ]; do
  sleep 2
  waited=$((waited + 2))
done
ck "host restarted the gateway" test -e control/restarted
dropcaches
ck "after a restart: 20 MiB file" test "$(sum sizes.twenty)" = "$want_sizes_twenty"
ck "after a restart: 64 MiB file" test "$(sum r64)" = "$r64_sum"
ck "after a restart: renamed directory" test "$(ls moved | wc -l)" = 1000
ck "after a restart: attributes" test "$(stat -c '%a %u %g %Y' attrs.txt)" = "640 1000 1001 1612325106"
ck "after a restart: hard link" test "$(stat -c %h hard.b)" = 2
echo more >>appended
ck "after a restart: writes work" test "$(tail -1 appended)" = more
exit $fail
