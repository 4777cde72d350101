//! `ipvsadm-rs check`: looks at a director's IPVS table and at the host
//! around it, and reports in plain words what would keep the services from
//! working.
//!
//! For every virtual service (fwmark services have no address to look for)
//! the virtual IP must be an address of this host, since IPVS only sees
//! packets addressed to the host itself. Every real server must be
//! reachable the way its forwarding method needs: direct routing only
//! rewrites the MAC address, so the real server must sit on a subnet
//! directly connected to one of the director's interfaces (judged from the
//! interfaces' address prefixes); tunnelling and NAT need a route. NAT
//! also needs IP forwarding for the replies, and ICMP redirects off, or
//! the director tells real servers to bypass it. Problems that break a
//! service are errors (exit status 1); doubtful settings are warnings.
//!
//! The report types here ([`Finding`], [`Report`]) are shared with
//! `realserver check`. `--json` prints the same findings for machines.

use std::ffi::OsString;
use std::io::Write;
use std::net::IpAddr;

use crate::client::Client;
use crate::model::{Dest, FwdMethod, Service, ServiceEntry, ServiceKey};
use crate::route::{self, HostNet, System};
use crate::route::{Address, Link};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// A check that passed (shown, so a reader sees what was looked at).
    Ok,
    /// Doubtful; the service may still work.
    Warning,
    /// The service cannot work as configured.
    Error,
}

impl Level {
    fn word(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warning => "warning",
            Level::Error => "error",
        }
    }
}

/// One result of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Severity.
    pub level: Level,
    /// A stable short name for machines (`vip-missing`).
    pub code: &'static str,
    /// What it is about (`TCP 192.168.10.1:80`); findings are grouped by it.
    pub subject: String,
    /// The finding and its consequence, in plain words.
    pub message: String,
}

/// The findings of one check run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// In the order found.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Adds a finding.
    pub fn push(
        &mut self,
        level: Level,
        code: &'static str,
        subject: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.findings.push(Finding {
            level,
            code,
            subject: subject.into(),
            message: message.into(),
        });
    }

    /// Number of findings at `level`.
    pub fn count(&self, level: Level) -> usize {
        self.findings.iter().filter(|f| f.level == level).count()
    }

    /// Exit status: 1 if anything is an error, else 0.
    pub fn status(&self) -> i32 {
        i32::from(self.count(Level::Error) > 0)
    }

    /// Plain text: findings grouped under their subject, then a count.
    pub fn write_text(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let mut subject: Option<&str> = None;
        for f in &self.findings {
            if subject != Some(f.subject.as_str()) {
                writeln!(out, "{}", f.subject)?;
                subject = Some(f.subject.as_str());
            }
            let tag = match f.level {
                Level::Ok => "ok     ",
                Level::Warning => "WARNING",
                Level::Error => "ERROR  ",
            };
            writeln!(out, "  {tag} {}", f.message)?;
        }
        let (e, w) = (self.count(Level::Error), self.count(Level::Warning));
        writeln!(
            out,
            "{e} error{}, {w} warning{}",
            if e == 1 { "" } else { "s" },
            if w == 1 { "" } else { "s" }
        )
    }

    /// One JSON object: counts and every finding.
    pub fn write_json(&self, out: &mut dyn Write) -> std::io::Result<()> {
        write!(
            out,
            "{{\"errors\":{},\"warnings\":{},\"findings\":[",
            self.count(Level::Error),
            self.count(Level::Warning)
        )?;
        for (i, f) in self.findings.iter().enumerate() {
            if i > 0 {
                write!(out, ",")?;
            }
            write!(
                out,
                "{{\"level\":{},\"code\":{},\"subject\":{},\"message\":{}}}",
                json_str(f.level.word()),
                json_str(f.code),
                json_str(&f.subject),
                json_str(&f.message)
            )?;
        }
        writeln!(out, "]}}")
    }
}

