//! The ipvsadm-compatible command line: argument grammar, printers,
//! command execution and restore.

pub mod conn;
pub mod errors;
pub mod options;
pub mod print;
pub mod resolve;
