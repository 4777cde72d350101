//! The route-netlink (`NETLINK_ROUTE`) messages the real-server and
//! director checks need: links (`RTM_GETLINK`, `RTM_NEWLINK` to bring one
//! up or down), addresses (`RTM_GETADDR`, `RTM_NEWADDR`, `RTM_DELADDR`) and
//! one route lookup (`RTM_GETROUTE` for a single destination).
//!
//! Like the IPVS encoding next door, this is our own: the messages are a
//! fixed header (`ifinfomsg`, `ifaddrmsg` or `rtmsg`) followed by
//! attributes, built with [`MessageBuilder`] and read with
//! [`attrs`](super::netlink::attrs). Nothing here does I/O; decoders take
//! untrusted kernel bytes, never panic, and ignore attributes they do not
//! use.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use thiserror::Error;

use self::builder::{attrs, MessageBuilder};
use super::netlink::{EncodeError, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST};

/// Message type: a link (reply to [`RTM_GETLINK`], or a request to change one).
pub const RTM_NEWLINK: u16 = 16;
/// Message type: ask for links.
pub const RTM_GETLINK: u16 = 18;
/// Message type: an address (reply, or a request to add one).
pub const RTM_NEWADDR: u16 = 20;
/// Message type: delete an address.
pub const RTM_DELADDR: u16 = 21;
/// Message type: ask for addresses.
pub const RTM_GETADDR: u16 = 22;
/// Message type: a route (reply to [`RTM_GETROUTE`]).
pub const RTM_NEWROUTE: u16 = 24;
/// Message type: look up a route.
pub const RTM_GETROUTE: u16 = 26;

/// Request flag: create the object if it does not exist.
pub const NLM_F_CREATE: u16 = 0x400;
/// Request flag: fail if the object already exists.
pub const NLM_F_EXCL: u16 = 0x200;

/// Size of `struct ifinfomsg`.
pub const IFINFOMSG_LEN: usize = 16;
/// Size of `struct ifaddrmsg`.
pub const IFADDRMSG_LEN: usize = 8;
/// Size of `struct rtmsg`.
pub const RTMSG_LEN: usize = 12;

/// Link attribute: hardware address.
pub const IFLA_ADDRESS: u16 = 1;
/// Link attribute: interface name.
pub const IFLA_IFNAME: u16 = 3;
/// Link attribute: MTU.
pub const IFLA_MTU: u16 = 4;
/// Link attribute: nest with the link kind.
pub const IFLA_LINKINFO: u16 = 18;
/// Attribute inside [`IFLA_LINKINFO`]: the kind (`veth`, `bridge`, `ipip`).
pub const IFLA_INFO_KIND: u16 = 1;

/// Address attribute: the address (the peer on point-to-point links).
pub const IFA_ADDRESS: u16 = 1;
/// Address attribute: the local address.
pub const IFA_LOCAL: u16 = 2;
/// Address attribute: the label (IPv4).
pub const IFA_LABEL: u16 = 3;
/// Address attribute: 32-bit flags (the `ifa_flags` byte only holds 8).
pub const IFA_FLAGS: u16 = 8;

/// Route attribute: destination.
pub const RTA_DST: u16 = 1;
/// Route attribute: output interface index.
pub const RTA_OIF: u16 = 4;
/// Route attribute: gateway.
pub const RTA_GATEWAY: u16 = 5;
/// Route attribute: preferred source address.
pub const RTA_PREFSRC: u16 = 7;

/// Interface flag: administratively up.
pub const IFF_UP: u32 = 0x1;
/// Interface flag: loopback.
pub const IFF_LOOPBACK: u32 = 0x8;
/// Interface flag: point-to-point.
pub const IFF_POINTOPOINT: u32 = 0x10;
/// Interface flag: no ARP on this link.
pub const IFF_NOARP: u32 = 0x80;
/// Interface flag: the carrier is on (operationally up).
pub const IFF_LOWER_UP: u32 = 0x10000;

/// Route type: a normal route.
pub const RTN_UNICAST: u8 = 1;
/// Route type: the destination is a local address.
pub const RTN_LOCAL: u8 = 2;

/// A route-netlink reply could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RtnlDecodeError {
    /// The fixed header is shorter than its struct.
    #[error("{what} too short ({len} bytes, need {need})")]
    ShortHeader {
        /// Which header.
        what: &'static str,
        /// Bytes present.
        len: usize,
        /// Bytes needed.
        need: usize,
    },
    /// A required attribute is absent.
    #[error("{what} without {attr}")]
    Missing {
        /// Which message.
        what: &'static str,
        /// Which attribute.
        attr: &'static str,
    },
    /// An address attribute whose length fits neither IPv4 nor IPv6, or a
    /// family this module does not handle.
    #[error("{what}: unusable address (family {family}, {len} bytes)")]
    BadAddress {
        /// Which message.
        what: &'static str,
        /// The `AF_*` family of the message.
        family: u8,
        /// Attribute length.
        len: usize,
    },
}

fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    let s: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_ne_bytes(s))
}

fn family_of(addr: &IpAddr) -> u8 {
    match addr {
        IpAddr::V4(_) => libc::AF_INET as u8,
        IpAddr::V6(_) => libc::AF_INET6 as u8,
    }
}

fn addr_bytes(addr: &IpAddr) -> Vec<u8> {
    match addr {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// Reads an address attribute of the message's family.
fn parse_addr(what: &'static str, family: u8, payload: &[u8]) -> Result<IpAddr, RtnlDecodeError> {
    let bad = RtnlDecodeError::BadAddress {
        what,
        family,
        len: payload.len(),
    };
    match i32::from(family) {
        libc::AF_INET => <[u8; 4]>::try_from(payload)
            .map(|o| IpAddr::V4(Ipv4Addr::from(o)))
            .map_err(|_| bad),
        libc::AF_INET6 => <[u8; 16]>::try_from(payload)
            .map(|o| IpAddr::V6(Ipv6Addr::from(o)))
            .map_err(|_| bad),
        _ => Err(bad),
    }
}

/// The fixed part of a link message.
fn put_ifinfomsg(b: &mut MessageBuilder<'_>, index: i32, flags: u32, change: u32) {
    let mut h = [0u8; IFINFOMSG_LEN];
    // family (AF_UNSPEC), pad, type (0): already zero.
    h[4..8].copy_from_slice(&index.to_ne_bytes());
    h[8..12].copy_from_slice(&flags.to_ne_bytes());
    h[12..16].copy_from_slice(&change.to_ne_bytes());
    b.put_raw(&h);
}

/// Appends a dump request for every link.
pub fn encode_get_links(buf: &mut Vec<u8>, seq: u32) -> Result<usize, EncodeError> {
    let mut b = MessageBuilder::new(buf, RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, seq, 0);
    put_ifinfomsg(&mut b, 0, 0, 0);
    b.finish()
}

/// Appends a request that sets or clears `IFF_UP` on link `index` (what
/// `ip link set DEV up|down` sends), acknowledged.
pub fn encode_set_link_up(
    buf: &mut Vec<u8>,
    seq: u32,
    index: u32,
    up: bool,
) -> Result<usize, EncodeError> {
    let mut b = MessageBuilder::new(buf, RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq, 0);
    let index = i32::try_from(index).unwrap_or(i32::MAX);
    put_ifinfomsg(&mut b, index, if up { IFF_UP } else { 0 }, IFF_UP);
    b.finish()
}

/// A network interface, as `RTM_NEWLINK` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Interface index.
    pub index: u32,
    /// Name (`eth0`).
    pub name: String,
    /// `IFF_*` flags.
    pub flags: u32,
    /// ARP hardware type (`ARPHRD_*`: 1 Ethernet, 772 loopback, 768 IPIP).
    pub link_type: u16,
    /// Hardware address, if the link has one.
    pub hwaddr: Vec<u8>,
    /// The kind from `IFLA_LINKINFO` (`veth`, `bridge`, `ipip`), if given.
    pub kind: Option<String>,
}

impl Link {
    /// Administratively up.
    pub fn is_up(&self) -> bool {
        self.flags & IFF_UP != 0
    }

    /// The loopback interface.
    pub fn is_loopback(&self) -> bool {
        self.flags & IFF_LOOPBACK != 0
    }

    /// A link that speaks ARP: neither loopback nor flagged `NOARP`. These
    /// are the interfaces on which a host can answer ARP for an address.
    pub fn uses_arp(&self) -> bool {
        self.flags & (IFF_LOOPBACK | IFF_NOARP) == 0
    }
}

/// Decodes the payload (after `nlmsghdr`) of an `RTM_NEWLINK` message.
pub fn decode_link(payload: &[u8]) -> Result<Link, RtnlDecodeError> {
    let what = "ifinfomsg";
    let (Some(header), Some(rest)) = (payload.get(..IFINFOMSG_LEN), payload.get(IFINFOMSG_LEN..))
    else {
        return Err(RtnlDecodeError::ShortHeader {
            what,
            len: payload.len(),
            need: IFINFOMSG_LEN,
        });
    };
    let link_type = u16::from_ne_bytes([
        header.get(2).copied().unwrap_or(0),
        header.get(3).copied().unwrap_or(0),
    ]);
    let index = read_u32(header, 4).unwrap_or(0);
    let flags = read_u32(header, 8).unwrap_or(0);
    let mut name = None;
    let mut hwaddr = Vec::new();
    let mut kind = None;
    for a in attrs(rest) {
        match a.kind() {
            IFLA_IFNAME => name = Some(a.get_string()),
            IFLA_ADDRESS => hwaddr = a.payload().to_vec(),
            IFLA_LINKINFO => {
                kind = a
                    .nested()
                    .find(|n| n.kind() == IFLA_INFO_KIND)
                    .map(|n| n.get_string())
            }
            _ => {}
        }
    }
    Ok(Link {
        index,
        name: name.ok_or(RtnlDecodeError::Missing {
            what: "link",
            attr: "IFLA_IFNAME",
        })?,
        flags,
        link_type,
        hwaddr,
        kind,
    })
}

/// An address of an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// Interface index.
    pub index: u32,
    /// Prefix length.
    pub prefix_len: u8,
    /// Scope (`RT_SCOPE_*`: 0 universe, 253 link, 254 host).
    pub scope: u8,
    /// The local address (`IFA_LOCAL`, or `IFA_ADDRESS` where there is
    /// none, as for IPv6).
    pub local: IpAddr,
    /// `IFA_ADDRESS`: equal to `local` except on point-to-point links,
    /// where it is the peer. The connected subnet is this address with
    /// `prefix_len`.
    pub address: IpAddr,
    /// Label (IPv4), e.g. `eth0:1`.
    pub label: Option<String>,
    /// `IFA_F_*` flags (the 32-bit attribute when present).
    pub flags: u32,
}

