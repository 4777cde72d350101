//! How `check` and `realserver check` show a [`Report`]: a comfy-table
//! table when standard output is a terminal, plain stable text otherwise
//! (the form scripts and the kernel tests read, one finding a line under
//! its subject, then the counts), and one JSON object with `--json`. Also
//! the exit status a report gives. The findings themselves come from
//! [`crate::services::check`] and [`crate::services::realserver`].

use std::io::{self, IsTerminal, Write};

use comfy_table::{ContentArrangement, Table};
use serde::Serialize;

use crate::services::findings::{Finding, Level, Report};

/// The form of the human-readable report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Plain text, the same bytes whatever reads it.
    Plain,
    /// A table fitted to a terminal this many columns wide (no limit if
    /// `None`).
    Table(Option<u16>),
}

impl Style {
    /// A table when standard output is a terminal, plain text otherwise.
    pub fn for_stdout() -> Style {
        if io::stdout().is_terminal() {
            Style::Table(crossterm::terminal::size().ok().map(|(w, _)| w))
        } else {
            Style::Plain
        }
    }
}

/// Exit status of a check: 1 if anything is an error, else 0.
pub fn status(r: &Report) -> i32 {
    i32::from(r.has_errors())
}

/// The last line: `2 errors, 1 warning`.
fn counts(r: &Report) -> String {
    let (e, w) = (r.count(Level::Error), r.count(Level::Warning));
    format!(
        "{e} error{}, {w} warning{}",
        if e == 1 { "" } else { "s" },
        if w == 1 { "" } else { "s" }
    )
}

/// The report for people, in `style`.
pub fn write_text(out: &mut dyn Write, r: &Report, style: Style) -> io::Result<()> {
    match style {
        Style::Plain => write_plain(out, r),
        Style::Table(width) => write_table(out, r, width),
    }
}

/// Findings grouped under their subject, a tag before each, then a count.
fn write_plain(out: &mut dyn Write, r: &Report) -> io::Result<()> {
    let mut subject: Option<&str> = None;
    for f in &r.findings {
        if subject != Some(f.subject.as_str()) {
            writeln!(out, "{}", f.subject)?;
            subject = Some(f.subject.as_str());
        }
        let tag = match f.level {
            Level::Ok => "ok     ",
            Level::Warning => "WARNING",
            Level::Error => "ERROR  ",
        };
        writeln!(out, "  {tag} {}", f.message)?;
    }
    writeln!(out, "{}", counts(r))
}

/// One row per finding, the subject named on the first row of its group.
fn write_table(out: &mut dyn Write, r: &Report, width: Option<u16>) -> io::Result<()> {
    let mut t = Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_header(["Subject", "Result", "Finding"]);
    match width {
        Some(w) => {
            t.set_width(w)
                .set_content_arrangement(ContentArrangement::Dynamic);
        }
        None => {
            t.set_content_arrangement(ContentArrangement::Disabled);
        }
    }
    let mut subject: Option<&str> = None;
    for f in &r.findings {
        let shown = if subject == Some(f.subject.as_str()) {
            ""
        } else {
            subject = Some(f.subject.as_str());
            f.subject.as_str()
        };
        let level = match f.level {
            Level::Ok => "ok",
            Level::Warning => "WARNING",
            Level::Error => "ERROR",
        };
        t.add_row([shown, level, f.message.as_str()]);
    }
    if !r.findings.is_empty() {
        writeln!(out, "{t}")?;
    }
    writeln!(out, "{}", counts(r))
}

/// The JSON document of a report (docs/json.md).
#[derive(Serialize)]
struct JsonReport<'a> {
    errors: usize,
    warnings: usize,
    findings: &'a [Finding],
}

