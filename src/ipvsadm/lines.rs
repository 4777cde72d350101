//! Restore input as ipvsadm reads it: the numbered command lines (blank
//! lines and `#` comments skipped), the words of a line (split on space,
//! tab or CR, no quoting, the word `ipvsadm` dropped), and what a line
//! does once parsed: a table write with the operation its errors are
//! described with, or a command run on its own.
//!
//! Used by the restore front ends in [`crate::ipvsadm::run`] (which hand
//! [`check_text_line`] to the engine, [`crate::services::restore`]) and
//! by `apply`, which reads its file in the same grammar. Prints nothing.

use std::ffi::OsString;

use crate::client::Request;
use crate::ipvsadm::errors::Op;
use crate::ipvsadm::parse::{self, Command, Failure, Invocation};
use crate::ipvsadm::resolve::Resolver;
use crate::services::restore;

/// One checked restore line: a table write and the operation its errors
/// are described with, or anything else (listing, save, help, version),
/// run on its own. Boxed: such lines are rare, and the list of steps of a
/// large restore is as wide as its widest variant.
pub type Step = restore::Step<Op, Box<Invocation>>;

/// A failure with ipvsadm's status and message (newline added).
fn fail(code: i32, message: &str) -> Failure {
    Failure {
        code,
        stderr: format!("{message}\n"),
    }
}

/// The words of one restore line as ipvsadm reads them: separated by
/// space, tab or CR, no quoting, and the word `ipvsadm` dropped wherever
/// it stands.
pub fn line_words(raw: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut at = 0;
    std::iter::from_fn(move || loop {
        let (start, end) = next_word(raw, at)?;
        at = end;
        match raw.get(start..end) {
            Some(b"ipvsadm") => continue,
            w => return w,
        }
    })
}

/// Whether a byte separates the words of a restore line.
fn is_word_separator(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r')
}

/// The byte range of the first word of `raw` at or after `at`.
fn next_word(raw: &[u8], mut at: usize) -> Option<(usize, usize)> {
    while raw.get(at).copied().is_some_and(is_word_separator) {
        at += 1;
    }
    if at >= raw.len() {
        return None;
    }
    let start = at;
    while raw.get(at).is_some_and(|&b| !is_word_separator(b)) {
        at += 1;
    }
    Some((start, at))
}

/// [`line_words`] of a line known to be UTF-8 text.
fn line_str_words(text: &str) -> impl Iterator<Item = &str> {
    let mut at = 0;
    std::iter::from_fn(move || loop {
        let (start, end) = next_word(text.as_bytes(), at)?;
        at = end;
        // The separators are ASCII, so these are character boundaries.
        match text.get(start..end) {
            Some("ipvsadm") => continue,
            w => return w,
        }
    })
}

/// The command lines of restore input, numbered from 1, skipping blank
/// lines and, unlike ipvsadm, lines whose first word starts with `#`. The
/// last line counts even without a newline.
pub fn restore_lines(input: &[u8]) -> Vec<(usize, &[u8])> {
    input
        .split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, raw)| is_command_line(raw))
        .map(|(i, raw)| (i + 1, raw))
        .collect()
}

/// [`restore_lines`] of UTF-8 text, split with the library's fast byte
/// search.
pub fn restore_text_lines(text: &str) -> Vec<(usize, &str)> {
    text.split('\n')
        .enumerate()
        .filter(|(_, line)| is_command_line(line.as_bytes()))
        .map(|(i, line)| (i + 1, line))
        .collect()
}

/// Whether a restore line is a command: not blank, not a `#` comment.
fn is_command_line(raw: &[u8]) -> bool {
    line_words(raw).next().is_some_and(|w| !w.starts_with(b"#"))
}

/// Parses one restore line as a separate command line. `words` is
/// scratch space kept from line to line, so that the words' buffers are
/// reused rather than allocated for every line; a line of UTF-8 text (the
/// usual case) is read in place without it.
pub fn check_line(
    prog: &str,
    raw: &[u8],
    words: &mut Vec<OsString>,
    resolver: &dyn Resolver,
) -> Result<Step, Failure> {
    use std::os::unix::ffi::OsStrExt;
    if let Ok(text) = std::str::from_utf8(raw) {
        return check_text_line(prog, text, resolver);
    }
    let mut n = 0;
    for w in line_words(raw) {
        let w = std::ffi::OsStr::from_bytes(w);
        match words.get_mut(n) {
            Some(slot) => {
                slot.clear();
                slot.push(w);
            }
            None => words.push(w.to_os_string()),
        }
        n += 1;
    }
    let inv = parse::parse(prog, words.get(..n).unwrap_or(&[]), resolver)?;
    step_of(prog, inv)
}

