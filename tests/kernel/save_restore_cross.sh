#!/bin/sh
# Saves of either implementation restore with the other: a varied table
# built by ipvsadm-rs, saved by ipvsadm-rs-save and restored by the
# reference ipvsadm-restore, must read back (reference ipvsadm -S -n) as
# exactly what we saved; the reference's save restored by
# ipvsadm-rs-restore likewise. Then the same with names (save without -n),
# on a table whose names do round-trip.
#
# No thresholds (-x/-y) here: ipvsadm's save drops them, ours keeps them (a
# deliberate divergence pinned by compat_values.sh).
set -uf
fail() { echo "FAIL: $*"; exit 1; }
run() {
    want=$1; shift
    OUT=$("$@" 2>&1); got=$?
    [ "$got" = "$want" ] || fail "'$*' exited $got, want $want; output: $OUT"
}
# same A B WHAT: A and B are equal, or show their diff.
same() {
    [ "$1" = "$2" ] && return 0
    printf '%s\n' "$1" > same.a
    printf '%s\n' "$2" > same.b
    diff -u same.a same.b
    fail "$3"
}
# build: one ipvsadm-rs invocation per line of standard input.
build() {
    while read -r line; do
        [ -n "$line" ] || continue
        # shellcheck disable=SC2086 # the words of the line are the arguments
        "$IPVSADM_RS" $line || fail "ipvsadm-rs $line"
    done
}
# restore_with PROGRAM TEXT: feeds TEXT to PROGRAM's standard input.
restore_with() {
    printf '%s\n' "$2" > restore.in
    run 0 sh -c "\"$1\" < restore.in"
}

build <<'EOF'
-A -t 10.0.0.1:80 -s wrr -p 120 -M 255.255.255.0
-a -t 10.0.0.1:80 -r 10.0.1.1:8080 -m -w 3
-a -t 10.0.0.1:80 -r 10.0.1.2 -g -w 0
-a -t 10.0.0.1:80 -r 10.0.1.3 -i
-a -t 10.0.0.1:80 -r 10.0.1.4 -i --tun-type gue --tun-port 6080 --tun-csum
-a -t 10.0.0.1:80 -r 10.0.1.5 -i --tun-type gue --tun-port 6081 --tun-remcsum
-a -t 10.0.0.1:80 -r 10.0.1.6 -i --tun-type gre --tun-csum
-a -t 10.0.0.1:80 -r 10.0.1.7 -i --tun-type gre --tun-nocsum -w 9
-a -t 10.0.0.1:80 -r [2001:db8::40]:80 -i
-A -u 10.0.0.1:53 -s rr -o
-a -u 10.0.0.1:53 -r 10.0.1.1:5353 -m -w 2
-A -u 10.0.0.1:5060 -s wlc -p 60 --pe sip
-a -u 10.0.0.1:5060 -r 10.0.1.8 -m
-A --sctp-service 10.0.0.1:3868 -s sed
-a --sctp-service 10.0.0.1:3868 -r 10.0.1.9 -g -w 4
-A -t 10.0.0.2:0 -s sh -b sh-fallback,sh-port -p 3600 -M 255.255.0.0
-a -t 10.0.0.2:0 -r 10.0.1.13 -g
-A -f 7 -s mh -b mh-fallback,mh-port
-a -f 7 -r 10.0.1.10:0 -m
-a -f 7 -r 10.0.1.11:8080 -m -w 5
-A -f 8 -6 -s lblcr -p 30 -M 96
-a -f 8 -6 -r [2001:db8::20]:0 -m
-A -t [2001:db8::1]:443 -s nq -p
-a -t [2001:db8::1]:443 -r [2001:db8::11]:443 -m -w 2
-a -t [2001:db8::1]:443 -r [2001:db8::12]:8443 -m
-a -t [2001:db8::1]:443 -r 10.0.1.12:443 -i
-A -u [2001:db8::1]:53 -s dh -p 100 -M 64
-A -t 10.0.0.3:80 -s fo
-A -t 10.0.0.4:80 -s ovf
-A -t 10.0.0.5:80 -s lblc
-A -u 10.0.0.6:80 -s lc -o
-A -t 10.0.0.7:80 -s rr -b flag-1,flag-2
EOF
run 0 "$REF_IPVSADM" -L -n --tun-info
listing=$OUT

