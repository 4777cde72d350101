//! The table of ipvsadm-rs's own subcommands (`realserver`, `check`, ...).
//!
//! ipvsadm's grammar is all options and lives in [`crate::ipvsadm::flags`]; the
//! subcommands are words that ipvsadm would reject, so they are described
//! here, once: the `-h` screen lists them, and `cargo xtask codegen`
//! writes the man page's SUBCOMMANDS section and the shell completions from
//! this table and [`crate::ipvsadm::flags::FLAGS`]. Adding a subcommand means a row
//! here (and rerunning `cargo xtask codegen`).

/// One option of a subcommand.
#[derive(Debug, Clone, Copy)]
pub struct SubOption {
    /// Long name, without the leading `--`.
    pub long: &'static str,
    /// Placeholder of its value; empty for a switch. `FILE` makes the
    /// shell completions offer file names.
    pub value_name: &'static str,
    /// The values it accepts, when they are a fixed set (offered by the
    /// shell completions); empty otherwise.
    pub values: &'static [&'static str],
    /// The actions it goes with; empty for all of them.
    pub with: &'static [&'static str],
    /// What it does, one sentence.
    pub help: &'static str,
}

/// One subcommand: the first word after the program name.
#[derive(Debug, Clone, Copy)]
pub struct Subcommand {
    /// The word that selects it.
    pub name: &'static str,
    /// Words that may follow it to pick an action (`apply`, `check`,
    /// `undo`); empty if it has none.
    pub actions: &'static [&'static str],
    /// The placeholder of a trailing operand (`FILE`), empty if it takes
    /// none. `FILE` makes the completions offer file names.
    pub operand: &'static str,
    /// Usage lines, each after the program name.
    pub synopsis: &'static [&'static str],
    /// What it does, in a line (for the `-h` screen).
    pub summary: &'static str,
    /// What it does, one paragraph (for the man page).
    pub description: &'static str,
    /// Its options.
    pub options: &'static [SubOption],
    /// Its exit statuses, one line each (`0 ...`).
    pub exit_status: &'static [&'static str],
}

const MODES: &[&str] = &["dr", "tun"];

