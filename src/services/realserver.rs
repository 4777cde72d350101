//! The real-server service behind `ipvsadm-rs realserver apply|check|undo`:
//! prepares this host as a real server for LVS direct routing (DR) or IP
//! tunnelling (TUN), checks one (returning a [`Report`] of findings), and
//! takes the preparation back, each change returned as a [`Step`]. The
//! host is reached through [`HostNet`] ([`crate::route`]); nothing here
//! prints, parses arguments or picks an exit status.
//!
//! # What a real server needs
//!
//! With DR the director only rewrites the destination MAC address: packets
//! reach the real server still addressed to the virtual IP (VIP), so the
//! real server must own the VIP, on `lo` as a single address (`/32`, IPv6
//! `/128`) so that it claims no subnet. Then it must not answer ARP for
//! it, or clients and routers learn its MAC for the VIP and bypass the
//! director: `arp_ignore=1` (answer only for addresses on the interface
//! the request came in on) and `arp_announce=2` (never use the VIP as the
//! sender of its own ARP requests), set on `lo` and `all`. The kernel uses
//! the larger of `all` and the interface's own value, so `all` covers
//! every interface. IPv6 has no ARP, and Linux answers neighbour
//! solicitations only for addresses on the receiving interface, so an
//! IPv6 VIP needs the address only.
//!
//! With TUN the director wraps each packet in IP-in-IP: the VIP goes on
//! `tunl0` (created by the `ipip` module; IPv6: `ip6tnl0` from
//! `ip6_tunnel`), which must be up, plus the same ARP settings. Reverse
//! path filtering must not be strict (1) on `tunl0`: a packet unpacked
//! there comes from a client that this host reaches through another
//! interface, so strict filtering drops it. `apply` sets it to 2 (loose:
//! the sender must merely be reachable somehow) on `tunl0`, and on `all`
//! only if `all` was strict, because the kernel uses the larger of the
//! two; loose keeps the protection against sources with no route at all,
//! which 0 would give up.
//!
//! # State
//!
//! `apply` records what it changed in a state file (default
//! [`DEFAULT_STATE`]; `/run` is emptied at boot, like the settings
//! themselves) before changing it, so that `undo` removes exactly the
//! addresses `apply` added and puts back each setting's earlier value, and
//! a second `apply` changes nothing. The file is plain text, one record
//! per line:
//!
//! ```text
//! # ipvsadm-rs realserver state: what `realserver apply` changed
//! version 1
//! netns net:[4026531840]
//! vip 192.168.10.1 dr
//! sysctl net/ipv4/conf/all/arp_ignore 0 1
//! addr lo 192.168.10.1/32
//! link-up tunl0
//! ```
//!
//! `sysctl KEY BEFORE SET` is a `/proc/sys` path, the value found and the
//! value written; `addr` an address apply added; `link-up` a link it
//! brought up; `netns` the network namespace it was written in (network
//! namespaces can share `/run`: give each its own file with `--state`).
//! `undo` restores a setting only if it still holds the value `apply`
//! wrote, and restores settings and links only when the last recorded VIP
//! is undone.

use std::fmt::Write as _;
use std::io;
use std::net::IpAddr;
use std::path::PathBuf;

use crate::route::{self, ipv4_conf, sysctl_name, Address, HostNet, Link};
use crate::services::check::network;
use crate::services::findings::{Level, Report};

/// Where `apply` records what it changed, unless `--state` says otherwise.
pub const DEFAULT_STATE: &str = "/run/ipvsadm-rs/realserver.state";

/// How the director forwards to this real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Direct routing (`-g`).
    Dr,
    /// IP-in-IP tunnelling (`-i`).
    Tun,
}

impl Mode {
    /// The state file's word for it: `dr`, `tun`.
    pub fn word(self) -> &'static str {
        match self {
            Mode::Dr => "dr",
            Mode::Tun => "tun",
        }
    }

    /// Its name in plain words.
    pub fn words(self) -> &'static str {
        match self {
            Mode::Dr => "direct routing",
            Mode::Tun => "IP tunnelling",
        }
    }

    /// A mode from its word or one of the aliases ipvsadm's forwarding
    /// options suggest (`DR`, `route`, `gatewaying`, `TUN`, `ipip`, `tunnel`).
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "dr" | "DR" | "route" | "gatewaying" => Some(Mode::Dr),
            "tun" | "TUN" | "ipip" | "tunnel" => Some(Mode::Tun),
            _ => None,
        }
    }

    /// The interface that carries `vip` in this mode.
    pub fn iface(self, vip: &IpAddr) -> &'static str {
        match (self, vip) {
            (Mode::Dr, _) => "lo",
            (Mode::Tun, IpAddr::V4(_)) => "tunl0",
            (Mode::Tun, IpAddr::V6(_)) => "ip6tnl0",
        }
    }

    /// The module that creates the tunnel interface for `vip`.
    pub fn module(self, vip: &IpAddr) -> Option<&'static str> {
        match (self, vip) {
            (Mode::Dr, _) => None,
            (Mode::Tun, IpAddr::V4(_)) => Some("ipip"),
            (Mode::Tun, IpAddr::V6(_)) => Some("ip6_tunnel"),
        }
    }
}

