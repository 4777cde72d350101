//! The host's IP configuration, as `realserver` and `check` need it: links
//! and addresses through route-netlink, one route lookup, and the kernel
//! settings under `/proc/sys`.
//!
//! [`Rtnl`] is a small synchronous route-netlink client in the manner of
//! [`crate::client::Client`]: one `NETLINK_ROUTE` socket from
//! `netlink-sys`, every message built and parsed by `netlink-packet-route`
//! (links, addresses, routes), requests matched to their answers by
//! sequence number, and the socket behind the same [`Transport`] trait so
//! that tests can script the kernel. What the commands use of those
//! messages is kept in the small [`Link`], [`Address`] and [`Route`]
//! records below.
//!
//! [`HostNet`] is everything the commands above it read or change on a
//! host; [`System`] is the real one and tests use fakes. Nothing here
//! runs `ip` or `sysctl`.

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::path::PathBuf;

use netlink_packet_core::NetlinkDeserializable;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use crate::client::{kernel_socket, recv_datagram, send_datagram, Transport};
use crate::wire::netlink::{
    append, header, message, messages, Body, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use crate::wire::{DecodeError, EncodeError};

/// `IFF_UP`: administratively up.
pub const IFF_UP: u32 = LinkFlags::Up.bits();
/// `IFF_LOOPBACK`.
pub const IFF_LOOPBACK: u32 = LinkFlags::Loopback.bits();
/// `IFF_NOARP`.
pub const IFF_NOARP: u32 = LinkFlags::Noarp.bits();
/// `IFF_LOWER_UP`: the carrier is there.
pub const IFF_LOWER_UP: u32 = LinkFlags::LowerUp.bits();

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

    /// The record of a parsed link message; the name is required.
    fn from_message(m: LinkMessage) -> Result<Link, DecodeError> {
        let mut name = None;
        let mut hwaddr = Vec::new();
        let mut kind = None;
        for a in m.attributes {
            match a {
                LinkAttribute::IfName(n) => name = Some(n),
                LinkAttribute::Address(a) => hwaddr = a,
                LinkAttribute::LinkInfo(infos) => {
                    kind = infos.into_iter().find_map(|i| match i {
                        LinkInfo::Kind(k) => Some(k.to_string()),
                        _ => None,
                    })
                }
                _ => {}
            }
        }
        Ok(Link {
            index: m.header.index,
            name: name.ok_or(DecodeError::MissingAttribute {
                context: "link",
                attr: "IFLA_IFNAME",
            })?,
            flags: m.header.flags.bits(),
            link_type: m.header.link_layer_type.into(),
            hwaddr,
            kind,
        })
    }

    /// The message the kernel sends for this link (fakes and tests).
    pub fn to_message(&self) -> LinkMessage {
        let mut m = LinkMessage::default();
        m.header.index = self.index;
        m.header.flags = LinkFlags::from_bits_retain(self.flags);
        m.header.link_layer_type = self.link_type.into();
        m.attributes.push(LinkAttribute::IfName(self.name.clone()));
        if !self.hwaddr.is_empty() {
            m.attributes
                .push(LinkAttribute::Address(self.hwaddr.clone()));
        }
        if let Some(k) = &self.kind {
            let kind = match k.as_str() {
                "veth" => InfoKind::Veth,
                "bridge" => InfoKind::Bridge,
                "dummy" => InfoKind::Dummy,
                "ipip" => InfoKind::IpIp,
                other => InfoKind::Other(other.to_string()),
            };
            m.attributes
                .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(kind)]));
        }
        m
    }
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

    /// The record of a parsed address message; `IFA_LOCAL` or
    /// `IFA_ADDRESS` is required.
    fn from_message(m: AddressMessage) -> Result<Address, DecodeError> {
        let mut flags = u32::from(m.header.flags.bits());
        let (mut local, mut address, mut label) = (None, None, None);
        for a in m.attributes {
            match a {
                AddressAttribute::Local(v) => local = Some(v),
                AddressAttribute::Address(v) => address = Some(v),
                AddressAttribute::Label(v) => label = Some(v),
                AddressAttribute::Flags(f) => flags = f.bits(),
                _ => {}
            }
        }
        let (local, address) = match (local, address) {
            (Some(l), Some(a)) => (l, a),
            (Some(l), None) => (l, l),
            (None, Some(a)) => (a, a),
            (None, None) => {
                return Err(DecodeError::MissingAttribute {
                    context: "address",
                    attr: "IFA_ADDRESS",
                })
            }
        };
        Ok(Address {
            index: m.header.index,
            prefix_len: m.header.prefix_len,
            scope: m.header.scope.into(),
            local,
            address,
            label,
            flags,
        })
    }

    /// The message the kernel sends for this address (fakes and tests).
    pub fn to_message(&self) -> AddressMessage {
        let mut m = addr_message(self.index, &self.local, self.prefix_len);
        m.header.scope = self.scope.into();
        m.attributes.push(AddressAttribute::Address(self.address));
        if self.local.is_ipv4() {
            m.attributes.push(AddressAttribute::Local(self.local));
        }
        if let Some(l) = &self.label {
            m.attributes.push(AddressAttribute::Label(l.clone()));
        }
        m.attributes.push(AddressAttribute::Flags(
            netlink_packet_route::address::AddressFlags::from_bits_retain(self.flags),
        ));
        m
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

/// `RTN_UNICAST`: a route through a gateway or a directly connected one.
pub const RTN_UNICAST: u8 = 1;
/// `RTN_LOCAL`: the destination is an address of this host.
pub const RTN_LOCAL: u8 = 2;

fn route_ip(a: RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v) => Some(IpAddr::V4(v)),
        RouteAddress::Inet6(v) => Some(IpAddr::V6(v)),
        _ => None,
    }
}

