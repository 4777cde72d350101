//! Netlink and generic-netlink framing: the 16-byte `nlmsghdr`, the 4-byte
//! `genlmsghdr`, attributes (TLVs padded to 4 bytes), a builder that appends
//! messages to a `Vec<u8>` and iterators over received datagrams.
//!
//! Everything is native-endian, as netlink is. The builder appends, so that
//! several requests can be concatenated into one buffer and sent as one
//! datagram. The parsers take untrusted bytes: they report malformed
//! framing as a [`DecodeError`] and never panic.

use thiserror::Error;

/// Size of `struct nlmsghdr`.
pub const NLMSG_HDRLEN: usize = 16;
/// Size of `struct genlmsghdr`.
pub const GENL_HDRLEN: usize = 4;
/// Size of `struct nlattr`.
pub const NLA_HDRLEN: usize = 4;

/// Control message: nothing to do.
pub const NLMSG_NOOP: u16 = 1;
/// Control message: an error or, with error 0, an acknowledgement.
pub const NLMSG_ERROR: u16 = 2;
/// Control message: end of a dump.
pub const NLMSG_DONE: u16 = 3;
/// Control message: data lost.
pub const NLMSG_OVERRUN: u16 = 4;
/// First message type that carries data (below are control messages).
pub const NLMSG_MIN_TYPE: u16 = 0x10;

/// Flag: this is a request.
pub const NLM_F_REQUEST: u16 = 0x1;
/// Flag: one part of a multi-part reply (a dump).
pub const NLM_F_MULTI: u16 = 0x2;
/// Flag: the sender wants an acknowledgement.
pub const NLM_F_ACK: u16 = 0x4;
/// Flag: echo this request.
pub const NLM_F_ECHO: u16 = 0x8;
/// Flag on dump parts: the table changed during the dump, which may be
/// inconsistent.
pub const NLM_F_DUMP_INTR: u16 = 0x10;
/// Flag on dump parts: the dump was filtered as requested.
pub const NLM_F_DUMP_FILTERED: u16 = 0x20;
/// Request flag: return the complete table.
pub const NLM_F_ROOT: u16 = 0x100;
/// Request flag: return all matching entries.
pub const NLM_F_MATCH: u16 = 0x200;
/// Request flags of a dump (`ROOT | MATCH`).
pub const NLM_F_DUMP: u16 = NLM_F_ROOT | NLM_F_MATCH;

/// Flag on `NLMSG_ERROR` messages: the request's payload is not echoed.
pub const NLM_F_CAPPED: u16 = 0x100;

/// Attribute type flag: the payload is a nest of attributes.
pub const NLA_F_NESTED: u16 = 0x8000;
/// Attribute type flag: the payload is in network byte order.
pub const NLA_F_NET_BYTEORDER: u16 = 0x4000;
/// Mask that removes both flags from an attribute type.
pub const NLA_TYPE_MASK: u16 = !(NLA_F_NESTED | NLA_F_NET_BYTEORDER);

/// The generic-netlink controller's fixed family id.
pub const GENL_ID_CTRL: u16 = 0x10;
/// Controller command that reports a family (also its replies' command).
pub const CTRL_CMD_NEWFAMILY: u8 = 1;
/// Controller command that asks for a family.
pub const CTRL_CMD_GETFAMILY: u8 = 3;
/// Controller attribute: family id (u16).
pub const CTRL_ATTR_FAMILY_ID: u16 = 1;
/// Controller attribute: family name (NUL-terminated string).
pub const CTRL_ATTR_FAMILY_NAME: u16 = 2;

/// Rounds a length up to the 4-byte netlink alignment.
pub const fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// A received netlink or IPVS message could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// Fewer bytes than a message header remain in the datagram.
    #[error("netlink message header truncated ({available} bytes left)")]
    TruncatedHeader {
        /// Bytes left in the datagram.
        available: usize,
    },
    /// A message length is shorter than its header or longer than the data.
    #[error("invalid netlink message length {len} ({available} bytes left)")]
    BadLength {
        /// The `nlmsg_len` field.
        len: u32,
        /// Bytes left in the datagram.
        available: usize,
    },
    /// A message of type `NLMSG_ERROR` is too short to hold the error code.
    #[error("netlink error message truncated")]
    TruncatedError,
    /// A data message is too short for the generic-netlink header.
    #[error("generic netlink header missing")]
    MissingGenlHeader,
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

