#!/bin/sh
# `ipvsadm-rs realserver` on a real LVS-DR network (issue 6):
#  (a) a real server with the VIP on lo and arp_ignore left at 0 answers the
#      client's ARP for the VIP beside the director, and `realserver check`
#      says so with a non-zero exit;
#  (b) after `realserver apply` only the director answers, and requests go
#      through it and alternate; a second apply changes nothing;
#  (c) `realserver undo` restores the host exactly (addresses, links and
#      sysctls compared before and after), for DR with IPv4 and IPv6 VIPs
#      and for TUN, where traffic is also sent through the tunnel.
# One bridge, four namespaces: client .100, director .2 (VIP .1 on eth0),
# rs1 .11 and rs2 .12, each running busybox httpd that answers its name.
set -u
fail() { echo "FAIL: $*"; exit 1; }

VIP=192.168.10.1
P=rst
RS=${IPVSADM_RS:-ipvsadm-rs}
WORK=$(mktemp -d)
PIDS=""
cleanup() {
    for pid in $PIDS; do kill "$pid" 2>/dev/null; done
    for h in client director rs1 rs2 lan; do ip netns del "$P-$h" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT

on() { h=$1; shift; ip netns exec "$P-$h" "$@"; }

# run WANT HOST CMD...: runs CMD on HOST, output in $OUT, status must be WANT.
run() {
    want=$1; shift
    h=$1; shift
    OUT=$(on "$h" "$@" 2>&1); got=$?
    printf '%s# %s\n%s\n' "$h" "$*" "$OUT"
    [ "$got" = "$want" ] || fail "'$*' on $h exited $got, want $want"
}
has() { case "$OUT" in *"$1"*) ;; *) fail "output lacks '$1'" ;; esac; }
lacks() { case "$OUT" in *"$1"*) fail "output has '$1'" ;; esac; }

# The MACs answering ARP for the VIP, as the client sees them.
arp_macs() {
    on client ip neigh flush dev eth0
    on client arping -b -c 2 -w 3 -I eth0 "$VIP" >"$WORK/arp" 2>&1
    cat "$WORK/arp"
    sed -n 's/.*reply from [0-9.]* \[\([0-9a-fA-F:]*\)\].*/\1/p' "$WORK/arp" |
        tr 'A-F' 'a-f' | sort -u | tr '\n' ' '
}

# Waits until the director's counters show WANT (e.g. "3 3 ") as the Conns
# of rs1 and rs2: the kernel folds its per-CPU counters into what it reports
# only every 2 seconds.
wait_conns() {
    n=0
    while :; do
        conns=$(on director "$RS" -Ln --stats | awk '/-> 192.168.10.1[12]:80/ { print $3 }' | tr '\n' ' ')
        [ "$conns" = "$1" ] && break
        n=$((n + 1))
        [ "$n" -lt 30 ] || fail "$2: director counted '$conns' connections per real server, want '$1'"
        sleep 1
    done
    run 0 director "$RS" -Ln --stats
}

# N requests from the client; fails unless they alternate over rs1 and rs2.
alternate() {
    on client ip neigh flush dev eth0
    prev=""
    seen=""
    i=0
    while [ "$i" -lt "$1" ]; do
        i=$((i + 1))
        body=$(on client timeout 10 wget -q -O - "http://$VIP/" 2>&1) ||
            fail "request $i failed: $body"
        echo "request $i: $body"
        [ "$body" != "$prev" ] || fail "two requests in a row went to $body"
        prev=$body
        seen="$seen $body"
    done
    case "$seen" in *rs1*rs2* | *rs2*rs1*) ;; *) fail "not both servers answered: $seen" ;; esac
}

