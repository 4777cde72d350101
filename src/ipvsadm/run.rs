//! Running the command line: start-up, one parsed invocation against the
//! kernel, and the `-save` / `-restore` front ends.
//!
//! For a restore this is the front end only: it reads the input, hands
//! the lines and ipvsadm's line checker ([`crate::ipvsadm::lines`]) to the
//! restore engine ([`crate::services::restore`]), and turns what the
//! engine returns (bad lines, failed writes, each with its line number)
//! into ipvsadm's messages and exit status.
//!
//! Everything here writes to the `out` and `err` streams it is given and
//! returns the exit status, so that the binaries stay thin.

use std::ffi::OsString;
use std::io::{self, BufReader, Read, Write};
use std::net::IpAddr;

use crate::client::{Client, Error, Request};
use crate::ipvsadm::conn::{self, ConnError};
use crate::ipvsadm::errors::{errno_of, ipvs_strerror, Op};
use crate::ipvsadm::help;
use crate::ipvsadm::lines::{self, write_request, Step};
use crate::ipvsadm::options::ListOptions;
use crate::ipvsadm::parse::{self, Command, Failure, Invocation};
use crate::ipvsadm::print;
use crate::ipvsadm::resolve::{NumericResolver, Resolver, SystemResolver};
use crate::ipvsadm::startup;
use crate::json;
use crate::model::{Family, Info, Service, ServiceEntry, ServiceKey, Stats};
use crate::services::{fetch, restore};

/// Which program the process behaves as: the three binaries share one
/// entry point, and a binary installed or linked under the name
/// `ipvsadm-save` or `ipvsadm-restore` behaves as that program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `ipvsadm`.
    Main,
    /// `ipvsadm-save`.
    Save,
    /// `ipvsadm-restore`.
    Restore,
}

impl Mode {
    /// The mode for a program name: its base name ending in `-save` or
    /// `-restore` selects those front ends; anything else is `fallback`.
    pub fn from_argv0(argv0: &str, fallback: Mode) -> Mode {
        let base = argv0.rsplit('/').next().unwrap_or(argv0);
        if base.ends_with("-save") {
            Mode::Save
        } else if base.ends_with("-restore") {
            Mode::Restore
        } else if base.ends_with("ipvsadm") || base.ends_with("ipvsadm-rs") {
            Mode::Main
        } else {
            fallback
        }
    }
}

/// Runs one of the three programs on its words after the program name;
/// returns the exit code. (The process entry point, which also sends
/// ipvsadm-rs's subcommands elsewhere, is `commands::main_entry`.)
pub fn run_mode(
    mode: Mode,
    prog: &str,
    args: &[OsString],
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    match mode {
        Mode::Main => run_main(prog, args, stdin, out, err),
        Mode::Save => run_save(prog, args, out, err),
        Mode::Restore => run_restore_wrapper(prog, args, stdin, out, err),
    }
}

/// A connected client with what start-up learned.
pub(crate) struct Session {
    pub(crate) client: Client,
    /// `GET_INFO`'s answer; fetched at start-up only by commands that show
    /// it or whose errors it decides (see [`defers_info`]).
    info: Option<Info>,
}

/// Commands that skip start-up's `GET_INFO`: single table writes and
/// save, which do not show the version. ipvsadm's start-up fails when
/// `GET_INFO` fails, and the only way it fails once the family is found
/// is a missing privilege, which every IPVS request needs alike: so such a
/// command succeeds exactly when `GET_INFO` would have, and when it fails,
/// [`load_info`] asks then and reports the start-up failure instead. One
/// round trip less per invocation. (The version warning cannot appear:
/// the generic-netlink family exists only from IPVS 1.2.1 on.)
fn defers_info(c: Command) -> bool {
    matches!(
        c,
        Command::AddService
            | Command::EditService
            | Command::DelService
            | Command::AddDest
            | Command::EditDest
            | Command::DelDest
            | Command::Flush
            | Command::Zero
            | Command::SetTimeouts
            | Command::StartDaemon
            | Command::StopDaemon
            | Command::Save
    )
}

/// Opens the IPVS family the way ipvsadm's start-up does, including the
/// one `modprobe ip_vs` attempt, and prints ipvsadm's two-line message on
/// failure. With `info`, also asks `GET_INFO` as ipvsadm does.
pub(crate) fn init(err: &mut dyn Write, info: bool) -> Result<Session, i32> {
    let client = startup::open(err)?;
    let mut session = Session { client, info: None };
    if info {
        load_info(&mut session, err)?;
    }
    Ok(session)
}

/// Start-up's `GET_INFO`, with ipvsadm's version warning; on failure
/// prints the start-up failure and returns its status.
fn load_info(session: &mut Session, err: &mut dyn Write) -> Result<Info, i32> {
    if let Some(info) = session.info {
        return Ok(info);
    }
    match session.client.info() {
        Ok(info) => {
            if info.version < 0x010104 {
                let (a, b, c) = info.version_triple();
                let _ = write!(
                    err,
                    "Warning: IPVS version mismatch: \n  Kernel compiled with IPVS version {a}.{b}.{c}\n  ipvsadm v1.31  requires minimum IPVS version 1.1.4\n\n"
                );
            }
            session.info = Some(info);
            Ok(info)
        }
        Err(e) => Err(startup::init_failure(err, errno_of(&e))),
    }
}

/// Reports a failed command; for one that skipped start-up's `GET_INFO`
/// (see [`defers_info`]) the start-up failure comes first, if there is one.
fn report_failure(session: &mut Session, err: &mut dyn Write, f: &Failure) -> i32 {
    if let Err(code) = load_info(session, err) {
        return code;
    }
    report(err, None, f)
}

/// `ipvsadm-rs ARGS...`.
pub fn run_main(
    prog: &str,
    args: &[OsString],
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    // With no arguments at all the parser gives ipvsadm's `-L` with names.
    let parsed = parse::parse(prog, args, &SystemResolver);
    // The namespace first: start-up's socket must be opened inside it.
    if let Ok(Invocation {
        netns: Some(ns), ..
    }) = &parsed
    {
        if let Err(f) = enter_netns(ns) {
            return report(err, None, &f);
        }
    }
    // `-R --test` checks the input only and needs no kernel.
    if let Ok(Invocation {
        command: Command::Restore,
        test: true,
        ..
    }) = &parsed
    {
        let mut input = Vec::new();
        if let Err(e) = stdin.read_to_end(&mut input) {
            let _ = writeln!(err, "{prog}: cannot read standard input: {e}");
            return 1;
        }
        return test_restore(prog, &input, err);
    }
    // Help and version need no kernel (a fix: ipvsadm initialises first).
    if let Ok(inv) = &parsed {
        match inv.command {
            Command::Help => return emit(out, err, help::help_text(prog).as_bytes()),
            Command::Version => {
                return emit(out, err, format!("{}\n", help::version_line()).as_bytes())
            }
            _ => {}
        }
    }
    let defer = matches!(&parsed, Ok(inv) if defers_info(inv.command));
    let mut session = match init(err, !defer) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let inv = match parsed {
        Ok(inv) => inv,
        Err(f) => return report(err, None, &f),
    };
    if inv.command == Command::Restore {
        let mut input = Vec::new();
        if let Err(e) = stdin.read_to_end(&mut input) {
            let _ = writeln!(err, "{prog}: cannot read standard input: {e}");
            return 1;
        }
        return restore(prog, &mut session, &input, out, err);
    }
    match execute(&mut session, prog, &inv, out) {
        Ok(()) => 0,
        Err(f) => report_failure(&mut session, err, &f),
    }
}

