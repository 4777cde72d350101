//! The host's IP configuration, as `realserver` and `check` need it: links
//! and addresses through route-netlink, one route lookup, and the kernel
//! settings under `/proc/sys`.
//!
//! [`Rtnl`] is a small synchronous route-netlink client in the manner of
//! [`crate::client::Client`]: one `NETLINK_ROUTE` socket from
//! `netlink-sys`, every byte from [`crate::wire::rtnl`], requests matched
//! to their answers by sequence number, and the socket behind the same
//! [`Transport`] trait so that tests can script the kernel.
//!
//! [`HostNet`] is everything the commands above it read or change on a
//! host; [`System`] is the real one and tests use fakes. Nothing here
//! runs `ip` or `sysctl`.

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::path::PathBuf;

use crate::client::{kernel_socket, recv_datagram, send_datagram, Transport};
use crate::wire::netlink::{messages, Body};
use crate::wire::rtnl::{self, Address, Link, Route, RtnlDecodeError};
use crate::wire::{DecodeError, EncodeError};

pub use crate::wire::rtnl::prefix_contains;

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
    /// A route-netlink message could not be read.
    #[error("malformed route-netlink reply: {0}")]
    Decode(#[from] RtnlDecodeError),
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
    fn send(
        &mut self,
        encode: impl FnOnce(&mut Vec<u8>, u32) -> Result<usize, EncodeError>,
    ) -> Result<u32> {
        let seq = self.seq.wrapping_add(1);
        self.sbuf.clear();
        encode(&mut self.sbuf, seq)?;
        self.seq = seq;
        self.transport.send(&self.sbuf)?;
        Ok(seq)
    }

    /// Reads the answer to `seq`: data messages (decoded) until the
    /// acknowledgement or the end of a dump. A decoding error is reported
    /// after the answer has been read to its end, so the socket stays in
    /// step.
    fn collect<T>(
        &mut self,
        seq: u32,
        mut decode: impl FnMut(u16, &[u8]) -> Option<Result<T, RtnlDecodeError>>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        let mut bad = None;
        loop {
            self.transport.recv(&mut self.rbuf)?;
            for m in messages(&self.rbuf) {
                let m = m?;
                if m.header.seq != seq {
                    continue;
                }
                match m.body {
                    Body::Data(p) => match decode(m.header.msg_type, p) {
                        Some(Ok(v)) => out.push(v),
                        Some(Err(e)) => {
                            bad.get_or_insert(e);
                        }
                        None => {}
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

    /// Every link (`RTM_GETLINK` dump).
    pub fn links(&mut self) -> Result<Vec<Link>> {
        let seq = self.send(rtnl::encode_get_links)?;
        self.collect(seq, |t, p| {
            (t == rtnl::RTM_NEWLINK).then(|| rtnl::decode_link(p))
        })
    }

    /// Every IPv4 and IPv6 address (`RTM_GETADDR` dump).
    pub fn addrs(&mut self) -> Result<Vec<Address>> {
        let seq = self.send(|b, s| rtnl::encode_get_addrs(b, s, libc::AF_UNSPEC as u8))?;
        self.collect(seq, |t, p| {
            if t != rtnl::RTM_NEWADDR {
                return None;
            }
            // Only IPv4 and IPv6 interest us; skip other families quietly.
            match p.first().map(|f| i32::from(*f)) {
                Some(libc::AF_INET) | Some(libc::AF_INET6) => Some(rtnl::decode_addr(p)),
                _ => None,
            }
        })
    }

    /// Adds `addr/prefix_len` to link `index` (`EEXIST` if present).
    pub fn add_addr(&mut self, index: u32, addr: &IpAddr, prefix_len: u8) -> Result<()> {
        let seq = self.send(|b, s| rtnl::encode_add_addr(b, s, index, addr, prefix_len))?;
        self.collect(seq, |_, _| None::<Result<(), _>>).map(drop)
    }

    /// Deletes `addr/prefix_len` from link `index` (`EADDRNOTAVAIL` if
    /// absent).
    pub fn del_addr(&mut self, index: u32, addr: &IpAddr, prefix_len: u8) -> Result<()> {
        let seq = self.send(|b, s| rtnl::encode_del_addr(b, s, index, addr, prefix_len))?;
        self.collect(seq, |_, _| None::<Result<(), _>>).map(drop)
    }

    /// Brings link `index` up or down.
    pub fn set_link_up(&mut self, index: u32, up: bool) -> Result<()> {
        let seq = self.send(|b, s| rtnl::encode_set_link_up(b, s, index, up))?;
        self.collect(seq, |_, _| None::<Result<(), _>>).map(drop)
    }

    /// The route the kernel would use to reach `dst`; an error (usually
    /// `ENETUNREACH`) if there is none.
    pub fn route_to(&mut self, dst: &IpAddr) -> Result<Route> {
        let seq = self.send(|b, s| rtnl::encode_get_route(b, s, dst))?;
        let routes = self.collect(seq, |t, p| {
            (t == rtnl::RTM_NEWROUTE).then(|| rtnl::decode_route(p))
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
    use crate::wire::netlink::{encode_done, encode_error, NlHeader, NLM_F_MULTI};
    use crate::wire::rtnl::{encode_addr_reply, encode_link_reply};
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    type Respond = Box<dyn FnMut(&NlHeader, &[u8]) -> Vec<Vec<u8>> + Send>;

    /// Answers each request with what `respond` returns for its header.
    struct Scripted {
        respond: Respond,
        queue: VecDeque<Vec<u8>>,
        sent: Arc<Mutex<Vec<Vec<u8>>>>,
    }

    impl Transport for Scripted {
        fn send(&mut self, d: &[u8]) -> io::Result<()> {
            self.sent.lock().unwrap().push(d.to_vec());
            let h = NlHeader::parse(d).unwrap();
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
        respond: impl FnMut(&NlHeader, &[u8]) -> Vec<Vec<u8>> + Send + 'static,
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
            flags: rtnl::IFF_UP | rtnl::IFF_LOOPBACK,
            link_type: 772,
            hwaddr: vec![0; 6],
            kind: None,
        }
    }

    #[test]
    fn link_dump_over_two_datagrams_ignoring_other_sequences() {
        let (mut c, _) = scripted(|h, _| {
            let mut a = Vec::new();
            encode_link_reply(&mut a, h.seq + 100, NLM_F_MULTI, &lo()).unwrap();
            encode_link_reply(&mut a, h.seq, NLM_F_MULTI, &lo()).unwrap();
            let mut b = Vec::new();
            let mut eth = lo();
            eth.index = 2;
            eth.name = "eth0".into();
            encode_link_reply(&mut b, h.seq, NLM_F_MULTI, &eth).unwrap();
            encode_done(&mut b, h.seq, 0, 0, 0);
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
            encode_addr_reply(&mut a, h.seq, NLM_F_MULTI, &addr).unwrap();
            // An AF_PACKET (17) entry: skipped.
            let mut b = crate::wire::rtnl::builder::MessageBuilder::new(
                &mut a,
                rtnl::RTM_NEWADDR,
                NLM_F_MULTI,
                h.seq,
                0,
            );
            b.put_raw(&[17, 0, 0, 0, 1, 0, 0, 0]);
            b.finish().unwrap();
            encode_done(&mut a, h.seq, 0, 0, 0);
            vec![a]
        });
        let got = c.addrs().unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].local, "127.0.0.1".parse::<IpAddr>().unwrap());

        let (mut c, _) = scripted(|h, _| {
            let mut a = Vec::new();
            let mut b = crate::wire::rtnl::builder::MessageBuilder::new(
                &mut a,
                rtnl::RTM_NEWADDR,
                NLM_F_MULTI,
                h.seq,
                0,
            );
            b.put_raw(&[2, 0, 0, 0, 1, 0, 0, 0]);
            b.finish().unwrap();
            encode_done(&mut a, h.seq, 0, 0, 0);
            vec![a]
        });
        assert!(matches!(c.addrs(), Err(Error::Decode(_))));
    }

    #[test]
    fn changes_are_acknowledged_or_fail_with_errno() {
        let (mut c, sent) = scripted(|h, _| {
            let mut a = Vec::new();
            let errno = if h.msg_type == rtnl::RTM_NEWADDR {
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
            .map(|d| NlHeader::parse(d).unwrap().msg_type)
            .collect();
        assert_eq!(
            types,
            [rtnl::RTM_NEWADDR, rtnl::RTM_DELADDR, rtnl::RTM_NEWLINK]
        );
        let seqs: Vec<u32> = sent
            .iter()
            .map(|d| NlHeader::parse(d).unwrap().seq)
            .collect();
        assert_eq!(seqs, [1, 2, 3]);
    }

    #[test]
    fn route_lookup() {
        let (mut c, _) = scripted(|h, _| {
            let mut a = Vec::new();
            let mut b = crate::wire::rtnl::builder::MessageBuilder::new(
                &mut a,
                rtnl::RTM_NEWROUTE,
                0,
                h.seq,
                0,
            );
            b.put_raw(&[2, 32, 0, 0, 254, 0, 0, rtnl::RTN_UNICAST, 0, 0, 0, 0]);
            b.put_u32(rtnl::RTA_OIF, 2);
            b.finish().unwrap();
            encode_error(&mut a, h, 0);
            vec![a]
        });
        let r = c.route_to(&"10.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(r.oif, Some(2));
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
