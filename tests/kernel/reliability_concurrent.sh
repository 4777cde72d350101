#!/bin/sh
# Concurrent writers (issue #8, docs/reliability.md): while a background
# writer adds and deletes thousands of services in its own address range
# (phase 1: the reference ipvsadm; phase 2: a second ipvsadm-rs), ipvsadm-rs
# restores a few thousand lines in another range and lists the table again
# and again. Every listing taken meanwhile must be well-formed, and the final
# table must be exactly what the writers' operations imply.
#
# The writers feed `-R` in chunks (one process per 100 lines): starting a
# process takes a good fraction of a second in the VM, so thousands of single
# commands would not fit the test's time limit; the reference's `-R` still
# sends one kernel request per line, so the writers interleave request by
# request. (`ipvsadm-rs apply` is built on another branch and is not part of
# this test yet.)
set -u
fail() { echo "FAIL: $*"; exit 1; }
N_BG=2000   # background services added, then deleted, then half re-added
N_FG=1000   # foreground services, with two destinations each

# Addresses: background 10.1.x.y, foreground 10.3.x.y (dests 10.4/10.5.x.y).
addr() { echo "$1.$(($2 / 250)).$(($2 % 250 + 1))"; }

# bg_lines FIRST LAST OP: restore lines for background services FIRST..LAST.
bg_lines() {
    awk -v a="$1" -v b="$2" -v op="$3" 'BEGIN {
        for (i = a; i <= b; i++) {
            ip = sprintf("10.1.%d.%d", int(i / 250), i % 250 + 1)
            if (op == "add") printf "-A -t %s:80 -s wlc\n", ip
            else if (op == "del") printf "-D -t %s:80\n", ip
            else printf "-A -t %s:80 -s rr\n-a -t %s:80 -r 10.2.%d.%d:8080 -m -w 3\n", ip, ip, int(i / 250), i % 250 + 1
        }
    }'
}
# Foreground: N_FG services with two destinations each (3 * N_FG lines).
awk -v n="$N_FG" 'BEGIN {
    for (i = 0; i < n; i++) {
        s = sprintf("10.3.%d.%d", int(i / 250), i % 250 + 1)
        d = sprintf("%d.%d", int(i / 250), i % 250 + 1)
        printf "-A -t %s:80 -s wrr\n-a -t %s:80 -r 10.4.%s:80 -m -w 1\n-a -t %s:80 -r 10.5.%s:80 -m -w 2\n", s, s, d, s, d
    }
}' > fg.rules
# What the table must hold at the end: the foreground rules, and the
# background services re-added last (every other one, with a destination).
expected() {
    cat fg.rules
    i=0
    while [ "$i" -lt "$N_BG" ]; do
        bg_lines "$i" "$i" readd
        i=$((i + 2))
    done
}
expected | sort > expected.sorted

# background PROGRAM: the background writer; its exit status says whether
# every chunk succeeded.
background() {
    prog=$1
    i=0
    while [ "$i" -lt "$N_BG" ]; do
        bg_lines "$i" $((i + 99)) add | "$prog" -R || exit 1
        i=$((i + 100))
    done
    i=0
    while [ "$i" -lt "$N_BG" ]; do
        bg_lines "$i" $((i + 99)) del | "$prog" -R || exit 1
        i=$((i + 100))
    done
    i=0
    while [ "$i" -lt "$N_BG" ]; do
        bg_lines "$i" "$i" readd
        i=$((i + 2))
    done | "$prog" -R || exit 1
}

