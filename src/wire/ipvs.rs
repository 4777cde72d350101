//! The IPVS generic-netlink family in the style of the rust-netlink packet
//! crates (their `ctrl` module is the model): a command enum, the message
//! type [`IpvsMessage`] with its `GenlFamily` implementation, and one
//! attribute enum per nest ([`IpvsAttr`], [`ServiceAttr`], [`DestAttr`],
//! [`DaemonAttr`], [`StatsAttr`]) implementing `Nla` and `Parseable`, each
//! with an `Other(DefaultNla)` arm that keeps what a newer kernel adds.
//!
//! On top of them: [`IpvsRequest`] builds what ipvsadm 1.31 (libnl 3.7)
//! sends, attribute for attribute and in the same order (reference §5.4),
//! and the `decode_*` functions turn replies into [`crate::model`] types,
//! requiring what ipvsadm requires (§5.5) and reading every 64-bit counter
//! in full.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{
    emit_u16, emit_u16_be, emit_u32, emit_u64, parse_u16, parse_u16_be, parse_u32, parse_u64,
    parse_u8, DecodeError as PacketError, DefaultNla, Emitable, ErrorContext, Nla, NlaBuffer,
    NlasIterator, Parseable, ParseableParametrized, NLA_F_NESTED,
};
use netlink_packet_generic::constants::GENL_HDRLEN;
use netlink_packet_generic::{GenlFamily, GenlHeader, GenlMessage};

use super::netlink::{
    append_measured, check_nla, emit_nlas, message, nlas, nlas_len, DecodeError, EncodeError,
    NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
use crate::model::{
    Daemon, DaemonState, Dest, Family, FwdMethod, Info, Protocol, Service, ServiceKey, Stats,
    Timeouts, TunType,
};

/// The generic-netlink family name to resolve.
pub const FAMILY_NAME: &str = "IPVS";
/// The family version sent in every request's `genlmsghdr`.
pub const FAMILY_VERSION: u8 = 1;

macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $name:ident : $repr:ty {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal => $text:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A number without a name here.
            Other($repr),
        }

        impl $name {
            /// The number on the wire.
            pub fn to_raw(self) -> $repr {
                match self {
                    $( $name::$variant => $value, )*
                    $name::Other(v) => v,
                }
            }

            /// The value for a number on the wire.
            pub fn from_raw(v: $repr) -> $name {
                match v {
                    $( $value => $name::$variant, )*
                    _ => $name::Other(v),
                }
            }

            /// The kernel's name for it (without prefix); `"?"` for `Other`.
            pub fn name(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )*
                    $name::Other(_) => "?",
                }
            }
        }
    };
}

wire_enum! {
    /// IPVS commands (`IPVS_CMD_*`).
    Cmd: u8 {
        /// Unused.
        Unspec = 0 => "UNSPEC",
        /// Add a service; also the command of service replies.
        NewService = 1 => "NEW_SERVICE",
        /// Replace a service's settings.
        SetService = 2 => "SET_SERVICE",
        /// Delete a service.
        DelService = 3 => "DEL_SERVICE",
        /// Get one service (doit) or all (dump).
        GetService = 4 => "GET_SERVICE",
        /// Add a destination; also the command of destination replies.
        NewDest = 5 => "NEW_DEST",
        /// Replace a destination's settings.
        SetDest = 6 => "SET_DEST",
        /// Delete a destination.
        DelDest = 7 => "DEL_DEST",
        /// Dump a service's destinations.
        GetDest = 8 => "GET_DEST",
        /// Start a sync daemon; also the command of daemon replies.
        NewDaemon = 9 => "NEW_DAEMON",
        /// Stop a sync daemon.
        DelDaemon = 10 => "DEL_DAEMON",
        /// Dump running sync daemons.
        GetDaemon = 11 => "GET_DAEMON",
        /// Set connection timeouts; also the command of the timeout reply.
        SetConfig = 12 => "SET_CONFIG",
        /// Get connection timeouts.
        GetConfig = 13 => "GET_CONFIG",
        /// Command of the info reply.
        SetInfo = 14 => "SET_INFO",
        /// Get version and connection table size.
        GetInfo = 15 => "GET_INFO",
        /// Zero counters of one service or of all.
        Zero = 16 => "ZERO",
        /// Delete all services.
        Flush = 17 => "FLUSH",
    }
}

// ---------------------------------------------------------------------------
// Attribute enums
// ---------------------------------------------------------------------------

/// Parses every attribute of a nest (or of a message) with `parse`.
fn parse_nlas<A>(
    payload: &[u8],
    parse: impl Fn(&NlaBuffer<&[u8]>) -> Result<A, PacketError>,
) -> Result<Vec<A>, PacketError> {
    NlasIterator::new(payload)
        .map(|nla| nla.and_then(|nla| parse(&nla)))
        .collect()
}

/// An attribute's kernel name for error messages, formatted only when an
/// error is reported (decoding a listing must not allocate per attribute).
#[derive(Debug, Clone, Copy)]
struct Name(&'static str, &'static str);

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "IPVS_{}_ATTR_{}", self.0, self.1)
    }
}

fn name_of(space: &'static str, names: &[&'static str], kind: u16) -> Name {
    Name(space, names.get(usize::from(kind)).copied().unwrap_or("?"))
}

/// A NUL-terminated string; invalid UTF-8 is replaced, not refused.
fn parse_cstr(payload: &[u8]) -> String {
    let end = payload
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(payload.len());
    String::from_utf8_lossy(payload.get(..end).unwrap_or_default()).into_owned()
}

fn emit_cstr(buffer: &mut [u8], s: &str) {
    let (text, nul) = buffer.split_at_mut(s.len().min(buffer.len()));
    text.copy_from_slice(s.as_bytes().get(..text.len()).unwrap_or_default());
    nul.fill(0);
}

fn emit_bytes(buffer: &mut [u8], bytes: &[u8]) {
    buffer.copy_from_slice(bytes);
}

fn nested_len<A: Nla>(v: &[A]) -> usize {
    nlas_len(v)
}

/// A counter in a stats nest: 32 bits in the legacy `STATS` nest, 64 in
/// `STATS64` (the byte counters are 64 bits in both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// From / for the legacy nest.
    Narrow(u32),
    /// From / for the 64-bit nest.
    Wide(u64),
}

impl From<Counter> for u64 {
    fn from(c: Counter) -> u64 {
        match c {
            Counter::Narrow(v) => u64::from(v),
            Counter::Wide(v) => v,
        }
    }
}

impl Counter {
    fn new(v: u64, wide: bool) -> Counter {
        if wide {
            Counter::Wide(v)
        } else {
            Counter::Narrow(v as u32)
        }
    }

    fn len(self) -> usize {
        match self {
            Counter::Narrow(_) => 4,
            Counter::Wide(_) => 8,
        }
    }

    fn emit(self, buffer: &mut [u8]) {
        match self {
            Counter::Narrow(v) => emit_u32(buffer, v),
            Counter::Wide(v) => emit_u64(buffer, v),
        }
        .unwrap_or(())
    }

    fn parse(payload: &[u8], wide: bool) -> Result<Counter, PacketError> {
        if wide {
            parse_u64(payload).map(Counter::Wide)
        } else {
            parse_u32(payload).map(Counter::Narrow)
        }
    }
}

/// Attributes of a counters nest (`IPVS_STATS_ATTR_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatsAttr {
    /// Connections.
    Conns(Counter),
    /// Incoming packets.
    InPkts(Counter),
    /// Outgoing packets.
    OutPkts(Counter),
    /// Incoming bytes (64 bits in both nests).
    InBytes(u64),
    /// Outgoing bytes (64 bits in both nests).
    OutBytes(u64),
    /// Connections per second.
    Cps(Counter),
    /// Incoming packets per second.
    InPps(Counter),
    /// Outgoing packets per second.
    OutPps(Counter),
    /// Incoming bytes per second.
    InBps(Counter),
    /// Outgoing bytes per second.
    OutBps(Counter),
    /// Anything else (`PAD` included).
    Other(DefaultNla),
}

const STATS_NAMES: [&str; 11] = [
    "?", "CONNS", "INPKTS", "OUTPKTS", "INBYTES", "OUTBYTES", "CPS", "INPPS", "OUTPPS", "INBPS",
    "OUTBPS",
];

impl Nla for StatsAttr {
    fn value_len(&self) -> usize {
        match self {
            StatsAttr::InBytes(_) | StatsAttr::OutBytes(_) => 8,
            StatsAttr::Conns(c)
            | StatsAttr::InPkts(c)
            | StatsAttr::OutPkts(c)
            | StatsAttr::Cps(c)
            | StatsAttr::InPps(c)
            | StatsAttr::OutPps(c)
            | StatsAttr::InBps(c)
            | StatsAttr::OutBps(c) => c.len(),
            StatsAttr::Other(o) => o.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            StatsAttr::Conns(_) => 1,
            StatsAttr::InPkts(_) => 2,
            StatsAttr::OutPkts(_) => 3,
            StatsAttr::InBytes(_) => 4,
            StatsAttr::OutBytes(_) => 5,
            StatsAttr::Cps(_) => 6,
            StatsAttr::InPps(_) => 7,
            StatsAttr::OutPps(_) => 8,
            StatsAttr::InBps(_) => 9,
            StatsAttr::OutBps(_) => 10,
            StatsAttr::Other(o) => o.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            StatsAttr::InBytes(v) | StatsAttr::OutBytes(v) => emit_u64(buffer, *v).unwrap_or(()),
            StatsAttr::Conns(c)
            | StatsAttr::InPkts(c)
            | StatsAttr::OutPkts(c)
            | StatsAttr::Cps(c)
            | StatsAttr::InPps(c)
            | StatsAttr::OutPps(c)
            | StatsAttr::InBps(c)
            | StatsAttr::OutBps(c) => c.emit(buffer),
            StatsAttr::Other(o) => o.emit_value(buffer),
        }
    }
}

impl<T: AsRef<[u8]> + ?Sized> ParseableParametrized<NlaBuffer<&T>, bool> for StatsAttr {
    /// `wide`: the attribute is in a `STATS64` nest.
    fn parse_with_param(buf: &NlaBuffer<&T>, wide: bool) -> Result<StatsAttr, PacketError> {
        let p = buf.value();
        let kind = buf.kind();
        let name = name_of("STATS", &STATS_NAMES, kind);
        let c = || Counter::parse(p, wide).context(name);
        let u = || parse_u64(p).context(name);
        Ok(match kind {
            1 => StatsAttr::Conns(c()?),
            2 => StatsAttr::InPkts(c()?),
            3 => StatsAttr::OutPkts(c()?),
            4 => StatsAttr::InBytes(u()?),
            5 => StatsAttr::OutBytes(u()?),
            6 => StatsAttr::Cps(c()?),
            7 => StatsAttr::InPps(c()?),
            8 => StatsAttr::OutPps(c()?),
            9 => StatsAttr::InBps(c()?),
            10 => StatsAttr::OutBps(c()?),
            _ => StatsAttr::Other(DefaultNla::parse(buf)?),
        })
    }
}

fn parse_stats(p: &[u8], wide: bool) -> Result<Vec<StatsAttr>, PacketError> {
    parse_nlas(p, |n| StatsAttr::parse_with_param(n, wide))
}

/// Attributes of a service nest (`IPVS_SVC_ATTR_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceAttr {
    /// Address family.
    Af(u16),
    /// Transport protocol.
    Protocol(u16),
    /// Virtual address: 16 bytes (`union nf_inet_addr`), IPv4 in the first 4.
    Addr(InetAddr),
    /// Port (network order on the wire).
    Port(u16),
    /// Firewall mark.
    Fwmark(u32),
    /// Scheduler name.
    SchedName(String),
    /// Flags, and the mask of the flags that count.
    Flags {
        /// `IP_VS_SVC_F_*`.
        flags: u32,
        /// Which of them are set by this message.
        mask: u32,
    },
    /// Persistence timeout in seconds.
    Timeout(u32),
    /// Persistence netmask as sent: IPv4 mask bytes, or an IPv6 prefix
    /// length in host order.
    Netmask([u8; 4]),
    /// Legacy counters.
    Stats(Vec<StatsAttr>),
    /// Persistence engine name.
    PeName(String),
    /// 64-bit counters.
    Stats64(Vec<StatsAttr>),
    /// Anything else.
    Other(DefaultNla),
}

const SVC_NAMES: [&str; 13] = [
    "?",
    "AF",
    "PROTOCOL",
    "ADDR",
    "PORT",
    "FWMARK",
    "SCHED_NAME",
    "FLAGS",
    "TIMEOUT",
    "NETMASK",
    "STATS",
    "PE_NAME",
    "STATS64",
];

impl Nla for ServiceAttr {
    fn value_len(&self) -> usize {
        match self {
            ServiceAttr::Af(_) | ServiceAttr::Protocol(_) | ServiceAttr::Port(_) => 2,
            ServiceAttr::Fwmark(_) | ServiceAttr::Timeout(_) | ServiceAttr::Netmask(_) => 4,
            ServiceAttr::Flags { .. } => 8,
            ServiceAttr::Addr(a) => a.as_bytes().len(),
            ServiceAttr::SchedName(s) | ServiceAttr::PeName(s) => s.len() + 1,
            ServiceAttr::Stats(v) | ServiceAttr::Stats64(v) => nested_len(v),
            ServiceAttr::Other(o) => o.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            ServiceAttr::Af(_) => 1,
            ServiceAttr::Protocol(_) => 2,
            ServiceAttr::Addr(_) => 3,
            ServiceAttr::Port(_) => 4,
            ServiceAttr::Fwmark(_) => 5,
            ServiceAttr::SchedName(_) => 6,
            ServiceAttr::Flags { .. } => 7,
            ServiceAttr::Timeout(_) => 8,
            ServiceAttr::Netmask(_) => 9,
            ServiceAttr::Stats(_) => 10 | NLA_F_NESTED,
            ServiceAttr::PeName(_) => 11,
            ServiceAttr::Stats64(_) => 12 | NLA_F_NESTED,
            ServiceAttr::Other(o) => o.kind(),
        }
    }

