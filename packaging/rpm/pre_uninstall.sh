# RPM %preun of ipvsadm-rs ($1: 0 on removal, 1 on upgrade).
# On removal, stop the units (ipvsadm-rs saves the table to its rules file
# as at any stop; the real-server unit takes its VIPs back) and disable
# them, so no unit link points at a removed file.
if [ "$1" -eq 0 ] && command -v systemctl >/dev/null 2>&1; then
    systemctl --no-reload disable --now ipvsadm-rs.service ipvsadm-rs-realserver.service >/dev/null 2>&1 || :
fi
