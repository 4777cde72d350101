//! `cargo xtask codegen [--check]`: the man pages and the shell
//! completions, generated from the option table (`ipvsadm::flags::FLAGS`, with
//! its legality matrix) and the subcommands' clap models
//! (`commands::clap_commands()`, read through `commands::model`).
//!
//! Hand-written text lives in templates under `xtask/assets/man/` and
//! `xtask/assets/completions/`; the generated parts replace `@NAME@`
//! markers in them. The outputs are committed (so packaging needs no
//! build step); `--check` regenerates them in memory and fails, naming the
//! command to run, when a committed file differs.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Arg, Command};
use ipvsadm_rs::commands::{clap_commands, model};
use ipvsadm_rs::ipvsadm::flags::{rules_for, Action, ArgKind, Flag, Rule, Section, FLAGS};

/// The schedulers the kernel ships (offered after `-s`).
pub const SCHEDULERS: &[&str] = &[
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos",
];

/// Fixed value sets of options, by long name (offered by the completions).
const FIXED_VALUES: &[(&str, &[&str])] = &[
    ("scheduler", SCHEDULERS),
    ("pe", &["sip"]),
    ("tun-type", &["ipip", "gue", "gre"]),
    (
        "sched-flags",
        &[
            "flag-1",
            "flag-2",
            "flag-3",
            "sh-fallback",
            "sh-port",
            "mh-fallback",
            "mh-port",
        ],
    ),
    ("start-daemon", &["master", "backup"]),
    ("stop-daemon", &["master", "backup"]),
];

/// Values found at completion time, by long name; the kinds are
/// implemented in `assets/completions/engine.sh`.
const DYNAMIC_VALUES: &[(&str, &str)] = &[
    ("tcp-service", "service:-t"),
    ("udp-service", "service:-u"),
    ("sctp-service", "service:--sctp-service"),
    ("fwmark-service", "service:-f"),
    ("netns", "netns"),
    ("mcast-interface", "interface"),
];

/// Options in no slot of the legality matrix that belong with the
/// commands that accept another slot: `-6` goes with a service, `--sort`
/// with listings. Other slot-less options are offered with every command.
const COMPANION_SLOT: &[(&str, &str)] = &[("ipv6", "service-address"), ("sort", "nosort")];

/// One generated file: where it goes, and its text.
pub struct Output {
    /// Path relative to the workspace root.
    pub path: &'static str,
    /// The file's text.
    pub text: String,
}

/// The command that regenerates everything (named by `--check`).
pub const REGENERATE: &str = "cargo xtask codegen";

/// Runs the command: writes the outputs, or with `check` compares them.
pub fn run(root: &Path, check: bool) -> Result<bool> {
    let outputs = generate(root)?;
    if check {
        let stale = stale(root, &outputs);
        if stale.is_empty() {
            println!("codegen: {} generated files are up to date", outputs.len());
            return Ok(true);
        }
        eprintln!(
            "codegen: stale generated files (the flag table, a subcommand's clap model or a template changed):"
        );
        for p in &stale {
            eprintln!("  {p}");
        }
        eprintln!("run `{REGENERATE}` and commit the result");
        return Ok(false);
    }
    for o in &outputs {
        let path = root.join(o.path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        if old != o.text {
            std::fs::write(&path, &o.text).with_context(|| format!("write {}", path.display()))?;
            println!("wrote {}", o.path);
        }
    }
    Ok(true)
}

/// The outputs whose committed file is missing or different.
pub fn stale(root: &Path, outputs: &[Output]) -> Vec<&'static str> {
    outputs
        .iter()
        .filter(|o| std::fs::read_to_string(root.join(o.path)).ok().as_deref() != Some(&o.text))
        .map(|o| o.path)
        .collect()
}

fn asset(root: &Path, rel: &str) -> Result<String> {
    let p: PathBuf = root.join("xtask/assets").join(rel);
    std::fs::read_to_string(&p).with_context(|| format!("read {}", p.display()))
}

