//! The director check behind `ipvsadm-rs check`: looks at an IPVS table
//! and at the host around it, and returns in plain words what would keep
//! the services from working, as a [`Report`] of findings.
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
//! service are errors; doubtful settings are warnings.
//!
//! The host is reached through [`HostNet`] only, the table is given by the
//! caller; nothing here prints, parses arguments or picks an exit status.

use std::net::IpAddr;

use crate::model::{Dest, FwdMethod, Service, ServiceEntry, ServiceKey};
use crate::route::{self, Address, HostNet, Link};
use crate::services::findings::{Level, Report};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Protocol;
    use crate::route::Route;
    use crate::services::testhost::{addr, ip, FakeHost};

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
        assert!(!r.has_errors(), "{r:?}");
        assert_eq!(
            codes(&r, Level::Ok),
            ["vip-local", "dr-connected", "dr-connected"]
        );
        assert_eq!(r.findings[0].subject, "TCP 192.168.10.1:80");
        assert_eq!(
            r.findings[0].message,
            "192.168.10.1 is an address of this host (on eth0)"
        );
        assert_eq!(
            r.findings[1].message,
            "-> 192.168.10.11:80 (direct routing): on 192.168.10.0/24, directly connected through eth0"
        );
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
        assert!(r.has_errors());
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
        assert!(!r.has_errors());
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
    fn names_and_networks() {
        assert_eq!(network(&ip("192.168.10.77"), 24), ip("192.168.10.0"));
        assert_eq!(network(&ip("2001:db8::1"), 64), ip("2001:db8::"));
        assert_eq!(network(&ip("10.1.2.3"), 0), ip("0.0.0.0"));
        assert_eq!(host_port(&ip("2001:db8::1"), 80), "[2001:db8::1]:80");
    }
}
