//! The ipvsadm 1.31 command-line grammar: argv in, a typed [`Invocation`]
//! or the exact error ipvsadm would print out.
//!
//! The parser is pure: it reads nothing but its arguments and asks the
//! [`Resolver`] for host and service names. Reproducing ipvsadm means
//! reproducing popt's tokenizing (see [`super::flags`]) and a fixed order of
//! checks, because when a line has several problems the first one in this
//! order is the one reported:
//!
//! 1. options left to right: popt errors (exit 255), repeated slots, later
//!    commands, and each option's own value check (exit 2);
//! 2. after the scan, `-6` and `-M` (see the policy notes below);
//! 3. `--set`'s three positional values;
//! 4. any other positional word (`unexpected argument`);
//! 5. the `-b` scheduler flags;
//! 6. the command/option legality matrix, column by column;
//! 7. the per-command semantic checks.
//!
//! Deliberate differences from ipvsadm (the project's compatibility policy):
//!
//! * item 2: the command need not be the first option (`-nL`, `-n -L`).
//!   The first command found is the command; options before it are checked
//!   in argv order like those after it. A popt error met before any
//!   command, or a line without a command, still gives "Try ..." (exit 255)
//!   as ipvsadm does. `-h`/`-v` are honoured when they are the first
//!   command found, and everything else on the line is then ignored.
//! * item 5: `-b` with only commas (`-b ,`) crashes ipvsadm; here it is
//!   ``invalid scheduler flag `,'`` (the whole argument quoted), exit 2.
//! * item 7: fwmarks are `u32` throughout.
//! * item 10: `[a.b.c.d]:port` keeps its port (see [`super::addr`]).
//! * item 16: a bad `--stop-daemon` state says
//!   `illegal stop-daemon parameter specified`.
//! * item 20: `-6` and `-M` are applied after the whole line is scanned, so
//!   their position does not matter (`-6 -f 1`, `-M 64 -t [v6]` work).
//!   `-6` without any `-f` is an error whose text is changed to
//!   `-6 used without -f` (one newline): ipvsadm's `-6 used before -f`
//!   (two newlines) would be inaccurate once order no longer matters. The
//!   error is raised as soon as it is certain (`-6` and an address service
//!   both seen), else after the scan. On an IPv4 service a `-M` of digits
//!   worth at most 32 is a prefix length. A `-M` text that no family
//!   accepts is refused during the scan, as ipvsadm does; one that only the
//!   other family accepts is refused after the scan (so later per-option
//!   errors on the line win over it).
//!
//! Not reproduced: popt's `POSIXLY_CORRECT` mode (options end at the first
//! positional word when that variable is set), because the parser reads no
//! environment; arguments that are not UTF-8 are read lossily.

use std::borrow::Cow;
use std::ffi::OsString;
use std::net::IpAddr;

use super::addr::{self, McastGroupError};
pub use super::flags::Command;
use super::flags::{self, Action, ArgKind, Flag, Rule, Slot};
use super::options::ListOptions;
use super::resolve::Resolver;
use crate::model::{
    svc_flags, tun_flags, Daemon, DaemonState, Dest, Family, FwdMethod, Protocol, Service,
    ServiceKey, Timeouts, TunType,
};

/// Why the command line was refused: what ipvsadm writes to stderr and its
/// exit status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", stderr.trim_end())]
pub struct Failure {
    /// Exit status: 2 for validation errors, 255 for popt errors and
    /// "Try ...".
    pub code: i32,
    /// The complete stderr text, newline(s) included.
    pub stderr: String,
}

impl Failure {
    /// A validation error (ipvsadm's `fail(2, ...)`).
    fn usage(msg: impl Into<String>) -> Failure {
        let mut stderr = msg.into();
        stderr.push('\n');
        Failure { code: 2, stderr }
    }

    /// No usable command: point at the help.
    fn try_help(prog: &str) -> Failure {
        Failure {
            code: 255,
            stderr: format!("Try `{prog} -h' or '{prog} --help' for more information.\n"),
        }
    }
}

/// A parsed command line, with every default filled in as ipvsadm fills
/// it (edits are full replacements).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// What to do.
    pub command: Command,
    /// The virtual service: complete for `-A`/`-E`; identity only (empty
    /// scheduler) for `-D`, `-a`, `-e`, `-d`, `-L`, `-Z`; `None` when not
    /// given, and for `-Z` on the all-zero service (zero everything).
    pub service: Option<Service>,
    /// The real server for `-a`, `-e`, `-d`.
    pub dest: Option<Dest>,
    /// The three values of `--set`.
    pub timeouts: Option<Timeouts>,
    /// The daemon for `--start-daemon`/`--stop-daemon`.
    pub daemon: Option<Daemon>,
    /// Listing options (filled whatever the command).
    pub list: ListOptions,
    /// `--netns`: the network namespace to act in (a name under
    /// `/run/netns` or a path), as given.
    pub netns: Option<String>,
    /// `--test` (with `-R`): check the input, change nothing.
    pub test: bool,
}

impl Invocation {
    fn bare(command: Command) -> Invocation {
        Invocation {
            command,
            service: None,
            dest: None,
            timeouts: None,
            daemon: None,
            list: ListOptions::default(),
            netns: None,
            test: false,
        }
    }
}

/// Parses ipvsadm's arguments. `prog` is the name the program was invoked
/// as (used in "Try ..."); `args` excludes it. No arguments at all means
/// listing the whole table with name resolution, as ipvsadm does.
///
/// Arguments that are not valid UTF-8 are read lossily.
pub fn parse(
    prog: &str,
    args: &[OsString],
    resolver: &dyn Resolver,
) -> Result<Invocation, Failure> {
    // Borrowed when valid UTF-8 (the usual case), lossy copies otherwise.
    let owned: Vec<Cow<'_, str>> = args.iter().map(|a| a.to_string_lossy()).collect();
    let words: Vec<&str> = owned.iter().map(|w| w.as_ref()).collect();
    parse_words(prog, &words, resolver)
}

/// [`parse`] for arguments already known to be UTF-8 text (restore lines),
/// which are read in place.
pub fn parse_words(
    prog: &str,
    args: &[&str],
    resolver: &dyn Resolver,
) -> Result<Invocation, Failure> {
    if args.is_empty() {
        return Ok(Invocation::bare(Command::List));
    }
    let mut tok = Tokenizer::new(args);

    // Find the command; what comes before it is kept for later.
    let mut before = Vec::new();
    let (command, cmd_value) = loop {
        match tok.next_token() {
            None | Some(Err(_)) => return Err(Failure::try_help(prog)),
            Some(Ok(Token::Opt {
                flag:
                    Flag {
                        action: Action::Command(c),
                        ..
                    },
                value,
                ..
            })) => break (*c, value),
            Some(Ok(t)) => before.push(t),
        }
    };
    if matches!(command, Command::Help | Command::Version) {
        return Ok(Invocation::bare(command));
    }

    let mut st = State::new(command);
    for t in before {
        st.apply(t, args, resolver)?;
    }
    st.command_value(cmd_value.as_deref())?;
    while let Some(t) = tok.next_token() {
        match t {
            Ok(t) => st.apply(t, args, resolver)?,
            Err(e) => {
                let text = args.get(e.text).copied().unwrap_or("");
                return Err(Failure {
                    code: 255,
                    stderr: format!("{text}: {}\n", e.kind.message()),
                });
            }
        }
    }
    st.finish(resolver)
}

// ---------------------------------------------------------------------------
// Tokenizer: popt's view of argv.

/// A popt error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PoptErrorKind {
    BadOption,
    MissingArg,
    UnwantedArg,
}

impl PoptErrorKind {
    fn message(self) -> &'static str {
        match self {
            PoptErrorKind::BadOption => "unknown option",
            PoptErrorKind::MissingArg => "missing argument",
            PoptErrorKind::UnwantedArg => "option does not take an argument",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct PoptError {
    kind: PoptErrorKind,
    /// argv index of the element the error is about.
    text: usize,
}

#[derive(Debug, Clone)]
enum Token<'a> {
    /// An option; `text` is the argv index of the last element consumed
    /// (what ``invalid option `TEXT'`` quotes). The value is borrowed from
    /// argv unless a `!#:+` substitution rewrote it.
    Opt {
        flag: &'static Flag,
        value: Option<Cow<'a, str>>,
        text: usize,
    },
    /// A positional word.
    Positional(&'a str),
}

struct Tokenizer<'a> {
    args: &'a [&'a str],
    /// Next argv index to look at.
    next: usize,
    /// Inside a short cluster: argv index and byte offset of its next
    /// letter.
    cluster: Option<(usize, usize)>,
    /// After `--`: everything is positional.
    rest_positional: bool,
    /// Elements already taken by a `!#:+` substitution (empty until the
    /// first substitution).
    taken: Vec<bool>,
}

impl<'a> Tokenizer<'a> {
    fn new(args: &'a [&'a str]) -> Tokenizer<'a> {
        Tokenizer {
            args,
            next: 0,
            cluster: None,
            rest_positional: false,
            taken: Vec::new(),
        }
    }

    fn next_token(&mut self) -> Option<Result<Token<'a>, PoptError>> {
        if let Some((idx, off)) = self.cluster.take() {
            return Some(self.short(idx, off));
        }
        loop {
            let idx = self.next;
            let s: &'a str = self.args.get(idx)?;
            self.next += 1;
            if self.taken.get(idx).copied().unwrap_or(false) {
                continue;
            }
            if self.rest_positional || !s.starts_with('-') || s == "-" {
                return Some(Ok(Token::Positional(s)));
            }
            if s == "--" {
                self.rest_positional = true;
                continue;
            }
            if let Some(body) = s.strip_prefix("--") {
                return Some(self.long(idx, body));
            }
            return Some(self.short(idx, 1));
        }
    }

    /// `--name` or `--name=value` at argv index `idx`.
    fn long(&mut self, idx: usize, body: &'a str) -> Result<Token<'a>, PoptError> {
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let err = |kind| PoptError { kind, text: idx };
        let flag = flags::find_long(name).ok_or(err(PoptErrorKind::BadOption))?;
        match (flag.arg, inline) {
            (ArgKind::None, Some(_)) => Err(err(PoptErrorKind::UnwantedArg)),
            (ArgKind::None, None) => Ok(Token::Opt {
                flag,
                value: None,
                text: idx,
            }),
            (_, Some(v)) => {
                let value = self.expand(v);
                Ok(Token::Opt {
                    flag,
                    value: Some(value),
                    text: idx,
                })
            }
            (_, None) => self.value_from_next(flag, idx),
        }
    }

    /// The letter at byte `off` of the cluster at argv index `idx`.
    fn short(&mut self, idx: usize, off: usize) -> Result<Token<'a>, PoptError> {
        let err = |kind| PoptError { kind, text: idx };
        let s: &'a str = self.args.get(idx).ok_or(err(PoptErrorKind::BadOption))?;
        let rest = s.get(off..).unwrap_or("");
        let c = rest.chars().next().ok_or(err(PoptErrorKind::BadOption))?;
        let flag = flags::find_short(c).ok_or(err(PoptErrorKind::BadOption))?;
        let after_off = off + c.len_utf8();
        let after = s.get(after_off..).unwrap_or("");
        match flag.arg {
            ArgKind::None => {
                if after.starts_with('=') {
                    return Err(err(PoptErrorKind::UnwantedArg));
                }
                if !after.is_empty() {
                    self.cluster = Some((idx, after_off));
                }
                Ok(Token::Opt {
                    flag,
                    value: None,
                    text: idx,
                })
            }
            ArgKind::Required | ArgKind::Optional => {
                if after.is_empty() {
                    return self.value_from_next(flag, idx);
                }
                // popt skips one `=` after the letter: `-t=addr`.
                let v = after.strip_prefix('=').unwrap_or(after);
                let value = self.expand(v);
                Ok(Token::Opt {
                    flag,
                    value: Some(value),
                    text: idx,
                })
            }
        }
    }

    /// The value of an option written at argv index `idx` without an inline
    /// value: the next element, whatever it is (for an optional value, only
    /// if it does not start with `-`).
    fn value_from_next(&mut self, flag: &'static Flag, idx: usize) -> Result<Token<'a>, PoptError> {
        match self.args.get(self.next).copied() {
            None if flag.arg == ArgKind::Optional => Ok(Token::Opt {
                flag,
                value: None,
                text: idx,
            }),
            None => Err(PoptError {
                kind: PoptErrorKind::MissingArg,
                text: idx,
            }),
            Some(n) if flag.arg == ArgKind::Optional && n.starts_with('-') => Ok(Token::Opt {
                flag,
                value: None,
                text: idx,
            }),
            Some(n) => {
                let at = self.next;
                self.next += 1;
                let value = self.expand(n);
                Ok(Token::Opt {
                    flag,
                    value: Some(value),
                    text: at,
                })
            }
        }
    }

    /// popt replaces `!#:+` in an option's value with the next word after
    /// the current position that does not start with `-`, and removes that
    /// word from the line (`-t 1.2.3.4:!#:+ 80` is `-t 1.2.3.4:80`).
    fn expand(&mut self, v: &'a str) -> Cow<'a, str> {
        const MARK: &str = "!#:+";
        // A byte scan first: a substring search costs more to set up.
        if !v.as_bytes().contains(&b'!') || !v.contains(MARK) {
            return Cow::Borrowed(v);
        }
        let mut out = String::with_capacity(v.len());
        let mut found: Option<&'a str> = None;
        let mut rest = v;
        while let Some(i) = rest.find(MARK) {
            out.push_str(rest.get(..i).unwrap_or(""));
            if found.is_none() {
                found = self.take_next_word();
            }
            match found {
                Some(w) => {
                    out.push_str(w);
                    rest = rest.get(i + MARK.len()..).unwrap_or("");
                }
                None => {
                    out.push('!');
                    rest = rest.get(i + 1..).unwrap_or("");
                }
            }
        }
        out.push_str(rest);
        Cow::Owned(out)
    }

    fn take_next_word(&mut self) -> Option<&'a str> {
        if self.taken.is_empty() {
            self.taken = vec![false; self.args.len()];
        }
        for i in self.next..self.args.len() {
            let taken = self.taken.get(i).copied().unwrap_or(true);
            let Some(&w) = self.args.get(i) else { break };
            if taken || w.starts_with('-') {
                continue;
            }
            if let Some(t) = self.taken.get_mut(i) {
                *t = true;
            }
            return Some(w);
        }
        None
    }
}