/// A JSON string literal.
pub fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if u32::from(c) < 0x20 => o.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// `addr:port`, IPv6 in brackets.
pub fn host_port(addr: &IpAddr, port: u16) -> String {
    match addr {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

/// A service as `-L` names it: `TCP 192.168.10.1:80`, `FWM 5`.
pub fn service_name(svc: &Service) -> String {
    match svc.key {
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => {
            let p = protocol
                .service_db_name()
                .map(str::to_uppercase)
                .unwrap_or_else(|| format!("proto {}", protocol.to_raw()));
            format!("{p} {}", host_port(&addr, port))
        }
        ServiceKey::Fwmark { family, mark } => match family {
            crate::model::Family::Inet6 => format!("FWM {mark} IPv6"),
            _ => format!("FWM {mark}"),
        },
    }
}

fn method_words(fwd: FwdMethod) -> &'static str {
    match fwd {
        FwdMethod::Route => "direct routing",
        FwdMethod::Tunnel => "tunnelling",
        FwdMethod::Masq => "NAT",
        FwdMethod::Local => "local",
        FwdMethod::Other(_) => "unknown method",
    }
}

fn link_name(links: &[Link], index: u32) -> String {
    links
        .iter()
        .find(|l| l.index == index)
        .map(|l| l.name.clone())
        .unwrap_or_else(|| format!("interface #{index}"))
}

/// The connected subnets of the host in the family of `like`, as
/// `net/len on iface`, without the loopback ones.
fn subnets(links: &[Link], addrs: &[Address], like: &IpAddr) -> Vec<String> {
    addrs
        .iter()
        .filter(|a| {
            a.address.is_ipv4() == like.is_ipv4()
                && links
                    .iter()
                    .find(|l| l.index == a.index)
                    .map_or(true, |l| !l.is_loopback())
        })
        .map(|a| {
            format!(
                "{}/{} on {}",
                network(&a.address, a.prefix_len),
                a.prefix_len,
                link_name(links, a.index)
            )
        })
        .collect()
}

/// The network address of `addr/len`.
pub fn network(addr: &IpAddr, len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(len.min(32));
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            IpAddr::V4((u32::from(*a) & mask).into())
        }
        IpAddr::V6(a) => {
            let bits = u32::from(len.min(128));
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            IpAddr::V6((u128::from(*a) & mask).into())
        }
    }
}

/// Checks the table `entries` against the host; the pure core of
/// `ipvsadm-rs check`.
pub fn check_director(host: &mut dyn HostNet, entries: &[ServiceEntry]) -> route::Result<Report> {
    let links = host.links()?;
    let addrs = host.addrs()?;
    let mut r = Report::default();
    let mut nat_v4 = false;
    let mut nat_v6 = false;
    let mut nat_oifs: Vec<u32> = Vec::new();
    if entries.is_empty() {
        r.push(
            Level::Warning,
            "no-services",
            "IPVS table",
            "there are no virtual services: this host balances nothing",
        );
    }
    for e in entries {
        let subject = service_name(&e.service);
        match e.service.key {
            ServiceKey::Fwmark { .. } => r.push(
                Level::Ok,
                "fwmark",
                &subject,
                "a firewall-mark service has no virtual IP to look for (the marking rules decide what reaches it)",
            ),
            ServiceKey::Addr { addr, .. } => {
                match addrs.iter().find(|a| a.local == addr) {
                    Some(a) => r.push(
                        Level::Ok,
                        "vip-local",
                        &subject,
                        format!("{addr} is an address of this host (on {})", link_name(&links, a.index)),
                    ),
                    None => r.push(
                        Level::Error,
                        "vip-missing",
                        &subject,
                        format!(
                            "{addr} is not an address of this host: IPVS only sees packets addressed to the host itself, so connections to {subject} are never balanced here"
                        ),
                    ),
                }
            }
        }
        if e.dests.is_empty() {
            r.push(
                Level::Warning,
                "no-real-servers",
                &subject,
                "no real servers: new connections are refused",
            );
        }
        for d in &e.dests {
            check_dest(host, &links, &addrs, &subject, d, &mut r, &mut nat_oifs);
            if d.fwd == FwdMethod::Masq {
                match d.addr {
                    IpAddr::V4(_) => nat_v4 = true,
                    IpAddr::V6(_) => nat_v6 = true,
                }
            }
        }
    }
    if nat_v4 {
        nat_settings_v4(host, &links, &nat_oifs, &mut r)?;
    }
    if nat_v6 && host.sysctl("net/ipv6/conf/all/forwarding")? == Some(0) {
        r.push(
            Level::Warning,
            "ip-forward",
            "NAT",
            "net.ipv6.conf.all.forwarding is 0: the real servers' replies, which come back through the director to be translated, are not forwarded to the clients",
        );
    }
    Ok(r)
}