impl Route {
    fn from_message(m: RouteMessage) -> Route {
        let mut r = Route {
            route_type: m.header.kind.into(),
            oif: None,
            gateway: None,
            prefsrc: None,
        };
        for a in m.attributes {
            match a {
                RouteAttribute::Oif(v) => r.oif = Some(v),
                RouteAttribute::Gateway(g) => r.gateway = route_ip(g),
                RouteAttribute::PrefSource(s) => r.prefsrc = route_ip(s),
                _ => {}
            }
        }
        r
    }
}

fn family_of(addr: &IpAddr) -> AddressFamily {
    match addr {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

/// An address message for `addr/prefix_len` on link `index`, without
/// attributes (global scope, as `ip addr add` uses for a non-loopback
/// address).
fn addr_message(index: u32, addr: &IpAddr, prefix_len: u8) -> AddressMessage {
    let mut m = AddressMessage::default();
    m.header.family = family_of(addr);
    m.header.prefix_len = prefix_len;
    m.header.index = index;
    m
}

/// The request adding (`add`) or deleting `addr/prefix_len` on link
/// `index`: the address as both `IFA_LOCAL` and `IFA_ADDRESS`, as
/// iproute2 sends it.
fn addr_change(index: u32, addr: &IpAddr, prefix_len: u8, add: bool) -> RouteNetlinkMessage {
    let mut m = addr_message(index, addr, prefix_len);
    m.attributes.push(AddressAttribute::Local(*addr));
    m.attributes.push(AddressAttribute::Address(*addr));
    if add {
        RouteNetlinkMessage::NewAddress(m)
    } else {
        RouteNetlinkMessage::DelAddress(m)
    }
}

/// The request setting or clearing `IFF_UP` on link `index` (what
/// `ip link set DEV up|down` sends).
fn link_up(index: u32, up: bool) -> RouteNetlinkMessage {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m.header.change_mask = LinkFlags::Up;
    if up {
        m.header.flags = LinkFlags::Up;
    }
    RouteNetlinkMessage::NewLink(m)
}

/// A lookup of the route the kernel would use to reach `dst` (what
/// `ip route get DST` sends).
fn route_get(dst: &IpAddr) -> RouteNetlinkMessage {
    let mut m = RouteMessage::default();
    m.header.address_family = family_of(dst);
    m.header.destination_prefix_length = match dst {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    };
    m.attributes
        .push(RouteAttribute::Destination(RouteAddress::from(*dst)));
    RouteNetlinkMessage::GetRoute(m)
}

/// Appends `m` to `buf` as one netlink message.
pub fn encode(
    buf: &mut Vec<u8>,
    m: RouteNetlinkMessage,
    flags: u16,
    seq: u32,
) -> Result<usize, EncodeError> {
    append(buf, message(m, flags, seq, 0))
}

/// Parses the payload of a data message of type `msg_type`.
pub fn decode(msg_type: u16, payload: &[u8]) -> Result<RouteNetlinkMessage, DecodeError> {
    let h = header(0, msg_type, 0, 0, 0);
    Ok(RouteNetlinkMessage::deserialize(&h, payload)?)
}

/// One link from the payload of an `RTM_NEWLINK` message.
pub fn decode_link(payload: &[u8]) -> Result<Link, DecodeError> {
    match decode(libc::RTM_NEWLINK, payload)? {
        RouteNetlinkMessage::NewLink(m) => Link::from_message(m),
        _ => Err(DecodeError::MissingReply("RTM_NEWLINK")),
    }
}

/// One address from the payload of an `RTM_NEWADDR` message; `None` for a
/// family other than IPv4 and IPv6.
pub fn decode_addr(payload: &[u8]) -> Result<Option<Address>, DecodeError> {
    match decode(libc::RTM_NEWADDR, payload)? {
        RouteNetlinkMessage::NewAddress(m)
            if matches!(m.header.family, AddressFamily::Inet | AddressFamily::Inet6) =>
        {
            Address::from_message(m).map(Some)
        }
        _ => Ok(None),
    }
}

/// The route from the payload of an `RTM_NEWROUTE` message.
pub fn decode_route(payload: &[u8]) -> Result<Route, DecodeError> {
    match decode(libc::RTM_NEWROUTE, payload)? {
        RouteNetlinkMessage::NewRoute(m) => Ok(Route::from_message(m)),
        _ => Err(DecodeError::MissingReply("RTM_NEWROUTE")),
    }
}

/// Receive buffer for one datagram. Route-netlink dumps of links set a
/// minimum part size from the largest link message, which can exceed a
/// page, so this stays well above it (the kernel caps parts at 32 KiB).
const RECV_BUF_SIZE: usize = 64 * 1024;

/// Errors of the host configuration layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kernel refused a request with this errno.
    #[error("{}", errno_text(*errno))]
    Kernel {
        /// The errno, positive.
        errno: i32,
    },
    /// A socket call failed.
    #[error("netlink I/O error: {0}")]
    Io(#[from] io::Error),
    /// The kernel's netlink framing could not be read.
    #[error("malformed netlink reply: {0}")]
    Frame(#[from] DecodeError),
    /// A request could not be encoded.
    #[error("cannot encode request: {0}")]
    Encode(#[from] EncodeError),
    /// A file under `/proc/sys` could not be read or written.
    #[error("{}: {source}", sysctl_name(key))]
    Sysctl {
        /// The setting, as a path under `/proc/sys`.
        key: String,
        /// What went wrong.
        source: io::Error,
    },
}

impl Error {
    /// The kernel's errno, if the kernel refused the request.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Kernel { errno } => Some(*errno),
            _ => None,
        }
    }
}

/// The C library's text for an errno, without Rust's `(os error N)`.
pub fn errno_text(errno: i32) -> String {
    let text = io::Error::from_raw_os_error(errno).to_string();
    match text.rfind(" (os error ") {
        Some(i) => text.get(..i).unwrap_or(&text).to_string(),
        None => text,
    }
}

/// Result with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A `NETLINK_ROUTE` socket bound to an automatic port and connected to the
/// kernel.
pub struct RtnlSocket {
    socket: netlink_sys::Socket,
}

impl fmt::Debug for RtnlSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RtnlSocket").finish_non_exhaustive()
    }
}