fn read_u16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_ne_bytes([
        s.first().copied()?,
        s.get(1).copied()?,
    ]))
}

fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    let s: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_ne_bytes(s))
}

fn read_u64(b: &[u8], at: usize) -> Option<u64> {
    let s: [u8; 8] = b.get(at..at.checked_add(8)?)?.try_into().ok()?;
    Some(u64::from_ne_bytes(s))
}

/// The fields of a `struct nlmsghdr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NlHeader {
    /// Total length including this header.
    pub len: u32,
    /// Message type: a control type or a family id.
    pub msg_type: u16,
    /// `NLM_F_*` flags.
    pub flags: u16,
    /// Sequence number, echoed by the kernel in its replies.
    pub seq: u32,
    /// Port id of the sender (0 for the kernel).
    pub pid: u32,
}

impl NlHeader {
    /// Reads a header from the start of `bytes`; `None` if too short.
    pub fn parse(bytes: &[u8]) -> Option<NlHeader> {
        Some(NlHeader {
            len: read_u32(bytes, 0)?,
            msg_type: read_u16(bytes, 4)?,
            flags: read_u16(bytes, 6)?,
            seq: read_u32(bytes, 8)?,
            pid: read_u32(bytes, 12)?,
        })
    }

    /// Appends the 16 header bytes.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.len.to_ne_bytes());
        out.extend_from_slice(&self.msg_type.to_ne_bytes());
        out.extend_from_slice(&self.flags.to_ne_bytes());
        out.extend_from_slice(&self.seq.to_ne_bytes());
        out.extend_from_slice(&self.pid.to_ne_bytes());
    }
}

/// An open nest in a [`MessageBuilder`], closed by
/// [`MessageBuilder::end_nest`].
#[derive(Debug)]
#[must_use = "a nest must be closed with end_nest"]
pub struct Nest {
    offset: usize,
}

/// Appends one netlink message to a buffer: the header first, then a
/// generic-netlink header and attributes. Lengths (message and nests) are
/// kept up to date as the message grows; [`MessageBuilder::finish`] reports
/// whether some length did not fit.
#[derive(Debug)]
pub struct MessageBuilder<'a> {
    buf: &'a mut Vec<u8>,
    start: usize,
    error: Option<EncodeError>,
}

