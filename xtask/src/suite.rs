//! Host side of `cargo xtask test` and `cargo xtask vm`: builds what the VM
//! needs, boots each kernel once, and tallies the agent's reports.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::cargo;
use crate::initramfs::{self, Candidate, Mode, Payload, RustTests};
use crate::kernel::{self, Flavor};
use crate::protocol::{Kind, Msg};
use crate::qemu::{self, Boot, End};
use crate::scenario;

/// Options of `cargo xtask test`.
#[derive(Clone, Debug)]
pub struct TestOptions {
    /// Kernels to boot, in order.
    pub kernels: Vec<Flavor>,
    /// Only VM tests whose name contains this.
    pub filter: Option<String>,
    /// Run `cargo test --workspace` first.
    pub host: bool,
    /// Print outputs of passing tests and reference transcripts too.
    pub show: bool,
    /// Hard limit for one boot; `None` scales with the number of tests.
    pub boot_timeout: Option<Duration>,
    /// Limit for one scenario command inside the VM.
    pub cmd_timeout: Duration,
    /// Limit for one kernel test inside the VM.
    pub test_timeout: Duration,
    /// Virtual CPUs; with 2 or more the two sides of a scenario run at once.
    pub cpus: u32,
    /// Use the reference for all three candidate roles.
    pub reference: bool,
}

/// Pass/fail counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Passed tests.
    pub passed: u64,
    /// Failed tests.
    pub failed: u64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.passed += other.passed;
        self.failed += other.failed;
    }
}

/// The workspace root (the xtask crate sits in `<root>/xtask`).
pub fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn matches(filter: &Option<String>, name: &str) -> bool {
    filter.as_deref().is_none_or(|f| name.contains(f))
}

/// Sorted files of `dir` ending in `suffix`.
fn files(dir: &Path, suffix: &str) -> Result<Vec<PathBuf>> {
    let mut v = Vec::new();
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd {
            let p = e?.path();
            if p.is_file()
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(suffix))
            {
                v.push(p);
            }
        }
    }
    v.sort();
    Ok(v)
}

const PROJECT_BINS: [&str; 3] = cargo::BINS;
const CANDIDATE_VARS: [&str; 3] = [
    "IPVSADM_UNDER_TEST",
    "IPVSADM_SAVE_UNDER_TEST",
    "IPVSADM_RESTORE_UNDER_TEST",
];

/// The candidate for each role: `ref` (or `--reference`) means the reference,
/// another value is a host path, unset means the project's binary.
fn candidates(root: &Path, reference: bool) -> Result<[Candidate; 3]> {
    let mut out = [
        Candidate::Reference,
        Candidate::Reference,
        Candidate::Reference,
    ];
    for ((slot, var), bin) in out.iter_mut().zip(CANDIDATE_VARS).zip(PROJECT_BINS) {
        if reference {
            continue;
        }
        *slot = match std::env::var(var) {
            Ok(v) if v == "ref" => Candidate::Reference,
            Ok(v) if !v.is_empty() => {
                let p = std::path::absolute(&v)?;
                if !p.is_file() {
                    bail!("{var}={v}: no such file");
                }
                Candidate::Path(p)
            }
            _ => {
                let p = root.join(cargo::SHIPPED_DIR).join(bin);
                if !p.is_file() {
                    bail!("{} was not built", p.display());
                }
                Candidate::Path(p)
            }
        };
    }
    Ok(out)
}

fn describe(c: &Candidate) -> String {
    match c {
        Candidate::Reference => "reference".into(),
        Candidate::Path(p) => p.display().to_string(),
    }
}

fn project_bins(root: &Path) -> Vec<(String, PathBuf)> {
    PROJECT_BINS
        .iter()
        .map(|b| (b.to_string(), root.join(cargo::SHIPPED_DIR).join(b)))
        .filter(|(_, p)| p.is_file())
        .collect()
}

