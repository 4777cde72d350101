#!/bin/sh
# `ipvsadm-rs check` on a director (issue 6, item 3): a VIP missing from the
# host and a direct-routing real server off every connected subnet are
# errors (exit 1); tunnels need a route; NAT gets warnings for IP forwarding
# off and ICMP redirects on (exit 0); fwmark services have no VIP to look
# for. Runs in the test's own namespace with a dummy interface as the LAN.
set -u
fail() { echo "FAIL: $*"; exit 1; }
run() {
    want=$1; shift
    OUT=$("$@" 2>&1); got=$?
    printf '# %s\n%s\n' "$*" "$OUT"
    [ "$got" = "$want" ] || fail "'$*' exited $got, want $want"
}
has() { case "$OUT" in *"$1"*) ;; *) fail "output lacks '$1'" ;; esac; }
lacks() { case "$OUT" in *"$1"*) fail "output has '$1'" ;; esac; }
RS=$IPVSADM_RS

ip link add d0 type dummy
ip addr add 192.168.10.2/24 dev d0
ip link set d0 up

run 0 "$RS" check --help
has "Usage: ipvsadm-rs check [OPTIONS]"
has "--json"
run 2 "$RS" check --bogus
has "error: unexpected argument '--bogus' found"
run 0 "$RS" check
has "there are no virtual services"

# The VIP is not on this host, and one DR real server is on another subnet.
run 0 "$RS" -A -t 192.168.10.1:80 -s rr
run 0 "$RS" -a -t 192.168.10.1:80 -r 192.168.10.11:80 -g
run 0 "$RS" -a -t 192.168.10.1:80 -r 10.99.0.5:80 -g
run 1 "$RS" check
has "192.168.10.1 is not an address of this host: IPVS only sees packets addressed to the host itself"
has "-> 192.168.10.11:80 (direct routing): on 192.168.10.0/24, directly connected through d0"
has "-> 10.99.0.5:80 (direct routing): 10.99.0.5 is not on a subnet of any interface here (192.168.10.0/24 on d0)"
has "2 errors, 0 warnings"
run 1 "$RS" check --json
has '{"errors":2,"warnings":0,"findings":[{"level":"error","code":"vip-missing","subject":"TCP 192.168.10.1:80"'
has '"code":"dr-not-connected"'

# Fixed: the VIP on the LAN interface, the stray real server removed.
ip addr add 192.168.10.1/32 dev d0
run 0 "$RS" -d -t 192.168.10.1:80 -r 10.99.0.5:80
run 0 "$RS" check
has "192.168.10.1 is an address of this host (on d0)"
has "0 errors, 0 warnings"

# Tunnels need a route, not a shared subnet.
ip route add 10.20.0.0/16 via 192.168.10.254
run 0 "$RS" -a -t 192.168.10.1:80 -r 10.20.0.7:80 -i
run 0 "$RS" -a -t 192.168.10.1:80 -r 172.31.0.7:80 -i
run 1 "$RS" check
has "-> 10.20.0.7:80 (tunnelling): reachable through d0 via 192.168.10.254"
has "-> 172.31.0.7:80 (tunnelling): no route to 172.31.0.7 (Network is unreachable): the director cannot send it the tunnelled packets"
run 0 "$RS" -d -t 192.168.10.1:80 -r 172.31.0.7:80

# NAT: warnings only.
echo 0 >/proc/sys/net/ipv4/ip_forward
echo 1 >/proc/sys/net/ipv4/conf/all/send_redirects
run 0 "$RS" -A -t 192.168.10.1:8080 -s wlc
run 0 "$RS" -a -t 192.168.10.1:8080 -r 192.168.10.21:80 -m
run 0 "$RS" check
has "net.ipv4.ip_forward is 0: the real servers' replies"
has "ICMP redirects are on for d0 (all: 1, d0: "
has "0 errors, 2 warnings"
echo 1 >/proc/sys/net/ipv4/ip_forward
echo 0 >/proc/sys/net/ipv4/conf/all/send_redirects
echo 0 >/proc/sys/net/ipv4/conf/d0/send_redirects
run 0 "$RS" check
has "0 errors, 0 warnings"

# Firewall-mark services have no VIP; their real servers are still checked.
run 0 "$RS" -A -f 7 -s rr
run 0 "$RS" -a -f 7 -r 10.98.0.1 -g
run 1 "$RS" check
has "FWM 7"
has "a firewall-mark service has no virtual IP to look for"
has "-> 10.98.0.1:0 (direct routing): 10.98.0.1 is not on a subnet"
has "1 error, 0 warnings"
echo "all good"
