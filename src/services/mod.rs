//! The library's services: what the front ends do, as code that takes
//! typed input and returns data (plans, findings, changes, rates), with
//! the kernel reached through [`crate::client`] and the host through
//! [`crate::route`]. No argument parsing and no printing here.

pub mod apply;
pub mod check;
pub mod drain;
pub mod fetch;
pub mod findings;
pub mod plan;
pub mod realserver;
pub mod restore;
#[cfg(test)]
pub(crate) mod testhost;
pub mod top;