/// Replaces every `@KEY@` of `template`; fails on a marker left over.
fn fill(template: &str, what: &str, pairs: &[(&str, String)]) -> Result<String> {
    let mut s = template.to_string();
    for (k, v) in pairs {
        let marker = format!("@{k}@");
        if !s.contains(&marker) {
            bail!("{what}: the template has no {marker}");
        }
        s = s.replace(&marker, v);
    }
    if let Some(i) = s.find('@') {
        let rest = s.get(i + 1..).unwrap_or("");
        if let Some(end) = rest.find('@') {
            let key = rest.get(..end).unwrap_or("");
            if !key.is_empty() && key.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
                bail!("{what}: unknown marker @{key}@");
            }
        }
    }
    Ok(s)
}

/// Every generated file.
pub fn generate(root: &Path) -> Result<Vec<Output>> {
    let version = ipvsadm_rs_version(root)?;
    let details = Details::parse(&asset(root, "man/details.roff")?)?;
    let subcommands = subcommands();
    let main = fill(
        &asset(root, "man/ipvsadm-rs.8.in")?,
        "ipvsadm-rs.8",
        &[
            ("VERSION", version.clone()),
            ("COMMANDS", man_section(Section::Commands, &details)),
            ("SERVICE", man_section(Section::VirtualService, &details)),
            ("OPTIONS", man_section(Section::Options, &details)),
            (
                "DAEMON_OPTIONS",
                man_section(Section::DaemonOptions, &details),
            ),
            ("SUBCOMMANDS", man_subcommands(&subcommands, &details)),
            ("SUBCOMMAND_SYNOPSIS", man_subcommand_synopsis(&subcommands)),
        ],
    )?;
    // A flag in a section the template does not place would go missing.
    for f in FLAGS {
        if !main.contains(&format!("\\fB\\-\\-{}\\fR", roff(f.long))) {
            bail!("--{} is in no section of man/ipvsadm-rs.8: add its section to the template and to generate()", f.long);
        }
    }
    let save = fill(
        &asset(root, "man/ipvsadm-rs-save.8.in")?,
        "ipvsadm-rs-save.8",
        &[("VERSION", version.clone())],
    )?;
    let restore = fill(
        &asset(root, "man/ipvsadm-rs-restore.8.in")?,
        "ipvsadm-rs-restore.8",
        &[("VERSION", version)],
    )?;
    details.check_used()?;
    let engine = engine(&asset(root, "completions/engine.sh")?, &subcommands)?;
    let bash = fill(
        &asset(root, "completions/bash.in")?,
        "bash completion",
        &[("ENGINE", engine.clone())],
    )?;
    let zsh = fill(
        &asset(root, "completions/zsh.in")?,
        "zsh completion",
        &[("ENGINE", engine.clone())],
    )?;
    let fish = fill(
        &asset(root, "completions/fish.in")?,
        "fish completion",
        &[("ENGINE", fish_quote(&engine))],
    )?;
    Ok(vec![
        Output {
            path: "man/ipvsadm-rs.8",
            text: main,
        },
        Output {
            path: "man/ipvsadm-rs-save.8",
            text: save,
        },
        Output {
            path: "man/ipvsadm-rs-restore.8",
            text: restore,
        },
        Output {
            path: "completions/ipvsadm-rs.bash",
            text: bash,
        },
        Output {
            path: "completions/_ipvsadm-rs",
            text: zsh,
        },
        Output {
            path: "completions/ipvsadm-rs.fish",
            text: fish,
        },
    ])
}

/// The package version, from the root Cargo.toml.
fn ipvsadm_rs_version(root: &Path) -> Result<String> {
    let toml = std::fs::read_to_string(root.join("Cargo.toml"))?;
    let mut in_package = false;
    for line in toml.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            in_package = t == "[package]";
        } else if in_package {
            if let Some(v) = t.strip_prefix("version") {
                let v = v.trim().trim_start_matches('=').trim().trim_matches('"');
                return Ok(v.to_string());
            }
        }
    }
    bail!("no version in Cargo.toml's [package]")
}

// ---------------------------------------------------------------- man

/// Extra roff paragraphs for options and subcommands, by name.
struct Details {
    entries: Vec<(String, String)>,
    used: std::cell::RefCell<Vec<String>>,
}

