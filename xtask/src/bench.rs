//! `cargo xtask bench`: ipvsadm and ipvsadm-rs timed side by side inside
//! the test-bed VM, one boot per kernel.
//!
//! The host builds the release binaries and the measuring helper
//! (`examples/ipvs_bench.rs`, copied in as `/usr/local/sbin/ipvs-bench`),
//! boots the kernel with `/testbed/agent bench-guest ...` as the command,
//! and prints what the guest reports on the second serial port. The guest
//! generates the tables, runs every measured command through the helper
//! (wall time, and peak memory read at the child's exit), checks that the
//! two tools leave the same table and print the same bytes, and prints the
//! medians as a table.
//!
//! A benchmark, never a test: slow numbers fail nothing. Only a broken
//! setup (a command that fails, outputs that differ) is reported as such.

use std::fmt::Write as _;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::initramfs::{self, Payload};
use crate::kernel::{self, Flavor};
use crate::layout;
use crate::qemu::{self, Boot, End};

/// The helper's name inside the VM.
const HELPER: &str = "/usr/local/sbin/ipvs-bench";
/// Where the guest keeps its files.
const WORK: &str = "/tmp/bench";
/// Receive-buffer sizes the helper's `dumps` tries by hand (as in
/// examples/ipvs_bench.rs).
const RAW_SIZES: [usize; 3] = [4096, 8192, 16384];
/// Prefix of the guest's report lines.
const OUT_PREFIX: &str = "BENCH ";

/// Options of `cargo xtask bench`.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Kernels to boot, one after the other.
    pub kernels: Vec<Flavor>,
    /// What the guest measures.
    pub guest: GuestOptions,
    /// Hard limit for one boot.
    pub timeout: Duration,
    /// Run this shell script in the bench VM instead of the bench (for
    /// investigating; its output is shown as it comes).
    pub script: Option<String>,
    /// More host programs to put in `/usr/local/sbin` (for scripts).
    pub extra: Vec<PathBuf>,
    /// Time this `ipvsadm-rs` build instead of `target/release`'s (to
    /// evaluate a variant).
    pub candidate: Option<PathBuf>,
}

/// What the guest measures; passed on its command line (the host's
/// `cargo xtask bench` options and the guest's `bench-guest` options are
/// this one clap group, so the two always agree).
#[derive(Clone, Debug, PartialEq, Eq, clap::Args)]
pub struct GuestOptions {
    /// Repetitions of each measurement
    #[arg(long, value_name = "N", default_value = "5", value_parser = crate::cli::positive)]
    pub reps: usize,
    /// Services of the main table, 10 destinations each
    #[arg(long, value_name = "N", default_value = "2000", value_parser = crate::cli::positive)]
    pub services: usize,
    /// Single `-A` invocations in the shell loop
    #[arg(long, value_name = "N", default_value = "100", value_parser = crate::cli::positive)]
    pub singles: usize,
    /// Service counts of the scaling series (comma-separated, or `none`)
    #[arg(long, value_name = "A,B,..|none", default_value = "1000,2000,4000", value_parser = scale)]
    // Spelled out so that clap takes the whole list as one value.
    pub scale: ::std::vec::Vec<usize>,
    /// Repetitions in the scaling series
    #[arg(long, value_name = "N", default_value = "3", value_parser = crate::cli::positive)]
    pub scale_reps: usize,
}

/// `--scale`: `A,B,..` positive counts, or `none` (or empty) for no series.
fn scale(v: &str) -> Result<Vec<usize>, String> {
    if v.is_empty() || v == "none" {
        return Ok(Vec::new());
    }
    v.split(',').map(crate::cli::positive).collect()
}

impl Default for GuestOptions {
    fn default() -> GuestOptions {
        GuestOptions {
            reps: 5,
            services: 2000,
            singles: 100,
            scale: vec![1000, 2000, 4000],
            scale_reps: 3,
        }
    }
}

/// Destinations per service in every generated table.
pub const DESTS: usize = 10;

impl GuestOptions {
    pub(crate) fn to_args(&self) -> Vec<String> {
        let scale: Vec<String> = self.scale.iter().map(|n| n.to_string()).collect();
        vec![
            "--reps".into(),
            self.reps.to_string(),
            "--services".into(),
            self.services.to_string(),
            "--singles".into(),
            self.singles.to_string(),
            "--scale".into(),
            if scale.is_empty() {
                "none".into()
            } else {
                scale.join(",")
            },
            "--scale-reps".into(),
            self.scale_reps.to_string(),
        ]
    }
}

// ---------------------------------------------------------------- host --