impl<'a> MessageBuilder<'a> {
    /// Starts a message at the end of `buf`.
    pub fn new(
        buf: &'a mut Vec<u8>,
        msg_type: u16,
        flags: u16,
        seq: u32,
        pid: u32,
    ) -> MessageBuilder<'a> {
        let start = buf.len();
        NlHeader {
            len: NLMSG_HDRLEN as u32,
            msg_type,
            flags,
            seq,
            pid,
        }
        .write(buf);
        MessageBuilder {
            buf,
            start,
            error: None,
        }
    }

    /// Starts a generic-netlink message: `nlmsghdr` then `genlmsghdr`
    /// (`cmd`, `version`, reserved 0).
    pub fn genl(
        buf: &'a mut Vec<u8>,
        family: u16,
        flags: u16,
        seq: u32,
        pid: u32,
        cmd: u8,
        version: u8,
    ) -> MessageBuilder<'a> {
        let mut b = MessageBuilder::new(buf, family, flags, seq, pid);
        b.put_raw(&[cmd, version, 0, 0]);
        b
    }

    fn set_error(&mut self, e: EncodeError) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    fn patch_len(&mut self) {
        let len = self.buf.len().saturating_sub(self.start);
        match u32::try_from(len) {
            Ok(v) => {
                if let Some(s) = self.buf.get_mut(self.start..self.start + 4) {
                    s.copy_from_slice(&v.to_ne_bytes());
                }
            }
            Err(_) => self.set_error(EncodeError::MessageTooLong { len }),
        }
    }

    /// Appends raw bytes (padded to 4) to the message body.
    pub fn put_raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(bytes);
        self.pad();
        self.patch_len();
        self
    }

    fn pad(&mut self) {
        let rel = self.buf.len().saturating_sub(self.start);
        let padded = align(rel);
        self.buf.resize(self.start + padded, 0);
    }

    /// Appends an attribute (header, payload, padding).
    pub fn put(&mut self, kind: u16, payload: &[u8]) -> &mut Self {
        let len = NLA_HDRLEN + payload.len();
        let len16 = match u16::try_from(len) {
            Ok(v) => v,
            Err(_) => {
                self.set_error(EncodeError::AttributeTooLong { len });
                return self;
            }
        };
        self.buf.extend_from_slice(&len16.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.put_raw(payload)
    }

    /// Appends a u8 attribute.
    pub fn put_u8(&mut self, kind: u16, v: u8) -> &mut Self {
        self.put(kind, &[v])
    }

    /// Appends a native-endian u16 attribute.
    pub fn put_u16(&mut self, kind: u16, v: u16) -> &mut Self {
        self.put(kind, &v.to_ne_bytes())
    }

    /// Appends a network-order u16 attribute (ports).
    pub fn put_be16(&mut self, kind: u16, v: u16) -> &mut Self {
        self.put(kind, &v.to_be_bytes())
    }

    /// Appends a native-endian u32 attribute.
    pub fn put_u32(&mut self, kind: u16, v: u32) -> &mut Self {
        self.put(kind, &v.to_ne_bytes())
    }

    /// Appends a native-endian u64 attribute.
    pub fn put_u64(&mut self, kind: u16, v: u64) -> &mut Self {
        self.put(kind, &v.to_ne_bytes())
    }

    /// Appends a NUL-terminated string attribute.
    pub fn put_str(&mut self, kind: u16, s: &str) -> &mut Self {
        let mut v = Vec::with_capacity(s.len() + 1);
        v.extend_from_slice(s.as_bytes());
        v.push(0);
        self.put(kind, &v)
    }

    /// Opens a nest; its type carries `NLA_F_NESTED` as libnl 3.7 sets it.
    pub fn begin_nest(&mut self, kind: u16) -> Nest {
        let offset = self.buf.len();
        self.buf
            .extend_from_slice(&(NLA_HDRLEN as u16).to_ne_bytes());
        self.buf
            .extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
        self.patch_len();
        Nest { offset }
    }

    /// Closes a nest, writing its final length.
    pub fn end_nest(&mut self, nest: Nest) -> &mut Self {
        let len = self.buf.len().saturating_sub(nest.offset);
        match u16::try_from(len) {
            Ok(v) => {
                if let Some(s) = self.buf.get_mut(nest.offset..nest.offset + 2) {
                    s.copy_from_slice(&v.to_ne_bytes());
                }
            }
            Err(_) => self.set_error(EncodeError::AttributeTooLong { len }),
        }
        self
    }

    /// Ends the message and returns its length. On error the partial
    /// message is removed from the buffer.
    pub fn finish(self) -> Result<usize, EncodeError> {
        match self.error {
            Some(e) => {
                self.buf.truncate(self.start);
                Err(e)
            }
            None => Ok(self.buf.len().saturating_sub(self.start)),
        }
    }
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
    pub header: NlHeader,
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

impl<'a> Iterator for Messages<'a> {
    type Item = Result<Message<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let available = self.rest.len();
        let Some(header) = NlHeader::parse(self.rest) else {
            self.failed = true;
            return Some(Err(DecodeError::TruncatedHeader { available }));
        };
        let len = header.len as usize;
        if len < NLMSG_HDRLEN || len > available {
            self.failed = true;
            return Some(Err(DecodeError::BadLength {
                len: header.len,
                available,
            }));
        }
        let payload = self.rest.get(NLMSG_HDRLEN..len).unwrap_or_default();
        let advance = align(len).min(available);
        self.rest = self.rest.get(advance..).unwrap_or_default();
        let body = match header.msg_type {
            NLMSG_ERROR => match read_u32(payload, 0) {
                Some(0) => Body::Ack,
                Some(code) => Body::Error {
                    errno: errno_of(code as i32),
                },
                None => {
                    self.failed = true;
                    return Some(Err(DecodeError::TruncatedError));
                }
            },
            NLMSG_DONE => Body::Done {
                errno: read_u32(payload, 0).map_or(0, |c| errno_of(c as i32)),
            },
            t if t < NLMSG_MIN_TYPE => Body::Control(payload),
            _ => Body::Data(payload),
        };
        Some(Ok(Message { header, body }))
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
        match payload {
            [cmd, version, _, _, attrs @ ..] => Ok(GenlMsg {
                cmd: *cmd,
                version: *version,
                attrs,
            }),
            _ => Err(DecodeError::MissingGenlHeader),
        }
    }
}

