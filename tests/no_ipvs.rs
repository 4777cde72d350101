//! On a kernel without IPVS (the build machine and CI have none), every
//! command but `-h` and `-v` must fail exactly as the reference ipvsadm
//! fails there: same stderr, same exit status. `-h` and `-v` work anyway
//! (a deliberate fix, docs/compat.md).
//!
//! The reference is Debian's `/usr/sbin/ipvsadm`, which `.ci/run`
//! installs. These tests compare against it live, so the expectations come
//! from ipvsadm itself.

use std::path::Path;
use std::process::{Command, Output};

const REFERENCE: &str = "/usr/sbin/ipvsadm";

fn ipvs_present() -> bool {
    Path::new("/proc/net/ip_vs").exists()
}

fn run(program: &str, argv0: &str, args: &[&str]) -> Output {
    use std::os::unix::process::CommandExt;
    Command::new(program)
        .arg0(argv0)
        .args(args)
        .output()
        .expect("run program")
}

fn ours(args: &[&str]) -> Output {
    run(env!("CARGO_BIN_EXE_ipvsadm-rs"), "ipvsadm", args)
}

fn reference_available() -> bool {
    if Path::new(REFERENCE).exists() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{REFERENCE} is missing: CI must install Debian's ipvsadm"
    );
    eprintln!("note: {REFERENCE} not installed; comparison with the reference not run");
    false
}

#[test]
fn help_and_version_work_without_ipvs() {
    for arg in ["-h", "--help", "-v", "--version"] {
        let out = ours(&[arg]);
        assert_eq!(out.status.code(), Some(0), "{arg}");
        assert!(out.stderr.is_empty(), "{arg}");
        assert!(!out.stdout.is_empty(), "{arg}");
    }
}

#[test]
fn other_commands_fail_like_the_reference_without_ipvs() {
    if ipvs_present() || !reference_available() {
        return;
    }
    let cases: &[&[&str]] = &[
        &["-Ln"],
        &[],
        &["-A", "-t", "10.0.0.1:80"],
        &["-C"],
        &["--bogus"],
        &["-A", "-t", "not an address"],
    ];
    for args in cases {
        let theirs = run(REFERENCE, "ipvsadm", args);
        let mine = ours(args);
        assert_eq!(
            String::from_utf8_lossy(&mine.stderr),
            String::from_utf8_lossy(&theirs.stderr),
            "stderr for {args:?}"
        );
        assert_eq!(mine.stdout, theirs.stdout, "stdout for {args:?}");
        assert_eq!(
            mine.status.code(),
            theirs.status.code(),
            "status for {args:?}"
        );
    }
}
