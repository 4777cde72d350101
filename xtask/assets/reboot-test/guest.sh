#!/bin/sh
# The guest side of `cargo xtask reboot-test` (xtask/src/reboot_test.rs),
# run by reboot-test.service at every boot of a Debian 12 image with
# systemd as init. It counts the boots on the disk and does:
#
#   boot 1: a table set up with Debian's ipvsadm and its service; install
#           the .deb with apt; take the table over as the README says;
#           change it; stop the service (which saves it) and start it
#           again; change it once more (only the save at shutdown keeps
#           that); configure and start the real-server unit; reboot.
#   boot 2: the table is back (restored by the unit at boot); the VIPs and
#           ARP settings are back; stopping the real-server unit takes them
#           away; a purge leaves no file behind but the rules file.
#
# Results go to ttyS1 as lines the host reads: "RT boot N ...",
# "RT ok WHAT", "RT FAIL WHAT: DETAIL", "RT info TEXT", and at the end
# "RT done" (then power off) or "RT abort" (a failure before the reboot).
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export DEBIAN_FRONTEND=noninteractive
R=/dev/ttyS1
S=/var/lib/reboot-test
VIP4=192.0.2.1
VIP6=2001:db8::1
mkdir -p $S
stty -F $R raw -echo 2>/dev/null

say() { printf 'RT %s\n' "$*" >$R; }
fails=0
ok() { say "ok $*"; }
fail() {
    say "FAIL $*"
    fails=$((fails + 1))
}
oneline() { tr '\n' '|' | cut -c1-400; }
# check WHAT COMMAND...: passes when COMMAND succeeds.
check() {
    what=$1
    shift
    if out=$("$@" 2>&1); then ok "$what"; else fail "$what: $(printf '%s' "$out" | oneline)"; fi
}
# same WHAT GOT WANT
same() {
    if [ "$2" = "$3" ]; then
        ok "$1"
    else
        fail "$1: got [$(printf '%s' "$2" | oneline)] want [$(printf '%s' "$3" | oneline)]"
    fi
}
info() { "$@" 2>&1 | sed 's/^/RT info   /' >$R; }
conf() { cat "/proc/sys/net/ipv4/conf/$1/$2"; }
arp_settings() {
    echo "all arp_ignore $(conf all arp_ignore) arp_announce $(conf all arp_announce)"
    echo "lo arp_ignore $(conf lo arp_ignore) arp_announce $(conf lo arp_announce)"
}
has_addr() { ip -o addr show dev lo | grep -q " $1 "; }
lacks_addr() { ! has_addr "$1"; }
finish() {
    sync
    systemctl --no-block poweroff
    exit 0
}

boot=$(($(cat $S/boots 2>/dev/null || echo 0) + 1))
echo $boot >$S/boots
sync
say "boot $boot $(uname -r) $(systemctl is-system-running 2>&1)"