    fn emit_value(&self, b: &mut [u8]) {
        match self {
            ServiceAttr::Af(v) | ServiceAttr::Protocol(v) => emit_u16(b, *v).unwrap_or(()),
            ServiceAttr::Port(v) => emit_u16_be(b, *v).unwrap_or(()),
            ServiceAttr::Fwmark(v) | ServiceAttr::Timeout(v) => emit_u32(b, *v).unwrap_or(()),
            ServiceAttr::Netmask(m) => emit_bytes(b, m),
            ServiceAttr::Flags { flags, mask } => {
                let (f, m) = b.split_at_mut(4);
                emit_u32(f, *flags).unwrap_or(());
                emit_u32(m, *mask).unwrap_or(());
            }
            ServiceAttr::Addr(a) => emit_bytes(b, a.as_bytes()),
            ServiceAttr::SchedName(s) | ServiceAttr::PeName(s) => emit_cstr(b, s),
            ServiceAttr::Stats(v) | ServiceAttr::Stats64(v) => emit_nlas(v, b),
            ServiceAttr::Other(o) => o.emit_value(b),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for ServiceAttr {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<ServiceAttr, PacketError> {
        let p = buf.value();
        let kind = buf.kind();
        let what = || name_of("SVC", &SVC_NAMES, kind);
        Ok(match kind {
            1 => ServiceAttr::Af(parse_u16(p).context(what())?),
            2 => ServiceAttr::Protocol(parse_u16(p).context(what())?),
            3 => ServiceAttr::Addr(InetAddr::parse(p).context(what())?),
            4 => ServiceAttr::Port(parse_u16_be(p).context(what())?),
            5 => ServiceAttr::Fwmark(parse_u32(p).context(what())?),
            6 => ServiceAttr::SchedName(parse_cstr(p)),
            7 => match (p.get(..4), p.get(4..)) {
                (Some(f), Some(m)) => ServiceAttr::Flags {
                    flags: parse_u32(f).context(what())?,
                    mask: parse_u32(m).context(what())?,
                },
                _ => return Err(PacketError::invalid_number(8, p.len())),
            },
            8 => ServiceAttr::Timeout(parse_u32(p).context(what())?),
            9 => ServiceAttr::Netmask(
                p.try_into()
                    .map_err(|_| PacketError::invalid_number(4, p.len()))
                    .context(what())?,
            ),
            10 => ServiceAttr::Stats(parse_stats(p, false).context(what())?),
            11 => ServiceAttr::PeName(parse_cstr(p)),
            12 => ServiceAttr::Stats64(parse_stats(p, true).context(what())?),
            _ => ServiceAttr::Other(DefaultNla::parse(buf)?),
        })
    }
}

/// Attributes of a destination nest (`IPVS_DEST_ATTR_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DestAttr {
    /// Address: 16 bytes, IPv4 in the first 4.
    Addr(InetAddr),
    /// Port (network order on the wire).
    Port(u16),
    /// Forwarding method (`IP_VS_CONN_F_*`).
    FwdMethod(u32),
    /// Weight (signed in the kernel).
    Weight(u32),
    /// Upper connection threshold.
    UThresh(u32),
    /// Lower connection threshold.
    LThresh(u32),
    /// Active connections (replies).
    ActiveConns(u32),
    /// Inactive connections (replies).
    InactConns(u32),
    /// Persistent templates (replies).
    PersistConns(u32),
    /// Legacy counters (replies).
    Stats(Vec<StatsAttr>),
    /// Address family of the destination.
    AddrFamily(u16),
    /// 64-bit counters (replies).
    Stats64(Vec<StatsAttr>),
    /// Tunnel type.
    TunType(u8),
    /// Tunnel port (network order on the wire).
    TunPort(u16),
    /// Tunnel flags.
    TunFlags(u16),
    /// Anything else.
    Other(DefaultNla),
}

const DEST_NAMES: [&str; 16] = [
    "?",
    "ADDR",
    "PORT",
    "FWD_METHOD",
    "WEIGHT",
    "U_THRESH",
    "L_THRESH",
    "ACTIVE_CONNS",
    "INACT_CONNS",
    "PERSIST_CONNS",
    "STATS",
    "ADDR_FAMILY",
    "STATS64",
    "TUN_TYPE",
    "TUN_PORT",
    "TUN_FLAGS",
];

impl Nla for DestAttr {
    fn value_len(&self) -> usize {
        match self {
            DestAttr::Addr(a) => a.as_bytes().len(),
            DestAttr::TunType(_) => 1,
            DestAttr::Port(_) | DestAttr::AddrFamily(_) | DestAttr::TunPort(_) => 2,
            DestAttr::TunFlags(_) => 2,
            DestAttr::FwdMethod(_)
            | DestAttr::Weight(_)
            | DestAttr::UThresh(_)
            | DestAttr::LThresh(_)
            | DestAttr::ActiveConns(_)
            | DestAttr::InactConns(_)
            | DestAttr::PersistConns(_) => 4,
            DestAttr::Stats(v) | DestAttr::Stats64(v) => nested_len(v),
            DestAttr::Other(o) => o.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            DestAttr::Addr(_) => 1,
            DestAttr::Port(_) => 2,
            DestAttr::FwdMethod(_) => 3,
            DestAttr::Weight(_) => 4,
            DestAttr::UThresh(_) => 5,
            DestAttr::LThresh(_) => 6,
            DestAttr::ActiveConns(_) => 7,
            DestAttr::InactConns(_) => 8,
            DestAttr::PersistConns(_) => 9,
            DestAttr::Stats(_) => 10 | NLA_F_NESTED,
            DestAttr::AddrFamily(_) => 11,
            DestAttr::Stats64(_) => 12 | NLA_F_NESTED,
            DestAttr::TunType(_) => 13,
            DestAttr::TunPort(_) => 14,
            DestAttr::TunFlags(_) => 15,
            DestAttr::Other(o) => o.kind(),
        }
    }

    fn emit_value(&self, b: &mut [u8]) {
        match self {
            DestAttr::Addr(a) => emit_bytes(b, a.as_bytes()),
            DestAttr::TunType(v) => emit_bytes(b, &[*v]),
            DestAttr::Port(v) | DestAttr::TunPort(v) => emit_u16_be(b, *v).unwrap_or(()),
            DestAttr::AddrFamily(v) | DestAttr::TunFlags(v) => emit_u16(b, *v).unwrap_or(()),
            DestAttr::FwdMethod(v)
            | DestAttr::Weight(v)
            | DestAttr::UThresh(v)
            | DestAttr::LThresh(v)
            | DestAttr::ActiveConns(v)
            | DestAttr::InactConns(v)
            | DestAttr::PersistConns(v) => emit_u32(b, *v).unwrap_or(()),
            DestAttr::Stats(v) | DestAttr::Stats64(v) => emit_nlas(v, b),
            DestAttr::Other(o) => o.emit_value(b),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for DestAttr {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<DestAttr, PacketError> {
        let p = buf.value();
        let kind = buf.kind();
        let what = || name_of("DEST", &DEST_NAMES, kind);
        let u32_ = || parse_u32(p).context(what());
        Ok(match kind {
            1 => DestAttr::Addr(InetAddr::parse(p).context(what())?),
            2 => DestAttr::Port(parse_u16_be(p).context(what())?),
            3 => DestAttr::FwdMethod(u32_()?),
            4 => DestAttr::Weight(u32_()?),
            5 => DestAttr::UThresh(u32_()?),
            6 => DestAttr::LThresh(u32_()?),
            7 => DestAttr::ActiveConns(u32_()?),
            8 => DestAttr::InactConns(u32_()?),
            9 => DestAttr::PersistConns(u32_()?),
            10 => DestAttr::Stats(parse_stats(p, false).context(what())?),
            11 => DestAttr::AddrFamily(parse_u16(p).context(what())?),
            12 => DestAttr::Stats64(parse_stats(p, true).context(what())?),
            13 => DestAttr::TunType(parse_u8(p).context(what())?),
            14 => DestAttr::TunPort(parse_u16_be(p).context(what())?),
            15 => DestAttr::TunFlags(parse_u16(p).context(what())?),
            _ => DestAttr::Other(DefaultNla::parse(buf)?),
        })
    }
}

/// Attributes of a sync-daemon nest (`IPVS_DAEMON_ATTR_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DaemonAttr {
    /// Master (1) or backup (2).
    State(u32),
    /// Multicast interface.
    McastIfn(String),
    /// Sync id.
    SyncId(u32),
    /// Maximum sync message length.
    SyncMaxlen(u16),
    /// IPv4 multicast group.
    McastGroup(Ipv4Addr),
    /// IPv6 multicast group.
    McastGroup6(Ipv6Addr),
    /// Multicast port (host order).
    McastPort(u16),
    /// Multicast TTL.
    McastTtl(u8),
    /// Anything else.
    Other(DefaultNla),
}

const DAEMON_NAMES: [&str; 9] = [
    "?",
    "STATE",
    "MCAST_IFN",
    "SYNC_ID",
    "SYNC_MAXLEN",
    "MCAST_GROUP",
    "MCAST_GROUP6",
    "MCAST_PORT",
    "MCAST_TTL",
];

impl Nla for DaemonAttr {
    fn value_len(&self) -> usize {
        match self {
            DaemonAttr::State(_) | DaemonAttr::SyncId(_) | DaemonAttr::McastGroup(_) => 4,
            DaemonAttr::McastIfn(s) => s.len() + 1,
            DaemonAttr::SyncMaxlen(_) | DaemonAttr::McastPort(_) => 2,
            DaemonAttr::McastGroup6(_) => 16,
            DaemonAttr::McastTtl(_) => 1,
            DaemonAttr::Other(o) => o.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            DaemonAttr::State(_) => 1,
            DaemonAttr::McastIfn(_) => 2,
            DaemonAttr::SyncId(_) => 3,
            DaemonAttr::SyncMaxlen(_) => 4,
            DaemonAttr::McastGroup(_) => 5,
            DaemonAttr::McastGroup6(_) => 6,
            DaemonAttr::McastPort(_) => 7,
            DaemonAttr::McastTtl(_) => 8,
            DaemonAttr::Other(o) => o.kind(),
        }
    }

    fn emit_value(&self, b: &mut [u8]) {
        match self {
            DaemonAttr::State(v) | DaemonAttr::SyncId(v) => emit_u32(b, *v).unwrap_or(()),
            DaemonAttr::McastIfn(s) => emit_cstr(b, s),
            DaemonAttr::SyncMaxlen(v) | DaemonAttr::McastPort(v) => emit_u16(b, *v).unwrap_or(()),
            DaemonAttr::McastGroup(a) => emit_bytes(b, &a.octets()),
            DaemonAttr::McastGroup6(a) => emit_bytes(b, &a.octets()),
            DaemonAttr::McastTtl(v) => emit_bytes(b, &[*v]),
            DaemonAttr::Other(o) => o.emit_value(b),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for DaemonAttr {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<DaemonAttr, PacketError> {
        let p = buf.value();
        let kind = buf.kind();
        let what = || name_of("DAEMON", &DAEMON_NAMES, kind);
        let octets = |n: usize| {
            p.get(..n)
                .filter(|_| p.len() == n)
                .ok_or_else(|| PacketError::invalid_ip_address(p.len()))
                .context(what())
        };
        Ok(match kind {
            1 => DaemonAttr::State(parse_u32(p).context(what())?),
            2 => DaemonAttr::McastIfn(parse_cstr(p)),
            3 => DaemonAttr::SyncId(parse_u32(p).context(what())?),
            4 => DaemonAttr::SyncMaxlen(parse_u16(p).context(what())?),
            5 => {
                let o: [u8; 4] = octets(4)?.try_into().unwrap_or_default();
                DaemonAttr::McastGroup(Ipv4Addr::from(o))
            }
            6 => {
                let o: [u8; 16] = octets(16)?.try_into().unwrap_or_default();
                DaemonAttr::McastGroup6(Ipv6Addr::from(o))
            }
            7 => DaemonAttr::McastPort(parse_u16(p).context(what())?),
            8 => DaemonAttr::McastTtl(parse_u8(p).context(what())?),
            _ => DaemonAttr::Other(DefaultNla::parse(buf)?),
        })
    }
}

/// Top-level attributes of IPVS messages. The `GET_INFO` reply numbers its
/// attributes in a space of its own (`IPVS_INFO_ATTR_*`): they are the
/// `Version` and `ConnTabSize` arms, parsed only in that reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpvsAttr {
    /// `IPVS_CMD_ATTR_SERVICE` nest.
    Service(Vec<ServiceAttr>),
    /// `IPVS_CMD_ATTR_DEST` nest.
    Dest(Vec<DestAttr>),
    /// `IPVS_CMD_ATTR_DAEMON` nest.
    Daemon(Vec<DaemonAttr>),
    /// TCP established timeout in seconds.
    TimeoutTcp(u32),
    /// TCP FIN-wait timeout in seconds.
    TimeoutTcpFin(u32),
    /// UDP timeout in seconds.
    TimeoutUdp(u32),
    /// `IPVS_INFO_ATTR_VERSION` (`0x010201` = 1.2.1).
    Version(u32),
    /// `IPVS_INFO_ATTR_CONN_TAB_SIZE`.
    ConnTabSize(u32),
    /// Anything else.
    Other(DefaultNla),
}

impl Nla for IpvsAttr {
    fn value_len(&self) -> usize {
        match self {
            IpvsAttr::Service(v) => nested_len(v),
            IpvsAttr::Dest(v) => nested_len(v),
            IpvsAttr::Daemon(v) => nested_len(v),
            IpvsAttr::TimeoutTcp(_)
            | IpvsAttr::TimeoutTcpFin(_)
            | IpvsAttr::TimeoutUdp(_)
            | IpvsAttr::Version(_)
            | IpvsAttr::ConnTabSize(_) => 4,
            IpvsAttr::Other(o) => o.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            IpvsAttr::Service(_) => 1 | NLA_F_NESTED,
            IpvsAttr::Dest(_) => 2 | NLA_F_NESTED,
            IpvsAttr::Daemon(_) => 3 | NLA_F_NESTED,
            IpvsAttr::TimeoutTcp(_) => 4,
            IpvsAttr::TimeoutTcpFin(_) => 5,
            IpvsAttr::TimeoutUdp(_) => 6,
            IpvsAttr::Version(_) => 1,
            IpvsAttr::ConnTabSize(_) => 2,
            IpvsAttr::Other(o) => o.kind(),
        }
    }

    fn emit_value(&self, b: &mut [u8]) {
        match self {
            IpvsAttr::Service(v) => emit_nlas(v, b),
            IpvsAttr::Dest(v) => emit_nlas(v, b),
            IpvsAttr::Daemon(v) => emit_nlas(v, b),
            IpvsAttr::TimeoutTcp(v)
            | IpvsAttr::TimeoutTcpFin(v)
            | IpvsAttr::TimeoutUdp(v)
            | IpvsAttr::Version(v)
            | IpvsAttr::ConnTabSize(v) => emit_u32(b, *v).unwrap_or(()),
            IpvsAttr::Other(o) => o.emit_value(b),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> ParseableParametrized<NlaBuffer<&'a T>, Cmd> for IpvsAttr {
    /// `cmd`: the message's command, which says whether the attributes are
    /// in the info space.
    fn parse_with_param(buf: &NlaBuffer<&'a T>, cmd: Cmd) -> Result<IpvsAttr, PacketError> {
        let p = buf.value();
        let info = matches!(cmd, Cmd::SetInfo | Cmd::GetInfo);
        Ok(match (info, buf.kind()) {
            (true, 1) => IpvsAttr::Version(parse_u32(p).context("IPVS_INFO_ATTR_VERSION")?),
            (true, 2) => {
                IpvsAttr::ConnTabSize(parse_u32(p).context("IPVS_INFO_ATTR_CONN_TAB_SIZE")?)
            }
            (false, 1) => IpvsAttr::Service(
                parse_nlas(p, |n| ServiceAttr::parse(n)).context("IPVS_CMD_ATTR_SERVICE")?,
            ),
            (false, 2) => {
                IpvsAttr::Dest(parse_nlas(p, |n| DestAttr::parse(n)).context("IPVS_CMD_ATTR_DEST")?)
            }
            (false, 3) => IpvsAttr::Daemon(
                parse_nlas(p, |n| DaemonAttr::parse(n)).context("IPVS_CMD_ATTR_DAEMON")?,
            ),
            (false, 4) => IpvsAttr::TimeoutTcp(parse_u32(p).context("IPVS_CMD_ATTR_TIMEOUT_TCP")?),
            (false, 5) => {
                IpvsAttr::TimeoutTcpFin(parse_u32(p).context("IPVS_CMD_ATTR_TIMEOUT_TCP_FIN")?)
            }
            (false, 6) => IpvsAttr::TimeoutUdp(parse_u32(p).context("IPVS_CMD_ATTR_TIMEOUT_UDP")?),
            _ => IpvsAttr::Other(DefaultNla::parse(buf)?),
        })
    }
}

/// One IPVS generic-netlink message: its command and top-level attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpvsMessage {
    /// The command.
    pub cmd: Cmd,
    /// The attributes, in the order they are sent.
    pub attrs: Vec<IpvsAttr>,
}

impl GenlFamily for IpvsMessage {
    fn family_name() -> &'static str {
        FAMILY_NAME
    }

    fn command(&self) -> u8 {
        self.cmd.to_raw()
    }

    fn version(&self) -> u8 {
        FAMILY_VERSION
    }
}

impl Emitable for IpvsMessage {
    fn buffer_len(&self) -> usize {
        nlas_len(&self.attrs)
    }

    fn emit(&self, buffer: &mut [u8]) {
        emit_nlas(&self.attrs, buffer)
    }
}

impl ParseableParametrized<[u8], GenlHeader> for IpvsMessage {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> Result<IpvsMessage, PacketError> {
        let cmd = Cmd::from_raw(header.cmd);
        Ok(IpvsMessage {
            cmd,
            attrs: parse_attrs(buf, cmd)?,
        })
    }
}

fn parse_attrs(buf: &[u8], cmd: Cmd) -> Result<Vec<IpvsAttr>, PacketError> {
    parse_nlas(buf, |n| IpvsAttr::parse_with_param(n, cmd))
}

/// Parses the top-level attributes of a message with command `cmd`.
pub fn decode_attrs(attrs: &[u8], cmd: Cmd) -> Result<Vec<IpvsAttr>, DecodeError> {
    Ok(parse_attrs(attrs, cmd)?)
}

impl IpvsMessage {
    /// Parses a data message's payload: the `genlmsghdr`, then the
    /// attributes (as the command's attribute space says).
    pub fn decode(payload: &[u8]) -> Result<IpvsMessage, DecodeError> {
        let header = GenlHeader::parse(payload)?;
        let attrs = payload.get(4..).unwrap_or_default();
        Ok(IpvsMessage::parse_with_param(attrs, header)?)
    }

    /// Appends the message to `buf` as one netlink message for the resolved
    /// `family` id and returns its length.
    pub fn append_to(
        self,
        buf: &mut Vec<u8>,
        family: u16,
        flags: u16,
        seq: u32,
        pid: u32,
    ) -> Result<usize, EncodeError> {
        // Only an attribute of more than 64 KiB overflows its length field,
        // so only such a message needs each attribute checked.
        let attrs_len = nlas_len(&self.attrs);
        if attrs_len > usize::from(u16::MAX) {
            for a in &self.attrs {
                check_nla(a)?;
            }
        }
        let mut g = GenlMessage::from_payload(self);
        g.set_resolved_family_id(family);
        let msg = message(g, flags, seq, pid);
        let len = msg.header.buffer_len() + GENL_HDRLEN + attrs_len;
        debug_assert_eq!(len, msg.buffer_len());
        append_measured(buf, msg, len)
    }
}

// ---------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------

/// One IPVS request, borrowing the model objects it is built from. Each
/// variant encodes to what ipvsadm 1.31 sends for the same operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpvsRequest<'a> {
    /// `NEW_SERVICE` with the full service nest.
    NewService(&'a Service),
    /// `SET_SERVICE` with the full service nest.
    SetService(&'a Service),
    /// `DEL_SERVICE` with the full service nest.
    DelService(&'a Service),
    /// `GET_SERVICE` doit: the full nest built from the key only (empty
    /// scheduler, no engine, flags 0, timeout 0, netmask 0).
    GetService(&'a ServiceKey),
    /// `GET_SERVICE` dump, no attributes.
    GetServices,
    /// `NEW_DEST`: full service nest, then all ten destination attributes.
    NewDest(&'a Service, &'a Dest),
    /// `SET_DEST`: as `NewDest`.
    SetDest(&'a Service, &'a Dest),
    /// `DEL_DEST`: as `NewDest`.
    DelDest(&'a Service, &'a Dest),
    /// `GET_DEST` dump with the service identity only.
    GetDests(&'a ServiceKey),
    /// `NEW_DAEMON` with the daemon nest (zero/absent options left out).
    NewDaemon(&'a Daemon),
    /// `DEL_DAEMON` with state, interface and sync id.
    DelDaemon(&'a Daemon),
    /// `GET_DAEMON` dump, no attributes.
    GetDaemons,
    /// `SET_CONFIG` with all three timeouts.
    SetConfig(&'a Timeouts),
    /// `GET_CONFIG`, no attributes.
    GetConfig,
    /// `GET_INFO`, no attributes.
    GetInfo,
    /// `ZERO` of one service (full nest) or of everything.
    Zero(Option<&'a Service>),
    /// `FLUSH`, no attributes.
    Flush,
}

impl IpvsRequest<'_> {
    /// The command number.
    pub fn cmd(&self) -> Cmd {
        match self {
            IpvsRequest::NewService(_) => Cmd::NewService,
            IpvsRequest::SetService(_) => Cmd::SetService,
            IpvsRequest::DelService(_) => Cmd::DelService,
            IpvsRequest::GetService(_) | IpvsRequest::GetServices => Cmd::GetService,
            IpvsRequest::NewDest(..) => Cmd::NewDest,
            IpvsRequest::SetDest(..) => Cmd::SetDest,
            IpvsRequest::DelDest(..) => Cmd::DelDest,
            IpvsRequest::GetDests(_) => Cmd::GetDest,
            IpvsRequest::NewDaemon(_) => Cmd::NewDaemon,
            IpvsRequest::DelDaemon(_) => Cmd::DelDaemon,
            IpvsRequest::GetDaemons => Cmd::GetDaemon,
            IpvsRequest::SetConfig(_) => Cmd::SetConfig,
            IpvsRequest::GetConfig => Cmd::GetConfig,
            IpvsRequest::GetInfo => Cmd::GetInfo,
            IpvsRequest::Zero(_) => Cmd::Zero,
            IpvsRequest::Flush => Cmd::Flush,
        }
    }

    /// True for the three dumps (answered by multi-part messages ending
    /// with `NLMSG_DONE` rather than by an acknowledgement).
    pub fn is_dump(&self) -> bool {
        matches!(
            self,
            IpvsRequest::GetServices | IpvsRequest::GetDests(_) | IpvsRequest::GetDaemons
        )
    }

    /// The `nlmsghdr` flags ipvsadm uses: `REQUEST|ACK` (0x5), plus `DUMP`
    /// (0x305) for dumps.
    pub fn flags(&self) -> u16 {
        let base = NLM_F_REQUEST | NLM_F_ACK;
        if self.is_dump() {
            base | NLM_F_DUMP
        } else {
            base
        }
    }

    /// The message, attributes in ipvsadm's order.
    pub fn to_message(&self) -> IpvsMessage {
        let attrs = match *self {
            IpvsRequest::NewService(s)
            | IpvsRequest::SetService(s)
            | IpvsRequest::DelService(s)
            | IpvsRequest::Zero(Some(s)) => vec![IpvsAttr::Service(service_attrs(s))],
            IpvsRequest::GetService(key) => {
                let mut v = key_attrs(key);
                v.extend([
                    ServiceAttr::SchedName(String::new()),
                    flags_attr(0),
                    ServiceAttr::Timeout(0),
                    ServiceAttr::Netmask(netmask_bytes(key.family(), 0)),
                ]);
                vec![IpvsAttr::Service(v)]
            }
            IpvsRequest::NewDest(s, d)
            | IpvsRequest::SetDest(s, d)
            | IpvsRequest::DelDest(s, d) => vec![
                IpvsAttr::Service(service_attrs(s)),
                IpvsAttr::Dest(dest_attrs(d)),
            ],
            IpvsRequest::GetDests(key) => vec![IpvsAttr::Service(key_attrs(key))],
            IpvsRequest::NewDaemon(d) => vec![IpvsAttr::Daemon(daemon_attrs(d, true))],
            IpvsRequest::DelDaemon(d) => vec![IpvsAttr::Daemon(daemon_attrs(d, false))],
            IpvsRequest::SetConfig(t) => timeout_attrs(t),
            IpvsRequest::GetServices
            | IpvsRequest::GetDaemons
            | IpvsRequest::GetConfig
            | IpvsRequest::GetInfo
            | IpvsRequest::Zero(None)
            | IpvsRequest::Flush => Vec::new(),
        };
        IpvsMessage {
            cmd: self.cmd(),
            attrs,
        }
    }

    /// Appends the request as one netlink message to `buf`, for the
    /// resolved `family` id, and returns its length.
    pub fn encode(
        &self,
        buf: &mut Vec<u8>,
        family: u16,
        seq: u32,
        pid: u32,
    ) -> Result<usize, EncodeError> {
        self.to_message()
            .append_to(buf, family, self.flags(), seq, pid)
    }
}

/// The value of an address attribute: the kernel's 16-byte `union
/// nf_inet_addr` (an IPv4 address in its first 4 bytes, the rest zero),
/// kept inline so that encoding a request allocates nothing for its
/// addresses (a request with a service and a destination had two
/// allocations for them). Received values of at most 16 bytes are kept as
/// they came, as the kernel's attribute policy allows; longer ones are
/// refused (ipvsadm's policy refuses them too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InetAddr {
    bytes: [u8; 16],
    len: u8,
}

impl InetAddr {
    /// The 16-byte form of `addr`.
    pub fn from_ip(addr: &IpAddr) -> InetAddr {
        let mut bytes = [0u8; 16];
        match addr {
            IpAddr::V4(a) => {
                if let Some(head) = bytes.first_chunk_mut::<4>() {
                    *head = a.octets();
                }
            }
            IpAddr::V6(a) => bytes = a.octets(),
        }
        InetAddr { bytes, len: 16 }
    }

    /// A received value; `None` when it is longer than 16 bytes.
    #[inline]
    pub fn check(p: &[u8]) -> Option<&[u8]> {
        (p.len() <= 16).then_some(p)
    }

    /// A received value, as [`InetAddr::check`] accepts it.
    pub fn parse(p: &[u8]) -> Result<InetAddr, PacketError> {
        let mut bytes = [0u8; 16];
        match bytes.get_mut(..p.len()) {
            Some(head) => {
                head.copy_from_slice(p);
                Ok(InetAddr {
                    bytes,
                    len: p.len() as u8,
                })
            }
            None => Err(PacketError::from(format!(
                "address of {} bytes (at most 16)",
                p.len()
            ))),
        }
    }

    /// The bytes as they are sent or were received.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }
}

/// Netmask as sent: IPv4 mask bytes in network order, otherwise host order.
fn netmask_bytes(family: Family, netmask: u32) -> [u8; 4] {
    match family {
        Family::Inet => netmask.to_be_bytes(),
        _ => netmask.to_ne_bytes(),
    }
}

fn netmask_from(family: Family, v: [u8; 4]) -> u32 {
    match family {
        Family::Inet => u32::from_be_bytes(v),
        _ => u32::from_ne_bytes(v),
    }
}

/// The service's identity: AF, then the mark or protocol, address, port.
fn key_attrs(key: &ServiceKey) -> Vec<ServiceAttr> {
    let mut v = Vec::with_capacity(9);
    v.push(ServiceAttr::Af(key.family().to_raw()));
    match key {
        ServiceKey::Fwmark { mark, .. } => v.push(ServiceAttr::Fwmark(*mark)),
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => v.extend([
            ServiceAttr::Protocol(protocol.to_raw()),
            ServiceAttr::Addr(InetAddr::from_ip(addr)),
            ServiceAttr::Port(*port),
        ]),
    }
    v
}

/// Flags with the all-ones mask ipvsadm sends.
fn flags_attr(flags: u32) -> ServiceAttr {
    ServiceAttr::Flags {
        flags,
        mask: u32::MAX,
    }
}

/// The full service nest in ipvsadm's order.
fn service_attrs(s: &Service) -> Vec<ServiceAttr> {
    let mut v = key_attrs(&s.key);
    v.push(ServiceAttr::SchedName(s.scheduler.clone()));
    if let Some(pe) = s.pe.as_deref().filter(|p| !p.is_empty()) {
        v.push(ServiceAttr::PeName(pe.to_string()));
    }
    v.extend([
        flags_attr(s.flags),
        ServiceAttr::Timeout(s.timeout),
        ServiceAttr::Netmask(netmask_bytes(s.key.family(), s.netmask)),
    ]);
    v
}

/// The destination nest: all ten attributes in ipvsadm's order.
fn dest_attrs(d: &Dest) -> Vec<DestAttr> {
    vec![
        DestAttr::AddrFamily(d.family().to_raw()),
        DestAttr::Addr(InetAddr::from_ip(&d.addr)),
        DestAttr::Port(d.port),
        DestAttr::FwdMethod(d.fwd.to_raw()),
        DestAttr::Weight(d.weight as u32),
        DestAttr::TunType(d.tun_type.to_raw()),
        DestAttr::TunPort(d.tun_port),
        DestAttr::TunFlags(d.tun_flags),
        DestAttr::UThresh(d.u_threshold),
        DestAttr::LThresh(d.l_threshold),
    ]
}

fn group_attr(group: &IpAddr) -> DaemonAttr {
    match group {
        IpAddr::V6(a) => DaemonAttr::McastGroup6(*a),
        IpAddr::V4(a) => DaemonAttr::McastGroup(*a),
    }
}

/// The daemon nest. `start`: state, interface, sync id, then the optional
/// settings that are non-zero and the group if given; otherwise (stop) only
/// the first three.
fn daemon_attrs(d: &Daemon, start: bool) -> Vec<DaemonAttr> {
    let mut v = vec![
        DaemonAttr::State(d.state.to_raw()),
        DaemonAttr::McastIfn(d.mcast_ifn.clone()),
        DaemonAttr::SyncId(d.syncid),
    ];
    if start {
        if d.sync_maxlen != 0 {
            v.push(DaemonAttr::SyncMaxlen(d.sync_maxlen));
        }
        if d.mcast_port != 0 {
            v.push(DaemonAttr::McastPort(d.mcast_port));
        }
        if d.mcast_ttl != 0 {
            v.push(DaemonAttr::McastTtl(d.mcast_ttl));
        }
        if let Some(g) = &d.mcast_group {
            v.push(group_attr(g));
        }
    }
    v
}

fn timeout_attrs(t: &Timeouts) -> Vec<IpvsAttr> {
    vec![
        IpvsAttr::TimeoutTcp(t.tcp),
        IpvsAttr::TimeoutTcpFin(t.tcp_fin),
        IpvsAttr::TimeoutUdp(t.udp),
    ]
}

// ---------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------

fn missing(context: &'static str, attr: &'static str) -> DecodeError {
    DecodeError::MissingAttribute { context, attr }
}

fn req<T>(v: Option<T>, context: &'static str, attr: &'static str) -> Result<T, DecodeError> {
    v.ok_or_else(|| missing(context, attr))
}

/// An address from its attribute bytes, read as `family` says.
fn ip_of(
    context: &'static str,
    attr: &'static str,
    family: Family,
    bytes: &[u8],
) -> Result<IpAddr, DecodeError> {
    match addr_of(family, bytes) {
        Some(a) => Ok(a),
        None => Err(ip_error(context, attr, family, bytes.len())),
    }
}

/// An address from its attribute bytes; `None` when they are too short
/// or the family is neither IPv4 nor IPv6 ([`ip_error`] says which).
/// Matched on the bytes and returned as an `Option` (laid out as the
/// address itself): built through `Option` adaptors into a `Result`, the
/// IPv4 address went through a misaligned stack copy that stalled the
/// store buffer, a quarter of the time of decoding a destination (`perf
/// annotate` over `decode_dest`).
#[inline]
fn addr_of(family: Family, bytes: &[u8]) -> Option<IpAddr> {
    match family {
        Family::Inet => match bytes {
            [a, b, c, d, ..] => Some(IpAddr::V4(Ipv4Addr::new(*a, *b, *c, *d))),
            _ => None,
        },
        Family::Inet6 => bytes
            .first_chunk::<16>()
            .map(|o| IpAddr::V6(Ipv6Addr::from(*o))),
        Family::Other(_) => None,
    }
}

#[cold]
fn ip_error(context: &'static str, attr: &'static str, family: Family, len: usize) -> DecodeError {
    match family {
        Family::Inet => DecodeError::ShortAttribute {
            context,
            attr,
            len,
            need: 4,
        },
        Family::Inet6 => DecodeError::ShortAttribute {
            context,
            attr,
            len,
            need: 16,
        },
        Family::Other(family) => DecodeError::UnsupportedFamily { context, family },
    }
}

/// The ten counters of a stats nest as they are read, by attribute number.
type CounterSlots = [Option<u64>; 11];

/// Records one counter attribute (the last of a kind counts).
fn count(v: &mut CounterSlots, a: &StatsAttr) {
    let (i, x) = match a {
        StatsAttr::Conns(c) => (1, u64::from(*c)),
        StatsAttr::InPkts(c) => (2, u64::from(*c)),
        StatsAttr::OutPkts(c) => (3, u64::from(*c)),
        StatsAttr::InBytes(x) => (4, *x),
        StatsAttr::OutBytes(x) => (5, *x),
        StatsAttr::Cps(c) => (6, u64::from(*c)),
        StatsAttr::InPps(c) => (7, u64::from(*c)),
        StatsAttr::OutPps(c) => (8, u64::from(*c)),
        StatsAttr::InBps(c) => (9, u64::from(*c)),
        StatsAttr::OutBps(c) => (10, u64::from(*c)),
        StatsAttr::Other(_) => return,
    };
    if let Some(slot) = v.get_mut(i) {
        *slot = Some(x);
    }
}

/// The counters once a nest is read; all ten are required.
fn counters(v: &CounterSlots, wide: bool) -> Result<Stats, DecodeError> {
    let context = if wide { "STATS64" } else { "STATS" };
    let get = |i: usize| -> Result<u64, DecodeError> {
        v.get(i)
            .copied()
            .flatten()
            .ok_or(missing(context, STATS_NAMES.get(i).copied().unwrap_or("?")))
    };
    Ok(Stats {
        conns: get(1)?,
        inpkts: get(2)?,
        outpkts: get(3)?,
        inbytes: get(4)?,
        outbytes: get(5)?,
        cps: get(6)?,
        inpps: get(7)?,
        outpps: get(8)?,
        inbps: get(9)?,
        outbps: get(10)?,
    })
}

/// Counters from a stats nest. All ten values are required; `PAD` and
/// unknown attributes are skipped; the last of a kind counts.
pub fn stats_from(attrs: &[StatsAttr], wide: bool) -> Result<Stats, DecodeError> {
    let mut v: CounterSlots = [None; 11];
    for a in attrs {
        count(&mut v, a);
    }
    counters(&v, wide)
}

/// Decodes a counters nest's content: `wide` for `STATS64` (all u64),
/// otherwise the legacy nest (u32 counters and rates widened, u64 bytes).
pub fn decode_stats(nest: &[u8], wide: bool) -> Result<Stats, DecodeError> {
    stats_from(&parse_stats(nest, wide)?, wide)
}

/// The service of a service nest's attributes. Requires AF, FWMARK
/// (non-zero) or PROTOCOL+ADDR+PORT, SCHED_NAME, FLAGS, TIMEOUT and
/// NETMASK; flags are `flags & mask`.
pub fn service_from(attrs: &[ServiceAttr]) -> Result<Service, DecodeError> {
    let mut acc = ServiceFields::default();
    let (mut sched, mut pe) = (None, None);
    for a in attrs {
        match a {
            ServiceAttr::Addr(v) => acc.addr = Some(v.as_bytes()),
            ServiceAttr::SchedName(v) => sched = Some(v),
            ServiceAttr::PeName(v) => pe = Some(v),
            ServiceAttr::Stats(v) => acc.stats = Some(CountersIn::Parsed(v)),
            ServiceAttr::Stats64(v) => acc.stats64 = Some(CountersIn::Parsed(v)),
            other => acc.scalar(other),
        }
    }
    acc.finish(sched, pe)
}

/// A service nest's attributes as they are read (from the enums, or
/// straight from a reply's bytes).
#[derive(Default)]
struct ServiceFields<'a> {
    af: Option<u16>,
    protocol: Option<u16>,
    addr: Option<&'a [u8]>,
    port: Option<u16>,
    fwmark: Option<u32>,
    flags: Option<u32>,
    timeout: Option<u32>,
    netmask: Option<[u8; 4]>,
    stats: Option<CountersIn<'a>>,
    stats64: Option<CountersIn<'a>>,
}

impl<'a> ServiceFields<'a> {
    /// Records an attribute held by value (addresses, names and counters
    /// are set by the callers, which borrow them).
    fn scalar(&mut self, a: &ServiceAttr) {
        match a {
            ServiceAttr::Af(v) => self.af = Some(*v),
            ServiceAttr::Protocol(v) => self.protocol = Some(*v),
            ServiceAttr::Port(v) => self.port = Some(*v),
            ServiceAttr::Fwmark(v) => self.fwmark = Some(*v),
            ServiceAttr::Flags { flags: f, mask } => self.flags = Some(f & mask),
            ServiceAttr::Timeout(v) => self.timeout = Some(*v),
            ServiceAttr::Netmask(v) => self.netmask = Some(*v),
            ServiceAttr::Addr(_)
            | ServiceAttr::SchedName(_)
            | ServiceAttr::PeName(_)
            | ServiceAttr::Stats(_)
            | ServiceAttr::Stats64(_)
            | ServiceAttr::Other(_) => {}
        }
    }

    fn finish(&self, sched: Option<&String>, pe: Option<&String>) -> Result<Service, DecodeError> {
        const C: &str = "service";
        let family = Family::from_raw(req(self.af, C, "AF")?);
        let key = match self.fwmark {
            Some(mark) if mark != 0 => ServiceKey::Fwmark { family, mark },
            _ => ServiceKey::Addr {
                protocol: Protocol::from_raw(req(self.protocol, C, "PROTOCOL")?),
                addr: ip_of(C, "ADDR", family, req(self.addr, C, "ADDR")?)?,
                port: req(self.port, C, "PORT")?,
            },
        };
        Ok(Service {
            key,
            scheduler: req(sched, C, "SCHED_NAME")?.clone(),
            pe: pe.filter(|s| !s.is_empty()).cloned(),
            flags: req(self.flags, C, "FLAGS")?,
            timeout: req(self.timeout, C, "TIMEOUT")?,
            netmask: netmask_from(family, req(self.netmask, C, "NETMASK")?),
            stats: pick_counters(self.stats, self.stats64)?,
        })
    }
}

/// The destination of a destination nest's attributes. Requires ADDR,
/// PORT, FWD_METHOD, WEIGHT, U_THRESH, L_THRESH and the three connection
/// counts; tunnel settings default to IP-in-IP, port 0, flags 0;
/// `service_family` applies when the kernel omits `ADDR_FAMILY`.
pub fn dest_from(attrs: &[DestAttr], service_family: Family) -> Result<Dest, DecodeError> {
    let mut acc = DestFields::default();
    for a in attrs {
        match a {
            DestAttr::Addr(v) => acc.addr = Some(v.as_bytes()),
            DestAttr::Stats(v) => acc.stats = Some(CountersIn::Parsed(v)),
            DestAttr::Stats64(v) => acc.stats64 = Some(CountersIn::Parsed(v)),
            other => acc.scalar(other),
        }
    }
    acc.finish(service_family)
}

/// A destination nest's attributes as they are read (from the enums, or
/// straight from a reply's bytes).
#[derive(Default)]
struct DestFields<'a> {
    addr: Option<&'a [u8]>,
    port: Option<u16>,
    fwd: Option<u32>,
    weight: Option<u32>,
    uth: Option<u32>,
    lth: Option<u32>,
    active: Option<u32>,
    inact: Option<u32>,
    persist: Option<u32>,
    family: Option<u16>,
    tun_type: Option<u8>,
    tun_port: Option<u16>,
    tun_flags: Option<u16>,
    stats: Option<CountersIn<'a>>,
    stats64: Option<CountersIn<'a>>,
}

impl<'a> DestFields<'a> {
    /// Records an attribute held by value (the address and the counters
    /// are set by the callers, which borrow them).
    fn scalar(&mut self, a: &DestAttr) {
        match a {
            DestAttr::Port(v) => self.port = Some(*v),
            DestAttr::FwdMethod(v) => self.fwd = Some(*v),
            DestAttr::Weight(v) => self.weight = Some(*v),
            DestAttr::UThresh(v) => self.uth = Some(*v),
            DestAttr::LThresh(v) => self.lth = Some(*v),
            DestAttr::ActiveConns(v) => self.active = Some(*v),
            DestAttr::InactConns(v) => self.inact = Some(*v),
            DestAttr::PersistConns(v) => self.persist = Some(*v),
            DestAttr::AddrFamily(v) => self.family = Some(*v),
            DestAttr::TunType(v) => self.tun_type = Some(*v),
            DestAttr::TunPort(v) => self.tun_port = Some(*v),
            DestAttr::TunFlags(v) => self.tun_flags = Some(*v),
            DestAttr::Addr(_) | DestAttr::Stats(_) | DestAttr::Stats64(_) | DestAttr::Other(_) => {}
        }
    }

    fn finish(&self, service_family: Family) -> Result<Dest, DecodeError> {
        const C: &str = "destination";
        let family = self.family.map_or(service_family, Family::from_raw);
        let bytes = req(self.addr, C, "ADDR")?;
        let Some(addr) = addr_of(family, bytes) else {
            return Err(ip_error(C, "ADDR", family, bytes.len()));
        };
        Ok(Dest {
            addr,
            port: req(self.port, C, "PORT")?,
            fwd: FwdMethod::from_raw(req(self.fwd, C, "FWD_METHOD")?),
            weight: req(self.weight, C, "WEIGHT")? as i32,
            u_threshold: req(self.uth, C, "U_THRESH")?,
            l_threshold: req(self.lth, C, "L_THRESH")?,
            tun_type: TunType::from_raw(self.tun_type.unwrap_or(0)),
            tun_port: self.tun_port.unwrap_or(0),
            tun_flags: self.tun_flags.unwrap_or(0),
            active_conns: req(self.active, C, "ACTIVE_CONNS")?,
            inact_conns: req(self.inact, C, "INACT_CONNS")?,
            persist_conns: req(self.persist, C, "PERSIST_CONNS")?,
            stats: pick_counters(self.stats, self.stats64)?,
        })
    }
}

/// The daemon of a daemon nest's attributes. Requires STATE, MCAST_IFN
/// and SYNC_ID; the rest is optional (0 / `None` when absent).
pub fn daemon_from(attrs: &[DaemonAttr]) -> Result<Daemon, DecodeError> {
    const C: &str = "daemon";
    let (mut state, mut ifn, mut syncid, mut maxlen) = (None, None, None, None);
    let (mut g4, mut g6, mut mport, mut ttl) = (None, None, None, None);
    for a in attrs {
        match a {
            DaemonAttr::State(v) => state = Some(*v),
            DaemonAttr::McastIfn(v) => ifn = Some(v),
            DaemonAttr::SyncId(v) => syncid = Some(*v),
            DaemonAttr::SyncMaxlen(v) => maxlen = Some(*v),
            DaemonAttr::McastGroup(v) => g4 = Some(IpAddr::V4(*v)),
            DaemonAttr::McastGroup6(v) => g6 = Some(IpAddr::V6(*v)),
            DaemonAttr::McastPort(v) => mport = Some(*v),
            DaemonAttr::McastTtl(v) => ttl = Some(*v),
            DaemonAttr::Other(_) => {}
        }
    }
    Ok(Daemon {
        state: DaemonState::from_raw(req(state, C, "STATE")?),
        mcast_ifn: req(ifn, C, "MCAST_IFN")?.clone(),
        syncid: req(syncid, C, "SYNC_ID")?,
        sync_maxlen: maxlen.unwrap_or(0),
        mcast_group: g4.or(g6),
        mcast_port: mport.unwrap_or(0),
        mcast_ttl: ttl.unwrap_or(0),
    })
}

/// The last top-level nest `pick` selects, parsed; `attr` names it in the
/// error when absent.
fn top_nest<A>(
    attrs: &[u8],
    context: &'static str,
    attr: &'static str,
    pick: impl Fn(IpvsAttr) -> Option<Vec<A>>,
) -> Result<Vec<A>, DecodeError> {
    let mut found = None;
    for a in parse_attrs(attrs, Cmd::NewService)? {
        if let Some(v) = pick(a) {
            found = Some(v);
        }
    }
    found.ok_or(missing(context, attr))
}

// Listings decode thousands of these replies, one destination or service
// each. Parsed through the attribute enums, every reply costs a vector per
// nest, per counters nest and per address (5 allocations and frees a
// destination), which made `-Ln` of 20,000 destinations measurably slower
// than the hand-written decoder the enums replaced (docs/performance.md,
// run I). So the two listing replies are read attribute by attribute
// straight from the received bytes, through the crates' `NlasIterator` and
// the enums' own per-attribute parsers, and only what the model keeps is
// copied. Every attribute is still parsed, so anything the enum path
// refuses is refused here too; the error itself then comes from the enum
// path, so both give the same message, and a unit test (and the
// `wire_decode` fuzz target) holds the two paths to the same results.

/// A nest's counters: its parsed attributes, or read straight from the
/// reply.
#[derive(Clone, Copy)]
enum CountersIn<'a> {
    Parsed(&'a [StatsAttr]),
    Read(&'a CounterSlots),
}

/// Reads (and checks, as [`StatsAttr`]'s parser does) a raw counters
/// nest; `None` when it is refused.
#[inline]
fn raw_counters(nest: &[u8], wide: bool, v: &mut CounterSlots) -> Option<()> {
    *v = [None; 11];
    for item in nlas(nest) {
        let (kind, p, nla) = item.ok()?;
        let x = match kind {
            4 | 5 => parse_u64(p).ok()?,
            1..=10 => match Counter::parse(p, wide).ok()? {
                Counter::Narrow(c) => u64::from(c),
                Counter::Wide(c) => c,
            },
            _ => {
                DefaultNla::parse(&nla).ok()?;
                continue;
            }
        };
        if let Some(slot) = v.get_mut(usize::from(kind)) {
            *slot = Some(x);
        }
    }
    Some(())
}

/// Counters from `STATS64` if present, else from `STATS`, else none.
fn pick_counters(
    stats: Option<CountersIn<'_>>,
    stats64: Option<CountersIn<'_>>,
) -> Result<Option<Box<Stats>>, DecodeError> {
    let (src, wide) = match (stats64, stats) {
        (Some(s), _) => (s, true),
        (None, Some(s)) => (s, false),
        (None, None) => return Ok(None),
    };
    let stats = match src {
        CountersIn::Parsed(a) => stats_from(a, wide)?,
        CountersIn::Read(v) => counters(v, wide)?,
    };
    Ok(Some(Box::new(stats)))
}

/// The value of the last top-level attribute numbered `kind` of a reply,
/// with every top-level attribute parsed (as the enum path does).
/// Earlier ones are parsed whole; the last is left to the caller to read.
/// `None` when the reply is refused, `Some(None)` when it has no such
/// attribute.
#[inline]
fn raw_top_nest(attrs: &[u8], kind: u16, cmd: Cmd) -> Option<Option<&[u8]>> {
    let mut found: Option<(&[u8], NlaBuffer<&[u8]>)> = None;
    for item in nlas(attrs) {
        let (k, value, nla) = item.ok()?;
        if k == kind {
            if let Some((_, earlier)) = found.replace((value, nla)) {
                IpvsAttr::parse_with_param(&earlier, cmd).ok()?;
            }
        } else {
            IpvsAttr::parse_with_param(&nla, cmd).ok()?;
        }
    }
    Some(found.map(|(value, _)| value))
}

/// [`decode_dest`] without collecting attributes; `None` when the reply is
/// refused (the enum path then says why). Each value is read by the
/// parser [`DestAttr`]'s own parse uses for its kind.
fn fast_dest(attrs: &[u8], service_family: Family) -> Option<Dest> {
    let nest = raw_top_nest(attrs, 2, Cmd::NewService)??;
    let mut acc = DestFields::default();
    // The counters are read in place (moving them in and out of the
    // accumulator was a sixth of a destination's decoding).
    let (mut narrow, mut wide): (CounterSlots, CounterSlots) = ([None; 11], [None; 11]);
    let (mut has_narrow, mut has_wide) = (false, false);
    for item in nlas(nest) {
        let (kind, p, nla) = item.ok()?;
        let u32_ = || parse_u32(p).ok();
        match kind {
            1 => acc.addr = Some(InetAddr::check(p)?),
            2 => acc.port = Some(parse_u16_be(p).ok()?),
            3 => acc.fwd = Some(u32_()?),
            4 => acc.weight = Some(u32_()?),
            5 => acc.uth = Some(u32_()?),
            6 => acc.lth = Some(u32_()?),
            7 => acc.active = Some(u32_()?),
            8 => acc.inact = Some(u32_()?),
            9 => acc.persist = Some(u32_()?),
            10 => {
                raw_counters(p, false, &mut narrow)?;
                has_narrow = true;
            }
            11 => acc.family = Some(parse_u16(p).ok()?),
            12 => {
                raw_counters(p, true, &mut wide)?;
                has_wide = true;
            }
            13 => acc.tun_type = Some(parse_u8(p).ok()?),
            14 => acc.tun_port = Some(parse_u16_be(p).ok()?),
            15 => acc.tun_flags = Some(parse_u16(p).ok()?),
            _ => {
                DefaultNla::parse(&nla).ok()?;
            }
        }
    }
    acc.stats = has_narrow.then_some(CountersIn::Read(&narrow));
    acc.stats64 = has_wide.then_some(CountersIn::Read(&wide));
    acc.finish(service_family).ok()
}

/// [`decode_service`] without collecting attributes; `None` when the
/// reply is refused (the enum path then says why). Each value is read by
/// the parser [`ServiceAttr`]'s own parse uses for its kind.
fn fast_service(attrs: &[u8]) -> Option<Service> {
    let nest = raw_top_nest(attrs, 1, Cmd::NewService)??;
    let mut acc = ServiceFields::default();
    let (mut sched, mut pe) = (None, None);
    let (mut narrow, mut wide): (CounterSlots, CounterSlots) = ([None; 11], [None; 11]);
    let (mut has_narrow, mut has_wide) = (false, false);
    for item in nlas(nest) {
        let (kind, p, nla) = item.ok()?;
        match kind {
            1 => acc.af = Some(parse_u16(p).ok()?),
            2 => acc.protocol = Some(parse_u16(p).ok()?),
            3 => acc.addr = Some(InetAddr::check(p)?),
            4 => acc.port = Some(parse_u16_be(p).ok()?),
            5 => acc.fwmark = Some(parse_u32(p).ok()?),
            6 => sched = Some(p),
            7 => {
                let (f, m) = (p.get(..4)?, p.get(4..)?);
                acc.flags = Some(parse_u32(f).ok()? & parse_u32(m).ok()?);
            }
            8 => acc.timeout = Some(parse_u32(p).ok()?),
            9 => acc.netmask = Some(p.try_into().ok()?),
            10 => {
                raw_counters(p, false, &mut narrow)?;
                has_narrow = true;
            }
            11 => pe = Some(p),
            12 => {
                raw_counters(p, true, &mut wide)?;
                has_wide = true;
            }
            _ => {
                DefaultNla::parse(&nla).ok()?;
            }
        }
    }
    acc.stats = has_narrow.then_some(CountersIn::Read(&narrow));
    acc.stats64 = has_wide.then_some(CountersIn::Read(&wide));
    let sched = sched.map(parse_cstr);
    let pe = pe.map(parse_cstr);
    acc.finish(sched.as_ref(), pe.as_ref()).ok()
}

/// Checks that the listing decoders give what the attribute enums give for
/// `attrs` (the same value, or both a refusal); the unit tests and the
/// `wire_decode` fuzz target call it. `Err` says how they differ.
#[doc(hidden)]
pub fn listing_paths_agree(attrs: &[u8]) -> Result<(), String> {
    let slow_service = top_nest(attrs, "service reply", "SERVICE", |a| match a {
        IpvsAttr::Service(v) => Some(v),
        _ => None,
    })
    .and_then(|n| service_from(&n));
    agree("service", fast_service(attrs), slow_service)?;
    for family in [Family::Inet, Family::Inet6, Family::Other(3)] {
        let slow_dest = top_nest(attrs, "destination reply", "DEST", |a| match a {
            IpvsAttr::Dest(v) => Some(v),
            _ => None,
        })
        .and_then(|n| dest_from(&n, family));
        agree("destination", fast_dest(attrs, family), slow_dest)?;
    }
    Ok(())
}

fn agree<T: PartialEq + std::fmt::Debug>(
    what: &str,
    fast: Option<T>,
    slow: Result<T, DecodeError>,
) -> Result<(), String> {
    match (fast, slow) {
        (Some(f), Ok(s)) if f == s => Ok(()),
        (None, Err(_)) => Ok(()),
        (f, s) => Err(format!("{what}: listing path {f:?}, enum path {s:?}")),
    }
}

/// Decodes the service in a reply's top-level attributes (the `SERVICE`
/// nest of a `GET_SERVICE` answer).
pub fn decode_service(attrs: &[u8]) -> Result<Service, DecodeError> {
    if let Some(s) = fast_service(attrs) {
        return Ok(s);
    }
    let nest = top_nest(attrs, "service reply", "SERVICE", |a| match a {
        IpvsAttr::Service(v) => Some(v),
        _ => None,
    })?;
    service_from(&nest)
}

/// Decodes the content of a `SERVICE` nest.
pub fn decode_service_nest(nest: &[u8]) -> Result<Service, DecodeError> {
    service_from(&parse_nlas(nest, |n| ServiceAttr::parse(n))?)
}

/// Decodes the destination in a reply's top-level attributes (the `DEST`
/// nest of a `GET_DEST` dump part).
pub fn decode_dest(attrs: &[u8], service_family: Family) -> Result<Dest, DecodeError> {
    if let Some(d) = fast_dest(attrs, service_family) {
        return Ok(d);
    }
    let nest = top_nest(attrs, "destination reply", "DEST", |a| match a {
        IpvsAttr::Dest(v) => Some(v),
        _ => None,
    })?;
    dest_from(&nest, service_family)
}

/// Decodes the content of a `DEST` nest.
pub fn decode_dest_nest(nest: &[u8], service_family: Family) -> Result<Dest, DecodeError> {
    dest_from(&parse_nlas(nest, |n| DestAttr::parse(n))?, service_family)
}

/// Decodes the daemon in a reply's top-level attributes (a `GET_DAEMON`
/// dump part).
pub fn decode_daemon(attrs: &[u8]) -> Result<Daemon, DecodeError> {
    let nest = top_nest(attrs, "daemon reply", "DAEMON", |a| match a {
        IpvsAttr::Daemon(v) => Some(v),
        _ => None,
    })?;
    daemon_from(&nest)
}

/// Decodes the `GET_INFO` reply (both attributes required).
pub fn decode_info(attrs: &[u8]) -> Result<Info, DecodeError> {
    let (mut version, mut size) = (None, None);
    for a in parse_attrs(attrs, Cmd::SetInfo)? {
        match a {
            IpvsAttr::Version(v) => version = Some(v),
            IpvsAttr::ConnTabSize(v) => size = Some(v),
            _ => {}
        }
    }
    Ok(Info {
        version: req(version, "info reply", "VERSION")?,
        conn_tab_size: req(size, "info reply", "CONN_TAB_SIZE")?,
    })
}

/// Decodes the `GET_CONFIG` reply (each timeout optional, 0 when absent).
pub fn decode_timeouts(attrs: &[u8]) -> Result<Timeouts, DecodeError> {
    let mut t = Timeouts {
        tcp: 0,
        tcp_fin: 0,
        udp: 0,
    };
    for a in parse_attrs(attrs, Cmd::SetConfig)? {
        match a {
            IpvsAttr::TimeoutTcp(v) => t.tcp = v,
            IpvsAttr::TimeoutTcpFin(v) => t.tcp_fin = v,
            IpvsAttr::TimeoutUdp(v) => t.udp = v,
            _ => {}
        }
    }
    Ok(t)
}

// ---------------------------------------------------------------------------
// Reply encoding (what the kernel sends), for fakes and tests
// ---------------------------------------------------------------------------

/// `nlmsghdr` fields of a reply built by the `encode_*_reply` functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyHeader {
    /// The IPVS family id.
    pub family: u16,
    /// `NLM_F_MULTI` for dump parts (plus `NLM_F_DUMP_INTR` if wanted).
    pub flags: u16,
    /// Sequence number of the request answered.
    pub seq: u32,
    /// Port id of the requester.
    pub pid: u32,
}

impl ReplyHeader {
    fn append(
        &self,
        buf: &mut Vec<u8>,
        cmd: Cmd,
        attrs: Vec<IpvsAttr>,
    ) -> Result<usize, EncodeError> {
        IpvsMessage { cmd, attrs }.append_to(buf, self.family, self.flags, self.seq, self.pid)
    }
}

fn stats_attrs(s: &Stats, wide: bool) -> Vec<StatsAttr> {
    let c = |v| Counter::new(v, wide);
    vec![
        StatsAttr::Conns(c(s.conns)),
        StatsAttr::InPkts(c(s.inpkts)),
        StatsAttr::OutPkts(c(s.outpkts)),
        StatsAttr::InBytes(s.inbytes),
        StatsAttr::OutBytes(s.outbytes),
        StatsAttr::Cps(c(s.cps)),
        StatsAttr::InPps(c(s.inpps)),
        StatsAttr::OutPps(c(s.outpps)),
        StatsAttr::InBps(c(s.inbps)),
        StatsAttr::OutBps(c(s.outbps)),
    ]
}

/// Appends a service reply (`NEW_SERVICE`) as the kernel builds it: both
/// counter nests when `stats` is set (the legacy one truncated to 32 bits).
pub fn encode_service_reply(
    buf: &mut Vec<u8>,
    h: &ReplyHeader,
    s: &Service,
) -> Result<usize, EncodeError> {
    let mut v = key_attrs(&s.key);
    v.push(ServiceAttr::SchedName(s.scheduler.clone()));
    if let Some(pe) = &s.pe {
        v.push(ServiceAttr::PeName(pe.clone()));
    }
    v.extend([
        flags_attr(s.flags),
        ServiceAttr::Timeout(s.timeout),
        ServiceAttr::Netmask(netmask_bytes(s.key.family(), s.netmask)),
    ]);
    if let Some(st) = &s.stats {
        v.push(ServiceAttr::Stats(stats_attrs(st, false)));
        v.push(ServiceAttr::Stats64(stats_attrs(st, true)));
    }
    h.append(buf, Cmd::NewService, vec![IpvsAttr::Service(v)])
}

/// Appends a destination reply (`NEW_DEST`) as the kernel builds it.
pub fn encode_dest_reply(
    buf: &mut Vec<u8>,
    h: &ReplyHeader,
    d: &Dest,
) -> Result<usize, EncodeError> {
    let mut v = vec![
        DestAttr::Addr(InetAddr::from_ip(&d.addr)),
        DestAttr::Port(d.port),
        DestAttr::FwdMethod(d.fwd.to_raw()),
        DestAttr::Weight(d.weight as u32),
        DestAttr::TunType(d.tun_type.to_raw()),
        DestAttr::TunPort(d.tun_port),
        DestAttr::TunFlags(d.tun_flags),
        DestAttr::UThresh(d.u_threshold),
        DestAttr::LThresh(d.l_threshold),
        DestAttr::ActiveConns(d.active_conns),
        DestAttr::InactConns(d.inact_conns),
        DestAttr::PersistConns(d.persist_conns),
        DestAttr::AddrFamily(d.family().to_raw()),
    ];
    if let Some(st) = &d.stats {
        v.push(DestAttr::Stats(stats_attrs(st, false)));
        v.push(DestAttr::Stats64(stats_attrs(st, true)));
    }
    h.append(buf, Cmd::NewDest, vec![IpvsAttr::Dest(v)])
}

/// Appends a daemon reply (`NEW_DAEMON`) with every attribute.
pub fn encode_daemon_reply(
    buf: &mut Vec<u8>,
    h: &ReplyHeader,
    d: &Daemon,
) -> Result<usize, EncodeError> {
    let mut v = vec![
        DaemonAttr::State(d.state.to_raw()),
        DaemonAttr::McastIfn(d.mcast_ifn.clone()),
        DaemonAttr::SyncId(d.syncid),
        DaemonAttr::SyncMaxlen(d.sync_maxlen),
        DaemonAttr::McastPort(d.mcast_port),
        DaemonAttr::McastTtl(d.mcast_ttl),
    ];
    if let Some(g) = &d.mcast_group {
        v.push(group_attr(g));
    }
    h.append(buf, Cmd::NewDaemon, vec![IpvsAttr::Daemon(v)])
}

/// Appends the `GET_INFO` reply (`SET_INFO`).
pub fn encode_info_reply(
    buf: &mut Vec<u8>,
    h: &ReplyHeader,
    i: &Info,
) -> Result<usize, EncodeError> {
    let attrs = vec![
        IpvsAttr::Version(i.version),
        IpvsAttr::ConnTabSize(i.conn_tab_size),
    ];
    h.append(buf, Cmd::SetInfo, attrs)
}

/// Appends the `GET_CONFIG` reply (`SET_CONFIG`).
pub fn encode_timeouts_reply(
    buf: &mut Vec<u8>,
    h: &ReplyHeader,
    t: &Timeouts,
) -> Result<usize, EncodeError> {
    h.append(buf, Cmd::SetConfig, timeout_attrs(t))
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{svc_flags, tun_flags};
    use crate::wire::netlink::{header_of, messages, Body, GenlMsg, NetlinkHeader, NLM_F_MULTI};

    const FAM: u16 = 0x24;

    /// Bytes from a string of hex pairs; anything else (spaces, `|`,
    /// comments after `#` on a line) is ignored.
    fn hex(s: &str) -> Vec<u8> {
        let digits: String = s
            .lines()
            .map(|l| l.split('#').next().unwrap_or(""))
            .flat_map(|l| l.chars())
            .filter(|c| c.is_ascii_hexdigit())
            .collect();
        (0..digits.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap())
            .collect()
    }

    fn encode(req: IpvsRequest<'_>) -> (NetlinkHeader, Vec<u8>) {
        let mut buf = Vec::new();
        let len = req.encode(&mut buf, FAM, 77, 0).unwrap();
        assert_eq!(len, buf.len());
        let h = header_of(&buf).unwrap();
        assert_eq!(h.length as usize, buf.len());
        assert_eq!(
            (h.message_type, h.sequence_number, h.port_number),
            (FAM, 77, 0)
        );
        (h, buf[16..].to_vec())
    }

    fn tcp_service() -> Service {
        Service {
            key: ServiceKey::Addr {
                protocol: Protocol::Tcp,
                addr: "10.0.0.50".parse().unwrap(),
                port: 8080,
            },
            scheduler: "rr".into(),
            pe: None,
            flags: svc_flags::PERSISTENT,
            timeout: 120,
            netmask: 0xffff_0000,
            stats: None,
        }
    }

    const TCP_SERVICE_NEST: &str = "
        54 00 01 80                       # SERVICE nest, len 84
        06 00 01 00 02 00 00 00           # AF 2
        06 00 02 00 06 00 00 00           # PROTOCOL 6
        14 00 03 00 0a 00 00 32 00 00 00 00 00 00 00 00 00 00 00 00
        06 00 04 00 1f 90 00 00           # PORT 8080
        07 00 06 00 72 72 00 00           # SCHED_NAME rr
        0c 00 07 00 01 00 00 00 ff ff ff ff
        08 00 08 00 78 00 00 00           # TIMEOUT 120
        08 00 09 00 ff ff 00 00           # NETMASK 255.255.0.0
    ";

    fn fwmark6_service() -> Service {
        Service {
            key: ServiceKey::Fwmark {
                family: Family::Inet6,
                mark: 0x8000_0001,
            },
            scheduler: "wlc".into(),
            pe: Some("sip".into()),
            flags: svc_flags::ONEPACKET | svc_flags::SCHED1,
            timeout: 0,
            netmask: 64,
            stats: None,
        }
    }

    fn dest() -> Dest {
        Dest {
            addr: "192.168.1.2".parse().unwrap(),
            port: 80,
            fwd: FwdMethod::Tunnel,
            weight: 5,
            u_threshold: 100,
            l_threshold: 10,
            tun_type: TunType::Gue,
            tun_port: 6080,
            tun_flags: tun_flags::CSUM,
            active_conns: 0,
            inact_conns: 0,
            persist_conns: 0,
            stats: None,
        }
    }

    const DEST_NEST: &str = "
        60 00 02 80                       # DEST nest, len 96
        06 00 0b 00 02 00 00 00           # ADDR_FAMILY 2
        14 00 01 00 c0 a8 01 02 00 00 00 00 00 00 00 00 00 00 00 00
        06 00 02 00 00 50 00 00           # PORT 80
        08 00 03 00 02 00 00 00           # FWD_METHOD tunnel
        08 00 04 00 05 00 00 00           # WEIGHT 5
        05 00 0d 00 01 00 00 00           # TUN_TYPE gue
        06 00 0e 00 17 c0 00 00           # TUN_PORT 6080
        06 00 0f 00 01 00 00 00           # TUN_FLAGS csum
        08 00 05 00 64 00 00 00           # U_THRESH 100
        08 00 06 00 0a 00 00 00           # L_THRESH 10
    ";

    /// Attributes as (type, payload) pairs, framed by the packet crate.
    fn raw(parts: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let v: Vec<DefaultNla> = parts
            .iter()
            .map(|(k, p)| DefaultNla::new(*k, p.clone()))
            .collect();
        let mut out = vec![0; v.as_slice().buffer_len()];
        v.as_slice().emit(&mut out);
        out
    }

    /// A top-level nest of type `kind` holding `parts`.
    fn nest(kind: u16, parts: &[(u16, Vec<u8>)]) -> Vec<u8> {
        raw(&[(kind | NLA_F_NESTED, raw(parts))])
    }

    #[test]
    fn enums_round_trip() {
        for v in 0..=20u8 {
            assert_eq!(Cmd::from_raw(v).to_raw(), v);
        }
        assert_eq!(Cmd::from_raw(17), Cmd::Flush);
        assert_eq!(Cmd::from_raw(18), Cmd::Other(18));
        // Every attribute, known or not, parses back to what was emitted.
        let unknown = DefaultNla::new(99, vec![1, 2, 3]);
        let mut s = tcp_service();
        s.pe = Some("sip".into());
        let mut svc = service_attrs(&s);
        svc.push(ServiceAttr::Stats64(stats_attrs(&big_stats(), true)));
        svc.push(ServiceAttr::Stats(stats_attrs(&big_stats(), false)));
        svc.push(ServiceAttr::Other(unknown.clone()));
        let mut dst = dest_attrs(&dest());
        dst.push(DestAttr::Other(unknown.clone()));
        let mut d = Daemon {
            state: DaemonState::Master,
            mcast_ifn: "eth0".into(),
            syncid: 7,
            sync_maxlen: 1472,
            mcast_group: Some("224.0.0.81".parse().unwrap()),
            mcast_port: 8848,
            mcast_ttl: 1,
        };
        let mut dmn = daemon_attrs(&d, true);
        d.mcast_group = Some("ff02::81".parse().unwrap());
        dmn.extend(daemon_attrs(&d, true));
        dmn.push(DaemonAttr::Other(unknown.clone()));
        let mut all = vec![
            IpvsAttr::Service(svc),
            IpvsAttr::Dest(dst),
            IpvsAttr::Daemon(dmn),
            IpvsAttr::Other(unknown.clone()),
        ];
        all.extend(timeout_attrs(&Timeouts {
            tcp: 1,
            tcp_fin: 2,
            udp: 3,
        }));
        let mut buf = vec![0; all.as_slice().buffer_len()];
        all.as_slice().emit(&mut buf);
        assert_eq!(parse_attrs(&buf, Cmd::NewService).unwrap(), all);
        let info = vec![
            IpvsAttr::Version(0x010201),
            IpvsAttr::ConnTabSize(4096),
            IpvsAttr::Other(unknown),
        ];
        let mut buf = vec![0; info.as_slice().buffer_len()];
        info.as_slice().emit(&mut buf);
        assert_eq!(parse_attrs(&buf, Cmd::SetInfo).unwrap(), info);
    }

    #[cfg(target_endian = "little")]
    mod bytes {
        use super::*;

        /// The reference's example: `-A -t 10.0.0.50:8080 -s rr -p 120 -M
        /// 255.255.0.0`.
        #[test]
        fn new_service_matches_reference_example() {
            let s = tcp_service();
            let (h, body) = encode(IpvsRequest::NewService(&s));
            assert_eq!(h.length, 104);
            assert_eq!(h.flags, 0x0005);
            let mut want = hex("01 01 00 00");
            want.extend(hex(TCP_SERVICE_NEST));
            assert_eq!(body, want);
        }

        #[test]
        fn set_service_fwmark6_with_pe() {
            let s = fwmark6_service();
            let (h, body) = encode(IpvsRequest::SetService(&s));
            assert_eq!(h.flags, 0x0005);
            let want = hex("
                02 01 00 00
                40 00 01 80                   # SERVICE nest, len 64
                06 00 01 00 0a 00 00 00       # AF 10
                08 00 05 00 01 00 00 80       # FWMARK
                08 00 06 00 77 6c 63 00       # SCHED_NAME wlc
                08 00 0b 00 73 69 70 00       # PE_NAME sip
                0c 00 07 00 0c 00 00 00 ff ff ff ff
                08 00 08 00 00 00 00 00       # TIMEOUT 0
                08 00 09 00 40 00 00 00       # NETMASK /64, host order
            ");
            assert_eq!(body, want);
        }

        #[test]
        fn del_service_sends_empty_scheduler() {
            let mut s = tcp_service();
            s.scheduler.clear();
            s.pe = Some(String::new()); // empty engine is not sent
            s.flags = 0;
            s.timeout = 0;
            s.netmask = 0xffff_ffff;
            let (h, body) = encode(IpvsRequest::DelService(&s));
            assert_eq!(h.flags, 0x0005);
            let want = hex("
                03 01 00 00
                54 00 01 80
                06 00 01 00 02 00 00 00
                06 00 02 00 06 00 00 00
                14 00 03 00 0a 00 00 32 00 00 00 00 00 00 00 00 00 00 00 00
                06 00 04 00 1f 90 00 00
                05 00 06 00 00 00 00 00       # SCHED_NAME empty
                0c 00 07 00 00 00 00 00 ff ff ff ff
                08 00 08 00 00 00 00 00
                08 00 09 00 ff ff ff ff
            ");
            assert_eq!(body, want);
        }

        #[test]
        fn get_service_doit_uses_only_the_key() {
            let s = tcp_service();
            let (h, body) = encode(IpvsRequest::GetService(&s.key));
            assert_eq!(h.flags, 0x0005);
            let want = hex("
                04 01 00 00
                54 00 01 80
                06 00 01 00 02 00 00 00
                06 00 02 00 06 00 00 00
                14 00 03 00 0a 00 00 32 00 00 00 00 00 00 00 00 00 00 00 00
                06 00 04 00 1f 90 00 00
                05 00 06 00 00 00 00 00
                0c 00 07 00 00 00 00 00 ff ff ff ff
                08 00 08 00 00 00 00 00
                08 00 09 00 00 00 00 00
            ");
            assert_eq!(body, want);
        }

        #[test]
        fn attribute_free_requests() {
            for (req, cmd, flags) in [
                (IpvsRequest::GetServices, 4u8, 0x0305u16),
                (IpvsRequest::GetDaemons, 11, 0x0305),
                (IpvsRequest::GetConfig, 13, 0x0005),
                (IpvsRequest::GetInfo, 15, 0x0005),
                (IpvsRequest::Zero(None), 16, 0x0005),
                (IpvsRequest::Flush, 17, 0x0005),
            ] {
                let (h, body) = encode(req);
                assert_eq!(h.length, 20, "{req:?}");
                assert_eq!(h.flags, flags, "{req:?}");
                assert_eq!(body, vec![cmd, 1, 0, 0], "{req:?}");
            }
        }

        #[test]
        fn zero_one_service() {
            let s = tcp_service();
            let (h, body) = encode(IpvsRequest::Zero(Some(&s)));
            assert_eq!(h.flags, 0x0005);
            let mut want = hex("10 01 00 00");
            want.extend(hex(TCP_SERVICE_NEST));
            assert_eq!(body, want);
        }

        #[test]
        fn dest_commands_send_service_and_all_ten_dest_attrs() {
            let s = tcp_service();
            let d = dest();
            for (req, cmd) in [
                (IpvsRequest::NewDest(&s, &d), 5u8),
                (IpvsRequest::SetDest(&s, &d), 6),
                (IpvsRequest::DelDest(&s, &d), 7),
            ] {
                let (h, body) = encode(req);
                assert_eq!(h.flags, 0x0005);
                assert_eq!(h.length, 16 + 4 + 84 + 96);
                let mut want = vec![cmd, 1, 0, 0];
                want.extend(hex(TCP_SERVICE_NEST));
                want.extend(hex(DEST_NEST));
                assert_eq!(body, want, "{req:?}");
            }
        }

        #[test]
        fn ipv6_dest_in_ipv4_service() {
            let s = tcp_service();
            let mut d = Dest::new("2001:db8::1".parse().unwrap(), 443);
            d.fwd = FwdMethod::Tunnel;
            d.weight = i32::MAX;
            let (_, body) = encode(IpvsRequest::NewDest(&s, &d));
            let dest = &body[4 + 84..];
            let want = hex("
                60 00 02 80
                06 00 0b 00 0a 00 00 00
                14 00 01 00 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 01
                06 00 02 00 01 bb 00 00
                08 00 03 00 02 00 00 00
                08 00 04 00 ff ff ff 7f
                05 00 0d 00 00 00 00 00
                06 00 0e 00 00 00 00 00
                06 00 0f 00 00 00 00 00
                08 00 05 00 00 00 00 00
                08 00 06 00 00 00 00 00
            ");
            assert_eq!(dest, &want[..]);
        }

        #[test]
        fn get_dests_sends_identity_only() {
            let s = tcp_service();
            let (h, body) = encode(IpvsRequest::GetDests(&s.key));
            assert_eq!(h.flags, 0x0305);
            let want = hex("
                08 01 00 00
                30 00 01 80
                06 00 01 00 02 00 00 00
                06 00 02 00 06 00 00 00
                14 00 03 00 0a 00 00 32 00 00 00 00 00 00 00 00 00 00 00 00
                06 00 04 00 1f 90 00 00
            ");
            assert_eq!(body, want);
            let f = fwmark6_service();
            let (_, body) = encode(IpvsRequest::GetDests(&f.key));
            let want = hex("
                08 01 00 00
                14 00 01 80
                06 00 01 00 0a 00 00 00
                08 00 05 00 01 00 00 80
            ");
            assert_eq!(body, want);
        }

        /// The reference's `--start-daemon master --mcast-interface eth1
        /// --syncid 9 --sync-maxlen 1400 --mcast-group 239.1.2.3
        /// --mcast-port 9999 --mcast-ttl 3`.
        #[test]
        fn new_daemon_matches_reference_example() {
            let d = Daemon {
                state: DaemonState::Master,
                mcast_ifn: "eth1".into(),
                syncid: 9,
                sync_maxlen: 1400,
                mcast_group: Some("239.1.2.3".parse().unwrap()),
                mcast_port: 9999,
                mcast_ttl: 3,
            };
            let (h, body) = encode(IpvsRequest::NewDaemon(&d));
            assert_eq!(h.flags, 0x0005);
            let want = hex("
                09 01 00 00
                40 00 03 80                   # DAEMON nest, len 64
                08 00 01 00 01 00 00 00       # STATE master
                09 00 02 00 65 74 68 31 00 00 00 00   # MCAST_IFN eth1
                08 00 03 00 09 00 00 00       # SYNC_ID 9
                06 00 04 00 78 05 00 00       # SYNC_MAXLEN 1400
                06 00 07 00 0f 27 00 00       # MCAST_PORT 9999 host order
                05 00 08 00 03 00 00 00       # MCAST_TTL 3
                08 00 05 00 ef 01 02 03       # MCAST_GROUP
            ");
            assert_eq!(body, want);
        }

        #[test]
        fn new_daemon_minimal_and_ipv6_group() {
            let mut d = Daemon {
                state: DaemonState::Backup,
                mcast_ifn: "eth0".into(),
                syncid: 0,
                sync_maxlen: 0,
                mcast_group: None,
                mcast_port: 0,
                mcast_ttl: 0,
            };
            let (_, body) = encode(IpvsRequest::NewDaemon(&d));
            let want = hex("
                09 01 00 00
                20 00 03 80
                08 00 01 00 02 00 00 00
                09 00 02 00 65 74 68 30 00 00 00 00
                08 00 03 00 00 00 00 00
            ");
            assert_eq!(body, want);
            d.mcast_group = Some("ff02::1".parse().unwrap());
            let (_, body) = encode(IpvsRequest::NewDaemon(&d));
            let mut want2 = want.clone();
            want2[4] = 0x34;
            want2.extend(hex(
                "14 00 06 00 ff 02 00 00 00 00 00 00 00 00 00 00 00 00 00 01",
            ));
            assert_eq!(body, want2);
        }

        #[test]
        fn del_daemon() {
            let d = Daemon {
                state: DaemonState::Backup,
                mcast_ifn: String::new(),
                syncid: 3,
                sync_maxlen: 1000, // not sent when stopping
                mcast_group: None,
                mcast_port: 0,
                mcast_ttl: 0,
            };
            let (h, body) = encode(IpvsRequest::DelDaemon(&d));
            assert_eq!(h.flags, 0x0005);
            let want = hex("
                0a 01 00 00
                1c 00 03 80
                08 00 01 00 02 00 00 00
                05 00 02 00 00 00 00 00       # MCAST_IFN empty
                08 00 03 00 03 00 00 00
            ");
            assert_eq!(body, want);
        }

        #[test]
        fn set_config_sends_all_three() {
            let t = Timeouts {
                tcp: 900,
                tcp_fin: 0,
                udp: 300,
            };
            let (h, body) = encode(IpvsRequest::SetConfig(&t));
            assert_eq!(h.flags, 0x0005);
            let want = hex("
                0c 01 00 00
                08 00 04 00 84 03 00 00
                08 00 05 00 00 00 00 00
                08 00 06 00 2c 01 00 00
            ");
            assert_eq!(body, want);
        }
    }

    fn single_data(buf: &[u8]) -> GenlMsg<'_> {
        let mut it = messages(buf);
        let m = it.next().unwrap().unwrap();
        assert!(it.next().is_none());
        match m.body {
            Body::Data(p) => GenlMsg::parse(p).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    const H: ReplyHeader = ReplyHeader {
        family: FAM,
        flags: NLM_F_MULTI,
        seq: 5,
        pid: 99,
    };

    fn big_stats() -> Stats {
        Stats {
            conns: 99_999_999_999,
            inpkts: 1 << 40,
            outpkts: (1 << 33) + 7,
            inbytes: u64::MAX,
            outbytes: 12345,
            cps: 1 << 32,
            inpps: 2,
            outpps: 3,
            inbps: 4,
            outbps: 5,
        }
    }

    #[test]
    fn service_reply_round_trip() {
        for mut s in [tcp_service(), fwmark6_service()] {
            s.stats = Some(Box::new(big_stats()));
            s.flags |= svc_flags::HASHED;
            let mut buf = Vec::new();
            encode_service_reply(&mut buf, &H, &s).unwrap();
            let g = single_data(&buf);
            assert_eq!(g.cmd, Cmd::NewService.to_raw());
            assert_eq!(decode_service(g.attrs).unwrap(), s);
            let Body::Data(p) = messages(&buf).next().unwrap().unwrap().body else {
                panic!("not data")
            };
            let m = IpvsMessage::decode(p).unwrap();
            assert_eq!(m.cmd, Cmd::NewService);
            assert!(matches!(m.attrs.as_slice(), [IpvsAttr::Service(_)]));
        }
    }

    #[test]
    fn legacy_stats_are_widened() {
        let mut parts = vec![(11u16, vec![])]; // PAD
        for id in [1u16, 2, 3] {
            parts.push((id, (u32::MAX - u32::from(id)).to_ne_bytes().to_vec()));
        }
        parts.push((4, (1u64 << 40).to_ne_bytes().to_vec()));
        parts.push((5, 6u64.to_ne_bytes().to_vec()));
        for id in 6u16..=10 {
            parts.push((id, u32::from(id).to_ne_bytes().to_vec()));
        }
        parts.push((99, vec![0; 4])); // unknown attribute
        let body = raw(&parts);
        let st = decode_stats(&body, false).unwrap();
        assert_eq!(st.conns, u64::from(u32::MAX - 1));
        assert_eq!(st.outpkts, u64::from(u32::MAX - 3));
        assert_eq!(st.inbytes, 1 << 40);
        assert_eq!((st.cps, st.outbps), (6, 10));
        // The same nest read as STATS64 has 4-byte counters: refused.
        assert!(matches!(
            decode_stats(&body, true),
            Err(DecodeError::Packet(m)) if m.contains("IPVS_STATS_ATTR_CONNS")
        ));
        // A counter missing is named.
        parts.retain(|p| p.0 != 1);
        assert_eq!(
            decode_stats(&raw(&parts), false),
            Err(DecodeError::MissingAttribute {
                context: "STATS",
                attr: "CONNS"
            })
        );
    }

    /// A service nest built from (id, payload) pairs.
    fn svc_attrs(parts: &[(u16, Vec<u8>)]) -> Vec<u8> {
        nest(1, parts)
    }

    fn base_parts() -> Vec<(u16, Vec<u8>)> {
        vec![
            (1, 2u16.to_ne_bytes().to_vec()),
            (2, 17u16.to_ne_bytes().to_vec()),
            (3, vec![192, 0, 2, 1]), // short IPv4 form is fine
            (4, 53u16.to_be_bytes().to_vec()),
            (6, b"none\0".to_vec()),
            (7, [0x3u32.to_ne_bytes(), 0x1u32.to_ne_bytes()].concat()),
            (8, 0u32.to_ne_bytes().to_vec()),
            (9, vec![255, 255, 255, 0]),
            (42, vec![1, 2, 3]), // unknown, ignored
        ]
    }

    #[test]
    fn service_decode_details() {
        let s = decode_service(&svc_attrs(&base_parts())).unwrap();
        assert_eq!(
            s.key,
            ServiceKey::Addr {
                protocol: Protocol::Udp,
                addr: "192.0.2.1".parse().unwrap(),
                port: 53
            }
        );
        assert_eq!(s.scheduler, "none");
        assert_eq!(s.flags, 0x1, "flags & mask");
        assert_eq!(s.netmask, 0xffff_ff00);
        assert_eq!(s.pe, None);
        assert_eq!(s.stats, None);
    }

    #[test]
    fn service_decode_missing_attributes() {
        for (drop, name) in [
            (1u16, "AF"),
            (2, "PROTOCOL"),
            (3, "ADDR"),
            (4, "PORT"),
            (6, "SCHED_NAME"),
            (7, "FLAGS"),
            (8, "TIMEOUT"),
            (9, "NETMASK"),
        ] {
            let parts: Vec<_> = base_parts().into_iter().filter(|p| p.0 != drop).collect();
            assert_eq!(
                decode_service(&svc_attrs(&parts)),
                Err(DecodeError::MissingAttribute {
                    context: "service",
                    attr: name
                })
            );
        }
        assert_eq!(
            decode_service(&[]),
            Err(DecodeError::MissingAttribute {
                context: "service reply",
                attr: "SERVICE"
            })
        );
        // A fwmark replaces protocol, address and port.
        let mut parts: Vec<_> = base_parts()
            .into_iter()
            .filter(|p| !(2..=4).contains(&p.0))
            .collect();
        parts.push((5, 7u32.to_ne_bytes().to_vec()));
        let s = decode_service(&svc_attrs(&parts)).unwrap();
        assert_eq!(
            s.key,
            ServiceKey::Fwmark {
                family: Family::Inet,
                mark: 7
            }
        );
        // Short values and unknown families are errors.
        let mut parts = base_parts();
        parts[5].1 = vec![1, 0, 0, 0];
        assert!(matches!(
            decode_service(&svc_attrs(&parts)),
            Err(DecodeError::Packet(m)) if m.contains("IPVS_SVC_ATTR_FLAGS")
        ));
        let mut parts = base_parts();
        parts[0].1 = 99u16.to_ne_bytes().to_vec();
        assert!(matches!(
            decode_service(&svc_attrs(&parts)),
            Err(DecodeError::UnsupportedFamily { family: 99, .. })
        ));
    }

    #[test]
    fn dest_reply_round_trip() {
        let mut d = dest();
        d.active_conns = 1;
        d.inact_conns = 2;
        d.persist_conns = 3;
        d.weight = -1;
        d.stats = Some(Box::new(big_stats()));
        let mut buf = Vec::new();
        encode_dest_reply(&mut buf, &H, &d).unwrap();
        let g = single_data(&buf);
        assert_eq!(g.cmd, Cmd::NewDest.to_raw());
        assert_eq!(decode_dest(g.attrs, Family::Inet6).unwrap(), d);
    }

    fn dest_nest(parts: &[(u16, Vec<u8>)]) -> Vec<u8> {
        nest(2, parts)
    }

    fn dest_parts() -> Vec<(u16, Vec<u8>)> {
        let mut addr = vec![0u8; 16];
        addr[15] = 1;
        let mut p = vec![(1u16, addr), (2, 80u16.to_be_bytes().to_vec())];
        for id in 3u16..=9 {
            p.push((id, u32::from(id).to_ne_bytes().to_vec()));
        }
        p
    }

    #[test]
    fn dest_family_defaults_to_service_family() {
        let d = decode_dest(&dest_nest(&dest_parts()), Family::Inet6).unwrap();
        assert_eq!(d.addr, "::1".parse::<IpAddr>().unwrap());
        assert_eq!(d.fwd, FwdMethod::Route);
        assert_eq!(d.weight, 4);
        assert_eq!((d.u_threshold, d.l_threshold), (5, 6));
        assert_eq!((d.active_conns, d.inact_conns, d.persist_conns), (7, 8, 9));
        assert_eq!((d.tun_type, d.tun_port, d.tun_flags), (TunType::Ipip, 0, 0));
        assert_eq!(d.stats, None);
        let d = decode_dest(&dest_nest(&dest_parts()), Family::Inet).unwrap();
        assert_eq!(d.addr, "0.0.0.0".parse::<IpAddr>().unwrap());
        let mut parts = dest_parts();
        parts.push((11, 10u16.to_ne_bytes().to_vec()));
        let d = decode_dest(&dest_nest(&parts), Family::Inet).unwrap();
        assert!(d.addr.is_ipv6());
        for drop in [1u16, 2, 3, 4, 5, 6, 7, 8, 9] {
            let parts: Vec<_> = dest_parts().into_iter().filter(|p| p.0 != drop).collect();
            assert!(matches!(
                decode_dest(&dest_nest(&parts), Family::Inet),
                Err(DecodeError::MissingAttribute { .. })
            ));
        }
    }

    #[test]
    fn daemon_reply_round_trip() {
        for group in ["224.0.0.81", "ff02::81"] {
            let d = Daemon {
                state: DaemonState::Master,
                mcast_ifn: "eth0".into(),
                syncid: 7,
                sync_maxlen: 1472,
                mcast_group: Some(group.parse().unwrap()),
                mcast_port: 8848,
                mcast_ttl: 1,
            };
            let mut buf = Vec::new();
            encode_daemon_reply(&mut buf, &H, &d).unwrap();
            assert_eq!(decode_daemon(single_data(&buf).attrs).unwrap(), d);
        }
        // Only the three required attributes.
        let buf = nest(
            3,
            &[
                (1, 2u32.to_ne_bytes().to_vec()),
                (2, b"lo\0".to_vec()),
                (3, 1u32.to_ne_bytes().to_vec()),
            ],
        );
        let d = decode_daemon(&buf).unwrap();
        assert_eq!(d.state, DaemonState::Backup);
        assert_eq!(
            (d.sync_maxlen, d.mcast_group, d.mcast_port, d.mcast_ttl),
            (0, None, 0, 0)
        );
        assert!(decode_daemon(&buf[..12]).is_err());
    }

    #[test]
    fn info_and_timeouts() {
        let i = Info {
            version: 0x010201,
            conn_tab_size: 4096,
        };
        let mut buf = Vec::new();
        encode_info_reply(&mut buf, &H, &i).unwrap();
        let g = single_data(&buf);
        assert_eq!(g.cmd, Cmd::SetInfo.to_raw());
        assert_eq!(decode_info(g.attrs).unwrap(), i);
        assert!(matches!(
            decode_info(&g.attrs[..8]),
            Err(DecodeError::MissingAttribute {
                attr: "CONN_TAB_SIZE",
                ..
            })
        ));

        let t = Timeouts {
            tcp: 900,
            tcp_fin: 120,
            udp: 300,
        };
        let mut buf = Vec::new();
        encode_timeouts_reply(&mut buf, &H, &t).unwrap();
        let g = single_data(&buf);
        assert_eq!(decode_timeouts(g.attrs).unwrap(), t);
        assert_eq!(
            decode_timeouts(&g.attrs[..8]).unwrap(),
            Timeouts {
                tcp: 900,
                tcp_fin: 0,
                udp: 0
            }
        );
    }

    /// A request whose nest would overflow the 16-bit length field is
    /// refused before anything is written (the length check runs only for
    /// messages that large).
    #[test]
    fn an_oversized_nest_is_refused() {
        let mut s = tcp_service();
        s.scheduler = "x".repeat(70_000);
        let mut buf = vec![9];
        assert!(matches!(
            IpvsRequest::NewService(&s).encode(&mut buf, 20, 1, 0),
            Err(EncodeError::AttributeTooLong { .. })
        ));
        assert_eq!(buf, vec![9]);
    }

    /// Valid replies take the listing path (not the enums' fallback), with
    /// either counters nest, both families, fwmark services and a PE.
    #[test]
    fn listing_path_reads_valid_replies() {
        let mut services = vec![tcp_service()];
        let mut s = tcp_service();
        s.stats = Some(Box::new(big_stats()));
        s.pe = Some("sip".into());
        services.push(s);
        services.push(Service::new(ServiceKey::Fwmark {
            family: Family::Inet6,
            mark: 7,
        }));
        for s in &services {
            let mut buf = Vec::new();
            encode_service_reply(&mut buf, &H, s).unwrap();
            let g = GenlMsg::parse(&buf[16..]).unwrap();
            assert_eq!(fast_service(g.attrs).as_ref(), Some(s));
            listing_paths_agree(g.attrs).unwrap();
        }
        let mut d = dest();
        d.stats = Some(Box::new(big_stats()));
        for d in [dest(), d] {
            let mut buf = Vec::new();
            encode_dest_reply(&mut buf, &H, &d).unwrap();
            let g = GenlMsg::parse(&buf[16..]).unwrap();
            assert_eq!(fast_dest(g.attrs, Family::Inet6).as_ref(), Some(&d));
            listing_paths_agree(g.attrs).unwrap();
        }
    }

    /// An address attribute of more than 16 bytes is refused by both
    /// paths (ipvsadm's attribute policy refuses it too); shorter ones are
    /// taken as they came, and an IPv4 address needs only its 4 bytes.
    #[test]
    fn address_attributes_longer_than_16_bytes_are_refused() {
        let reply = |addr: Vec<u8>| {
            let mut attrs: Vec<DestAttr> = dest_attrs(&dest())
                .into_iter()
                .filter(|a| !matches!(a, DestAttr::Addr(_)))
                .collect();
            attrs.insert(0, DestAttr::Other(DefaultNla::new(1, addr)));
            // A reply also carries the connection counts.
            attrs.extend([
                DestAttr::ActiveConns(1),
                DestAttr::InactConns(2),
                DestAttr::PersistConns(3),
            ]);
            let top = [IpvsAttr::Dest(attrs)];
            let mut out = vec![0; nlas_len(&top)];
            emit_nlas(&top, &mut out);
            out
        };
        for (len, ok) in [(4, true), (16, true), (17, false), (32, false)] {
            let mut addr = vec![0u8; len];
            addr[..4].copy_from_slice(&[10, 0, 0, 1]);
            let attrs = reply(addr);
            listing_paths_agree(&attrs).unwrap();
            let got = decode_dest(&attrs, Family::Inet);
            assert_eq!(got.is_ok(), ok, "{len} bytes: {got:?}");
            if ok {
                assert_eq!(got.unwrap().addr, "10.0.0.1".parse::<IpAddr>().unwrap());
            }
        }
        assert!(InetAddr::parse(&[0; 17]).is_err());
        assert_eq!(InetAddr::parse(&[1, 2]).unwrap().as_bytes(), &[1, 2]);
    }

    /// Every prefix and many single-byte corruptions of valid replies must
    /// decode to a value or an error, never a panic.
    #[test]
    fn truncation_and_corruption_never_panic() {
        let mut s = tcp_service();
        s.stats = Some(Box::new(big_stats()));
        let mut d = dest();
        d.stats = Some(Box::new(big_stats()));
        let mut buf = Vec::new();
        encode_service_reply(&mut buf, &H, &s).unwrap();
        encode_dest_reply(&mut buf, &H, &d).unwrap();
        encode_daemon_reply(
            &mut buf,
            &H,
            &Daemon {
                state: DaemonState::Master,
                mcast_ifn: "eth0".into(),
                syncid: 1,
                sync_maxlen: 1,
                mcast_group: Some("ff02::1".parse().unwrap()),
                mcast_port: 1,
                mcast_ttl: 1,
            },
        )
        .unwrap();
        let run = |bytes: &[u8]| {
            for m in messages(bytes).flatten() {
                if let Body::Data(p) = m.body {
                    if let Ok(g) = GenlMsg::parse(p) {
                        listing_paths_agree(g.attrs).unwrap();
                        let _ = decode_service(g.attrs);
                        let _ = decode_dest(g.attrs, Family::Inet);
                        let _ = decode_dest(g.attrs, Family::Other(3));
                        let _ = decode_daemon(g.attrs);
                        let _ = decode_info(g.attrs);
                        let _ = decode_timeouts(g.attrs);
                    }
                }
            }
        };
        for cut in 0..=buf.len() {
            run(&buf[..cut]);
            run(&buf[cut..]);
        }
        for i in 0..buf.len() {
            for v in [0u8, 1, 2, 4, 0x80, 0xff] {
                let mut c = buf.clone();
                c[i] = v;
                run(&c);
            }
        }
    }
}
