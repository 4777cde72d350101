//! The host tools each xtask command needs, in one table, and the preflight
//! that checks for them before anything is built and installs what is
//! missing.
//!
//! This is the only list of host packages in the project: `cargo xtask
//! demo`, `test`, `vm`, `bench`, `capture-wire`, `fetch`, `package` and
//! `fresh-machine` call [`ensure`] with the jobs they do, `.ci/run` relies
//! on them doing so, and `cargo xtask deps` prints the table for people who
//! install by hand. A fresh Debian machine with git and Rust then needs
//! nothing else: the preflight runs `apt-get update` when the package
//! lists are old or do not know a package, then one `apt-get install
//! --no-install-recommends` of exactly what is missing. Where it cannot
//! install (not root, no apt) it stops at once with exit status 2 and the
//! exact command to run, instead of failing halfway through a build.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context, Result};

/// A group of xtask work with the same host needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Job {
    /// Download and index a Debian kernel (`fetch`, and everything that boots).
    Kernel,
    /// Build an initramfs and boot it under qemu (`demo`, `vm`, `test`, `bench`).
    Vm,
    /// The host tests of `cargo xtask test` (man pages, completions, unit).
    HostTests,
    /// Record the reference's netlink traffic (`capture-wire`).
    Capture,
    /// Build and check the packages (`package`).
    Package,
    /// Make a throwaway Debian root (`fresh-machine`).
    FreshRoot,
    /// Run the fuzz targets (`fuzz`; the nightly toolchain comes with the
    /// machine's rustup, it cannot be installed from here).
    Fuzz,
    /// Boot a Debian 12 system with systemd across a reboot (`reboot-test`).
    Reboot,
}

/// How to tell that a package's tool is there.
#[derive(Clone, Copy, Debug)]
pub enum Probe {
    /// A command found on PATH.
    Command(&'static str),
    /// Any of these files exists.
    File(&'static [&'static str]),
}

/// One Debian package the host needs.
#[derive(Clone, Copy, Debug)]
pub struct HostPackage {
    /// Debian package name.
    pub package: &'static str,
    /// What shows it is installed.
    pub probe: Probe,
    /// What it is for, printed when it is installed.
    pub why: &'static str,
    /// The jobs that need it.
    pub jobs: &'static [Job],
}

use Job::*;