# Ours to the reference.
run 0 "$IPVSADM_RS_SAVE" -n
ours=$OUT
run 0 "$REF_IPVSADM" -S -n
same "$OUT" "$ours" "ipvsadm -S -n and ipvsadm-rs-save -n differ on the same table"
run 0 "$REF_SAVE" -n
same "$OUT" "$ours" "ipvsadm-save -n and ipvsadm-rs-save -n differ on the same table"
run 0 "$IPVSADM_RS" -C
restore_with "$REF_RESTORE" "$ours"
run 0 "$REF_IPVSADM" -S -n
same "$OUT" "$ours" "ipvsadm-restore of ipvsadm-rs-save -n did not rebuild the table"
run 0 "$REF_IPVSADM" -L -n --tun-info
same "$OUT" "$listing" "listing after the reference restored our save"

# The reference to ours.
run 0 "$REF_SAVE" -n
theirs=$OUT
run 0 "$REF_IPVSADM" -C
restore_with "$IPVSADM_RS_RESTORE" "$theirs"
run 0 "$REF_IPVSADM" -S -n
same "$OUT" "$theirs" "ipvsadm-rs-restore of ipvsadm-save -n did not rebuild the table"
run 0 "$IPVSADM_RS_SAVE" -n
same "$OUT" "$theirs" "ipvsadm-rs-save -n after restoring ipvsadm-save -n"
run 0 "$REF_IPVSADM" -L -n --tun-info
same "$OUT" "$listing" "listing after we restored the reference's save"

# With names. Host names come from the VM's /etc/hosts and ports from
# /etc/services. IPv4 names only: an IPv6 address with a name is saved as
# [name]:port, which neither ipvsadm nor ipvsadm-rs reads back. The
# addresses stay within 192.168/16 so both sort the same way.
run 0 "$IPVSADM_RS" -C
build <<'EOF'
-A -t vip:http -s rr -p 300
-a -t vip:http -r rs1:http -m -w 2
-a -t vip:http -r rs2:8080 -m
-a -t vip:http -r 192.168.10.99:http -i --tun-type gue --tun-port 6080 --tun-csum
-A -u vip:domain -s wlc
-a -u vip:domain -r rs1:domain -g
-A -u 192.168.10.2:sip -p 60 --pe sip
-A --sctp-service vip:3868 -s sed
-a --sctp-service vip:3868 -r rs2 -g
-A -t 192.168.10.2:https -s sh -b sh-port
-a -t 192.168.10.2:https -r rs2:https -i
-A -f 9 -s lc
-a -f 9 -r rs1:0 -m
-A -f 10 -6 -s rr
-a -f 10 -6 -r [2001:db8::20]:0 -m
EOF
run 0 "$IPVSADM_RS_SAVE" -n
numeric=$OUT
run 0 "$IPVSADM_RS_SAVE"
ours=$OUT
case "$ours" in
*"-A -t vip.example.test:http -s rr -p 300"*) ;;
*) fail "the save without -n shows no names: $ours" ;;
esac
run 0 "$REF_SAVE"
same "$OUT" "$ours" "ipvsadm-save and ipvsadm-rs-save differ on the same table"
run 0 "$IPVSADM_RS" -C
restore_with "$REF_RESTORE" "$ours"
run 0 "$REF_IPVSADM" -S -n
same "$OUT" "$numeric" "ipvsadm-restore of ipvsadm-rs-save (names) did not rebuild the table"
run 0 "$REF_SAVE"
theirs=$OUT
run 0 "$REF_IPVSADM" -C
restore_with "$IPVSADM_RS_RESTORE" "$theirs"
run 0 "$REF_IPVSADM" -S -n
same "$OUT" "$numeric" "ipvsadm-rs-restore of ipvsadm-save (names) did not rebuild the table"
run 0 "$IPVSADM_RS_SAVE"
same "$OUT" "$theirs" "ipvsadm-rs-save after restoring ipvsadm-save (names)"
echo ok