fn emit(out: &mut dyn Write, err: &mut dyn Write, bytes: &[u8]) -> i32 {
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => 0,
        Err(e) => {
            let _ = writeln!(err, "write error: {e}");
            1
        }
    }
}

pub(crate) fn report(err: &mut dyn Write, line: Option<usize>, f: &Failure) -> i32 {
    if let Some(n) = line {
        let _ = write!(err, "line {n}: ");
    }
    let _ = err.write_all(f.stderr.as_bytes());
    f.code
}

pub(crate) fn fail(code: i32, message: impl Into<String>) -> Failure {
    let mut stderr = message.into();
    if !stderr.is_empty() {
        stderr.push('\n');
    }
    Failure { code, stderr }
}

/// The file `--netns` names: a path if it contains a `/`, else a name
/// under `/run/netns` (as `ip -n NAME` and `ip netns add NAME` use).
pub fn netns_path(spec: &str) -> std::path::PathBuf {
    if spec.contains('/') {
        std::path::PathBuf::from(spec)
    } else {
        std::path::Path::new("/run/netns").join(spec)
    }
}

/// Enters the network namespace `--netns` names; on failure the error
/// names it, and nothing has been changed (exit status 2).
pub(crate) fn enter_netns(spec: &str) -> Result<(), Failure> {
    let path = netns_path(spec);
    let what = if spec.contains('/') {
        format!("network namespace {spec}")
    } else {
        format!("network namespace {spec} ({})", path.display())
    };
    let file = std::fs::File::open(&path)
        .map_err(|e| fail(2, format!("cannot open {what}: {}", io_reason(&e))))?;
    crate::sys::set_netns(&file).map_err(|e| {
        if e.raw_os_error() == Some(libc::EINVAL) {
            fail(2, format!("cannot enter {what}: not a network namespace"))
        } else {
            fail(2, format!("cannot enter {what}: {}", io_reason(&e)))
        }
    })
}

/// An I/O error's text without Rust's ` (os error N)` suffix.
fn io_reason(e: &io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s.get(..i).unwrap_or(&s).to_string(),
        None => s,
    }
}

/// A failed kernel request of a command that changes the table: ipvsadm
/// prints the message and exits 255.
fn kernel(result: Result<(), Error>, op: Op) -> Result<(), Failure> {
    result.map_err(|e| kernel_failure(e, op))
}

/// The failure [`kernel`] makes of a refused write.
fn kernel_failure(e: Error, op: Op) -> Failure {
    match e {
        // Not ipvsadm's (it sends one request at a time): the outcome is
        // unknown, and the message says so.
        Error::AckLost => fail(
            255,
            format!(
                "{}: acknowledgement lost, the line may or may not have been applied",
                ipvs_strerror(op, libc::ENOBUFS)
            ),
        ),
        e => fail(255, ipvs_strerror(op, errno_of(&e))),
    }
}

/// A failed dump while listing or saving: ipvsadm's message for the
/// errno, and for a dump that never came back consistent (see
/// [`Client::services`]) a word on why.
fn dump_failure(op: Op, e: &Error) -> String {
    let text = ipvs_strerror(op, errno_of(e));
    match e {
        Error::DumpInterrupted { attempts } => format!(
            "{text}: the IPVS table changed during each of {attempts} listings; nothing more printed"
        ),
        _ => text,
    }
}

/// Runs one invocation (not `-R`) against the kernel.
fn execute(
    session: &mut Session,
    prog: &str,
    inv: &Invocation,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    match inv.command {
        Command::List => list(session, inv, out),
        Command::Save => save(session, inv.list.numeric, out),
        Command::Help => write_out(out, help::help_text(prog).as_bytes()),
        Command::Version => write_out(out, format!("{}\n", help::version_line()).as_bytes()),
        Command::Restore => Err(fail(
            255,
            format!("Try `{prog} -h' or '{prog} --help' for more information."),
        )),
        _ => match write_request(inv) {
            Some((req, op)) => kernel(session.client.execute(&req), op),
            None => Err(fail(
                2,
                "internal error: the command lacks its service, destination or daemon",
            )),
        },
    }
}

fn write_out(out: &mut dyn Write, bytes: &[u8]) -> Result<(), Failure> {
    out.write_all(bytes).map_err(io_failure)
}

fn io_failure(e: io::Error) -> Failure {
    fail(1, format!("write error: {e}"))
}

fn resolver(numeric: bool) -> &'static dyn Resolver {
    if numeric {
        &NumericResolver
    } else {
        &SystemResolver
    }
}

/// A service with its destinations, from the kernel.
fn with_dests(client: &mut Client, service: Service) -> Result<ServiceEntry, Failure> {
    let dests = client
        .dests(&service)
        .map_err(|e| fail(1, dump_failure(Op::GetDests, &e)))?;
    Ok(ServiceEntry { service, dests })
}

/// A service held while a whole-table listing or save waits for its turn:
/// what the printers need of it, in less memory than a [`Service`] (no
/// counters unless they are shown, the scheduler's name shared with the
/// services before that use the same one). A listing holds every service
/// at once, as ipvsadm does, but only one service's destinations at a
/// time; its peak memory is a benchmark target (docs/performance.md).
struct Listed {
    key: ServiceKey,
    flags: u32,
    timeout: u32,
    netmask: u32,
    scheduler: std::sync::Arc<str>,
    pe: Option<Box<str>>,
    stats: Option<Box<Stats>>,
}

impl Listed {
    /// `names` holds the scheduler names seen so far, to share.
    fn new(s: Service, keep_stats: bool, names: &mut Vec<std::sync::Arc<str>>) -> Listed {
        let scheduler = match names.iter().find(|n| &***n == s.scheduler.as_str()) {
            Some(n) => n.clone(),
            None => {
                let n: std::sync::Arc<str> = s.scheduler.into();
                names.push(n.clone());
                n
            }
        };
        Listed {
            key: s.key,
            flags: s.flags,
            timeout: s.timeout,
            netmask: s.netmask,
            scheduler,
            pe: s.pe.map(String::into_boxed_str),
            stats: if keep_stats { s.stats } else { None },
        }
    }

    fn into_service(self) -> Service {
        Service {
            key: self.key,
            scheduler: self.scheduler.to_string(),
            pe: self.pe.map(str::into_string),
            flags: self.flags,
            timeout: self.timeout,
            netmask: self.netmask,
            stats: self.stats,
        }
    }
}

