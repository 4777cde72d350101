//! Differential scenarios: the file format, the per-side results file, and
//! the comparison of a reference run with a candidate run.
//!
//! A scenario is a list of ipvsadm invocations (see docs/testing.md for the
//! format). The VM runs it twice, each time in a fresh network namespace:
//! once with the reference programs and once with the candidates, then reads
//! the final IPVS state of both namespaces with the reference ipvsadm. Every
//! step must produce the same stdout, stderr and exit status on both sides.

use std::fmt;

use crate::diff;

/// Which program a step runs (by its bare name, so argv0 is that name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Program {
    /// `ipvsadm` itself.
    Ipvsadm,
    /// The `ipvsadm-save` wrapper.
    Save,
    /// The `ipvsadm-restore` wrapper.
    Restore,
    /// A `!` setup line, run with `/bin/sh -c` on both sides.
    Shell,
}

impl Program {
    /// The bare program name the step is invoked as (`sh` for setup lines).
    pub fn bin_name(self) -> &'static str {
        match self {
            Program::Ipvsadm => "ipvsadm",
            Program::Save => "ipvsadm-save",
            Program::Restore => "ipvsadm-restore",
            Program::Shell => "sh",
        }
    }
}

/// One line of a scenario, with its stdin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// 1-based line number in the scenario file (0 for the final-state queries).
    pub line: usize,
    /// The line as written, for reports.
    pub source: String,
    /// The program to run.
    pub program: Program,
    /// The arguments (for [`Program::Shell`]: the single command string).
    pub args: Vec<String>,
    /// Bytes fed on stdin; empty stdin when `None`.
    pub stdin: Option<Vec<u8>>,
}

/// A parsed scenario file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// The steps in file order.
    pub steps: Vec<Step>,
}

/// A syntax error in a scenario file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Parses a scenario file (format in docs/testing.md).
pub fn parse(text: &str) -> Result<Scenario, ParseError> {
    let mut steps: Vec<Step> = Vec::new();
    // Whether the previous line was a command or stdin line, so that a `|`
    // line may continue it.
    let mut stdin_allowed = false;
    for (index, raw) in text.split('\n').enumerate() {
        let line_no = index + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(rest) = line.strip_prefix('|') {
            let data = if rest.is_empty() {
                String::new()
            } else if let Some(t) = rest.strip_prefix(' ') {
                t.to_string()
            } else {
                return Err(ParseError {
                    line: line_no,
                    message: "a stdin line is `| text` or a bare `|`".into(),
                });
            };
            let step = match steps.last_mut() {
                Some(step) if stdin_allowed => step,
                _ => {
                    return Err(ParseError {
                        line: line_no,
                        message: "a `|` stdin line must directly follow a command line".into(),
                    })
                }
            };
            let stdin = step.stdin.get_or_insert_with(Vec::new);
            stdin.extend_from_slice(data.as_bytes());
            stdin.push(b'\n');
            continue;
        }
        let trimmed = line.trim_matches([' ', '\t']);
        if trimmed.is_empty() || trimmed.starts_with('#') {
            stdin_allowed = false;
            continue;
        }
        if let Some(cmd) = trimmed.strip_prefix('!') {
            let cmd = cmd.trim_matches([' ', '\t']);
            if cmd.is_empty() {
                return Err(ParseError {
                    line: line_no,
                    message: "empty `!` setup command".into(),
                });
            }
            steps.push(Step {
                line: line_no,
                source: line.to_string(),
                program: Program::Shell,
                args: vec![cmd.to_string()],
                stdin: None,
            });
            stdin_allowed = true;
            continue;
        }
        let mut tokens: Vec<String> = line
            .split([' ', '\t', '\r'])
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect();
        let program = match tokens.first().map(String::as_str) {
            Some("ipvsadm") => Some(Program::Ipvsadm),
            Some("ipvsadm-save") => Some(Program::Save),
            Some("ipvsadm-restore") => Some(Program::Restore),
            _ => None,
        };
        let program = match program {
            Some(p) => {
                tokens.remove(0);
                p
            }
            None => Program::Ipvsadm,
        };
        steps.push(Step {
            line: line_no,
            source: line.to_string(),
            program,
            args: tokens,
            stdin: None,
        });
        stdin_allowed = true;
    }
    Ok(Scenario { steps })
}

