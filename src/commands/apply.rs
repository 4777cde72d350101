//! `ipvsadm-rs apply [--dry-run] [FILE]`: makes the live table equal to a
//! file in the save format with the fewest writes, never a flush, and
//! undoes what it did when the kernel refuses part of it.
//!
//! The diff itself is [`crate::services::plan`]; this module reads the file (with
//! the restore line parser), reads the live table once, prints or sends
//! the plan, and rolls back.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{Read, Write};

use clap::Parser;

use crate::client::{Client, Error, Request};
use crate::commands::args::parse;
use crate::ipvsadm::errors::{ipvs_strerror, Op};
use crate::ipvsadm::print;
use crate::ipvsadm::resolve::NumericResolver;
use crate::ipvsadm::run::{self, Step};
use crate::model::{Dest, Service, ServiceEntry, ServiceKey};
use crate::services::plan::{self, Change, Kind};

/// Where `apply` reads the live table and sends its changes: the kernel
/// in real use, an in-memory table in tests.
pub(crate) trait Table {
    /// The whole table, services in listing order.
    fn read(&mut self) -> Result<Vec<ServiceEntry>, Error>;
    /// Sends the requests as one batch; one result per request.
    fn send(&mut self, reqs: &[Request]) -> Result<Vec<Result<(), Error>>, Error>;
}

impl Table for Client {
    fn read(&mut self) -> Result<Vec<ServiceEntry>, Error> {
        let mut services = self.services()?;
        services.sort_by_key(|s| plan::service_order(&s.key));
        let mut table = Vec::with_capacity(services.len());
        for service in services {
            let dests = self.dests(&service)?;
            table.push(ServiceEntry { service, dests });
        }
        Ok(table)
    }

    fn send(&mut self, reqs: &[Request]) -> Result<Vec<Result<(), Error>>, Error> {
        self.batch(reqs)
    }
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

/// The arguments of `apply` (the source of its `--help`, of its row on
/// the `-h` screen, of its man page section and of its completions).
#[derive(Debug, Parser)]
#[command(
    name = "apply",
    about = "make the live table equal to a saved table, changing only what differs",
    long_about = "Reads a table in the save format (-A and -a lines as ipvsadm-rs -S prints \
them; blank lines and # comments allowed) from FILE, or standard input when FILE is absent or -, \
and makes the live table equal to it with the fewest changes: settings are edited in place, \
services and real servers are added or deleted only where one side lacks them, and the table is \
never flushed, so connections through the services that stay are kept. The changes go to the \
kernel in one batch; if the kernel refuses any of them, the ones already made are undone in \
reverse order and the table is left as it was. Applying the same file twice changes nothing \
the second time.",
    override_usage = "ipvsadm-rs apply [--dry-run] [FILE]",
    after_long_help = "Exit status:
  0  the table matches FILE (changes applied, or nothing to do)
  1  the kernel refused a change and all changes were undone, or the
     table could not be read
  2  bad usage, or a bad line in FILE (nothing sent)
  3  a change was refused and undoing failed: the table is neither as it
     was nor as FILE asks (what is left is printed)"
)]
pub struct Args {
    /// Print the changes as ipvsadm command lines and send nothing.
    #[arg(long)]
    dry_run: bool,
    /// The table to apply; standard input when absent or -.
    #[arg(value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    file: Option<OsString>,
}

impl Args {
    /// The file to read; `None` for standard input.
    fn file(&self) -> Option<&OsString> {
        self.file.as_ref().filter(|f| *f != "-")
    }
}

