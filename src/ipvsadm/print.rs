//! ipvsadm 1.31's listing (`-L`), save (`-S`), `--timeout` and `--daemon`
//! output, as pure functions over a snapshot of the table.
//!
//! Every function writes to a `&mut dyn Write` and returns `io::Result`,
//! so a closed pipe surfaces as an error instead of a panic. Output is
//! byte-for-byte ipvsadm's (widths, trailing spaces, name truncation),
//! except for the deliberate fixes listed in docs/compat.md:
//!
//! * scheduler flag bits without a scheduler-specific name are shown and
//!   saved as `flag-N` instead of being dropped (§6 item 6);
//! * fwmarks are printed unsigned (item 7);
//! * services and destinations are sorted in true numeric order (item 8);
//! * destination counters are 64-bit (item 9, by the model);
//! * save writes `-x`/`-y` thresholds (item 14);
//! * unknown tunnel checksum flags print `?` (item 27).
//!
//! Widths are counted in bytes like C's `printf`, so non-ASCII names from
//! the resolver line up exactly as they do with ipvsadm.

use std::io::{self, Write};
use std::net::IpAddr;

use crate::ipvsadm::options::ListOptions;
use crate::ipvsadm::resolve::Resolver;
use crate::model::{
    svc_flags, tun_flags, Daemon, DaemonState, Dest, Family, FwdMethod, Info, Protocol, Service,
    ServiceEntry, ServiceKey, Stats, Timeouts, TunType,
};

/// ipvsadm formats address:port strings into a 60-byte buffer.
const ADDRPORT_MAX: usize = 59;
/// Width at which IPv4 service names are cut in listings.
const SVC_NAME_V4_MAX: usize = 33;
/// Width at which IPv4 destination names are cut in listings.
const DEST_NAME_V4_MAX: usize = 28;

/// Byte budget of the output buffer: lines are built in memory and
/// written out whenever this much has gathered.
const FLUSH_AT: usize = 32 * 1024;

/// True if `b` starts a character in UTF-8 text (is not a continuation
/// byte), the test `str::is_char_boundary` makes.
fn starts_char(b: u8) -> bool {
    (b as i8) >= -0x40
}

/// Cuts the text written to `out` since `start` to at most `max` bytes,
/// backing off to a character boundary (C cuts mid-character; the output
/// stays valid UTF-8 here). `out[..start]` must end on a boundary.
fn truncate_from(out: &mut Vec<u8>, start: usize, max: usize) {
    let Some(mut cut) = start.checked_add(max) else {
        return;
    };
    if out.len() <= cut {
        return;
    }
    while cut > start && !out.get(cut).copied().is_some_and(starts_char) {
        cut -= 1;
    }
    out.truncate(cut);
}

/// Appends `n` spaces.
fn pad(out: &mut Vec<u8>, n: usize) {
    out.resize(out.len() + n, b' ');
}

/// Pads what was written since `start` with spaces to `width` bytes
/// (the tail of `%-Ns`).
fn pad_from(out: &mut Vec<u8>, start: usize, width: usize) {
    let written = out.len().saturating_sub(start);
    pad(out, width.saturating_sub(written));
}

/// Appends `s` left-justified in a field of `width` bytes (`%-Ns`).
fn push_left(out: &mut Vec<u8>, s: &[u8], width: usize) {
    out.extend_from_slice(s);
    pad(out, width.saturating_sub(s.len()));
}

/// Appends `s` right-justified in a field of `width` bytes (`%Ns`).
fn push_right(out: &mut Vec<u8>, s: &[u8], width: usize) {
    pad(out, width.saturating_sub(s.len()));
    out.extend_from_slice(s);
}

/// The decimal text of an integer, built without allocating.
struct Digits {
    buf: [u8; 24],
    start: usize,
}

impl Digits {
    fn new(v: u64) -> Digits {
        let mut d = Digits {
            buf: [b'0'; 24],
            start: 24,
        };
        let mut v = v;
        loop {
            d.start -= 1;
            if let Some(slot) = d.buf.get_mut(d.start) {
                // v % 10 < 10, so the cast cannot truncate.
                *slot = b'0' + (v % 10) as u8;
            }
            v /= 10;
            if v == 0 {
                break d;
            }
        }
    }

    fn signed(v: i64) -> Digits {
        let mut d = Digits::new(v.unsigned_abs());
        if v < 0 {
            d.start -= 1;
            if let Some(slot) = d.buf.get_mut(d.start) {
                *slot = b'-';
            }
        }
        d
    }

    fn as_bytes(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or_default()
    }
}

/// Appends an unsigned number in decimal.
fn push_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(Digits::new(v).as_bytes());
}

/// Appends a dotted-quad IPv4 address.
fn push_ipv4(out: &mut Vec<u8>, octets: [u8; 4]) {
    for (i, o) in octets.into_iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        if o >= 100 {
            out.push(b'0' + o / 100);
        }
        if o >= 10 {
            out.push(b'0' + o / 10 % 10);
        }
        out.push(b'0' + o % 10);
    }
}

/// Appends the text form of an address like `inet_ntop` (glibc): IPv4
/// dotted, IPv6 compressed, including glibc's `::a.b.c.d` for
/// IPv4-compatible addresses, which Rust's `Display` writes in hex.
fn push_ntop(out: &mut Vec<u8>, addr: IpAddr) {
    match addr {
        IpAddr::V4(v4) => push_ipv4(out, v4.octets()),
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            let [.., a, b, c, d] = v6.octets();
            if seg[..6].iter().all(|&w| w == 0) && seg[6] != 0 {
                out.extend_from_slice(b"::");
                push_ipv4(out, [a, b, c, d]);
            } else {
                // Writing to a Vec cannot fail.
                let _ = write!(out, "{v6}");
            }
        }
    }
}

/// Text form of an address like `inet_ntop` (see [`push_ntop`]).
pub(crate) fn ntop(addr: IpAddr) -> String {
    let mut out = Vec::with_capacity(16);
    push_ntop(&mut out, addr);
    String::from_utf8_lossy(&out).into_owned()
}

/// Appends the `host:port` string ipvsadm shows for an address and port
/// (`addrport_to_anyname`): IPv6 hosts in brackets, the host name and the
/// port's service name when not numeric, limited to 59 bytes.
///
/// `proto` selects the services database for the port name; `None` (fwmark
/// services, unknown protocols) never names ports.
fn push_addrport(
    out: &mut Vec<u8>,
    addr: IpAddr,
    port: u16,
    proto: Option<Protocol>,
    numeric: bool,
    res: &dyn Resolver,
) {
    let start = out.len();
    if addr.is_ipv6() {
        out.push(b'[');
    }
    let service = if numeric {
        push_ntop(out, addr);
        None
    } else {
        match res.addr_to_host(addr) {
            Some(host) => out.extend_from_slice(host.as_bytes()),
            None => push_ntop(out, addr),
        }
        match proto {
            Some(p @ (Protocol::Tcp | Protocol::Udp | Protocol::Sctp)) => {
                res.port_to_service(port, p)
            }
            _ => None,
        }
    };
    if addr.is_ipv6() {
        out.push(b']');
    }
    out.push(b':');
    match service {
        Some(name) => out.extend_from_slice(name.as_bytes()),
        None => push_u64(out, u64::from(port)),
    }
    truncate_from(out, start, ADDRPORT_MAX);
}

/// The `host:port` string ipvsadm shows (see [`push_addrport`]).
pub(crate) fn addrport(
    addr: IpAddr,
    port: u16,
    proto: Option<Protocol>,
    numeric: bool,
    res: &dyn Resolver,
) -> String {
    let mut out = Vec::with_capacity(32);
    push_addrport(&mut out, addr, port, proto, numeric, res);
    String::from_utf8_lossy(&out).into_owned()
}

/// Appends a `--stats`/`--rate` column by ipvsadm's large-number rule
/// (see [`format_largenum`]).
fn push_largenum(out: &mut Vec<u8>, v: u64, exact: bool) {
    if exact || v < 100_000_000 {
        let digits = Digits::new(v);
        let digits = digits.as_bytes();
        if digits.len() <= 8 {
            push_right(out, digits, 9);
        } else {
            // Only reached with `exact`.
            out.push(b' ');
            out.extend_from_slice(digits);
        }
        return;
    }
    let (value, unit) = if v < 1_000_000_000 {
        (v / 1_000, b'K')
    } else if v < 100_000_000_000 {
        (v / 1_000_000, b'M')
    } else if v < 100_000_000_000_000 {
        (v / 1_000_000_000, b'G')
    } else {
        (v / 1_000_000_000_000, b'T')
    };
    push_right(out, Digits::new(value).as_bytes(), 8);
    out.push(unit);
}