# Everything realserver may touch on a host: addresses (link-local IPv6
# left out: the kernel manages those), link flags, and the settings. The
# qdisc is left out too: the first "up" of tunl0 attaches the kernel's
# default queue (noop becomes noqueue), which stays when it goes down.
snapshot() {
    on "$1" sh -c '
        ip -o addr show | grep -v "scope link" | sed "s/ *valid_lft.*//; s/\\\\//"
        ip -o link show | sed "s/ qlen.*//; s/ qdisc [a-z_]*//"
        for f in /proc/sys/net/ipv4/conf/*/arp_ignore /proc/sys/net/ipv4/conf/*/arp_announce /proc/sys/net/ipv4/conf/*/rp_filter; do
            echo "$f $(cat "$f")"
        done' | sort
}

same() {
    if ! cmp -s "$1" "$2"; then
        diff "$1" "$2"
        fail "$3"
    fi
}

# --- the network -------------------------------------------------------------
ip netns add "$P-lan" || fail "ip netns add"
ip -n "$P-lan" link add br0 type bridge
ip -n "$P-lan" link set br0 up
for spec in client:100:01:00 director:2:00:02 rs1:11:00:11 rs2:12:00:12; do
    h=${spec%%:*}
    rest=${spec#*:}
    ip netns add "$P-$h"
    ip -n "$P-$h" link set lo up
    ip -n "$P-lan" link add "p-$h" type veth peer name eth0 netns "$P-$h"
    ip -n "$P-lan" link set "p-$h" master br0 up
    ip -n "$P-$h" link set eth0 address "02:00:00:00:${rest#*:}"
    ip -n "$P-$h" addr add "192.168.10.${rest%%:*}/24" dev eth0
    ip -n "$P-$h" link set eth0 up
done
for h in rs1 rs2; do
    mkdir -p "$WORK/$h"
    echo "$h" >"$WORK/$h/index.html"
    on "$h" httpd -f -p 80 -h "$WORK/$h" &
    PIDS="$PIDS $!"
done
ip -n "$P-director" addr add "$VIP/32" dev eth0
run 0 director "$RS" -A -t "$VIP:80" -s rr
run 0 director "$RS" -a -t "$VIP:80" -r 192.168.10.11:80 -g
run 0 director "$RS" -a -t "$VIP:80" -r 192.168.10.12:80 -g
run 0 rs2 "$RS" realserver apply --vip "$VIP" --state "$WORK/rs2.state"

# --- (a) the trap: rs1 has the VIP on lo, ARP settings left at 0 -------------
on rs1 ip addr add "$VIP/32" dev lo
macs=$(arp_macs | tee /dev/stderr | tail -n 1)
[ "$macs" = "02:00:00:00:00:02 02:00:00:00:00:11 " ] ||
    fail "(a) ARP answers for the VIP from '$macs', want the director's and rs1's"
run 1 rs1 "$RS" realserver check --vip "$VIP"
has "arp_ignore is 0 on eth0 (all: 0, eth0: 0): this host answers ARP for $VIP on eth0 and can steal the director's traffic"
has "arp_announce is 0 on eth0"
has "2 errors, 0 warnings"
run 1 rs1 "$RS" realserver check --vip "$VIP" --json
has '{"errors":2,"warnings":0,"findings":['
has '"level":"error","code":"arp-ignore"'
run 0 rs2 "$RS" realserver check --vip "$VIP"
has "0 errors, 0 warnings"

# --- (b) apply fixes it; requests go through the director and alternate ------
snapshot rs1 >"$WORK/before-apply"
run 0 rs1 "$RS" realserver apply --vip "$VIP" --state "$WORK/rs1.state"
has "set net.ipv4.conf.all.arp_ignore = 1 (was 0)"
has "set net.ipv4.conf.all.arp_announce = 2 (was 0)"
has "$VIP/32 is already on lo"
has "0 errors, 0 warnings"
cp "$WORK/rs1.state" "$WORK/rs1.state.first"
snapshot rs1 >"$WORK/after-apply"
run 0 rs1 "$RS" realserver apply --vip "$VIP" --state "$WORK/rs1.state"
has "nothing changed: this host was already set up"
snapshot rs1 >"$WORK/after-second-apply"
same "$WORK/after-apply" "$WORK/after-second-apply" "(b) the second apply changed the host"
same "$WORK/rs1.state.first" "$WORK/rs1.state" "(b) the second apply changed the state file"
run 0 rs1 "$RS" realserver check --vip "$VIP"
macs=$(arp_macs | tail -n 1)
[ "$macs" = "02:00:00:00:00:02 " ] || fail "(b) ARP answers for the VIP from '$macs', want the director's only"
run 0 director "$RS" -Z
alternate 6
# Both real servers' connections were counted by the director.
wait_conns "3 3 " "(b)"

# --- (c) undo restores the host exactly ----------------------------------------
run 0 rs1 "$RS" realserver undo --state "$WORK/rs1.state"
has "restored net.ipv4.conf.all.arp_ignore = 0 (apply had set 1)"
lacks "removed"
[ ! -e "$WORK/rs1.state" ] || fail "(c) undo left the state file"
snapshot rs1 >"$WORK/after-undo"
same "$WORK/before-apply" "$WORK/after-undo" "(c) undo did not restore rs1 (the VIP was there before apply)"
run 0 rs1 "$RS" realserver undo --state "$WORK/rs1.state"
has "nothing to undo"

# A clean host: apply adds both VIPs, undo removes exactly them.
on rs1 ip addr del "$VIP/32" dev lo
snapshot rs1 >"$WORK/clean"
run 0 rs1 "$RS" realserver apply --vip "$VIP" --vip 2001:db8::10 --state "$WORK/rs1.state"
has "added $VIP/32 to lo"
has "added 2001:db8::10/128 to lo"
OUT=$(on rs1 ip addr show dev lo)
has "inet $VIP/32 scope global lo"
has "inet6 2001:db8::10/128 scope global"
run 0 rs1 "$RS" realserver undo --vip 2001:db8::10 --state "$WORK/rs1.state"
has "removed 2001:db8::10/128 from lo"
has "kept the settings and links: still needed for $VIP"
run 0 rs1 "$RS" realserver undo --state "$WORK/rs1.state"
has "removed $VIP/32 from lo"
snapshot rs1 >"$WORK/after-undo"
same "$WORK/clean" "$WORK/after-undo" "(c) undo did not restore the clean host"

# TUN: strict rp_filter on all, tunl0 down; apply fixes both, traffic to rs1
# goes through the tunnel; undo restores everything, tunl0 down again.
on rs1 sh -c 'echo 1 > /proc/sys/net/ipv4/conf/all/rp_filter'
snapshot rs1 >"$WORK/clean"
run 1 rs1 "$RS" realserver check --vip "$VIP" --mode tun
has "tunl0 is down"
has "rp_filter is 1 (strict) on tunl0 (all: 1, tunl0: 0)"
run 0 rs1 "$RS" realserver apply --vip "$VIP" --mode tun --state "$WORK/rs1.state"
has "set net.ipv4.conf.all.rp_filter = 2 (was 1)"
has "brought tunl0 up"
has "added $VIP/32 to tunl0"
run 0 director "$RS" -e -t "$VIP:80" -r 192.168.10.11:80 -i
run 0 director "$RS" -Z
alternate 4
wait_conns "2 2 " "tunnel"
run 0 director "$RS" -Ln
has "Tunnel"
run 0 rs1 "$RS" realserver undo --state "$WORK/rs1.state"
has "brought tunl0 down again"
has "restored net.ipv4.conf.all.rp_filter = 1 (apply had set 2)"
snapshot rs1 >"$WORK/after-undo"
same "$WORK/clean" "$WORK/after-undo" "(c) undo did not restore the TUN host"
echo "all good"
