//! Builds the VM's initramfs: a newc cpio archive written directly (no
//! staging directory) from host files, generated files and symlinks.
//!
//! The guest mirrors the host's filesystem layout (including the merged-/usr
//! symlinks), so host binaries and the shared libraries `ldd` reports can be
//! copied to the same paths and run unchanged.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Where a file's bytes come from.
#[derive(Clone, Debug)]
enum Data {
    /// Read from this host path when the archive is written.
    Host(PathBuf),
    /// Given in memory.
    Bytes(Vec<u8>),
}

#[derive(Clone, Debug)]
enum Node {
    Dir(u32),
    File { data: Data, mode: u32 },
    Symlink(String),
}

/// An in-memory file tree that serialises to a newc cpio archive.
#[derive(Default, Debug)]
pub struct Tree {
    /// Keys are paths without a leading `/`; a parent sorts before its
    /// children, which is the order the kernel's unpacker needs.
    nodes: BTreeMap<String, Node>,
}

impl Tree {
    /// Normalises `path`, following symlinks already in the tree for every
    /// component but the last (so `lib/x` lands in `usr/lib/x` when `lib`
    /// links there).
    fn resolve(&self, path: &str) -> Result<String> {
        let mut parts: Vec<String> = Vec::new();
        let mut pending: Vec<String> = components(path);
        pending.reverse();
        let mut hops = 0;
        while let Some(c) = pending.pop() {
            if c == ".." {
                parts.pop();
                continue;
            }
            parts.push(c);
            if pending.is_empty() {
                break;
            }
            let here = parts.join("/");
            if let Some(Node::Symlink(target)) = self.nodes.get(&here) {
                hops += 1;
                if hops > 40 {
                    bail!("symlink loop at {here}");
                }
                parts.pop();
                if target.starts_with('/') {
                    parts.clear();
                }
                let mut t = components(target);
                t.reverse();
                pending.extend(t);
            }
        }
        Ok(parts.join("/"))
    }

    fn insert(&mut self, path: &str, node: Node) -> Result<bool> {
        let key = self.resolve(path)?;
        if key.is_empty() || self.nodes.contains_key(&key) {
            return Ok(false);
        }
        let mut prefix = String::new();
        for c in key
            .split('/')
            .collect::<Vec<_>>()
            .split_last()
            .map(|x| x.1)
            .unwrap_or(&[])
        {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(c);
            self.nodes.entry(prefix.clone()).or_insert(Node::Dir(0o755));
        }
        self.nodes.insert(key, node);
        Ok(true)
    }

    /// Adds a directory (no-op if present).
    pub fn dir(&mut self, path: &str, mode: u32) -> Result<()> {
        self.insert(path, Node::Dir(mode))?;
        Ok(())
    }

    /// Adds a symlink unless something is already at `path`.
    pub fn symlink(&mut self, path: &str, target: &str) -> Result<bool> {
        self.insert(path, Node::Symlink(target.to_string()))
    }

    /// Adds a file with the given contents (replacing nothing).
    pub fn bytes(&mut self, path: &str, data: impl Into<Vec<u8>>, mode: u32) -> Result<()> {
        self.insert(
            path,
            Node::File {
                data: Data::Bytes(data.into()),
                mode,
            },
        )?;
        Ok(())
    }

    /// Adds a copy of host file `host` (symlinks followed) at `path`.
    pub fn host_file(&mut self, path: &str, host: &Path) -> Result<bool> {
        let meta = fs::metadata(host).with_context(|| format!("{}", host.display()))?;
        let mode = meta.permissions().mode() & 0o7777;
        self.insert(
            path,
            Node::File {
                data: Data::Host(host.to_path_buf()),
                mode,
            },
        )
    }

    /// Adds host program `host` at `path` plus every shared library `ldd`
    /// names, at the libraries' own paths.
    pub fn program(&mut self, path: &str, host: &Path) -> Result<()> {
        self.host_file(path, host)?;
        for lib in shared_libs(host)? {
            let p = lib.to_string_lossy().into_owned();
            self.host_file(&p, &lib)?;
        }
        Ok(())
    }

