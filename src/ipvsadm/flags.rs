//! The table of every command-line option ipvsadm 1.31 understands.
//!
//! One static table ([`FLAGS`]) describes each option once: its long name,
//! its short letters, whether it takes a value, the "slot" it fills (the
//! name ipvsadm uses in its error messages and the column of the
//! command/option legality matrix), the section and text of the help
//! screen. The tokenizer, the legality checks and the help screen are all
//! driven from it, so adding an option is one edit here (in the spirit of
//! ripgrep's `crates/core/flags/`).
//!
//! # Why a hand-written parser rather than `clap`
//!
//! ipvsadm parses its arguments with popt, and scripts depend on popt's
//! quirks, which a general-purpose parser does not let us reproduce:
//!
//! * the command is itself an option (`-A`, `--list`, `--set`), it may be
//!   clustered with ordinary options (`-Ln`, `-At1.2.3.4:80`), and a second
//!   command later on the line is an error that names the argv element
//!   last consumed (``invalid option `-Dn'``, or the *value* of
//!   `--start-daemon`);
//! * an option that needs a value always takes the next argv element, even
//!   one starting with `-` (`-t -s` gives `-t` the value `-s`), while the
//!   optional value of `-p` is taken only from a following word that does
//!   not start with `-`; `-x=VALUE` is accepted in short clusters, and
//!   popt's `!#:+` substitution in option values is honoured;
//! * the exact error texts and exit codes differ by class (popt errors:
//!   `OPT: unknown option`, exit 255; validation: exit 2; no command:
//!   "Try ..." exit 255), and when several things are wrong the one that
//!   wins depends on a fixed order of checks and on the column order of the
//!   legality matrix ([`Slot`]).

use crate::model::TunType;

/// The operation an invocation asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    /// `-A`
    AddService,
    /// `-E`
    EditService,
    /// `-D`
    DelService,
    /// `-C`
    Flush,
    /// `-R`
    Restore,
    /// `-S`
    Save,
    /// `-a`
    AddDest,
    /// `-e`
    EditDest,
    /// `-d`
    DelDest,
    /// `-L`, `-l`, or no arguments at all
    List,
    /// `-Z`
    Zero,
    /// `--set`
    SetTimeouts,
    /// `--start-daemon`
    StartDaemon,
    /// `--stop-daemon`
    StopDaemon,
    /// `-h`
    Help,
    /// `-v`
    Version,
}

/// Whether an option takes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// A switch; `--opt=value` is an error.
    None,
    /// Always takes a value (the rest of the cluster, `=value`, or the next
    /// argv element whatever it looks like).
    Required,
    /// May take a value (`-p`): the rest of the cluster, `=value`, or the
    /// next argv element if it does not start with `-`.
    Optional,
}

/// Section of the help screen an option is listed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// Commands (one per invocation).
    Commands,
    /// Ways to name a virtual service.
    VirtualService,
    /// Service, server and listing options.
    Options,
    /// Options of `--start-daemon`.
    DaemonOptions,
}

/// A column of the command/option legality matrix, in ipvsadm's order.
///
/// The order matters: the matrix is checked column by column and the first
/// violation is the one reported. [`Slot::name`] is the text used in error
/// messages (`multiple 'weight' options specified`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Slot {
    /// `-n`
    Numeric,
    /// `-c`
    Connection,
    /// `-t`, `-u`, `--sctp-service`, `-f`
    ServiceAddress,
    /// `-s`
    Scheduler,
    /// `-p`
    Persistent,
    /// `-M`
    Netmask,
    /// `-r`
    RealServer,
    /// `-g`, `-i`, `-m`
    ForwardingMethod,
    /// `-w`
    Weight,
    /// `-x`
    UThreshold,
    /// `-y`
    LThreshold,
    /// `--mcast-interface`
    McastInterface,
    /// `--timeout`
    Timeout,
    /// `--daemon`
    Daemon,
    /// `--stats`
    Stats,
    /// `--rate`
    Rate,
    /// `--thresholds`
    Thresholds,
    /// `--persistent-conn`
    PersistentConn,
    /// `--nosort`
    Nosort,
    /// `--syncid`
    Syncid,
    /// `--exact`, `-X`
    Exact,
    /// `-o`
    Ops,
    /// `--pe`
    Pe,
    /// `-b`
    SchedFlags,
    /// `--mcast-group`
    McastGroup,
    /// `--mcast-port`
    McastPort,
    /// `--mcast-ttl`
    McastTtl,
    /// `--sync-maxlen`
    SyncMaxlen,
    /// `--tun-info`
    TunInfo,
    /// `--tun-type`
    TunType,
    /// `--tun-port`
    TunPort,
    /// `--tun-nocsum`
    TunNocsum,
    /// `--tun-csum`
    TunCsum,
    /// `--tun-remcsum`
    TunRemcsum,
    /// `--json` (ours, not ipvsadm's)
    Json,
    /// `--netns` (ours)
    Netns,
    /// `--test` (ours)
    Test,
}

