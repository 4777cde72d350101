# RPM %post of ipvsadm-rs ($1: 1 on install, 2 on upgrade).
# On a first install, let the system's preset policy decide whether the
# units start at boot: the Red Hat family's default policy leaves them
# disabled, as its own ipvsadm.service is, until `systemctl enable`.
if [ "$1" -eq 1 ] && command -v systemctl >/dev/null 2>&1; then
    systemctl --no-reload preset ipvsadm-rs.service ipvsadm-rs-realserver.service >/dev/null 2>&1 || :
fi
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
