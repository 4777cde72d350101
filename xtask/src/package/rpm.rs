//! The RPM package, built with `cargo generate-rpm` from
//! `[package.metadata.generate-rpm]` in Cargo.toml (no spec file), and its
//! check: listed with `rpm -qp`, installed into a scratch root with its
//! own rpm database (`rpm --root`, so the host is never touched), a local
//! edit of a config file kept across the removal, and removed again.
//!
//! The scratch root's database is empty, so nothing in it provides the
//! `/bin/sh` the package requires (its scriptlets and its units' commands
//! are shell): the install uses `--nodeps` for that reason alone, after
//! checking that `/bin/sh` is indeed the only thing the package requires.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use super::{output, static_busybox};
use crate::hostdeps::is_root;

/// Every file the RPM must hold, with its mode.
pub const EXPECTED: &[(&str, &str)] = &[
    ("/usr/sbin/ipvsadm-rs", "-rwxr-xr-x"),
    ("/usr/sbin/ipvsadm-rs-save", "-rwxr-xr-x"),
    ("/usr/sbin/ipvsadm-rs-restore", "-rwxr-xr-x"),
    ("/usr/share/man/man8/ipvsadm-rs.8", "-rw-r--r--"),
    ("/usr/share/man/man8/ipvsadm-rs-save.8", "-rw-r--r--"),
    ("/usr/share/man/man8/ipvsadm-rs-restore.8", "-rw-r--r--"),
    (
        "/usr/share/bash-completion/completions/ipvsadm-rs",
        "-rw-r--r--",
    ),
    (
        "/usr/share/bash-completion/completions/ipvsadm-rs-save",
        "-rw-r--r--",
    ),
    ("/usr/share/zsh/site-functions/_ipvsadm-rs", "-rw-r--r--"),
    (
        "/usr/share/fish/vendor_completions.d/ipvsadm-rs.fish",
        "-rw-r--r--",
    ),
    ("/usr/lib/systemd/system/ipvsadm-rs.service", "-rw-r--r--"),
    (
        "/usr/lib/systemd/system/ipvsadm-rs-realserver.service",
        "-rw-r--r--",
    ),
    ("/etc/sysconfig/ipvsadm-rs", "-rw-r--r--"),
    ("/etc/sysconfig/ipvsadm-rs-realserver", "-rw-r--r--"),
    ("/usr/share/doc/ipvsadm-rs/README.md", "-rw-r--r--"),
    ("/usr/share/doc/ipvsadm-rs/compat.md", "-rw-r--r--"),
    ("/usr/share/licenses/ipvsadm-rs/LICENSE-MIT", "-rw-r--r--"),
    (
        "/usr/share/licenses/ipvsadm-rs/LICENSE-APACHE",
        "-rw-r--r--",
    ),
];

/// Config files that keep local edits (`%config(noreplace)`).
pub const CONFIG_NOREPLACE: &[&str] = &[
    "/etc/sysconfig/ipvsadm-rs",
    "/etc/sysconfig/ipvsadm-rs-realserver",
];

/// Builds the RPM from the binaries [`super::build`] left in
/// target/shipped; returns its path.
pub fn build(root: &Path) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let probe = Command::new(&cargo)
        .args(["generate-rpm", "--version"])
        .output()
        .context("running cargo generate-rpm --version")?;
    if !probe.status.success() {
        bail!(
            "cargo-generate-rpm is not installed: `cargo install cargo-generate-rpm --locked` (.ci/run does)"
        );
    }
    let out_dir = root.join("target/generate-rpm");
    if out_dir.exists() {
        std::fs::remove_dir_all(&out_dir)?;
    }
    std::fs::create_dir_all(&out_dir)?;
    output(
        Command::new(&cargo)
            .arg("generate-rpm")
            .arg("-o")
            .arg(&out_dir)
            .current_dir(root),
    )?;
    let mut rpms: Vec<PathBuf> = std::fs::read_dir(&out_dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rpm"))
        .collect();
    let Some(rpm) = rpms.pop().filter(|_| rpms.is_empty()) else {
        bail!(
            "cargo generate-rpm left no single .rpm in {}",
            out_dir.display()
        );
    };
    println!("built {}", rpm.display());
    Ok(rpm)
}

fn query(rpm: &Path, args: &[&str]) -> Result<String> {
    output(Command::new("rpm").arg("-qp").args(args).arg(rpm))
}

