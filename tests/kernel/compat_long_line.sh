#!/bin/sh
# Restore lines with a word longer than ipvsadm's 4096-byte token buffer
# (docs/compat.md section 3, row 24). ipvsadm reads restore input one word
# at a time into a 4096-byte buffer: a longer word is cut there, and what
# follows is read as the next word, or, when the word starts its line, as
# the start of a new command. ipvsadm-rs reads the whole line, so the
# word is checked as it was written. Both sides are run here on the same
# input, and the reference's result is pinned too, so that a change in
# either shows.
set -u
fail() { echo "FAIL: $*"; exit 1; }
run() {
    want=$1; shift
    OUT=$("$@" 2>&1); got=$?
    [ "$got" = "$want" ] || fail "'$*' exited $got, want $want; output: $(echo "$OUT" | cut -c1-300)"
}
has() { case "$OUT" in *"$1"*) ;; *) fail "output lacks '$1': $(echo "$OUT" | cut -c1-300)" ;; esac; }
table() { "$REF_IPVSADM" -Sn; }
zeros() { head -c "$1" /dev/zero | tr '\0' '0'; }

# 1. A word at the start of a line, cut at 4096 bytes: -Dt10.0.0.2:0...080
# is exactly 4096 bytes (a port with leading zeros is still 80), and the
# rest of the word, -At10.0.0.3:80, becomes a command of its own.
word="-Dt10.0.0.2:$(zeros 4082)80"
[ ${#word} = 4096 ] || fail "test word is ${#word} bytes"
printf -- '-A -t 10.0.0.1:80 -s rr\n-A -t 10.0.0.2:80 -s rr\n%s-At10.0.0.3:80\n' "$word" > split.rules
"$REF_IPVSADM" -C
run 0 sh -c "\"$REF_IPVSADM\" -R < split.rules"
[ "$(table)" = "$(printf -- '-A -t 10.0.0.1:80 -s rr\n-A -t 10.0.0.3:80 -s wlc')" ] ||
    fail "the reference did not split the line into two commands: $(table)"
"$REF_IPVSADM" -C
# ipvsadm-rs: the port of line 3 is 000...080-At10.0.0.3:80, which is not
# a port; the line is bad and nothing is applied.
run 2 sh -c "\"$IPVSADM_RS\" -R < split.rules"
has "line 3: illegal virtual server address[:port] specified"
has "restore: 1 bad line, nothing applied"
[ -z "$(table)" ] || fail "ipvsadm-rs applied part of a bad restore: $(table)"

# 2. A long word inside a line: a weight of 5000 zeros and a 3. The
# reference cuts it into two arguments and refuses the second
# (unexpected argument, exit 2, the lines before stay applied);
# ipvsadm-rs reads the weight whole (3) and applies every line.
printf -- '-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.1.0.1 -m -w %s3\n-A -t 10.0.0.2:80\n' "$(zeros 5000)" > mid.rules
run 2 sh -c "\"$REF_IPVSADM\" -R < mid.rules"
has "unexpected argument 000"
[ "$(table)" = "-A -t 10.0.0.1:80 -s rr" ] || fail "reference, long weight: $(table)"
"$REF_IPVSADM" -C
run 0 sh -c "\"$IPVSADM_RS\" -R < mid.rules"
[ "$(table)" = "$(printf -- '-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.1.0.1:80 -m -w 3\n-A -t 10.0.0.2:80 -s wlc')" ] ||
    fail "ipvsadm-rs, long weight: $(table)"
"$REF_IPVSADM" -C

# 3. The same input through the restore front ends (ipvsadm's script and
# ipvsadm-rs-restore) gives the same results as -R.
run 0 sh -c "\"$REF_RESTORE\" < split.rules"
[ "$(table)" = "$(printf -- '-A -t 10.0.0.1:80 -s rr\n-A -t 10.0.0.3:80 -s wlc')" ] ||
    fail "reference restore script: $(table)"
"$REF_IPVSADM" -C
run 2 sh -c "\"$IPVSADM_RS_RESTORE\" < split.rules"
[ -z "$(table)" ] || fail "ipvsadm-rs-restore applied part of a bad restore: $(table)"
echo ok