impl RtnlSocket {
    /// Opens the socket.
    pub fn open() -> io::Result<RtnlSocket> {
        let socket = kernel_socket(netlink_sys::protocols::NETLINK_ROUTE)?;
        Ok(RtnlSocket { socket })
    }
}

impl Transport for RtnlSocket {
    fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        send_datagram(&self.socket, datagram)
    }

    fn recv(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        recv_datagram(&self.socket, buf, RECV_BUF_SIZE, 0).map(|_| ())
    }
}

/// A route-netlink client: links, addresses, route lookups.
pub struct Rtnl {
    transport: Box<dyn Transport + Send>,
    seq: u32,
    rbuf: Vec<u8>,
    sbuf: Vec<u8>,
}

impl fmt::Debug for Rtnl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rtnl")
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

impl Rtnl {
    /// Opens a route-netlink socket.
    pub fn open() -> Result<Rtnl> {
        Ok(Rtnl::with_transport(Box::new(RtnlSocket::open()?)))
    }

    /// Uses `transport` instead of a socket (tests).
    pub fn with_transport(transport: Box<dyn Transport + Send>) -> Rtnl {
        Rtnl {
            transport,
            seq: 0,
            rbuf: Vec::with_capacity(RECV_BUF_SIZE),
            sbuf: Vec::new(),
        }
    }

