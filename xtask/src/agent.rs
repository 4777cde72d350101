//! The in-VM agent: loads the IPVS modules, runs the kernel tests and the
//! differential scenarios, and reports over the line protocol.
//!
//! It is this same xtask binary, copied into the initramfs and started by
//! `/init` (the host's glibc and shared libraries are copied along). Each test
//! runs in a fresh network namespace, because IPVS state is per namespace.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::layout;
use crate::protocol::{Kind, Msg};
use crate::scenario::{self, Outcome, Program, Status};

/// Agent settings, written by the host into [`layout::CONFIG`].
#[derive(Clone, Debug)]
struct Config {
    /// Limit for one scenario command.
    cmd_timeout: Duration,
    /// Limit for one kernel test.
    test_timeout: Duration,
    /// Report outputs of passing tests too.
    show: bool,
    /// Run the two sides of a scenario at the same time.
    parallel: bool,
}

impl Config {
    fn load() -> Config {
        Config::parse(&fs::read_to_string(layout::CONFIG).unwrap_or_default())
    }

    fn parse(text: &str) -> Config {
        let mut c = Config {
            cmd_timeout: Duration::from_secs(30),
            test_timeout: Duration::from_secs(300),
            show: false,
            parallel: true,
        };
        for line in text.lines() {
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let secs = v.trim().parse().ok().map(Duration::from_secs);
            match k.trim() {
                "cmd_timeout" => c.cmd_timeout = secs.unwrap_or(c.cmd_timeout),
                "test_timeout" => c.test_timeout = secs.unwrap_or(c.test_timeout),
                "show" => c.show = v.trim() == "1",
                "parallel" => c.parallel = v.trim() == "1",
                _ => {}
            }
        }
        c
    }
}

/// Writes protocol lines to the report channel, flushing each one so the
/// host sees progress while the VM runs.
struct Reporter {
    out: Box<dyn Write>,
}

impl Reporter {
    fn send(&mut self, msg: Msg) {
        let line = msg.encode();
        if writeln!(self.out, "{line}")
            .and_then(|_| self.out.flush())
            .is_err()
        {
            eprintln!("agent: cannot write report: {line}");
        }
    }

    fn result(
        &mut self,
        kind: Kind,
        name: &str,
        passed: bool,
        started: Instant,
        detail: &[String],
    ) {
        let millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let name = name.to_string();
        self.send(if passed {
            Msg::Pass { kind, name, millis }
        } else {
            Msg::Fail { kind, name, millis }
        });
        for line in detail {
            self.send(Msg::Out(line.clone()));
        }
    }
}

/// `agent --report PATH`: the whole in-VM run.
pub fn run(report: &Path) -> Result<()> {
    let file = fs::OpenOptions::new()
        .write(true)
        .open(report)
        .with_context(|| format!("opening report channel {}", report.display()))?;
    let mut rep = Reporter {
        out: Box::new(file),
    };
    rep.send(Msg::Begin);
    let release = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    rep.send(Msg::Kernel(release.clone()));

    let mut fatal = Vec::new();
    for m in load_modules() {
        if m.required && m.status != "ok" && m.status != "builtin" {
            fatal.push(format!(
                "required module {} {}: {}",
                m.name, m.status, m.detail
            ));
        }
        rep.send(Msg::Module {
            name: m.name,
            status: m.status.to_string(),
            detail: m.detail,
        });
    }
    if !fatal.is_empty() {
        rep.send(Msg::Fatal(fatal.join("; ")));
        rep.send(Msg::End);
        return Ok(());
    }

    let config = Config::load();
    let mut ns_counter = 0usize;
    run_shell_tests(&mut rep, &config, &release, &mut ns_counter);
    run_rust_tests(&mut rep, &config, &release, &mut ns_counter);
    run_scenarios(&mut rep, &config, &mut ns_counter);
    rep.send(Msg::End);
    Ok(())
}

/// Result of loading one module.
struct ModuleResult {
    name: String,
    required: bool,
    status: &'static str,
    detail: String,
}