/// ipvsadm's large-number rule for `--stats`/`--rate` columns: a 9-byte
/// field, scaled to K/M/G/T (integer division) when the value would not
/// fit in 8 digits; with `exact` the full number, always preceded by at
/// least one space.
pub fn format_largenum(v: u64, exact: bool) -> String {
    let mut out = Vec::with_capacity(24);
    push_largenum(&mut out, v, exact);
    String::from_utf8_lossy(&out).into_owned()
}

/// Protocol column text of a listing.
fn proto_label(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "TCP",
        Protocol::Udp => "UDP",
        Protocol::Sctp => "SCTP",
        Protocol::Other(_) => "?",
    }
}

/// The protocol whose services database names the ports of a service
/// (and of its destinations); fwmark services have none.
fn port_proto(key: &ServiceKey) -> Option<Protocol> {
    match key {
        ServiceKey::Addr { protocol, .. } => Some(*protocol),
        ServiceKey::Fwmark { .. } => None,
    }
}

/// Appends the names of the scheduler flag bits set in `flags`, in bit
/// order, separated by commas.
///
/// ipvsadm names bits per scheduler (`sh-*` for sh, `mh-*` for mh,
/// `flag-N` otherwise) and silently drops bits that have no name for the
/// scheduler, which lists `sh ()` and saves a dangling `-b ` (§6 item 6).
/// Policy: such bits use the generic `flag-N` name instead. ipvsadm's
/// `-b` parser (§1.6) accepts `flag-1`..`flag-3` with any scheduler (only
/// `sh-*`/`mh-*` are tied to a scheduler), so the result always reads
/// back, and nothing set in the kernel is hidden.
fn push_sched_flag_names(out: &mut Vec<u8>, scheduler: &str, flags: u32) {
    let names = svc_flags::sched_names(scheduler);
    let mut first = true;
    for (bit, name) in [svc_flags::SCHED1, svc_flags::SCHED2, svc_flags::SCHED3]
        .iter()
        .zip(names)
    {
        if flags & bit != 0 {
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(name.as_bytes());
        }
    }
}

/// Appends `prefix` and the persistence mask as listed and saved
/// (`A.B.C.D`, or the prefix length for IPv6), unless it is the default
/// "one host" mask.
fn push_netmask(out: &mut Vec<u8>, prefix: &str, svc: &Service) {
    match svc.key.family() {
        Family::Inet6 => {
            if svc.netmask != 128 {
                out.extend_from_slice(prefix.as_bytes());
                push_u64(out, u64::from(svc.netmask));
            }
        }
        _ => {
            if svc.netmask != 0xffff_ffff {
                out.extend_from_slice(prefix.as_bytes());
                push_ipv4(out, svc.netmask.to_be_bytes());
            }
        }
    }
}

/// Appends the service column of a listing (`svc_name`), before any
/// padding; IPv4 names are cut to 33 bytes, IPv6 names never.
fn push_svc_name(out: &mut Vec<u8>, svc: &Service, numeric: bool, res: &dyn Resolver) {
    match svc.key {
        // Policy (§6 item 7): the mark is unsigned.
        ServiceKey::Fwmark { family, mark } => {
            out.extend_from_slice(b"FWM  ");
            push_u64(out, u64::from(mark));
            if family == Family::Inet6 {
                out.extend_from_slice(b" IPv6");
            }
        }
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => {
            let start = out.len();
            push_left(out, proto_label(protocol).as_bytes(), 4);
            out.push(b' ');
            push_addrport(out, addr, port, Some(protocol), numeric, res);
            if addr.is_ipv4() {
                truncate_from(out, start, SVC_NAME_V4_MAX);
            }
        }
    }
}

/// Appends the destination column of a listing, IPv4 cut to 28 bytes,
/// padded to 28.
fn push_dest_name(
    out: &mut Vec<u8>,
    svc: &Service,
    dest: &Dest,
    numeric: bool,
    res: &dyn Resolver,
) {
    let start = out.len();
    push_addrport(
        out,
        dest.addr,
        dest.port,
        port_proto(&svc.key),
        numeric,
        res,
    );
    if dest.addr.is_ipv4() {
        truncate_from(out, start, DEST_NAME_V4_MAX);
    }
    pad_from(out, start, 28);
}

/// Forward column text; methods without a name show nothing (ipvsadm
/// passes a null string to printf there).
fn fwd_name(fwd: FwdMethod) -> &'static str {
    match fwd {
        FwdMethod::Masq => "Masq",
        FwdMethod::Local => "Local",
        FwdMethod::Tunnel => "Tunnel",
        FwdMethod::Route => "Route",
        FwdMethod::Other(_) => "",
    }
}

/// Tunnel checksum text of `--tun-info`. Policy (§6 item 27): a value
/// ipvsadm has no entry for (3: both bits, or unknown bits) prints `?`
/// instead of reading past ipvsadm's table.
fn tun_csum_text(flags: u16) -> &'static str {
    match flags {
        tun_flags::NOCSUM => "-c",
        tun_flags::CSUM => "+c",
        tun_flags::REMCSUM => "r+c",
        _ => "?",
    }
}

/// Appends the `--tun-info` column: `ipip`, `gue:PORT:F`, `gre:F`, or
/// `n/a` for non-tunnel destinations and unknown tunnel types.
fn push_tun_info(out: &mut Vec<u8>, dest: &Dest) {
    if dest.fwd != FwdMethod::Tunnel {
        out.extend_from_slice(b"n/a");
        return;
    }
    match dest.tun_type {
        TunType::Ipip => out.extend_from_slice(b"ipip"),
        TunType::Gue => {
            out.extend_from_slice(b"gue:");
            push_u64(out, u64::from(dest.tun_port));
            out.push(b':');
            out.extend_from_slice(tun_csum_text(dest.tun_flags).as_bytes());
        }
        TunType::Gre => {
            out.extend_from_slice(b"gre:");
            out.extend_from_slice(tun_csum_text(dest.tun_flags).as_bytes());
        }
        TunType::Other(_) => out.extend_from_slice(b"n/a"),
    }
}

/// The `--tun-info` column as a string.
#[cfg(test)]
fn tun_info(dest: &Dest) -> String {
    let mut out = Vec::new();
    push_tun_info(&mut out, dest);
    String::from_utf8(out).unwrap()
}

/// Which columns a listing shows, by ipvsadm's priority of the options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Stats,
    Rate,
    Thresholds,
    PersistentConn,
    TunInfo,
    Default,
}

impl Mode {
    fn of(opts: &ListOptions) -> Mode {
        if opts.stats {
            Mode::Stats
        } else if opts.rate {
            Mode::Rate
        } else if opts.thresholds {
            Mode::Thresholds
        } else if opts.persistent_conn {
            Mode::PersistentConn
        } else if opts.tun_info {
            Mode::TunInfo
        } else {
            Mode::Default
        }
    }
}

/// The two title lines of a listing.
fn title(mode: Mode) -> String {
    const PROT: &str = "Prot LocalAddress:Port";
    const REMOTE: &str = "  -> RemoteAddress:Port";
    match mode {
        Mode::Default => format!(
            "{PROT} Scheduler Flags\n{REMOTE}           Forward Weight ActiveConn InActConn\n"
        ),
        Mode::TunInfo => format!(
            "{PROT} Scheduler Flags\n{REMOTE}           Forward TunnelInfo    Weight ActiveConn InActConn\n"
        ),
        Mode::Stats => format!(
            "{PROT:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n{REMOTE}\n",
            "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"
        ),
        Mode::Rate => format!(
            "{PROT:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n{REMOTE}\n",
            "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"
        ),
        Mode::Thresholds => format!(
            "{PROT:<33} {:<10} {:<10} {:<10} {:<10}\n{REMOTE}\n",
            "Uthreshold", "Lthreshold", "ActiveConn", "InActConn"
        ),
        Mode::PersistentConn => format!(
            "{PROT:<33} {:<9} {:<11} {:<10} {:<10}\n{REMOTE}\n",
            "Weight", "PersistConn", "ActiveConn", "InActConn"
        ),
    }
}