    /// Encodes one request with the next sequence number and sends it.
    fn send(&mut self, m: RouteNetlinkMessage, flags: u16) -> Result<u32> {
        let seq = self.seq.wrapping_add(1);
        self.sbuf.clear();
        encode(&mut self.sbuf, m, flags, seq)?;
        self.seq = seq;
        self.transport.send(&self.sbuf)?;
        Ok(seq)
    }

    /// Reads the answer to `seq`: data messages (parsed, then picked by
    /// `pick`) until the acknowledgement or the end of a dump. A decoding
    /// error is reported after the answer has been read to its end, so the
    /// socket stays in step.
    fn collect<T>(
        &mut self,
        seq: u32,
        mut pick: impl FnMut(RouteNetlinkMessage) -> Result<Option<T>, DecodeError>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        let mut bad = None;
        loop {
            self.transport.recv(&mut self.rbuf)?;
            for m in messages(&self.rbuf) {
                let m = m?;
                if m.header.sequence_number != seq {
                    continue;
                }
                match m.body {
                    Body::Data(p) => match decode(m.header.message_type, p).and_then(&mut pick) {
                        Ok(Some(v)) => out.push(v),
                        Ok(None) => {}
                        Err(e) => {
                            bad.get_or_insert(e);
                        }
                    },
                    Body::Ack | Body::Done { errno: 0 } => {
                        return match bad {
                            Some(e) => Err(e.into()),
                            None => Ok(out),
                        }
                    }
                    Body::Error { errno } | Body::Done { errno } => {
                        return Err(Error::Kernel { errno })
                    }
                    Body::Control(_) => {}
                }
            }
        }
    }

    /// Sends `m`, acknowledged, and waits for the answer.
    fn change(&mut self, m: RouteNetlinkMessage, flags: u16) -> Result<()> {
        let seq = self.send(m, NLM_F_REQUEST | NLM_F_ACK | flags)?;
        self.collect(seq, |_| Ok(None::<()>)).map(drop)
    }

    /// Every link (`RTM_GETLINK` dump).
    pub fn links(&mut self) -> Result<Vec<Link>> {
        let get = RouteNetlinkMessage::GetLink(LinkMessage::default());
        let seq = self.send(get, NLM_F_REQUEST | NLM_F_DUMP)?;
        self.collect(seq, |m| match m {
            RouteNetlinkMessage::NewLink(l) => Link::from_message(l).map(Some),
            _ => Ok(None),
        })
    }

    /// Every IPv4 and IPv6 address (`RTM_GETADDR` dump); other families
    /// are skipped.
    pub fn addrs(&mut self) -> Result<Vec<Address>> {
        let get = RouteNetlinkMessage::GetAddress(AddressMessage::default());
        let seq = self.send(get, NLM_F_REQUEST | NLM_F_DUMP)?;
        self.collect(seq, |m| match m {
            RouteNetlinkMessage::NewAddress(a)
                if matches!(a.header.family, AddressFamily::Inet | AddressFamily::Inet6) =>
            {
                Address::from_message(a).map(Some)
            }
            _ => Ok(None),
        })
    }

    /// Adds `addr/prefix_len` to link `index` (`EEXIST` if present).
    pub fn add_addr(&mut self, index: u32, addr: &IpAddr, prefix_len: u8) -> Result<()> {
        let m = addr_change(index, addr, prefix_len, true);
        self.change(m, NLM_F_CREATE | NLM_F_EXCL)
    }

    /// Deletes `addr/prefix_len` from link `index` (`EADDRNOTAVAIL` if
    /// absent).
    pub fn del_addr(&mut self, index: u32, addr: &IpAddr, prefix_len: u8) -> Result<()> {
        self.change(addr_change(index, addr, prefix_len, false), 0)
    }

    /// Brings link `index` up or down.
    pub fn set_link_up(&mut self, index: u32, up: bool) -> Result<()> {
        self.change(link_up(index, up), 0)
    }

