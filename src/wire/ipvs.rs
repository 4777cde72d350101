//! The IPVS generic-netlink family: command and attribute numbers, request
//! encoding exactly as ipvsadm 1.31 (libnl 3.7) lays it out, and decoding of
//! the kernel's replies into the [`crate::model`] types.
//!
//! Request layout (attribute order, which attributes are always sent, the
//! `NLA_F_NESTED` flag on nests) follows the reference's §5.4 byte for byte,
//! so that a capture of ipvsadm-rs and of ipvsadm can be compared directly.
//! Decoders require what ipvsadm requires (§5.5), ignore attributes they do
//! not know, and read every 64-bit counter in full.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::netlink::{
    attr_table, Attr, DecodeError, EncodeError, MessageBuilder, NLM_F_ACK, NLM_F_DUMP,
    NLM_F_REQUEST,
};
use crate::model::{
    Daemon, DaemonState, Dest, Family, FwdMethod, Info, Protocol, Service, ServiceKey, Stats,
    Timeouts, TunType,
};

/// The generic-netlink family name to resolve.
pub const FAMILY_NAME: &str = "IPVS";
/// The family version sent in every request's `genlmsghdr`.
pub const FAMILY_VERSION: u8 = 1;

/// Names a numbered attribute, for error messages.
pub trait AttrId: Copy {
    /// The attribute number.
    fn raw(self) -> u16;
    /// The attribute's name (as in the kernel header, without prefix).
    fn name(self) -> &'static str;
}

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

