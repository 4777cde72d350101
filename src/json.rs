//! The JSON schema of `--json` listings (version [`VERSION`]), as Rust
//! types, with conversions from the model and back.
//!
//! Scripts should not have to scrape ipvsadm's columns, which round
//! counters (`1K`), truncate names and change with the display options.
//! These documents carry every field the kernel reports, with full 64-bit
//! counters as JSON numbers, addresses always numeric, and names from a
//! fixed vocabulary; `docs/json.md` describes every field and the version
//! policy. Values this version has no name for (a new forwarding method,
//! an unknown flag bit) are written as their raw numbers, so nothing the
//! kernel says is lost, and they read back to the same model value.
//!
//! Every document is an object with `"version"` and `"kind"` first; the
//! CLI writes the list documents one list element per line, so a listing
//! of a million services streams and still parses as one JSON value.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::model::{
    svc_flags, tun_flags, Daemon, DaemonState, Dest, Family, FwdMethod, Info, Protocol, Service,
    ServiceEntry, ServiceKey, Stats, Timeouts, TunType,
};

/// The schema version written in every document. It changes only when a
/// field is removed, renamed or changes meaning; new fields may appear
/// within a version.
pub const VERSION: u32 = 2;

/// Why a JSON document does not convert to the model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonError {
    /// Not JSON, or not this schema's shape.
    #[error("not a valid ipvsadm-rs JSON document: {0}")]
    Syntax(String),
    /// A `version` this library does not read.
    #[error("unsupported JSON schema version {0} (this is version {VERSION})")]
    Version(u32),
    /// A word outside the vocabulary of its field.
    #[error("unknown {field} {word:?}")]
    UnknownWord {
        /// The field.
        field: &'static str,
        /// The word found.
        word: String,
    },
    /// A number too large for its field.
    #[error("{field} value {value} out of range")]
    OutOfRange {
        /// The field.
        field: &'static str,
        /// The value found.
        value: u64,
    },
    /// A service is neither an address service nor a fwmark service, or
    /// its family and address disagree.
    #[error("service has an inconsistent identity: {0}")]
    Identity(String),
    /// A netmask that is not an address of the service's family (or, for
    /// IPv6, not a prefix).
    #[error("bad netmask {0:?}")]
    Netmask(String),
    /// `stats` and `rates` must both be present or both be null.
    #[error("stats and rates must both be present or both be null")]
    Counters,
}

/// A value from a fixed vocabulary (`"tcp"`, `"masq"`), or its raw
/// number when this version has no name for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Word {
    /// A known name.
    Name(String),
    /// A raw value without a name.
    Number(u64),
}

impl Word {
    fn name(s: &str) -> Word {
        Word::Name(s.to_string())
    }
}

/// Any listing, as read back: the `kind` field selects the variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Document {
    /// `-L` (whole table or one service).
    Services(ServicesDoc),
    /// `-L --timeout`.
    Timeouts(TimeoutsDoc),
    /// `-L --daemon`.
    Daemons(DaemonsDoc),
    /// `-L -c`.
    Connections(ConnectionsDoc),
}

impl Document {
    /// Parses a document and checks its version.
    pub fn parse(text: &str) -> Result<Document, JsonError> {
        #[derive(Deserialize)]
        struct VersionOnly {
            version: u32,
        }
        let v: VersionOnly =
            serde_json::from_str(text).map_err(|e| JsonError::Syntax(e.to_string()))?;
        if v.version != VERSION {
            return Err(JsonError::Version(v.version));
        }
        serde_json::from_str(text).map_err(|e| JsonError::Syntax(e.to_string()))
    }
}

/// `-L --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServicesDoc {
    /// [`VERSION`].
    pub version: u32,
    /// What `GET_INFO` reported.
    pub ipvs: Option<IpvsInfo>,
    /// The services in listing order.
    pub services: Vec<ServiceJson>,
}

/// The kernel's IPVS version and connection table size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpvsInfo {
    /// `"1.2.1"`.
    pub version: String,
    /// Size of the connection hash table.
    pub conn_tab_size: u32,
}

/// One virtual service with its destinations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceJson {
    /// `"inet"` or `"inet6"`.
    pub family: Word,
    /// `"tcp"`, `"udp"`, `"sctp"`; null for fwmark services.
    pub protocol: Option<Word>,
    /// Virtual address; null for fwmark services.
    pub address: Option<IpAddr>,
    /// Virtual port; null for fwmark services.
    pub port: Option<u16>,
    /// Firewall mark; null for address services.
    pub fwmark: Option<u32>,
    /// Scheduler name.
    pub scheduler: String,
    /// Persistence engine, or null.
    pub pe: Option<String>,
    /// Flag words: `persistent`, `hashed`, `one_packet`, and the
    /// scheduler flags under the names `-b` gives them for this scheduler
    /// (`sh-port`, `mh-fallback`, ... or `flag-1`..`flag-3`).
    pub flags: Vec<Word>,
    /// Persistence timeout in seconds (0 when not persistent).
    pub timeout: u32,
    /// Persistence granularity as a mask in the service's family.
    pub netmask: String,
    /// Counters; null if the kernel reported none.
    pub stats: Option<CountersJson>,
    /// Rates; null if the kernel reported none.
    pub rates: Option<RatesJson>,
    /// Destinations in listing order.
    pub destinations: Vec<DestJson>,
}

