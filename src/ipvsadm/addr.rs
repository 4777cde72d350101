//! Numbers, addresses and ports as ipvsadm reads them.
//!
//! ipvsadm relies on the C library for these (`strtol`, `atoi`,
//! `inet_aton`, `inet_pton`, `gethostbyname`, `getservbyname`), and their
//! leniencies are visible to users: `+9` and ` 9` are numbers, `10.1` and
//! `0x05060708` are IPv4 addresses, `1.2.3.4 junk` is `1.2.3.4`. The
//! functions here reproduce those rules without calling C; name lookups go
//! through [`Resolver`] so that they can be faked in tests.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::resolve::Resolver;
use crate::model::Protocol;

/// The C locale's `isspace`.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Result of a base-10 `strtol` on a prefix of a string.
struct StrtolPrefix {
    /// The value, clamped to the `i64` range like C's `long`.
    value: i64,
    /// Bytes consumed; 0 when no digits were found (C sets `end = s`).
    end: usize,
    /// The value did not fit (`ERANGE`).
    overflow: bool,
}

/// Base-10 `strtol`: optional leading white space, optional sign, digits.
fn strtol_prefix(s: &str) -> StrtolPrefix {
    let b = s.as_bytes();
    let mut i = 0;
    while b.get(i).copied().is_some_and(is_c_space) {
        i += 1;
    }
    let negative = match b.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let digits_start = i;
    // Accumulate the magnitude in i128, saturating well above i64's range.
    let mut mag: i128 = 0;
    while let Some(d) = b.get(i).filter(|c| c.is_ascii_digit()) {
        mag = (mag * 10 + i128::from(d - b'0')).min(i128::from(u64::MAX));
        i += 1;
    }
    if i == digits_start {
        return StrtolPrefix {
            value: 0,
            end: 0,
            overflow: false,
        };
    }
    let signed = if negative { -mag } else { mag };
    let (value, overflow) = if signed > i128::from(i64::MAX) {
        (i64::MAX, true)
    } else if signed < i128::from(i64::MIN) {
        (i64::MIN, true)
    } else {
        // In range by the checks above.
        (i64::try_from(signed).unwrap_or_default(), false)
    };
    StrtolPrefix {
        value,
        end: i,
        overflow,
    }
}

/// A whole string read as a base-10 integer with `strtol`'s rules (leading
/// white space and a sign allowed, nothing after the digits), like
/// ipvsadm's `string_to_number` without the range check. `None` if there
/// are no digits, anything follows them, or the value overflows `long`.
pub fn strtol(s: &str) -> Option<i64> {
    // Fast path: plain digits that cannot overflow (the usual case).
    let b = s.as_bytes();
    if !b.is_empty() && b.len() <= 18 && b.iter().all(u8::is_ascii_digit) {
        return Some(
            b.iter()
                .fold(0i64, |acc, &d| acc * 10 + i64::from(d - b'0')),
        );
    }
    let p = strtol_prefix(s);
    if p.end == 0 || p.end != s.len() || p.overflow {
        None
    } else {
        Some(p.value)
    }
}

/// [`strtol`] limited to `min..=max` (ipvsadm's `string_to_number`).
pub fn number_in(s: &str, min: i64, max: i64) -> Option<i64> {
    strtol(s).filter(|v| (min..=max).contains(v))
}

/// C's `atoi` as glibc implements it: `(int) strtol(s, NULL, 10)`; no
/// digits give 0 and trailing text is ignored.
pub fn atoi(s: &str) -> i32 {
    // Truncation to int is what the C cast does.
    strtol_prefix(s).value as i32
}

/// A firewall mark: a whole base-10 number in 1..=4294967295.
pub fn parse_fwmark(s: &str) -> Option<u32> {
    number_in(s, 1, i64::from(u32::MAX)).and_then(|v| u32::try_from(v).ok())
}

/// `strtoul(s, &end, 0)` for a string that starts with a digit: `0x`
/// hexadecimal, leading-`0` octal, else decimal. Returns the value
/// (saturated) and the bytes consumed.
fn strtoul_base0_digits(b: &[u8]) -> (u128, usize) {
    let (base, start) = match (b.first(), b.get(1), b.get(2)) {
        (Some(b'0'), Some(b'x' | b'X'), Some(c)) if c.is_ascii_hexdigit() => (16u32, 2),
        (Some(b'0'), _, _) => (8, 0),
        _ => (10, 0),
    };
    // Saturates above u64's range, like strtoul's ULONG_MAX + ERANGE.
    const CAP: u128 = u64::MAX as u128 + 1;
    let mut v: u128 = 0;
    let mut i = start;
    while let Some(d) = b.get(i).and_then(|&c| digit_value(c, base)) {
        if v < CAP {
            v = (v * u128::from(base) + u128::from(d)).min(CAP);
        }
        i += 1;
    }
    (v, i)
}