macro_rules! attr_id {
    ($name:ident) => {
        impl AttrId for $name {
            fn raw(self) -> u16 {
                self.to_raw()
            }
            fn name(self) -> &'static str {
                $name::name(self)
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

wire_enum! {
    /// Top-level attributes of requests and replies (`IPVS_CMD_ATTR_*`).
    CmdAttr: u16 {
        /// Nested service.
        Service = 1 => "SERVICE",
        /// Nested destination.
        Dest = 2 => "DEST",
        /// Nested sync daemon.
        Daemon = 3 => "DAEMON",
        /// TCP established timeout (u32 seconds).
        TimeoutTcp = 4 => "TIMEOUT_TCP",
        /// TCP FIN-wait timeout (u32 seconds).
        TimeoutTcpFin = 5 => "TIMEOUT_TCP_FIN",
        /// UDP timeout (u32 seconds).
        TimeoutUdp = 6 => "TIMEOUT_UDP",
    }
}
attr_id!(CmdAttr);

wire_enum! {
    /// Top-level attributes of the `GET_INFO` reply (`IPVS_INFO_ATTR_*`).
    InfoAttr: u16 {
        /// IPVS version (u32, `0x010201` = 1.2.1).
        Version = 1 => "VERSION",
        /// Connection hash table size (u32).
        ConnTabSize = 2 => "CONN_TAB_SIZE",
    }
}
attr_id!(InfoAttr);

wire_enum! {
    /// Attributes inside a service nest (`IPVS_SVC_ATTR_*`).
    SvcAttr: u16 {
        /// Address family (u16).
        Af = 1 => "AF",
        /// Transport protocol (u16).
        Protocol = 2 => "PROTOCOL",
        /// Virtual address (16 bytes, IPv4 in the first 4).
        Addr = 3 => "ADDR",
        /// Port (u16, network order).
        Port = 4 => "PORT",
        /// Firewall mark (u32).
        Fwmark = 5 => "FWMARK",
        /// Scheduler name (string).
        SchedName = 6 => "SCHED_NAME",
        /// Flags and mask (2 × u32).
        Flags = 7 => "FLAGS",
        /// Persistence timeout (u32 seconds).
        Timeout = 8 => "TIMEOUT",
        /// Persistence netmask (u32; IPv4 mask bytes or IPv6 prefix).
        Netmask = 9 => "NETMASK",
        /// Legacy counters (nested).
        Stats = 10 => "STATS",
        /// Persistence engine name (string).
        PeName = 11 => "PE_NAME",
        /// 64-bit counters (nested).
        Stats64 = 12 => "STATS64",
    }
}
attr_id!(SvcAttr);

wire_enum! {
    /// Attributes inside a destination nest (`IPVS_DEST_ATTR_*`).
    DestAttr: u16 {
        /// Address (16 bytes).
        Addr = 1 => "ADDR",
        /// Port (u16, network order).
        Port = 2 => "PORT",
        /// Forwarding method (u32).
        FwdMethod = 3 => "FWD_METHOD",
        /// Weight (u32, signed in the kernel).
        Weight = 4 => "WEIGHT",
        /// Upper connection threshold (u32).
        UThresh = 5 => "U_THRESH",
        /// Lower connection threshold (u32).
        LThresh = 6 => "L_THRESH",
        /// Active connections (u32, replies).
        ActiveConns = 7 => "ACTIVE_CONNS",
        /// Inactive connections (u32, replies).
        InactConns = 8 => "INACT_CONNS",
        /// Persistent templates (u32, replies).
        PersistConns = 9 => "PERSIST_CONNS",
        /// Legacy counters (nested, replies).
        Stats = 10 => "STATS",
        /// Destination address family (u16).
        AddrFamily = 11 => "ADDR_FAMILY",
        /// 64-bit counters (nested, replies).
        Stats64 = 12 => "STATS64",
        /// Tunnel type (u8).
        TunType = 13 => "TUN_TYPE",
        /// Tunnel port (u16, network order).
        TunPort = 14 => "TUN_PORT",
        /// Tunnel flags (u16).
        TunFlags = 15 => "TUN_FLAGS",
    }
}
attr_id!(DestAttr);

wire_enum! {
    /// Attributes inside a sync-daemon nest (`IPVS_DAEMON_ATTR_*`).
    DaemonAttr: u16 {
        /// Master (1) or backup (2) (u32).
        State = 1 => "STATE",
        /// Multicast interface (string).
        McastIfn = 2 => "MCAST_IFN",
        /// Sync id (u32).
        SyncId = 3 => "SYNC_ID",
        /// Maximum sync message length (u16).
        SyncMaxlen = 4 => "SYNC_MAXLEN",
        /// IPv4 multicast group (4 address bytes).
        McastGroup = 5 => "MCAST_GROUP",
        /// IPv6 multicast group (16 bytes).
        McastGroup6 = 6 => "MCAST_GROUP6",
        /// Multicast port (u16, host order).
        McastPort = 7 => "MCAST_PORT",
        /// Multicast TTL (u8).
        McastTtl = 8 => "MCAST_TTL",
    }
}
attr_id!(DaemonAttr);

wire_enum! {
    /// Attributes inside a counters nest (`IPVS_STATS_ATTR_*`).
    StatsAttr: u16 {
        /// Connections.
        Conns = 1 => "CONNS",
        /// Incoming packets.
        InPkts = 2 => "INPKTS",
        /// Outgoing packets.
        OutPkts = 3 => "OUTPKTS",
        /// Incoming bytes (u64 in both nests).
        InBytes = 4 => "INBYTES",
        /// Outgoing bytes (u64 in both nests).
        OutBytes = 5 => "OUTBYTES",
        /// Connections per second.
        Cps = 6 => "CPS",
        /// Incoming packets per second.
        InPps = 7 => "INPPS",
        /// Outgoing packets per second.
        OutPps = 8 => "OUTPPS",
        /// Incoming bytes per second.
        InBps = 9 => "INBPS",
        /// Outgoing bytes per second.
        OutBps = 10 => "OUTBPS",
        /// Alignment padding before u64 values; skipped.
        Pad = 11 => "PAD",
    }
}
attr_id!(StatsAttr);

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

    /// Appends the request as one netlink message to `buf`, for the
    /// resolved `family` id, and returns its length.
    pub fn encode(
        &self,
        buf: &mut Vec<u8>,
        family: u16,
        seq: u32,
        pid: u32,
    ) -> Result<usize, EncodeError> {
        let mut b = MessageBuilder::genl(
            buf,
            family,
            self.flags(),
            seq,
            pid,
            self.cmd().to_raw(),
            FAMILY_VERSION,
        );
        match *self {
            IpvsRequest::NewService(s)
            | IpvsRequest::SetService(s)
            | IpvsRequest::DelService(s)
            | IpvsRequest::Zero(Some(s)) => put_service(&mut b, s),
            IpvsRequest::GetService(key) => put_service(
                &mut b,
                &Service {
                    key: *key,
                    scheduler: String::new(),
                    pe: None,
                    flags: 0,
                    timeout: 0,
                    netmask: 0,
                    stats: None,
                },
            ),
            IpvsRequest::NewDest(s, d)
            | IpvsRequest::SetDest(s, d)
            | IpvsRequest::DelDest(s, d) => {
                put_service(&mut b, s);
                put_dest(&mut b, d);
            }
            IpvsRequest::GetDests(key) => {
                let n = b.begin_nest(CmdAttr::Service.to_raw());
                put_service_key(&mut b, key);
                b.end_nest(n);
            }
            IpvsRequest::NewDaemon(d) => put_daemon(&mut b, d, true),
            IpvsRequest::DelDaemon(d) => put_daemon(&mut b, d, false),
            IpvsRequest::SetConfig(t) => {
                b.put_u32(CmdAttr::TimeoutTcp.to_raw(), t.tcp);
                b.put_u32(CmdAttr::TimeoutTcpFin.to_raw(), t.tcp_fin);
                b.put_u32(CmdAttr::TimeoutUdp.to_raw(), t.udp);
            }
            IpvsRequest::GetServices
            | IpvsRequest::GetDaemons
            | IpvsRequest::GetConfig
            | IpvsRequest::GetInfo
            | IpvsRequest::Zero(None)
            | IpvsRequest::Flush => {}
        }
        b.finish()
    }
}

/// The 16-byte `union nf_inet_addr` form of an address.
fn addr16(addr: &IpAddr) -> [u8; 16] {
    match addr {
        IpAddr::V4(a) => {
            let mut out = [0u8; 16];
            let o = a.octets();
            out[..4].copy_from_slice(&o);
            out
        }
        IpAddr::V6(a) => a.octets(),
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

fn put_service_key(b: &mut MessageBuilder<'_>, key: &ServiceKey) {
    b.put_u16(SvcAttr::Af.to_raw(), key.family().to_raw());
    match key {
        ServiceKey::Fwmark { mark, .. } => {
            b.put_u32(SvcAttr::Fwmark.to_raw(), *mark);
        }
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => {
            b.put_u16(SvcAttr::Protocol.to_raw(), protocol.to_raw());
            b.put(SvcAttr::Addr.to_raw(), &addr16(addr));
            b.put_be16(SvcAttr::Port.to_raw(), *port);
        }
    }
}

fn flags_bytes(flags: u32) -> [u8; 8] {
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&flags.to_ne_bytes());
    out[4..].copy_from_slice(&u32::MAX.to_ne_bytes());
    out
}

/// The full service nest in ipvsadm's order.
fn put_service(b: &mut MessageBuilder<'_>, s: &Service) {
    let n = b.begin_nest(CmdAttr::Service.to_raw());
    put_service_key(b, &s.key);
    b.put_str(SvcAttr::SchedName.to_raw(), &s.scheduler);
    if let Some(pe) = s.pe.as_deref().filter(|p| !p.is_empty()) {
        b.put_str(SvcAttr::PeName.to_raw(), pe);
    }
    b.put(SvcAttr::Flags.to_raw(), &flags_bytes(s.flags));
    b.put_u32(SvcAttr::Timeout.to_raw(), s.timeout);
    b.put(
        SvcAttr::Netmask.to_raw(),
        &netmask_bytes(s.key.family(), s.netmask),
    );
    b.end_nest(n);
}

/// The destination nest: all ten attributes in ipvsadm's order.
fn put_dest(b: &mut MessageBuilder<'_>, d: &Dest) {
    let n = b.begin_nest(CmdAttr::Dest.to_raw());
    b.put_u16(DestAttr::AddrFamily.to_raw(), d.family().to_raw());
    b.put(DestAttr::Addr.to_raw(), &addr16(&d.addr));
    b.put_be16(DestAttr::Port.to_raw(), d.port);
    b.put_u32(DestAttr::FwdMethod.to_raw(), d.fwd.to_raw());
    b.put_u32(DestAttr::Weight.to_raw(), d.weight as u32);
    b.put_u8(DestAttr::TunType.to_raw(), d.tun_type.to_raw());
    b.put_be16(DestAttr::TunPort.to_raw(), d.tun_port);
    b.put_u16(DestAttr::TunFlags.to_raw(), d.tun_flags);
    b.put_u32(DestAttr::UThresh.to_raw(), d.u_threshold);
    b.put_u32(DestAttr::LThresh.to_raw(), d.l_threshold);
    b.end_nest(n);
}

fn put_group(b: &mut MessageBuilder<'_>, group: &IpAddr) {
    match group {
        IpAddr::V6(a) => b.put(DaemonAttr::McastGroup6.to_raw(), &a.octets()),
        IpAddr::V4(a) => b.put(DaemonAttr::McastGroup.to_raw(), &a.octets()),
    };
}

/// The daemon nest. `start`: state, interface, sync id, then the optional
/// settings that are non-zero and the group if given; otherwise (stop) only
/// the first three.
fn put_daemon(b: &mut MessageBuilder<'_>, d: &Daemon, start: bool) {
    let n = b.begin_nest(CmdAttr::Daemon.to_raw());
    b.put_u32(DaemonAttr::State.to_raw(), d.state.to_raw());
    b.put_str(DaemonAttr::McastIfn.to_raw(), &d.mcast_ifn);
    b.put_u32(DaemonAttr::SyncId.to_raw(), d.syncid);
    if start {
        if d.sync_maxlen != 0 {
            b.put_u16(DaemonAttr::SyncMaxlen.to_raw(), d.sync_maxlen);
        }
        if d.mcast_port != 0 {
            b.put_u16(DaemonAttr::McastPort.to_raw(), d.mcast_port);
        }
        if d.mcast_ttl != 0 {
            b.put_u8(DaemonAttr::McastTtl.to_raw(), d.mcast_ttl);
        }
        if let Some(g) = &d.mcast_group {
            put_group(b, g);
        }
    }
    b.end_nest(n);
}

// ---------------------------------------------------------------------------
// Replies
// ---------------------------------------------------------------------------

/// Attributes of one nest indexed by number, with typed, named accessors
/// that turn absence or short payloads into [`DecodeError`]s.
struct Table<'a, const N: usize> {
    context: &'static str,
    slots: [Option<Attr<'a>>; N],
}

impl<'a, const N: usize> Table<'a, N> {
    fn new(context: &'static str, data: &'a [u8]) -> Table<'a, N> {
        Table {
            context,
            slots: attr_table::<N>(data),
        }
    }

    fn get(&self, id: impl AttrId) -> Option<Attr<'a>> {
        self.slots.get(id.raw() as usize).copied().flatten()
    }

    fn req(&self, id: impl AttrId) -> Result<Attr<'a>, DecodeError> {
        self.get(id).ok_or(DecodeError::MissingAttribute {
            context: self.context,
            attr: id.name(),
        })
    }

    fn short(&self, id: impl AttrId, a: &Attr<'_>, need: usize) -> DecodeError {
        DecodeError::ShortAttribute {
            context: self.context,
            attr: id.name(),
            len: a.payload().len(),
            need,
        }
    }

    fn bytes<const M: usize>(&self, id: impl AttrId, a: &Attr<'_>) -> Result<[u8; M], DecodeError> {
        a.payload()
            .get(..M)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| self.short(id, a, M))
    }

    fn opt_bytes<const M: usize>(&self, id: impl AttrId) -> Result<Option<[u8; M]>, DecodeError> {
        self.get(id).map(|a| self.bytes::<M>(id, &a)).transpose()
    }

    fn req_bytes<const M: usize>(&self, id: impl AttrId) -> Result<[u8; M], DecodeError> {
        let a = self.req(id)?;
        self.bytes::<M>(id, &a)
    }

    fn u32(&self, id: impl AttrId) -> Result<u32, DecodeError> {
        self.req_bytes::<4>(id).map(u32::from_ne_bytes)
    }

    fn opt_u32(&self, id: impl AttrId) -> Result<Option<u32>, DecodeError> {
        Ok(self.opt_bytes::<4>(id)?.map(u32::from_ne_bytes))
    }

    fn u64(&self, id: impl AttrId) -> Result<u64, DecodeError> {
        self.req_bytes::<8>(id).map(u64::from_ne_bytes)
    }

    fn u16(&self, id: impl AttrId) -> Result<u16, DecodeError> {
        self.req_bytes::<2>(id).map(u16::from_ne_bytes)
    }

    fn opt_u16(&self, id: impl AttrId) -> Result<Option<u16>, DecodeError> {
        Ok(self.opt_bytes::<2>(id)?.map(u16::from_ne_bytes))
    }

    fn be16(&self, id: impl AttrId) -> Result<u16, DecodeError> {
        self.req_bytes::<2>(id).map(u16::from_be_bytes)
    }

    fn opt_be16(&self, id: impl AttrId) -> Result<Option<u16>, DecodeError> {
        Ok(self.opt_bytes::<2>(id)?.map(u16::from_be_bytes))
    }

    fn opt_u8(&self, id: impl AttrId) -> Result<Option<u8>, DecodeError> {
        Ok(self.opt_bytes::<1>(id)?.map(|[v]| v))
    }

    fn string(&self, id: impl AttrId) -> Result<String, DecodeError> {
        self.req(id).map(|a| a.get_string())
    }

    fn addr(&self, id: impl AttrId, family: Family) -> Result<IpAddr, DecodeError> {
        match family {
            Family::Inet => self
                .req_bytes::<4>(id)
                .map(|o| IpAddr::V4(Ipv4Addr::from(o))),
            Family::Inet6 => self
                .req_bytes::<16>(id)
                .map(|o| IpAddr::V6(Ipv6Addr::from(o))),
            Family::Other(v) => Err(DecodeError::UnsupportedFamily {
                context: self.context,
                family: v,
            }),
        }
    }
}

