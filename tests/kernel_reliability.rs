//! The bad-input corpus (issue #8): every case of `tests/badinput/args.txt`
//! (invocations) and `tests/badinput/restore.txt` (restore input) runs in
//! the test-bed VM against the reference ipvsadm and against ipvsadm-rs, on
//! a table that already holds a few services and destinations. The format
//! of the files is described in `tests/badinput/README.md`; the results in
//! docs/reliability.md.
//!
//! For every case ipvsadm-rs must fail (or, for cases ipvsadm accepts,
//! succeed the same way), say why in one or two lines on stderr without a
//! panic, print nothing on stdout when ipvsadm does not, exit with
//! ipvsadm's status, and leave the kernel state exactly as it found it.
//!
//! The host part (plain `cargo test`) checks that the corpus parses and is
//! large enough; the VM part is the one `#[ignore]`d test.

use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};

use ipvsadm_rs::client::Client;

const ARGS: &str = include_str!("badinput/args.txt");
const RESTORE: &str = include_str!("badinput/restore.txt");

/// The table every case starts from (restore input for the reference).
const BASELINE: &str = "\
-A -t 10.0.0.1:80 -s rr
-a -t 10.0.0.1:80 -r 10.0.1.1:80 -m -w 2
-a -t 10.0.0.1:80 -r 10.0.1.2:80 -g -w 1
-A -u 10.0.0.1:53 -s wlc -p 60
-a -u 10.0.0.1:53 -r 10.0.1.3:53 -m -w 1
-A -f 7 -s sh -b sh-port
-a -f 7 -r 10.0.1.4:0 -g -w 1
-A -t [2001:db8::1]:443 -s wrr
-a -t [2001:db8::1]:443 -r [2001:db8::2]:443 -m -w 1 -x 100 -y 10
";

/// What a case expects of the reference, from its mark.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mark {
    /// No mark: ipvsadm rejects it; we must reject it the same way.
    Reject,
    /// `=ok`: ipvsadm accepts it (a popt quirk or a lenient check); we must
    /// accept it too and leave the same state behind.
    Accept,
    /// `=divN`: row N of docs/compat.md §3: we must reject it clearly, but
    /// the status and the message may differ.
    Divergence(u32),
    /// `=kernel` (restore input only): every line parses and the kernel
    /// refuses one. Run through `-R` only: the restore front end replaces
    /// the table with good input, as the reference's script does.
    Kernel,
}

#[derive(Debug)]
struct Case {
    /// Line number in its file.
    line: usize,
    /// The line as written, for reports.
    text: String,
    mark: Mark,
    /// Arguments (args.txt) or a single element, the stdin text (restore.txt).
    words: Vec<Vec<u8>>,
}

/// Decodes the escapes of one word or text: `\xHH` a byte, `\s` a space,
/// `\t` a tab, `\n` a newline, `\\` a backslash, `\e` nothing (so `\e` alone
/// is an empty argument), `\{N*TEXT}` TEXT (itself decoded) N times.
fn decode(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let c = *b.get(i + 1).ok_or("a lone backslash at the end")?;
        i += 2;
        match c {
            b's' => out.push(b' '),
            b't' => out.push(b'\t'),
            b'n' => out.push(b'\n'),
            b'\\' => out.push(b'\\'),
            b'e' => {}
            b'x' => {
                let hex = s.get(i..i + 2).ok_or("\\x needs two hex digits")?;
                let v = u8::from_str_radix(hex, 16).map_err(|_| format!("bad \\x{hex}"))?;
                out.push(v);
                i += 2;
            }
            b'{' => {
                let rest = &s[i..];
                let close = rest.find('}').ok_or("\\{ without }")?;
                let inner = &rest[..close];
                let (n, text) = inner.split_once('*').ok_or("\\{N*TEXT} needs a *")?;
                let n: usize = n.parse().map_err(|_| format!("bad count {n:?}"))?;
                let piece = decode(text)?;
                for _ in 0..n {
                    out.extend_from_slice(&piece);
                }
                i += close + 1;
            }
            other => return Err(format!("unknown escape \\{}", other as char)),
        }
    }
    Ok(out)
}

