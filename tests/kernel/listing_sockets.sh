#!/bin/sh
# Whole-table listings fetch destinations over two sockets (src/services/fetch.rs):
# with hundreds of services (many chunks, both sockets busy) every listing
# prints the reference's bytes, and so does the one-socket path.
set -u
fail() { echo "FAIL: $*"; exit 1; }

# 300 services with 0 to 4 destinations each, and a few fwmark services.
busybox awk 'BEGIN {
    for (i = 0; i < 300; i++) {
        vip = sprintf("10.1.%d.%d:80", int(i / 250), i % 250 + 1)
        print "-A -t " vip " -s wlc"
        for (d = 0; d < i % 5; d++)
            printf "-a -t %s -r 10.2.%d.%d:8080 -m -w %d\n", vip, i % 250, d + 1, d + 1
    }
    for (m = 1; m <= 20; m++) {
        print "-A -f " m " -s rr"
        printf "-a -f %d -r 10.3.0.%d -g\n", m, m
    }
}' > /tmp/rules || fail "cannot generate the table"
"$IPVSADM_RS" -R < /tmp/rules || fail "restore failed"

for args in "-Ln" "-Sn" "-Ln --stats" "-Ln --rate" "-Ln --thresholds" "-Ln --sort" "-Ln --nosort" "-Ln --exact" "-Ln --persistent-conn"; do
    # shellcheck disable=SC2086
    want=$("$REF_IPVSADM" $args 2>&1) || fail "reference $args failed"
    for sockets in 2 1; do
        # shellcheck disable=SC2086
        got=$(IPVSADM_RS_LIST_SOCKETS=$sockets "$IPVSADM_RS" $args 2>&1) \
            || fail "$args on $sockets socket(s) failed: $got"
        [ "$got" = "$want" ] || fail "$args on $sockets socket(s) differs from the reference"
    done
done
lines=$("$IPVSADM_RS" -Sn | wc -l)
[ "$lines" = "$(grep -c . /tmp/rules)" ] || fail "-Sn printed $lines lines"
echo "ok"
