//! Fetching a whole table's destinations over two sockets at once, for
//! whole-table listings and saves, while printing stays in order.
//!
//! A listing of thousands of services spends most of its time in the
//! per-service destination dumps, one round trip each, and a netlink
//! socket runs one dump at a time. So the ordered rows are cut into
//! chunks, and two threads claim chunks in order from a shared counter:
//! a worker with a sibling client (a socket of its own, same family id),
//! which only fetches, and the calling thread, which prints every chunk
//! in order and fetches a chunk itself only when the worker has not
//! claimed it yet. So the printing overlaps the worker's dumps, and the
//! dumps are shared out by how busy each thread is (under qemu, a fixed
//! alternation left the worker idle while the printing thread lagged).
//! The worker hands chunks over a bounded channel, so that only a few
//! chunks are ever held beyond the one being printed.
//!
//! When a fetch fails, the entries before it are printed and then the
//! failure is returned, as in a serial run; the worker stops at its next
//! row. When the sibling socket or the thread cannot be had, the calling
//! thread fetches every chunk itself.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Mutex;
use std::thread;

use crate::client::Client;

/// Sockets used for a whole-table listing's destination dumps, the
/// calling thread's included: 1 (serial) or more. Under qemu with 2 CPUs
/// the destination dumps alone of 2,000 services took 934 ms on one socket
/// and 581 ms on two (bench run of 2026-11-22 08:29 UTC), but once the
/// printers and the restore check had become cheap, whole `-Ln` and `-Sn`
/// runs were as fast on one socket as on two (medians 0.73 s against
/// 0.80 s for `-Ln`, 0.70 s against 0.81 s for `-Sn`, same boot, 5 runs
/// each) while the second thread cost 100–200 KB of peak memory, which
/// put `-Sn` over the target of 1.1× ipvsadm's (docs/performance.md).
/// So one socket; the pipelined path stays, tested, for hosts where
/// `IPVSADM_RS_LIST_SOCKETS=2` measures better.
pub const SOCKETS: usize = 1;

/// Stack of the worker thread: it only runs dumps and decodes their parts
/// (the receive buffer is on the heap), and a small stack keeps the
/// listing's peak memory close to ipvsadm's.
const WORKER_STACK: usize = 64 * 1024;

/// Chunks the worker may have fetched and not yet handed over, beyond the
/// one it is fetching.
const IN_FLIGHT: usize = 1;

/// One fetched chunk: the entries in order, up to the failure that ended
/// it, if one did.
type Fetched<E, F> = (Vec<E>, Option<F>);

/// The chunks not yet taken, by chunk index.
type Slots<T> = [Mutex<Option<Vec<T>>>];

/// What the calling thread and the worker share.
struct Shared<'a, T, G> {
    slots: &'a Slots<T>,
    /// The lowest chunk nobody has claimed yet.
    next: &'a AtomicUsize,
    /// Set when the calling thread is done (finished or failed).
    stop: &'a AtomicBool,
    fetch: &'a G,
}

impl<T, G> Clone for Shared<'_, T, G> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T, G> Copy for Shared<'_, T, G> {}

/// Fetches an entry for every row of `rows` with `fetch`, `chunk` rows at
/// a time, over up to `sockets` (1 or 2) clients (`client` and a sibling
/// of it), and hands the entries to `print` chunk by chunk, in the order
/// of `rows`. When `fetch` fails, the entries of the rows before are
/// printed first and then the failure is returned (or `print`'s own
/// failure, if that printing fails); the rows after it are not printed.
pub fn in_order<T, E, F, G>(
    client: &mut Client,
    rows: Vec<T>,
    chunk: usize,
    sockets: usize,
    fetch: G,
    mut print: impl FnMut(&[E]) -> Result<(), F>,
) -> Result<(), F>
where
    T: Send,
    E: Send,
    F: Send,
    G: Fn(&mut Client, T) -> Result<E, F> + Sync,
{
    let chunk = chunk.max(1);
    let chunks = rows.len().div_ceil(chunk);
    // Silently one socket when a second cannot be opened: the listing is
    // the same.
    let sibling = match (sockets >= 2 && chunks >= 2).then(|| client.sibling()) {
        Some(Ok(c)) => c,
        _ => return serial(client, rows, chunk, &fetch, &mut print),
    };
    let mut slots: Vec<Mutex<Option<Vec<T>>>> = Vec::with_capacity(chunks);
    let mut rest = rows.into_iter();
    loop {
        let part: Vec<T> = rest.by_ref().take(chunk).collect();
        if part.is_empty() {
            break;
        }
        slots.push(Mutex::new(Some(part)));
    }
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let shared = Shared {
        slots: &slots,
        next: &next,
        stop: &stop,
        fetch: &fetch,
    };
    thread::scope(|scope| {
        let (tx, rx) = sync_channel(IN_FLIGHT);
        let spawned = thread::Builder::new()
            .stack_size(WORKER_STACK)
            .spawn_scoped(scope, move || worker(sibling, shared, tx));
        // Without the worker, every claim below succeeds.
        let result = collect(client, shared, spawned.ok().map(|_| rx), &mut print);
        // The receiver is gone, so a worker blocked in a send returns; a
        // fetching one stops at its next row.
        stop.store(true, Ordering::Relaxed);
        result
    })
}

