#!/bin/sh
# Deliberate fixes to what ipvsadm prints and saves (docs/compat.md).
set -u
fail() { echo "FAIL: $*"; exit 1; }
run() {
    want=$1; shift
    OUT=$("$@" 2>&1); got=$?
    [ "$got" = "$want" ] || fail "'$*' exited $got, want $want; output: $OUT"
}
has() { case "$OUT" in *"$1"*) ;; *) fail "output lacks '$1': $OUT" ;; esac; }
lacks() { case "$OUT" in *"$1"*) fail "output has '$1': $OUT" ;; esac; }

# Policy 7: fwmarks of 2^31 and above are unsigned, and save restores.
run 0 "$IPVSADM_RS" -A -f 4294967295 -s rr
run 0 "$REF_IPVSADM" -Ln
has "FWM  -1 rr"
run 0 "$IPVSADM_RS" -Ln
has "FWM  4294967295 rr"
run 0 "$IPVSADM_RS" -Sn
has "-A -f 4294967295 -s rr"
saved=$OUT
run 0 "$IPVSADM_RS" -C
printf '%s\n' "$saved" > saved.rules
run 0 sh -c "\"$IPVSADM_RS\" -R < saved.rules"
run 0 "$IPVSADM_RS" -Sn
[ "$OUT" = "$saved" ] || fail "restore of our save differs: $OUT"
run 0 "$IPVSADM_RS" -C

# Policy 6: scheduler flag bits without a name under the scheduler are
# shown and saved as flag-N, which reads back.
run 0 "$IPVSADM_RS" -A -t 10.0.0.1:80 -s sh -b flag-3
run 0 "$REF_IPVSADM" -Ln
has "TCP  10.0.0.1:80 sh ()"
run 0 "$IPVSADM_RS" -Ln
has "TCP  10.0.0.1:80 sh (flag-3)"
run 0 "$IPVSADM_RS" -Sn
has "-A -t 10.0.0.1:80 -s sh -b flag-3"

# Policy 8: true numeric order of services and destinations.
for a in 200.0.0.1 10.0.0.1 100.0.0.1 150.0.0.1; do
    run 0 "$IPVSADM_RS" -A -u $a:53
done
run 0 "$IPVSADM_RS" -Ln
order=$(printf '%s\n' "$OUT" | sed -n 's/^UDP  \([0-9.]*\):53.*/\1/p' | tr '\n' ' ')
[ "$order" = "10.0.0.1 100.0.0.1 150.0.0.1 200.0.0.1 " ] || fail "service order: $order"
for d in 100.1.1.1:80 10.1.1.1:70 10.1.1.1:90 10.1.1.1:80 200.1.1.1:80; do
    run 0 "$IPVSADM_RS" -a -u 10.0.0.1:53 -r $d -m
done
run 0 "$IPVSADM_RS" -Ln -u 10.0.0.1:53
order=$(printf '%s\n' "$OUT" | sed -n 's/^  -> \([0-9.:]*\) .*/\1/p' | tr '\n' ' ')
[ "$order" = "10.1.1.1:70 10.1.1.1:80 10.1.1.1:90 100.1.1.1:80 200.1.1.1:80 " ] ||
    fail "destination order: $order"

# Policy 14: thresholds are saved, and ipvsadm reads them back.
run 0 "$IPVSADM_RS" -a -t 10.0.0.1:80 -r 10.2.0.1 -x 100 -y 10
run 0 "$REF_IPVSADM" -Sn
lacks "-x 100"
run 0 "$IPVSADM_RS" -Sn
has "-a -t 10.0.0.1:80 -r 10.2.0.1:80 -g -w 1 -x 100 -y 10"
printf '%s\n' "$OUT" > saved.rules
run 0 "$IPVSADM_RS" -C
run 0 sh -c "\"$REF_IPVSADM\" -R < saved.rules"
run 0 "$IPVSADM_RS" -Ln --thresholds -t 10.0.0.1:80
has "10.2.0.1:80                  100        10"
echo ok