/// `ipvsadm-rs apply ARGS...` (the words after `apply`).
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
    let mut input = Vec::new();
    let read = match a.file() {
        Some(path) => std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut input)),
        None => stdin.read_to_end(&mut input),
    };
    if let Err(e) = read {
        let name = a
            .file()
            .map_or("standard input".into(), |p| p.to_string_lossy());
        let _ = writeln!(err, "{prog} apply: cannot read {name}: {e}");
        return 2;
    }
    let desired = match desired_table(prog, &input, err) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let mut session = match run::init(err, false) {
        Ok(s) => s,
        Err(code) => return code,
    };
    apply(&mut session.client, &desired, a.dry_run, out, err)
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
    let mut words = Vec::new();
    for (n, raw) in run::restore_lines(input) {
        match run::check_line(
            prog,
            raw,
            &mut words,
            &crate::ipvsadm::resolve::SystemResolver,
        ) {
            Err(f) => bad.push((n, f.stderr.trim_end_matches('\n').to_string())),
            Ok(Step::Write(Request::AddService(s), _)) => match services.get(&s.key) {
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
            Ok(Step::Write(Request::AddDest(s, d), _)) => dest_lines.push((n, s.key, d)),
            Ok(_) => bad.push((
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
        ipvs_strerror(op_of(c), run::errno_of(e))
    )
}

/// Reads the live table, plans, and prints or applies the plan; returns
/// the exit status (see [`Args`]'s `after_long_help`).
pub(crate) fn apply(
    table: &mut dyn Table,
    desired: &[ServiceEntry],
    dry_run: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let start = match table.read() {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(
                err,
                "apply: cannot read the IPVS table: {}",
                ipvs_strerror(Op::GetService, run::errno_of(&e))
            );
            return 1;
        }
    };
    let changes = plan::plan(&start, desired);
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
        let mut text = String::new();
        for c in &changes {
            text.push_str(&command_line(c));
            text.push('\n');
        }
        if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            let _ = writeln!(err, "apply: write error: {e}");
            return 1;
        }
        let _ = writeln!(err, "apply: dry run: {}, nothing sent", summary(&changes));
        return 0;
    }
    let reqs: Vec<Request> = changes.iter().map(Change::request).collect();
    match table.send(&reqs) {
        Ok(results) => {
            let mut applied = Vec::new();
            let mut refused = Vec::new();
            for (c, r) in changes.iter().zip(&results) {
                match r {
                    Ok(()) => applied.push(c.clone()),
                    Err(e) => refused.push(refusal(c, e)),
                }
            }
            if refused.is_empty() && results.len() == changes.len() {
                let _ = writeln!(err, "apply: {}", summary(&changes));
                return 0;
            }
            let _ = writeln!(
                err,
                "apply: the kernel refused {} of {} changes:",
                refused.len(),
                changes.len()
            );
            for r in &refused {
                let _ = writeln!(err, "apply:   {r}");
            }
            roll_back(
                table,
                &start,
                Some((applied.len(), plan::undo(&applied))),
                err,
            )
        }
        Err(e) => {
            let _ = writeln!(
                err,
                "apply: the batch of {} changes failed ({e}); the kernel may have applied part of it",
                changes.len()
            );
            roll_back(table, &start, None, err)
        }
    }
}

