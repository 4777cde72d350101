#!/bin/sh
# The twos scheduler ("random of two") came with Linux 6.7: the 6.12 kernel
# has it, 6.1 does not (and the VM cannot load modules on demand). Both
# programs must fail alike where it is missing and work alike where it is.
set -u
fail() { echo "FAIL: $*"; exit 1; }
case "$KERNEL_RELEASE" in
6.1.*) have=no ;;
6.12.*) have=yes ;;
*) if [ -d /sys/module/ip_vs_twos ]; then have=yes; else have=no; fi ;;
esac
[ -d /sys/module/ip_vs_twos ] && loaded=yes || loaded=no
[ "$have" = "$loaded" ] || fail "kernel $KERNEL_RELEASE: twos module loaded=$loaded"

for prog in "$REF_IPVSADM" "$IPVSADM_RS"; do
    out=$("$prog" -A -t 10.0.0.1:80 -s twos 2>&1); rc=$?
    if [ "$have" = yes ]; then
        [ "$rc" = 0 ] && [ -z "$out" ] || fail "$prog -s twos: status $rc, output: $out"
        out=$("$prog" -E -t 10.0.0.1:80 -s twos -b flag-1 2>&1) || fail "$prog -E: $out"
        out=$("$prog" -a -t 10.0.0.1:80 -r 10.0.1.1 -m -w 2 2>&1) || fail "$prog -a: $out"
    else
        [ "$rc" = 255 ] || fail "$prog -s twos: status $rc, want 255"
        [ "$out" = "Scheduler or persistence engine not found" ] || fail "$prog -s twos said: $out"
        out=$("$prog" -A -t 10.0.0.1:80 -s rr 2>&1) || fail "$prog -A: $out"
        out=$("$prog" -E -t 10.0.0.1:80 -s twos 2>&1); rc=$?
        [ "$rc" = 255 ] && [ "$out" = "Scheduler or persistence engine not found" ] ||
            fail "$prog -E -s twos: status $rc, output: $out"
    fi
    ref_list=$("$REF_IPVSADM" -L -n; "$REF_IPVSADM" -S -n)
    our_list=$("$IPVSADM_RS" -L -n; "$IPVSADM_RS" -S -n)
    [ "$ref_list" = "$our_list" ] || fail "listings differ:
$ref_list
---
$our_list"
    printf '%s\n' "$our_list"
    "$REF_IPVSADM" -C || fail "-C"
done
echo "ok: twos on $KERNEL_RELEASE: $have"