    /// The route the kernel would use to reach `dst`; an error (usually
    /// `ENETUNREACH`) if there is none. The lookup asks for an
    /// acknowledgement so that every request ends the same way.
    pub fn route_to(&mut self, dst: &IpAddr) -> Result<Route> {
        let seq = self.send(route_get(dst), NLM_F_REQUEST | NLM_F_ACK)?;
        let routes = self.collect(seq, |m| match m {
            RouteNetlinkMessage::NewRoute(r) => Ok(Some(Route::from_message(r))),
            _ => Ok(None),
        })?;
        routes
            .into_iter()
            .next()
            .ok_or(Error::Frame(DecodeError::MissingReply("RTM_GETROUTE")))
    }
}

/// The file of a setting given as a path under `/proc/sys`
/// (`net/ipv4/conf/all/arp_ignore`).
pub fn sysctl_path(key: &str) -> PathBuf {
    PathBuf::from("/proc/sys").join(key)
}

/// The dotted name `sysctl(8)` shows for a `/proc/sys` path: components
/// joined with `.`, dots inside a component (interface `eth0.100`) shown
/// as `/`.
pub fn sysctl_name(key: &str) -> String {
    key.split('/')
        .map(|c| c.replace('.', "/"))
        .collect::<Vec<_>>()
        .join(".")
}

/// The `/proc/sys` path of an IPv4 per-interface setting (`iface` may be
/// `all` or `default`).
pub fn ipv4_conf(iface: &str, knob: &str) -> String {
    format!("net/ipv4/conf/{iface}/{knob}")
}

/// Everything `realserver` and `check` read or change on the host. The
/// real implementation is [`System`]; tests substitute fakes.
pub trait HostNet {
    /// Every link.
    fn links(&mut self) -> Result<Vec<Link>>;
    /// Every IPv4 and IPv6 address.
    fn addrs(&mut self) -> Result<Vec<Address>>;
    /// Adds an address to a link.
    fn add_addr(&mut self, index: u32, addr: &IpAddr, prefix_len: u8) -> Result<()>;
    /// Deletes an address from a link.
    fn del_addr(&mut self, index: u32, addr: &IpAddr, prefix_len: u8) -> Result<()>;
    /// Brings a link up or down.
    fn set_link_up(&mut self, index: u32, up: bool) -> Result<()>;
    /// The route to a destination.
    fn route_to(&mut self, dst: &IpAddr) -> Result<Route>;
    /// A setting under `/proc/sys` as an integer; `None` if it does not
    /// exist (e.g. an interface that is not there).
    fn sysctl(&mut self, key: &str) -> Result<Option<i64>>;
    /// Writes a setting under `/proc/sys`.
    fn set_sysctl(&mut self, key: &str, value: i64) -> Result<()>;
    /// An identifier of the current network namespace (`net:[4026531840]`),
    /// so saved state is not applied in another one.
    fn netns(&mut self) -> Option<String>;
    /// Tries to load a kernel module; true if the attempt ran successfully.
    fn load_module(&mut self, name: &str) -> bool;
}

/// The running host: route-netlink, `/proc/sys`, `/sbin/modprobe`.
#[derive(Debug)]
pub struct System {
    rtnl: Rtnl,
}

impl System {
    /// Opens the route-netlink socket.
    pub fn open() -> Result<System> {
        Ok(System {
            rtnl: Rtnl::open()?,
        })
    }
}

impl HostNet for System {
    fn links(&mut self) -> Result<Vec<Link>> {
        self.rtnl.links()
    }

    fn addrs(&mut self) -> Result<Vec<Address>> {
        self.rtnl.addrs()
    }

    fn add_addr(&mut self, index: u32, addr: &IpAddr, prefix_len: u8) -> Result<()> {
        self.rtnl.add_addr(index, addr, prefix_len)
    }

    fn del_addr(&mut self, index: u32, addr: &IpAddr, prefix_len: u8) -> Result<()> {
        self.rtnl.del_addr(index, addr, prefix_len)
    }

    fn set_link_up(&mut self, index: u32, up: bool) -> Result<()> {
        self.rtnl.set_link_up(index, up)
    }

    fn route_to(&mut self, dst: &IpAddr) -> Result<Route> {
        self.rtnl.route_to(dst)
    }

    fn sysctl(&mut self, key: &str) -> Result<Option<i64>> {
        match std::fs::read_to_string(sysctl_path(key)) {
            Ok(text) => text
                .split_whitespace()
                .next()
                .and_then(|w| w.parse().ok())
                .map(Some)
                .ok_or_else(|| Error::Sysctl {
                    key: key.to_string(),
                    source: io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("not a number: {:?}", text.trim()),
                    ),
                }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(Error::Sysctl {
                key: key.to_string(),
                source,
            }),
        }
    }