/// Appends five counters with the large-number rule.
fn push_largenums(out: &mut Vec<u8>, values: [u64; 5], exact: bool) {
    for v in values {
        push_largenum(out, v, exact);
    }
}

/// Appends a number left-justified in a field of `width` bytes.
fn push_num_left(out: &mut Vec<u8>, v: u64, width: usize) {
    push_left(out, Digits::new(v).as_bytes(), width);
}

/// Appends one service line of a listing.
fn service_line(
    out: &mut Vec<u8>,
    svc: &Service,
    mode: Mode,
    opts: &ListOptions,
    res: &dyn Resolver,
) {
    let start = out.len();
    push_svc_name(out, svc, opts.numeric, res);
    let stats = svc.stats.as_deref().copied().unwrap_or_default();
    match mode {
        Mode::Stats => {
            pad_from(out, start, 33);
            let s = stats;
            push_largenums(
                out,
                [s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes],
                opts.exact,
            );
        }
        Mode::Rate => {
            pad_from(out, start, 33);
            let s = stats;
            push_largenums(
                out,
                [s.cps, s.inpps, s.outpps, s.inbps, s.outbps],
                opts.exact,
            );
        }
        Mode::Thresholds | Mode::PersistentConn | Mode::TunInfo | Mode::Default => {
            out.push(b' ');
            out.extend_from_slice(svc.scheduler.as_bytes());
            if svc.flags & svc_flags::SCHED_MASK != 0 {
                out.extend_from_slice(b" (");
                push_sched_flag_names(out, &svc.scheduler, svc.flags);
                out.push(b')');
            }
            if svc.is_persistent() {
                out.extend_from_slice(b" persistent ");
                push_u64(out, u64::from(svc.timeout));
                push_netmask(out, " mask ", svc);
                if let Some(pe) = &svc.pe {
                    out.extend_from_slice(b" pe ");
                    out.extend_from_slice(pe.as_bytes());
                }
            }
            if svc.flags & svc_flags::ONEPACKET != 0 {
                out.extend_from_slice(b" ops");
            }
        }
    }
    out.push(b'\n');
}

/// Appends one destination line of a listing.
fn dest_line(
    out: &mut Vec<u8>,
    svc: &Service,
    dest: &Dest,
    mode: Mode,
    opts: &ListOptions,
    res: &dyn Resolver,
) {
    out.extend_from_slice(b"  -> ");
    push_dest_name(out, svc, dest, opts.numeric, res);
    let s: Stats = dest.stats.as_deref().copied().unwrap_or_default();
    let weight = Digits::signed(i64::from(dest.weight));
    match mode {
        Mode::Default => {
            out.push(b' ');
            push_left(out, fwd_name(dest.fwd).as_bytes(), 7);
            out.push(b' ');
            push_left(out, weight.as_bytes(), 6);
            out.push(b' ');
            push_num_left(out, u64::from(dest.active_conns), 10);
            out.push(b' ');
            push_num_left(out, u64::from(dest.inact_conns), 10);
        }
        Mode::TunInfo => {
            out.push(b' ');
            push_left(out, fwd_name(dest.fwd).as_bytes(), 7);
            out.push(b' ');
            let start = out.len();
            push_tun_info(out, dest);
            pad_from(out, start, 13);
            out.push(b' ');
            push_left(out, weight.as_bytes(), 6);
            out.push(b' ');
            push_num_left(out, u64::from(dest.active_conns), 10);
            out.push(b' ');
            push_num_left(out, u64::from(dest.inact_conns), 10);
        }
        Mode::Thresholds => {
            for v in [
                dest.u_threshold,
                dest.l_threshold,
                dest.active_conns,
                dest.inact_conns,
            ] {
                out.push(b' ');
                push_num_left(out, u64::from(v), 10);
            }
        }
        Mode::PersistentConn => {
            out.push(b' ');
            // ipvsadm prints the weight with %u here.
            push_num_left(out, u64::from(dest.weight as u32), 9);
            out.push(b' ');
            push_num_left(out, u64::from(dest.persist_conns), 11);
            out.push(b' ');
            push_num_left(out, u64::from(dest.active_conns), 10);
            out.push(b' ');
            push_num_left(out, u64::from(dest.inact_conns), 10);
        }
        Mode::Stats => push_largenums(
            out,
            [s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes],
            opts.exact,
        ),
        Mode::Rate => {
            // The packet and connection rates are plain %8llu in ipvsadm
            // (they overflow the column rather than scale).
            for v in [s.cps, s.inpps, s.outpps] {
                out.push(b' ');
                push_right(out, Digits::new(v).as_bytes(), 8);
            }
            push_largenum(out, s.inbps, opts.exact);
            push_largenum(out, s.outbps, opts.exact);
        }
    }
    out.push(b'\n');
}

