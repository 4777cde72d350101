#!/bin/sh
# A restore whose lines all parse but one of which the kernel refuses in
# the middle of a batch: a service with a scheduler the kernel does not
# have (line 1001 of 2000), so its destinations fail too. The lines around
# it must apply, each failure must be reported with its line number, the
# status must be 255, and the table must be the same as when sending one
# request per line and as the reference's.
set -u
fail() { echo "FAIL: $*"; exit 1; }
NS="fb$$"
made=""
cleanup() { for n in $made; do ip netns del "$n" 2>/dev/null; done; }
trap cleanup EXIT
fresh() {
    ip netns add "$NS$1" && ip -n "$NS$1" link set lo up || fail "ip netns add $NS$1"
    made="$made $NS$1"
}
nsrun() { n=$1; shift; ip netns exec "$NS$n" "$@"; }

# 500 services with 3 destinations each; service 250 (line 1001) has a
# scheduler no kernel has.
awk 'BEGIN {
    for (s = 0; s < 500; s++) {
        vip = sprintf("10.1.%d.%d:80", int(s / 250), s % 250 + 1)
        printf "-A -t %s -s %s\n", vip, (s == 250 ? "nosuchsched" : "wlc")
        for (d = 0; d < 3; d++)
            printf "-a -t %s -r 10.2.0.%d:8080 -m\n", vip, d + 1
    }
}' > bad.rules
[ "$(sed -n 1001p bad.rules)" = "-A -t 10.1.1.1:80 -s nosuchsched" ] || fail "generator: $(sed -n 1001p bad.rules)"

fresh b; fresh s; fresh r
nsrun b "$IPVSADM_RS" -R < bad.rules > b.out 2>&1; b=$?
nsrun s env IPVSADM_RS_RESTORE_ONE_BY_ONE=1 "$IPVSADM_RS" -R < bad.rules > s.out 2>&1; s=$?
nsrun r "$REF_IPVSADM" -R < bad.rules > r.out 2>&1; r=$?
want="line 1001: Scheduler or persistence engine not found
line 1002: Service not defined
line 1003: Service not defined
line 1004: Service not defined"
[ "$(cat b.out)" = "$want" ] || fail "batched messages: $(head -5 b.out)"
cmp -s b.out s.out || fail "one by one printed otherwise: $(head -5 s.out)"
[ "$b" = 255 ] && [ "$s" = 255 ] || fail "status: batched $b, one by one $s"
nsrun b "$REF_IPVSADM" -Sn > b.table
nsrun s "$REF_IPVSADM" -Sn > s.table
nsrun r "$REF_IPVSADM" -Sn > r.table
[ "$(wc -l < b.table)" -eq 1996 ] || fail "batched table has $(wc -l < b.table) lines, not 1996"
grep -q '10\.1\.1\.1:80' b.table && fail "the refused service is in the table"
cmp -s b.table s.table || fail "batched and one-by-one tables differ"
cmp -s b.table r.table || fail "table differs from the reference's"
echo "ipvsadm-rs: status $b, 4 failures reported by line, 1996 lines applied, same table as one by one and as ipvsadm"
echo "ipvsadm -R: status $r, printed: $(tr '\n' '|' < r.out)"
