//! `ipvsadm-rs-restore`: see the crate documentation and `man ipvsadm-rs-restore`.

fn main() {
    let code = ipvsadm_rs::cli::run::main_entry(
        std::env::args_os().collect(),
        ipvsadm_rs::cli::run::Mode::Restore,
    );
    std::process::exit(code);
}