/// Cumulative counters (64-bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountersJson {
    /// Connections scheduled.
    pub conns: u64,
    /// Packets in.
    pub inpkts: u64,
    /// Packets out.
    pub outpkts: u64,
    /// Bytes in.
    pub inbytes: u64,
    /// Bytes out.
    pub outbytes: u64,
}

/// Rates, per second, as the kernel estimates them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatesJson {
    /// Connections per second.
    pub cps: u64,
    /// Packets in per second.
    pub inpps: u64,
    /// Packets out per second.
    pub outpps: u64,
    /// Bytes in per second.
    pub inbps: u64,
    /// Bytes out per second.
    pub outbps: u64,
}

/// One destination (real server).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestJson {
    /// Address.
    pub address: IpAddr,
    /// Port.
    pub port: u16,
    /// `"masq"`, `"local"`, `"tunnel"` or `"route"`.
    pub forward: Word,
    /// Weight.
    pub weight: i32,
    /// Upper connection threshold (0 = none).
    pub u_threshold: u32,
    /// Lower connection threshold.
    pub l_threshold: u32,
    /// Active connections.
    pub active_conns: u32,
    /// Inactive connections.
    pub inactive_conns: u32,
    /// Persistent connection templates.
    pub persistent_conns: u32,
    /// Tunnel settings; null unless `forward` is `tunnel` (or a raw
    /// forwarding method this version has no word for).
    pub tunnel: Option<TunnelJson>,
    /// Counters; null if the kernel reported none.
    pub stats: Option<CountersJson>,
    /// Rates; null if the kernel reported none.
    pub rates: Option<RatesJson>,
}

/// Tunnel settings of a destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelJson {
    /// `"ipip"`, `"gue"` or `"gre"`.
    #[serde(rename = "type")]
    pub tun_type: Word,
    /// Destination port of GUE (0 otherwise).
    pub port: u16,
    /// Checksum words: `csum`, `remcsum`; empty for none.
    pub flags: Vec<Word>,
}

/// `-L --timeout --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeoutsDoc {
    /// [`VERSION`].
    pub version: u32,
    /// The timeouts.
    pub timeouts: TimeoutsJson,
}

/// Connection timeouts in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeoutsJson {
    /// TCP established.
    pub tcp: u32,
    /// TCP after FIN.
    pub tcp_fin: u32,
    /// UDP.
    pub udp: u32,
}

/// `-L --daemon --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonsDoc {
    /// [`VERSION`].
    pub version: u32,
    /// Running daemons, master first.
    pub daemons: Vec<DaemonJson>,
}

/// One sync daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonJson {
    /// `"master"` or `"backup"`.
    pub state: Word,
    /// Multicast interface.
    pub mcast_interface: String,
    /// Sync id.
    pub syncid: u32,
    /// Largest sync message (0 = not reported).
    pub sync_maxlen: u16,
    /// Multicast group, or null if not reported.
    pub mcast_group: Option<IpAddr>,
    /// Multicast port (0 = not reported).
    pub mcast_port: u16,
    /// Multicast TTL (0 = not reported).
    pub mcast_ttl: u8,
}

/// `-L -c --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionsDoc {
    /// [`VERSION`].
    pub version: u32,
    /// The connections in the kernel's order.
    pub connections: Vec<ConnectionJson>,
}

/// One connection entry of `/proc/net/ip_vs_conn`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionJson {
    /// Protocol, lower case (`"tcp"`, `"udp"`, `"sctp"`, ...).
    pub protocol: String,
    /// Client address.
    pub client_address: IpAddr,
    /// Client port.
    pub client_port: u16,
    /// Virtual address.
    pub virtual_address: IpAddr,
    /// Virtual port.
    pub virtual_port: u16,
    /// Destination address.
    pub destination_address: IpAddr,
    /// Destination port.
    pub destination_port: u16,
    /// Connection state as the kernel names it (`"ESTABLISHED"`).
    pub state: String,
    /// Seconds until the entry expires.
    pub expires: u64,
    /// Persistence engine, or null.
    pub pe_name: Option<String>,
    /// Persistence engine data, or null.
    pub pe_data: Option<String>,
}

// ---------------------------------------------------------------------------
// Words.

fn family_word(f: Family) -> Word {
    match f {
        Family::Inet => Word::name("inet"),
        Family::Inet6 => Word::name("inet6"),
        Family::Other(v) => Word::Number(u64::from(v)),
    }
}

fn unknown(field: &'static str, word: &str) -> JsonError {
    JsonError::UnknownWord {
        field,
        word: word.to_string(),
    }
}

fn number<T: TryFrom<u64>>(field: &'static str, v: u64) -> Result<T, JsonError> {
    T::try_from(v).map_err(|_| JsonError::OutOfRange { field, value: v })
}

fn family_of(w: &Word) -> Result<Family, JsonError> {
    match w {
        Word::Name(n) if n == "inet" => Ok(Family::Inet),
        Word::Name(n) if n == "inet6" => Ok(Family::Inet6),
        Word::Name(n) => Err(unknown("family", n)),
        Word::Number(v) => Ok(Family::from_raw(number("family", *v)?)),
    }
}