// ---------------------------------------------------------------------------
// The state built while scanning.

/// The service as far as the scan has built it.
#[derive(Debug, Clone, Copy)]
enum SvcId {
    Addr {
        protocol: Protocol,
        addr: IpAddr,
        port: u16,
    },
    Fwmark(u32),
}

struct State {
    command: Command,
    seen: [bool; Slot::COUNT],
    positionals: Vec<String>,
    // Service.
    svc: Option<SvcId>,
    /// ipvsadm's `svc.protocol` at this point of the scan (port names of
    /// `-r` are looked up with it).
    svc_proto: Option<Protocol>,
    ipv6: bool,
    scheduler: String,
    pe: String,
    persistent: Option<u32>,
    netmask_text: Option<String>,
    sched_flags_arg: Option<String>,
    ops: bool,
    // Destination.
    dest: Option<(IpAddr, u16)>,
    fwd: FwdMethod,
    weight: i32,
    u_threshold: u32,
    l_threshold: u32,
    tun_type: TunType,
    tun_port: u16,
    tun_flags: u16,
    // Listing.
    list: ListOptions,
    // Extensions.
    netns: Option<String>,
    test: bool,
    // Daemon.
    daemon_state: Option<DaemonState>,
    mcast_ifn: String,
    syncid: u32,
    sync_maxlen: u16,
    mcast_group: Option<IpAddr>,
    mcast_port: u16,
    mcast_ttl: u8,
}

/// At most `max` bytes of `s`, cut on a character boundary (ipvsadm copies
/// names into fixed C buffers).
fn truncated(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("").to_string()
}

/// A number option: `min..=max` or the given message.
fn number(value: &str, min: i64, max: i64, msg: &str) -> Result<i64, Failure> {
    addr::number_in(value, min, max).ok_or_else(|| Failure::usage(msg))
}

/// Longest scheduler name ipvsadm keeps.
const SCHED_NAME_MAX: usize = 15;
/// Longest persistence-engine name ipvsadm keeps.
const PE_NAME_MAX: usize = 16;
/// Longest interface name ipvsadm keeps.
const IFNAME_MAX: usize = 15;
/// Longest persistence or connection timeout (31 days).
const MAX_TIMEOUT: i64 = 86400 * 31;
/// Persistence timeout when `-p` has no value.
const DEFAULT_PERSISTENCE: u32 = 360;
/// Scheduler when `-s` is absent or empty.
const DEFAULT_SCHEDULER: &str = "wlc";
/// `-6` on a line without `-f` (policy item 20: ipvsadm's text, `-6 used
/// before -f` followed by two newlines, would be wrong once order does not
/// matter; the wording is the one upstream proposed for the same fix).
const IPV6_WITHOUT_FWMARK: &str = "-6 used without -f";
/// Sync interface when `--mcast-interface` is absent or empty.
const DEFAULT_MCAST_IFN: &str = "eth0";

impl State {
    fn new(command: Command) -> State {
        State {
            command,
            seen: [false; Slot::COUNT],
            positionals: Vec::new(),
            svc: None,
            svc_proto: None,
            ipv6: false,
            scheduler: String::new(),
            pe: String::new(),
            persistent: None,
            netmask_text: None,
            sched_flags_arg: None,
            ops: false,
            dest: None,
            fwd: FwdMethod::Route,
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
            tun_type: TunType::Ipip,
            tun_port: 0,
            tun_flags: tun_flags::NOCSUM,
            list: ListOptions::default(),
            netns: None,
            test: false,
            daemon_state: None,
            mcast_ifn: String::new(),
            syncid: 0,
            sync_maxlen: 0,
            mcast_group: None,
            mcast_port: 0,
            mcast_ttl: 0,
        }
    }

    fn svc_port(&self) -> u16 {
        match self.svc {
            Some(SvcId::Addr { port, .. }) => port,
            _ => 0,
        }
    }

    /// The value of `--start-daemon`/`--stop-daemon`.
    fn command_value(&mut self, value: Option<&str>) -> Result<(), Failure> {
        let state = match value {
            Some("master") => Some(DaemonState::Master),
            Some("backup") => Some(DaemonState::Backup),
            _ => None,
        };
        match self.command {
            Command::StartDaemon => {
                self.daemon_state =
                    Some(state.ok_or_else(|| {
                        Failure::usage("illegal start-daemon parameter specified")
                    })?);
            }
            Command::StopDaemon => {
                // Policy item 16: ipvsadm says "illegal start_daemon specified".
                self.daemon_state =
                    Some(state.ok_or_else(|| {
                        Failure::usage("illegal stop-daemon parameter specified")
                    })?);
            }
            _ => {}
        }
        Ok(())
    }

    /// One token of the scan.
    fn apply(
        &mut self,
        t: Token<'_>,
        args: &[&str],
        resolver: &dyn Resolver,
    ) -> Result<(), Failure> {
        let (flag, value, text) = match t {
            Token::Positional(w) => {
                self.positionals.push(w.to_string());
                return Ok(());
            }
            Token::Opt { flag, value, text } => (flag, value, text),
        };
        if let Action::Command(_) = flag.action {
            let text = args.get(text).copied().unwrap_or("");
            return Err(Failure::usage(format!("invalid option `{text}'")));
        }
        if let Some(slot) = flag.slot {
            let seen = self
                .seen
                .get_mut(slot.index())
                .ok_or_else(|| Failure::usage("internal error: bad slot"))?;
            if *seen {
                return Err(Failure::usage(format!(
                    "multiple '{}' options specified",
                    slot.name()
                )));
            }
            *seen = true;
        }
        let v = value.as_deref().unwrap_or("");
        match flag.action {
            Action::Command(_) => {}
            Action::Tcp | Action::Udp | Action::Sctp => {
                let protocol = match flag.action {
                    Action::Udp => Protocol::Udp,
                    Action::Sctp => Protocol::Sctp,
                    _ => Protocol::Tcp,
                };
                self.svc_proto = Some(protocol);
                let hp = addr::parse_host_port(v, Some(protocol), resolver).ok_or_else(|| {
                    Failure::usage("illegal virtual server address[:port] specified")
                })?;
                self.svc = Some(SvcId::Addr {
                    protocol,
                    addr: hp.addr,
                    port: hp.port.unwrap_or(0),
                });
                self.check_ipv6_early()?;
            }
            Action::Fwmark => {
                let mark = addr::parse_fwmark(v).ok_or_else(|| {
                    Failure::usage(format!("invalid fwmark value `{v}' specified"))
                })?;
                self.svc = Some(SvcId::Fwmark(mark));
                self.svc_proto = Some(Protocol::Tcp);
            }
            Action::Ipv6 => {
                self.ipv6 = true;
                self.check_ipv6_early()?;
            }
            Action::Scheduler => self.scheduler = truncated(v, SCHED_NAME_MAX),
            Action::Pe => self.pe = truncated(v, PE_NAME_MAX),
            Action::Persistent => {
                let timeout = match &value {
                    None => DEFAULT_PERSISTENCE,
                    Some(v) => {
                        let n = addr::number_in(v, 1, MAX_TIMEOUT).ok_or_else(|| {
                            Failure::usage(format!("invalid timeout value `{v}' specified"))
                        })?;
                        u32::try_from(n).unwrap_or(DEFAULT_PERSISTENCE)
                    }
                };
                self.persistent = Some(timeout);
            }
            Action::Netmask => {
                // Read for real after the scan, once the family is known
                // (policy item 20). A text that no family accepts fails
                // here, where and as ipvsadm fails.
                if addr::parse_ipv6_prefix(v).is_none()
                    && addr::parse_ipv4_netmask(v, resolver).is_none()
                {
                    return Err(Failure::usage(if self.scan_time_ipv6() {
                        "illegal ipv6 netmask specified"
                    } else {
                        "illegal virtual server persistent mask specified"
                    }));
                }
                self.netmask_text = Some(v.to_string());
            }
            Action::SchedFlags => self.sched_flags_arg = Some(v.to_string()),
            Action::Ops => self.ops = true,
            Action::RealServer => {
                let hp = addr::parse_host_port(v, self.svc_proto, resolver).ok_or_else(|| {
                    Failure::usage("illegal real server address[:port] specified")
                })?;
                // Without a port, the service's port as known at this point.
                let port = hp.port.unwrap_or_else(|| self.svc_port());
                self.dest = Some((hp.addr, port));
            }
            Action::Gatewaying => self.fwd = FwdMethod::Route,
            Action::Ipip => self.fwd = FwdMethod::Tunnel,
            Action::Masquerading => self.fwd = FwdMethod::Masq,
            Action::Weight => {
                let n = number(v, 0, i64::from(i32::MAX), "illegal weight specified")?;
                self.weight = i32::try_from(n).unwrap_or(1);
            }
            Action::UThreshold => {
                let n = number(v, 0, i64::from(i32::MAX), "illegal u_threshold specified")?;
                self.u_threshold = u32::try_from(n).unwrap_or(0);
            }
            Action::LThreshold => {
                let n = number(v, 0, i64::from(i32::MAX), "illegal l_threshold specified")?;
                self.l_threshold = u32::try_from(n).unwrap_or(0);
            }
            Action::TunType => {
                self.tun_type = match v {
                    "ipip" => TunType::Ipip,
                    "gue" => TunType::Gue,
                    "gre" => TunType::Gre,
                    _ => return Err(Failure::usage("illegal tunnel type specified")),
                };
            }
            Action::TunPort => {
                let n = number(v, 1, 65535, "illegal tunnel port specified")?;
                self.tun_port = u16::try_from(n).unwrap_or(0);
            }
            Action::TunNocsum => self.tun_flags |= tun_flags::NOCSUM,
            Action::TunCsum => self.tun_flags |= tun_flags::CSUM,
            Action::TunRemcsum => self.tun_flags |= tun_flags::REMCSUM,
            Action::Connection => self.list.connection = true,
            Action::Timeout => self.list.timeout = true,
            Action::Daemon => self.list.daemon = true,
            Action::Stats => self.list.stats = true,
            Action::Rate => self.list.rate = true,
            Action::Thresholds => self.list.thresholds = true,
            Action::PersistentConn => self.list.persistent_conn = true,
            Action::TunInfo => self.list.tun_info = true,
            Action::Nosort => self.list.nosort = true,
            Action::Sort => {}
            Action::Numeric => self.list.numeric = true,
            Action::Exact => self.list.exact = true,
            Action::Json => self.list.json = true,
            Action::Netns => {
                if v.is_empty() {
                    return Err(Failure::usage("empty network namespace specified"));
                }
                self.netns = Some(v.to_string());
            }
            Action::Test => self.test = true,
            Action::McastInterface => self.mcast_ifn = truncated(v, IFNAME_MAX),
            Action::Syncid => {
                let n = number(v, 0, 255, "illegal syncid specified")?;
                self.syncid = u32::try_from(n).unwrap_or(0);
            }
            Action::SyncMaxlen => {
                let n = number(v, 1, 65507, "illegal sync-maxlen specified")?;
                self.sync_maxlen = u16::try_from(n).unwrap_or(0);
            }
            Action::McastGroup => {
                let g = addr::parse_mcast_group(v).map_err(|e| match e {
                    McastGroupError::NotIpv6Multicast => {
                        Failure::usage(format!("invalid IPv6 mcast-group `{v}'"))
                    }
                    McastGroupError::NotIpv4Multicast => {
                        Failure::usage(format!("invalid IPv4 mcast-group `{v}'"))
                    }
                })?;
                self.mcast_group = Some(g);
            }
            Action::McastPort => {
                let n = number(v, 1, 65535, "illegal mcast-port specified")?;
                self.mcast_port = u16::try_from(n).unwrap_or(0);
            }
            Action::McastTtl => {
                let n = number(v, 1, 255, "illegal mcast-ttl specified")?;
                self.mcast_ttl = u8::try_from(n).unwrap_or(0);
            }
        }
        Ok(())
    }

    /// `-6` with an address service can never be followed by a usable
    /// `-f` (a second service is an error), so it fails at once, closer to
    /// where ipvsadm fails; otherwise the check waits for the end of the
    /// scan.
    fn check_ipv6_early(&self) -> Result<(), Failure> {
        if self.ipv6 && matches!(self.svc, Some(SvcId::Addr { .. })) {
            return Err(Failure::usage(IPV6_WITHOUT_FWMARK));
        }
        Ok(())
    }