/// [`check_line`] for a line of UTF-8 text, read in place.
pub fn check_text_line(prog: &str, text: &str, resolver: &dyn Resolver) -> Result<Step, Failure> {
    let mut strs: [&str; 16] = [""; 16];
    let mut n = 0;
    let mut rest = line_str_words(text);
    for (slot, w) in strs.iter_mut().zip(rest.by_ref()) {
        *slot = w;
        n += 1;
    }
    let inv = if rest.next().is_none() {
        parse::parse_words(prog, strs.get(..n).unwrap_or(&[]), resolver)?
    } else {
        // Longer than any sensible line: collect them all.
        let all: Vec<&str> = line_str_words(text).collect();
        parse::parse_words(prog, &all, resolver)?
    };
    step_of(prog, inv)
}

/// Checks every command line of restore input: each good line's number
/// and step, and each bad line's number and failure, in line order. Text
/// (the usual case) is validated once, not line by line, and checked by
/// the engine ([`restore::check_lines`]), in parallel when it is large;
/// other input line by line here.
pub fn check_input(
    prog: &str,
    input: &[u8],
    resolver: &dyn Resolver,
) -> restore::Checked<Step, Failure> {
    match std::str::from_utf8(input) {
        Ok(text) => restore::check_lines(&restore_text_lines(text), |line| {
            check_text_line(prog, line, resolver)
        }),
        Err(_) => {
            let mut good = Vec::new();
            let mut failed = Vec::new();
            let mut words = Vec::new();
            for (number, raw) in restore_lines(input) {
                match check_line(prog, raw, &mut words, resolver) {
                    Ok(step) => good.push((number, step)),
                    Err(f) => failed.push((number, f)),
                }
            }
            restore::Checked {
                steps: good.into(),
                failed,
            }
        }
    }
}

/// The step of a parsed restore line; a nested restore is refused.
fn step_of(prog: &str, inv: Invocation) -> Result<Step, Failure> {
    if inv.command == Command::Restore {
        return Err(fail(
            255,
            &format!("Try `{prog} -h' or '{prog} --help' for more information."),
        ));
    }
    if inv.netns.is_some() {
        return Err(fail(
            2,
            "--netns is not allowed in restore input: give it to the restore itself",
        ));
    }
    Ok(into_step(inv))
}

/// The write request an invocation sends and the operation its errors are
/// described with, or `None` for commands that are not one table write
/// (listing, save, help, version, restore) or lack their object.
///
/// Restore batches the lines for which this is `Some`; a single command
/// line sends the very same request.
pub fn write_request(inv: &Invocation) -> Option<(Request, Op)> {
    match into_step(inv.clone()) {
        Step::Write(req, op) => Some((req, op)),
        Step::Run(_) => None,
    }
}

/// [`write_request`] taking the invocation (no copies): a write step, or
/// the invocation itself to run.
fn into_step(inv: Invocation) -> Step {
    use Command as C;
    let (req, op) = match inv {
        Invocation {
            command: C::AddService,
            service: Some(s),
            ..
        } => (Request::AddService(s), Op::AddService),
        Invocation {
            command: C::EditService,
            service: Some(s),
            ..
        } => (Request::EditService(s), Op::EditService),
        Invocation {
            command: C::DelService,
            service: Some(s),
            ..
        } => (Request::DelService(s), Op::DelService),
        Invocation {
            command: C::AddDest,
            service: Some(s),
            dest: Some(d),
            ..
        } => (Request::AddDest(s, d), Op::AddDest),
        Invocation {
            command: C::EditDest,
            service: Some(s),
            dest: Some(d),
            ..
        } => (Request::EditDest(s, d), Op::EditDest),
        Invocation {
            command: C::DelDest,
            service: Some(s),
            dest: Some(d),
            ..
        } => (Request::DelDest(s, d), Op::DelDest),
        Invocation {
            command: C::Flush, ..
        } => (Request::Flush, Op::Generic),
        Invocation {
            command: C::Zero,
            service,
            ..
        } => (Request::Zero(service), Op::Zero),
        Invocation {
            command: C::SetTimeouts,
            timeouts,
            ..
        } => (
            Request::SetTimeouts(timeouts.unwrap_or_default()),
            Op::Generic,
        ),
        Invocation {
            command: C::StartDaemon,
            daemon: Some(d),
            ..
        } => (Request::StartDaemon(d), Op::StartDaemon),
        Invocation {
            command: C::StopDaemon,
            daemon: Some(d),
            ..
        } => (Request::StopDaemon(d), Op::StopDaemon),
        other => return Step::Run(Box::new(other)),
    };
    Step::Write(req, op)
}