impl Address {
    /// True if `ip` lies in this address's connected subnet.
    pub fn subnet_contains(&self, ip: &IpAddr) -> bool {
        prefix_contains(&self.address, self.prefix_len, ip)
    }
}

/// True if `ip` is in `net/prefix_len` (false across families).
pub fn prefix_contains(net: &IpAddr, prefix_len: u8, ip: &IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let bits = u32::from(prefix_len.min(32));
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            u32::from(*n) & mask == u32::from(*a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let bits = u32::from(prefix_len.min(128));
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            u128::from(*n) & mask == u128::from(*a) & mask
        }
        _ => false,
    }
}

/// Appends a dump request for every address of `family` (`AF_UNSPEC` for
/// both IPv4 and IPv6).
pub fn encode_get_addrs(buf: &mut Vec<u8>, seq: u32, family: u8) -> Result<usize, EncodeError> {
    let mut b = MessageBuilder::new(buf, RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, seq, 0);
    b.put_raw(&[family, 0, 0, 0, 0, 0, 0, 0]);
    b.finish()
}

fn put_ifaddrmsg(b: &mut MessageBuilder<'_>, family: u8, prefix_len: u8, scope: u8, index: u32) {
    let mut h = [0u8; IFADDRMSG_LEN];
    h[0] = family;
    h[1] = prefix_len;
    h[3] = scope;
    h[4..8].copy_from_slice(&index.to_ne_bytes());
    b.put_raw(&h);
}

/// Appends a request that adds `addr/prefix_len` to link `index` with
/// global scope (as `ip addr add` does for a non-loopback address); it
/// fails with `EEXIST` if the address is already there.
pub fn encode_add_addr(
    buf: &mut Vec<u8>,
    seq: u32,
    index: u32,
    addr: &IpAddr,
    prefix_len: u8,
) -> Result<usize, EncodeError> {
    let mut b = MessageBuilder::new(
        buf,
        RTM_NEWADDR,
        NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        seq,
        0,
    );
    put_ifaddrmsg(&mut b, family_of(addr), prefix_len, 0, index);
    let bytes = addr_bytes(addr);
    b.put(IFA_LOCAL, &bytes).put(IFA_ADDRESS, &bytes);
    b.finish()
}

/// Appends a request that deletes `addr/prefix_len` from link `index`.
pub fn encode_del_addr(
    buf: &mut Vec<u8>,
    seq: u32,
    index: u32,
    addr: &IpAddr,
    prefix_len: u8,
) -> Result<usize, EncodeError> {
    let mut b = MessageBuilder::new(buf, RTM_DELADDR, NLM_F_REQUEST | NLM_F_ACK, seq, 0);
    put_ifaddrmsg(&mut b, family_of(addr), prefix_len, 0, index);
    let bytes = addr_bytes(addr);
    b.put(IFA_LOCAL, &bytes).put(IFA_ADDRESS, &bytes);
    b.finish()
}