fn full_len(vip: &IpAddr) -> u8 {
    match vip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

/// `arp_ignore` values that keep the host from answering for the VIP on
/// lo: 1 and 2 answer only for addresses of the incoming interface, 8 never
/// answers. (3 still answers for addresses of global scope; 4 to 7 are
/// reserved and answer.)
fn arp_ignore_ok(v: i64) -> bool {
    matches!(v, 1 | 2 | 8)
}

/// `arp_announce` must be exactly 2: values above 2 act as 0.
fn arp_announce_ok(v: i64) -> bool {
    v == 2
}

/// One setting `apply` changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SysctlRecord {
    /// Path under `/proc/sys`.
    pub key: String,
    /// The value before the first `apply` that changed it.
    pub before: i64,
    /// The value `apply` wrote.
    pub set: i64,
}

/// An address `apply` added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrRecord {
    /// Interface name.
    pub iface: String,
    /// The address.
    pub addr: IpAddr,
    /// Its prefix length.
    pub prefix_len: u8,
}

/// What `apply` changed, as kept in the state file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct State {
    /// The network namespace the changes were made in.
    pub netns: Option<String>,
    /// The VIPs set up, with their mode.
    pub vips: Vec<(IpAddr, Mode)>,
    /// Settings changed, in the order changed.
    pub sysctls: Vec<SysctlRecord>,
    /// Addresses added.
    pub addrs: Vec<AddrRecord>,
    /// Links brought up.
    pub links_up: Vec<String>,
}

impl State {
    /// The file's text.
    pub fn to_text(&self) -> String {
        let mut s = String::from(
            "# ipvsadm-rs realserver state: what `realserver apply` changed, for `realserver undo`\nversion 1\n",
        );
        if let Some(n) = &self.netns {
            let _ = writeln!(s, "netns {n}");
        }
        for (v, m) in &self.vips {
            let _ = writeln!(s, "vip {v} {}", m.word());
        }
        for r in &self.sysctls {
            let _ = writeln!(s, "sysctl {} {} {}", r.key, r.before, r.set);
        }
        for a in &self.addrs {
            let _ = writeln!(s, "addr {} {}/{}", a.iface, a.addr, a.prefix_len);
        }
        for l in &self.links_up {
            let _ = writeln!(s, "link-up {l}");
        }
        s
    }

    /// Reads the file's text; an error names the first bad line.
    pub fn parse(text: &str) -> Result<State, StateError> {
        let mut st = State::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let w: Vec<&str> = line.split_whitespace().collect();
            let bad = || StateError(format!("line {}: cannot read {line:?}", n + 1));
            match w.as_slice() {
                ["version", "1"] => {}
                ["version", v] => return Err(StateError(format!("unknown state version {v}"))),
                ["netns", id] => st.netns = Some((*id).to_string()),
                ["vip", a, m] => {
                    let a: IpAddr = a.parse().map_err(|_| bad())?;
                    st.vips.push((a, Mode::parse(m).ok_or_else(bad)?));
                }
                ["sysctl", k, b, s] => st.sysctls.push(SysctlRecord {
                    key: (*k).to_string(),
                    before: b.parse().map_err(|_| bad())?,
                    set: s.parse().map_err(|_| bad())?,
                }),
                ["addr", i, a] => {
                    let (a, l) = a.split_once('/').ok_or_else(bad)?;
                    st.addrs.push(AddrRecord {
                        iface: (*i).to_string(),
                        addr: a.parse().map_err(|_| bad())?,
                        prefix_len: l.parse().map_err(|_| bad())?,
                    });
                }
                ["link-up", l] => st.links_up.push((*l).to_string()),
                _ => return Err(bad()),
            }
        }
        Ok(st)
    }

    fn is_empty(&self) -> bool {
        self.vips.is_empty()
            && self.sysctls.is_empty()
            && self.addrs.is_empty()
            && self.links_up.is_empty()
    }
}

/// Reads and writes the state file.
pub trait StateStore {
    /// The recorded state, `None` if there is none.
    fn load(&mut self) -> Result<Option<State>, StateError>;
    /// Records `state` (replacing what was there).
    fn save(&mut self, state: &State) -> Result<(), StateError>;
    /// Removes the record.
    fn remove(&mut self) -> Result<(), StateError>;
    /// Where it lives, for messages.
    fn location(&self) -> String;
}

/// The state in a file, written atomically (temporary file, then rename).
#[derive(Debug, Clone)]
pub struct FileStore {
    path: PathBuf,
}

impl FileStore {
    /// A store at `path`.
    pub fn new(path: impl Into<PathBuf>) -> FileStore {
        FileStore { path: path.into() }
    }
}

impl StateStore for FileStore {
    fn load(&mut self) -> Result<Option<State>, StateError> {
        match std::fs::read_to_string(&self.path) {
            Ok(t) => State::parse(&t)
                .map(Some)
                .map_err(|e| StateError(format!("{}: {e}", self.path.display()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StateError(format!("{}: {e}", self.path.display()))),
        }
    }

    fn save(&mut self, state: &State) -> Result<(), StateError> {
        let fail = |e: io::Error| {
            StateError(format!(
                "cannot record state in {}: {e}",
                self.path.display()
            ))
        };
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        std::fs::write(&tmp, state.to_text()).map_err(fail)?;
        std::fs::rename(&tmp, &self.path).map_err(fail)
    }

    fn remove(&mut self) -> Result<(), StateError> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StateError(format!(
                "cannot remove {}: {e}",
                self.path.display()
            ))),
        }
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }
}