/// Builds the shipped binaries and the `ipvs_bench` helper; returns the
/// helper's path.
pub fn build(root: &Path) -> Result<PathBuf> {
    crate::cargo::build_release_bins(root)?;
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(root)
        .args([
            "build",
            "--release",
            "--package",
            "ipvsadm-rs",
            "--example",
            "ipvs_bench",
        ])
        .status()
        .context("running cargo build --example ipvs_bench")?;
    if !status.success() {
        bail!("building the ipvs_bench helper failed");
    }
    Ok(crate::cargo::target_dir(root).join("release/examples/ipvs_bench"))
}

/// The host's load averages and core count, for the record.
fn host_load() -> String {
    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut f = load.split_whitespace();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "load average {} {} {} on {cores} cores",
        f.next().unwrap_or("?"),
        f.next().unwrap_or("?"),
        f.next().unwrap_or("?")
    )
}

fn now_utc() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// `cargo xtask bench`. Returns false only when a run broke.
pub fn bench(opts: &BenchOptions) -> Result<bool> {
    let root = crate::suite::workspace_root();
    println!("==> building release binaries and the ipvs_bench helper");
    let helper = build(&root)?;
    let mut bins: Vec<(String, PathBuf)> = ["ipvsadm-rs", "ipvsadm-rs-save", "ipvsadm-rs-restore"]
        .iter()
        .map(|b| (b.to_string(), root.join(crate::cargo::SHIPPED_DIR).join(b)))
        .collect();
    if let (Some(c), Some(main)) = (&opts.candidate, bins.first_mut()) {
        main.1 = std::path::absolute(c)?;
        println!("    candidate ipvsadm-rs: {}", main.1.display());
    }
    bins.push(("ipvs-bench".into(), helper));
    for p in &opts.extra {
        let name = p
            .file_name()
            .with_context(|| format!("{}: not a file name", p.display()))?;
        bins.push((name.to_string_lossy().into_owned(), std::path::absolute(p)?));
    }
    for (_, p) in &bins {
        if !p.is_file() {
            bail!("{} was not built", p.display());
        }
    }
    let mut script = String::from("stty -F /dev/ttyS1 raw -echo 2>/dev/null\n");
    match &opts.script {
        Some(s) => {
            let _ = writeln!(script, "(\n{s}\n) >/dev/ttyS1 2>&1");
        }
        None => {
            let _ = writeln!(
                script,
                "{} bench-guest {} >/dev/ttyS1 2>&1",
                layout::AGENT,
                opts.guest.to_args().join(" ")
            );
        }
    }
    let mut ok = true;
    for flavor in &opts.kernels {
        println!("==> kernel {} ({})", flavor.label, flavor.meta);
        println!("    {} | host {}", now_utc(), host_load());
        let started = Instant::now();
        let label = flavor.label;
        let done = run_script(
            &root,
            "bench",
            *flavor,
            &script,
            &bins,
            opts.timeout,
            |line| {
                if let Some(text) = line.strip_prefix(OUT_PREFIX) {
                    println!("[{label}] {text}");
                } else if !line.trim().is_empty() {
                    println!("[{label}] guest: {line}");
                }
            },
        )?;
        println!(
            "    done after {:.0} s | host {}",
            started.elapsed().as_secs_f64(),
            host_load()
        );
        if let Err(why) = done {
            println!("[{label}] {why}");
            ok = false;
        }
    }
    Ok(ok)
}

/// Boots `flavor` once with `script` as the guest's command (it must send
/// its output to `/dev/ttyS1`) and `bins` copied into `/usr/local/sbin`,
/// and hands every line the guest prints to `on_line`. The boot's files
/// go to `target/testbed/run/NAME-KERNEL`. `Ok(Err(why))` when the script
/// did not exit 0 within `timeout`.
pub fn run_script(
    root: &Path,
    name: &str,
    flavor: Flavor,
    script: &str,
    bins: &[(String, PathBuf)],
    timeout: Duration,
    mut on_line: impl FnMut(&str),
) -> Result<std::result::Result<(), String>> {
    let cache = root.join("target/testbed");
    let k = kernel::prepare(flavor, &cache)?;
    let plan = kernel::module_plan(&k)?;
    let payload = Payload::command(script.to_string(), bins.to_vec());
    let dir = cache.join("run").join(format!("{name}-{}", flavor.label));
    fs::create_dir_all(&dir)?;
    let initrd = dir.join("initramfs.cpio");
    initramfs::build(&k, &plan, &payload, &initrd).context("building the initramfs")?;
    let boot = Boot {
        kernel: k.vmlinuz.clone(),
        initrd,
        cpus: 2,
        memory_mib: 1024,
    };
    let mut status = None;
    let end = qemu::run_streaming(
        &boot,
        &dir.join("console.log"),
        &dir.join("report.log"),
        &dir.join("qemu.log"),
        timeout,
        |line| {
            let line = line.trim_end_matches(['\r', '\n']);
            if let Some(rc) = line.strip_prefix("TB:EXIT ") {
                status = rc.trim().parse::<i32>().ok();
            } else {
                on_line(line);
            }
        },
    )?;
    Ok(match (end, status) {
        (End::Exited(_), Some(0)) => Ok(()),
        (End::TimedOut, _) => Err(format!("timed out after {timeout:?}")),
        (_, s) => Err(format!(
            "the script did not finish cleanly (status {s:?}); console: {}",
            dir.join("console.log").display()
        )),
    })
}