fn protocol_word(p: Protocol) -> Word {
    match p.service_db_name() {
        Some(n) => Word::name(n),
        None => Word::Number(u64::from(p.to_raw())),
    }
}

fn protocol_of(w: &Word) -> Result<Protocol, JsonError> {
    match w {
        Word::Name(n) => match n.as_str() {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            "sctp" => Ok(Protocol::Sctp),
            _ => Err(unknown("protocol", n)),
        },
        Word::Number(v) => Ok(Protocol::from_raw(number("protocol", *v)?)),
    }
}

fn fwd_word(f: FwdMethod) -> Word {
    match f {
        FwdMethod::Masq => Word::name("masq"),
        FwdMethod::Local => Word::name("local"),
        FwdMethod::Tunnel => Word::name("tunnel"),
        FwdMethod::Route => Word::name("route"),
        FwdMethod::Other(v) => Word::Number(u64::from(v)),
    }
}

fn fwd_of(w: &Word) -> Result<FwdMethod, JsonError> {
    match w {
        Word::Name(n) => match n.as_str() {
            "masq" => Ok(FwdMethod::Masq),
            "local" => Ok(FwdMethod::Local),
            "tunnel" => Ok(FwdMethod::Tunnel),
            "route" => Ok(FwdMethod::Route),
            _ => Err(unknown("forward", n)),
        },
        Word::Number(v) => Ok(FwdMethod::from_raw(number("forward", *v)?)),
    }
}

fn tun_type_word(t: TunType) -> Word {
    match t {
        TunType::Ipip => Word::name("ipip"),
        TunType::Gue => Word::name("gue"),
        TunType::Gre => Word::name("gre"),
        TunType::Other(v) => Word::Number(u64::from(v)),
    }
}

fn tun_type_of(w: &Word) -> Result<TunType, JsonError> {
    match w {
        Word::Name(n) => match n.as_str() {
            "ipip" => Ok(TunType::Ipip),
            "gue" => Ok(TunType::Gue),
            "gre" => Ok(TunType::Gre),
            _ => Err(unknown("tunnel type", n)),
        },
        Word::Number(v) => Ok(TunType::from_raw(number("tunnel type", *v)?)),
    }
}

fn state_word(s: DaemonState) -> Word {
    match s {
        DaemonState::Master => Word::name("master"),
        DaemonState::Backup => Word::name("backup"),
        DaemonState::Other(v) => Word::Number(u64::from(v)),
    }
}

fn state_of(w: &Word) -> Result<DaemonState, JsonError> {
    match w {
        Word::Name(n) if n == "master" => Ok(DaemonState::Master),
        Word::Name(n) if n == "backup" => Ok(DaemonState::Backup),
        Word::Name(n) => Err(unknown("daemon state", n)),
        Word::Number(v) => Ok(DaemonState::from_raw(number("daemon state", *v)?)),
    }
}

