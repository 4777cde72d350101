#!/bin/sh
# Listings with real, non-zero counters: a client namespace talks through
# this namespace (the director, IPVS NAT) to a real-server namespace; then,
# with the traffic stopped, the reference and ipvsadm-rs list the same
# state in every listing mode, with and without names, for the whole table
# and for each service, and must print the same bytes.
#
#   client ns (10.9.9.9, a 56-character name)  -- vc1/vc0 --  director
#   director (vip 192.168.10.1, vip6 2001:db8::10 on lo)  -- vr0/vr1 --
#   real-server ns (rs1 192.168.10.11, rs6 2001:db8::11)
#
# Counters stay put once the traffic stops, but rates decay every 2 s
# estimator tick and connection expiry times count down: each comparison
# runs both programs back to back and retries a few times before failing.
set -u
fail() { echo "FAIL: $*"; exit 1; }
C=tc$$
R=tr$$
PIDS=""
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    ip netns del "$C" 2>/dev/null
    ip netns del "$R" 2>/dev/null
}
trap cleanup EXIT
inc() { ip netns exec "$C" "$@"; }
inr() { ip netns exec "$R" "$@"; }

# --- topology ---------------------------------------------------------------
ip netns add "$C" || fail "netns add"
ip netns add "$R" || fail "netns add"
ip link add vc0 type veth peer name vc1 || fail "veth"
ip link add vr0 type veth peer name vr1 || fail "veth"
# Large frames: the bulk transfer below takes far fewer packets under TCG.
ip link set vc0 mtu 65000
ip link set vc1 mtu 65000
ip link set vr0 mtu 65000
ip link set vr1 mtu 65000
ip link set vc1 netns "$C"
ip link set vr1 netns "$R"
sysctl -qw net.ipv4.ip_forward=1
sysctl -qw net.ipv6.conf.all.forwarding=1
ip addr add 10.9.9.1/24 dev vc0
ip addr add 2001:db8:9::1/64 dev vc0 nodad
ip link set vc0 up
ip addr add 192.168.10.254/24 dev vr0
ip addr add 2001:db8::1/64 dev vr0 nodad
ip link set vr0 up
ip addr add 192.168.10.1/32 dev lo
ip addr add 2001:db8::10/128 dev lo nodad
inc ip link set lo up
inc ip addr add 10.9.9.9/24 dev vc1
inc ip addr add 2001:db8:9::9/64 dev vc1 nodad
inc ip link set vc1 up
inc ip route add default via 10.9.9.1
inc ip -6 route add default via 2001:db8:9::1
inr ip link set lo up
inr ip addr add 192.168.10.11/24 dev vr1
inr ip addr add 2001:db8::11/64 dev vr1 nodad
inr ip link set vr1 up
inr ip route add default via 192.168.10.254
inr ip -6 route add default via 2001:db8::1

# --- real servers -----------------------------------------------------------
mkdir www
echo hello > www/index.html
inr httpd -f -p 8080 -h "$PWD/www" & PIDS="$PIDS $!"
# The nc servers read a pipe that stays open (EOF on stdin would make them
# close the connection); so does the client that holds one open.
mkfifo hold
inr nc -l -p 9090 < hold > /dev/null & PIDS="$PIDS $!"
inr nc -l -p 9091 < hold > /dev/null & PIDS="$PIDS $!"
exec 3> hold
sleep 1