// --------------------------------------------------------------- guest --

/// One measured run, as the helper reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Sample {
    secs: f64,
    maxrss_kb: u64,
    status: i32,
}

/// Which program plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tool {
    Ref,
    Rs,
}

impl Tool {
    fn path(self) -> &'static str {
        match self {
            Tool::Ref => layout::REF_IPVSADM,
            Tool::Rs => layout::IPVSADM_RS,
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Tool::Ref => "ref",
            Tool::Rs => "rs",
        }
    }

    /// Both tools, the first one alternating with the repetition so that
    /// neither always runs on a cache the other warmed.
    fn order(rep: usize) -> [Tool; 2] {
        if rep & 1 == 0 {
            [Tool::Ref, Tool::Rs]
        } else {
            [Tool::Rs, Tool::Ref]
        }
    }
}

fn say(text: impl AsRef<str>) {
    for line in text.as_ref().lines() {
        println!("{OUT_PREFIX}{line}");
    }
    let _ = std::io::stdout().flush();
}

/// The restore input of a table with `services` TCP services in
/// 10.1.0.0/16 and [`DESTS`] masquerading destinations each, all addresses
/// inside 10.0.0.0/8 (where ipvsadm's sort and ours agree).
pub fn rules(services: usize) -> String {
    let mut s = String::with_capacity(services * (DESTS + 1) * 48);
    for i in 0..services {
        let vip = format!("10.1.{}.{}:80", i / 250, i % 250 + 1);
        let _ = writeln!(s, "-A -t {vip} -s wlc");
        for d in 0..DESTS {
            let n = i * DESTS + d;
            let _ = writeln!(
                s,
                "-a -t {vip} -r 10.{}.{}.{}:8080 -m -w {}",
                2 + n / 62_500,
                n / 250 % 250,
                n % 250 + 1,
                d + 1
            );
        }
    }
    s
}

fn parse_kv(line: &str, key: &str) -> Option<f64> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

/// The guest's working state.
struct Guest {
    work: PathBuf,
    problems: Vec<String>,
    /// The network namespace commands run in (IPVS state is per
    /// namespace).
    ns: String,
    ns_count: usize,
}

impl Guest {
    fn path(&self, name: &str) -> PathBuf {
        self.work.join(name)
    }