/// One attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr<'a> {
    raw_type: u16,
    payload: &'a [u8],
}

impl<'a> Attr<'a> {
    /// The attribute type without the nested / byte-order flags.
    pub fn kind(&self) -> u16 {
        self.raw_type & NLA_TYPE_MASK
    }

    /// The type as sent, flags included.
    pub fn raw_type(&self) -> u16 {
        self.raw_type
    }

    /// True if the sender flagged the payload as a nest.
    pub fn is_nested(&self) -> bool {
        self.raw_type & NLA_F_NESTED != 0
    }

    /// The payload without padding.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    /// The first byte.
    pub fn get_u8(&self) -> Option<u8> {
        self.payload.first().copied()
    }

    /// The first two bytes, native-endian.
    pub fn get_u16(&self) -> Option<u16> {
        read_u16(self.payload, 0)
    }

    /// The first two bytes, network order.
    pub fn get_be16(&self) -> Option<u16> {
        self.get_u16().map(u16::from_be)
    }

    /// The first four bytes, native-endian.
    pub fn get_u32(&self) -> Option<u32> {
        read_u32(self.payload, 0)
    }

    /// The first eight bytes, native-endian.
    pub fn get_u64(&self) -> Option<u64> {
        read_u64(self.payload, 0)
    }

    /// The payload up to the first NUL, decoded as UTF-8 (invalid
    /// sequences replaced).
    pub fn get_string(&self) -> String {
        let end = self
            .payload
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.payload.len());
        String::from_utf8_lossy(self.payload.get(..end).unwrap_or_default()).into_owned()
    }

    /// The attributes nested in the payload.
    pub fn nested(&self) -> Attrs<'a> {
        attrs(self.payload)
    }
}

/// Iterator over attributes; stops silently at a malformed tail (an
/// attribute whose length is below 4 or beyond the data).
#[derive(Debug, Clone)]
pub struct Attrs<'a> {
    rest: &'a [u8],
}

/// Iterates over the attributes in `data`.
pub fn attrs(data: &[u8]) -> Attrs<'_> {
    Attrs { rest: data }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Attr<'a>;

    fn next(&mut self) -> Option<Attr<'a>> {
        let len = read_u16(self.rest, 0)? as usize;
        let raw_type = read_u16(self.rest, 2)?;
        if len < NLA_HDRLEN || len > self.rest.len() {
            self.rest = &[];
            return None;
        }
        let payload = self.rest.get(NLA_HDRLEN..len)?;
        let advance = align(len).min(self.rest.len());
        self.rest = self.rest.get(advance..).unwrap_or_default();
        Some(Attr { raw_type, payload })
    }
}

/// Indexes the attributes of `data` by type (flags removed): slot `t` holds
/// the last attribute of type `t`, as the kernel's parser does. Types `>= N`
/// are ignored.
pub fn attr_table<const N: usize>(data: &[u8]) -> [Option<Attr<'_>>; N] {
    let mut table = [None; N];
    for a in attrs(data) {
        if let Some(slot) = table.get_mut(a.kind() as usize) {
            *slot = Some(a);
        }
    }
    table
}