/// The value of an ASCII digit in `base` (8, 10 or 16).
fn digit_value(c: u8, base: u32) -> Option<u32> {
    let d = match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => return None,
    };
    let d = u32::from(d);
    (d < base).then_some(d)
}

/// glibc's `inet_aton`: one to four parts separated by dots, each decimal,
/// octal (`010`) or hexadecimal (`0x1f`); the last part fills the remaining
/// bytes (`10.1` is 10.0.0.1, `4294967295` is 255.255.255.255). Text after
/// ASCII white space is ignored, as glibc does.
pub fn inet_aton(s: &str) -> Option<Ipv4Addr> {
    let b = s.as_bytes();
    if let Some(a) = plain_dotted_quad(b) {
        return Some(a);
    }
    let mut parts = [0u32; 3];
    let mut n = 0;
    let mut i = 0;
    let last: u32 = loop {
        if !b.get(i).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        let rest = b.get(i..)?;
        let (v, used) = strtoul_base0_digits(rest);
        let v = u32::try_from(v).ok()?;
        i += used;
        if b.get(i) == Some(&b'.') {
            if v > 0xff {
                return None;
            }
            *parts.get_mut(n)? = v;
            n += 1;
            i += 1;
        } else {
            break v;
        }
    };
    if let Some(&c) = b.get(i) {
        if !(c.is_ascii() && is_c_space(c)) {
            return None;
        }
    }
    let value = match parts.get(..n)? {
        [] => last,
        [a] if last <= 0xff_ffff => (a << 24) | last,
        [a, b2] if last <= 0xffff => (a << 24) | (b2 << 16) | last,
        [a, b2, c] if last <= 0xff => (a << 24) | (b2 << 16) | (c << 8) | last,
        _ => return None,
    };
    Some(Ipv4Addr::from(value))
}

/// Fast path of [`inet_aton`] for the usual spelling: exactly four
/// decimal parts of one to three digits, no leading zeros, each at most
/// 255, nothing else. `None` means "not this spelling" (the general
/// reader decides), not "invalid".
fn plain_dotted_quad(b: &[u8]) -> Option<Ipv4Addr> {
    let mut out = [0u8; 4];
    let mut part = 0;
    let mut value: u32 = 0;
    let mut len = 0;
    for &c in b {
        match c {
            b'0'..=b'9' => {
                if len == 3 || (len == 1 && value == 0) {
                    return None;
                }
                value = value * 10 + u32::from(c - b'0');
                len += 1;
            }
            b'.' if len > 0 => {
                *out.get_mut(part)? = u8::try_from(value).ok()?;
                part += 1;
                value = 0;
                len = 0;
            }
            _ => return None,
        }
    }
    if part != 3 || len == 0 {
        return None;
    }
    *out.get_mut(3)? = u8::try_from(value).ok()?;
    Some(Ipv4Addr::from(out))
}

/// `inet_pton(AF_INET, ...)`: exactly four decimal parts of at most three
/// digits, each 0..=255, no leading zeros.
pub fn inet_pton4(s: &str) -> Option<Ipv4Addr> {
    let mut out = [0u8; 4];
    let mut n = 0;
    for part in s.split('.') {
        let slot = out.get_mut(n)?;
        let pb = part.as_bytes();
        if pb.is_empty()
            || pb.len() > 3
            || !pb.iter().all(u8::is_ascii_digit)
            || (pb.len() > 1 && pb.first() == Some(&b'0'))
        {
            return None;
        }
        *slot = part.parse::<u8>().ok()?;
        n += 1;
    }
    (n == 4).then(|| Ipv4Addr::from(out))
}

/// `inet_pton(AF_INET6, ...)`. The standard library's parser accepts the
/// same textual forms as glibc's (no zone index, at most four hex digits a
/// group, an optional dotted-quad tail).
pub fn inet_pton6(s: &str) -> Option<Ipv6Addr> {
    s.parse::<Ipv6Addr>().ok()
}