    fn set_sysctl(&mut self, key: &str, value: i64) -> Result<()> {
        std::fs::write(sysctl_path(key), format!("{value}\n")).map_err(|source| Error::Sysctl {
            key: key.to_string(),
            source,
        })
    }

    fn netns(&mut self) -> Option<String> {
        std::fs::read_link("/proc/self/ns/net")
            .ok()
            .map(|p| p.to_string_lossy().into_owned())
    }

    fn load_module(&mut self, name: &str) -> bool {
        std::process::Command::new("/sbin/modprobe")
            .args(["--", name])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::netlink::{encode_done, encode_error, header_of, NetlinkHeader, NLM_F_MULTI};
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    fn encode_link_reply(buf: &mut Vec<u8>, seq: u32, flags: u16, l: &Link) {
        let m = RouteNetlinkMessage::NewLink(l.to_message());
        encode(buf, m, flags, seq).unwrap();
    }

    fn encode_addr_reply(buf: &mut Vec<u8>, seq: u32, flags: u16, a: &Address) {
        let m = RouteNetlinkMessage::NewAddress(a.to_message());
        encode(buf, m, flags, seq).unwrap();
    }

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// The bytes of one request, as sent.
    fn request(m: RouteNetlinkMessage, flags: u16) -> (NetlinkHeader, Vec<u8>) {
        let mut buf = Vec::new();
        encode(&mut buf, m, flags, 7).unwrap();
        let h = header_of(&buf).unwrap();
        assert_eq!(h.length as usize, buf.len());
        (h, buf.split_off(16))
    }

    #[test]
    fn add_addr_matches_iproute2_layout() {
        let (h, body) = request(
            addr_change(1, &v4("192.168.10.1"), 32, true),
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
        );
        assert_eq!(
            (h.message_type, h.flags, h.sequence_number),
            (libc::RTM_NEWADDR, 0x605, 7)
        );
        assert_eq!(
            body,
            [
                2, 32, 0, 0, 1, 0, 0, 0, // ifaddrmsg: AF_INET, /32, lo
                8, 0, 2, 0, 192, 168, 10, 1, // IFA_LOCAL
                8, 0, 1, 0, 192, 168, 10, 1, // IFA_ADDRESS
            ]
        );
        let (h, body) = request(
            addr_change(1, &v4("2001:db8::10"), 128, false),
            NLM_F_REQUEST | NLM_F_ACK,
        );
        assert_eq!((h.message_type, h.flags), (libc::RTM_DELADDR, 5));
        assert_eq!(&body[..8], &[10, 128, 0, 0, 1, 0, 0, 0]);
        assert_eq!(body.len(), 8 + 20 + 20);
    }

    #[test]
    fn link_up_request() {
        let (h, body) = request(link_up(5, true), NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!(
            (h.message_type, h.flags, h.length),
            (libc::RTM_NEWLINK, 5, 32)
        );
        assert_eq!(body, [0, 0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]);
        let (_, body) = request(link_up(5, false), NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!(&body[8..], &[0, 0, 0, 0, 1, 0, 0, 0]);
    }

    #[test]
    fn dumps_and_route_lookup() {
        let dump = NLM_F_REQUEST | NLM_F_DUMP;
        let (h, body) = request(RouteNetlinkMessage::GetLink(LinkMessage::default()), dump);
        assert_eq!(
            (h.message_type, h.flags, body),
            (libc::RTM_GETLINK, 0x301, vec![0; 16])
        );
        let (h, body) = request(
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            dump,
        );
        assert_eq!((h.message_type, body), (libc::RTM_GETADDR, vec![0; 8]));
        let (h, body) = request(route_get(&v4("10.0.0.5")), NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!((h.message_type, h.flags), (libc::RTM_GETROUTE, 5));
        assert_eq!(
            body,
            [2, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 1, 0, 10, 0, 0, 5]
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
        encode_link_reply(&mut buf, 1, 2, &link);
        let Body::Data(p) = messages(&buf).next().unwrap().unwrap().body else {
            panic!("not data")
        };
        let got = decode_link(p).unwrap();
        assert_eq!(got, link);
        assert!(got.is_up() && got.uses_arp() && !got.is_loopback());
        assert!(matches!(decode_link(&p[..10]), Err(DecodeError::Packet(_))));
        assert!(matches!(
            decode_link(&p[..16]),
            Err(DecodeError::MissingAttribute { .. })
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
        let b6 = Address {
            index: 1,
            prefix_len: 128,
            scope: 0,
            local: v4("2001:db8::10"),
            address: v4("2001:db8::10"),
            label: None,
            flags: 0,
        };
        let mut buf = Vec::new();
        encode_addr_reply(&mut buf, 1, 2, &a);
        encode_addr_reply(&mut buf, 1, 2, &b6);
        let got: Vec<Address> = messages(&buf)
            .map(|m| match m.unwrap().body {
                Body::Data(p) => decode_addr(p).unwrap().unwrap(),
                _ => panic!("not data"),
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
        // An address of 3 bytes in an IPv4 message is refused.
        let mut p = vec![2, 32, 0, 0, 1, 0, 0, 0];
        p.extend_from_slice(&[7, 0, 1, 0, 1, 2, 3, 0]);
        assert!(matches!(decode_addr(&p), Err(DecodeError::Packet(_))));
    }

    /// Truncations and corruptions of valid replies decode or fail, never
    /// panic.
    #[test]
    fn garbage_never_panics() {
        let mut buf = Vec::new();
        encode_link_reply(&mut buf, 1, 2, &lo());
        encode(&mut buf, route_get(&v4("10.0.0.5")), 0, 1).unwrap();
        let run = |d: &[u8]| {
            for m in messages(d).flatten() {
                if let Body::Data(p) = m.body {
                    let _ = (decode_link(p), decode_addr(p), decode_route(p));
                }
            }
        };
        for cut in 0..=buf.len() {
            run(&buf[..cut]);
        }
        for i in 0..buf.len() {
            for v in [0u8, 1, 3, 0x7f, 0xff] {
                let mut c = buf.clone();
                c[i] = v;
                run(&c);
            }
        }
    }

    type Respond = Box<dyn FnMut(&NetlinkHeader, &[u8]) -> Vec<Vec<u8>> + Send>;

    /// Answers each request with what `respond` returns for its header.
    struct Scripted {
        respond: Respond,
        queue: VecDeque<Vec<u8>>,
        sent: Arc<Mutex<Vec<Vec<u8>>>>,
    }

    impl Transport for Scripted {
        fn send(&mut self, d: &[u8]) -> io::Result<()> {
            self.sent.lock().unwrap().push(d.to_vec());
            let h = header_of(d).unwrap();
            let out = (self.respond)(&h, d);
            self.queue.extend(out);
            Ok(())
        }

        fn recv(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
            match self.queue.pop_front() {
                Some(d) => {
                    *buf = d;
                    Ok(())
                }
                None => Err(io::Error::new(io::ErrorKind::WouldBlock, "empty")),
            }
        }
    }

    fn scripted(
        respond: impl FnMut(&NetlinkHeader, &[u8]) -> Vec<Vec<u8>> + Send + 'static,
    ) -> (Rtnl, Arc<Mutex<Vec<Vec<u8>>>>) {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let t = Scripted {
            respond: Box::new(respond),
            queue: VecDeque::new(),
            sent: sent.clone(),
        };
        (Rtnl::with_transport(Box::new(t)), sent)
    }

    fn lo() -> Link {
        Link {
            index: 1,
            name: "lo".into(),
            flags: IFF_UP | IFF_LOOPBACK,
            link_type: 772,
            hwaddr: vec![0; 6],
            kind: None,
        }
    }

    #[test]
    fn link_dump_over_two_datagrams_ignoring_other_sequences() {
        let (mut c, _) = scripted(|h, _| {
            let mut a = Vec::new();
            encode_link_reply(&mut a, h.sequence_number + 100, NLM_F_MULTI, &lo());
            encode_link_reply(&mut a, h.sequence_number, NLM_F_MULTI, &lo());
            let mut b = Vec::new();
            let mut eth = lo();
            eth.index = 2;
            eth.name = "eth0".into();
            encode_link_reply(&mut b, h.sequence_number, NLM_F_MULTI, &eth);
            encode_done(&mut b, h.sequence_number, 0, 0, 0);
            vec![a, b]
        });
        let links = c.links().unwrap();
        let names: Vec<&str> = links.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["lo", "eth0"]);
    }

    #[test]
    fn addr_dump_skips_other_families_and_reports_bad_entries_at_the_end() {
        let (mut c, _) = scripted(|h, _| {
            let mut a = Vec::new();
            let addr = Address {
                index: 1,
                prefix_len: 8,
                scope: 254,
                local: "127.0.0.1".parse().unwrap(),
                address: "127.0.0.1".parse().unwrap(),
                label: Some("lo".into()),
                flags: 0,
            };
            encode_addr_reply(&mut a, h.sequence_number, NLM_F_MULTI, &addr);
            // An AF_PACKET (17) entry: skipped.
            let mut packet = AddressMessage::default();
            packet.header.family = AddressFamily::Packet;
            packet.header.index = 1;
            let m = RouteNetlinkMessage::NewAddress(packet);
            encode(&mut a, m, NLM_F_MULTI, h.sequence_number).unwrap();
            encode_done(&mut a, h.sequence_number, 0, 0, 0);
            vec![a]
        });
        let got = c.addrs().unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].local, "127.0.0.1".parse::<IpAddr>().unwrap());

        let (mut c, _) = scripted(|h, _| {
            let mut a = Vec::new();
            // IPv4 without any address attribute.
            let m = RouteNetlinkMessage::NewAddress(addr_message(1, &v4("10.0.0.1"), 0));
            encode(&mut a, m, NLM_F_MULTI, h.sequence_number).unwrap();
            encode_done(&mut a, h.sequence_number, 0, 0, 0);
            vec![a]
        });
        assert!(matches!(
            c.addrs(),
            Err(Error::Frame(DecodeError::MissingAttribute { .. }))
        ));
    }

    #[test]
    fn changes_are_acknowledged_or_fail_with_errno() {
        let (mut c, sent) = scripted(|h, _| {
            let mut a = Vec::new();
            let errno = if h.message_type == libc::RTM_NEWADDR {
                libc::EEXIST
            } else {
                0
            };
            encode_error(&mut a, h, errno);
            vec![a]
        });
        let vip: IpAddr = "192.168.10.1".parse().unwrap();
        let e = c.add_addr(1, &vip, 32).unwrap_err();
        assert_eq!(e.errno(), Some(libc::EEXIST));
        c.del_addr(1, &vip, 32).unwrap();
        c.set_link_up(3, true).unwrap();
        let sent = sent.lock().unwrap();
        let types: Vec<u16> = sent
            .iter()
            .map(|d| header_of(d).unwrap().message_type)
            .collect();
        assert_eq!(
            types,
            [libc::RTM_NEWADDR, libc::RTM_DELADDR, libc::RTM_NEWLINK]
        );
        let seqs: Vec<u32> = sent
            .iter()
            .map(|d| header_of(d).unwrap().sequence_number)
            .collect();
        assert_eq!(seqs, [1, 2, 3]);
    }

    #[test]
    fn route_lookup() {
        let (mut c, _) = scripted(|h, _| {
            let mut a = Vec::new();
            let mut r = RouteMessage::default();
            r.header.address_family = AddressFamily::Inet;
            r.header.destination_prefix_length = 32;
            r.header.table = 254;
            r.header.kind = RTN_UNICAST.into();
            r.attributes.push(RouteAttribute::Oif(2));
            encode(
                &mut a,
                RouteNetlinkMessage::NewRoute(r),
                0,
                h.sequence_number,
            )
            .unwrap();
            encode_error(&mut a, h, 0);
            vec![a]
        });
        let r = c.route_to(&"10.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(r.oif, Some(2));
        assert_eq!(r.route_type, RTN_UNICAST);
        assert_eq!(r.gateway, None);

        let (mut c, _) = scripted(|h, _| {
            let mut a = Vec::new();
            encode_error(&mut a, h, libc::ENETUNREACH);
            vec![a]
        });
        let e = c.route_to(&"10.0.0.1".parse().unwrap()).unwrap_err();
        assert_eq!(e.errno(), Some(libc::ENETUNREACH));
        assert_eq!(e.to_string(), "Network is unreachable");
        assert_eq!(errno_text(libc::EEXIST), "File exists");
    }

    #[test]
    fn sysctl_names() {
        assert_eq!(
            sysctl_name("net/ipv4/conf/all/arp_ignore"),
            "net.ipv4.conf.all.arp_ignore"
        );
        assert_eq!(
            sysctl_name(&ipv4_conf("eth0.100", "rp_filter")),
            "net.ipv4.conf.eth0/100.rp_filter"
        );
        assert_eq!(
            sysctl_path("net/ipv4/ip_forward"),
            PathBuf::from("/proc/sys/net/ipv4/ip_forward")
        );
    }
}
