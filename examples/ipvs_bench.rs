//! Measuring helper for `cargo xtask bench`, run inside the test-bed VM.
//! Not a product binary: it prints `key=value` lines for the bench to read.
//!
//! * `ipvs_bench run [--in F] [--out F] [--err F] -- PROG ARGS...` runs one
//!   command and reports its wall time, its peak resident set
//!   (`ru_maxrss`), CPU times, minor faults and exit status. `ru_maxrss`
//!   also counts the forked copy of this helper before the exec, a few
//!   hundred KiB: measure a tiny static program to see that floor. (`VmHWM`
//!   read at a ptrace exit stop would avoid it, but kernels before 6.2
//!   update those counters lazily and under-report small processes.)
//! * `ipvs_bench floor FILE [REPS [MESSAGES]]` parses a restore file into
//!   requests (not timed), then per repetition flushes the table (not
//!   timed) and times only `Client::batch` of those requests: the kernel's
//!   own cost plus the socket, with nothing else done. MESSAGES caps the
//!   requests per datagram (1 = one request per system call).
//! * `ipvs_bench dumps [SOCKETS...]` times the dumps a full listing makes
//!   on the current table: the service dump, then every destination dump
//!   on one socket, and on N sockets with one thread each; then the same
//!   destination dumps by hand on a bare socket, receiving into buffers of
//!   4, 8 and 16 KiB (the kernel sizes every dump part by the largest
//!   buffer a socket has received into: this is what chose the client's
//!   datagram size, see `src/client.rs`).
//! * `ipvs_bench trace --funcs F --out F [--in F] -- PROG ARGS...` runs one
//!   command under ptrace with a breakpoint on every function start listed
//!   in `--funcs` (hex addresses relative to the program's load address,
//!   one per line) and writes the functions it entered, in the order it
//!   first entered them, to `--out`. Each breakpoint is removed when hit,
//!   so the program runs at nearly full speed. This is how `cargo xtask
//!   hot-code` learns which functions the ipvsadm commands run.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use ipvsadm_rs::client::{Client, Request};
use ipvsadm_rs::ipvsadm::lines::write_request;
use ipvsadm_rs::ipvsadm::parse;
use ipvsadm_rs::ipvsadm::resolve::NumericResolver;
use ipvsadm_rs::model::Service;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => run(args.get(1..).unwrap_or(&[])),
        Some("floor") => floor(args.get(1..).unwrap_or(&[])),
        Some("dumps") => dumps(args.get(1..).unwrap_or(&[])),
        Some("trace") => trace(args.get(1..).unwrap_or(&[])),
        _ => Err("usage: ipvs_bench run|floor|dumps|trace ...".to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ipvs_bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn micros(d: Duration) -> u128 {
    d.as_micros()
}

/// `run`: one command, measured.
fn run(args: &[String]) -> Result<(), String> {
    let mut stdin = Stdio::null();
    let mut stdout = Stdio::null();
    let mut stderr = Stdio::null();
    let mut it = args.iter();
    let open = |p: &String| File::open(p).map_err(|e| format!("{p}: {e}"));
    let create = |p: &String| File::create(p).map_err(|e| format!("{p}: {e}"));
    let mut argv: Vec<&String> = Vec::new();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--in" => stdin = open(it.next().ok_or("--in FILE")?)?.into(),
            "--out" => stdout = create(it.next().ok_or("--out FILE")?)?.into(),
            "--err" => stderr = create(it.next().ok_or("--err FILE")?)?.into(),
            "--" => {
                argv.extend(it.by_ref());
                break;
            }
            other => return Err(format!("unexpected {other}")),
        }
    }
    let (prog, rest) = argv.split_first().ok_or("no command")?;
    let mut cmd = Command::new(prog);
    cmd.args(rest).stdin(stdin).stdout(stdout).stderr(stderr);
    // A pre-exec hook makes the standard library fork instead of using
    // posix_spawn (a vfork), whose child would inherit this process's whole
    // peak resident set into its ru_maxrss at the exec.
    // SAFETY: the hook does nothing.
    unsafe {
        cmd.pre_exec(|| Ok(()));
    }
    let started = Instant::now();
    let child = cmd.spawn().map_err(|e| format!("{prog}: {e}"))?;
    let pid = libc::pid_t::try_from(child.id()).map_err(|e| e.to_string())?;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: status and usage are live and writable.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r != -1 {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(format!("wait4: {e}"));
        }
    }
    let wall = started.elapsed();
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    let tv = |t: libc::timeval| t.tv_sec as i128 * 1_000_000 + t.tv_usec as i128;
    println!(
        "wall_us={} maxrss_kb={} utime_us={} stime_us={} minflt={} status={code}",
        micros(wall),
        usage.ru_maxrss,
        tv(usage.ru_utime),
        tv(usage.ru_stime),
        usage.ru_minflt,
    );
    Ok(())
}

