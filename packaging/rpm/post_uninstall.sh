# RPM %postun of ipvsadm-rs ($1: 0 on removal, 1 on upgrade).
# systemd rereads the unit files, which changed or went away.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