# --- services ---------------------------------------------------------------
A="$REF_IPVSADM"
$A -A -t 192.168.10.1:80 -s rr || fail "setup"
$A -a -t 192.168.10.1:80 -r 192.168.10.11:8080 -m -w 3 || fail "setup"
$A -a -t 192.168.10.1:80 -r 192.168.10.12:8080 -m -w 0 -x 50 -y 5 || fail "setup"
$A -A -t 192.168.10.1:81 -s wlc || fail "setup"
$A -a -t 192.168.10.1:81 -r 192.168.10.11:9091 -m || fail "setup"
$A -A -t 192.168.10.1:90 -s lc || fail "setup"
$A -a -t 192.168.10.1:90 -r 192.168.10.11:9090 -m || fail "setup"
$A -A -t 192.168.10.1:443 -s sh -b sh-port -p 300 -M 255.255.255.0 || fail "setup"
$A -a -t 192.168.10.1:443 -r 192.168.10.11:8080 -m || fail "setup"
$A -A -u 192.168.10.1:5060 -s rr -p 60 --pe sip || fail "setup"
$A -a -u 192.168.10.1:5060 -r 192.168.10.11:5060 -m || fail "setup"
$A -A -u 192.168.10.1:54 -s wrr -p 120 || fail "setup"
$A -a -u 192.168.10.1:54 -r 192.168.10.11:54 -m || fail "setup"
$A -A -u 192.168.10.1:53 -s rr -o || fail "setup"
$A -a -u 192.168.10.1:53 -r 192.168.10.11:53 -m || fail "setup"
$A -A -t [2001:db8::10]:80 -s wrr || fail "setup"
$A -a -t [2001:db8::10]:80 -r [2001:db8::11]:8080 -m -w 2 || fail "setup"
$A -A -t 192.168.10.1:82 -s rr || fail "setup"
$A -a -t 192.168.10.1:82 -r [2001:db8::11]:82 -i --tun-type gue --tun-port 6080 --tun-csum || fail "setup"
# (10.2.0.11, not 192.168.x: ipvsadm's wrapping comparator would put
# 192.168.x before 2001:db8::, true numeric order after; docs/compat.md.)
$A -a -t 192.168.10.1:82 -r 10.2.0.11:82 -i --tun-type gre || fail "setup"

# --- traffic ----------------------------------------------------------------
for i in 1 2 3; do
    inc wget -q -O /dev/null http://192.168.10.1/ || fail "wget vip:80"
    inc wget -q -O /dev/null http://192.168.10.1:443/ || fail "wget vip:443"
    inc wget -q -O /dev/null "http://[2001:db8::10]/" || fail "wget [vip6]:80"
done
# Over 10^8 bytes in: the K column, and --exact.
t0=$(date +%s)
dd if=/dev/zero bs=1048576 count=100 2>/dev/null | inc timeout 120 nc 192.168.10.1 81 ||
    fail "bulk transfer"
echo "bulk transfer: $(($(date +%s) - t0)) s"
# One connection held open: ActiveConn.
inc nc 192.168.10.1 90 < hold > /dev/null & PIDS="$PIDS $!"
# UDP datagrams (bash's /dev/udp), to a plain and to a persistent service:
# the latter adds a persistence template to the connection list. (The sip
# persistence engine drops every message we could make it parse on these
# kernels, so its service only shows up in the listings, without traffic.)
for i in 1 2; do
    inc bash -c 'printf "x" > /dev/udp/192.168.10.1/53'
    inc bash -c 'printf "x" > /dev/udp/192.168.10.1/54'
done
# SYNs towards the tunnel destinations, one of each family (nobody answers).
ip route add 10.2.0.0/24 dev vr0
inc timeout 2 nc 192.168.10.1 82 < /dev/null > /dev/null 2>&1
inc timeout 2 nc 192.168.10.1 82 < /dev/null > /dev/null 2>&1
# Counters reach the listing at the next estimator tick.
sleep 3

# --- comparisons ------------------------------------------------------------
# same ARGS...: both programs, back to back, same stdout, stderr and status.
same() {
    tries=0
    while :; do
        r_out=$("$REF_IPVSADM" "$@" < /dev/null 2> r_err; echo "rc=$?")
        o_out=$("$IPVSADM_RS" "$@" < /dev/null 2> o_err; echo "rc=$?")
        if [ "$r_out" = "$o_out" ] && cmp -s r_err o_err; then
            COMPARED=$((COMPARED + 1))
            LAST=$r_out
            return 0
        fi
        tries=$((tries + 1))
        if [ "$tries" -ge 5 ]; then
            echo "FAIL: ipvsadm $*"
            echo "--- reference"; printf '%s\n' "$r_out"; cat r_err
            echo "--- ipvsadm-rs"; printf '%s\n' "$o_out"; cat o_err
            exit 1
        fi
        sleep 0.2
    done
}
COMPARED=0
# same_conn ARGS...: for connection listings, whose expiry column ticks
# every second on its own: the reference runs before and after ours, and
# each of our lines must equal the same line of one of those two runs.
same_conn() {
    tries=0
    while :; do
        "$REF_IPVSADM" "$@" > r1 2>&1; r1=$?
        "$IPVSADM_RS" "$@" > o 2>&1; o=$?
        "$REF_IPVSADM" "$@" > r2 2>&1; r2=$?
        if [ "$r1" = "$o" ] && [ "$o" = "$r2" ] &&
            [ "$(wc -l < r1)" = "$(wc -l < o)" ] && [ "$(wc -l < o)" = "$(wc -l < r2)" ] &&
            sep=$(printf '\001') &&
            paste -d "$sep" r1 o r2 | awk -F "$sep" '$2 != $1 && $2 != $3 { bad = 1 } END { exit bad }'
        then
            COMPARED=$((COMPARED + 1))
            LAST=$(cat o)
            return 0
        fi
        tries=$((tries + 1))
        if [ "$tries" -ge 5 ]; then
            echo "FAIL: ipvsadm $*"
            echo "--- reference (before, status $r1)"; cat r1
            echo "--- ipvsadm-rs (status $o)"; cat o
            echo "--- reference (after, status $r2)"; cat r2
            exit 1
        fi
        sleep 0.2
    done
}