/// Loads the modules of [`layout::MODULES_LIST`] in order.
fn load_modules() -> Vec<ModuleResult> {
    let list = fs::read_to_string(layout::MODULES_LIST).unwrap_or_default();
    let mut results = Vec::new();
    for line in list.lines() {
        let mut f = line.split_whitespace();
        let (Some(name), Some(need), Some(state)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let required = need == "required";
        let (status, detail) = match state {
            "builtin" => ("builtin", String::new()),
            "missing" => ("missing", "not in this kernel".to_string()),
            _ => {
                let path = format!("{}/{name}.ko", layout::MODULES_DIR);
                let mut cmd = Command::new(layout::INSMOD);
                cmd.arg(&path);
                let o = run_process(cmd, None, Duration::from_secs(60), true);
                let text = String::from_utf8_lossy(&o.stdout).trim().to_string();
                if o.status.success() || text.contains("File exists") {
                    ("ok", String::new())
                } else {
                    ("failed", format!("{}: {text}", o.status))
                }
            }
        };
        results.push(ModuleResult {
            name: name.to_string(),
            required,
            status,
            detail,
        });
    }
    results
}

/// `load-modules`: for the interactive VM; prints what happened.
pub fn load_modules_verbose() -> Result<()> {
    let mut bad = 0;
    for m in load_modules() {
        if m.status != "ok" {
            println!("module {}: {} ({})", m.name, m.status, m.detail);
        }
        if m.required && m.status != "ok" && m.status != "builtin" {
            bad += 1;
        }
    }
    if bad > 0 {
        bail!("{bad} required modules did not load");
    }
    Ok(())
}

/// Sorted entries of `dir` whose names end with `suffix`.
fn list_dir(dir: &str, suffix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.ends_with(suffix))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The environment every kernel test gets.
fn test_env(cmd: &mut Command, release: &str, tmp: &Path) {
    cmd.env_clear()
        .env("PATH", layout::PATH)
        .env("HOME", "/root")
        .env("TMPDIR", tmp)
        .env("IPVSADM_RS", layout::IPVSADM_RS)
        .env("IPVSADM_RS_SAVE", layout::IPVSADM_RS_SAVE)
        .env("IPVSADM_RS_RESTORE", layout::IPVSADM_RS_RESTORE)
        .env("REF_IPVSADM", layout::REF_IPVSADM)
        .env("REF_SAVE", layout::REF_SAVE)
        .env("REF_RESTORE", layout::REF_RESTORE)
        .env("KERNEL_RELEASE", release)
        .current_dir(tmp);
}

/// Creates network namespace `name` with its loopback up.
fn netns_add(name: &str) -> Result<()> {
    for args in [
        vec!["netns", "add", name],
        vec!["-n", name, "link", "set", "lo", "up"],
    ] {
        let mut cmd = Command::new(layout::IP);
        cmd.args(&args);
        let o = run_process(cmd, None, Duration::from_secs(30), true);
        if !o.status.success() {
            bail!(
                "ip {}: {}: {}",
                args.join(" "),
                o.status,
                String::from_utf8_lossy(&o.stdout).trim()
            );
        }
    }
    Ok(())
}

fn netns_del(name: &str) {
    let mut cmd = Command::new(layout::IP);
    cmd.args(["netns", "del", name]);
    let o = run_process(cmd, None, Duration::from_secs(30), true);
    if !o.status.success() {
        eprintln!("agent: ip netns del {name}: {}", o.status);
    }
}

/// `ip netns exec NS PROGRAM ARGS...` (iproute2 execs PROGRAM through PATH,
/// so a bare name keeps argv0 bare).
fn in_netns(ns: &str, program: &str) -> Command {
    let mut cmd = Command::new(layout::IP);
    cmd.args(["netns", "exec", ns, program]);
    cmd
}

/// Output lines for a report, capped so one noisy test cannot flood it.
fn output_lines(data: &[u8]) -> Vec<String> {
    const MAX: usize = 300;
    let text = String::from_utf8_lossy(data);
    let lines: Vec<&str> = text.lines().collect();
    let skip = lines.len().saturating_sub(MAX);
    let mut out = Vec::new();
    if skip > 0 {
        out.push(format!("  ... {skip} earlier lines omitted"));
    }
    out.extend(lines.iter().skip(skip).map(|l| format!("  | {l}")));
    out
}

/// Runs one kernel test process in a fresh namespace; returns (passed, detail).
fn run_kernel_case(
    config: &Config,
    release: &str,
    ns: &str,
    build: impl FnOnce(&str) -> Command,
    passed_if: impl FnOnce(&Outcome) -> bool,
) -> (bool, Vec<String>) {
    if let Err(e) = netns_add(ns) {
        return (false, vec![format!("  cannot set up namespace: {e:#}")]);
    }
    let tmp = PathBuf::from(format!("/tmp/{ns}"));
    let _ = fs::create_dir_all(&tmp);
    let mut cmd = build(ns);
    test_env(&mut cmd, release, &tmp);
    let o = run_process(cmd, None, config.test_timeout, true);
    netns_del(ns);
    let passed = passed_if(&o);
    let mut detail = Vec::new();
    if !passed || config.show {
        detail.push(format!("  {}", o.status));
        detail.extend(output_lines(&o.stdout));
    }
    (passed, detail)
}

fn run_shell_tests(rep: &mut Reporter, config: &Config, release: &str, counter: &mut usize) {
    for path in list_dir(layout::KERNEL_TESTS, ".sh") {
        let name = file_name(&path);
        rep.send(Msg::Start {
            kind: Kind::Kernel,
            name: name.clone(),
        });
        let started = Instant::now();
        *counter += 1;
        let ns = format!("k{counter}");
        let (passed, detail) = run_kernel_case(
            config,
            release,
            &ns,
            |ns| {
                let mut c = in_netns(ns, "/bin/sh");
                c.arg(&path);
                c
            },
            |o| o.status.success(),
        );
        rep.result(Kind::Kernel, &name, passed, started, &detail);
    }
}

fn run_rust_tests(rep: &mut Reporter, config: &Config, release: &str, counter: &mut usize) {
    for list in list_dir(layout::RUST_TESTS, ".list") {
        let binary = list.with_extension("");
        let target = file_name(&binary);
        let names = fs::read_to_string(&list).unwrap_or_default();
        for test in names.lines().filter(|l| !l.is_empty()) {
            let name = format!("{target}::{test}");
            rep.send(Msg::Start {
                kind: Kind::Kernel,
                name: name.clone(),
            });
            let started = Instant::now();
            *counter += 1;
            let ns = format!("k{counter}");
            let bin = binary.to_string_lossy().into_owned();
            let (passed, detail) = run_kernel_case(
                config,
                release,
                &ns,
                |ns| {
                    let mut c = in_netns(ns, &bin);
                    c.args(["--exact", test, "--ignored", "--test-threads=1"]);
                    c
                },
                // `--exact` with a stale name runs nothing and exits 0.
                |o| {
                    o.status.success()
                        && String::from_utf8_lossy(&o.stdout).contains("test result: ok. 1 passed")
                },
            );
            rep.result(Kind::Kernel, &name, passed, started, &detail);
        }
    }
}

fn run_scenarios(rep: &mut Reporter, config: &Config, counter: &mut usize) {
    for path in list_dir(layout::SCENARIOS, ".txt") {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        rep.send(Msg::Start {
            kind: Kind::Scenario,
            name: name.clone(),
        });
        let started = Instant::now();
        *counter += 1;
        let (passed, detail) = match run_scenario(config, &path, *counter) {
            Ok(d) => d,
            Err(e) => (false, vec![format!("  {e:#}")]),
        };
        rep.result(Kind::Scenario, &name, passed, started, &detail);
    }
}

/// Runs both sides of one scenario and compares them.
fn run_scenario(config: &Config, path: &Path, n: usize) -> Result<(bool, Vec<String>)> {
    let text = fs::read_to_string(path)?;
    let scen = scenario::parse(&text)?;
    let steps = scen.steps.len() + scenario::state_steps().len();
    let limit = config.cmd_timeout * u32::try_from(steps + 2).unwrap_or(u32::MAX);
    let side = |tag: &str, dir: &str| -> Result<Vec<Outcome>> {
        let ns = format!("s{n}{tag}");
        netns_add(&ns)?;
        let out = PathBuf::from(format!("/tmp/scenario-{n}.{tag}"));
        let mut cmd = in_netns(&ns, layout::AGENT);
        cmd.arg("side")
            .arg(path)
            .arg(dir)
            .arg(&out)
            .arg(config.cmd_timeout.as_secs().to_string())
            .env_clear()
            .env("PATH", layout::PATH);
        let o = run_process(cmd, None, limit, true);
        netns_del(&ns);
        if !o.status.success() {
            bail!(
                "{tag} side runner: {}: {}",
                o.status,
                String::from_utf8_lossy(&o.stdout).trim()
            );
        }
        let data = fs::read(&out).with_context(|| format!("reading {}", out.display()))?;
        let _ = fs::remove_file(&out);
        scenario::decode_outcomes(&data).context("garbled side results")
    };
    let (r, c) = if config.parallel {
        thread::scope(|s| {
            let r = s.spawn(|| side("r", layout::SIDE_REF));
            let c = side("c", layout::SIDE_CAND);
            let r = r
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("reference side panicked")));
            (r, c)
        })
    } else {
        (side("r", layout::SIDE_REF), side("c", layout::SIDE_CAND))
    };
    let (r, c) = (r?, c?);
    let report = scenario::compare(&scen, &r, &c);
    let passed = report.is_empty();
    let mut detail: Vec<String> = report.iter().map(|l| format!("  {l}")).collect();
    if config.show {
        detail.push("  reference transcript:".into());
        detail.extend(
            scenario::transcript(&scen, &r)
                .iter()
                .map(|l| format!("    {l}")),
        );
    }
    Ok((passed, detail))
}