/// Puts the table back as it was at `start`: with `undo` (how many changes
/// were applied, and their inverses in order) when it is known which
/// changes were applied, otherwise with a fresh plan from the table as it
/// is now. Then
/// reads the table again and compares it with `start`. Returns 1 when the
/// table is as it was, 3 (with a loud report of what is left) when not.
fn roll_back(
    table: &mut dyn Table,
    start: &[ServiceEntry],
    undo: Option<(usize, Vec<Change>)>,
    err: &mut dyn Write,
) -> i32 {
    let (applied, undo) = match undo {
        Some(u) => u,
        None => match table.read() {
            Ok(now) => {
                let back = plan::plan(&now, start);
                (back.len(), back)
            }
            Err(e) => {
                let _ = writeln!(
                    err,
                    "apply: ROLLBACK FAILED: cannot read the table to undo the changes: {}",
                    ipvs_strerror(Op::GetService, run::errno_of(&e))
                );
                return 3;
            }
        },
    };
    let mut undo_failed = Vec::new();
    if !undo.is_empty() {
        let _ = writeln!(
            err,
            "apply: undoing the {applied} change{} that went through",
            if applied == 1 { "" } else { "s" }
        );
        let reqs: Vec<Request> = undo.iter().map(Change::request).collect();
        match table.send(&reqs) {
            Ok(results) => {
                for (c, r) in undo.iter().zip(&results) {
                    if let Err(e) = r {
                        undo_failed.push(refusal(c, e));
                    }
                }
            }
            Err(e) => undo_failed.push(format!("the undo batch failed: {e}")),
        }
    }
    let left = match table.read() {
        Ok(now) => plan::plan(&now, start),
        Err(e) => {
            let _ = writeln!(
                err,
                "apply: ROLLBACK UNVERIFIED: cannot read the table back: {}",
                ipvs_strerror(Op::GetService, run::errno_of(&e))
            );
            for f in &undo_failed {
                let _ = writeln!(err, "apply:   could not undo: {f}");
            }
            return 3;
        }
    };
    if left.is_empty() {
        for f in &undo_failed {
            let _ = writeln!(err, "apply: (undo refused, but not needed: {f})");
        }
        let _ = writeln!(err, "apply: rolled back: the table is as it was");
        return 1;
    }
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
    for c in &left {
        let _ = writeln!(err, "apply:   ipvsadm-rs {}", command_line(c));
    }
    3
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::plan::sim::Sim;
    use std::io;

    /// The simulated kernel behind the `Table` trait; `lose` makes the
    /// numbered `send` (from 0) apply its first half and then fail as a
    /// broken socket would; `unreadable` makes reads after the first fail.
    struct Fake {
        sim: Sim,
        sends: usize,
        reads: usize,
        lose: Option<usize>,
        unreadable: bool,
    }

    impl Fake {
        fn new(sim: Sim) -> Fake {
            Fake {
                sim,
                sends: 0,
                reads: 0,
                lose: None,
                unreadable: false,
            }
        }
    }

    impl Table for Fake {
        fn read(&mut self) -> Result<Vec<ServiceEntry>, Error> {
            self.reads += 1;
            if self.unreadable && self.reads > 1 {
                return Err(Error::Kernel { errno: libc::EPERM });
            }
            let mut t = self.sim.table.clone();
            t.sort_by_key(|e| plan::service_order(&e.service.key));
            Ok(t)
        }

        fn send(&mut self, reqs: &[Request]) -> Result<Vec<Result<(), Error>>, Error> {
            let n = self.sends;
            self.sends += 1;
            if self.lose == Some(n) {
                let half = reqs.get(..reqs.len() / 2).unwrap();
                self.sim.batch(half);
                return Err(Error::Io(io::Error::from_raw_os_error(libc::ENOBUFS)));
            }
            Ok(self
                .sim
                .batch(reqs)
                .into_iter()
                .map(|r| r.map_err(|errno| Error::Kernel { errno }))
                .collect())
        }
    }

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
        let code = apply(&mut fake, &table_of(want), dry_run, &mut out, &mut err);
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
    fn dry_run_lines_read_back_as_the_same_changes() {
        // Each printed line parses to the request the change sends.
        let changes = plan::plan(&table_of(LIVE), &table_of(WANT));
        let mut words = Vec::new();
        for c in &changes {
            let line = command_line(c);
            match run::check_line(
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
        let p =
            |v: &[&str]| Args::try_parse_from(std::iter::once("apply").chain(v.iter().copied()));
        let a = p(&[]).unwrap();
        assert!(!a.dry_run && a.file().is_none());
        assert!(p(&["-"]).unwrap().file().is_none());
        let a = p(&["--dry-run", "x.rules"]).unwrap();
        assert!(a.dry_run);
        assert_eq!(a.file(), Some(&OsString::from("x.rules")));
        assert_eq!(
            p(&["--", "-odd"]).unwrap().file(),
            Some(&OsString::from("-odd"))
        );
        for help in ["-h", "--help"] {
            let e = p(&[help]).unwrap_err();
            assert_eq!(e.kind(), clap::error::ErrorKind::DisplayHelp);
        }
        assert!(p(&["-n"]).is_err());
        assert!(p(&["a", "b"]).is_err());
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
        let help = String::from_utf8_lossy(&out);
        assert!(
            help.contains("Usage: ipvsadm-rs apply [--dry-run] [FILE]"),
            "{help}"
        );
        assert!(
            help.contains("--dry-run") && help.contains("Exit status:"),
            "{help}"
        );
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
        let text = String::from_utf8(err).unwrap();
        assert!(
            text.starts_with("error: unexpected argument '--bogus'")
                && text.contains("Usage: ipvsadm-rs apply [--dry-run] [FILE]"),
            "{text}"
        );
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