fn check_dest(
    host: &mut dyn HostNet,
    links: &[Link],
    addrs: &[Address],
    service: &str,
    d: &Dest,
    r: &mut Report,
    nat_oifs: &mut Vec<u32>,
) {
    let subject = service.to_string();
    let who = format!(
        "-> {} ({})",
        host_port(&d.addr, d.port),
        method_words(d.fwd)
    );
    if addrs.iter().any(|a| a.local == d.addr) {
        r.push(
            Level::Ok,
            "dest-local",
            &subject,
            format!("{who}: an address of this host, served locally"),
        );
        return;
    }
    match d.fwd {
        FwdMethod::Route => {
            let on = addrs.iter().find(|a| {
                a.subnet_contains(&d.addr)
                    && links
                        .iter()
                        .find(|l| l.index == a.index)
                        .map_or(true, |l| !l.is_loopback())
            });
            match on {
                Some(a) => r.push(
                    Level::Ok,
                    "dr-connected",
                    &subject,
                    format!(
                        "{who}: on {}/{}, directly connected through {}",
                        network(&a.address, a.prefix_len),
                        a.prefix_len,
                        link_name(links, a.index)
                    ),
                ),
                None => {
                    let nets = subnets(links, addrs, &d.addr);
                    let nets = if nets.is_empty() {
                        "there are none".to_string()
                    } else {
                        nets.join(", ")
                    };
                    r.push(
                        Level::Error,
                        "dr-not-connected",
                        &subject,
                        format!(
                            "{who}: {} is not on a subnet of any interface here ({nets}): direct routing only rewrites the destination MAC address, so the director cannot deliver packets to it",
                            d.addr
                        ),
                    )
                }
            }
        }
        FwdMethod::Tunnel | FwdMethod::Masq => {
            let (ok_code, bad_code, need) = if d.fwd == FwdMethod::Tunnel {
                (
                    "tun-route",
                    "tun-unreachable",
                    "the director cannot send it the tunnelled packets",
                )
            } else {
                (
                    "nat-route",
                    "nat-unreachable",
                    "the director cannot forward the translated packets to it",
                )
            };
            match host.route_to(&d.addr) {
                Ok(route) => {
                    let via = match (route.oif, route.gateway) {
                        (Some(i), Some(g)) => format!("through {} via {g}", link_name(links, i)),
                        (Some(i), None) => format!("through {}", link_name(links, i)),
                        (None, Some(g)) => format!("via {g}"),
                        (None, None) => "by the routing table".to_string(),
                    };
                    if d.fwd == FwdMethod::Masq {
                        if let Some(i) = route.oif {
                            if !nat_oifs.contains(&i) {
                                nat_oifs.push(i);
                            }
                        }
                    }
                    r.push(
                        Level::Ok,
                        ok_code,
                        &subject,
                        format!("{who}: reachable {via}"),
                    )
                }
                Err(e) => r.push(
                    Level::Error,
                    bad_code,
                    &subject,
                    format!("{who}: no route to {} ({e}): {need}", d.addr),
                ),
            }
        }
        FwdMethod::Local | FwdMethod::Other(_) => r.push(
            Level::Ok,
            "dest-skipped",
            &subject,
            format!("{who}: nothing to check for this method"),
        ),
    }
}

fn nat_settings_v4(
    host: &mut dyn HostNet,
    links: &[Link],
    oifs: &[u32],
    r: &mut Report,
) -> route::Result<()> {
    let subject = "NAT";
    match host.sysctl("net/ipv4/ip_forward")? {
        Some(0) => r.push(
            Level::Warning,
            "ip-forward",
            subject,
            "net.ipv4.ip_forward is 0: the real servers' replies, which come back through the director to be translated, are not forwarded to the clients",
        ),
        Some(_) => r.push(
            Level::Ok,
            "ip-forward",
            subject,
            "net.ipv4.ip_forward is on: replies can be forwarded back to the clients",
        ),
        None => {}
    }
    let all = host
        .sysctl(&route::ipv4_conf("all", "send_redirects"))?
        .unwrap_or(0);
    let names: Vec<String> = if oifs.is_empty() {
        links
            .iter()
            .filter(|l| !l.is_loopback())
            .map(|l| l.name.clone())
            .collect()
    } else {
        oifs.iter().map(|i| link_name(links, *i)).collect()
    };
    let mut on = Vec::new();
    for name in &names {
        let dev = host
            .sysctl(&route::ipv4_conf(name, "send_redirects"))?
            .unwrap_or(0);
        // The kernel sends redirects if either setting is on.
        if all != 0 || dev != 0 {
            on.push(format!("{name} (all: {all}, {name}: {dev})"));
        }
    }
    if on.is_empty() {
        r.push(
            Level::Ok,
            "send-redirects",
            subject,
            "ICMP redirects are off toward the NAT real servers",
        );
    } else {
        r.push(
            Level::Warning,
            "send-redirects",
            subject,
            format!(
                "ICMP redirects are on for {} (net.ipv4.conf.*.send_redirects): when a real server's reply leaves through the interface it came in on, the director tells the real server to send straight to the client, and those replies then skip the translation back; set net.ipv4.conf.all.send_redirects and the interface's to 0",
                on.join(", ")
            ),
        );
    }
    Ok(())
}

