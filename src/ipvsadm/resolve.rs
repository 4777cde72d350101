//! Name resolution behind a trait, so that printers and the parser can be
//! tested without DNS or the machine's services database.
//!
//! Three implementations:
//! * [`SystemResolver`] asks the C library (hosts through
//!   `getaddrinfo`/`getnameinfo`, services through the reentrant
//!   `getservbyname_r`/`getservbyport_r`), like ipvsadm does;
//! * [`NumericResolver`] resolves nothing (what `-n` means for output);
//! * [`StaticResolver`] answers from a fixed table, for tests and for
//!   callers who want deterministic output.
//!
//! All `unsafe` code of the command line lives in this file, in small
//! blocks around single C calls.

use std::ffi::{c_char, c_int, CStr, CString};
use std::net::{IpAddr, Ipv4Addr};
use std::ptr;

use crate::model::Protocol;

/// Looks up host and service names. `SystemResolver` asks the C library;
/// tests use a fixed table.
pub trait Resolver: Sync {
    /// IPv4 address of a host name (first address), like `gethostbyname`.
    fn host_to_ipv4(&self, name: &str) -> Option<Ipv4Addr>;
    /// Primary host name of an address, like `gethostbyaddr`.
    fn addr_to_host(&self, addr: IpAddr) -> Option<String>;
    /// Port of a service name for a protocol, like `getservbyname`.
    fn service_to_port(&self, name: &str, proto: Protocol) -> Option<u16>;
    /// Service name of a port for a protocol, like `getservbyport`.
    fn port_to_service(&self, port: u16, proto: Protocol) -> Option<String>;
}

/// Resolves nothing: every lookup fails. Printers given this resolver
/// produce numeric output, which is what `-n` asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NumericResolver;

impl Resolver for NumericResolver {
    fn host_to_ipv4(&self, _name: &str) -> Option<Ipv4Addr> {
        None
    }

    fn addr_to_host(&self, _addr: IpAddr) -> Option<String> {
        None
    }

    fn service_to_port(&self, _name: &str, _proto: Protocol) -> Option<u16> {
        None
    }

    fn port_to_service(&self, _port: u16, _proto: Protocol) -> Option<String> {
        None
    }
}

/// A fixed table of host and service names, so that output that depends
/// on names is reproducible (tests, golden files).
///
/// Host names match case-insensitively (as the hosts database does),
/// service names exactly; the first matching entry wins in both
/// directions, like the first line of `/etc/hosts` or `/etc/services`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaticResolver {
    hosts: Vec<(String, IpAddr)>,
    services: Vec<(String, u16, Protocol)>,
}

impl StaticResolver {
    /// An empty table (resolves nothing until entries are added).
    pub fn new() -> StaticResolver {
        StaticResolver::default()
    }

    /// Adds a host entry (builder style).
    pub fn with_host(mut self, name: &str, addr: IpAddr) -> StaticResolver {
        self.add_host(name, addr);
        self
    }

    /// Adds a service entry for one protocol (builder style).
    pub fn with_service(mut self, name: &str, port: u16, proto: Protocol) -> StaticResolver {
        self.add_service(name, port, proto);
        self
    }

    /// Adds a service entry for TCP, UDP and SCTP at once, as most
    /// well-known ports are registered for all three.
    pub fn with_service_all(mut self, name: &str, port: u16) -> StaticResolver {
        for proto in [Protocol::Tcp, Protocol::Udp, Protocol::Sctp] {
            self.add_service(name, port, proto);
        }
        self
    }

    /// Adds a host entry.
    pub fn add_host(&mut self, name: &str, addr: IpAddr) {
        self.hosts.push((name.to_owned(), addr));
    }

    /// Adds a service entry.
    pub fn add_service(&mut self, name: &str, port: u16, proto: Protocol) {
        self.services.push((name.to_owned(), port, proto));
    }
}