/// Service flag bits and their words for a scheduler, in bit order: the
/// scheduler flags under the names ipvsadm's `-b` uses for it.
fn svc_flag_words(scheduler: &str) -> [(u32, &'static str); 6] {
    let [one, two, three] = svc_flags::sched_names(scheduler);
    [
        (svc_flags::PERSISTENT, "persistent"),
        (svc_flags::HASHED, "hashed"),
        (svc_flags::ONEPACKET, "one_packet"),
        (svc_flags::SCHED1, one),
        (svc_flags::SCHED2, two),
        (svc_flags::SCHED3, three),
    ]
}

/// The generic scheduler flag names, which (as with `-b`) read back under
/// any scheduler.
const GENERIC_SCHED_WORDS: [(u32, &str); 3] = [
    (svc_flags::SCHED1, "flag-1"),
    (svc_flags::SCHED2, "flag-2"),
    (svc_flags::SCHED3, "flag-3"),
];

/// Tunnel checksum bits and their words.
const TUN_FLAG_WORDS: [(u32, &str); 2] = [
    (tun_flags::CSUM as u32, "csum"),
    (tun_flags::REMCSUM as u32, "remcsum"),
];

/// The words for a bit set: known bits by name, each other set bit as its
/// value, lowest bit first.
fn flag_words(bits: u32, names: &[(u32, &str)]) -> Vec<Word> {
    (0..32)
        .map(|i| 1u32 << i)
        .filter(|b| bits & b != 0)
        .map(|b| match names.iter().find(|(v, _)| *v == b) {
            Some((_, n)) => Word::name(n),
            None => Word::Number(u64::from(b)),
        })
        .collect()
}

fn flags_of(words: &[Word], names: &[(u32, &str)], field: &'static str) -> Result<u32, JsonError> {
    let mut bits = 0u32;
    for w in words {
        bits |= match w {
            Word::Name(n) => names
                .iter()
                .find(|(_, name)| name == n)
                .map(|(v, _)| *v)
                .ok_or_else(|| unknown(field, n))?,
            Word::Number(v) => number(field, *v)?,
        };
    }
    Ok(bits)
}

/// The service flag bits of `words` for `scheduler`: its own names, or
/// the generic `flag-N`; another scheduler's names (`sh-port` on an mh
/// service) are unknown words, as `-b` refuses them.
fn service_flags_of(words: &[Word], scheduler: &str) -> Result<u32, JsonError> {
    let own = svc_flag_words(scheduler);
    let mut bits = 0u32;
    for w in words {
        bits |= match w {
            Word::Name(n) => match GENERIC_SCHED_WORDS.iter().find(|(_, g)| g == n) {
                Some((v, _)) => *v,
                None => flags_of(std::slice::from_ref(w), &own, "service flag")?,
            },
            Word::Number(_) => flags_of(std::slice::from_ref(w), &own, "service flag")?,
        };
    }
    Ok(bits)
}

// ---------------------------------------------------------------------------
// Conversions.

fn split_stats(s: Option<Stats>) -> (Option<CountersJson>, Option<RatesJson>) {
    match s {
        None => (None, None),
        Some(s) => (
            Some(CountersJson {
                conns: s.conns,
                inpkts: s.inpkts,
                outpkts: s.outpkts,
                inbytes: s.inbytes,
                outbytes: s.outbytes,
            }),
            Some(RatesJson {
                cps: s.cps,
                inpps: s.inpps,
                outpps: s.outpps,
                inbps: s.inbps,
                outbps: s.outbps,
            }),
        ),
    }
}

fn join_stats(c: &Option<CountersJson>, r: &Option<RatesJson>) -> Result<Option<Stats>, JsonError> {
    match (c, r) {
        (None, None) => Ok(None),
        (Some(c), Some(r)) => Ok(Some(Stats {
            conns: c.conns,
            inpkts: c.inpkts,
            outpkts: c.outpkts,
            inbytes: c.inbytes,
            outbytes: c.outbytes,
            cps: r.cps,
            inpps: r.inpps,
            outpps: r.outpps,
            inbps: r.inbps,
            outbps: r.outbps,
        })),
        _ => Err(JsonError::Counters),
    }
}

/// The netmask as text: an IPv4 mask (host-order number) as a dotted quad,
/// an IPv6 prefix length as the mask address (prefixes above 128 read
/// as 128).
fn netmask_text(family: Family, netmask: u32) -> String {
    match family {
        Family::Inet6 => {
            let len = netmask.min(128);
            let bits = u128::MAX.checked_shl(128 - len).unwrap_or(0);
            Ipv6Addr::from(bits).to_string()
        }
        _ => Ipv4Addr::from(netmask).to_string(),
    }
}

fn netmask_of(family: Family, text: &str) -> Result<u32, JsonError> {
    let bad = || JsonError::Netmask(text.to_string());
    match family {
        Family::Inet6 => {
            let bits = u128::from(text.parse::<Ipv6Addr>().map_err(|_| bad())?);
            let len = bits.leading_ones();
            if bits.checked_shl(len).unwrap_or(0) != 0 {
                return Err(bad());
            }
            Ok(len)
        }
        _ => Ok(u32::from(text.parse::<Ipv4Addr>().map_err(|_| bad())?)),
    }
}

impl From<&Info> for IpvsInfo {
    fn from(i: &Info) -> IpvsInfo {
        let (a, b, c) = i.version_triple();
        IpvsInfo {
            version: format!("{a}.{b}.{c}"),
            conn_tab_size: i.conn_tab_size,
        }
    }
}

impl TryFrom<&IpvsInfo> for Info {
    type Error = JsonError;
    fn try_from(i: &IpvsInfo) -> Result<Info, JsonError> {
        let bad = || unknown("ipvs version", &i.version);
        let mut version = 0u32;
        let mut parts = 0;
        for p in i.version.split('.') {
            let n: u8 = p.parse().map_err(|_| bad())?;
            version = (version << 8) | u32::from(n);
            parts += 1;
        }
        if parts != 3 {
            return Err(bad());
        }
        Ok(Info {
            version,
            conn_tab_size: i.conn_tab_size,
        })
    }
}

impl From<&Dest> for DestJson {
    fn from(d: &Dest) -> DestJson {
        let (stats, rates) = split_stats(d.stats.as_deref().copied());
        DestJson {
            address: d.addr,
            port: d.port,
            forward: fwd_word(d.fwd),
            weight: d.weight,
            u_threshold: d.u_threshold,
            l_threshold: d.l_threshold,
            active_conns: d.active_conns,
            inactive_conns: d.inact_conns,
            persistent_conns: d.persist_conns,
            tunnel: match d.fwd {
                FwdMethod::Masq | FwdMethod::Local | FwdMethod::Route => None,
                FwdMethod::Tunnel | FwdMethod::Other(_) => Some(TunnelJson {
                    tun_type: tun_type_word(d.tun_type),
                    port: d.tun_port,
                    flags: flag_words(u32::from(d.tun_flags), &TUN_FLAG_WORDS),
                }),
            },
            stats,
            rates,
        }
    }
}

impl TryFrom<&DestJson> for Dest {
    type Error = JsonError;
    fn try_from(d: &DestJson) -> Result<Dest, JsonError> {
        let plain = Dest::new(d.address, d.port);
        let (tun_type, tun_port, tun_flags) = match &d.tunnel {
            None => (plain.tun_type, plain.tun_port, plain.tun_flags),
            Some(t) => {
                let bits = flags_of(&t.flags, &TUN_FLAG_WORDS, "tunnel flag")?;
                (
                    tun_type_of(&t.tun_type)?,
                    t.port,
                    number("tunnel flag", u64::from(bits))?,
                )
            }
        };
        Ok(Dest {
            addr: d.address,
            port: d.port,
            fwd: fwd_of(&d.forward)?,
            weight: d.weight,
            u_threshold: d.u_threshold,
            l_threshold: d.l_threshold,
            tun_type,
            tun_port,
            tun_flags,
            active_conns: d.active_conns,
            inact_conns: d.inactive_conns,
            persist_conns: d.persistent_conns,
            stats: join_stats(&d.stats, &d.rates)?.map(Box::new),
        })
    }
}

impl From<&ServiceEntry> for ServiceJson {
    fn from(e: &ServiceEntry) -> ServiceJson {
        let s = &e.service;
        let family = s.key.family();
        let (protocol, address, port, fwmark) = match s.key {
            ServiceKey::Addr {
                protocol,
                addr,
                port,
            } => (Some(protocol_word(protocol)), Some(addr), Some(port), None),
            ServiceKey::Fwmark { mark, .. } => (None, None, None, Some(mark)),
        };
        let (stats, rates) = split_stats(s.stats.as_deref().copied());
        ServiceJson {
            family: family_word(family),
            protocol,
            address,
            port,
            fwmark,
            scheduler: s.scheduler.clone(),
            pe: s.pe.clone(),
            flags: flag_words(s.flags, &svc_flag_words(&s.scheduler)),
            timeout: s.timeout,
            netmask: netmask_text(family, s.netmask),
            stats,
            rates,
            destinations: e.dests.iter().map(DestJson::from).collect(),
        }
    }
}

impl TryFrom<&ServiceJson> for ServiceEntry {
    type Error = JsonError;
    fn try_from(j: &ServiceJson) -> Result<ServiceEntry, JsonError> {
        let family = family_of(&j.family)?;
        let key = match (&j.protocol, j.address, j.port, j.fwmark) {
            (Some(p), Some(addr), Some(port), None) => {
                if Family::of(&addr) != family {
                    return Err(JsonError::Identity(format!(
                        "address {addr} is not of family {:?}",
                        j.family
                    )));
                }
                ServiceKey::Addr {
                    protocol: protocol_of(p)?,
                    addr,
                    port,
                }
            }
            (None, None, None, Some(mark)) => ServiceKey::Fwmark { family, mark },
            _ => {
                return Err(JsonError::Identity(
                    "give protocol, address and port, or fwmark alone".to_string(),
                ))
            }
        };
        let service = Service {
            key,
            scheduler: j.scheduler.clone(),
            pe: j.pe.clone(),
            flags: service_flags_of(&j.flags, &j.scheduler)?,
            timeout: j.timeout,
            netmask: netmask_of(family, &j.netmask)?,
            stats: join_stats(&j.stats, &j.rates)?.map(Box::new),
        };
        let dests = j
            .destinations
            .iter()
            .map(Dest::try_from)
            .collect::<Result<_, _>>()?;
        Ok(ServiceEntry { service, dests })
    }
}

impl ServicesDoc {
    /// A document for a snapshot, in the order given.
    pub fn new(info: Option<&Info>, entries: &[ServiceEntry]) -> ServicesDoc {
        ServicesDoc {
            version: VERSION,
            ipvs: info.map(IpvsInfo::from),
            services: entries.iter().map(ServiceJson::from).collect(),
        }
    }

    /// The model values, in document order.
    pub fn to_model(&self) -> Result<(Option<Info>, Vec<ServiceEntry>), JsonError> {
        let info = self.ipvs.as_ref().map(Info::try_from).transpose()?;
        let entries = self
            .services
            .iter()
            .map(ServiceEntry::try_from)
            .collect::<Result<_, _>>()?;
        Ok((info, entries))
    }
}

impl From<&Timeouts> for TimeoutsJson {
    fn from(t: &Timeouts) -> TimeoutsJson {
        TimeoutsJson {
            tcp: t.tcp,
            tcp_fin: t.tcp_fin,
            udp: t.udp,
        }
    }
}

impl From<&TimeoutsJson> for Timeouts {
    fn from(t: &TimeoutsJson) -> Timeouts {
        Timeouts {
            tcp: t.tcp,
            tcp_fin: t.tcp_fin,
            udp: t.udp,
        }
    }
}

impl From<&Daemon> for DaemonJson {
    fn from(d: &Daemon) -> DaemonJson {
        DaemonJson {
            state: state_word(d.state),
            mcast_interface: d.mcast_ifn.clone(),
            syncid: d.syncid,
            sync_maxlen: d.sync_maxlen,
            mcast_group: d.mcast_group,
            mcast_port: d.mcast_port,
            mcast_ttl: d.mcast_ttl,
        }
    }
}

impl TryFrom<&DaemonJson> for Daemon {
    type Error = JsonError;
    fn try_from(d: &DaemonJson) -> Result<Daemon, JsonError> {
        Ok(Daemon {
            state: state_of(&d.state)?,
            mcast_ifn: d.mcast_interface.clone(),
            syncid: d.syncid,
            sync_maxlen: d.sync_maxlen,
            mcast_group: d.mcast_group,
            mcast_port: d.mcast_port,
            mcast_ttl: d.mcast_ttl,
        })
    }
}

// ---------------------------------------------------------------------------
// Writing, one list element per line.

/// Writes one value compactly.
fn put<T: Serialize>(out: &mut dyn std::io::Write, v: &T) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, v).map_err(std::io::Error::other)
}