# The state must really have counters and connections to compare.
same -L -n --stats --exact
printf '%s\n' "$LAST"
case "$LAST" in *" 1"[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]" "*) ;; *) fail "no bulk bytes counted" ;; esac
same -L -n
printf '%s\n' "$LAST"
case "$LAST" in *"Masq    1      1          0"*) ;; *) fail "no active connection" ;; esac
same_conn -L -n -c --persistent-conn
printf '%s\n' "$LAST"
case "$LAST" in *"UDP 01:5"?"  NONE        10.9.9.9:0         192.168.10.1:54"*) ;;
*) fail "no persistence template" ;; esac

# Rates decay, but are not zero yet after the bulk transfer.
same -L -n --rate
printf '%s\n' "$LAST"
case "$LAST" in *"TCP  192.168.10.1:81                     0        0        0        0        0"*)
    fail "no rates" ;; esac

services="-t 192.168.10.1:80
-t 192.168.10.1:81
-t 192.168.10.1:90
-t 192.168.10.1:443
-u 192.168.10.1:5060
-u 192.168.10.1:53
-u 192.168.10.1:54
-t [2001:db8::10]:80
-t 192.168.10.1:82
-t vip:http
-u vip.example.test:domain"
modes="
--stats
--rate
--thresholds
--persistent-conn
--tun-info
--exact
--stats --exact
--rate --exact
--stats --rate
--rate --stats --exact
--stats --thresholds
--rate --persistent-conn
--thresholds --persistent-conn --tun-info
--persistent-conn --tun-info
--tun-info --exact
--sort
--nosort
--nosort --stats
--nosort --rate --exact"
NL='
'
# Every mode on the whole table, numeric and with names.
IFS=$NL
for mode in $modes; do
    IFS=' '
    # shellcheck disable=SC2086 # word splitting wanted
    same -L -n $mode
    # shellcheck disable=SC2086
    same -L $mode
    IFS=$NL
done
# Every service alone, in a few modes.
for svc in $services; do
    for mode in "" "--stats --exact" "--rate" "--thresholds" "--persistent-conn --tun-info"; do
        IFS=' '
        # shellcheck disable=SC2086
        same -L -n $svc $mode
        IFS=$NL
    done
done
IFS=' '
for svc in "-t 192.168.10.1:81" "-u 192.168.10.1:53" "-t [2001:db8::10]:80" "-t vip:http"; do
    for mode in "" "--stats" "--rate --exact"; do
        # shellcheck disable=SC2086
        same -L $svc $mode
    done
done
same -L
same
same -l
same -L -n -X
same -L -n --stats -X

# Connections, with and without names and the pe columns; options that -c
# accepts and ignores.
for args in "-c" "-c -n" "-c --persistent-conn" "-c -n --persistent-conn" \
    "-c -n --exact" "-c --nosort" "-c -n --tun-info" "-c --sort -n" "-cn"; do
    # shellcheck disable=SC2086
    same_conn -L $args
done

# Zeroing one service, then everything, with counters really there.
$A -Z -t 192.168.10.1:81 || fail "-Z one"
same -L -n --stats --exact
same -L --stats -t 192.168.10.1:81
$A -Z || fail "-Z all"
same -L -n --stats --exact
same -L -n --rate
# ipvsadm-rs's own -Z gives the same result.
inc wget -q -O /dev/null http://192.168.10.1/ || fail "wget after -Z"
sleep 3
"$IPVSADM_RS" -Z -t 192.168.10.1:80 || fail "our -Z"
same -L -n --stats
exec 3>&-
echo "ok: $COMPARED listings compared"
