//! Name resolution behind a trait, so that printers and the parser can be
//! tested without DNS or the machine's services database.

use std::net::{IpAddr, Ipv4Addr};

use crate::model::Protocol;

/// Looks up host and service names. `SystemResolver` asks the C library;
/// tests use a fixed table.
pub trait Resolver {
    /// IPv4 address of a host name (first address), like `gethostbyname`.
    fn host_to_ipv4(&self, name: &str) -> Option<Ipv4Addr>;
    /// Primary host name of an address, like `gethostbyaddr`.
    fn addr_to_host(&self, addr: IpAddr) -> Option<String>;
    /// Port of a service name for a protocol, like `getservbyname`.
    fn service_to_port(&self, name: &str, proto: Protocol) -> Option<u16>;
    /// Service name of a port for a protocol, like `getservbyport`.
    fn port_to_service(&self, port: u16, proto: Protocol) -> Option<String>;
}