impl Details {
    /// `@name` lines start an entry; the roff lines up to the next entry
    /// belong to it. Lines before the first entry are comments.
    fn parse(text: &str) -> Result<Details> {
        let mut entries: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            if let Some(name) = line.strip_prefix('@') {
                if entries.iter().any(|(n, _)| n == name) {
                    bail!("details.roff: @{name} twice");
                }
                entries.push((name.trim().to_string(), String::new()));
            } else if let Some((_, body)) = entries.last_mut() {
                if !line.trim().is_empty() {
                    body.push_str(line);
                    body.push('\n');
                }
            }
        }
        Ok(Details {
            entries,
            used: std::cell::RefCell::new(Vec::new()),
        })
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.used.borrow_mut().push(name.to_string());
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b.as_str())
    }

    /// Fails on an entry that names no option or subcommand (a renamed
    /// or removed one).
    fn check_used(&self) -> Result<()> {
        let used = self.used.borrow();
        for (n, _) in &self.entries {
            if !used.contains(n) {
                bail!("xtask/assets/man/details.roff: @{n} names no option or subcommand");
            }
        }
        Ok(())
    }
}

/// Text for roff: hyphens as `\-`, backslashes escaped, and a leading
/// control character made harmless.
pub fn roff(s: &str) -> String {
    let s = s.replace('\\', "\\e").replace('-', "\\-");
    if s.starts_with('.') || s.starts_with('\'') {
        format!("\\&{s}")
    } else {
        s
    }
}

/// Running text for roff: escaped, each sentence on a line of its own
/// and lines wrapped before 80 bytes (so `mandoc -Tlint` has nothing to
/// say about its style either).
pub fn roff_text(s: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    let words: Vec<&str> = s.split_whitespace().collect();
    for (i, w) in words.iter().enumerate() {
        let w = roff(w);
        if !line.is_empty() && line.len() + 1 + w.len() > 78 {
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if line.is_empty() {
            if w.starts_with('.') || w.starts_with('\'') {
                line.push_str("\\&");
            }
        } else {
            line.push(' ');
        }
        line.push_str(&w);
        let next_upper = words
            .get(i + 1)
            .and_then(|n| n.chars().next())
            .is_some_and(|c| c.is_ascii_uppercase());
        if (w.ends_with('.') || w.ends_with(':')) && next_upper {
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
    }
    out.push_str(&line);
    out
}

/// The tag line of an option: `\fB\-s\fR, \fB\-\-scheduler\fR \fIname\fR`.
fn man_tag(f: &Flag) -> String {
    let mut forms: Vec<String> = f
        .shorts
        .iter()
        .map(|c| format!("\\fB\\-{}\\fR", roff(&c.to_string())))
        .collect();
    forms.push(format!("\\fB\\-\\-{}\\fR", roff(f.long)));
    let mut tag = forms.join(", ");
    if !f.value_name.is_empty() {
        if f.arg == ArgKind::Optional {
            let v = f
                .value_name
                .strip_prefix('[')
                .and_then(|v| v.strip_suffix(']'))
                .unwrap_or(f.value_name);
            let _ = write!(tag, " [\\fI{}\\fR]", roff(v));
        } else {
            let _ = write!(tag, " \\fI{}\\fR", roff(f.value_name));
        }
    }
    tag
}

fn man_section(which: Section, details: &Details) -> String {
    let mut out = String::new();
    for f in FLAGS.iter().filter(|f| f.section == which) {
        out.push_str(".TP\n");
        out.push_str(&man_tag(f));
        out.push('\n');
        out.push_str(&roff_text(f.help));
        out.push('\n');
        if let Some(more) = details.get(f.long).filter(|m| !m.is_empty()) {
            out.push_str(".IP\n");
            out.push_str(more);
        }
    }
    out.trim_end_matches('\n').to_string()
}

/// The subcommands' clap models, built (so that usage lines, actions and
/// argument settings are final) and named as typed: `ipvsadm-rs NAME`.
fn subcommands() -> Vec<Command> {
    clap_commands()
        .into_iter()
        .map(|c| {
            let name = c.get_name().to_string();
            let mut c = c.bin_name(format!("ipvsadm-rs {name}"));
            c.build();
            c
        })
        .collect()
}

/// A command's usage lines, each after the program name.
fn usage_lines(cmd: &Command) -> Vec<String> {
    let text = cmd.clone().render_usage().to_string();
    text.lines()
        .map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("Usage:").unwrap_or(l).trim();
            l.strip_prefix("ipvsadm-rs ").unwrap_or(l).to_string()
        })
        .filter(|l| !l.is_empty())
        .collect()
}

