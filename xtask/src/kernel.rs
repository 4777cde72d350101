//! Debian kernels for the test bed: resolve, download, unpack, index their
//! modules, and plan which modules to load in which order.
//!
//! Everything is cached under `target/testbed/`: a rerun finds the unpacked
//! tree (marked complete by a `.ready` file) and downloads nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// A kernel line the test bed boots, named by the Debian meta package that
/// always depends on its newest build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flavor {
    /// Short name used on the command line (`--kernel 6.1`).
    pub label: &'static str,
    /// Meta package whose dependency names the versioned image package.
    pub meta: &'static str,
}

/// The kernels booted by default, oldest first.
pub const FLAVORS: [Flavor; 2] = [
    Flavor {
        label: "6.1",
        meta: "linux-image-amd64",
    },
    Flavor {
        label: "6.12",
        meta: "linux-image-6.12-amd64",
    },
];

/// Finds a flavor by its label.
pub fn flavor(label: &str) -> Option<Flavor> {
    FLAVORS.iter().copied().find(|f| f.label == label)
}

/// An unpacked kernel ready to boot.
#[derive(Clone, Debug)]
pub struct Kernel {
    /// The versioned image package, e.g. `linux-image-6.1.0-56-amd64`.
    pub package: String,
    /// `uname -r` of the kernel, e.g. `6.1.0-56-amd64`.
    pub release: String,
    /// The unpacked package tree.
    pub root: PathBuf,
    /// The bootable image.
    pub vmlinuz: PathBuf,
    /// Cache directory of this kernel (holds decompressed modules).
    pub dir: PathBuf,
}

impl Kernel {
    /// `lib/modules/<release>` inside the unpacked tree.
    pub fn modules_dir(&self) -> PathBuf {
        self.root.join("lib/modules").join(&self.release)
    }
}

/// Resolves, downloads (once) and unpacks (once) the kernel of `flavor`.
pub fn prepare(flavor: Flavor, cache: &Path) -> Result<Kernel> {
    let kernels = cache.join("kernels");
    fs::create_dir_all(&kernels)?;
    let remembered = kernels.join(format!("{}.package", flavor.label));
    let package = match resolve_fresh(flavor.meta) {
        Ok(p) => {
            fs::write(&remembered, format!("{p}\n"))?;
            p
        }
        Err(e) => match fs::read_to_string(&remembered) {
            // Offline or a renamed package: the last resolution still boots.
            Ok(p) if kernels.join(p.trim()).join(".ready").exists() => {
                let p = p.trim().to_string();
                eprintln!(
                    "note: using the cached {p}: {} did not resolve ({e:#})",
                    flavor.meta
                );
                p
            }
            _ => bail!("{}", unresolved_message(flavor, &e)),
        },
    };
    let dir = kernels.join(&package);
    let root = dir.join("root");
    let ready = dir.join(".ready");
    if !ready.exists() {
        let deb = download(&package, &cache.join("debs")).map_err(|e| {
            anyhow::anyhow!(
                "could not download the kernel package {package} (kernel {}): {e:#}\n\
                 try: apt-get update, then check that this host reaches Debian's archive \
                 (apt-get download {package}); or boot the other kernel with --kernel",
                flavor.label
            )
        })?;
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(&dir)?;
        let tmp = dir.join("root.tmp");
        run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&tmp))?;
        fs::rename(&tmp, &root)?;
        let release = find_release(&root)?;
        eprintln!("indexing modules of {release} (depmod)");
        run(Command::new("depmod").arg("-b").arg(&root).arg(&release))?;
        fs::write(&ready, format!("{release}\n"))?;
    }
    let release = find_release(&root)?;
    let vmlinuz = root.join("boot").join(format!("vmlinuz-{release}"));
    Ok(Kernel {
        package,
        release,
        root,
        vmlinuz,
        dir,
    })
}

