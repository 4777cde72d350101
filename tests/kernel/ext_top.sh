#!/bin/sh
# ipvsadm-rs top --once under real traffic (issue 17): 20 HTTP requests
# through a NAT service during one interval all go to the server of
# weight 1 (the other has weight 0), so top must show that server first,
# with all of the service's new connections (share 100%, the other 0%)
# and a connection rate of 20 over the interval it prints; --count prints that
# many tables; a bad argument is a usage error.
set -u
fail() { echo "FAIL: $*"; exit 1; }
. "$(dirname "$0")/nat_topology.shlib"
C=tc$$
R=tr$$
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    for p in $(ip netns pids "$R" 2>/dev/null); do kill "$p"; done
    ip netns del "$C" 2>/dev/null
    ip netns del "$R" 2>/dev/null
}
trap cleanup EXIT
inc() { ip netns exec "$C" "$@"; }
inr() { ip netns exec "$R" "$@"; }
A="$IPVSADM_RS"

nat_topology "$C" "$R" 192.168.10.11 192.168.10.12
mkdir -p www
echo hello > www/index.html
inr httpd -p 8080 -h "$PWD/www"

"$A" -A -t 192.168.10.1:80 -s wrr || fail "add service"
"$A" -a -t 192.168.10.1:80 -r 192.168.10.11:8080 -m -w 1 || fail "add .11"
"$A" -a -t 192.168.10.1:80 -r 192.168.10.12:8080 -m -w 0 || fail "add .12"
inc wget -q -O /dev/null http://192.168.10.1/ || fail "no HTTP through the service"

# The kernel folds its per-CPU counters into the totals it reports every
# 2 s (its rate estimator's tick), so the counters may lag that long:
# wait for the first request to be counted before the first reading, and
# leave more than 2 s between the last request and the second reading.
# One table over 10 s; the 20 requests start 1 s in.
sleep 3
"$A" top --once --interval 10 -t 192.168.10.1:80 > top.out 2> top.err & T=$!
sleep 1
i=0
while [ "$i" -lt 20 ]; do
    inc wget -q -O /dev/null http://192.168.10.1/ || fail "request $i"
    i=$((i + 1))
done
wait "$T"; rc=$?
echo "--- top --once (exit $rc)"; cat top.out top.err
[ "$rc" = 0 ] || fail "top exited $rc"
[ "$(wc -l < top.out)" = 5 ] || fail "not one table of one service and two servers"
secs=$(sed -n 's/^# over \([0-9.]*\) s, by cps$/\1/p' top.out)
[ -n "$secs" ] || fail "no interval line"
# Service line: TCP VIP CONN/S ACTIVE INACT INPKT/S OUTPKT/S IN OUT.
svc=$(grep ' TCP 192.168.10.1:80 ' top.out) || fail "no service line"
busy=$(grep -- '-> 192.168.10.11:8080 ' top.out) || fail "no line for .11"
idle=$(grep -- '-> 192.168.10.12:8080 ' top.out) || fail "no line for .12"
# Servers sorted by connection rate: the busy one first.
[ "$(grep -n -- '-> 192.168.10.11' top.out | cut -d: -f1)" = 4 ] || fail "the busy server is not first"
echo "$svc" | awk -v s="$secs" '{ r = $3; n = r * s; if (n < 19.5 || n > 20.5) exit 1 }' ||
    fail "service rate $(echo "$svc" | awk '{print $3}') over $secs s is not 20 connections"
echo "$busy" | awk -v s="$secs" '{ if ($3 != 1 || $5 != "100%") exit 1; n = $4 * s; if (n < 19.5 || n > 20.5) exit 1 }' ||
    fail "busy server line: $busy"
echo "$idle" | awk '{ if ($3 != 0 || $4 != 0 || $5 != "0%") exit 1 }' || fail "idle server line: $idle"
# Packets and bytes came in on the service.
echo "$svc" | awk '{ if ($6 == 0 || $8 == 0) exit 1 }' || fail "no packet or byte rate: $svc"

# --count 2: two tables; the whole table when no service is given.
"$A" top --count 2 --interval 300ms --sort name > top2.out 2>&1 || fail "top --count: $(cat top2.out)"
[ "$(grep -c '^# over' top2.out)" = 2 ] || fail "--count 2: $(cat top2.out)"
[ "$(grep -c 'SERVICE / SERVER' top2.out)" = 2 ] || fail "--count 2 headers"
"$A" top --sort weight > /dev/null 2> bad.err; rc=$?
[ "$rc" = 2 ] || fail "bad --sort exited $rc"
# clap's message: the bad value and the fixed set it must come from.
grep -q "invalid value 'weight' for '--sort <KEY>'" bad.err || fail "bad --sort: $(cat bad.err)"
grep -q "possible values: cps, active, inactive, packets, bytes, name" bad.err || fail "bad --sort: $(cat bad.err)"
echo ok
