//! The typed model of an IPVS table: virtual services, their destinations
//! (real servers), counters, timeouts and sync daemons.
//!
//! The model mirrors what the kernel stores, not what a command line says:
//! a [`Service`] is always complete (scheduler, flags, timeout, netmask), so
//! that an edit sends a full replacement exactly as ipvsadm does. Values
//! that arrive from the kernel and that this crate has no name for are kept
//! in `Other` arms rather than dropped.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Address family of a service or destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// AF_INET (2).
    Inet,
    /// AF_INET6 (10).
    Inet6,
    /// Any other value the kernel reported.
    Other(u16),
}

impl Family {
    /// The `AF_*` number used on the wire.
    pub fn to_raw(self) -> u16 {
        match self {
            Family::Inet => libc::AF_INET as u16,
            Family::Inet6 => libc::AF_INET6 as u16,
            Family::Other(v) => v,
        }
    }

    /// The family for an `AF_*` number.
    pub fn from_raw(v: u16) -> Family {
        match v as i32 {
            libc::AF_INET => Family::Inet,
            libc::AF_INET6 => Family::Inet6,
            _ => Family::Other(v),
        }
    }

    /// The family of an address.
    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::Inet,
            IpAddr::V6(_) => Family::Inet6,
        }
    }

    /// The unspecified address of this family (IPv4 for unknown families).
    pub fn unspecified(self) -> IpAddr {
        match self {
            Family::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            _ => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        }
    }
}

/// Transport protocol of a non-fwmark virtual service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    /// IPPROTO_TCP (6).
    Tcp,
    /// IPPROTO_UDP (17).
    Udp,
    /// IPPROTO_SCTP (132).
    Sctp,
    /// Any other protocol number.
    Other(u16),
}

impl Protocol {
    /// The `IPPROTO_*` number used on the wire.
    pub fn to_raw(self) -> u16 {
        match self {
            Protocol::Tcp => 6,
            Protocol::Udp => 17,
            Protocol::Sctp => 132,
            Protocol::Other(v) => v,
        }
    }

    /// The protocol for an `IPPROTO_*` number.
    pub fn from_raw(v: u16) -> Protocol {
        match v {
            6 => Protocol::Tcp,
            17 => Protocol::Udp,
            132 => Protocol::Sctp,
            _ => Protocol::Other(v),
        }
    }

    /// Lower-case name as used by the services database (`tcp`, `udp`,
    /// `sctp`); `None` for other protocols.
    pub fn service_db_name(self) -> Option<&'static str> {
        match self {
            Protocol::Tcp => Some("tcp"),
            Protocol::Udp => Some("udp"),
            Protocol::Sctp => Some("sctp"),
            Protocol::Other(_) => None,
        }
    }
}

/// What identifies a virtual service in the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceKey {
    /// A service matched by protocol, virtual address and port.
    Addr {
        /// Transport protocol.
        protocol: Protocol,
        /// Virtual IP address; its family is the service's family.
        addr: IpAddr,
        /// Port in host order.
        port: u16,
    },
    /// A service matched by firewall mark, for one address family.
    Fwmark {
        /// Family of the packets matched.
        family: Family,
        /// The mark (non-zero).
        mark: u32,
    },
}

impl ServiceKey {
    /// The service's address family.
    pub fn family(&self) -> Family {
        match self {
            ServiceKey::Addr { addr, .. } => Family::of(addr),
            ServiceKey::Fwmark { family, .. } => *family,
        }
    }

    /// The protocol: for fwmark services the kernel treats it as TCP.
    pub fn protocol(&self) -> Protocol {
        match self {
            ServiceKey::Addr { protocol, .. } => *protocol,
            ServiceKey::Fwmark { .. } => Protocol::Tcp,
        }
    }

    /// True for fwmark services.
    pub fn is_fwmark(&self) -> bool {
        matches!(self, ServiceKey::Fwmark { .. })
    }
}

/// Service flag bits (`IP_VS_SVC_F_*`).
pub mod svc_flags {
    /// Persistent service.
    pub const PERSISTENT: u32 = 0x0001;
    /// Set by the kernel once the service is hashed; never meaningful from
    /// user space.
    pub const HASHED: u32 = 0x0002;
    /// One-packet scheduling.
    pub const ONEPACKET: u32 = 0x0004;
    /// Scheduler flag 1 (`sh-fallback`, `mh-fallback`).
    pub const SCHED1: u32 = 0x0008;
    /// Scheduler flag 2 (`sh-port`, `mh-port`).
    pub const SCHED2: u32 = 0x0010;
    /// Scheduler flag 3.
    pub const SCHED3: u32 = 0x0020;
    /// All three scheduler flag bits.
    pub const SCHED_MASK: u32 = SCHED1 | SCHED2 | SCHED3;