    /// Writes the archive; returns its size in bytes.
    pub fn write_cpio(&self, out: &Path) -> Result<u64> {
        let file = fs::File::create(out).with_context(|| format!("{}", out.display()))?;
        let mut w = CpioWriter {
            out: BufWriter::new(file),
            ino: 1,
            written: 0,
        };
        for (path, node) in &self.nodes {
            match node {
                Node::Dir(mode) => w.entry(path, 0o040000 | mode, 2, &[])?,
                Node::Symlink(t) => w.entry(path, 0o120777, 1, t.as_bytes())?,
                Node::File { data, mode } => {
                    let bytes = match data {
                        Data::Host(p) => {
                            fs::read(p).with_context(|| format!("reading {}", p.display()))?
                        }
                        Data::Bytes(b) => b.clone(),
                    };
                    w.entry(path, 0o100000 | mode, 1, &bytes)?;
                }
            }
        }
        w.entry("TRAILER!!!", 0, 1, &[])?;
        w.out.flush()?;
        Ok(w.written)
    }
}

fn components(path: &str) -> Vec<String> {
    Path::new(path)
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".to_string()),
            _ => None,
        })
        .collect()
}

struct CpioWriter<W: Write> {
    out: W,
    ino: u32,
    written: u64,
}

impl<W: Write> CpioWriter<W> {
    fn put(&mut self, b: &[u8]) -> Result<()> {
        self.out.write_all(b)?;
        self.written += b.len() as u64;
        Ok(())
    }

    fn pad(&mut self) -> Result<()> {
        let rem = (self.written % 4) as usize;
        if rem != 0 {
            self.put(&[0u8; 4][..4 - rem])?;
        }
        Ok(())
    }

    /// One newc entry: header, NUL-terminated name, data, each 4-byte aligned.
    fn entry(&mut self, name: &str, mode: u32, nlink: u32, data: &[u8]) -> Result<()> {
        let size = u32::try_from(data.len()).context("file too large for cpio")?;
        let namesize = u32::try_from(name.len() + 1).context("name too long")?;
        let ino = if name == "TRAILER!!!" { 0 } else { self.ino };
        self.ino += 1;
        let header = format!(
            "070701{ino:08x}{mode:08x}{:08x}{:08x}{nlink:08x}{:08x}{size:08x}{:08x}{:08x}{:08x}{:08x}{namesize:08x}{:08x}",
            0, 0, 0, 0, 0, 0, 0, 0
        );
        self.put(header.as_bytes())?;
        self.put(name.as_bytes())?;
        self.put(&[0])?;
        self.pad()?;
        self.put(data)?;
        self.pad()
    }
}

/// Shared libraries of a dynamically linked host program, by `ldd`; empty for
/// static programs and scripts.
pub fn shared_libs(program: &Path) -> Result<Vec<PathBuf>> {
    let o = Command::new("ldd")
        .arg(program)
        .output()
        .context("running ldd")?;
    if !o.status.success() {
        return Ok(Vec::new());
    }
    Ok(parse_ldd(&String::from_utf8_lossy(&o.stdout)))
}

fn parse_ldd(text: &str) -> Vec<PathBuf> {
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let candidate = match l.split_once("=>") {
                Some((_, rhs)) => rhs.split_whitespace().next()?,
                None => l.split_whitespace().next()?,
            };
            candidate.starts_with('/').then(|| PathBuf::from(candidate))
        })
        .collect()
}

/// The first of `candidates` that exists on the host.
pub fn find_host(candidates: &[&str]) -> Result<PathBuf> {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .with_context(|| format!("none of {} exists on this host", candidates.join(", ")))
}

/// What `/init` does after mounting the basics.
#[derive(Clone, Debug)]
pub enum Mode {
    /// Run the agent with these `key=value` settings and power off.
    Agent(String),
    /// Load the modules and give a shell on the console.
    Shell,
    /// Load the modules, run this shell command, power off.
    Command(String),
}

/// Which program plays a candidate role in the differential runner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Candidate {
    /// The reference itself (proves the scenarios are deterministic).
    Reference,
    /// A host file, copied in (with its shared libraries if it has any).
    Path(PathBuf),
}