impl Slot {
    /// Number of slots (matrix columns).
    pub const COUNT: usize = 37;

    /// Every slot, in matrix column order.
    pub const ALL: [Slot; Slot::COUNT] = [
        Slot::Numeric,
        Slot::Connection,
        Slot::ServiceAddress,
        Slot::Scheduler,
        Slot::Persistent,
        Slot::Netmask,
        Slot::RealServer,
        Slot::ForwardingMethod,
        Slot::Weight,
        Slot::UThreshold,
        Slot::LThreshold,
        Slot::McastInterface,
        Slot::Timeout,
        Slot::Daemon,
        Slot::Stats,
        Slot::Rate,
        Slot::Thresholds,
        Slot::PersistentConn,
        Slot::Nosort,
        Slot::Syncid,
        Slot::Exact,
        Slot::Ops,
        Slot::Pe,
        Slot::SchedFlags,
        Slot::McastGroup,
        Slot::McastPort,
        Slot::McastTtl,
        Slot::SyncMaxlen,
        Slot::TunInfo,
        Slot::TunType,
        Slot::TunPort,
        Slot::TunNocsum,
        Slot::TunCsum,
        Slot::TunRemcsum,
        Slot::Json,
        Slot::Netns,
        Slot::Test,
    ];

    /// Column index in the matrix.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The name used in error messages.
    pub fn name(self) -> &'static str {
        match self {
            Slot::Numeric => "numeric",
            Slot::Connection => "connection",
            Slot::ServiceAddress => "service-address",
            Slot::Scheduler => "scheduler",
            Slot::Persistent => "persistent",
            Slot::Netmask => "netmask",
            Slot::RealServer => "real-server",
            Slot::ForwardingMethod => "forwarding-method",
            Slot::Weight => "weight",
            Slot::UThreshold => "u-threshold",
            Slot::LThreshold => "l-threshold",
            Slot::McastInterface => "mcast-interface",
            Slot::Timeout => "timeout",
            Slot::Daemon => "daemon",
            Slot::Stats => "stats",
            Slot::Rate => "rate",
            Slot::Thresholds => "thresholds",
            Slot::PersistentConn => "persistent-conn",
            Slot::Nosort => "nosort",
            Slot::Syncid => "syncid",
            Slot::Exact => "exact",
            Slot::Ops => "ops",
            Slot::Pe => "pe",
            Slot::SchedFlags => "sched-flags",
            Slot::McastGroup => "mcast-group",
            Slot::McastPort => "mcast-port",
            Slot::McastTtl => "mcast-ttl",
            Slot::SyncMaxlen => "sync-maxlen",
            Slot::TunInfo => "tun-info",
            Slot::TunType => "tun-type",
            Slot::TunPort => "tun-port",
            Slot::TunNocsum => "tun-nocsum",
            Slot::TunCsum => "tun-csum",
            Slot::TunRemcsum => "tun-remcsum",
            Slot::Json => "json",
            Slot::Netns => "netns",
            Slot::Test => "test",
        }
    }
}

