//! `ipvsadm-rs-restore`: see the crate documentation and `man ipvsadm-rs-restore`.

// No unsafe code and no panicking shortcuts in the binaries either.
#![forbid(unsafe_code)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

fn main() {
    let code = ipvsadm_rs::commands::main_entry(
        std::env::args_os().collect(),
        ipvsadm_rs::ipvsadm::run::Mode::Restore,
    );
    std::process::exit(code);
}
