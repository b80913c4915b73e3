#!/usr/bin/env bash
# run_guest.sh PORT EXPORT SCRIPT — mounts the NFS server listening on the host's 127.0.0.1:PORT
# with the real Linux kernel NFS client and runs SCRIPT (busybox sh) inside the mount.
#
# The client is Debian's kernel booted under qemu (software emulation, no KVM needed) with an
# initramfs holding busybox and the NFS modules. Guest networking is qemu's restricted user
# network: the only thing the guest reaches is 10.0.2.100:2049, relayed to the host's
# 127.0.0.1:PORT. The guest announces clientaddr=127.0.0.1 and a callback port forwarded from the
# host's loopback, so NFSv4.0 callbacks also stay on loopback.
#
# Exit status: SCRIPT's; 99 mount failed; 98 nothing listens on PORT; 124 timed out.
# Environment: KCLIENT_VERS (4.2|4.1|4.0|auto, default 4.1), KCLIENT_OPTS (extra mount options),
# KCLIENT_FILES (host files copied into the guest's /bin: static binaries or data files),
# KCLIENT_TIMEOUT (s, default 600), KCLIENT_BOOT_TIMEOUT (s from power-on to the mount, default 240;
# a guest that misses it is booted once more), KCLIENT_MEM (MiB, default 768), KCLIENT_ROLE (passed to
# SCRIPT).
set -euo pipefail
port=$1 export_path=$2 script=$3
vers=${KCLIENT_VERS:-4.1}
here=$(cd "$(dirname "$0")" && pwd)
cache=$("$here/setup.sh")
kver=$(cat "$cache/kver")
moddir=$cache/root/lib/modules/$kver/kernel

if ! timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port" 2>/dev/null; then
  echo "kclient: nothing listens on 127.0.0.1:$port"
  exit 98
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
client_id=${KCLIENT_ROLE:-g}-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
cbport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

root=$work/initramfs
mkdir -p "$root"/{bin,proc,sys,dev,mnt,tmp,lib/modules}
cp /bin/busybox "$root/bin/busybox"
for applet in $(/bin/busybox --list); do
  [[ $applet == busybox ]] || ln -sf busybox "$root/bin/$applet"
done
for f in ${KCLIENT_FILES:-}; do cp "$f" "$root/bin/"; done

# Load order matters: each module after its dependencies.
modules=(
  drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_modern_dev
  drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci net/core/failover
  drivers/net/net_failover drivers/net/virtio_net net/sunrpc/sunrpc fs/nfs_common/grace
  fs/lockd/lockd fs/netfs/netfs fs/fscache/fscache net/dns_resolver/dns_resolver
  fs/nfs_common/nfs_acl fs/nfs/nfs fs/nfs/nfsv4
)
load=""
for m in "${modules[@]}"; do
  cp "$moddir/$m.ko" "$root/lib/modules/"
  load+=" $(basename "$m")"
done
cp "$script" "$root/guest.sh"

server=10.0.2.100
case $vers in
  auto) opts="port=2049" ;;
  *) opts="vers=$vers,port=2049" ;;
esac
[[ -n "${KCLIENT_OPTS:-}" ]] && opts+=",$KCLIENT_OPTS"

cat >"$root/init" <<INIT
#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev; mount -t tmpfs tmp /tmp
hostname "kclient-$client_id"
for m in $load; do
  p=""
  [ "\$m" = nfs ] && p="nfs4_unique_id=$client_id callback_tcpport=$cbport"
  insmod /lib/modules/\$m.ko \$p 2>/dev/null
done
ip link set lo up; ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0; ip route add default via 10.0.2.2
export KCLIENT_ROLE="${KCLIENT_ROLE:-}"
echo "GUEST: mount -t nfs4 -o $opts $server:$export_path /mnt"
if timeout -s KILL 90 mount -t nfs4 -o $opts,addr=$server,clientaddr=127.0.0.1 $server:$export_path /mnt; then
  sh -c 'cd /mnt && exec sh /guest.sh'; rc=\$?
  cd /; for i in 1 2 3 4 5; do umount /mnt 2>/dev/null && break; sleep 1; done
else
  rc=99; echo "GUEST: mount failed"
fi
echo "GUEST-RESULT rc=\$rc"
poweroff -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >"$work/initrd.gz"

# One boot of the guest. Its console streams to stdout as it happens (callers follow it) and to
# console.log. A watchdog kills a guest that has not reached its mount within KCLIENT_BOOT_TIMEOUT
# seconds: under software emulation on a loaded host a boot can wedge (seen: the kernel's crypto
# self-test spinning for 20 minutes), and nothing of SCRIPT has run at that point, so booting again
# is safe.
boot_once() {
  rm -f "$work/qemu.pid" "$work/boot-stuck"
  : >"$work/console.log"
  (
    for ((i = 0; i < ${KCLIENT_BOOT_TIMEOUT:-240}; i++)); do
      sleep 1
      grep -q '^GUEST: mount' "$work/console.log" 2>/dev/null && exit 0
      [[ -s $work/qemu.pid ]] && ! kill -0 "$(cat "$work/qemu.pid")" 2>/dev/null && exit 0
    done
    if [[ -s $work/qemu.pid ]]; then
      touch "$work/boot-stuck"
      kill "$(cat "$work/qemu.pid")" 2>/dev/null
    fi
  ) &
  local watchdog=$!
  set +e
  timeout "${KCLIENT_TIMEOUT:-600}" qemu-system-x86_64 -accel tcg -m "${KCLIENT_MEM:-768}" -smp 2 \
    -nographic -no-reboot -monitor none -serial stdio -pidfile "$work/qemu.pid" \
    -kernel "$cache/root/boot/vmlinuz-$kver" -initrd "$work/initrd.gz" \
    -append "console=ttyS0 quiet panic=-1 cryptomgr.notests" \
    -netdev "user,id=n0,ipv6=off,restrict=on,guestfwd=tcp:$server:2049-cmd:/bin/busybox nc 127.0.0.1 $port,hostfwd=tcp:127.0.0.1:$cbport-:$cbport" \
    -device virtio-net-pci,netdev=n0,romfile= </dev/null 2>&1 |
    stdbuf -oL tr -d '\r' | sed -u -e 's/\x1b\[[0-9;?]*[a-zA-Z]//g' | tee "$work/console.log" |
    grep --line-buffered -v '^c*$'  # line-buffered: callers may follow the console as it happens
  qemu_rc=${PIPESTATUS[0]}
  set -e
  kill "$watchdog" 2>/dev/null || true
  wait "$watchdog" 2>/dev/null || true
}

for attempt in 1 2; do
  boot_once
  [[ -e $work/boot-stuck ]] || break
  echo "kclient: guest did not reach its mount in ${KCLIENT_BOOT_TIMEOUT:-240} s (boot attempt $attempt)"
done
if [[ -e $work/boot-stuck ]]; then
  echo "kclient: guest did not boot"
  exit 124
fi
if [[ $qemu_rc == 124 ]]; then
  echo "kclient: guest timed out"
  exit 124
fi
rc=$(sed -n 's/^GUEST-RESULT rc=\([0-9]*\).*/\1/p' "$work/console.log" | tail -1)
exit "${rc:-1}"