/// `cargo xtask test`. Returns whether everything passed.
pub fn test(opts: &TestOptions) -> Result<bool> {
    let root = workspace_root();
    let cache = root.join("target/testbed");
    let run_started = Instant::now();
    let mut total = Tally::default();
    let mut summary: Vec<String> = Vec::new();

    if opts.host {
        println!("==> host unit tests: cargo test --workspace");
        let h = cargo::host_tests(&root)?;
        let t = Tally {
            passed: h.passed,
            failed: h.failed,
        };
        summary.push(format!(
            "host unit tests: {} passed, {} failed",
            t.passed, t.failed
        ));
        total.add(t);
    }

    if let Err(e) = vm_suites(&root, &cache, opts, &mut total, &mut summary) {
        println!("error: {e:#}");
        summary.push(format!("test bed setup failed: {e:#}"));
        total.failed += 1;
    }

    println!();
    println!("==> summary ({})", secs(run_started.elapsed()));
    for line in &summary {
        println!("    {line}");
    }
    println!("{} passed, {} failed", total.passed, total.failed);
    Ok(total.failed == 0)
}

/// Builds everything the VM needs and runs every kernel, adding to the
/// totals and summary lines.
fn vm_suites(
    root: &Path,
    cache: &Path,
    opts: &TestOptions,
    total: &mut Tally,
    summary: &mut Vec<String>,
) -> Result<()> {
    println!("==> building release binaries");
    cargo::build_release_bins(root)?;
    let candidates = candidates(root, opts.reference)?;
    for (role, c) in initramfs::ROLES.iter().zip(&candidates) {
        println!("    candidate {role}: {}", describe(c));
    }

    let mut rust_tests = Vec::new();
    for target in cargo::kernel_test_targets(root)? {
        println!("==> building kernel test target {target}");
        let binary = cargo::build_test_binary(root, &target)?;
        let tests: Vec<String> = cargo::list_ignored(&binary)?
            .into_iter()
            .filter(|t| matches(&opts.filter, &format!("{target}::{t}")))
            .collect();
        if !tests.is_empty() {
            rust_tests.push(RustTests {
                target,
                binary,
                tests,
            });
        }
    }
    let kernel_tests: Vec<PathBuf> = files(&root.join("tests/kernel"), ".sh")?
        .into_iter()
        .filter(|p| {
            matches(
                &opts.filter,
                &p.file_name().unwrap_or_default().to_string_lossy(),
            )
        })
        .collect();
    let mut scenarios = Vec::new();
    let mut bad_scenarios = Tally::default();
    for p in files(&root.join("tests/scenarios"), ".txt")? {
        let name = p
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if !matches(&opts.filter, &name) {
            continue;
        }
        let text = fs::read_to_string(&p)?;
        match scenario::parse(&text) {
            Ok(_) => scenarios.push(p),
            Err(e) => {
                println!("FAIL  scenario {name}: {}: {e}", p.display());
                bad_scenarios.failed += 1;
            }
        }
    }
    if bad_scenarios.failed > 0 {
        summary.push(format!(
            "scenario files: {} failed to parse",
            bad_scenarios.failed
        ));
        total.add(bad_scenarios);
    }
    let rust_count: usize = rust_tests.iter().map(|r| r.tests.len()).sum();
    let vm_tests = kernel_tests.len() + rust_count + scenarios.len();
    // A hang inside the VM is caught by per-test limits; this is the backstop,
    // generous because TCG on a loaded 2-core machine runs tests 2-3x slower
    // (a 590 s limit was overrun on 6.1 while other VMs ran).
    let boot_timeout = opts
        .boot_timeout
        .unwrap_or_else(|| Duration::from_secs(300 + 30 * vm_tests as u64));
    println!(
        "    {} shell kernel tests, {rust_count} Rust kernel tests, {} scenarios",
        kernel_tests.len(),
        scenarios.len()
    );

    let config = format!(
        "cmd_timeout={}\ntest_timeout={}\nshow={}\nparallel={}\n",
        opts.cmd_timeout.as_secs(),
        opts.test_timeout.as_secs(),
        u8::from(opts.show),
        // The two sides of a scenario never run at once: the kernel keeps
        // one service hash table for all namespaces, and a dump that spans
        // several messages can show a service twice when the other side
        // changes the table meanwhile (seen on 6.1).
        0,
    );
    let payload = Payload {
        mode: Mode::Agent(config),
        kernel_tests,
        rust_tests,
        scenarios,
        candidates,
        project_bins: project_bins(root),
    };

    for flavor in &opts.kernels {
        let (tally, line) = match run_kernel(*flavor, cache, &payload, opts, boot_timeout) {
            Ok(r) => r,
            Err(e) => {
                println!("[{}] ERROR {e:#}", flavor.label);
                (
                    Tally {
                        passed: 0,
                        failed: 1,
                    },
                    format!("kernel {}: could not run: {e:#}", flavor.label),
                )
            }
        };
        summary.push(line);
        total.add(tally);
    }

    Ok(())
}

