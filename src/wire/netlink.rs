//! Netlink and generic-netlink framing, taken from the rust-netlink packet
//! crates: `netlink-packet-core` lays out and checks the `nlmsghdr`, the
//! attributes (alignment, `NLA_F_NESTED`), `NLMSG_ERROR` and `NLMSG_DONE`;
//! `netlink-packet-generic` the `genlmsghdr` and the controller (`nlctrl`)
//! messages that resolve a family name to its id.
//!
//! What is left here is the glue our client needs on top of them: a batch
//! is several serialized messages appended to one buffer ([`append`]), and
//! a received datagram is walked message by message ([`messages`]) into the
//! few cases the client distinguishes ([`Body`]), without copying payloads.

use std::num::NonZeroI32;

use netlink_packet_core::{
    DoneBuffer, DoneMessage, Emitable, ErrorBuffer, ErrorMessage, NetlinkBuffer, NetlinkMessage,
    NetlinkPayload, NetlinkSerializable, Nla, NlaBuffer, NlasIterator, Parseable, NLA_ALIGNTO,
    NLA_HEADER_SIZE,
};
use netlink_packet_generic::constants::{
    CTRL_ATTR_FAMILY_ID, CTRL_CMD_GETFAMILY, CTRL_CMD_NEWFAMILY,
};
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::{GenlHeader, GenlMessage};
use thiserror::Error;

pub use netlink_packet_core::NetlinkHeader;
pub use netlink_packet_core::{
    NLA_F_NESTED, NLMSG_DONE, NLMSG_ERROR, NLM_F_ACK, NLM_F_CAPPED, NLM_F_CREATE, NLM_F_DUMP,
    NLM_F_DUMP_INTR, NLM_F_EXCL, NLM_F_MULTIPART as NLM_F_MULTI, NLM_F_REQUEST,
};
pub use netlink_packet_generic::constants::GENL_ID_CTRL;

/// First message type of a netlink family (below it: control messages).
const NLMSG_MIN_TYPE: u16 = 0x10;
/// Length of the `nlmsghdr`.
const NLMSG_HDRLEN: usize = 16;

/// Rounds a length up to the 4-byte netlink alignment (the packet crates'
/// `nla_align!`).
pub fn align(len: usize) -> usize {
    netlink_packet_core::nla_align!(len)
}

// The crates emit a list of attributes (`Emitable for &[T]`) measuring each
// attribute twice, and emitting one measures it four times more; a nest's
// measure is a walk of its content, so each attribute of a request's
// nests was measured some twenty times, and encoding a restore's
// requests cost 3.7 times what it had (`cpu_bench batch`: 190 ns a
// request before the move to the crates, 690 after). These two do the
// same with each attribute measured once per call, framing every
// attribute with the crate's `NlaBuffer`.

/// The attributes of `buf`, walked as the crate's `NlasIterator` walks
/// them: `Err` at the first malformed one, then the end.
///
/// The listing decoders use this rather than the crate's iterator. A
/// destination reply holds some 45 attributes (its nest and both counter
/// nests), and through the iterator each was an out-of-line `next` and an
/// out-of-line `NlaBuffer::new_checked`: decoding one reply with counters
/// took 247 ns, against 129 ns for the hand-written decoder before the
/// move to the crates (a micro-benchmark of `decode_dest`, best of five),
/// and in the VM `-Ln` of 20,000 destinations used about 90 ms more CPU
/// than before the move. Here the checks `new_checked` makes (a whole
/// header; a length of at least the header and within the buffer) are the
/// two slice bounds, so each step inlines into the decoder's loop (139 to
/// 142 ns in the same micro-benchmark). The header is read through the
/// crate's `NlaBuffer`, and the step to the next attribute is the crate's
/// alignment; a unit test holds the walk to the crate's iterator.
pub fn nlas(buf: &[u8]) -> Nlas<'_> {
    Nlas { rest: buf }
}

/// The iterator of [`nlas`]: each attribute's type, value and buffer, or
/// `Err` once at a malformed attribute.
pub struct Nlas<'a> {
    rest: &'a [u8],
}

/// One attribute as [`nlas`] yields it: its type (without flags), its
/// value, and its buffer for the crate's parsers.
pub type NlaItem<'a> = (u16, &'a [u8], NlaBuffer<&'a [u8]>);

/// A malformed attribute met by [`nlas`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