fn top_nest<'a>(
    attrs: &'a [u8],
    id: CmdAttr,
    context: &'static str,
) -> Result<&'a [u8], DecodeError> {
    Table::<7>::new(context, attrs).req(id).map(|a| a.payload())
}

/// Decodes a counters nest: `wide` for `STATS64` (all u64), otherwise the
/// legacy nest (u32 counters and rates widened, u64 bytes). All ten values
/// are required; `PAD` and unknown attributes are skipped.
pub fn decode_stats(nest: &[u8], wide: bool) -> Result<Stats, DecodeError> {
    let context = if wide { "STATS64" } else { "STATS" };
    let t = Table::<12>::new(context, nest);
    let narrow = |id: StatsAttr| -> Result<u64, DecodeError> {
        if wide {
            t.u64(id)
        } else {
            t.u32(id).map(u64::from)
        }
    };
    Ok(Stats {
        conns: narrow(StatsAttr::Conns)?,
        inpkts: narrow(StatsAttr::InPkts)?,
        outpkts: narrow(StatsAttr::OutPkts)?,
        inbytes: t.u64(StatsAttr::InBytes)?,
        outbytes: t.u64(StatsAttr::OutBytes)?,
        cps: narrow(StatsAttr::Cps)?,
        inpps: narrow(StatsAttr::InPps)?,
        outpps: narrow(StatsAttr::OutPps)?,
        inbps: narrow(StatsAttr::InBps)?,
        outbps: narrow(StatsAttr::OutBps)?,
    })
}