/// An IPv4 address by `inet_aton`, else by host name.
fn ipv4_or_host(s: &str, resolver: &dyn Resolver) -> Option<Ipv4Addr> {
    inet_aton(s).or_else(|| resolver.host_to_ipv4(s))
}

/// A service or server address as written on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostPort {
    /// The address; its family is the service's or server's family.
    pub addr: IpAddr,
    /// The port, if one was written.
    pub port: Option<u16>,
}

/// A port: a decimal number 0..=65535 or a service name for the protocol
/// (ipvsadm finds no name when the protocol is not yet known, e.g. `-r`
/// before `-t`).
fn parse_port(s: &str, proto: Option<Protocol>, resolver: &dyn Resolver) -> Option<u16> {
    if let Some(n) = number_in(s, 0, 65535) {
        return u16::try_from(n).ok();
    }
    proto.and_then(|p| resolver.service_to_port(s, p))
}

/// Parses `host[:port]` the way ipvsadm's `-t`, `-u`, `--sctp-service`
/// and `-r` do:
///
/// * empty or all-digit text is rejected (`80` is not an address);
/// * `[addr]:port`: the brackets must be followed by `:`; the text inside
///   is an IPv6 literal or an IPv4 address or host name;
/// * otherwise an IPv6 literal is the whole text (no port: `2001:db8::1:80`
///   is an address), else the text is split at its last `:` and the left
///   part is read by `inet_aton`, then as a host name (IPv4 only);
/// * the port is a number 0..=65535 or a service name for `proto`; an
///   empty port is an error.
///
/// Deliberate fix (compatibility policy item 10): ipvsadm drops the port of
/// `[a.b.c.d]:port`; here it is kept. The odd form `[1.2.3.4:90]:80`
/// (a colon inside brackets around a non-IPv6 text) is still read as
/// ipvsadm reads it, as 1.2.3.4 port 90.
pub fn parse_host_port(
    text: &str,
    proto: Option<Protocol>,
    resolver: &dyn Resolver,
) -> Option<HostPort> {
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (host, port_text): (&str, Option<&str>) = if let Some(rest) = text.strip_prefix('[') {
        let close = rest.find(']')?;
        let inner = rest.get(..close)?;
        let after = rest.get(close + 1..)?;
        let port = after.strip_prefix(':')?;
        if let Some(v6) = inet_pton6(inner) {
            let port = parse_port(port, proto, resolver)?;
            return Some(HostPort {
                addr: IpAddr::V6(v6),
                port: Some(port),
            });
        }
        match inner.rfind(':') {
            // ipvsadm's reading of a colon inside the brackets.
            Some(i) => (inner.get(..i)?, Some(inner.get(i + 1..)?)),
            None => (inner, Some(port)),
        }
    } else {
        // Every IPv6 text has at least two colons; most addresses here
        // are IPv4 with a port, which need not try the IPv6 parser.
        if text.bytes().filter(|&b| b == b':').nth(1).is_some() {
            if let Some(v6) = inet_pton6(text) {
                return Some(HostPort {
                    addr: IpAddr::V6(v6),
                    port: None,
                });
            }
        }
        match text.bytes().rposition(|b| b == b':') {
            Some(i) => (text.get(..i)?, Some(text.get(i + 1..)?)),
            None => (text, None),
        }
    };
    let addr = ipv4_or_host(host, resolver)?;
    let port = match port_text {
        Some(p) => Some(parse_port(p, proto, resolver)?),
        None => None,
    };
    Some(HostPort {
        addr: IpAddr::V4(addr),
        port,
    })
}

/// An IPv4 persistence mask, as a host-order `u32` (255.255.255.0 is
/// `0xffffff00`).
///
/// Deliberate fix (compatibility policy item 20): a string of digits whose
/// value is at most 32 is a prefix length (`24` is 255.255.255.0; ipvsadm
/// reads it as the address 0.0.0.24). Anything else is read as ipvsadm
/// does: `inet_aton`, then a host name.
pub fn parse_ipv4_netmask(text: &str, resolver: &dyn Resolver) -> Option<u32> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        let len = text
            .bytes()
            .try_fold(0u32, |acc, d| {
                acc.checked_mul(10)?.checked_add(u32::from(d - b'0'))
            })
            .filter(|v| *v <= 32);
        if let Some(len) = len {
            return Some(prefix_to_mask(len));
        }
    }
    ipv4_or_host(text, resolver).map(u32::from)
}