    /// A command run inside the current namespace.
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(layout::IP);
        cmd.args(["netns", "exec", &self.ns, program]);
        cmd
    }

    /// Moves to a new, empty namespace and deletes the old one.
    ///
    /// Every restore starts in a fresh namespace rather than after a flush:
    /// the kernel keeps deleted destinations in a per-namespace trash list
    /// for minutes and searches it linearly on every destination added, so
    /// a restore after flushing 20,000 destinations is several times
    /// slower, for either tool.
    fn fresh_ns(&mut self) -> Result<()> {
        let old = std::mem::take(&mut self.ns);
        if !old.is_empty() {
            let _ = Command::new(layout::IP)
                .args(["netns", "del", &old])
                .status();
        }
        self.ns_count += 1;
        let name = format!("bench{}", self.ns_count);
        for args in [
            vec!["netns", "add", name.as_str()],
            vec!["-n", name.as_str(), "link", "set", "lo", "up"],
        ] {
            let st = Command::new(layout::IP)
                .args(&args)
                .status()
                .context("running ip")?;
            if !st.success() {
                bail!("ip {}: {st}", args.join(" "));
            }
        }
        self.ns = name;
        settle();
        Ok(())
    }

    /// Runs `argv` through the helper.
    fn measure(
        &mut self,
        argv: &[&str],
        input: Option<&Path>,
        output: Option<&Path>,
        env: &[(&str, &str)],
    ) -> Result<(Sample, String)> {
        let err = self.path("stderr");
        let mut cmd = self.command(HELPER);
        cmd.arg("run");
        if let Some(i) = input {
            cmd.arg("--in").arg(i);
        }
        if let Some(o) = output {
            cmd.arg("--out").arg(o);
        }
        cmd.arg("--err").arg(&err).arg("--").args(argv);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let o = cmd
            .stderr(Stdio::inherit())
            .output()
            .context("running the helper")?;
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        if !o.status.success() {
            bail!("helper failed on {argv:?}: {text}");
        }
        let sample = Sample {
            secs: parse_kv(&text, "wall_us").context("no wall_us")? / 1e6,
            maxrss_kb: parse_kv(&text, "maxrss_kb").unwrap_or(0.0) as u64,
            status: parse_kv(&text, "status").unwrap_or(-1.0) as i32,
        };
        let stderr = fs::read_to_string(&err).unwrap_or_default();
        Ok((sample, stderr))
    }

    /// Like `measure`, noting a problem when the status or stderr is not
    /// what a clean run gives.
    fn timed(
        &mut self,
        what: &str,
        argv: &[&str],
        input: Option<&Path>,
        output: Option<&Path>,
        env: &[(&str, &str)],
        want_status: i32,
    ) -> Result<Sample> {
        let (s, stderr) = self.measure(argv, input, output, env)?;
        if s.status != want_status || (want_status == 0 && !stderr.is_empty()) {
            let first: String = stderr.lines().take(3).collect::<Vec<_>>().join(" | ");
            self.problems.push(format!(
                "{what}: exit status {} (want {want_status}): {first}",
                s.status
            ));
        }
        Ok(s)
    }

    /// Runs a setup command that must succeed; returns its stdout.
    fn setup(&mut self, argv: &[&str], input: Option<&Path>) -> Result<Vec<u8>> {
        let mut cmd = self.command(argv.first().context("empty command")?);
        cmd.args(argv.get(1..).unwrap_or(&[]));
        cmd.stdin(match input {
            Some(p) => Stdio::from(fs::File::open(p)?),
            None => Stdio::null(),
        });
        let o = cmd.output().with_context(|| format!("running {argv:?}"))?;
        if !o.status.success() {
            bail!(
                "{argv:?}: {}: {}",
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            );
        }
        Ok(o.stdout)
    }

    /// The live table as the reference saves it.
    fn state(&mut self) -> Result<Vec<u8>> {
        self.setup(&[layout::REF_IPVSADM, "-Sn"], None)
    }

    fn same_files(&mut self, what: &str, a: &Path, b: &Path) -> bool {
        let (x, y) = (
            fs::read(a).unwrap_or_default(),
            fs::read(b).unwrap_or_default(),
        );
        let same = x == y && !x.is_empty();
        if !same {
            self.problems.push(format!(
                "{what}: outputs differ ({} vs {} bytes; {} and {})",
                x.len(),
                y.len(),
                a.display(),
                b.display()
            ));
        }
        same
    }
}

/// Waits (at most 10 s) until the guest's CPUs have been idle for a
/// tenth of a second. Deleting a namespace that holds thousands of IPVS
/// entries leaves the kernel freeing them in the background for a while;
/// a measurement started meanwhile shares the CPUs with that clean-up, and
/// whichever tool ran then looked slower (restore samples of the same
/// tool varied by half under qemu before this wait).
fn settle() {
    // Busy and total jiffies of all CPUs, from the first line of /proc/stat.
    fn jiffies() -> Option<(u64, u64)> {
        let stat = fs::read_to_string("/proc/stat").ok()?;
        let cpu = stat.lines().next()?;
        let v: Vec<u64> = cpu
            .split_whitespace()
            .skip(1)
            .filter_map(|w| w.parse().ok())
            .collect();
        let total: u64 = v.iter().sum();
        // idle and iowait are the fourth and fifth values.
        let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
        Some((total - idle, total))
    }
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(10) {
        let Some((b0, t0)) = jiffies() else { return };
        std::thread::sleep(Duration::from_millis(100));
        let Some((b1, t1)) = jiffies() else { return };
        let (busy, total) = (b1.saturating_sub(b0), t1.saturating_sub(t0));
        // At most one busy jiffy in the window: this helper waking up.
        if total > 0 && busy * 20 <= total {
            return;
        }
    }
}