case $boot in
1)
    # A director run by Debian's ipvsadm and its service, as before the
    # migration (AUTO="true": its start loads and its stop flushes).
    sed -i 's/^AUTO=.*/AUTO="true"/' /etc/default/ipvsadm
    check "Debian's ipvsadm service starts" systemctl restart ipvsadm.service
    check "ipvsadm adds a TCP service" /sbin/ipvsadm -A -t $VIP4:80 -s rr
    check "ipvsadm adds a real server" /sbin/ipvsadm -a -t $VIP4:80 -r 192.0.2.11:80 -g -w 2

    check "apt installs the .deb with no network" apt-get install -y /root/ipvsadm-rs.deb
    same "dpkg status" "$(dpkg-query -W -f='${Status}' ipvsadm-rs 2>&1)" "install ok installed"
    same "ipvsadm-rs.service enabled at install" "$(systemctl is-enabled ipvsadm-rs.service 2>&1)" enabled
    same "ipvsadm-rs.service not started at install" "$(systemctl is-active ipvsadm-rs.service 2>&1)" inactive
    same "ipvsadm-rs-realserver.service disabled at install" \
        "$(systemctl is-enabled ipvsadm-rs-realserver.service 2>&1)" disabled

    # The README's migration steps. The table changes between the save
    # and the start: starting must keep the live table (a restore would
    # flush it first, cutting connections, and lose the change).
    ipvsadm-rs-save -n >/etc/ipvsadm.rules
    check "add a second real server" ipvsadm-rs -a -t $VIP4:80 -r 192.0.2.12:80 -g
    ipvsadm-rs-save -n >$S/first
    check "systemctl disable ipvsadm" systemctl disable ipvsadm
    check "systemctl enable --now ipvsadm-rs on the live table" systemctl enable --now ipvsadm-rs
    same "the live table is untouched" "$(ipvsadm-rs-save -n 2>&1)" "$(cat $S/first)"
    info journalctl -q -o cat -u ipvsadm-rs.service
    check "add an IPv6 UDP service" ipvsadm-rs -A -u "[$VIP6]:53" -s wlc -p 120
    check "add its real server" ipvsadm-rs -a -u "[$VIP6]:53" -r "[2001:db8::11]:53" -g
    check "add a firewall-mark service" ipvsadm-rs -A -f 7 -s sh
    check "stopping ipvsadm-rs.service saves the table" systemctl stop ipvsadm-rs.service
    same "the rules file holds the table" "$(cat /etc/ipvsadm.rules 2>&1)" "$(ipvsadm-rs-save -n)"
    check "start it again (the table stays)" systemctl start ipvsadm-rs.service
    # A change only the save at shutdown can keep, while Debian's service,
    # disabled but still active, flushes the table when it stops.
    check "change a weight" ipvsadm-rs -e -t $VIP4:80 -r 192.0.2.12:80 -g -w 5
    ipvsadm-rs-save -n >$S/table
    ipvsadm-rs -L -n >$S/listing
    info cat $S/listing

    arp_settings >$S/arp-before
    # Not configured: the unit refuses to start and says why.
    if systemctl start ipvsadm-rs-realserver.service >/dev/null 2>&1; then
        fail "the real-server unit started with no VIPs"
    else
        ok "the real-server unit refuses to start with no VIPs"
    fi
    info journalctl -q -o cat -u ipvsadm-rs-realserver.service
    systemctl reset-failed ipvsadm-rs-realserver.service
    sed -i "s/^REALSERVER_VIPS=.*/REALSERVER_VIPS=\"$VIP4 $VIP6\"/" /etc/default/ipvsadm-rs-realserver
    check "enable --now the real-server unit" systemctl enable --now ipvsadm-rs-realserver.service
    check "VIP $VIP4 on lo" has_addr $VIP4/32
    check "VIP $VIP6 on lo" has_addr $VIP6/128
    same "ARP settings applied" "$(arp_settings)" "all arp_ignore 1 arp_announce 2
lo arp_ignore 1 arp_announce 2"
    if [ $fails -ne 0 ]; then
        say abort
        finish
    fi
    say "reboot"
    sync
    systemctl --no-block reboot
    exit 0
    ;;
2)
    same "ipvsadm-rs.service active after the reboot" "$(systemctl is-active ipvsadm-rs.service 2>&1)" active
    same "Debian's ipvsadm service did not start" "$(systemctl is-active ipvsadm.service 2>&1)" inactive
    same "the table is back (ipvsadm-rs-save -n)" "$(ipvsadm-rs-save -n 2>&1)" "$(cat $S/table)"
    same "the table is back (ipvsadm-rs -L -n)" "$(ipvsadm-rs -L -n 2>&1)" "$(cat $S/listing)"
    same "ipvsadm-rs-realserver.service active after the reboot" \
        "$(systemctl is-active ipvsadm-rs-realserver.service 2>&1)" active
    check "VIP $VIP4 on lo after the reboot" has_addr $VIP4/32
    check "VIP $VIP6 on lo after the reboot" has_addr $VIP6/128
    same "ARP settings back after the reboot" "$(arp_settings)" "all arp_ignore 1 arp_announce 2
lo arp_ignore 1 arp_announce 2"
    check "realserver check passes" ipvsadm-rs realserver check --vip $VIP4 --vip $VIP6
    check "stop the real-server unit" systemctl stop ipvsadm-rs-realserver.service
    check "VIP $VIP4 gone after stop" lacks_addr $VIP4/32
    check "VIP $VIP6 gone after stop" lacks_addr $VIP6/128
    same "ARP settings as before apply" "$(arp_settings)" "$(cat $S/arp-before)"
    check "no realserver state left" test ! -e /run/ipvsadm-rs/realserver.state

    dpkg -L ipvsadm-rs >$S/files
    check "apt purges the package" apt-get purge -y ipvsadm-rs
    left=
    while read -r f; do
        if [ -e "$f" ] && [ ! -d "$f" ]; then left="$left $f"; fi
    done <$S/files
    same "no file of the package left" "$left" ""
    same "the rules file stays, with the table" "$(cat /etc/ipvsadm.rules 2>&1)" "$(cat $S/table)"
    same "nothing else named after ipvsadm-rs on the disk" \
        "$(find / -xdev \( -name '*ipvsadm-rs*' -o -name 'ipvsadm.rules?*' \) \
            ! -path "$S/*" ! -path /root/ipvsadm-rs.deb 2>&1)" ""
    same "no unit of it left" "$(systemctl list-unit-files 'ipvsadm-rs*' --no-legend 2>&1)" ""
    if [ $fails -eq 0 ]; then say done; else say "done with failures"; fi
    finish
    ;;
*)
    fail "unexpected boot $boot"
    finish
    ;;
esac