/// What an option does once recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Selects the command (including `-h` and `-v`).
    Command(Command),
    /// `-t`
    Tcp,
    /// `-u`
    Udp,
    /// `--sctp-service`
    Sctp,
    /// `-f`
    Fwmark,
    /// `-6`
    Ipv6,
    /// `-s`
    Scheduler,
    /// `-p`
    Persistent,
    /// `-M`
    Netmask,
    /// `--pe`
    Pe,
    /// `-b`
    SchedFlags,
    /// `-o`
    Ops,
    /// `-r`
    RealServer,
    /// `-g`
    Gatewaying,
    /// `-i`
    Ipip,
    /// `-m`
    Masquerading,
    /// `-w`
    Weight,
    /// `-x`
    UThreshold,
    /// `-y`
    LThreshold,
    /// `--tun-type`
    TunType,
    /// `--tun-port`
    TunPort,
    /// `--tun-nocsum`
    TunNocsum,
    /// `--tun-csum`
    TunCsum,
    /// `--tun-remcsum`
    TunRemcsum,
    /// `-c`
    Connection,
    /// `--timeout`
    Timeout,
    /// `--daemon`
    Daemon,
    /// `--stats`
    Stats,
    /// `--rate`
    Rate,
    /// `--thresholds`
    Thresholds,
    /// `--persistent-conn`
    PersistentConn,
    /// `--tun-info`
    TunInfo,
    /// `--nosort`
    Nosort,
    /// `--sort` (accepted, no effect)
    Sort,
    /// `-n`
    Numeric,
    /// `--exact`
    Exact,
    /// `--mcast-interface`
    McastInterface,
    /// `--syncid`
    Syncid,
    /// `--sync-maxlen`
    SyncMaxlen,
    /// `--mcast-group`
    McastGroup,
    /// `--mcast-port`
    McastPort,
    /// `--mcast-ttl`
    McastTtl,
    /// `--json`
    Json,
    /// `--netns`
    Netns,
    /// `--test`
    Test,
}

/// One option of the command line.
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    /// Long name, without the leading `--`.
    pub long: &'static str,
    /// Short letters (`-L` and `-l` share one entry).
    pub shorts: &'static [char],
    /// Whether it takes a value.
    pub arg: ArgKind,
    /// What it does.
    pub action: Action,
    /// The slot it fills; `None` for commands and for `-6`/`--sort`, which
    /// may be repeated and are not in the matrix.
    pub slot: Option<Slot>,
    /// Placeholder for its value in the help screen (empty if none).
    pub value_name: &'static str,
    /// Help text; a `\n` starts a continuation line.
    pub help: &'static str,
    /// Help section.
    pub section: Section,
}

const fn cmd(
    long: &'static str,
    shorts: &'static [char],
    arg: ArgKind,
    command: Command,
    value_name: &'static str,
    help: &'static str,
) -> Flag {
    Flag {
        long,
        shorts,
        arg,
        action: Action::Command(command),
        slot: None,
        value_name,
        help,
        section: Section::Commands,
    }
}

#[allow(clippy::too_many_arguments)]
const fn opt(
    long: &'static str,
    shorts: &'static [char],
    arg: ArgKind,
    action: Action,
    slot: Option<Slot>,
    value_name: &'static str,
    help: &'static str,
    section: Section,
) -> Flag {
    Flag {
        long,
        shorts,
        arg,
        action,
        slot,
        value_name,
        help,
        section,
    }
}

use ArgKind::{None as NoArg, Optional as OptArg, Required as ReqArg};
use Section::{DaemonOptions as DSec, Options as OSec, VirtualService as VSec};

