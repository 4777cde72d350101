//! `cargo xtask demo`: the LVS direct-routing story end to end, in the test
//! bed's VM. The script (`xtask/assets/demo-dr.sh`) builds a client, a
//! director and two real servers in network namespaces on one bridge,
//! balances web requests over them with ipvsadm-rs, saves and restores the
//! table, changes scheduler and weights, and shows the ARP trap of DR real
//! servers. It prints each command with a line of explanation and its
//! output; it also checks what it claims, and `tests/kernel/dr_demo.sh`
//! (a link to the same file) runs it as a kernel test.
//!
//! The VM boots without a terminal attached: the console goes to a log
//! file that is followed here, and only the script's own output is shown.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::initramfs::{self, Payload};
use crate::kernel::{self, Flavor};
use crate::qemu::{self, Boot, End};
use crate::{cargo, suite};

/// The demo script, run as the VM's command.
pub const SCRIPT: &str = include_str!("../assets/demo-dr.sh");

/// Options of `cargo xtask demo`.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// Kernel to boot.
    pub kernel: Flavor,
    /// Hard limit for the boot.
    pub timeout: Duration,
}

const BINS: [&str; 3] = ["ipvsadm-rs", "ipvsadm-rs-save", "ipvsadm-rs-restore"];

/// Drops terminal escape sequences (SeaBIOS clears the screen) and carriage
/// returns from a console line.
fn clean(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x1b' => {
                // CSI: ESC [ parameters final-byte; other escapes: one char.
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for n in chars.by_ref() {
                        if ('@'..='~').contains(&n) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Kernel messages that slip onto the console start with a timestamp,
/// `[   12.345678] `.
fn is_kernel_message(l: &str) -> bool {
    l.strip_prefix('[')
        .and_then(|r| r.split_once(']'))
        .is_some_and(|(t, _)| {
            let t = t.trim_start();
            !t.is_empty() && t.contains('.') && t.chars().all(|c| c.is_ascii_digit() || c == '.')
        })
}

/// What to do with one console line: the script's output starts at its
/// first section heading and ends with the init's exit-status line.
#[derive(Debug, Default)]
struct Filter {
    started: bool,
    ended: bool,
}

impl Filter {
    fn line(&mut self, raw: &str) -> Option<String> {
        let l = clean(raw);
        if self.ended {
            return None;
        }
        if l.starts_with("testbed: exit status") {
            self.ended = true;
            return None;
        }
        if !self.started {
            if !l.starts_with("=== ") {
                return None;
            }
            self.started = true;
        }
        if is_kernel_message(&l) {
            return None;
        }
        Some(l)
    }
}

/// Follows `path` from the start, printing filtered lines, until `stop` is
/// set and the file is drained.
fn follow(path: PathBuf, stop: Arc<AtomicBool>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut filter = Filter::default();
        let mut pending: Vec<u8> = Vec::new();
        let mut file: Option<fs::File> = None;
        let mut pos = 0u64;
        loop {
            let last = stop.load(Ordering::SeqCst);
            if file.is_none() {
                file = fs::File::open(&path).ok();
            }
            if let Some(f) = file.as_mut() {
                let len = f.metadata().map(|m| m.len()).unwrap_or(0);
                if len < pos {
                    pos = 0;
                    pending.clear();
                }
                if f.seek(SeekFrom::Start(pos)).is_ok() {
                    let mut buf = Vec::new();
                    if f.read_to_end(&mut buf).is_ok() {
                        pos += buf.len() as u64;
                        pending.extend_from_slice(&buf);
                    }
                }
                let stdout = std::io::stdout();
                let mut o = stdout.lock();
                while let Some(nl) = pending.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=nl).collect();
                    let text = String::from_utf8_lossy(&line);
                    if let Some(l) = filter.line(text.trim_end_matches('\n')) {
                        let _ = writeln!(o, "{l}");
                    }
                }
                let _ = o.flush();
            }
            if last {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
    })
}