/// Every host package of the project. Essential packages (dpkg, apt,
/// libc-bin, bash, dash, coreutils) are on every Debian system and are not
/// listed.
pub const PACKAGES: &[HostPackage] = &[
    HostPackage {
        package: "kmod",
        probe: Probe::Command("depmod"),
        why: "depmod indexes the kernels' modules",
        jobs: &[Kernel, Vm, Reboot],
    },
    HostPackage {
        package: "xz-utils",
        probe: Probe::Command("xz"),
        why: "unpacks 6.12's compressed modules",
        jobs: &[Kernel, Vm, Reboot],
    },
    HostPackage {
        package: "qemu-system-x86",
        probe: Probe::Command("qemu-system-x86_64"),
        why: "boots the test kernels (software emulation)",
        jobs: &[Vm, Reboot],
    },
    HostPackage {
        package: "busybox-static",
        probe: Probe::File(&["/bin/busybox", "/usr/bin/busybox"]),
        why: "the VM's userland",
        jobs: &[Vm, Reboot, Package],
    },
    HostPackage {
        package: "ipvsadm",
        probe: Probe::File(&["/usr/sbin/ipvsadm", "/sbin/ipvsadm"]),
        why: "the reference ipvsadm 1.31, copied into the VM",
        jobs: &[Vm, HostTests],
    },
    HostPackage {
        package: "iproute2",
        probe: Probe::File(&["/sbin/ip", "/bin/ip", "/usr/sbin/ip", "/usr/bin/ip"]),
        why: "`ip netns` inside the VM",
        jobs: &[Vm],
    },
    HostPackage {
        package: "netbase",
        probe: Probe::File(&["/etc/services"]),
        why: "/etc/services, for port names in the VM",
        jobs: &[Vm],
    },
    HostPackage {
        package: "strace",
        probe: Probe::Command("strace"),
        why: "records the reference's netlink traffic in the VM",
        jobs: &[Capture],
    },
    HostPackage {
        package: "cpio",
        probe: Probe::Command("cpio"),
        why: "reads back the initramfs in a unit test",
        jobs: &[HostTests],
    },
    HostPackage {
        package: "mandoc",
        probe: Probe::Command("mandoc"),
        why: "lints the man pages",
        jobs: &[HostTests],
    },
    HostPackage {
        package: "man-db",
        probe: Probe::Command("man"),
        why: "renders the man pages",
        jobs: &[HostTests],
    },
    HostPackage {
        package: "groff-base",
        probe: Probe::Command("groff"),
        why: "man's formatter",
        jobs: &[HostTests],
    },
    HostPackage {
        package: "bash-completion",
        probe: Probe::File(&["/usr/share/bash-completion/bash_completion"]),
        why: "drives the bash completion",
        jobs: &[HostTests],
    },
    HostPackage {
        package: "zsh",
        probe: Probe::Command("zsh"),
        why: "drives the zsh completion",
        jobs: &[HostTests],
    },
    HostPackage {
        package: "fish",
        probe: Probe::Command("fish"),
        why: "drives the fish completion",
        jobs: &[HostTests],
    },
    HostPackage {
        package: "systemd",
        probe: Probe::Command("systemd-analyze"),
        why: "verifies the systemd units",
        jobs: &[HostTests, Package],
    },
    HostPackage {
        package: "file",
        probe: Probe::Command("file"),
        why: "checks the packaged binaries are static",
        jobs: &[HostTests, Package],
    },
    HostPackage {
        package: "debootstrap",
        probe: Probe::Command("debootstrap"),
        why: "makes the throwaway Debian 12 roots",
        jobs: &[FreshRoot, Reboot],
    },
    HostPackage {
        package: "e2fsprogs",
        probe: Probe::Command("mkfs.ext4"),
        why: "makes the reboot test's disk image",
        jobs: &[Reboot],
    },
    HostPackage {
        package: "rpm",
        probe: Probe::Command("rpm"),
        why: "lists and installs the RPM in a scratch root",
        jobs: &[Package],
    },
];

/// A cargo subcommand installed with `cargo install --locked`.
#[derive(Clone, Copy, Debug)]
pub struct CargoTool {
    /// The crate to install.
    pub krate: &'static str,
    /// The binary that shows it is installed.
    pub binary: &'static str,
    /// What it is for.
    pub why: &'static str,
    /// The jobs that need it.
    pub jobs: &'static [Job],
}

/// Cargo tools the jobs need.
pub const CARGO_TOOLS: &[CargoTool] = &[
    CargoTool {
        krate: "cargo-deb",
        binary: "cargo-deb",
        why: "builds the Debian package",
        jobs: &[Package, Reboot],
    },
    CargoTool {
        krate: "cargo-generate-rpm",
        binary: "cargo-generate-rpm",
        why: "builds the RPM",
        jobs: &[Package],
    },
    CargoTool {
        krate: "cargo-fuzz",
        binary: "cargo-fuzz",
        why: "runs the fuzz targets",
        jobs: &[Fuzz],
    },
];

/// The preflight could not provide what a job needs and nothing was
/// started: the xtask exits with status 2.
#[derive(Debug)]
pub struct Missing {
    /// The whole message, with the command to run.
    pub message: String,
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Missing {}

fn on_path(cmd: &str) -> bool {
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    // Root's tools in sbin are found even when PATH lacks it (as under sudo).
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(Into::into))
        .any(|d| {
            let p = d.join(cmd);
            p.metadata().is_ok_and(|m| {
                m.is_file()
                    && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
            })
        })
}

impl Probe {
    fn present(self) -> bool {
        match self {
            Probe::Command(c) => on_path(c),
            Probe::File(paths) => paths.iter().any(|p| Path::new(p).exists()),
        }
    }
}

/// The packages `jobs` need, each once, in table order.
pub fn needed(jobs: &[Job]) -> Vec<&'static HostPackage> {
    PACKAGES
        .iter()
        .filter(|p| p.jobs.iter().any(|j| jobs.contains(j)))
        .collect()
}

