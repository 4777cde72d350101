//! A synchronous IPVS client on one generic-netlink socket.
//!
//! # Design
//!
//! There is one netlink stack: `netlink-sys` provides only the socket, and
//! every byte sent or parsed comes from [`crate::wire`]. Higher-level crates
//! (packet builders, generic-netlink helpers) were not used because they hide
//! what this client must control: the exact request layout of ipvsadm 1.31
//! (attribute order, always-sent attributes, `NLA_F_NESTED`), so that
//! captures compare byte for byte; and batches of many requests in one
//! datagram, each with its own sequence number and acknowledgement.
//!
//! One socket serves the client's whole life, and the family id of "IPVS"
//! is resolved once in [`Client::open`] (ipvsadm opens a socket and
//! resolves the family for every request).
//!
//! Every request sent alone carries `NLM_F_ACK`. A request that is not a
//! dump is complete when its acknowledgement (or error) arrives; the reply
//! messages before it are its answer. In a batch, only the last request of
//! each datagram asks for an acknowledgement: the kernel answers every
//! failed request anyway, in order, so once the last one's answer is in,
//! every request not refused by then succeeded (see [`Client::batch`]). A
//! dump is complete at `NLMSG_DONE`; if any part is flagged
//! `NLM_F_DUMP_INTR` (the table changed meanwhile), or reports an entry
//! twice (IPVS does not flag its dumps; a repeat is how a raced dump
//! shows), the whole dump is done again, at most [`MAX_DUMP_ATTEMPTS`]
//! times; the last attempt is taken with repeated entries dropped.
//! Messages with a sequence number other than the awaited ones are
//! ignored.
//!
//! The socket sits behind the [`Transport`] trait, so the request/response
//! logic is tested with a scripted fake and other layers can run against an
//! emulated kernel.

use std::fmt;
use std::io;

use crate::model::{Daemon, Dest, Info, Service, ServiceEntry, ServiceKey, Timeouts};
use crate::wire::ipvs::{self, IpvsRequest};
use crate::wire::netlink::{
    decode_family_id, encode_get_family, messages, Body, GenlMsg, NLM_F_ACK, NLM_F_DUMP_INTR,
};
use crate::wire::{DecodeError, EncodeError};

/// How many times a dump is tried while it comes back inconsistent.
/// Between attempts the real socket pauses, longer each time (see
/// [`Transport::pause_before_retry`]): about 1.8 s in all, which lets a
/// listing through a table that a writer keeps changing in bursts (ten
/// attempts without pauses were used up in a fraction of a second by the
/// concurrent-writers test on an idle host).
pub const MAX_DUMP_ATTEMPTS: u32 = 40;

/// Receive buffer for one datagram: the page size, but at least 4 KiB
/// and at most 8 KiB (see [`datagram_size`]).
///
/// The kernel sizes each dump datagram by the largest buffer this socket
/// has ever received into (capped at 32 KiB), and never below
/// `NLMSG_GOODSIZE`, which is a page less the kernel's bookkeeping, for
/// pages of up to 8 KiB; other replies are at most `NLMSG_GOODSIZE`. So
/// this size always holds a whole datagram, and keeps every part of every
/// dump (a listing of 2,000 services makes 4,000) in a buffer of at most
/// a page.
/// Under qemu the destination dumps of 2,000 services, done by hand on a
/// bare socket, took 355 ms with 4 KiB, 444 ms with 8 KiB and 626 ms with
/// 16 KiB on Linux 6.1, and 250, 457 and 641 ms on 6.12
/// (`ipvs_bench dumps`, docs/performance.md run D):
/// a buffer above a page makes the kernel take its memory from the page
/// allocator for every part instead of from a slab.
fn datagram_size() -> usize {
    use std::sync::OnceLock;
    static SIZE: OnceLock<usize> = OnceLock::new();
    *SIZE.get_or_init(|| crate::sys::page_size().clamp(4096, 8192))
}

/// Socket receive buffer requested: room for many queued acknowledgements
/// of a batch (the kernel queues them all while processing one datagram).
const SOCKET_RCVBUF: usize = 4 * 1024 * 1024;

/// Largest batch datagram sent (well below the default send buffer).
const MAX_BATCH_BYTES: usize = 64 * 1024;

/// Receive-buffer space assumed per queued acknowledgement (its kernel
/// memory cost, not its size on the wire).
const ACK_COST: usize = 2048;

/// Batch message limit when the transport cannot tell its buffer size.
const DEFAULT_BATCH_MESSAGES: usize = 128;

/// Errors of the client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The generic-netlink controller does not know the "IPVS" family: the
    /// kernel has no IPVS (module not loaded or not built).
    #[error("generic netlink family \"IPVS\" not found")]
    FamilyNotFound,
    /// The kernel refused the request with this errno.
    #[error("kernel error: {}", io::Error::from_raw_os_error(*errno))]
    Kernel {
        /// The errno, positive (e.g. `libc::ESRCH`).
        errno: i32,
    },
    /// A socket call failed.
    #[error("netlink I/O error: {0}")]
    Io(#[from] io::Error),
    /// The kernel's reply could not be understood.
    #[error("malformed netlink reply: {0}")]
    Decode(#[from] DecodeError),
    /// The request could not be encoded (a name too long for netlink).
    #[error("cannot encode request: {0}")]
    Encode(#[from] EncodeError),
    /// A dump was still flagged inconsistent after every attempt.
    #[error("dump interrupted by concurrent changes {attempts} times")]
    DumpInterrupted {
        /// Attempts made.
        attempts: u32,
    },
    /// The acknowledgement of a batched request was dropped: the kernel's
    /// answers overflowed the socket's receive buffer (ENOBUFS). The
    /// request may or may not have been applied.
    #[error("acknowledgement lost: the receive buffer overflowed (ENOBUFS)")]
    AckLost,
}

impl Error {
    /// The errno behind this error, for mapping to ipvsadm's messages:
    /// the kernel's errno, an I/O error's OS code, `EINTR` for an
    /// interrupted dump; `None` for the others (family missing, malformed
    /// reply, encoding), which ipvsadm would report as `EINVAL`.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Kernel { errno } => Some(*errno),
            Error::Io(e) => e.raw_os_error(),
            Error::DumpInterrupted { .. } => Some(libc::EINTR),
            Error::AckLost => Some(libc::ENOBUFS),
            Error::FamilyNotFound | Error::Decode(_) | Error::Encode(_) => None,
        }
    }
}

/// Result with the client's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Moves netlink datagrams to and from the kernel. The netlink socket is
/// one implementation; tests and emulators provide others.
pub trait Transport {
    /// Sends one datagram holding one or more netlink messages.
    fn send(&mut self, datagram: &[u8]) -> io::Result<()>;

    /// Receives one datagram into `buf`, replacing its contents. Blocks
    /// until one arrives.
    fn recv(&mut self, buf: &mut Vec<u8>) -> io::Result<()>;

    /// Receives one datagram if one is already queued, without waiting;
    /// `Ok(false)` if none is. Used to collect what survived a receive
    /// buffer overflow. The default (for transports that cannot overflow)
    /// says none is queued.
    fn try_recv(&mut self, buf: &mut Vec<u8>) -> io::Result<bool> {
        let _ = buf;
        Ok(false)
    }

    /// How many acknowledged requests one datagram may carry before the
    /// acknowledgements could overflow the receive buffer.
    fn max_batch_messages(&self) -> usize {
        DEFAULT_BATCH_MESSAGES
    }

    /// Opens another, independent transport to the same kernel, for a
    /// second client working in parallel (see [`Client::sibling`]).
    /// Transports that cannot say `Unsupported`, the default.
    fn sibling(&self) -> io::Result<Box<dyn Transport + Send>> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }

    /// Called before a dump is redone (`attempt` counts from 1), to give a
    /// concurrent writer time to finish. Fakes return at once, the default.
    fn pause_before_retry(&mut self, _attempt: u32) {}
}

/// A `NETLINK_GENERIC` socket bound to an automatic port and connected to
/// the kernel, with a large receive buffer.
pub struct NetlinkSocket {
    socket: netlink_sys::Socket,
    rcvbuf: usize,
}

impl fmt::Debug for NetlinkSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NetlinkSocket")
            .field("rcvbuf", &self.rcvbuf)
            .finish_non_exhaustive()
    }
}

impl NetlinkSocket {
    /// Opens and sets up the socket.
    pub fn open() -> io::Result<NetlinkSocket> {
        NetlinkSocket::open_with(SOCKET_RCVBUF, true)
    }

    /// Opens the socket with a receive buffer of about `bytes` (the
    /// kernel's bounds apply, and it doubles the figure), without forcing
    /// past `rmem_max`: for tests that make acknowledgements overflow it.
    pub fn with_rcvbuf(bytes: usize) -> io::Result<NetlinkSocket> {
        NetlinkSocket::open_with(bytes, false)
    }