/// The printers' service order (`print::sort_entries`): fwmark, family,
/// protocol, address as a big-endian number, port.
fn listing_order(key: &ServiceKey) -> (u32, u16, u16, [u8; 16], u16) {
    match *key {
        ServiceKey::Fwmark { family, mark } => (mark, family.to_raw(), 0, [0; 16], 0),
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => {
            let bytes = match addr {
                IpAddr::V4(v4) => {
                    let [a, b, c, d] = v4.octets();
                    [a, b, c, d, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
                }
                IpAddr::V6(v6) => v6.octets(),
            };
            (
                0,
                Family::of(&addr).to_raw(),
                protocol.to_raw(),
                bytes,
                port,
            )
        }
    }
}

/// Every service, compact, in listing order (kernel order with `nosort`).
fn listed_services(
    client: &mut Client,
    keep_stats: bool,
    nosort: bool,
) -> Result<Vec<Listed>, Failure> {
    let mut names = Vec::new();
    let mut rows = client
        .services_keyed(|s| Listed::new(s, keep_stats, &mut names), |r| r.key)
        // Policy (§6 item 18): ipvsadm's netlink dump forgets to name the
        // operation, so ESRCH would read "No such process"; it reads as
        // the other service lookups do.
        .map_err(|e| fail(1, dump_failure(Op::GetService, &e)))?;
    if !nosort {
        // Stable, like the printers' sort.
        rows.sort_by_key(|r| listing_order(&r.key));
    }
    Ok(rows)
}

fn list(session: &mut Session, inv: &Invocation, out: &mut dyn Write) -> Result<(), Failure> {
    let opts: &ListOptions = &inv.list;
    let res = resolver(opts.numeric);
    if opts.connection {
        let file = std::fs::File::open("/proc/net/ip_vs_conn")
            .map_err(|_| fail(1, "cannot open file /proc/net/ip_vs_conn"))?;
        let conn_failure = |e| match e {
            ConnError::Io(e) => io_failure(e),
            other => fail(1, other.to_string()),
        };
        if opts.json {
            return conn::list_connections_json(BufReader::new(file), out).map_err(conn_failure);
        }
        return conn::list_connections(BufReader::new(file), out, opts, res).map_err(conn_failure);
    }
    // Policy (§6 item 17): ipvsadm exits 1 here without a word; we say why.
    let listing = |e: Error| fail(1, ipvs_strerror(Op::Generic, errno_of(&e)));
    if opts.timeout {
        let t = session.client.timeouts().map_err(listing)?;
        if opts.json {
            return json::write_timeouts(out, &t).map_err(io_failure);
        }
        return print::print_timeouts(out, &t).map_err(io_failure);
    }
    if opts.daemon {
        let d = session.client.daemons().map_err(listing)?;
        if opts.json {
            return json::write_daemons(out, &d).map_err(io_failure);
        }
        return print::print_daemons(out, &d).map_err(io_failure);
    }
    if let Some(svc) = &inv.service {
        let service = session
            .client
            .service(svc)
            .map_err(|e| fail(1, ipvs_strerror(Op::GetService, errno_of(&e))))?;
        let entry = with_dests(&mut session.client, service)?;
        if opts.json {
            let mut entries = vec![entry];
            if !opts.nosort {
                print::sort_entries(&mut entries);
            }
            return json::write_services(out, session.info.as_ref(), &entries).map_err(io_failure);
        }
        return print::list_table(out, None, std::slice::from_ref(&entry), opts, res)
            .map_err(io_failure);
    }
    let info = match session.info {
        Some(info) => info,
        None => session
            .client
            .info()
            .map_err(|e| fail(1, ipvs_strerror(Op::Generic, errno_of(&e))))?,
    };
    let rows = listed_services(
        &mut session.client,
        opts.stats || opts.rate || opts.json,
        opts.nosort,
    )?;
    if opts.json {
        return list_json(session, info, rows, opts.nosort, out);
    }
    // The header once, then the services a few at a time, without the
    // column titles that every listing starts with.
    print::list_table(out, Some(&info), &[], opts, res).map_err(io_failure)?;
    let mut title = Vec::new();
    print::list_table(&mut title, None, &[], opts, res).map_err(io_failure)?;
    let mut buf = Vec::new();
    in_chunks(&mut session.client, rows, |chunk| {
        buf.clear();
        print::list_table(&mut buf, None, chunk, opts, res).map_err(io_failure)?;
        let body = buf.strip_prefix(title.as_slice()).unwrap_or(&buf);
        out.write_all(body).map_err(io_failure)
    })
}

/// `-L --json` of the whole table: the services document, streamed one
/// service per line as the destinations of each arrive.
fn list_json(
    session: &mut Session,
    info: Info,
    rows: Vec<Listed>,
    nosort: bool,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let ipvs = serde_json::to_string(&json::IpvsInfo::from(&info))
        .map_err(|e| io_failure(io::Error::other(e)))?;
    let mut w = json::ListWriter::begin(out, "services", &[("ipvs", ipvs.as_str())], "services")
        .map_err(io_failure)?;
    // A failed destination dump leaves the document without its end, so
    // that no reader takes it for the whole table.
    in_chunks(&mut session.client, rows, |chunk| {
        let mut chunk = chunk.to_vec();
        if !nosort {
            print::sort_entries(&mut chunk);
        }
        for e in &chunk {
            w.item(out, &json::ServiceJson::from(e))
                .map_err(io_failure)?;
        }
        Ok(())
    })?;
    w.end(out).map_err(io_failure)
}

fn save(session: &mut Session, numeric: bool, out: &mut dyn Write) -> Result<(), Failure> {
    let res = resolver(numeric);
    let rows = listed_services(&mut session.client, false, false)?;
    in_chunks(&mut session.client, rows, |chunk| {
        print::save_table(out, chunk, numeric, res).map_err(io_failure)
    })
}

/// Services printed per printer call in a whole-table listing or save:
/// few, so that little is held, but enough to spread each call's own cost.
const PRINT_CHUNK: usize = 16;

/// Fetches the destinations of `rows` in order and hands them to `print`
/// [`PRINT_CHUNK`] services at a time, dumping over
/// [`fetch::SOCKETS`] sockets in parallel. When a destination dump fails,
/// the services before it are printed first (ipvsadm prints as it goes).
fn in_chunks(
    client: &mut Client,
    rows: Vec<Listed>,
    print: impl FnMut(&[ServiceEntry]) -> Result<(), Failure>,
) -> Result<(), Failure> {
    fetch::in_order(
        client,
        rows,
        PRINT_CHUNK,
        fetch::sockets(),
        |c, row| with_dests(c, row.into_service()),
        print,
    )
}

/// The checked lines of a restore, as the engine holds them.
type Steps = restore::Steps<Step>;

/// Parses every line of a restore; returns the steps, or prints every bad
/// line with its number and returns the exit status.
fn check_restore(prog: &str, input: &[u8], err: &mut dyn Write) -> Result<Steps, i32> {
    check_restore_with(prog, input, &SystemResolver, err)
}

/// [`check_restore`] with the names looked up by `resolver`.
fn check_restore_with(
    prog: &str,
    input: &[u8],
    resolver: &dyn Resolver,
    err: &mut dyn Write,
) -> Result<Steps, i32> {
    let checked = lines::check_input(prog, input, resolver);
    let Some((_, first)) = checked.failed.first() else {
        return Ok(checked.steps);
    };
    let code = first.code;
    for (number, f) in &checked.failed {
        report(err, Some(*number), f);
    }
    let bad = checked.failed.len();
    let _ = writeln!(
        err,
        "{prog}: restore: {bad} bad line{}, nothing applied",
        if bad == 1 { "" } else { "s" }
    );
    Err(code)
}

/// Checks restore input exactly as `-R` and `ipvsadm-restore` do before
/// applying anything, with names looked up by `resolver`, and returns each
/// good line's number and the table write it sends (`None` for a line
/// that runs on its own: listing, save, help). A bad line is reported on
/// `err` and the exit status returned. Exists so that the checker can be
/// fuzzed and tested without a kernel or DNS.
pub fn check_restore_input(
    prog: &str,
    input: &[u8],
    resolver: &dyn Resolver,
    err: &mut dyn Write,
) -> Result<Vec<(usize, Option<Request>)>, i32> {
    let steps = check_restore_with(prog, input, resolver, err)?;
    Ok(steps
        .into_iter()
        .map(|(n, step)| match step {
            Step::Write(req, _) => (n, Some(req)),
            Step::Run(_) => (n, None),
        })
        .collect())
}

/// `-R`: checks the whole input, then applies it; kernel errors are
/// reported with their line number and the rest goes on.
fn restore(
    prog: &str,
    session: &mut Session,
    input: &[u8],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    match check_restore(prog, input, err) {
        Ok(steps) => apply_restore(prog, session, steps, !restore::one_by_one(), out, err),
        Err(code) => code,
    }
}

/// `--test` of `-R` and `ipvsadm-rs-restore`: checks every line as a
/// restore would (reporting each bad one with its number) and sends
/// nothing. On success writes a one-line summary to `err` and returns 0;
/// otherwise the status a failing restore gives (that of the first bad
/// line: 2, or 255 for the option parser's errors).
pub fn test_restore(prog: &str, input: &[u8], err: &mut dyn Write) -> i32 {
    match check_restore(prog, input, err) {
        Ok(steps) => {
            let n = steps.len();
            let _ = writeln!(
                err,
                "{prog}: restore test: {n} command line{} checked, no errors; nothing applied",
                if n == 1 { "" } else { "s" }
            );
            0
        }
        Err(code) => code,
    }
}

/// ipvsadm's side of applying a restore: a failed line is reported as
/// `line N: MESSAGE` (output written so far is flushed first, so that the
/// two streams keep the input's order), and the status is that of the
/// first failing line; other lines run as single commands.
struct RestoreLines<'a> {
    prog: &'a str,
    session: &'a mut Session,
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
    code: i32,
}