/// Every option, in help-screen order.
#[rustfmt::skip]
pub static FLAGS: &[Flag] = &[
    // Commands.
    cmd("add-service", &['A'], NoArg, Command::AddService, "", "create a virtual service"),
    cmd("edit-service", &['E'], NoArg, Command::EditService, "", "replace the settings of a virtual service"),
    cmd("delete-service", &['D'], NoArg, Command::DelService, "", "remove a virtual service and its servers"),
    cmd("clear", &['C'], NoArg, Command::Flush, "", "remove every virtual service"),
    cmd("restore", &['R'], NoArg, Command::Restore, "", "apply commands read from standard input"),
    cmd("save", &['S'], NoArg, Command::Save, "", "print the table as commands for --restore"),
    cmd("add-server", &['a'], NoArg, Command::AddDest, "", "add a real server to a virtual service"),
    cmd("edit-server", &['e'], NoArg, Command::EditDest, "", "replace the settings of a real server"),
    cmd("delete-server", &['d'], NoArg, Command::DelDest, "", "remove a real server"),
    cmd("list", &['L', 'l'], NoArg, Command::List, "", "show the table (all of it, or one service)"),
    cmd("zero", &['Z'], NoArg, Command::Zero, "", "reset the counters of one service or of all"),
    cmd("set", &[], NoArg, Command::SetTimeouts, "tcp tcpfin udp", "change connection timeouts (0 keeps a value)"),
    cmd("start-daemon", &[], ReqArg, Command::StartDaemon, "state", "start a sync daemon (state: master|backup)"),
    cmd("stop-daemon", &[], ReqArg, Command::StopDaemon, "state", "stop a sync daemon (state: master|backup)"),
    cmd("help", &['h'], NoArg, Command::Help, "", "print this summary"),
    cmd("version", &['v'], NoArg, Command::Version, "", "print the version"),
    // Virtual service.
    opt("tcp-service", &['t'], ReqArg, Action::Tcp, Some(Slot::ServiceAddress), "host[:port]", "a TCP service", VSec),
    opt("udp-service", &['u'], ReqArg, Action::Udp, Some(Slot::ServiceAddress), "host[:port]", "a UDP service", VSec),
    opt("sctp-service", &[], ReqArg, Action::Sctp, Some(Slot::ServiceAddress), "host[:port]", "an SCTP service", VSec),
    opt("fwmark-service", &['f'], ReqArg, Action::Fwmark, Some(Slot::ServiceAddress), "mark", "a firewall mark, 1-4294967295", VSec),
    // Service options.
    opt("ipv6", &['6'], NoArg, Action::Ipv6, None, "", "the fwmark service is for IPv6 packets", OSec),
    opt("scheduler", &['s'], ReqArg, Action::Scheduler, Some(Slot::Scheduler), "name", "rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed,\nnq, fo, ovf, mh, ... (default wlc)", OSec),
    opt("pe", &[], ReqArg, Action::Pe, Some(Slot::Pe), "engine", "persistence engine (sip); none if not given", OSec),
    opt("persistent", &['p'], OptArg, Action::Persistent, Some(Slot::Persistent), "[seconds]", "keep clients on one server (default 360 s)", OSec),
    opt("netmask", &['M'], ReqArg, Action::Netmask, Some(Slot::Netmask), "mask", "persistence granularity: a.b.c.d or a prefix\nlength (IPv4), a prefix length (IPv6)", OSec),
    opt("sched-flags", &['b'], ReqArg, Action::SchedFlags, Some(Slot::SchedFlags), "flags", "comma-separated scheduler flags (flag-1..3,\nsh-fallback, sh-port, mh-fallback, mh-port)", OSec),
    opt("ops", &['o'], NoArg, Action::Ops, Some(Slot::Ops), "", "schedule each UDP datagram on its own", OSec),
    // Server options.
    opt("real-server", &['r'], ReqArg, Action::RealServer, Some(Slot::RealServer), "host[:port]", "the real server", OSec),
    opt("gatewaying", &['g'], NoArg, Action::Gatewaying, Some(Slot::ForwardingMethod), "", "forward by direct routing (the default)", OSec),
    opt("ipip", &['i'], NoArg, Action::Ipip, Some(Slot::ForwardingMethod), "", "forward through a tunnel", OSec),
    opt("masquerading", &['m'], NoArg, Action::Masquerading, Some(Slot::ForwardingMethod), "", "forward by NAT", OSec),
    opt("weight", &['w'], ReqArg, Action::Weight, Some(Slot::Weight), "n", "relative capacity, 0-2147483647 (default 1)", OSec),
    opt("u-threshold", &['x'], ReqArg, Action::UThreshold, Some(Slot::UThreshold), "n", "stop sending new connections above n", OSec),
    opt("l-threshold", &['y'], ReqArg, Action::LThreshold, Some(Slot::LThreshold), "n", "resume sending new connections below n", OSec),
    opt("tun-type", &[], ReqArg, Action::TunType, Some(Slot::TunType), "type", "ipip (default), gue or gre", OSec),
    opt("tun-port", &[], ReqArg, Action::TunPort, Some(Slot::TunPort), "port", "destination port of gue tunnels", OSec),
    opt("tun-nocsum", &[], NoArg, Action::TunNocsum, Some(Slot::TunNocsum), "", "tunnel without checksums", OSec),
    opt("tun-csum", &[], NoArg, Action::TunCsum, Some(Slot::TunCsum), "", "tunnel with checksums", OSec),
    opt("tun-remcsum", &[], NoArg, Action::TunRemcsum, Some(Slot::TunRemcsum), "", "tunnel with remote checksum offload", OSec),
    // Listing options.
    opt("connection", &['c'], NoArg, Action::Connection, Some(Slot::Connection), "", "list connections instead of services", OSec),
    opt("timeout", &[], NoArg, Action::Timeout, Some(Slot::Timeout), "", "list the connection timeouts", OSec),
    opt("daemon", &[], NoArg, Action::Daemon, Some(Slot::Daemon), "", "list the sync daemons", OSec),
    opt("stats", &[], NoArg, Action::Stats, Some(Slot::Stats), "", "list with traffic counters", OSec),
    opt("rate", &[], NoArg, Action::Rate, Some(Slot::Rate), "", "list with traffic rates", OSec),
    opt("exact", &['X'], NoArg, Action::Exact, Some(Slot::Exact), "", "print counters in full, without K/M/G units", OSec),
    opt("thresholds", &[], NoArg, Action::Thresholds, Some(Slot::Thresholds), "", "list with connection thresholds", OSec),
    opt("persistent-conn", &[], NoArg, Action::PersistentConn, Some(Slot::PersistentConn), "", "list with persistent connection counts", OSec),
    opt("tun-info", &[], NoArg, Action::TunInfo, Some(Slot::TunInfo), "", "list with tunnel settings", OSec),
    opt("nosort", &[], NoArg, Action::Nosort, Some(Slot::Nosort), "", "list in the kernel's order", OSec),
    opt("sort", &[], NoArg, Action::Sort, None, "", "ignored; sorting is the default", OSec),
    opt("numeric", &['n'], NoArg, Action::Numeric, Some(Slot::Numeric), "", "print addresses and ports as numbers", OSec),
    opt("json", &[], NoArg, Action::Json, Some(Slot::Json), "", "list as JSON (docs/json.md): numeric, full\ncounters, every field", OSec),
    // Extensions for every command.
    opt("netns", &[], ReqArg, Action::Netns, Some(Slot::Netns), "name|path", "act on this network namespace's IPVS table\n(a name under /run/netns, or a file)", OSec),
    opt("test", &[], NoArg, Action::Test, Some(Slot::Test), "", "with --restore: check all input, report each\nbad line, change nothing", OSec),
    // Daemon options.
    opt("syncid", &[], ReqArg, Action::Syncid, Some(Slot::Syncid), "id", "sync id, 0-255 (default 0)", DSec),
    opt("sync-maxlen", &[], ReqArg, Action::SyncMaxlen, Some(Slot::SyncMaxlen), "bytes", "largest sync message (default: kernel's)", DSec),
    opt("mcast-interface", &[], ReqArg, Action::McastInterface, Some(Slot::McastInterface), "ifname", "interface for sync traffic (default eth0)", DSec),
    opt("mcast-group", &[], ReqArg, Action::McastGroup, Some(Slot::McastGroup), "address", "IPv4 or IPv6 multicast group (kernel default\n224.0.0.81)", DSec),
    opt("mcast-port", &[], ReqArg, Action::McastPort, Some(Slot::McastPort), "port", "UDP port (kernel default 8848)", DSec),
    opt("mcast-ttl", &[], ReqArg, Action::McastTtl, Some(Slot::McastTtl), "ttl", "multicast TTL (kernel default 1)", DSec),
];