/// A subcommand's synopsis: its usage lines, or with actions, each
/// action's.
fn synopsis(cmd: &Command) -> Vec<String> {
    let actions = model::actions(cmd);
    if actions.is_empty() {
        usage_lines(cmd)
    } else {
        actions.iter().flat_map(|a| usage_lines(a)).collect()
    }
}

fn man_subcommand_synopsis(cmds: &[Command]) -> String {
    let mut out = String::new();
    for s in cmds {
        for line in synopsis(s) {
            let _ = writeln!(out, ".br\n\\fBipvsadm\\-rs\\fR {}", roff(&line));
        }
    }
    out.trim_end_matches('\n').to_string()
}

/// A subcommand's options, each with the actions it goes with (empty:
/// all of them), in the order they are first declared.
fn sub_options(cmd: &Command) -> Vec<(&Arg, Vec<&str>)> {
    let actions = model::actions(cmd);
    let mut out: Vec<(&Arg, Vec<&str>)> = model::options(cmd)
        .into_iter()
        .map(|a| (a, Vec::new()))
        .collect();
    let mut with: Vec<(&Arg, Vec<&str>)> = Vec::new();
    for act in &actions {
        for a in model::options(act) {
            match with.iter_mut().find(|(b, _)| b.get_id() == a.get_id()) {
                Some((_, names)) => names.push(act.get_name()),
                None => with.push((a, vec![act.get_name()])),
            }
        }
    }
    for (a, names) in with {
        let names = if names.len() == actions.len() {
            Vec::new()
        } else {
            names
        };
        out.push((a, names));
    }
    out
}

/// The tag line of a subcommand's option or operand.
fn sub_tag(a: &Arg) -> String {
    if a.is_positional() {
        return format!("\\fI{}\\fR", roff(&model::value_name(a)));
    }
    let mut forms: Vec<String> = a
        .get_short_and_visible_aliases()
        .unwrap_or_default()
        .iter()
        .map(|c| format!("\\fB\\-{}\\fR", roff(&c.to_string())))
        .collect();
    if let Some(l) = a.get_long() {
        forms.push(format!("\\fB\\-\\-{}\\fR", roff(l)));
    }
    let mut tag = forms.join(", ");
    if model::takes_value(a) {
        let _ = write!(tag, " \\fI{}\\fR", roff(&model::value_name(a)));
    }
    tag
}

fn man_subcommands(cmds: &[Command], details: &Details) -> String {
    let mut out = String::new();
    for s in cmds {
        let name = s.get_name();
        let _ = writeln!(out, ".SS {}", roff(name));
        for line in synopsis(s) {
            let _ = writeln!(out, ".B ipvsadm\\-rs\n{}\n.br", roff(&line));
        }
        let description = s
            .get_long_about()
            .or(s.get_about())
            .map(|t| t.to_string())
            .unwrap_or_default();
        let _ = writeln!(out, ".PP\n{}", roff_text(&description));
        if let Some(more) = details
            .get(&format!("sub:{name}"))
            .filter(|m| !m.is_empty())
        {
            out.push_str(".PP\n");
            out.push_str(more);
        }
        let operands = model::operands(s).into_iter().map(|a| (a, Vec::new()));
        for (a, with) in operands.chain(sub_options(s)) {
            out.push_str(".TP\n");
            out.push_str(&sub_tag(a));
            out.push('\n');
            let mut help = a
                .get_long_help()
                .or(a.get_help())
                .map(|h| h.to_string())
                .unwrap_or_default();
            // Sentences: clap's derive drops a help text's last period.
            if !help.is_empty() && !help.ends_with('.') {
                help.push('.');
            }
            let values = model::fixed_values(a);
            if !values.is_empty() {
                let _ = write!(help, " Values: {}.", values.join(", "));
            }
            if !with.is_empty() {
                let _ = write!(help, " (With {}.)", with.join(", "));
            }
            out.push_str(&roff_text(help.trim()));
            out.push('\n');
        }
        let codes = model::exit_statuses(s);
        if !codes.is_empty() {
            let _ = writeln!(out, ".PP\nExit status of \\fB{}\\fR:", roff(name));
            for (code, text) in codes {
                let _ = writeln!(out, ".TP\n.B {}\n{}", roff(&code), roff_text(&text));
            }
        }
    }
    out.trim_end_matches('\n').to_string()
}