/// Decodes the payload of an `RTM_NEWADDR` message. Families other than
/// IPv4 and IPv6 are an error (the caller asked for those only).
pub fn decode_addr(payload: &[u8]) -> Result<Address, RtnlDecodeError> {
    let what = "ifaddrmsg";
    let (Some(h), Some(rest)) = (payload.get(..IFADDRMSG_LEN), payload.get(IFADDRMSG_LEN..)) else {
        return Err(RtnlDecodeError::ShortHeader {
            what,
            len: payload.len(),
            need: IFADDRMSG_LEN,
        });
    };
    let family = h.first().copied().unwrap_or(0);
    let prefix_len = h.get(1).copied().unwrap_or(0);
    let mut flags = u32::from(h.get(2).copied().unwrap_or(0));
    let scope = h.get(3).copied().unwrap_or(0);
    let index = read_u32(h, 4).unwrap_or(0);
    let mut local = None;
    let mut address = None;
    let mut label = None;
    for a in attrs(rest) {
        match a.kind() {
            IFA_LOCAL => local = Some(parse_addr("address", family, a.payload())?),
            IFA_ADDRESS => address = Some(parse_addr("address", family, a.payload())?),
            IFA_LABEL => label = Some(a.get_string()),
            IFA_FLAGS => flags = a.get_u32().unwrap_or(flags),
            _ => {}
        }
    }
    let (local, address) = match (local, address) {
        (Some(l), Some(a)) => (l, a),
        (Some(l), None) => (l, l),
        (None, Some(a)) => (a, a),
        (None, None) => {
            return Err(RtnlDecodeError::Missing {
                what: "address",
                attr: "IFA_ADDRESS",
            })
        }
    };
    Ok(Address {
        index,
        prefix_len,
        scope,
        local,
        address,
        label,
        flags,
    })
}

/// Appends a lookup of the route the kernel would use to reach `dst` (what
/// `ip route get DST` sends, plus `NLM_F_ACK` so that every request ends
/// the same way).
pub fn encode_get_route(buf: &mut Vec<u8>, seq: u32, dst: &IpAddr) -> Result<usize, EncodeError> {
    let mut b = MessageBuilder::new(buf, RTM_GETROUTE, NLM_F_REQUEST | NLM_F_ACK, seq, 0);
    let mut h = [0u8; RTMSG_LEN];
    h[0] = family_of(dst);
    h[1] = match dst {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    };
    b.put_raw(&h);
    b.put(RTA_DST, &addr_bytes(dst));
    b.finish()
}

/// The answer to a route lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Route type (`RTN_UNICAST`, `RTN_LOCAL`, ...).
    pub route_type: u8,
    /// Output interface.
    pub oif: Option<u32>,
    /// Next hop, if the destination is not directly connected.
    pub gateway: Option<IpAddr>,
    /// Source address the kernel would pick.
    pub prefsrc: Option<IpAddr>,
}

/// Decodes the payload of the `RTM_NEWROUTE` answering a lookup.
pub fn decode_route(payload: &[u8]) -> Result<Route, RtnlDecodeError> {
    let what = "rtmsg";
    let (Some(h), Some(rest)) = (payload.get(..RTMSG_LEN), payload.get(RTMSG_LEN..)) else {
        return Err(RtnlDecodeError::ShortHeader {
            what,
            len: payload.len(),
            need: RTMSG_LEN,
        });
    };
    let family = h.first().copied().unwrap_or(0);
    let route_type = h.get(7).copied().unwrap_or(0);
    let mut r = Route {
        route_type,
        oif: None,
        gateway: None,
        prefsrc: None,
    };
    for a in attrs(rest) {
        match a.kind() {
            RTA_OIF => r.oif = a.get_u32(),
            RTA_GATEWAY => r.gateway = Some(parse_addr("route", family, a.payload())?),
            RTA_PREFSRC => r.prefsrc = Some(parse_addr("route", family, a.payload())?),
            _ => {}
        }
    }
    Ok(r)
}

/// Appends an `RTM_NEWLINK` message as the kernel reports a link (for
/// fakes and tests).
pub fn encode_link_reply(
    buf: &mut Vec<u8>,
    seq: u32,
    flags: u16,
    link: &Link,
) -> Result<usize, EncodeError> {
    let mut b = MessageBuilder::new(buf, RTM_NEWLINK, flags, seq, 0);
    let mut h = [0u8; IFINFOMSG_LEN];
    h[2..4].copy_from_slice(&link.link_type.to_ne_bytes());
    h[4..8].copy_from_slice(&link.index.to_ne_bytes());
    h[8..12].copy_from_slice(&link.flags.to_ne_bytes());
    b.put_raw(&h);
    b.put_str(IFLA_IFNAME, &link.name);
    if !link.hwaddr.is_empty() {
        b.put(IFLA_ADDRESS, &link.hwaddr);
    }
    if let Some(k) = &link.kind {
        let n = b.begin_nest(IFLA_LINKINFO);
        b.put_str(IFLA_INFO_KIND, k);
        b.end_nest(n);
    }
    b.finish()
}