/// `side SCENARIO SIDE_DIR OUT [CMD_TIMEOUT]`: runs every step of a scenario
/// with the programs of SIDE_DIR (already inside the side's namespace), then
/// the state queries with the reference, and writes the outcomes to OUT.
pub fn run_side(
    scenario_path: &Path,
    side_dir: &Path,
    out: &Path,
    timeout: Duration,
) -> Result<()> {
    let text = fs::read_to_string(scenario_path)?;
    let scen = scenario::parse(&text)?;
    let side_path = format!("{}:{}", side_dir.display(), layout::PATH);
    let ref_path = format!("{}:{}", layout::SIDE_REF, layout::PATH);
    let state = scenario::state_steps();
    let mut outcomes = Vec::new();
    for (step, path) in scen
        .steps
        .iter()
        .map(|s| (s, side_path.as_str()))
        .chain(state.iter().map(|s| (s, ref_path.as_str())))
    {
        let mut cmd = match step.program {
            Program::Shell => {
                let mut c = Command::new("/bin/sh");
                c.arg("-c").args(&step.args);
                c
            }
            p => {
                let mut c = Command::new(p.bin_name());
                c.args(&step.args);
                c
            }
        };
        cmd.env_clear()
            .env("PATH", path)
            .env("HOME", "/root")
            .current_dir("/tmp");
        outcomes.push(run_process(cmd, step.stdin.as_deref(), timeout, false));
    }
    fs::write(out, scenario::encode_outcomes(&outcomes))
        .with_context(|| format!("writing {}", out.display()))
}

