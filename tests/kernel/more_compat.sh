#!/bin/sh
# More deliberate fixes (docs/compat.md), each shown beside what the
# reference does on the same kernel; complements compat_*.sh.
set -u
fail() { echo "FAIL: $*"; exit 1; }
# run WANT_RC CMD...: runs CMD, output (stdout+stderr) in $OUT, checks status.
run() {
    want=$1; shift
    OUT=$("$@" 2>&1); got=$?
    [ "$got" = "$want" ] || fail "'$*' exited $got, want $want; output: $OUT"
}
has() { case "$OUT" in *"$1"*) ;; *) fail "output lacks '$1': $OUT" ;; esac; }
lacks() { case "$OUT" in *"$1"*) fail "output has '$1': $OUT" ;; esac; }
is() { [ "$OUT" = "$1" ] || fail "output is '$OUT', want '$1'"; }
R=$REF_IPVSADM
O=$IPVSADM_RS

# Policy 2: the command may come anywhere, not only first.
run 255 "$R" -t 10.0.0.1:80 -s rr -A
has "for more information."
run 0 "$O" -t 10.0.0.1:80 -s rr -A
run 255 "$R" -r 10.0.1.1:80 -m -a -t 10.0.0.1:80
run 0 "$O" -r 10.0.1.1:80 -m -a -t 10.0.0.1:80
run 0 "$R" -Ln -t 10.0.0.1:80
has "  -> 10.0.1.1:80                  Masq    1"
run 0 "$R" -C

# Policy 20: -6 without -f. ipvsadm says "used before" (with a blank line)
# even when no -f follows at all.
"$R" -A -t 10.0.0.1:80 -6 2> err; [ $? = 2 ] || fail "reference -6: status"
printf -- '-6 used before -f\n\n' > want
cmp -s err want || fail "reference -6: $(od -c err)"
"$O" -A -t 10.0.0.1:80 -6 2> err; [ $? = 2 ] || fail "our -6: status"
printf -- '-6 used without -f\n' > want
cmp -s err want || fail "our -6: $(od -c err)"
run 2 "$O" -A -6 -t 10.0.0.1:80
is "-6 used without -f"
run 2 "$O" -L -n -6
is "-6 used without -f"
# ... and -M given before the IPv6 address keeps its meaning.
run 0 "$R" -A -p -M 64 -t '[2001:db8::1]:80'
run 0 "$O" -A -p -M 64 -t '[2001:db8::2]:80'
run 0 "$R" -Sn
has "-A -t [2001:db8::1]:80 -s wlc -p 360
"
has "-A -t [2001:db8::2]:80 -s wlc -p 360 -M 64"
run 0 "$R" -C

# Policy 10: [a.b.c.d]:port keeps its port for real servers too (ipvsadm
# drops it and copies the service's port).
run 0 "$R" -A -t 10.0.0.1:80
run 0 "$R" -a -t 10.0.0.1:80 -r '[10.0.1.1]:8080' -m
run 0 "$O" -a -t 10.0.0.1:80 -r '[10.0.1.2]:8080' -m
run 0 "$R" -Ln
has "  -> 10.0.1.1:80 "
has "  -> 10.0.1.2:8080 "
run 0 "$R" -C

# Policies 7 and 8: fwmarks of 2^31 and above sort after the smaller ones
# (ipvsadm's wrapping comparator puts 4294967295 first), and list unsigned.
run 0 "$O" -A -f 1 -s rr
run 0 "$O" -A -f 4294967295 -s rr
run 0 "$O" -A -t 10.0.0.1:80 -s rr
run 0 "$R" -Ln
order=$(printf '%s\n' "$OUT" | sed -n 's/^\(FWM  [-0-9]*\|TCP  [0-9.:]*\) rr$/\1/p' | tr '\n' ',')
[ "$order" = "FWM  -1,TCP  10.0.0.1:80,FWM  1," ] || fail "reference order: $order"
run 0 "$O" -Ln
order=$(printf '%s\n' "$OUT" | sed -n 's/^\(FWM  [-0-9]*\|TCP  [0-9.:]*\) rr$/\1/p' | tr '\n' ',')
[ "$order" = "TCP  10.0.0.1:80,FWM  1,FWM  4294967295," ] || fail "our order: $order"
run 0 "$O" -A -f 2147483648 -s rr
run 0 "$R" -Ln -f 2147483648
has "FWM  -2147483648 rr"
run 0 "$O" -Ln -f 2147483648
has "FWM  2147483648 rr"
run 0 "$O" -Ln --stats -f 2147483648
has "FWM  2147483648                          0        0"
run 0 "$R" -C