/// Every subcommand, in the order they are documented.
pub static SUBCOMMANDS: &[Subcommand] = &[
    Subcommand {
        name: "realserver",
        actions: &["apply", "check", "undo"],
        operand: "",
        synopsis: &[
            "realserver apply --vip VIP [--vip VIP]... [--mode dr|tun] [--state FILE]",
            "realserver check --vip VIP [--vip VIP]... [--mode dr|tun] [--json]",
            "realserver undo [--vip VIP]... [--state FILE]",
        ],
        summary: "prepare, check or restore this host as a real server",
        description: "Prepares this host as a real server behind a director that forwards by \
direct routing (-g) or IP tunnelling (-i). apply puts each VIP on lo (dr) or on tunl0/ip6tnl0 \
(tun) as a single address, sets arp_ignore=1 and arp_announce=2 on lo and all so that the host \
never answers ARP for the VIP, and for tun loosens strict reverse-path filtering; it records \
every change in a state file first, and running it again changes nothing. check reports each \
setting that is wrong and what it breaks. undo removes exactly what apply added and puts back \
the settings it changed.",
        options: &[
            SubOption {
                long: "vip",
                value_name: "VIP",
                values: &[],
                with: &[],
                help:
                    "a virtual IP address (IPv4 or IPv6); repeat it or separate several with commas",
            },
            SubOption {
                long: "mode",
                value_name: "dr|tun",
                values: MODES,
                with: &["apply", "check"],
                help: "how the director forwards: dr, direct routing (default), or tun, IP-in-IP",
            },
            SubOption {
                long: "state",
                value_name: "FILE",
                values: &[],
                with: &["apply", "undo"],
                help: "where apply records its changes (default /run/ipvsadm-rs/realserver.state)",
            },
            SubOption {
                long: "json",
                value_name: "",
                values: &[],
                with: &["check"],
                help: "print the findings as one JSON object",
            },
        ],
        exit_status: &[
            "0 done; for check, nothing is wrong",
            "1 something is wrong, or a change failed",
            "2 a usage error or an unreadable state file",
        ],
    },
    Subcommand {
        name: "check",
        actions: &[],
        operand: "",
        synopsis: &["check [--json]"],
        summary: "check this host as a director for the services in the table",
        description: "Checks this host as an IPVS director: every virtual IP of a TCP, UDP or \
SCTP service must be an address of this host, and every real server must be reachable the way \
its forwarding method needs, on a directly connected subnet for direct routing, through any \
route for tunnelling and NAT. For NAT it also warns when IP forwarding is off or ICMP \
redirects are on. Each finding says what it breaks and how to fix it.",
        options: &[SubOption {
            long: "json",
            value_name: "",
            values: &[],
            with: &[],
            help: "print the findings as one JSON object",
        }],
        exit_status: &[
            "0 nothing is wrong (warnings allowed)",
            "1 something is wrong",
            "2 the check could not run",
        ],
    },
    Subcommand {
        name: "apply",
        actions: &[],
        operand: "FILE",
        synopsis: &["apply [--dry-run] [FILE]"],
        summary: "make the live table equal to a saved table, changing only what differs",
        description: "Reads a table in the save format (-A and -a lines as ipvsadm-rs -S prints \
them; blank lines and # comments allowed) from FILE, or standard input when FILE is absent or -, \
and makes the live table equal to it with the fewest changes: settings are edited in place, \
services and real servers are added or deleted only where one side lacks them, and the table is \
never flushed, so connections through the services that stay are kept. The changes go to the \
kernel in one batch; if the kernel refuses any of them, the ones already made are undone in \
reverse order and the table is left as it was. Applying the same file twice changes nothing \
the second time.",
        options: &[SubOption {
            long: "dry-run",
            value_name: "",
            values: &[],
            with: &[],
            help: "print the changes as ipvsadm command lines and send nothing",
        }],
        exit_status: &[
            "0 the table matches FILE (changes applied, or nothing to do)",
            "1 the kernel refused a change and all changes were undone, or the table could not be read",
            "2 bad usage, or a bad line in FILE (nothing sent)",
            "3 a change was refused and undoing failed: what is left is printed",
        ],
    },
    Subcommand {
        name: "drain",
        actions: &[],
        operand: "",
        synopsis: &[
            "drain --tcp-service|--udp-service|--sctp-service VIP:PORT --real-server SERVER[:PORT]... [--timeout DURATION] [--inactive] [--remove] [--json] [--numeric]",
            "drain --fwmark-service MARK [--ipv6] --real-server SERVER[:PORT]... [--timeout DURATION] [--inactive] [--remove] [--json]",
            "drain --server SERVER[:PORT]... [--timeout DURATION] [--inactive] [--remove] [--json]",
        ],
        summary: "take real servers out of service without cutting their connections",
        description: "Sets the weight of the named real servers to 0, so that no new connection \
is scheduled to them, prints the weight each had, then waits while their active connections end. \
With --server a server is drained in every service it belongs to. On a terminal each server \
gets a progress line; on a pipe one plain line is printed per change; --json prints one JSON \
object per event. On a timeout or Ctrl-C the weights stay 0 and the command that puts each \
weight back is printed. Short forms as in ipvsadm: -t, -u, -f, -6, -r, -n.",
        options: &[
            SubOption {
                long: "tcp-service",
                value_name: "VIP:PORT",
                values: &[],
                with: &[],
                help: "the TCP service (-t)",
            },
            SubOption {
                long: "udp-service",
                value_name: "VIP:PORT",
                values: &[],
                with: &[],
                help: "the UDP service (-u)",
            },
            SubOption {
                long: "sctp-service",
                value_name: "VIP:PORT",
                values: &[],
                with: &[],
                help: "the SCTP service",
            },
            SubOption {
                long: "fwmark-service",
                value_name: "MARK",
                values: &[],
                with: &[],
                help: "the firewall-mark service (-f)",
            },
            SubOption {
                long: "ipv6",
                value_name: "",
                values: &[],
                with: &[],
                help: "the firewall-mark service is IPv6 (-6)",
            },
            SubOption {
                long: "real-server",
                value_name: "SERVER[:PORT]",
                values: &[],
                with: &[],
                help: "a real server of the service to drain (-r); without a port, every port of it; repeat for several",
            },
            SubOption {
                long: "server",
                value_name: "SERVER[:PORT]",
                values: &[],
                with: &[],
                help: "a real server to drain in every service it belongs to; repeat for several",
            },
            SubOption {
                long: "timeout",
                value_name: "DURATION",
                values: &[],
                with: &[],
                help: "give up after DURATION (30, 30s, 500ms, 5m, 1h); default: wait as long as it takes",
            },
            SubOption {
                long: "inactive",
                value_name: "",
                values: &[],
                with: &[],
                help: "also wait for inactive connections to end",
            },
            SubOption {
                long: "remove",
                value_name: "",
                values: &[],
                with: &[],
                help: "delete each real server once it is drained",
            },
            SubOption {
                long: "json",
                value_name: "",
                values: &[],
                with: &[],
                help: "print one JSON object per event, one per line",
            },
            SubOption {
                long: "numeric",
                value_name: "",
                values: &[],
                with: &[],
                help: "do not resolve names in addresses (-n)",
            },
        ],
        exit_status: &[
            "0 every server drained (and deleted, with --remove)",
            "1 the timeout passed (weights left at 0; the commands that restore them are printed), or the kernel refused a change",
            "2 a usage error, or a service or server that is not in the table (nothing changed)",
            "130 interrupted by Ctrl-C (weights left at 0)",
        ],
    },
    Subcommand {
        name: "top",
        actions: &[],
        operand: "",
        synopsis: &[
            "top [--tcp-service|--udp-service|--sctp-service VIP:PORT | --fwmark-service MARK [--ipv6]] [--interval DURATION] [--sort KEY] [--once | --count N]",
        ],
        summary: "a live view of the traffic through the services and real servers",
        description: "Reads the table every interval and shows, for each service and each of \
its real servers, the new connections per second, each server's share of its service's new \
connections, the active and inactive connections, and the packets and bytes per second in and \
out. The rates are the difference of the kernel's 64-bit counters between two readings, not \
the kernel's smoothed estimates; the kernel updates the counters it reports every 2 seconds, \
so intervals of at least that are exact. On a terminal the view fills the \
screen and is redrawn in place; the keys c, a, i, p, b and n sort by connection rate, active \
and inactive connections, packet and byte rates and name, and q quits. Otherwise, or with \
--once or --count, plain tables are printed one after another. Short forms: -t, -u, -f, -6.",
        options: &[
            SubOption {
                long: "tcp-service",
                value_name: "VIP:PORT",
                values: &[],
                with: &[],
                help: "show only this TCP service (-t)",
            },
            SubOption {
                long: "udp-service",
                value_name: "VIP:PORT",
                values: &[],
                with: &[],
                help: "show only this UDP service (-u)",
            },
            SubOption {
                long: "sctp-service",
                value_name: "VIP:PORT",
                values: &[],
                with: &[],
                help: "show only this SCTP service",
            },
            SubOption {
                long: "fwmark-service",
                value_name: "MARK",
                values: &[],
                with: &[],
                help: "show only this firewall-mark service (-f)",
            },
            SubOption {
                long: "ipv6",
                value_name: "",
                values: &[],
                with: &[],
                help: "the firewall-mark service is IPv6 (-6)",
            },
            SubOption {
                long: "interval",
                value_name: "DURATION",
                values: &[],
                with: &[],
                help: "time between readings (1, 2s, 500ms); default 1 s",
            },
            SubOption {
                long: "sort",
                value_name: "KEY",
                values: &["cps", "active", "inactive", "packets", "bytes", "name"],
                with: &[],
                help: "the column to order by, largest first (name: alphabetical); default cps",
            },
            SubOption {
                long: "once",
                value_name: "",
                values: &[],
                with: &[],
                help: "print one table, over one interval, and exit",
            },
            SubOption {
                long: "count",
                value_name: "N",
                values: &[],
                with: &[],
                help: "print N tables, one per interval, and exit",
            },
        ],
        exit_status: &[
            "0 quit with q, Ctrl-C, or after --once/--count",
            "1 the table could not be read",
            "2 a usage error",
        ],
    },
];

