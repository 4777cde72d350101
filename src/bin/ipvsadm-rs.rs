//! `ipvsadm-rs`: see the crate documentation and `man ipvsadm-rs`.

fn main() {
    let code = ipvsadm_rs::cli::run::main_entry(
        std::env::args_os().collect(),
        ipvsadm_rs::cli::run::Mode::Main,
    );
    std::process::exit(code);
}
