//! Running the command line: start-up, one parsed invocation against the
//! kernel, and the `-save` / `-restore` front ends.
//!
//! Everything here writes to the `out` and `err` streams it is given and
//! returns the exit status, so that the binaries stay thin.

use std::ffi::OsString;
use std::io::{self, BufReader, Read, Write};

use crate::cli::conn::{self, ConnError};
use crate::cli::errors::{ipvs_strerror, Op};
use crate::cli::help;
use crate::cli::options::ListOptions;
use crate::cli::parse::{self, Command, Failure, Invocation};
use crate::cli::print;
use crate::cli::resolve::{NumericResolver, Resolver, SystemResolver};
use crate::client::{Client, Error};
use crate::model::{Info, Service, ServiceEntry};

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

/// The process entry point shared by the binaries: returns the exit code.
pub fn main_entry(args: Vec<OsString>, fallback: Mode) -> i32 {
    crate::sys::default_sigpipe();
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
    let code = match Mode::from_argv0(&argv0, fallback) {
        Mode::Main => run_main(&argv0, rest, &mut stdin, &mut out, &mut err),
        Mode::Save => run_save(&argv0, rest, &mut out, &mut err),
        Mode::Restore => run_restore_wrapper(&argv0, &mut stdin, &mut out, &mut err),
    };
    let _ = out.flush();
    code
}

/// A connected client with what start-up learned.
struct Session {
    client: Client,
    info: Info,
}

/// Opens the IPVS family the way ipvsadm's start-up does, including the
/// one `modprobe ip_vs` attempt, and prints ipvsadm's two-line message on
/// failure.
fn init(err: &mut dyn Write) -> Result<Session, i32> {
    let failure = |err: &mut dyn Write, errno: i32| {
        let _ = write!(
            err,
            "Can't initialize ipvs: {}\nAre you sure that IP Virtual Server is built in the kernel or as module?\n",
            ipvs_strerror(Op::Generic, errno)
        );
        2
    };
    let mut client = match Client::open() {
        Ok(c) => c,
        Err(Error::FamilyNotFound) => {
            let _ = err.flush();
            let _ = std::process::Command::new("/sbin/modprobe")
                .args(["--", "ip_vs"])
                .status();
            match Client::open() {
                Ok(c) => c,
                Err(Error::FamilyNotFound) => {
                    return Err(failure(err, crate::sys::legacy_ipvs_probe()))
                }
                Err(e) => return Err(failure(err, e.errno().unwrap_or(libc::EINVAL))),
            }
        }
        Err(e) => return Err(failure(err, e.errno().unwrap_or(libc::EINVAL))),
    };
    match client.info() {
        Ok(info) => {
            if info.version < 0x010104 {
                let (a, b, c) = info.version_triple();
                let _ = write!(
                    err,
                    "Warning: IPVS version mismatch: \n  Kernel compiled with IPVS version {a}.{b}.{c}\n  ipvsadm v1.31  requires minimum IPVS version 1.1.4\n\n"
                );
            }
            Ok(Session { client, info })
        }
        Err(e) => Err(failure(err, e.errno().unwrap_or(libc::EINVAL))),
    }
}

