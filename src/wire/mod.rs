//! The IPVS generic-netlink wire format: netlink and generic-netlink
//! headers, attribute encoding and decoding, and the IPVS constants.
//!
//! Nothing here does I/O. Decoding works on untrusted bytes: it never
//! panics, and attributes it does not know are kept, not rejected.
