//! TEMPORARY (issue 16, until the clap front ends of `realserver` and
//! `check` are merged): clap models, built by hand, that describe those
//! two subcommands for the `-h` screen, the man page and the
//! completions. Their parsers are still the hand-written ones in
//! `realserver.rs` and `check.rs`; this file holds exactly the text the
//! removed subcommand table held for them. When their `Args` derive
//! clap, [`super::clap_commands`] takes `realserver::Args::command()` and
//! `check::Args::command()` instead and this file is deleted.

use clap::{Arg, ArgAction, Command};

fn vip() -> Arg {
    Arg::new("vip")
        .long("vip")
        .value_name("VIP")
        .action(ArgAction::Append)
        .help("A virtual IP address (IPv4 or IPv6); repeat it or separate several with commas.")
}

fn mode() -> Arg {
    Arg::new("mode")
        .long("mode")
        .value_name("MODE")
        .value_parser(["dr", "tun"])
        .help("How the director forwards: dr, direct routing (default), or tun, IP-in-IP.")
}

fn state() -> Arg {
    Arg::new("state")
        .long("state")
        .value_name("FILE")
        .value_hint(clap::ValueHint::FilePath)
        .help("Where apply records its changes (default /run/ipvsadm-rs/realserver.state).")
}

fn json() -> Arg {
    Arg::new("json")
        .long("json")
        .action(ArgAction::SetTrue)
        .help("Print the findings as one JSON object.")
}

/// `realserver apply|check|undo`.
pub fn realserver() -> Command {
    Command::new("realserver")
        .about("prepare, check or restore this host as a real server")
        .long_about(
            "Prepares this host as a real server behind a director that forwards by \
direct routing (-g) or IP tunnelling (-i). apply puts each VIP on lo (dr) or on tunl0/ip6tnl0 \
(tun) as a single address, sets arp_ignore=1 and arp_announce=2 on lo and all so that the host \
never answers ARP for the VIP, and for tun loosens strict reverse-path filtering; it records \
every change in a state file first, and running it again changes nothing. check reports each \
setting that is wrong and what it breaks. undo removes exactly what apply added and puts back \
the settings it changed.",
        )
        .after_long_help(
            "Exit status:
  0  done; for check, nothing is wrong
  1  something is wrong, or a change failed
  2  a usage error or an unreadable state file",
        )
        .subcommand(
            Command::new("apply")
                .override_usage(
                    "ipvsadm-rs realserver apply --vip VIP [--vip VIP]... [--mode dr|tun] [--state FILE]",
                )
                .args([vip(), mode(), state()]),
        )
        .subcommand(
            Command::new("check")
                .override_usage(
                    "ipvsadm-rs realserver check --vip VIP [--vip VIP]... [--mode dr|tun] [--json]",
                )
                .args([vip(), mode(), json()]),
        )
        .subcommand(
            Command::new("undo")
                .override_usage("ipvsadm-rs realserver undo [--vip VIP]... [--state FILE]")
                .args([vip(), state()]),
        )
}

/// `check`.
pub fn check() -> Command {
    Command::new("check")
        .about("check this host as a director for the services in the table")
        .long_about(
            "Checks this host as an IPVS director: every virtual IP of a TCP, UDP or \
SCTP service must be an address of this host, and every real server must be reachable the way \
its forwarding method needs, on a directly connected subnet for direct routing, through any \
route for tunnelling and NAT. For NAT it also warns when IP forwarding is off or ICMP \
redirects are on. Each finding says what it breaks and how to fix it.",
        )
        .override_usage("ipvsadm-rs check [--json]")
        .after_long_help(
            "Exit status:
  0  nothing is wrong (warnings allowed)
  1  something is wrong
  2  the check could not run",
        )
        .arg(json())
}