/// Parses restore input into requests with the library's own parser.
fn requests(input: &str) -> Result<Vec<Request>, String> {
    let mut reqs = Vec::new();
    for (i, line) in input.lines().enumerate() {
        let words: Vec<OsString> = line
            .split([' ', '\t', '\r'])
            .filter(|w| !w.is_empty() && *w != "ipvsadm")
            .map(OsString::from)
            .collect();
        if words.is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let inv = parse::parse("ipvs_bench", &words, &NumericResolver)
            .map_err(|f| format!("line {}: {}", i + 1, f.stderr.trim_end()))?;
        let (req, _) =
            write_request(&inv).ok_or_else(|| format!("line {}: not a write command", i + 1))?;
        reqs.push(req);
    }
    Ok(reqs)
}

fn client() -> Result<Client, String> {
    Client::open().map_err(|e| format!("cannot open IPVS: {e}"))
}

/// `floor FILE [REPS]`.
fn floor(args: &[String]) -> Result<(), String> {
    let path = args.first().ok_or("floor FILE [REPS [MESSAGES]]")?;
    let reps: usize = match args.get(1) {
        Some(r) => r.parse().map_err(|_| format!("bad REPS {r}"))?,
        None => 1,
    };
    let mut input = String::new();
    File::open(path)
        .and_then(|mut f| f.read_to_string(&mut input))
        .map_err(|e| format!("{path}: {e}"))?;
    let reqs = requests(&input)?;
    let mut c = client()?;
    if let Some(m) = args.get(2) {
        let m: usize = m.parse().map_err(|_| format!("bad MESSAGES {m}"))?;
        c.set_batch_limits(usize::MAX, m);
    }
    for _ in 0..reps {
        c.flush().map_err(|e| format!("flush: {e}"))?;
        let t = Instant::now();
        let results = c.batch(&reqs).map_err(|e| format!("batch: {e}"))?;
        let took = t.elapsed();
        let failed = results.iter().filter(|r| r.is_err()).count();
        println!(
            "floor_us={} requests={} failed={failed}",
            micros(took),
            reqs.len()
        );
    }
    Ok(())
}

/// Destination dumps of `services` on one fresh socket; returns how many
/// destinations were read.
fn dest_dumps(services: &[Service]) -> Result<usize, String> {
    let mut c = client()?;
    let mut n = 0;
    for s in services {
        n += c.dests(s).map_err(|e| format!("dests: {e}"))?.len();
    }
    Ok(n)
}

/// `dumps [SOCKETS...]`.
fn dumps(args: &[String]) -> Result<(), String> {
    let mut c = client()?;
    let t = Instant::now();
    let services = c.services().map_err(|e| format!("services: {e}"))?;
    let svc_time = t.elapsed();
    let t = Instant::now();
    let mut dests = 0;
    for s in &services {
        dests += c.dests(s).map_err(|e| format!("dests: {e}"))?.len();
    }
    let one = t.elapsed();
    print!(
        "services={} dests={dests} services_us={} dests_1_us={}",
        services.len(),
        micros(svc_time),
        micros(one)
    );
    for a in args {
        let k: usize = a.parse().map_err(|_| format!("bad socket count {a}"))?;
        let k = k.max(1);
        let per = services.len().div_ceil(k).max(1);
        let t = Instant::now();
        let total = std::thread::scope(|scope| {
            let handles: Vec<_> = services
                .chunks(per)
                .map(|part| scope.spawn(move || dest_dumps(part)))
                .collect();
            let mut total = 0;
            for h in handles {
                total += h.join().map_err(|_| "thread panicked".to_string())??;
            }
            Ok::<usize, String>(total)
        })?;
        if total != dests {
            return Err(format!(
                "{k} sockets read {total} destinations, not {dests}"
            ));
        }
        print!(" dests_{k}_us={}", micros(t.elapsed()));
    }
    for size in RAW_SIZES {
        let t = Instant::now();
        let n = raw_dest_dumps(&c, &services, size)?;
        if n != dests {
            return Err(format!(
                "raw dumps with {size} bytes read {n} destinations, not {dests}"
            ));
        }
        print!(" raw_{size}_us={}", micros(t.elapsed()));
    }
    println!();
    Ok(())
}