/// The IPv4 mask with `len` leading one bits (`len` at most 32).
fn prefix_to_mask(len: u32) -> u32 {
    u32::MAX.checked_shl(32u32.saturating_sub(len)).unwrap_or(0)
}

/// An IPv6 persistence prefix: `atoi` of the text, 1..=128 (so `64x` is 64,
/// and `ff` is 0, an error), as ipvsadm reads it.
pub fn parse_ipv6_prefix(text: &str) -> Option<u32> {
    let v = atoi(text);
    (1..=128).contains(&v).then_some(v as u32)
}

/// Why a multicast group was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum McastGroupError {
    /// The text has a `:` but is not an IPv6 multicast address.
    NotIpv6Multicast,
    /// The text is not an IPv4 multicast address (224.0.0.0/4, strict
    /// dotted quad).
    NotIpv4Multicast,
}

/// A sync-daemon multicast group: IPv6 (ff00::/8) if the text has a `:`,
/// else a strict dotted-quad IPv4 multicast address.
pub fn parse_mcast_group(text: &str) -> Result<IpAddr, McastGroupError> {
    if text.contains(':') {
        match inet_pton6(text) {
            Some(a) if a.is_multicast() => Ok(IpAddr::V6(a)),
            _ => Err(McastGroupError::NotIpv6Multicast),
        }
    } else {
        match inet_pton4(text) {
            Some(a) if a.is_multicast() => Ok(IpAddr::V4(a)),
            _ => Err(McastGroupError::NotIpv4Multicast),
        }
    }
}

/// A fixed [`Resolver`] for the parser's tests.
#[cfg(test)]
pub(crate) mod test_resolver {
    use super::*;
    use std::collections::HashMap;

    /// Knows `localhost`, `www.example` and a few services.
    pub(crate) struct Fake {
        hosts: HashMap<&'static str, Ipv4Addr>,
        services: HashMap<(&'static str, u16), u16>,
    }

    impl Fake {
        pub(crate) fn new() -> Fake {
            let mut hosts = HashMap::new();
            hosts.insert("localhost", Ipv4Addr::new(127, 0, 0, 1));
            hosts.insert("www.example", Ipv4Addr::new(192, 0, 2, 7));
            let mut services = HashMap::new();
            services.insert(("http", 6), 80);
            services.insert(("domain", 6), 53);
            services.insert(("domain", 17), 53);
            services.insert(("sip", 6), 5060);
            services.insert(("sip", 17), 5060);
            services.insert(("sip", 132), 5060);
            Fake { hosts, services }
        }
    }

