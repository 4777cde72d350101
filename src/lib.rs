//! ipvsadm-rs: a library and command-line tool for the Linux kernel's IP
//! Virtual Server (IPVS), speaking its generic-netlink family directly.
//!
//! Layers, each only using the ones below it:
//!
//! * [`wire`]: the IPVS generic-netlink wire format (constants, attribute
//!   encoding and decoding). No I/O; decoding never panics and keeps
//!   attributes it does not know.
//! * [`model`]: typed services, destinations, statistics and daemons.
//! * [`client`]: a synchronous client on one netlink socket.
//! * [`route`]: the host's IP configuration (addresses and links through
//!   route-netlink, settings through `/proc/sys`), for `realserver` and
//!   `check`.
//! * [`cli`]: the ipvsadm-compatible argument grammar, printers and restore.
//!
//! The binaries in `src/bin/` are thin wrappers around [`cli`].

#![deny(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod cli;
pub mod client;
pub mod json;
pub mod model;
pub mod route;
#[allow(unsafe_code)]
pub mod sys;
pub mod wire;
