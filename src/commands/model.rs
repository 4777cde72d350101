//! Reading the subcommands' clap models ([`super::clap_commands`]) for
//! what is printed or generated from them: the `-h` screen's subcommand
//! section ([`help_section`], handed to [`crate::ipvsadm::help`] at
//! process start) and, through `cargo xtask codegen`, the man page's
//! SUBCOMMANDS section and the shell completions.
//!
//! The conventions the models follow, so that these texts are complete:
//! `about` is the one-line summary (the `-h` row), `long_about` the man
//! page paragraph, every option has a help text and a value name, fixed
//! value sets are clap possible values, file values and operands carry
//! `ValueHint::FilePath` (or the value name `FILE`), and the exit statuses
//! are the `after_long_help` text in the form [`exit_statuses`] reads.

use clap::{Arg, ArgAction, Command};

/// Column where the `-h` screen's descriptions start (as in
/// [`crate::ipvsadm::help`]).
const DESC_COL: usize = 36;

/// The help flags clap adds (`-h`, `--help`, `-V`): not documented as
/// options.
pub fn is_builtin(arg: &Arg) -> bool {
    matches!(
        arg.get_action(),
        ArgAction::Help | ArgAction::HelpShort | ArgAction::HelpLong | ArgAction::Version
    )
}

/// A command's actions (`realserver apply|check|undo`): its subcommands
/// without the `help` one clap may add.
pub fn actions(cmd: &Command) -> Vec<&Command> {
    cmd.get_subcommands()
        .filter(|s| s.get_name() != "help")
        .collect()
}

/// A command's documented options (not the operands, not `--help`).
pub fn options(cmd: &Command) -> Vec<&Arg> {
    cmd.get_arguments()
        .filter(|a| !a.is_positional() && !is_builtin(a) && !a.is_hide_set())
        .collect()
}

/// A command's operands (`FILE`).
pub fn operands(cmd: &Command) -> Vec<&Arg> {
    cmd.get_arguments().filter(|a| a.is_positional()).collect()
}

/// The placeholder of an argument's value: its value name, else its id
/// in capitals.
pub fn value_name(arg: &Arg) -> String {
    arg.get_value_names()
        .and_then(|v| v.first())
        .map(|v| v.to_string())
        .unwrap_or_else(|| arg.get_id().as_str().to_ascii_uppercase())
}

/// Whether an argument takes a value (an option) or is a switch.
pub fn takes_value(arg: &Arg) -> bool {
    arg.get_action().takes_values()
}

/// Whether an argument's value is a file name (offered as such by the
/// completions).
pub fn is_file(arg: &Arg) -> bool {
    matches!(
        arg.get_value_hint(),
        clap::ValueHint::FilePath | clap::ValueHint::AnyPath
    ) || value_name(arg) == "FILE"
}

/// The fixed values an argument accepts (empty when any value goes).
pub fn fixed_values(arg: &Arg) -> Vec<String> {
    arg.get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| v.get_name().to_string())
        .collect()
}

/// The exit statuses of a command: its `after_long_help` from the line
/// `Exit status:` on, one `  CODE  TEXT` line per status (digits, then
/// two or more spaces), lines indented further continuing the text.
pub fn exit_statuses(cmd: &Command) -> Vec<(String, String)> {
    let text = cmd
        .get_after_long_help()
        .map(|t| t.to_string())
        .unwrap_or_default();
    let mut out: Vec<(String, String)> = Vec::new();
    let mut lines = text.lines().skip_while(|l| l.trim_end() != "Exit status:");
    lines.next();
    for line in lines {
        let t = line.trim_start();
        let code: String = t.chars().take_while(char::is_ascii_digit).collect();
        let rest = t.get(code.len()..).unwrap_or("");
        if !code.is_empty() && rest.starts_with("  ") {
            out.push((code, rest.trim().to_string()));
        } else if let (Some((_, text)), false) = (out.last_mut(), t.is_empty()) {
            text.push(' ');
            text.push_str(t);
        } else {
            break;
        }
    }
    out
}