/// The report as one JSON object on one line: the counts and every finding.
pub fn write_json(out: &mut dyn Write, r: &Report) -> io::Result<()> {
    let doc = JsonReport {
        errors: r.count(Level::Error),
        warnings: r.count(Level::Warning),
        findings: &r.findings,
    };
    serde_json::to_writer(&mut *out, &doc)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        let mut r = Report::default();
        r.push(
            Level::Ok,
            "vip-local",
            "TCP 192.168.10.1:80",
            "192.168.10.1 is an address of this host (on eth0)",
        );
        r.push(
            Level::Error,
            "dr-not-connected",
            "TCP 192.168.10.1:80",
            "-> 10.99.0.5:80 (direct routing): not on a subnet",
        );
        r.push(Level::Warning, "ip-forward", "NAT", "ip_forward is 0");
        r
    }

    fn render(r: &Report, style: Style) -> String {
        let mut o = Vec::new();
        write_text(&mut o, r, style).unwrap();
        String::from_utf8(o).unwrap()
    }

    #[test]
    fn plain_text_is_grouped_and_counted() {
        assert_eq!(
            render(&sample(), Style::Plain),
            "TCP 192.168.10.1:80\n  ok      192.168.10.1 is an address of this host (on eth0)\n  ERROR   -> 10.99.0.5:80 (direct routing): not on a subnet\nNAT\n  WARNING ip_forward is 0\n1 error, 1 warning\n"
        );
        assert_eq!(
            render(&Report::default(), Style::Plain),
            "0 errors, 0 warnings\n"
        );
    }

    #[test]
    fn a_terminal_gets_a_table_that_fits() {
        let text = render(&sample(), Style::Table(Some(60)));
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with('┌'), "{text}");
        assert!(
            lines[1].contains("Subject") && lines[1].contains("Finding"),
            "{text}"
        );
        // The subject once per group, every finding's words somewhere.
        assert_eq!(text.matches("TCP 192.168.10.1:80").count(), 1, "{text}");
        assert!(text.contains("ERROR") && text.contains("WARNING"), "{text}");
        assert!(text.contains("not on a"), "{text}");
        for l in &lines {
            assert!(l.chars().count() <= 60, "{l:?} in\n{text}");
        }
        assert_eq!(lines.last(), Some(&"1 error, 1 warning"));
        // No colour codes.
        assert!(!text.contains('\u{1b}'), "{text}");
        // Without a width the rows are not wrapped.
        let wide = render(&sample(), Style::Table(None));
        assert!(
            wide.contains("-> 10.99.0.5:80 (direct routing): not on a subnet"),
            "{wide}"
        );
        assert_eq!(
            render(&Report::default(), Style::Table(Some(80))),
            "0 errors, 0 warnings\n"
        );
    }

    #[test]
    fn json_keeps_its_fields_and_escapes() {
        let mut o = Vec::new();
        write_json(&mut o, &sample()).unwrap();
        assert_eq!(
            String::from_utf8(o).unwrap(),
            "{\"errors\":1,\"warnings\":1,\"findings\":[{\"level\":\"ok\",\"code\":\"vip-local\",\"subject\":\"TCP 192.168.10.1:80\",\"message\":\"192.168.10.1 is an address of this host (on eth0)\"},{\"level\":\"error\",\"code\":\"dr-not-connected\",\"subject\":\"TCP 192.168.10.1:80\",\"message\":\"-> 10.99.0.5:80 (direct routing): not on a subnet\"},{\"level\":\"warning\",\"code\":\"ip-forward\",\"subject\":\"NAT\",\"message\":\"ip_forward is 0\"}]}\n"
        );
        let mut r = Report::default();
        r.push(Level::Error, "x", "a \"b\"", "line\nnext\t\u{1}");
        let mut o = Vec::new();
        write_json(&mut o, &r).unwrap();
        assert_eq!(
            String::from_utf8(o).unwrap(),
            "{\"errors\":1,\"warnings\":0,\"findings\":[{\"level\":\"error\",\"code\":\"x\",\"subject\":\"a \\\"b\\\"\",\"message\":\"line\\nnext\\t\\u0001\"}]}\n"
        );
        assert_eq!((status(&r), status(&Report::default())), (1, 0));
    }
}
