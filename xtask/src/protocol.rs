//! The line protocol the in-VM agent uses to report to the host.
//!
//! The agent writes these lines to the VM's second serial port (ttyS1),
//! which qemu stores in a file on the host; the kernel console stays on
//! ttyS0, so kernel log noise never mixes with results. Every line starts
//! with [`PREFIX`]; anything else on the channel is ignored, and free text is
//! escaped so that one message is always exactly one line.

use std::fmt;

/// Marks a protocol line; lines without it are noise and are skipped.
pub const PREFIX: &str = "TB:";

/// What a test result is about, so the host can count the two suites apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A kernel test: `tests/kernel/*.sh` or one case of a Rust kernel test.
    Kernel,
    /// A differential scenario from `tests/scenarios/`.
    Scenario,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Kernel => "kernel",
            Kind::Scenario => "scenario",
        }
    }

    fn parse(s: &str) -> Option<Kind> {
        match s {
            "kernel" => Some(Kind::Kernel),
            "scenario" => Some(Kind::Scenario),
            _ => None,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One report from the agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    /// The agent started (proves the VM booted and the channel works).
    Begin,
    /// `uname -r` as seen inside the VM.
    Kernel(String),
    /// Outcome of loading one kernel module (`ok`, `builtin`, `missing`, `failed`).
    Module {
        name: String,
        status: String,
        detail: String,
    },
    /// A test is starting (lets the host name the culprit of a hang).
    Start { kind: Kind, name: String },
    /// A test passed.
    Pass {
        kind: Kind,
        name: String,
        millis: u64,
    },
    /// A test failed; its [`Msg::Out`] lines follow.
    Fail {
        kind: Kind,
        name: String,
        millis: u64,
    },
    /// One line of detail for the preceding result.
    Out(String),
    /// The agent cannot go on (e.g. `ip_vs` did not load).
    Fatal(String),
    /// Everything ran; a missing `End` means the run broke down.
    End,
}

impl Msg {
    /// Encodes the message as one line, without the trailing newline.
    pub fn encode(&self) -> String {
        match self {
            Msg::Begin => format!("{PREFIX}BEGIN"),
            Msg::Kernel(r) => format!("{PREFIX}KERNEL {}", escape(r)),
            Msg::Module {
                name,
                status,
                detail,
            } => format!(
                "{PREFIX}MOD {} {} {}",
                token(name),
                token(status),
                escape(detail)
            ),
            Msg::Start { kind, name } => format!("{PREFIX}START {kind} {}", escape(name)),
            Msg::Pass { kind, name, millis } => {
                format!("{PREFIX}PASS {kind} {millis} {}", escape(name))
            }
            Msg::Fail { kind, name, millis } => {
                format!("{PREFIX}FAIL {kind} {millis} {}", escape(name))
            }
            Msg::Out(text) => format!("{PREFIX}OUT {}", escape(text)),
            Msg::Fatal(text) => format!("{PREFIX}FATAL {}", escape(text)),
            Msg::End => format!("{PREFIX}END"),
        }
    }

    /// Decodes one line; `None` for noise or a malformed line.
    pub fn decode(line: &str) -> Option<Msg> {
        let line = line.trim_end_matches(['\r', '\n']);
        let start = line.find(PREFIX)?;
        let body = line.get(start + PREFIX.len()..)?;
        let (verb, rest) = match body.split_once(' ') {
            Some((v, r)) => (v, r),
            None => (body, ""),
        };
        match verb {
            "BEGIN" => Some(Msg::Begin),
            "END" => Some(Msg::End),
            "KERNEL" => Some(Msg::Kernel(rest.to_string())),
            "OUT" => Some(Msg::Out(rest.to_string())),
            "FATAL" => Some(Msg::Fatal(rest.to_string())),
            "MOD" => {
                let mut it = rest.splitn(3, ' ');
                let name = it.next()?.to_string();
                let status = it.next()?.to_string();
                let detail = it.next().unwrap_or("").to_string();
                Some(Msg::Module {
                    name,
                    status,
                    detail,
                })
            }
            "START" => {
                let (kind, name) = rest.split_once(' ')?;
                Some(Msg::Start {
                    kind: Kind::parse(kind)?,
                    name: name.to_string(),
                })
            }
            "PASS" | "FAIL" => {
                let mut it = rest.splitn(3, ' ');
                let kind = Kind::parse(it.next()?)?;
                let millis = it.next()?.parse().ok()?;
                let name = it.next()?.to_string();
                Some(if verb == "PASS" {
                    Msg::Pass { kind, name, millis }
                } else {
                    Msg::Fail { kind, name, millis }
                })
            }
            _ => None,
        }
    }
}

/// Makes free text safe for one protocol line: control characters (including
/// newlines) become `\xNN`, everything else is kept.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            let code = u32::from(c);
            if code < 0x100 {
                out.push_str(&format!("\\x{code:02x}"));
            } else {
                out.push_str(&format!("\\u{{{code:x}}}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Like [`escape`], and spaces become `_`, for fields that must be one word.
fn token(text: &str) -> String {
    let t = escape(text).replace(' ', "_");
    if t.is_empty() {
        "-".to_string()
    } else {
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let msgs = [
            Msg::Begin,
            Msg::Kernel("6.1.0-56-amd64".into()),
            Msg::Module {
                name: "ip_vs".into(),
                status: "ok".into(),
                detail: "".into(),
            },
            Msg::Module {
                name: "ip_vs_twos".into(),
                status: "missing".into(),
                detail: "not in this kernel".into(),
            },
            Msg::Start {
                kind: Kind::Scenario,
                name: "add service".into(),
            },
            Msg::Pass {
                kind: Kind::Kernel,
                name: "smoke.sh".into(),
                millis: 12,
            },
            Msg::Fail {
                kind: Kind::Scenario,
                name: "a b".into(),
                millis: 0,
            },
            Msg::Out("  - \"x\\n\"".into()),
            Msg::Fatal("ip_vs did not load".into()),
            Msg::End,
        ];
        for m in msgs {
            assert_eq!(Msg::decode(&m.encode()), Some(m.clone()), "{m:?}");
        }
    }

    #[test]
    fn newlines_never_split_a_message() {
        let m = Msg::Out("a\nb\r".into());
        let line = m.encode();
        assert!(!line.contains('\n') && !line.contains('\r'));
        assert_eq!(Msg::decode(&line), Some(Msg::Out("a\\x0ab\\x0d".into())));
    }

    #[test]
    fn noise_is_ignored_and_prefix_found_after_garbage() {
        assert_eq!(Msg::decode("[    1.234] random kernel line"), None);
        assert_eq!(Msg::decode("TB:BOGUS x"), None);
        assert_eq!(Msg::decode("\u{0}\u{0}TB:END\r\n"), Some(Msg::End));
        assert_eq!(Msg::decode("TB:PASS kernel notanumber x"), None);
    }
}