/// The left column of a command's row on the `-h` screen: its name, its
/// actions, its operands.
fn row_name(cmd: &Command) -> String {
    let mut left = format!("  {}", cmd.get_name());
    let acts: Vec<&str> = actions(cmd).iter().map(|s| s.get_name()).collect();
    if !acts.is_empty() {
        left.push(' ');
        left.push_str(&acts.join("|"));
    }
    for op in operands(cmd) {
        let name = value_name(op);
        if op.is_required_set() {
            left.push(' ');
            left.push_str(&name);
        } else {
            left.push_str(&format!(" [{name}]"));
        }
    }
    left
}

/// The `-h` screen's last section: each subcommand on a row like an
/// option, its summary (`about`) from column 36, wrapped before 80.
/// `prog` is the name the program was invoked as.
pub fn help_section(prog: &str) -> String {
    let base = prog.rsplit('/').next().unwrap_or(prog);
    let mut out =
        format!("\nSubcommands (not in ipvsadm; `{base} SUBCOMMAND --help' for details):\n");
    for cmd in super::clap_commands() {
        let mut left = row_name(&cmd);
        if left.len() + 1 > DESC_COL {
            out.push_str(&left);
            out.push('\n');
            left.clear();
        }
        let summary = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
        let mut line = left;
        for word in summary.split(' ') {
            if line.len() < DESC_COL {
                line.push_str(&" ".repeat(DESC_COL - line.len()));
            } else if line.len() + 1 + word.len() > 80 {
                out.push_str(&line);
                out.push('\n');
                line = " ".repeat(DESC_COL);
            } else {
                line.push(' ');
            }
            line.push_str(word);
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvsadm::flags::FLAGS;

    #[test]
    fn every_subcommand_is_documented() {
        let cmds = crate::commands::clap_commands();
        let names: Vec<&str> = cmds.iter().map(Command::get_name).collect();
        assert_eq!(names, ["realserver", "check", "apply", "drain", "top"]);
        for cmd in &cmds {
            let name = cmd.get_name();
            assert!(FLAGS.iter().all(|f| f.long != name), "{name}");
            assert!(cmd.get_about().is_some(), "{name}: no about");
            assert!(cmd.get_long_about().is_some(), "{name}: no long_about");
            let codes = exit_statuses(cmd);
            assert!(
                codes.len() >= 2 && codes.iter().any(|(c, _)| c == "2"),
                "{name}: exit statuses {codes:?}"
            );
            let mut all: Vec<&Command> = vec![cmd];
            all.extend(actions(cmd));
            for c in all {
                for a in options(c) {
                    assert!(a.get_long().is_some(), "{name}: {:?} has no long form", a);
                    assert!(
                        a.get_help().is_some(),
                        "{name} --{:?}: no help",
                        a.get_long()
                    );
                }
            }
        }
        assert!(names
            .iter()
            .enumerate()
            .all(|(i, n)| !names[i + 1..].contains(n)));
    }

    #[test]
    fn exit_status_text() {
        let cmd = Command::new("x").after_long_help(
            "Exit status:\n  0  fine\n  1  bad, and\n     more\n  130  stopped\n\nNot a status.",
        );
        assert_eq!(
            exit_statuses(&cmd),
            [
                ("0".to_string(), "fine".to_string()),
                ("1".into(), "bad, and more".into()),
                ("130".into(), "stopped".into())
            ]
        );
        assert!(exit_statuses(&Command::new("y")).is_empty());
    }

    #[test]
    fn the_help_section() {
        let h = help_section("/usr/sbin/prog");
        assert!(h.starts_with(
            "\nSubcommands (not in ipvsadm; `prog SUBCOMMAND --help' for details):\n"
        ));
        for l in h.lines() {
            assert!(l.len() <= 80 && !l.ends_with(' '), "{l:?}");
        }
        for row in [
            "  realserver apply|check|undo ",
            "  check ",
            "  apply [FILE] ",
            "  drain ",
            "  top ",
        ] {
            assert!(h.lines().any(|l| l.starts_with(row)), "{row:?} in\n{h}");
        }
    }
}