    fn open_with(bytes: usize, force: bool) -> io::Result<NetlinkSocket> {
        use std::os::fd::AsRawFd;

        let socket = kernel_socket(netlink_sys::protocols::NETLINK_GENERIC)?;
        let want = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        // SO_RCVBUFFORCE passes rmem_max with CAP_NET_ADMIN (which every
        // IPVS operation needs anyway); otherwise ask for the capped size.
        let forced = force && crate::sys::force_rcvbuf(socket.as_raw_fd(), want);
        if !forced {
            // Best effort: a smaller buffer only means smaller batches.
            let _ = socket.set_rx_buf_sz(want);
        }
        let rcvbuf = socket.get_rx_buf_sz().unwrap_or(0);
        Ok(NetlinkSocket { socket, rcvbuf })
    }

    /// The receive buffer size the kernel granted (as `SO_RCVBUF` reports
    /// it, i.e. doubled for bookkeeping).
    pub fn rcvbuf(&self) -> usize {
        self.rcvbuf
    }
}

/// A netlink socket of `protocol` (`netlink_sys::protocols`), bound to an
/// automatic port and connected to the kernel, so that only the kernel's
/// unicasts reach it; errors carry the request's header only, not its
/// payload. Shared by the IPVS client and `route`.
pub(crate) fn kernel_socket(protocol: isize) -> io::Result<netlink_sys::Socket> {
    let mut socket = netlink_sys::Socket::new(protocol)?;
    socket.bind_auto()?;
    socket.connect(&netlink_sys::SocketAddr::new(0, 0))?;
    let _ = socket.set_cap_ack(true);
    Ok(socket)
}

/// Sends `datagram` whole on `socket`, retrying when interrupted.
pub(crate) fn send_datagram(socket: &netlink_sys::Socket, datagram: &[u8]) -> io::Result<()> {
    loop {
        match socket.send(datagram, 0) {
            Ok(n) if n == datagram.len() => return Ok(()),
            Ok(n) => {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    format!("netlink send wrote {n} of {} bytes", datagram.len()),
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Receives one datagram from `socket` into `buf` (replacing its
/// content), offering the kernel exactly `size` bytes whatever `buf`'s
/// capacity (the kernel remembers the largest offer and sizes later dump
/// parts by it: see [`datagram_size`]). A datagram longer than `size` is an
/// error, never silently cut. False if `MSG_DONTWAIT` is among `flags` and
/// nothing is queued.
pub(crate) fn recv_datagram(
    socket: &netlink_sys::Socket,
    buf: &mut Vec<u8>,
    size: usize,
    flags: libc::c_int,
) -> io::Result<bool> {
    use bytes::BufMut;
    buf.clear();
    buf.reserve_exact(size);
    loop {
        // MSG_TRUNC makes recv return the datagram's real length.
        match socket.recv(&mut (&mut *buf).limit(size), flags | libc::MSG_TRUNC) {
            Ok(n) if n > size => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("netlink datagram of {n} bytes truncated to {size}"),
                ))
            }
            Ok(_) => return Ok(true),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && flags & libc::MSG_DONTWAIT != 0 => {
                return Ok(false)
            }
            Err(e) => return Err(e),
        }
    }
}

impl Transport for NetlinkSocket {
    fn pause_before_retry(&mut self, attempt: u32) {
        // 1, 2, 4, ... ms, then 50 ms per attempt.
        let ms = 1u64
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(50)
            .min(50);
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }

    fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        send_datagram(&self.socket, datagram)
    }

    fn recv(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        recv_datagram(&self.socket, buf, datagram_size(), 0).map(|_| ())
    }

    fn try_recv(&mut self, buf: &mut Vec<u8>) -> io::Result<bool> {
        recv_datagram(&self.socket, buf, datagram_size(), libc::MSG_DONTWAIT)
    }

    fn max_batch_messages(&self) -> usize {
        // Half the granted buffer (itself double the usable size).
        (self.rcvbuf / 2 / ACK_COST).clamp(16, 2048)
    }

    fn sibling(&self) -> io::Result<Box<dyn Transport + Send>> {
        Ok(Box::new(NetlinkSocket::open()?))
    }
}

/// A write operation, owned, for [`Client::batch`] and [`Client::execute`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Add a service (`-A`).
    AddService(Service),
    /// Replace a service's settings (`-E`).
    EditService(Service),
    /// Delete a service (`-D`).
    DelService(Service),
    /// Add a destination to a service (`-a`).
    AddDest(Service, Dest),
    /// Replace a destination's settings (`-e`).
    EditDest(Service, Dest),
    /// Delete a destination (`-d`).
    DelDest(Service, Dest),
    /// Zero the counters of one service or of all (`-Z`).
    Zero(Option<Service>),
    /// Delete every service (`-C`).
    Flush,
    /// Set connection timeouts; 0 leaves a value unchanged (`--set`).
    SetTimeouts(Timeouts),
    /// Start a sync daemon (`--start-daemon`).
    StartDaemon(Daemon),
    /// Stop a sync daemon (`--stop-daemon`).
    StopDaemon(Daemon),
}

impl Request {
    /// The wire request this operation sends.
    pub fn to_wire(&self) -> IpvsRequest<'_> {
        match self {
            Request::AddService(s) => IpvsRequest::NewService(s),
            Request::EditService(s) => IpvsRequest::SetService(s),
            Request::DelService(s) => IpvsRequest::DelService(s),
            Request::AddDest(s, d) => IpvsRequest::NewDest(s, d),
            Request::EditDest(s, d) => IpvsRequest::SetDest(s, d),
            Request::DelDest(s, d) => IpvsRequest::DelDest(s, d),
            Request::Zero(s) => IpvsRequest::Zero(s.as_ref()),
            Request::Flush => IpvsRequest::Flush,
            Request::SetTimeouts(t) => IpvsRequest::SetConfig(t),
            Request::StartDaemon(d) => IpvsRequest::NewDaemon(d),
            Request::StopDaemon(d) => IpvsRequest::DelDaemon(d),
        }
    }
}

/// A connection to the kernel's IPVS family.
pub struct Client {
    transport: Box<dyn Transport + Send>,
    family: u16,
    seq: u32,
    rbuf: Vec<u8>,
    sbuf: Vec<u8>,
    max_batch_bytes: usize,
    max_batch_messages: usize,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("family", &self.family)
            .field("seq", &self.seq)
            .field("max_batch_bytes", &self.max_batch_bytes)
            .field("max_batch_messages", &self.max_batch_messages)
            .finish_non_exhaustive()
    }
}

fn one<T>(v: Vec<T>, what: &'static str) -> Result<T> {
    v.into_iter()
        .next()
        .ok_or(Error::Decode(DecodeError::MissingReply(what)))
}

impl Client {
    /// Opens a netlink socket and resolves the "IPVS" family.
    /// [`Error::FamilyNotFound`] means the kernel has no IPVS.
    pub fn open() -> Result<Client> {
        Client::with_transport(Box::new(NetlinkSocket::open()?))
    }

    /// Uses `transport` instead of a socket (tests, emulators) and resolves
    /// the family through it.
    pub fn with_transport(transport: Box<dyn Transport + Send>) -> Result<Client> {
        let mut c = Client::with_family(transport, 0);
        c.family = c.resolve_family()?;
        Ok(c)
    }

    /// A second client on its own transport (a new socket) that reuses
    /// this one's family id instead of asking the controller again: for
    /// dumps run in parallel with this client's (one dump at a time runs
    /// on a netlink socket).
    pub fn sibling(&self) -> Result<Client> {
        let transport = self.transport.sibling()?;
        Ok(Client::with_family(transport, self.family))
    }

    /// Uses `transport` for a family id already resolved (by another
    /// client of the same kernel): no controller request is sent.
    pub fn with_family(transport: Box<dyn Transport + Send>, family: u16) -> Client {
        let max_batch_messages = transport.max_batch_messages().max(1);
        Client {
            transport,
            family,
            seq: 0,
            rbuf: Vec::with_capacity(datagram_size()),
            sbuf: Vec::new(),
            max_batch_bytes: MAX_BATCH_BYTES,
            max_batch_messages,
        }
    }

    /// The family id the controller assigned to "IPVS".
    pub fn family_id(&self) -> u16 {
        self.family
    }

    /// Overrides how much one batch datagram may hold (bytes and
    /// messages; each at least one message is always sent).
    pub fn set_batch_limits(&mut self, max_bytes: usize, max_messages: usize) {
        self.max_batch_bytes = max_bytes;
        self.max_batch_messages = max_messages.max(1);
    }

    fn resolve_family(&mut self) -> Result<u16> {
        let seq = self.seq.wrapping_add(1);
        self.sbuf.clear();
        encode_get_family(&mut self.sbuf, seq, 0, ipvs::FAMILY_NAME)?;
        self.seq = seq;
        self.transport.send(&self.sbuf)?;
        match self.await_reply(seq, decode_family_id) {
            Err(Error::Kernel { errno }) if errno == libc::ENOENT => Err(Error::FamilyNotFound),
            r => one(r?, "CTRL_CMD_GETFAMILY"),
        }
    }