/// [`resolve_package`], refreshing apt's lists once (as root) when they do
/// not know the meta package: on a fresh machine they are old or absent.
fn resolve_fresh(meta: &str) -> Result<String> {
    // Old lists may name a build the archive no longer has.
    if crate::hostdeps::can_install() && crate::hostdeps::lists_need_update(&[meta]) {
        crate::hostdeps::apt_update()?;
    }
    match resolve_package(meta) {
        Ok(p) => Ok(p),
        Err(first) if crate::hostdeps::can_install() => {
            eprintln!("note: {first:#}");
            crate::hostdeps::apt_update()?;
            resolve_package(meta)
        }
        Err(e) => Err(e),
    }
}

/// What to say when a kernel can be neither resolved nor found in the cache.
fn unresolved_message(flavor: Flavor, e: &anyhow::Error) -> String {
    format!(
        "cannot find the kernel package for kernel {label}: apt does not resolve {meta} \
         and no earlier download is cached in target/testbed/kernels.\n\
         apt said: {e:#}\n\
         try: apt-get update (as root), and check that apt's sources include Debian 12's \
         bookworm, bookworm-updates and bookworm-security suites (the 6.12 kernel comes from \
         bookworm-security); without network, copy target/testbed from a machine that has run \
         `cargo xtask fetch`, or pick the other kernel with --kernel",
        label = flavor.label,
        meta = flavor.meta,
    )
}

/// Asks apt which versioned image package the meta package depends on.
fn resolve_package(meta: &str) -> Result<String> {
    let out = Command::new("apt-cache")
        .args(["depends", meta])
        .output()
        .context("running apt-cache")?;
    if !out.status.success() {
        bail!(
            "apt-cache depends {meta}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    parse_depends(&String::from_utf8_lossy(&out.stdout))
        .with_context(|| format!("{meta} depends on no linux-image package"))
}

/// The first `linux-image-*` dependency in `apt-cache depends` output.
fn parse_depends(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let l = l.trim().trim_start_matches('|');
        let dep = l.strip_prefix("Depends:")?.trim();
        dep.starts_with("linux-image-").then(|| dep.to_string())
    })
}

/// Downloads `package` into `debs` unless a `.deb` of it is already there.
fn download(package: &str, debs: &Path) -> Result<PathBuf> {
    fs::create_dir_all(debs)?;
    if let Some(deb) = find_deb(package, debs)? {
        return Ok(deb);
    }
    eprintln!("downloading {package}");
    let mut cmd = Command::new("apt-get");
    cmd.args(["download", "-q"]);
    if crate::hostdeps::can_install() {
        // As root, apt hands the download to its unprivileged `_apt` user,
        // which cannot write into the cache directory, and warns.
        cmd.args(["-o", "APT::Sandbox::User=root"]);
    }
    run(cmd.arg(package).current_dir(debs))?;
    find_deb(package, debs)?.with_context(|| format!("apt-get download left no {package}_*.deb"))
}

fn find_deb(package: &str, debs: &Path) -> Result<Option<PathBuf>> {
    let prefix = format!("{package}_");
    for e in fs::read_dir(debs)? {
        let p = e?.path();
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with(&prefix) && name.ends_with(".deb") {
            return Ok(Some(p));
        }
    }
    Ok(None)
}

/// The release is the suffix of `boot/vmlinuz-<release>`.
fn find_release(root: &Path) -> Result<String> {
    for e in fs::read_dir(root.join("boot"))? {
        let name = e?.file_name();
        if let Some(r) = name.to_str().and_then(|n| n.strip_prefix("vmlinuz-")) {
            return Ok(r.to_string());
        }
    }
    bail!("no boot/vmlinuz-* in {}", root.display())
}

/// Runs `cmd`, failing with its command line when it fails.
pub fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("running {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

/// Modules the VM must load: `ip_vs` (fatal if it fails) and then the rest.
const REQUIRED_MODULES: &[&str] = &["ip_vs"];
/// Wanted but optional: schedulers, the SIP engine, FTP helper, and the
/// interfaces tests build topologies from. Absent ones are reported.
const OPTIONAL_MODULES: &[&str] = &[
    "ip_vs_rr",
    "ip_vs_wrr",
    "ip_vs_lc",
    "ip_vs_wlc",
    "ip_vs_lblc",
    "ip_vs_lblcr",
    "ip_vs_dh",
    "ip_vs_sh",
    "ip_vs_sed",
    "ip_vs_nq",
    "ip_vs_fo",
    "ip_vs_ovf",
    "ip_vs_mh",
    "ip_vs_twos",
    "ip_vs_pe_sip",
    "ip_vs_ftp",
    "veth",
    "bridge",
    "dummy",
    "ipip",
];
/// Soft dependencies modules.dep does not list: (module, load this first).
const SOFT_PRE: &[(&str, &str)] = &[("libcrc32c", "crc32c_generic")];

/// Where a planned module comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModuleSource {
    /// A file in the unpacked tree (`.ko` or `.ko.xz`).
    File(PathBuf),
    /// Compiled into the kernel: nothing to load.
    Builtin,
    /// Not part of this kernel.
    Missing,
}