/// The calling thread's part: takes every chunk in order, fetching it
/// itself if the worker has not claimed it, and prints it. Dropping `rx`
/// on return releases the worker.
fn collect<T, E, F, G>(
    client: &mut Client,
    shared: Shared<'_, T, G>,
    rx: Option<Receiver<Fetched<E, F>>>,
    print: &mut impl FnMut(&[E]) -> Result<(), F>,
) -> Result<(), F>
where
    G: Fn(&mut Client, T) -> Result<E, F>,
{
    for i in 0..shared.slots.len() {
        let ours = rx.is_none()
            || shared
                .next
                .compare_exchange(i, i + 1, Ordering::AcqRel, Ordering::Acquire)
                .is_ok();
        // The worker claims in increasing order and the chunks before `i`
        // have all been taken, so the next chunk it hands over is `i`.
        let received = match (&rx, ours) {
            (Some(rx), false) => rx.recv().ok(),
            _ => None,
        };
        let (entries, failure) = match received {
            Some(fetched) => fetched,
            // Ours; or the worker ended without handing it over, which
            // only a panic does (the scope then reports the panic).
            None => match take(shared.slots, i) {
                Some(rows) => fetch_chunk(client, rows, shared.fetch, None),
                None => return Ok(()),
            },
        };
        print(&entries)?;
        if let Some(f) = failure {
            return Err(f);
        }
    }
    Ok(())
}

/// Takes chunk `i` out of its slot.
fn take<T>(slots: &Slots<T>, i: usize) -> Option<Vec<T>> {
    let slot = slots.get(i)?;
    let mut guard = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    guard.take()
}

/// The worker: claims the next unclaimed chunk, fetches it and sends it
/// to the calling thread, until none is left, a fetch failed, or it is
/// told to stop.
fn worker<T, E, F, G>(mut client: Client, shared: Shared<'_, T, G>, tx: SyncSender<Fetched<E, F>>)
where
    G: Fn(&mut Client, T) -> Result<E, F>,
{
    while !shared.stop.load(Ordering::Relaxed) {
        let i = shared.next.fetch_add(1, Ordering::AcqRel);
        let Some(rows) = take(shared.slots, i) else {
            return;
        };
        let fetched = fetch_chunk(&mut client, rows, shared.fetch, Some(shared.stop));
        let failed = fetched.1.is_some();
        if tx.send(fetched).is_err() || failed {
            return;
        }
    }
}

/// Fetches the rows of one chunk in order, up to the first failure (or
/// until `stop` is set: the caller no longer wants the chunk).
fn fetch_chunk<T, E, F>(
    client: &mut Client,
    rows: Vec<T>,
    fetch: &impl Fn(&mut Client, T) -> Result<E, F>,
    stop: Option<&AtomicBool>,
) -> Fetched<E, F> {
    let mut entries = Vec::with_capacity(rows.len());
    for row in rows {
        if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            break;
        }
        match fetch(client, row) {
            Ok(e) => entries.push(e),
            Err(f) => return (entries, Some(f)),
        }
    }
    (entries, None)
}

/// [`in_order`] on one socket.
fn serial<T, E, F>(
    client: &mut Client,
    rows: Vec<T>,
    chunk: usize,
    fetch: &impl Fn(&mut Client, T) -> Result<E, F>,
    print: &mut impl FnMut(&[E]) -> Result<(), F>,
) -> Result<(), F> {
    let mut entries = Vec::with_capacity(chunk.min(rows.len()));
    for row in rows {
        match fetch(client, row) {
            Ok(e) => entries.push(e),
            Err(f) => {
                print(&entries)?;
                return Err(f);
            }
        }
        if entries.len() >= chunk {
            print(&entries)?;
            entries.clear();
        }
    }
    if entries.is_empty() {
        Ok(())
    } else {
        print(&entries)
    }
}

/// The environment variable that overrides [`SOCKETS`] (`1` for one
/// socket, for comparing; anything unreadable is ignored).
pub const SOCKETS_ENV: &str = "IPVSADM_RS_LIST_SOCKETS";