/// Appends a controller request that asks for the id of family `name`.
pub fn encode_get_family(
    buf: &mut Vec<u8>,
    seq: u32,
    pid: u32,
    name: &str,
) -> Result<usize, EncodeError> {
    let mut b = MessageBuilder::genl(
        buf,
        GENL_ID_CTRL,
        NLM_F_REQUEST | NLM_F_ACK,
        seq,
        pid,
        CTRL_CMD_GETFAMILY,
        1,
    );
    b.put_str(CTRL_ATTR_FAMILY_NAME, name);
    b.finish()
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
    let mut b = MessageBuilder::genl(buf, GENL_ID_CTRL, 0, seq, pid, CTRL_CMD_NEWFAMILY, 2);
    b.put_str(CTRL_ATTR_FAMILY_NAME, name);
    b.put_u16(CTRL_ATTR_FAMILY_ID, id);
    b.finish()
}

/// Reads the family id from the attributes of a controller reply.
pub fn decode_family_id(attrs: &[u8]) -> Result<u16, DecodeError> {
    let t = attr_table::<3>(attrs);
    let a = t
        .get(CTRL_ATTR_FAMILY_ID as usize)
        .copied()
        .flatten()
        .ok_or(DecodeError::MissingAttribute {
            context: "controller reply",
            attr: "FAMILY_ID",
        })?;
    a.get_u16().ok_or(DecodeError::ShortAttribute {
        context: "controller reply",
        attr: "FAMILY_ID",
        len: a.payload().len(),
        need: 2,
    })
}

/// Appends an `NLMSG_ERROR` message as the kernel sends it: `errno` 0 is an
/// acknowledgement; `request` is the header of the request answered (its
/// payload is not echoed, as with `NETLINK_CAP_ACK`). For fakes and tests.
pub fn encode_error(buf: &mut Vec<u8>, request: &NlHeader, errno: i32) -> usize {
    let start = buf.len();
    NlHeader {
        len: (NLMSG_HDRLEN + 4 + NLMSG_HDRLEN) as u32,
        msg_type: NLMSG_ERROR,
        flags: NLM_F_CAPPED,
        seq: request.seq,
        pid: request.pid,
    }
    .write(buf);
    buf.extend_from_slice(&errno.wrapping_neg().to_ne_bytes());
    request.write(buf);
    buf.len() - start
}

