//! An in-memory host for the unit tests of the host services
//! ([`super::check`], [`super::realserver`]): links, addresses, settings
//! and routes in plain collections, with every change logged in `calls`.
//! Test code only.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::route::{self, Address, HostNet, Link, Route, IFF_LOOPBACK, IFF_UP};

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