/// Splits off a leading `=ok` / `=divN` mark.
fn mark_of(line: &str) -> Result<(Mark, &str), String> {
    let trimmed = line.trim_start();
    let Some(rest) = trimmed.strip_prefix('=') else {
        return Ok((Mark::Reject, trimmed));
    };
    let (word, rest) = rest.split_once([' ', '\t']).unwrap_or((rest, ""));
    let mark = if word == "ok" {
        Mark::Accept
    } else if word == "kernel" {
        Mark::Kernel
    } else if let Some(n) = word.strip_prefix("div") {
        Mark::Divergence(n.parse().map_err(|_| format!("bad mark ={word}"))?)
    } else {
        return Err(format!("unknown mark ={word}"));
    };
    Ok((mark, rest.trim_start()))
}

/// The cases of a corpus file; `argv` says whether the words are arguments
/// (split on blanks) or one stdin text (a newline added).
fn parse_corpus(text: &str, argv: bool) -> Result<Vec<Case>, String> {
    let mut cases = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let at = |e: String| format!("line {}: {e}", n + 1);
        let (mark, rest) = mark_of(line).map_err(at)?;
        let words = if argv {
            let mut w = Vec::new();
            for word in rest.split([' ', '\t']).filter(|w| !w.is_empty()) {
                let d = decode(word).map_err(at)?;
                if d.contains(&0) {
                    return Err(at("an argument cannot hold a NUL byte".into()));
                }
                w.push(d);
            }
            w
        } else {
            let mut d = decode(rest).map_err(at)?;
            d.push(b'\n');
            vec![d]
        };
        cases.push(Case {
            line: n + 1,
            text: line.to_string(),
            mark,
            words,
        });
    }
    Ok(cases)
}

#[test]
fn corpus_parses_and_has_at_least_300_cases() {
    let a = parse_corpus(ARGS, true).unwrap();
    let r = parse_corpus(RESTORE, false).unwrap();
    assert!(a.len() + r.len() >= 300, "{} + {}", a.len(), r.len());
    // Every divergence mark names a row of docs/compat.md §3.
    let compat = include_str!("../docs/compat.md");
    for c in a.iter().chain(&r) {
        if let Mark::Divergence(n) = c.mark {
            assert!(
                compat.contains(&format!("\n| {n} | ")),
                "line {}: no row {n}",
                c.line
            );
        }
    }
}

#[test]
fn escapes_decode() {
    assert_eq!(decode(r"a\sb\tc\\d\x41\xff").unwrap(), b"a b\tc\\dA\xff");
    assert_eq!(decode(r"\e").unwrap(), b"");
    assert_eq!(decode(r"x\{3*ab\s}y").unwrap(), b"xab ab ab y");
    assert_eq!(decode(r"\{2*\xff}").unwrap(), b"\xff\xff");
    assert!(decode(r"\q").is_err());
    assert!(decode(r"\x4").is_err());
    assert!(decode("\\").is_err());
    assert!(decode(r"\{3*ab").is_err());
    let (m, rest) = mark_of("=div5 -b ,").unwrap();
    assert_eq!((m, rest), (Mark::Divergence(5), "-b ,"));
    assert_eq!(mark_of("=ok -L").unwrap().0, Mark::Accept);
    assert!(mark_of("=maybe -L").is_err());
    let c = parse_corpus("# c\n\n-A \\e x\\s\n", true).unwrap();
    assert_eq!(c[0].words, vec![b"-A".to_vec(), vec![], b"x ".to_vec()]);
    let c = parse_corpus("-A -t 1\\n-C\n", false).unwrap();
    assert_eq!(c[0].words, vec![b"-A -t 1\n-C\n".to_vec()]);
    assert!(parse_corpus("-A \\x00\n", true).is_err());
}

// ---------------------------------------------------------------------------
// The VM part.

fn env_path(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_string())
}

