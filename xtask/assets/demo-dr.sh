#!/bin/sh
# LVS direct routing (DR), end to end, with ipvsadm-rs only.
#
# Run by `cargo xtask demo` inside the test-bed VM, and as the kernel test
# tests/kernel/dr_demo.sh (a link to this file), so every claim it prints is
# also checked: it exits non-zero as soon as something does not behave.
#
# One LAN (a bridge) with four hosts, each a network namespace:
#
#   client    192.168.10.100
#   director  192.168.10.2, and the virtual IP (VIP) 192.168.10.1
#   rs1       192.168.10.11, web server answering "rs1"
#   rs2       192.168.10.12, web server answering "rs2"
#
# Needs: iproute2's ip, busybox (httpd, wget, arping, timeout), and
# ipvsadm-rs, ipvsadm-rs-save, ipvsadm-rs-restore on PATH.
set -u

VIP=192.168.10.1
DIP=192.168.10.2
RS1=192.168.10.11
RS2=192.168.10.12
CIP=192.168.10.100
P=lvs                      # namespace prefix
WORK=$(mktemp -d)
PIDS=""

# --- presentation -----------------------------------------------------------

section() { printf '\n=== %s\n' "$*"; }
# Explanation text (one paragraph per call).
say() { printf '%s\n' "$*" | fold -s -w 76; }
fail() { printf '\nDEMO FAILED: %s\n' "$*"; exit 1; }

# run HOST COMMAND...: shows the command as typed on HOST, runs it there and
# shows its output indented. Returns the command's status.
run() {
    host=$1; shift
    printf '%s# %s\n' "$host" "$*"
    ip netns exec "$P-$host" "$@" >"$WORK/out" 2>&1
    rc=$?
    sed 's/^/    /' "$WORK/out"
    return $rc
}

# must HOST COMMAND...: run, and stop the demo if it fails.
must() {
    run "$@" || fail "'$*' on $1 exited $rc"
}

# sh_on HOST 'SHELL TEXT': like run, for commands with redirections.
sh_on() {
    host=$1; shift
    printf '%s# %s\n' "$host" "$*"
    ip netns exec "$P-$host" sh -c "$*" >"$WORK/out" 2>&1
    rc=$?
    sed 's/^/    /' "$WORK/out"
    [ $rc = 0 ] || fail "'$*' on $host exited $rc"
}