// ---------------------------------------------------------------- completions

/// Every spelling of an option: `-s`, `--scheduler`.
fn forms(f: &Flag) -> Vec<String> {
    let mut v: Vec<String> = f.shorts.iter().map(|c| format!("-{c}")).collect();
    v.push(format!("--{}", f.long));
    v
}

/// The value kind the completions use for an option ("" for a switch).
fn kind(f: &Flag) -> String {
    if let Some((_, k)) = DYNAMIC_VALUES.iter().find(|(n, _)| *n == f.long) {
        return (*k).to_string();
    }
    if FIXED_VALUES.iter().any(|(n, _)| *n == f.long) {
        return f.long.to_string();
    }
    match f.arg {
        ArgKind::None => String::new(),
        ArgKind::Optional => "optional".to_string(),
        ArgKind::Required => "value".to_string(),
    }
}

fn command_name(f: &Flag) -> Option<String> {
    match f.action {
        Action::Command(c) => Some(
            rules_for(c)
                .map(|r| r.name.to_string())
                .unwrap_or_else(|| f.long.to_string()),
        ),
        _ => None,
    }
}

/// The options a command accepts, as the completions offer them.
fn legal_forms(f: &Flag) -> Vec<String> {
    let Action::Command(c) = f.action else {
        return Vec::new();
    };
    let Some(rules) = rules_for(c) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for o in FLAGS {
        if matches!(o.action, Action::Command(_)) {
            continue;
        }
        let legal = match o.slot {
            Some(s) => rules.rule(s) != Rule::Illegal,
            None => match COMPANION_SLOT.iter().find(|(n, _)| *n == o.long) {
                Some((_, slot)) => FLAGS
                    .iter()
                    .filter_map(|g| g.slot)
                    .find(|s| s.name() == *slot)
                    .is_some_and(|s| rules.rule(s) != Rule::Illegal),
                None => true,
            },
        };
        if legal {
            out.extend(forms(o));
        }
    }
    out
}

fn case_arm(patterns: &[String], body: &str) -> String {
    format!("    {}) {body} ;;\n", patterns.join(" | "))
}

fn sh_word(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/,=+@%".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn sh_list(words: &[String]) -> String {
    words
        .iter()
        .map(|w| sh_word(w))
        .collect::<Vec<_>>()
        .join(" ")
}