/// Appends an `NLMSG_DONE` message ending a dump (`errno` 0 for success).
/// For fakes and tests.
pub fn encode_done(buf: &mut Vec<u8>, seq: u32, pid: u32, flags: u16, errno: i32) -> usize {
    let start = buf.len();
    NlHeader {
        len: (NLMSG_HDRLEN + 4) as u32,
        msg_type: NLMSG_DONE,
        flags: NLM_F_MULTI | flags,
        seq,
        pid,
    }
    .write(buf);
    buf.extend_from_slice(&errno.wrapping_neg().to_ne_bytes());
    buf.len() - start
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn align_rounds_up() {
        assert_eq!(align(0), 0);
        assert_eq!(align(1), 4);
        assert_eq!(align(4), 4);
        assert_eq!(align(5), 8);
    }

    #[test]
    fn builder_pads_and_nests() {
        let mut buf = vec![0xaa]; // something already in the buffer
        let mut b = MessageBuilder::genl(&mut buf, 0x22, 5, 7, 9, 3, 1);
        let n = b.begin_nest(1);
        b.put_u16(1, 2);
        b.put_str(6, "");
        b.end_nest(n);
        b.put_u8(8, 1);
        let len = b.finish().unwrap();
        assert_eq!(len, 16 + 4 + 4 + 8 + 8 + 8);
        let m = &buf[1..];
        let h = NlHeader::parse(m).unwrap();
        assert_eq!(
            h,
            NlHeader {
                len: len as u32,
                msg_type: 0x22,
                flags: 5,
                seq: 7,
                pid: 9
            }
        );
        assert_eq!(&m[16..20], &[3, 1, 0, 0]);
        assert_eq!(
            &m[20..],
            &[
                20, 0, 1, 0x80, // nest
                6, 0, 1, 0, 2, 0, 0, 0, // u16 + 2 padding
                5, 0, 6, 0, 0, 0, 0, 0, // empty string + 3 padding
                5, 0, 8, 0, 1, 0, 0, 0, // u8
            ]
        );
    }

    #[test]
    fn builder_appends_several_messages() {
        let mut buf = Vec::new();
        MessageBuilder::genl(&mut buf, 30, 5, 1, 0, 17, 1)
            .finish()
            .unwrap();
        let mut b = MessageBuilder::genl(&mut buf, 30, 5, 2, 0, 12, 1);
        b.put_u32(4, 1);
        b.finish().unwrap();
        let seqs: Vec<u32> = messages(&buf).map(|m| m.unwrap().header.seq).collect();
        assert_eq!(seqs, vec![1, 2]);
    }

    #[test]
    fn builder_rejects_oversized_attribute() {
        let mut buf = vec![1, 2, 3];
        let mut b = MessageBuilder::genl(&mut buf, 30, 5, 1, 0, 1, 1);
        b.put(1, &vec![0; 70000]);
        assert!(matches!(
            b.finish(),
            Err(EncodeError::AttributeTooLong { len: 70004 })
        ));
        assert_eq!(buf, vec![1, 2, 3]);
    }

    #[test]
    fn parses_control_messages() {
        let req = NlHeader {
            len: 20,
            msg_type: 30,
            flags: 5,
            seq: 42,
            pid: 0,
        };
        let mut buf = Vec::new();
        encode_error(&mut buf, &req, 0);
        encode_error(&mut buf, &req, libc::ESRCH);
        encode_done(&mut buf, 43, 0, NLM_F_DUMP_INTR, 0);
        encode_done(&mut buf, 44, 0, 0, libc::EBUSY);
        let got: Vec<_> = messages(&buf).map(|m| m.unwrap()).collect();
        assert_eq!(got[0].body, Body::Ack);
        assert_eq!(got[0].header.seq, 42);
        assert_eq!(got[1].body, Body::Error { errno: libc::ESRCH });
        assert_eq!(got[2].body, Body::Done { errno: 0 });
        assert_eq!(got[2].header.flags, NLM_F_MULTI | NLM_F_DUMP_INTR);
        assert_eq!(got[3].body, Body::Done { errno: libc::EBUSY });
        assert_eq!(got.len(), 4);
    }

    #[test]
    fn done_without_payload_is_success() {
        let mut buf = Vec::new();
        NlHeader {
            len: 16,
            msg_type: NLMSG_DONE,
            flags: NLM_F_MULTI,
            seq: 1,
            pid: 0,
        }
        .write(&mut buf);
        let m = messages(&buf).next().unwrap().unwrap();
        assert_eq!(m.body, Body::Done { errno: 0 });
    }

    #[test]
    fn short_error_is_a_decode_error() {
        let mut buf = Vec::new();
        NlHeader {
            len: 18,
            msg_type: NLMSG_ERROR,
            flags: 0,
            seq: 1,
            pid: 0,
        }
        .write(&mut buf);
        buf.extend_from_slice(&[0, 0, 0, 0]);
        let mut it = messages(&buf);
        assert_eq!(it.next(), Some(Err(DecodeError::TruncatedError)));
        assert_eq!(it.next(), None);
    }

    #[test]
    fn bad_lengths_are_errors() {
        let mut buf = Vec::new();
        NlHeader {
            len: 8,
            msg_type: 30,
            flags: 0,
            seq: 1,
            pid: 0,
        }
        .write(&mut buf);
        assert!(matches!(
            messages(&buf).next(),
            Some(Err(DecodeError::BadLength { len: 8, .. }))
        ));
        buf[0] = 200;
        assert!(matches!(
            messages(&buf).next(),
            Some(Err(DecodeError::BadLength { len: 200, .. }))
        ));
        assert!(matches!(
            messages(&buf[..10]).next(),
            Some(Err(DecodeError::TruncatedHeader { available: 10 }))
        ));
        assert_eq!(messages(&[]).next(), None);
    }

    #[test]
    fn genl_header_needed() {
        assert_eq!(
            GenlMsg::parse(&[1, 2, 3]),
            Err(DecodeError::MissingGenlHeader)
        );
        let g = GenlMsg::parse(&[1, 2, 0, 0, 9]).unwrap();
        assert_eq!((g.cmd, g.version, g.attrs), (1, 2, &[9u8][..]));
    }

    #[test]
    fn attrs_skip_malformed_tail() {
        let data = [
            8, 0, 0x05, 0x80, 1, 2, 3, 4, // nested type 5
            5, 0, 2, 0, b'a', 0, 0, 0, // string "a"
            3, 0, 1, 0, // length below header
        ];
        let v: Vec<Attr> = attrs(&data).collect();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].kind(), 5);
        assert!(v[0].is_nested());
        assert_eq!(v[0].get_u32(), Some(u32::from_ne_bytes([1, 2, 3, 4])));
        assert_eq!(v[1].get_string(), "a");
        assert_eq!(v[1].get_u32(), None);
        // Length past the end.
        let v: Vec<Attr> = attrs(&[9, 0, 1, 0, 1, 2, 3, 4]).collect();
        assert!(v.is_empty());
        // Last attribute without padding is accepted.
        let v: Vec<Attr> = attrs(&[5, 0, 1, 0, 7]).collect();
        assert_eq!(v[0].get_u8(), Some(7));
    }

    #[test]
    fn strings_stop_at_nul_and_are_lossy() {
        let data = [8, 0, 1, 0, b'r', 0xff, 0, b'x'];
        let a = attrs(&data).next().unwrap();
        assert_eq!(a.get_string(), "r\u{fffd}");
        let data = [6, 0, 1, 0, b'w', b'l'];
        assert_eq!(attrs(&data).next().unwrap().get_string(), "wl");
    }

    #[test]
    fn table_keeps_last_and_ignores_high_types() {
        let mut buf = Vec::new();
        let mut b = MessageBuilder::new(&mut buf, 30, 0, 0, 0);
        b.put_u32(1, 1).put_u32(1, 2).put_u32(9, 3);
        b.finish().unwrap();
        let t = attr_table::<4>(&buf[16..]);
        assert_eq!(t[1].unwrap().get_u32(), Some(2));
        assert!(t[0].is_none() && t[2].is_none() && t[3].is_none());
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
    }

    #[test]
    fn never_panics_on_garbage() {
        // Every prefix and many byte patterns of a small valid datagram.
        let mut buf = Vec::new();
        let mut b = MessageBuilder::genl(&mut buf, 30, 2, 1, 0, 1, 1);
        let n = b.begin_nest(1);
        b.put_u16(1, 2).put_str(6, "wlc");
        b.end_nest(n);
        b.finish().unwrap();
        encode_done(&mut buf, 1, 0, 0, 0);
        for cut in 0..=buf.len() {
            for m in messages(&buf[..cut]).flatten() {
                if let Body::Data(p) = m.body {
                    if let Ok(g) = GenlMsg::parse(p) {
                        for a in attrs(g.attrs) {
                            let _ = (a.get_u64(), a.get_string());
                            a.nested().for_each(drop);
                        }
                    }
                }
            }
        }
        for i in 0..buf.len() {
            for v in [0u8, 1, 3, 0x7f, 0xff] {
                let mut c = buf.clone();
                c[i] = v;
                for m in messages(&c).flatten() {
                    if let Body::Data(p) = m.body {
                        for a in attrs(p) {
                            a.nested().for_each(drop);
                        }
                    }
                }
            }
        }
    }
}
