//! A synchronous IPVS client on one generic-netlink socket.