/// Counters from `STATS64` if present, else from `STATS`, else none.
fn stats_of<const N: usize>(
    t: &Table<'_, N>,
    stats: impl AttrId,
    stats64: impl AttrId,
) -> Result<Option<Stats>, DecodeError> {
    if let Some(a) = t.get(stats64) {
        return decode_stats(a.payload(), true).map(Some);
    }
    match t.get(stats) {
        Some(a) => decode_stats(a.payload(), false).map(Some),
        None => Ok(None),
    }
}

/// Decodes the service in a reply's top-level attributes (the `SERVICE`
/// nest of a `GET_SERVICE` answer).
pub fn decode_service(attrs: &[u8]) -> Result<Service, DecodeError> {
    decode_service_nest(top_nest(attrs, CmdAttr::Service, "service reply")?)
}

/// Decodes the content of a `SERVICE` nest. Requires AF, FWMARK (non-zero)
/// or PROTOCOL+ADDR+PORT, SCHED_NAME, FLAGS, TIMEOUT and NETMASK; flags are
/// `flags & mask`.
pub fn decode_service_nest(nest: &[u8]) -> Result<Service, DecodeError> {
    let t = Table::<13>::new("service", nest);
    let family = Family::from_raw(t.u16(SvcAttr::Af)?);
    let key = match t.opt_u32(SvcAttr::Fwmark)? {
        Some(mark) if mark != 0 => ServiceKey::Fwmark { family, mark },
        _ => ServiceKey::Addr {
            protocol: Protocol::from_raw(t.u16(SvcAttr::Protocol)?),
            addr: t.addr(SvcAttr::Addr, family)?,
            port: t.be16(SvcAttr::Port)?,
        },
    };
    let scheduler = t.string(SvcAttr::SchedName)?;
    let pe = t
        .get(SvcAttr::PeName)
        .map(|a| a.get_string())
        .filter(|s| !s.is_empty());
    let fl = t.req_bytes::<8>(SvcAttr::Flags)?;
    let flags = u32::from_ne_bytes([fl[0], fl[1], fl[2], fl[3]])
        & u32::from_ne_bytes([fl[4], fl[5], fl[6], fl[7]]);
    let timeout = t.u32(SvcAttr::Timeout)?;
    let netmask = netmask_from(family, t.req_bytes::<4>(SvcAttr::Netmask)?);
    let stats = stats_of(&t, SvcAttr::Stats, SvcAttr::Stats64)?;
    Ok(Service {
        key,
        scheduler,
        pe,
        flags,
        timeout,
        netmask,
        stats: stats.map(Box::new),
    })
}

