#!/bin/sh
# ipvsadm-rs apply (issue 7, part 3): the dry run of a realistic change set
# (edits, additions, deletions) leaves the table alone; apply makes -Sn
# equal to the file as restore and save would write it; a second apply has
# nothing to do; a change set the kernel refuses in the middle (an unknown
# scheduler) is rolled back completely; bad files and usage send nothing.
set -u
fail() { echo "FAIL: $*"; exit 1; }
A="$IPVSADM_RS"
R="$REF_IPVSADM"
# run WANT CMD...: runs CMD, keeps stdout in OUT and stderr in ERR.
run() {
    want=$1; shift
    "$@" > out.txt 2> err.txt; got=$?
    OUT=$(cat out.txt); ERR=$(cat err.txt)
    [ "$got" = "$want" ] || fail "'$*' exited $got, want $want; stdout: $OUT; stderr: $ERR"
}
# state: everything the kernel holds, as both programs show it.
state() {
    "$A" -Sn
    "$R" -Sn
    "$R" -Ln --thresholds
    "$R" -Ln --tun-info
    "$R" -Ln --persistent-conn
}

# --- the live table, made by the reference ------------------------------------
for line in \
    "-A -t 10.0.0.1:80 -s rr" \
    "-a -t 10.0.0.1:80 -r 10.1.0.1:8080 -m -w 1" \
    "-a -t 10.0.0.1:80 -r 10.1.0.2:8080 -m -w 1" \
    "-A -t 10.0.0.1:443 -s sh -b sh-port -p 300" \
    "-a -t 10.0.0.1:443 -r 10.1.0.1:443 -g -w 1" \
    "-A -u 10.0.0.1:53 -s rr" \
    "-a -u 10.0.0.1:53 -r 10.1.0.1:53 -m -w 1" \
    "-A -f 7 -s wlc" \
    "-a -f 7 -r 10.1.0.7 -i -w 2"; do
    # shellcheck disable=SC2086 # word splitting wanted
    "$R" $line || fail "setup: $line"
done

cat > desired.rules <<'EOF'
# web: another scheduler, one real server reweighted, one replaced
-A -t 10.0.0.1:80 -s wlc
-a -t 10.0.0.1:80 -r 10.1.0.1:8080 -m -w 3
-a -t 10.0.0.1:80 -r 10.1.0.3:8080 -m -w 1 -x 100 -y 10

# https: as it is
-A -t 10.0.0.1:443 -s sh -p 300 -b sh-port
-a -t 10.0.0.1:443 -r 10.1.0.1:443 -g -w 1
# dns (udp 53) goes; IPv6 web comes
-A -t [2001:db8::10]:80 -s wrr
-a -t [2001:db8::10]:80 -r [2001:db8::11]:80 -m -w 2
# fwmark 7: persistent now, and its tunnel becomes GUE
-A -f 7 -s wlc -p 60
-a -f 7 -r 10.1.0.7:0 -i -w 2 --tun-type gue --tun-port 6080 --tun-csum
EOF

# --- dry run ----------------------------------------------------------------
before=$(state)
run 0 "$A" apply --dry-run desired.rules
echo "--- ipvsadm-rs apply --dry-run desired.rules"
printf '%s\n%s\n' "$OUT" "$ERR"
[ "$OUT" = "$(cat <<'EOF'
-d -t 10.0.0.1:80 -r 10.1.0.2:8080
-E -t 10.0.0.1:80 -s wlc
-D -u 10.0.0.1:53
-A -t [2001:db8::10]:80 -s wrr
-E -f 7 -s wlc -p 60
-e -t 10.0.0.1:80 -r 10.1.0.1:8080 -m -w 3
-a -t 10.0.0.1:80 -r 10.1.0.3:8080 -m -w 1 -x 100 -y 10
-a -t [2001:db8::10]:80 -r [2001:db8::11]:80 -m -w 2
-e -f 7 -r 10.1.0.7:0 -i -w 2 --tun-type gue --tun-port 6080 --tun-csum
EOF
)" ] || fail "dry-run output"
[ "$ERR" = "apply: dry run: 9 changes (3 added, 4 edited, 2 deleted), nothing sent" ] ||
    fail "dry-run summary: $ERR"
