#!/bin/sh
# ipvsadm's command/option legality matrix (reference §1.4), cell by cell:
# every option that is illegal with a command, added to an otherwise valid
# command line, must fail in both programs with the same message and
# status. Then the "at most one of" pairs of -L and its conflicting listing
# modes (§1.5). Nothing here changes the table, so both programs can run
# in the same namespace; a shell test instead of a scenario because it is
# several hundred invocations.
set -u
fail() { echo "FAIL: $*"; exit 1; }
COMPARED=0
# differ ARGS...: both programs must fail alike.
differ() {
    r_out=$("$REF_IPVSADM" "$@" < /dev/null 2>&1; echo "rc=$?")
    o_out=$("$IPVSADM_RS" "$@" < /dev/null 2>&1; echo "rc=$?")
    [ "$r_out" = "$o_out" ] || fail "ipvsadm $*
--- reference
$r_out
--- ipvsadm-rs
$o_out"
    case "$r_out" in *"rc=0") fail "ipvsadm $* succeeded: $r_out" ;; esac
    COMPARED=$((COMPARED + 1))
}

# The options, in slot order, each with a valid value.
slot_args() {
    case $1 in
    1) printf "%s\n" "-n" ;;
    2) printf "%s\n" "-c" ;;
    3) printf "%s\n" "-t 10.0.0.2:80" ;;
    4) printf "%s\n" "-s rr" ;;
    5) printf "%s\n" "-p" ;;
    6) printf "%s\n" "-M 255.255.255.0" ;;
    7) printf "%s\n" "-r 10.0.1.9" ;;
    8) printf "%s\n" "-m" ;;
    9) printf "%s\n" "-w 1" ;;
    10) printf "%s\n" "-x 1" ;;
    11) printf "%s\n" "-y 1" ;;
    12) printf "%s\n" "--mcast-interface lo" ;;
    13) printf "%s\n" "--timeout" ;;
    14) printf "%s\n" "--daemon" ;;
    15) printf "%s\n" "--stats" ;;
    16) printf "%s\n" "--rate" ;;
    17) printf "%s\n" "--thresholds" ;;
    18) printf "%s\n" "--persistent-conn" ;;
    19) printf "%s\n" "--nosort" ;;
    20) printf "%s\n" "--syncid 1" ;;
    21) printf "%s\n" "--exact" ;;
    22) printf "%s\n" "-o" ;;
    23) printf "%s\n" "--pe sip" ;;
    24) printf "%s\n" "-b flag-1" ;;
    25) printf "%s\n" "--mcast-group 224.0.0.1" ;;
    26) printf "%s\n" "--mcast-port 1" ;;
    27) printf "%s\n" "--mcast-ttl 1" ;;
    28) printf "%s\n" "--sync-maxlen 100" ;;
    29) printf "%s\n" "--tun-info" ;;
    30) printf "%s\n" "--tun-type ipip" ;;
    31) printf "%s\n" "--tun-port 1" ;;
    32) printf "%s\n" "--tun-nocsum" ;;
    33) printf "%s\n" "--tun-csum" ;;
    34) printf "%s\n" "--tun-remcsum" ;;
    esac
}

# One row per command: a valid command line, then its 34 cells (x =
# illegal, + = required, 1 = at most one, . = optional).
rows='-A -t 10.0.0.1:80|xx+...xxxxxxxxxxxxxxx...xxxxxxxxxx
-E -t 10.0.0.1:80|xx+...xxxxxxxxxxxxxxx...xxxxxxxxxx
-D -t 10.0.0.1:80|xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
-C|xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
-L|.11xxxxxxxxx11.......xxxxxxx.xxxxx
-a -t 10.0.0.1:80 -r 10.0.1.1|xx+xxx+....xxxxxxxxxxxxxxxxxx.....
-d -t 10.0.0.1:80 -r 10.0.1.1|xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxx
-e -t 10.0.0.1:80 -r 10.0.1.1|xx+xxx+....xxxxxxxxxxxxxxxxxx.....
--set 1 2 3|xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
--start-daemon master|xxxxxxxxxxx.xxxxxxx.xxxx....xxxxxx
--stop-daemon master|xxxxxxxxxxxxxxxxxxx.xxxxxxxxxxxxxx
-R|xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
-S|.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx
-Z|xx.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'
NL='
'
IFS=$NL
for row in $rows; do
    base=${row%%|*}
    cells=${row#*|}
    [ "${#cells}" = 34 ] || fail "row '$base' has ${#cells} cells"
    i=1
    rest=$cells
    while [ -n "$rest" ]; do
        cell=${rest%"${rest#?}"}
        rest=${rest#?}
        if [ "$cell" = x ]; then
            IFS=' '
            # shellcheck disable=SC2046,SC2086 # word splitting wanted
            differ $base $(slot_args "$i")
            IFS=$NL
        fi
        i=$((i + 1))
    done
done
IFS=' '

# -L's "at most one": connection, service-address, timeout, daemon.
for a in 2 3 13 14; do
    for b in 2 3 13 14; do
        [ "$a" = "$b" ] && continue
        # shellcheck disable=SC2046
        differ -L $(slot_args "$a") $(slot_args "$b")
    done
done
# Listing modes that conflict with -c, --timeout and --daemon.
for a in 2 13 14; do
    for b in 15 16 17; do
        # shellcheck disable=SC2046
        differ -L $(slot_args "$a") $(slot_args "$b")
        # shellcheck disable=SC2046
        differ -L $(slot_args "$b") $(slot_args "$a")
    done
done
for a in 13 14; do
    # shellcheck disable=SC2046
    differ -L $(slot_args "$a") --persistent-conn
    # shellcheck disable=SC2046
    differ -L --persistent-conn $(slot_args "$a")
done
# Every option repeated (multiple 'SLOT' options), with a command that
# allows it where there is one.
for i in $(seq 1 34); do
    case $i in
    1 | 2 | 13 | 14 | 15 | 16 | 17 | 18 | 19 | 21 | 29) base="-L" ;;
    3 | 4 | 5 | 6 | 22 | 23 | 24) base="-A -t 10.0.0.1:80" ;;
    12 | 20 | 25 | 26 | 27 | 28) base="--start-daemon master" ;;
    *) base="-a -t 10.0.0.1:80 -r 10.0.1.1 -i --tun-type gue" ;;
    esac
    # shellcheck disable=SC2046,SC2086
    differ $base $(slot_args "$i") $(slot_args "$i")
done
echo "ok: $COMPARED invocations compared"