fn median(v: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// Samples of one row, per tool.
#[derive(Default)]
struct Pair {
    reference: Vec<f64>,
    ours: Vec<f64>,
}

impl Pair {
    fn push(&mut self, tool: Tool, v: f64) {
        match tool {
            Tool::Ref => self.reference.push(v),
            Tool::Rs => self.ours.push(v),
        }
    }
}

fn secs_text(v: Option<f64>) -> String {
    match v {
        Some(s) if s >= 10.0 => format!("{s:.1} s"),
        Some(s) if s >= 1.0 => format!("{s:.2} s"),
        Some(s) => format!("{:.0} ms", s * 1e3),
        None => "-".into(),
    }
}

fn mb_text(v: Option<f64>) -> String {
    v.map_or("-".into(), |kb| format!("{:.1} MB", kb / 1024.0))
}

fn samples_text(v: &[f64], unit: f64) -> String {
    v.iter()
        .map(|x| format!("{:.3}", x * unit))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Formats the result table rows.
struct Table {
    rows: Vec<[String; 4]>,
}

impl Table {
    fn time(&mut self, label: &str, p: &Pair) {
        let (r, o) = (median(&p.reference), median(&p.ours));
        let ratio = match (r, o) {
            (Some(r), Some(o)) if o > 0.0 => format!("{:.1}x faster", r / o),
            _ => String::new(),
        };
        self.rows
            .push([label.into(), secs_text(r), secs_text(o), ratio]);
    }

    fn memory(&mut self, label: &str, p: &Pair) {
        let (r, o) = (median(&p.reference), median(&p.ours));
        let ratio = match (r, o) {
            (Some(r), Some(o)) if r > 0.0 => format!("{:.2}x of ipvsadm", o / r),
            _ => String::new(),
        };
        self.rows
            .push([label.into(), mb_text(r), mb_text(o), ratio]);
    }

    fn note(&mut self, label: &str, ours: String, remark: String) {
        self.rows.push([label.into(), String::new(), ours, remark]);
    }

    fn print(&self) {
        let rows = self.rows.iter().map(|r| r.to_vec());
        print_table(&["", "ipvsadm", "ipvsadm-rs", "ratio"], &[1, 2], rows);
    }
}

/// Prints a table with comfy-table, each line indented by two spaces:
/// plain (no borders, no colours, no width guess; it goes out on the VM's
/// serial line), the columns in `right` aligned right.
fn print_table(head: &[&str], right: &[usize], rows: impl IntoIterator<Item = Vec<String>>) {
    for line in table_lines(head, right, rows) {
        say(line);
    }
}

/// The lines [`print_table`] prints.
fn table_lines(
    head: &[&str],
    right: &[usize],
    rows: impl IntoIterator<Item = Vec<String>>,
) -> Vec<String> {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::NOTHING)
        .set_content_arrangement(comfy_table::ContentArrangement::Disabled)
        .set_header(head.iter().copied());
    for r in rows {
        t.add_row(r);
    }
    for &i in right {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(comfy_table::CellAlignment::Right);
        }
    }
    t.lines().map(|l| format!(" {}", l.trim_end())).collect()
}