impl RestoreLines<'_> {
    fn line_failed(&mut self, number: usize, f: &Failure) {
        let _ = self.out.flush();
        let c = report(self.err, Some(number), f);
        if self.code == 0 {
            self.code = c;
        }
    }
}

impl restore::Lines<Op, Box<Invocation>> for RestoreLines<'_> {
    fn client(&mut self) -> &mut Client {
        &mut self.session.client
    }

    fn failed(&mut self, line: usize, op: Op, error: restore::WriteError<'_>) {
        let f = match error {
            restore::WriteError::Refused(e) => kernel_failure(e, op),
            // None of the batch is known to have been applied: each line
            // is reported as failing with that error.
            restore::WriteError::BatchLost(e) => fail(255, ipvs_strerror(op, errno_of(e))),
        };
        self.line_failed(line, &f);
    }

    fn run(&mut self, line: usize, inv: Box<Invocation>) -> restore::Flow {
        if matches!(inv.command, Command::Help | Command::Version) {
            // As in ipvsadm: print, and the rest of the input is ignored.
            let _ = execute(self.session, self.prog, &inv, self.out);
            return restore::Flow::Stop;
        }
        if let Err(f) = execute(self.session, self.prog, &inv, self.out) {
            self.line_failed(line, &f);
        }
        restore::Flow::Continue
    }
}

/// Applies checked restore lines in order through the engine
/// ([`restore::apply`]): runs of writes in batches (unless `batching` is
/// off), other lines on their own between them. Kernel errors are
/// reported as `line N: MESSAGE` in line order, exactly as when sending
/// one by one, and the status is that of the first failing line.
fn apply_restore(
    prog: &str,
    session: &mut Session,
    steps: Steps,
    batching: bool,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let mut lines = RestoreLines {
        prog,
        session,
        out,
        err,
        code: 0,
    };
    restore::apply(steps, batching, &mut lines);
    lines.code
}

/// `ipvsadm-save [-n]`.
pub fn run_save(prog: &str, args: &[OsString], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let mut numeric = false;
    let mut netns: Option<String> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let a = a.to_string_lossy();
        let ns_value = if a == "--netns" {
            it.next().map(|v| v.to_string_lossy().into_owned())
        } else {
            a.strip_prefix("--netns=").map(str::to_string)
        };
        if a == "--netns" || a.starts_with("--netns=") {
            match ns_value {
                Some(v) if !v.is_empty() && netns.is_none() => netns = Some(v),
                _ => return save_usage(prog, err),
            }
        } else if a == "-n" {
            numeric = true;
        } else if a.starts_with('-') {
            let base = prog.rsplit('/').next().unwrap_or(prog);
            let _ = write!(
                err,
                "{base}: Script to save the IPVS table to stdout.\n   With the -n option, prints out the table in numeric format.\n"
            );
            return 1;
        }
    }
    if let Some(ns) = &netns {
        if let Err(f) = enter_netns(ns) {
            return report(err, None, &f);
        }
    }
    let mut session = match init(err, false) {
        Ok(s) => s,
        Err(code) => return code,
    };
    match save(&mut session, numeric, out) {
        Ok(()) => 0,
        Err(f) => report_failure(&mut session, err, &f),
    }
}

/// `ipvsadm-save`'s usage text for a bad argument; returns its status.
fn save_usage(prog: &str, err: &mut dyn Write) -> i32 {
    let base = prog.rsplit('/').next().unwrap_or(prog);
    let _ = write!(
        err,
        "{base}: Script to save the IPVS table to stdout.\n   With the -n option, prints out the table in numeric format.\n"
    );
    1
}

/// The arguments of `ipvsadm-rs-restore`: `--netns NAME` and `--test`.
#[derive(Debug, Default, PartialEq, Eq)]
struct RestoreArgs {
    netns: Option<String>,
    test: bool,
}

/// Reads `ipvsadm-rs-restore`'s arguments. ipvsadm's wrapper ignores
/// its arguments; this one refuses any it does not know, so that a
/// mistyped `--test` cannot flush the table.
fn restore_args(args: &[OsString]) -> Result<RestoreArgs, Failure> {
    let mut r = RestoreArgs::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let a = a.to_string_lossy();
        let value = if a == "--netns" {
            Some(it.next().map(|v| v.to_string_lossy().into_owned()))
        } else {
            a.strip_prefix("--netns=").map(|v| Some(v.to_string()))
        };
        match value {
            Some(v) => {
                if r.netns.is_some() {
                    return Err(fail(2, "multiple 'netns' options specified"));
                }
                match v {
                    Some(v) if !v.is_empty() => r.netns = Some(v),
                    Some(_) => return Err(fail(2, "empty network namespace specified")),
                    None => return Err(fail(2, "--netns needs a namespace name or path")),
                }
            }
            None if a == "--test" => {
                if r.test {
                    return Err(fail(2, "multiple 'test' options specified"));
                }
                r.test = true;
            }
            None => {
                return Err(fail(
                    2,
                    format!(
                        "unexpected argument {a}\nusage: ipvsadm-rs-restore [--netns NAME|PATH] [--test] < RULES"
                    ),
                ))
            }
        }
    }
    Ok(r)
}