/// `cargo xtask demo`: boots the VM, runs the script, returns whether it
/// succeeded.
pub fn run(opts: &DemoOptions) -> Result<bool> {
    let root = suite::workspace_root();
    let cache = root.join("target/testbed");
    let t = std::time::Instant::now();
    cargo::build_release_bins(&root)?;
    let built = t.elapsed();
    let t = std::time::Instant::now();
    let k = kernel::prepare(opts.kernel, &cache)?;
    let plan = kernel::module_plan(&k)?;
    let kernel_ready = t.elapsed();
    let t = std::time::Instant::now();
    let project_bins: Vec<(String, PathBuf)> = BINS
        .iter()
        .map(|b| (b.to_string(), root.join(crate::cargo::SHIPPED_DIR).join(b)))
        .filter(|(_, p)| p.is_file())
        .collect();
    let payload = Payload::command(SCRIPT.to_string(), project_bins);
    let dir = cache
        .join("run")
        .join(format!("demo-{}", opts.kernel.label));
    fs::create_dir_all(&dir)?;
    let initrd = dir.join("initramfs.cpio");
    initramfs::build(&k, &plan, &payload, &initrd).context("building the initramfs")?;
    println!(
        "booting Linux {} in qemu (no network: everything below happens inside the VM)",
        k.release
    );
    let boot = Boot {
        kernel: k.vmlinuz.clone(),
        initrd,
        cpus: 2,
        memory_mib: 1024,
    };
    let console = dir.join("console.log");
    let _ = fs::write(&console, b"");
    let stop = Arc::new(AtomicBool::new(false));
    let follower = follow(console.clone(), stop.clone());
    let mut status: Option<i32> = None;
    let end = qemu::run_streaming(
        &boot,
        &console,
        &dir.join("report.log"),
        &dir.join("qemu.log"),
        opts.timeout,
        |line| {
            if let Some(s) = line.trim().strip_prefix("TB:EXIT ") {
                status = s.trim().parse().ok();
            }
        },
    );
    stop.store(true, Ordering::SeqCst);
    let _ = follower.join();
    let end = end?;
    println!();
    // Where a first run's time goes (the README quotes a fresh run).
    println!(
        "time: binaries built in {:.0} s, kernel ready in {:.0} s (download and unpack on \
         first use), VM boot and demo {:.0} s",
        built.as_secs_f64(),
        kernel_ready.as_secs_f64(),
        t.elapsed().as_secs_f64()
    );
    match (end, status) {
        (_, Some(0)) => {
            println!("demo finished: every step behaved as described");
            Ok(true)
        }
        (_, Some(code)) => {
            println!(
                "demo failed (exit status {code}); console log: {}",
                console.display()
            );
            Ok(false)
        }
        (End::TimedOut, None) => {
            println!(
                "demo timed out after {} s; console log: {}",
                opts.timeout.as_secs(),
                console.display()
            );
            Ok(false)
        }
        (End::Exited(code), None) => {
            println!("the VM stopped ({code:?}) before the demo reported; last console lines:");
            for l in qemu::tail(&console, 20) {
                println!("    {}", clean(&l));
            }
            Ok(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn escapes_and_carriage_returns_are_dropped() {
        assert_eq!(clean("\x1bc\x1b[?7l\x1b[2JSeaBIOS\r"), "SeaBIOS");
        assert_eq!(clean("plain"), "plain");
    }

    #[test]
    fn filter_keeps_the_script_output_only() {
        let mut f = Filter::default();
        let lines = [
            "SeaBIOS (version 1.16)",
            "module ipip: ok",
            "",
            "=== The network",
            "Four hosts",
            "[   12.345678] some kernel message",
            "[x] not a kernel line",
            "testbed: exit status 0",
            "[   16.366766] reboot: Power down",
        ];
        let kept: Vec<String> = lines.iter().filter_map(|l| f.line(l)).collect();
        assert_eq!(
            kept,
            ["=== The network", "Four hosts", "[x] not a kernel line"]
        );
    }

    #[test]
    fn the_script_is_the_kernel_test() {
        let test = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/kernel/dr_demo.sh");
        assert_eq!(fs::read_to_string(test).unwrap(), SCRIPT);
    }
}