/// An address as the kernel's 16-byte union holds it: IPv4 in the first
/// four bytes, the rest zero. Comparing these arrays compares addresses
/// as big-endian numbers, which is what ipvsadm's comparators mean to do.
fn union_bytes(addr: IpAddr) -> [u8; 16] {
    match addr {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            [a, b, c, d, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        }
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// Sort key of a service: (fwmark, family, protocol, address, port), all
/// compared as unsigned numbers.
fn service_key(svc: &Service) -> (u32, u16, u16, [u8; 16], u16) {
    match svc.key {
        ServiceKey::Fwmark { family, mark } => (mark, family.to_raw(), 0, [0; 16], 0),
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => (
            0,
            Family::of(&addr).to_raw(),
            protocol.to_raw(),
            union_bytes(addr),
            port,
        ),
    }
}

/// Sort key of a destination: (address, port). Like ipvsadm, the address
/// family is not compared first, so a mixed-family (tunnel) service
/// interleaves IPv4 and IPv6 destinations by their leading bytes; the
/// family only breaks ties, to keep the order total.
fn dest_key(dest: &Dest) -> ([u8; 16], u16, u16) {
    (
        union_bytes(dest.addr),
        dest.port,
        Family::of(&dest.addr).to_raw(),
    )
}

/// Sorts services, and each service's destinations, the way `-L` and
/// `-S` show them.
///
/// Policy (§6 item 8): true numeric order — services by (fwmark, family,
/// protocol, address, port), destinations by (address, port), addresses
/// compared as big-endian numbers — where ipvsadm's comparator uses
/// wrapping 32-bit differences. Both agree wherever ipvsadm's differences
/// do not wrap (addresses and marks less than 2^31 apart). The sort is
/// stable, as glibc's merge sort is, so equal keys keep kernel order.
pub fn sort_entries(entries: &mut [ServiceEntry]) {
    entries.sort_by_key(|e| service_key(&e.service));
    for e in entries.iter_mut() {
        e.dests.sort_by_key(dest_key);
    }
}

/// Indices of `items` in the order of `key` (kernel order with `nosort`),
/// into `order`. Ties keep their input order, as a stable sort does.
fn order_by<T, K: Ord>(items: &[T], nosort: bool, key: impl Fn(&T) -> K, order: &mut Vec<usize>) {
    order.clear();
    if nosort {
        order.extend(0..items.len());
        return;
    }
    let mut keyed: Vec<(K, usize)> = items.iter().map(key).zip(0..).collect();
    // The index breaks ties, so an unstable sort gives the stable order.
    keyed.sort_unstable();
    order.extend(keyed.into_iter().map(|(_, i)| i));
}

/// Writes `buf` out and empties it once it holds [`FLUSH_AT`] bytes.
fn flush_full(out: &mut dyn Write, buf: &mut Vec<u8>) -> io::Result<()> {
    if buf.len() >= FLUSH_AT {
        out.write_all(buf)?;
        buf.clear();
    }
    Ok(())
}

/// Prints `-L`: with `info`, the whole table headed by
/// `IP Virtual Server version X.Y.Z (size=N)`; without, a one-service
/// listing (`-L -t …`), which has no version line.
///
/// Entries are shown sorted (§2.6, with the numeric-order policy) unless
/// `opts.nosort`; the slice itself is not reordered. With `opts.numeric`
/// the resolver is never consulted.
pub fn list_table(
    out: &mut dyn Write,
    info: Option<&Info>,
    entries: &[ServiceEntry],
    opts: &ListOptions,
    res: &dyn Resolver,
) -> io::Result<()> {
    let mut buf = Vec::with_capacity(FLUSH_AT + 4096);
    if let Some(info) = info {
        let (major, minor, patch) = info.version_triple();
        writeln!(
            buf,
            "IP Virtual Server version {major}.{minor}.{patch} (size={})",
            info.conn_tab_size
        )?;
    }
    let mode = Mode::of(opts);
    buf.extend_from_slice(title(mode).as_bytes());
    let mut services = Vec::new();
    order_by(
        entries,
        opts.nosort,
        |e| service_key(&e.service),
        &mut services,
    );
    let mut dests = Vec::new();
    for i in services {
        let Some(entry) = entries.get(i) else {
            continue;
        };
        service_line(&mut buf, &entry.service, mode, opts, res);
        order_by(&entry.dests, opts.nosort, dest_key, &mut dests);
        for &j in &dests {
            if let Some(dest) = entry.dests.get(j) {
                dest_line(&mut buf, &entry.service, dest, mode, opts, res);
            }
        }
        flush_full(out, &mut buf)?;
    }
    out.write_all(&buf)?;
    out.flush()
}

/// Appends the service part of a save line: `-t ADDR:PORT`, `-u …`,
/// `--sctp-service …`, or `-f MARK [-6]`.
fn push_save_spec(out: &mut Vec<u8>, svc: &Service, numeric: bool, res: &dyn Resolver) {
    match svc.key {
        // Policy (§6 item 7): unsigned, so it reads back.
        ServiceKey::Fwmark { family, mark } => {
            out.extend_from_slice(b"-f ");
            push_u64(out, u64::from(mark));
            if family == Family::Inet6 {
                out.extend_from_slice(b" -6");
            }
        }
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => {
            let switch = match protocol {
                Protocol::Tcp => "-t",
                Protocol::Udp => "-u",
                Protocol::Sctp => "--sctp-service",
                // What ipvsadm writes; ipvsadm cannot create such services.
                Protocol::Other(_) => "--xxx-service",
            };
            out.extend_from_slice(switch.as_bytes());
            out.push(b' ');
            push_addrport(out, addr, port, Some(protocol), numeric, res);
        }
    }
}

/// The save option for a tunnel checksum value; `None` for values no
/// single option expresses (3 or unknown bits): those are left out, so
/// the line still reads back (as no checksum) instead of failing.
fn tun_csum_option(flags: u16) -> Option<&'static str> {
    match flags {
        tun_flags::NOCSUM => Some("--tun-nocsum"),
        tun_flags::CSUM => Some("--tun-csum"),
        tun_flags::REMCSUM => Some("--tun-remcsum"),
        _ => None,
    }
}

/// Appends one `-A` line of `-S`.
fn save_service_line(out: &mut Vec<u8>, svc: &Service, spec: &[u8]) {
    out.extend_from_slice(b"-A ");
    out.extend_from_slice(spec);
    out.extend_from_slice(b" -s ");
    out.extend_from_slice(svc.scheduler.as_bytes());
    if svc.is_persistent() {
        out.extend_from_slice(b" -p ");
        push_u64(out, u64::from(svc.timeout));
        push_netmask(out, " -M ", svc);
    }
    if let Some(pe) = &svc.pe {
        out.extend_from_slice(b" --pe ");
        out.extend_from_slice(pe.as_bytes());
    }
    if svc.flags & svc_flags::ONEPACKET != 0 {
        out.extend_from_slice(b" -o");
    }
    if svc.flags & svc_flags::SCHED_MASK != 0 {
        out.extend_from_slice(b" -b ");
        push_sched_flag_names(out, &svc.scheduler, svc.flags);
    }
    out.push(b'\n');
}

/// Appends one `-a` line of `-S`.
fn save_dest_line(
    out: &mut Vec<u8>,
    svc: &Service,
    spec: &[u8],
    dest: &Dest,
    numeric: bool,
    res: &dyn Resolver,
) {
    out.extend_from_slice(b"-a ");
    out.extend_from_slice(spec);
    out.extend_from_slice(b" -r ");
    push_addrport(
        out,
        dest.addr,
        dest.port,
        port_proto(&svc.key),
        numeric,
        res,
    );
    match dest.fwd {
        FwdMethod::Masq => out.extend_from_slice(b" -m"),
        FwdMethod::Tunnel => out.extend_from_slice(b" -i"),
        FwdMethod::Route | FwdMethod::Local => out.extend_from_slice(b" -g"),
        // No switch expresses it; restoring gives the default (-g).
        FwdMethod::Other(_) => {}
    }
    out.extend_from_slice(b" -w ");
    out.extend_from_slice(Digits::signed(i64::from(dest.weight)).as_bytes());
    // Policy (§6 item 14): thresholds survive save/restore. They go
    // right after the weight; ipvsadm's parser accepts them anywhere.
    if dest.u_threshold != 0 {
        out.extend_from_slice(b" -x ");
        push_u64(out, u64::from(dest.u_threshold));
    }
    if dest.l_threshold != 0 {
        out.extend_from_slice(b" -y ");
        push_u64(out, u64::from(dest.l_threshold));
    }
    if dest.fwd == FwdMethod::Tunnel {
        match dest.tun_type {
            TunType::Ipip => out.extend_from_slice(b" --tun-type ipip"),
            TunType::Gue => {
                out.extend_from_slice(b" --tun-type gue --tun-port ");
                push_u64(out, u64::from(dest.tun_port));
                if let Some(opt) = tun_csum_option(dest.tun_flags) {
                    out.push(b' ');
                    out.extend_from_slice(opt.as_bytes());
                }
            }
            TunType::Gre => {
                out.extend_from_slice(b" --tun-type gre");
                if let Some(opt) = tun_csum_option(dest.tun_flags) {
                    out.push(b' ');
                    out.extend_from_slice(opt.as_bytes());
                }
            }
            TunType::Other(_) => {}
        }
    }
    out.push(b'\n');
}

/// Prints `-S` (`numeric` for `-S -n`): the table as `ipvsadm -R` input,
/// always sorted, names resolved like `-L` but never truncated.
pub fn save_table(
    out: &mut dyn Write,
    entries: &[ServiceEntry],
    numeric: bool,
    res: &dyn Resolver,
) -> io::Result<()> {
    let mut buf = Vec::with_capacity(FLUSH_AT + 4096);
    let mut services = Vec::new();
    order_by(entries, false, |e| service_key(&e.service), &mut services);
    let mut dests = Vec::new();
    let mut spec = Vec::new();
    for i in services {
        let Some(entry) = entries.get(i) else {
            continue;
        };
        let svc = &entry.service;
        spec.clear();
        push_save_spec(&mut spec, svc, numeric, res);
        save_service_line(&mut buf, svc, &spec);
        order_by(&entry.dests, false, dest_key, &mut dests);
        for &j in &dests {
            if let Some(dest) = entry.dests.get(j) {
                save_dest_line(&mut buf, svc, &spec, dest, numeric, res);
            }
        }
        flush_full(out, &mut buf)?;
    }
    out.write_all(&buf)?;
    out.flush()
}

/// Prints `-L --timeout`.
pub fn print_timeouts(out: &mut dyn Write, t: &Timeouts) -> io::Result<()> {
    writeln!(
        out,
        "Timeout (tcp tcpfin udp): {} {} {}",
        t.tcp, t.tcp_fin, t.udp
    )
}

/// Prints `-L --daemon`: one line per running daemon, in the order given
/// (the kernel reports the master first). Daemons in a state other than
/// master or backup are not shown, as ipvsadm has no name for them.
pub fn print_daemons(out: &mut dyn Write, daemons: &[Daemon]) -> io::Result<()> {
    for d in daemons {
        let state = match d.state {
            DaemonState::Master => "master",
            DaemonState::Backup => "backup",
            DaemonState::Other(_) => continue,
        };
        let mut line = format!(
            "{state} sync daemon (mcast={}, syncid={}",
            d.mcast_ifn, d.syncid
        );
        if d.sync_maxlen != 0 {
            line.push_str(&format!(", maxlen={}", d.sync_maxlen));
        }
        if let Some(group) = d.mcast_group {
            line.push_str(&format!(", group={}", ntop(group)));
        }
        if d.mcast_port != 0 {
            line.push_str(&format!(", port={}", d.mcast_port));
        }
        if d.mcast_ttl != 0 {
            line.push_str(&format!(", ttl={}", d.mcast_ttl));
        }
        line.push_str(")\n");
        out.write_all(line.as_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvsadm::resolve::{NumericResolver, StaticResolver};
    use crate::model::Dest;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    fn v6(s: &str) -> IpAddr {
        IpAddr::V6(s.parse::<Ipv6Addr>().unwrap())
    }

    fn addr_svc(protocol: Protocol, addr: IpAddr, port: u16, sched: &str) -> Service {
        let mut s = Service::new(ServiceKey::Addr {
            protocol,
            addr,
            port,
        });
        s.scheduler = sched.to_owned();
        // The kernel always reports the hashed bit.
        s.flags = svc_flags::HASHED;
        s
    }

    fn fwm_svc(family: Family, mark: u32, sched: &str) -> Service {
        let mut s = Service::new(ServiceKey::Fwmark { family, mark });
        s.scheduler = sched.to_owned();
        s.flags = svc_flags::HASHED;
        s
    }

    fn dest(addr: IpAddr, port: u16, fwd: FwdMethod, weight: i32) -> Dest {
        let mut d = Dest::new(addr, port);
        d.fwd = fwd;
        d.weight = weight;
        d
    }

    /// The table of reference §2.3 / §3.1, in a scrambled kernel order.
    fn sample_table() -> Vec<ServiceEntry> {
        let tcp = ServiceEntry {
            service: addr_svc(Protocol::Tcp, v4(192, 168, 0, 10), 80, "rr"),
            dests: vec![
                dest(v4(10, 0, 0, 2), 8080, FwdMethod::Masq, 3),
                dest(v4(10, 0, 0, 1), 80, FwdMethod::Route, 1),
            ],
        };
        let mut udp_svc = addr_svc(Protocol::Udp, v4(192, 168, 0, 10), 53, "wlc");
        udp_svc.flags |= svc_flags::PERSISTENT | svc_flags::ONEPACKET;
        udp_svc.timeout = 600;
        udp_svc.netmask = 0xffff_ff00;
        let mut udp_dest = dest(v4(10, 0, 0, 3), 53, FwdMethod::Tunnel, 1);
        udp_dest.tun_type = TunType::Gue;
        udp_dest.tun_port = 6080;
        udp_dest.tun_flags = tun_flags::REMCSUM;
        let udp = ServiceEntry {
            service: udp_svc,
            dests: vec![udp_dest],
        };
        let sctp = ServiceEntry {
            service: addr_svc(Protocol::Sctp, v4(192, 168, 0, 10), 3868, "wrr"),
            dests: vec![],
        };
        let mut v6_svc = addr_svc(Protocol::Tcp, v6("2001:db8::1"), 443, "sh");
        v6_svc.flags |= svc_flags::PERSISTENT | svc_flags::SCHED1 | svc_flags::SCHED2;
        v6_svc.timeout = 360;
        v6_svc.netmask = 64;
        v6_svc.pe = Some("sip".to_owned());
        let v6e = ServiceEntry {
            service: v6_svc,
            dests: vec![dest(v6("2001:db8::2"), 443, FwdMethod::Masq, 0)],
        };
        let mut fwm42_svc = fwm_svc(Family::Inet, 42, "mh");
        fwm42_svc.flags |= svc_flags::SCHED2;
        let fwm42 = ServiceEntry {
            service: fwm42_svc,
            dests: vec![dest(v4(10, 0, 0, 9), 0, FwdMethod::Masq, 1)],
        };
        let fwm43 = ServiceEntry {
            service: fwm_svc(Family::Inet6, 43, "lc"),
            dests: vec![],
        };
        vec![fwm43, v6e, sctp, fwm42, udp, tcp]
    }

    fn names() -> StaticResolver {
        StaticResolver::new()
            .with_service_all("http", 80)
            .with_service_all("http-alt", 8080)
            .with_service_all("domain", 53)
            .with_service_all("https", 443)
    }

    fn list(
        info: Option<&Info>,
        entries: &[ServiceEntry],
        opts: ListOptions,
        res: &dyn Resolver,
    ) -> String {
        let mut out = Vec::new();
        list_table(&mut out, info, entries, &opts, res).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn save(entries: &[ServiceEntry], numeric: bool, res: &dyn Resolver) -> String {
        let mut out = Vec::new();
        save_table(&mut out, entries, numeric, res).unwrap();
        String::from_utf8(out).unwrap()
    }

    const INFO: Info = Info {
        version: 0x010201,
        conn_tab_size: 4096,
    };

    fn numeric() -> ListOptions {
        ListOptions {
            numeric: true,
            ..ListOptions::default()
        }
    }

    /// Reference §2.3, verbatim; `␠` marks where trailing spaces follow.
    const SAMPLE_L_N: &str = "\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  192.168.0.10:80 rr
  -> 10.0.0.1:80                  Route   1      0          0         ␠
  -> 10.0.0.2:8080                Masq    3      0          0         ␠
UDP  192.168.0.10:53 wlc persistent 600 mask 255.255.255.0 ops
  -> 10.0.0.3:53                  Tunnel  1      0          0         ␠
SCTP 192.168.0.10:3868 wrr
TCP  [2001:db8::1]:443 sh (sh-fallback,sh-port) persistent 360 mask 64 pe sip
  -> [2001:db8::2]:443            Masq    0      0          0         ␠
FWM  42 mh (mh-port)
  -> 10.0.0.9:0                   Masq    1      0          0         ␠
FWM  43 IPv6 lc
";

    #[test]
    fn list_numeric_matches_reference_sample() {
        let got = list(Some(&INFO), &sample_table(), numeric(), &NumericResolver);
        assert_eq!(got, SAMPLE_L_N.replace('␠', ""));
        // -n never consults the resolver.
        let got = list(Some(&INFO), &sample_table(), numeric(), &names());
        assert_eq!(got, SAMPLE_L_N.replace('␠', ""));
    }

    #[test]
    fn list_one_service_has_no_version_line() {
        let table = sample_table();
        let one: Vec<_> = table
            .iter()
            .filter(|e| e.service.scheduler == "rr")
            .cloned()
            .collect();
        let got = list(None, &one, numeric(), &NumericResolver);
        let expected: String = SAMPLE_L_N
            .replace('␠', "")
            .lines()
            .skip(1)
            .take(5)
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn list_with_names() {
        let got = list(
            Some(&INFO),
            &sample_table(),
            ListOptions::default(),
            &names(),
        );
        let lines: Vec<&str> = got.lines().collect();
        // Reference §2.5 [verified] lines.
        assert_eq!(lines[3], "TCP  192.168.0.10:http rr");
        assert!(lines[5].starts_with("  -> 10.0.0.2:http-alt            Masq "));
        assert!(lines[6].starts_with("UDP  192.168.0.10:domain "));
        assert!(lines[9].starts_with("TCP  [2001:db8::1]:https "));
        // The fwmark service's destination keeps its numeric port.
        assert!(lines[12].starts_with("  -> 10.0.0.9:0 "));
    }

    #[test]
    fn fwmark_destination_ports_are_never_named() {
        let res = names().with_host("localhost", v4(127, 0, 0, 1));
        let table = vec![
            ServiceEntry {
                service: fwm_svc(Family::Inet, 1, "wlc"),
                dests: vec![dest(v4(127, 0, 0, 1), 80, FwdMethod::Route, 1)],
            },
            ServiceEntry {
                service: addr_svc(Protocol::Tcp, v4(1, 2, 3, 4), 80, "wlc"),
                dests: vec![dest(v4(10, 0, 0, 1), 80, FwdMethod::Route, 1)],
            },
        ];
        let got = list(None, &table, ListOptions::default(), &res);
        assert!(got.contains("\n  -> localhost:80 "));
        assert!(got.contains("\n  -> 10.0.0.1:http "));
    }

    #[test]
    fn long_names_are_truncated_for_ipv4_only() {
        let long = "a-very-long-host-name-for-testing.example.com";
        let res = StaticResolver::new()
            .with_host(long, v4(192, 0, 2, 1))
            .with_host(long, v4(192, 0, 2, 2));
        let mut svc = addr_svc(Protocol::Tcp, v4(192, 0, 2, 1), 80, "wlc");
        svc.flags = 0;
        let table = vec![ServiceEntry {
            service: svc,
            dests: vec![dest(v4(192, 0, 2, 2), 80, FwdMethod::Masq, 1)],
        }];
        let got = list(None, &table, ListOptions::default(), &res);
        let lines: Vec<&str> = got.lines().collect();
        // Reference §2.5 [verified].
        assert_eq!(lines[2], "TCP  a-very-long-host-name-for-te wlc");
        assert!(lines[3].starts_with("  -> a-very-long-host-name-for-te Masq "));
        // Save never truncates (but keeps the 59-byte limit).
        let saved = save(&table, false, &res);
        assert!(saved.starts_with(&format!("-A -t {long}:80 -s wlc\n")));

        // IPv6 names are not cut to 33/28, only to the 59-byte buffer.
        let res6 = StaticResolver::new().with_host(long, v6("2001:db8::7"));
        let table6 = vec![ServiceEntry {
            service: addr_svc(Protocol::Tcp, v6("2001:db8::7"), 80, "wlc"),
            dests: vec![dest(v6("2001:db8::7"), 80, FwdMethod::Masq, 1)],
        }];
        let got = list(None, &table6, ListOptions::default(), &res6);
        let lines: Vec<&str> = got.lines().collect();
        assert_eq!(lines[2], format!("TCP  [{long}]:80 wlc"));
        let huge = "h".repeat(70);
        let res_huge = StaticResolver::new().with_host(&huge, v6("2001:db8::7"));
        let got = list(None, &table6, ListOptions::default(), &res_huge);
        let lines: Vec<&str> = got.lines().collect();
        assert_eq!(lines[2], format!("TCP  [{}", &huge[..58]) + " wlc");
    }

    #[test]
    fn stats_listing_matches_reference() {
        let opts = ListOptions {
            numeric: true,
            stats: true,
            ..ListOptions::default()
        };
        let got = list(Some(&INFO), &sample_table(), opts, &NumericResolver);
        let lines: Vec<&str> = got.lines().collect();
        // Title derived from the template `%-33s %8s %8s %8s %8s %8s`.
        assert_eq!(
            lines[1],
            "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes"
        );
        assert_eq!(lines[2], "  -> RemoteAddress:Port");
        // Reference §2.3 [verified].
        assert_eq!(
            lines[3],
            "TCP  192.168.0.10:80                     0        0        0        0        0"
        );
        assert_eq!(
            lines[4],
            "  -> 10.0.0.1:80                         0        0        0        0        0"
        );

        let long6 = vec![ServiceEntry {
            service: addr_svc(
                Protocol::Tcp,
                v6("2001:db8:1234:5678:9abc:def0:1234:5678"),
                65535,
                "wlc",
            ),
            dests: vec![],
        }];
        let got = list(None, &long6, opts, &NumericResolver);
        assert!(got
            .lines()
            .nth(2)
            .unwrap()
            .starts_with("TCP  [2001:db8:1234:5678:9abc:def0:1234:5678]:65535        0        0 "));
    }

    #[test]
    fn rate_listing_layout() {
        let mut table = vec![ServiceEntry {
            service: addr_svc(Protocol::Tcp, v4(192, 168, 0, 10), 80, "rr"),
            dests: vec![dest(v4(10, 0, 0, 1), 80, FwdMethod::Route, 1)],
        }];
        table[0].service.stats = Some(Box::new(Stats {
            cps: 5,
            inpps: 100_000_000,
            outpps: 7,
            inbps: 1_000_000_000,
            outbps: 9,
            ..Stats::default()
        }));
        table[0].dests[0].stats = Some(Box::new(Stats {
            cps: 1,
            inpps: 123_456_789_012,
            outpps: 3,
            inbps: 100_000_000,
            outbps: 4,
            ..Stats::default()
        }));
        let opts = ListOptions {
            numeric: true,
            rate: true,
            // --stats wins over --rate; here only --rate.
            ..ListOptions::default()
        };
        let got = list(None, &table, opts, &NumericResolver);
        let expected = "\
Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS
  -> RemoteAddress:Port
TCP  192.168.0.10:80                     5  100000K        7    1000M        9
  -> 10.0.0.1:80                         1 123456789012        3  100000K        4
";
        assert_eq!(got, expected);
        let both = ListOptions {
            stats: true,
            ..opts
        };
        assert!(list(None, &table, both, &NumericResolver).contains("   Conns "));
    }

    #[test]
    fn other_modes_layout() {
        let mut d = dest(v4(10, 0, 0, 3), 53, FwdMethod::Tunnel, 2);
        d.tun_type = TunType::Gre;
        d.tun_flags = tun_flags::CSUM;
        d.u_threshold = 100;
        d.l_threshold = 10;
        d.active_conns = 4;
        d.inact_conns = 5;
        d.persist_conns = 6;
        let table = vec![ServiceEntry {
            service: addr_svc(Protocol::Udp, v4(192, 168, 0, 10), 53, "wlc"),
            dests: vec![d],
        }];
        let base = numeric();
        let tun = list(
            None,
            &table,
            ListOptions {
                tun_info: true,
                ..base
            },
            &NumericResolver,
        );
        assert_eq!(
            tun,
            "Prot LocalAddress:Port Scheduler Flags\n\
             \x20 -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n\
             UDP  192.168.0.10:53 wlc\n\
             \x20 -> 10.0.0.3:53                  Tunnel  gre:+c        2      4          5         \n"
        );
        let thr = list(
            None,
            &table,
            ListOptions {
                thresholds: true,
                ..base
            },
            &NumericResolver,
        );
        assert_eq!(
            thr,
            "Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn \n\
             \x20 -> RemoteAddress:Port\n\
             UDP  192.168.0.10:53 wlc\n\
             \x20 -> 10.0.0.3:53                  100        10         4          5         \n"
        );
        let pc = list(
            None,
            &table,
            ListOptions {
                persistent_conn: true,
                ..base
            },
            &NumericResolver,
        );
        assert_eq!(
            pc,
            "Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn \n\
             \x20 -> RemoteAddress:Port\n\
             UDP  192.168.0.10:53 wlc\n\
             \x20 -> 10.0.0.3:53                  2         6           4          5         \n"
        );
        // Priority: thresholds over persistent-conn over tun-info.
        let all = ListOptions {
            thresholds: true,
            persistent_conn: true,
            tun_info: true,
            ..base
        };
        assert_eq!(list(None, &table, all, &NumericResolver), thr);
    }

    #[test]
    fn largenum_reference_examples() {
        // Reference §2.4 [verified].
        assert_eq!(format_largenum(99_999_999, false), " 99999999");
        assert_eq!(format_largenum(100_000_000, false), "  100000K");
        assert_eq!(format_largenum(999_999_999, false), "  999999K");
        assert_eq!(format_largenum(1_000_000_000, false), "    1000M");
        assert_eq!(format_largenum(100_000_000_000_000, false), "     100T");
        assert_eq!(format_largenum(4_294_967_297, false), "    4294M");
        assert_eq!(format_largenum(1_215_752_191, true), " 1215752191");
        // Boundaries of the rule.
        assert_eq!(format_largenum(0, false), "        0");
        assert_eq!(format_largenum(99_999_999_999, false), "   99999M");
        assert_eq!(format_largenum(100_000_000_000, false), "     100G");
        assert_eq!(format_largenum(u64::MAX, false), "18446744T");
        assert_eq!(format_largenum(12_345_678, true), " 12345678");
        assert_eq!(format_largenum(u64::MAX, true), " 18446744073709551615");
    }

    #[test]
    fn tunnel_info_texts() {
        let mut d = dest(v4(1, 1, 1, 1), 80, FwdMethod::Tunnel, 1);
        d.tun_type = TunType::Gue;
        d.tun_port = 6080;
        d.tun_flags = tun_flags::REMCSUM;
        assert_eq!(tun_info(&d), "gue:6080:r+c");
        d.tun_flags = tun_flags::NOCSUM;
        assert_eq!(tun_info(&d), "gue:6080:-c");
        d.tun_type = TunType::Gre;
        d.tun_flags = tun_flags::CSUM;
        assert_eq!(tun_info(&d), "gre:+c");
        d.tun_type = TunType::Ipip;
        assert_eq!(tun_info(&d), "ipip");
        d.tun_type = TunType::Other(9);
        assert_eq!(tun_info(&d), "n/a");
        d.tun_type = TunType::Ipip;
        d.fwd = FwdMethod::Masq;
        assert_eq!(tun_info(&d), "n/a");
    }

    #[test]
    fn policy_27_unknown_tunnel_flags() {
        let mut d = dest(v4(10, 0, 0, 3), 53, FwdMethod::Tunnel, 1);
        d.tun_type = TunType::Gue;
        d.tun_port = 6080;
        d.tun_flags = tun_flags::CSUM | tun_flags::REMCSUM;
        assert_eq!(tun_info(&d), "gue:6080:?");
        d.tun_flags = 0x80;
        assert_eq!(tun_info(&d), "gue:6080:?");
        d.tun_type = TunType::Gre;
        assert_eq!(tun_info(&d), "gre:?");
        d.tun_type = TunType::Gue;
        d.tun_flags = 3;
        let table = vec![ServiceEntry {
            service: addr_svc(Protocol::Udp, v4(192, 168, 0, 10), 53, "wlc"),
            dests: vec![d],
        }];
        assert_eq!(
            save(&table, true, &NumericResolver),
            "-A -u 192.168.0.10:53 -s wlc\n\
             -a -u 192.168.0.10:53 -r 10.0.0.3:53 -i -w 1 --tun-type gue --tun-port 6080\n"
        );
    }

    /// Reference §3.1 [verified], verbatim.
    const SAMPLE_S_N: &str = "\
-A -t 192.168.0.10:80 -s rr
-a -t 192.168.0.10:80 -r 10.0.0.1:80 -g -w 1
-a -t 192.168.0.10:80 -r 10.0.0.2:8080 -m -w 3
-A -u 192.168.0.10:53 -s wlc -p 600 -M 255.255.255.0 -o
-a -u 192.168.0.10:53 -r 10.0.0.3:53 -i -w 1 --tun-type gue --tun-port 6080 --tun-remcsum
-A --sctp-service 192.168.0.10:3868 -s wrr
-A -t [2001:db8::1]:443 -s sh -p 360 -M 64 --pe sip -b sh-fallback,sh-port
-a -t [2001:db8::1]:443 -r [2001:db8::2]:443 -m -w 0
-A -f 42 -s mh -b mh-port
-a -f 42 -r 10.0.0.9:0 -m -w 1
-A -f 43 -6 -s lc
";

    #[test]
    fn save_numeric_matches_reference_sample() {
        assert_eq!(save(&sample_table(), true, &names()), SAMPLE_S_N);
        assert_eq!(save(&sample_table(), true, &NumericResolver), SAMPLE_S_N);
    }

    #[test]
    fn save_with_names() {
        let got = save(&sample_table(), false, &names());
        let lines: Vec<&str> = got.lines().collect();
        // Reference §3.1 [verified].
        assert_eq!(lines[0], "-A -t 192.168.0.10:http -s rr");
        assert_eq!(
            lines[2],
            "-a -t 192.168.0.10:http -r 10.0.0.2:http-alt -m -w 3"
        );
        assert!(lines[3].starts_with("-A -u 192.168.0.10:domain "));
        assert_eq!(lines[9], "-a -f 42 -r 10.0.0.9:0 -m -w 1");
    }

    #[test]
    fn save_pe_without_persistence_and_local_method() {
        let mut svc = addr_svc(Protocol::Udp, v4(1, 1, 1, 1), 5060, "rr");
        svc.pe = Some("sip".to_owned());
        svc.netmask = 0xffff_0000; // Only shown inside the persistent branch.
        let table = vec![ServiceEntry {
            service: svc,
            dests: vec![
                dest(v4(2, 2, 2, 2), 5060, FwdMethod::Local, 1),
                dest(v4(2, 2, 2, 3), 5060, FwdMethod::Other(4), 1),
            ],
        }];
        assert_eq!(
            save(&table, true, &NumericResolver),
            "-A -u 1.1.1.1:5060 -s rr --pe sip\n\
             -a -u 1.1.1.1:5060 -r 2.2.2.2:5060 -g -w 1\n\
             -a -u 1.1.1.1:5060 -r 2.2.2.3:5060 -w 1\n"
        );
        let listed = list(None, &table, numeric(), &NumericResolver);
        assert!(listed.contains("\nUDP  1.1.1.1:5060 rr\n"));
        assert!(listed.contains("\n  -> 2.2.2.2:5060                 Local   1 "));
        assert!(listed.contains("\n  -> 2.2.2.3:5060                         1 "));
    }

    #[test]
    fn policy_6_unnamed_sched_flags_use_generic_names() {
        let mut svc = addr_svc(Protocol::Tcp, v4(6, 6, 6, 6), 7, "sh");
        svc.flags |= svc_flags::SCHED3;
        let mut table = vec![ServiceEntry {
            service: svc,
            dests: vec![],
        }];
        // ipvsadm: `TCP  6.6.6.6:7 sh ()` and a dangling `-b `.
        let got = list(None, &table, numeric(), &NumericResolver);
        assert!(got.ends_with("\nTCP  6.6.6.6:7 sh (flag-3)\n"));
        assert_eq!(
            save(&table, true, &NumericResolver),
            "-A -t 6.6.6.6:7 -s sh -b flag-3\n"
        );
        table[0].service.flags |= svc_flags::SCHED1;
        let got = list(None, &table, numeric(), &NumericResolver);
        assert!(got.ends_with("\nTCP  6.6.6.6:7 sh (sh-fallback,flag-3)\n"));
        table[0].service.scheduler = "mh".to_owned();
        assert_eq!(
            save(&table, true, &NumericResolver),
            "-A -t 6.6.6.6:7 -s mh -b mh-fallback,flag-3\n"
        );
        table[0].service.scheduler = "rr".to_owned();
        table[0].service.flags |= svc_flags::SCHED2;
        let got = list(None, &table, numeric(), &NumericResolver);
        assert!(got.ends_with("\nTCP  6.6.6.6:7 rr (flag-1,flag-2,flag-3)\n"));
    }

    #[test]
    fn policy_7_fwmark_unsigned() {
        let table = vec![
            ServiceEntry {
                service: fwm_svc(Family::Inet, 4_294_967_295, "wlc"),
                dests: vec![],
            },
            ServiceEntry {
                service: fwm_svc(Family::Inet6, 2_147_483_648, "wlc"),
                dests: vec![],
            },
        ];
        let got = list(None, &table, numeric(), &NumericResolver);
        assert!(got.contains("\nFWM  2147483648 IPv6 wlc\nFWM  4294967295 wlc\n"));
        assert_eq!(
            save(&table, true, &NumericResolver),
            "-A -f 2147483648 -6 -s wlc\n-A -f 4294967295 -s wlc\n"
        );
    }

    fn svc_addrs(entries: &[ServiceEntry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| match e.service.key {
                ServiceKey::Addr { addr, port, .. } => format!("{addr}:{port}"),
                ServiceKey::Fwmark { mark, .. } => format!("fwm{mark}"),
            })
            .collect()
    }

    #[test]
    fn policy_8_true_numeric_order() {
        // The reference's wrapping cases (§2.6): ipvsadm prints
        // 100, 150, 200, 10 and 200.1.1.1 first; here true order.
        let mut table: Vec<ServiceEntry> = [200u8, 10, 100, 150]
            .iter()
            .map(|&a| ServiceEntry {
                service: addr_svc(Protocol::Tcp, v4(a, 0, 0, 1), 80, "wlc"),
                dests: vec![],
            })
            .collect();
        table.push(ServiceEntry {
            service: fwm_svc(Family::Inet, 4_294_967_295, "wlc"),
            dests: vec![],
        });
        table.push(ServiceEntry {
            service: fwm_svc(Family::Inet, 7, "wlc"),
            dests: vec![],
        });
        table[0].dests = vec![
            dest(v4(100, 1, 1, 1), 80, FwdMethod::Route, 1),
            dest(v4(10, 1, 1, 1), 70, FwdMethod::Route, 1),
            dest(v4(10, 1, 1, 1), 90, FwdMethod::Route, 1),
            dest(v4(10, 1, 1, 1), 80, FwdMethod::Route, 1),
            dest(v4(200, 1, 1, 1), 80, FwdMethod::Route, 1),
        ];
        let listed = list(None, &table, numeric(), &NumericResolver);
        let mut sorted = table.clone();
        sort_entries(&mut sorted);
        assert_eq!(
            svc_addrs(&sorted),
            [
                "10.0.0.1:80",
                "100.0.0.1:80",
                "150.0.0.1:80",
                "200.0.0.1:80",
                "fwm7",
                "fwm4294967295"
            ]
        );
        let dests: Vec<String> = sorted[3]
            .dests
            .iter()
            .map(|d| format!("{}:{}", d.addr, d.port))
            .collect();
        assert_eq!(
            dests,
            [
                "10.1.1.1:70",
                "10.1.1.1:80",
                "10.1.1.1:90",
                "100.1.1.1:80",
                "200.1.1.1:80"
            ]
        );
        // list_table shows the same order without reordering its input,
        // and --nosort keeps the kernel's order.
        assert_eq!(listed, list(None, &sorted, numeric(), &NumericResolver));
        let nosort = ListOptions {
            nosort: true,
            ..numeric()
        };
        let kept = list(None, &table, nosort, &NumericResolver);
        assert!(kept.contains("TCP  200.0.0.1:80 wlc\n  -> 100.1.1.1:80 "));
        // IPv6 addresses compare as big-endian words; family before
        // address, protocol before address.
        let mut mixed = vec![
            ServiceEntry {
                service: addr_svc(Protocol::Tcp, v6("2001:db8::2"), 1, "wlc"),
                dests: vec![],
            },
            ServiceEntry {
                service: addr_svc(Protocol::Tcp, v6("2001:db8::1"), 9, "wlc"),
                dests: vec![],
            },
            ServiceEntry {
                service: addr_svc(Protocol::Udp, v4(1, 1, 1, 1), 1, "wlc"),
                dests: vec![],
            },
            ServiceEntry {
                service: addr_svc(Protocol::Tcp, v4(9, 9, 9, 9), 1, "wlc"),
                dests: vec![],
            },
            ServiceEntry {
                service: addr_svc(Protocol::Tcp, v4(9, 9, 9, 9), 0, "wlc"),
                dests: vec![],
            },
        ];
        sort_entries(&mut mixed);
        assert_eq!(
            svc_addrs(&mixed),
            [
                "9.9.9.9:0",
                "9.9.9.9:1",
                "1.1.1.1:1",
                "2001:db8::1:9",
                "2001:db8::2:1"
            ]
        );
    }

    #[test]
    fn mixed_family_destinations_sort_like_ipvsadm() {
        // ipvsadm compares the leading address words without looking at
        // the family: 50.0.0.1 (0x32000001) sorts after 2001:db8::
        // (0x20010db8), 10.0.0.1 before it. No difference wraps here.
        let mut table = vec![ServiceEntry {
            service: addr_svc(Protocol::Tcp, v4(1, 1, 1, 1), 80, "wlc"),
            dests: vec![
                dest(v4(50, 0, 0, 1), 80, FwdMethod::Tunnel, 1),
                dest(v6("2001:db8::1"), 80, FwdMethod::Tunnel, 1),
                dest(v4(10, 0, 0, 1), 80, FwdMethod::Tunnel, 1),
            ],
        }];
        sort_entries(&mut table);
        let order: Vec<String> = table[0].dests.iter().map(|d| d.addr.to_string()).collect();
        assert_eq!(order, ["10.0.0.1", "2001:db8::1", "50.0.0.1"]);
    }

    #[test]
    fn policy_9_full_64_bit_dest_counters() {
        let mut d = dest(v4(10, 0, 0, 1), 80, FwdMethod::Route, 1);
        d.stats = Some(Box::new(Stats {
            conns: 99_999_999_999,
            ..Stats::default()
        }));
        let table = vec![ServiceEntry {
            service: addr_svc(Protocol::Tcp, v4(192, 168, 0, 10), 80, "rr"),
            dests: vec![d],
        }];
        let opts = ListOptions {
            numeric: true,
            stats: true,
            exact: true,
            ..ListOptions::default()
        };
        let got = list(None, &table, opts, &NumericResolver);
        // ipvsadm shows 1215752191 here (reference §5.5).
        assert!(got.contains("\n  -> 10.0.0.1:80                  99999999999        0"));
        let opts = ListOptions {
            exact: false,
            ..opts
        };
        let got = list(None, &table, opts, &NumericResolver);
        assert!(got.contains("\n  -> 10.0.0.1:80                    99999M        0"));
    }

    #[test]
    fn policy_14_thresholds_are_saved() {
        let mut d = dest(v4(10, 0, 0, 1), 80, FwdMethod::Tunnel, 2);
        d.u_threshold = 100;
        d.l_threshold = 10;
        let mut only_x = dest(v4(10, 0, 0, 2), 80, FwdMethod::Masq, 1);
        only_x.u_threshold = 5;
        let table = vec![ServiceEntry {
            service: addr_svc(Protocol::Tcp, v4(192, 168, 0, 10), 80, "rr"),
            dests: vec![d, only_x],
        }];
        assert_eq!(
            save(&table, true, &NumericResolver),
            "-A -t 192.168.0.10:80 -s rr\n\
             -a -t 192.168.0.10:80 -r 10.0.0.1:80 -i -w 2 -x 100 -y 10 --tun-type ipip\n\
             -a -t 192.168.0.10:80 -r 10.0.0.2:80 -m -w 1 -x 5\n"
        );
    }

    #[test]
    fn gre_save_options() {
        let mut d = dest(v4(10, 0, 0, 1), 80, FwdMethod::Tunnel, 1);
        d.tun_type = TunType::Gre;
        d.tun_flags = tun_flags::CSUM;
        let table = vec![ServiceEntry {
            service: addr_svc(Protocol::Tcp, v4(192, 168, 0, 10), 80, "rr"),
            dests: vec![d],
        }];
        assert!(save(&table, true, &NumericResolver)
            .ends_with(" -r 10.0.0.1:80 -i -w 1 --tun-type gre --tun-csum\n"));
    }

    #[test]
    fn ntop_matches_glibc_forms() {
        assert_eq!(ntop(v6("::1.2.3.4")), "::1.2.3.4");
        assert_eq!(ntop(v6("::ffff:1.2.3.4")), "::ffff:1.2.3.4");
        assert_eq!(ntop(v6("::1")), "::1");
        assert_eq!(ntop(v6("::")), "::");
        assert_eq!(ntop(v6("2001:db8:0:1:0:0:0:1")), "2001:db8:0:1::1");
        assert_eq!(ntop(v4(10, 0, 0, 1)), "10.0.0.1");
    }

    #[test]
    fn timeouts_line() {
        let mut out = Vec::new();
        print_timeouts(
            &mut out,
            &Timeouts {
                tcp: 900,
                tcp_fin: 120,
                udp: 300,
            },
        )
        .unwrap();
        // Reference §2.7.
        assert_eq!(out, b"Timeout (tcp tcpfin udp): 900 120 300\n");
    }

    #[test]
    fn daemon_lines() {
        let daemons = [
            Daemon {
                state: DaemonState::Master,
                mcast_ifn: "eth0".into(),
                syncid: 0,
                sync_maxlen: 1472,
                mcast_group: Some(v4(224, 0, 0, 81)),
                mcast_port: 8848,
                mcast_ttl: 1,
            },
            Daemon {
                state: DaemonState::Backup,
                mcast_ifn: "lo".into(),
                syncid: 7,
                sync_maxlen: 9000,
                mcast_group: Some(v6("ff02::1:2")),
                mcast_port: 9000,
                mcast_ttl: 5,
            },
        ];
        let mut out = Vec::new();
        print_daemons(&mut out, &daemons).unwrap();
        // Reference §2.8 [verified].
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "master sync daemon (mcast=eth0, syncid=0, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n\
             backup sync daemon (mcast=lo, syncid=7, maxlen=9000, group=ff02::1:2, port=9000, ttl=5)\n"
        );
        // Old kernels report only state, interface and syncid.
        let old = [Daemon {
            state: DaemonState::Backup,
            mcast_ifn: "eth1".into(),
            syncid: 3,
            sync_maxlen: 0,
            mcast_group: None,
            mcast_port: 0,
            mcast_ttl: 0,
        }];
        let mut out = Vec::new();
        print_daemons(&mut out, &old).unwrap();
        assert_eq!(out, b"backup sync daemon (mcast=eth1, syncid=3)\n");
        let mut out = Vec::new();
        print_daemons(&mut out, &[]).unwrap();
        assert!(out.is_empty());
    }

    /// A writer that always fails, like a closed pipe.
    struct Broken;

    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }
    }

    #[test]
    fn broken_pipe_is_an_error() {
        let table = sample_table();
        let err = list_table(
            &mut Broken,
            Some(&INFO),
            &table,
            &numeric(),
            &NumericResolver,
        );
        assert_eq!(err.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
        let err = save_table(&mut Broken, &table, true, &NumericResolver);
        assert_eq!(err.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
        let err = print_timeouts(&mut Broken, &Timeouts::default());
        assert_eq!(err.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
    }
}
