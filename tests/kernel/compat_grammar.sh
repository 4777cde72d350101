#!/bin/sh
# Deliberate fixes to ipvsadm's grammar (docs/compat.md), each shown beside
# what the reference does on the same kernel.
set -u
fail() { echo "FAIL: $*"; exit 1; }
# run WANT_RC CMD...: runs CMD, output (stdout+stderr) in $OUT, checks status.
run() {
    want=$1; shift
    OUT=$("$@" 2>&1); got=$?
    [ "$got" = "$want" ] || fail "'$*' exited $got, want $want; output: $OUT"
}
has() { case "$OUT" in *"$1"*) ;; *) fail "output lacks '$1': $OUT" ;; esac; }

# Policy 2: the command need not come first.
run 0 "$IPVSADM_RS" -A -t 10.0.0.1:80 -s rr
run 255 "$REF_IPVSADM" -nL
has "Try \`$REF_IPVSADM -h' or '$REF_IPVSADM --help' for more information."
run 0 "$IPVSADM_RS" -Ln; listing=$OUT
run 0 "$IPVSADM_RS" -nL; [ "$OUT" = "$listing" ] || fail "-nL differs from -Ln"
run 0 "$IPVSADM_RS" -n -L; [ "$OUT" = "$listing" ] || fail "-n -L differs from -Ln"

# Policy 5: `-b ,` crashes ipvsadm; we give a clear error and change nothing.
run 139 "$REF_IPVSADM" -A -t 10.0.0.2:80 -s sh -b ,
run 2 "$IPVSADM_RS" -A -t 10.0.0.2:80 -s sh -b ,
has "invalid scheduler flag \`,'"

# Policy 10: [a.b.c.d]:port keeps its port (ipvsadm drops it, then
# complains about port zero).
run 2 "$REF_IPVSADM" -A -t '[10.0.0.3]:8080'
has "Zero port specified for non-persistent service"
run 0 "$IPVSADM_RS" -A -t '[10.0.0.3]:8080'
run 0 "$REF_IPVSADM" -Ln -t 10.0.0.3:8080

# Policy 16: the wording for a bad --stop-daemon state.
run 2 "$REF_IPVSADM" --stop-daemon foo
has "illegal start_daemon specified"
run 2 "$IPVSADM_RS" --stop-daemon foo
has "illegal stop-daemon parameter specified"

# Policy 20: -6 may come before -f; a bare number on IPv4 is a prefix length.
run 2 "$REF_IPVSADM" -A -6 -f 5
has "-6 used before -f"
run 0 "$IPVSADM_RS" -A -6 -f 5
run 0 "$REF_IPVSADM" -Ln
has "FWM  5 IPv6 wlc"
run 0 "$REF_IPVSADM" -A -t 10.0.0.4:80 -p -M 24
run 0 "$IPVSADM_RS" -A -t 10.0.0.5:80 -p -M 24
run 0 "$REF_IPVSADM" -Ln
has "TCP  10.0.0.4:80 wlc persistent 360 mask 0.0.0.24"
has "TCP  10.0.0.5:80 wlc persistent 360 mask 255.255.255.0"
echo ok
