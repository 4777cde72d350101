//! Host-side CPU micro-benchmark of the big operations' user-space work,
//! with no kernel involved:
//!
//! * `list`: `print::list_table` (`-Ln`) over the whole table in chunks of
//!   16 services, as a whole-table listing prints it;
//! * `save`: `print::save_table` (`-Sn`) in the same chunks;
//! * `restore-check`: parsing and checking every line of a restore file
//!   (`run::check_restore_input`);
//! * `batch`: `Client::batch` of the restore's requests against an
//!   in-memory transport that only acknowledges (request encoding and
//!   acknowledgement parsing: restore's sending side).
//! * `dest-decode`: `decode_dest` of one destination reply with both
//!   counter nests, as the kernel sends them.
//! * `dest-dump`: `Client::dests` against an in-memory transport that
//!   answers every destination dump with prebuilt replies (request
//!   encoding, reply parsing and decoding).
//!
//! Run with `cargo run --release --example cpu_bench [-- SERVICES [REPS]]
//! [NAME...]` (defaults 2000 services × 10 destinations, 15 repetitions;
//! NAMEs pick the measurements whose name contains one). Prints the
//! median and the best repetition, in total and per output/input line, in
//! CPU time of the measuring thread (so a busy machine inflates the
//! numbers less than wall time would).
//! A benchmark, not a test: nothing fails when a machine is slow.

use std::fmt::Write as _;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use ipvsadm_rs::client::{Client, Transport};
use ipvsadm_rs::ipvsadm::options::ListOptions;
use ipvsadm_rs::ipvsadm::print;
use ipvsadm_rs::ipvsadm::resolve::{NumericResolver, SystemResolver};
use ipvsadm_rs::ipvsadm::run::check_restore_input;
use ipvsadm_rs::model::{
    svc_flags, Dest, Family, FwdMethod, Protocol, Service, ServiceEntry, ServiceKey, Stats,
};
use ipvsadm_rs::wire::ipvs::{decode_dest, encode_dest_reply, ReplyHeader};
use ipvsadm_rs::wire::netlink::{
    encode_done, encode_error, encode_family_reply, header_of, GENL_ID_CTRL, NLM_F_ACK, NLM_F_DUMP,
    NLM_F_MULTI,
};

/// Destinations per service, as in `cargo xtask bench`.
const DESTS: usize = 10;
/// Services per printer call, as `run.rs` prints a whole table.
const CHUNK: usize = 16;
/// The family id the fake kernel hands out.
const FAMILY: u16 = 0x1c;

/// The restore input `cargo xtask bench` uses (xtask/src/bench.rs
/// `rules()`): the same addresses, so the same text lengths.
fn rules(services: usize) -> String {
    let mut s = String::with_capacity(services * (DESTS + 1) * 48);
    for i in 0..services {
        let vip = format!("10.1.{}.{}:80", i / 250, i % 250 + 1);
        let _ = writeln!(s, "-A -t {vip} -s wlc");
        for d in 0..DESTS {
            let n = i * DESTS + d;
            let _ = writeln!(
                s,
                "-a -t {vip} -r 10.{}.{}.{}:8080 -m -w {}",
                2 + n / 62_500,
                n / 250 % 250,
                n % 250 + 1,
                d + 1
            );
        }
    }
    s
}

/// The table that restoring [`rules`] creates, as the kernel reports it.
fn table(services: usize) -> Vec<ServiceEntry> {
    (0..services)
        .map(|i| {
            let vip = Ipv4Addr::new(10, 1, (i / 250) as u8, (i % 250 + 1) as u8);
            let mut service = Service::new(ServiceKey::Addr {
                protocol: Protocol::Tcp,
                addr: IpAddr::V4(vip),
                port: 80,
            });
            service.scheduler = "wlc".to_owned();
            service.flags = svc_flags::HASHED;
            let dests = (0..DESTS)
                .map(|d| {
                    let n = i * DESTS + d;
                    let addr = Ipv4Addr::new(
                        (2 + n / 62_500) as u8,
                        (n / 250 % 250) as u8,
                        (n % 250 + 1) as u8,
                        0,
                    );
                    // 10.x.y.z: shift the octets into place.
                    let [a, b, c, _] = addr.octets();
                    let mut dest = Dest::new(IpAddr::V4(Ipv4Addr::new(10, a, b, c)), 8080);
                    dest.fwd = FwdMethod::Masq;
                    dest.weight = (d + 1) as i32;
                    dest
                })
                .collect();
            ServiceEntry { service, dests }
        })
        .collect()
}