/// The queries that read a namespace's final IPVS state, always run with the
/// reference ipvsadm on both sides.
pub fn state_steps() -> Vec<Step> {
    let queries: [&[&str]; 4] = [
        &["-S", "-n"],
        &["-L", "-n", "--thresholds"],
        &["-L", "--timeout"],
        &["-L", "--daemon"],
    ];
    queries
        .iter()
        .map(|q| Step {
            line: 0,
            source: format!("ipvsadm {}", q.join(" ")),
            program: Program::Ipvsadm,
            args: q.iter().map(|s| s.to_string()).collect(),
            stdin: None,
        })
        .collect()
}

/// How a step's process ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Normal exit with this code.
    Exit(i32),
    /// Killed by this signal.
    Signal(i32),
    /// Killed by the runner after its time limit.
    Timeout,
    /// Could not be started.
    SpawnError(String),
}

impl Status {
    fn encode(&self) -> String {
        match self {
            Status::Exit(c) => format!("exit:{c}"),
            Status::Signal(s) => format!("signal:{s}"),
            Status::Timeout => "timeout".into(),
            Status::SpawnError(m) => format!("spawn:{}", m.replace([' ', '\n'], "_")),
        }
    }

    fn decode(s: &str) -> Option<Status> {
        if s == "timeout" {
            return Some(Status::Timeout);
        }
        let (k, v) = s.split_once(':')?;
        match k {
            "exit" => v.parse().ok().map(Status::Exit),
            "signal" => v.parse().ok().map(Status::Signal),
            "spawn" => Some(Status::SpawnError(v.to_string())),
            _ => None,
        }
    }

    /// True for a normal exit with status 0.
    pub fn success(&self) -> bool {
        *self == Status::Exit(0)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Exit(c) => write!(f, "exit status {c}"),
            Status::Signal(s) => write!(f, "killed by signal {s}"),
            Status::Timeout => f.write_str("timed out"),
            Status::SpawnError(m) => write!(f, "could not start: {m}"),
        }
    }
}

/// What one step produced on one side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// How the process ended.
    pub status: Status,
    /// Everything it wrote to stdout.
    pub stdout: Vec<u8>,
    /// Everything it wrote to stderr.
    pub stderr: Vec<u8>,
}

