//! `cargo xtask fresh-machine`: the README's promise, tried on a machine
//! that has nothing but git and Rust.
//!
//! A Debian 12 root made with `debootstrap --variant=minbase` (cached as a
//! tarball under `target/fresh/`, unpacked anew for every run) gets git and
//! what the Rust toolchain itself needs to link (gcc, libc6-dev,
//! ca-certificates, with the host's local certificate authorities), and
//! then its package lists are deleted, as in a fresh
//! container image: whatever else the command needs, it must install
//! itself. The host's rustup toolchains are bind-mounted read-only; cargo's
//! registry inside the root starts empty. A fresh clone of this repository
//! (its committed HEAD) is made inside, and the command (by default the
//! README's first one, `cargo xtask demo`) runs there under `chroot`, in a
//! mount namespace of its own so that nothing stays mounted afterwards.
//! Each phase's wall time is printed; docs/testing.md records a run.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result};

use crate::kernel::run;

/// Options of `cargo xtask fresh-machine`.
#[derive(Clone, Debug)]
pub struct FreshOptions {
    /// The command to run in the clone (a shell command line).
    pub command: String,
    /// Keep the unpacked root afterwards (for a look inside).
    pub keep: bool,
}

/// The Debian release of the throwaway root.
const SUITE: &str = "bookworm";
/// Packages a machine "with git and Rust" has: git, and what rustup's
/// toolchain needs to link and to reach the crate registry over TLS.
const BASE_PACKAGES: &[&str] = &["git", "ca-certificates", "gcc", "libc6-dev"];
/// The rustup proxies the root gets (as a rustup install makes them).
const PROXIES: &[&str] = &[
    "cargo",
    "rustc",
    "rustdoc",
    "rustfmt",
    "cargo-fmt",
    "cargo-clippy",
    "clippy-driver",
];

/// Makes (once) the minbase tarball.
fn tarball(dir: &Path) -> Result<PathBuf> {
    let tar = dir.join(format!("debian12-{SUITE}-minbase.tar"));
    if tar.exists() {
        eprintln!("fresh-machine: using the cached {}", tar.display());
        return Ok(tar);
    }
    let build = dir.join("bootstrap");
    if build.exists() {
        fs::remove_dir_all(&build)?;
    }
    let t = Instant::now();
    let mut cmd = Command::new("debootstrap");
    cmd.args(["--variant=minbase", SUITE]).arg(&build);
    if let Some(m) = crate::hostdeps::host_mirror() {
        cmd.arg(m);
    }
    eprintln!("fresh-machine: debootstrap --variant=minbase {SUITE} (once; cached after)");
    run(cmd.stdout(Stdio::null()))?;
    let tmp = dir.join("minbase.tar.tmp");
    run(Command::new("tar")
        .arg("-C")
        .arg(&build)
        .args(["--numeric-owner", "-cf"])
        .arg(&tmp)
        .arg("."))?;
    fs::rename(&tmp, &tar)?;
    fs::remove_dir_all(&build)?;
    eprintln!(
        "fresh-machine: debootstrap took {:.0} s",
        t.elapsed().as_secs_f64()
    );
    Ok(tar)
}

/// The host's apt `Acquire` settings (proxies, validity checks), so that
/// the root reaches the archive the way the host does.
fn host_acquire_settings() -> String {
    Command::new("apt-config")
        .args(["dump", "Acquire"])
        .output()
        .ok()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| l.starts_with("Acquire::") && l.ends_with(';'))
                .map(|l| format!("{l}\n"))
                .collect()
        })
        .unwrap_or_default()
}

/// Lays out the root: a fresh unpack, the host's apt sources and DNS, the
/// rustup proxies.
fn unpack(tar: &Path, root: &Path) -> Result<()> {
    if root.exists() {
        fs::remove_dir_all(root)
            .with_context(|| format!("removing the old {} (still mounted?)", root.display()))?;
    }
    fs::create_dir_all(root)?;
    run(Command::new("tar")
        .arg("-C")
        .arg(root)
        .args(["--numeric-owner", "-xf"])
        .arg(tar))?;
    // Apt sources as on the host (a Debian 12 machine here has bookworm,
    // -updates and -security; the 6.12 kernel comes from -security).
    let apt = root.join("etc/apt");
    let _ = fs::remove_file(apt.join("sources.list"));
    if Path::new("/etc/apt/sources.list").exists() {
        fs::copy("/etc/apt/sources.list", apt.join("sources.list"))?;
    }
    if let Ok(dir) = fs::read_dir("/etc/apt/sources.list.d") {
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".sources") || name.ends_with(".list") {
                fs::copy(e.path(), apt.join("sources.list.d").join(&name))?;
            }
        }
    }
    fs::write(
        apt.join("apt.conf.d/00host-acquire"),
        host_acquire_settings(),
    )?;
    // The local certificate authorities of the host's trust store (every
    // machine of a site has them; TLS to the crate registry may need them):
    // ca-certificates, installed below, adds them to the root's bundle.
    if let Ok(dir) = fs::read_dir("/usr/local/share/ca-certificates") {
        let to = root.join("usr/local/share/ca-certificates");
        fs::create_dir_all(&to)?;
        for e in dir.flatten() {
            if e.path().is_file() {
                fs::copy(e.path(), to.join(e.file_name()))?;
            }
        }
    }
    let _ = fs::remove_file(root.join("etc/resolv.conf"));
    fs::copy("/etc/resolv.conf", root.join("etc/resolv.conf"))
        .context("copying /etc/resolv.conf")?;
    // rustup's proxies, as `rustup-init` lays them out in ~/.cargo/bin.
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    let rustup_bin = Path::new(&home).join(".cargo/bin/rustup");
    let bin = root.join("root/.cargo/bin");
    fs::create_dir_all(&bin)?;
    fs::copy(&rustup_bin, bin.join("rustup"))
        .with_context(|| format!("copying {}", rustup_bin.display()))?;
    for p in PROXIES {
        std::os::unix::fs::symlink("rustup", bin.join(p))?;
    }
    fs::create_dir_all(root.join("root/.rustup"))?;
    fs::create_dir_all(root.join("mnt/src"))?;
    Ok(())
}