/// One entry of the load plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedModule {
    /// Module name with underscores.
    pub name: String,
    /// Whether a failure to load it is fatal.
    pub required: bool,
    /// What to load.
    pub source: ModuleSource,
}

/// Module name of a modules.dep path: basename without `.ko[.xz|.zst|.gz]`,
/// dashes as underscores.
fn module_name(path: &str) -> String {
    let base = path.rsplit('/').next().unwrap_or(path);
    let stem = base.split(".ko").next().unwrap_or(base);
    stem.replace('-', "_")
}

/// The load plan for `kernel`: dependencies first, each module once.
pub fn module_plan(kernel: &Kernel) -> Result<Vec<PlannedModule>> {
    plan_for(kernel, REQUIRED_MODULES, OPTIONAL_MODULES)
}

/// The load plan for `required` modules alone (and what they depend on):
/// for boots other than the test bed's, like the reboot test's initramfs.
pub fn plan_modules(kernel: &Kernel, required: &[&str]) -> Result<Vec<PlannedModule>> {
    plan_for(kernel, required, &[])
}

fn plan_for(kernel: &Kernel, required: &[&str], optional: &[&str]) -> Result<Vec<PlannedModule>> {
    let dir = kernel.modules_dir();
    let dep = fs::read_to_string(dir.join("modules.dep")).context("reading modules.dep")?;
    let builtin = fs::read_to_string(dir.join("modules.builtin")).unwrap_or_default();
    Ok(plan_from_index(&dep, &builtin, required, optional)
        .into_iter()
        .map(|m| PlannedModule {
            source: match m.source {
                ModuleSource::File(rel) => ModuleSource::File(dir.join(rel)),
                other => other,
            },
            ..m
        })
        .collect())
}

/// Pure part of [`module_plan`]: paths stay relative to the modules dir.
fn plan_from_index(
    dep: &str,
    builtin: &str,
    required: &[&str],
    optional: &[&str],
) -> Vec<PlannedModule> {
    // name -> (path, dependency names)
    let mut index: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for line in dep.lines() {
        let Some((path, deps)) = line.split_once(':') else {
            continue;
        };
        let deps = deps.split_whitespace().map(module_name).collect();
        index.insert(module_name(path), (path.to_string(), deps));
    }
    let builtin: BTreeSet<String> = builtin.lines().map(module_name).collect();

    struct Planner<'a> {
        index: &'a BTreeMap<String, (String, Vec<String>)>,
        builtin: &'a BTreeSet<String>,
        seen: BTreeSet<String>,
        plan: Vec<PlannedModule>,
    }
    impl Planner<'_> {
        fn visit(&mut self, name: &str, required: bool, depth: usize) {
            if depth > 64 || !self.seen.insert(name.to_string()) {
                return;
            }
            let source = if self.builtin.contains(name) {
                ModuleSource::Builtin
            } else if let Some((path, deps)) = self.index.get(name) {
                for (m, pre) in SOFT_PRE {
                    if *m == name && (self.index.contains_key(*pre) || self.builtin.contains(*pre))
                    {
                        self.visit(pre, false, depth + 1);
                    }
                }
                for d in deps {
                    self.visit(d, required, depth + 1);
                }
                ModuleSource::File(PathBuf::from(path))
            } else {
                ModuleSource::Missing
            };
            self.plan.push(PlannedModule {
                name: name.to_string(),
                required,
                source,
            });
        }
    }
    let mut p = Planner {
        index: &index,
        builtin: &builtin,
        seen: BTreeSet::new(),
        plan: Vec::new(),
    };
    for m in required {
        p.visit(m, true, 0);
    }
    for m in optional {
        p.visit(m, false, 0);
    }
    p.plan
}