/// A state file that cannot be read, written or removed; the message
/// names the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct StateError(pub String);

/// A failure that stops `apply` or `undo`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or changing the host failed.
    #[error(transparent)]
    Host(#[from] route::Error),
    /// The state file.
    #[error(transparent)]
    State(#[from] StateError),
    /// The host cannot be set up as asked (a tunnel interface or a
    /// setting that does not exist, state from another namespace).
    #[error("{0}")]
    Unfit(String),
}

fn find_link<'a>(links: &'a [Link], name: &str) -> Option<&'a Link> {
    links.iter().find(|l| l.name == name)
}

/// VIPs as `a, b, c`.
pub fn vip_list(vips: &[IpAddr]) -> String {
    vips.iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks this host as a real server for `vips`; the core of `realserver
/// check`, also run at the end of `apply`.
pub fn check_realserver(
    host: &mut dyn HostNet,
    vips: &[IpAddr],
    mode: Mode,
) -> route::Result<Report> {
    let links = host.links()?;
    let addrs = host.addrs()?;
    let mut r = Report::default();
    let mut tunnels_checked: Vec<&str> = Vec::new();
    for vip in vips {
        let subject = vip.to_string();
        let iface = mode.iface(vip);
        let target = find_link(&links, iface);
        match target {
            None => {
                let why = match mode.module(vip) {
                    Some(m) => format!(
                        "{iface} does not exist (the {m} module creates it): this host cannot unpack the packets the director tunnels to {vip}"
                    ),
                    None => format!("{iface} does not exist"),
                };
                r.push(Level::Error, "no-interface", &subject, why);
            }
            Some(l) => {
                check_vip_on(&mut r, &subject, vip, mode, l, &addrs);
                if mode == Mode::Tun && !tunnels_checked.contains(&iface) {
                    tunnels_checked.push(iface);
                    check_tunnel(host, &mut r, l, vip)?;
                }
            }
        }
        for a in addrs.iter().filter(|a| a.local == *vip) {
            if target.is_some_and(|t| t.index == a.index) {
                continue;
            }
            let Some(l) = links.iter().find(|l| l.index == a.index) else {
                continue;
            };
            if l.is_loopback() {
                continue;
            }
            let answers = if vip.is_ipv4() {
                "this host answers ARP for it there whatever arp_ignore says"
            } else {
                "this host answers neighbour solicitations for it there"
            };
            r.push(
                Level::Error,
                "vip-on-other-interface",
                &subject,
                format!(
                    "{vip} is also an address of {}: {answers}, and can steal the director's traffic; remove it from {}",
                    l.name, l.name
                ),
            );
        }
    }
    let v4: Vec<IpAddr> = vips.iter().copied().filter(IpAddr::is_ipv4).collect();
    if !v4.is_empty() {
        check_arp(host, &mut r, &links, &v4)?;
    }
    Ok(r)
}

fn check_vip_on(
    r: &mut Report,
    subject: &str,
    vip: &IpAddr,
    mode: Mode,
    l: &Link,
    addrs: &[Address],
) {
    let full = full_len(vip);
    match addrs
        .iter()
        .find(|a| a.index == l.index && a.local == *vip)
    {
        None => {
            let how = match mode {
                Mode::Dr => "the director forwards packets that keep it as their destination",
                Mode::Tun => "the packets the director tunnels here keep it as their destination",
            };
            r.push(
                Level::Error,
                "vip-missing",
                subject,
                format!("{vip} is not on {}: {how}, and this host drops them", l.name),
            );
        }
        Some(a) if a.prefix_len < full => r.push(
            Level::Error,
            "vip-prefix",
            subject,
            format!(
                "{vip}/{} on {} claims all of {}/{} for {}: this host can no longer reach its neighbours in that range; use /{full}",
                a.prefix_len,
                l.name,
                network(vip, a.prefix_len),
                a.prefix_len,
                l.name
            ),
        ),
        Some(a) => r.push(
            Level::Ok,
            "vip-present",
            subject,
            format!("{vip}/{} is on {}", a.prefix_len, l.name),
        ),
    }
}

fn check_tunnel(
    host: &mut dyn HostNet,
    r: &mut Report,
    l: &Link,
    vip: &IpAddr,
) -> route::Result<()> {
    let subject = l.name.clone();
    if l.is_up() {
        r.push(
            Level::Ok,
            "tunnel-up",
            &subject,
            format!("{} is up", l.name),
        );
    } else {
        r.push(
            Level::Error,
            "tunnel-down",
            &subject,
            format!(
                "{} is down: the packets the director tunnels here are dropped",
                l.name
            ),
        );
    }
    if vip.is_ipv6() {
        return Ok(());
    }
    let all = host.sysctl(&ipv4_conf("all", "rp_filter"))?.unwrap_or(0);
    let dev = host.sysctl(&ipv4_conf(&l.name, "rp_filter"))?.unwrap_or(0);
    let eff = all.max(dev);
    if eff == 1 {
        r.push(
            Level::Error,
            "rp-filter",
            &subject,
            format!(
                "rp_filter is 1 (strict) on {n} (all: {all}, {n}: {dev}): a packet unpacked on {n} comes from a client this host reaches through another interface, so it is dropped",
                n = l.name
            ),
        );
    } else {
        r.push(
            Level::Ok,
            "rp-filter",
            &subject,
            format!(
                "rp_filter on {} is {eff}: tunnelled packets are accepted",
                l.name
            ),
        );
    }
    Ok(())
}

fn check_arp(
    host: &mut dyn HostNet,
    r: &mut Report,
    links: &[Link],
    vips: &[IpAddr],
) -> route::Result<()> {
    let subject = "ARP";
    let list = vip_list(vips);
    let all_ign = host.sysctl(&ipv4_conf("all", "arp_ignore"))?.unwrap_or(0);
    let all_ann = host.sysctl(&ipv4_conf("all", "arp_announce"))?.unwrap_or(0);
    let arp_links: Vec<&Link> = links.iter().filter(|l| l.uses_arp()).collect();
    for l in &arp_links {
        let n = &l.name;
        let dev = host.sysctl(&ipv4_conf(n, "arp_ignore"))?.unwrap_or(0);
        let eff = all_ign.max(dev);
        if arp_ignore_ok(eff) {
            r.push(
                Level::Ok,
                "arp-ignore",
                subject,
                format!("arp_ignore is {eff} on {n}: no ARP answers for {list} there"),
            );
        } else {
            r.push(
                Level::Error,
                "arp-ignore",
                subject,
                format!(
                    "arp_ignore is {eff} on {n} (all: {all_ign}, {n}: {dev}): this host answers ARP for {list} on {n} and can steal the director's traffic"
                ),
            );
        }
        let dev = host.sysctl(&ipv4_conf(n, "arp_announce"))?.unwrap_or(0);
        let eff = all_ann.max(dev);
        if arp_announce_ok(eff) {
            r.push(
                Level::Ok,
                "arp-announce",
                subject,
                format!("arp_announce is 2 on {n}: {list} is never the sender of this host's ARP requests"),
            );
        } else {
            r.push(
                Level::Error,
                "arp-announce",
                subject,
                format!(
                    "arp_announce is {eff} on {n} (all: {all_ann}, {n}: {dev}): this host may send ARP requests on {n} with {list} as the sender, and neighbours that learn it from them send the director's traffic here"
                ),
            );
        }
    }
    if arp_links.is_empty() && !(arp_ignore_ok(all_ign) && arp_announce_ok(all_ann)) {
        r.push(
            Level::Warning,
            "arp-all",
            subject,
            format!(
                "no interface uses ARP yet, but net.ipv4.conf.all has arp_ignore {all_ign} and arp_announce {all_ann}: an interface added later would answer ARP for {list}"
            ),
        );
    }
    Ok(())
}

/// A setting `apply` wants: its key, which values are fine already, the
/// value to write otherwise, and why.
type Wanted = (String, fn(i64) -> bool, i64, &'static str);

/// The settings `apply` wants for `vips` in `mode`.
fn wanted_sysctls(vips: &[IpAddr], mode: Mode) -> Vec<Wanted> {
    let mut w: Vec<Wanted> = Vec::new();
    if !vips.iter().any(IpAddr::is_ipv4) {
        return w;
    }
    for i in ["all", "lo"] {
        w.push((
            ipv4_conf(i, "arp_ignore"),
            arp_ignore_ok,
            1,
            "answer ARP only for addresses of the interface the request came in on",
        ));
    }
    for i in ["all", "lo"] {
        w.push((
            ipv4_conf(i, "arp_announce"),
            arp_announce_ok,
            2,
            "never use the VIP as the sender of ARP requests",
        ));
    }
    if mode == Mode::Tun {
        // 2 (loose) wherever the value is 1 (strict): see the module docs.
        for i in ["all", "tunl0"] {
            w.push((
                ipv4_conf(i, "rp_filter"),
                |v| v != 1,
                2,
                "loose reverse-path filter, so packets unpacked on tunl0 are accepted",
            ));
        }
    }
    w
}

/// One thing `apply` or `undo` did or found, in plain words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// True if the host was changed; false if it was only looked at.
    pub changed: bool,
    /// What happened (`set net.ipv4.conf.all.arp_ignore = 1 (was 0): ...`).
    pub text: String,
}

/// Everything `apply` or `undo` did or found, in order. Kept even when
/// they stop on an error, so the caller can say what was done before.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// In the order done.
    pub steps: Vec<Step>,
}

