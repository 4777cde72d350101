#!/bin/sh
# Plumbing check: IPVS answers in this test's network namespace, through the
# reference ipvsadm. Exit status 0 = pass; output is shown on failure.
set -eu
"$REF_IPVSADM" -A -t 10.0.0.1:80 -s rr
out=$("$REF_IPVSADM" -Ln)
printf '%s\n' "$out"
case "$out" in
*"TCP  10.0.0.1:80 rr"*) ;;
*)
    echo "FAIL: the new service is missing from ipvsadm -Ln"
    exit 1
    ;;
esac