# check_listing FILE: well-formed `-L -n` output: the three header lines,
# then services each followed by its destinations, no duplicates, services
# and the destinations of each service in ipvsadm's order (here all TCP over
# IPv4 within 10/8, so address then port, numerically).
check_listing() {
    awk '
    function key(s,   p, a) {
        split(s, p, ":"); split(p[1], a, ".")
        return sprintf("%03d%03d%03d%03d:%05d", a[1], a[2], a[3], a[4], p[2])
    }
    NR == 1 { if ($0 !~ /^IP Virtual Server version [0-9.]+ \(size=[0-9]+\)$/) bad("header 1"); next }
    NR == 2 { if ($0 != "Prot LocalAddress:Port Scheduler Flags") bad("header 2"); next }
    NR == 3 { if ($0 !~ /^  -> RemoteAddress:Port +Forward Weight ActiveConn InActConn$/) bad("header 3"); next }
    /^TCP  [0-9.]+:[0-9]+ [a-z]+ *$/ {
        k = key($2)
        if (k in svc) bad("duplicate service")
        if (k <= last) bad("services out of order")
        svc[k] = 1; last = k; dlast = ""; services++
        next
    }
    /^  -> [0-9.]+:[0-9]+ +(Masq|Route|Tunnel) +[0-9]+ +[0-9]+ +[0-9]+ *$/ {
        if (last == "") bad("a destination before any service")
        d = key($2)
        if (d <= dlast) bad("destinations out of order or duplicated")
        dlast = d; dests++
        next
    }
    { bad("unexpected line") }
    function bad(why) { printf "line %d: %s: %s\n", NR, why, $0; err = 1; exit 1 }
    END { if (!err && NR < 3) { print "short listing"; exit 1 } if (!err) printf "%d %d\n", services, dests }
    ' "$1"
}

# phase NAME PROGRAM: one run with PROGRAM as the background writer.
phase() {
    name=$1
    prog=$2
    "$REF_IPVSADM" -C || fail "clear"
    # (A marker file, not kill -0: a finished child stays a zombie until waited for.)
    (background "$prog"; echo $? > "bg-$name.done") > "bg-$name.log" 2>&1 &
    bg=$!
    # The restore starts while the writer runs.
    t0=$(date +%s)
    "$IPVSADM_RS" -R < fg.rules > "fg-$name.log" 2>&1 || fail "$name: ipvsadm-rs -R failed: $(head -5 "fg-$name.log")"
    overlap=no
    [ -e "bg-$name.done" ] || overlap=yes
    n=0
    sizes=""
    while [ ! -e "bg-$name.done" ] || [ "$n" -lt 3 ]; do
        n=$((n + 1))
        "$IPVSADM_RS" -L -n > "list-$name-$n" 2> "list-$name-$n.err" ||
            fail "$name: listing $n failed: $(cat "list-$name-$n.err")"
        [ -s "list-$name-$n.err" ] && fail "$name: listing $n wrote to stderr: $(cat "list-$name-$n.err")"
        r=$(check_listing "list-$name-$n") || fail "$name: listing $n is malformed: $r"
        sizes="$sizes ${r% *}"
        rm -f "list-$name-$n"
    done
    wait "$bg"
    [ "$(cat "bg-$name.done")" = 0 ] || fail "$name: the background writer failed: $(tail -5 "bg-$name.log")"
    "$REF_IPVSADM" -S -n | sort > "final-$name.sorted"
    if ! cmp -s expected.sorted "final-$name.sorted"; then
        echo "expected $(wc -l < expected.sorted) lines, got $(wc -l < "final-$name.sorted")"
        diff expected.sorted "final-$name.sorted" | head -20
        fail "$name: the final table is not what the writers did"
    fi
    # Our own save of the final table is the same set of lines too.
    "$IPVSADM_RS" -S -n | sort | cmp -s - expected.sorted || fail "$name: ipvsadm-rs -S -n differs"
    echo "concurrent ($name writer): restore of $(wc -l < fg.rules) lines overlapped the writer: $overlap;" \
        "$n listings well-formed (services seen:$sizes); final table exact" \
        "($(wc -l < expected.sorted) lines) in $(($(date +%s) - t0)) s"
}

phase reference "$REF_IPVSADM"
phase ipvsadm-rs "$IPVSADM_RS"
"$REF_IPVSADM" -C
echo ok