impl Changes {
    /// True if anything on the host changed.
    pub fn changed(&self) -> bool {
        self.steps.iter().any(|s| s.changed)
    }

    fn did(&mut self, text: String) {
        self.steps.push(Step {
            changed: true,
            text,
        });
    }

    fn saw(&mut self, text: String) {
        self.steps.push(Step {
            changed: false,
            text,
        });
    }
}

fn check_netns(host: &mut dyn HostNet, st: &State, store: &dyn StateStore) -> Result<(), Error> {
    let here = host.netns();
    match (&st.netns, here) {
        (Some(then), Some(now)) if *then != now => Err(Error::Unfit(format!(
            "{} was written in network namespace {then}, not in this one ({now}): give each namespace its own file with --state",
            store.location()
        ))),
        _ => Ok(()),
    }
}

/// `realserver apply`: makes the changes, recording each in `store` before
/// making it; `log` gets every step, also those before a failure.
pub fn apply(
    host: &mut dyn HostNet,
    store: &mut dyn StateStore,
    vips: &[IpAddr],
    mode: Mode,
    log: &mut Changes,
) -> Result<(), Error> {
    let existing = store.load()?;
    let had_state = existing.is_some();
    let mut st = existing.unwrap_or_default();
    check_netns(host, &st, store)?;
    if st.netns.is_none() {
        st.netns = host.netns();
    }
    for v in vips {
        match st.vips.iter_mut().find(|(a, _)| a == v) {
            Some(entry) => entry.1 = mode,
            None => st.vips.push((*v, mode)),
        }
    }
    let mut saved = false;
    // Saves the state before the first change (and before each later
    // one), so an interrupted apply can still be undone.
    let mut record = |st: &State, store: &mut dyn StateStore| -> Result<(), Error> {
        store.save(st)?;
        saved = true;
        Ok(())
    };

    let mut links = host.links()?;
    // Tunnel interfaces come with their module.
    if mode == Mode::Tun {
        for v in vips {
            let iface = mode.iface(v);
            if find_link(&links, iface).is_none() {
                if let Some(m) = mode.module(v) {
                    if host.load_module(m) {
                        log.did(format!("loaded the {m} module, which creates {iface}"));
                        links = host.links()?;
                    }
                }
                if find_link(&links, iface).is_none() {
                    return Err(Error::Unfit(format!(
                        "{iface} does not exist: load the {} module first (modprobe {})",
                        mode.module(v).unwrap_or("tunnel"),
                        mode.module(v).unwrap_or("tunnel")
                    )));
                }
            }
        }
    }

    // Settings first, so the host never answers ARP for a VIP it just got.
    for (key, ok, value, why) in wanted_sysctls(vips, mode) {
        let name = sysctl_name(&key);
        let Some(cur) = host.sysctl(&key)? else {
            return Err(Error::Unfit(format!("{name} does not exist on this host")));
        };
        if ok(cur) {
            log.saw(format!("{name} is already {cur}"));
            continue;
        }
        match st.sysctls.iter_mut().find(|r| r.key == key) {
            Some(r) => r.set = value,
            None => st.sysctls.push(SysctlRecord {
                key: key.clone(),
                before: cur,
                set: value,
            }),
        }
        record(&st, store)?;
        host.set_sysctl(&key, value)?;
        log.did(format!("set {name} = {value} (was {cur}): {why}"));
    }

    if mode == Mode::Tun {
        let mut done: Vec<&str> = Vec::new();
        for v in vips {
            let iface = mode.iface(v);
            if done.contains(&iface) {
                continue;
            }
            done.push(iface);
            if let Some(l) = find_link(&links, iface) {
                if l.is_up() {
                    log.saw(format!("{iface} is already up"));
                } else {
                    if !st.links_up.iter().any(|n| n == iface) {
                        st.links_up.push(iface.to_string());
                    }
                    record(&st, store)?;
                    host.set_link_up(l.index, true)?;
                    log.did(format!(
                        "brought {iface} up: it receives the tunnelled packets"
                    ));
                }
            }
        }
    }

    let addrs = host.addrs()?;
    for v in vips {
        let iface = mode.iface(v);
        let Some(l) = find_link(&links, iface) else {
            return Err(Error::Unfit(format!("{iface} does not exist on this host")));
        };
        if let Some(a) = addrs.iter().find(|a| a.index == l.index && a.local == *v) {
            log.saw(format!("{v}/{} is already on {iface}", a.prefix_len));
            continue;
        }
        let len = full_len(v);
        st.addrs.push(AddrRecord {
            iface: iface.to_string(),
            addr: *v,
            prefix_len: len,
        });
        record(&st, store)?;
        host.add_addr(l.index, v, len)?;
        let why = match mode {
            Mode::Dr => {
                "accept the packets the director forwards, which keep the VIP as destination"
            }
            Mode::Tun => {
                "accept the packets unpacked from the tunnel, which keep the VIP as destination"
            }
        };
        log.did(format!("added {v}/{len} to {iface}: {why}"));
    }
    if !saved && had_state {
        // Nothing changed, but the list of VIPs may have grown.
        store.save(&st)?;
    }
    Ok(())
}

