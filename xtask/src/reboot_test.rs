//! `cargo xtask reboot-test`: the Debian package on a real Debian 12
//! system with systemd as init, across a real reboot.
//!
//! The test bed's busybox VM has no init system, so the units' boot-time
//! behaviour cannot be seen there. This command:
//!
//! 1. builds the .deb from the tree (`cargo xtask package`'s build);
//! 2. debootstraps a minimal Debian 12 (bookworm) with systemd once and
//!    caches it as a tarball in target/reboot-test/ (the mirror is the one
//!    the host's apt uses; `REBOOT_TEST_MIRROR` overrides it);
//! 3. lays it out afresh in an ext4 image (`mkfs.ext4 -d`, no loop device
//!    or nbd needed) with the kernel's networking modules, the .deb, and a
//!    unit that runs xtask/assets/reboot-test/guest.sh at every boot;
//! 4. boots it under qemu (TCG, `-net none`) with the Debian kernel the
//!    test bed downloads and a small initramfs that loads the virtio disk
//!    and ext4 modules and hands over to systemd;
//! 5. reads the guest's results from its second serial port while it
//!    installs the package, adds a table, stops the service, sets up the
//!    real-server unit, reboots (qemu keeps running: the guest's reboot
//!    resets the machine and boots the same kernel and disk again), checks
//!    that everything came back, stops the real-server unit, purges the
//!    package, and powers off.
//!
//! Must run as root (debootstrap, and files owned by root in the image).

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::initramfs::{find_host, Tree};
use crate::kernel::{self, Flavor, ModuleSource};

const GUEST: &str = include_str!("../assets/reboot-test/guest.sh");
const INIT: &str = include_str!("../assets/reboot-test/init.sh");
const UNIT: &str = include_str!("../assets/reboot-test/reboot-test.service");

/// The cached base system; the name changes when what goes into it does.
const BASE: &str = "debian12-systemd-v2.tar";
/// Packages on top of debootstrap's minbase: systemd as init, kmod for the
/// kernel's module autoload (IPVS, ipip), iproute2 for the checks, and
/// Debian's ipvsadm, whose service the test takes over as the README says.
const INCLUDE: &str = "systemd-sysv,kmod,iproute2,ipvsadm";
/// Module trees of the kernel copied into the image (IPVS, conntrack,
/// tunnels and what they need); the rest of the 390 MB is not needed.
const MODULE_TREES: &[&str] = &["kernel/net", "kernel/lib", "kernel/crypto", "kernel/arch"];
/// What the initramfs loads to mount the image.
const BOOT_MODULES: &[&str] = &["virtio_pci", "virtio_blk", "ext4", "crc32c_generic"];

/// Options of `cargo xtask reboot-test`.
#[derive(Clone, Debug)]
pub struct Options {
    /// The kernel to boot (Debian 12's own is 6.1).
    pub kernel: Flavor,
    /// Hard limit for the whole boot-reboot-poweroff run.
    pub timeout: Duration,
}

fn run(cmd: &mut Command) -> Result<()> {
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
    Ok(())
}

/// The Debian mirror the host's apt uses; `REBOOT_TEST_MIRROR` overrides it.
fn host_mirror() -> Result<String> {
    if let Ok(m) = std::env::var("REBOOT_TEST_MIRROR") {
        return Ok(m);
    }
    crate::hostdeps::host_mirror()
        .context("no Debian mirror in the host's apt sources (set REBOOT_TEST_MIRROR)")
}

/// Debootstraps the base system once; returns the cached tarball.
fn base_tarball(dir: &Path) -> Result<PathBuf> {
    let tar = dir.join(BASE);
    if tar.exists() {
        println!("base system: cached {}", tar.display());
        return Ok(tar);
    }
    let mirror = host_mirror()?;
    let tmp = dir.join("debootstrap.tmp");
    if tmp.exists() {
        fs::remove_dir_all(&tmp)?;
    }
    println!("base system: debootstrap bookworm (minbase + {INCLUDE}), once");
    let started = Instant::now();
    run(Command::new("debootstrap")
        .args(["--variant=minbase", &format!("--include={INCLUDE}")])
        .arg("bookworm")
        .arg(&tmp)
        .arg(&mirror))?;
    // The downloaded packages are not part of the system.
    let archives = tmp.join("var/cache/apt/archives");
    for e in fs::read_dir(&archives)? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "deb") {
            fs::remove_file(p)?;
        }
    }
    let part = dir.join(format!("{BASE}.part"));
    run(Command::new("tar")
        .args(["--numeric-owner", "-C"])
        .arg(&tmp)
        .arg("-cf")
        .arg(&part)
        .arg("."))?;
    fs::rename(&part, &tar)?;
    fs::remove_dir_all(&tmp)?;
    println!(
        "base system: {} ({:.0} s)",
        tar.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(tar)
}