/// The socket count for whole-table listings: [`SOCKETS`] unless
/// [`SOCKETS_ENV`] says otherwise.
pub fn sockets() -> usize {
    std::env::var(SOCKETS_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(SOCKETS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Transport;
    use crate::model::{Dest, Protocol, Service, ServiceKey};
    use crate::wire::ipvs::{encode_dest_reply, IpvsRequest, ReplyHeader};
    use crate::wire::netlink::{
        encode_done, encode_error, encode_family_reply, header_of, GENL_ID_CTRL, NLM_F_MULTI,
    };
    use std::collections::VecDeque;
    use std::io;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    const FAM: u16 = 0x1c;

    /// What every socket of the fake kernel shares.
    #[derive(Default)]
    struct Shared {
        /// Services in listing order, with their destinations.
        table: Vec<(Service, Vec<Dest>)>,
        /// The service whose destination dump fails, and how.
        fail: Option<(usize, i32)>,
        /// Services whose first dump reports every destination twice, in
        /// two datagrams (a dump that raced a writer); the redone dump is
        /// clean.
        doubled: Vec<usize>,
        /// Services whose doubled dump has been answered.
        raced: std::sync::Mutex<Vec<usize>>,
        /// Whether a second socket can be opened.
        siblings: bool,
        sockets: AtomicUsize,
        ctrl_requests: AtomicUsize,
        dumps: AtomicUsize,
    }

    /// One socket of a fake kernel that answers destination dumps from
    /// `Shared::table`, one datagram for the parts and one for `DONE`.
    struct Socket {
        shared: Arc<Shared>,
        queue: VecDeque<Vec<u8>>,
    }

    impl Socket {
        fn open(shared: &Arc<Shared>) -> Socket {
            shared.sockets.fetch_add(1, Ordering::SeqCst);
            Socket {
                shared: shared.clone(),
                queue: VecDeque::new(),
            }
        }
    }

    impl Transport for Socket {
        fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
            let h = header_of(datagram).unwrap();
            let mut d = Vec::new();
            if h.message_type == GENL_ID_CTRL {
                self.shared.ctrl_requests.fetch_add(1, Ordering::SeqCst);
                encode_family_reply(&mut d, h.sequence_number, h.port_number, "IPVS", FAM).unwrap();
                encode_error(&mut d, &h, 0);
                self.queue.push_back(d);
                return Ok(());
            }
            assert_eq!(h.message_type, FAM);
            self.shared.dumps.fetch_add(1, Ordering::SeqCst);
            let asked = self.shared.table.iter().position(|(s, _)| {
                let mut v = Vec::new();
                IpvsRequest::GetDests(&s.key)
                    .encode(&mut v, FAM, h.sequence_number, h.port_number)
                    .unwrap();
                v == datagram
            });
            let i = asked.expect("a GET_DEST dump of a known service");
            if let Some((at, errno)) = self.shared.fail {
                if at == i {
                    encode_error(&mut d, &h, errno);
                    self.queue.push_back(d);
                    return Ok(());
                }
            }
            let rh = ReplyHeader {
                family: FAM,
                flags: NLM_F_MULTI,
                seq: h.sequence_number,
                pid: h.port_number,
            };
            let mut raced = self.shared.raced.lock().unwrap();
            let times = if self.shared.doubled.contains(&i) && !raced.contains(&i) {
                raced.push(i);
                2
            } else {
                1
            };
            drop(raced);
            // A raced dump repeats the destinations in a second datagram
            // (the kernel fills each one at once, under its lock).
            for _ in 0..times {
                for dest in &self.shared.table[i].1 {
                    encode_dest_reply(&mut d, &rh, dest).unwrap();
                }
                self.queue.push_back(std::mem::take(&mut d));
            }
            let mut done = Vec::new();
            encode_done(&mut done, h.sequence_number, h.port_number, 0, 0);
            self.queue.push_back(done);
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

        fn sibling(&self) -> io::Result<Box<dyn Transport + Send>> {
            if self.shared.siblings {
                Ok(Box::new(Socket::open(&self.shared)))
            } else {
                Err(io::Error::from_raw_os_error(libc::EMFILE))
            }
        }
    }

    fn table(n: usize) -> Vec<(Service, Vec<Dest>)> {
        (0..n)
            .map(|i| {
                let s = Service::new(ServiceKey::Addr {
                    protocol: Protocol::Tcp,
                    addr: format!("10.1.{}.{}", i / 250, i % 250 + 1).parse().unwrap(),
                    port: 80,
                });
                let dests = (0..i % 4)
                    .map(|d| {
                        Dest::new(format!("10.2.{}.{}", i % 250, d + 1).parse().unwrap(), 8080)
                    })
                    .collect();
                (s, dests)
            })
            .collect()
    }

    type Printed = Vec<Vec<(usize, Vec<Dest>)>>;

    /// Runs `in_order` over the shared table; returns what was printed,
    /// chunk by chunk, and the result (the failing errno).
    fn run(
        shared: Shared,
        sockets: usize,
        print_fails_at: Option<usize>,
    ) -> (Printed, Result<(), i32>, Arc<Shared>) {
        let shared = Arc::new(shared);
        let mut client = Client::with_transport(Box::new(Socket::open(&shared))).unwrap();
        let rows: Vec<(usize, Service)> = shared
            .table
            .iter()
            .enumerate()
            .map(|(i, (s, _))| (i, s.clone()))
            .collect();
        let mut printed = Vec::new();
        let r = in_order(
            &mut client,
            rows,
            4,
            sockets,
            |c, (i, s)| {
                c.dests(&s)
                    .map(|d| (i, d))
                    .map_err(|e| e.errno().unwrap_or(0))
            },
            |chunk| {
                if print_fails_at == Some(printed.len()) {
                    return Err(-1);
                }
                printed.push(chunk.to_vec());
                Ok(())
            },
        );
        (printed, r, shared)
    }

    fn flat(p: &Printed) -> Vec<(usize, Vec<Dest>)> {
        p.iter().flatten().cloned().collect()
    }

    #[test]
    fn every_socket_count_prints_the_table_in_order() {
        for n in [0, 1, 3, 4, 5, 8, 9, 31] {
            let want: Vec<(usize, Vec<Dest>)> =
                table(n).into_iter().map(|(_, d)| d).enumerate().collect();
            for sockets in [1, 2, 3, 5] {
                let shared = Shared {
                    table: table(n),
                    siblings: true,
                    ..Shared::default()
                };
                let (printed, r, shared) = run(shared, sockets, None);
                assert_eq!(r, Ok(()));
                assert_eq!(flat(&printed), want, "{n} services, {sockets} sockets");
                // Chunks of 4, all full but the last.
                assert_eq!(printed.len(), n.div_ceil(4));
                assert!(printed.iter().rev().skip(1).all(|c| c.len() == 4));
                // One controller request; no more sockets than chunks.
                assert_eq!(shared.ctrl_requests.load(Ordering::SeqCst), 1);
                let opened = shared.sockets.load(Ordering::SeqCst);
                let two = sockets >= 2 && n > 4;
                assert_eq!(opened, if two { 2 } else { 1 }, "{n} {sockets}");
                assert_eq!(shared.dumps.load(Ordering::SeqCst), n);
            }
        }
    }

    #[test]
    fn without_a_second_socket_one_does() {
        let shared = Shared {
            table: table(21),
            ..Shared::default()
        };
        let (printed, r, shared) = run(shared, 3, None);
        assert_eq!(r, Ok(()));
        assert_eq!(flat(&printed).len(), 21);
        assert_eq!(shared.sockets.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_failed_dump_ends_the_listing_after_the_services_before_it() {
        // Failures in every lane and at every position in a chunk.
        for at in 0..14 {
            for sockets in [1, 2, 3] {
                let shared = Shared {
                    table: table(14),
                    fail: Some((at, libc::ESRCH)),
                    siblings: true,
                    ..Shared::default()
                };
                let (printed, r, _) = run(shared, sockets, None);
                assert_eq!(r, Err(libc::ESRCH), "{at} {sockets}");
                let got: Vec<usize> = flat(&printed).iter().map(|(i, _)| *i).collect();
                assert_eq!(got, (0..at).collect::<Vec<_>>(), "{at} {sockets}");
                // As on one socket: the chunks before, then the part of
                // the failing chunk before the failure (maybe empty).
                assert_eq!(printed.len(), at / 4 + 1, "{at} {sockets}");
            }
        }
    }

    #[test]
    fn a_failed_print_stops_everything() {
        for sockets in [1, 2, 3] {
            let shared = Shared {
                table: table(40),
                siblings: true,
                ..Shared::default()
            };
            let (printed, r, shared) = run(shared, sockets, Some(3));
            assert_eq!(r, Err(-1));
            assert_eq!(printed.len(), 3);
            // The workers stopped early (each is at most a chunk in
            // flight and a chunk fetching ahead).
            assert!(shared.dumps.load(Ordering::SeqCst) <= 4 * (4 + 2 * sockets));
        }
    }

    #[test]
    fn raced_dumps_are_redone_on_every_socket() {
        let shared = Shared {
            table: table(16),
            doubled: (0..16).collect(),
            siblings: true,
            ..Shared::default()
        };
        let want: Vec<(usize, Vec<Dest>)> =
            table(16).into_iter().map(|(_, d)| d).enumerate().collect();
        let (printed, r, shared) = run(shared, 2, None);
        assert_eq!(r, Ok(()));
        assert_eq!(flat(&printed), want);
        assert_eq!(shared.sockets.load(Ordering::SeqCst), 2);
    }
}