impl Resolver for StaticResolver {
    fn host_to_ipv4(&self, name: &str) -> Option<Ipv4Addr> {
        self.hosts.iter().find_map(|(n, a)| match a {
            IpAddr::V4(v4) if n.eq_ignore_ascii_case(name) => Some(*v4),
            _ => None,
        })
    }

    fn addr_to_host(&self, addr: IpAddr) -> Option<String> {
        self.hosts
            .iter()
            .find(|(_, a)| *a == addr)
            .map(|(n, _)| n.clone())
    }

    fn service_to_port(&self, name: &str, proto: Protocol) -> Option<u16> {
        self.services
            .iter()
            .find(|(n, _, p)| n == name && *p == proto)
            .map(|(_, port, _)| *port)
    }

    fn port_to_service(&self, port: u16, proto: Protocol) -> Option<String> {
        self.services
            .iter()
            .find(|(_, p, pr)| *p == port && *pr == proto)
            .map(|(n, _, _)| n.clone())
    }
}

/// The C library's resolver: the hosts and services databases as
/// configured by `nsswitch.conf` (files, DNS, ...), which is what ipvsadm
/// consults. Lookups may block on the network when DNS is configured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SystemResolver;

// The reentrant services lookups exist in glibc and musl with this exact
// signature but are not declared by the `libc` crate.
extern "C" {
    fn getservbyname_r(
        name: *const c_char,
        proto: *const c_char,
        result_buf: *mut libc::servent,
        buf: *mut c_char,
        buflen: libc::size_t,
        result: *mut *mut libc::servent,
    ) -> c_int;
    fn getservbyport_r(
        port: c_int,
        proto: *const c_char,
        result_buf: *mut libc::servent,
        buf: *mut c_char,
        buflen: libc::size_t,
        result: *mut *mut libc::servent,
    ) -> c_int;
}

/// First scratch buffer size for the `*_r` calls; doubled on `ERANGE`.
const SERV_BUF_START: usize = 1024;
/// Give up beyond this (a services entry is never this large).
const SERV_BUF_MAX: usize = 1 << 20;

/// An empty `servent` for the `*_r` calls to fill.
fn empty_servent() -> libc::servent {
    libc::servent {
        s_name: ptr::null_mut(),
        s_aliases: ptr::null_mut(),
        s_port: 0,
        s_proto: ptr::null_mut(),
    }
}

/// Runs one reentrant services lookup, growing the scratch buffer on
/// `ERANGE`, and hands the filled entry to `take` while the buffer its
/// pointers refer to is still alive.
fn serv_lookup<T>(
    call: impl Fn(&mut libc::servent, &mut [u8], &mut *mut libc::servent) -> c_int,
    take: impl Fn(&libc::servent) -> Option<T>,
) -> Option<T> {
    let mut size = SERV_BUF_START;
    loop {
        let mut buf = vec![0u8; size];
        let mut ent = empty_servent();
        let mut result: *mut libc::servent = ptr::null_mut();
        let rc = call(&mut ent, &mut buf, &mut result);
        if rc == libc::ERANGE {
            size = size.checked_mul(2)?;
            if size > SERV_BUF_MAX {
                return None;
            }
            continue;
        }
        // On success `result` points at `ent`; anything else is a miss.
        if rc != 0 || result.is_null() {
            return None;
        }
        return take(&ent);
    }
}

/// The services database's protocol name as a C string.
fn proto_cstr(proto: Protocol) -> Option<&'static CStr> {
    match proto {
        Protocol::Tcp => Some(c"tcp"),
        Protocol::Udp => Some(c"udp"),
        Protocol::Sctp => Some(c"sctp"),
        Protocol::Other(_) => None,
    }
}

/// Copies a C string owned by a C library result into a `String`;
/// `None` for a null pointer or text that is not UTF-8 (the caller then
/// falls back to the numeric form).
///
/// # Safety
/// `p` must be null or point to a NUL-terminated string that stays valid
/// for the duration of the call.
unsafe fn owned_str(p: *const c_char) -> Option<String> {
    if p.is_null() {
        return None;
    }
    // SAFETY: non-null and NUL-terminated per this function's contract.
    let s = unsafe { CStr::from_ptr(p) };
    s.to_str().ok().map(str::to_owned)
}