/// State of one boot's report stream.
#[derive(Default)]
struct Run {
    release: Option<String>,
    began: bool,
    ended: bool,
    fatal: Option<String>,
    current: Option<String>,
    kernel: Tally,
    scenario: Tally,
}

impl Run {
    fn handle(&mut self, label: &str, msg: Msg) {
        match msg {
            Msg::Begin => self.began = true,
            Msg::Kernel(r) => {
                println!("[{label}] booted kernel {r}");
                self.release = Some(r);
            }
            Msg::Module {
                name,
                status,
                detail,
            } => {
                if status != "ok" && status != "builtin" {
                    println!("[{label}] module {name}: {status} ({detail})");
                }
            }
            Msg::Start { kind, name } => self.current = Some(format!("{kind} {name}")),
            Msg::Pass { kind, name, millis } => {
                let took = secs(Duration::from_millis(millis));
                println!("[{label}] ok    {kind} {name} ({took})");
                self.tally(kind).passed += 1;
                self.current = None;
            }
            Msg::Fail { kind, name, millis } => {
                let took = secs(Duration::from_millis(millis));
                println!("[{label}] FAIL  {kind} {name} ({took})");
                self.tally(kind).failed += 1;
                self.current = None;
            }
            Msg::Out(text) => println!("        {text}"),
            Msg::Fatal(text) => {
                println!("[{label}] FATAL {text}");
                self.fatal = Some(text);
            }
            Msg::End => self.ended = true,
        }
    }

    fn tally(&mut self, kind: Kind) -> &mut Tally {
        match kind {
            Kind::Kernel => &mut self.kernel,
            Kind::Scenario => &mut self.scenario,
        }
    }
}

/// Prepares, boots and tallies one kernel. Returns its tally and summary line.
fn run_kernel(
    flavor: Flavor,
    cache: &Path,
    payload: &Payload,
    opts: &TestOptions,
    boot_timeout: Duration,
) -> Result<(Tally, String)> {
    let label = flavor.label;
    println!("==> kernel {label} ({})", flavor.meta);
    let k = kernel::prepare(flavor, cache)?;
    let plan = kernel::module_plan(&k)?;
    let dir = cache.join("run").join(label);
    fs::create_dir_all(&dir)?;
    let initrd = dir.join("initramfs.cpio");
    let size = initramfs::build(&k, &plan, payload, &initrd)?;
    println!(
        "[{label}] booting {} ({}, initramfs {:.1} MB)",
        k.package,
        k.release,
        size as f64 / 1e6
    );
    let boot = Boot {
        kernel: k.vmlinuz.clone(),
        initrd,
        cpus: opts.cpus,
        memory_mib: 1024,
    };
    let console = dir.join("console.log");
    let started = Instant::now();
    let mut run = Run::default();
    let end = qemu::run_streaming(
        &boot,
        &console,
        &dir.join("report.log"),
        &dir.join("qemu.log"),
        boot_timeout,
        |line| {
            if let Some(msg) = Msg::decode(line) {
                run.handle(label, msg);
            }
        },
    )?;
    let elapsed = started.elapsed();
    let mut tally = Tally::default();
    tally.add(run.kernel);
    tally.add(run.scenario);
    let release = run.release.clone().unwrap_or_else(|| k.release.clone());
    let mut problems = Vec::new();
    if !run.began {
        problems.push("the agent never reported (boot failure?)".to_string());
    } else if !run.ended {
        let what = match &end {
            End::TimedOut => format!("timed out after {}", secs(boot_timeout)),
            End::Exited(code) => format!("qemu exited ({code:?}) before the agent finished"),
        };
        match &run.current {
            Some(c) => problems.push(format!("{what}, while running {c}")),
            None => problems.push(what),
        }
    }
    if let Some(f) = &run.fatal {
        problems.push(format!("fatal: {f}"));
    }
    if !problems.is_empty() {
        tally.failed += 1;
        for p in &problems {
            println!("[{label}] FAIL  {p}");
        }
        println!("[{label}] last console lines ({}):", console.display());
        let tail = qemu::tail(&console, 30);
        if tail.is_empty() {
            println!("        (empty)");
        }
        for l in tail {
            println!("        {l}");
        }
    }
    let line = format!(
        "{release}: kernel tests {} passed, {} failed; scenarios {} passed, {} failed{} ({})",
        run.kernel.passed,
        run.kernel.failed,
        run.scenario.passed,
        run.scenario.failed,
        if problems.is_empty() {
            ""
        } else {
            "; run broken"
        },
        secs(elapsed)
    );
    println!("[{label}] {line}");
    Ok((tally, line))
}

