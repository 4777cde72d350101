//! The cost of one `ipvsadm-rs top` refresh without the kernel: rates
//! over two readings of 2,000 services x 10 real servers, sorted and
//! rendered as the table `top` prints. CPU time of this process per
//! refresh (not wall time: the machine may be shared), median and best.
//!
//! `cargo run --release --example top_refresh [SERVICES [SERVERS [ROUNDS]]]`

use std::net::IpAddr;
use std::time::Duration;

use ipvsadm_rs::model::{Dest, Protocol, Service, ServiceEntry, ServiceKey, Stats};
use ipvsadm_rs::services::top::{compute, render, render_rows, Reading, SortKey};

/// CPU time this thread has used (user and system), unaffected by time
/// spent waiting for a CPU on a busy machine.
fn cpu_time() -> Duration {
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

fn reading(services: u32, servers: u32, step: u64, at: u64) -> Reading {
    let stats = |n: u64| {
        Some(Box::new(Stats {
            conns: n * step,
            inpkts: n * step * 10,
            outpkts: n * step * 9,
            inbytes: n * step * 1500,
            outbytes: n * step * 900,
            ..Stats::default()
        }))
    };
    let entries = (0..services)
        .map(|i| {
            let mut service = Service::new(ServiceKey::Addr {
                protocol: Protocol::Tcp,
                addr: IpAddr::from([10, 50, (i / 250) as u8, (i % 250) as u8 + 1]),
                port: 80,
            });
            service.scheduler = "wlc".into();
            service.stats = stats(u64::from(i) * u64::from(servers));
            let dests = (0..servers)
                .map(|j| {
                    let mut d = Dest::new(IpAddr::from([10, 60, j as u8, (i % 250) as u8 + 1]), 80);
                    d.active_conns = i + j;
                    d.stats = stats(u64::from(i + j));
                    d
                })
                .collect();
            ServiceEntry { service, dests }
        })
        .collect();
    Reading {
        entries,
        at: Duration::from_secs(at),
    }
}

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<u32>().unwrap_or(0));
    let services = args.next().unwrap_or(2000);
    let servers = args.next().unwrap_or(10);
    let rounds = args.next().unwrap_or(20).max(1);
    let prev = reading(services, servers, 1, 0);
    let cur = reading(services, servers, 2, 1);
    let mut bytes = 0;
    let mut compute_times = Vec::new();
    let mut times: Vec<Duration> = (0..rounds)
        .map(|_| {
            let t = cpu_time();
            let views = compute(&prev, &cur, SortKey::Cps);
            compute_times.push(cpu_time().saturating_sub(t));
            bytes = render(&views).len();
            cpu_time().saturating_sub(t)
        })
        .collect();
    times.sort();
    compute_times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    // What the full-screen view does: compute, and format a screenful.
    let mut screen: Vec<Duration> = (0..rounds)
        .map(|_| {
            let t = cpu_time();
            let _ = render_rows(&compute(&prev, &cur, SortKey::Cps), 50);
            cpu_time().saturating_sub(t)
        })
        .collect();
    screen.sort();
    println!(
        "top_refresh: full screen (50 lines): CPU per refresh median {:.1} ms (best {:.1} ms)",
        ms(screen[screen.len() / 2]),
        ms(screen[0])
    );
    println!(
        "top_refresh: {services} services x {servers} servers, {rounds} refreshes; whole table \
(--once, pipes): CPU per refresh median {:.1} ms (best {:.1} ms), of which rates and sorting {:.1} ms; \
table {bytes} bytes",
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(compute_times[compute_times.len() / 2])
    );
}
