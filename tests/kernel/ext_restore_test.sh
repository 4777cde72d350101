#!/bin/sh
# --test on -R and on ipvsadm-rs-restore (an extension; ipvsadm has no
# such option): every bad line is reported with its number, the exit
# status is the one a failing restore gives (2, or 255 when the first bad
# line is an option-parser error), nothing reaches the kernel (not even
# the wrapper's flush), and good input exits 0 with a summary on stderr.
set -u
fail() { echo "FAIL: $*"; exit 1; }
run() {
    want=$1; shift
    OUT=$("$@" 2>&1); got=$?
    [ "$got" = "$want" ] || fail "'$*' exited $got, want $want; output: $OUT"
}
has() { case "$OUT" in *"$1"*) ;; *) fail "output lacks '$1': $OUT" ;; esac; }
lacks() { case "$OUT" in *"$1"*) fail "output has '$1': $OUT" ;; esac; }
state() { "$REF_IPVSADM" -Sn; "$REF_IPVSADM" -L --timeout; }

"$REF_IPVSADM" -A -t 10.0.0.1:80 -s rr || fail setup
"$REF_IPVSADM" -a -t 10.0.0.1:80 -r 10.0.1.1 -m || fail setup
before=$(state)

# Good input, with a flush, comments and a listing: accepted, not applied.
printf -- '# rules\n-C\n-A -t 10.0.0.2:80 -s wrr\n\n-a -t 10.0.0.2:80 -r 10.0.1.2 -w 2\n--set 10 10 10\n-L -n\n' > good.rules
run 0 sh -c "\"$IPVSADM_RS\" -R --test < good.rules"
has "restore test: 5 command lines checked, no errors; nothing applied"
lacks "TCP"
[ "$(state)" = "$before" ] || fail "-R --test applied: $(state)"
run 0 sh -c "\"$IPVSADM_RS_RESTORE\" --test < good.rules"
has "ipvsadm-rs-restore: restore test: 5 command lines checked"
[ "$(state)" = "$before" ] || fail "restore --test applied: $(state)"

# Bad input: each bad line by number, nothing applied.
printf -- '-C\n-A -t 10.0.0.3:80 -w 5\n-A -t 10.0.0.4:80\n-a -t 10.0.0.4:80 -r 10.0.1.1 -w x\n\n-A -t 10.0.0.5:80 -s\n-E -t 10.0.0.1:80 -s lc\n' > bad.rules
for cmd in "\"$IPVSADM_RS\" -R --test" "\"$IPVSADM_RS\" --test -R" "\"$IPVSADM_RS_RESTORE\" --test"; do
    run 2 sh -c "$cmd < bad.rules"
    has "line 2: Illegal 'weight' option with the 'add-service' command"
    has "line 4: illegal weight specified"
    has "line 6: -s: missing argument"
    has "restore: 3 bad lines, nothing applied"
    lacks "line 1:"
    lacks "line 3:"
    lacks "line 7:"
    [ "$(state)" = "$before" ] || fail "$cmd changed the table: $(state)"
done
# The first bad line's status: a parser error gives 255.
printf -- '-A -t 10.0.0.6:80 -s\n-A -t 10.0.0.7:80 -w 1\n' > popt.rules
run 255 sh -c "\"$IPVSADM_RS\" -R --test < popt.rules"
has "line 1: -s: missing argument"
has "line 2: Illegal 'weight'"
# What only the kernel can refuse (an unknown scheduler) passes the test.
printf -- '-A -t 10.0.0.8:80 -s nosuchsched\n' > sched.rules
run 0 sh -c "\"$IPVSADM_RS\" -R --test < sched.rules"
[ "$(state)" = "$before" ] || fail "changed: $(state)"

# --test belongs to -R only; repeats are refused.
run 2 "$IPVSADM_RS" -L --test
has "Illegal 'test' option with the 'list' command"
run 2 sh -c "\"$IPVSADM_RS\" -R --test --test < good.rules"
has "multiple 'test' options specified"
# A mistyped wrapper option is refused rather than ignored (ipvsadm's
# wrapper ignores its arguments and would flush).
run 2 sh -c "\"$IPVSADM_RS_RESTORE\" --tset < good.rules"
has "unexpected argument --tset"
[ "$(state)" = "$before" ] || fail "changed: $(state)"

# The reference has no such option.
run 255 sh -c "\"$REF_IPVSADM\" -R --test < good.rules"
has "--test: unknown option"
echo "ok"
