#!/bin/sh
# Every scheduler and the SIP persistence engine the kernel ships can be used
# (proves the test bed loaded them: the VM has no modprobe to autoload).
set -u
fail=0
port=1
for s in rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh twos; do
    if [ "$s" = twos ] && [ ! -d /sys/module/ip_vs_twos ]; then
        echo "skip twos: not in kernel $KERNEL_RELEASE"
        continue
    fi
    port=$((port + 1))
    if ! "$REF_IPVSADM" -A -t "10.0.0.1:$port" -s "$s"; then
        echo "FAIL: scheduler $s"
        fail=1
    fi
done
"$REF_IPVSADM" -A -u 10.0.0.1:5060 -p 60 --pe sip || fail=1
"$REF_IPVSADM" -Ln
exit "$fail"
