//! Kernel tests written in Rust.
//!
//! `cargo xtask test` builds this target (and any `tests/kernel_*.rs`), copies
//! it into the test-bed VM and runs every test case in its own fresh network
//! namespace, with the environment described in docs/testing.md. On a host
//! without IPVS a plain `cargo test` skips them: they are `#[ignore]`d.

use std::process::Command;

mod faults;
mod more_tunnel_flags;

/// A path the test bed passes in the environment.
fn env_path(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set: run with `cargo xtask test`"))
}

/// Runs `program args`, asserts success, returns stdout.
fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
#[ignore = "needs an IPVS kernel: run by cargo xtask test"]
fn reference_saves_what_it_added() {
    let ipvsadm = env_path("REF_IPVSADM");
    run(&ipvsadm, &["-A", "-u", "10.1.0.1:53", "-s", "wrr"]);
    run(
        &ipvsadm,
        &["-a", "-u", "10.1.0.1:53", "-r", "10.1.0.2", "-m", "-w", "3"],
    );
    assert_eq!(
        run(&ipvsadm, &["-S", "-n"]),
        "-A -u 10.1.0.1:53 -s wrr\n-a -u 10.1.0.1:53 -r 10.1.0.2:53 -m -w 3\n"
    );
}

#[test]
#[ignore = "needs an IPVS kernel: run by cargo xtask test"]
fn every_test_starts_in_an_empty_namespace() {
    let ipvsadm = env_path("REF_IPVSADM");
    assert_eq!(run(&ipvsadm, &["-S", "-n"]), "");
    assert!(!env_path("KERNEL_RELEASE").is_empty());
}