/// Options of `cargo xtask vm`.
#[derive(Clone, Debug)]
pub struct VmOptions {
    /// Kernel to boot.
    pub kernel: Flavor,
    /// Run this shell command instead of an interactive shell.
    pub command: Option<String>,
    /// Limit for a command run.
    pub timeout: Duration,
}

/// `cargo xtask vm`: a shell (or one command) in the test-bed VM.
pub fn vm(opts: &VmOptions) -> Result<bool> {
    let root = workspace_root();
    let cache = root.join("target/testbed");
    cargo::build_release_bins(&root)?;
    let k = kernel::prepare(opts.kernel, &cache)?;
    let plan = kernel::module_plan(&k)?;
    let payload = Payload {
        mode: match &opts.command {
            Some(c) => Mode::Command(c.clone()),
            None => Mode::Shell,
        },
        kernel_tests: files(&root.join("tests/kernel"), ".sh")?,
        rust_tests: Vec::new(),
        scenarios: files(&root.join("tests/scenarios"), ".txt")?,
        candidates: [
            Candidate::Reference,
            Candidate::Reference,
            Candidate::Reference,
        ],
        project_bins: project_bins(&root),
    };
    let dir = cache.join("run").join(format!("vm-{}", opts.kernel.label));
    fs::create_dir_all(&dir)?;
    let initrd = dir.join("initramfs.cpio");
    initramfs::build(&k, &plan, &payload, &initrd).context("building the initramfs")?;
    eprintln!("booting {} (Ctrl-A X quits qemu)", k.release);
    let boot = Boot {
        kernel: k.vmlinuz.clone(),
        initrd,
        cpus: 2,
        memory_mib: 1024,
    };
    let timeout = opts.command.as_ref().map(|_| opts.timeout);
    let report = dir.join("report.log");
    match qemu::run_interactive(&boot, &report, timeout)? {
        End::Exited(Some(0)) if opts.command.is_some() => {
            // The command's status comes back on ttyS1.
            let text = fs::read_to_string(&report).unwrap_or_default();
            let status = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("TB:EXIT ")?.parse::<i32>().ok());
            match status {
                Some(0) => Ok(true),
                Some(_) => Ok(false),
                None => {
                    eprintln!("the command did not report an exit status");
                    Ok(false)
                }
            }
        }
        End::Exited(Some(0)) => Ok(true),
        End::Exited(code) => {
            eprintln!("qemu exited with {code:?}");
            Ok(false)
        }
        End::TimedOut => {
            eprintln!("timed out after {}", secs(opts.timeout));
            Ok(false)
        }
    }
}