impl<'a> Iterator for Nlas<'a> {
    type Item = Result<NlaItem<'a>, Malformed>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest;
        if rest.is_empty() {
            return None;
        }
        let item = rest.get(..NLA_HEADER_SIZE).and_then(|_| {
            let nla = NlaBuffer::new(rest);
            let len = usize::from(nla.length());
            let value = rest.get(NLA_HEADER_SIZE..len)?;
            self.rest = rest.get(align(len)..).unwrap_or_default();
            Some((nla.kind(), value, nla))
        });
        if item.is_none() {
            self.rest = &[];
        }
        Some(item.ok_or(Malformed))
    }
}

/// The emitted length of `nlas` (the crate's `buffer_len` of the slice).
pub fn nlas_len<T: Nla>(nlas: &[T]) -> usize {
    nlas.iter()
        .map(|n| align(n.value_len()) + NLA_HEADER_SIZE)
        .sum()
}

/// Emits `nlas` into `buffer`, which is [`nlas_len`] bytes long (the
/// crate's `emit` of the slice, byte for byte).
pub fn emit_nlas<T: Nla>(nlas: &[T], buffer: &mut [u8]) {
    let mut at = 0;
    for nla in nlas {
        let len = nla.value_len();
        let total = align(len) + NLA_HEADER_SIZE;
        let Some(b) = buffer.get_mut(at..at + total) else {
            return;
        };
        let mut header = NlaBuffer::new(&mut *b);
        header.set_kind(nla.kind());
        if nla.is_network_byteorder() {
            header.set_network_byte_order_flag();
        }
        if nla.is_nested() {
            header.set_nested_flag();
        }
        header.set_length((len + NLA_HEADER_SIZE) as u16);
        let (value, padding) = b
            .get_mut(NLA_HEADER_SIZE..)
            .unwrap_or_default()
            .split_at_mut(len.min(total - NLA_HEADER_SIZE));
        nla.emit_value(value);
        padding.fill(0);
        at += total;
    }
}

/// A received netlink or IPVS message could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The packet crates rejected the framing or an attribute's payload.
    #[error("malformed netlink message: {0}")]
    Packet(String),
    /// A required attribute is absent.
    #[error("attribute {attr} missing in {context}")]
    MissingAttribute {
        /// Where it was expected.
        context: &'static str,
        /// Its name.
        attr: &'static str,
    },
    /// An attribute's payload is shorter than its type needs.
    #[error("attribute {attr} in {context} too short ({len} bytes, need {need})")]
    ShortAttribute {
        /// Where it was found.
        context: &'static str,
        /// Its name.
        attr: &'static str,
        /// Its payload length.
        len: usize,
        /// The length its type needs.
        need: usize,
    },
    /// An address family that has no address format here.
    #[error("unsupported address family {family} in {context}")]
    UnsupportedFamily {
        /// Where it was found.
        context: &'static str,
        /// The `AF_*` value.
        family: u16,
    },
    /// A request expecting a reply message got only the acknowledgement.
    #[error("no reply message for {0}")]
    MissingReply(&'static str),
}

impl From<netlink_packet_core::DecodeError> for DecodeError {
    fn from(e: netlink_packet_core::DecodeError) -> DecodeError {
        DecodeError::Packet(e.to_string())
    }
}

/// A request could not be encoded (a length does not fit its field).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EncodeError {
    /// An attribute or nest longer than the 16-bit length field allows.
    #[error("netlink attribute too long ({len} bytes)")]
    AttributeTooLong {
        /// The length it would have had.
        len: usize,
    },
    /// A message longer than the 32-bit length field allows.
    #[error("netlink message too long ({len} bytes)")]
    MessageTooLong {
        /// The length it would have had.
        len: usize,
    },
}

/// Checks that an attribute (a nest with all it holds) fits the 16-bit
/// length field; the packet crates would truncate the length silently.
pub fn check_nla<T: Nla>(nla: &T) -> Result<(), EncodeError> {
    let len = nla.value_len() + 4;
    if len > usize::from(u16::MAX) {
        return Err(EncodeError::AttributeTooLong { len });
    }
    Ok(())
}

/// The header at the start of `bytes`, read through the packet crate's
/// buffer; `None` if `bytes` is shorter than a header (its length field is
/// not checked here: [`messages`] does that).
pub fn header_of(bytes: &[u8]) -> Option<NetlinkHeader> {
    if bytes.len() < NLMSG_HDRLEN {
        return None;
    }
    NetlinkHeader::parse(&NetlinkBuffer::new(bytes)).ok()
}

