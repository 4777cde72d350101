#!/bin/sh
# ipvsadm-rs drain with real TCP connections held open through a NAT
# director (issue 17): a connection that closes ends the drain (exit 0);
# one that stays ends it at --timeout (exit 1, weight left at 0, the
# restore command printed and working); --server across two services
# with --remove and --json; Ctrl-C; a server or service that is not in
# the table (exit 2, nothing changed); --netns.
#
#   client ns (10.9.9.9) -- vc1/vc0 -- director (this ns, vip 192.168.10.1
#   on lo) -- vr0/vr1 -- real-server ns (192.168.10.11 and .12)
set -u
fail() { echo "FAIL: $*"; exit 1; }
. "$(dirname "$0")/nat_topology.shlib"
C=dc$$
R=dr$$
N=dn$$
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    ip netns del "$C" 2>/dev/null
    ip netns del "$R" 2>/dev/null
    ip netns del "$N" 2>/dev/null
}
trap cleanup EXIT
trap "" PIPE
inc() { ip netns exec "$C" "$@"; }
inr() { ip netns exec "$R" "$@"; }
A="$IPVSADM_RS"

nat_topology "$C" "$R" 192.168.10.11 192.168.10.12

# Services :90 and :91, each with only .11 at first, so that the held
# connections go there; .12 joins afterwards.
"$A" -A -t 192.168.10.1:90 -s rr || fail "add :90"
"$A" -a -t 192.168.10.1:90 -r 192.168.10.11:9090 -m -w 3 || fail "add .11 to :90"
"$A" -A -t 192.168.10.1:91 -s rr || fail "add :91"
"$A" -a -t 192.168.10.1:91 -r 192.168.10.11:9091 -m -w 2 -x 50 || fail "add .11 to :91"

# hold PORT FD1 FD2: a connection from the client to 192.168.10.1:PORT,
# held open by a server on .11:(PORT+9000) (FD1 and FD2 keep the two
# fifos open).
hold() {
    mkfifo "srv$1" "cli$1"
    inr nc -l -p $(($1 + 9000)) < "srv$1" > "got$1" & PIDS="$PIDS $!"
    eval "exec $2> srv$1"
    sleep 0.5
    inc nc 192.168.10.1 "$1" < "cli$1" > /dev/null & PIDS="$PIDS $!"
    eval "exec $3> cli$1"
    echo hello >&"$3"
    i=0
    until grep -q hello "got$1" 2>/dev/null; do
        i=$((i + 1))
        [ "$i" -lt 50 ] || fail "no data through :$1"
        sleep 0.1
    done
}
# close PORT: ends the client of the connection to PORT (the nc process
# itself, found among the client namespace's processes: $! is the shell
# that ran it).
close() {
    for p in $(ip netns pids "$C"); do
        tr '\0' ' ' < "/proc/$p/cmdline" | grep -q "192.168.10.1 $1 *$" && kill "$p"
    done
}
# watchdog PID: kill -9 PID after 40 s, so that a drain that never ends
# fails the test instead of hanging it.
watchdog() { (sleep 40; kill -9 "$1" 2>/dev/null) & PIDS="$PIDS $!"; }
# active SERVICE SERVER: the ActiveConn of SERVER in SERVICE.
active() { "$A" -Ln -t "$1" | awk -v s="$2" '$2 == s { print $5 }'; }
weight() { "$A" -Ln -t "$1" | awk -v s="$2" '$2 == s { print $4 }'; }

echo "# holding"
hold 90 5 6
hold 91 7 8
"$A" -a -t 192.168.10.1:90 -r 192.168.10.12:9090 -m -w 1 || fail "add .12 to :90"
"$A" -a -t 192.168.10.1:91 -r 192.168.10.12:9091 -m -w 1 || fail "add .12 to :91"
[ "$(active 192.168.10.1:90 192.168.10.11:9090)" = 1 ] || fail "no active connection on :90: $("$A" -Ln)"
[ "$(active 192.168.10.1:91 192.168.10.11:9091)" = 1 ] || fail "no active connection on :91: $("$A" -Ln)"

# --- 1. a server whose connection closes: exit 0 -----------------------------
echo "# 1"
"$A" drain -t 192.168.10.1:90 -r 192.168.10.11 --timeout 30 > d1.out 2> d1.err & D=$!
watchdog "$D"
sleep 1.5
[ "$(weight 192.168.10.1:90 192.168.10.11:9090)" = 0 ] || fail "weight not 0 while draining: $("$A" -Ln)"
kill -0 "$D" 2>/dev/null || fail "drain ended with a connection left: $(cat d1.out d1.err)"
close 90
wait "$D"; rc=$?
echo "--- drain, connection closed (exit $rc)"; cat d1.out d1.err
[ "$rc" = 0 ] || fail "drain exited $rc"
grep -q "^TCP 192.168.10.1:90 -> 192.168.10.11:9090: weight 3 -> 0$" d1.out || fail "no weight line"
grep -q "1 active, 0 inactive connections" d1.out || fail "no progress line"
grep -q "192.168.10.11:9090: drained" d1.out || fail "no drained line"
[ "$(weight 192.168.10.1:90 192.168.10.11:9090)" = 0 ] || fail "weight after drain: $("$A" -Ln)"