/// `bench-guest ...`: runs inside the VM.
pub fn guest(opts: &GuestOptions) -> Result<()> {
    let release = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    say(format!(
        "kernel {release}, {cpus} guest CPUs (qemu TCG); {} repetitions, medians",
        opts.reps
    ));
    let work = PathBuf::from(WORK);
    fs::create_dir_all(&work)?;
    let mut g = Guest {
        work,
        problems: Vec::new(),
        ns: String::new(),
        ns_count: 0,
    };
    let lines = opts.services * (DESTS + 1);
    let main_rules = g.path(&format!("rules-{}", opts.services));
    fs::write(&main_rules, rules(opts.services))?;
    let mut table = Table { rows: Vec::new() };
    let mut raw: Vec<String> = Vec::new();

    // Restore, both tools, from an empty table each time.
    say(format!(
        "restore of {} services x {DESTS} destinations ({lines} lines) ...",
        opts.services
    ));
    let mut restore = Pair::default();
    for rep in 0..opts.reps {
        for tool in Tool::order(rep) {
            g.fresh_ns()?;
            let s = g.timed(
                &format!("{} -R", tool.tag()),
                &[tool.path(), "-R"],
                Some(&main_rules),
                None,
                &[],
                0,
            )?;
            restore.push(tool, s.secs);
            if rep == 0 {
                let state = g.state()?;
                fs::write(g.path(&format!("restored.{}", tool.tag())), state)?;
            }
        }
    }
    let restored_same = g.same_files(
        "table after restore",
        &g.path("restored.ref"),
        &g.path("restored.rs"),
    );
    table.time(&format!("restore {lines} lines (-R)"), &restore);
    raw.push(format!(
        "restore ref: {} s",
        samples_text(&restore.reference, 1.0)
    ));
    raw.push(format!(
        "restore rs: {} s",
        samples_text(&restore.ours, 1.0)
    ));

    // The floor: the same requests, prebuilt, pushed in batches.
    say("floor (prebuilt requests, Client::batch only) ...");
    let mut text = String::new();
    for _ in 0..opts.reps {
        g.fresh_ns()?;
        let o = g.setup(&[HELPER, "floor", &main_rules.to_string_lossy()], None)?;
        text.push_str(&String::from_utf8_lossy(&o));
    }
    let floor: Vec<f64> = text
        .lines()
        .filter_map(|l| parse_kv(l, "floor_us").map(|us| us / 1e6))
        .collect();
    if text
        .lines()
        .any(|l| parse_kv(l, "failed").is_some_and(|f| f > 0.0))
    {
        g.problems.push(format!("floor: failed requests: {text}"));
    }
    let floor_med = median(&floor);
    let rs_restore = median(&restore.ours);
    table.note(
        &format!("  floor: {lines} prebuilt requests"),
        secs_text(floor_med),
        match (rs_restore, floor_med) {
            (Some(r), Some(f)) if f > 0.0 => format!("restore = {:.2}x floor", r / f),
            _ => String::new(),
        },
    );
    raw.push(format!("floor: {} s", samples_text(&floor, 1.0)));

    // Where restore's time goes: one request per line, and checking only.
    say("restore variants (one by one; check only) ...");
    let mut one = Vec::new();
    let mut check = Vec::new();
    let bad = g.path("rules-bad");
    let mut bad_text = fs::read_to_string(&main_rules)?;
    bad_text.push_str("-A -t 10.255.255.254:80 -w 5\n");
    fs::write(&bad, bad_text)?;
    for _ in 0..opts.reps {
        g.fresh_ns()?;
        let s = g.timed(
            "rs -R one by one",
            &[layout::IPVSADM_RS, "-R"],
            Some(&main_rules),
            None,
            &[("IPVSADM_RS_RESTORE_ONE_BY_ONE", "1")],
            0,
        )?;
        one.push(s.secs);
        g.fresh_ns()?;
        let (s, _) = g.measure(&[layout::IPVSADM_RS, "-R"], Some(&bad), None, &[])?;
        if s.status != 2 {
            g.problems
                .push(format!("check-only restore exited {}", s.status));
        }
        check.push(s.secs);
    }
    table.note(
        "  rs restore, one request per line",
        secs_text(median(&one)),
        String::new(),
    );
    table.note(
        "  rs restore input check only (bad last line)",
        secs_text(median(&check)),
        String::new(),
    );
    raw.push(format!(
        "restore rs one by one: {} s",
        samples_text(&one, 1.0)
    ));
    raw.push(format!(
        "restore rs check only: {} s",
        samples_text(&check, 1.0)
    ));

    // Listing and save of the table, outputs compared byte for byte.
    say("listing and save ...");
    g.fresh_ns()?;
    g.setup(&[layout::IPVSADM_RS, "-R"], Some(&main_rules))?;
    let mut ln = Pair::default();
    let mut sn = Pair::default();
    let mut ln_mem = Pair::default();
    let mut sn_mem = Pair::default();
    let mut outputs_same = true;
    for rep in 0..opts.reps {
        for tool in Tool::order(rep) {
            for (flag, times, mem) in [("-Ln", &mut ln, &mut ln_mem), ("-Sn", &mut sn, &mut sn_mem)]
            {
                let out = g.path(&format!("{flag}.{}.{rep}", tool.tag()));
                let s = g.timed(
                    &format!("{} {flag}", tool.tag()),
                    &[tool.path(), flag],
                    None,
                    Some(&out),
                    &[],
                    0,
                )?;
                times.push(tool, s.secs);
                mem.push(tool, s.maxrss_kb as f64);
            }
        }
        for flag in ["-Ln", "-Sn"] {
            let a = g.path(&format!("{flag}.ref.{rep}"));
            let b = g.path(&format!("{flag}.rs.{rep}"));
            outputs_same &= g.same_files(&format!("{flag} (repetition {rep})"), &a, &b);
            if rep > 0 {
                let _ = fs::remove_file(a);
                let _ = fs::remove_file(b);
            }
        }
    }
    table.time(&format!("-Ln of {lines} entries"), &ln);
    table.time(&format!("-Sn of {lines} entries"), &sn);
    table.memory("peak memory (max RSS) of -Ln", &ln_mem);
    table.memory("peak memory (max RSS) of -Sn", &sn_mem);
    let (floor_rss, _) = g.measure(&["/bin/busybox", "true"], None, None, &[])?;
    table.note(
        "  max RSS of `busybox true` (measuring floor)",
        mb_text(Some(floor_rss.maxrss_kb as f64)),
        String::new(),
    );
    for (name, p) in [("-Ln", &ln), ("-Sn", &sn)] {
        raw.push(format!("{name} ref: {} s", samples_text(&p.reference, 1.0)));
        raw.push(format!("{name} rs: {} s", samples_text(&p.ours, 1.0)));
    }
    raw.push(format!(
        "-Ln max RSS ref/rs: {} / {} KiB",
        samples_text(&ln_mem.reference, 1.0),
        samples_text(&ln_mem.ours, 1.0)
    ));

    // The dumps a listing makes, without printing.
    say("dumps only ...");
    let mut svc_dump = Vec::new();
    let mut dumps: [Vec<f64>; 3] = Default::default();
    let mut by_hand: [Vec<f64>; 3] = Default::default();
    for _ in 0..opts.reps {
        let o = g.setup(&[HELPER, "dumps", "2", "4"], None)?;
        let text = String::from_utf8_lossy(&o).into_owned();
        svc_dump.extend(parse_kv(&text, "services_us").map(|v| v / 1e6));
        for (i, k) in [1, 2, 4].iter().enumerate() {
            if let (Some(v), Some(slot)) =
                (parse_kv(&text, &format!("dests_{k}_us")), dumps.get_mut(i))
            {
                slot.push(v / 1e6);
            }
        }
        for (i, size) in RAW_SIZES.iter().enumerate() {
            if let (Some(v), Some(slot)) = (
                parse_kv(&text, &format!("raw_{size}_us")),
                by_hand.get_mut(i),
            ) {
                slot.push(v / 1e6);
            }
        }
    }
    table.note(
        "  service dump only",
        secs_text(median(&svc_dump)),
        String::new(),
    );
    for (i, k) in [1, 2, 4].iter().enumerate() {
        let v = dumps.get(i).map(|v| median(v)).unwrap_or(None);
        table.note(
            &format!(
                "  {} destination dumps, {k} socket{}",
                opts.services,
                if *k == 1 { "" } else { "s" }
            ),
            secs_text(v),
            String::new(),
        );
    }
    for (i, size) in RAW_SIZES.iter().enumerate() {
        let v = by_hand.get(i).map(|v| median(v)).unwrap_or(None);
        table.note(
            &format!(
                "  {} destination dumps by hand, {} KiB buffer",
                opts.services,
                size / 1024
            ),
            secs_text(v),
            String::new(),
        );
    }

    // Single invocations: a shell loop of `-A`, and the loop's own cost.
    say(format!("{} single -A invocations ...", opts.singles));
    let mut singles = Pair::default();
    let mut shell = Vec::new();
    let loop_of = |prog: &str| {
        format!(
            "i=0; while [ $i -lt {} ]; do i=$((i+1)); {prog} -A -t 10.200.$((i/250)).$((i%250+1)):80 || exit 1; done",
            opts.singles
        )
    };
    for rep in 0..opts.reps {
        for tool in Tool::order(rep) {
            g.fresh_ns()?;
            let script = loop_of(tool.path());
            let s = g.timed(
                &format!("{} single -A loop", tool.tag()),
                &["/bin/sh", "-c", &script],
                None,
                None,
                &[],
                0,
            )?;
            singles.push(tool, s.secs);
        }
        let script = loop_of("/bin/true");
        let (s, _) = g.measure(&["/bin/sh", "-c", &script], None, None, &[])?;
        shell.push(s.secs);
    }
    table.time(&format!("{} single -A invocations", opts.singles), &singles);
    let base = median(&shell);
    table.note(
        "  the same loop running /bin/true",
        secs_text(base),
        match (median(&singles.reference), median(&singles.ours), base) {
            (Some(r), Some(o), Some(b)) if o > b => {
                format!("without it: {:.2}x faster", (r - b) / (o - b))
            }
            _ => String::new(),
        },
    );
    raw.push(format!(
        "singles ref: {} s",
        samples_text(&singles.reference, 1.0)
    ));
    raw.push(format!(
        "singles rs: {} s",
        samples_text(&singles.ours, 1.0)
    ));
    raw.push(format!(
        "singles /bin/true: {} s",
        samples_text(&shell, 1.0)
    ));

    // Scaling series.
    let mut scale_rows = Table { rows: Vec::new() };
    for &n in &opts.scale {
        let entries = n * DESTS;
        say(format!(
            "scaling: {n} services, {entries} destinations, {} repetitions ...",
            opts.scale_reps
        ));
        let file = g.path(&format!("rules-{n}"));
        fs::write(&file, rules(n))?;
        let mut r = Pair::default();
        let mut l = Pair::default();
        for rep in 0..opts.scale_reps {
            for tool in Tool::order(rep) {
                g.fresh_ns()?;
                let s = g.timed(
                    &format!("{} -R ({n})", tool.tag()),
                    &[tool.path(), "-R"],
                    Some(&file),
                    None,
                    &[],
                    0,
                )?;
                r.push(tool, s.secs);
            }
            for tool in Tool::order(rep) {
                let s = g.timed(
                    &format!("{} -Ln ({n})", tool.tag()),
                    &[tool.path(), "-Ln"],
                    None,
                    None,
                    &[],
                    0,
                )?;
                l.push(tool, s.secs);
            }
        }
        scale_rows.time(&format!("restore, {entries} entries"), &r);
        scale_rows.time(&format!("-Ln, {entries} entries"), &l);
        let _ = fs::remove_file(&file);
    }
    g.fresh_ns()?;

    say("");
    say("results (medians; ratio = ipvsadm time / ipvsadm-rs time):");
    table.print();
    say(format!(
        "  outputs byte-identical: -Ln and -Sn {}; tables restored by both {}",
        if outputs_same { "yes" } else { "NO" },
        if restored_same { "identical" } else { "DIFFER" }
    ));
    let speedup = |p: &Pair| match (median(&p.reference), median(&p.ours)) {
        (Some(r), Some(o)) if o > 0.0 => Some(r / o),
        _ => None,
    };
    let of_ref = |p: &Pair| match (median(&p.reference), median(&p.ours)) {
        (Some(r), Some(o)) if r > 0.0 => Some(o / r),
        _ => None,
    };
    let vs_floor = match (rs_restore, floor_med) {
        (Some(r), Some(f)) if f > 0.0 => Some(r / f),
        _ => None,
    };
    let targets = [
        ("restore >= 10x faster", speedup(&restore), 10.0, true),
        ("restore <= 1.5x the floor", vs_floor, 1.5, false),
        ("-Ln >= 3x faster", speedup(&ln), 3.0, true),
        ("-Sn >= 3x faster", speedup(&sn), 3.0, true),
        ("single -A >= 1.2x faster", speedup(&singles), 1.2, true),
        ("-Ln peak memory <= 1.1x", of_ref(&ln_mem), 1.1, false),
        ("-Sn peak memory <= 1.1x", of_ref(&sn_mem), 1.1, false),
    ];
    say("");
    say("targets:");
    let mut rows: Vec<Vec<String>> = targets
        .into_iter()
        .map(|(name, value, bound, at_least)| {
            let verdict = match value {
                Some(v) if (at_least && v >= bound) || (!at_least && v <= bound) => "met",
                Some(_) => "NOT met",
                None => "not measured",
            };
            vec![
                name.to_string(),
                value.map_or("-".into(), |v| format!("{v:.2}")),
                verdict.to_string(),
            ]
        })
        .collect();
    rows.push(vec![
        "outputs byte-identical".into(),
        String::new(),
        if outputs_same && restored_same {
            "met"
        } else {
            "NOT met"
        }
        .into(),
    ]);
    print_table(&["target", "value", ""], &[1], rows);
    if !opts.scale.is_empty() {
        say("");
        say("scaling (10 destinations per service):");
        scale_rows.print();
    }
    say("");
    say("samples:");
    for r in &raw {
        say(format!("  {r}"));
    }
    if !g.problems.is_empty() {
        say("");
        say("problems:");
        for p in &g.problems {
            say(format!("  {p}"));
        }
        bail!("{} problems", g.problems.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_plain_and_aligned() {
        let rows = vec![
            vec!["restore".to_string(), "10.7 s".into(), "678 ms".into()],
            vec!["-Ln".to_string(), "2.06 s".into(), "5 ms".into()],
        ];
        let lines = table_lines(&["", "ipvsadm", "ipvsadm-rs"], &[1, 2], rows);
        assert_eq!(lines.len(), 3);
        for l in &lines {
            assert!(l.starts_with("  "), "{l:?}");
            assert_eq!(l.trim_end(), l, "trailing blanks: {l:?}");
            assert!(!l.contains('\u{1b}') && !l.contains('|'), "{l:?}");
        }
        // Right-aligned: the numbers end in the same column.
        let end = |l: &str, w: &str| l.find(w).unwrap() + w.len();
        assert_eq!(end(&lines[1], "678 ms"), end(&lines[2], "5 ms"));
        assert_eq!(end(&lines[1], "10.7 s"), end(&lines[2], "2.06 s"));
    }

    #[test]
    fn rules_have_the_announced_shape() {
        let r = rules(3);
        let lines: Vec<&str> = r.lines().collect();
        assert_eq!(lines.len(), 3 * (DESTS + 1));
        assert_eq!(lines[0], "-A -t 10.1.0.1:80 -s wlc");
        assert_eq!(lines[1], "-a -t 10.1.0.1:80 -r 10.2.0.1:8080 -m -w 1");
        assert_eq!(lines[11], "-A -t 10.1.0.2:80 -s wlc");
        // Destinations are unique across the whole table, even at 40k.
        let big = rules(4000);
        let mut dests: Vec<&str> = big
            .lines()
            .filter_map(|l| l.split(" -r ").nth(1))
            .map(|t| t.split(' ').next().unwrap())
            .collect();
        let n = dests.len();
        dests.sort();
        dests.dedup();
        assert_eq!(dests.len(), n);
        assert!(big
            .lines()
            .all(|l| !l.contains(".250.") || l.contains(" -w ")));
    }

    #[test]
    fn medians_and_options() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        assert_eq!(scale("none"), Ok(Vec::new()));
        assert_eq!(scale("1,20"), Ok(vec![1, 20]));
        assert!(scale("1,0").is_err());
        assert!(scale("1,x").is_err());
        assert_eq!(parse_kv("wall_us=12 hwm_kb=3", "hwm_kb"), Some(3.0));
    }
}