/// Appends an `RTM_NEWADDR` message as the kernel reports an address (for
/// fakes and tests).
pub fn encode_addr_reply(
    buf: &mut Vec<u8>,
    seq: u32,
    flags: u16,
    a: &Address,
) -> Result<usize, EncodeError> {
    let mut b = MessageBuilder::new(buf, RTM_NEWADDR, flags, seq, 0);
    put_ifaddrmsg(&mut b, family_of(&a.local), a.prefix_len, a.scope, a.index);
    b.put(IFA_ADDRESS, &addr_bytes(&a.address));
    if a.local.is_ipv4() {
        b.put(IFA_LOCAL, &addr_bytes(&a.local));
    }
    if let Some(l) = &a.label {
        b.put_str(IFA_LABEL, l);
    }
    b.put_u32(IFA_FLAGS, a.flags);
    b.finish()
}

/// Interim: the hand-written builder, until rtnetlink moves onto
/// `netlink-packet-route`.
#[allow(dead_code)]
pub(crate) mod builder {
    use crate::wire::netlink::{align, EncodeError, NlHeader, NLA_F_NESTED};
    const NLMSG_HDRLEN: usize = 16;
    const NLA_HDRLEN: usize = 4;
    const NLA_TYPE_MASK: u16 = 0x3fff;

    fn read_u16(b: &[u8], at: usize) -> Option<u16> {
        let s: [u8; 2] = b.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(u16::from_ne_bytes(s))
    }

    fn read_u32(b: &[u8], at: usize) -> Option<u32> {
        let s: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(u32::from_ne_bytes(s))
    }

    fn read_u64(b: &[u8], at: usize) -> Option<u64> {
        let s: [u8; 8] = b.get(at..at.checked_add(8)?)?.try_into().ok()?;
        Some(u64::from_ne_bytes(s))
    }
    /// An open nest in a [`MessageBuilder`], closed by
    /// [`MessageBuilder::end_nest`].
    #[derive(Debug)]
    #[must_use = "a nest must be closed with end_nest"]
    pub struct Nest {
        offset: usize,
    }