/// The option with this long name (exact match: popt does not accept
/// abbreviations).
pub fn find_long(name: &str) -> Option<&'static Flag> {
    FLAGS.iter().find(|f| f.long == name)
}

/// The option with this short letter.
pub fn find_short(c: char) -> Option<&'static Flag> {
    // Every restore line looks up several letters: index ASCII letters
    // once instead of scanning the table each time.
    static ASCII: std::sync::OnceLock<[u16; 128]> = std::sync::OnceLock::new();
    let Ok(b) = u8::try_from(c) else {
        return FLAGS.iter().find(|f| f.shorts.contains(&c));
    };
    let index = ASCII.get_or_init(|| {
        let mut t = [u16::MAX; 128];
        for (i, f) in FLAGS.iter().enumerate().rev() {
            for &s in f.shorts {
                if let (Some(slot), Ok(i)) = (t.get_mut(s as usize), u16::try_from(i)) {
                    *slot = i;
                }
            }
        }
        t
    });
    match index.get(usize::from(b)) {
        Some(&i) => FLAGS.get(usize::from(i)),
        None => FLAGS.iter().find(|f| f.shorts.contains(&c)),
    }
}

/// What the legality matrix says about one slot for one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// May be given.
    Optional,
    /// Must be given.
    Required,
    /// Must not be given.
    Illegal,
    /// At most one of the command's `OneOf` slots may be given.
    OneOf,
}