/// A kernel stand-in: resolves the family and answers every other
/// request (a destination dump) with the same prebuilt replies, only the
/// sequence numbers patched, so that the kernel side costs next to
/// nothing.
struct FakeKernel {
    /// The dump's parts and its end, with sequence number 0.
    template: Vec<u8>,
    pending: Vec<Vec<u8>>,
}

impl FakeKernel {
    fn new(dests: &[Dest]) -> FakeKernel {
        let rh = ReplyHeader {
            family: FAMILY,
            flags: NLM_F_MULTI,
            seq: 0,
            pid: 0,
        };
        let mut template = Vec::new();
        for d in dests {
            encode_dest_reply(&mut template, &rh, d).expect("encodable destination");
        }
        encode_done(&mut template, 0, 0, NLM_F_MULTI, 0);
        FakeKernel {
            template,
            pending: Vec::new(),
        }
    }
}

impl Transport for FakeKernel {
    fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        let h = header_of(datagram).ok_or(io::ErrorKind::InvalidData)?;
        let mut reply = Vec::new();
        if h.message_type == GENL_ID_CTRL {
            encode_family_reply(&mut reply, h.sequence_number, h.port_number, "IPVS", FAMILY)
                .map_err(|_| io::ErrorKind::InvalidData)?;
            encode_error(&mut reply, &h, 0);
        } else if h.flags & NLM_F_DUMP == 0 {
            // A batch of writes: acknowledge each message that asks.
            let mut at = 0;
            while let Some(m) = datagram.get(at..).and_then(header_of) {
                if m.flags & NLM_F_ACK != 0 {
                    encode_error(&mut reply, &m, 0);
                }
                at += (m.length as usize + 3) & !3;
            }
        } else {
            reply.extend_from_slice(&self.template);
            // Patch each message's sequence number (bytes 8..12).
            let mut at = 0;
            while let Some(len) = reply
                .get(at..at + 4)
                .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize)
            {
                if let Some(seq) = reply.get_mut(at + 8..at + 12) {
                    seq.copy_from_slice(&h.sequence_number.to_ne_bytes());
                }
                at += (len + 3) & !3;
            }
        }
        self.pending.push(reply);
        Ok(())
    }

    fn recv(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        if self.pending.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let next = self.pending.remove(0);
        buf.clear();
        buf.extend_from_slice(&next);
        Ok(())
    }
}

/// CPU time this thread has used (user and system), unaffected by time
/// spent waiting for a CPU on a busy machine.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs `f` `reps` times; returns the median and the best CPU time.
fn measure(reps: usize, mut f: impl FnMut()) -> (Duration, Duration) {
    f(); // warm-up
    let mut times: Vec<Duration> = (0..reps)
        .map(|_| {
            let t = thread_cpu_time();
            f();
            thread_cpu_time().saturating_sub(t)
        })
        .collect();
    times.sort();
    (times[times.len() / 2], times[0])
}

fn report(name: &str, lines: usize, (median, best): (Duration, Duration)) {
    let per = |d: Duration| d.as_nanos() as f64 / lines.max(1) as f64;
    println!(
        "{name:<14} {lines:>7} lines  median {:>8.2} ms ({:>7.1} ns/line)  best {:>8.2} ms ({:>7.1} ns/line)",
        median.as_secs_f64() * 1e3,
        per(median),
        best.as_secs_f64() * 1e3,
        per(best),
    );
}

