//! `cargo xtask package [--check]`: the Debian package, built with
//! `cargo deb` from `[package.metadata.deb]` in Cargo.toml, and the RPM,
//! built with `cargo generate-rpm` from `[package.metadata.generate-rpm]`
//! (see [`rpm`]), both from the same static binaries in target/shipped.
//!
//! `--check` then lists the package, checks that every file a system
//! install needs is in it (and nothing is missing from the conffiles),
//! installs it with `dpkg --root` into a scratch root that has its own
//! dpkg database (so the host's dpkg is never touched), checks the files
//! landed and the installed binary runs, and purges it again. Running the
//! maintainer scripts needs a shell inside the scratch root: as root, with
//! a static busybox on the host (the preflight installs busybox-static), the
//! package is configured and purged too; otherwise it is only unpacked.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

mod rpm;

/// Every file the package must install, with its mode.
pub const EXPECTED: &[(&str, &str)] = &[
    ("usr/sbin/ipvsadm-rs", "-rwxr-xr-x"),
    ("usr/sbin/ipvsadm-rs-save", "-rwxr-xr-x"),
    ("usr/sbin/ipvsadm-rs-restore", "-rwxr-xr-x"),
    ("usr/share/man/man8/ipvsadm-rs.8.gz", "-rw-r--r--"),
    ("usr/share/man/man8/ipvsadm-rs-save.8.gz", "-rw-r--r--"),
    ("usr/share/man/man8/ipvsadm-rs-restore.8.gz", "-rw-r--r--"),
    (
        "usr/share/bash-completion/completions/ipvsadm-rs",
        "-rw-r--r--",
    ),
    (
        "usr/share/bash-completion/completions/ipvsadm-rs-save",
        "-rw-r--r--",
    ),
    ("usr/share/zsh/vendor-completions/_ipvsadm-rs", "-rw-r--r--"),
    (
        "usr/share/fish/vendor_completions.d/ipvsadm-rs.fish",
        "-rw-r--r--",
    ),
    ("usr/lib/systemd/system/ipvsadm-rs.service", "-rw-r--r--"),
    (
        "usr/lib/systemd/system/ipvsadm-rs-realserver.service",
        "-rw-r--r--",
    ),
    ("etc/default/ipvsadm-rs", "-rw-r--r--"),
    ("etc/default/ipvsadm-rs-realserver", "-rw-r--r--"),
    ("usr/share/doc/ipvsadm-rs/README.md", "-rw-r--r--"),
    ("usr/share/doc/ipvsadm-rs/compat.md", "-rw-r--r--"),
    ("usr/share/doc/ipvsadm-rs/copyright", "-rw-r--r--"),
    ("usr/share/doc/ipvsadm-rs/LICENSE-MIT", "-rw-r--r--"),
    ("usr/share/doc/ipvsadm-rs/LICENSE-APACHE", "-rw-r--r--"),
];

/// The package's conffiles.
pub const CONFFILES: &[&str] = &[
    "/etc/default/ipvsadm-rs",
    "/etc/default/ipvsadm-rs-realserver",
];

