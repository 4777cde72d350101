#!/bin/sh
# --netns (an extension; ipvsadm has no such option): two namespaces with
# different tables; ipvsadm-rs --netns X lists, adds, saves, restores and
# flushes only X's table, and reads what the reference run inside X
# (`ip netns exec X ipvsadm`) reads. A missing namespace is an error that
# names it (exit 2) and changes nothing anywhere.
set -u
fail() { echo "FAIL: $*"; exit 1; }
run() {
    want=$1; shift
    OUT=$("$@" 2>&1); got=$?
    [ "$got" = "$want" ] || fail "'$*' exited $got, want $want; output: $OUT"
}
has() { case "$OUT" in *"$1"*) ;; *) fail "output lacks '$1': $OUT" ;; esac; }
A=ina$$
B=inb$$
cleanup() { ip netns del "$A" 2>/dev/null; ip netns del "$B" 2>/dev/null; }
trap cleanup EXIT
ip netns add "$A" || fail "netns add"
ip netns add "$B" || fail "netns add"
ip -n "$A" link set lo up
ip -n "$B" link set lo up
RS="$IPVSADM_RS"
# ref NS ARGS...: the reference inside NS (empty NS: this namespace).
ref() { ns=$1; shift; if [ -n "$ns" ]; then ip netns exec "$ns" "$REF_IPVSADM" "$@"; else "$REF_IPVSADM" "$@"; fi; }
tables() { echo "A:$(ref "$A" -Sn)|B:$(ref "$B" -Sn)|here:$(ref "" -Sn)"; }

# Add: by name (anywhere on the line, --netns=NAME too) and by path.
run 0 "$RS" --netns "$A" -A -t 10.0.0.1:80 -s rr
run 0 "$RS" -a -t 10.0.0.1:80 -r 10.0.1.1 -m --netns "$A"
run 0 "$RS" --netns="$B" -A -u 10.0.0.2:53 -s wrr
run 0 "$RS" --netns "/run/netns/$B" -a -u 10.0.0.2:53 -r 10.0.1.2 -w 3
run 0 "$REF_IPVSADM" -A -t 10.0.0.99:80
want_a='-A -t 10.0.0.1:80 -s rr
-a -t 10.0.0.1:80 -r 10.0.1.1:80 -m -w 1'
want_b='-A -u 10.0.0.2:53 -s wrr
-a -u 10.0.0.2:53 -r 10.0.1.2:53 -g -w 3'
want_here='-A -t 10.0.0.99:80 -s wlc'
[ "$(tables)" = "A:$want_a|B:$want_b|here:$want_here" ] || fail "after adds: $(tables)"

# List and save: what the reference prints inside each namespace.
for ns in "$A" "$B"; do
    for opts in "-Ln" "-Ln --stats --exact" "-Ln --thresholds" "-L --timeout"; do
        # shellcheck disable=SC2086
        [ "$("$RS" --netns "$ns" $opts)" = "$(ref "$ns" $opts)" ] || fail "$opts in $ns"
    done
    [ "$("$IPVSADM_RS_SAVE" -n --netns "$ns")" = "$(ip netns exec "$ns" "$REF_SAVE" -n)" ] ||
        fail "save in $ns"
    [ "$("$IPVSADM_RS_SAVE" --netns="$ns")" = "$(ip netns exec "$ns" "$REF_SAVE")" ] ||
        fail "save with names in $ns"
    [ "$("$RS" --netns "$ns" -S -n)" = "$(ref "$ns" -Sn)" ] || fail "-S in $ns"
done
run 0 "$RS" --netns "$A" -L -n --json
has '"address":"10.0.0.1"'
case "$OUT" in *10.0.0.2*|*10.0.0.99*) fail "A's JSON shows another table: $OUT" ;; esac

# Restore: -R adds to B only; ipvsadm-rs-restore replaces A's table only.
printf -- '-a -u 10.0.0.2:53 -r 10.0.1.3 -w 1\n' > add.rules
run 0 sh -c "\"$RS\" --netns \"$B\" -R < add.rules"
want_b="$want_b
-a -u 10.0.0.2:53 -r 10.0.1.3:53 -g -w 1"
printf -- '-A -t 10.0.0.9:80 -s lc\n' > new.rules
run 0 sh -c "\"$IPVSADM_RS_RESTORE\" --netns \"$A\" < new.rules"
want_a='-A -t 10.0.0.9:80 -s lc'
[ "$(tables)" = "A:$want_a|B:$want_b|here:$want_here" ] || fail "after restores: $(tables)"

# Timeouts and flush, each in one namespace.
run 0 "$RS" --netns "$A" --set 100 20 30
[ "$(ref "$A" -L --timeout)" = "Timeout (tcp tcpfin udp): 100 20 30" ] || fail "set in A"
[ "$(ref "$B" -L --timeout)" = "$(ref "" -L --timeout)" ] || fail "set leaked out of A"
run 0 "$RS" --netns "$B" -C
want_b=''
[ "$(tables)" = "A:$want_a|B:$want_b|here:$want_here" ] || fail "after flush: $(tables)"

# realserver: the VIP goes on A's loopback, not on this namespace's.
run 0 "$RS" --netns "$A" realserver apply --vip 192.168.77.1 --state "$PWD/a.state"
ip -n "$A" addr show dev lo | grep -q 192.168.77.1 || fail "VIP not in A"
ip addr show dev lo | grep -q 192.168.77.1 && fail "VIP in this namespace"
run 0 "$RS" realserver check --vip 192.168.77.1 --netns "$A"
run 0 "$RS" realserver undo --state "$PWD/a.state" --netns="$A"
ip -n "$A" addr show dev lo | grep -q 192.168.77.1 && fail "VIP left in A"

# A missing namespace: named, exit 2, nothing changed anywhere.
before=$(tables)
run 2 "$RS" --netns nosuch$$ -C
has "network namespace nosuch$$ (/run/netns/nosuch$$)"
run 2 "$RS" -A -t 10.0.0.5:80 --netns /nonexistent/ns
has "network namespace /nonexistent/ns"
run 2 sh -c "\"$IPVSADM_RS_RESTORE\" --netns nosuch$$ < new.rules"
has "nosuch$$"
run 2 sh -c "\"$RS\" -R --netns nosuch$$ < add.rules"
run 2 "$IPVSADM_RS_SAVE" --netns nosuch$$
run 2 "$RS" --netns nosuch$$ realserver check --vip 192.168.77.1
# Not a namespace file.
run 2 "$RS" --netns /proc/self/status -L -n
has "not a network namespace"
# Repeats, and --netns inside restore input.
run 2 "$RS" --netns "$A" --netns "$B" -C
has "multiple 'netns' options specified"
printf -- '-C --netns %s\n' "$A" > bad.rules
run 2 sh -c "\"$RS\" -R < bad.rules"
has "line 1: --netns is not allowed in restore input"
[ "$(tables)" = "$before" ] || fail "a failed --netns changed something: $(tables)"

# The reference has no such option.
run 255 "$REF_IPVSADM" -L --netns "$A"
has "--netns: unknown option"
echo "ok"