fn main() {
    let words: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<usize> = words.iter().filter_map(|a| a.parse().ok()).collect();
    let names: Vec<&String> = words
        .iter()
        .filter(|a| a.parse::<usize>().is_err())
        .collect();
    let wanted = |name: &str| names.is_empty() || names.iter().any(|n| name.contains(n.as_str()));
    let services = args.first().copied().unwrap_or(2000).max(1);
    let reps = args.get(1).copied().unwrap_or(15).max(1);
    let entries = table(services);
    let lines = services * (DESTS + 1);
    println!("cpu_bench: {services} services x {DESTS} destinations, {reps} repetitions");

    let opts = ListOptions {
        numeric: true,
        ..ListOptions::default()
    };
    let mut buf = Vec::with_capacity(1 << 16);
    let mut bytes = 0;
    if wanted("list -Ln") {
        let t = measure(reps, || {
            bytes = 0;
            for chunk in entries.chunks(CHUNK) {
                buf.clear();
                print::list_table(&mut buf, None, chunk, &opts, &NumericResolver)
                    .expect("listing into memory");
                bytes += buf.len();
            }
        });
        report("list -Ln", lines, t);
    }

    let stats = ListOptions {
        stats: true,
        ..opts
    };
    if wanted("list --stats") {
        let t = measure(reps, || {
            for chunk in entries.chunks(CHUNK) {
                buf.clear();
                print::list_table(&mut buf, None, chunk, &stats, &NumericResolver)
                    .expect("listing into memory");
            }
        });
        report("list --stats", lines, t);
    }

    if wanted("save -Sn") {
        let t = measure(reps, || {
            for chunk in entries.chunks(CHUNK) {
                buf.clear();
                print::save_table(&mut buf, chunk, true, &NumericResolver)
                    .expect("saving into memory");
            }
        });
        report("save -Sn", lines, t);
    }

    if wanted("restore-check") {
        let input = rules(services);
        let mut err = Vec::new();
        let t = measure(reps, || {
            // The resolver restore uses; numeric input never consults it.
            let n = check_restore_input("ipvsadm", input.as_bytes(), &SystemResolver, &mut err)
                .map(|steps| steps.len());
            assert_eq!(n, Ok(lines), "{}", String::from_utf8_lossy(&err));
        });
        report("restore-check", lines, t);
    }

    if wanted("batch") {
        // Restore's sending side: the checked input's requests encoded
        // into datagrams, against a kernel that only acknowledges.
        let input = rules(services);
        let mut err = Vec::new();
        let reqs: Vec<_> =
            check_restore_input("ipvsadm", input.as_bytes(), &SystemResolver, &mut err)
                .expect("valid input")
                .into_iter()
                .filter_map(|(_, r)| r)
                .collect();
        let kernel = FakeKernel::new(&[]);
        let mut client = Client::with_transport(Box::new(kernel)).expect("fake family");
        let t = measure(reps, || {
            let results = client.batch(&reqs).expect("fake batch");
            assert!(results.iter().all(Result::is_ok));
        });
        report("batch", reqs.len(), t);
    }

    if wanted("dest-decode") {
        // One destination reply as the kernel sends it, with both counter
        // nests (`dest-dump`'s replies have none), decoded `lines` times.
        let mut d = Dest::new(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)), 8080);
        d.fwd = FwdMethod::Masq;
        d.stats = Some(Box::new(Stats {
            conns: 5,
            inpkts: 100,
            outpkts: 90,
            inbytes: 10_000,
            outbytes: 9_000,
            cps: 1,
            inpps: 2,
            outpps: 3,
            inbps: 400,
            outbps: 300,
        }));
        let rh = ReplyHeader {
            family: FAMILY,
            flags: NLM_F_MULTI,
            seq: 0,
            pid: 0,
        };
        let mut reply = Vec::new();
        encode_dest_reply(&mut reply, &rh, &d).expect("encodable destination");
        // After the netlink and generic-netlink headers: the attributes.
        let attrs = reply.get(20..).unwrap_or_default();
        let t = measure(reps, || {
            for _ in 0..services * DESTS {
                let got = decode_dest(std::hint::black_box(attrs), Family::Inet);
                assert!(got.is_ok());
            }
        });
        report("dest-decode", services * DESTS, t);
    }

    if wanted("dest-dump") {
        let kernel = FakeKernel::new(entries.first().map_or(&[][..], |e| &e.dests));
        let mut client = Client::with_transport(Box::new(kernel)).expect("fake family");
        let t = measure(reps, || {
            for e in &entries {
                let d = client.dests(&e.service).expect("fake dump");
                assert_eq!(d.len(), DESTS);
            }
        });
        report("dest-dump", services * DESTS, t);
    }
    if bytes > 0 {
        println!("(the listing is {bytes} bytes)");
    }
}
