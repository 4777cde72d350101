//! The `-h` and `-v` texts.
//!
//! The help screen is generated from the option table in
//! [`super::flags`], so it always lists exactly the options the parser
//! accepts. Its layout follows ipvsadm's (version line, usage lines with
//! the program name, then the commands, virtual-service, options and
//! daemon-options sections) but the wording is this project's own.
//!
//! The screen may end with a section this front end does not write: the
//! process entry hands it over once with [`set_trailer`] (ipvsadm-rs's
//! own subcommands, which this module must not know).

use std::sync::OnceLock;

use super::flags::{ArgKind, Flag, Section, FLAGS};

/// What ends the help screen after ipvsadm's sections, given the program
/// name; set once at process start.
static TRAILER: OnceLock<fn(&str) -> String> = OnceLock::new();

/// Sets the text that ends every help screen of this process (a later
/// call changes nothing). `trailer` gets the name the program was invoked
/// as and returns whole lines, or nothing.
pub fn set_trailer(trailer: fn(&str) -> String) {
    let _ = TRAILER.set(trailer);
}

/// The version line printed by `-v` (and first by `-h`).
///
/// It is ipvsadm 1.31's line, byte for byte, because scripts parse it to
/// decide which syntax they may use; the integrator may switch to
/// [`OWN_VERSION_LINE`].
pub fn version_line() -> &'static str {
    IPVSADM_VERSION_LINE
}

/// ipvsadm 1.31's version line (the IPVS version in it is a compile-time
/// constant, not the kernel's).
pub const IPVSADM_VERSION_LINE: &str =
    "ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)";

/// A version line that names this program while keeping the same shape.
pub const OWN_VERSION_LINE: &str = concat!(
    "ipvsadm-rs v",
    env!("CARGO_PKG_VERSION"),
    " (ipvsadm v1.31 compatible, IPVS v1.2.1)"
);

/// Column where descriptions start.
const DESC_COL: usize = 36;

/// The synopsis lines, after the program name.
const USAGE: &[&str] = &[
    "-A|E SERVICE [-s scheduler] [-p [seconds]] [-M mask] [--pe engine] [-b flags]",
    "-D SERVICE",
    "-C",
    "-R",
    "-S [-n]",
    "-a|e SERVICE -r host[:port] [server options]",
    "-d SERVICE -r host[:port]",
    "-L|l [SERVICE] [listing options]",
    "-Z [SERVICE]",
    "--set tcp tcpfin udp",
    "--start-daemon master|backup [daemon options]",
    "--stop-daemon master|backup",
    "-h | -v",
];

/// The help screen for `-h`, ending with a newline. `prog` is the name the
/// program was invoked as.
pub fn help_text(prog: &str) -> String {
    let mut out = String::new();
    out.push_str(version_line());
    out.push('\n');
    out.push_str("Usage:\n");
    for u in USAGE {
        out.push_str("  ");
        out.push_str(prog);
        out.push(' ');
        out.push_str(u);
        out.push('\n');
    }
    section(
        &mut out,
        "\nCommands (one per invocation; long or short form):\n",
        Section::Commands,
    );
    section(&mut out, "\nSERVICE is one of:\n", Section::VirtualService);
    section(&mut out, "\nOptions:\n", Section::Options);
    section(&mut out, "Daemon options:\n", Section::DaemonOptions);
    if let Some(trailer) = TRAILER.get() {
        out.push_str(&trailer(prog));
    }
    out
}

fn section(out: &mut String, title: &str, which: Section) {
    out.push_str(title);
    for f in FLAGS.iter().filter(|f| f.section == which) {
        row(out, f);
    }
}

/// The left column of a row: `--long`, then the short forms and the value
/// placeholder.
fn left_part(f: &Flag) -> String {
    let mut left = format!("--{}", f.long);
    if !f.shorts.is_empty() {
        let shorts: Vec<String> = f.shorts.iter().map(|c| format!("-{c}")).collect();
        let width = 18;
        while left.len() < width {
            left.push(' ');
        }
        if left.len() > width {
            left.push(' ');
        }
        left.push_str(&shorts.join("|"));
    }
    if !f.value_name.is_empty() {
        left.push(' ');
        if f.arg == ArgKind::Optional && !f.value_name.starts_with('[') {
            left.push('[');
            left.push_str(f.value_name);
            left.push(']');
        } else {
            left.push_str(f.value_name);
        }
    }
    left
}

fn row(out: &mut String, f: &Flag) {
    let left = left_part(f);
    let mut line = format!("  {left}");
    let mut lines = f.help.split('\n');
    if let Some(first) = lines.next() {
        if line.len() + 1 > DESC_COL {
            // Too long for the column: description on the same line after
            // one space would misalign; start it on the next line.
            out.push_str(&line);
            out.push('\n');
            line = String::new();
        }
        while line.len() < DESC_COL {
            line.push(' ');
        }
        line.push_str(first);
    }
    out.push_str(&line);
    out.push('\n');
    for more in lines {
        out.push_str(&" ".repeat(DESC_COL));
        out.push_str(more);
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_ipvsadms() {
        assert_eq!(
            version_line(),
            "ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v1.2.1)"
        );
        assert!(OWN_VERSION_LINE.starts_with("ipvsadm-rs v"));
    }

    #[test]
    fn help_mentions_every_option() {
        let h = help_text("/usr/sbin/ipvsadm");
        for f in FLAGS {
            assert!(h.contains(&format!("--{}", f.long)), "--{} missing", f.long);
            for c in f.shorts {
                assert!(h.contains(&format!("-{c}")), "-{c} missing");
            }
        }
    }

    #[test]
    fn help_layout() {
        let h = help_text("prog");
        assert!(h.starts_with(version_line()));
        assert!(h.ends_with('\n') && !h.ends_with("\n\n"));
        let usage: Vec<&str> = h.lines().filter(|l| l.starts_with("  prog ")).collect();
        assert_eq!(usage.len(), USAGE.len());
        for l in h.lines() {
            assert!(l.starts_with("  prog ") || l.len() <= 80, "too long: {l:?}");
            assert!(!l.ends_with(' '), "trailing space: {l:?}");
        }
        for title in ["Usage:", "Options:", "Daemon options:"] {
            assert!(h.lines().any(|l| l == title), "{title}");
        }
        // Options and daemon options are not separated by an empty line,
        // like ipvsadm's screen.
        assert!(h.contains("\nDaemon options:\n"));
        assert!(!h.contains("\n\nDaemon options:\n"));
    }
}