/// Receive-buffer sizes `dumps` tries by hand.
const RAW_SIZES: [usize; 3] = [4096, 8192, 16384];

/// Every destination dump of `services` on a fresh bare socket, each
/// datagram received into a buffer of `size` bytes; returns how many
/// destination messages came.
fn raw_dest_dumps(c: &Client, services: &[Service], size: usize) -> Result<usize, String> {
    use ipvsadm_rs::wire::ipvs::IpvsRequest;
    use ipvsadm_rs::wire::netlink::{messages, Body};
    use netlink_sys::{protocols::NETLINK_GENERIC, Socket, SocketAddr};
    let err = |e: io::Error| format!("raw socket: {e}");
    let mut sock = Socket::new(NETLINK_GENERIC).map_err(err)?;
    sock.bind_auto().map_err(err)?;
    sock.connect(&SocketAddr::new(0, 0)).map_err(err)?;
    let mut req = Vec::new();
    let mut buf = vec![0u8; size];
    let mut n = 0;
    for (seq, s) in (1u32..).zip(services) {
        req.clear();
        IpvsRequest::GetDests(&s.key)
            .encode(&mut req, c.family_id(), seq, 0)
            .map_err(|e| format!("encode: {e}"))?;
        sock.send(&req, 0).map_err(err)?;
        'parts: loop {
            let len = sock.recv(&mut &mut buf[..], libc::MSG_TRUNC).map_err(err)?;
            let got = buf
                .get(..len)
                .ok_or_else(|| format!("datagram of {len} bytes truncated to {size}"))?;
            for m in messages(got) {
                match m.map_err(|e| format!("reply: {e}"))?.body {
                    Body::Data(_) => n += 1,
                    Body::Done { .. } | Body::Ack => break 'parts,
                    Body::Error { errno } => return Err(format!("dump: errno {errno}")),
                    Body::Control(_) => {}
                }
            }
        }
    }
    Ok(n)
}