/// A Rust kernel-test binary and the test cases to run from it.
#[derive(Clone, Debug)]
pub struct RustTests {
    /// Cargo target name (`kernel`, `kernel_foo`).
    pub target: String,
    /// The built test executable on the host.
    pub binary: PathBuf,
    /// Exact names of the (ignored) tests to run.
    pub tests: Vec<String>,
}

/// Everything besides the kernel modules that goes into the image.
#[derive(Clone, Debug)]
pub struct Payload {
    /// What the VM does.
    pub mode: Mode,
    /// Shell kernel tests.
    pub kernel_tests: Vec<PathBuf>,
    /// Rust kernel tests.
    pub rust_tests: Vec<RustTests>,
    /// Scenario files.
    pub scenarios: Vec<PathBuf>,
    /// Candidates for `ipvsadm`, `ipvsadm-save`, `ipvsadm-restore`.
    pub candidates: [Candidate; 3],
    /// The project's binaries that exist: (name, host path).
    pub project_bins: Vec<(String, PathBuf)>,
}

impl Payload {
    /// A VM that only runs `script` (no tests, the reference in every
    /// role), with `project_bins` in `/usr/local/sbin`: the bench, the
    /// demo, the wire capture and hot-code tracing.
    pub fn command(script: String, project_bins: Vec<(String, PathBuf)>) -> Payload {
        Payload {
            mode: Mode::Command(script),
            kernel_tests: Vec::new(),
            rust_tests: Vec::new(),
            scenarios: Vec::new(),
            candidates: [
                Candidate::Reference,
                Candidate::Reference,
                Candidate::Reference,
            ],
            project_bins,
        }
    }
}

/// The names a side directory provides, in [`Payload::candidates`] order.
pub const ROLES: [&str; 3] = ["ipvsadm", "ipvsadm-save", "ipvsadm-restore"];

const INIT: &str = include_str!("../assets/init.sh");
const HOSTS: &str = include_str!("../assets/hosts");
const NSSWITCH: &str = include_str!("../assets/nsswitch.conf");