    /// Encodes and sends one request; returns its sequence number.
    fn send_request(&mut self, req: &IpvsRequest<'_>) -> Result<u32> {
        let seq = self.seq.wrapping_add(1);
        self.sbuf.clear();
        req.encode(&mut self.sbuf, self.family, seq, 0)?;
        self.seq = seq;
        self.transport.send(&self.sbuf)?;
        Ok(seq)
    }

    /// Collects the data messages answering `seq` until its
    /// acknowledgement, decoding each with `decode`.
    fn await_reply<T>(
        &mut self,
        seq: u32,
        mut decode: impl FnMut(&[u8]) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        let mut bad: Option<DecodeError> = None;
        loop {
            self.transport.recv(&mut self.rbuf)?;
            for m in messages(&self.rbuf) {
                let m = m?;
                if m.header.sequence_number != seq {
                    continue;
                }
                match m.body {
                    Body::Data(p) => match GenlMsg::parse(p).and_then(|g| decode(g.attrs)) {
                        Ok(v) => out.push(v),
                        Err(e) => {
                            bad.get_or_insert(e);
                        }
                    },
                    Body::Ack => {
                        return match bad {
                            Some(e) => Err(e.into()),
                            None => Ok(out),
                        }
                    }
                    Body::Error { errno } => return Err(Error::Kernel { errno }),
                    Body::Done { .. } | Body::Control(_) => {}
                }
            }
        }
    }

    /// Sends a request that is answered by an acknowledgement only.
    fn ack(&mut self, req: IpvsRequest<'_>) -> Result<()> {
        let seq = self.send_request(&req)?;
        self.await_reply(seq, |_| Ok(()))?;
        Ok(())
    }

    /// Runs a dump, redoing it while the kernel flags it interrupted.
    fn dump<T>(
        &mut self,
        req: IpvsRequest<'_>,
        decode: impl FnMut(&[u8]) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>> {
        self.dump_keyed(req, decode, |_| None::<()>)
    }

    /// Runs a dump, redoing the whole of it while it is inconsistent: a
    /// part flagged `NLM_F_DUMP_INTR`, or an entry whose `key` was already
    /// reported. IPVS dumps resume by position in the kernel's tables, and
    /// the kernel does not flag a dump that a concurrent writer changed:
    /// an entry reported twice is the visible sign, and an entry can be
    /// missed the same way, unseen. So a keyed dump that came in more than
    /// one datagram (each datagram is filled atomically, under the
    /// kernel's lock) is only accepted once two attempts in a row give the
    /// same keys in the same order. The last of [`MAX_DUMP_ATTEMPTS`]
    /// attempts is taken as it is, repeats dropped (a writer that never
    /// pauses leaves no two readings alike); only a dump flagged
    /// `NLM_F_DUMP_INTR` every time fails, with [`Error::DumpInterrupted`].
    ///
    /// Keys are remembered as 64-bit hashes, not copies, so that checking
    /// a dump of thousands of services costs little memory (a listing's
    /// peak memory is a benchmark target, docs/performance.md). A hash
    /// collision between two keys makes a consistent dump look raced
    /// (one more attempt), or on the last attempt drops one of the two
    /// entries; two different key sequences hashing alike would let a torn
    /// dump through. At 64 bits both are negligible.
    fn dump_keyed<T, K: std::hash::Hash>(
        &mut self,
        req: IpvsRequest<'_>,
        mut decode: impl FnMut(&[u8]) -> Result<T, DecodeError>,
        key: impl Fn(&T) -> Option<K>,
    ) -> Result<Vec<T>> {
        use std::hash::{BuildHasher, Hasher};
        // One fixed hasher for every attempt, so hashes compare across them.
        let hasher = std::collections::hash_map::RandomState::new();
        let mut seen = std::collections::HashSet::new();
        let mut previous: Option<(u64, usize)> = None;
        for attempt in 0..MAX_DUMP_ATTEMPTS {
            if attempt > 0 {
                self.transport.pause_before_retry(attempt);
            }
            let seq = self.send_request(&req)?;
            let last = attempt + 1 == MAX_DUMP_ATTEMPTS;
            let mut out = Vec::new();
            let mut bad: Option<DecodeError> = None;
            let mut interrupted = false;
            let mut data_datagrams = 0usize;
            // Read to the end even after a decoding error or a sign of
            // inconsistency: an unfinished dump would make the kernel
            // refuse the next one (EBUSY).
            'parts: loop {
                self.transport.recv(&mut self.rbuf)?;
                let mut has_data = false;
                for m in messages(&self.rbuf) {
                    let m = m?;
                    if m.header.sequence_number != seq {
                        continue;
                    }
                    if m.header.flags & NLM_F_DUMP_INTR != 0 {
                        interrupted = true;
                    }
                    match m.body {
                        Body::Data(p) => {
                            has_data = true;
                            if interrupted || bad.is_some() {
                                continue;
                            }
                            match GenlMsg::parse(p).and_then(|g| decode(g.attrs)) {
                                Ok(v) => out.push(v),
                                Err(e) => bad = Some(e),
                            }
                        }
                        Body::Done { errno } if errno != 0 => return Err(Error::Kernel { errno }),
                        Body::Done { .. } | Body::Ack => {
                            data_datagrams += usize::from(has_data);
                            break 'parts;
                        }
                        Body::Error { errno } => return Err(Error::Kernel { errno }),
                        Body::Control(_) => {}
                    }
                }
                data_datagrams += usize::from(has_data);
            }
            if interrupted {
                previous = None;
                continue;
            }
            if let Some(e) = bad {
                return Err(e.into());
            }
            // One datagram was filled at once, under the kernel's lock:
            // nothing to check (most destination dumps are one datagram,
            // and hashing their keys was a fifth of their decoding cost).
            if data_datagrams <= 1 {
                return Ok(out);
            }
            // Several: the sequence of keys, as a running hash and a count.
            // A repeated key means the dump raced a writer; on the last
            // attempt the repeat is dropped instead (see below).
            let mut keys = hasher.build_hasher();
            let mut key_count = 0usize;
            let mut repeated = false;
            seen.clear();
            out.retain(|v| match key(v).map(|k| hasher.hash_one(k)) {
                Some(h) if !seen.insert(h) => {
                    repeated = true;
                    false
                }
                Some(h) => {
                    keys.write_u64(h);
                    key_count += 1;
                    true
                }
                None => true,
            });
            if repeated && !last {
                previous = None;
                continue;
            }
            let reading = (keys.finish(), key_count);
            // Several datagrams must agree twice. The last attempt is
            // taken as it is, repeats dropped: a writer that never pauses
            // for the whole retry budget leaves no two readings alike, and
            // a listing must still come out (at worst missing an entry
            // changed meanwhile, as ipvsadm's would; never with one twice).
            // docs/compat.md row 22.
            if key_count == 0 || previous == Some(reading) || last {
                return Ok(out);
            }
            previous = Some(reading);
        }
        Err(Error::DumpInterrupted {
            attempts: MAX_DUMP_ATTEMPTS,
        })
    }

    /// IPVS version and connection table size (`GET_INFO`).
    pub fn info(&mut self) -> Result<Info> {
        let seq = self.send_request(&IpvsRequest::GetInfo)?;
        one(self.await_reply(seq, ipvs::decode_info)?, "GET_INFO")
    }

    /// Every service, in kernel order (`GET_SERVICE` dump).
    ///
    /// IPVS dumps resume by position in the kernel's tables, which are
    /// shared by all namespaces, and the kernel does not flag a dump that
    /// another writer changed meanwhile: an entry can then come twice. Such
    /// a dump is done again (see [`Client::dump_keyed`]), so a listing is
    /// never torn; [`Error::DumpInterrupted`] if it never settles.
    pub fn services(&mut self) -> Result<Vec<Service>> {
        self.dump_keyed(IpvsRequest::GetServices, ipvs::decode_service, |s| {
            Some(s.key)
        })
    }

    /// Every service, in kernel order, each turned into `T` as soon as it
    /// is decoded: a caller that keeps less than a whole [`Service`] (a
    /// listing of thousands) never holds them all at once. If the dump is
    /// redone, `f` sees the services again and the first results are
    /// dropped. Like [`Client::services`], a dump that reports a service
    /// twice is redone.
    pub fn services_with<T>(&mut self, mut f: impl FnMut(Service) -> T) -> Result<Vec<T>> {
        let all = self.services_keyed(|s| (s.key, f(s)), |(key, _)| *key)?;
        Ok(all.into_iter().map(|(_, t)| t).collect())
    }

    /// As [`Client::services_with`], for a `T` that keeps the service's
    /// key, which `key` gives back: nothing else is held per service.
    pub fn services_keyed<T>(
        &mut self,
        mut f: impl FnMut(Service) -> T,
        key: impl Fn(&T) -> ServiceKey,
    ) -> Result<Vec<T>> {
        self.dump_keyed(
            IpvsRequest::GetServices,
            |a| ipvs::decode_service(a).map(&mut f),
            |t| Some(key(t)),
        )
    }