/// `ipvsadm-rs ARGS...`.
pub fn run_main(
    prog: &str,
    args: &[OsString],
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    // `realserver ...` and `check ...` are ours, not ipvsadm's grammar.
    if let Some(code) = crate::cli::realserver::dispatch(prog, args, out, err) {
        return code;
    }
    // With no arguments at all the parser gives ipvsadm's `-L` with names.
    let parsed = parse::parse(prog, args, &SystemResolver);
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
    let mut session = match init(err) {
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
        Err(f) => report(err, None, &f),
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

fn report(err: &mut dyn Write, line: Option<usize>, f: &Failure) -> i32 {
    if let Some(n) = line {
        let _ = write!(err, "line {n}: ");
    }
    let _ = err.write_all(f.stderr.as_bytes());
    f.code
}

fn fail(code: i32, message: impl Into<String>) -> Failure {
    let mut stderr = message.into();
    if !stderr.is_empty() {
        stderr.push('\n');
    }
    Failure { code, stderr }
}

/// A failed kernel request of a command that changes the table: ipvsadm
/// prints the message and exits 255.
fn kernel(result: Result<(), Error>, op: Op) -> Result<(), Failure> {
    result.map_err(|e| fail(255, ipvs_strerror(op, errno_of(&e))))
}

/// The errno a failure stands for. Failures before the kernel answered
/// read as EINVAL, as in ipvsadm.
fn errno_of(e: &Error) -> i32 {
    e.errno().unwrap_or(libc::EINVAL)
}

fn service_of(inv: &Invocation) -> Result<&Service, Failure> {
    inv.service
        .as_ref()
        .ok_or_else(|| fail(2, "internal error: the command has no service"))
}

/// Runs one invocation (not `-R`) against the kernel.
fn execute(
    session: &mut Session,
    prog: &str,
    inv: &Invocation,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let client = &mut session.client;
    match inv.command {
        Command::AddService => kernel(client.add_service(service_of(inv)?), Op::AddService),
        Command::EditService => kernel(client.edit_service(service_of(inv)?), Op::EditService),
        Command::DelService => kernel(client.del_service(service_of(inv)?), Op::DelService),
        Command::AddDest | Command::EditDest | Command::DelDest => {
            let svc = service_of(inv)?;
            let dest = inv
                .dest
                .as_ref()
                .ok_or_else(|| fail(2, "internal error: the command has no destination"))?;
            match inv.command {
                Command::AddDest => kernel(client.add_dest(svc, dest), Op::AddDest),
                Command::EditDest => kernel(client.edit_dest(svc, dest), Op::EditDest),
                _ => kernel(client.del_dest(svc, dest), Op::DelDest),
            }
        }
        Command::Flush => kernel(client.flush(), Op::Generic),
        Command::Zero => kernel(client.zero(inv.service.as_ref()), Op::Zero),
        Command::SetTimeouts => {
            let t = inv.timeouts.unwrap_or_default();
            kernel(client.set_timeouts(&t), Op::Generic)
        }
        Command::StartDaemon | Command::StopDaemon => {
            let d = inv
                .daemon
                .as_ref()
                .ok_or_else(|| fail(2, "internal error: the command has no daemon"))?;
            if inv.command == Command::StartDaemon {
                kernel(client.start_daemon(d), Op::StartDaemon)
            } else {
                kernel(client.stop_daemon(d), Op::StopDaemon)
            }
        }
        Command::List => list(session, inv, out),
        Command::Save => save(session, inv.list.numeric, out),
        Command::Help => write_out(out, help::help_text(prog).as_bytes()),
        Command::Version => write_out(out, format!("{}\n", help::version_line()).as_bytes()),
        Command::Restore => Err(fail(
            255,
            format!("Try `{prog} -h' or '{prog} --help' for more information."),
        )),
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

/// Reads every service (or the one given) with its destinations.
fn snapshot(client: &mut Client, one: Option<&Service>) -> Result<Vec<ServiceEntry>, Failure> {
    let services = match one {
        Some(svc) => vec![client
            .service(svc)
            .map_err(|e| fail(1, ipvs_strerror(Op::GetService, errno_of(&e))))?],
        // Policy (§6 item 18): ipvsadm's netlink dump forgets to name the
        // operation, so ESRCH would read "No such process"; it reads as
        // the other service lookups do.
        None => client
            .services()
            .map_err(|e| fail(1, ipvs_strerror(Op::GetService, errno_of(&e))))?,
    };
    let mut entries = Vec::with_capacity(services.len());
    for service in services {
        let dests = client
            .dests(&service)
            .map_err(|e| fail(1, ipvs_strerror(Op::GetDests, errno_of(&e))))?;
        entries.push(ServiceEntry { service, dests });
    }
    Ok(entries)
}

fn list(session: &mut Session, inv: &Invocation, out: &mut dyn Write) -> Result<(), Failure> {
    let opts: &ListOptions = &inv.list;
    let res = resolver(opts.numeric);
    if opts.connection {
        let file = std::fs::File::open("/proc/net/ip_vs_conn")
            .map_err(|_| fail(1, "cannot open file /proc/net/ip_vs_conn"))?;
        return conn::list_connections(BufReader::new(file), out, opts, res).map_err(|e| match e {
            ConnError::Io(e) => io_failure(e),
            other => fail(1, other.to_string()),
        });
    }
    // Policy (§6 item 17): ipvsadm exits 1 here without a word; we say why.
    let listing = |e: Error| fail(1, ipvs_strerror(Op::Generic, errno_of(&e)));
    if opts.timeout {
        let t = session.client.timeouts().map_err(listing)?;
        return print::print_timeouts(out, &t).map_err(io_failure);
    }
    if opts.daemon {
        let d = session.client.daemons().map_err(listing)?;
        return print::print_daemons(out, &d).map_err(io_failure);
    }
    let mut entries = snapshot(&mut session.client, inv.service.as_ref())?;
    if !opts.nosort {
        print::sort_entries(&mut entries);
    }
    let info = if inv.service.is_some() {
        None
    } else {
        Some(&session.info)
    };
    print::list_table(out, info, &entries, opts, res).map_err(io_failure)
}

fn save(session: &mut Session, numeric: bool, out: &mut dyn Write) -> Result<(), Failure> {
    let mut entries = snapshot(&mut session.client, None)?;
    print::sort_entries(&mut entries);
    print::save_table(out, &entries, numeric, resolver(numeric)).map_err(io_failure)
}

/// One line of restore input, numbered from 1, as argv words.
struct RestoreLine {
    number: usize,
    words: Vec<OsString>,
}

/// Splits restore input into command lines the way ipvsadm reads them
/// (words separated by space, tab or CR; no quoting; the word `ipvsadm`
/// dropped wherever it stands), skipping blank lines and, unlike ipvsadm,
/// lines whose first word starts with `#`. The last line counts even
/// without a newline.
fn restore_lines(input: &[u8]) -> Vec<RestoreLine> {
    use std::os::unix::ffi::OsStrExt;
    let mut lines = Vec::new();
    for (i, raw) in input.split(|&b| b == b'\n').enumerate() {
        let words: Vec<OsString> = raw
            .split(|&b| b == b' ' || b == b'\t' || b == b'\r')
            .filter(|w| !w.is_empty() && *w != b"ipvsadm")
            .map(|w| std::ffi::OsStr::from_bytes(w).to_os_string())
            .collect();
        match words.first() {
            None => continue,
            Some(w) if w.as_bytes().starts_with(b"#") => continue,
            Some(_) => lines.push(RestoreLine {
                number: i + 1,
                words,
            }),
        }
    }
    lines
}

/// Parses every line of a restore; returns the invocations, or prints
/// every bad line with its number and returns the exit status.
fn check_restore(
    prog: &str,
    input: &[u8],
    err: &mut dyn Write,
) -> Result<Vec<(usize, Invocation)>, i32> {
    let mut good = Vec::new();
    let mut first_code = None;
    let mut bad = 0usize;
    for line in restore_lines(input) {
        let result = parse::parse(prog, &line.words, &SystemResolver).and_then(|inv| {
            if inv.command == Command::Restore {
                Err(fail(
                    255,
                    format!("Try `{prog} -h' or '{prog} --help' for more information."),
                ))
            } else {
                Ok(inv)
            }
        });
        match result {
            Ok(inv) => good.push((line.number, inv)),
            Err(f) => {
                bad += 1;
                let code = report(err, Some(line.number), &f);
                first_code.get_or_insert(code);
            }
        }
    }
    match first_code {
        Some(code) => {
            let _ = writeln!(
                err,
                "{prog}: restore: {bad} bad line{}, nothing applied",
                if bad == 1 { "" } else { "s" }
            );
            Err(code)
        }
        None => Ok(good),
    }
}

/// `-R`: checks the whole input, then applies it line by line; kernel
/// errors are reported with their line number and the rest goes on.
fn restore(
    prog: &str,
    session: &mut Session,
    input: &[u8],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    match check_restore(prog, input, err) {
        Ok(lines) => apply_restore(prog, session, &lines, out, err),
        Err(code) => code,
    }
}

fn apply_restore(
    prog: &str,
    session: &mut Session,
    lines: &[(usize, Invocation)],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let mut code = 0;
    for (number, inv) in lines {
        if matches!(inv.command, Command::Help | Command::Version) {
            // As in ipvsadm: print, and the rest of the input is ignored.
            let _ = execute(session, prog, inv, out);
            return code;
        }
        if let Err(f) = execute(session, prog, inv, out) {
            let _ = out.flush();
            let c = report(err, Some(*number), &f);
            if code == 0 {
                code = c;
            }
        }
    }
    code
}

/// `ipvsadm-save [-n]`.
pub fn run_save(prog: &str, args: &[OsString], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let mut numeric = false;
    for a in args {
        let a = a.to_string_lossy();
        if a == "-n" {
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
    let mut session = match init(err) {
        Ok(s) => s,
        Err(code) => return code,
    };
    match save(&mut session, numeric, out) {
        Ok(()) => 0,
        Err(f) => report(err, None, &f),
    }
}

/// `ipvsadm-restore`: replaces the whole table with standard input. The
/// input is checked first; if any line is bad the live table is left
/// alone (ipvsadm's wrapper flushes it first, whatever follows).
pub fn run_restore_wrapper(
    prog: &str,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let mut input = Vec::new();
    if let Err(e) = stdin.read_to_end(&mut input) {
        let _ = writeln!(err, "{prog}: cannot read standard input: {e}");
        return 1;
    }
    let mut session = match init(err) {
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
    apply_restore(prog, &mut session, &lines, out, err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(input: &str) -> Vec<(usize, Vec<String>)> {
        restore_lines(input.as_bytes())
            .into_iter()
            .map(|l| {
                (
                    l.number,
                    l.words
                        .iter()
                        .map(|w| w.to_string_lossy().into_owned())
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

    /// A kernel that knows the IPVS family but refuses every IPVS request
    /// with `errno`, one request per datagram.
    struct Refusing {
        errno: i32,
        queue: std::collections::VecDeque<Vec<u8>>,
    }

    impl crate::client::Transport for Refusing {
        fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
            use crate::wire::netlink::{encode_error, encode_family_reply, NlHeader, GENL_ID_CTRL};
            let h = NlHeader::parse(datagram).unwrap();
            let mut reply = Vec::new();
            if h.msg_type == GENL_ID_CTRL {
                encode_family_reply(&mut reply, h.seq, h.pid, "IPVS", 0x1c).unwrap();
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
            info: Info {
                version: 0x010201,
                conn_tab_size: 4096,
            },
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