/// A command's name in messages and its row of the legality matrix.
#[derive(Debug, Clone, Copy)]
pub struct CommandRules {
    /// The command.
    pub command: Command,
    /// Its name in messages (`flush` for `-C`, `set` for `--set`).
    pub name: &'static str,
    /// One character per [`Slot`], in column order: `+` required, `x`
    /// illegal, `1` at most one of these, `.` optional.
    pub row: &'static str,
}

/// The legality matrix (ipvsadm 1.31), one row per command. The last three
/// columns are ours (`--json`, `--netns`, `--test`): after ipvsadm's, so
/// that on a line ipvsadm refuses, the error is still ipvsadm's.
pub static COMMAND_RULES: &[CommandRules] = &[
    CommandRules {
        command: Command::AddService,
        name: "add-service",
        row: "xx+...xxxxxxxxxxxxxxx...xxxxxxxxxxx.x",
    },
    CommandRules {
        command: Command::EditService,
        name: "edit-service",
        row: "xx+...xxxxxxxxxxxxxxx...xxxxxxxxxxx.x",
    },
    CommandRules {
        command: Command::DelService,
        name: "delete-service",
        row: "xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.x",
    },
    CommandRules {
        command: Command::Flush,
        name: "flush",
        row: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.x",
    },
    CommandRules {
        command: Command::List,
        name: "list",
        row: ".11xxxxxxxxx11.......xxxxxxx.xxxxx..x",
    },
    CommandRules {
        command: Command::AddDest,
        name: "add-server",
        row: "xx+xxx+....xxxxxxxxxxxxxxxxxx.....x.x",
    },
    CommandRules {
        command: Command::DelDest,
        name: "delete-server",
        row: "xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxxx.x",
    },
    CommandRules {
        command: Command::EditDest,
        name: "edit-server",
        row: "xx+xxx+....xxxxxxxxxxxxxxxxxx.....x.x",
    },
    CommandRules {
        command: Command::SetTimeouts,
        name: "set",
        row: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.x",
    },
    CommandRules {
        command: Command::StartDaemon,
        name: "start-daemon",
        row: "xxxxxxxxxxx.xxxxxxx.xxxx....xxxxxxx.x",
    },
    CommandRules {
        command: Command::StopDaemon,
        name: "stop-daemon",
        row: "xxxxxxxxxxxxxxxxxxx.xxxxxxxxxxxxxxx.x",
    },
    CommandRules {
        command: Command::Restore,
        name: "restore",
        row: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx..",
    },
    CommandRules {
        command: Command::Save,
        name: "save",
        row: ".xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.x",
    },
    CommandRules {
        command: Command::Zero,
        name: "zero",
        row: "xx.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.x",
    },
];

