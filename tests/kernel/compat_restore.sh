#!/bin/sh
# Deliberate fixes to restore (policy items 11, 12, 13 in docs/compat.md).
set -u
fail() { echo "FAIL: $*"; exit 1; }
run() {
    want=$1; shift
    OUT=$("$@" 2>&1); got=$?
    [ "$got" = "$want" ] || fail "'$*' exited $got, want $want; output: $OUT"
}
has() { case "$OUT" in *"$1"*) ;; *) fail "output lacks '$1': $OUT" ;; esac; }
table() { "$REF_IPVSADM" -Sn; }

# 11: comment lines are skipped (ipvsadm -R stops at them with "Try ...").
printf '# saved rules\n-A -t 10.0.0.1:80 -s rr\n\n  # indented\n-a -t 10.0.0.1:80 -r 10.1.0.1\n' > in.rules
run 255 sh -c "\"$REF_IPVSADM\" -R < in.rules"
run 0 "$REF_IPVSADM" -C
run 0 sh -c "\"$IPVSADM_RS\" -R < in.rules"
[ "$(table)" = "$(printf -- '-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.1.0.1:80 -g -w 1')" ] ||
    fail "comments: $(table)"
run 0 "$IPVSADM_RS" -C

# 12: a last line with trailing blanks and no newline is applied. (The
# reference lists this as an ipvsadm bug, but Debian's 1.31 applies it too,
# so both must.)
printf -- '-A -t 10.0.0.2:80 ' > in.rules
run 0 sh -c "\"$REF_IPVSADM\" -R < in.rules"
[ "$(table)" = "-A -t 10.0.0.2:80 -s wlc" ] || fail "reference, last line: $(table)"
run 0 "$REF_IPVSADM" -C
run 0 sh -c "\"$IPVSADM_RS\" -R < in.rules"
[ "$(table)" = "-A -t 10.0.0.2:80 -s wlc" ] || fail "last line: $(table)"
run 0 "$IPVSADM_RS" -C

# 13a: a bad line applies nothing; every bad line is reported by number.
printf -- '-A -t 10.0.0.3:80\n-A -t 10.0.0.4:80 -w 5\n-A -t 10.0.0.5:80\n-a -t 10.0.0.3:80 -r 10.1.0.1 -w x\n' > in.rules
run 2 sh -c "\"$REF_IPVSADM\" -R < in.rules"
[ "$(table)" = "-A -t 10.0.0.3:80 -s wlc" ] || fail "the reference applied: $(table)"
run 0 "$REF_IPVSADM" -C
run 2 sh -c "\"$IPVSADM_RS\" -R < in.rules"
has "line 2: Illegal 'weight' option with the 'add-service' command"
has "line 4: illegal weight specified"
[ -z "$(table)" ] || fail "a bad restore applied: $(table)"

# 13b: kernel errors are reported with their line; the rest goes on, and
# the exit status says something failed.
printf -- '-A -t 10.0.0.6:80\n-A -t 10.0.0.6:80\n-A -t 10.0.0.7:80\n' > in.rules
run 0 sh -c "\"$REF_IPVSADM\" -R < in.rules"
has "Service already exists"
run 0 "$REF_IPVSADM" -C
run 255 sh -c "\"$IPVSADM_RS\" -R < in.rules"
has "line 2: Service already exists"
[ "$(table)" = "$(printf -- '-A -t 10.0.0.6:80 -s wlc\n-A -t 10.0.0.7:80 -s wlc')" ] ||
    fail "kernel error: $(table)"

# The restore front end: bad input leaves the live table alone (ipvsadm's
# script flushes it first, whatever follows).
before=$(table)
printf -- '-A -t 10.0.0.8:80 -w 5\n' > bad.rules
"$REF_RESTORE" < bad.rules > /dev/null 2>&1
[ -z "$(table)" ] || fail "the reference restore script kept the table"
printf '%s\n' "$before" > good.rules
run 0 sh -c "\"$IPVSADM_RS_RESTORE\" < good.rules"
run 2 sh -c "\"$IPVSADM_RS_RESTORE\" < bad.rules"
has "line 1: "
[ "$(table)" = "$before" ] || fail "a bad restore changed the table: $(table)"
echo ok