    /// The names of [`SCHED1`], [`SCHED2`] and [`SCHED3`] for a scheduler,
    /// as ipvsadm's `-b` spells them: `sh-*` for sh, `mh-*` for mh, and
    /// `flag-N` where the scheduler gives a bit no name of its own.
    pub fn sched_names(scheduler: &str) -> [&'static str; 3] {
        match scheduler {
            "sh" => ["sh-fallback", "sh-port", "flag-3"],
            "mh" => ["mh-fallback", "mh-port", "flag-3"],
            _ => ["flag-1", "flag-2", "flag-3"],
        }
    }
}

/// Traffic counters of a service or destination (always 64-bit here; the
/// kernel's legacy 32-bit nest is widened).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connections scheduled.
    pub conns: u64,
    /// Incoming packets.
    pub inpkts: u64,
    /// Outgoing packets.
    pub outpkts: u64,
    /// Incoming bytes.
    pub inbytes: u64,
    /// Outgoing bytes.
    pub outbytes: u64,
    /// Connections per second.
    pub cps: u64,
    /// Incoming packets per second.
    pub inpps: u64,
    /// Outgoing packets per second.
    pub outpps: u64,
    /// Incoming bytes per second.
    pub inbps: u64,
    /// Outgoing bytes per second.
    pub outbps: u64,
}

/// A virtual service, complete as the kernel stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Identity.
    pub key: ServiceKey,
    /// Scheduler name (`wlc`, `rr`, ...); the kernel reports `none` when a
    /// service has none. Empty when only the key matters (delete, zero).
    pub scheduler: String,
    /// Persistence engine (`sip`), if any.
    pub pe: Option<String>,
    /// `svc_flags` bits, as reported (the kernel adds `HASHED`).
    pub flags: u32,
    /// Persistence timeout in seconds (0 when not persistent).
    pub timeout: u32,
    /// Persistence granularity: for IPv4 the mask as a host-order `u32`
    /// (255.255.255.0 is `0xffffff00`); for IPv6 the prefix length.
    pub netmask: u32,
    /// Counters, when the kernel reported them. Boxed: only listings
    /// carry them, and a restore holds thousands of services and
    /// destinations without (a destination request is 176 bytes instead
    /// of 336; docs/performance.md, "Small objects").
    pub stats: Option<Box<Stats>>,
}

impl Service {
    /// A service with ipvsadm's defaults for everything but its key: no
    /// scheduler name, no flags, no timeout, full netmask.
    pub fn new(key: ServiceKey) -> Service {
        Service {
            key,
            scheduler: String::new(),
            pe: None,
            flags: 0,
            timeout: 0,
            netmask: Service::full_netmask(key.family()),
            stats: None,
        }
    }

    /// The netmask that means "one host": 255.255.255.255 or /128.
    pub fn full_netmask(family: Family) -> u32 {
        match family {
            Family::Inet6 => 128,
            _ => 0xffff_ffff,
        }
    }

    /// True if the persistent flag is set.
    pub fn is_persistent(&self) -> bool {
        self.flags & svc_flags::PERSISTENT != 0
    }
}

/// How packets reach a destination (`IP_VS_CONN_F_*` forwarding bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FwdMethod {
    /// NAT (0).
    Masq,
    /// Local node (1).
    Local,
    /// IP-in-IP or other tunnel (2).
    Tunnel,
    /// Direct routing (3).
    Route,
    /// Any other value.
    Other(u32),
}

impl FwdMethod {
    /// The wire value.
    pub fn to_raw(self) -> u32 {
        match self {
            FwdMethod::Masq => 0,
            FwdMethod::Local => 1,
            FwdMethod::Tunnel => 2,
            FwdMethod::Route => 3,
            FwdMethod::Other(v) => v,
        }
    }

    /// The method for a wire value.
    pub fn from_raw(v: u32) -> FwdMethod {
        match v {
            0 => FwdMethod::Masq,
            1 => FwdMethod::Local,
            2 => FwdMethod::Tunnel,
            3 => FwdMethod::Route,
            _ => FwdMethod::Other(v),
        }
    }
}

/// Tunnel encapsulation of a tunnelling destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TunType {
    /// IP in IP (0).
    Ipip,
    /// Generic UDP encapsulation (1).
    Gue,
    /// GRE (2).
    Gre,
    /// Any other value.
    Other(u8),
}

impl TunType {
    /// The wire value.
    pub fn to_raw(self) -> u8 {
        match self {
            TunType::Ipip => 0,
            TunType::Gue => 1,
            TunType::Gre => 2,
            TunType::Other(v) => v,
        }
    }