/// Assembles the initramfs for `kernel` at `out`; returns its size.
pub fn build(
    kernel: &crate::kernel::Kernel,
    plan: &[crate::kernel::PlannedModule],
    payload: &Payload,
    out: &Path,
) -> Result<u64> {
    use crate::kernel::ModuleSource;
    use crate::layout;

    let mut t = Tree::default();
    // Mirror the host's top-level symlinks (merged /usr) so host paths work.
    for top in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
        if let Ok(target) = fs::read_link(Path::new("/").join(top)) {
            t.symlink(top, &target.to_string_lossy())?;
        }
    }
    for (d, mode) in [
        ("proc", 0o555),
        ("sys", 0o555),
        ("dev", 0o755),
        ("run", 0o755),
        ("tmp", 0o1777),
        ("root", 0o700),
        ("etc", 0o755),
        ("var", 0o755),
        ("var/tmp", 0o1777),
        ("usr/local/sbin", 0o755),
        ("usr/local/bin", 0o755),
    ] {
        t.dir(d, mode)?;
    }
    t.symlink("var/run", "/run")?;

    // Shells and tools: real programs first, busybox applets fill the gaps.
    t.program("/bin/dash", &find_host(&["/bin/dash", "/usr/bin/dash"])?)?;
    t.symlink("/bin/sh", "dash")?;
    t.program("/bin/bash", &find_host(&["/bin/bash", "/usr/bin/bash"])?)?;
    t.program(
        layout::IP,
        &find_host(&["/sbin/ip", "/bin/ip", "/usr/sbin/ip", "/usr/bin/ip"])?,
    )?;
    t.program(
        layout::REF_IPVSADM,
        &find_host(&["/usr/sbin/ipvsadm", "/sbin/ipvsadm"])?,
    )?;
    t.host_file(
        layout::REF_SAVE,
        &find_host(&["/usr/sbin/ipvsadm-save", "/sbin/ipvsadm-save"])?,
    )?;
    t.host_file(
        layout::REF_RESTORE,
        &find_host(&["/usr/sbin/ipvsadm-restore", "/sbin/ipvsadm-restore"])?,
    )?;
    // strace records the reference's netlink traffic (`cargo xtask
    // capture-wire`); the tests do not need it, so a host without it only
    // loses that command.
    if let Ok(strace) = find_host(&["/usr/bin/strace", "/bin/strace"]) {
        t.program(layout::STRACE, &strace)?;
    }
    let busybox = find_host(&["/bin/busybox", "/usr/bin/busybox"])?;
    t.program("/bin/busybox", &busybox)?;
    let list = Command::new(&busybox)
        .arg("--list-full")
        .output()
        .context("running busybox --list-full")?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let name = applet.rsplit('/').next().unwrap_or(applet);
        // Our own sh (dash) and ip (iproute2) win; without modprobe, the
        // kernel's module autoload fails fast and deterministically.
        if matches!(name, "sh" | "ip" | "modprobe" | "bash" | "") {
            continue;
        }
        t.symlink(&format!("/{applet}"), "/bin/busybox")?;
    }

    // Name service: files only, fixed hosts, the host's services database.
    t.bytes("/etc/hosts", HOSTS, 0o644)?;
    t.bytes("/etc/nsswitch.conf", NSSWITCH, 0o644)?;
    let services = Path::new("/etc/services");
    if !services.exists() {
        bail!("/etc/services is missing on this host (install netbase)");
    }
    t.host_file("/etc/services", services)?;
    if Path::new("/etc/protocols").exists() {
        t.host_file("/etc/protocols", Path::new("/etc/protocols"))?;
    }
    t.bytes("/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", 0o644)?;
    t.bytes("/etc/group", "root:x:0:\n", 0o644)?;
    t.bytes("/etc/hostname", "testbed\n", 0o644)?;

    // The agent and the programs under test.
    t.bytes("/init", INIT, 0o755)?;
    let me = std::env::current_exe().context("locating the xtask binary")?;
    t.program(layout::AGENT, &me)?;
    for (name, path) in &payload.project_bins {
        t.program(&format!("/usr/local/sbin/{name}"), path)?;
    }

    let refs = [layout::REF_IPVSADM, layout::REF_SAVE, layout::REF_RESTORE];
    for ((role, cand), reference) in ROLES.iter().zip(&payload.candidates).zip(refs) {
        t.symlink(&format!("{}/{role}", layout::SIDE_REF), reference)?;
        let target = match cand {
            Candidate::Reference => reference.to_string(),
            Candidate::Path(p) => {
                let base = p.file_name().map(|n| n.to_string_lossy().into_owned());
                let vm = format!(
                    "{}/{role}/{}",
                    layout::CANDIDATE_DIR,
                    base.unwrap_or_default()
                );
                t.program(&vm, p)?;
                vm
            }
        };
        t.symlink(&format!("{}/{role}", layout::SIDE_CAND), &target)?;
    }

    // Modules, decompressed, with the load plan.
    t.dir(layout::MODULES_DIR, 0o755)?;
    let mut list = String::new();
    for m in plan {
        let need = if m.required { "required" } else { "optional" };
        let state = match &m.source {
            ModuleSource::File(p) => {
                let ko = crate::kernel::uncompressed_module(kernel, &m.name, p)?;
                t.host_file(&format!("{}/{}.ko", layout::MODULES_DIR, m.name), &ko)?;
                "present"
            }
            ModuleSource::Builtin => "builtin",
            ModuleSource::Missing => "missing",
        };
        list.push_str(&format!("{} {need} {state}\n", m.name));
    }
    t.bytes(layout::MODULES_LIST, list, 0o644)?;

    // Tests.
    t.dir(layout::KERNEL_TESTS, 0o755)?;
    for p in &payload.kernel_tests {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
        t.host_file(
            &format!("{}/{}", layout::KERNEL_TESTS, name.unwrap_or_default()),
            p,
        )?;
    }
    // Shell libraries the tests source (`. "$(dirname "$0")/NAME.shlib"`),
    // from beside them; not tests themselves (the agent runs `*.sh`).
    if let Some(dir) = payload.kernel_tests.first().and_then(|p| p.parent()) {
        let mut libs: Vec<PathBuf> = fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "shlib"))
            .collect();
        libs.sort();
        for p in &libs {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            t.host_file(
                &format!("{}/{}", layout::KERNEL_TESTS, name.unwrap_or_default()),
                p,
            )?;
        }
    }
    t.dir(layout::RUST_TESTS, 0o755)?;
    for r in &payload.rust_tests {
        let vm = format!("{}/{}", layout::RUST_TESTS, r.target);
        t.program(&vm, &r.binary)?;
        let mut names = r.tests.join("\n");
        names.push('\n');
        t.bytes(&format!("{vm}.list"), names, 0o644)?;
    }
    t.dir(layout::SCENARIOS, 0o755)?;
    for p in &payload.scenarios {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
        t.host_file(
            &format!("{}/{}", layout::SCENARIOS, name.unwrap_or_default()),
            p,
        )?;
    }

    match &payload.mode {
        Mode::Agent(config) => {
            t.bytes(layout::MODE, "agent\n", 0o644)?;
            t.bytes(layout::CONFIG, config.clone(), 0o644)?;
        }
        Mode::Shell => t.bytes(layout::MODE, "shell\n", 0o644)?,
        Mode::Command(c) => {
            t.bytes(layout::MODE, "command\n", 0o644)?;
            t.bytes(layout::COMMAND, format!("{c}\n"), 0o644)?;
        }
    }
    t.write_cpio(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_parsing() {
        let out = "\tlinux-vdso.so.1 (0x00007f)\n\tlibpopt.so.0 => /lib/x86_64-linux-gnu/libpopt.so.0 (0x7f)\n\t/lib64/ld-linux-x86-64.so.2 (0x7f)\n\tlibmissing.so => not found\n";
        assert_eq!(
            parse_ldd(out),
            [
                PathBuf::from("/lib/x86_64-linux-gnu/libpopt.so.0"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2")
            ]
        );
    }

    #[test]
    fn paths_resolve_through_tree_symlinks() {
        let mut t = Tree::default();
        t.symlink("/lib", "usr/lib").unwrap();
        t.symlink("/lib64", "/usr/lib64").unwrap();
        t.bytes("/lib/x86_64-linux-gnu/libc.so.6", "x", 0o644)
            .unwrap();
        t.bytes("/lib64/ld.so", "y", 0o755).unwrap();
        assert!(t.nodes.contains_key("usr/lib/x86_64-linux-gnu/libc.so.6"));
        assert!(t.nodes.contains_key("usr/lib64/ld.so"));
        assert!(matches!(t.nodes.get("usr/lib"), Some(Node::Dir(_))));
        assert_eq!(
            t.resolve("/lib/x86_64-linux-gnu/libc.so.6").unwrap(),
            "usr/lib/x86_64-linux-gnu/libc.so.6"
        );
        // First writer wins: a later symlink does not replace a file.
        assert!(!t.symlink("/usr/lib64/ld.so", "busybox").unwrap());
    }

    #[test]
    fn cpio_archive_is_readable_by_cpio() {
        let dir = std::env::temp_dir().join(format!("xtask-cpio-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let mut t = Tree::default();
        t.bytes("/etc/hosts", "127.0.0.1 localhost\n", 0o644)
            .unwrap();
        t.symlink("/bin/sh", "dash").unwrap();
        t.dir("/tmp", 0o1777).unwrap();
        let archive = dir.join("a.cpio");
        let size = t.write_cpio(&archive).unwrap();
        assert_eq!(size % 4, 0);
        let o = Command::new("cpio")
            .args(["-t", "-v", "--quiet", "-F"])
            .arg(&archive)
            .output();
        fs::remove_dir_all(&dir).unwrap();
        let Ok(o) = o else {
            return; // cpio not installed: nothing more to check here
        };
        let listing = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{listing}");
        assert!(listing.contains("etc/hosts"), "{listing}");
        assert!(listing.contains("bin/sh -> dash"), "{listing}");
        assert!(listing.contains("drwxrwxrwt"), "{listing}");
    }
}
