#!/bin/sh
# ipvsadm-rs apply under traffic (issue 7, part 3): a long-lived TCP
# connection through a NAT service survives an apply that keeps that
# service but changes other things around it (a new service, another
# service's scheduler, the weight of the connection's own real server),
# while the client keeps sending; then ipvsadm-rs-restore of the same
# file, which flushes, cuts it. Both outcomes are printed.
#
#   client ns (10.9.9.9)  -- vc1/vc0 --  director (this ns, vip
#   192.168.10.1 on lo)  -- vr0/vr1 --  real-server ns (192.168.10.11)
#
# Why restore cuts it: after the flush the connection's real server is
# gone until restore re-adds it, and with net.ipv4.vs.expire_nodest_conn=1
# (set here, as for fast fail-over) the next packet in that window expires
# the connection. (Without that setting the packets in the window are
# dropped, and the kernel puts the re-added real server back from its
# trash under the old connection, which then goes on; apply has no
# window either way.) 2000 other services before :90 in the file make the
# window long enough for the client's packets to meet it every time.
set -u
fail() { echo "FAIL: $*"; exit 1; }
. "$(dirname "$0")/nat_topology.shlib"
C=ac$$
R=ar$$
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    ip netns del "$C" 2>/dev/null
    ip netns del "$R" 2>/dev/null
}
trap cleanup EXIT
# Writing to a client that the kernel cut must not kill the test.
trap "" PIPE
inc() { ip netns exec "$C" "$@"; }
inr() { ip netns exec "$R" "$@"; }
A="$IPVSADM_RS"
# now_ms: milliseconds since boot (busybox date has no %N).
now_ms() { awk '{ printf "%d", $1 * 1000 }' /proc/uptime; }

# --- topology ---------------------------------------------------------------
nat_topology "$C" "$R" 192.168.10.11

# --- the table --------------------------------------------------------------
# 2000 services around the two that matter, so that a restore (flush, then
# every line in order) takes a while before :90 is back.
i=0
while [ "$i" -lt 2000 ]; do
    printf -- '-A -t 10.50.%d.%d:80 -s wlc\n' $((i / 200)) $((i % 200 + 1))
    i=$((i + 1))
done > many.rules
{
    cat many.rules
    cat <<'EOF'
-A -t 192.168.10.1:80 -s wlc
-a -t 192.168.10.1:80 -r 192.168.10.11:8080 -m -w 1
-A -t 192.168.10.1:90 -s rr
-a -t 192.168.10.1:90 -r 192.168.10.11:9090 -m -w 1
EOF
} > start.rules
# Keeps :90 and its real server, with a new weight; another scheduler
# for :80; a new service :81. (Its lines come last, as a restore would
# meet them in a saved table with more services before them.)
{
    cat many.rules
    cat <<'EOF'
# :80 changes scheduler, :81 is new, :90 (the live connection) stays
-A -t 192.168.10.1:80 -s rr
-a -t 192.168.10.1:80 -r 192.168.10.11:8080 -m -w 1
-A -t 192.168.10.1:81 -s wlc
-a -t 192.168.10.1:81 -r 192.168.10.11:8081 -m -w 2
-A -t 192.168.10.1:90 -s rr
-a -t 192.168.10.1:90 -r 192.168.10.11:9090 -m -w 5
EOF
} > next.rules
"$A" apply start.rules || fail "apply start.rules"
"$A" -Ln -t 192.168.10.1:90
# A connection whose real server is gone is dropped at its next packet
# (common in production, for fast fail-over).
sysctl -qw net.ipv4.vs.expire_nodest_conn=1 || fail "expire_nodest_conn"

# --- one long-lived connection ------------------------------------------------
# The server writes what it receives to got.txt and keeps the connection
# open while `hold' is; the client sends what the test writes to `say'.
mkfifo hold say
inr nc -l -p 9090 < hold > got.txt & PIDS="$PIDS $!"
exec 3> hold
sleep 1
inc nc 192.168.10.1 90 < say > /dev/null & PIDS="$PIDS $!"
exec 4> say
# arrives WORD: true once the server has received the line WORD (5 s).
arrives() {
    i=0
    while [ "$i" -lt 25 ]; do
        grep -qx "$1" got.txt 2>/dev/null && return 0
        sleep 0.2
        i=$((i + 1))
    done
    return 1
}
# conn: the connection's line in -Lnc, if it is there.
conn() { "$A" -Lnc | grep "ESTABLISHED 10.9.9.9:[0-9]* *192.168.10.1:90 *192.168.10.11:9090"; }

echo before-apply >&4
arrives before-apply || fail "no data through the service before apply"
conn > /dev/null || fail "the connection is not in -Lnc before apply: $("$A" -Lnc)"
stats_before=$("$A" -Ln --stats -t 192.168.10.1:90 | sed -n 3p)

# The client also sends a line every 0.02 s from now on, until the
# connection is gone.
(while echo tick 2> /dev/null; do sleep 0.02; done) >&4 & TICKER=$!
PIDS="$PIDS $TICKER"
ticks() { grep -c '^tick$' got.txt; }

# --- apply keeps it -------------------------------------------------------------
"$A" apply --dry-run next.rules > plan.txt 2> plan.err || fail "dry run: $(cat plan.err)"
echo "--- apply --dry-run next.rules"
cat plan.txt plan.err
t0=$(now_ms)
"$A" apply next.rules 2> apply.err || fail "apply next.rules: $(cat apply.err)"
t1=$(now_ms)
cat apply.err
"$A" -Sn > applied.txt
grep 192.168.10.1: applied.txt > now.txt
grep 192.168.10.1: next.rules | grep -v '^#' > want.txt
cmp -s now.txt want.txt || fail "after apply: $(cat now.txt)"
[ "$(wc -l < applied.txt)" = 2006 ] || fail "after apply: $(wc -l < applied.txt) lines"
n1=$(ticks)
echo after-apply >&4
if arrives after-apply && sleep 0.5 && [ "$(ticks)" -gt "$n1" ] && line=$(conn); then
    echo "OUTCOME apply ($((t1 - t0)) ms): the connection survived;" \
        "data sent during and after the apply arrived, and -Lnc still shows it:"
    echo "  $line"
else
    fail "the connection did not survive apply: received $(tr '\n' ' ' < got.txt); -Lnc: $("$A" -Lnc)"
fi
echo "  service :90 counters before apply: $stats_before"
echo "  service :90 counters after apply:  $("$A" -Ln --stats -t 192.168.10.1:90 | sed -n 3p)"

# --- restore, for comparison ------------------------------------------------------
n1=$(ticks)
t0=$(now_ms)
grep -v '^#' next.rules | "$IPVSADM_RS_RESTORE" || fail "restore"
t1=$(now_ms)
"$A" -Sn > restored.txt
cmp -s restored.txt applied.txt || fail "restore gave another table than apply"
n2=$(ticks)
sleep 1
n3=$(ticks)
echo after-restore >&4 2> /dev/null
if arrives after-restore; then got=yes; else got=no; fi
line=$(conn)
echo "OUTCOME restore ($((t1 - t0)) ms, :90 missing until its lines):" \
    "ticks arriving during it $((n2 - n1)), in the second after it $((n3 - n2));" \
    "data sent after it arrived: $got; -Lnc: ${line:-(no such connection)}"
echo "  service :90 counters after restore: $("$A" -Ln --stats -t 192.168.10.1:90 | sed -n 3p)"
[ "$got" = no ] && [ -z "$line" ] && [ "$n3" = "$n2" ] ||
    fail "the restore did not cut the connection"
echo "ok: apply kept the connection, restore cut it"
