//! The IPVS generic-netlink wire format, on the rust-netlink packet crates.
//!
//! Nothing here does I/O, so every byte sent and every reply handled can be
//! checked in unit tests. Decoding works on untrusted bytes: it never
//! panics; malformed framing and missing required attributes are reported
//! as [`DecodeError`]s, and attributes it does not know are kept as
//! `Other(DefaultNla)` and otherwise ignored.
//!
//! * [`netlink`]: the glue to `netlink-packet-core` and
//!   `netlink-packet-generic`: batches appended to one buffer, received
//!   datagrams walked message by message, the controller lookup of the
//!   family id.
//! * [`ipvs`]: the IPVS family (commands, attribute enums, `GenlFamily`),
//!   request encoding identical to ipvsadm 1.31's, and reply decoding into
//!   [`crate::model`] types.
//!
//! Route-netlink (links, addresses, route lookups) is `netlink-packet-route`
//! as it stands; its client is [`crate::route`].

pub mod ipvs;
pub mod netlink;

pub use netlink::{DecodeError, EncodeError};