pub(crate) fn output(cmd: &mut Command) -> Result<String> {
    let what = format!("{cmd:?}");
    let out = cmd.output().with_context(|| format!("running {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Builds the package; returns its path.
pub fn build(root: &Path) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let probe = Command::new(&cargo)
        .args(["deb", "--version"])
        .output()
        .context("running cargo deb --version")?;
    if !probe.status.success() {
        bail!("cargo-deb is not installed: `cargo install cargo-deb --locked` (.ci/run does)");
    }
    // The shipped binaries are the static ones the test bed tests
    // (cargo::build_release_bins); cargo deb only packs them.
    crate::cargo::build_release_bins(root)?;
    let stdout = output(
        Command::new(&cargo)
            .args(["deb", "--no-build"])
            .current_dir(root),
    )?;
    let deb = stdout
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.ends_with(".deb"))
        .context("cargo deb printed no .deb path")?;
    println!("built {deb}");
    Ok(PathBuf::from(deb))
}

/// `cargo xtask package [--check]`.
pub fn run(root: &Path, check: bool) -> Result<bool> {
    let deb = build(root)?;
    let rpm = rpm::build(root)?;
    if !check {
        return Ok(true);
    }
    let mut ok = crate::hot_code::check(root)?;
    ok &= check_contents(&deb)?;
    ok &= check_install(root, &deb)?;
    ok &= rpm::check_contents(&rpm)?;
    ok &= rpm::check_install(root, &rpm)?;
    println!("package check: {}", if ok { "passed" } else { "FAILED" });
    Ok(ok)
}

/// The package lists every expected file with its mode, and its
/// conffiles.
fn check_contents(deb: &Path) -> Result<bool> {
    let listing = output(Command::new("dpkg-deb").arg("-c").arg(deb))?;
    let mut ok = true;
    for (path, mode) in EXPECTED {
        let line = listing.lines().find(|l| l.ends_with(&format!("./{path}")));
        match line {
            Some(l) if l.starts_with(mode) => {}
            Some(l) => {
                println!("  wrong mode: {l} (want {mode})");
                ok = false;
            }
            None => {
                println!("  missing from the package: /{path}");
                ok = false;
            }
        }
    }
    let conffiles = output(Command::new("dpkg-deb").arg("-I").arg(deb).arg("conffiles"))?;
    for c in CONFFILES {
        if !conffiles.lines().any(|l| l.trim() == *c) {
            println!("  not a conffile: {c}");
            ok = false;
        }
    }
    let fields = output(Command::new("dpkg-deb").arg("-f").arg(deb))?;
    for f in ["Package: ipvsadm-rs", "Section: net", "Architecture: amd64"] {
        if !fields.lines().any(|l| l.starts_with(f)) {
            println!("  control lacks {f:?}");
            ok = false;
        }
    }
    // The binaries are static-pie (cargo::build_release_bins), so the
    // package needs no shared library; a libc6 dependency would mean a
    // dynamic binary slipped in.
    if fields
        .lines()
        .any(|l| l.starts_with("Depends:") && l.contains("libc6"))
    {
        println!("  control depends on libc6: the packaged binaries are not the static ones");
        ok = false;
    }
    println!(
        "package contents: {} expected files {}",
        EXPECTED.len(),
        if ok { "present" } else { "NOT all present" }
    );
    Ok(ok)
}

/// A static busybox on the host, to be the scratch root's `/bin/sh`.
pub(crate) fn static_busybox() -> Option<PathBuf> {
    let p = PathBuf::from("/bin/busybox");
    let out = Command::new("file").arg("-L").arg(&p).output().ok();
    let described = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    match described {
        Some(d) if d.contains("statically linked") => Some(p),
        // Without `file`, trust Debian's busybox-static layout.
        None if p.exists() => Some(p),
        _ => None,
    }
}

/// Installs the package into a scratch root with its own dpkg database,
/// checks the files, runs the binary, and purges it.
fn check_install(root: &Path, deb: &Path) -> Result<bool> {
    let scratch = root.join("target/package-check/root");
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)?;
    }
    let admin = scratch.join("var/lib/dpkg");
    std::fs::create_dir_all(admin.join("updates"))?;
    std::fs::create_dir_all(admin.join("info"))?;
    std::fs::write(admin.join("status"), "")?;
    std::fs::create_dir_all(scratch.join("dev"))?;
    // The maintainer scripts write to /dev/null; a plain file will do.
    std::fs::write(scratch.join("dev/null"), "")?;
    let dpkg = |args: &[&str]| -> Result<String> {
        let mut c = Command::new("dpkg");
        c.arg(format!("--root={}", scratch.display()))
            .arg(format!("--admindir={}", admin.display()))
            .arg(format!("--log={}", scratch.join("dpkg.log").display()))
            .args(["--force-not-root", "--force-depends"])
            .args(args);
        output(&mut c)
    };
    let scripts = crate::hostdeps::is_root() && static_busybox().is_some();
    if scripts {
        let bin = scratch.join("bin");
        std::fs::create_dir_all(&bin)?;
        if let Some(bb) = static_busybox() {
            std::fs::copy(bb, bin.join("busybox"))?;
        }
        for applet in ["sh", "rm", "cat", "mkdir"] {
            std::os::unix::fs::symlink("busybox", bin.join(applet))?;
        }
        dpkg(&["--install", &deb.display().to_string()])?;
    } else {
        println!(
            "  note: not root or no static busybox: unpacking only, maintainer scripts not run"
        );
        dpkg(&["--unpack", &deb.display().to_string()])?;
    }
    let mut ok = true;
    for (path, _) in EXPECTED {
        let p = scratch.join(path);
        // An unconfigured conffile waits as .dpkg-new.
        let alt = scratch.join(format!("{path}.dpkg-new"));
        let landed = p.is_file() || (!scripts && alt.is_file());
        if !landed {
            println!("  did not land: /{path}");
            ok = false;
        }
    }
    let status = output(
        Command::new("dpkg-query")
            .arg(format!("--admindir={}", admin.display()))
            .args(["-W", "-f=${Status}", "ipvsadm-rs"]),
    )?;
    let want = if scripts {
        "install ok installed"
    } else {
        "install ok unpacked"
    };
    if status.trim() != want {
        println!("  dpkg status {status:?}, want {want:?}");
        ok = false;
    }
    let version = output(Command::new(scratch.join("usr/sbin/ipvsadm-rs")).arg("-v"))?;
    if !version.starts_with("ipvsadm v1.31") {
        println!("  installed ipvsadm-rs -v printed {version:?}");
        ok = false;
    }
    if scripts {
        dpkg(&["--purge", "ipvsadm-rs"])?;
        for (path, _) in EXPECTED {
            if scratch.join(path).exists() {
                println!("  left after purge: /{path}");
                ok = false;
            }
        }
    }
    println!(
        "package install into {}: {}",
        scratch.display(),
        if ok { "ok" } else { "FAILED" }
    );
    Ok(ok)
}