    /// The type for a wire value.
    pub fn from_raw(v: u8) -> TunType {
        match v {
            0 => TunType::Ipip,
            1 => TunType::Gue,
            2 => TunType::Gre,
            _ => TunType::Other(v),
        }
    }
}

/// Tunnel checksum flag bits (`IP_VS_TUNNEL_ENCAP_FLAG_*`); zero means no
/// checksum.
pub mod tun_flags {
    /// No checksum.
    pub const NOCSUM: u16 = 0;
    /// Checksum.
    pub const CSUM: u16 = 1 << 0;
    /// Remote checksum offload.
    pub const REMCSUM: u16 = 1 << 1;
}

/// A destination (real server) of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dest {
    /// Address; its family may differ from the service's for tunnels.
    pub addr: IpAddr,
    /// Port in host order.
    pub port: u16,
    /// Forwarding method.
    pub fwd: FwdMethod,
    /// Weight (the kernel stores a signed int; ipvsadm allows 0..INT_MAX).
    pub weight: i32,
    /// Upper connection threshold (0 = none).
    pub u_threshold: u32,
    /// Lower connection threshold.
    pub l_threshold: u32,
    /// Tunnel type (only meaningful for `Tunnel`).
    pub tun_type: TunType,
    /// Tunnel destination port in host order (GUE).
    pub tun_port: u16,
    /// `tun_flags` bits.
    pub tun_flags: u16,
    /// Active connections (reply only).
    pub active_conns: u32,
    /// Inactive connections (reply only).
    pub inact_conns: u32,
    /// Persistent connection templates (reply only).
    pub persist_conns: u32,
    /// Counters (reply only; boxed, see [`Service::stats`]).
    pub stats: Option<Box<Stats>>,
}

impl Dest {
    /// A destination with ipvsadm's defaults: direct routing, weight 1,
    /// no thresholds, IP-in-IP tunnel settings.
    pub fn new(addr: IpAddr, port: u16) -> Dest {
        Dest {
            addr,
            port,
            fwd: FwdMethod::Route,
            weight: 1,
            u_threshold: 0,
            l_threshold: 0,
            tun_type: TunType::Ipip,
            tun_port: 0,
            tun_flags: 0,
            active_conns: 0,
            inact_conns: 0,
            persist_conns: 0,
            stats: None,
        }
    }

    /// The destination's address family.
    pub fn family(&self) -> Family {
        Family::of(&self.addr)
    }
}

/// A service with its destinations, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceEntry {
    /// The service.
    pub service: Service,
    /// Its destinations, in kernel order.
    pub dests: Vec<Dest>,
}

/// What `GET_INFO` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Info {
    /// IPVS version, `0x010201` for 1.2.1.
    pub version: u32,
    /// Size of the connection hash table.
    pub conn_tab_size: u32,
}

impl Info {
    /// The version as (major, minor, patch).
    pub fn version_triple(&self) -> (u32, u32, u32) {
        (
            (self.version >> 16) & 0xff,
            (self.version >> 8) & 0xff,
            self.version & 0xff,
        )
    }
}

/// Connection timeouts in seconds; 0 in a request means "leave unchanged".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP established.
    pub tcp: u32,
    /// TCP after FIN.
    pub tcp_fin: u32,
    /// UDP.
    pub udp: u32,
}

/// Role of a connection-synchronisation daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DaemonState {
    /// Sends updates (1).
    Master,
    /// Receives updates (2).
    Backup,
    /// Any other value.
    Other(u32),
}

impl DaemonState {
    /// The wire value.
    pub fn to_raw(self) -> u32 {
        match self {
            DaemonState::Master => 1,
            DaemonState::Backup => 2,
            DaemonState::Other(v) => v,
        }
    }

    /// The state for a wire value.
    pub fn from_raw(v: u32) -> DaemonState {
        match v {
            1 => DaemonState::Master,
            2 => DaemonState::Backup,
            _ => DaemonState::Other(v),
        }
    }
}

/// A connection-synchronisation daemon's settings. Zero or `None` fields
/// are not sent, and the kernel fills its defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Daemon {
    /// Master or backup.
    pub state: DaemonState,
    /// Multicast interface name.
    pub mcast_ifn: String,
    /// Sync id.
    pub syncid: u32,
    /// Maximum sync message length.
    pub sync_maxlen: u16,
    /// Multicast group.
    pub mcast_group: Option<IpAddr>,
    /// Multicast UDP port.
    pub mcast_port: u16,
    /// Multicast TTL.
    pub mcast_ttl: u8,
}