/// Writes a list document incrementally: the head (`version`, `kind` and
/// any fields before the list), then one element per line, then the end.
/// Lets a listing stream without holding the whole table.
pub struct ListWriter {
    first: bool,
}

impl ListWriter {
    /// Writes `{"version":VERSION,"kind":KIND,` the `head` fields (each a
    /// name and its value as JSON text) and the opening of the list named
    /// `list`.
    pub fn begin(
        out: &mut dyn std::io::Write,
        kind: &str,
        head: &[(&str, &str)],
        list: &str,
    ) -> std::io::Result<ListWriter> {
        write!(out, "{{\"version\":{VERSION},\"kind\":")?;
        put(out, &kind)?;
        for (name, value) in head {
            out.write_all(b",")?;
            put(out, name)?;
            out.write_all(b":")?;
            out.write_all(value.as_bytes())?;
        }
        out.write_all(b",")?;
        put(out, &list)?;
        out.write_all(b":[")?;
        Ok(ListWriter { first: true })
    }

    /// One element, on its own line.
    pub fn item<T: Serialize>(
        &mut self,
        out: &mut dyn std::io::Write,
        v: &T,
    ) -> std::io::Result<()> {
        out.write_all(if self.first { b"\n" } else { b",\n" })?;
        self.first = false;
        put(out, v)
    }

