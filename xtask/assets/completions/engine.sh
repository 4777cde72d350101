# The completion engine, shared by the bash, zsh and fish scripts: it runs
# in bash, in zsh under `emulate sh`, and in /bin/sh (for fish).
# _ipvsadm_rs_candidates WORDS... prints what may follow WORDS (the words
# before the one being completed, without the program name), one per line;
# the line @files asks the shell for file names.

# The kind of value an option takes ("" for a switch), in _ipvsadm_rs_r.
_ipvsadm_rs_kind() {
    case $1 in
@KIND_CASES@
    *) _ipvsadm_rs_r= ;;
    esac
}

# The command an option selects ("" if it is not a command).
_ipvsadm_rs_command() {
    case $1 in
@COMMAND_CASES@
    *) _ipvsadm_rs_r= ;;
    esac
}

# The slot of an option: options sharing a slot exclude each other.
_ipvsadm_rs_slot() {
    case $1 in
@SLOT_CASES@
    *) _ipvsadm_rs_r= ;;
    esac
}

# The options a command accepts (ipvsadm's legality matrix).
_ipvsadm_rs_legal() {
    case $1 in
@LEGAL_CASES@
    *) _ipvsadm_rs_r= ;;
    esac
}

# The services in the table with this service option (-t, -u,
# --sctp-service, -f), from `ipvsadm-rs -Sn`; nothing when not permitted.
_ipvsadm_rs_services() {
    ipvsadm-rs -Sn 2>/dev/null | while IFS=" " read -r _ipvsadm_rs_c _ipvsadm_rs_o _ipvsadm_rs_a _ipvsadm_rs_rest; do
        if [ "$_ipvsadm_rs_c" = -A ] && [ "$_ipvsadm_rs_o" = "$1" ]; then
            printf '%s\n' "$_ipvsadm_rs_a"
        fi
    done
}

# The values of one kind.
_ipvsadm_rs_values() {
    case $1 in
@VALUE_CASES@
    netns) ls "${IPVSADM_RS_NETNS_DIR:-/run/netns}" 2>/dev/null ;;
    interface) ls /sys/class/net 2>/dev/null ;;
    service:*) _ipvsadm_rs_services "${1#service:}" ;;
    file) echo @files ;;
    esac
}

# What may follow the words of a subcommand line.
_ipvsadm_rs_subcommand() {
    case $1 in
@SUBCOMMAND_CASES@
    esac
}

_ipvsadm_rs_candidates() {
    local _ipvsadm_rs_r _ipvsadm_rs_p _ipvsadm_rs_w _ipvsadm_rs_cmd _ipvsadm_rs_used _ipvsadm_rs_skip _ipvsadm_rs_l
    if [ $# -gt 0 ]; then
        case $1 in
        @SUBCOMMAND_NAMES@)
            _ipvsadm_rs_subcommand "$@"
            return
            ;;
        esac
        eval "_ipvsadm_rs_p=\${$#}"
        _ipvsadm_rs_kind "$_ipvsadm_rs_p"
        case $_ipvsadm_rs_r in
        '' | optional) ;;
        *)
            _ipvsadm_rs_values "$_ipvsadm_rs_r"
            return
            ;;
        esac
    fi
    # Which command, and which slots are taken.
    _ipvsadm_rs_cmd=
    _ipvsadm_rs_used=' '
    _ipvsadm_rs_skip=
    for _ipvsadm_rs_w in "$@"; do
        if [ -n "$_ipvsadm_rs_skip" ]; then
            _ipvsadm_rs_skip=
            continue
        fi
        _ipvsadm_rs_command "$_ipvsadm_rs_w"
        if [ -z "$_ipvsadm_rs_cmd" ]; then _ipvsadm_rs_cmd=$_ipvsadm_rs_r; fi
        _ipvsadm_rs_slot "$_ipvsadm_rs_w"
        if [ -n "$_ipvsadm_rs_r" ]; then _ipvsadm_rs_used="$_ipvsadm_rs_used$_ipvsadm_rs_r "; fi
        _ipvsadm_rs_kind "$_ipvsadm_rs_w"
        case $_ipvsadm_rs_r in
        '' | optional) ;;
        *) _ipvsadm_rs_skip=1 ;;
        esac
    done
    if [ -z "$_ipvsadm_rs_cmd" ]; then
        printf '%s\n' @COMMAND_FORMS@
        if [ $# -eq 0 ]; then printf '%s\n' @SUBCOMMAND_NAMES_LIST@; fi
        return
    fi
    _ipvsadm_rs_legal "$_ipvsadm_rs_cmd"
    _ipvsadm_rs_l=$_ipvsadm_rs_r
    # Split the list on spaces whatever the shell's options.
    while [ -n "$_ipvsadm_rs_l" ]; do
        _ipvsadm_rs_w=${_ipvsadm_rs_l%% *}
        _ipvsadm_rs_l=${_ipvsadm_rs_l#"$_ipvsadm_rs_w"}
        _ipvsadm_rs_l=${_ipvsadm_rs_l# }
        _ipvsadm_rs_slot "$_ipvsadm_rs_w"
        case $_ipvsadm_rs_used in
        *" $_ipvsadm_rs_r "*) [ -z "$_ipvsadm_rs_r" ] && printf '%s\n' "$_ipvsadm_rs_w" ;;
        *) printf '%s\n' "$_ipvsadm_rs_w" ;;
        esac
    done
}