impl Resolver for SystemResolver {
    fn host_to_ipv4(&self, name: &str) -> Option<Ipv4Addr> {
        let c_name = CString::new(name).ok()?;
        let hints = libc::addrinfo {
            ai_flags: 0,
            ai_family: libc::AF_INET,
            ai_socktype: libc::SOCK_STREAM,
            ai_protocol: 0,
            ai_addrlen: 0,
            ai_addr: ptr::null_mut(),
            ai_canonname: ptr::null_mut(),
            ai_next: ptr::null_mut(),
        };
        let mut list: *mut libc::addrinfo = ptr::null_mut();
        // SAFETY: `c_name` and `hints` are valid for the call, the service
        // argument may be null, and `list` is a valid out-pointer.
        let rc = unsafe { libc::getaddrinfo(c_name.as_ptr(), ptr::null(), &hints, &mut list) };
        if rc != 0 || list.is_null() {
            return None;
        }
        let mut found = None;
        let mut cur = list;
        while !cur.is_null() {
            // SAFETY: `cur` is non-null and is a node of the list returned
            // by getaddrinfo, which stays allocated until freeaddrinfo.
            let ai = unsafe { &*cur };
            let len_ok =
                usize::try_from(ai.ai_addrlen).is_ok_and(|l| l >= size_of::<libc::sockaddr_in>());
            if ai.ai_family == libc::AF_INET && !ai.ai_addr.is_null() && len_ok {
                // SAFETY: for an AF_INET entry whose length covers a
                // sockaddr_in, `ai_addr` points to one; read_unaligned
                // makes no alignment assumption.
                let sin = unsafe { ptr::read_unaligned(ai.ai_addr as *const libc::sockaddr_in) };
                found = Some(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
                break;
            }
            cur = ai.ai_next;
        }
        // SAFETY: `list` came from a successful getaddrinfo, is freed
        // exactly once, and no reference into it outlives this point.
        unsafe { libc::freeaddrinfo(list) };
        found
    }

    fn addr_to_host(&self, addr: IpAddr) -> Option<String> {
        let mut host = vec![0u8; 1025];
        let host_len = libc::socklen_t::try_from(host.len()).ok()?;
        let rc = match addr {
            IpAddr::V4(v4) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: 0,
                    sin_addr: libc::in_addr {
                        s_addr: u32::from(v4).to_be(),
                    },
                    sin_zero: [0; 8],
                };
                let sa_len = libc::socklen_t::try_from(size_of::<libc::sockaddr_in>()).ok()?;
                // SAFETY: `sin` is a complete sockaddr_in of the length
                // passed; `host` is writable for `host_len` bytes; no
                // service buffer is requested (null, 0).
                unsafe {
                    libc::getnameinfo(
                        (&sin as *const libc::sockaddr_in).cast(),
                        sa_len,
                        host.as_mut_ptr().cast(),
                        host_len,
                        ptr::null_mut(),
                        0,
                        libc::NI_NAMEREQD,
                    )
                }
            }
            IpAddr::V6(v6) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: 0,
                    sin6_flowinfo: 0,
                    sin6_addr: libc::in6_addr {
                        s6_addr: v6.octets(),
                    },
                    sin6_scope_id: 0,
                };
                let sa_len = libc::socklen_t::try_from(size_of::<libc::sockaddr_in6>()).ok()?;
                // SAFETY: as above, with a complete sockaddr_in6.
                unsafe {
                    libc::getnameinfo(
                        (&sin6 as *const libc::sockaddr_in6).cast(),
                        sa_len,
                        host.as_mut_ptr().cast(),
                        host_len,
                        ptr::null_mut(),
                        0,
                        libc::NI_NAMEREQD,
                    )
                }
            }
        };
        if rc != 0 {
            return None;
        }
        let name = CStr::from_bytes_until_nul(&host).ok()?.to_str().ok()?;
        (!name.is_empty()).then(|| name.to_owned())
    }

    fn service_to_port(&self, name: &str, proto: Protocol) -> Option<u16> {
        let proto = proto_cstr(proto)?;
        let c_name = CString::new(name).ok()?;
        serv_lookup(
            |ent, buf, result| {
                // SAFETY: the name and protocol are NUL-terminated and
                // outlive the call; `ent`, `buf` (with its true length)
                // and `result` are valid, exclusively borrowed buffers.
                unsafe {
                    getservbyname_r(
                        c_name.as_ptr(),
                        proto.as_ptr(),
                        ent,
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        result,
                    )
                }
            },
            // The port is in network order in the low 16 bits of s_port.
            |ent| Some(u16::from_be(ent.s_port as u16)),
        )
    }

    fn port_to_service(&self, port: u16, proto: Protocol) -> Option<String> {
        let proto = proto_cstr(proto)?;
        serv_lookup(
            |ent, buf, result| {
                // SAFETY: as in service_to_port; the port is passed in
                // network order as the C interface requires.
                unsafe {
                    getservbyport_r(
                        c_int::from(port.to_be()),
                        proto.as_ptr(),
                        ent,
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        result,
                    )
                }
            },
            // SAFETY: after a successful call `s_name` is null or points
            // into the scratch buffer, which `serv_lookup` keeps alive
            // while this closure runs.
            |ent| unsafe { owned_str(ent.s_name) },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    #[test]
    fn numeric_resolves_nothing() {
        let r = NumericResolver;
        assert_eq!(r.host_to_ipv4("localhost"), None);
        assert_eq!(r.addr_to_host(IpAddr::V4(Ipv4Addr::LOCALHOST)), None);
        assert_eq!(r.service_to_port("http", Protocol::Tcp), None);
        assert_eq!(r.port_to_service(80, Protocol::Tcp), None);
    }

    #[test]
    fn static_table_both_directions() {
        let r = StaticResolver::new()
            .with_host("web", IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)))
            .with_host("web6", IpAddr::V6(Ipv6Addr::LOCALHOST))
            .with_host("second", IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)))
            .with_service("http", 80, Protocol::Tcp)
            .with_service_all("domain", 53);
        assert_eq!(r.host_to_ipv4("WEB"), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(r.host_to_ipv4("web6"), None);
        assert_eq!(
            r.addr_to_host(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
            Some("web".to_owned())
        );
        assert_eq!(
            r.addr_to_host(IpAddr::V6(Ipv6Addr::LOCALHOST)),
            Some("web6".to_owned())
        );
        assert_eq!(r.service_to_port("http", Protocol::Tcp), Some(80));
        assert_eq!(r.service_to_port("http", Protocol::Udp), None);
        assert_eq!(r.port_to_service(53, Protocol::Sctp), Some("domain".into()));
        assert_eq!(r.port_to_service(80, Protocol::Other(99)), None);
    }

    #[test]
    fn system_loopback_and_services_do_not_crash() {
        // Results depend on the machine's databases; only check that the
        // calls are sound and consistent where an answer exists. Only
        // local sources are consulted for these names on a sane system.
        let r = SystemResolver;
        if let Some(a) = r.host_to_ipv4("localhost") {
            assert!(a.is_loopback());
        }
        assert_eq!(r.host_to_ipv4("bad\0name"), None);
        if let Some(p) = r.service_to_port("http", Protocol::Tcp) {
            assert_eq!(p, 80);
            assert_eq!(
                r.port_to_service(80, Protocol::Tcp).as_deref(),
                Some("http")
            );
        }
        assert_eq!(r.service_to_port("http", Protocol::Other(1)), None);
        assert_eq!(
            r.service_to_port("no-such-service-xyz", Protocol::Udp),
            None
        );
        let _ = r.addr_to_host(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
}
