//! The ipvsadm 1.31 front end: everything whose bytes must match
//! ipvsadm's. The option table and its legality matrix, the popt-faithful
//! parser, the runner of each command, the printers of listings and saves,
//! the help screen, the error messages and exit codes, and address and
//! name handling. Nothing here knows the subcommands
//! ([`crate::commands`] sends their lines elsewhere before this grammar
//! sees them).

pub mod addr;
pub mod conn;
pub mod errors;
pub mod flags;
pub mod help;
pub mod lines;
pub mod options;
pub mod parse;
pub mod print;
#[allow(unsafe_code)]
pub mod resolve;
pub mod run;
pub mod startup;
