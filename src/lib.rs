//! ipvsadm-rs: a library and command-line tool for the Linux kernel's IP
//! Virtual Server (IPVS), speaking its generic-netlink family directly.
//!
//! Layers, each only using the ones below it (docs/design.md draws them):
//!
//! * [`wire`]: the netlink messages, on the rust-netlink packet crates,
//!   with the IPVS generic-netlink family written in their style. No I/O;
//!   decoding never panics and keeps attributes it does not know.
//! * [`model`], [`json`]: typed services, destinations, statistics and
//!   daemons, and their JSON documents.
//! * [`client`]: a synchronous IPVS client on one netlink socket;
//!   [`route`]: the host's addresses, links and settings (route-netlink
//!   and `/proc/sys`); [`sys`]: the few raw system calls.
//! * [`services`]: what the commands do, as code that returns data: the
//!   restore engine, the `apply` plan, host configuration and checks,
//!   drains, rates, the fast whole-table fetch.
//! * Front ends: [`ipvsadm`], the byte-exact ipvsadm 1.31 surface, and
//!   [`commands`], ipvsadm-rs's own subcommands, which also sends each
//!   command line to its front end.
//!
//! The binaries in `src/bin/` only call [`commands::main_entry`].
//!
//! # Using the library
//!
//! Every kernel operation needs IPVS in the kernel and the
//! `CAP_NET_ADMIN` capability, so the examples below are compiled but not
//! run by `cargo test --doc`. Errors are [`client::Error`], which carries
//! the kernel's errno.
//!
//! ## List the services and their real servers
//!
//! ```no_run
//! use ipvsadm_rs::client::Client;
//!
//! # fn main() -> Result<(), ipvsadm_rs::client::Error> {
//! let mut ipvs = Client::open()?;
//! for svc in ipvs.services()? {
//!     println!("{:?} scheduler {}", svc.key, svc.scheduler);
//!     for d in ipvs.dests(&svc)? {
//!         println!("  -> {}:{} weight {}", d.addr, d.port, d.weight);
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! ## Add a service (`ipvsadm -A -t 192.0.2.10:80 -s rr`)
//!
//! ```no_run
//! use ipvsadm_rs::client::Client;
//! use ipvsadm_rs::model::{Protocol, Service, ServiceKey};
//!
//! # fn main() -> Result<(), ipvsadm_rs::client::Error> {
//! let mut ipvs = Client::open()?;
//! let mut svc = Service::new(ServiceKey::Addr {
//!     protocol: Protocol::Tcp,
//!     addr: "192.0.2.10".parse().unwrap(),
//!     port: 80,
//! });
//! svc.scheduler = "rr".into();
//! ipvs.add_service(&svc)?;
//! # Ok(())
//! # }
//! ```
//!
//! ## Add a real server (`ipvsadm -a -t 192.0.2.10:80 -r 10.0.0.11 -g -w 2`)
//!
//! ```no_run
//! use ipvsadm_rs::client::Client;
//! use ipvsadm_rs::model::{Dest, FwdMethod, Protocol, Service, ServiceKey};
//!
//! # fn main() -> Result<(), ipvsadm_rs::client::Error> {
//! let mut ipvs = Client::open()?;
//! let svc = Service::new(ServiceKey::Addr {
//!     protocol: Protocol::Tcp,
//!     addr: "192.0.2.10".parse().unwrap(),
//!     port: 80,
//! });
//! let mut dest = Dest::new("10.0.0.11".parse().unwrap(), 80);
//! dest.fwd = FwdMethod::Route; // direct routing, ipvsadm's -g
//! dest.weight = 2;
//! ipvs.add_dest(&svc, &dest)?;
//! # Ok(())
//! # }
//! ```
//!
//! ## Save the table as text (`ipvsadm -S -n`)
//!
//! ```no_run
//! use ipvsadm_rs::ipvsadm::print::save_table;
//! use ipvsadm_rs::ipvsadm::resolve::NumericResolver;
//! use ipvsadm_rs::client::Client;
//! use ipvsadm_rs::model::ServiceEntry;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut ipvs = Client::open()?;
//! let mut table = Vec::new();
//! for service in ipvs.services()? {
//!     let dests = ipvs.dests(&service)?;
//!     table.push(ServiceEntry { service, dests });
//! }
//! let mut text = Vec::new();
//! save_table(&mut text, &table, true, &NumericResolver)?;
//! print!("{}", String::from_utf8_lossy(&text));
//! # Ok(())
//! # }
//! ```
//!
//! ## Restore in one batch
//!
//! [`client::Client::batch`] sends many requests in as few datagrams as
//! possible and returns one result per request, in order; a refused
//! request does not stop the others.
//!
//! ```no_run
//! use ipvsadm_rs::client::{Client, Request};
//! use ipvsadm_rs::model::{Dest, Protocol, Service, ServiceKey};
//!
//! # fn main() -> Result<(), ipvsadm_rs::client::Error> {
//! let mut ipvs = Client::open()?;
//! let mut svc = Service::new(ServiceKey::Addr {
//!     protocol: Protocol::Tcp,
//!     addr: "192.0.2.10".parse().unwrap(),
//!     port: 80,
//! });
//! svc.scheduler = "wlc".into();
//! let mut requests = vec![Request::Flush, Request::AddService(svc.clone())];
//! for last in 11..=12u8 {
//!     let dest = Dest::new(std::net::IpAddr::from([10, 0, 0, last]), 80);
//!     requests.push(Request::AddDest(svc.clone(), dest));
//! }
//! for (i, result) in ipvs.batch(&requests)?.into_iter().enumerate() {
//!     if let Err(e) = result {
//!         eprintln!("request {i} refused: {e}");
//!     }
//! }
//! # Ok(())
//! # }
//! ```

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

pub mod client;
pub mod commands;
pub mod ipvsadm;
pub mod json;
pub mod model;
pub mod route;
pub mod services;
#[allow(unsafe_code)]
pub mod sys;
pub mod wire;