/// `ipvsadm-rs-restore`: replaces the whole table with standard input. The
/// input is checked first; if any line is bad the live table is left
/// alone (ipvsadm's wrapper flushes it first, whatever follows). With
/// `--test` it only checks; with `--netns` it acts in that namespace.
pub fn run_restore_wrapper(
    prog: &str,
    args: &[OsString],
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let opts = match restore_args(args) {
        Ok(o) => o,
        Err(f) => return report(err, None, &f),
    };
    let mut input = Vec::new();
    if let Err(e) = stdin.read_to_end(&mut input) {
        let _ = writeln!(err, "{prog}: cannot read standard input: {e}");
        return 1;
    }
    if let Some(ns) = &opts.netns {
        if let Err(f) = enter_netns(ns) {
            return report(err, None, &f);
        }
    }
    if opts.test {
        return test_restore(prog, &input, err);
    }
    let mut session = match init(err, true) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let lines = match check_restore(prog, &input, err) {
        Ok(lines) => lines,
        Err(code) => return code,
    };
    if let Err(e) = session.client.flush() {
        let _ = writeln!(err, "{}", ipvs_strerror(Op::Generic, errno_of(&e)));
    }
    apply_restore(prog, &mut session, lines, !restore::one_by_one(), out, err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Transport;
    use crate::ipvsadm::lines::{line_words, restore_lines};
    use crate::ipvsadm::resolve::NumericResolver;
    use crate::model::{Dest, FwdMethod, Protocol};
    use crate::services::restore::PARALLEL_CHECK_LINES;
    use crate::wire::ipvs::{
        encode_dest_reply, encode_info_reply, encode_service_reply, Cmd, IpvsRequest, ReplyHeader,
    };
    use crate::wire::netlink::{
        align, encode_done, encode_error, encode_family_reply, header_of, GENL_ID_CTRL, NLM_F_DUMP,
        NLM_F_MULTI,
    };
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    fn words(input: &str) -> Vec<(usize, Vec<String>)> {
        restore_lines(input.as_bytes())
            .into_iter()
            .map(|(n, raw)| {
                (
                    n,
                    line_words(raw)
                        .map(|w| String::from_utf8_lossy(w).into_owned())
                        .collect(),
                )
            })
            .collect()
    }

    #[test]
    fn restore_lines_skip_blank_and_comment_lines() {
        let got = words("# saved\n\n-A -t 1.2.3.4:80 -s rr\r\n  \t\nipvsadm -C\n  # indented\n-L");
        assert_eq!(
            got,
            vec![
                (
                    3,
                    vec![
                        "-A".into(),
                        "-t".into(),
                        "1.2.3.4:80".into(),
                        "-s".into(),
                        "rr".into()
                    ]
                ),
                (5, vec!["-C".into()]),
                (7, vec!["-L".into()]),
            ]
        );
    }

    #[test]
    fn last_line_with_trailing_blank_and_no_newline_counts() {
        assert_eq!(words("-C \t").len(), 1);
    }

    /// A scripted kernel for restore tests: resolves the family, answers
    /// `GET_INFO`, ends every dump at once (an empty table), and fails the
    /// write requests whose number (from 0, in sending order) `script`
    /// gives an errno for. Each answer is its own datagram, as the
    /// kernel's are.
    struct ScriptedKernel {
        script: fn(usize) -> i32,
        writes: usize,
        datagrams: Arc<Mutex<usize>>,
        queue: VecDeque<Vec<u8>>,
        /// What the dumps show, in kernel order.
        table: Vec<ServiceEntry>,
    }

    impl Transport for ScriptedKernel {
        fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
            *self.datagrams.lock().unwrap() += 1;
            let mut rest = datagram;
            while let Some(h) = header_of(rest) {
                let len = h.length as usize;
                let cmd = rest[16];
                let msg = &rest[..len];
                rest = &rest[align(len).min(rest.len())..];
                let mut d = Vec::new();
                if h.message_type == GENL_ID_CTRL {
                    encode_family_reply(&mut d, h.sequence_number, h.port_number, "IPVS", FAM)
                        .unwrap();
                    encode_error(&mut d, &h, 0);
                } else if h.flags & NLM_F_DUMP == NLM_F_DUMP {
                    let rh = ReplyHeader {
                        family: FAM,
                        flags: NLM_F_MULTI,
                        seq: h.sequence_number,
                        pid: h.port_number,
                    };
                    if cmd == Cmd::GetService.to_raw() {
                        // Three services per datagram.
                        for (i, e) in self.table.iter().enumerate() {
                            encode_service_reply(&mut d, &rh, &e.service).unwrap();
                            if i % 3 == 2 {
                                self.queue.push_back(std::mem::take(&mut d));
                            }
                        }
                    } else if cmd == Cmd::GetDest.to_raw() {
                        // The service whose GET_DEST request this is.
                        let asked = |e: &&ServiceEntry| {
                            let mut v = Vec::new();
                            IpvsRequest::GetDests(&e.service.key)
                                .encode(&mut v, FAM, h.sequence_number, h.port_number)
                                .unwrap();
                            v == msg
                        };
                        if let Some(e) = self.table.iter().find(asked) {
                            for dest in &e.dests {
                                encode_dest_reply(&mut d, &rh, dest).unwrap();
                            }
                        }
                        self.queue.push_back(std::mem::take(&mut d));
                    }
                    encode_done(&mut d, h.sequence_number, h.port_number, 0, 0);
                } else if cmd == Cmd::GetInfo.to_raw() {
                    let rh = ReplyHeader {
                        family: FAM,
                        flags: 0,
                        seq: h.sequence_number,
                        pid: h.port_number,
                    };
                    let info = Info {
                        version: 0x010201,
                        conn_tab_size: 4096,
                    };
                    encode_info_reply(&mut d, &rh, &info).unwrap();
                    encode_error(&mut d, &h, 0);
                } else {
                    encode_error(&mut d, &h, (self.script)(self.writes));
                    self.writes += 1;
                }
                self.queue.push_back(d);
            }
            Ok(())
        }

        fn recv(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
            match self.queue.pop_front() {
                Some(d) => {
                    *buf = d;
                    Ok(())
                }
                None => Err(io::Error::new(io::ErrorKind::WouldBlock, "nothing queued")),
            }
        }

        fn max_batch_messages(&self) -> usize {
            3
        }
    }

    const FAM: u16 = 0x1c;

    /// Restores `input` against a scripted kernel; returns stdout, stderr,
    /// the status and the number of datagrams sent.
    fn restore_with(
        input: &str,
        script: fn(usize) -> i32,
        batching: bool,
    ) -> (String, String, i32, usize) {
        let datagrams = Arc::new(Mutex::new(0));
        let kernel = ScriptedKernel {
            script,
            writes: 0,
            datagrams: datagrams.clone(),
            queue: VecDeque::new(),
            table: Vec::new(),
        };
        let mut session = Session {
            client: Client::with_transport(Box::new(kernel)).unwrap(),
            info: None,
        };
        let mut out = Vec::new();
        let mut err = Vec::new();
        let code = match check_restore("ipvsadm", input.as_bytes(), &mut err) {
            Ok(steps) => {
                apply_restore("ipvsadm", &mut session, steps, batching, &mut out, &mut err)
            }
            Err(code) => code,
        };
        let sent = *datagrams.lock().unwrap();
        (
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
            code,
            sent,
        )
    }

    const RESTORE_INPUT: &str = "\
-A -t 10.0.0.1:80 -s rr
-A -t 10.0.0.1:80 -s rr
-a -t 10.0.0.1:80 -r 10.1.0.1 -m
-a -t 10.0.0.9:80 -r 10.1.0.2 -m

-L -n
-d -t 10.0.0.1:80 -r 10.1.0.7
-e -t 10.0.0.1:80 -r 10.1.0.1 -w 3
--stop-daemon master
-Z -t 10.0.0.1:80
-S -n
-C
--set 1 2 3
-E -t 10.0.0.1:80 -s wlc
";

    fn restore_script(n: usize) -> i32 {
        match n {
            1 => libc::EEXIST,
            3 => libc::ESRCH,
            4 => libc::ENOENT,
            6 => libc::ESRCH,
            7 => libc::ESRCH,
            10 => libc::ESRCH,
            _ => 0,
        }
    }

    #[test]
    fn batched_restore_reports_like_one_by_one() {
        let batched = restore_with(RESTORE_INPUT, restore_script, true);
        let single = restore_with(RESTORE_INPUT, restore_script, false);
        assert_eq!(batched.0, single.0);
        assert_eq!(batched.1, single.1);
        assert_eq!(batched.2, single.2);
        assert_eq!(
            batched.1,
            "line 2: Service already exists\n\
             line 4: Service not defined\n\
             line 7: No such destination\n\
             line 9: No daemon is running\n\
             line 10: No such service\n\
             line 14: No such service\n"
        );
        assert_eq!(batched.2, 255);
        // The listing between the runs printed its (empty) table in place.
        assert!(batched
            .0
            .starts_with("IP Virtual Server version 1.2.1 (size=4096)\n"));
        // Family, 4 writes in 2 datagrams (3 at most each), the listing
        // (GET_INFO and the service dump), 4 writes in 2, save (1), 3
        // writes in 1.
        assert_eq!(batched.3, 1 + 2 + 2 + 2 + 1 + 1);
        assert_eq!(single.3, 1 + 4 + 2 + 4 + 1 + 3);
    }

    #[test]
    fn batched_restore_without_failures_and_with_only_failures() {
        let ok = restore_with(RESTORE_INPUT, |_| 0, true);
        assert_eq!((ok.1.as_str(), ok.2), ("", 0));
        let all = restore_with(RESTORE_INPUT, |_| libc::EPERM, true);
        assert_eq!(all.1.lines().count(), 11);
        assert!(all
            .1
            .lines()
            .all(|l| l.ends_with(": Permission denied (you must be root)")));
        assert_eq!(all.2, 255);
        assert_eq!(all.1, restore_with(RESTORE_INPUT, |_| libc::EPERM, false).1);
    }

    #[test]
    fn help_line_ends_a_batched_restore() {
        let input = "-A -t 10.0.0.1:80\n-A -t 10.0.0.1:80\n-v\n-A -t 10.0.0.2:80\n";
        let script: fn(usize) -> i32 = |n| if n == 1 { libc::EEXIST } else { 0 };
        let b = restore_with(input, script, true);
        let s = restore_with(input, script, false);
        assert_eq!((&b.0, &b.1, b.2), (&s.0, &s.1, s.2));
        assert_eq!(b.1, "line 2: Service already exists\n");
        assert!(b.0.starts_with("ipvsadm "), "{}", b.0);
        // Two writes in one datagram; the line after -v is not applied.
        assert_eq!((b.3, s.3), (1 + 1, 1 + 2));
    }

    #[test]
    fn large_input_is_checked_in_order() {
        // Large enough to be shared out between threads (on a machine
        // with several CPUs), with bad lines in every part.
        let lines = 3 * PARALLEL_CHECK_LINES;
        let mut input = String::new();
        for i in 0..lines {
            match i {
                9 => input.push_str("-A -t 10.0.0.1:80 -w 5\n"),
                2499 => input.push_str("-a -t 10.0.0.1:80 -r 10.1.0.1 -w x\n"),
                6000 => input.push_str("-A -t 10.0.0.1:80 -s\n"),
                12_287 => input.push_str("-A -t 10.0.0.1:80 -w 7\n"),
                _ => input.push_str(&format!("-A -t 10.0.{}.{}:80\n", i / 250, i % 250 + 1)),
            }
        }
        let mut err = Vec::new();
        assert_eq!(
            check_restore("ipvsadm", input.as_bytes(), &mut err).err(),
            Some(2)
        );
        assert_eq!(
            String::from_utf8(err).unwrap(),
            "line 10: Illegal 'weight' option with the 'add-service' command\n\
             line 2500: illegal weight specified\n\
             line 6001: -s: missing argument\n\
             line 12288: Illegal 'weight' option with the 'add-service' command\n\
             ipvsadm: restore: 4 bad lines, nothing applied\n"
        );
        let good = input
            .replace(" -w 5", "")
            .replace(" -w x", "")
            .replace(" -s\n", "\n")
            .replace(" -w 7", "");
        let mut err = Vec::new();
        let steps = check_restore("ipvsadm", good.as_bytes(), &mut err)
            .ok()
            .unwrap();
        assert_eq!(steps.len(), lines);
        assert!(steps.iter().enumerate().all(|(i, (n, _))| *n == i + 1));
        match steps.iter().nth(10_998) {
            Some((_, Step::Write(Request::AddService(s), Op::AddService))) => {
                assert_eq!(s.key, write_key("10.0.43.249"));
            }
            _ => panic!("line 10999 is not the service it should be"),
        }
        let numbers: Vec<usize> = steps.into_iter().map(|(n, _)| n).collect();
        assert_eq!(numbers, (1..=lines).collect::<Vec<_>>());
    }

    fn write_key(addr: &str) -> ServiceKey {
        ServiceKey::Addr {
            protocol: crate::model::Protocol::Tcp,
            addr: addr.parse().unwrap(),
            port: 80,
        }
    }

    #[test]
    fn write_requests_carry_the_lines_objects() {
        let inv = |args: &str| {
            let words: Vec<OsString> = args.split(' ').map(OsString::from).collect();
            parse::parse("ipvsadm", &words, &NumericResolver).unwrap()
        };
        let a = inv("-a -t 10.0.0.1:80 -r 10.1.0.1 -w 4");
        match write_request(&a) {
            Some((Request::AddDest(s, d), Op::AddDest)) => {
                assert_eq!(Some(s), a.service);
                assert_eq!(Some(d), a.dest);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            write_request(&inv("-Z")),
            Some((Request::Zero(None), Op::Zero))
        ));
        assert!(matches!(
            write_request(&inv("-C")),
            Some((Request::Flush, Op::Generic))
        ));
        for c in ["-L -n", "-S", "-h", "-v"] {
            assert!(write_request(&inv(c)).is_none(), "{c}");
        }
    }

    #[test]
    fn listing_order_is_the_printers_order() {
        use crate::model::Protocol;
        let keys = [
            ServiceKey::Fwmark {
                family: Family::Inet,
                mark: 7,
            },
            ServiceKey::Fwmark {
                family: Family::Inet6,
                mark: 3,
            },
            ServiceKey::Addr {
                protocol: Protocol::Udp,
                addr: "10.0.0.1".parse().unwrap(),
                port: 53,
            },
            ServiceKey::Addr {
                protocol: Protocol::Tcp,
                addr: "10.0.0.1".parse().unwrap(),
                port: 80,
            },
            ServiceKey::Addr {
                protocol: Protocol::Tcp,
                addr: "9.255.0.1".parse().unwrap(),
                port: 443,
            },
            ServiceKey::Addr {
                protocol: Protocol::Tcp,
                addr: "2001:db8::1".parse().unwrap(),
                port: 80,
            },
            ServiceKey::Addr {
                protocol: Protocol::Sctp,
                addr: "192.168.0.1".parse().unwrap(),
                port: 80,
            },
            ServiceKey::Addr {
                protocol: Protocol::Tcp,
                addr: "10.0.0.1".parse().unwrap(),
                port: 79,
            },
        ];
        let mut entries: Vec<ServiceEntry> = keys
            .iter()
            .map(|k| ServiceEntry {
                service: Service::new(*k),
                dests: Vec::new(),
            })
            .collect();
        print::sort_entries(&mut entries);
        let mut ours: Vec<Listed> = keys
            .iter()
            .map(|k| Listed::new(Service::new(*k), false, &mut Vec::new()))
            .collect();
        ours.sort_by_key(|r| listing_order(&r.key));
        let a: Vec<ServiceKey> = entries.iter().map(|e| e.service.key).collect();
        let b: Vec<ServiceKey> = ours.iter().map(|r| r.key).collect();
        assert_eq!(a, b);
    }

    #[test]
    fn listed_services_round_trip() {
        let mut s = Service::new(ServiceKey::Fwmark {
            family: Family::Inet,
            mark: 1,
        });
        s.scheduler = "sh".into();
        s.pe = Some("sip".into());
        s.flags = 0x19;
        s.timeout = 300;
        s.netmask = 0xffff_ff00;
        s.stats = Some(Box::new(Stats {
            conns: 5,
            ..Stats::default()
        }));
        let mut names = Vec::new();
        assert_eq!(Listed::new(s.clone(), true, &mut names).into_service(), s);
        let without = Listed::new(s.clone(), false, &mut names).into_service();
        assert_eq!(names.len(), 1, "one name, shared");
        assert_eq!(without.stats, None);
        assert_eq!(Service { stats: None, ..s }, without);
    }

    /// A table in kernel (unsorted) order: 40 IPv4 services of 0 to 4
    /// destinations, an IPv6 service, two fwmarks, with counters.
    fn sample_table() -> Vec<ServiceEntry> {
        let mut table = Vec::new();
        for i in 0..40u32 {
            let n = (i * 7919) % 40;
            let key = ServiceKey::Addr {
                protocol: if n % 5 == 0 {
                    Protocol::Udp
                } else {
                    Protocol::Tcp
                },
                addr: format!("10.1.{}.{}", n / 8, n % 8 + 1).parse().unwrap(),
                port: 80,
            };
            let mut service = Service::new(key);
            service.scheduler = if n % 3 == 0 { "rr" } else { "wlc" }.into();
            service.stats = Some(Box::new(Stats {
                conns: u64::from(n) * 1_000_003,
                inbytes: u64::from(n) << 33,
                ..Stats::default()
            }));
            let dests = (0..n % 5)
                .rev()
                .map(|d| {
                    let mut dest = Dest::new(format!("10.2.{n}.{}", d + 1).parse().unwrap(), 8080);
                    dest.fwd = FwdMethod::Masq;
                    dest.weight = d as i32;
                    dest.active_conns = n;
                    dest.stats = Some(Box::new(Stats {
                        inpkts: u64::from(d) * 77,
                        ..Stats::default()
                    }));
                    dest
                })
                .collect();
            table.push(ServiceEntry { service, dests });
        }
        for key in [
            ServiceKey::Fwmark {
                family: Family::Inet,
                mark: 9,
            },
            ServiceKey::Addr {
                protocol: Protocol::Tcp,
                addr: "2001:db8::1".parse().unwrap(),
                port: 443,
            },
            ServiceKey::Fwmark {
                family: Family::Inet6,
                mark: 2,
            },
        ] {
            let mut service = Service::new(key);
            service.scheduler = "sh".into();
            service.flags = crate::model::svc_flags::PERSISTENT;
            service.timeout = 300;
            let dests = vec![Dest::new("10.3.0.1".parse().unwrap(), 0)];
            table.insert(table.len() / 2, ServiceEntry { service, dests });
        }
        table
    }

    /// Runs one command line against `sample_table()`.
    fn run_listing(args: &str) -> String {
        let kernel = ScriptedKernel {
            script: |_| 0,
            writes: 0,
            datagrams: Arc::default(),
            queue: VecDeque::new(),
            table: sample_table(),
        };
        let mut session = Session {
            client: Client::with_transport(Box::new(kernel)).unwrap(),
            info: None,
        };
        let words: Vec<OsString> = args.split(' ').map(OsString::from).collect();
        let inv = parse::parse("ipvsadm", &words, &NumericResolver).unwrap();
        let mut out = Vec::new();
        execute(&mut session, "ipvsadm", &inv, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn streamed_listings_print_what_the_whole_table_prints() {
        let info = Info {
            version: 0x010201,
            conn_tab_size: 4096,
        };
        for args in [
            "-L -n",
            "-L -n --stats",
            "-L -n --rate --exact",
            "-L -n --nosort",
        ] {
            let words: Vec<OsString> = args.split(' ').map(OsString::from).collect();
            let inv = parse::parse("ipvsadm", &words, &NumericResolver).unwrap();
            let mut entries = sample_table();
            if !inv.list.nosort {
                print::sort_entries(&mut entries);
            }
            let mut want = Vec::new();
            print::list_table(
                &mut want,
                Some(&info),
                &entries,
                &inv.list,
                &NumericResolver,
            )
            .unwrap();
            assert_eq!(
                run_listing(args),
                String::from_utf8(want).unwrap(),
                "{args}"
            );
        }
        let mut entries = sample_table();
        print::sort_entries(&mut entries);
        let mut want = Vec::new();
        print::save_table(&mut want, &entries, true, &NumericResolver).unwrap();
        let got = run_listing("-S -n");
        assert_eq!(got, String::from_utf8(want).unwrap());
        assert_eq!(got.lines().count(), 43 + 83);
    }

    #[test]
    fn json_listings_are_the_snapshot_document() {
        for (args, sorted) in [
            ("-L --json", true),
            ("-L -n --json --nosort --stats", false),
        ] {
            let got = run_listing(args);
            let mut entries = sample_table();
            if sorted {
                print::sort_entries(&mut entries);
            }
            let info = Info {
                version: 0x010201,
                conn_tab_size: 4096,
            };
            let mut want = Vec::new();
            json::write_services(&mut want, Some(&info), &entries).unwrap();
            assert_eq!(got, String::from_utf8(want).unwrap(), "{args}");
            let json::Document::Services(doc) = json::Document::parse(&got).unwrap() else {
                panic!("{args}")
            };
            let (i, back) = doc.to_model().unwrap();
            assert_eq!(i, Some(info));
            assert_eq!(back, entries, "{args}");
        }
    }

    fn main_with(args: &[&str], stdin: &str) -> (i32, String, String) {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run_main(
            "ipvsadm-rs",
            &args,
            &mut stdin.as_bytes(),
            &mut out,
            &mut err,
        );
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    fn restore_wrapper_with(args: &[&str], stdin: &str) -> (i32, String, String) {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run_restore_wrapper(
            "ipvsadm-rs-restore",
            &args,
            &mut stdin.as_bytes(),
            &mut out,
            &mut err,
        );
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    const GOOD_RULES: &str =
        "-A -t 10.0.0.1:80 -s rr\n# a comment\n\n-a -t 10.0.0.1:80 -r 10.0.1.1 -m\n-L -n --json\n";
    const BAD_RULES: &str = "-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.1.1 -w x\n-C\n-A -t 10.0.0.2:80 --bogus\n-E -t 10.0.0.1:80 --netns a\n-a -t 10.0.0.1:80 -r 10.0.1.2 -j\n";

    /// `--test` needs no kernel: these run on any host.
    #[test]
    fn restore_test_checks_without_a_kernel() {
        type Runner = fn(&[&str], &str) -> (i32, String, String);
        let runs: [(Runner, &[&str], &str); 2] = [
            (main_with, &["-R", "--test"], "ipvsadm-rs"),
            (restore_wrapper_with, &["--test"], "ipvsadm-rs-restore"),
        ];
        for (run, test_args, prog) in runs {
            let (code, out, err) = run(test_args, GOOD_RULES);
            assert_eq!((code, out.as_str()), (0, ""), "{err}");
            assert!(
                err.ends_with(
                    "restore test: 3 command lines checked, no errors; nothing applied\n"
                ),
                "{err}"
            );
            let (code, out, err) = run(test_args, BAD_RULES);
            assert_eq!(code, 2, "{err}");
            assert_eq!(out, "");
            let lines: Vec<&str> = err.lines().collect();
            assert_eq!(
                lines,
                vec![
                    "line 2: illegal weight specified",
                    "line 4: --bogus: unknown option",
                    "line 5: --netns is not allowed in restore input: give it to the restore itself",
                    "line 6: -j: unknown option",
                    &format!("{prog}: restore: 4 bad lines, nothing applied"),
                ],
                "{err}"
            );
        }
        // A popt error on the first bad line gives its status, 255.
        let (code, _, err) = main_with(&["--test", "-R"], "-A --nope\n-A -t 1.2.3.4:80 -w 1\n");
        assert_eq!(code, 255, "{err}");
        assert_eq!(err.lines().count(), 3, "{err}");
    }

    #[test]
    fn a_missing_namespace_is_named_and_changes_nothing() {
        let name = "ipvsadm-rs-no-such-namespace";
        let want = format!(
            "cannot open network namespace {name} (/run/netns/{name}): No such file or directory\n"
        );
        for args in [
            vec!["--netns", name, "-C"],
            vec!["-A", "-t", "10.0.0.1:80", "--netns", name],
            vec!["-R", "--netns", name],
        ] {
            assert_eq!(
                main_with(&args, "-C\n"),
                (2, String::new(), want.clone()),
                "{args:?}"
            );
        }
        assert_eq!(
            restore_wrapper_with(&["--netns", name], "-C\n"),
            (2, String::new(), want.clone())
        );
        let args: Vec<OsString> = ["--netns", name].iter().map(OsString::from).collect();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        assert_eq!(run_save("ipvsadm-rs-save", &args, &mut out, &mut err), 2);
        assert_eq!(String::from_utf8(err).unwrap(), want);
        // A path is shown as given.
        let (code, _, err) = main_with(&["-L", "--netns", "/nonexistent/ns"], "");
        assert_eq!(code, 2);
        assert_eq!(
            err,
            "cannot open network namespace /nonexistent/ns: No such file or directory\n"
        );
        // A file that is not a namespace.
        let (code, _, err) = main_with(&["-L", "--netns", "/proc/self/status"], "");
        assert_eq!(code, 2);
        assert!(
            err.ends_with("not a network namespace\n") || err.contains("Operation not permitted"),
            "{err}"
        );
    }

    #[test]
    fn netns_paths() {
        assert_eq!(netns_path("a"), std::path::PathBuf::from("/run/netns/a"));
        assert_eq!(
            netns_path("/proc/1/ns/net"),
            std::path::PathBuf::from("/proc/1/ns/net")
        );
    }

    #[test]
    fn restore_wrapper_arguments() {
        let v = |w: &[&str]| w.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(restore_args(&v(&[])), Ok(RestoreArgs::default()));
        assert_eq!(
            restore_args(&v(&["--test", "--netns=b"])),
            Ok(RestoreArgs {
                netns: Some("b".into()),
                test: true
            })
        );
        let e = |w: &[&str]| restore_args(&v(w)).unwrap_err();
        assert_eq!(
            e(&["--netns", "a", "--netns", "b"]).stderr,
            "multiple 'netns' options specified\n"
        );
        assert_eq!(
            e(&["--test", "--test"]).stderr,
            "multiple 'test' options specified\n"
        );
        assert_eq!(e(&["--netns"]).code, 2);
        assert_eq!(e(&["--netns="]).code, 2);
        // A mistyped --test must not fall through to a flushing restore.
        let f = e(&["--tset"]);
        assert_eq!(f.code, 2);
        assert!(
            f.stderr.starts_with("unexpected argument --tset\n"),
            "{}",
            f.stderr
        );
        let (code, _, err) = restore_wrapper_with(&["--tset"], "-C\n");
        assert_eq!(code, 2, "{err}");
    }

    /// A kernel that knows the IPVS family but refuses every IPVS request
    /// with `errno`, one request per datagram.
    struct Refusing {
        errno: i32,
        queue: std::collections::VecDeque<Vec<u8>>,
    }

    impl crate::client::Transport for Refusing {
        fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
            use crate::wire::netlink::{
                encode_error, encode_family_reply, header_of, GENL_ID_CTRL,
            };
            let h = header_of(datagram).unwrap();
            let mut reply = Vec::new();
            if h.message_type == GENL_ID_CTRL {
                encode_family_reply(&mut reply, h.sequence_number, h.port_number, "IPVS", 0x1c)
                    .unwrap();
                encode_error(&mut reply, &h, 0);
            } else {
                encode_error(&mut reply, &h, self.errno);
            }
            self.queue.push_back(reply);
            Ok(())
        }

        fn recv(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
            *buf = self.queue.pop_front().unwrap();
            Ok(())
        }
    }

    /// Runs `args` (a listing) against a kernel refusing with `errno`.
    fn list_refused(args: &[&str], errno: i32) -> Failure {
        let client = Client::with_transport(Box::new(Refusing {
            errno,
            queue: Default::default(),
        }))
        .unwrap();
        let mut session = Session {
            client,
            info: Some(Info {
                version: 0x010201,
                conn_tab_size: 4096,
            }),
        };
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let inv = parse::parse("ipvsadm", &args, &NumericResolver).unwrap();
        let mut out = Vec::new();
        let f = list(&mut session, &inv, &mut out).unwrap_err();
        assert!(out.is_empty());
        f
    }

    #[test]
    fn policy_17_timeout_and_daemon_listing_failures_say_why() {
        // ipvsadm exits 1 and prints nothing for these two.
        for args in [&["-L", "--timeout"][..], &["-L", "--daemon"]] {
            let f = list_refused(args, libc::EPERM);
            assert_eq!(f.code, 1, "{args:?}");
            assert_eq!(
                f.stderr, "Permission denied (you must be root)\n",
                "{args:?}"
            );
        }
    }

    #[test]
    fn lost_acknowledgements_and_unsettled_dumps_are_said_plainly() {
        let f = kernel(Err(Error::AckLost), Op::AddDest).unwrap_err();
        assert_eq!(f.code, 255);
        assert_eq!(
            f.stderr,
            "No buffer space available: acknowledgement lost, the line may or may not have been applied\n"
        );
        assert_eq!(
            dump_failure(Op::GetService, &Error::DumpInterrupted { attempts: 10 }),
            "Interrupted system call: the IPVS table changed during each of 10 listings; nothing more printed"
        );
        assert_eq!(
            dump_failure(Op::GetDests, &Error::Kernel { errno: libc::ESRCH }),
            "No such service"
        );
    }

    #[test]
    fn policy_18_service_dump_errors_name_the_operation() {
        // ipvsadm's netlink dump reads ESRCH as "No such process".
        let f = list_refused(&["-L", "-n"], libc::ESRCH);
        assert_eq!((f.code, f.stderr.as_str()), (1, "No such service\n"));
        let f = list_refused(&["-L", "-n", "-t", "10.0.0.1:80"], libc::ESRCH);
        assert_eq!((f.code, f.stderr.as_str()), (1, "No such service\n"));
        let f = list_refused(&["-L", "-n"], libc::EPERM);
        assert_eq!(f.stderr, "Permission denied (you must be root)\n");
    }

    #[test]
    fn mode_follows_program_name() {
        assert_eq!(
            Mode::from_argv0("/usr/sbin/ipvsadm-save", Mode::Main),
            Mode::Save
        );
        assert_eq!(
            Mode::from_argv0("ipvsadm-rs-restore", Mode::Main),
            Mode::Restore
        );
        assert_eq!(Mode::from_argv0("ipvsadm", Mode::Save), Mode::Main);
        assert_eq!(Mode::from_argv0("lb", Mode::Save), Mode::Save);
    }
}