/// Decodes the destination in a reply's top-level attributes (the `DEST`
/// nest of a `GET_DEST` dump part); `service_family` applies when the
/// kernel omits `ADDR_FAMILY`.
pub fn decode_dest(attrs: &[u8], service_family: Family) -> Result<Dest, DecodeError> {
    decode_dest_nest(
        top_nest(attrs, CmdAttr::Dest, "destination reply")?,
        service_family,
    )
}

/// Decodes the content of a `DEST` nest. Requires ADDR, PORT, FWD_METHOD,
/// WEIGHT, U_THRESH, L_THRESH and the three connection counts; tunnel
/// settings default to IP-in-IP, port 0, flags 0.
pub fn decode_dest_nest(nest: &[u8], service_family: Family) -> Result<Dest, DecodeError> {
    let t = Table::<16>::new("destination", nest);
    let family = t
        .opt_u16(DestAttr::AddrFamily)?
        .map_or(service_family, Family::from_raw);
    Ok(Dest {
        addr: t.addr(DestAttr::Addr, family)?,
        port: t.be16(DestAttr::Port)?,
        fwd: FwdMethod::from_raw(t.u32(DestAttr::FwdMethod)?),
        weight: t.u32(DestAttr::Weight)? as i32,
        u_threshold: t.u32(DestAttr::UThresh)?,
        l_threshold: t.u32(DestAttr::LThresh)?,
        tun_type: TunType::from_raw(t.opt_u8(DestAttr::TunType)?.unwrap_or(0)),
        tun_port: t.opt_be16(DestAttr::TunPort)?.unwrap_or(0),
        tun_flags: t.opt_u16(DestAttr::TunFlags)?.unwrap_or(0),
        active_conns: t.u32(DestAttr::ActiveConns)?,
        inact_conns: t.u32(DestAttr::InactConns)?,
        persist_conns: t.u32(DestAttr::PersistConns)?,
        stats: stats_of(&t, DestAttr::Stats, DestAttr::Stats64)?.map(Box::new),
    })
}

