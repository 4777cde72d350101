//! Boots a kernel and initramfs under qemu (TCG; KVM is not available) with a
//! hard time limit, streaming the agent's report lines as they arrive.
//!
//! The console (ttyS0) goes to a log file, kept for post-mortems; the
//! agent's report channel (ttyS1) goes to a second file that is tailed.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// How to boot.
#[derive(Clone, Debug)]
pub struct Boot {
    /// Kernel image.
    pub kernel: PathBuf,
    /// initramfs archive.
    pub initrd: PathBuf,
    /// Virtual CPUs (2 lets the agent run both sides of a scenario at once).
    pub cpus: u32,
    /// Guest memory in MiB.
    pub memory_mib: u32,
}

impl Boot {
    fn base_command(&self) -> Command {
        let mut cmd = Command::new("qemu-system-x86_64");
        cmd.args(["-accel", "tcg", "-cpu", "max"])
            .args(["-m", &self.memory_mib.to_string()])
            .args(["-smp", &self.cpus.to_string()])
            .args(["-no-reboot", "-net", "none"])
            .arg("-kernel")
            .arg(&self.kernel)
            .arg("-initrd")
            .arg(&self.initrd)
            .args([
                "-append",
                "console=ttyS0 quiet loglevel=3 panic=-1 oops=panic",
            ]);
        cmd
    }
}

/// How a non-interactive boot ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// qemu exited by itself (the guest powered off) with this status.
    Exited(Option<i32>),
    /// The time limit passed and qemu was killed.
    TimedOut,
}

/// Boots with the console going to `console_log` and ttyS1 to `report`,
/// calling `on_line` for every complete report line as it arrives.
pub fn run_streaming(
    boot: &Boot,
    console_log: &Path,
    report: &Path,
    qemu_log: &Path,
    timeout: Duration,
    mut on_line: impl FnMut(&str),
) -> Result<End> {
    fs::write(report, b"")?;
    let mut cmd = boot.base_command();
    cmd.args(["-display", "none", "-monitor", "none"])
        .arg("-serial")
        .arg(format!("file:{}", console_log.display()))
        .arg("-serial")
        .arg(format!("file:{}", report.display()))
        .stdin(Stdio::null())
        .stdout(fs::File::create(qemu_log)?)
        .stderr(fs::File::create(qemu_log.with_extension("stderr"))?);
    let mut child = cmd.spawn().context("starting qemu-system-x86_64")?;
    let mut reader = fs::File::open(report)?;
    let mut pending: Vec<u8> = Vec::new();
    let started = Instant::now();
    let mut drain = |reader: &mut fs::File, pending: &mut Vec<u8>| -> Result<()> {
        // qemu truncates the file when it opens it; start over if it shrank.
        let len = reader.metadata()?.len();
        if reader.stream_position()? > len {
            reader.seek(SeekFrom::Start(0))?;
            pending.clear();
        }
        reader.read_to_end(pending)?;
        while let Some(nl) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=nl).collect();
            on_line(&String::from_utf8_lossy(&line));
        }
        Ok(())
    };
    let end = loop {
        drain(&mut reader, &mut pending)?;
        if let Some(status) = child.try_wait()? {
            break End::Exited(status.code());
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            break End::TimedOut;
        }
        thread::sleep(Duration::from_millis(100));
    };
    drain(&mut reader, &mut pending)?;
    if !pending.is_empty() {
        on_line(&String::from_utf8_lossy(&pending));
    }
    Ok(end)
}

/// Boots with the console on this terminal (for `cargo xtask vm`) and ttyS1
/// going to `report`. With `timeout`, qemu is killed when it runs over.
pub fn run_interactive(boot: &Boot, report: &Path, timeout: Option<Duration>) -> Result<End> {
    fs::write(report, b"")?;
    let mut cmd = boot.base_command();
    cmd.args(["-nographic", "-serial", "mon:stdio", "-serial"])
        .arg(format!("file:{}", report.display()));
    let mut child = cmd.spawn().context("starting qemu-system-x86_64")?;
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(End::Exited(status.code()));
        }
        if timeout.is_some_and(|t| started.elapsed() > t) {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(End::TimedOut);
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// The last `n` lines of a log file, for post-mortems.
pub fn tail(path: &Path, n: usize) -> Vec<String> {
    let data = fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&data);
    let lines: Vec<&str> = text.lines().collect();
    let skip = lines.len().saturating_sub(n);
    lines
        .iter()
        .skip(skip)
        .map(|l| l.trim_end_matches('\r').to_string())
        .collect()
}
