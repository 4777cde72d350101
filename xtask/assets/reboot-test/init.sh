#!/bin/busybox sh
# PID 1 of the reboot test's initramfs (cargo xtask reboot-test): loads the
# disk and file system drivers the Debian kernel has as modules, mounts the
# Debian 12 image on /dev/vda and hands over to its systemd.
bb=/bin/busybox
$bb mkdir -p /proc /sys /dev /newroot
$bb mount -t proc proc /proc
$bb mount -t sysfs sysfs /sys
$bb mount -t devtmpfs devtmpfs /dev
exec >/dev/ttyS0 2>&1
for m in $($bb cat /modules.list); do
    $bb insmod "/modules/$m.ko" || echo "initramfs: insmod $m failed"
done
n=0
while [ ! -b /dev/vda ] && [ $n -lt 100 ]; do
    $bb sleep 0.1
    n=$((n + 1))
done
if ! $bb mount -t ext4 -o rw /dev/vda /newroot; then
    echo "initramfs: cannot mount /dev/vda"
    $bb poweroff -f
fi
for d in dev proc sys; do
    $bb mount --move "/$d" "/newroot/$d"
done
exec $bb switch_root /newroot /sbin/init
