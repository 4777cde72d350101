//! `ipvsadm-rs apply [--dry-run] [FILE]`: the front end of
//! [`crate::services::apply`]. It parses its arguments (clap), reads the
//! file in the save format (with ipvsadm's restore-line grammar,
//! [`crate::ipvsadm::lines`]), opens the kernel as ipvsadm does, and
//! prints the plan (`--dry-run`) or what the engine returns, with the
//! exit status. The diff is [`crate::services::plan`]; sending, undoing
//! and checking are the engine's.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;

use clap::Parser;
use comfy_table::{ContentArrangement, Table};

use crate::client::{Error, Request};
use crate::commands::args::parse;
use crate::ipvsadm::errors::{errno_of, ipvs_strerror, Op};
use crate::ipvsadm::lines::{self, Step};
use crate::ipvsadm::print;
use crate::ipvsadm::resolve::NumericResolver;
use crate::ipvsadm::startup;
use crate::model::{Dest, Service, ServiceEntry, ServiceKey};
use crate::services::apply::{self as engine, End, Failure, Outcome, UndoError};
use crate::services::plan::{Change, Kind};

/// The arguments of `apply`.
#[derive(Debug, Parser)]
#[command(
    name = "apply",
    about = "make the live table equal to a saved table, changing only what differs",
    long_about = "Make the live IPVS table equal to FILE (standard input when FILE is absent \
or -). FILE holds a table in the format ipvsadm-rs -S prints: -A lines for virtual services and \
-a lines for their real servers; blank lines and lines starting with # are skipped.\n\n\
The live table is read once and only what differs is changed: settings are edited in place \
(-E, -e), and services and real servers are added or deleted only when one side lacks them. The \
table is never flushed, so connections through services that stay are kept. The changes go to \
the kernel in one batch; if it refuses any of them, those that were made are undone and the \
table is left as it was.",
    override_usage = "ipvsadm-rs apply [--dry-run] [FILE]",
    after_long_help = "Exit status:\n  \
0  the table matches FILE (changes applied, or nothing to do)\n  \
1  the kernel refused a change (all undone), or the table could not be read\n  \
2  bad usage, or a bad line in FILE (nothing sent)\n  \
3  the kernel refused a change and undoing it failed: the table is neither as it was nor \
as FILE asks (what is left is printed)"
)]
pub struct Args {
    /// Print the changes as ipvsadm command lines (a table on a terminal);
    /// send nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The table to apply, in the save format (standard input when absent
    /// or -).
    #[arg(value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub file: Option<PathBuf>,
}

/// Runs `apply` when `args` (the words after the program name) start with
/// the word `apply`; `None` otherwise.
pub fn dispatch(
    prog: &str,
    args: &[OsString],
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Option<i32> {
    if args.first()?.to_str()? != "apply" {
        return None;
    }
    Some(run(prog, args.get(1..).unwrap_or(&[]), stdin, out, err))
}

/// `ipvsadm-rs apply ARGS...` (the words after `apply`). A usage error
/// is clap's message on `err` and status 2; `--help` goes to `out`.
pub fn run(
    prog: &str,
    args: &[OsString],
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let a: Args = match parse(prog, "apply", args, out, err) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let file = a.file.filter(|f| f.as_os_str() != "-");
    let mut input = Vec::new();
    let read = match &file {
        Some(path) => std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut input)),
        None => stdin.read_to_end(&mut input),
    };
    if let Err(e) = read {
        let name = file
            .as_deref()
            .map_or("standard input".into(), |p| p.to_string_lossy());
        let _ = writeln!(err, "{prog} apply: cannot read {name}: {e}");
        return 2;
    }
    let desired = match desired_table(prog, &input, err) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let mut client = match startup::open(err) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let terminal = std::io::stdout().is_terminal();
    apply(&mut client, &desired, a.dry_run, terminal, out, err)
}