fn engine(template: &str, cmds: &[Command]) -> Result<String> {
    let mut kinds = String::new();
    let mut commands = String::new();
    let mut slots = String::new();
    let mut legal = String::new();
    let mut command_forms = Vec::new();
    for f in FLAGS {
        let fs = forms(f);
        let k = kind(f);
        if !k.is_empty() {
            kinds.push_str(&case_arm(&fs, &format!("_ipvsadm_rs_r={}", sh_word(&k))));
        }
        if let Some(name) = command_name(f) {
            commands.push_str(&case_arm(&fs, &format!("_ipvsadm_rs_r={}", sh_word(&name))));
            legal.push_str(&case_arm(
                &[sh_word(&name)],
                &format!("_ipvsadm_rs_r={}", sh_word(&legal_forms(f).join(" "))),
            ));
            command_forms.extend(fs.clone());
        }
        if let Some(s) = f.slot {
            slots.push_str(&case_arm(
                &fs,
                &format!("_ipvsadm_rs_r={}", sh_word(s.name())),
            ));
        }
    }
    let mut values = String::new();
    for (name, vals) in FIXED_VALUES {
        let vals: Vec<String> = vals.iter().map(|v| v.to_string()).collect();
        values.push_str(&case_arm(
            &[sh_word(name)],
            &format!("printf '%s\\n' {}", sh_list(&vals)),
        ));
    }
    let mut subs = String::new();
    for s in cmds {
        subs.push_str(&subcommand_arm(s));
    }
    let names: Vec<String> = cmds.iter().map(|s| s.get_name().to_string()).collect();
    let pattern = if names.is_empty() {
        "_ipvsadm_rs_no_subcommands_".to_string()
    } else {
        names.join(" | ")
    };
    let body = fill(
        template,
        "completion engine",
        &[
            ("KIND_CASES", kinds.trim_end().to_string()),
            ("COMMAND_CASES", commands.trim_end().to_string()),
            ("SLOT_CASES", slots.trim_end().to_string()),
            ("LEGAL_CASES", legal.trim_end().to_string()),
            ("VALUE_CASES", values.trim_end().to_string()),
            ("SUBCOMMAND_CASES", subs.trim_end().to_string()),
            ("SUBCOMMAND_NAMES", pattern),
            ("SUBCOMMAND_NAMES_LIST", sh_list(&names)),
            ("COMMAND_FORMS", sh_list(&command_forms)),
        ],
    )?;
    Ok(body.trim_end().to_string())
}

/// The engine's arm for one subcommand: its actions, the values of its
/// options, and the options each action takes.
fn subcommand_arm(s: &Command) -> String {
    let actions = model::actions(s);
    let options = sub_options(s);
    let mut a = String::new();
    let _ = writeln!(a, "    {})", sh_word(s.get_name()));
    a.push_str("        shift\n");
    if !actions.is_empty() {
        let acts: Vec<String> = actions.iter().map(|x| x.get_name().to_string()).collect();
        let _ = writeln!(
            a,
            "        if [ $# -eq 0 ]; then printf '%s\\n' {}; return; fi",
            sh_list(&acts)
        );
    }
    a.push_str("        if [ $# -gt 0 ]; then\n");
    a.push_str("            eval \"_ipvsadm_rs_p=\\${$#}\"\n");
    a.push_str("            case $_ipvsadm_rs_p in\n");
    for (o, _) in options.iter().filter(|(o, _)| model::takes_value(o)) {
        let values = model::fixed_values(o);
        let body = if !values.is_empty() {
            format!("printf '%s\\n' {}; return", sh_list(&values))
        } else if model::is_file(o) {
            "echo @files; return".to_string()
        } else {
            "return".to_string()
        };
        let mut forms: Vec<String> = o
            .get_short_and_visible_aliases()
            .unwrap_or_default()
            .iter()
            .map(|c| format!("-{c}"))
            .collect();
        forms.extend(o.get_long().map(|l| format!("--{l}")));
        let _ = writeln!(a, "            {}) {body} ;;", forms.join(" | "));
    }
    a.push_str("            esac\n        fi\n");
    let opts_for = |action: Option<&str>| -> Vec<String> {
        options
            .iter()
            .filter(|(_, with)| match action {
                Some(act) => with.is_empty() || with.contains(&act),
                None => true,
            })
            .filter_map(|(o, _)| o.get_long().map(|l| format!("--{l}")))
            .collect()
    };
    if actions.is_empty() {
        let _ = writeln!(a, "        printf '%s\\n' {}", sh_list(&opts_for(None)));
    } else {
        a.push_str("        case $1 in\n");
        for act in &actions {
            let _ = writeln!(
                a,
                "        {}) printf '%s\\n' {} ;;",
                sh_word(act.get_name()),
                sh_list(&opts_for(Some(act.get_name())))
            );
        }
        a.push_str("        esac\n");
    }
    if model::operands(s).iter().any(|o| model::is_file(o)) {
        a.push_str("        echo @files\n");
    }
    a.push_str("        ;;\n");
    a
}