    /// The kernel's current version of one service, found by its key
    /// (`GET_SERVICE` doit, as ipvsadm sends it); `ESRCH` if absent.
    pub fn service(&mut self, svc: &Service) -> Result<Service> {
        let seq = self.send_request(&IpvsRequest::GetService(&svc.key))?;
        one(self.await_reply(seq, ipvs::decode_service)?, "GET_SERVICE")
    }

    /// The destinations of a service, in kernel order (`GET_DEST` dump;
    /// an unknown service gives an empty list).
    /// Like [`Client::services`], a dump that reports a destination twice
    /// (it raced a writer) is redone.
    pub fn dests(&mut self, svc: &Service) -> Result<Vec<Dest>> {
        let family = svc.key.family();
        self.dump_keyed(
            IpvsRequest::GetDests(&svc.key),
            |a| ipvs::decode_dest(a, family),
            |d| Some((d.addr, d.port)),
        )
    }

    /// The whole table: every service, in kernel order, each with its
    /// destinations (one service dump, then one destination dump per
    /// service). For listings of thousands of services, the ipvsadm front
    /// end streams instead (`services::fetch`).
    pub fn table(&mut self) -> Result<Vec<ServiceEntry>> {
        let services = self.services()?;
        let mut table = Vec::with_capacity(services.len());
        for service in services {
            let dests = self.dests(&service)?;
            table.push(ServiceEntry { service, dests });
        }
        Ok(table)
    }

    /// Adds a service (`NEW_SERVICE`).
    pub fn add_service(&mut self, svc: &Service) -> Result<()> {
        self.ack(IpvsRequest::NewService(svc))
    }

    /// Replaces a service's settings (`SET_SERVICE`).
    pub fn edit_service(&mut self, svc: &Service) -> Result<()> {
        self.ack(IpvsRequest::SetService(svc))
    }

    /// Deletes a service and its destinations (`DEL_SERVICE`).
    pub fn del_service(&mut self, svc: &Service) -> Result<()> {
        self.ack(IpvsRequest::DelService(svc))
    }

    /// Adds a destination (`NEW_DEST`).
    pub fn add_dest(&mut self, svc: &Service, dest: &Dest) -> Result<()> {
        self.ack(IpvsRequest::NewDest(svc, dest))
    }

    /// Replaces a destination's settings (`SET_DEST`).
    pub fn edit_dest(&mut self, svc: &Service, dest: &Dest) -> Result<()> {
        self.ack(IpvsRequest::SetDest(svc, dest))
    }

    /// Deletes a destination (`DEL_DEST`).
    pub fn del_dest(&mut self, svc: &Service, dest: &Dest) -> Result<()> {
        self.ack(IpvsRequest::DelDest(svc, dest))
    }

    /// Deletes every service (`FLUSH`).
    pub fn flush(&mut self) -> Result<()> {
        self.ack(IpvsRequest::Flush)
    }

    /// Zeroes the counters of one service, or of everything (`ZERO`).
    pub fn zero(&mut self, svc: Option<&Service>) -> Result<()> {
        self.ack(IpvsRequest::Zero(svc))
    }

    /// The connection timeouts (`GET_CONFIG`).
    pub fn timeouts(&mut self) -> Result<Timeouts> {
        let seq = self.send_request(&IpvsRequest::GetConfig)?;
        one(self.await_reply(seq, ipvs::decode_timeouts)?, "GET_CONFIG")
    }

    /// Sets the connection timeouts; zero values are left unchanged
    /// (`SET_CONFIG`).
    pub fn set_timeouts(&mut self, t: &Timeouts) -> Result<()> {
        self.ack(IpvsRequest::SetConfig(t))
    }

    /// The running sync daemons (`GET_DAEMON` dump).
    pub fn daemons(&mut self) -> Result<Vec<Daemon>> {
        self.dump(IpvsRequest::GetDaemons, ipvs::decode_daemon)
    }

    /// Starts a sync daemon (`NEW_DAEMON`).
    pub fn start_daemon(&mut self, d: &Daemon) -> Result<()> {
        self.ack(IpvsRequest::NewDaemon(d))
    }

    /// Stops a sync daemon (`DEL_DAEMON`; ipvsadm passes an empty
    /// interface name).
    pub fn stop_daemon(&mut self, d: &Daemon) -> Result<()> {
        self.ack(IpvsRequest::DelDaemon(d))
    }

    /// Runs one write operation.
    pub fn execute(&mut self, req: &Request) -> Result<()> {
        self.ack(req.to_wire())
    }

    /// Runs many write operations with as few datagrams as the limits
    /// allow. Each request keeps its own sequence number; the kernel
    /// processes a datagram's requests in order and goes on after a failed
    /// one. Returns one result per request, in order.
    ///
    /// Only the last request of a datagram carries `NLM_F_ACK`. The kernel
    /// answers a request without it only when it fails, and it queues its
    /// answers in order, so when the last request's acknowledgement (or
    /// error) arrives, every earlier request that has no error by then
    /// succeeded. That spares the kernel an acknowledgement to allocate
    /// and queue, and the client a receive, for each of thousands of
    /// restored lines: the floor of 22,000 requests went from 747 ms to
    /// 568 ms under qemu on 6.1 (docs/performance.md, runs D and E).
    ///
    /// If the answers overflow the socket's receive buffer (ENOBUFS: the
    /// kernel drops what does not fit and says so at the next receive),
    /// the errors that did arrive are kept, every other request of that
    /// datagram gets [`Error::AckLost`] (it may or may not have been
    /// applied), and later datagrams carry half as many requests.
    ///
    /// The outer error (I/O, malformed reply) means the outcome of the
    /// requests in flight is unknown.
    pub fn batch(&mut self, reqs: &[Request]) -> Result<Vec<Result<(), Error>>, Error> {
        let mut results: Vec<Option<Result<(), Error>>> = reqs.iter().map(|_| None).collect();
        let mut next = 0;
        while next < reqs.len() {
            self.sbuf.clear();
            let first_seq = self.seq.wrapping_add(1);
            // pending[k] is the index of the request sent with first_seq + k.
            let mut pending: Vec<usize> = Vec::new();
            // Where the last message sent starts in sbuf.
            let mut last_mark = 0;
            while let Some(req) = reqs.get(next) {
                if pending.len() >= self.max_batch_messages {
                    break;
                }
                let mark = self.sbuf.len();
                let seq = self.seq.wrapping_add(1);
                match req.to_wire().encode(&mut self.sbuf, self.family, seq, 0) {
                    Ok(_) => {
                        if self.sbuf.len() > self.max_batch_bytes && !pending.is_empty() {
                            self.sbuf.truncate(mark);
                            break;
                        }
                        set_ack_flag(&mut self.sbuf, mark, false);
                        self.seq = seq;
                        last_mark = mark;
                        pending.push(next);
                    }
                    Err(e) => {
                        if let Some(slot) = results.get_mut(next) {
                            *slot = Some(Err(e.into()));
                        }
                    }
                }
                next += 1;
            }
            if pending.is_empty() {
                continue;
            }
            set_ack_flag(&mut self.sbuf, last_mark, true);
            self.transport.send(&self.sbuf)?;
            let mut complete = false;
            let mut overflowed = false;
            while !complete {
                match self.transport.recv(&mut self.rbuf) {
                    Ok(()) => {
                        complete = take_answers(&self.rbuf, first_seq, &pending, &mut results)?;
                    }
                    Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                        // The kernel handled the whole datagram during the
                        // send, so every answer that survived is queued
                        // now: collect them.
                        while self.transport.try_recv(&mut self.rbuf)? {
                            take_answers(&self.rbuf, first_seq, &pending, &mut results)?;
                        }
                        overflowed = true;
                        self.max_batch_messages = (pending.len() / 2).max(1);
                        break;
                    }
                    Err(e) => return Err(e.into()),
                }
            }
            // Without an answer: succeeded, or unknown after an overflow.
            for &idx in &pending {
                if let Some(slot @ None) = results.get_mut(idx) {
                    *slot = Some(if overflowed {
                        Err(Error::AckLost)
                    } else {
                        Ok(())
                    });
                }
            }
        }
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or(Err(Error::Decode(DecodeError::MissingReply("batch")))))
            .collect())
    }
}

/// Sets or clears `NLM_F_ACK` in the header of the message that starts at
/// `at` in `buf` (the flags are the u16 at offset 6).
fn set_ack_flag(buf: &mut [u8], at: usize, on: bool) {
    if let Some(f) = buf.get_mut(at + 6..at + 8) {
        let mut raw = [0u8; 2];
        raw.copy_from_slice(f);
        let flags = u16::from_ne_bytes(raw);
        let flags = if on {
            flags | NLM_F_ACK
        } else {
            flags & !NLM_F_ACK
        };
        f.copy_from_slice(&flags.to_ne_bytes());
    }
}