/// Reads an apply file into the table it describes. Every bad line is
/// reported as `line N: MESSAGE` (in line order) and then the status, 2,
/// is returned: a parse error, a command other than `-A`/`-a`, a service
/// or real server given twice, a real server whose service has no `-A`.
fn desired_table(prog: &str, input: &[u8], err: &mut dyn Write) -> Result<Vec<ServiceEntry>, i32> {
    let mut entries: Vec<ServiceEntry> = Vec::new();
    // Service key -> (its line, its index in `entries`).
    let mut services: HashMap<ServiceKey, (usize, usize)> = HashMap::new();
    let mut dest_lines: Vec<(usize, ServiceKey, Dest)> = Vec::new();
    let mut bad: Vec<(usize, String)> = Vec::new();
    // Every line is checked as a restore checks it (by the same engine).
    let checked = lines::check_input(prog, input, &crate::ipvsadm::resolve::SystemResolver);
    for (n, f) in checked.failed {
        bad.push((n, f.stderr.trim_end_matches('\n').to_string()));
    }
    for (n, step) in checked.steps {
        match step {
            Step::Write(Request::AddService(s), _) => match services.get(&s.key) {
                Some((first, _)) => bad.push((
                    n,
                    format!("this service is already defined on line {first}"),
                )),
                None => {
                    services.insert(s.key, (n, entries.len()));
                    entries.push(ServiceEntry {
                        service: s,
                        dests: Vec::new(),
                    });
                }
            },
            Step::Write(Request::AddDest(s, d), _) => dest_lines.push((n, s.key, d)),
            _ => bad.push((
                n,
                "only -A (add-service) and -a (add-server) lines belong in an apply file"
                    .to_string(),
            )),
        }
    }
    let mut dests_seen: HashMap<(ServiceKey, std::net::IpAddr, u16), usize> = HashMap::new();
    for (n, key, d) in dest_lines {
        let Some(&(_, idx)) = services.get(&key) else {
            bad.push((
                n,
                "the service of this real server has no -A line".to_string(),
            ));
            continue;
        };
        if let Some(first) = dests_seen.get(&(key, d.addr, d.port)) {
            bad.push((
                n,
                format!("this real server is already defined on line {first}"),
            ));
            continue;
        }
        dests_seen.insert((key, d.addr, d.port), n);
        if let Some(e) = entries.get_mut(idx) {
            e.dests.push(d);
        }
    }
    if bad.is_empty() {
        return Ok(entries);
    }
    bad.sort_by_key(|(n, _)| *n);
    for (n, msg) in &bad {
        let _ = writeln!(err, "line {n}: {msg}");
    }
    let _ = writeln!(
        err,
        "apply: {} bad line{}, nothing applied",
        bad.len(),
        if bad.len() == 1 { "" } else { "s" }
    );
    Err(2)
}

/// The lines `-S -n` prints for one service and the given destinations.
fn save_lines(service: &Service, dests: &[Dest]) -> Vec<String> {
    let mut buf = Vec::new();
    let entry = ServiceEntry {
        service: service.clone(),
        dests: dests.to_vec(),
    };
    let _ = print::save_table(
        &mut buf,
        std::slice::from_ref(&entry),
        true,
        &NumericResolver,
    );
    String::from_utf8_lossy(&buf)
        .lines()
        .map(str::to_string)
        .collect()
}

/// `-A SPEC -s ...` for a service.
fn service_line(s: &Service) -> String {
    save_lines(s, &[]).into_iter().next().unwrap_or_default()
}

/// The service part of a save line (`-t 10.0.0.1:80`, `-f 1 -6`).
fn service_spec(s: &Service) -> String {
    let line = service_line(s);
    let rest = line.strip_prefix("-A ").unwrap_or(&line);
    rest.split(" -s ").next().unwrap_or(rest).to_string()
}

/// `-a SPEC -r ...` for a destination of the service with this key.
fn dest_line(key: ServiceKey, d: &Dest) -> String {
    save_lines(&Service::new(key), std::slice::from_ref(d))
        .into_iter()
        .nth(1)
        .unwrap_or_default()
}

/// `line` with its first word (`-A`, `-a`) replaced by `command`.
fn with_command(command: &str, line: &str) -> String {
    match line.split_once(' ') {
        Some((_, rest)) => format!("{command} {rest}"),
        None => command.to_string(),
    }
}

