//! The IPVS generic-netlink wire format: netlink and generic-netlink
//! headers, attribute encoding and decoding, and the IPVS constants.
//!
//! Nothing here does I/O, so every byte sent and every reply handled can be
//! checked in unit tests. Decoding works on untrusted bytes: it never
//! panics; malformed framing and missing required attributes are reported
//! as [`DecodeError`]s, and attributes it does not know are skipped (the
//! raw iterators in [`netlink`] still show them).
//!
//! * [`netlink`]: `nlmsghdr` / `genlmsghdr` framing, attributes, a message
//!   builder that appends to a buffer (so requests can be batched), and the
//!   generic-netlink controller request used to resolve the family id.
//! * [`ipvs`]: IPVS commands and attributes, request encoding identical to
//!   ipvsadm 1.31's, and reply decoding into [`crate::model`] types.
//! * [`rtnl`]: the route-netlink messages for links, addresses and route
//!   lookups that the real-server setup and the director check use.

pub mod ipvs;
pub mod netlink;
pub mod rtnl;

pub use netlink::{DecodeError, EncodeError};