/// Decodes the daemon in a reply's top-level attributes (a `GET_DAEMON`
/// dump part). Requires STATE, MCAST_IFN and SYNC_ID; the rest is optional
/// (0 / `None` when absent).
pub fn decode_daemon(attrs: &[u8]) -> Result<Daemon, DecodeError> {
    let nest = top_nest(attrs, CmdAttr::Daemon, "daemon reply")?;
    let t = Table::<9>::new("daemon", nest);
    let group6 = t
        .opt_bytes::<16>(DaemonAttr::McastGroup6)?
        .map(|o| IpAddr::V6(Ipv6Addr::from(o)));
    let group4 = t
        .opt_bytes::<4>(DaemonAttr::McastGroup)?
        .map(|o| IpAddr::V4(Ipv4Addr::from(o)));
    Ok(Daemon {
        state: DaemonState::from_raw(t.u32(DaemonAttr::State)?),
        mcast_ifn: t.string(DaemonAttr::McastIfn)?,
        syncid: t.u32(DaemonAttr::SyncId)?,
        sync_maxlen: t.opt_u16(DaemonAttr::SyncMaxlen)?.unwrap_or(0),
        mcast_group: group4.or(group6),
        mcast_port: t.opt_u16(DaemonAttr::McastPort)?.unwrap_or(0),
        mcast_ttl: t.opt_u8(DaemonAttr::McastTtl)?.unwrap_or(0),
    })
}

/// Decodes the `GET_INFO` reply (both attributes required).
pub fn decode_info(attrs: &[u8]) -> Result<Info, DecodeError> {
    let t = Table::<3>::new("info reply", attrs);
    Ok(Info {
        version: t.u32(InfoAttr::Version)?,
        conn_tab_size: t.u32(InfoAttr::ConnTabSize)?,
    })
}

/// Decodes the `GET_CONFIG` reply (each timeout optional, 0 when absent).
pub fn decode_timeouts(attrs: &[u8]) -> Result<Timeouts, DecodeError> {
    let t = Table::<7>::new("timeout reply", attrs);
    Ok(Timeouts {
        tcp: t.opt_u32(CmdAttr::TimeoutTcp)?.unwrap_or(0),
        tcp_fin: t.opt_u32(CmdAttr::TimeoutTcpFin)?.unwrap_or(0),
        udp: t.opt_u32(CmdAttr::TimeoutUdp)?.unwrap_or(0),
    })
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
    fn builder<'a>(&self, buf: &'a mut Vec<u8>, cmd: Cmd) -> MessageBuilder<'a> {
        MessageBuilder::genl(
            buf,
            self.family,
            self.flags,
            self.seq,
            self.pid,
            cmd.to_raw(),
            FAMILY_VERSION,
        )
    }
}

fn put_stats(b: &mut MessageBuilder<'_>, kind: u16, s: &Stats, wide: bool) {
    let n = b.begin_nest(kind);
    let narrow = |b: &mut MessageBuilder<'_>, id: StatsAttr, v: u64| {
        if wide {
            b.put_u64(id.to_raw(), v);
        } else {
            b.put_u32(id.to_raw(), v as u32);
        }
    };
    narrow(b, StatsAttr::Conns, s.conns);
    narrow(b, StatsAttr::InPkts, s.inpkts);
    narrow(b, StatsAttr::OutPkts, s.outpkts);
    b.put_u64(StatsAttr::InBytes.to_raw(), s.inbytes);
    b.put_u64(StatsAttr::OutBytes.to_raw(), s.outbytes);
    narrow(b, StatsAttr::Cps, s.cps);
    narrow(b, StatsAttr::InPps, s.inpps);
    narrow(b, StatsAttr::OutPps, s.outpps);
    narrow(b, StatsAttr::InBps, s.inbps);
    narrow(b, StatsAttr::OutBps, s.outbps);
    b.end_nest(n);
}

/// Appends a service reply (`NEW_SERVICE`) as the kernel builds it: both
/// counter nests when `stats` is set (the legacy one truncated to 32 bits).
pub fn encode_service_reply(
    buf: &mut Vec<u8>,
    h: &ReplyHeader,
    s: &Service,
) -> Result<usize, EncodeError> {
    let mut b = h.builder(buf, Cmd::NewService);
    let n = b.begin_nest(CmdAttr::Service.to_raw());
    put_service_key(&mut b, &s.key);
    b.put_str(SvcAttr::SchedName.to_raw(), &s.scheduler);
    if let Some(pe) = &s.pe {
        b.put_str(SvcAttr::PeName.to_raw(), pe);
    }
    b.put(SvcAttr::Flags.to_raw(), &flags_bytes(s.flags));
    b.put_u32(SvcAttr::Timeout.to_raw(), s.timeout);
    b.put(
        SvcAttr::Netmask.to_raw(),
        &netmask_bytes(s.key.family(), s.netmask),
    );
    if let Some(st) = &s.stats {
        put_stats(&mut b, SvcAttr::Stats.to_raw(), st, false);
        put_stats(&mut b, SvcAttr::Stats64.to_raw(), st, true);
    }
    b.end_nest(n);
    b.finish()
}