/// `realserver undo`: takes back what the state records for `vips` (all
/// recorded VIPs if empty); `log` gets every step, also those before a
/// failure.
pub fn undo(
    host: &mut dyn HostNet,
    store: &mut dyn StateStore,
    vips: &[IpAddr],
    log: &mut Changes,
) -> Result<(), Error> {
    let Some(mut st) = store.load()? else {
        log.saw(format!(
            "nothing to undo: no record of an apply at {}",
            store.location()
        ));
        return Ok(());
    };
    check_netns(host, &st, store)?;
    let selected: Vec<IpAddr> = if vips.is_empty() {
        let mut v: Vec<IpAddr> = st.vips.iter().map(|(a, _)| *a).collect();
        for a in &st.addrs {
            if !v.contains(&a.addr) {
                v.push(a.addr);
            }
        }
        v
    } else {
        vips.to_vec()
    };
    for v in &selected {
        if !st.vips.iter().any(|(a, _)| a == v) && !st.addrs.iter().any(|a| a.addr == *v) {
            log.saw(format!(
                "{v} was not set up by realserver apply: left alone"
            ));
        }
    }
    let links = host.links()?;
    let addrs = host.addrs()?;
    let (gone, kept): (Vec<AddrRecord>, Vec<AddrRecord>) =
        st.addrs.drain(..).partition(|a| selected.contains(&a.addr));
    st.addrs = kept;
    for a in gone {
        let present = find_link(&links, &a.iface).and_then(|l| {
            addrs
                .iter()
                .find(|x| x.index == l.index && x.local == a.addr && x.prefix_len == a.prefix_len)
                .map(|_| l.index)
        });
        match present {
            Some(index) => {
                host.del_addr(index, &a.addr, a.prefix_len)?;
                log.did(format!(
                    "removed {}/{} from {}",
                    a.addr, a.prefix_len, a.iface
                ));
            }
            None => log.saw(format!(
                "{}/{} is no longer on {}: nothing to remove",
                a.addr, a.prefix_len, a.iface
            )),
        }
        store.save(&st)?;
    }
    st.vips.retain(|(a, _)| !selected.contains(a));
    if !st.vips.is_empty() || !st.addrs.is_empty() {
        let rest: Vec<IpAddr> = st.vips.iter().map(|(a, _)| *a).collect();
        if !st.sysctls.is_empty() || !st.links_up.is_empty() {
            log.saw(format!(
                "kept the settings and links: still needed for {}",
                vip_list(&rest)
            ));
        }
        store.save(&st)?;
        return Ok(());
    }
    for l in std::mem::take(&mut st.links_up) {
        match find_link(&links, &l) {
            Some(link) if link.is_up() => {
                host.set_link_up(link.index, false)?;
                log.did(format!("brought {l} down again"));
            }
            _ => log.saw(format!("{l} is already down or gone")),
        }
        store.save(&st)?;
    }
    while let Some(r) = st.sysctls.pop() {
        let name = sysctl_name(&r.key);
        match host.sysctl(&r.key)? {
            Some(cur) if cur == r.set => {
                host.set_sysctl(&r.key, r.before)?;
                log.did(format!(
                    "restored {name} = {} (apply had set {})",
                    r.before, r.set
                ));
            }
            Some(cur) if cur == r.before => log.saw(format!("{name} is already {cur}")),
            Some(cur) => log.saw(format!(
                "left {name} at {cur}: it changed after apply set it to {} (it was {} before)",
                r.set, r.before
            )),
            None => log.saw(format!("{name} no longer exists")),
        }
        store.save(&st)?;
    }
    if st.is_empty() {
        store.remove()?;
    }
    Ok(())
}
#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::route::{IFF_NOARP, IFF_UP};
    use crate::services::testhost::{addr, ip, link, FakeHost};

    /// A state store in memory that round-trips the text format on every
    /// save.
    #[derive(Debug, Default)]
    pub(crate) struct MemStore {
        pub state: Option<State>,
        pub saves: usize,
    }

    impl StateStore for MemStore {
        fn load(&mut self) -> Result<Option<State>, StateError> {
            Ok(self.state.clone())
        }
        fn save(&mut self, s: &State) -> Result<(), StateError> {
            self.state = Some(State::parse(&s.to_text())?);
            self.saves += 1;
            Ok(())
        }
        fn remove(&mut self) -> Result<(), StateError> {
            self.state = None;
            Ok(())
        }
        fn location(&self) -> String {
            "mem".into()
        }
    }

    fn vips(v: &[&str]) -> Vec<IpAddr> {
        v.iter().map(|s| ip(s)).collect()
    }

    /// Runs `apply`; its steps as text, one per line, and the error.
    fn run_apply(
        h: &mut FakeHost,
        s: &mut MemStore,
        v: &[&str],
        mode: Mode,
    ) -> (String, Option<String>) {
        let mut log = Changes::default();
        let r = apply(h, s, &vips(v), mode, &mut log);
        (text(&log), r.err().map(|e| e.to_string()))
    }

    fn run_undo(h: &mut FakeHost, s: &mut MemStore, v: &[&str]) -> (String, Option<String>) {
        let mut log = Changes::default();
        let r = undo(h, s, &vips(v), &mut log);
        (text(&log), r.err().map(|e| e.to_string()))
    }

    fn text(log: &Changes) -> String {
        log.steps.iter().map(|s| format!("{}\n", s.text)).collect()
    }

    fn errors(r: &Report) -> Vec<&'static str> {
        r.findings
            .iter()
            .filter(|f| f.level == Level::Error)
            .map(|f| f.code)
            .collect()
    }

    fn snapshot(h: &FakeHost) -> (Vec<Address>, Vec<(String, i64)>, Vec<u32>) {
        let mut a = h.addrs.clone();
        a.sort_by_key(|x| (x.index, x.local));
        (
            a,
            h.sysctls.iter().map(|(k, v)| (k.clone(), *v)).collect(),
            h.links.iter().map(|l| l.flags).collect(),
        )
    }

    #[test]
    fn check_reports_the_arp_trap() {
        let mut h = FakeHost::lan();
        h.addrs.push(addr(1, "192.168.10.1", 32));
        let r = check_realserver(&mut h, &[ip("192.168.10.1")], Mode::Dr).unwrap();
        assert_eq!(errors(&r), ["arp-ignore", "arp-announce"]);
        let msgs: Vec<&str> = r.findings.iter().map(|f| f.message.as_str()).collect();
        assert!(msgs.contains(&"192.168.10.1/32 is on lo"), "{msgs:?}");
        assert!(msgs.contains(&"arp_ignore is 0 on eth0 (all: 0, eth0: 0): this host answers ARP for 192.168.10.1 on eth0 and can steal the director's traffic"), "{msgs:?}");
        assert!(
            msgs.iter()
                .any(|m| m.starts_with("arp_announce is 0 on eth0")),
            "{msgs:?}"
        );
    }

    #[test]
    fn check_finds_missing_vip_wide_prefix_and_vip_on_eth0() {
        let mut h = FakeHost::lan();
        h.sysctls.insert(ipv4_conf("all", "arp_ignore"), 1);
        h.sysctls.insert(ipv4_conf("all", "arp_announce"), 2);
        let r = check_realserver(&mut h, &[ip("192.168.10.1")], Mode::Dr).unwrap();
        assert_eq!(errors(&r), ["vip-missing"]);
        h.addrs.push(addr(1, "192.168.10.1", 24));
        h.addrs.push(addr(2, "192.168.10.1", 32));
        let r = check_realserver(&mut h, &[ip("192.168.10.1")], Mode::Dr).unwrap();
        assert_eq!(errors(&r), ["vip-prefix", "vip-on-other-interface"]);
        // arp_ignore 3 answers for global addresses; announce 3 acts as 0.
        h.addrs.truncate(2);
        h.addrs.push(addr(1, "192.168.10.1", 32));
        h.sysctls.insert(ipv4_conf("eth0", "arp_ignore"), 3);
        h.sysctls.insert(ipv4_conf("eth0", "arp_announce"), 3);
        let r = check_realserver(&mut h, &[ip("192.168.10.1")], Mode::Dr).unwrap();
        assert_eq!(errors(&r), ["arp-ignore", "arp-announce"]);
    }

    #[test]
    fn apply_is_idempotent_and_undo_restores_exactly() {
        let mut h = FakeHost::lan();
        h.sysctls.insert(ipv4_conf("lo", "arp_ignore"), 2); // already fine
        let before = snapshot(&h);
        let mut s = MemStore::default();
        let both = ["192.168.10.1", "2001:db8::10"];
        let (out, err) = run_apply(&mut h, &mut s, &both, Mode::Dr);
        assert_eq!(err, None, "{out}");
        assert!(
            out.contains("set net.ipv4.conf.all.arp_ignore = 1 (was 0)"),
            "{out}"
        );
        assert!(
            out.contains("net.ipv4.conf.lo.arp_ignore is already 2"),
            "{out}"
        );
        assert!(out.contains("added 192.168.10.1/32 to lo"), "{out}");
        assert!(out.contains("added 2001:db8::10/128 to lo"), "{out}");
        assert!(!check_realserver(&mut h, &vips(&both), Mode::Dr)
            .unwrap()
            .has_errors());
        // Settings before addresses.
        let first_add = h.calls.iter().position(|c| c.starts_with("add")).unwrap();
        let last_sysctl = h
            .calls
            .iter()
            .rposition(|c| c.starts_with("sysctl"))
            .unwrap();
        assert!(last_sysctl < first_add, "{:?}", h.calls);
        let after = snapshot(&h);
        let st = s.state.clone().unwrap();
        assert_eq!(st.addrs.len(), 2);
        assert_eq!(st.sysctls.len(), 3);

        h.calls.clear();
        let mut log = Changes::default();
        apply(&mut h, &mut s, &vips(&both), Mode::Dr, &mut log).unwrap();
        assert!(!log.changed());
        assert!(h.calls.is_empty(), "{:?}", h.calls);
        assert!(
            text(&log).contains("192.168.10.1/32 is already on lo"),
            "{log:?}"
        );
        assert_eq!(snapshot(&h), after);
        assert_eq!(s.state.clone().unwrap(), st);

        let (out, err) = run_undo(&mut h, &mut s, &[]);
        assert_eq!(err, None, "{out}");
        assert!(out.contains("removed 192.168.10.1/32 from lo"), "{out}");
        assert!(
            out.contains("restored net.ipv4.conf.all.arp_ignore = 0 (apply had set 1)"),
            "{out}"
        );
        assert_eq!(snapshot(&h), before);
        assert!(s.state.is_none());
        let (out, _) = run_undo(&mut h, &mut s, &[]);
        assert_eq!(out, "nothing to undo: no record of an apply at mem\n");
    }

    #[test]
    fn undo_leaves_what_was_there_before_and_what_changed_since() {
        let mut h = FakeHost::lan();
        h.addrs.push(addr(1, "192.168.10.1", 32)); // the admin's own
        let before = snapshot(&h);
        let mut s = MemStore::default();
        run_apply(&mut h, &mut s, &["192.168.10.1"], Mode::Dr);
        assert!(s.state.as_ref().unwrap().addrs.is_empty());
        h.sysctls.insert(ipv4_conf("lo", "arp_announce"), 1); // someone else
        let (out, _) = run_undo(&mut h, &mut s, &["192.168.10.1"]);
        assert!(
            out.contains("left net.ipv4.conf.lo.arp_announce at 1"),
            "{out}"
        );
        h.sysctls.insert(ipv4_conf("lo", "arp_announce"), 0);
        assert_eq!(snapshot(&h), before);
    }

    #[test]
    fn partial_undo_keeps_settings_for_the_other_vip() {
        let mut h = FakeHost::lan();
        let mut s = MemStore::default();
        run_apply(&mut h, &mut s, &["192.168.10.1", "192.168.10.3"], Mode::Dr);
        let (out, _) = run_undo(&mut h, &mut s, &["192.168.10.1"]);
        assert!(out.contains("removed 192.168.10.1/32 from lo"), "{out}");
        assert!(
            out.contains("kept the settings and links: still needed for 192.168.10.3"),
            "{out}"
        );
        assert_eq!(h.sysctls[&ipv4_conf("all", "arp_ignore")], 1);
        run_undo(&mut h, &mut s, &["192.168.10.3"]);
        assert_eq!(h.sysctls[&ipv4_conf("all", "arp_ignore")], 0);
        assert!(s.state.is_none());
    }

    #[test]
    fn tun_mode_brings_tunl0_up_and_relaxes_rp_filter() {
        let mut h = FakeHost::lan();
        h.links.push(link(3, "tunl0", IFF_NOARP));
        h.sysctls.insert(ipv4_conf("tunl0", "rp_filter"), 0);
        h.sysctls.insert(ipv4_conf("all", "rp_filter"), 1);
        for k in ["arp_ignore", "arp_announce"] {
            h.sysctls.insert(ipv4_conf("tunl0", k), 0);
        }
        let before = snapshot(&h);
        let r = check_realserver(&mut h, &[ip("192.168.10.1")], Mode::Tun).unwrap();
        assert_eq!(
            errors(&r),
            [
                "vip-missing",
                "tunnel-down",
                "rp-filter",
                "arp-ignore",
                "arp-announce"
            ]
        );
        let mut s = MemStore::default();
        let (out, err) = run_apply(&mut h, &mut s, &["192.168.10.1"], Mode::Tun);
        assert_eq!(err, None, "{out}");
        assert!(
            out.contains("set net.ipv4.conf.all.rp_filter = 2 (was 1)"),
            "{out}"
        );
        assert!(
            out.contains("net.ipv4.conf.tunl0.rp_filter is already 0"),
            "{out}"
        );
        assert!(out.contains("brought tunl0 up"), "{out}");
        assert!(out.contains("added 192.168.10.1/32 to tunl0"), "{out}");
        assert!(h.links[2].flags & IFF_UP != 0);
        run_undo(&mut h, &mut s, &[]);
        assert_eq!(snapshot(&h), before);
    }

    #[test]
    fn tun_without_the_module_stops() {
        let mut h = FakeHost::lan();
        let mut s = MemStore::default();
        let (_, err) = run_apply(&mut h, &mut s, &["192.168.10.1"], Mode::Tun);
        let err = err.unwrap();
        assert!(
            err.contains("tunl0 does not exist: load the ipip module first"),
            "{err}"
        );
        assert_eq!(h.modules, ["ipip"]);
        assert!(s.state.is_none());
    }

    #[test]
    fn state_from_another_namespace_is_refused() {
        let mut h = FakeHost::lan();
        let mut s = MemStore::default();
        run_apply(&mut h, &mut s, &["192.168.10.1"], Mode::Dr);
        h.netns = Some("net:[2]".into());
        let (_, err) = run_undo(&mut h, &mut s, &[]);
        let err = err.unwrap();
        assert!(
            err.contains("was written in network namespace net:[1]"),
            "{err}"
        );
    }

    #[test]
    fn state_text_round_trips_and_rejects_garbage() {
        let st = State {
            netns: Some("net:[4026531840]".into()),
            vips: vec![
                (ip("192.168.10.1"), Mode::Dr),
                (ip("2001:db8::10"), Mode::Tun),
            ],
            sysctls: vec![SysctlRecord {
                key: ipv4_conf("all", "arp_ignore"),
                before: 0,
                set: 1,
            }],
            addrs: vec![AddrRecord {
                iface: "lo".into(),
                addr: ip("192.168.10.1"),
                prefix_len: 32,
            }],
            links_up: vec!["tunl0".into()],
        };
        assert_eq!(State::parse(&st.to_text()).unwrap(), st);
        assert!(State::parse("vip nonsense dr\n")
            .unwrap_err()
            .0
            .contains("line 1"));
        assert!(State::parse("version 2\n").is_err());
        assert!(State::parse("addr lo 1.2.3.4\n").is_err());
    }

    #[test]
    fn modes_by_word_and_alias() {
        for (w, m) in [
            ("dr", Mode::Dr),
            ("DR", Mode::Dr),
            ("route", Mode::Dr),
            ("gatewaying", Mode::Dr),
            ("tun", Mode::Tun),
            ("TUN", Mode::Tun),
            ("ipip", Mode::Tun),
            ("tunnel", Mode::Tun),
        ] {
            assert_eq!(Mode::parse(w), Some(m), "{w}");
            assert_eq!(Mode::parse(m.word()), Some(m));
        }
        assert_eq!(Mode::parse("nat"), None);
    }
}