/// Serialises one side's outcomes (scenario steps then state steps) for the
/// parent agent, binary-safe.
pub fn encode_outcomes(outcomes: &[Outcome]) -> Vec<u8> {
    let mut out = Vec::new();
    for o in outcomes {
        out.extend_from_slice(
            format!(
                "STEP {} {} {}\n",
                o.status.encode(),
                o.stdout.len(),
                o.stderr.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(&o.stdout);
        out.extend_from_slice(&o.stderr);
    }
    out
}

/// Reads back [`encode_outcomes`]; `None` if the data is truncated or garbled.
pub fn decode_outcomes(mut data: &[u8]) -> Option<Vec<Outcome>> {
    let mut outcomes = Vec::new();
    while !data.is_empty() {
        let nl = data.iter().position(|&b| b == b'\n')?;
        let header = std::str::from_utf8(data.get(..nl)?).ok()?;
        data = data.get(nl + 1..)?;
        let mut fields = header.split(' ');
        if fields.next()? != "STEP" {
            return None;
        }
        let status = Status::decode(fields.next()?)?;
        let out_len: usize = fields.next()?.parse().ok()?;
        let err_len: usize = fields.next()?.parse().ok()?;
        let stdout = data.get(..out_len)?.to_vec();
        data = data.get(out_len..)?;
        let stderr = data.get(..err_len)?.to_vec();
        data = data.get(err_len..)?;
        outcomes.push(Outcome {
            status,
            stdout,
            stderr,
        });
    }
    Some(outcomes)
}

/// At most this many differing steps are reported per scenario.
const MAX_REPORTED_STEPS: usize = 8;

/// Compares the two sides of a run. Returns the report lines of every
/// difference; an empty result means the scenario passed.
///
/// `reference` and `candidate` hold one outcome per scenario step followed by
/// one per [`state_steps`] query.
pub fn compare(scenario: &Scenario, reference: &[Outcome], candidate: &[Outcome]) -> Vec<String> {
    let state = state_steps();
    let all: Vec<&Step> = scenario.steps.iter().chain(state.iter()).collect();
    let mut report = Vec::new();
    if reference.len() != all.len() || candidate.len() != all.len() {
        report.push(format!(
            "runner returned {} reference and {} candidate results for {} steps",
            reference.len(),
            candidate.len(),
            all.len()
        ));
        return report;
    }
    let mut failed_steps = 0;
    for ((step, r), c) in all.iter().zip(reference).zip(candidate) {
        let mut lines = Vec::new();
        if step.program == Program::Shell {
            for (side, o) in [("reference", r), ("candidate", c)] {
                if !o.status.success() {
                    lines.push(format!(
                        "setup command failed on the {side} side: {}",
                        o.status
                    ));
                    lines.extend(indent(&diff::quote_lines(&o.stdout), "  stdout: "));
                    lines.extend(indent(&diff::quote_lines(&o.stderr), "  stderr: "));
                }
            }
        } else {
            if r.status != c.status {
                lines.push(format!("expected {}, got {}", r.status, c.status));
            }
            if r.stdout != c.stdout {
                lines.push("stdout differs (- expected, + got):".into());
                lines.extend(indent(&diff::render(&r.stdout, &c.stdout), "  "));
            }
            if r.stderr != c.stderr {
                lines.push("stderr differs (- expected, + got):".into());
                lines.extend(indent(&diff::render(&r.stderr, &c.stderr), "  "));
            }
        }
        if lines.is_empty() {
            continue;
        }
        failed_steps += 1;
        if failed_steps > MAX_REPORTED_STEPS {
            continue;
        }
        if step.line == 0 {
            report.push(format!("final state ({}):", step.source));
        } else {
            report.push(format!("line {}: {}", step.line, step.source));
        }
        report.extend(indent(&lines, "  "));
    }
    if failed_steps > MAX_REPORTED_STEPS {
        report.push(format!(
            "... and {} more differing steps",
            failed_steps - MAX_REPORTED_STEPS
        ));
    }
    report
}

/// Renders every step of one side, for `--show` transcripts: the command,
/// its stdin (`in`), stdout (`out`) and stderr (`err`) lines, and its status.
pub fn transcript(scenario: &Scenario, outcomes: &[Outcome]) -> Vec<String> {
    let state = state_steps();
    let mut lines = Vec::new();
    for (step, o) in scenario.steps.iter().chain(state.iter()).zip(outcomes) {
        let suffix = if step.line == 0 {
            "  (final state)"
        } else {
            ""
        };
        lines.push(format!("$ {}{suffix}", step.source));
        for (tag, data) in [
            ("in ", step.stdin.as_deref().unwrap_or_default()),
            ("out", &o.stdout[..]),
            ("err", &o.stderr[..]),
        ] {
            if !data.is_empty() {
                lines.extend(indent(&diff::quote_lines(data), &format!("  {tag} ")));
            }
        }
        lines.push(format!("  {}", o.status));
    }
    lines
}

fn indent(lines: &[String], prefix: &str) -> Vec<String> {
    lines.iter().map(|l| format!("{prefix}{l}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(out: &str) -> Outcome {
        Outcome {
            status: Status::Exit(0),
            stdout: out.as_bytes().to_vec(),
            stderr: vec![],
        }
    }

    #[test]
    fn parses_commands_programs_stdin_setup_and_comments() {
        let text = "# comment\n\n-A -t 10.0.0.1:80\t-s rr\nipvsadm\nipvsadm-restore\n| -A -t 1.1.1.1:80\n|\n| # kept\n! ip link add d0 type dummy\n  # indented comment\nipvsadm-save -n\r\n";
        let s = parse(text).unwrap();
        assert_eq!(s.steps.len(), 5);
        assert_eq!(s.steps[0].program, Program::Ipvsadm);
        assert_eq!(s.steps[0].args, ["-A", "-t", "10.0.0.1:80", "-s", "rr"]);
        assert_eq!(s.steps[0].line, 3);
        assert_eq!(s.steps[1].args, Vec::<String>::new());
        assert_eq!(s.steps[2].program, Program::Restore);
        assert_eq!(
            s.steps[2].stdin.as_deref(),
            Some(&b"-A -t 1.1.1.1:80\n\n# kept\n"[..])
        );
        assert_eq!(s.steps[3].program, Program::Shell);
        assert_eq!(s.steps[3].args, ["ip link add d0 type dummy"]);
        assert_eq!(s.steps[4].program, Program::Save);
        assert_eq!(s.steps[4].args, ["-n"]);
    }

    #[test]
    fn stdin_must_follow_a_command() {
        assert_eq!(parse("| x\n").unwrap_err().line, 1);
        assert_eq!(parse("-R\n\n| x\n").unwrap_err().line, 3);
        assert_eq!(parse("-R\n# c\n| x\n").unwrap_err().line, 3);
        assert!(parse("-R\n|x\n").is_err());
        assert!(parse("!\n").is_err());
    }

    #[test]
    fn outcomes_round_trip_binary_safe() {
        let outs = vec![
            Outcome {
                status: Status::Exit(2),
                stdout: b"a\nb\n".to_vec(),
                stderr: b"\0STEP 1 2 3\n".to_vec(),
            },
            Outcome {
                status: Status::Signal(11),
                stdout: vec![],
                stderr: vec![],
            },
            Outcome {
                status: Status::Timeout,
                stdout: vec![0xff],
                stderr: vec![],
            },
            Outcome {
                status: Status::SpawnError("No such file".into()),
                stdout: vec![],
                stderr: vec![],
            },
        ];
        let mut decoded = decode_outcomes(&encode_outcomes(&outs)).unwrap();
        assert_eq!(
            decoded.pop().unwrap().status,
            Status::SpawnError("No_such_file".into())
        );
        assert_eq!(decoded[..], outs[..3]);
        let enc = encode_outcomes(&outs);
        assert!(decode_outcomes(&enc[..enc.len() - 1]).is_none());
    }

    #[test]
    fn compare_reports_the_line_and_the_difference() {
        let s = parse("-A -t 1.1.1.1:80\n-L -n\n").unwrap();
        let n = s.steps.len() + state_steps().len();
        let reference: Vec<Outcome> = (0..n).map(|_| ok("x \n")).collect();
        assert!(compare(&s, &reference, &reference).is_empty());
        let mut cand = reference.clone();
        cand[1] = Outcome {
            status: Status::Exit(2),
            stdout: b"x\n".to_vec(),
            stderr: b"boom\n".to_vec(),
        };
        let report = compare(&s, &reference, &cand).join("\n");
        assert!(report.contains("line 2: -L -n"), "{report}");
        assert!(report.contains("expected exit status 0, got exit status 2"));
        assert!(report.contains("- \"x \\n\""), "{report}");
        assert!(report.contains("+ \"x\\n\""), "{report}");
        assert!(report.contains("+ \"boom\\n\""), "{report}");
        assert!(!report.contains("line 1"));
    }

    #[test]
    fn transcript_shows_streams_and_status() {
        let s = parse("-R\n| -C\n").unwrap();
        let mut outs: Vec<Outcome> = (0..1 + state_steps().len()).map(|_| ok("")).collect();
        outs[0].stderr = b"oops\n".to_vec();
        let t = transcript(&s, &outs);
        assert_eq!(
            t[..4],
            [
                "$ -R",
                "  in  \"-C\\n\"",
                "  err \"oops\\n\"",
                "  exit status 0"
            ]
        );
        assert_eq!(t[4], "$ ipvsadm -S -n  (final state)");
    }

    #[test]
    fn compare_checks_final_state_and_setup_failures() {
        let s = parse("! false\n").unwrap();
        let n = s.steps.len() + state_steps().len();
        let reference: Vec<Outcome> = (0..n).map(|_| ok("")).collect();
        let mut cand = reference.clone();
        cand[0].status = Status::Exit(1);
        cand[1].stdout = b"-A -t 1.1.1.1:80 -s wlc\n".to_vec();
        let report = compare(&s, &reference, &cand).join("\n");
        assert!(report.contains("setup command failed on the candidate side"));
        assert!(report.contains("final state (ipvsadm -S -n)"), "{report}");
        assert!(!compare(&s, &reference[..1], &cand).is_empty());
    }
}