echo "# 2"
# --- 2. a connection that stays: --timeout, exit 1 -------------------------------
before=$("$A" -Sn)
"$A" drain -t 192.168.10.1:91 -r 192.168.10.11:9091 --timeout 2 > d2.out 2> d2.err; rc=$?
echo "--- drain, connection held, --timeout 2 (exit $rc)"; cat d2.out d2.err
[ "$rc" = 1 ] || fail "timed-out drain exited $rc"
grep -q "timed out with 1 active, 0 inactive connections; weight left at 0; to restore: ipvsadm-rs -e -t 192.168.10.1:91 -r 192.168.10.11:9091 -m -w 2 -x 50$" d2.out ||
    fail "no restore command"
[ "$(weight 192.168.10.1:91 192.168.10.11:9091)" = 0 ] || fail "weight after timeout: $("$A" -Ln)"
[ "$(active 192.168.10.1:91 192.168.10.11:9091)" = 1 ] || fail "the held connection was cut"
# The printed command puts everything back.
cmd=$(sed -n 's/.*to restore: ipvsadm-rs //p' d2.out)
eval "\"$A\" $cmd" || fail "restore command: $cmd"
[ "$("$A" -Sn)" = "$before" ] || fail "the restore command did not restore: $("$A" -Sn)"

# --- 3. Ctrl-C: exit 130, weight left at 0 ---------------------------------------
echo "# 3"
"$A" drain -t 192.168.10.1:91 -r 192.168.10.11 > d3.out 2> d3.err & D=$!
watchdog "$D"
sleep 1.5
kill -INT "$D"
wait "$D"; rc=$?
echo "--- drain, interrupted (exit $rc)"; cat d3.out d3.err
[ "$rc" = 130 ] || fail "interrupted drain exited $rc"
grep -q "interrupted: weights left at 0" d3.out || fail "no interrupted line"
grep -q "to restore: ipvsadm-rs -e -t 192.168.10.1:91 -r 192.168.10.11:9091 -m -w 2 -x 50" d3.out || fail "no restore command on Ctrl-C"
[ "$(weight 192.168.10.1:91 192.168.10.11:9091)" = 0 ] || fail "weight after Ctrl-C"
"$A" -e -t 192.168.10.1:91 -r 192.168.10.11:9091 -m -w 2 -x 50 || fail "put back"

# --- 4. not in the table: exit 2, nothing changed ---------------------------------
before=$("$A" -Sn)
for args in "-t 192.168.10.1:90 -r 192.168.10.99" "-t 192.168.10.1:99 -r 192.168.10.11" \
    "--server 192.168.10.99" "-t 192.168.10.1:90 -r 192.168.10.11 -r 192.168.10.12:1"; do
    "$A" drain $args > d4.out 2> d4.err; rc=$?
    [ "$rc" = 2 ] || fail "drain $args exited $rc: $(cat d4.out d4.err)"
    grep -q "nothing changed" d4.err || fail "drain $args: $(cat d4.err)"
    [ "$("$A" -Sn)" = "$before" ] || fail "drain $args changed the table"
done
cat d4.err
"$A" drain --bogus 2> d4.err; rc=$?
[ "$rc" = 2 ] || fail "usage error exited $rc"

# --- 5. --server in both services, --remove, --json ------------------------------
echo "# 5"
"$A" drain --server 192.168.10.11 --remove --json --timeout 30 > d5.out 2> d5.err & D=$!
watchdog "$D"
sleep 1.5
[ "$(weight 192.168.10.1:91 192.168.10.11:9091)" = 0 ] || fail "--server: weight on :91"
close 91
wait "$D"; rc=$?
echo "--- drain --server --remove --json (exit $rc)"; cat d5.out d5.err
[ "$rc" = 0 ] || fail "--server drain exited $rc"
[ "$(grep -c '"event":"weight"' d5.out)" = 2 ] || fail "weight events"
[ "$(grep -c '"event":"removed"' d5.out)" = 2 ] || fail "removed events"
grep -q '"event":"end","status":"drained"' d5.out || grep -q '"status":"drained"' d5.out || fail "no end event"
grep -q '"old_weight":2' d5.out || fail "old weight"
after=$("$A" -Sn)
echo "$after" | grep -q 192.168.10.11 && fail "--remove left .11: $after"
[ "$(echo "$after" | grep -c 192.168.10.12)" = 2 ] || fail "--remove touched .12: $after"

# --- 6. --netns -------------------------------------------------------------------
ip netns add "$N" || fail "netns add"
ip -n "$N" link set lo up
"$A" --netns "$N" -A -t 10.0.0.1:80 || fail "netns add service"
"$A" --netns "$N" -a -t 10.0.0.1:80 -r 10.1.0.1 -m -w 4 || fail "netns add server"
main=$("$A" -Sn)
"$A" --netns "$N" drain -t 10.0.0.1:80 -r 10.1.0.1 > d6.out 2>&1 || fail "netns drain: $(cat d6.out)"
"$A" drain -t 10.0.0.1:80 -r 10.1.0.1:80 --netns "$N" --remove >> d6.out 2>&1 || fail "netns drain --remove: $(cat d6.out)"
cat d6.out
grep -q "weight 4 -> 0" d6.out || fail "netns: no weight line"
[ "$("$A" --netns "$N" -Sn)" = "-A -t 10.0.0.1:80 -s wlc" ] || fail "netns table: $("$A" --netns "$N" -Sn)"
[ "$("$A" -Sn)" = "$main" ] || fail "--netns drain changed this namespace's table"
echo "ok"