/// A change as the ipvsadm command line that makes it, formatted as
/// `-S -n` formats its lines (numeric, every setting spelt out).
pub fn command_line(c: &Change) -> String {
    match c {
        Change::AddService(s) => service_line(s),
        Change::EditService { to, .. } => with_command("-E", &service_line(to)),
        Change::DelService(e) => format!("-D {}", service_spec(&e.service)),
        Change::AddDest(k, d) => dest_line(*k, d),
        Change::EditDest { service, to, .. } => with_command("-e", &dest_line(*service, to)),
        Change::DelDest(k, d) => {
            let line = dest_line(*k, d);
            let real = line
                .split(" -r ")
                .nth(1)
                .and_then(|r| r.split(' ').next())
                .unwrap_or("");
            format!("-d {} -r {real}", service_spec(&Service::new(*k)))
        }
    }
}

/// The operation whose error texts describe a failed change.
fn op_of(c: &Change) -> Op {
    match c {
        Change::AddService(_) => Op::AddService,
        Change::EditService { .. } => Op::EditService,
        Change::DelService(_) => Op::DelService,
        Change::AddDest(..) => Op::AddDest,
        Change::EditDest { .. } => Op::EditDest,
        Change::DelDest(..) => Op::DelDest,
    }
}

/// `3 changes (1 added, 1 edited, 1 deleted)`, naming only the kinds
/// present.
fn summary(changes: &[Change]) -> String {
    let count = |k: Kind| changes.iter().filter(|c| c.kind() == k).count();
    let parts: Vec<String> = [
        (Kind::Added, "added"),
        (Kind::Edited, "edited"),
        (Kind::Deleted, "deleted"),
    ]
    .iter()
    .filter_map(|&(k, word)| {
        let n = count(k);
        (n > 0).then(|| format!("{n} {word}"))
    })
    .collect();
    format!(
        "{} change{} ({})",
        changes.len(),
        if changes.len() == 1 { "" } else { "s" },
        parts.join(", ")
    )
}

/// A failed change and ipvsadm's text for its error.
fn refusal(c: &Change, e: &Error) -> String {
    format!(
        "{}: {}",
        command_line(c),
        ipvs_strerror(op_of(c), errno_of(e))
    )
}

/// What a change does, in words: `add service`, `delete real server`.
fn change_word(c: &Change) -> &'static str {
    match c {
        Change::AddService(_) => "add service",
        Change::EditService { .. } => "edit service",
        Change::DelService(_) => "delete service",
        Change::AddDest(..) => "add real server",
        Change::EditDest { .. } => "edit real server",
        Change::DelDest(..) => "delete real server",
    }
}