/// Returns an uncompressed copy of a module file (decompressing `.ko.xz`
/// once into the kernel's cache, since busybox insmod cannot).
pub fn uncompressed_module(kernel: &Kernel, name: &str, path: &Path) -> Result<PathBuf> {
    let file = path.to_string_lossy();
    if file.ends_with(".ko") {
        return Ok(path.to_path_buf());
    }
    let cache = kernel.dir.join("ko");
    fs::create_dir_all(&cache)?;
    let out = cache.join(format!("{name}.ko"));
    if out.exists() {
        return Ok(out);
    }
    let tool = if file.ends_with(".xz") {
        "xz"
    } else if file.ends_with(".zst") {
        "zstd"
    } else if file.ends_with(".gz") {
        "gzip"
    } else {
        bail!("unknown module compression: {file}")
    };
    let o = Command::new(tool)
        .arg("-dc")
        .arg(path)
        .output()
        .with_context(|| format!("running {tool}"))?;
    if !o.status.success() {
        bail!("{tool} -dc {file}: {}", String::from_utf8_lossy(&o.stderr));
    }
    let tmp = cache.join(format!("{name}.ko.tmp"));
    fs::write(&tmp, &o.stdout)?;
    fs::rename(&tmp, &out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depends_parsing() {
        let out = "linux-image-amd64\n  Depends: linux-image-6.1.0-56-amd64\n";
        assert_eq!(
            parse_depends(out).as_deref(),
            Some("linux-image-6.1.0-56-amd64")
        );
        let out = "x\n |Depends: linux-image-6.12.117+deb12-amd64\n  Depends: other\n";
        assert_eq!(
            parse_depends(out).as_deref(),
            Some("linux-image-6.12.117+deb12-amd64")
        );
        assert_eq!(parse_depends("x\n  Depends: foo\n"), None);
    }

    #[test]
    fn module_names() {
        assert_eq!(
            module_name("kernel/net/netfilter/ipvs/ip_vs.ko.xz"),
            "ip_vs"
        );
        assert_eq!(
            module_name("kernel/crypto/crc32c_generic.ko"),
            "crc32c_generic"
        );
        assert_eq!(module_name("kernel/drivers/x/foo-bar.ko"), "foo_bar");
    }

    #[test]
    fn plan_orders_dependencies_first_and_marks_required() {
        let dep = "\
kernel/net/netfilter/ipvs/ip_vs.ko.xz: kernel/net/netfilter/nf_conntrack.ko.xz kernel/lib/libcrc32c.ko.xz
kernel/net/netfilter/nf_conntrack.ko.xz: kernel/lib/libcrc32c.ko.xz
kernel/lib/libcrc32c.ko.xz:
kernel/crypto/crc32c_generic.ko.xz:
kernel/net/netfilter/ipvs/ip_vs_rr.ko.xz: kernel/net/netfilter/ipvs/ip_vs.ko.xz kernel/net/netfilter/nf_conntrack.ko.xz kernel/lib/libcrc32c.ko.xz
";
        let builtin = "kernel/drivers/net/dummy.ko\n";
        let plan = plan_from_index(
            dep,
            builtin,
            &["ip_vs"],
            &["ip_vs_rr", "ip_vs_twos", "dummy"],
        );
        let names: Vec<(&str, bool)> = plan.iter().map(|m| (m.name.as_str(), m.required)).collect();
        assert_eq!(
            names,
            [
                ("crc32c_generic", false),
                ("libcrc32c", true),
                ("nf_conntrack", true),
                ("ip_vs", true),
                ("ip_vs_rr", false),
                ("ip_vs_twos", false),
                ("dummy", false),
            ]
        );
        assert_eq!(
            plan[3].source,
            ModuleSource::File("kernel/net/netfilter/ipvs/ip_vs.ko.xz".into())
        );
        assert_eq!(plan[5].source, ModuleSource::Missing);
        assert_eq!(plan[6].source, ModuleSource::Builtin);
    }
}