/// The package holds every expected file with its mode, marks the
/// settings as config files that keep local edits, requires nothing but
/// `/bin/sh`, and carries the scriptlets.
pub fn check_contents(rpm: &Path) -> Result<bool> {
    let mut ok = true;
    let listing = query(rpm, &["-l"])?;
    let modes = query(rpm, &["--qf", "[%{FILEMODES:perms} %{FILENAMES}\n]"])?;
    for (path, mode) in EXPECTED {
        if !listing.lines().any(|l| l == *path) {
            println!("  missing from the rpm (rpm -qlp): {path}");
            ok = false;
            continue;
        }
        if !modes.lines().any(|l| l == format!("{mode} {path}")) {
            println!("  wrong mode in the rpm: {path} (want {mode})");
            ok = false;
        }
    }
    let flags = query(rpm, &["--qf", "[%{FILEFLAGS:fflags} %{FILENAMES}\n]"])?;
    for c in CONFIG_NOREPLACE {
        let f = flags
            .lines()
            .find_map(|l| l.strip_suffix(&format!(" {c}")))
            .unwrap_or("");
        if !(f.contains('c') && f.contains('n')) {
            println!("  not %config(noreplace): {c} (flags {f:?})");
            ok = false;
        }
    }
    // Requirements other than rpm's own feature markers and the package's
    // own config files: only /bin/sh, listed for the package and again for
    // each scriptlet (a shared library here would mean the binaries are
    // not the static ones).
    let requires = query(rpm, &["-R"])?;
    let mut wanted: Vec<&str> = requires
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("rpmlib(") && !l.starts_with("config(ipvsadm-rs) = "))
        .collect();
    wanted.dedup();
    if wanted != ["/bin/sh"] {
        println!("  requires {wanted:?}, want only /bin/sh");
        ok = false;
    }
    let scripts = query(rpm, &["--scripts"])?;
    for needle in ["systemctl --no-reload preset", "disable --now"] {
        if !scripts.contains(needle) {
            println!("  scriptlets lack {needle:?}");
            ok = false;
        }
    }
    let info = query(rpm, &["--qf", "%{NAME} %{ARCH} %{LICENSE}"])?;
    if info != "ipvsadm-rs x86_64 MIT OR Apache-2.0" {
        println!("  rpm header: {info:?}");
        ok = false;
    }
    println!(
        "rpm contents: {} expected files {}",
        EXPECTED.len(),
        if ok { "present" } else { "NOT all present" }
    );
    Ok(ok)
}

/// Installs the RPM into a scratch root, checks the files and the
/// default rules file, edits a config file, removes the package and
/// checks that only the edited config file stays (as `.rpmsave`).
pub fn check_install(root: &Path, rpm: &Path) -> Result<bool> {
    let scratch = root.join("target/package-check/rpmroot");
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)?;
    }
    std::fs::create_dir_all(scratch.join("dev"))?;
    std::fs::write(scratch.join("dev/null"), "")?;
    let rpm_in = |args: &[&str]| -> Result<String> {
        let mut c = Command::new("rpm");
        c.arg("--root")
            .arg(&scratch)
            .args(["--dbpath", "/var/lib/rpm"])
            .args(args);
        output(&mut c)
    };
    rpm_in(&["--initdb"])?;
    // Scriptlets run chrooted into the scratch root: they need a shell
    // there (a static busybox) and root to chroot.
    let scripts = is_root() && static_busybox().is_some();
    let mut install = vec!["-i", "--nodeps"];
    if scripts {
        let bin = scratch.join("bin");
        std::fs::create_dir_all(&bin)?;
        if let Some(bb) = static_busybox() {
            std::fs::copy(bb, bin.join("busybox"))?;
        }
        std::os::unix::fs::symlink("busybox", bin.join("sh"))?;
    } else {
        println!("  note: not root or no static busybox: scriptlets not run");
        install.push("--noscripts");
    }
    let rpm_path = rpm.display().to_string();
    install.push(&rpm_path);
    rpm_in(&install)?;
    let mut ok = true;
    for (path, _) in EXPECTED {
        if !scratch.join(&path[1..]).is_file() {
            println!("  did not land: {path}");
            ok = false;
        }
    }
    let q = rpm_in(&["-q", "ipvsadm-rs"])?;
    if !q.starts_with("ipvsadm-rs-") {
        println!("  rpm -q ipvsadm-rs: {q:?}");
        ok = false;
    }
    let version = output(Command::new(scratch.join("usr/sbin/ipvsadm-rs")).arg("-v"))?;
    if !version.starts_with("ipvsadm v1.31") {
        println!("  installed ipvsadm-rs -v printed {version:?}");
        ok = false;
    }
    let settings = scratch.join("etc/sysconfig/ipvsadm-rs");
    let text = std::fs::read_to_string(&settings).unwrap_or_default();
    if !text
        .lines()
        .any(|l| l == "IPVSADM_RULES=/etc/sysconfig/ipvsadm")
    {
        println!("  /etc/sysconfig/ipvsadm-rs does not name /etc/sysconfig/ipvsadm");
        ok = false;
    }
    // A local edit survives the removal as .rpmsave; the untouched
    // config file goes.
    std::fs::write(&settings, format!("{text}IPVSADM_SAVE_ON_STOP=no\n"))?;
    let mut erase = vec!["-e"];
    if !scripts {
        erase.push("--noscripts");
    }
    erase.push("ipvsadm-rs");
    rpm_in(&erase)?;
    for (path, _) in EXPECTED {
        if scratch.join(&path[1..]).exists() {
            println!("  left after rpm -e: {path}");
            ok = false;
        }
    }
    let saved = std::fs::read_to_string(scratch.join("etc/sysconfig/ipvsadm-rs.rpmsave"));
    if !saved.is_ok_and(|s| s.ends_with("IPVSADM_SAVE_ON_STOP=no\n")) {
        println!("  the edited /etc/sysconfig/ipvsadm-rs was not kept as .rpmsave");
        ok = false;
    }
    println!(
        "rpm install into {}: {}",
        scratch.display(),
        if ok { "ok" } else { "FAILED" }
    );
    Ok(ok)
}