/// The `--dry-run` plan as it goes to standard output: off a terminal one
/// command line per change, plain and stable for scripts (the lines read
/// back with `-R`); on a terminal a table (comfy-table, no colours) that
/// numbers the changes and says what each does.
pub fn render_plan(changes: &[Change], terminal: bool) -> String {
    if !terminal {
        let mut text = String::new();
        for c in changes {
            text.push_str(&command_line(c));
            text.push('\n');
        }
        return text;
    }
    let mut t = Table::new();
    t.load_preset(comfy_table::presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(vec!["#", "CHANGE", "COMMAND"]);
    for (i, c) in changes.iter().enumerate() {
        t.add_row(vec![
            (i + 1).to_string(),
            change_word(c).to_string(),
            command_line(c),
        ]);
    }
    // Without the padding comfy-table leaves at the ends of the lines.
    let mut text = String::new();
    for line in t.to_string().lines() {
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// Reads the live table, plans, and prints (`dry_run`, as a table when
/// `terminal`) or applies the plan, reporting what the engine returns;
/// returns the exit status (see [`Args`]).
pub(crate) fn apply(
    table: &mut dyn engine::Table,
    desired: &[ServiceEntry],
    dry_run: bool,
    terminal: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let planned = match engine::plan(table, desired) {
        Ok(p) => p,
        Err(e) => {
            let _ = writeln!(
                err,
                "apply: cannot read the IPVS table: {}",
                ipvs_strerror(Op::GetService, errno_of(&e))
            );
            return 1;
        }
    };
    let (start, changes) = (&planned.start, &planned.changes);
    if changes.is_empty() {
        let dests: usize = start.iter().map(|e| e.dests.len()).sum();
        let _ = writeln!(
            err,
            "apply: nothing to do: the table already matches ({} service{}, {} real server{})",
            start.len(),
            if start.len() == 1 { "" } else { "s" },
            dests,
            if dests == 1 { "" } else { "s" }
        );
        return 0;
    }
    if dry_run {
        let text = render_plan(changes, terminal);
        if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            let _ = writeln!(err, "apply: write error: {e}");
            return 1;
        }
        let _ = writeln!(err, "apply: dry run: {}, nothing sent", summary(changes));
        return 0;
    }
    let outcome = engine::apply(table, &planned);
    report(changes, &outcome, err)
}

/// Prints what sending the plan came to; returns the exit status: 0
/// applied, 1 refused and rolled back, 3 rollback failed or unverified.
fn report(changes: &[Change], outcome: &Outcome, err: &mut dyn Write) -> i32 {
    let (failure, rollback) = match outcome {
        Outcome::Applied => {
            let _ = writeln!(err, "apply: {}", summary(changes));
            return 0;
        }
        Outcome::Failed { failure, rollback } => (failure, rollback),
    };
    match failure {
        Failure::Refused(refused) => {
            let _ = writeln!(
                err,
                "apply: the kernel refused {} of {} changes:",
                refused.len(),
                changes.len()
            );
            for (c, e) in refused {
                let _ = writeln!(err, "apply:   {}", refusal(c, e));
            }
        }
        Failure::BatchLost(e) => {
            let _ = writeln!(
                err,
                "apply: the batch of {} changes failed ({e}); the kernel may have applied part of it",
                changes.len()
            );
        }
    }
    if let End::CannotRead(e) = &rollback.end {
        let _ = writeln!(
            err,
            "apply: ROLLBACK FAILED: cannot read the table to undo the changes: {}",
            ipvs_strerror(Op::GetService, errno_of(e))
        );
        return 3;
    }
    if let Some(applied) = rollback.undoing {
        let _ = writeln!(
            err,
            "apply: undoing the {applied} change{} that went through",
            if applied == 1 { "" } else { "s" }
        );
    }
    let undo_failed: Vec<String> = rollback
        .undo_errors
        .iter()
        .map(|u| match u {
            UndoError::Refused(c, e) => refusal(c, e),
            UndoError::BatchFailed(e) => format!("the undo batch failed: {e}"),
        })
        .collect();
    match &rollback.end {
        End::AsItWas => {
            for f in &undo_failed {
                let _ = writeln!(err, "apply: (undo refused, but not needed: {f})");
            }
            let _ = writeln!(err, "apply: rolled back: the table is as it was");
            1
        }
        End::CannotRead(_) => 3,
        End::Unverified(e) => {
            let _ = writeln!(
                err,
                "apply: ROLLBACK UNVERIFIED: cannot read the table back: {}",
                ipvs_strerror(Op::GetService, errno_of(e))
            );
            for f in &undo_failed {
                let _ = writeln!(err, "apply:   could not undo: {f}");
            }
            3
        }
        End::Left(left) => {
            let _ = writeln!(
                err,
                "apply: ROLLBACK FAILED: the table is NOT as it was before apply"
            );
            for f in &undo_failed {
                let _ = writeln!(err, "apply:   could not undo: {f}");
            }
            let _ = writeln!(
                err,
                "apply: {} difference{} left; these commands would restore the table:",
                left.len(),
                if left.len() == 1 { "" } else { "s" }
            );
            for c in left {
                let _ = writeln!(err, "apply:   ipvsadm-rs {}", command_line(c));
            }
            3
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::apply::fake::Fake;
    use crate::services::plan::{self, sim::Sim};
    use std::io;

    fn table_of(text: &str) -> Vec<ServiceEntry> {
        let mut err = Vec::new();
        match desired_table("ipvsadm", text.as_bytes(), &mut err) {
            Ok(t) => t,
            Err(_) => panic!("{}", String::from_utf8_lossy(&err)),
        }
    }

    const LIVE: &str = "\
-A -t 10.0.0.1:80 -s rr
-a -t 10.0.0.1:80 -r 10.1.0.1:8080 -m -w 1
-a -t 10.0.0.1:80 -r 10.1.0.2:8080 -m -w 1
-A -t 10.0.0.1:443 -s sh -p 300 -b sh-port
-a -t 10.0.0.1:443 -r 10.1.0.1:443 -g -w 1
-A -u 10.0.0.1:53 -s rr
-a -u 10.0.0.1:53 -r 10.1.0.1:53 -m -w 1
";

    const WANT: &str = "\
# The desired table.
-A -t 10.0.0.1:80 -s wlc
-a -t 10.0.0.1:80 -r 10.1.0.1:8080 -m -w 3

-a -t 10.0.0.1:80 -r 10.1.0.3:8080 -m -w 1 -x 100 -y 10
-A -t 10.0.0.1:443 -s sh -p 300 -b sh-port
-a -t 10.0.0.1:443 -r 10.1.0.1:443 -g -w 1
-A -f 7 -s rr
-a -f 7 -r 10.1.0.7:0 -i -w 2 --tun-type gue --tun-port 6080 --tun-csum
";

    /// Runs `apply` of `want` on a simulated kernel holding `live`.
    fn run_apply(sim: Sim, want: &str, dry_run: bool) -> (Fake, String, String, i32) {
        run_fake(Fake::new(sim), want, dry_run)
    }

    fn run_fake(mut fake: Fake, want: &str, dry_run: bool) -> (Fake, String, String, i32) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = apply(
            &mut fake,
            &table_of(want),
            dry_run,
            false,
            &mut out,
            &mut err,
        );
        (
            fake,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
            code,
        )
    }

    fn save(t: &[ServiceEntry]) -> String {
        let mut t = t.to_vec();
        print::sort_entries(&mut t);
        let mut buf = Vec::new();
        print::save_table(&mut buf, &t, true, &NumericResolver).unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn dry_run_prints_command_lines_and_sends_nothing() {
        let (fake, out, err, code) = run_apply(Sim::new(table_of(LIVE)), WANT, true);
        assert_eq!(code, 0, "{err}");
        assert_eq!(
            out,
            "-d -t 10.0.0.1:80 -r 10.1.0.2:8080\n\
             -E -t 10.0.0.1:80 -s wlc\n\
             -D -u 10.0.0.1:53\n\
             -A -f 7 -s rr\n\
             -e -t 10.0.0.1:80 -r 10.1.0.1:8080 -m -w 3\n\
             -a -t 10.0.0.1:80 -r 10.1.0.3:8080 -m -w 1 -x 100 -y 10\n\
             -a -f 7 -r 10.1.0.7:0 -i -w 2 --tun-type gue --tun-port 6080 --tun-csum\n"
        );
        assert_eq!(
            err,
            "apply: dry run: 7 changes (3 added, 2 edited, 2 deleted), nothing sent\n"
        );
        assert!(fake.sim.sent.is_empty());
        assert_eq!(fake.sends, 0);
    }

    #[test]
    fn dry_run_plan_is_a_table_on_a_terminal_and_plain_lines_off_it() {
        let changes = plan::plan(&table_of(LIVE), &table_of(WANT));
        let plain = render_plan(&changes, false);
        let lines: Vec<String> = changes.iter().map(command_line).collect();
        assert_eq!(plain, format!("{}\n", lines.join("\n")));
        let table = render_plan(&changes, true);
        let rows: Vec<&str> = table.lines().collect();
        assert_eq!(rows.len(), 1 + changes.len(), "{table}");
        let header: Vec<&str> = rows[0].split_whitespace().collect();
        assert_eq!(header, ["#", "CHANGE", "COMMAND"]);
        assert!(
            rows[1]
                .trim_start()
                .starts_with("1  delete real server  -d -t 10.0.0.1:80 -r 10.1.0.2:8080"),
            "{table}"
        );
        assert!(rows[7].contains("7  add real server"), "{table}");
        // Every command line is in the table whole, and the commands start
        // in one column.
        let col = rows[1].find("-d -t").unwrap();
        for (row, line) in rows[1..].iter().zip(&lines) {
            assert_eq!(
                row.get(col..).map(str::trim_end),
                Some(line.as_str()),
                "{table}"
            );
        }
        // No colour codes.
        assert!(!table.contains('\x1b'));
    }

    #[test]
    fn dry_run_lines_read_back_as_the_same_changes() {
        // Each printed line parses to the request the change sends.
        let changes = plan::plan(&table_of(LIVE), &table_of(WANT));
        let mut words = Vec::new();
        for c in &changes {
            let line = command_line(c);
            match lines::check_line(
                "ipvsadm",
                line.as_bytes(),
                &mut words,
                &crate::ipvsadm::resolve::NumericResolver,
            ) {
                Ok(Step::Write(req, _)) => {
                    let want = c.request();
                    let same = match (&req, &want) {
                        (Request::DelService(a), Request::DelService(b)) => a.key == b.key,
                        (Request::DelDest(a, x), Request::DelDest(b, y)) => {
                            a.key == b.key && (x.addr, x.port) == (y.addr, y.port)
                        }
                        (Request::AddDest(a, x), Request::AddDest(b, y))
                        | (Request::EditDest(a, x), Request::EditDest(b, y)) => {
                            a.key == b.key && x == y
                        }
                        _ => req == want,
                    };
                    assert!(same, "{line}: {req:?} vs {want:?}");
                }
                _ => panic!("{line}"),
            }
        }
    }

    #[test]
    fn apply_converges_and_second_run_has_nothing_to_do() {
        let (fake, out, err, code) = run_apply(Sim::new(table_of(LIVE)), WANT, false);
        assert_eq!((code, out.as_str()), (0, ""), "{err}");
        assert_eq!(err, "apply: 7 changes (3 added, 2 edited, 2 deleted)\n");
        assert_eq!(fake.sends, 1);
        assert_eq!(save(&fake.sim.table), save(&table_of(WANT)));
        let (fake2, out, err, code) = run_apply(fake.sim, WANT, false);
        assert_eq!((code, out.as_str()), (0, ""));
        assert_eq!(
            err,
            "apply: nothing to do: the table already matches (3 services, 4 real servers)\n"
        );
        assert_eq!(fake2.sends, 0);
    }

    #[test]
    fn a_refused_change_is_rolled_back() {
        let want = WANT.replace("-A -t 10.0.0.1:443 -s sh", "-A -t 10.0.0.1:443 -s nosuch");
        let want = want.replace(" -b sh-port", "");
        let live = table_of(LIVE);
        let (fake, out, err, code) = run_apply(Sim::new(live.clone()), &want, false);
        assert_eq!((code, out.as_str()), (1, ""));
        assert_eq!(
            err,
            "apply: the kernel refused 1 of 8 changes:\n\
             apply:   -E -t 10.0.0.1:443 -s nosuch -p 300: Scheduler or persistence engine not found\n\
             apply: undoing the 7 changes that went through\n\
             apply: rolled back: the table is as it was\n"
        );
        assert_eq!(save(&fake.sim.table), save(&live));
        // One batch, one undo batch.
        assert_eq!(fake.sends, 2);
        // The undo is the reverse of what succeeded, the refused one left out.
        let sent = &fake.sim.sent;
        // (The deleted UDP service comes back with its real server.)
        assert_eq!(sent.len(), 8 + 8);
        assert!(matches!(sent[8], Request::DelDest(..)));
        assert!(matches!(sent[15], Request::AddDest(..)));
    }

    #[test]
    fn a_failed_rollback_is_loud_and_says_what_is_left() {
        let want = WANT.replace("-A -f 7 -s rr", "-A -f 7 -s nosuch");
        // The kernel also refuses to undo the edit of 10.0.0.1:80's
        // scheduler (request 8 counts from the start of the first batch).
        let mut sim = Sim::new(table_of(LIVE));
        sim.refuse = Box::new(|n, req| match req {
            Request::EditService(s) if n >= 7 && s.scheduler == "rr" => Some(libc::ENOMEM),
            _ => None,
        });
        let (fake, _, err, code) = run_apply(sim, &want, false);
        assert_eq!(code, 3, "{err}");
        assert!(
            err.contains("apply:   -A -f 7 -s nosuch: Scheduler or persistence engine not found\n"),
            "{err}"
        );
        assert!(err.contains("apply: ROLLBACK FAILED: the table is NOT as it was before apply\n"));
        assert!(
            err.contains(
                "apply:   could not undo: -E -t 10.0.0.1:80 -s rr: Memory allocation problem\n"
            ),
            "{err}"
        );
        assert!(
            err.ends_with(
                "apply: 1 difference left; these commands would restore the table:\n\
             apply:   ipvsadm-rs -E -t 10.0.0.1:80 -s rr\n"
            ),
            "{err}"
        );
        assert_eq!(fake.sim.table.len(), 3);
    }

    #[test]
    fn a_lost_batch_is_undone_from_a_fresh_read() {
        let live = table_of(LIVE);
        let mut fake = Fake::new(Sim::new(live.clone()));
        fake.lose = Some(0);
        let (fake, _, err, code) = run_fake(fake, WANT, false);
        assert_eq!(code, 1, "{err}");
        assert!(
            err.starts_with("apply: the batch of 7 changes failed (netlink I/O error"),
            "{err}"
        );
        assert!(
            err.ends_with("apply: rolled back: the table is as it was\n"),
            "{err}"
        );
        assert_eq!(save(&fake.sim.table), save(&live));
    }

    #[test]
    fn an_unreadable_table_after_a_refusal_is_unverified() {
        let want = WANT.replace("-A -f 7 -s rr", "-A -f 7 -s nosuch");
        let mut fake = Fake::new(Sim::new(table_of(LIVE)));
        fake.unreadable = true;
        let (_, _, err, code) = run_fake(fake, &want, false);
        assert_eq!(code, 3);
        assert!(err.contains("apply: ROLLBACK UNVERIFIED: cannot read the table back: Permission denied (you must be root)\n"), "{err}");
    }

    #[test]
    fn bad_files_are_refused_with_line_numbers() {
        let text = "\
-A -t 10.0.0.1:80 -s rr
-a -t 10.0.0.1:80 -r 10.1.0.1 -w x
-C
-A -t 10.0.0.1:80 -s wlc
# fine
-a -t 10.0.0.2:80 -r 10.1.0.1
-a -t 10.0.0.1:80 -r 10.1.0.2
-a -t 10.0.0.1:80 -r 10.1.0.2 -w 3
-E -t 10.0.0.1:80 -s rr
-L -n
";
        let mut err = Vec::new();
        assert_eq!(
            desired_table("ipvsadm", text.as_bytes(), &mut err).err(),
            Some(2)
        );
        assert_eq!(
            String::from_utf8(err).unwrap(),
            "line 2: illegal weight specified\n\
             line 3: only -A (add-service) and -a (add-server) lines belong in an apply file\n\
             line 4: this service is already defined on line 1\n\
             line 6: the service of this real server has no -A line\n\
             line 8: this real server is already defined on line 7\n\
             line 9: only -A (add-service) and -a (add-server) lines belong in an apply file\n\
             line 10: only -A (add-service) and -a (add-server) lines belong in an apply file\n\
             apply: 7 bad lines, nothing applied\n"
        );
    }

    #[test]
    fn an_empty_file_empties_the_table_without_a_flush() {
        let (fake, _, err, code) = run_apply(Sim::new(table_of(LIVE)), "# nothing\n", false);
        assert_eq!(code, 0);
        assert_eq!(err, "apply: 3 changes (3 deleted)\n");
        assert!(fake.sim.table.is_empty());
        assert!(fake
            .sim
            .sent
            .iter()
            .all(|r| matches!(r, Request::DelService(_))));
    }

    #[test]
    fn arguments() {
        let p = |v: &[&str]| {
            Args::try_parse_from(std::iter::once("ipvsadm-rs apply").chain(v.iter().copied()))
                .map(|a| (a.dry_run, a.file))
                .map_err(|e| e.kind())
        };
        assert_eq!(p(&[]), Ok((false, None)));
        assert_eq!(p(&["-"]), Ok((false, Some("-".into()))));
        assert_eq!(
            p(&["--dry-run", "x.rules"]),
            Ok((true, Some("x.rules".into())))
        );
        assert_eq!(p(&["--", "-odd"]), Ok((false, Some("-odd".into()))));
        assert_eq!(p(&["-h"]).err(), Some(clap::error::ErrorKind::DisplayHelp));
        assert_eq!(
            p(&["-n"]).err(),
            Some(clap::error::ErrorKind::UnknownArgument)
        );
        assert_eq!(
            p(&["a", "b"]).err(),
            Some(clap::error::ErrorKind::UnknownArgument)
        );
    }

    #[test]
    fn dispatch_only_takes_apply() {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut stdin = io::empty();
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(dispatch("ipvsadm-rs", &args(&["-L"]), &mut stdin, &mut out, &mut err).is_none());
        assert!(dispatch("ipvsadm-rs", &[], &mut stdin, &mut out, &mut err).is_none());
        assert_eq!(
            dispatch(
                "ipvsadm-rs",
                &args(&["apply", "--help"]),
                &mut stdin,
                &mut out,
                &mut err
            ),
            Some(0)
        );
        let help = String::from_utf8(std::mem::take(&mut out)).unwrap();
        assert!(
            help.starts_with("Make the live IPVS table equal to FILE"),
            "{help}"
        );
        assert!(help.contains("\nUsage: ipvsadm-rs apply [--dry-run] [FILE]\n"));
        assert!(help.contains("  --dry-run\n"), "{help}");
        assert!(help.contains("Exit status:\n  0  the table matches FILE"));
        assert!(help.contains("  3  the kernel refused a change and undoing it failed"));
        assert_eq!(
            dispatch(
                "ipvsadm-rs",
                &args(&["apply", "--bogus"]),
                &mut stdin,
                &mut out,
                &mut err
            ),
            Some(2)
        );
        assert!(out.is_empty());
        let text = String::from_utf8(std::mem::take(&mut err)).unwrap();
        assert!(
            text.starts_with("error: unexpected argument '--bogus' found\n"),
            "{text}"
        );
        assert!(text.contains("Usage: ipvsadm-rs apply [--dry-run] [FILE]\n"));
        assert_eq!(
            dispatch(
                "ipvsadm-rs",
                &args(&["apply", "a.rules", "b.rules"]),
                &mut stdin,
                &mut out,
                &mut err
            ),
            Some(2)
        );
        assert_eq!(
            dispatch(
                "ipvsadm-rs",
                &args(&["apply", "/nonexistent/no-such.rules"]),
                &mut stdin,
                &mut out,
                &mut err
            ),
            Some(2)
        );
        assert!(String::from_utf8(std::mem::take(&mut err))
            .unwrap()
            .ends_with("ipvsadm-rs apply: cannot read /nonexistent/no-such.rules: No such file or directory (os error 2)\n"));
        // A bad file is refused before the kernel is asked anything.
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut stdin: &[u8] = b"-C\n";
        assert_eq!(
            dispatch(
                "ipvsadm-rs",
                &args(&["apply"]),
                &mut stdin,
                &mut out,
                &mut err
            ),
            Some(2)
        );
        assert!(String::from_utf8(err)
            .unwrap()
            .starts_with("line 1: only -A"));
    }

    #[test]
    fn command_lines_for_every_kind() {
        let t = table_of(
            "-A -f 1 -6 -s rr\n-a -f 1 -6 -r [2001:db8::1]:0 -g -w 1\n-A -t [2001:db8::10]:80 -s rr -p 60 -M 64\n",
        );
        let d = t[0].dests[0].clone();
        let k = t[0].service.key;
        assert_eq!(
            command_line(&Change::DelDest(k, d.clone())),
            "-d -f 1 -6 -r [2001:db8::1]:0"
        );
        assert_eq!(
            command_line(&Change::AddDest(k, d.clone())),
            "-a -f 1 -6 -r [2001:db8::1]:0 -g -w 1"
        );
        assert_eq!(
            command_line(&Change::DelService(t[0].clone())),
            "-D -f 1 -6"
        );
        assert_eq!(
            command_line(&Change::AddService(t[1].service.clone())),
            "-A -t [2001:db8::10]:80 -s rr -p 60 -M 64"
        );
        assert_eq!(
            command_line(&Change::EditService {
                from: t[0].service.clone(),
                to: t[1].service.clone()
            }),
            "-E -t [2001:db8::10]:80 -s rr -p 60 -M 64"
        );
    }
}