[ "$(state)" = "$before" ] || fail "the dry run changed the table"
# From standard input, as "-" and as no file.
run 0 sh -c "\"$A\" apply --dry-run - < desired.rules"
[ "$(cat out.txt | wc -l)" = 9 ] || fail "dry run from stdin: $OUT"
run 0 sh -c "\"$A\" apply --dry-run < desired.rules"
[ "$(cat out.txt | wc -l)" = 9 ] || fail "dry run from stdin: $OUT"
[ "$(state)" = "$before" ] || fail "the dry run changed the table"

# --- apply ------------------------------------------------------------------
run 0 "$A" apply desired.rules
echo "--- ipvsadm-rs apply desired.rules"
printf '%s\n' "$ERR"
[ -z "$OUT" ] || fail "apply printed on stdout: $OUT"
[ "$ERR" = "apply: 9 changes (3 added, 4 edited, 2 deleted)" ] || fail "apply summary: $ERR"
# The file normalised through restore and save, in a scratch namespace.
ip netns add norm$$ || fail "netns"
want=$(ip netns exec norm$$ sh -c "ip link set lo up && \"$A\" -R < desired.rules && \"$A\" -Sn")
ip netns del norm$$
got=$("$A" -Sn)
echo "--- ipvsadm-rs -Sn"
printf '%s\n' "$got"
[ "$got" = "$want" ] || fail "after apply, -Sn is not the file: want
$want"
applied=$(state)

# --- twice: nothing to do ---------------------------------------------------------
run 0 "$A" apply desired.rules
[ "$ERR" = "apply: nothing to do: the table already matches (4 services, 5 real servers)" ] ||
    fail "second apply: $ERR"
run 0 sh -c "\"$A\" apply --dry-run < desired.rules"
[ -z "$OUT" ] || fail "second dry run: $OUT"
[ "$(state)" = "$applied" ] || fail "the second apply changed the table"

# --- rollback: the kernel refuses one change in the middle ------------------------
cat > refused.rules <<'EOF'
-A -t 10.0.0.1:80 -s rr
-a -t 10.0.0.1:80 -r 10.1.0.1:8080 -m -w 1
-a -t 10.0.0.1:80 -r 10.1.0.4:8080 -m -w 1
-A -t 10.0.0.1:443 -s nosuch -p 300
-a -t 10.0.0.1:443 -r 10.1.0.1:443 -g -w 4
-A -t 10.0.0.2:80 -s rr
-a -t 10.0.0.2:80 -r 10.1.0.5:80 -g -w 1
-A -u 10.0.0.1:53 -s rr
-a -u 10.0.0.1:53 -r 10.1.0.1:53 -m -w 1
-A -f 7 -s wlc -p 60
-a -f 7 -r 10.1.0.7:0 -i -w 9 --tun-type gre
EOF
run 0 "$A" apply --dry-run refused.rules
echo "--- ipvsadm-rs apply --dry-run refused.rules"
printf '%s\n%s\n' "$OUT" "$ERR"
run 1 "$A" apply refused.rules
echo "--- ipvsadm-rs apply refused.rules (exit 1)"
printf '%s\n' "$ERR"
case "$ERR" in
*"apply: the kernel refused 1 of 12 changes:
apply:   -E -t 10.0.0.1:443 -s nosuch -p 300: Scheduler or persistence engine not found
apply: undoing the 11 changes that went through
apply: rolled back: the table is as it was") ;;
*) fail "rollback report: $ERR" ;;
esac
[ "$(state)" = "$applied" ] || fail "the table is not as it was after the rollback:
$(state)"

# --- bad files and usage: nothing sent ---------------------------------------------
printf -- '-A -t 10.0.0.9:80 -s rr\n-C\n-a -t 10.0.0.8:80 -r 10.1.0.1\n-A -t 10.0.0.9:80 -w 2\n' > bad.rules
run 2 "$A" apply bad.rules
[ "$ERR" = "line 2: only -A (add-service) and -a (add-server) lines belong in an apply file
line 3: the service of this real server has no -A line
line 4: Illegal 'weight' option with the 'add-service' command
apply: 3 bad lines, nothing applied" ] || fail "bad file: $ERR"
run 2 "$A" apply --bogus
run 2 "$A" apply a.rules b.rules
run 2 "$A" apply no-such.rules
run 0 "$A" apply --help
case "$OUT" in *"Usage: ipvsadm-rs apply [--dry-run] [FILE]"*"Exit status:"*) ;; *) fail "help: $OUT" ;; esac
[ "$(state)" = "$applied" ] || fail "a refused invocation changed the table"
echo ok