/// A header with these fields (the crate's type cannot be built with a
/// struct literal outside the crate).
pub fn header(length: u32, message_type: u16, flags: u16, seq: u32, port: u32) -> NetlinkHeader {
    let mut h = NetlinkHeader::default();
    h.length = length;
    h.message_type = message_type;
    h.flags = flags;
    h.sequence_number = seq;
    h.port_number = port;
    h
}

/// Appends the 16 bytes of `h`.
pub fn write_header(h: &NetlinkHeader, out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + NLMSG_HDRLEN, 0);
    if let Some(dst) = out.get_mut(start..) {
        h.emit(dst);
    }
}

/// Serializes `msg` (its length and type filled in) at the end of `buf`,
/// padded to the netlink alignment, and returns the bytes added. Several
/// calls on one buffer make a batch.
pub fn append<I: NetlinkSerializable>(
    buf: &mut Vec<u8>,
    msg: NetlinkMessage<I>,
) -> Result<usize, EncodeError> {
    let len = msg.buffer_len();
    append_measured(buf, msg, len)
}

/// [`append`] for a message whose length (`msg.buffer_len()`) the caller
/// has already measured: measuring a request is a walk of every nest it
/// holds, so the IPVS encoder measures once and passes it on.
pub fn append_measured<I: NetlinkSerializable>(
    buf: &mut Vec<u8>,
    mut msg: NetlinkMessage<I>,
    len: usize,
) -> Result<usize, EncodeError> {
    if u32::try_from(len).is_err() {
        return Err(EncodeError::MessageTooLong { len });
    }
    // What `finalize` does, without measuring the message a second time
    // (every nest's length is a walk of what it holds).
    msg.header.length = len as u32;
    msg.header.message_type = msg.payload.message_type();
    let start = buf.len();
    buf.resize(start + align(len), 0);
    if let Some(dst) = buf.get_mut(start..start + len) {
        msg.serialize(dst);
    }
    Ok(buf.len() - start)
}

/// A netlink message with the given header fields around `inner`.
pub fn message<I>(inner: I, flags: u16, seq: u32, pid: u32) -> NetlinkMessage<I>
where
    I: Into<NetlinkPayload<I>>,
{
    let mut m = NetlinkMessage::from(inner);
    m.header.flags = flags;
    m.header.sequence_number = seq;
    m.header.port_number = pid;
    m
}

/// What a received message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body<'a> {
    /// A data message (type ≥ `NLMSG_MIN_TYPE`): the bytes after the
    /// `nlmsghdr`.
    Data(&'a [u8]),
    /// `NLMSG_ERROR` with error 0: the request succeeded.
    Ack,
    /// `NLMSG_ERROR` with a negative error: the request failed with this
    /// (positive) errno.
    Error {
        /// The errno, positive.
        errno: i32,
    },
    /// `NLMSG_DONE`: the dump ended; `errno` is non-zero if it ended with
    /// an error.
    Done {
        /// The errno, positive, or 0.
        errno: i32,
    },
    /// Any other control message (`NLMSG_NOOP`, `NLMSG_OVERRUN`, ...).
    Control(&'a [u8]),
}

/// One message of a received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    /// Its header.
    pub header: NetlinkHeader,
    /// Its body.
    pub body: Body<'a>,
}

/// Iterator over the messages of a datagram; yields an error and stops at
/// the first malformed message.
#[derive(Debug, Clone)]
pub struct Messages<'a> {
    rest: &'a [u8],
    failed: bool,
}

/// Iterates over the messages of a received datagram.
pub fn messages(datagram: &[u8]) -> Messages<'_> {
    Messages {
        rest: datagram,
        failed: false,
    }
}

fn errno_of(code: i32) -> i32 {
    if code < 0 {
        code.wrapping_neg()
    } else {
        code
    }
}

impl<'a> Messages<'a> {
    fn step(&mut self) -> Result<Message<'a>, DecodeError> {
        let buf = NetlinkBuffer::new_checked(self.rest)?;
        let header = header_of(self.rest).ok_or(DecodeError::Packet(
            "netlink message header truncated".into(),
        ))?;
        let payload: &'a [u8] = buf.payload();
        let advance = align(header.length as usize).min(self.rest.len());
        self.rest = self.rest.get(advance..).unwrap_or_default();
        let body = match header.message_type {
            NLMSG_ERROR => match ErrorBuffer::new_checked(&payload)?.code() {
                None => Body::Ack,
                Some(code) => Body::Error {
                    errno: errno_of(code.get()),
                },
            },
            // A DONE without the error field is a plain end of dump.
            NLMSG_DONE if payload.is_empty() => Body::Done { errno: 0 },
            NLMSG_DONE => Body::Done {
                errno: errno_of(DoneBuffer::new_checked(&payload)?.code()),
            },
            t if t < NLMSG_MIN_TYPE => Body::Control(payload),
            _ => Body::Data(payload),
        };
        Ok(Message { header, body })
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let m = self.step();
        self.failed = m.is_err();
        Some(m)
    }
}