/// `text` as one fish single-quoted string.
fn fish_quote(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> PathBuf {
        crate::suite::workspace_root()
    }

    /// The committed man pages and completions are what the tables and
    /// templates give; this runs in `cargo test --workspace`, so CI fails
    /// on a stale file.
    #[test]
    fn generated_files_are_up_to_date() {
        let outputs = generate(&root()).unwrap();
        let stale = stale(&root(), &outputs);
        assert!(
            stale.is_empty(),
            "stale generated files {stale:?}: run `{REGENERATE}` and commit the result"
        );
    }

    /// Every option and action of every subcommand's clap model is in
    /// its man page section and in the completion engine.
    #[test]
    fn every_subcommand_option_is_documented_and_completed() {
        let cmds = subcommands();
        let details = Details::parse("").unwrap();
        let man = man_subcommands(&cmds, &details);
        let engine = engine(&asset(&root(), "completions/engine.sh").unwrap(), &cmds).unwrap();
        let mut seen = 0;
        for cmd in &cmds {
            let name = cmd.get_name();
            let section = man
                .split(".SS ")
                .find(|s| s.starts_with(&format!("{}\n", roff(name))))
                .unwrap_or_else(|| panic!("no .SS {name}"));
            assert!(engine.contains(&format!("    {name})")), "{name}");
            assert!(section.contains("Exit status of"), "{name}");
            for (a, _) in sub_options(cmd) {
                let long = a.get_long().unwrap();
                assert!(
                    section.contains(&format!("\\fB\\-\\-{}\\fR", roff(long))),
                    "{name} --{long} not in the man page"
                );
                assert!(engine.contains(&format!("--{long}")), "{name} --{long}");
                seen += 1;
            }
            for act in model::actions(cmd) {
                assert!(
                    section.contains(&format!("{name} {}", act.get_name())),
                    "{name}"
                );
            }
        }
        assert!(seen >= 25, "only {seen} options");
    }

    #[test]
    fn roff_escapes() {
        assert_eq!(roff("-t a-b"), "\\-t a\\-b");
        assert_eq!(roff(".x"), "\\&.x");
        assert_eq!(roff("a\\b"), "a\\eb");
        assert_eq!(roff_text("one. Two -x"), "one.\nTwo \\-x");
        let long = "word ".repeat(40);
        assert!(roff_text(&long).lines().all(|l| l.len() <= 78));
    }

    #[test]
    fn every_value_option_exists_or_is_expected() {
        // The integrator adds --netns; the others must name real options.
        for (n, _) in DYNAMIC_VALUES.iter().map(|(n, k)| (*n, *k)).chain(
            FIXED_VALUES
                .iter()
                .map(|(n, v)| (*n, v.first().copied().unwrap_or(""))),
        ) {
            assert!(
                n == "netns" || FLAGS.iter().any(|f| f.long == n),
                "--{n} is not in the flag table"
            );
        }
    }

    #[test]
    fn add_server_accepts_what_ipvsadm_does() {
        let f = FLAGS.iter().find(|f| f.long == "add-server").unwrap();
        let legal = legal_forms(f);
        for o in [
            "-t",
            "-u",
            "-f",
            "--sctp-service",
            "-r",
            "-g",
            "-i",
            "-m",
            "-w",
            "-x",
            "-y",
        ] {
            assert!(legal.iter().any(|l| l == o), "{o}");
        }
        for o in ["-s", "-p", "-c", "-n", "--pe"] {
            assert!(!legal.iter().any(|l| l == o), "{o}");
        }
    }

    #[test]
    fn markers_must_all_be_filled() {
        assert!(fill("a @X@ b", "t", &[("X", "1".into())]).is_ok());
        assert!(fill("a @X@ @Y@", "t", &[("X", "1".into())]).is_err());
        assert!(fill("a", "t", &[("X", "1".into())]).is_err());
        // Addresses and e-mail-like text are not markers.
        assert!(fill("a@b @X@", "t", &[("X", "1".into())]).is_ok());
    }
}