    /// Whether ipvsadm would consider the service IPv6 at this point of the
    /// scan (an IPv6 address, or `-f` followed by `-6`).
    fn scan_time_ipv6(&self) -> bool {
        match self.svc {
            Some(SvcId::Addr { addr, .. }) => addr.is_ipv6(),
            Some(SvcId::Fwmark(_)) => self.ipv6,
            None => false,
        }
    }

    fn has(&self, slot: Slot) -> bool {
        self.seen.get(slot.index()).copied().unwrap_or(false)
    }

    /// The service's family once the scan is over.
    fn svc_family(&self) -> Family {
        match self.svc {
            Some(SvcId::Addr { addr, .. }) => Family::of(&addr),
            Some(SvcId::Fwmark(_)) if self.ipv6 => Family::Inet6,
            _ => Family::Inet,
        }
    }

    /// Everything after the scan, in ipvsadm's order of checks.
    fn finish(mut self, resolver: &dyn Resolver) -> Result<Invocation, Failure> {
        // -6 and -M, order-independent (policy item 20).
        if self.ipv6 && !matches!(self.svc, Some(SvcId::Fwmark(_))) {
            return Err(Failure::usage(IPV6_WITHOUT_FWMARK));
        }
        let family = self.svc_family();
        let netmask = match &self.netmask_text {
            None => Service::full_netmask(family),
            Some(text) if family == Family::Inet6 => addr::parse_ipv6_prefix(text)
                .ok_or_else(|| Failure::usage("illegal ipv6 netmask specified"))?,
            Some(text) => addr::parse_ipv4_netmask(text, resolver).ok_or_else(|| {
                Failure::usage("illegal virtual server persistent mask specified")
            })?,
        };

        // --set values, then stray words.
        let mut timeouts = None;
        let mut positionals = std::mem::take(&mut self.positionals).into_iter();
        if self.command == Command::SetTimeouts {
            let mut vals = [0u32; 3];
            let words: Vec<String> = positionals.by_ref().take(3).collect();
            if words.len() < 3 {
                return Err(Failure::usage("--set option requires 3 timeout values"));
            }
            for (slot, w) in vals.iter_mut().zip(&words) {
                let n = addr::number_in(w, 0, MAX_TIMEOUT).ok_or_else(|| {
                    Failure::usage(format!("invalid timeout value `{w}' specified"))
                })?;
                *slot = u32::try_from(n).unwrap_or(0);
            }
            let [tcp, tcp_fin, udp] = vals;
            timeouts = Some(Timeouts { tcp, tcp_fin, udp });
        }
        if let Some(w) = positionals.next() {
            return Err(Failure::usage(format!("unexpected argument {w}")));
        }

        // -b, against the final scheduler.
        let sched_bits = match &self.sched_flags_arg {
            Some(arg) if !arg.is_empty() => parse_sched_flags(arg, self.effective_scheduler())?,
            _ => 0,
        };

        self.check_matrix()?;

        let flags = sched_bits
            | if self.persistent.is_some() {
                svc_flags::PERSISTENT
            } else {
                0
            }
            | if self.ops { svc_flags::ONEPACKET } else { 0 };
        let key = self.svc.map(|s| match s {
            SvcId::Addr {
                protocol,
                addr,
                port,
            } => ServiceKey::Addr {
                protocol,
                addr,
                port,
            },
            SvcId::Fwmark(mark) => ServiceKey::Fwmark { family, mark },
        });

        let mut inv = Invocation::bare(self.command);
        inv.list = self.list;
        inv.netns = self.netns.take();
        inv.test = self.test;
        inv.timeouts = timeouts;
        match self.command {
            Command::AddService | Command::EditService => {
                let key = key.ok_or_else(|| Failure::usage("internal error: no service"))?;
                if let ServiceKey::Addr { protocol, port, .. } = key {
                    if port == 0 && self.persistent.is_none() {
                        return Err(Failure::usage(
                            "Zero port specified for non-persistent service",
                        ));
                    }
                    if self.ops && protocol != Protocol::Udp {
                        return Err(Failure::usage(
                            "One-Packet Scheduling is only for UDP virtual services",
                        ));
                    }
                }
                let mut svc = Service::new(key);
                svc.scheduler = self.effective_scheduler().to_string();
                svc.pe = (!self.pe.is_empty()).then(|| self.pe.clone());
                svc.flags = flags;
                svc.timeout = self.persistent.unwrap_or(0);
                svc.netmask = netmask;
                inv.service = Some(svc);
            }
            Command::AddDest | Command::EditDest | Command::DelDest => {
                let key = key.ok_or_else(|| Failure::usage("internal error: no service"))?;
                let (daddr, mut dport) = self
                    .dest
                    .ok_or_else(|| Failure::usage("internal error: no real server"))?;
                if self.command != Command::DelDest {
                    self.check_dest(&key, daddr, &mut dport)?;
                }
                let mut d = Dest::new(daddr, dport);
                d.fwd = self.fwd;
                d.weight = self.weight;
                d.u_threshold = self.u_threshold;
                d.l_threshold = self.l_threshold;
                d.tun_type = self.tun_type;
                d.tun_port = self.tun_port;
                d.tun_flags = self.tun_flags;
                inv.service = Some(identity(key, netmask));
                inv.dest = Some(d);
            }
            Command::DelService | Command::List => {
                if self.command == Command::List {
                    self.check_list()?;
                }
                inv.service = key.map(|k| identity(k, netmask));
            }
            Command::Zero => {
                let everything = match key {
                    None => true,
                    Some(ServiceKey::Addr { addr, port, .. }) => addr.is_unspecified() && port == 0,
                    Some(ServiceKey::Fwmark { .. }) => false,
                };
                if !everything {
                    inv.service = key.map(|k| identity(k, netmask));
                }
            }
            Command::StartDaemon | Command::StopDaemon => {
                let state = self
                    .daemon_state
                    .ok_or_else(|| Failure::usage("internal error: no daemon state"))?;
                let mcast_ifn = if self.command == Command::StartDaemon && self.mcast_ifn.is_empty()
                {
                    DEFAULT_MCAST_IFN.to_string()
                } else {
                    self.mcast_ifn.clone()
                };
                inv.daemon = Some(Daemon {
                    state,
                    mcast_ifn,
                    syncid: self.syncid,
                    sync_maxlen: self.sync_maxlen,
                    mcast_group: self.mcast_group,
                    mcast_port: self.mcast_port,
                    mcast_ttl: self.mcast_ttl,
                });
            }
            Command::Flush
            | Command::Restore
            | Command::Save
            | Command::SetTimeouts
            | Command::Help
            | Command::Version => {}
        }
        Ok(inv)
    }

    fn effective_scheduler(&self) -> &str {
        if self.scheduler.is_empty() {
            DEFAULT_SCHEDULER
        } else {
            &self.scheduler
        }
    }

    /// The legality matrix: columns left to right, first violation wins.
    fn check_matrix(&self) -> Result<(), Failure> {
        let Some(rules) = flags::rules_for(self.command) else {
            return Ok(());
        };
        if row_satisfied(rules.row, &self.seen) {
            return Ok(());
        }
        check_row(
            |s| rules.rule(s),
            |s| self.has(s),
            &Slot::ALL,
            (rules.name, "command"),
        )
    }

    /// `-a`/`-e` checks after the matrix; may force the port.
    fn check_dest(&self, key: &ServiceKey, daddr: IpAddr, dport: &mut u16) -> Result<(), Failure> {
        if let ServiceKey::Addr { port, .. } = key {
            if matches!(self.fwd, FwdMethod::Route | FwdMethod::Tunnel) {
                *dport = *port;
            }
        }
        if Family::of(&daddr) != key.family() && self.fwd != FwdMethod::Tunnel {
            return Err(Failure::usage(
                "Different address family is allowed only for tunneling servers",
            ));
        }
        let tunnel_slots = [
            Slot::TunType,
            Slot::TunPort,
            Slot::TunNocsum,
            Slot::TunCsum,
            Slot::TunRemcsum,
        ];
        if tunnel_slots.iter().any(|s| self.has(*s)) && self.fwd != FwdMethod::Tunnel {
            return Err(Failure::usage(
                "Tunnel options conflict with forward method",
            ));
        }
        if self.fwd == FwdMethod::Tunnel {
            let (name, row) = flags::tunnel_rules(self.tun_type);
            check_row(
                |s| flags::tunnel_rule(row, s),
                |s| self.has(s),
                &flags::TUNNEL_SLOTS,
                (name, "tunnel type"),
            )?;
        }
        Ok(())
    }

    /// `-L` display options that cannot be combined.
    fn check_list(&self) -> Result<(), Failure> {
        let l = &self.list;
        let special = l.connection || l.timeout || l.daemon;
        if (special && (l.stats || l.rate || l.thresholds))
            || ((l.timeout || l.daemon) && l.persistent_conn)
        {
            return Err(Failure::usage("options conflicts in the list command"));
        }
        Ok(())
    }
}

/// The service object sent when only its identity matters.
fn identity(key: ServiceKey, netmask: u32) -> Service {
    let mut s = Service::new(key);
    s.netmask = netmask;
    s
}

/// Whether the options `seen` break no rule of a legality-matrix row
/// (columns in [`Slot::ALL`] order): the quick test every line passes;
/// [`check_row`] finds the message when it fails.
fn row_satisfied(row: &str, seen: &[bool]) -> bool {
    let mut one_of = 0u32;
    for (&rule, &given) in row.as_bytes().iter().zip(seen) {
        match rule {
            b'+' if !given => return false,
            b'x' if given => return false,
            b'1' => one_of += u32::from(given),
            _ => {}
        }
    }
    one_of <= 1
}

/// One row of a legality table: `what` (a name and a kind) ends the
/// messages ("'list' command", "'gue' tunnel type").
fn check_row(
    rule: impl Fn(Slot) -> Rule,
    given: impl Fn(Slot) -> bool,
    slots: &[Slot],
    (name, kind): (&str, &str),
) -> Result<(), Failure> {
    let what = || format!("'{name}' {kind}");
    let mut first_one_of: Option<Slot> = None;
    for &s in slots {
        match (rule(s), given(s)) {
            (Rule::Required, false) => {
                return Err(Failure::usage(format!(
                    "You need to supply the '{}' option for the {}",
                    s.name(),
                    what()
                )));
            }
            (Rule::Illegal, true) => {
                return Err(Failure::usage(format!(
                    "Illegal '{}' option with the {}",
                    s.name(),
                    what()
                )));
            }
            (Rule::OneOf, true) => match first_one_of {
                None => first_one_of = Some(s),
                Some(earlier) => {
                    return Err(Failure::usage(format!(
                        "The option '{}' conflicts with the '{}' option in the {}",
                        s.name(),
                        earlier.name(),
                        what()
                    )));
                }
            },
            _ => {}
        }
    }
    Ok(())
}