/// Runs `cmd` to completion with a time limit, feeding `stdin` (empty when
/// `None`). With `merged`, stderr is interleaved into `stdout` through one
/// pipe (as a terminal would show it) and `stderr` is empty.
pub fn run_process(
    mut cmd: Command,
    stdin: Option<&[u8]>,
    timeout: Duration,
    merged: bool,
) -> Outcome {
    let spawn_error = |e: std::io::Error| Outcome {
        status: Status::SpawnError(e.to_string()),
        stdout: Vec::new(),
        stderr: Vec::new(),
    };
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let mut merged_reader = None;
    if merged {
        let (r, w) = match std::io::pipe() {
            Ok(p) => p,
            Err(e) => return spawn_error(e),
        };
        let w2 = match w.try_clone() {
            Ok(w2) => w2,
            Err(e) => return spawn_error(e),
        };
        cmd.stdout(w).stderr(w2);
        merged_reader = Some(r);
    } else {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    }
    let spawned = cmd.spawn();
    // The Command still holds the pipe's write ends: drop it so readers see EOF.
    drop(cmd);
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => return spawn_error(e),
    };

    if let (Some(data), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let data = data.to_vec();
        thread::spawn(move || {
            // A child that exits without reading gives EPIPE: not an error here.
            let _ = pipe.write_all(&data);
        });
    }

    let (tx, rx) = mpsc::channel::<()>();
    let collect = |source: Option<Box<dyn Read + Send>>| -> Arc<Mutex<Vec<u8>>> {
        let buf = Arc::new(Mutex::new(Vec::new()));
        if let Some(mut src) = source {
            let b = Arc::clone(&buf);
            let tx = tx.clone();
            thread::spawn(move || {
                let mut chunk = [0u8; 8192];
                loop {
                    match src.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if let (Ok(mut v), Some(data)) = (b.lock(), chunk.get(..n)) {
                                v.extend_from_slice(data);
                            }
                        }
                    }
                }
                let _ = tx.send(());
            });
        }
        buf
    };
    let mut readers = 0;
    let (out_buf, err_buf) = if let Some(r) = merged_reader {
        readers += 1;
        (collect(Some(Box::new(r))), collect(None))
    } else {
        let out = child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>);
        let err = child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>);
        readers += usize::from(out.is_some()) + usize::from(err.is_some());
        (collect(out), collect(err))
    };
    drop(tx);

    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => {
                break match (st.code(), st.signal()) {
                    (Some(c), _) => Status::Exit(c),
                    (None, Some(s)) => Status::Signal(s),
                    (None, None) => Status::Exit(-1),
                }
            }
            Ok(None) if started.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                break Status::Timeout;
            }
            Ok(None) => {
                thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err(e) => break Status::SpawnError(format!("wait: {e}")),
        }
    };
    // A background grandchild may keep the pipes open: do not wait forever.
    let deadline = Instant::now() + Duration::from_secs(2);
    for _ in 0..readers {
        let left = deadline.saturating_duration_since(Instant::now());
        if rx.recv_timeout(left).is_err() {
            break;
        }
    }
    let take = |b: &Arc<Mutex<Vec<u8>>>| b.lock().map(|v| v.clone()).unwrap_or_default();
    Outcome {
        status,
        stdout: take(&out_buf),
        stderr: take(&err_buf),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_process_captures_streams_status_and_stdin() {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", "cat; echo err >&2; exit 3"]);
        let o = run_process(cmd, Some(b"in\n"), Duration::from_secs(10), false);
        assert_eq!(o.status, Status::Exit(3));
        assert_eq!(o.stdout, b"in\n");
        assert_eq!(o.stderr, b"err\n");
    }

    #[test]
    fn run_process_merges_and_times_out() {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", "echo a; echo b >&2"]);
        let o = run_process(cmd, None, Duration::from_secs(10), true);
        assert_eq!(o.stdout, b"a\nb\n");
        assert!(o.stderr.is_empty());

        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", "exec sleep 5"]);
        let t = Instant::now();
        let o = run_process(cmd, None, Duration::from_millis(200), false);
        assert_eq!(o.status, Status::Timeout);
        assert!(t.elapsed() < Duration::from_secs(4));

        let o = run_process(
            Command::new("/nonexistent/x"),
            None,
            Duration::from_secs(1),
            false,
        );
        assert!(matches!(o.status, Status::SpawnError(_)));
    }

    #[test]
    fn argv0_is_the_bare_name_found_through_path() {
        let dir = std::env::temp_dir().join(format!("xtask-argv0-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink("/bin/sh", dir.join("ipvsadm")).unwrap();
        let mut cmd = Command::new("ipvsadm");
        cmd.args(["-c", "echo $0"]).env_clear().env("PATH", &dir);
        let o = run_process(cmd, None, Duration::from_secs(10), false);
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(o.stdout, b"ipvsadm\n");
    }

    #[test]
    fn config_parsing() {
        let c = Config::parse("cmd_timeout=5\nshow = 1\nparallel=0\nnoise\ntest_timeout=x\n");
        assert_eq!(c.cmd_timeout, Duration::from_secs(5));
        assert_eq!(c.test_timeout, Duration::from_secs(300));
        assert!(c.show);
        assert!(!c.parallel);
    }
}