/// A generic-netlink message body: the `genlmsghdr` and the attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenlMsg<'a> {
    /// Command.
    pub cmd: u8,
    /// Family version.
    pub version: u8,
    /// Top-level attributes.
    pub attrs: &'a [u8],
}

impl<'a> GenlMsg<'a> {
    /// Splits a data message's payload into header and attributes.
    pub fn parse(payload: &'a [u8]) -> Result<GenlMsg<'a>, DecodeError> {
        let h = GenlHeader::parse(payload)?;
        Ok(GenlMsg {
            cmd: h.cmd,
            version: h.version,
            attrs: payload.get(4..).unwrap_or_default(),
        })
    }
}

/// A controller message with an explicit `genlmsghdr` (the crate's
/// `GenlCtrl` would say version 2; libnl, and so ipvsadm, asks with 1).
fn ctrl_message(cmd: GenlCtrlCmd, version: u8, nlas: Vec<GenlCtrlAttrs>) -> GenlMessage<GenlCtrl> {
    let raw_cmd = match cmd {
        GenlCtrlCmd::GetFamily => CTRL_CMD_GETFAMILY,
        _ => CTRL_CMD_NEWFAMILY,
    };
    GenlMessage::new(
        GenlHeader {
            cmd: raw_cmd,
            version,
        },
        GenlCtrl { cmd, nlas },
        GENL_ID_CTRL,
    )
}

/// Appends a controller request that asks for the id of family `name`.
pub fn encode_get_family(
    buf: &mut Vec<u8>,
    seq: u32,
    pid: u32,
    name: &str,
) -> Result<usize, EncodeError> {
    let nla = GenlCtrlAttrs::FamilyName(name.to_string());
    check_nla(&nla)?;
    let m = ctrl_message(GenlCtrlCmd::GetFamily, 1, vec![nla]);
    append(buf, message(m, NLM_F_REQUEST | NLM_F_ACK, seq, pid))
}

/// Appends the controller's answer to [`encode_get_family`] (for fakes and
/// tests).
pub fn encode_family_reply(
    buf: &mut Vec<u8>,
    seq: u32,
    pid: u32,
    name: &str,
    id: u16,
) -> Result<usize, EncodeError> {
    let nlas = vec![
        GenlCtrlAttrs::FamilyName(name.to_string()),
        GenlCtrlAttrs::FamilyId(id),
    ];
    let m = ctrl_message(GenlCtrlCmd::NewFamily, 2, nlas);
    append(buf, message(m, 0, seq, pid))
}

/// Reads the family id from the attributes of a controller reply. Only
/// `CTRL_ATTR_FAMILY_ID` is parsed (by the crate), so attributes a newer
/// kernel adds cannot make the lookup fail.
pub fn decode_family_id(attrs: &[u8]) -> Result<u16, DecodeError> {
    let mut id = None;
    for nla in NlasIterator::new(attrs) {
        let nla = nla?;
        if nla.kind() == CTRL_ATTR_FAMILY_ID {
            if let GenlCtrlAttrs::FamilyId(v) = GenlCtrlAttrs::parse(&nla)? {
                id = Some(v);
            }
        }
    }
    id.ok_or(DecodeError::MissingAttribute {
        context: "controller reply",
        attr: "FAMILY_ID",
    })
}

/// Appends an `NLMSG_ERROR` message as the kernel sends it: `errno` 0 is an
/// acknowledgement; `request` is the header of the request answered (its
/// payload is not echoed, as with `NETLINK_CAP_ACK`). For fakes and tests.
pub fn encode_error(buf: &mut Vec<u8>, request: &NetlinkHeader, errno: i32) -> usize {
    let mut e = ErrorMessage::default();
    e.code = NonZeroI32::new(errno.wrapping_neg());
    let mut echoed = Vec::with_capacity(NLMSG_HDRLEN);
    write_header(request, &mut echoed);
    e.header = echoed;
    let mut m = NetlinkMessage::<GenlMessage<GenlCtrl>>::new(
        NetlinkHeader::default(),
        NetlinkPayload::Error(e),
    );
    m.header.flags = NLM_F_CAPPED;
    m.header.sequence_number = request.sequence_number;
    m.header.port_number = request.port_number;
    append(buf, m).unwrap_or(0)
}

/// Appends an `NLMSG_DONE` message ending a dump (`errno` 0 for success).
/// For fakes and tests.
pub fn encode_done(buf: &mut Vec<u8>, seq: u32, pid: u32, flags: u16, errno: i32) -> usize {
    let mut d = DoneMessage::default();
    d.code = errno.wrapping_neg();
    let mut m = NetlinkMessage::<GenlMessage<GenlCtrl>>::new(
        NetlinkHeader::default(),
        NetlinkPayload::Done(d),
    );
    m.header.flags = NLM_F_MULTI | flags;
    m.header.sequence_number = seq;
    m.header.port_number = pid;
    append(buf, m).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn nlas_walks_as_the_crates_iterator() {
        // Every prefix and every one-byte corruption of a buffer of three
        // attributes (one padded, one nested): the same attributes, then
        // an error at the same place.
        let good: Vec<u8> = vec![
            6, 0, 1, 0, 0xaa, 0xbb, 0, 0, // type 1, 2 bytes, padded
            12, 0, 2, 0x80, 8, 0, 3, 0, 1, 2, 3, 4, // nested type 2
            4, 0, 5, 0, // type 5, empty
        ];
        let mut cases = Vec::new();
        for n in 0..=good.len() {
            cases.push(good.get(..n).unwrap().to_vec());
        }
        for i in 0..good.len() {
            for v in [0u8, 1, 3, 4, 5, 0x7f, 0xff] {
                let mut b = good.clone();
                b[i] = v;
                cases.push(b);
            }
        }
        for b in &cases {
            let ours: Vec<Option<(u16, Vec<u8>)>> = nlas(b)
                .map(|r| r.ok().map(|(k, v, _)| (k, v.to_vec())))
                .collect();
            let theirs: Vec<Option<(u16, Vec<u8>)>> = NlasIterator::new(b)
                .map(|r| r.ok().map(|n| (n.kind(), n.value().to_vec())))
                .collect();
            assert_eq!(ours, theirs, "{b:?}");
        }
    }

    use super::*;

    #[test]
    fn align_rounds_up() {
        assert_eq!(align(0), 0);
        assert_eq!(align(1), 4);
        assert_eq!(align(4), 4);
        assert_eq!(align(5), 8);
    }

    #[test]
    fn header_round_trip() {
        let h = header(20, 0x22, 5, 7, 9);
        let mut buf = vec![0xaa];
        write_header(&h, &mut buf);
        assert_eq!(buf.len(), 17);
        assert_eq!(header_of(&buf[1..]), Some(h));
        assert_eq!(header_of(&buf[2..]), None);
    }

    #[test]
    fn append_makes_a_batch() {
        let mut buf = vec![];
        encode_get_family(&mut buf, 1, 0, "IPVS").unwrap();
        encode_get_family(&mut buf, 2, 0, "nlctrl").unwrap();
        let seqs: Vec<u32> = messages(&buf)
            .map(|m| m.unwrap().header.sequence_number)
            .collect();
        assert_eq!(seqs, vec![1, 2]);
    }

    #[test]
    fn oversized_attribute_is_refused() {
        let mut buf = vec![1, 2, 3];
        let name = "x".repeat(70000);
        assert!(matches!(
            encode_get_family(&mut buf, 1, 0, &name),
            Err(EncodeError::AttributeTooLong { len: 70005 })
        ));
        assert_eq!(buf, vec![1, 2, 3]);
    }

    #[test]
    fn parses_control_messages() {
        let req = header(20, 30, 5, 42, 0);
        let mut buf = Vec::new();
        encode_error(&mut buf, &req, 0);
        encode_error(&mut buf, &req, libc::ESRCH);
        encode_done(&mut buf, 43, 0, NLM_F_DUMP_INTR, 0);
        encode_done(&mut buf, 44, 0, 0, libc::EBUSY);
        let got: Vec<_> = messages(&buf).map(|m| m.unwrap()).collect();
        assert_eq!(got[0].body, Body::Ack);
        assert_eq!(got[0].header.sequence_number, 42);
        assert_eq!(got[0].header.length, 36);
        assert_eq!(got[1].body, Body::Error { errno: libc::ESRCH });
        assert_eq!(got[2].body, Body::Done { errno: 0 });
        assert_eq!(got[2].header.flags, NLM_F_MULTI | NLM_F_DUMP_INTR);
        assert_eq!(got[3].body, Body::Done { errno: libc::EBUSY });
        assert_eq!(got.len(), 4);
    }

    #[test]
    fn done_without_payload_is_success() {
        let mut buf = Vec::new();
        write_header(&header(16, NLMSG_DONE, NLM_F_MULTI, 1, 0), &mut buf);
        let m = messages(&buf).next().unwrap().unwrap();
        assert_eq!(m.body, Body::Done { errno: 0 });
    }

    #[test]
    fn short_error_is_a_decode_error() {
        let mut buf = Vec::new();
        write_header(&header(18, NLMSG_ERROR, 0, 1, 0), &mut buf);
        buf.extend_from_slice(&[0, 0, 0, 0]);
        let mut it = messages(&buf);
        assert!(matches!(it.next(), Some(Err(DecodeError::Packet(_)))));
        assert_eq!(it.next(), None);
    }

    #[test]
    fn bad_lengths_are_errors() {
        let mut buf = Vec::new();
        write_header(&header(8, 30, 0, 1, 0), &mut buf);
        assert!(matches!(
            messages(&buf).next(),
            Some(Err(DecodeError::Packet(_)))
        ));
        buf[0] = 200;
        assert!(matches!(
            messages(&buf).next(),
            Some(Err(DecodeError::Packet(_)))
        ));
        assert!(matches!(
            messages(&buf[..10]).next(),
            Some(Err(DecodeError::Packet(_)))
        ));
        assert_eq!(messages(&[]).next(), None);
    }

    #[test]
    fn genl_header_needed() {
        assert!(matches!(
            GenlMsg::parse(&[1, 2, 3]),
            Err(DecodeError::Packet(_))
        ));
        let g = GenlMsg::parse(&[1, 2, 0, 0, 9]).unwrap();
        assert_eq!((g.cmd, g.version, g.attrs), (1, 2, &[9u8][..]));
    }

    #[test]
    fn family_request_and_reply() {
        let mut buf = Vec::new();
        encode_get_family(&mut buf, 1, 0, "IPVS").unwrap();
        let mut expect = Vec::new();
        expect.extend_from_slice(&32u32.to_ne_bytes());
        expect.extend_from_slice(&0x10u16.to_ne_bytes());
        expect.extend_from_slice(&5u16.to_ne_bytes());
        expect.extend_from_slice(&1u32.to_ne_bytes());
        expect.extend_from_slice(&0u32.to_ne_bytes());
        expect.extend_from_slice(&[3, 1, 0, 0]);
        expect.extend_from_slice(&[9, 0, 2, 0, b'I', b'P', b'V', b'S', 0, 0, 0, 0]);
        assert_eq!(buf, expect);

        let mut r = Vec::new();
        encode_family_reply(&mut r, 1, 0, "IPVS", 0x25).unwrap();
        let m = messages(&r).next().unwrap().unwrap();
        let Body::Data(p) = m.body else { panic!() };
        let g = GenlMsg::parse(p).unwrap();
        assert_eq!(decode_family_id(g.attrs), Ok(0x25));
        assert!(matches!(
            decode_family_id(&[]),
            Err(DecodeError::MissingAttribute { .. })
        ));
        // An attribute the crate does not know does not stop the lookup.
        let mut attrs = vec![8, 0, 0x7f, 0, 1, 2, 3, 4];
        attrs.extend_from_slice(g.attrs);
        assert_eq!(decode_family_id(&attrs), Ok(0x25));
    }

    #[test]
    fn never_panics_on_garbage() {
        // Every prefix and many byte patterns of a small valid datagram.
        let mut buf = Vec::new();
        encode_family_reply(&mut buf, 1, 0, "IPVS", 0x25).unwrap();
        encode_done(&mut buf, 1, 0, 0, 0);
        let walk = |d: &[u8]| {
            for m in messages(d).flatten() {
                if let Body::Data(p) = m.body {
                    if let Ok(g) = GenlMsg::parse(p) {
                        let _ = decode_family_id(g.attrs);
                    }
                }
            }
        };
        for cut in 0..=buf.len() {
            walk(&buf[..cut]);
        }
        for i in 0..buf.len() {
            for v in [0u8, 1, 3, 0x7f, 0xff] {
                let mut c = buf.clone();
                c[i] = v;
                walk(&c);
            }
        }
    }
}
