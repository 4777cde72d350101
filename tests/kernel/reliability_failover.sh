#!/bin/sh
# Sync-daemon failover (issue #8, docs/reliability.md): two directors share
# their connection table through the kernel's sync daemons; established TCP
# connections must survive moving the virtual IP from one to the other.
#
#   client 192.168.20.100 --+
#   dirA   192.168.20.2   --+-- br0 (one LAN, multicast snooping off)
#   dirB   192.168.20.3   --+
#   rs     192.168.20.11  --+   VIP on lo, arp_ignore=1, arp_announce=2
#
# LVS-DR: the client's packets go to whichever director has the VIP (on
# eth0), which forwards them to rs by MAC; rs answers the client directly.
# Director A runs the master sync daemon, B the backup. N connections are
# opened through A and carry data; B's connection table must show them;
# then the VIP moves to B, and each connection carries more data, which must
# reach the server: through B, since A no longer has the VIP.
#
# Run once with ipvsadm-rs configuring both directors and starting the
# daemons, once with the reference ipvsadm doing the same.
set -u
fail() { echo "FAIL: $*"; exit 1; }
N=10
VIP=192.168.20.1
P=fo$$
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    for h in client dirA dirB rs lan; do ip netns del "$P-$h" 2>/dev/null; done
}
trap cleanup EXIT
on() { h=$1; shift; ip netns exec "$P-$h" "$@"; }

topology() {
    ip netns add "$P-lan" || fail "netns"
    ip -n "$P-lan" link add br0 type bridge mcast_snooping 0
    ip -n "$P-lan" link set br0 up
    for spec in client:192.168.20.100 dirA:192.168.20.2 dirB:192.168.20.3 rs:192.168.20.11; do
        h=${spec%%:*}
        a=${spec#*:}
        ip netns add "$P-$h" || fail "netns $h"
        ip -n "$P-$h" link set lo up
        ip -n "$P-lan" link add "p-$h" type veth peer name eth0 netns "$P-$h" || fail "veth $h"
        ip -n "$P-lan" link set "p-$h" master br0 up
        ip -n "$P-$h" addr add "$a/24" dev eth0
        ip -n "$P-$h" link set eth0 up
    done
    on rs ip addr add "$VIP/32" dev lo
    on rs sysctl -qw net.ipv4.conf.all.arp_ignore=1
    on rs sysctl -qw net.ipv4.conf.eth0.arp_ignore=1
    on rs sysctl -qw net.ipv4.conf.all.arp_announce=2
    on rs sysctl -qw net.ipv4.conf.eth0.arp_announce=2
    on dirA ip addr add "$VIP/32" dev eth0
}

# run PROG: one failover with PROG (ipvsadm-rs or ipvsadm) as the tool.
run() {
    label=$1
    prog=$2
    topology
    W=$PWD/$label
    mkdir -p "$W"
    # Servers: one port per connection, each keeping what it receives.
    mkfifo "$W/hold"
    i=1
    while [ "$i" -le "$N" ]; do
        on rs nc -l -p $((9000 + i)) < "$W/hold" > "$W/server$i" & PIDS="$PIDS $!"
        i=$((i + 1))
    done
    exec 3> "$W/hold"
    # The same services on both directors, and the sync daemons.
    for d in dirA dirB; do
        i=1
        while [ "$i" -le "$N" ]; do
            on "$d" "$prog" -A -t "$VIP:$((9000 + i))" -s rr || fail "$label: -A on $d"
            on "$d" "$prog" -a -t "$VIP:$((9000 + i))" -r "192.168.20.11:$((9000 + i))" -g ||
                fail "$label: -a on $d"
            i=$((i + 1))
        done
    done
    on dirA "$prog" --start-daemon master --mcast-interface eth0 --syncid 1 || fail "$label: master"
    on dirB "$prog" --start-daemon backup --mcast-interface eth0 --syncid 1 || fail "$label: backup"
    on dirA "$prog" -L --daemon
    on dirB "$prog" -L --daemon
    sleep 1
    # Clients: each connection reads its own fifo, held open by a sleeper
    # so that writes can come and go without an end of file.
    i=1
    while [ "$i" -le "$N" ]; do
        mkfifo "$W/c$i"
        sleep 600 > "$W/c$i" & PIDS="$PIDS $!"
        on client nc "$VIP" $((9000 + i)) < "$W/c$i" > /dev/null & PIDS="$PIDS $!"
        i=$((i + 1))
    done
    sleep 2
    # Data before the move; the third packet of a connection (SYN, ACK,
    # data) is the one the master syncs.
    i=1
    while [ "$i" -le "$N" ]; do
        echo "before $i" > "$W/c$i"
        i=$((i + 1))
    done
    n=0
    until [ "$(cat "$W"/server* | grep -c '^before ')" = "$N" ]; do
        n=$((n + 1))
        [ "$n" -lt 20 ] || fail "$label: not every connection works through A: $(cat "$W"/server*)"
        sleep 1
    done
    on dirA "$prog" -L -n -c
    # The backup learns the connections.
    n=0
    while :; do
        synced=$(on dirB "$prog" -L -n -c | grep -c "ESTABLISHED.*$VIP:90")
        [ "$synced" -ge "$N" ] && break
        n=$((n + 1))
        [ "$n" -lt 30 ] || break
        sleep 1
    done
    echo "--- $label: director B (backup) after sync"
    on dirB "$prog" -L -n -c
    [ "$synced" -ge "$N" ] || fail "$label: the backup shows $synced of $N connections"
    # Failover: the VIP moves to B; the client learns B's MAC.
    on dirA ip addr del "$VIP/32" dev eth0
    on dirB ip addr add "$VIP/32" dev eth0
    on dirB arping -U -c 2 -I eth0 "$VIP" > /dev/null 2>&1
    on client ip neigh flush dev eth0
    i=1
    while [ "$i" -le "$N" ]; do
        echo "after $i" > "$W/c$i"
        i=$((i + 1))
    done
    n=0
    while :; do
        kept=0
        i=1
        while [ "$i" -le "$N" ]; do
            grep -qx "after $i" "$W/server$i" && kept=$((kept + 1))
            i=$((i + 1))
        done
        [ "$kept" = "$N" ] && break
        n=$((n + 1))
        [ "$n" -lt 20 ] || break
        sleep 1
    done
    echo "--- $label: director B's counters after the move"
    on dirB "$prog" -L -n --stats | head -6
    echo "failover ($label on $KERNEL_RELEASE): $kept of $N connections kept, $synced synced to the backup"
    # Tear down for the next run.
    exec 3>&-
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    PIDS=""
    for h in client dirA dirB rs lan; do ip netns del "$P-$h" 2>/dev/null; done
    [ "$kept" = "$N" ] || fail "$label: $kept of $N connections kept"
}

run ipvsadm-rs "$IPVSADM_RS"
run reference "$REF_IPVSADM"
echo ok
