#!/bin/sh
# PID 1 of the ipvsadm-rs test-bed VM (built by `cargo xtask`, see
# docs/testing.md). Mounts the basics, then does what /testbed/mode says and
# powers the VM off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/netns
mount -t tmpfs -o mode=1777 tmpfs /tmp
hostname testbed
/sbin/ip link set lo up
cd /

case "$(cat /testbed/mode)" in
agent)
    # Results travel on ttyS1 as protocol lines; raw mode keeps them intact.
    stty -F /dev/ttyS1 raw -echo 2>/dev/null
    /testbed/agent agent --report /dev/ttyS1 || echo "testbed: agent failed: $?"
    ;;
shell)
    /testbed/agent load-modules
    echo "testbed: $(uname -r); IPVS modules loaded. Exit the shell to power off."
    setsid cttyhack /bin/bash
    ;;
command)
    /testbed/agent load-modules
    /bin/sh /testbed/command
    rc=$?
    echo "testbed: exit status $rc"
    stty -F /dev/ttyS1 raw -echo 2>/dev/null
    echo "TB:EXIT $rc" >/dev/ttyS1
    ;;
esac
sync
poweroff -f