const HELP: &str = "\
usage: ipvsadm-rs check [--json]

Checks this host as an IPVS director: for every virtual service, that its
virtual IP is an address of this host (firewall-mark services are skipped),
and that every real server is reachable as its forwarding method needs:
direct routing (-g) needs the real server on a subnet directly connected to
one of this host's interfaces, tunnelling (-i) and NAT (-m) need a route.
For NAT it warns when IP forwarding is off or ICMP redirects are on.

Exit status: 0 if nothing is wrong (warnings allowed), 1 if something is,
2 if the check could not run.

  --json    print the findings as one JSON object instead
";

/// `ipvsadm-rs check [--json]`.
pub fn run(prog: &str, args: &[OsString], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let mut json = false;
    for a in args {
        match a.to_string_lossy().as_ref() {
            "--json" => json = true,
            "-h" | "--help" => {
                let help = crate::commands::realserver::help_as(prog, HELP, "check");
                let _ = out.write_all(help.as_bytes());
                return 0;
            }
            other => {
                let _ = writeln!(
                    err,
                    "{prog} check: unexpected argument '{other}' (try {prog} check --help)"
                );
                return 2;
            }
        }
    }
    let entries = match read_table() {
        Ok(e) => e,
        Err(msg) => {
            let _ = writeln!(err, "{prog} check: cannot read the IPVS table: {msg}");
            return 2;
        }
    };
    let report = match System::open().and_then(|mut h| check_director(&mut h, &entries)) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(
                err,
                "{prog} check: cannot read this host's network setup: {e}"
            );
            return 2;
        }
    };
    let written = if json {
        report.write_json(out)
    } else {
        report.write_text(out)
    };
    match written.and_then(|()| out.flush()) {
        Ok(()) => report.status(),
        Err(e) => {
            let _ = writeln!(err, "write error: {e}");
            2
        }
    }
}