# Policy 8: mixed-family destinations of a tunnel service in true numeric
# order of their addresses' bytes (ipvsadm's wrapping 32-bit differences
# put 192.168.1.1 before 10.0.1.1).
run 0 "$O" -A -t 10.0.0.1:80 -s rr
run 0 "$O" -a -t 10.0.0.1:80 -r 192.168.1.1 -i
run 0 "$O" -a -t 10.0.0.1:80 -r '[2001:db8::1]:80' -i
run 0 "$O" -a -t 10.0.0.1:80 -r 10.0.1.1 -i
run 0 "$R" -Ln
order=$(printf '%s\n' "$OUT" | sed -n 's/^  -> \([0-9[][^ ]*\) .*/\1/p' | tr '\n' ' ')
[ "$order" = "192.168.1.1:80 10.0.1.1:80 [2001:db8::1]:80 " ] || fail "reference order: $order"
run 0 "$O" -Ln
order=$(printf '%s\n' "$OUT" | sed -n 's/^  -> \([0-9[][^ ]*\) .*/\1/p' | tr '\n' ' ')
[ "$order" = "10.0.1.1:80 [2001:db8::1]:80 192.168.1.1:80 " ] || fail "our order: $order"
run 0 "$R" -C

# Restore reports: every bad line as "line N: MESSAGE", then one summary
# line, and nothing is applied. ipvsadm prints bare messages, goes on after
# an option-parser error, stops at its first own error, and keeps what
# the lines before applied.
printf -- '-A -t 10.0.0.1:80\n-A -t 10.0.0.2:80 -s\n-A -t 10.0.0.3:80 -w 1\n-A -t 10.0.0.4:80\n' > in.rules
run 2 sh -c "\"$R\" -R < in.rules"
is "-s: missing argument
Illegal 'weight' option with the 'add-service' command"
run 0 "$R" -Sn
is "-A -t 10.0.0.1:80 -s wlc"
run 0 "$R" -C
run 255 sh -c "\"$O\" -R < in.rules"
is "line 2: -s: missing argument
line 3: Illegal 'weight' option with the 'add-service' command
$O: restore: 2 bad lines, nothing applied"
run 0 "$R" -Sn
is ""

# -h works and exits 0 in both, with the same version line first; the rest
# of our help is our own text.
run 0 "$R" -h
ref_first=$(printf '%s\n' "$OUT" | head -n 1)
ref_help=$OUT
run 0 "$O" -h
[ "$(printf '%s\n' "$OUT" | head -n 1)" = "$ref_first" ] || fail "-h first line: $OUT"
[ "$OUT" != "$ref_help" ] || fail "-h: identical to ipvsadm's text"
for opt in --add-service --edit-service --delete-service --clear --restore --save \
    --add-server --edit-server --delete-server --list --zero --set --start-daemon \
    --stop-daemon --help --tcp-service --udp-service --sctp-service --fwmark-service \
    --ipv6 --scheduler --pe --persistent --netmask --real-server --gatewaying --ipip \
    --masquerading --tun-type --tun-port --tun-nocsum --tun-csum --tun-remcsum --weight \
    --u-threshold --l-threshold --connection --timeout --daemon --stats --rate --exact \
    --thresholds --persistent-conn --tun-info --nosort --sort --ops --numeric \
    --sched-flags --syncid --sync-maxlen --mcast-interface --mcast-group --mcast-port \
    --mcast-ttl; do
    has "$opt"
done
echo ok
