//! The library's services: what the front ends do, as code that takes
//! typed input and returns data (plans, findings, changes, rates), with
//! the kernel reached through [`crate::client`] and the host through
//! [`crate::route`]. No argument parsing and no printing here.

pub mod apply;
pub mod drain;
pub mod fetch;
pub mod plan;
pub mod restore;
pub mod top;