/// One finished process.
struct Run {
    /// Exit status, or None when killed by a signal.
    code: Option<i32>,
    signal: Option<i32>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Run {
    fn status(&self) -> String {
        match (self.code, self.signal) {
            (Some(c), _) => format!("exit {c}"),
            (None, Some(s)) => format!("signal {s}"),
            _ => "unknown".into(),
        }
    }
}

/// Runs `program` with argv0 `arg0`, the arguments and `stdin`.
fn exec(program: &str, arg0: Option<&str>, args: &[Vec<u8>], stdin: &[u8]) -> Run {
    let mut cmd = Command::new(program);
    if let Some(a) = arg0 {
        cmd.arg0(a);
    }
    cmd.args(args.iter().map(|a| OsStr::from_bytes(a)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{program}: {e}"));
    let mut pipe = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    // The program may exit without reading: a broken pipe is fine.
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    let _ = writer.join();
    Run {
        code: out.status.code(),
        signal: out.status.signal(),
        stdout: out.stdout,
        stderr: out.stderr,
    }
}

fn words(s: &str) -> Vec<Vec<u8>> {
    s.split_whitespace()
        .map(|w| w.as_bytes().to_vec())
        .collect()
}

/// Everything a case could change, read in this process through the
/// library (starting a process costs a quarter of a second in the VM
/// under load): every field of every service and destination (thresholds
/// too, which ipvsadm's save leaves out), the timeouts and the sync
/// daemons. The reference's `-S -n` is compared byte for byte at each
/// checkpoint instead (`Baseline::check_save`).
fn snapshot(client: &mut Client) -> Vec<u8> {
    let mut all = Vec::new();
    let mut services = client.services().unwrap();
    services.sort_by_key(|s| format!("{:?}", s.key));
    for svc in &services {
        let mut dests = client.dests(svc).unwrap();
        dests.sort_by_key(|d| format!("{:?}{}", d.addr, d.port));
        all.extend_from_slice(format!("{svc:?}\n{dests:?}\n").as_bytes());
    }
    let t = client.timeouts().unwrap();
    let d = client.daemons().unwrap();
    all.extend_from_slice(format!("{t:?}\n{d:?}\n").as_bytes());
    all
}

/// Puts the baseline back: table, timeouts, no daemons.
struct Baseline {
    reference: String,
    client: Client,
    state: Vec<u8>,
    /// The reference's `-S -n` of the baseline.
    save: Vec<u8>,
    /// How many times that was compared.
    saves: usize,
    timeouts: Vec<Vec<u8>>,
    resets: usize,
}

impl Baseline {
    fn new(reference: &str) -> Baseline {
        // The timeouts as the namespace starts, to put them back.
        let t = exec(reference, None, &words("-L --timeout"), b"");
        let text = String::from_utf8_lossy(&t.stdout).to_string();
        let nums: Vec<&str> = text
            .rsplit(':')
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        assert_eq!(nums.len(), 3, "timeouts: {text}");
        let mut timeouts = words("--set");
        timeouts.extend(nums.iter().map(|n| n.as_bytes().to_vec()));
        let r = exec(reference, None, &words("-R"), BASELINE.as_bytes());
        assert_eq!(
            r.code,
            Some(0),
            "baseline: {}",
            String::from_utf8_lossy(&r.stderr)
        );
        let mut client = Client::open().unwrap();
        let state = snapshot(&mut client);
        let save = exec(reference, None, &words("-S -n"), b"").stdout;
        assert_eq!(
            save.iter().filter(|&&c| c == b'\n').count(),
            9,
            "baseline: {}",
            show(&save)
        );
        Baseline {
            reference: reference.to_string(),
            client,
            state,
            save,
            saves: 0,
            timeouts,
            resets: 0,
        }
    }

    fn snapshot(&mut self) -> Vec<u8> {
        snapshot(&mut self.client)
    }

    /// The reference's `-S -n`, byte for byte the baseline's.
    fn check_save(&mut self) {
        let now = exec(&self.reference, None, &words("-S -n"), b"").stdout;
        assert!(
            now == self.save,
            "ipvsadm -S -n differs from the baseline:\n{}",
            String::from_utf8_lossy(&now)
        );
        self.saves += 1;
    }

    fn reset(&mut self) {
        let r = &self.reference;
        let run = |args: Vec<Vec<u8>>, stdin: &[u8]| {
            let o = exec(r, None, &args, stdin);
            assert_eq!(
                o.code,
                Some(0),
                "reset: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        };
        run(words("-C"), b"");
        run(words("-R"), BASELINE.as_bytes());
        run(self.timeouts.clone(), b"");
        for d in self.client.daemons().unwrap() {
            let _ = self.client.stop_daemon(&d);
        }
        self.resets += 1;
        self.check_save();
        let now = self.snapshot();
        assert!(
            now == self.state,
            "reset did not restore the baseline:\n{}",
            String::from_utf8_lossy(&now)
        );
    }

    /// Returns the state, and puts the baseline back if it differs.
    fn settle(&mut self) -> Vec<u8> {
        let now = self.snapshot();
        if now != self.state {
            self.reset();
        }
        now
    }
}

/// What makes a message clear: something on stderr, one or two lines, no
/// trace of a panic.
fn unclear(stderr: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stderr);
    if text.trim().is_empty() {
        return Some("nothing on stderr".into());
    }
    let lines = text.lines().count();
    if lines > 2 {
        return Some(format!("{lines} lines on stderr"));
    }
    for bad in [
        "panicked",
        "RUST_BACKTRACE",
        "backtrace",
        "Rust",
        "thread 'main'",
    ] {
        if text.contains(bad) {
            return Some(format!("stderr mentions {bad:?}"));
        }
    }
    None
}

/// The lines of two states that differ, short.
fn diff(before: &[u8], after: &[u8]) -> String {
    let b = String::from_utf8_lossy(before);
    let a = String::from_utf8_lossy(after);
    let bl: Vec<&str> = b.lines().collect();
    let al: Vec<&str> = a.lines().collect();
    let mut out: Vec<String> = Vec::new();
    out.extend(
        bl.iter()
            .filter(|l| !al.contains(l))
            .map(|l| format!("-{l}")),
    );
    out.extend(
        al.iter()
            .filter(|l| !bl.contains(l))
            .map(|l| format!("+{l}")),
    );
    out.truncate(4);
    out.join(" ")
}

/// Text for a report, with invalid UTF-8 shown lossily.
fn show(b: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(b))
}

#[derive(Default)]
struct Tally {
    tried: usize,
    clear: usize,
    unchanged: usize,
    same_code: usize,
    accepted: usize,
    failures: Vec<String>,
}

impl Tally {
    fn fail(&mut self, file: &str, case: &Case, what: String) {
        self.failures
            .push(format!("{file}:{}: {}\n    {what}", case.line, case.text));
    }
}

/// The commands that write to the kernel: their stdout must stay empty.
fn is_write(args: &[Vec<u8>]) -> bool {
    const W: &[&str] = &[
        "-A",
        "-E",
        "-D",
        "-C",
        "-R",
        "-a",
        "-e",
        "-d",
        "-Z",
        "--set",
        "--start-daemon",
        "--stop-daemon",
        "--add-service",
        "--edit-service",
        "--delete-service",
        "--clear",
        "--restore",
        "--add-server",
        "--edit-server",
        "--delete-server",
        "--zero",
    ];
    args.iter()
        .any(|a| W.iter().any(|w| w.as_bytes() == a.as_slice()))
}

/// Judges one run of ours that must have failed; counts it.
#[allow(clippy::too_many_arguments)]
fn judge_error(
    t: &mut Tally,
    file: &str,
    case: &Case,
    o: &Run,
    ref_stdout: Option<&[u8]>,
    write: bool,
    base: &[u8],
    after: &[u8],
) {
    t.tried += 1;
    let mut ok = true;
    if o.code.is_none() || o.code == Some(0) {
        t.fail(
            file,
            case,
            format!(
                "ipvsadm-rs: {} (want a failure); stderr {}",
                o.status(),
                show(&o.stderr)
            ),
        );
        ok = false;
    }
    if let Some(why) = unclear(&o.stderr) {
        t.fail(
            file,
            case,
            format!("ipvsadm-rs: unclear message ({why}): {}", show(&o.stderr)),
        );
        ok = false;
    }
    let stdout_ok = if write {
        o.stdout.is_empty()
    } else {
        o.stdout.is_empty() || Some(o.stdout.as_slice()) == ref_stdout
    };
    if !stdout_ok {
        t.fail(
            file,
            case,
            format!("ipvsadm-rs printed on stdout: {}", show(&o.stdout)),
        );
        ok = false;
    }
    if ok {
        t.clear += 1;
    }
    if after == base {
        t.unchanged += 1;
    } else {
        t.fail(
            file,
            case,
            format!("ipvsadm-rs changed the state: {}", diff(base, after)),
        );
    }
}

/// The test bed stops a test after 300 s without a word: stop first, and
/// say how far the corpus got.
fn out_of_time(t: &mut Tally, started: std::time::Instant) -> bool {
    let over = started.elapsed().as_secs() > 270;
    if over {
        t.failures
            .push(format!("out of time after {} runs", t.tried));
    }
    over
}

/// Prints the figure (straight to stdout, past the test harness's
/// capture, so it shows with `cargo xtask test --show`) and the failures.
fn report(label: &str, t: &Tally, cases: usize, base: &mut Baseline, started: std::time::Instant) {
    base.check_save();
    let figure = format!(
        "badinput {label}: {} tried, {} clear errors, {} state unchanged, {} matched ipvsadm's exit code \
         ({} accepted as ipvsadm accepts them; {cases} cases; {} baseline restores; \
         {} byte-for-byte saves; {:.0} s)\n",
        t.tried,
        t.clear,
        t.unchanged,
        t.same_code,
        t.accepted,
        base.resets,
        base.saves,
        started.elapsed().as_secs_f64()
    );
    let mut so = std::io::stdout();
    let _ = so.write_all(figure.as_bytes());
    for f in &t.failures {
        let _ = writeln!(so, "FAIL {f}");
    }
    let _ = so.flush();
    assert!(
        t.failures.is_empty(),
        "{} failures (above)",
        t.failures.len()
    );
}

/// The test bed gives each test 300 s: the corpus runs in parts.
const PARTS: usize = 4;

/// Part `part` (1-based) of `PARTS` of `cases`.
fn part_of(cases: Vec<Case>, part: usize) -> Vec<Case> {
    let per = cases.len().div_ceil(PARTS);
    cases.into_iter().skip((part - 1) * per).take(per).collect()
}

#[test]
fn parts_cover_the_corpus() {
    for (text, argv) in [(ARGS, true), (RESTORE, false)] {
        let all = parse_corpus(text, argv).unwrap();
        let lines: Vec<usize> = (1..=PARTS)
            .flat_map(|p| part_of(parse_corpus(text, argv).unwrap(), p))
            .map(|c| c.line)
            .collect();
        assert_eq!(lines, all.iter().map(|c| c.line).collect::<Vec<_>>());
    }
}

#[test]
#[ignore = "needs an IPVS kernel: run by cargo xtask test"]
fn badinput_invocations_1() {
    invocations(1);
}

#[test]
#[ignore = "needs an IPVS kernel: run by cargo xtask test"]
fn badinput_invocations_2() {
    invocations(2);
}

#[test]
#[ignore = "needs an IPVS kernel: run by cargo xtask test"]
fn badinput_invocations_3() {
    invocations(3);
}

#[test]
#[ignore = "needs an IPVS kernel: run by cargo xtask test"]
fn badinput_invocations_4() {
    invocations(4);
}

fn invocations(part: usize) {
    let started = std::time::Instant::now();
    let reference = env_path("REF_IPVSADM", "/usr/sbin/ipvsadm");
    let ours = env_path("IPVSADM_RS", "/usr/local/sbin/ipvsadm-rs");
    let cases = part_of(parse_corpus(ARGS, true).unwrap(), part);
    let mut base = Baseline::new(&reference);
    let mut t = Tally::default();
    let arg0 = Some("ipvsadm");
    for case in &cases {
        if out_of_time(&mut t, started) {
            break;
        }
        let r = exec(&reference, arg0, &case.words, b"");
        // A single ipvsadm command that fails has changed nothing.
        let ref_state = if r.code == Some(0) {
            base.settle()
        } else {
            base.state.clone()
        };
        let o = exec(&ours, arg0, &case.words, b"");
        let after = base.snapshot();
        if after != base.state {
            base.reset();
        }
        match case.mark {
            Mark::Accept => {
                t.tried += 1;
                t.accepted += 1;
                if r.code != Some(0) {
                    t.fail(
                        "args.txt",
                        case,
                        format!(
                            "marked =ok but ipvsadm: {}, {}",
                            r.status(),
                            show(&r.stderr)
                        ),
                    );
                }
                if o.code == r.code {
                    t.same_code += 1;
                } else {
                    t.fail(
                        "args.txt",
                        case,
                        format!(
                            "ipvsadm {}, ipvsadm-rs {}: {}",
                            r.status(),
                            o.status(),
                            show(&o.stderr)
                        ),
                    );
                }
                if o.stdout != r.stdout || o.stderr != r.stderr {
                    t.fail(
                        "args.txt",
                        case,
                        format!(
                            "output differs: ipvsadm {} {}, ipvsadm-rs {} {}",
                            show(&r.stdout),
                            show(&r.stderr),
                            show(&o.stdout),
                            show(&o.stderr)
                        ),
                    );
                }
                if after == ref_state {
                    t.unchanged += 1;
                } else {
                    t.fail(
                        "args.txt",
                        case,
                        format!("state differs from ipvsadm's: {}", diff(&ref_state, &after)),
                    );
                }
            }
            Mark::Reject | Mark::Divergence(_) | Mark::Kernel => {
                if r.code == Some(0) {
                    t.fail(
                        "args.txt",
                        case,
                        format!(
                            "ipvsadm accepts this (mark it =ok?): stdout {}, ipvsadm-rs {} {}",
                            show(&r.stdout),
                            o.status(),
                            show(&o.stderr)
                        ),
                    );
                }
                judge_error(
                    &mut t,
                    "args.txt",
                    case,
                    &o,
                    Some(&r.stdout),
                    is_write(&case.words),
                    &base.state,
                    &after,
                );
                if o.code == r.code {
                    t.same_code += 1;
                } else if matches!(case.mark, Mark::Reject | Mark::Kernel) {
                    t.fail(
                        "args.txt",
                        case,
                        format!("status: ipvsadm {}, ipvsadm-rs {}", r.status(), o.status()),
                    );
                }
                if matches!(case.mark, Mark::Reject | Mark::Kernel) {
                    // Non-UTF-8 arguments are read lossily (docs/compat.md):
                    // compare with the reference's message read the same way.
                    let want = String::from_utf8_lossy(&r.stderr);
                    let got = String::from_utf8_lossy(&o.stderr);
                    if want != got || r.stdout != o.stdout {
                        t.fail(
                            "args.txt",
                            case,
                            format!(
                                "message: ipvsadm {} {}, ipvsadm-rs {} {}",
                                show(&r.stdout),
                                show(&r.stderr),
                                show(&o.stdout),
                                show(&o.stderr)
                            ),
                        );
                    }
                }
            }
        }
    }
    report(
        &format!("(invocations, part {part} of {PARTS})"),
        &t,
        cases.len(),
        &mut base,
        started,
    );
}

/// Restore input through `ipvsadm-rs -R` and `ipvsadm-rs-restore`. Both
/// are compared with the reference's `ipvsadm -R`: the reference's
/// `ipvsadm-restore` script is `ipvsadm -C` followed by `ipvsadm -R` on the
/// same lines (minus `#` lines), so its status is `-R`'s, but its flush
/// makes both its state and its kernel errors meaningless to compare
/// (docs/compat.md row 19).
#[test]
#[ignore = "needs an IPVS kernel: run by cargo xtask test"]
fn badinput_restore_1() {
    restore(1);
}

#[test]
#[ignore = "needs an IPVS kernel: run by cargo xtask test"]
fn badinput_restore_2() {
    restore(2);
}

#[test]
#[ignore = "needs an IPVS kernel: run by cargo xtask test"]
fn badinput_restore_3() {
    restore(3);
}

#[test]
#[ignore = "needs an IPVS kernel: run by cargo xtask test"]
fn badinput_restore_4() {
    restore(4);
}

fn restore(part: usize) {
    let started = std::time::Instant::now();
    let reference = env_path("REF_IPVSADM", "/usr/sbin/ipvsadm");
    let ours = env_path("IPVSADM_RS", "/usr/local/sbin/ipvsadm-rs");
    let ours_restore = env_path("IPVSADM_RS_RESTORE", "/usr/local/sbin/ipvsadm-rs-restore");
    let cases = part_of(parse_corpus(RESTORE, false).unwrap(), part);
    let mut base = Baseline::new(&reference);
    let mut t = Tally::default();
    let arg0 = Some("ipvsadm");
    let restore_args = words("-R");
    for case in &cases {
        if out_of_time(&mut t, started) {
            break;
        }
        let input = &case.words[0];
        let r = exec(&reference, arg0, &restore_args, input);
        // ipvsadm -R applies the lines before a bad one.
        let ref_state = base.settle();
        let o = exec(&ours, arg0, &restore_args, input);
        let after = base.settle();
        // The front end replaces the table when the input parses, so it
        // only gets input that does not (docs/compat.md row 19).
        let front_end = !matches!(case.mark, Mark::Accept | Mark::Kernel);
        let (os, after_s) = if front_end {
            let os = exec(&ours_restore, None, &[], input);
            (os, base.settle())
        } else {
            (exec("/bin/true", None, &[], b""), Vec::new())
        };
        let runs = [
            ("ipvsadm-rs -R", &o, &after),
            ("ipvsadm-rs-restore", &os, &after_s),
        ];
        for (prog, got, state) in runs.into_iter().take(if front_end { 2 } else { 1 }) {
            if case.mark == Mark::Accept {
                t.tried += 1;
                t.accepted += 1;
                if r.code != Some(0) {
                    t.fail(
                        "restore.txt",
                        case,
                        format!(
                            "marked =ok but ipvsadm -R: {}, {}",
                            r.status(),
                            show(&r.stderr)
                        ),
                    );
                }
                if got.code == Some(0) {
                    t.same_code += 1;
                } else {
                    t.fail(
                        "restore.txt",
                        case,
                        format!("{prog}: {} {}", got.status(), show(&got.stderr)),
                    );
                }
                if *state == ref_state {
                    t.unchanged += 1;
                } else {
                    t.fail(
                        "restore.txt",
                        case,
                        format!(
                            "{prog}: state differs from ipvsadm's: {}",
                            diff(&ref_state, state)
                        ),
                    );
                }
                continue;
            }
            let divergent = matches!(case.mark, Mark::Divergence(_));
            if r.code == Some(0) && prog.ends_with("-R") && !divergent {
                t.fail(
                    "restore.txt",
                    case,
                    format!(
                        "ipvsadm -R accepts this (mark it =ok?): {}",
                        show(&r.stderr)
                    ),
                );
            }
            judge_error(
                &mut t,
                "restore.txt",
                case,
                got,
                None,
                true,
                &base.state,
                state,
            );
            if got.code == r.code {
                t.same_code += 1;
            } else if !divergent {
                t.fail(
                    "restore.txt",
                    case,
                    format!(
                        "{prog}: status {}, ipvsadm -R's {} ({})",
                        got.status(),
                        r.status(),
                        show(&r.stderr)
                    ),
                );
            }
            // Our report names the line (docs/compat.md row 18).
            if !String::from_utf8_lossy(&got.stderr).starts_with("line ") {
                t.fail(
                    "restore.txt",
                    case,
                    format!(
                        "{prog}: the message does not start with `line N:`: {}",
                        show(&got.stderr)
                    ),
                );
            }
        }
    }
    report(
        &format!("(restore input, part {part} of {PARTS})"),
        &t,
        cases.len(),
        &mut base,
        started,
    );
}