cleanup() {
    for pid in $PIDS; do kill "$pid" 2>/dev/null; done
    for h in client director rs1 rs2 lan; do
        ip netns del "$P-$h" 2>/dev/null
        rm -f "/run/ipvsadm-rs/$P-$h.state"
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# fetch N: N requests from the client to the VIP; the answers (server names)
# go to $WORK/answers, one per line.
fetch() {
    : >"$WORK/answers"
    i=0
    while [ "$i" -lt "$1" ]; do
        i=$((i + 1))
        body=$(ip netns exec "$P-client" timeout 10 wget -q -O - "http://$VIP/" 2>&1) ||
            fail "request $i to http://$VIP/ failed: $body"
        echo "$body" >>"$WORK/answers"
    done
}

# Shows the last fetch's answers on one line, then the counts.
show_answers() {
    printf 'client# for i in $(seq %s); do wget -q -O - http://%s/; done\n' \
        "$(wc -l <"$WORK/answers")" "$VIP"
    tr '\n' ' ' <"$WORK/answers" | fold -s -w 72 | sed 's/^/    /'
    echo
    N1=$(grep -c '^rs1$' "$WORK/answers")
    N2=$(grep -c '^rs2$' "$WORK/answers")
    printf '    rs1 answered %s, rs2 answered %s\n' "$N1" "$N2"
}

# Checks that the last fetch alternated between the two servers.
alternates() {
    prev=""
    while read -r name; do
        [ "$name" != "$prev" ] || fail "two requests in a row went to $name"
        prev=$name
    done <"$WORK/answers"
    [ "$N1" -gt 0 ] && [ "$N2" -gt 0 ] || fail "not both servers answered"
    say "They alternate between rs1 and rs2 (round robin)."
}

# MACs that answer ARP for the VIP, as the client sees them.
arp_answers() {
    ip netns exec "$P-client" ip neigh flush dev eth0
    printf 'client# arping -b -c 2 -w 3 -I eth0 %s\n' "$VIP"
    ip netns exec "$P-client" arping -b -c 2 -w 3 -I eth0 "$VIP" >"$WORK/arp" 2>&1
    sed 's/^/    /' "$WORK/arp"
    MACS=$(sed -n 's/.*reply from [0-9.]* \[\([0-9a-fA-F:]*\)\].*/\1/p' "$WORK/arp" |
        tr 'A-F' 'a-f' | sort -u | tr '\n' ' ')
}

# --- the LAN ----------------------------------------------------------------

section "The network"
say "Four hosts on one Ethernet segment (a bridge), each in its own network namespace. In direct routing the director and the real servers must share a LAN: the director forwards a packet by changing only its destination MAC address."
cat <<EOF

              client 192.168.10.100
                       |
    ------------------ LAN 192.168.10.0/24 ------------------
          |                      |                      |
      director                  rs1                    rs2
    192.168.10.2           192.168.10.11          192.168.10.12
  VIP 192.168.10.1 (eth0)  VIP on lo               VIP on lo
                                                             
EOF
ip netns add "$P-lan" || fail "cannot create namespaces"
ip -n "$P-lan" link add br0 type bridge
ip -n "$P-lan" link set br0 up
for spec in client:$CIP:02:00:00:00:01:00 director:$DIP:02:00:00:00:00:02 \
    rs1:$RS1:02:00:00:00:00:11 rs2:$RS2:02:00:00:00:00:12; do
    h=${spec%%:*}
    rest=${spec#*:}
    ipaddr=${rest%%:*}
    mac=${rest#*:}
    ip netns add "$P-$h"
    ip -n "$P-$h" link set lo up
    ip -n "$P-lan" link add "p-$h" type veth peer name eth0 netns "$P-$h"
    ip -n "$P-lan" link set "p-$h" master br0 up
    ip -n "$P-$h" link set eth0 address "$mac"
    ip -n "$P-$h" addr add "$ipaddr/24" dev eth0
    ip -n "$P-$h" link set eth0 up
    printf '%-9s eth0 %s/24, MAC %s\n' "$h" "$ipaddr" "$mac"
done

section "The director owns the VIP"
say "Clients connect to the VIP. The director has it on its LAN interface, so it is the host that answers ARP for it and receives the packets."
must director ip addr add "$VIP/32" dev eth0

section "Web servers on the real servers"
for h in rs1 rs2; do
    mkdir -p "$WORK/www-$h"
    echo "$h" >"$WORK/www-$h/index.html"
    printf '%s# httpd -f -p 80 -h %s   (index.html says "%s")\n' "$h" "$WORK/www-$h" "$h"
    ip netns exec "$P-$h" httpd -f -p 80 -h "$WORK/www-$h" &
    PIDS="$PIDS $!"
done
sleep 1
must client timeout 10 wget -q -O - "http://$RS1/"
must client timeout 10 wget -q -O - "http://$RS2/"

section "The real servers accept packets for the VIP"
say "The director will send the client's packets to rs1 and rs2 unchanged: still addressed to the VIP. A real server accepts them only if the VIP is one of its own addresses, so it goes on lo, as a single address (/32) that claims no subnet. But a host answers ARP for any of its addresses on any interface by default: rs1 and rs2 would then compete with the director for the VIP. arp_ignore=1 makes them answer only for addresses of the interface the question came in on (not lo), and arp_announce=2 keeps them from using the VIP as the sender of their own ARP requests. ipvsadm-rs realserver does all of it and records what it changed. (--state: these namespaces share /run; a real host uses the default file.)"
for h in rs1 rs2; do
    must "$h" ipvsadm-rs realserver apply --vip "$VIP" --state "/run/ipvsadm-rs/$P-$h.state"
done
say "Running it again changes nothing:"
must rs1 ipvsadm-rs realserver apply --vip "$VIP" --state "/run/ipvsadm-rs/$P-rs1.state"
grep -q "nothing changed" "$WORK/out" || fail "the second apply changed something"

section "The virtual service"
say "-A adds the virtual service: TCP port 80 on the VIP, scheduled round robin (rr). -a adds a real server to it; -g (gatewaying) is direct routing."
must director ipvsadm-rs -A -t "$VIP:80" -s rr
must director ipvsadm-rs -a -t "$VIP:80" -r "$RS1:80" -g
must director ipvsadm-rs -a -t "$VIP:80" -r "$RS2:80" -g
must director ipvsadm-rs -Ln
must director ipvsadm-rs check

section "Requests from the client"
say "Each request reaches the director (it answers ARP for the VIP), IPVS picks a real server and rewrites the destination MAC, and the real server answers the client directly, from the VIP."
fetch 6
show_answers
alternates
# The kernel folds its per-CPU counters into what it reports every 2 s.
n=0
until [ "$(ip netns exec "$P-director" ipvsadm-rs -Ln --stats | awk '/^TCP/ { print $3 }')" = 6 ]; do
    n=$((n + 1))
    [ "$n" -lt 30 ] || fail "the director's counters never reached 6 connections"
    sleep 1
done
must director ipvsadm-rs -Ln --stats
say "Conns counts connections per real server, InPkts the client's packets through the director (the kernel updates these counters every 2 seconds). OutPkts stay 0: with direct routing the replies never pass the director."

section "Save, clear, restore"
say "ipvsadm-rs-save -n prints the table as commands; ipvsadm-rs-restore reads them back."
sh_on director "ipvsadm-rs-save -n > $WORK/rules"
sh_on director "cat $WORK/rules"
must director ipvsadm-rs -C
say "-C cleared the table: no virtual service, so nothing answers on the VIP's port 80 now."
must director ipvsadm-rs -Ln
if ip netns exec "$P-client" timeout 5 wget -q -O - "http://$VIP/" >/dev/null 2>&1; then
    fail "a request succeeded with the table cleared"
fi
sh_on director "ipvsadm-rs-restore < $WORK/rules"
must director ipvsadm-rs -Ln
fetch 6
show_answers
alternates

section "Weights: weighted least-connection"
say "-E changes the service's scheduler to wlc, which sends a new connection to the server with the fewest connections per unit of weight. -e gives rs2 twice rs1's weight, so rs2 should get about twice the connections. Finished connections count too while the director remembers them (a couple of minutes), including the ones from before."
must director ipvsadm-rs -E -t "$VIP:80" -s wlc
must director ipvsadm-rs -e -t "$VIP:80" -r "$RS1:80" -g -w 1
must director ipvsadm-rs -e -t "$VIP:80" -r "$RS2:80" -g -w 2
fetch 30
show_answers
[ "$N1" -ge 6 ] && [ "$N1" -le 14 ] && [ "$N2" -ge 16 ] ||
    fail "30 requests split $N1:$N2, not about 1:2"
say "About 1:2, as the weights say."
must director ipvsadm-rs -Ln

section "The trap: a real server that answers ARP for the VIP"
say "Most hand-written DR setups get this wrong once. rs1 gets the VIP on lo by hand, as many guides show, but without the ARP settings:"
must rs1 ipvsadm-rs realserver undo --state "/run/ipvsadm-rs/$P-rs1.state"
must rs1 ip addr add "$VIP/32" dev lo
say "ipvsadm-rs realserver check says what is wrong, and fails:"
if run rs1 ipvsadm-rs realserver check --vip "$VIP"; then
    fail "realserver check passed on a real server that answers ARP for the VIP"
fi
say "And indeed two hosts answer the client's ARP question for the VIP: the director (02:00:00:00:00:02) and rs1 (02:00:00:00:00:11). Whichever answer the client keeps decides whether its requests pass the director at all."
arp_answers
[ "$MACS" = "02:00:00:00:00:02 02:00:00:00:00:11 " ] ||
    fail "ARP answers for the VIP came from: $MACS (expected the director and rs1)"
say "The fix:"
must rs1 ipvsadm-rs realserver apply --vip "$VIP" --state "/run/ipvsadm-rs/$P-rs1.state"
arp_answers
[ "$MACS" = "02:00:00:00:00:02 " ] || fail "ARP answers for the VIP came from: $MACS (expected only the director)"
say "Only the director answers now, and requests are balanced again:"
must director ipvsadm-rs -E -t "$VIP:80" -s rr
fetch 4
show_answers
alternates

section "Done"
say "The namespaces and web servers are removed on exit."
exit 0
