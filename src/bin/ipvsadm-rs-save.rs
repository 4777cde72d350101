//! `ipvsadm-rs-save`: see the crate documentation and `man ipvsadm-rs-save`.

fn main() {
    let code = ipvsadm_rs::cli::run::main_entry(
        std::env::args_os().collect(),
        ipvsadm_rs::cli::run::Mode::Save,
    );
    std::process::exit(code);
}