    impl Resolver for Fake {
        fn host_to_ipv4(&self, name: &str) -> Option<Ipv4Addr> {
            self.hosts.get(name).copied()
        }
        fn addr_to_host(&self, _addr: IpAddr) -> Option<String> {
            None
        }
        fn service_to_port(&self, name: &str, proto: Protocol) -> Option<u16> {
            self.services.get(&(name, proto.to_raw())).copied()
        }
        fn port_to_service(&self, _port: u16, _proto: Protocol) -> Option<String> {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_resolver::Fake;
    use super::*;

    #[test]
    fn strtol_rules() {
        assert_eq!(strtol("80"), Some(80));
        assert_eq!(strtol("+9"), Some(9));
        assert_eq!(strtol(" \t9"), Some(9));
        assert_eq!(strtol("080"), Some(80));
        assert_eq!(strtol("-0"), Some(0));
        assert_eq!(strtol("-12"), Some(-12));
        assert_eq!(strtol("0x10"), None);
        assert_eq!(strtol("9 "), None);
        assert_eq!(strtol(""), None);
        assert_eq!(strtol(" "), None);
        assert_eq!(strtol("+"), None);
        assert_eq!(strtol("9223372036854775807"), Some(i64::MAX));
        assert_eq!(strtol("9223372036854775808"), None);
        assert_eq!(strtol("-9223372036854775808"), Some(i64::MIN));
        assert_eq!(strtol("99999999999999999999999999"), None);
        assert_eq!(number_in("65535", 0, 65535), Some(65535));
        assert_eq!(number_in("65536", 0, 65535), None);
    }

    #[test]
    fn atoi_rules() {
        assert_eq!(atoi("64"), 64);
        assert_eq!(atoi("64x"), 64);
        assert_eq!(atoi("ff"), 0);
        assert_eq!(atoi(" -3"), -3);
        // (int) of a long: 2^32 + 64 becomes 64.
        assert_eq!(atoi("4294967360"), 64);
        assert_eq!(parse_ipv6_prefix("4294967360"), Some(64));
        assert_eq!(parse_ipv6_prefix("129"), None);
        assert_eq!(parse_ipv6_prefix("0"), None);
        assert_eq!(parse_ipv6_prefix("-1"), None);
        assert_eq!(parse_ipv6_prefix("128"), Some(128));
    }

    #[test]
    fn fwmark_rules() {
        assert_eq!(parse_fwmark("1"), Some(1));
        assert_eq!(parse_fwmark("010"), Some(10));
        assert_eq!(parse_fwmark(" 12"), Some(12));
        assert_eq!(parse_fwmark("+12"), Some(12));
        assert_eq!(parse_fwmark("4294967295"), Some(u32::MAX));
        assert_eq!(parse_fwmark("4294967296"), None);
        assert_eq!(parse_fwmark("0"), None);
        assert_eq!(parse_fwmark("-1"), None);
        assert_eq!(parse_fwmark("-18446744073709551615"), None);
        assert_eq!(parse_fwmark("0x10"), None);
        assert_eq!(parse_fwmark("12x"), None);
        assert_eq!(parse_fwmark(""), None);
    }

    #[test]
    fn inet_aton_forms() {
        let a = |s| inet_aton(s).map(|a| a.to_string());
        assert_eq!(a("1.2.3.4").as_deref(), Some("1.2.3.4"));
        assert_eq!(a("10.1").as_deref(), Some("10.0.0.1"));
        assert_eq!(a("10.1.2").as_deref(), Some("10.1.0.2"));
        assert_eq!(a("010.0.0.1").as_deref(), Some("8.0.0.1"));
        assert_eq!(a("0x05060708").as_deref(), Some("5.6.7.8"));
        assert_eq!(a("4294967295").as_deref(), Some("255.255.255.255"));
        assert_eq!(a("80").as_deref(), Some("0.0.0.80"));
        assert_eq!(a("0").as_deref(), Some("0.0.0.0"));
        assert_eq!(a("1.2.3.4 ").as_deref(), Some("1.2.3.4"));
        assert_eq!(a("1.2.3.4 foo").as_deref(), Some("1.2.3.4"));
        assert_eq!(a("0xff.1").as_deref(), Some("255.0.0.1"));
        assert_eq!(a("4294967296"), None);
        assert_eq!(a(" 1.2.3.4"), None);
        assert_eq!(a("1.2.3.4.5"), None);
        assert_eq!(a("256.1.1.1"), None);
        assert_eq!(a("1.256.1.1"), None);
        assert_eq!(a("1.2.3.256"), None);
        assert_eq!(a("1.2.65536"), None);
        assert_eq!(a("1.2.3."), None);
        assert_eq!(a("08"), None);
        assert_eq!(a("0x"), None);
        assert_eq!(a("1.2.3.4x"), None);
        assert_eq!(a("+1.2.3.4"), None);
        assert_eq!(a(""), None);
        assert_eq!(a("localhost"), None);
    }

    #[test]
    fn inet_pton_forms() {
        assert_eq!(inet_pton4("224.0.0.81"), Some(Ipv4Addr::new(224, 0, 0, 81)));
        assert_eq!(inet_pton4("224.000.0.1"), None);
        assert_eq!(inet_pton4("224.1"), None);
        assert_eq!(inet_pton4("1.2.3.4.5"), None);
        assert_eq!(inet_pton4("256.0.0.1"), None);
        assert!(inet_pton6("::ffff:1.2.3.4").is_some());
        assert!(inet_pton6("2001:db8::1:80").is_some());
        assert!(inet_pton6("ff02::1%eth0").is_none());
        assert!(inet_pton6("1.2.3.4").is_none());
    }

    fn hp(text: &str, proto: Option<Protocol>) -> Option<(String, Option<u16>)> {
        parse_host_port(text, proto, &Fake::new()).map(|h| (h.addr.to_string(), h.port))
    }

    #[test]
    fn host_port_forms() {
        let tcp = Some(Protocol::Tcp);
        let s = |a: &str, p: Option<u16>| Some((a.to_string(), p));
        assert_eq!(hp("1.2.3.4:80", tcp), s("1.2.3.4", Some(80)));
        assert_eq!(hp("1.2.3.4", tcp), s("1.2.3.4", None));
        assert_eq!(hp("1.2.3.4:http", tcp), s("1.2.3.4", Some(80)));
        assert_eq!(hp("1.2.3.4:http", Some(Protocol::Udp)), None);
        assert_eq!(hp("1.2.3.4:http", None), None);
        assert_eq!(
            hp("1.2.3.4:sip", Some(Protocol::Sctp)),
            s("1.2.3.4", Some(5060))
        );
        assert_eq!(hp("1.2.3.4:+80", tcp), s("1.2.3.4", Some(80)));
        assert_eq!(hp("1.2.3.4: 80", tcp), s("1.2.3.4", Some(80)));
        assert_eq!(hp("1.2.3.4 :80", tcp), s("1.2.3.4", Some(80)));
        assert_eq!(hp("1.2.3.4:", tcp), None);
        assert_eq!(hp("1.2.3.4:65536", tcp), None);
        assert_eq!(hp("1.2.3.4:-1", tcp), None);
        assert_eq!(hp("1.2.3.4:80:90", tcp), None);
        assert_eq!(hp("10.1:80", tcp), s("10.0.0.1", Some(80)));
        assert_eq!(hp("localhost:80", tcp), s("127.0.0.1", Some(80)));
        assert_eq!(hp("nosuch:80", tcp), None);
        assert_eq!(hp("80", tcp), None);
        assert_eq!(hp("", tcp), None);
        assert_eq!(hp("[2001:db8::1]:80", tcp), s("2001:db8::1", Some(80)));
        assert_eq!(hp("[2001:db8::1]:http", tcp), s("2001:db8::1", Some(80)));
        assert_eq!(hp("[2001:db8::1]", tcp), None);
        assert_eq!(hp("[2001:db8::1]x80", tcp), None);
        assert_eq!(hp("[2001:db8::1:80", tcp), None);
        assert_eq!(hp("[2001:db8::1]:", tcp), None);
        assert_eq!(hp("2001:db8::1:80", tcp), s("2001:db8::1:80", None));
        assert_eq!(hp("::", tcp), s("::", None));
        // Policy fix: the port of a bracketed IPv4 address is kept.
        assert_eq!(hp("[1.2.3.4]:80", tcp), s("1.2.3.4", Some(80)));
        assert_eq!(hp("[localhost]:80", tcp), s("127.0.0.1", Some(80)));
        assert_eq!(hp("[80]:80", tcp), s("0.0.0.80", Some(80)));
        assert_eq!(hp("[1.2.3.4:90]:80", tcp), s("1.2.3.4", Some(90)));
    }

    #[test]
    fn netmasks() {
        let f = Fake::new();
        assert_eq!(parse_ipv4_netmask("24", &f), Some(0xffff_ff00));
        assert_eq!(parse_ipv4_netmask("0", &f), Some(0));
        assert_eq!(parse_ipv4_netmask("32", &f), Some(u32::MAX));
        assert_eq!(parse_ipv4_netmask("024", &f), Some(0xffff_ff00));
        assert_eq!(parse_ipv4_netmask("33", &f), Some(33));
        assert_eq!(parse_ipv4_netmask("255.255.255.0", &f), Some(0xffff_ff00));
        assert_eq!(parse_ipv4_netmask("255.255.0", &f), Some(0xffff_0000));
        assert_eq!(parse_ipv4_netmask("localhost", &f), Some(0x7f00_0001));
        assert_eq!(parse_ipv4_netmask("nosuch", &f), None);
        assert_eq!(parse_ipv4_netmask("", &f), None);
        assert_eq!(parse_ipv4_netmask("99999999999999999999", &f), None);
    }

    #[test]
    fn mcast_groups() {
        assert_eq!(
            parse_mcast_group("224.0.0.82"),
            Ok(IpAddr::V4(Ipv4Addr::new(224, 0, 0, 82)))
        );
        assert!(parse_mcast_group("ff02::1").is_ok());
        assert_eq!(
            parse_mcast_group("10.0.0.1"),
            Err(McastGroupError::NotIpv4Multicast)
        );
        assert_eq!(
            parse_mcast_group("foo"),
            Err(McastGroupError::NotIpv4Multicast)
        );
        assert_eq!(
            parse_mcast_group("2001:db8::1"),
            Err(McastGroupError::NotIpv6Multicast)
        );
        assert_eq!(
            parse_mcast_group("::ffff:224.0.0.1"),
            Err(McastGroupError::NotIpv6Multicast)
        );
    }
}