    /// Appends one netlink message to a buffer: the header first, then a
    /// generic-netlink header and attributes. Lengths (message and nests) are
    /// kept up to date as the message grows; [`MessageBuilder::finish`] reports
    /// whether some length did not fit.
    #[derive(Debug)]
    pub struct MessageBuilder<'a> {
        buf: &'a mut Vec<u8>,
        start: usize,
        error: Option<EncodeError>,
    }

    impl<'a> MessageBuilder<'a> {
        /// Starts a message at the end of `buf`.
        pub fn new(
            buf: &'a mut Vec<u8>,
            msg_type: u16,
            flags: u16,
            seq: u32,
            pid: u32,
        ) -> MessageBuilder<'a> {
            let start = buf.len();
            NlHeader {
                len: NLMSG_HDRLEN as u32,
                msg_type,
                flags,
                seq,
                pid,
            }
            .write(buf);
            MessageBuilder {
                buf,
                start,
                error: None,
            }
        }

        /// Starts a generic-netlink message: `nlmsghdr` then `genlmsghdr`
        /// (`cmd`, `version`, reserved 0).
        pub fn genl(
            buf: &'a mut Vec<u8>,
            family: u16,
            flags: u16,
            seq: u32,
            pid: u32,
            cmd: u8,
            version: u8,
        ) -> MessageBuilder<'a> {
            let mut b = MessageBuilder::new(buf, family, flags, seq, pid);
            b.put_raw(&[cmd, version, 0, 0]);
            b
        }

        fn set_error(&mut self, e: EncodeError) {
            if self.error.is_none() {
                self.error = Some(e);
            }
        }

        fn patch_len(&mut self) {
            let len = self.buf.len().saturating_sub(self.start);
            match u32::try_from(len) {
                Ok(v) => {
                    if let Some(s) = self.buf.get_mut(self.start..self.start + 4) {
                        s.copy_from_slice(&v.to_ne_bytes());
                    }
                }
                Err(_) => self.set_error(EncodeError::MessageTooLong { len }),
            }
        }

        /// Appends raw bytes (padded to 4) to the message body.
        pub fn put_raw(&mut self, bytes: &[u8]) -> &mut Self {
            self.buf.extend_from_slice(bytes);
            self.pad();
            self.patch_len();
            self
        }

        fn pad(&mut self) {
            let rel = self.buf.len().saturating_sub(self.start);
            let padded = align(rel);
            self.buf.resize(self.start + padded, 0);
        }

        /// Appends an attribute (header, payload, padding).
        pub fn put(&mut self, kind: u16, payload: &[u8]) -> &mut Self {
            let len = NLA_HDRLEN + payload.len();
            let len16 = match u16::try_from(len) {
                Ok(v) => v,
                Err(_) => {
                    self.set_error(EncodeError::AttributeTooLong { len });
                    return self;
                }
            };
            self.buf.extend_from_slice(&len16.to_ne_bytes());
            self.buf.extend_from_slice(&kind.to_ne_bytes());
            self.put_raw(payload)
        }

        /// Appends a u8 attribute.
        pub fn put_u8(&mut self, kind: u16, v: u8) -> &mut Self {
            self.put(kind, &[v])
        }

        /// Appends a native-endian u16 attribute.
        pub fn put_u16(&mut self, kind: u16, v: u16) -> &mut Self {
            self.put(kind, &v.to_ne_bytes())
        }

        /// Appends a network-order u16 attribute (ports).
        pub fn put_be16(&mut self, kind: u16, v: u16) -> &mut Self {
            self.put(kind, &v.to_be_bytes())
        }

        /// Appends a native-endian u32 attribute.
        pub fn put_u32(&mut self, kind: u16, v: u32) -> &mut Self {
            self.put(kind, &v.to_ne_bytes())
        }

        /// Appends a native-endian u64 attribute.
        pub fn put_u64(&mut self, kind: u16, v: u64) -> &mut Self {
            self.put(kind, &v.to_ne_bytes())
        }

        /// Appends a NUL-terminated string attribute.
        pub fn put_str(&mut self, kind: u16, s: &str) -> &mut Self {
            let mut v = Vec::with_capacity(s.len() + 1);
            v.extend_from_slice(s.as_bytes());
            v.push(0);
            self.put(kind, &v)
        }

        /// Opens a nest; its type carries `NLA_F_NESTED` as libnl 3.7 sets it.
        pub fn begin_nest(&mut self, kind: u16) -> Nest {
            let offset = self.buf.len();
            self.buf
                .extend_from_slice(&(NLA_HDRLEN as u16).to_ne_bytes());
            self.buf
                .extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
            self.patch_len();
            Nest { offset }
        }

        /// Closes a nest, writing its final length.
        pub fn end_nest(&mut self, nest: Nest) -> &mut Self {
            let len = self.buf.len().saturating_sub(nest.offset);
            match u16::try_from(len) {
                Ok(v) => {
                    if let Some(s) = self.buf.get_mut(nest.offset..nest.offset + 2) {
                        s.copy_from_slice(&v.to_ne_bytes());
                    }
                }
                Err(_) => self.set_error(EncodeError::AttributeTooLong { len }),
            }
            self
        }

        /// Ends the message and returns its length. On error the partial
        /// message is removed from the buffer.
        pub fn finish(self) -> Result<usize, EncodeError> {
            match self.error {
                Some(e) => {
                    self.buf.truncate(self.start);
                    Err(e)
                }
                None => Ok(self.buf.len().saturating_sub(self.start)),
            }
        }
    }

    /// One attribute.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Attr<'a> {
        raw_type: u16,
        payload: &'a [u8],
    }

    impl<'a> Attr<'a> {
        /// The attribute type without the nested / byte-order flags.
        pub fn kind(&self) -> u16 {
            self.raw_type & NLA_TYPE_MASK
        }

        /// The type as sent, flags included.
        pub fn raw_type(&self) -> u16 {
            self.raw_type
        }

        /// True if the sender flagged the payload as a nest.
        pub fn is_nested(&self) -> bool {
            self.raw_type & NLA_F_NESTED != 0
        }

        /// The payload without padding.
        pub fn payload(&self) -> &'a [u8] {
            self.payload
        }

        /// The first byte.
        pub fn get_u8(&self) -> Option<u8> {
            self.payload.first().copied()
        }

        /// The first two bytes, native-endian.
        pub fn get_u16(&self) -> Option<u16> {
            read_u16(self.payload, 0)
        }

        /// The first two bytes, network order.
        pub fn get_be16(&self) -> Option<u16> {
            self.get_u16().map(u16::from_be)
        }

        /// The first four bytes, native-endian.
        pub fn get_u32(&self) -> Option<u32> {
            read_u32(self.payload, 0)
        }

        /// The first eight bytes, native-endian.
        pub fn get_u64(&self) -> Option<u64> {
            read_u64(self.payload, 0)
        }

        /// The payload up to the first NUL, decoded as UTF-8 (invalid
        /// sequences replaced).
        pub fn get_string(&self) -> String {
            let end = self
                .payload
                .iter()
                .position(|&b| b == 0)
                .unwrap_or(self.payload.len());
            String::from_utf8_lossy(self.payload.get(..end).unwrap_or_default()).into_owned()
        }

        /// The attributes nested in the payload.
        pub fn nested(&self) -> Attrs<'a> {
            attrs(self.payload)
        }
    }

    /// Iterator over attributes; stops silently at a malformed tail (an
    /// attribute whose length is below 4 or beyond the data).
    #[derive(Debug, Clone)]
    pub struct Attrs<'a> {
        rest: &'a [u8],
    }

    /// Iterates over the attributes in `data`.
    pub fn attrs(data: &[u8]) -> Attrs<'_> {
        Attrs { rest: data }
    }

    impl<'a> Iterator for Attrs<'a> {
        type Item = Attr<'a>;

        fn next(&mut self) -> Option<Attr<'a>> {
            let len = read_u16(self.rest, 0)? as usize;
            let raw_type = read_u16(self.rest, 2)?;
            if len < NLA_HDRLEN || len > self.rest.len() {
                self.rest = &[];
                return None;
            }
            let payload = self.rest.get(NLA_HDRLEN..len)?;
            let advance = align(len).min(self.rest.len());
            self.rest = self.rest.get(advance..).unwrap_or_default();
            Some(Attr { raw_type, payload })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::netlink::{messages, Body, NlHeader};

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn add_addr_matches_iproute2_layout() {
        let mut buf = Vec::new();
        encode_add_addr(&mut buf, 7, 1, &v4("192.168.10.1"), 32).unwrap();
        let h = NlHeader::parse(&buf).unwrap();
        assert_eq!(h.msg_type, RTM_NEWADDR);
        assert_eq!(h.flags, 0x605); // REQUEST | ACK | EXCL | CREATE
        assert_eq!(h.seq, 7);
        assert_eq!(h.len as usize, buf.len());
        assert_eq!(
            &buf[16..],
            &[
                2, 32, 0, 0, 1, 0, 0, 0, // ifaddrmsg: AF_INET, /32, lo
                8, 0, 2, 0, 192, 168, 10, 1, // IFA_LOCAL
                8, 0, 1, 0, 192, 168, 10, 1, // IFA_ADDRESS
            ]
        );
    }

    #[test]
    fn del_addr_v6() {
        let mut buf = Vec::new();
        encode_del_addr(&mut buf, 1, 1, &v4("2001:db8::10"), 128).unwrap();
        let h = NlHeader::parse(&buf).unwrap();
        assert_eq!((h.msg_type, h.flags), (RTM_DELADDR, 5));
        assert_eq!(&buf[16..24], &[10, 128, 0, 0, 1, 0, 0, 0]);
        assert_eq!(buf.len(), 16 + 8 + 20 + 20);
    }

    #[test]
    fn link_up_request() {
        let mut buf = Vec::new();
        encode_set_link_up(&mut buf, 3, 5, true).unwrap();
        let h = NlHeader::parse(&buf).unwrap();
        assert_eq!((h.msg_type, h.flags, h.len), (RTM_NEWLINK, 5, 32));
        assert_eq!(
            &buf[16..],
            &[0, 0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]
        );
        buf.clear();
        encode_set_link_up(&mut buf, 3, 5, false).unwrap();
        assert_eq!(&buf[24..], &[0, 0, 0, 0, 1, 0, 0, 0]);
    }

    #[test]
    fn dumps_and_route_lookup() {
        let mut buf = Vec::new();
        encode_get_links(&mut buf, 1).unwrap();
        encode_get_addrs(&mut buf, 2, 0).unwrap();
        encode_get_route(&mut buf, 3, &v4("10.0.0.5")).unwrap();
        let m: Vec<_> = messages(&buf).map(|m| m.unwrap()).collect();
        assert_eq!(m.len(), 3);
        assert_eq!(
            (m[0].header.msg_type, m[0].header.flags, m[0].header.len),
            (RTM_GETLINK, 0x301, 32)
        );
        assert_eq!((m[1].header.msg_type, m[1].header.len), (RTM_GETADDR, 24));
        assert_eq!((m[2].header.msg_type, m[2].header.flags), (RTM_GETROUTE, 5));
        let Body::Data(p) = m[2].body else { panic!() };
        assert_eq!(
            p,
            &[2, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 1, 0, 10, 0, 0, 5]
        );
    }

    #[test]
    fn link_round_trip() {
        let link = Link {
            index: 2,
            name: "eth0".into(),
            flags: IFF_UP | IFF_LOWER_UP,
            link_type: 1,
            hwaddr: vec![2, 0, 0, 0, 0, 1],
            kind: Some("veth".into()),
        };
        let mut buf = Vec::new();
        encode_link_reply(&mut buf, 1, 2, &link).unwrap();
        let m = messages(&buf).next().unwrap().unwrap();
        let Body::Data(p) = m.body else { panic!() };
        let got = decode_link(p).unwrap();
        assert_eq!(got, link);
        assert!(got.is_up() && got.uses_arp() && !got.is_loopback());
        assert!(matches!(
            decode_link(&p[..10]),
            Err(RtnlDecodeError::ShortHeader { .. })
        ));
        assert!(matches!(
            decode_link(&p[..16]),
            Err(RtnlDecodeError::Missing { .. })
        ));
    }

    #[test]
    fn addr_round_trip_and_subnets() {
        let a = Address {
            index: 2,
            prefix_len: 24,
            scope: 0,
            local: v4("192.168.10.2"),
            address: v4("192.168.10.2"),
            label: Some("eth0".into()),
            flags: 0x80,
        };
        let mut buf = Vec::new();
        encode_addr_reply(&mut buf, 1, 2, &a).unwrap();
        let b6 = Address {
            index: 1,
            prefix_len: 128,
            scope: 0,
            local: v4("2001:db8::10"),
            address: v4("2001:db8::10"),
            label: None,
            flags: 0,
        };
        encode_addr_reply(&mut buf, 1, 2, &b6).unwrap();
        let got: Vec<Address> = messages(&buf)
            .map(|m| match m.unwrap().body {
                Body::Data(p) => decode_addr(p).unwrap(),
                _ => panic!(),
            })
            .collect();
        assert_eq!(got, vec![a.clone(), b6.clone()]);
        assert!(a.subnet_contains(&v4("192.168.10.200")));
        assert!(!a.subnet_contains(&v4("192.168.11.1")));
        assert!(!a.subnet_contains(&v4("2001:db8::1")));
        assert!(b6.subnet_contains(&v4("2001:db8::10")));
        assert!(!b6.subnet_contains(&v4("2001:db8::11")));
        assert!(prefix_contains(&v4("10.0.0.0"), 0, &v4("1.2.3.4")));
        assert!(prefix_contains(&v4("::"), 0, &v4("::1")));
    }

    #[test]
    fn addr_with_bad_length_is_an_error() {
        let mut p = vec![2, 32, 0, 0, 1, 0, 0, 0];
        p.extend_from_slice(&[7, 0, 1, 0, 1, 2, 3, 0]);
        assert!(matches!(
            decode_addr(&p),
            Err(RtnlDecodeError::BadAddress { len: 3, .. })
        ));
        assert!(matches!(
            decode_addr(&p[..8]),
            Err(RtnlDecodeError::Missing { .. })
        ));
    }

    #[test]
    fn route_reply() {
        let mut p = vec![2, 32, 0, 0, 254, 2, 0, RTN_UNICAST, 0, 0, 0, 0];
        p.extend_from_slice(&[8, 0, 5, 0, 10, 0, 0, 1]);
        p.extend_from_slice(&[8, 0, 4, 0, 3, 0, 0, 0]);
        p.extend_from_slice(&[8, 0, 7, 0, 10, 0, 0, 2]);
        let r = decode_route(&p).unwrap();
        assert_eq!(
            r,
            Route {
                route_type: RTN_UNICAST,
                oif: Some(3),
                gateway: Some(v4("10.0.0.1")),
                prefsrc: Some(v4("10.0.0.2")),
            }
        );
    }

    #[test]
    fn never_panics_on_garbage() {
        let mut buf = Vec::new();
        let a = Address {
            index: 2,
            prefix_len: 24,
            scope: 0,
            local: v4("192.168.10.2"),
            address: v4("192.168.10.3"),
            label: Some("eth0:1".into()),
            flags: 0,
        };
        encode_addr_reply(&mut buf, 1, 2, &a).unwrap();
        let p = buf[16..].to_vec();
        for cut in 0..=p.len() {
            let _ = decode_addr(&p[..cut]);
            let _ = decode_link(&p[..cut]);
            let _ = decode_route(&p[..cut]);
        }
        for i in 0..p.len() {
            for v in [0u8, 1, 4, 0x7f, 0xff] {
                let mut c = p.clone();
                c[i] = v;
                let _ = decode_addr(&c);
                let _ = decode_link(&c);
                let _ = decode_route(&c);
            }
        }
    }
}