/// The `-b` list: comma-separated names, empty items skipped, each checked
/// against the scheduler in order.
fn parse_sched_flags(arg: &str, scheduler: &str) -> Result<u32, Failure> {
    let mut bits = 0;
    let mut any = false;
    for tok in arg.split(',').filter(|t| !t.is_empty()) {
        any = true;
        let (bit, needs) = match tok {
            "flag-1" => (svc_flags::SCHED1, None),
            "flag-2" => (svc_flags::SCHED2, None),
            "flag-3" => (svc_flags::SCHED3, None),
            "sh-fallback" => (svc_flags::SCHED1, Some("sh")),
            "sh-port" => (svc_flags::SCHED2, Some("sh")),
            "mh-fallback" => (svc_flags::SCHED1, Some("mh")),
            "mh-port" => (svc_flags::SCHED2, Some("mh")),
            _ => {
                return Err(Failure::usage(format!("invalid scheduler flag `{tok}'")));
            }
        };
        if needs.is_some_and(|n| n != scheduler) {
            return Err(Failure::usage(format!(
                "incompatible scheduler flag `{tok}'"
            )));
        }
        bits |= bit;
    }
    if !any {
        // Policy item 5: ipvsadm crashes on a list of commas only.
        return Err(Failure::usage(format!("invalid scheduler flag `{arg}'")));
    }
    Ok(bits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvsadm::addr::test_resolver::Fake;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn run(args: &[&str]) -> Result<Invocation, Failure> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        parse("ipvsadm", &args, &Fake::new())
    }

    fn ok(args: &[&str]) -> Invocation {
        match run(args) {
            Ok(inv) => inv,
            Err(f) => panic!("{args:?} failed: {f:?}"),
        }
    }

    fn err(args: &[&str]) -> (i32, String) {
        match run(args) {
            Ok(inv) => panic!("{args:?} parsed: {inv:?}"),
            Err(f) => (f.code, f.stderr),
        }
    }

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    fn v6(s: &str) -> IpAddr {
        IpAddr::V6(s.parse::<Ipv6Addr>().unwrap())
    }

    fn tcp(addr: IpAddr, port: u16) -> ServiceKey {
        ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr,
            port,
        }
    }

    const TRY: &str = "Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n";

    /// argv and the exact stderr and exit status of the real ipvsadm 1.31
    /// (Debian 1:1.31-1+b1, run with its kernel calls emulated). Lines where
    /// the project's policy departs from ipvsadm are tested separately.
    #[rustfmt::skip]
    const IPVSADM_ERRORS: &[(&[&str], i32, &str)] = &[
        (&["-A", "-t", "1.2.3.4:80", "-pn"], 2, "invalid timeout value `n' specified\n"),
        (&["-A", "-t", "1.2.3.4:80", "-p", "-n"], 2, "Illegal 'numeric' option with the 'add-service' command\n"),
        (&["-A", "-t", "1.2.3.4:80", "-p", "foo"], 2, "invalid timeout value `foo' specified\n"),
        (&["-A", "-t", "1.2.3.4:80", "-p", "-5"], 255, "-5: unknown option\n"),
        (&["-L", "-n=5"], 255, "-n=5: option does not take an argument\n"),
        (&["-L", "--timeout=5"], 255, "--timeout=5: option does not take an argument\n"),
        (&["-L", "--foo=bar"], 255, "--foo=bar: unknown option\n"),
        (&["-L", "-nQ"], 255, "-nQ: unknown option\n"),
        (&["--foo", "-L"], 255, "Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n"),
        (&["-a", "-r", "1.1.1.1:http", "-t", "2.2.2.2:80"], 2, "illegal real server address[:port] specified\n"),
        (&["-a", "-t", "1.1.1.1:80", "-r", "2.2.2.2", "-w", "5", "-w", "bad"], 2, "multiple 'weight' options specified\n"),
        (&["-a", "-t", "1.1.1.1:80", "-r", "2.2.2.2", "-w", "bad", "-w", "5"], 2, "illegal weight specified\n"),
        (&["-L", "-Ln=5"], 2, "invalid option `-Ln=5'\n"),
        (&["-A", "-t", "1.2.3.4:80", "-p", ""], 2, "invalid timeout value `' specified\n"),
        (&["-A", "-t", "1.2.3.4:80", "--persistent="], 2, "invalid timeout value `' specified\n"),
        (&["-A", "-t", "1.2.3.4:80", "-p", "-"], 2, "unexpected argument -\n"),
        (&["-L", "-"], 2, "unexpected argument -\n"),
        (&["-list"], 2, "Illegal 'scheduler' option with the 'list' command\n"),
        (&["-L", "--tcp-service="], 2, "illegal virtual server address[:port] specified\n"),
        (&["-At"], 255, "-At: missing argument\n"),
        (&["-L", "--tcp-service"], 255, "--tcp-service: missing argument\n"),
        (&["-L", "-D"], 2, "invalid option `-D'\n"),
        (&["-L", "-Dn"], 2, "invalid option `-Dn'\n"),
        (&["-L", "--start-daemon", "master"], 2, "invalid option `master'\n"),
        (&["-L", "--start-daemon=master"], 2, "invalid option `--start-daemon=master'\n"),
        (&["-L", "-h"], 2, "invalid option `-h'\n"),
        (&["-L", "--version"], 2, "invalid option `--version'\n"),
        (&["--help=x"], 255, "Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n"),
        (&["-L", "--", "-n"], 2, "unexpected argument -n\n"),
        (&["-L", "-n", "--", "-c"], 2, "unexpected argument -c\n"),
        (&["-L", "--list"], 2, "invalid option `--list'\n"),
        (&["-L", "-l"], 2, "invalid option `-l'\n"),
        (&["--set", "1", "2", "3", "4"], 2, "unexpected argument 4\n"),
        (&["--set", "1", "2"], 2, "--set option requires 3 timeout values\n"),
        (&["--set", "1", "2", "x"], 2, "invalid timeout value `x' specified\n"),
        (&["--set", "x", "2"], 2, "--set option requires 3 timeout values\n"),
        (&["--set", "1", "2", "3", "-n"], 2, "Illegal 'numeric' option with the 'set' command\n"),
        (&["--set", "1", "-n", "2", "3"], 2, "Illegal 'numeric' option with the 'set' command\n"),
        (&["-A", "-t", "1.2.3.4:80", "-op", "50"], 2, "One-Packet Scheduling is only for UDP virtual services\n"),
        (&["-Ln=5"], 255, "-Ln=5: option does not take an argument\n"),
        (&["-L", "-b", "foo"], 2, "invalid scheduler flag `foo'\n"),
        (&["-L", "-b", "sh-port"], 2, "incompatible scheduler flag `sh-port'\n"),
        (&["-L", "-s", "rr", "-b", "sh-port"], 2, "incompatible scheduler flag `sh-port'\n"),
        (&["-A", "-t", "1.2.3.4:80", "-b", "sh-port"], 2, "incompatible scheduler flag `sh-port'\n"),
        (&["-A", "-t", "1.2.3.4:80", "-b", "foo,sh-port"], 2, "invalid scheduler flag `foo'\n"),
        (&["-A", "-t", "1.2.3.4:80", "-b", "sh-port,foo"], 2, "incompatible scheduler flag `sh-port'\n"),
        (&["-A", "-f", "1", "-6", "-M", "129"], 2, "illegal ipv6 netmask specified\n"),
        (&["-A", "-f", "1", "-6", "-M", "ff"], 2, "illegal ipv6 netmask specified\n"),
        (&["-A", "-t", "1.2.3.4:0", "-p", "-M", "foo.invalid"], 2, "illegal virtual server persistent mask specified\n"),
        (&["-A", "-f", "0"], 2, "invalid fwmark value `0' specified\n"),
        (&["-A", "-f", "4294967296"], 2, "invalid fwmark value `4294967296' specified\n"),
        (&["-A", "-f", "-1"], 2, "invalid fwmark value `-1' specified\n"),
        (&["-A", "-f", "12x"], 2, "invalid fwmark value `12x' specified\n"),
        (&["-A", "-f", "-18446744073709551615"], 2, "invalid fwmark value `-18446744073709551615' specified\n"),
        (&["-A", "-f", ""], 2, "invalid fwmark value `' specified\n"),
        (&["-A", "-f", "0x10"], 2, "invalid fwmark value `0x10' specified\n"),
        (&["-A", "-t", "1.2.3.4"], 2, "Zero port specified for non-persistent service\n"),
        (&["-A", "-t", "1.2.3.4:0"], 2, "Zero port specified for non-persistent service\n"),
        (&["-A", "-t", "80"], 2, "illegal virtual server address[:port] specified\n"),
        (&["-A", "-t", ""], 2, "illegal virtual server address[:port] specified\n"),
        (&["-A", "-t", "4294967296:80"], 2, "illegal virtual server address[:port] specified\n"),
        (&["-A", "-t", "[2001:db8::5]"], 2, "illegal virtual server address[:port] specified\n"),
        (&["-A", "-t", "2001:db8::1:80"], 2, "Zero port specified for non-persistent service\n"),
        (&["-A", "-t", "2001:db8::1"], 2, "Zero port specified for non-persistent service\n"),
        (&["-A", "--sctp-service", "1.2.3.4:http"], 2, "illegal virtual server address[:port] specified\n"),
        (&["-A", "-t", "1.2.3.4:"], 2, "illegal virtual server address[:port] specified\n"),
        (&["-A", "-t", "1.2.3.4:65536"], 2, "illegal virtual server address[:port] specified\n"),
        (&["-A", "-t", "1.2.3.4:-1"], 2, "illegal virtual server address[:port] specified\n"),
        (&["-A", "-t", "nosuch.invalid:80"], 2, "illegal virtual server address[:port] specified\n"),
        (&["-A", "-t", "[2001:db8::1:80"], 2, "illegal virtual server address[:port] specified\n"),
        (&["-A", "-t", "[2001:db8::1]x80"], 2, "illegal virtual server address[:port] specified\n"),
        (&["-A", "-t", "::"], 2, "Zero port specified for non-persistent service\n"),
        (&["-A", "-t", "1.2.3.4:80:90"], 2, "illegal virtual server address[:port] specified\n"),
        (&["-A", "-t", " 1.2.3.4:80"], 2, "illegal virtual server address[:port] specified\n"),
        (&["-a", "-t", "1.1.1.1:80", "-r", "[2001:db8::1]:80"], 2, "Different address family is allowed only for tunneling servers\n"),
        (&["-a", "-t", "1.1.1.1:80", "-r", "2.2.2.2", "--tun-type", "gue"], 2, "Tunnel options conflict with forward method\n"),
        (&["-a", "-t", "1.1.1.1:80", "-r", "2.2.2.2", "-i", "--tun-type", "gue"], 2, "You need to supply the 'tun-port' option for the 'gue' tunnel type\n"),
        (&["-a", "-t", "1.1.1.1:80", "-r", "2.2.2.2", "-i", "--tun-type", "gue", "--tun-port", "6080", "--tun-csum", "--tun-remcsum"], 2, "The option 'tun-remcsum' conflicts with the 'tun-csum' option in the 'gue' tunnel type\n"),
        (&["-a", "-t", "1.1.1.1:80", "-r", "2.2.2.2", "-i", "--tun-port", "6080"], 2, "Illegal 'tun-port' option with the 'ipip' tunnel type\n"),
        (&["-a", "-t", "1.1.1.1:80", "-r", "2.2.2.2", "-i", "--tun-type", "gre", "--tun-remcsum"], 2, "Illegal 'tun-remcsum' option with the 'gre' tunnel type\n"),
        (&["-a", "-t", "1.1.1.1:80", "-r", "2.2.2.2", "-i", "--tun-type", "foo"], 2, "illegal tunnel type specified\n"),
        (&["-a", "-t", "1.1.1.1:80", "-r", "2.2.2.2", "-i", "--tun-type", "gue", "--tun-port", "0"], 2, "illegal tunnel port specified\n"),
        (&["-a", "-t", "1.1.1.1:80", "-r", "2.2.2.2", "-w", "2147483648"], 2, "illegal weight specified\n"),
        (&["-a", "-t", "1.1.1.1:80", "-r", "2.2.2.2", "-w", "-1"], 2, "illegal weight specified\n"),
        (&["-a", "-t", "1.1.1.1:80", "-r", "2.2.2.2", "-x", "-1"], 2, "illegal u_threshold specified\n"),
        (&["-a", "-t", "1.1.1.1:80", "-r", "2.2.2.2", "-y", "x"], 2, "illegal l_threshold specified\n"),
        (&["-a", "-t", "1.1.1.1:80", "-r", "2.2.2.2", "-w", "0x10"], 2, "illegal weight specified\n"),
        (&["-a", "-t", "1.1.1.1:80", "-r", "2.2.2.2", "-w", "7 "], 2, "illegal weight specified\n"),
        (&["--start-daemon", "master", "--mcast-group", "10.0.0.1"], 2, "invalid IPv4 mcast-group `10.0.0.1'\n"),
        (&["--start-daemon", "master", "--mcast-group", "2001:db8::1"], 2, "invalid IPv6 mcast-group `2001:db8::1'\n"),
        (&["--start-daemon", "master", "--mcast-group", "224.1"], 2, "invalid IPv4 mcast-group `224.1'\n"),
        (&["--start-daemon", "master", "--mcast-group", "foo"], 2, "invalid IPv4 mcast-group `foo'\n"),
        (&["--start-daemon", "master", "--syncid", "256"], 2, "illegal syncid specified\n"),
        (&["--start-daemon", "master", "--syncid", "-1"], 2, "illegal syncid specified\n"),
        (&["--start-daemon", "master", "--sync-maxlen", "0"], 2, "illegal sync-maxlen specified\n"),
        (&["--start-daemon", "master", "--sync-maxlen", "65508"], 2, "illegal sync-maxlen specified\n"),
        (&["--start-daemon", "master", "--mcast-port", "0"], 2, "illegal mcast-port specified\n"),
        (&["--start-daemon", "master", "--mcast-ttl", "256"], 2, "illegal mcast-ttl specified\n"),
        (&["--start-daemon", "foo"], 2, "illegal start-daemon parameter specified\n"),
        (&["--stop-daemon", "master", "--mcast-interface", "eth0"], 2, "Illegal 'mcast-interface' option with the 'stop-daemon' command\n"),
        (&["--start-daemon"], 255, "Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n"),
        (&["--start-daemon", "master", "-n"], 2, "Illegal 'numeric' option with the 'start-daemon' command\n"),
        (&["-L", "--syncid", "300"], 2, "illegal syncid specified\n"),
        (&["-L", "-c", "--stats"], 2, "options conflicts in the list command\n"),
        (&["-L", "--timeout", "--persistent-conn"], 2, "options conflicts in the list command\n"),
        (&["-L", "--daemon", "--stats"], 2, "options conflicts in the list command\n"),
        (&["-L", "-c", "-t", "1.2.3.4:80"], 2, "The option 'service-address' conflicts with the 'connection' option in the 'list' command\n"),
        (&["-L", "--timeout", "--daemon"], 2, "The option 'daemon' conflicts with the 'timeout' option in the 'list' command\n"),
        (&["-L", "-c", "--timeout"], 2, "The option 'timeout' conflicts with the 'connection' option in the 'list' command\n"),
        (&["-L", "-t", "1.2.3.4:80", "--daemon"], 2, "The option 'daemon' conflicts with the 'service-address' option in the 'list' command\n"),
        (&["-L", "--timeout", "-c"], 2, "The option 'timeout' conflicts with the 'connection' option in the 'list' command\n"),
        (&["-C", "-n"], 2, "Illegal 'numeric' option with the 'flush' command\n"),
        (&["-R", "-n"], 2, "Illegal 'numeric' option with the 'restore' command\n"),
        (&["-R", "x"], 2, "unexpected argument x\n"),
        (&["-S", "-c"], 2, "Illegal 'connection' option with the 'save' command\n"),
        (&["-S", "--nosort"], 2, "Illegal 'nosort' option with the 'save' command\n"),
        (&["-L", "--nosort", "--nosort"], 2, "multiple 'nosort' options specified\n"),
        (&["-L", "-n", "-n"], 2, "multiple 'numeric' options specified\n"),
        (&["-A", "-t", "1.2.3.4:80", "-o", "-o"], 2, "multiple 'ops' options specified\n"),
        (&["-a", "-t", "1.1.1.1:80", "-r", "2.2.2.2", "-g", "-m"], 2, "multiple 'forwarding-method' options specified\n"),
        (&["-A", "-t", "1.2.3.4:80", "-p", "0"], 2, "invalid timeout value `0' specified\n"),
        (&["-A", "-t", "1.2.3.4:80", "-p", "2678401"], 2, "invalid timeout value `2678401' specified\n"),
        (&["--set", "0", "2678401", "5"], 2, "invalid timeout value `2678401' specified\n"),
        (&["-L", "foo", "bar"], 2, "unexpected argument foo\n"),
        (&["-A", "-t", "1.2.3.4:80", "foo", "-w", "x"], 2, "illegal weight specified\n"),
        (&["-A", "-t", "1.2.3.4:80", "foo", "-b", "bar"], 2, "unexpected argument foo\n"),
        (&["-A", "-t", "1.2.3.4:80", "-L", "--foo"], 2, "invalid option `-L'\n"),
        (&["-A", "-t", "1.2.3.4:80", "--foo", "-L"], 255, "--foo: unknown option\n"),
        (&["--set", "1", "2", "x", "-b", "foo"], 2, "invalid timeout value `x' specified\n"),
        (&["--set", "1", "2", "-b", "foo"], 2, "--set option requires 3 timeout values\n"),
        (&["-A", "-t", "1.2.3.4:80", "-b", "foo", "-w", "1"], 2, "invalid scheduler flag `foo'\n"),
        (&["-A", "-t", "1.2.3.4:0", "-b", "foo"], 2, "invalid scheduler flag `foo'\n"),
        (&["-A", "-t", "1.2.3.4:0", "-o"], 2, "Zero port specified for non-persistent service\n"),
        (&["-D", "-t", "1.2.3.4:80", "-s", "rr"], 2, "Illegal 'scheduler' option with the 'delete-service' command\n"),
        (&["-a", "-t", "1.2.3.4:80"], 2, "You need to supply the 'real-server' option for the 'add-server' command\n"),
        (&["-a", "-r", "1.2.3.4:80"], 2, "You need to supply the 'service-address' option for the 'add-server' command\n"),
        (&["-d", "-r", "1.2.3.4:80", "-w", "3"], 2, "You need to supply the 'service-address' option for the 'delete-server' command\n"),
        (&["-a", "-t", "1.2.3.4:80", "-r", "2.2.2.2", "-n"], 2, "Illegal 'numeric' option with the 'add-server' command\n"),
        (&["-A", "-s", "rr"], 2, "You need to supply the 'service-address' option for the 'add-service' command\n"),
        (&["-A", "-r", "2.2.2.2"], 2, "You need to supply the 'service-address' option for the 'add-service' command\n"),
        (&["-A", "-t", "1.2.3.4:80", "-s", "", "-b", "sh-port"], 2, "incompatible scheduler flag `sh-port'\n"),
        (&["-A", "-t", "1.2.3.4:80", "-b", "sh-fallback", "-s", "shx"], 2, "incompatible scheduler flag `sh-fallback'\n"),
        (&["-L", "--", "-A"], 2, "unexpected argument -A\n"),
        (&["-Lh"], 2, "invalid option `-Lh'\n"),
        (&["-L", ""], 2, "unexpected argument \n"),
        (&[""], 255, "Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n"),
        (&["-L", "--help"], 2, "invalid option `--help'\n"),
        (&["-L", "-c", "-n", "-c"], 2, "multiple 'connection' options specified\n"),
        (&["-A", "-t", "1.2.3.4:80", "--scheduler=rr", "--persistent", "--netmask=255.255.0.0", "--pe=sip", "--sched-flags=flag-1", "--ops"], 2, "One-Packet Scheduling is only for UDP virtual services\n"),
        (&["-Z", "--zero"], 2, "invalid option `--zero'\n"),
        (&["--start-daemon", "master", "--mcast-group", "ff02::1%eth0"], 2, "invalid IPv6 mcast-group `ff02::1%eth0'\n"),
        (&["--start-daemon", "master", "--mcast-group", "224.000.0.1"], 2, "invalid IPv4 mcast-group `224.000.0.1'\n"),
        (&["--start-daemon", "master", "--mcast-group", "::ffff:224.0.0.1"], 2, "invalid IPv6 mcast-group `::ffff:224.0.0.1'\n"),
        (&["--start-daemon", "master", "--mcast-group", "ff02::1", "--mcast-group", "ff02::2"], 2, "multiple 'mcast-group' options specified\n"),
        (&["-Z", "-t", "1.2.3.4:80", "-n"], 2, "Illegal 'numeric' option with the 'zero' command\n"),
        (&["-A", "-f", "1", "-6", "-t", "1.2.3.4:80"], 2, "multiple 'service-address' options specified\n"),
        (&["-a", "-f", "1", "-6", "-r", "1.2.3.4"], 2, "Different address family is allowed only for tunneling servers\n"),
        (&["-a", "-f", "1", "-6", "-r", "[::5]", "-m"], 2, "illegal real server address[:port] specified\n"),
        (&["-a", "-t", "1.1.1.1:80", "-r", "[::1]:80", "--tun-type", "gue"], 2, "Different address family is allowed only for tunneling servers\n"),
        (&["-a", "-t", "1.1.1.1:80", "-r", "2.2.2.2", "-m", "--tun-type", "gue"], 2, "Tunnel options conflict with forward method\n"),
        (&["-a", "-t", "1.1.1.1:80", "-r", "2.2.2.2", "-i", "--tun-nocsum", "--tun-type", "gue", "--tun-port", "1", "--tun-csum"], 2, "The option 'tun-csum' conflicts with the 'tun-nocsum' option in the 'gue' tunnel type\n"),
        (&["-a", "-t", "1.1.1.1:80", "-r", "2.2.2.2", "-i", "--tun-type", "gre", "--tun-port", "5", "--tun-remcsum"], 2, "Illegal 'tun-port' option with the 'gre' tunnel type\n"),
        (&["-a", "-t", "1.1.1.1:80", "-r", "2.2.2.2", "-i", "--tun-type", "gre", "--tun-remcsum", "--tun-nocsum", "--tun-csum"], 2, "The option 'tun-csum' conflicts with the 'tun-nocsum' option in the 'gre' tunnel type\n"),
        (&["-a", "-t", "1.1.1.1:80", "-r", "2.2.2.2", "-i", "--tun-type", "ipip", "--tun-csum"], 2, "Illegal 'tun-csum' option with the 'ipip' tunnel type\n"),
        (&["-A", "-t", "1.1.1.1:0", "-u", "2.2.2.2:0"], 2, "multiple 'service-address' options specified\n"),
        (&["-L", "-t", "1.2.3.4:80", "-c", "--stats"], 2, "The option 'service-address' conflicts with the 'connection' option in the 'list' command\n"),
        (&["-L", "-c", "--stats", "--timeout"], 2, "The option 'timeout' conflicts with the 'connection' option in the 'list' command\n"),
        (&["-L", "-n="], 255, "-n=: option does not take an argument\n"),
        (&["-L", "-c=n"], 255, "-c=n: option does not take an argument\n"),
        (&["-L", "-="], 255, "-=: unknown option\n"),
        (&["-L", "-=n"], 255, "-=n: unknown option\n"),
        (&["-L", "--sort=1"], 255, "--sort=1: option does not take an argument\n"),
        (&["-L", "--=x"], 255, "--=x: unknown option\n"),
        (&["-L", "---"], 255, "---: unknown option\n"),
        (&["-L", "-nc="], 255, "-nc=: option does not take an argument\n"),
        (&["-L", "=n"], 2, "unexpected argument =n\n"),
        (&["-A", "-t", "1.2.3.4:0", "-p="], 2, "invalid timeout value `' specified\n"),
        (&["-A", "-t", "1.2.3.4:0", "-op=5"], 2, "One-Packet Scheduling is only for UDP virtual services\n"),
        (&["-A", "-t="], 2, "illegal virtual server address[:port] specified\n"),
        (&["-L", "-t=1.2.3.4:80="], 2, "illegal virtual server address[:port] specified\n"),
        (&["-L", "-tn=5"], 2, "illegal virtual server address[:port] specified\n"),
        (&["-L", "-Q=5"], 255, "-Q=5: unknown option\n"),
        (&["-Q=5", "-L"], 255, "Try `ipvsadm -h' or 'ipvsadm --help' for more information.\n"),
        (&["-L", "--tcp-service=1.2.3.4:80=x"], 2, "illegal virtual server address[:port] specified\n"),
        (&["-L", "-n", "--", "--"], 2, "unexpected argument --\n"),
        (&["-A"], 2, "You need to supply the 'service-address' option for the 'add-service' command\n"),
        (&["-E", "-n"], 2, "Illegal 'numeric' option with the 'edit-service' command\n"),
        (&["-D"], 2, "You need to supply the 'service-address' option for the 'delete-service' command\n"),
        (&["-e", "-r", "1.2.3.4"], 2, "You need to supply the 'service-address' option for the 'edit-server' command\n"),
        (&["-d", "-t", "1.2.3.4:80", "-w", "2"], 2, "You need to supply the 'real-server' option for the 'delete-server' command\n"),
        (&["--start-daemon", "master", "-c"], 2, "Illegal 'connection' option with the 'start-daemon' command\n"),
        (&["--stop-daemon", "master", "--mcast-group", "224.0.0.1"], 2, "Illegal 'mcast-group' option with the 'stop-daemon' command\n"),
        (&["-Z", "-n"], 2, "Illegal 'numeric' option with the 'zero' command\n"),
        (&["-Z", "-t", "1.2.3.4:80", "-s", "rr"], 2, "Illegal 'scheduler' option with the 'zero' command\n"),
        (&["-L", "-s", "rr"], 2, "Illegal 'scheduler' option with the 'list' command\n"),
        (&["-L", "-M", "24"], 2, "Illegal 'netmask' option with the 'list' command\n"),
        (&["-L", "-o"], 2, "Illegal 'ops' option with the 'list' command\n"),
        (&["-L", "--pe", "sip"], 2, "Illegal 'pe' option with the 'list' command\n"),
        (&["-L", "--mcast-ttl", "3"], 2, "Illegal 'mcast-ttl' option with the 'list' command\n"),
        (&["-L", "--tun-type", "gue"], 2, "Illegal 'tun-type' option with the 'list' command\n"),
        (&["-L", "-w", "3"], 2, "Illegal 'weight' option with the 'list' command\n"),
        (&["-L", "-r", "1.2.3.4"], 2, "Illegal 'real-server' option with the 'list' command\n"),
        (&["-A", "-t", "1.2.3.4:80", "-r", "5.5.5.5"], 2, "Illegal 'real-server' option with the 'add-service' command\n"),
        (&["-A", "-t", "1.2.3.4:80", "-w", "1"], 2, "Illegal 'weight' option with the 'add-service' command\n"),
        (&["-A", "-t", "1.2.3.4:80", "--tun-info"], 2, "Illegal 'tun-info' option with the 'add-service' command\n"),
        (&["-a", "-t", "1.2.3.4:80", "-r", "5.5.5.5", "-s", "rr"], 2, "Illegal 'scheduler' option with the 'add-server' command\n"),
        (&["-a", "-t", "1.2.3.4:80", "-r", "5.5.5.5", "--tun-info"], 2, "Illegal 'tun-info' option with the 'add-server' command\n"),
        (&["-e", "-t", "1.2.3.4:80", "-r", "5.5.5.5", "-o"], 2, "Illegal 'ops' option with the 'edit-server' command\n"),
        (&["-D", "-t", "1.2.3.4:80", "-p"], 2, "Illegal 'persistent' option with the 'delete-service' command\n"),
        (&["--start-daemon", "master", "--tun-port", "5"], 2, "Illegal 'tun-port' option with the 'start-daemon' command\n"),
        (&["--start-daemon", "master", "--nosort"], 2, "Illegal 'nosort' option with the 'start-daemon' command\n"),
        (&["-L", "-t", "1.2.3.4:80", "-c"], 2, "The option 'service-address' conflicts with the 'connection' option in the 'list' command\n"),
        (&["-L", "--daemon", "-c"], 2, "The option 'daemon' conflicts with the 'connection' option in the 'list' command\n"),
        (&["-L", "--daemon", "--timeout"], 2, "The option 'daemon' conflicts with the 'timeout' option in the 'list' command\n"),
        (&["-L", "-t", "1.2.3.4:80", "--timeout"], 2, "The option 'timeout' conflicts with the 'service-address' option in the 'list' command\n"),
        (&["-L", "-c", "-t", "1.2.3.4:80", "--timeout"], 2, "The option 'service-address' conflicts with the 'connection' option in the 'list' command\n"),
        (&["-L", "-c", "--rate"], 2, "options conflicts in the list command\n"),
        (&["-L", "--timeout", "--thresholds"], 2, "options conflicts in the list command\n"),
        (&["-L", "--daemon", "--persistent-conn"], 2, "options conflicts in the list command\n"),
        (&["-a", "-t", "1.2.3.4:80", "-r", "5.5.5.5:90", "-i", "--tun-type", "gue", "--tun-remcsum", "--tun-nocsum", "--tun-port", "7"], 2, "The option 'tun-remcsum' conflicts with the 'tun-nocsum' option in the 'gue' tunnel type\n"),
        (&["-a", "-t", "1.2.3.4:80", "-r", "5.5.5.5:90", "-i", "--tun-type", "gre", "--tun-nocsum", "--tun-csum"], 2, "The option 'tun-csum' conflicts with the 'tun-nocsum' option in the 'gre' tunnel type\n"),
        (&["-a", "-t", "1.2.3.4:80", "-r", "5.5.5.5:90", "-i", "--tun-type", "ipip", "--tun-nocsum"], 2, "Illegal 'tun-nocsum' option with the 'ipip' tunnel type\n"),
        (&["-a", "-t", "1.2.3.4:80", "-r", "5.5.5.5:90", "-i", "--tun-type", "ipip", "--tun-remcsum"], 2, "Illegal 'tun-remcsum' option with the 'ipip' tunnel type\n"),
        (&["-a", "-t", "1.2.3.4:80", "-r", "5.5.5.5:90", "-g", "--tun-csum"], 2, "Tunnel options conflict with forward method\n"),
        (&["-e", "-t", "1.2.3.4:80", "-r", "5.5.5.5:90", "--tun-port", "6"], 2, "Tunnel options conflict with forward method\n"),
        (&["-L", "-A"], 2, "invalid option `-A'\n"),
        (&["-L", "-a"], 2, "invalid option `-a'\n"),
        (&["-L", "-C"], 2, "invalid option `-C'\n"),
        (&["-L", "-R"], 2, "invalid option `-R'\n"),
        (&["-L", "-S"], 2, "invalid option `-S'\n"),
        (&["-L", "-Z"], 2, "invalid option `-Z'\n"),
        (&["-L", "-E"], 2, "invalid option `-E'\n"),
        (&["-L", "-e"], 2, "invalid option `-e'\n"),
        (&["-L", "-d"], 2, "invalid option `-d'\n"),
        (&["-L", "--set"], 2, "invalid option `--set'\n"),
        (&["-L", "--stop-daemon", "backup"], 2, "invalid option `backup'\n"),
        (&["-L", "-v"], 2, "invalid option `-v'\n"),
        (&["-A", "-t", "1.2.3.4:80", "-Ln"], 2, "invalid option `-Ln'\n"),
        (&["-A", "-t", "1.2.3.4:80", "--add-service"], 2, "invalid option `--add-service'\n"),
        (&["-a", "-t", "1.2.3.4:80", "-r", "5.5.5.5", "-w", "2147483648"], 2, "illegal weight specified\n"),
        (&["-a", "-t", "1.2.3.4:80", "-r", "5.5.5.5", "-x", "2147483648"], 2, "illegal u_threshold specified\n"),
        (&["-a", "-t", "1.2.3.4:80", "-r", "5.5.5.5", "-y", "-1"], 2, "illegal l_threshold specified\n"),
        (&["-a", "-t", "1.2.3.4:80", "-r", "5.5.5.5", "--tun-port", "65536"], 2, "illegal tunnel port specified\n"),
        (&["-A", "-t", "1.2.3.4:80", "-s", "sh", "-b", "sh-port,mh-port"], 2, "incompatible scheduler flag `mh-port'\n"),
        (&["-A", "-t", "1.2.3.4:80", "-s", "mh", "-b", "mh-port,sh-port"], 2, "incompatible scheduler flag `sh-port'\n"),
        (&["-A", "-t", "1.2.3.4:80", "-s", "mh", "-b", "flag-4"], 2, "invalid scheduler flag `flag-4'\n"),
        (&["-A", "-t", "1.2.3.4:80", "-b", "FLAG-1"], 2, "invalid scheduler flag `FLAG-1'\n"),
        (&["-A", "-t", "1.2.3.4:80", "-x", "1", "-x", "2"], 2, "multiple 'u-threshold' options specified\n"),
        (&["-a", "-t", "1.2.3.4:80", "-y", "1", "-y", "2"], 2, "multiple 'l-threshold' options specified\n"),
        (&["-L", "--rate", "--rate"], 2, "multiple 'rate' options specified\n"),
        (&["-L", "--stats", "--stats"], 2, "multiple 'stats' options specified\n"),
        (&["-L", "--thresholds", "--thresholds"], 2, "multiple 'thresholds' options specified\n"),
        (&["-L", "--persistent-conn", "--persistent-conn"], 2, "multiple 'persistent-conn' options specified\n"),
        (&["-L", "--tun-info", "--tun-info"], 2, "multiple 'tun-info' options specified\n"),
        (&["-L", "-X", "--exact"], 2, "multiple 'exact' options specified\n"),
        (&["-L", "--syncid", "1", "--syncid", "2"], 2, "multiple 'syncid' options specified\n"),
        (&["-L", "--daemon", "--daemon"], 2, "multiple 'daemon' options specified\n"),
        (&["-L", "--timeout", "--timeout"], 2, "multiple 'timeout' options specified\n"),
        (&["-A", "-t", "1.2.3.4:80", "-s", "rr", "-s", "wrr"], 2, "multiple 'scheduler' options specified\n"),
        (&["-A", "-t", "1.2.3.4:80", "-p", "-p"], 2, "multiple 'persistent' options specified\n"),
        (&["-A", "-t", "1.2.3.4:80", "-M", "1", "-M", "2"], 2, "multiple 'netmask' options specified\n"),
        (&["-A", "-t", "1.2.3.4:80", "--pe", "sip", "--pe", "sip"], 2, "multiple 'pe' options specified\n"),
        (&["-A", "-t", "1.2.3.4:80", "-b", "flag-1", "-b", "flag-2"], 2, "multiple 'sched-flags' options specified\n"),
        (&["-a", "-t", "1.2.3.4:80", "-r", "5.5.5.5", "-r", "6.6.6.6"], 2, "multiple 'real-server' options specified\n"),
        (&["-a", "-t", "1.2.3.4:80", "-r", "5.5.5.5", "--tun-type", "gue", "--tun-type", "gue"], 2, "multiple 'tun-type' options specified\n"),
        (&["-a", "-t", "1.2.3.4:80", "-r", "5.5.5.5", "--tun-port", "1", "--tun-port", "1"], 2, "multiple 'tun-port' options specified\n"),
        (&["-a", "-t", "1.2.3.4:80", "-r", "5.5.5.5", "--tun-csum", "--tun-csum"], 2, "multiple 'tun-csum' options specified\n"),
        (&["-a", "-t", "1.2.3.4:80", "-r", "5.5.5.5", "--tun-nocsum", "--tun-nocsum"], 2, "multiple 'tun-nocsum' options specified\n"),
        (&["-a", "-t", "1.2.3.4:80", "-r", "5.5.5.5", "--tun-remcsum", "--tun-remcsum"], 2, "multiple 'tun-remcsum' options specified\n"),
        (&["--start-daemon", "master", "--mcast-interface", "a", "--mcast-interface", "b"], 2, "multiple 'mcast-interface' options specified\n"),
        (&["--start-daemon", "master", "--mcast-port", "1", "--mcast-port", "2"], 2, "multiple 'mcast-port' options specified\n"),
        (&["--start-daemon", "master", "--mcast-ttl", "1", "--mcast-ttl", "2"], 2, "multiple 'mcast-ttl' options specified\n"),
        (&["--start-daemon", "master", "--sync-maxlen", "1", "--sync-maxlen", "2"], 2, "multiple 'sync-maxlen' options specified\n"),
        (&["-a", "-t", "1.2.3.4:80", "-r", "5.5.5.5", "-w", "1", "-w", "1"], 2, "multiple 'weight' options specified\n"),
        (&["-a", "-t", "1.2.3.4:80", "-r", "5.5.5.5", "-i", "-i"], 2, "multiple 'forwarding-method' options specified\n"),
        (&["-L", "-c", "-c"], 2, "multiple 'connection' options specified\n"),
        (&["-A", "-t", "1.2.3.4:80", "-f", "1"], 2, "multiple 'service-address' options specified\n"),
    ];

    #[test]
    fn errors_match_ipvsadm() {
        let mut bad = Vec::new();
        for (args, code, stderr) in IPVSADM_ERRORS {
            match run(args) {
                Err(f) if f.code == *code && f.stderr == *stderr => {}
                other => bad.push(format!("{args:?}: want {code} {stderr:?}, got {other:?}")),
            }
        }
        assert!(
            bad.is_empty(),
            "{} mismatches:\n{}",
            bad.len(),
            bad.join("\n")
        );
    }

    /// The reference's matrix (§1.4), written out again independently of
    /// `flags::COMMAND_RULES`: each command line plus one option per slot
    /// must give "Illegal" exactly where the row has `x`.
    #[test]
    fn every_matrix_row() {
        let samples: [(Slot, &[&str]); Slot::COUNT] = [
            (Slot::Numeric, &["-n"]),
            (Slot::Connection, &["-c"]),
            (Slot::ServiceAddress, &["-f", "3"]),
            (Slot::Scheduler, &["-s", "rr"]),
            (Slot::Persistent, &["-p"]),
            (Slot::Netmask, &["-M", "255.255.255.0"]),
            (Slot::RealServer, &["-r", "2.2.2.2"]),
            (Slot::ForwardingMethod, &["-m"]),
            (Slot::Weight, &["-w", "2"]),
            (Slot::UThreshold, &["-x", "5"]),
            (Slot::LThreshold, &["-y", "1"]),
            (Slot::McastInterface, &["--mcast-interface", "eth1"]),
            (Slot::Timeout, &["--timeout"]),
            (Slot::Daemon, &["--daemon"]),
            (Slot::Stats, &["--stats"]),
            (Slot::Rate, &["--rate"]),
            (Slot::Thresholds, &["--thresholds"]),
            (Slot::PersistentConn, &["--persistent-conn"]),
            (Slot::Nosort, &["--nosort"]),
            (Slot::Syncid, &["--syncid", "3"]),
            (Slot::Exact, &["--exact"]),
            (Slot::Ops, &["-o"]),
            (Slot::Pe, &["--pe", "sip"]),
            (Slot::SchedFlags, &["-b", "flag-1"]),
            (Slot::McastGroup, &["--mcast-group", "224.0.0.9"]),
            (Slot::McastPort, &["--mcast-port", "9"]),
            (Slot::McastTtl, &["--mcast-ttl", "2"]),
            (Slot::SyncMaxlen, &["--sync-maxlen", "1000"]),
            (Slot::TunInfo, &["--tun-info"]),
            (Slot::TunType, &["--tun-type", "ipip"]),
            (Slot::TunPort, &["--tun-port", "5"]),
            (Slot::TunNocsum, &["--tun-nocsum"]),
            (Slot::TunCsum, &["--tun-csum"]),
            (Slot::TunRemcsum, &["--tun-remcsum"]),
            (Slot::Json, &["--json"]),
            (Slot::Netns, &["--netns", "a"]),
            (Slot::Test, &["--test"]),
        ];
        let rows: &[(&str, &[&str], &str)] = &[
            (
                "add-service",
                &["-A"],
                "xx+...xxxxxxxxxxxxxxx...xxxxxxxxxxx.x",
            ),
            (
                "edit-service",
                &["-E"],
                "xx+...xxxxxxxxxxxxxxx...xxxxxxxxxxx.x",
            ),
            (
                "delete-service",
                &["-D"],
                "xx+xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.x",
            ),
            ("flush", &["-C"], "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.x"),
            ("list", &["-L"], ".11xxxxxxxxx11.......xxxxxxx.xxxxx..x"),
            (
                "add-server",
                &["-a"],
                "xx+xxx+....xxxxxxxxxxxxxxxxxx.....x.x",
            ),
            (
                "delete-server",
                &["-d"],
                "xx+xxx+xxxxxxxxxxxxxxxxxxxxxxxxxxxx.x",
            ),
            (
                "edit-server",
                &["-e"],
                "xx+xxx+....xxxxxxxxxxxxxxxxxx.....x.x",
            ),
            (
                "set",
                &["--set", "1", "2", "3"],
                "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.x",
            ),
            (
                "start-daemon",
                &["--start-daemon", "master"],
                "xxxxxxxxxxx.xxxxxxx.xxxx....xxxxxxx.x",
            ),
            (
                "stop-daemon",
                &["--stop-daemon", "backup"],
                "xxxxxxxxxxxxxxxxxxx.xxxxxxxxxxxxxxx.x",
            ),
            ("restore", &["-R"], "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.."),
            ("save", &["-S"], ".xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.x"),
            ("zero", &["-Z"], "xx.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.x"),
        ];
        for (name, cmd, row) in rows {
            // The command with its required options, then one more option.
            let mut base: Vec<&str> = cmd.to_vec();
            if row.as_bytes()[Slot::ServiceAddress.index()] == b'+' {
                base.extend(["-u", "1.2.3.4:80"]);
            }
            if row.as_bytes()[Slot::RealServer.index()] == b'+' {
                base.extend(["-r", "5.5.5.5"]);
            }
            for (slot, sample) in &samples {
                let rule = row.as_bytes()[slot.index()];
                if rule == b'+' {
                    let given: Vec<&str> = cmd.to_vec();
                    let (code, msg) = err(&given);
                    assert_eq!(code, 2);
                    assert!(msg.starts_with("You need to supply"), "{name}: {msg}");
                    continue;
                }
                let mut args = base.clone();
                args.extend(sample.iter());
                let illegal = format!(
                    "Illegal '{}' option with the '{name}' command\n",
                    slot.name()
                );
                let got = run(&args).err().map(|f| f.stderr);
                if rule == b'x' {
                    assert_eq!(got.as_deref(), Some(illegal.as_str()), "{args:?}");
                } else {
                    assert_ne!(got.as_deref(), Some(illegal.as_str()), "{args:?}");
                }
            }
        }
    }

    #[test]
    fn add_service_defaults() {
        let inv = ok(&["-A", "-t", "1.2.3.4:80"]);
        assert_eq!(inv.command, Command::AddService);
        let s = inv.service.unwrap();
        assert_eq!(s.key, tcp(v4(1, 2, 3, 4), 80));
        assert_eq!(s.scheduler, "wlc");
        assert_eq!(s.pe, None);
        assert_eq!(s.flags, 0);
        assert_eq!(s.timeout, 0);
        assert_eq!(s.netmask, 0xffff_ffff);
        assert!(inv.dest.is_none() && inv.daemon.is_none() && inv.timeouts.is_none());
    }

    #[test]
    fn add_service_everything() {
        let inv = ok(&[
            "-A",
            "-u",
            "1.2.3.4:53",
            "-s",
            "rr",
            "-p",
            "-M",
            "255.255.255.0",
            "--pe",
            "sip",
            "-o",
            "-b",
            "flag-1",
        ]);
        let s = inv.service.unwrap();
        assert_eq!(
            s.key,
            ServiceKey::Addr {
                protocol: Protocol::Udp,
                addr: v4(1, 2, 3, 4),
                port: 53
            }
        );
        assert_eq!(s.scheduler, "rr");
        assert_eq!(s.pe.as_deref(), Some("sip"));
        assert_eq!(
            s.flags,
            svc_flags::PERSISTENT | svc_flags::ONEPACKET | svc_flags::SCHED1
        );
        assert_eq!(s.timeout, 360);
        assert_eq!(s.netmask, 0xffff_ff00);
    }

    #[test]
    fn edit_service_ipv6() {
        let inv = ok(&[
            "-E",
            "-t",
            "[2001:db8::1]:443",
            "-s",
            "sh",
            "-p",
            "600",
            "-M",
            "64",
            "-b",
            "sh-fallback,sh-port",
        ]);
        assert_eq!(inv.command, Command::EditService);
        let s = inv.service.unwrap();
        assert_eq!(s.key, tcp(v6("2001:db8::1"), 443));
        assert_eq!(s.flags, 0x1 | 0x8 | 0x10);
        assert_eq!(s.timeout, 600);
        assert_eq!(s.netmask, 64);
        // No -M on IPv6: /128.
        let s = ok(&["-A", "-t", "[2001:db8::1]:443"]).service.unwrap();
        assert_eq!(s.netmask, 128);
    }

    #[test]
    fn fwmark_services() {
        let s = ok(&["-A", "-f", "42", "-6", "-s", "mh", "-b", "mh-port"])
            .service
            .unwrap();
        assert_eq!(
            s.key,
            ServiceKey::Fwmark {
                family: Family::Inet6,
                mark: 42
            }
        );
        assert_eq!(s.netmask, 128);
        assert_eq!(s.flags, svc_flags::SCHED2);
        // Policy item 7: the full u32 range.
        let s = ok(&["-A", "-f", "4294967295"]).service.unwrap();
        assert_eq!(
            s.key,
            ServiceKey::Fwmark {
                family: Family::Inet,
                mark: u32::MAX
            }
        );
        // Fwmark services may have port 0 and -o.
        let s = ok(&["-A", "-f", "1", "-o"]).service.unwrap();
        assert_eq!(s.flags, svc_flags::ONEPACKET);
    }

    #[test]
    fn option_value_forms() {
        let timeout = |args: &[&str]| ok(args).service.unwrap().timeout;
        assert_eq!(timeout(&["-A", "-t", "1.2.3.4:80", "-p50"]), 50);
        assert_eq!(timeout(&["-A", "-t", "1.2.3.4:80", "-p=50"]), 50);
        assert_eq!(timeout(&["-A", "-t", "1.2.3.4:80", "--persistent=50"]), 50);
        assert_eq!(
            timeout(&["-A", "-t", "1.2.3.4:80", "--persistent", "50"]),
            50
        );
        assert_eq!(timeout(&["-A", "-u", "1.2.3.4:80", "-op", "50"]), 50);
        assert_eq!(timeout(&["-A", "-t", "1.2.3.4:0", "-p", "--"]), 360);
        assert_eq!(timeout(&["-A", "-t", "1.2.3.4:0", "-p"]), 360);
        let sched = |args: &[&str]| ok(args).service.unwrap().scheduler;
        assert_eq!(sched(&["-At1.2.3.4:80", "-srr"]), "rr");
        assert_eq!(sched(&["-A", "-t=1.2.3.4:80", "-s=rr"]), "rr");
        assert_eq!(sched(&["-A", "-t", "1.2.3.4:80", "--scheduler=rr"]), "rr");
        assert_eq!(sched(&["-A", "-t", "1.2.3.4:80", "-s", ""]), "wlc");
        assert_eq!(
            sched(&["-A", "-t", "1.2.3.4:80", "-s", "0123456789abcdefXYZ"]),
            "0123456789abcde"
        );
        let pe = ok(&["-A", "-t", "1.2.3.4:80", "--pe", "0123456789abcdefXYZ"]);
        assert_eq!(pe.service.unwrap().pe.as_deref(), Some("0123456789abcdef"));
        let pe = ok(&["-A", "-t", "1.2.3.4:80", "--pe", ""]);
        assert_eq!(pe.service.unwrap().pe, None);
        // popt's `!#:+` takes the next word.
        let s = ok(&["-A", "-t", "1.2.3.4:!#:+", "80"]).service.unwrap();
        assert_eq!(s.key, tcp(v4(1, 2, 3, 4), 80));
        let s = ok(&["-A", "-t", "1.2.3.4:80", "-s", "r!#:+"])
            .service
            .unwrap();
        assert_eq!(s.scheduler, "r!#:+");
        // Names through the resolver.
        let s = ok(&["-A", "-t", "localhost:http"]).service.unwrap();
        assert_eq!(s.key, tcp(v4(127, 0, 0, 1), 80));
    }

    #[test]
    fn destinations() {
        let d = |args: &[&str]| ok(args).dest.unwrap();
        // DR and tunnel take the service port; NAT keeps its own.
        let x = d(&["-a", "-t", "1.1.1.1:80", "-r", "2.2.2.2:81"]);
        assert_eq!(
            (x.addr, x.port, x.fwd, x.weight),
            (v4(2, 2, 2, 2), 80, FwdMethod::Route, 1)
        );
        let x = d(&["-a", "-t", "1.1.1.1:80", "-r", "2.2.2.2:81", "-i"]);
        assert_eq!((x.port, x.fwd), (80, FwdMethod::Tunnel));
        let x = d(&[
            "-e",
            "-t",
            "1.1.1.1:80",
            "-r",
            "2.2.2.2:81",
            "-m",
            "-w",
            "3",
            "-x",
            "10",
            "-y",
            "5",
        ]);
        assert_eq!(
            (x.port, x.fwd, x.weight, x.u_threshold, x.l_threshold),
            (81, FwdMethod::Masq, 3, 10, 5)
        );
        // Delete keeps the given port.
        let inv = ok(&["-d", "-t", "1.1.1.1:80", "-r", "2.2.2.2:81"]);
        assert_eq!(inv.dest.unwrap().port, 81);
        let s = inv.service.unwrap();
        assert_eq!((s.key, s.scheduler.as_str()), (tcp(v4(1, 1, 1, 1), 80), ""));
        // Fwmark services keep the given port, or 0.
        assert_eq!(d(&["-a", "-f", "5", "-r", "2.2.2.2:81"]).port, 81);
        assert_eq!(d(&["-a", "-f", "5", "-r", "2.2.2.2"]).port, 0);
        assert_eq!(d(&["-a", "-f", "5", "-r", "2.2.2.2:http"]).port, 80);
        // No port: the service's port at the time -r is read (ipvsadm).
        assert_eq!(
            d(&["-a", "-t", "2.2.2.2:80", "-r", "1.1.1.1", "-m"]).port,
            80
        );
        assert_eq!(
            d(&["-a", "-r", "1.1.1.1", "-t", "2.2.2.2:80", "-m"]).port,
            0
        );
        // Tunnels may change family.
        let x = d(&[
            "-a",
            "-t",
            "1.1.1.1:80",
            "-r",
            "[2001:db8::1]:80",
            "-i",
            "--tun-type",
            "gue",
            "--tun-port",
            "6080",
            "--tun-remcsum",
        ]);
        assert_eq!(
            (x.addr, x.tun_type, x.tun_port, x.tun_flags),
            (v6("2001:db8::1"), TunType::Gue, 6080, tun_flags::REMCSUM)
        );
        let x = d(&[
            "-a",
            "-t",
            "1.1.1.1:80",
            "-r",
            "2.2.2.2",
            "-i",
            "--tun-type",
            "gre",
            "--tun-csum",
        ]);
        assert_eq!((x.tun_type, x.tun_flags), (TunType::Gre, tun_flags::CSUM));
        let x = d(&[
            "-a",
            "-t",
            "1.1.1.1:80",
            "-r",
            "2.2.2.2",
            "-w",
            "2147483647",
            "-x",
            "2147483647",
        ]);
        assert_eq!((x.weight, x.u_threshold), (i32::MAX, 2147483647));
    }

    #[test]
    fn zero_and_delete() {
        assert_eq!(ok(&["-Z"]).service, None);
        assert_eq!(ok(&["-Z", "-t", "0.0.0.0"]).service, None);
        assert_eq!(ok(&["-Z", "-t", "[::]:0"]).service, None);
        assert!(ok(&["-Z", "-t", "0.0.0.0:80"]).service.is_some());
        assert!(ok(&["-Z", "-t", "[::1]:0"]).service.is_some());
        assert!(ok(&["--zero", "-f", "3"]).service.is_some());
        let s = ok(&["-D", "-t", "1.2.3.4:0"]).service.unwrap();
        assert_eq!(s.key, tcp(v4(1, 2, 3, 4), 0));
        assert_eq!(s.scheduler, "");
    }

    #[test]
    fn listing() {
        let inv = ok(&[]);
        assert_eq!(
            (inv.command, inv.list),
            (Command::List, ListOptions::default())
        );
        let inv = ok(&["-lcn"]);
        assert!(inv.list.connection && inv.list.numeric && !inv.list.stats);
        let inv = ok(&["-L", "-t", "1.2.3.4:80", "-n"]);
        assert_eq!(inv.service.map(|s| s.key), Some(tcp(v4(1, 2, 3, 4), 80)));
        let l = ok(&[
            "--list",
            "--exact",
            "--nosort",
            "--tun-info",
            "--thresholds",
            "--persistent-conn",
            "-n",
            "--sort",
            "--sort",
        ])
        .list;
        assert!(
            l.exact && l.nosort && l.tun_info && l.thresholds && l.persistent_conn && l.numeric
        );
        let l = ok(&["-L", "--stats", "--rate", "-X"]).list;
        assert!(l.stats && l.rate && l.exact);
        assert!(ok(&["-L", "-c", "--persistent-conn"]).list.persistent_conn);
        assert!(ok(&["-L", "--timeout"]).list.timeout);
        assert!(ok(&["-L", "--daemon", "--syncid", "3"]).list.daemon);
        assert!(ok(&["-S", "-n"]).list.numeric);
        assert_eq!(ok(&["-L", "--"]).command, Command::List);
    }

    #[test]
    fn timeouts_and_daemons() {
        let t = ok(&["--set", "0", "2678400", " +5"]).timeouts.unwrap();
        assert_eq!(
            t,
            Timeouts {
                tcp: 0,
                tcp_fin: 2678400,
                udp: 5
            }
        );
        assert!(ok(&["--set", "--", "1", "2", "3"]).timeouts.is_some());
        assert!(ok(&["--set", "1", "2", "--", "3"]).timeouts.is_some());
        let d = ok(&["--start-daemon", "master"]).daemon.unwrap();
        assert_eq!(
            d,
            Daemon {
                state: DaemonState::Master,
                mcast_ifn: "eth0".into(),
                syncid: 0,
                sync_maxlen: 0,
                mcast_group: None,
                mcast_port: 0,
                mcast_ttl: 0
            }
        );
        let d = ok(&[
            "--start-daemon",
            "backup",
            "--mcast-interface",
            "eth1",
            "--syncid",
            "5",
            "--sync-maxlen",
            "1000",
            "--mcast-group",
            "224.0.0.82",
            "--mcast-port",
            "9000",
            "--mcast-ttl",
            "3",
        ])
        .daemon
        .unwrap();
        assert_eq!(
            d,
            Daemon {
                state: DaemonState::Backup,
                mcast_ifn: "eth1".into(),
                syncid: 5,
                sync_maxlen: 1000,
                mcast_group: Some(v4(224, 0, 0, 82)),
                mcast_port: 9000,
                mcast_ttl: 3
            }
        );
        let d = ok(&[
            "--start-daemon=master",
            "--mcast-group",
            "ff02::1",
            "--mcast-interface",
            "",
        ])
        .daemon
        .unwrap();
        assert_eq!(
            (d.mcast_group, d.mcast_ifn.as_str()),
            (Some(v6("ff02::1")), "eth0")
        );
        let d = ok(&[
            "--start-daemon",
            "master",
            "--mcast-interface",
            "0123456789abcdefXYZ",
        ])
        .daemon
        .unwrap();
        assert_eq!(d.mcast_ifn, "0123456789abcde");
        let d = ok(&["--stop-daemon", "backup", "--syncid", "3"])
            .daemon
            .unwrap();
        assert_eq!(
            (d.state, d.mcast_ifn.as_str(), d.syncid),
            (DaemonState::Backup, "", 3)
        );
    }

    #[test]
    fn help_and_version() {
        assert_eq!(ok(&["-h"]).command, Command::Help);
        assert_eq!(ok(&["--help", "--foo"]).command, Command::Help);
        assert_eq!(ok(&["-hL"]).command, Command::Help);
        assert_eq!(ok(&["-v", "-Q"]).command, Command::Version);
        assert_eq!(ok(&["--version"]).command, Command::Version);
        assert_eq!(err(&["-L", "-h"]), (2, "invalid option `-h'\n".into()));
        assert_eq!(err(&["--help=x"]), (255, TRY.into()));
    }

    #[test]
    fn try_help_uses_prog() {
        let f = parse("/usr/sbin/ipvsadm", &[OsString::from("foo")], &Fake::new()).unwrap_err();
        assert_eq!(
            f.stderr,
            "Try `/usr/sbin/ipvsadm -h' or '/usr/sbin/ipvsadm --help' for more information.\n"
        );
        assert_eq!(f.code, 255);
    }

    // ---- Deliberate departures from ipvsadm (compatibility policy). ----

    #[test]
    fn policy_2_command_anywhere() {
        let inv = ok(&["-nL"]);
        assert_eq!((inv.command, inv.list.numeric), (Command::List, true));
        let inv = ok(&["-n", "-L"]);
        assert_eq!((inv.command, inv.list.numeric), (Command::List, true));
        let inv = ok(&["-t", "1.2.3.4:80", "-s", "rr", "-A"]);
        assert_eq!(inv.service.unwrap().scheduler, "rr");
        assert_eq!(ok(&["-n", "-h"]).command, Command::Help);
        // Options before the command are checked like the others.
        assert_eq!(
            err(&["-t", "80", "-A"]),
            (
                2,
                "illegal virtual server address[:port] specified\n".into()
            )
        );
        assert_eq!(
            err(&["-w", "2", "-A", "-t", "1.2.3.4:80"]),
            (
                2,
                "Illegal 'weight' option with the 'add-service' command\n".into()
            )
        );
        assert_eq!(
            err(&["-n", "-n", "-L"]),
            (2, "multiple 'numeric' options specified\n".into())
        );
        assert_eq!(
            err(&["-n", "-L", "-A"]),
            (2, "invalid option `-A'\n".into())
        );
        // Still "Try ...": no command, or a popt error before the command.
        for args in [
            &["-n"][..],
            &["-n", "--foo", "-L"],
            &["--foo", "-L"],
            &["foo"],
            &[""],
            &["--"],
            &["--start-daemon"],
        ] {
            assert_eq!(err(args), (255, TRY.into()), "{args:?}");
        }
        // A popt error after the command is reported as popt reports it.
        assert_eq!(
            err(&["-n", "-L", "--foo"]),
            (255, "--foo: unknown option\n".into())
        );
    }

    #[test]
    fn policy_5_commas_only() {
        assert_eq!(
            err(&["-A", "-t", "1.2.3.4:80", "-b", ","]),
            (2, "invalid scheduler flag `,'\n".into())
        );
        assert_eq!(
            err(&["-A", "-t", "1.2.3.4:80", "-b", ",,"]),
            (2, "invalid scheduler flag `,,'\n".into())
        );
        // Empty is ignored, and commas around a name are fine (as ipvsadm).
        assert_eq!(
            ok(&["-A", "-t", "1.2.3.4:80", "-b", ""])
                .service
                .unwrap()
                .flags,
            0
        );
        let s = ok(&["-A", "-t", "1.2.3.4:80", "-b", ",sh-port,", "-s", "sh"])
            .service
            .unwrap();
        assert_eq!(s.flags, svc_flags::SCHED2);
    }

    #[test]
    fn policy_10_bracketed_ipv4_keeps_port() {
        let s = ok(&["-A", "-t", "[1.2.3.4]:80"]).service.unwrap();
        assert_eq!(s.key, tcp(v4(1, 2, 3, 4), 80));
        let d = ok(&["-a", "-t", "1.1.1.1:80", "-r", "[2.2.2.2]:81", "-m"])
            .dest
            .unwrap();
        assert_eq!(d.port, 81);
    }

    #[test]
    fn policy_16_stop_daemon_message() {
        assert_eq!(
            err(&["--stop-daemon", "foo"]),
            (2, "illegal stop-daemon parameter specified\n".into())
        );
        assert_eq!(
            err(&["--start-daemon", "Master"]),
            (2, "illegal start-daemon parameter specified\n".into())
        );
    }

    #[test]
    fn policy_20_ipv6_and_netmask_order() {
        let key6 = ServiceKey::Fwmark {
            family: Family::Inet6,
            mark: 1,
        };
        let s = ok(&["-A", "-6", "-f", "1"]).service.unwrap();
        assert_eq!((s.key, s.netmask), (key6, 128));
        let s = ok(&["-A", "-f", "1", "-M", "64", "-6"]).service.unwrap();
        assert_eq!((s.key, s.netmask), (key6, 64));
        let s = ok(&["-A", "-f", "1", "-6", "-6", "-M", "64"])
            .service
            .unwrap();
        assert_eq!(s.netmask, 64);
        let s = ok(&["-A", "-M", "64", "-t", "[2001:db8::1]:80"])
            .service
            .unwrap();
        assert_eq!(s.netmask, 64);
        // A prefix length on IPv4.
        let s = ok(&["-A", "-t", "1.2.3.4:0", "-p", "-M", "24"])
            .service
            .unwrap();
        assert_eq!(s.netmask, 0xffff_ff00);
        let s = ok(&["-A", "-t", "1.2.3.4:0", "-p", "-M", "localhost"])
            .service
            .unwrap();
        assert_eq!(s.netmask, 0x7f00_0001);
        // -6 without -f anywhere.
        let six = (2, "-6 used without -f\n".to_string());
        assert_eq!(err(&["-A", "-6", "-t", "1.2.3.4:80"]), six);
        assert_eq!(err(&["-L", "-6"]), six);
        assert_eq!(err(&["-6", "-L"]), six);
        // Scan errors come first; then -6, then -M.
        assert_eq!(
            err(&["-A", "-6", "-w", "x"]),
            (2, "illegal weight specified\n".into())
        );
        assert_eq!(err(&["-A", "-6", "-M", "64"]), six);
        // With an address service, -6 fails as soon as both are seen.
        assert_eq!(err(&["-A", "-t", "1.2.3.4:80", "-6", "-w", "x"]), six);
        assert_eq!(err(&["-A", "-6", "-t", "1.2.3.4:80", "-w", "x"]), six);
        // A mask no family accepts fails during the scan, with ipvsadm's
        // message for the family known at that point.
        let bad4 = (
            2,
            "illegal virtual server persistent mask specified\n".to_string(),
        );
        let bad6 = (2, "illegal ipv6 netmask specified\n".to_string());
        assert_eq!(err(&["-A", "-6", "-M", "x", "-w", "x"]), bad4);
        assert_eq!(err(&["-A", "-t", "[::1]:80", "-M", "x", "-w", "x"]), bad6);
        assert_eq!(err(&["-A", "-f", "1", "-6", "-M", "ff"]), bad6);
        assert_eq!(err(&["-A", "-M", "ff", "-f", "1", "-6"]), bad4);
        // One that only IPv4 accepts fails after the scan on IPv6.
        assert_eq!(
            err(&["-A", "-t", "[::1]:80", "-M", "255.255.255.0", "-w", "x"]),
            (2, "illegal weight specified\n".into())
        );
        assert_eq!(err(&["-A", "-t", "[::1]:80", "-M", "255.255.255.0"]), bad6);
        // An IPv4 mask on an IPv6 fwmark is refused (ipvsadm silently
        // replaced it by 128 when -6 came last).
        assert_eq!(
            err(&["-A", "-f", "1", "-p", "-M", "255.255.255.0", "-6"]),
            (2, "illegal ipv6 netmask specified\n".into())
        );
        assert_eq!(
            err(&["-A", "-t", "1.2.3.4:0", "-p", "-M", "nosuch"]),
            (
                2,
                "illegal virtual server persistent mask specified\n".into()
            )
        );
    }

    #[test]
    fn check_order() {
        // --set values before stray words before -b before the matrix.
        assert_eq!(
            err(&["--set", "1", "2", "x", "-b", "foo"]),
            (2, "invalid timeout value `x' specified\n".into())
        );
        assert_eq!(
            err(&["--set", "1", "2", "3", "4", "-b", "foo"]),
            (2, "unexpected argument 4\n".into())
        );
        assert_eq!(
            err(&["-L", "-b", "foo"]),
            (2, "invalid scheduler flag `foo'\n".into())
        );
        assert_eq!(
            err(&["-L", "-b", "flag-1"]),
            (
                2,
                "Illegal 'sched-flags' option with the 'list' command\n".into()
            )
        );
        // The matrix before the semantic checks.
        assert_eq!(
            err(&["-A", "-t", "1.2.3.4:0", "-n"]),
            (
                2,
                "Illegal 'numeric' option with the 'add-service' command\n".into()
            )
        );
        // Zero port before one-packet.
        assert_eq!(
            err(&["-A", "-t", "1.2.3.4:0", "-o"]),
            (2, "Zero port specified for non-persistent service\n".into())
        );
        // Port forcing before the family check, family before tunnel options.
        assert_eq!(
            err(&[
                "-a",
                "-t",
                "1.1.1.1:80",
                "-r",
                "[::1]:80",
                "--tun-type",
                "gue"
            ]),
            (
                2,
                "Different address family is allowed only for tunneling servers\n".into()
            )
        );
    }

    #[test]
    fn extensions_json_netns_test() {
        let inv = ok(&["-L", "-n", "--json", "--stats", "--netns", "blue"]);
        assert!(inv.list.json && inv.list.stats);
        assert_eq!(inv.netns.as_deref(), Some("blue"));
        assert!(!inv.test);
        for args in [
            &["-L", "-c", "--json"][..],
            &["-L", "--timeout", "--json"],
            &["-L", "--daemon", "--json"],
            &[
                "-L",
                "-t",
                "1.2.3.4:80",
                "--json",
                "--exact",
                "--thresholds",
            ],
        ] {
            assert!(ok(args).list.json, "{args:?}");
        }
        assert_eq!(
            ok(&["--netns=/proc/1/ns/net", "-C"]).netns.as_deref(),
            Some("/proc/1/ns/net")
        );
        let inv = ok(&["-R", "--test", "--netns", "a"]);
        assert!(inv.test);
        assert_eq!(inv.command, Command::Restore);
        assert_eq!(
            err(&["-A", "-t", "1.2.3.4:80", "--json"]),
            (
                2,
                "Illegal 'json' option with the 'add-service' command\n".into()
            )
        );
        assert_eq!(
            err(&["-S", "--json"]),
            (2, "Illegal 'json' option with the 'save' command\n".into())
        );
        assert_eq!(
            err(&["-L", "--test"]),
            (2, "Illegal 'test' option with the 'list' command\n".into())
        );
        assert_eq!(
            err(&["-C", "--test"]),
            (2, "Illegal 'test' option with the 'flush' command\n".into())
        );
        assert_eq!(
            err(&["-L", "--json", "--json"]),
            (2, "multiple 'json' options specified\n".into())
        );
        assert_eq!(
            err(&["-L", "--netns", "a", "--netns=b"]),
            (2, "multiple 'netns' options specified\n".into())
        );
        assert_eq!(
            err(&["-R", "--test", "--test"]),
            (2, "multiple 'test' options specified\n".into())
        );
        assert_eq!(
            err(&["-L", "--netns", ""]),
            (2, "empty network namespace specified\n".into())
        );
        assert_eq!(
            err(&["-L", "--netns"]),
            (255, "--netns: missing argument\n".into())
        );
        assert_eq!(
            err(&["-L", "--json=1"]),
            (255, "--json=1: option does not take an argument\n".into())
        );
        // ipvsadm's own errors still win: its columns come first.
        assert_eq!(
            err(&["-A", "-t", "1.2.3.4:80", "-n", "--json"]),
            (
                2,
                "Illegal 'numeric' option with the 'add-service' command\n".into()
            )
        );
        // The -L conflicts are unchanged.
        assert_eq!(
            err(&["-L", "-c", "--stats", "--json"]),
            (2, "options conflicts in the list command\n".into())
        );
        // --netns is legal with every command.
        for args in [
            &["-A", "-t", "1.2.3.4:80"][..],
            &["-a", "-t", "1.2.3.4:80", "-r", "5.5.5.5"],
            &["-Z"],
            &["-S", "-n"],
            &["--set", "1", "2", "3"],
            &["--start-daemon", "master"],
        ] {
            let mut a = args.to_vec();
            a.extend(["--netns", "x"]);
            assert_eq!(ok(&a).netns.as_deref(), Some("x"), "{a:?}");
        }
    }
}