/// The rules of a command (`None` for `-h` and `-v`, which are never
/// checked).
pub fn rules_for(command: Command) -> Option<&'static CommandRules> {
    COMMAND_RULES.iter().find(|r| r.command == command)
}

impl CommandRules {
    /// The rule for one slot.
    pub fn rule(&self, slot: Slot) -> Rule {
        rule_at(self.row, slot.index())
    }
}

/// The rule written at `col` of a row string.
fn rule_at(row: &str, col: usize) -> Rule {
    match row.as_bytes().get(col) {
        Some(b'+') => Rule::Required,
        Some(b'x') => Rule::Illegal,
        Some(b'1') => Rule::OneOf,
        _ => Rule::Optional,
    }
}

/// Columns of the tunnel-type table, in order.
pub const TUNNEL_SLOTS: [Slot; 4] = [
    Slot::TunPort,
    Slot::TunNocsum,
    Slot::TunCsum,
    Slot::TunRemcsum,
];

/// A tunnel type's name in messages and its row of the tunnel table (same
/// characters as [`CommandRules::row`], one per [`TUNNEL_SLOTS`] column).
/// Only reached with `-i`.
pub fn tunnel_rules(tun_type: TunType) -> (&'static str, &'static str) {
    match tun_type {
        TunType::Gue => ("gue", "+111"),
        TunType::Gre => ("gre", "x11x"),
        // The parser produces no other type; treat unknown ones like ipip.
        TunType::Ipip | TunType::Other(_) => ("ipip", "xxxx"),
    }
}

/// The rule for one slot in a tunnel-table row; slots outside the table
/// are optional.
pub fn tunnel_rule(row: &str, slot: Slot) -> Rule {
    match TUNNEL_SLOTS.iter().position(|s| *s == slot) {
        Some(col) => rule_at(row, col),
        None => Rule::Optional,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_in_column_order() {
        for (i, s) in Slot::ALL.iter().enumerate() {
            assert_eq!(s.index(), i);
        }
    }

    #[test]
    fn matrix_rows_are_complete() {
        for r in COMMAND_RULES {
            assert_eq!(r.row.len(), Slot::COUNT, "{}", r.name);
            assert!(r.row.bytes().all(|b| b"+x1.".contains(&b)), "{}", r.name);
        }
        // Every command except help and version has a row.
        for f in FLAGS {
            if let Action::Command(c) = f.action {
                let has_row = rules_for(c).is_some();
                assert_eq!(has_row, !matches!(c, Command::Help | Command::Version));
            }
        }
    }

    #[test]
    fn names_are_unique() {
        for (i, a) in FLAGS.iter().enumerate() {
            for b in &FLAGS[i + 1..] {
                assert_ne!(a.long, b.long);
                for c in a.shorts {
                    assert!(!b.shorts.contains(c), "short -{c} twice");
                }
            }
        }
    }

    #[test]
    fn every_slot_has_an_option() {
        for s in Slot::ALL {
            assert!(FLAGS.iter().any(|f| f.slot == Some(s)), "{}", s.name());
        }
    }

    #[test]
    fn lookups() {
        assert_eq!(find_short('l').map(|f| f.long), Some("list"));
        assert_eq!(find_short('X').map(|f| f.long), Some("exact"));
        assert_eq!(
            find_long("sctp-service").map(|f| f.action),
            Some(Action::Sctp)
        );
        assert!(find_long("add").is_none());
        assert!(find_short('Q').is_none());
    }
}