/// The packages `jobs` need that are not installed.
pub fn missing(jobs: &[Job]) -> Vec<&'static HostPackage> {
    needed(jobs)
        .into_iter()
        .filter(|p| !p.probe.present())
        .collect()
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // The effective uid is what apt and dpkg look at.
    Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .is_some_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The apt-get command line that installs `packages`.
pub fn install_command(packages: &[&str], sudo: bool) -> String {
    let s = if sudo { "sudo " } else { "" };
    format!(
        "{s}apt-get update && {s}apt-get install --no-install-recommends {}",
        packages.join(" ")
    )
}

const LISTS: &str = "/var/lib/apt/lists";
/// Package lists older than this are refreshed before an install.
const LISTS_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// The age of the newest package list, or None when there is none.
fn lists_age() -> Option<Duration> {
    let newest = fs::read_dir(LISTS)
        .ok()?
        .flatten()
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            n.ends_with("_Packages") || n.contains("_Packages.") || n.ends_with("Release")
        })
        .filter_map(|e| e.metadata().ok()?.modified().ok())
        .max()?;
    SystemTime::now().duration_since(newest).ok()
}

/// Whether apt knows an installable version of `package`.
fn has_candidate(package: &str) -> bool {
    Command::new("apt-cache")
        .args(["policy", package])
        .output()
        .ok()
        .is_some_and(|o| {
            let t = String::from_utf8_lossy(&o.stdout);
            t.lines().any(|l| {
                l.trim()
                    .strip_prefix("Candidate:")
                    .is_some_and(|c| c.trim() != "(none)")
            })
        })
}

/// Set once this process has refreshed apt's lists: once is enough.
static UPDATED: AtomicBool = AtomicBool::new(false);

/// Runs `apt-get update` (at most once per process), echoing nothing but
/// failures.
pub fn apt_update() -> Result<()> {
    if UPDATED.swap(true, Ordering::SeqCst) {
        return Ok(());
    }
    eprintln!("xtask: apt-get update (the package lists are old or lack a package)");
    let out = Command::new("apt-get")
        .args(["update", "-q"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .output()
        .context("running apt-get update")?;
    if !out.status.success() {
        bail!(
            "apt-get update failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// Whether apt lists should be refreshed before using them: none, old, or
/// missing one of `packages`.
pub fn lists_need_update(packages: &[&str]) -> bool {
    match lists_age() {
        None => true,
        Some(age) if age > LISTS_MAX_AGE => true,
        Some(_) => packages.iter().any(|p| !has_candidate(p)),
    }
}

/// Whether this process may install packages: root with apt-get.
pub fn can_install() -> bool {
    is_root() && on_path("apt-get")
}

/// Why `lacking` cannot be installed here, if it cannot: no apt, or not
/// root. The message names the exact command to run.
fn refuse(what: &str, lacking: &[&HostPackage], root: bool, apt: bool) -> Result<(), Missing> {
    let names: Vec<&str> = lacking.iter().map(|p| p.package).collect();
    if !apt {
        let list: Vec<String> = lacking
            .iter()
            .map(|p| format!("  {} ({})", p.package, p.why))
            .collect();
        return Err(Missing {
            message: format!(
                "cargo xtask {what} needs these Debian packages, and this host has no apt-get \
                 to install them (the test bed downloads Debian kernels with apt, so it needs a \
                 Debian 12 host, whose archive has those kernels):\n{}",
                list.join("\n")
            ),
        });
    }
    if !root {
        return Err(Missing {
            message: format!(
                "cargo xtask {what} needs {} (not installed); installing needs root. Run:\n  {}\nthen run this command again",
                names.join(", "),
                install_command(&names, true)
            ),
        });
    }
    Ok(())
}

/// Checks that every host package and cargo tool `jobs` need is there,
/// installing the missing ones when it can. `what` names the command for
/// the messages. Returns a [`Missing`] error (exit status 2) when it cannot.
pub fn ensure(what: &str, jobs: &[Job]) -> Result<()> {
    let lacking = missing(jobs);
    if !lacking.is_empty() {
        let names: Vec<&str> = lacking.iter().map(|p| p.package).collect();
        refuse(what, &lacking, is_root(), on_path("apt-get"))?;
        let whys: Vec<String> = lacking
            .iter()
            .map(|p| format!("{}: {}", p.package, p.why))
            .collect();
        eprintln!("xtask: installing {}", whys.join("; "));
        let started = Instant::now();
        if lists_need_update(&names) {
            apt_update()?;
        }
        let status = Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&names)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .context("running apt-get install")?;
        if !status.success() {
            return Err(Missing {
                message: format!(
                    "apt-get install of {} failed ({status}); try by hand:\n  {}",
                    names.join(" "),
                    install_command(&names, false)
                ),
            }
            .into());
        }
        let still: Vec<&str> = missing(jobs).iter().map(|p| p.package).collect();
        if !still.is_empty() {
            bail!(
                "installed {} but still missing what they provide: {}",
                names.join(" "),
                still.join(" ")
            );
        }
        eprintln!(
            "xtask: installed {} in {:.0} s",
            names.join(" "),
            started.elapsed().as_secs_f64()
        );
    }
    ensure_cargo_tools(what, jobs)
}

fn ensure_cargo_tools(what: &str, jobs: &[Job]) -> Result<()> {
    for t in CARGO_TOOLS
        .iter()
        .filter(|t| t.jobs.iter().any(|j| jobs.contains(j)))
    {
        if on_path(t.binary) || cargo_bin_dir().is_some_and(|d| d.join(t.binary).exists()) {
            continue;
        }
        eprintln!(
            "xtask: installing {} ({}) with cargo install, for cargo xtask {what}",
            t.krate, t.why
        );
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["install", "--locked", t.krate])
            .status()
            .with_context(|| format!("running cargo install {}", t.krate))?;
        if !status.success() {
            return Err(Missing {
                message: format!(
                    "cargo install --locked {} failed ({status}); it is needed for cargo xtask {what}",
                    t.krate
                ),
            }
            .into());
        }
    }
    Ok(())
}

fn cargo_bin_dir() -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))?;
    Some(home.join("bin"))
}