/// `trace`: the functions one command enters, in first-entry order.
fn trace(args: &[String]) -> Result<(), String> {
    let mut funcs = None;
    let mut out = None;
    let mut stdin = Stdio::null();
    let mut it = args.iter();
    let mut argv: Vec<&String> = Vec::new();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--funcs" => funcs = Some(it.next().ok_or("--funcs FILE")?),
            "--out" => out = Some(it.next().ok_or("--out FILE")?),
            "--in" => {
                let p = it.next().ok_or("--in FILE")?;
                stdin = File::open(p).map_err(|e| format!("{p}: {e}"))?.into();
            }
            "--" => {
                argv.extend(it.by_ref());
                break;
            }
            other => return Err(format!("unexpected {other}")),
        }
    }
    let funcs = funcs.ok_or("--funcs FILE is required")?;
    let out = out.ok_or("--out FILE is required")?;
    let text = std::fs::read_to_string(funcs).map_err(|e| format!("{funcs}: {e}"))?;
    let mut starts = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v = u64::from_str_radix(line.trim().trim_start_matches("0x"), 16)
            .map_err(|_| format!("{funcs}: bad address {line:?}"))?;
        starts.push(v);
    }
    starts.sort_unstable();
    starts.dedup();
    let (prog, rest) = argv.split_first().ok_or("no command")?;
    let mut cmd = Command::new(prog);
    cmd.args(rest)
        .stdin(stdin)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: PTRACE_TRACEME only marks this (forked) process as traced:
    // it stops at the exec that follows.
    unsafe {
        cmd.pre_exec(|| {
            if libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn().map_err(|e| format!("{prog}: {e}"))?;
    let pid = libc::pid_t::try_from(child.id()).map_err(|e| e.to_string())?;
    let mut status: libc::c_int = 0;
    // The stop at the exec.
    // SAFETY: status is live and writable.
    if unsafe { libc::waitpid(pid, &mut status, 0) } != pid || !libc::WIFSTOPPED(status) {
        return Err("the traced program did not stop at its exec".into());
    }
    // SAFETY: plain ptrace requests on our stopped child.
    unsafe {
        libc::ptrace(
            libc::PTRACE_SETOPTIONS,
            pid,
            0,
            libc::PTRACE_O_EXITKILL as libc::c_long,
        );
    }
    let base = load_address(pid)?;
    let mut saved = std::collections::HashMap::with_capacity(starts.len());
    for &s in &starts {
        let addr = base + s;
        let word = peek(pid, addr)?;
        poke(pid, addr, (word & !0xff) | 0xcc)?;
        saved.insert(addr, (word & 0xff, s));
    }
    let mut order = Vec::new();
    let mut signal = 0;
    loop {
        // SAFETY: continuing our stopped child.
        unsafe { libc::ptrace(libc::PTRACE_CONT, pid, 0, signal as libc::c_long) };
        // SAFETY: status is live and writable.
        if unsafe { libc::waitpid(pid, &mut status, 0) } != pid {
            return Err(format!("waitpid: {}", io::Error::last_os_error()));
        }
        if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            break;
        }
        signal = libc::WSTOPSIG(status);
        if signal != libc::SIGTRAP {
            continue;
        }
        // SAFETY: an all-zero register set is valid for GETREGS to fill.
        let mut regs: libc::user_regs_struct = unsafe { std::mem::zeroed() };
        // SAFETY: regs is live and writable.
        unsafe { libc::ptrace(libc::PTRACE_GETREGS, pid, 0, &mut regs as *mut _) };
        let at = regs.rip.wrapping_sub(1);
        if let Some((byte, start)) = saved.remove(&at) {
            let word = peek(pid, at)?;
            poke(pid, at, (word & !0xff) | byte)?;
            regs.rip = at;
            // SAFETY: regs holds the child's registers, one field changed.
            unsafe { libc::ptrace(libc::PTRACE_SETREGS, pid, 0, &regs as *const _) };
            order.push(start);
            signal = 0;
        }
    }
    let text: String = order.iter().map(|a| format!("{a:x}\n")).collect();
    std::fs::write(out, text).map_err(|e| format!("{out}: {e}"))?;
    println!("entered={} of={}", order.len(), starts.len());
    Ok(())
}

/// Where the traced program's image starts (its first mapping).
fn load_address(pid: libc::pid_t) -> Result<u64, String> {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).map_err(|e| e.to_string())?;
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).map_err(|e| e.to_string())?;
    for line in maps.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 6
            && std::path::Path::new(f[5]) == exe
            && f[2].trim_start_matches('0').is_empty()
        {
            let start = f[0].split('-').next().unwrap_or("");
            return u64::from_str_radix(start, 16).map_err(|e| e.to_string());
        }
    }
    Err(format!("no mapping of {} at offset 0", exe.display()))
}

fn peek(pid: libc::pid_t, addr: u64) -> Result<u64, String> {
    // SAFETY: PEEKTEXT reads the child's memory; -1 is told apart by errno.
    unsafe {
        *libc::__errno_location() = 0;
        let v = libc::ptrace(libc::PTRACE_PEEKTEXT, pid, addr as usize, 0);
        if v == -1 && *libc::__errno_location() != 0 {
            return Err(format!("peek {addr:#x}: {}", io::Error::last_os_error()));
        }
        Ok(v as u64)
    }
}

fn poke(pid: libc::pid_t, addr: u64, word: u64) -> Result<(), String> {
    // SAFETY: POKETEXT writes one word of the child's (private) text.
    if unsafe { libc::ptrace(libc::PTRACE_POKETEXT, pid, addr as usize, word as usize) } == -1 {
        return Err(format!("poke {addr:#x}: {}", io::Error::last_os_error()));
    }
    Ok(())
}