    /// Closes the list and the document, and ends the line.
    pub fn end(self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        out.write_all(b"\n]}\n")
    }
}

/// Writes a whole services document for a snapshot, in the order given.
pub fn write_services(
    out: &mut dyn std::io::Write,
    info: Option<&Info>,
    entries: &[ServiceEntry],
) -> std::io::Result<()> {
    let ipvs = serde_json::to_string(&info.map(IpvsInfo::from)).map_err(std::io::Error::other)?;
    let mut w = ListWriter::begin(out, "services", &[("ipvs", &ipvs)], "services")?;
    for e in entries {
        w.item(out, &ServiceJson::from(e))?;
    }
    w.end(out)
}

/// Writes the timeouts document.
pub fn write_timeouts(out: &mut dyn std::io::Write, t: &Timeouts) -> std::io::Result<()> {
    write!(
        out,
        "{{\"version\":{VERSION},\"kind\":\"timeouts\",\"timeouts\":"
    )?;
    put(out, &TimeoutsJson::from(t))?;
    out.write_all(b"}\n")
}

/// Writes the daemons document.
pub fn write_daemons(out: &mut dyn std::io::Write, daemons: &[Daemon]) -> std::io::Result<()> {
    let mut w = ListWriter::begin(out, "daemons", &[], "daemons")?;
    for d in daemons {
        w.item(out, &DaemonJson::from(d))?;
    }
    w.end(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(base: u64) -> Stats {
        Stats {
            conns: base,
            inpkts: base + 1,
            outpkts: base + 2,
            inbytes: u64::MAX - 1,
            outbytes: base + 4,
            cps: 5,
            inpps: 6,
            outpps: 7,
            inbps: 8,
            outbps: 9,
        }
    }

    fn table() -> Vec<ServiceEntry> {
        let mut web = Service::new(ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: "10.0.0.1".parse().unwrap(),
            port: 80,
        });
        web.scheduler = "wlc".into();
        web.flags = svc_flags::PERSISTENT | svc_flags::HASHED | svc_flags::SCHED2 | 0x100;
        web.timeout = 360;
        web.netmask = 0xffff_ff00;
        web.stats = Some(Box::new(stats(1 << 40)));
        let mut d1 = Dest::new("10.0.1.1".parse().unwrap(), 80);
        d1.fwd = FwdMethod::Masq;
        d1.weight = 7;
        d1.u_threshold = 100;
        d1.l_threshold = 10;
        d1.active_conns = 3;
        d1.inact_conns = 4;
        d1.persist_conns = 5;
        d1.stats = Some(Box::new(stats(12)));
        let mut d2 = Dest::new("2001:db8::1".parse().unwrap(), 80);
        d2.fwd = FwdMethod::Tunnel;
        d2.tun_type = TunType::Gue;
        d2.tun_port = 6080;
        d2.tun_flags = tun_flags::CSUM | tun_flags::REMCSUM;
        d2.stats = Some(Box::new(Stats::default()));
        let mut d3 = Dest::new("10.0.1.3".parse().unwrap(), 80);
        d3.fwd = FwdMethod::Other(9);
        d3.tun_type = TunType::Other(7);
        let mut mark = Service::new(ServiceKey::Fwmark {
            family: Family::Inet6,
            mark: u32::MAX,
        });
        mark.scheduler = "sh".into();
        mark.pe = Some("sip".into());
        mark.netmask = 64;
        let mut odd = Service::new(ServiceKey::Addr {
            protocol: Protocol::Other(99),
            addr: "::1".parse().unwrap(),
            port: 1,
        });
        odd.scheduler = "rr".into();
        let mut local = Dest::new("::1".parse().unwrap(), 1);
        local.fwd = FwdMethod::Local;
        vec![
            ServiceEntry {
                service: web,
                dests: vec![d1, d2, d3],
            },
            ServiceEntry {
                service: mark,
                dests: vec![],
            },
            ServiceEntry {
                service: odd,
                dests: vec![local],
            },
        ]
    }

    fn info() -> Info {
        Info {
            version: 0x010201,
            conn_tab_size: 4096,
        }
    }

    #[test]
    fn services_round_trip_through_text() {
        let entries = table();
        let mut out = Vec::new();
        write_services(&mut out, Some(&info()), &entries).unwrap();
        let text = String::from_utf8(out).unwrap();
        // One service per line, version first.
        assert!(text.starts_with(
            "{\"version\":2,\"kind\":\"services\",\"ipvs\":{\"version\":\"1.2.1\",\"conn_tab_size\":4096},\"services\":[\n{\"family\":\"inet\",\"protocol\":\"tcp\",\"address\":\"10.0.0.1\",\"port\":80,\"fwmark\":null,"
        ), "{text}");
        assert_eq!(text.lines().count(), 2 + entries.len());
        let Document::Services(doc) = Document::parse(&text).unwrap() else {
            panic!("not a services document");
        };
        assert_eq!(doc, ServicesDoc::new(Some(&info()), &entries));
        let (i, back) = doc.to_model().unwrap();
        assert_eq!(i, Some(info()));
        assert_eq!(back, entries);
    }

    #[test]
    fn field_names_and_words() {
        let entries = table();
        let v = serde_json::to_value(ServiceJson::from(&entries[0])).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut want = vec![
            "family",
            "protocol",
            "address",
            "port",
            "fwmark",
            "scheduler",
            "pe",
            "flags",
            "timeout",
            "netmask",
            "stats",
            "rates",
            "destinations",
        ];
        let mut keys_sorted = keys.clone();
        keys_sorted.sort_unstable();
        want.sort_unstable();
        assert_eq!(keys_sorted, want);
        assert_eq!(v["family"], "inet");
        assert_eq!(v["protocol"], "tcp");
        assert_eq!(v["address"], "10.0.0.1");
        assert_eq!(v["netmask"], "255.255.255.0");
        assert_eq!(
            v["flags"],
            serde_json::json!(["persistent", "hashed", "flag-2", 256])
        );
        // Full 64-bit counters as numbers.
        assert_eq!(v["stats"]["conns"], 1u64 << 40);
        assert_eq!(v["stats"]["inbytes"], u64::MAX - 1);
        assert_eq!(v["rates"]["outbps"], 9);
        let d = &v["destinations"];
        assert_eq!(d[0]["forward"], "masq");
        assert_eq!(d[0]["inactive_conns"], 4);
        assert_eq!(d[0]["persistent_conns"], 5);
        assert_eq!(d[0]["u_threshold"], 100);
        assert_eq!(d[1]["forward"], "tunnel");
        assert_eq!(
            d[1]["tunnel"],
            serde_json::json!({"type": "gue", "port": 6080, "flags": ["csum", "remcsum"]})
        );
        assert_eq!(d[2]["forward"], 9);
        // No tunnel settings on a destination that is not a tunnel; kept
        // for a forwarding method without a word (it may be one).
        assert_eq!(d[0]["tunnel"], serde_json::Value::Null);
        assert!(d[0].as_object().unwrap().contains_key("tunnel"));
        assert_eq!(
            d[2]["tunnel"],
            serde_json::json!({"type": 7, "port": 0, "flags": []})
        );
        let m = serde_json::to_value(ServiceJson::from(&entries[1])).unwrap();
        assert_eq!(m["family"], "inet6");
        assert_eq!(m["protocol"], serde_json::Value::Null);
        assert_eq!(m["fwmark"], u64::from(u32::MAX));
        assert_eq!(m["netmask"], "ffff:ffff:ffff:ffff::");
        assert_eq!(m["stats"], serde_json::Value::Null);
    }

    #[test]
    fn scheduler_flags_use_the_names_of_b() {
        let all = svc_flags::SCHED1 | svc_flags::SCHED2 | svc_flags::SCHED3;
        let mut entries = table();
        for (sched, want) in [
            ("sh", ["sh-fallback", "sh-port", "flag-3"]),
            ("mh", ["mh-fallback", "mh-port", "flag-3"]),
            ("rr", ["flag-1", "flag-2", "flag-3"]),
            ("wlc", ["flag-1", "flag-2", "flag-3"]),
        ] {
            let e = &mut entries[1];
            e.service.scheduler = sched.into();
            e.service.flags = svc_flags::HASHED | all;
            let v = serde_json::to_value(ServiceJson::from(&*e)).unwrap();
            assert_eq!(
                v["flags"],
                serde_json::json!(["hashed", want[0], want[1], want[2]]),
                "{sched}"
            );
            let back = ServiceEntry::try_from(&ServiceJson::from(&*e)).unwrap();
            assert_eq!(back.service.flags, svc_flags::HASHED | all, "{sched}");
        }
        // The generic names read back under any scheduler, as with -b.
        let mut j = ServiceJson::from(&entries[1]);
        j.scheduler = "sh".into();
        j.flags = vec![Word::name("flag-1"), Word::name("sh-port")];
        assert_eq!(
            ServiceEntry::try_from(&j).unwrap().service.flags,
            svc_flags::SCHED1 | svc_flags::SCHED2
        );
        // Another scheduler's names, and version 1's words, do not.
        for (sched, word) in [
            ("mh", "sh-port"),
            ("rr", "sh-fallback"),
            ("sh", "sched_flag_2"),
        ] {
            j.scheduler = sched.into();
            j.flags = vec![Word::name(word)];
            assert!(
                matches!(
                    ServiceEntry::try_from(&j),
                    Err(JsonError::UnknownWord { .. })
                ),
                "{sched} {word}"
            );
        }
    }

    #[test]
    fn timeouts_and_daemons_round_trip() {
        let t = Timeouts {
            tcp: 900,
            tcp_fin: 120,
            udp: 300,
        };
        let mut out = Vec::new();
        write_timeouts(&mut out, &t).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "{\"version\":2,\"kind\":\"timeouts\",\"timeouts\":{\"tcp\":900,\"tcp_fin\":120,\"udp\":300}}\n"
        );
        let Document::Timeouts(doc) = Document::parse(&text).unwrap() else {
            panic!()
        };
        assert_eq!(Timeouts::from(&doc.timeouts), t);

        let daemons = vec![
            Daemon {
                state: DaemonState::Master,
                mcast_ifn: "lo".into(),
                syncid: 7,
                sync_maxlen: 1472,
                mcast_group: Some("224.0.0.81".parse().unwrap()),
                mcast_port: 8848,
                mcast_ttl: 1,
            },
            Daemon {
                state: DaemonState::Other(5),
                mcast_ifn: "eth0".into(),
                syncid: 0,
                sync_maxlen: 0,
                mcast_group: None,
                mcast_port: 0,
                mcast_ttl: 0,
            },
        ];
        let mut out = Vec::new();
        write_daemons(&mut out, &daemons).unwrap();
        let text = String::from_utf8(out).unwrap();
        let Document::Daemons(doc) = Document::parse(&text).unwrap() else {
            panic!()
        };
        let back: Vec<Daemon> = doc
            .daemons
            .iter()
            .map(|d| Daemon::try_from(d).unwrap())
            .collect();
        assert_eq!(back, daemons);
        assert!(text.contains("\"mcast_interface\":\"lo\""));
        assert!(text.contains("\"state\":\"master\""));
    }

    #[test]
    fn empty_lists_are_valid() {
        let mut out = Vec::new();
        write_services(&mut out, None, &[]).unwrap();
        let text = String::from_utf8(out).unwrap();
        let Document::Services(doc) = Document::parse(&text).unwrap() else {
            panic!()
        };
        assert!(doc.services.is_empty());
        assert_eq!(doc.ipvs, None);
    }

    #[test]
    fn bad_documents_are_refused() {
        assert!(matches!(
            Document::parse("{\"version\":1,\"kind\":\"timeouts\"}"),
            Err(JsonError::Version(1))
        ));
        assert!(matches!(
            Document::parse("[true]"),
            Err(JsonError::Syntax(_))
        ));
        let mut j = ServiceJson::from(&table()[0]);
        j.flags.push(Word::name("sticky"));
        assert!(matches!(
            ServiceEntry::try_from(&j),
            Err(JsonError::UnknownWord { .. })
        ));
        let mut j = ServiceJson::from(&table()[0]);
        j.fwmark = Some(1);
        assert!(matches!(
            ServiceEntry::try_from(&j),
            Err(JsonError::Identity(_))
        ));
        let mut j = ServiceJson::from(&table()[1]);
        j.netmask = "ffff::ffff".into();
        assert!(matches!(
            ServiceEntry::try_from(&j),
            Err(JsonError::Netmask(_))
        ));
        let mut j = ServiceJson::from(&table()[0]);
        j.rates = None;
        assert!(matches!(
            ServiceEntry::try_from(&j),
            Err(JsonError::Counters)
        ));
        let mut j = ServiceJson::from(&table()[0]);
        if let Some(t) = j.destinations[1].tunnel.as_mut() {
            t.flags = vec![Word::Number(1 << 20)];
        }
        assert!(matches!(
            ServiceEntry::try_from(&j),
            Err(JsonError::OutOfRange { .. })
        ));
    }

    #[test]
    fn netmask_texts() {
        assert_eq!(
            netmask_text(Family::Inet6, 128),
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
        );
        assert_eq!(netmask_text(Family::Inet6, 0), "::");
        assert_eq!(netmask_of(Family::Inet6, "::").unwrap(), 0);
        assert_eq!(netmask_of(Family::Inet6, "ffff:fe00::").unwrap(), 23);
        assert_eq!(netmask_text(Family::Inet, 0xffff_ffff), "255.255.255.255");
    }
}