/// The first Debian archive URI in the host's apt sources, so that the root
/// is bootstrapped from the archive the host uses (debootstrap's default
/// otherwise).
pub fn host_mirror() -> Option<String> {
    let mut texts = Vec::new();
    if let Ok(t) = fs::read_to_string("/etc/apt/sources.list") {
        texts.push(t);
    }
    if let Ok(dir) = fs::read_dir("/etc/apt/sources.list.d") {
        let mut files: Vec<PathBuf> = dir.flatten().map(|e| e.path()).collect();
        files.sort();
        for f in files {
            let name = f.to_string_lossy();
            if name.ends_with(".sources") || name.ends_with(".list") {
                if let Ok(t) = fs::read_to_string(&f) {
                    texts.push(t);
                }
            }
        }
    }
    texts.iter().find_map(|t| mirror_of(t))
}

/// The archive URI (ending in `/debian`) of one sources file, in either
/// the one-line or the deb822 format.
fn mirror_of(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let l = l.trim();
        let uri = if let Some(rest) = l.strip_prefix("URIs:") {
            rest.split_whitespace().next()?
        } else if let Some(rest) = l.strip_prefix("deb ") {
            rest.split_whitespace().find(|w| w.contains("://"))?
        } else {
            return None;
        };
        let uri = uri.trim_end_matches('/');
        uri.ends_with("/debian").then(|| uri.to_string())
    })
}

