//! The findings of a host check: what `check` (a director) and
//! `realserver check` (a real server) return. Each finding has a level, a
//! stable code for machines, a subject it is about and a message in plain
//! words. This module owns only the data; how a report is shown (text,
//! table, JSON) and which exit status it gives is the front ends' business
//! ([`crate::commands`]).

use serde::Serialize;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// A check that passed (shown, so a reader sees what was looked at).
    Ok,
    /// Doubtful; the service may still work.
    Warning,
    /// The service cannot work as configured.
    Error,
}

/// One result of a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Severity.
    pub level: Level,
    /// A stable short name for machines (`vip-missing`).
    pub code: &'static str,
    /// What it is about (`TCP 192.168.10.1:80`); findings are grouped by it.
    pub subject: String,
    /// The finding and its consequence, in plain words.
    pub message: String,
}

/// The findings of one check run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// In the order found.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Adds a finding.
    pub fn push(
        &mut self,
        level: Level,
        code: &'static str,
        subject: impl Into<String>,
        message: impl Into<String>,
    ) {
        self.findings.push(Finding {
            level,
            code,
            subject: subject.into(),
            message: message.into(),
        });
    }

    /// Number of findings at `level`.
    pub fn count(&self, level: Level) -> usize {
        self.findings.iter().filter(|f| f.level == level).count()
    }

    /// True if any finding is an error: something cannot work.
    pub fn has_errors(&self) -> bool {
        self.count(Level::Error) > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_level() {
        let mut r = Report::default();
        assert!(!r.has_errors());
        r.push(Level::Ok, "a", "s", "m");
        r.push(Level::Warning, "b", "s", "m");
        assert!(!r.has_errors());
        r.push(Level::Error, "c", "t", "m");
        assert_eq!(
            (
                r.count(Level::Ok),
                r.count(Level::Warning),
                r.count(Level::Error)
            ),
            (1, 1, 1)
        );
        assert!(r.has_errors());
        assert_eq!(r.findings[2].subject, "t");
    }
}