/// The subcommand called `name`.
pub fn find(name: &str) -> Option<&'static Subcommand> {
    SUBCOMMANDS.iter().find(|s| s.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvsadm::flags::FLAGS;

    #[test]
    fn names_are_unique_and_not_options() {
        for (i, s) in SUBCOMMANDS.iter().enumerate() {
            assert!(!s.name.starts_with('-'));
            assert!(SUBCOMMANDS
                .get(i + 1..)
                .unwrap()
                .iter()
                .all(|t| t.name != s.name));
            assert!(FLAGS.iter().all(|f| f.long != s.name));
            assert!(!s.synopsis.is_empty() && !s.summary.is_empty());
            for o in s.options {
                for w in o.with {
                    assert!(s.actions.contains(w), "{} --{}: {w}", s.name, o.long);
                }
            }
        }
    }

    #[test]
    fn synopses_name_every_option() {
        for s in SUBCOMMANDS {
            let all = s.synopsis.join(" ");
            for o in s.options {
                assert!(
                    all.contains(&format!("--{}", o.long)),
                    "{} --{}",
                    s.name,
                    o.long
                );
            }
            for a in s.actions {
                assert!(all.contains(&format!("{} {a}", s.name)), "{} {a}", s.name);
            }
        }
        assert!(find("realserver").is_some());
        assert!(find("bogus").is_none());
    }
}
