//! The ipvsadm-compatible command line: argument grammar, printers,
//! command execution and restore.

pub mod addr;
pub mod apply;
pub mod check;
pub mod commands;
pub mod conn;
pub mod drain;
pub mod errors;
pub mod fetch;
pub mod flags;
pub mod help;
pub mod options;
pub mod parse;
pub mod print;
pub mod realserver;
#[allow(unsafe_code)]
pub mod resolve;
pub mod run;
pub mod top;