/// Appends a destination reply (`NEW_DEST`) as the kernel builds it.
pub fn encode_dest_reply(
    buf: &mut Vec<u8>,
    h: &ReplyHeader,
    d: &Dest,
) -> Result<usize, EncodeError> {
    let mut b = h.builder(buf, Cmd::NewDest);
    let n = b.begin_nest(CmdAttr::Dest.to_raw());
    b.put(DestAttr::Addr.to_raw(), &addr16(&d.addr));
    b.put_be16(DestAttr::Port.to_raw(), d.port);
    b.put_u32(DestAttr::FwdMethod.to_raw(), d.fwd.to_raw());
    b.put_u32(DestAttr::Weight.to_raw(), d.weight as u32);
    b.put_u8(DestAttr::TunType.to_raw(), d.tun_type.to_raw());
    b.put_be16(DestAttr::TunPort.to_raw(), d.tun_port);
    b.put_u16(DestAttr::TunFlags.to_raw(), d.tun_flags);
    b.put_u32(DestAttr::UThresh.to_raw(), d.u_threshold);
    b.put_u32(DestAttr::LThresh.to_raw(), d.l_threshold);
    b.put_u32(DestAttr::ActiveConns.to_raw(), d.active_conns);
    b.put_u32(DestAttr::InactConns.to_raw(), d.inact_conns);
    b.put_u32(DestAttr::PersistConns.to_raw(), d.persist_conns);
    b.put_u16(DestAttr::AddrFamily.to_raw(), d.family().to_raw());
    if let Some(st) = &d.stats {
        put_stats(&mut b, DestAttr::Stats.to_raw(), st, false);
        put_stats(&mut b, DestAttr::Stats64.to_raw(), st, true);
    }
    b.end_nest(n);
    b.finish()
}

/// Appends a daemon reply (`NEW_DAEMON`) with every attribute.
pub fn encode_daemon_reply(
    buf: &mut Vec<u8>,
    h: &ReplyHeader,
    d: &Daemon,
) -> Result<usize, EncodeError> {
    let mut b = h.builder(buf, Cmd::NewDaemon);
    let n = b.begin_nest(CmdAttr::Daemon.to_raw());
    b.put_u32(DaemonAttr::State.to_raw(), d.state.to_raw());
    b.put_str(DaemonAttr::McastIfn.to_raw(), &d.mcast_ifn);
    b.put_u32(DaemonAttr::SyncId.to_raw(), d.syncid);
    b.put_u16(DaemonAttr::SyncMaxlen.to_raw(), d.sync_maxlen);
    b.put_u16(DaemonAttr::McastPort.to_raw(), d.mcast_port);
    b.put_u8(DaemonAttr::McastTtl.to_raw(), d.mcast_ttl);
    if let Some(g) = &d.mcast_group {
        put_group(&mut b, g);
    }
    b.end_nest(n);
    b.finish()
}

/// Appends the `GET_INFO` reply (`SET_INFO`).
pub fn encode_info_reply(
    buf: &mut Vec<u8>,
    h: &ReplyHeader,
    i: &Info,
) -> Result<usize, EncodeError> {
    let mut b = h.builder(buf, Cmd::SetInfo);
    b.put_u32(InfoAttr::Version.to_raw(), i.version);
    b.put_u32(InfoAttr::ConnTabSize.to_raw(), i.conn_tab_size);
    b.finish()
}