/// Runs `script` with bash inside the root, in a mount namespace of its
/// own with /dev, /proc, /sys, the host's toolchains (read-only) and the
/// repository (read-only, at /mnt/src).
fn in_root(root: &Path, repo: &Path, script: &str) -> Result<()> {
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    let rustup = std::env::var_os("RUSTUP_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(&home).join(".rustup"));
    let mounts = r#"set -e
R="$1"; RUSTUP="$2"; SRC="$3"; SCRIPT="$4"
mount --rbind /dev "$R/dev"; mount --make-rslave "$R/dev"
mount -t proc proc "$R/proc"
mount --rbind /sys "$R/sys"; mount --make-rslave "$R/sys"
mount -t tmpfs tmpfs "$R/tmp"
mount --bind "$RUSTUP" "$R/root/.rustup"; mount -o remount,bind,ro "$R/root/.rustup"
mount --bind "$SRC" "$R/mnt/src"; mount -o remount,bind,ro "$R/mnt/src"
exec chroot "$R" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
    PATH=/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    /bin/bash -euo pipefail -c "$SCRIPT"
"#;
    run(Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            mounts,
            "sh",
        ])
        .arg(root)
        .arg(rustup)
        .arg(repo)
        .arg(script)
        .stdin(Stdio::null()))
}

/// `cargo xtask fresh-machine`.
pub fn run_fresh(repo: &Path, opts: &FreshOptions) -> Result<bool> {
    let dir = repo.join("target/fresh");
    fs::create_dir_all(&dir)?;
    let started = Instant::now();
    let mut phases: Vec<(String, f64)> = Vec::new();

    let t = Instant::now();
    let tar = tarball(&dir)?;
    let root = dir.join("root");
    unpack(&tar, &root)?;
    phases.push((
        "root made (debootstrap cached) and unpacked".into(),
        t.elapsed().as_secs_f64(),
    ));

    let t = Instant::now();
    let base = BASE_PACKAGES.join(" ");
    eprintln!("fresh-machine: giving the root git and the toolchain's needs ({base})");
    in_root(
        &root,
        repo,
        &format!(
            "export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends {base} >/dev/null
apt-get clean
rm -rf /var/lib/apt/lists/*"
        ),
    )?;
    phases.push((
        format!("git and toolchain needs ({base})"),
        t.elapsed().as_secs_f64(),
    ));

    let t = Instant::now();
    in_root(
        &root,
        repo,
        "git -c safe.directory='*' clone -q /mnt/src /root/ipvsadm-rs
cd /root/ipvsadm-rs && git log -1 --format='fresh-machine: cloned %h %s'",
    )?;
    phases.push(("fresh clone".into(), t.elapsed().as_secs_f64()));

    let t = Instant::now();
    eprintln!(
        "fresh-machine: running `{}` in the fresh clone",
        opts.command
    );
    let result = in_root(
        &root,
        repo,
        &format!("cd /root/ipvsadm-rs && {}", opts.command),
    );
    let took = t.elapsed().as_secs_f64();
    phases.push((format!("`{}`", opts.command), took));

    eprintln!("fresh-machine: times");
    for (what, secs) in &phases {
        eprintln!("  {secs:>7.0} s  {what}");
    }
    eprintln!("  {:>7.0} s  in all", started.elapsed().as_secs_f64());
    if !opts.keep {
        fs::remove_dir_all(&root).ok();
    }
    match result {
        Ok(()) => {
            eprintln!(
                "fresh-machine: `{}` passed on a fresh Debian 12 root",
                opts.command
            );
            Ok(true)
        }
        Err(e) => {
            eprintln!(
                "fresh-machine: `{}` failed on a fresh Debian 12 root: {e:#}",
                opts.command
            );
            Ok(false)
        }
    }
}
