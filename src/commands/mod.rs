//! ipvsadm-rs's own subcommands (`realserver`, `check`, `apply`, `drain`,
//! `top`): front ends that parse their arguments and print what the
//! library's services return. None of them has an ipvsadm grammar to
//! honour, so none of their bytes is held to ipvsadm's.
//!
//! This is also where a command line is sent to its front end: a line
//! whose first word (after any `--netns`) names a subcommand runs here,
//! every other line goes to the ipvsadm front end ([`crate::ipvsadm`]),
//! which knows nothing of the subcommands.

use std::ffi::OsString;
use std::io::{self, Read, Write};

use crate::ipvsadm::parse::Failure;
use crate::ipvsadm::run::{self, Mode};

pub mod apply;
pub mod args;
pub mod check;
pub mod drain;
pub mod model;
pub mod realserver;
pub mod report;
pub mod top;

/// The clap model of every subcommand, in the order they are documented:
/// the one source of each subcommand's `--help`, of its row on the `-h`
/// screen ([`model::help_section`]), of its man page section and of its
/// completions (`cargo xtask codegen`). Adding a subcommand is one line
/// here (and rerunning `cargo xtask codegen`).
pub fn clap_commands() -> Vec<clap::Command> {
    use clap::CommandFactory;
    vec![
        realserver::Args::command(),
        check::Args::command(),
        apply::Args::command(),
        drain::Args::command(),
        top::Args::command(),
    ]
}

/// The process entry point of the three binaries: returns the exit code.
/// A binary named (or linked as) `...-save` or `...-restore` behaves as
/// that program; see [`Mode::from_argv0`].
pub fn main_entry(args: Vec<OsString>, fallback: Mode) -> i32 {
    crate::sys::default_sigpipe();
    // The ipvsadm front end knows nothing of the subcommands: their
    // section of its `-h` screen is handed to it here.
    crate::ipvsadm::help::set_trailer(model::help_section);
    let argv0 = args
        .first()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_else(|| "ipvsadm-rs".to_string());
    let rest = args.get(1..).unwrap_or(&[]);
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let stderr = io::stderr();
    let mut err = stderr.lock();
    let mut stdin = io::stdin().lock();
    let mode = Mode::from_argv0(&argv0, fallback);
    let code = match mode {
        Mode::Main => match dispatch(&argv0, rest, &mut stdin, &mut out, &mut err) {
            Some(code) => code,
            None => run::run_main(&argv0, rest, &mut stdin, &mut out, &mut err),
        },
        _ => run::run_mode(mode, &argv0, rest, &mut stdin, &mut out, &mut err),
    };
    let _ = out.flush();
    code
}

/// Runs a subcommand line; `None` when `args` (the words after the
/// program name) are not one, and belong to the ipvsadm grammar.
pub fn dispatch(
    prog: &str,
    args: &[OsString],
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Option<i32> {
    // `--netns` may stand anywhere on a subcommand's line.
    match subcommand_netns(args) {
        Ok(Some((netns, rest))) => {
            if let Some(ns) = &netns {
                if let Err(f) = run::enter_netns(ns) {
                    return Some(run::report(err, None, &f));
                }
            }
            if rest.first().is_some_and(|w| w == "drain") {
                let tail = rest.get(1..).unwrap_or(&[]);
                return Some(drain::run(prog, tail, netns.as_deref(), out, err));
            }
            if rest.first().is_some_and(|w| w == "top") {
                let tail = rest.get(1..).unwrap_or(&[]);
                return Some(top::run(prog, tail, out, err));
            }
            if let Some(code) = realserver::dispatch(prog, &rest, out, err) {
                return Some(code);
            }
        }
        Ok(None) => {}
        Err(f) => return Some(run::report(err, None, &f)),
    }
    apply::dispatch(prog, args, stdin, out, err)
}

/// A `realserver`, `check`, `drain` or `top` line without its
/// `--netns`, and that value.
type SubcommandLine = (Option<String>, Vec<OsString>);

/// For a `realserver` or `check` line (the first word that is not
/// `--netns` or its value), its `--netns` value and the line without it;
/// `None` for every other line. `--netns NAME` and `--netns=NAME` may
/// stand anywhere; a second one is an error, as in the main grammar.
fn subcommand_netns(args: &[OsString]) -> Result<Option<SubcommandLine>, Failure> {
    let mut netns: Option<String> = None;
    let mut rest = Vec::with_capacity(args.len());
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let text = a.to_string_lossy();
        let value = if text == "--netns" {
            match it.next() {
                Some(v) => v.to_string_lossy().into_owned(),
                None => return Ok(None),
            }
        } else if let Some(v) = text.strip_prefix("--netns=") {
            v.to_string()
        } else {
            if rest.is_empty() && !matches!(&*text, "realserver" | "check" | "drain" | "top") {
                return Ok(None);
            }
            rest.push(a.clone());
            continue;
        };
        if netns.is_some() {
            return Err(run::fail(2, "multiple 'netns' options specified"));
        }
        if value.is_empty() {
            return Err(run::fail(2, "empty network namespace specified"));
        }
        netns = Some(value);
    }
    if rest.is_empty() {
        return Ok(None);
    }
    Ok(Some((netns, rest)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netns_on_subcommand_lines() {
        let v = |w: &[&str]| w.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(subcommand_netns(&v(&["-L", "--netns", "a"])), Ok(None));
        assert_eq!(subcommand_netns(&v(&["--netns", "a", "-L"])), Ok(None));
        assert_eq!(subcommand_netns(&v(&["--netns"])), Ok(None));
        assert_eq!(
            subcommand_netns(&v(&["--netns", "a", "realserver", "apply", "1.2.3.4"])),
            Ok(Some((
                Some("a".into()),
                v(&["realserver", "apply", "1.2.3.4"])
            )))
        );
        assert_eq!(
            subcommand_netns(&v(&["check", "--netns=/x/y", "1.2.3.4"])),
            Ok(Some((Some("/x/y".into()), v(&["check", "1.2.3.4"]))))
        );
        assert_eq!(
            subcommand_netns(&v(&["check", "1.2.3.4"])),
            Ok(Some((None, v(&["check", "1.2.3.4"]))))
        );
        assert_eq!(
            subcommand_netns(&v(&["--netns", "a", "check", "--netns", "b"])).map_err(|f| f.stderr),
            Err("multiple 'netns' options specified\n".into())
        );
    }

    #[test]
    fn a_missing_namespace_on_a_subcommand_line_is_named() {
        let name = "ipvsadm-rs-no-such-namespace";
        let want = format!(
            "cannot open network namespace {name} (/run/netns/{name}): No such file or directory\n"
        );
        for args in [
            vec!["--netns", name, "realserver", "check", "10.0.0.1"],
            vec!["check", "--netns", name, "10.0.0.1"],
        ] {
            let args: Vec<OsString> = args.iter().map(OsString::from).collect();
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let code = dispatch("ipvsadm-rs", &args, &mut &b""[..], &mut out, &mut err);
            assert_eq!(code, Some(2), "{args:?}");
            assert!(out.is_empty());
            assert_eq!(String::from_utf8(err).unwrap(), want);
        }
    }
}