fn write(path: &Path, text: &str, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// Lays out the test system from the base tarball and writes it into an
/// ext4 image; returns the image.
fn disk_image(dir: &Path, base: &Path, k: &kernel::Kernel, deb: &Path) -> Result<PathBuf> {
    let root = dir.join("root");
    if root.exists() {
        fs::remove_dir_all(&root)?;
    }
    fs::create_dir_all(&root)?;
    run(Command::new("tar")
        .args(["--numeric-owner", "-C"])
        .arg(&root)
        .arg("-xf")
        .arg(base))?;
    // The kernel's modules (a part of them), indexed for modprobe.
    let from = k.modules_dir();
    let to = root.join("lib/modules").join(&k.release);
    fs::create_dir_all(to.join("kernel"))?;
    for t in MODULE_TREES {
        run(Command::new("cp")
            .arg("-a")
            .arg(from.join(t))
            .arg(to.join("kernel")))?;
    }
    for f in [
        "modules.order",
        "modules.builtin",
        "modules.builtin.modinfo",
    ] {
        if from.join(f).exists() {
            fs::copy(from.join(f), to.join(f))?;
        }
    }
    run(Command::new("depmod").arg("-b").arg(&root).arg(&k.release))?;

    write(&root.join("etc/hostname"), "rebootvm\n", 0o644)?;
    write(
        &root.join("etc/fstab"),
        "# The initramfs mounts / read-write; nothing else to mount.\n",
        0o644,
    )?;
    write(&root.join("usr/local/sbin/reboot-test"), GUEST, 0o755)?;
    write(
        &root.join("etc/systemd/system/reboot-test.service"),
        UNIT,
        0o644,
    )?;
    let wants = root.join("etc/systemd/system/multi-user.target.wants");
    fs::create_dir_all(&wants)?;
    std::os::unix::fs::symlink(
        "/etc/systemd/system/reboot-test.service",
        wants.join("reboot-test.service"),
    )?;
    fs::copy(deb, root.join("root/ipvsadm-rs.deb"))?;

    let img = dir.join("disk.img");
    let _ = fs::remove_file(&img);
    fs::File::create(&img)?.set_len(1536 << 20)?;
    run(Command::new("mkfs.ext4")
        .args(["-q", "-F", "-L", "rebootvm", "-d"])
        .arg(&root)
        .arg(&img))?;
    fs::remove_dir_all(&root)?;
    Ok(img)
}

/// The initramfs: static busybox, the disk and ext4 modules, /init.
fn initramfs(dir: &Path, k: &kernel::Kernel) -> Result<PathBuf> {
    let mut t = Tree::default();
    let busybox = find_host(&["/bin/busybox", "/usr/bin/busybox"])?;
    t.host_file("/bin/busybox", &busybox)?;
    t.bytes("/init", INIT, 0o755)?;
    let mut list = String::new();
    for m in kernel::plan_modules(k, BOOT_MODULES)? {
        match &m.source {
            ModuleSource::File(path) => {
                let ko = kernel::uncompressed_module(k, &m.name, path)?;
                t.host_file(&format!("/modules/{}.ko", m.name), &ko)?;
                list.push_str(&m.name);
                list.push('\n');
            }
            ModuleSource::Builtin => {}
            ModuleSource::Missing => bail!("{} has no module {}", k.release, m.name),
        }
    }
    t.bytes("/modules.list", list, 0o644)?;
    let out = dir.join("initrd.cpio");
    t.write_cpio(&out)?;
    Ok(out)
}

/// What the guest reported.
#[derive(Default, Debug)]
struct Outcome {
    oks: usize,
    fails: Vec<String>,
    done: bool,
    boots: Vec<Duration>,
    reboot_at: Option<Duration>,
}

impl Outcome {
    fn line(&mut self, line: &str, at: Duration) {
        let Some(rest) = line.strip_prefix("RT ") else {
            return;
        };
        match rest.split_once(' ').map_or((rest, ""), |(a, b)| (a, b)) {
            ("ok", what) => {
                self.oks += 1;
                println!("  ok    {what}");
            }
            ("FAIL", what) => {
                self.fails.push(what.to_string());
                println!("  FAIL  {what}");
            }
            ("info", text) => println!("        {text}"),
            ("boot", text) => {
                self.boots.push(at);
                println!("  boot  {text} (at {:.0} s)", at.as_secs_f64());
            }
            ("reboot", _) => {
                self.reboot_at = Some(at);
                println!("  reboot (at {:.0} s)", at.as_secs_f64());
            }
            ("done", rest) => {
                self.done = rest.is_empty();
                println!("  done {rest} (at {:.0} s)", at.as_secs_f64());
            }
            ("abort", _) => println!("  abort: failures before the reboot"),
            _ => println!("  ? {line}"),
        }
    }
}

/// Boots the image and follows the guest's report until it powers off.
fn boot(
    dir: &Path,
    k: &kernel::Kernel,
    img: &Path,
    initrd: &Path,
    timeout: Duration,
) -> Result<Outcome> {
    let console = dir.join("console.log");
    let report = dir.join("report.log");
    fs::write(&report, b"")?;
    let mut child = Command::new("qemu-system-x86_64")
        .args(["-accel", "tcg", "-cpu", "max", "-m", "1024", "-smp", "2"])
        .args(["-net", "none", "-display", "none", "-monitor", "none"])
        .arg("-kernel")
        .arg(&k.vmlinuz)
        .arg("-initrd")
        .arg(initrd)
        .args([
            "-append",
            "console=ttyS0 panic=-1 systemd.getty_auto=0 systemd.show_status=1",
        ])
        .arg("-drive")
        .arg(format!("file={},format=raw,if=virtio", img.display()))
        .arg("-serial")
        .arg(format!("file:{}", console.display()))
        .arg("-serial")
        .arg(format!("file:{}", report.display()))
        .stdin(Stdio::null())
        .stdout(fs::File::create(dir.join("qemu.log"))?)
        .stderr(fs::File::create(dir.join("qemu.stderr"))?)
        .spawn()
        .context("starting qemu-system-x86_64")?;
    let started = Instant::now();
    let mut reader = fs::File::open(&report)?;
    let mut pending = Vec::new();
    let mut outcome = Outcome::default();
    let mut pos = 0u64;
    loop {
        let exited = child.try_wait()?.is_some();
        reader.seek(SeekFrom::Start(pos))?;
        let mut buf = Vec::new();
        reader.read_to_end(&mut buf)?;
        pos += buf.len() as u64;
        pending.extend_from_slice(&buf);
        while let Some(i) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=i).collect();
            let line = String::from_utf8_lossy(&line);
            outcome.line(line.trim_end_matches(['\r', '\n']), started.elapsed());
        }
        if exited {
            break;
        }
        // A guest that reboots a third time would loop: the script counts
        // boots, so more than two means it never got going.
        if started.elapsed() > timeout || outcome.boots.len() > 2 {
            let _ = child.kill();
            let _ = child.wait();
            println!(
                "  stopped qemu after {:.0} s (console: {})",
                started.elapsed().as_secs_f64(),
                console.display()
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    Ok(outcome)
}

/// `cargo xtask reboot-test`.
pub fn run_test(root: &Path, opts: &Options) -> Result<bool> {
    if !crate::hostdeps::is_root() {
        bail!("reboot-test runs as root (debootstrap, root-owned files in the image)");
    }
    for tool in ["debootstrap", "mkfs.ext4", "depmod", "qemu-system-x86_64"] {
        find_host(&[
            &format!("/usr/sbin/{tool}"),
            &format!("/sbin/{tool}"),
            &format!("/usr/bin/{tool}"),
        ])
        .with_context(|| format!("{tool} is missing on this host"))?;
    }
    let dir = root.join("target/reboot-test");
    fs::create_dir_all(&dir)?;
    let t1 = Instant::now();
    let base = base_tarball(&dir)?;
    let t_base = t1.elapsed();
    let t0 = Instant::now();
    let deb = crate::package::build(root)?;
    let t_deb = t0.elapsed();
    let k = kernel::prepare(opts.kernel, &root.join("target/testbed"))?;
    let t2 = Instant::now();
    let img = disk_image(&dir, &base, &k, &deb)?;
    let initrd = initramfs(&dir, &k)?;
    let t_img = t2.elapsed();
    println!(
        "booting {} with {} (limit {} s)",
        img.display(),
        k.release,
        opts.timeout.as_secs()
    );
    let t3 = Instant::now();
    let outcome = boot(&dir, &k, &img, &initrd, opts.timeout)?;
    let t_vm = t3.elapsed();
    let ok = outcome.done && outcome.fails.is_empty() && outcome.boots.len() == 2;
    let second_boot = match (outcome.reboot_at, outcome.boots.get(1)) {
        (Some(r), Some(b)) => format!("{:.0} s", b.saturating_sub(r).as_secs_f64()),
        _ => "-".into(),
    };
    println!(
        "reboot test: {} checks ok, {} failed, {} boots; times: package {:.0} s, base system {:.0} s, image {:.0} s, VM {:.0} s (first boot to its checks {}, reboot to the second boot's checks {})",
        outcome.oks,
        outcome.fails.len(),
        outcome.boots.len(),
        t_deb.as_secs_f64(),
        t_base.as_secs_f64(),
        t_img.as_secs_f64(),
        t_vm.as_secs_f64(),
        outcome
            .boots
            .first()
            .map_or("-".into(), |b| format!("{:.0} s", b.as_secs_f64())),
        second_boot,
    );
    if !ok {
        println!(
            "reboot test: FAILED (console: {}, report: {})",
            dir.join("console.log").display(),
            dir.join("report.log").display()
        );
    } else {
        println!("reboot test: passed");
    }
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_reads_the_guest_lines() {
        let mut o = Outcome::default();
        let s = Duration::from_secs;
        o.line("RT boot 1 6.1.0 starting", s(40));
        o.line("RT ok add a service", s(41));
        o.line("RT reboot", s(50));
        o.line("noise", s(51));
        o.line("RT boot 2 6.1.0 starting", s(90));
        o.line("RT FAIL x: y", s(91));
        o.line("RT done with failures", s(92));
        assert_eq!(o.oks, 1);
        assert_eq!(o.fails, ["x: y"]);
        assert_eq!(o.boots, [s(40), s(90)]);
        assert!(!o.done);
        o.line("RT done", s(93));
        assert!(o.done);
    }
}