/// `cargo xtask deps`: the table, and what is missing here.
pub fn print_table() -> bool {
    let all = [
        Kernel, Vm, HostTests, Capture, Package, FreshRoot, Fuzz, Reboot,
    ];
    println!(
        "{:<18} {:<9} {:<52} needed by",
        "package", "installed", "what for"
    );
    for p in needed(&all) {
        let jobs: Vec<String> = p.jobs.iter().map(|j| format!("{j:?}")).collect();
        println!(
            "{:<18} {:<9} {:<52} {}",
            p.package,
            if p.probe.present() { "yes" } else { "no" },
            p.why,
            jobs.join(", ")
        );
    }
    for t in CARGO_TOOLS {
        let present =
            on_path(t.binary) || cargo_bin_dir().is_some_and(|d| d.join(t.binary).exists());
        println!(
            "{:<18} {:<9} {:<52} {:?} (cargo install --locked)",
            t.krate,
            if present { "yes" } else { "no" },
            t.why,
            t.jobs
        );
    }
    let lacking: Vec<&str> = missing(&all).iter().map(|p| p.package).collect();
    if !lacking.is_empty() {
        println!(
            "\nto install the missing ones:\n  {}",
            install_command(&lacking, !is_root())
        );
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_has_packages_and_no_package_is_listed_twice() {
        for j in [
            Kernel, Vm, HostTests, Capture, Package, FreshRoot, Fuzz, Reboot,
        ] {
            let tools = CARGO_TOOLS.iter().filter(|t| t.jobs.contains(&j)).count();
            assert!(needed(&[j]).len() + tools > 0, "{j:?} needs nothing?");
        }
        let mut names: Vec<&str> = PACKAGES.iter().map(|p| p.package).collect();
        names.sort();
        let n = names.len();
        names.dedup();
        assert_eq!(n, names.len(), "a package is listed twice");
    }

    #[test]
    fn vm_needs_include_the_test_bed() {
        let vm: Vec<&str> = needed(&[Vm]).iter().map(|p| p.package).collect();
        for p in [
            "qemu-system-x86",
            "busybox-static",
            "ipvsadm",
            "iproute2",
            "kmod",
        ] {
            assert!(vm.contains(&p), "{p}");
        }
        assert!(!vm.contains(&"zsh"));
    }

    #[test]
    fn without_root_or_apt_it_refuses_with_the_command() {
        let lacking: Vec<&HostPackage> = PACKAGES
            .iter()
            .filter(|p| ["zsh", "qemu-system-x86"].contains(&p.package))
            .collect();
        let e = refuse("demo", &lacking, false, true).unwrap_err();
        assert!(
            e.message.contains(
                "sudo apt-get update && sudo apt-get install --no-install-recommends qemu-system-x86 zsh"
            ),
            "{e}"
        );
        let e = refuse("demo", &lacking, true, false).unwrap_err();
        assert!(e.message.contains("no apt-get"), "{e}");
        assert!(
            e.message.contains("  zsh (drives the zsh completion)"),
            "{e}"
        );
        assert!(refuse("demo", &lacking, true, true).is_ok());
    }

    #[test]
    fn mirror_from_both_source_formats() {
        let deb822 = "Types: deb\nURIs: http://archive.example.test/debian\nSuites: bookworm\n\nTypes: deb\nURIs: http://archive.example.test/debian-security\n";
        assert_eq!(
            mirror_of(deb822).as_deref(),
            Some("http://archive.example.test/debian")
        );
        let one_line =
            "# comment\ndeb [arch=amd64] http://archive.example.test/debian/ bookworm main\n";
        assert_eq!(
            mirror_of(one_line).as_deref(),
            Some("http://archive.example.test/debian")
        );
        // The security archive is no place to bootstrap from.
        assert_eq!(
            mirror_of("deb http://archive.example.test/debian-security bookworm-security main\n"),
            None
        );
    }

    #[test]
    fn install_command_is_exact() {
        assert_eq!(
            install_command(&["qemu-system-x86", "kmod"], true),
            "sudo apt-get update && sudo apt-get install --no-install-recommends qemu-system-x86 kmod"
        );
        assert_eq!(
            install_command(&["kmod"], false),
            "apt-get update && apt-get install --no-install-recommends kmod"
        );
    }

    #[test]
    fn probes_see_what_is_there_and_what_is_not() {
        assert!(Probe::Command("sh").present());
        assert!(!Probe::Command("no-such-tool-ipvsadm-rs").present());
        assert!(Probe::File(&["/nonexistent", "/"]).present());
        assert!(!Probe::File(&["/nonexistent/ipvsadm-rs"]).present());
    }
}