fn read_table() -> Result<Vec<ServiceEntry>, String> {
    let mut c = Client::open().map_err(|e| e.to_string())?;
    let services = c.services().map_err(|e| e.to_string())?;
    let mut entries = Vec::with_capacity(services.len());
    for service in services {
        let dests = c.dests(&service).map_err(|e| e.to_string())?;
        entries.push(ServiceEntry { service, dests });
    }
    crate::ipvsadm::print::sort_entries(&mut entries);
    Ok(entries)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::{Protocol, ServiceKey};
    use crate::route::{Route, IFF_LOOPBACK, IFF_UP};
    use std::collections::BTreeMap;

    /// An in-memory host for the checks and for `realserver`.
    #[derive(Debug, Default, Clone)]
    pub(crate) struct FakeHost {
        pub links: Vec<Link>,
        pub addrs: Vec<Address>,
        pub sysctls: BTreeMap<String, i64>,
        pub routes: Vec<(IpAddr, u8, Route)>,
        pub modules: Vec<String>,
        pub netns: Option<String>,
        pub calls: Vec<String>,
    }

    pub(crate) fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    pub(crate) fn link(index: u32, name: &str, flags: u32) -> Link {
        Link {
            index,
            name: name.into(),
            flags,
            link_type: 1,
            hwaddr: vec![2, 0, 0, 0, 0, index as u8],
            kind: None,
        }
    }

    pub(crate) fn addr(index: u32, a: &str, len: u8) -> Address {
        Address {
            index,
            prefix_len: len,
            scope: 0,
            local: ip(a),
            address: ip(a),
            label: None,
            flags: 0,
        }
    }

    impl FakeHost {
        /// lo and eth0 (192.168.10.2/24), every ARP setting 0.
        pub(crate) fn lan() -> FakeHost {
            let mut h = FakeHost {
                links: vec![
                    link(1, "lo", IFF_UP | IFF_LOOPBACK),
                    link(2, "eth0", IFF_UP),
                ],
                addrs: vec![addr(1, "127.0.0.1", 8), addr(2, "192.168.10.2", 24)],
                netns: Some("net:[1]".into()),
                ..FakeHost::default()
            };
            for i in ["all", "default", "lo", "eth0"] {
                for k in ["arp_ignore", "arp_announce", "rp_filter", "send_redirects"] {
                    h.sysctls.insert(route::ipv4_conf(i, k), 0);
                }
            }
            h.sysctls.insert("net/ipv4/ip_forward".into(), 0);
            h
        }
    }

    impl HostNet for FakeHost {
        fn links(&mut self) -> route::Result<Vec<Link>> {
            Ok(self.links.clone())
        }

        fn addrs(&mut self) -> route::Result<Vec<Address>> {
            Ok(self.addrs.clone())
        }

        fn add_addr(&mut self, index: u32, a: &IpAddr, len: u8) -> route::Result<()> {
            self.calls.push(format!("add {a}/{len} {index}"));
            if self.addrs.iter().any(|x| x.index == index && x.local == *a) {
                return Err(route::Error::Kernel {
                    errno: libc::EEXIST,
                });
            }
            self.addrs.push(Address {
                index,
                prefix_len: len,
                scope: 0,
                local: *a,
                address: *a,
                label: None,
                flags: 0,
            });
            Ok(())
        }

        fn del_addr(&mut self, index: u32, a: &IpAddr, len: u8) -> route::Result<()> {
            self.calls.push(format!("del {a}/{len} {index}"));
            let before = self.addrs.len();
            self.addrs
                .retain(|x| !(x.index == index && x.local == *a && x.prefix_len == len));
            if self.addrs.len() == before {
                return Err(route::Error::Kernel {
                    errno: libc::EADDRNOTAVAIL,
                });
            }
            Ok(())
        }

        fn set_link_up(&mut self, index: u32, up: bool) -> route::Result<()> {
            self.calls.push(format!("link {index} {up}"));
            for l in &mut self.links {
                if l.index == index {
                    if up {
                        l.flags |= IFF_UP;
                    } else {
                        l.flags &= !IFF_UP;
                    }
                }
            }
            Ok(())
        }

        fn route_to(&mut self, dst: &IpAddr) -> route::Result<Route> {
            self.routes
                .iter()
                .find(|(n, l, _)| route::prefix_contains(n, *l, dst))
                .map(|(_, _, r)| r.clone())
                .ok_or(route::Error::Kernel {
                    errno: libc::ENETUNREACH,
                })
        }

        fn sysctl(&mut self, key: &str) -> route::Result<Option<i64>> {
            Ok(self.sysctls.get(key).copied())
        }

        fn set_sysctl(&mut self, key: &str, value: i64) -> route::Result<()> {
            self.calls.push(format!("sysctl {key}={value}"));
            match self.sysctls.get_mut(key) {
                Some(v) => {
                    *v = value;
                    Ok(())
                }
                None => Err(route::Error::Sysctl {
                    key: key.into(),
                    source: std::io::Error::from(std::io::ErrorKind::NotFound),
                }),
            }
        }

        fn netns(&mut self) -> Option<String> {
            self.netns.clone()
        }

        fn load_module(&mut self, name: &str) -> bool {
            self.modules.push(name.into());
            false
        }
    }

    fn entry(vip: &str, dests: &[(&str, FwdMethod)]) -> ServiceEntry {
        let mut service = Service::new(ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: ip(vip),
            port: 80,
        });
        service.scheduler = "rr".into();
        ServiceEntry {
            service,
            dests: dests
                .iter()
                .map(|(a, m)| {
                    let mut d = Dest::new(ip(a), 80);
                    d.fwd = *m;
                    d
                })
                .collect(),
        }
    }

    fn codes(r: &Report, level: Level) -> Vec<&'static str> {
        r.findings
            .iter()
            .filter(|f| f.level == level)
            .map(|f| f.code)
            .collect()
    }

    #[test]
    fn good_dr_director_passes() {
        let mut h = FakeHost::lan();
        h.addrs.push(addr(2, "192.168.10.1", 32));
        let t = [entry(
            "192.168.10.1",
            &[
                ("192.168.10.11", FwdMethod::Route),
                ("192.168.10.12", FwdMethod::Route),
            ],
        )];
        let r = check_director(&mut h, &t).unwrap();
        assert_eq!(r.status(), 0, "{r:?}");
        assert_eq!(
            codes(&r, Level::Ok),
            ["vip-local", "dr-connected", "dr-connected"]
        );
        let mut text = Vec::new();
        r.write_text(&mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.starts_with("TCP 192.168.10.1:80\n  ok      192.168.10.1 is an address of this host (on eth0)\n"), "{text}");
        assert!(text.contains("-> 192.168.10.11:80 (direct routing): on 192.168.10.0/24, directly connected through eth0"), "{text}");
        assert!(text.ends_with("0 errors, 0 warnings\n"));
    }

    #[test]
    fn missing_vip_and_dr_server_elsewhere_are_errors() {
        let mut h = FakeHost::lan();
        h.addrs.push(addr(2, "fe80::1", 64));
        let t = [entry(
            "192.168.10.1",
            &[
                ("192.168.10.11", FwdMethod::Route),
                ("10.99.0.5", FwdMethod::Route),
            ],
        )];
        let r = check_director(&mut h, &t).unwrap();
        assert_eq!(r.status(), 1);
        assert_eq!(codes(&r, Level::Error), ["vip-missing", "dr-not-connected"]);
        let msg = &r
            .findings
            .iter()
            .find(|f| f.code == "dr-not-connected")
            .unwrap()
            .message;
        assert!(msg.contains("(192.168.10.0/24 on eth0)"), "{msg}");
        assert!(!msg.contains("127.0.0.0"), "{msg}");
    }

    #[test]
    fn fwmark_services_skip_the_vip_and_tunnels_need_a_route() {
        let mut h = FakeHost::lan();
        h.routes.push((
            ip("10.1.0.0"),
            16,
            Route {
                route_type: 1,
                oif: Some(2),
                gateway: Some(ip("192.168.10.254")),
                prefsrc: None,
            },
        ));
        let mut fw = entry(
            "1.1.1.1",
            &[
                ("10.1.2.3", FwdMethod::Tunnel),
                ("10.2.0.1", FwdMethod::Tunnel),
            ],
        );
        fw.service.key = ServiceKey::Fwmark {
            family: crate::model::Family::Inet,
            mark: 7,
        };
        let r = check_director(&mut h, &[fw]).unwrap();
        assert_eq!(codes(&r, Level::Ok), ["fwmark", "tun-route"]);
        assert_eq!(codes(&r, Level::Error), ["tun-unreachable"]);
        assert_eq!(r.findings[0].subject, "FWM 7");
        assert!(r.findings[1]
            .message
            .contains("reachable through eth0 via 192.168.10.254"));
    }

    #[test]
    fn nat_warns_about_forwarding_and_redirects() {
        let mut h = FakeHost::lan();
        h.addrs.push(addr(2, "192.168.10.1", 32));
        h.sysctls
            .insert(route::ipv4_conf("all", "send_redirects"), 1);
        h.routes.push((
            ip("192.168.10.0"),
            24,
            Route {
                route_type: 1,
                oif: Some(2),
                gateway: None,
                prefsrc: None,
            },
        ));
        let t = [entry("192.168.10.1", &[("192.168.10.11", FwdMethod::Masq)])];
        let r = check_director(&mut h, &t).unwrap();
        assert_eq!(r.status(), 0);
        assert_eq!(codes(&r, Level::Warning), ["ip-forward", "send-redirects"]);
        assert!(r
            .findings
            .iter()
            .any(|f| f.message.contains("eth0 (all: 1, eth0: 0)")));

        h.sysctls.insert("net/ipv4/ip_forward".into(), 1);
        h.sysctls
            .insert(route::ipv4_conf("all", "send_redirects"), 0);
        let r = check_director(&mut h, &t).unwrap();
        assert!(codes(&r, Level::Warning).is_empty(), "{r:?}");
    }

    #[test]
    fn json_is_escaped() {
        let mut r = Report::default();
        r.push(Level::Error, "x", "a \"b\"", "line\nnext\t\u{1}");
        let mut o = Vec::new();
        r.write_json(&mut o).unwrap();
        assert_eq!(
            String::from_utf8(o).unwrap(),
            "{\"errors\":1,\"warnings\":0,\"findings\":[{\"level\":\"error\",\"code\":\"x\",\"subject\":\"a \\\"b\\\"\",\"message\":\"line\\nnext\\t\\u0001\"}]}\n"
        );
    }

    #[test]
    fn names_and_networks() {
        assert_eq!(network(&ip("192.168.10.77"), 24), ip("192.168.10.0"));
        assert_eq!(network(&ip("2001:db8::1"), 64), ip("2001:db8::"));
        assert_eq!(network(&ip("10.1.2.3"), 0), ip("0.0.0.0"));
        assert_eq!(host_port(&ip("2001:db8::1"), 80), "[2001:db8::1]:80");
    }
}