/// Records the acknowledgements and errors in `datagram` that answer a
/// batch sent with sequence numbers from `first_seq` (`pending[k]` is the
/// index of the request sent with `first_seq + k`); true once the last
/// request has its answer (the batch is then complete).
fn take_answers(
    datagram: &[u8],
    first_seq: u32,
    pending: &[usize],
    results: &mut [Option<Result<(), Error>>],
) -> Result<bool> {
    let mut complete = false;
    for m in messages(datagram) {
        let m = m?;
        let offset = m.header.sequence_number.wrapping_sub(first_seq) as usize;
        let Some(&idx) = pending.get(offset) else {
            continue;
        };
        let r = match m.body {
            Body::Ack => Ok(()),
            Body::Error { errno } => Err(Error::Kernel { errno }),
            _ => continue,
        };
        if let Some(slot @ None) = results.get_mut(idx) {
            *slot = Some(r);
        }
        complete |= offset + 1 == pending.len();
    }
    Ok(complete)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DaemonState, Family, FwdMethod, Protocol, ServiceKey, Stats};
    use crate::wire::ipvs::{
        encode_daemon_reply, encode_dest_reply, encode_info_reply, encode_service_reply,
        encode_timeouts_reply, Cmd, ReplyHeader,
    };
    use crate::wire::netlink::{
        encode_done, encode_error, encode_family_reply, header_of, NetlinkHeader, GENL_ID_CTRL,
        NLM_F_MULTI,
    };
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    const FAM: u16 = 0x1c;

    type Responder = Box<dyn FnMut(&Parsed) -> Vec<Vec<u8>> + Send>;

    /// One request message as the fake kernel saw it.
    #[derive(Debug, Clone)]
    struct Parsed {
        header: NetlinkHeader,
        cmd: u8,
        bytes: Vec<u8>,
    }

    /// A scripted kernel: answers the controller itself and hands every
    /// IPVS request to `responder`, which returns the datagrams to queue.
    struct Fake {
        responder: Responder,
        /// Sequence numbers of requests sent without `NLM_F_ACK`.
        no_ack: std::collections::HashSet<u32>,
        queue: Arc<Mutex<VecDeque<Vec<u8>>>>,
        sent: Arc<Mutex<Vec<Vec<u8>>>>,
        ctrl_errno: i32,
        batch_messages: usize,
    }

    /// `d` without the acknowledgements (errno 0) of the sequence numbers
    /// in `no_ack`; `None` if nothing is left (an empty datagram stands for
    /// an overflow, so it is kept).
    fn strip_unasked_acks(d: Vec<u8>, no_ack: &std::collections::HashSet<u32>) -> Option<Vec<u8>> {
        if d.is_empty() {
            return Some(d);
        }
        let mut out = Vec::new();
        let mut rest = &d[..];
        while let Some(h) = header_of(rest) {
            let len = (h.length as usize).min(rest.len());
            let msg = &rest[..len];
            let is_ack = messages(msg).any(|m| matches!(m.map(|m| m.body), Ok(Body::Ack)));
            if !(is_ack && no_ack.contains(&h.sequence_number)) {
                out.extend_from_slice(msg);
                out.resize(crate::wire::netlink::align(out.len()), 0);
            }
            rest = &rest[crate::wire::netlink::align(len).min(rest.len())..];
        }
        // What does not parse is passed on as it is.
        out.extend_from_slice(rest);
        (!out.is_empty()).then_some(out)
    }

    impl Transport for Fake {
        fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
            self.sent.lock().unwrap().push(datagram.to_vec());
            let mut rest = datagram;
            while let Some(h) = header_of(rest) {
                let len = h.length as usize;
                let bytes = rest[..len].to_vec();
                rest = &rest[crate::wire::netlink::align(len).min(rest.len())..];
                let cmd = bytes[16];
                if h.message_type == GENL_ID_CTRL {
                    let mut d = Vec::new();
                    if self.ctrl_errno == 0 {
                        encode_family_reply(&mut d, h.sequence_number, h.port_number, "IPVS", FAM)
                            .unwrap();
                        encode_error(&mut d, &h, 0);
                    } else {
                        encode_error(&mut d, &h, self.ctrl_errno);
                    }
                    self.queue.lock().unwrap().push_back(d);
                } else {
                    assert_eq!(h.message_type, FAM);
                    let p = Parsed {
                        header: h,
                        cmd,
                        bytes,
                    };
                    if h.flags & NLM_F_ACK == 0 {
                        self.no_ack.insert(h.sequence_number);
                    }
                    let out = (self.responder)(&p);
                    // As the kernel: no acknowledgement unless asked for
                    // (responders answer every request alike).
                    for d in out {
                        let d = strip_unasked_acks(d, &self.no_ack);
                        if let Some(d) = d {
                            self.queue.lock().unwrap().push_back(d);
                        }
                    }
                }
            }
            Ok(())
        }

        fn recv(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
            let next = self.queue.lock().unwrap().pop_front();
            match next {
                // An empty datagram stands for a receive buffer overflow.
                Some(d) if d.is_empty() => Err(io::Error::from_raw_os_error(libc::ENOBUFS)),
                Some(d) => {
                    *buf = d;
                    Ok(())
                }
                None => Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "fake: nothing queued",
                )),
            }
        }

        fn try_recv(&mut self, buf: &mut Vec<u8>) -> io::Result<bool> {
            if self.queue.lock().unwrap().is_empty() {
                return Ok(false);
            }
            self.recv(buf).map(|()| true)
        }

        fn max_batch_messages(&self) -> usize {
            self.batch_messages
        }
    }

    fn fake(responder: Responder) -> (Client, Arc<Mutex<Vec<Vec<u8>>>>) {
        let sent = Arc::new(Mutex::new(Vec::new()));
        let f = Fake {
            responder,
            no_ack: Default::default(),
            queue: Arc::default(),
            sent: sent.clone(),
            ctrl_errno: 0,
            batch_messages: 1000,
        };
        (Client::with_transport(Box::new(f)).unwrap(), sent)
    }

    fn ack(p: &Parsed) -> Vec<u8> {
        let mut d = Vec::new();
        encode_error(&mut d, &p.header, 0);
        d
    }

    fn nack(p: &Parsed, errno: i32) -> Vec<u8> {
        let mut d = Vec::new();
        encode_error(&mut d, &p.header, errno);
        d
    }

    fn multi(p: &Parsed) -> ReplyHeader {
        ReplyHeader {
            family: FAM,
            flags: NLM_F_MULTI,
            seq: p.header.sequence_number,
            pid: p.header.port_number,
        }
    }

    fn single(p: &Parsed) -> ReplyHeader {
        ReplyHeader {
            flags: 0,
            ..multi(p)
        }
    }

    fn done(p: &Parsed, flags: u16) -> Vec<u8> {
        let mut d = Vec::new();
        encode_done(
            &mut d,
            p.header.sequence_number,
            p.header.port_number,
            flags,
            0,
        );
        d
    }

    fn svc(n: u8) -> Service {
        let mut s = Service::new(ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: format!("10.0.0.{n}").parse().unwrap(),
            port: 80,
        });
        s.scheduler = "wlc".into();
        s.stats = Some(Box::new(Stats {
            conns: u64::from(n) << 33,
            ..Stats::default()
        }));
        s
    }

    fn expected(req: IpvsRequest<'_>, seq: u32) -> Vec<u8> {
        let mut v = Vec::new();
        req.encode(&mut v, FAM, seq, 0).unwrap();
        v
    }

    #[test]
    fn open_resolves_family_once() {
        let (c, sent) = fake(Box::new(|_| panic!("no IPVS request expected")));
        assert_eq!(c.family_id(), FAM);
        let sent = sent.lock().unwrap();
        assert_eq!(sent.len(), 1);
        let mut want = Vec::new();
        encode_get_family(&mut want, 1, 0, "IPVS").unwrap();
        assert_eq!(sent[0], want);
    }

    #[test]
    fn sibling_reuses_the_family_or_fails_cleanly() {
        // The scripted kernel cannot open a second transport.
        let (c, _) = fake(Box::new(|_| Vec::new()));
        match c.sibling() {
            Err(Error::Io(e)) => assert_eq!(e.kind(), io::ErrorKind::Unsupported),
            other => panic!("{other:?}"),
        }
        // A client for a known family asks the controller nothing.
        let sent = Arc::new(Mutex::new(Vec::new()));
        let f = Fake {
            no_ack: Default::default(),
            responder: Box::new(|p| vec![ack(p)]),
            queue: Arc::default(),
            sent: sent.clone(),
            ctrl_errno: 0,
            batch_messages: 10,
        };
        let mut c = Client::with_family(Box::new(f), FAM);
        assert_eq!(c.family_id(), FAM);
        c.flush().unwrap();
        let sent = sent.lock().unwrap();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0], expected(IpvsRequest::Flush, 1));
    }

    #[test]
    fn family_not_found_and_other_controller_errors() {
        for (errno, not_found) in [(libc::ENOENT, true), (libc::EPERM, false)] {
            let f = Fake {
                no_ack: Default::default(),
                responder: Box::new(|_| Vec::new()),
                queue: Arc::default(),
                sent: Arc::default(),
                ctrl_errno: errno,
                batch_messages: 10,
            };
            match Client::with_transport(Box::new(f)) {
                Err(Error::FamilyNotFound) => assert!(not_found),
                Err(Error::Kernel { errno: e }) => {
                    assert!(!not_found);
                    assert_eq!(e, errno);
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn info_ignores_stray_messages() {
        let (mut c, sent) = fake(Box::new(|p| {
            assert_eq!(p.cmd, Cmd::GetInfo.to_raw());
            let mut stray = Vec::new();
            let other = ReplyHeader {
                seq: p.header.sequence_number.wrapping_add(100),
                ..single(p)
            };
            let bogus = Info {
                version: 1,
                conn_tab_size: 1,
            };
            encode_info_reply(&mut stray, &other, &bogus).unwrap();
            let mut d = Vec::new();
            let info = Info {
                version: 0x010201,
                conn_tab_size: 4096,
            };
            encode_info_reply(&mut d, &single(p), &info).unwrap();
            // A stray datagram, then reply and ack in one datagram.
            d.extend(ack(p));
            vec![stray, d]
        }));
        let i = c.info().unwrap();
        assert_eq!((i.version, i.conn_tab_size), (0x010201, 4096));
        assert_eq!(sent.lock().unwrap()[1], expected(IpvsRequest::GetInfo, 2));
    }

    #[test]
    fn reply_without_data_is_a_decode_error() {
        let (mut c, _) = fake(Box::new(|p| vec![ack(p)]));
        assert!(matches!(
            c.timeouts(),
            Err(Error::Decode(DecodeError::MissingReply("GET_CONFIG")))
        ));
    }

    #[test]
    fn timeouts_round_trip() {
        let t = Timeouts {
            tcp: 900,
            tcp_fin: 120,
            udp: 300,
        };
        let (mut c, sent) = fake(Box::new(move |p| {
            let mut d = Vec::new();
            if p.cmd == Cmd::GetConfig.to_raw() {
                encode_timeouts_reply(&mut d, &single(p), &t).unwrap();
            }
            d.extend(ack(p));
            vec![d]
        }));
        assert_eq!(c.timeouts().unwrap(), t);
        c.set_timeouts(&t).unwrap();
        let sent = sent.lock().unwrap();
        assert_eq!(sent[1], expected(IpvsRequest::GetConfig, 2));
        assert_eq!(sent[2], expected(IpvsRequest::SetConfig(&t), 3));
    }

    /// A raced dump: services 1, 2, then (after a writer shifted the
    /// table) 2 again and 3.
    fn raced_then(p: &Parsed, attempt: u32, settles_at: u32) -> Vec<Vec<u8>> {
        let mut first = Vec::new();
        for n in [1u8, 2] {
            encode_service_reply(&mut first, &multi(p), &svc(n)).unwrap();
        }
        let mut second = Vec::new();
        let rest: &[u8] = if attempt >= settles_at {
            &[3, 4]
        } else {
            &[2, 3]
        };
        for &n in rest {
            encode_service_reply(&mut second, &multi(p), &svc(n)).unwrap();
        }
        vec![first, second, done(p, 0)]
    }

    #[test]
    fn a_service_reported_twice_by_a_raced_dump_is_dumped_again() {
        let mut attempt = 0;
        let (mut c, sent) = fake(Box::new(move |p| {
            attempt += 1;
            raced_then(p, attempt, 3)
        }));
        let got = c.services().unwrap();
        assert_eq!(got, (1..=4).map(svc).collect::<Vec<_>>());
        // Two raced attempts, then two that agree.
        assert_eq!(sent.lock().unwrap().len(), 1 + 4);

        let mut attempt = 0;
        let (mut c, _) = fake(Box::new(move |p| {
            attempt += 1;
            raced_then(p, attempt, 2)
        }));
        let mut calls = 0;
        let keys = c
            .services_with(|s| {
                calls += 1;
                s.key
            })
            .unwrap();
        assert_eq!(keys, (1..=4).map(|n| svc(n).key).collect::<Vec<_>>());
        // The first attempt's services were all seen (a repeat is looked
        // for once the dump is complete), then dropped. Then two attempts
        // that agree.
        assert_eq!(calls, 4 + 4 + 4);
    }

    #[test]
    fn a_service_missed_by_a_raced_dump_is_caught_by_the_second_reading() {
        // The first attempt skips service 3 (a writer deleted an entry
        // before the dump's position between its two datagrams): no
        // repeat shows it, but the next attempt differs.
        let mut attempt = 0;
        let (mut c, sent) = fake(Box::new(move |p| {
            attempt += 1;
            let mut first = Vec::new();
            for n in [1u8, 2] {
                encode_service_reply(&mut first, &multi(p), &svc(n)).unwrap();
            }
            let mut second = Vec::new();
            let rest: &[u8] = if attempt == 1 { &[4] } else { &[3, 4] };
            for &n in rest {
                encode_service_reply(&mut second, &multi(p), &svc(n)).unwrap();
            }
            vec![first, second, done(p, 0)]
        }));
        assert_eq!(c.services().unwrap(), (1..=4).map(svc).collect::<Vec<_>>());
        assert_eq!(sent.lock().unwrap().len(), 1 + 3);
    }

    #[test]
    fn a_dump_in_one_datagram_is_read_once() {
        let (mut c, sent) = fake(Box::new(|p| {
            let mut d = Vec::new();
            for n in [1u8, 2, 3] {
                encode_service_reply(&mut d, &multi(p), &svc(n)).unwrap();
            }
            encode_done(&mut d, p.header.sequence_number, 0, 0, 0);
            vec![d]
        }));
        assert_eq!(c.services().unwrap().len(), 3);
        assert_eq!(sent.lock().unwrap().len(), 1 + 1);
    }

    #[test]
    fn a_dump_that_never_settles_gives_its_last_reading_without_repeats() {
        let (mut c, sent) = fake(Box::new(|p| raced_then(p, 0, 1000)));
        let got = c.services().unwrap();
        let mut keys: Vec<_> = got.iter().map(|s| s.key).collect();
        let n = keys.len();
        keys.sort_by_key(|k| format!("{k:?}"));
        keys.dedup();
        assert_eq!(keys.len(), n, "no service twice");
        assert!(n > 0);
        assert_eq!(sent.lock().unwrap().len(), 1 + MAX_DUMP_ATTEMPTS as usize);
        let (mut c, _) = fake(Box::new(|p| raced_then(p, 0, 1000)));
        assert_eq!(c.services_with(|s| s.key).unwrap().len(), n);
    }

    #[test]
    fn a_destination_reported_twice_makes_the_dest_dump_redone() {
        // A dump over two datagrams that raced a writer: the first attempt
        // repeats port 80 in its second datagram; the next two agree.
        let mut attempt = 0;
        let (mut c, sent) = fake(Box::new(move |p| {
            attempt += 1;
            let parts: &[&[u16]] = if attempt == 1 {
                &[&[80, 81], &[80]]
            } else {
                &[&[80], &[81]]
            };
            let mut out = Vec::new();
            for ports in parts {
                let mut d = Vec::new();
                for &port in *ports {
                    encode_dest_reply(
                        &mut d,
                        &multi(p),
                        &Dest::new("10.1.1.1".parse().unwrap(), port),
                    )
                    .unwrap();
                }
                out.push(d);
            }
            out.push(done(p, 0));
            out
        }));
        let got = c.dests(&svc(1)).unwrap();
        assert_eq!(got.iter().map(|d| d.port).collect::<Vec<_>>(), vec![80, 81]);
        assert_eq!(sent.lock().unwrap().len(), 1 + 3);
    }

    #[test]
    fn services_dump_over_several_datagrams() {
        let (mut c, sent) = fake(Box::new(|p| {
            assert_eq!(p.header.flags, 0x305);
            let mut out = Vec::new();
            for pair in [[1u8, 2], [3, 4]] {
                let mut d = Vec::new();
                for n in pair {
                    encode_service_reply(&mut d, &multi(p), &svc(n)).unwrap();
                }
                out.push(d);
            }
            out.push(done(p, 0));
            out
        }));
        let got = c.services().unwrap();
        assert_eq!(got, (1..=4).map(svc).collect::<Vec<_>>());
        assert_eq!(got[3].stats.as_ref().unwrap().conns, 4 << 33);
        assert_eq!(
            sent.lock().unwrap()[1],
            expected(IpvsRequest::GetServices, 2)
        );
    }

    #[test]
    fn services_with_maps_each_service() {
        let (mut c, _) = fake(Box::new(|p| {
            let mut d = Vec::new();
            for n in [3u8, 1, 2] {
                encode_service_reply(&mut d, &multi(p), &svc(n)).unwrap();
            }
            vec![d, done(p, 0)]
        }));
        let got = c.services_with(|s| s.key).unwrap();
        assert_eq!(got, [3, 1, 2].map(|n| svc(n).key));
    }

    #[test]
    fn interrupted_dump_is_redone() {
        let mut attempt = 0;
        let (mut c, sent) = fake(Box::new(move |p| {
            attempt += 1;
            let mut d = Vec::new();
            let mut h = multi(p);
            if attempt == 1 {
                h.flags |= NLM_F_DUMP_INTR;
                encode_service_reply(&mut d, &h, &svc(9)).unwrap();
            } else {
                encode_service_reply(&mut d, &h, &svc(1)).unwrap();
            }
            vec![d, done(p, 0)]
        }));
        assert_eq!(c.services().unwrap(), vec![svc(1)]);
        let sent = sent.lock().unwrap();
        assert_eq!(sent.len(), 3);
        assert_eq!(sent[2], expected(IpvsRequest::GetServices, 3));
    }

    #[test]
    fn interrupted_dump_gives_up() {
        let (mut c, sent) = fake(Box::new(|p| vec![done(p, NLM_F_DUMP_INTR)]));
        let e = c.daemons().unwrap_err();
        assert!(matches!(e, Error::DumpInterrupted { attempts } if attempts == MAX_DUMP_ATTEMPTS));
        assert_eq!(e.errno(), Some(libc::EINTR));
        assert_eq!(sent.lock().unwrap().len(), 1 + MAX_DUMP_ATTEMPTS as usize);
    }

    #[test]
    fn dump_errors() {
        let (mut c, _) = fake(Box::new(|p| vec![nack(p, libc::EPERM)]));
        let e = c.services().unwrap_err();
        assert!(matches!(e, Error::Kernel { errno } if errno == libc::EPERM));
        assert_eq!(e.errno(), Some(libc::EPERM));

        let (mut c, _) = fake(Box::new(|p| {
            let mut d = Vec::new();
            encode_done(&mut d, p.header.sequence_number, 0, 0, libc::EMSGSIZE);
            vec![d]
        }));
        assert_eq!(c.services().unwrap_err().errno(), Some(libc::EMSGSIZE));
    }

    #[test]
    fn dump_with_bad_part_reads_to_the_end() {
        let queue: Arc<Mutex<VecDeque<Vec<u8>>>> = Arc::default();
        let f = Fake {
            no_ack: Default::default(),
            responder: Box::new(|p| {
                let mut d = Vec::new();
                // A part without the SERVICE nest, then a good one.
                crate::wire::ipvs::IpvsMessage {
                    cmd: Cmd::NewService,
                    attrs: Vec::new(),
                }
                .append_to(&mut d, FAM, NLM_F_MULTI, p.header.sequence_number, 0)
                .unwrap();
                encode_service_reply(&mut d, &multi(p), &svc(1)).unwrap();
                vec![d, done(p, 0)]
            }),
            queue: queue.clone(),
            sent: Arc::default(),
            ctrl_errno: 0,
            batch_messages: 10,
        };
        let mut c = Client::with_transport(Box::new(f)).unwrap();
        assert!(matches!(
            c.services(),
            Err(Error::Decode(DecodeError::MissingAttribute { .. }))
        ));
        // Everything up to NLMSG_DONE was read.
        assert!(queue.lock().unwrap().is_empty());
    }

    #[test]
    fn malformed_datagram_is_an_error() {
        let (mut c, _) = fake(Box::new(|_| vec![vec![1, 2, 3, 4, 5]]));
        assert!(matches!(
            c.flush(),
            Err(Error::Decode(DecodeError::Packet(_)))
        ));
    }

    #[test]
    fn dests_use_the_service_family() {
        let d = {
            let mut d = Dest::new("2001:db8::7".parse().unwrap(), 443);
            d.fwd = FwdMethod::Masq;
            d.active_conns = 3;
            d
        };
        let d2 = d.clone();
        let f6 = Service::new(ServiceKey::Fwmark {
            family: Family::Inet6,
            mark: 5,
        });
        let (mut c, sent) = fake(Box::new(move |p| {
            assert_eq!(p.cmd, Cmd::GetDest.to_raw());
            let mut d = Vec::new();
            encode_dest_reply(&mut d, &multi(p), &d2).unwrap();
            // Drop ADDR_FAMILY (the last attribute before the counters
            // is ADDR_FAMILY; without stats it is the last one).
            let n = d.len();
            d.truncate(n - 8);
            let len = (n - 8) as u32;
            d[..4].copy_from_slice(&len.to_ne_bytes());
            let nest = (len - 20) as u16;
            d[20..22].copy_from_slice(&nest.to_ne_bytes());
            d.extend(done(p, 0));
            vec![d]
        }));
        assert_eq!(c.dests(&f6).unwrap(), vec![d]);
        assert_eq!(
            sent.lock().unwrap()[1],
            expected(IpvsRequest::GetDests(&f6.key), 2)
        );
    }

    #[test]
    fn one_service_by_key() {
        let mut asked = svc(7);
        asked.scheduler = "rr".into();
        asked.timeout = 300;
        let (mut c, sent) = fake(Box::new(|p| {
            let mut d = Vec::new();
            encode_service_reply(&mut d, &single(p), &svc(7)).unwrap();
            vec![d, ack(p)]
        }));
        assert_eq!(c.service(&asked).unwrap(), svc(7));
        assert_eq!(
            sent.lock().unwrap()[1],
            expected(IpvsRequest::GetService(&asked.key), 2)
        );
    }

    #[test]
    fn write_operations_send_ipvsadm_requests_and_carry_errno() {
        let (mut c, sent) = fake(Box::new(|p| {
            if p.cmd == Cmd::DelService.to_raw() {
                vec![nack(p, libc::ESRCH)]
            } else {
                vec![ack(p)]
            }
        }));
        let s = svc(1);
        let d = Dest::new("10.1.1.1".parse().unwrap(), 80);
        let dm = Daemon {
            state: DaemonState::Master,
            mcast_ifn: "eth0".into(),
            syncid: 1,
            sync_maxlen: 0,
            mcast_group: None,
            mcast_port: 0,
            mcast_ttl: 0,
        };
        c.add_service(&s).unwrap();
        c.edit_service(&s).unwrap();
        let e = c.del_service(&s).unwrap_err();
        assert_eq!(e.errno(), Some(libc::ESRCH));
        c.add_dest(&s, &d).unwrap();
        c.edit_dest(&s, &d).unwrap();
        c.del_dest(&s, &d).unwrap();
        c.zero(None).unwrap();
        c.zero(Some(&s)).unwrap();
        c.flush().unwrap();
        c.start_daemon(&dm).unwrap();
        c.stop_daemon(&dm).unwrap();
        c.execute(&Request::Flush).unwrap();
        let want = [
            IpvsRequest::NewService(&s),
            IpvsRequest::SetService(&s),
            IpvsRequest::DelService(&s),
            IpvsRequest::NewDest(&s, &d),
            IpvsRequest::SetDest(&s, &d),
            IpvsRequest::DelDest(&s, &d),
            IpvsRequest::Zero(None),
            IpvsRequest::Zero(Some(&s)),
            IpvsRequest::Flush,
            IpvsRequest::NewDaemon(&dm),
            IpvsRequest::DelDaemon(&dm),
            IpvsRequest::Flush,
        ];
        let sent = sent.lock().unwrap();
        assert_eq!(sent.len(), 1 + want.len());
        for (i, w) in want.iter().enumerate() {
            assert_eq!(sent[i + 1], expected(*w, i as u32 + 2), "{w:?}");
        }
    }

    #[test]
    fn daemons_dump() {
        let dm = Daemon {
            state: DaemonState::Backup,
            mcast_ifn: "eth1".into(),
            syncid: 4,
            sync_maxlen: 1452,
            mcast_group: Some("224.0.0.81".parse().unwrap()),
            mcast_port: 8848,
            mcast_ttl: 1,
        };
        let dm2 = dm.clone();
        let (mut c, _) = fake(Box::new(move |p| {
            let mut d = Vec::new();
            encode_daemon_reply(&mut d, &multi(p), &dm2).unwrap();
            encode_done(&mut d, p.header.sequence_number, 0, 0, 0);
            vec![d]
        }));
        assert_eq!(c.daemons().unwrap(), vec![dm]);
    }

    fn batch_reqs() -> Vec<Request> {
        let s = svc(1);
        vec![
            Request::AddService(s.clone()),
            Request::AddDest(s.clone(), Dest::new("10.1.1.1".parse().unwrap(), 80)),
            Request::AddDest(s.clone(), Dest::new("10.1.1.2".parse().unwrap(), 80)),
            Request::EditService(s.clone()),
            Request::Zero(None),
        ]
    }

    #[test]
    fn batch_in_one_datagram_with_a_failure_in_the_middle() {
        let (mut c, sent) = fake(Box::new(|p| {
            if p.bytes.windows(4).any(|w| w == [10, 1, 1, 2]) {
                vec![nack(p, libc::EEXIST)]
            } else {
                vec![ack(p)]
            }
        }));
        let reqs = batch_reqs();
        let res = c.batch(&reqs).unwrap();
        let errnos: Vec<Option<i32>> = res
            .iter()
            .map(|r| r.as_ref().err().map(|e| e.errno().unwrap()))
            .collect();
        assert_eq!(errnos, vec![None, None, Some(libc::EEXIST), None, None]);
        let sent = sent.lock().unwrap();
        assert_eq!(sent.len(), 2, "one datagram for the whole batch");
        // Only the last request asks for an acknowledgement.
        let mut want = Vec::new();
        for (i, r) in reqs.iter().enumerate() {
            let mark = want.len();
            r.to_wire().encode(&mut want, FAM, i as u32 + 2, 0).unwrap();
            set_ack_flag(&mut want, mark, i + 1 == reqs.len());
        }
        assert_eq!(sent[1], want);
        let acks: Vec<bool> = messages(&sent[1])
            .map(|m| m.unwrap().header.flags & NLM_F_ACK != 0)
            .collect();
        assert_eq!(acks, vec![false, false, false, false, true]);
        // Sequence numbers go on after the batch.
        drop(sent);
        c.flush().unwrap();
    }

    #[test]
    fn batch_split_by_limits_and_acks_out_of_order() {
        // Acks come back in one datagram per request chunk, reversed, with
        // a stray ack of an old sequence number first.
        let (mut c, sent) = fake(Box::new(|p| vec![ack(p)]));
        let (mut c2, sent2) = {
            let mut held: Vec<Vec<u8>> = Vec::new();
            let sent = Arc::new(Mutex::new(Vec::new()));
            let f = Fake {
                no_ack: Default::default(),
                responder: Box::new(move |p| {
                    held.push(ack(p));
                    if held.len() == 2 {
                        let mut d = Vec::new();
                        let mut stray = p.header;
                        stray.sequence_number = 1;
                        encode_error(&mut d, &stray, libc::EINVAL);
                        for a in held.drain(..).rev() {
                            d.extend(a);
                        }
                        vec![d]
                    } else {
                        Vec::new()
                    }
                }),
                queue: Arc::default(),
                sent: sent.clone(),
                ctrl_errno: 0,
                batch_messages: 2,
            };
            (Client::with_transport(Box::new(f)).unwrap(), sent)
        };
        let mut reqs = batch_reqs();
        reqs.push(Request::Flush);
        // By bytes: every request alone.
        c.set_batch_limits(1, 100);
        assert!(c.batch(&reqs).unwrap().iter().all(|r| r.is_ok()));
        assert_eq!(sent.lock().unwrap().len(), 1 + reqs.len());
        // By message count from the transport: pairs.
        let res = c2.batch(&reqs).unwrap();
        assert!(res.iter().all(|r| r.is_ok()), "{res:?}");
        let sent2 = sent2.lock().unwrap();
        assert_eq!(sent2.len(), 1 + 3);
        assert_eq!(messages(&sent2[3]).count(), 2);
    }

    #[test]
    fn batch_acks_lost_to_a_receive_buffer_overflow_are_reported() {
        // The second and fourth requests fail; the kernel queues the first
        // error, drops the second and the final acknowledgement, and the
        // socket reports ENOBUFS before the queued error.
        let mut n = 0;
        let (mut c, _) = fake(Box::new(move |p| {
            n += 1;
            match n {
                1 => vec![Vec::new()],
                2 => vec![nack(p, libc::EEXIST)],
                _ => Vec::new(),
            }
        }));
        let before = c.max_batch_messages;
        let res = c.batch(&batch_reqs()).unwrap();
        assert_eq!(res[1].as_ref().unwrap_err().errno(), Some(libc::EEXIST));
        // The others may or may not have been applied, and say so.
        for r in [&res[0], &res[2], &res[3], &res[4]] {
            assert!(matches!(r, Err(Error::AckLost)), "{r:?}");
            assert_eq!(r.as_ref().unwrap_err().errno(), Some(libc::ENOBUFS));
        }
        // Later datagrams carry half as many requests.
        assert!(before > 6);
        assert_eq!(c.max_batch_messages, 2);
        // The client goes on: nothing stale is left to confuse it.
        let (mut c2, _) = fake(Box::new(|p| vec![ack(p)]));
        c2.flush().unwrap();
    }

    #[test]
    fn a_batch_is_complete_at_its_last_answer_even_an_error() {
        // Nothing but errors comes back: the last request's error ends
        // the batch, and the requests with no answer succeeded.
        let (mut c, sent) = fake(Box::new(|p| {
            if p.header.sequence_number % 2 == 0 {
                vec![nack(p, libc::ENOENT)]
            } else {
                vec![ack(p)]
            }
        }));
        let reqs = batch_reqs();
        let res = c.batch(&reqs).unwrap();
        let errnos: Vec<Option<i32>> = res
            .iter()
            .map(|r| r.as_ref().err().map(|e| e.errno().unwrap()))
            .collect();
        // Sequence numbers 2..=6 (1 resolved the family).
        assert_eq!(
            errnos,
            vec![
                Some(libc::ENOENT),
                None,
                Some(libc::ENOENT),
                None,
                Some(libc::ENOENT)
            ]
        );
        assert_eq!(sent.lock().unwrap().len(), 2);
        c.flush().unwrap();
    }

    #[test]
    fn batch_of_nothing() {
        let (mut c, sent) = fake(Box::new(|_| panic!()));
        assert!(c.batch(&[]).unwrap().is_empty());
        assert_eq!(sent.lock().unwrap().len(), 1);
    }

    #[test]
    fn batch_encoding_failure_is_per_request() {
        let (mut c, sent) = fake(Box::new(|p| vec![ack(p)]));
        let mut bad = svc(2);
        bad.scheduler = "x".repeat(70_000);
        let reqs = vec![
            Request::AddService(svc(1)),
            Request::AddService(bad),
            Request::AddService(svc(3)),
        ];
        let res = c.batch(&reqs).unwrap();
        assert!(res[0].is_ok() && res[2].is_ok());
        assert!(matches!(res[1], Err(Error::Encode(_))));
        let sent = sent.lock().unwrap();
        assert_eq!(messages(&sent[1]).count(), 2);
        let seqs: Vec<u32> = messages(&sent[1])
            .map(|m| m.unwrap().header.sequence_number)
            .collect();
        assert_eq!(seqs, vec![2, 3]);
    }

    #[test]
    fn errno_mapping() {
        assert_eq!(Error::Kernel { errno: 17 }.errno(), Some(17));
        assert_eq!(Error::Io(io::Error::from_raw_os_error(1)).errno(), Some(1));
        assert_eq!(Error::Io(io::Error::other("x")).errno(), None);
        assert_eq!(Error::FamilyNotFound.errno(), None);
        assert_eq!(
            Error::Kernel { errno: libc::ESRCH }.to_string(),
            "kernel error: No such process (os error 3)"
        );
    }

    /// The real socket against the real kernel: the controller resolves
    /// its own family, and a controller dump (many families, usually more
    /// than one datagram) ends with NLMSG_DONE.
    #[test]
    fn real_socket_talks_to_the_controller() {
        let Ok(mut s) = NetlinkSocket::open() else {
            eprintln!("no netlink socket here; skipped");
            return;
        };
        assert!(s.rcvbuf() > 0);
        let mut buf = Vec::new();
        encode_get_family(&mut buf, 7, 0, "nlctrl").unwrap();
        s.send(&buf).unwrap();
        let mut r = Vec::new();
        let mut id = None;
        let mut acked = false;
        while !acked {
            s.recv(&mut r).unwrap();
            for m in messages(&r) {
                let m = m.unwrap();
                assert_eq!(m.header.sequence_number, 7);
                match m.body {
                    Body::Data(p) => {
                        id = Some(decode_family_id(GenlMsg::parse(p).unwrap().attrs).unwrap())
                    }
                    Body::Ack => acked = true,
                    other => panic!("{other:?}"),
                }
            }
        }
        assert_eq!(id, Some(GENL_ID_CTRL));

        buf.clear();
        let dump = netlink_packet_generic::GenlMessage::from_payload(
            netlink_packet_generic::ctrl::GenlCtrl {
                cmd: netlink_packet_generic::ctrl::GenlCtrlCmd::GetFamily,
                nlas: Vec::new(),
            },
        );
        crate::wire::netlink::append(&mut buf, crate::wire::netlink::message(dump, 0x305, 8, 0))
            .unwrap();
        s.send(&buf).unwrap();
        let mut families = 0;
        'dump: loop {
            s.recv(&mut r).unwrap();
            for m in messages(&r) {
                match m.unwrap().body {
                    Body::Data(_) => families += 1,
                    Body::Done { errno: 0 } => break 'dump,
                    other => panic!("{other:?}"),
                }
            }
        }
        assert!(families >= 1);
    }

    /// On a machine without IPVS (like the development machine) opening
    /// fails with FamilyNotFound; with IPVS it succeeds.
    #[test]
    fn open_here() {
        match Client::open() {
            Ok(c) => assert_ne!(c.family_id(), 0),
            Err(Error::FamilyNotFound) => {}
            Err(Error::Io(e)) => eprintln!("no netlink here: {e}"),
            Err(e) => panic!("{e}"),
        }
    }
}