/// Appends the `GET_CONFIG` reply (`SET_CONFIG`).
pub fn encode_timeouts_reply(
    buf: &mut Vec<u8>,
    h: &ReplyHeader,
    t: &Timeouts,
) -> Result<usize, EncodeError> {
    let mut b = h.builder(buf, Cmd::SetConfig);
    b.put_u32(CmdAttr::TimeoutTcp.to_raw(), t.tcp);
    b.put_u32(CmdAttr::TimeoutTcpFin.to_raw(), t.tcp_fin);
    b.put_u32(CmdAttr::TimeoutUdp.to_raw(), t.udp);
    b.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{svc_flags, tun_flags};
    use crate::wire::netlink::{messages, Body, GenlMsg, NlHeader, NLM_F_MULTI};

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

    fn encode(req: IpvsRequest<'_>) -> (NlHeader, Vec<u8>) {
        let mut buf = Vec::new();
        let len = req.encode(&mut buf, FAM, 77, 0).unwrap();
        assert_eq!(len, buf.len());
        let h = NlHeader::parse(&buf).unwrap();
        assert_eq!(h.len as usize, buf.len());
        assert_eq!((h.msg_type, h.seq, h.pid), (FAM, 77, 0));
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

    #[test]
    fn enums_round_trip() {
        for v in 0..=20u8 {
            assert_eq!(Cmd::from_raw(v).to_raw(), v);
        }
        assert_eq!(Cmd::from_raw(17), Cmd::Flush);
        assert_eq!(Cmd::from_raw(18), Cmd::Other(18));
        for v in 0..=20u16 {
            assert_eq!(SvcAttr::from_raw(v).to_raw(), v);
            assert_eq!(DestAttr::from_raw(v).to_raw(), v);
            assert_eq!(DaemonAttr::from_raw(v).to_raw(), v);
            assert_eq!(StatsAttr::from_raw(v).to_raw(), v);
            assert_eq!(CmdAttr::from_raw(v).to_raw(), v);
            assert_eq!(InfoAttr::from_raw(v).to_raw(), v);
        }
        assert_eq!(StatsAttr::from_raw(11), StatsAttr::Pad);
        assert_eq!(DestAttr::from_raw(15), DestAttr::TunFlags);
        assert_eq!(DaemonAttr::from_raw(8), DaemonAttr::McastTtl);
        assert_eq!(SvcAttr::from_raw(12), SvcAttr::Stats64);
        assert_eq!(CmdAttr::from_raw(7), CmdAttr::Other(7));
        assert_eq!(SvcAttr::Netmask.name(), "NETMASK");
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
            assert_eq!(h.len, 104);
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
                assert_eq!(h.len, 20, "{req:?}");
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
                assert_eq!(h.len, 16 + 4 + 84 + 96);
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
        }
    }

    #[test]
    fn legacy_stats_are_widened() {
        let mut buf = Vec::new();
        let mut b = MessageBuilder::new(&mut buf, 0, 0, 0, 0);
        let n = b.begin_nest(SvcAttr::Stats.to_raw());
        b.put(StatsAttr::Pad.to_raw(), &[]);
        for id in [1u16, 2, 3] {
            b.put_u32(id, u32::MAX - u32::from(id));
        }
        b.put_u64(4, 1 << 40).put_u64(5, 6);
        for id in 6u16..=10 {
            b.put_u32(id, u32::from(id));
        }
        b.put_u32(99, 0); // unknown attribute
        b.end_nest(n);
        b.finish().unwrap();
        let st = decode_stats(&buf[20..], false).unwrap();
        assert_eq!(st.conns, u64::from(u32::MAX - 1));
        assert_eq!(st.outpkts, u64::from(u32::MAX - 3));
        assert_eq!(st.inbytes, 1 << 40);
        assert_eq!((st.cps, st.outbps), (6, 10));
        // The same nest read as STATS64 has 4-byte counters: too short.
        assert!(matches!(
            decode_stats(&buf[20..], true),
            Err(DecodeError::ShortAttribute {
                attr: "CONNS",
                need: 8,
                ..
            })
        ));
    }

    /// A service nest built from (id, payload) pairs.
    fn svc_attrs(parts: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut buf = Vec::new();
        let mut b = MessageBuilder::new(&mut buf, 0, 0, 0, 0);
        let n = b.begin_nest(CmdAttr::Service.to_raw());
        for (id, p) in parts {
            b.put(*id, p);
        }
        b.end_nest(n);
        b.finish().unwrap();
        buf.split_off(16)
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
            Err(DecodeError::ShortAttribute { attr: "FLAGS", .. })
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

    fn dest_attrs(parts: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut v = svc_attrs(parts);
        v[2] = CmdAttr::Dest.to_raw() as u8;
        v
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
        let d = decode_dest(&dest_attrs(&dest_parts()), Family::Inet6).unwrap();
        assert_eq!(d.addr, "::1".parse::<IpAddr>().unwrap());
        assert_eq!(d.fwd, FwdMethod::Route);
        assert_eq!(d.weight, 4);
        assert_eq!((d.u_threshold, d.l_threshold), (5, 6));
        assert_eq!((d.active_conns, d.inact_conns, d.persist_conns), (7, 8, 9));
        assert_eq!((d.tun_type, d.tun_port, d.tun_flags), (TunType::Ipip, 0, 0));
        assert_eq!(d.stats, None);
        let d = decode_dest(&dest_attrs(&dest_parts()), Family::Inet).unwrap();
        assert_eq!(d.addr, "0.0.0.0".parse::<IpAddr>().unwrap());
        let mut parts = dest_parts();
        parts.push((11, 10u16.to_ne_bytes().to_vec()));
        let d = decode_dest(&dest_attrs(&parts), Family::Inet).unwrap();
        assert!(d.addr.is_ipv6());
        for drop in [1u16, 2, 3, 4, 5, 6, 7, 8, 9] {
            let parts: Vec<_> = dest_parts().into_iter().filter(|p| p.0 != drop).collect();
            assert!(matches!(
                decode_dest(&dest_attrs(&parts), Family::Inet),
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
        let mut buf = Vec::new();
        let mut b = MessageBuilder::new(&mut buf, 0, 0, 0, 0);
        let n = b.begin_nest(3);
        b.put_u32(1, 2).put_str(2, "lo").put_u32(3, 1);
        b.end_nest(n);
        b.finish().unwrap();
        let d = decode_daemon(&buf[16..]).unwrap();
        assert_eq!(d.state, DaemonState::Backup);
        assert_eq!(
            (d.sync_maxlen, d.mcast_group, d.mcast_port, d.mcast_ttl),
            (0, None, 0, 0)
        );
        assert!(decode_daemon(&buf[16..28]).is_err());
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
