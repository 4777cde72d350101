//! The restore engine: checks every line of a restore before anything is
//! sent, then applies the checked lines in order, with the runs of table
//! writes sent in batches, and hands each failure back with its line.
//!
//! It owns the algorithm, not the grammar: the line checker is a closure
//! given by the front end (ipvsadm's `-R` and `ipvsadm-rs-restore`, and
//! `apply`'s file reader), and what a failed line prints, and with which
//! exit status, is the front end's business too. Nothing here parses a
//! command line, prints, or knows ipvsadm's messages; the only way to the
//! kernel is [`crate::client::Client`].

use crate::client::{Client, Error, Request};

/// One checked line, ready to apply.
#[derive(Debug)]
pub enum Step<T, R> {
    /// A table write: sent in a batch with its neighbours. `T` is what the
    /// front end needs to describe its failure (ipvsadm: the operation).
    Write(Request, T),
    /// Anything else (ipvsadm: a listing, save, help): the front end runs
    /// it on its own, after every write before it has gone out.
    Run(R),
}

/// The checked lines of a restore, in line order: each good line's number
/// and what the checker made of it, kept in the parts they were checked in
/// (see [`check_lines`]) rather than copied into one list.
#[derive(Debug)]
pub struct Steps<S> {
    parts: Vec<Vec<(usize, S)>>,
}

impl<S> Steps<S> {
    /// How many lines.
    pub fn len(&self) -> usize {
        self.parts.iter().map(Vec::len).sum()
    }

    /// Whether there is no line at all.
    pub fn is_empty(&self) -> bool {
        self.parts.iter().all(Vec::is_empty)
    }

    /// The lines in order.
    pub fn iter(&self) -> impl Iterator<Item = &(usize, S)> {
        self.parts.iter().flatten()
    }
}

impl<S> From<Vec<(usize, S)>> for Steps<S> {
    fn from(lines: Vec<(usize, S)>) -> Steps<S> {
        Steps { parts: vec![lines] }
    }
}

impl<S> IntoIterator for Steps<S> {
    type Item = (usize, S);
    type IntoIter = std::iter::Flatten<std::vec::IntoIter<Vec<(usize, S)>>>;

    fn into_iter(self) -> Self::IntoIter {
        self.parts.into_iter().flatten()
    }
}

/// What [`check_lines`] found: the good lines, and the bad ones (number
/// and the checker's error), each in line order.
#[derive(Debug)]
pub struct Checked<S, E> {
    /// The good lines.
    pub steps: Steps<S>,
    /// The bad lines.
    pub failed: Vec<(usize, E)>,
}

/// The good lines of a part of the input (number and step) and its bad
/// ones (number and error), each in line order.
type CheckedPart<S, E> = (Vec<(usize, S)>, Vec<(usize, E)>);

/// Text lines from which a check is shared out between threads.
pub const PARALLEL_CHECK_LINES: usize = 4096;

/// Most threads a check uses.
const MAX_CHECK_THREADS: usize = 4;

/// Checks numbered lines with `check`, in order. Lines are independent of
/// each other, so a large input is cut into contiguous parts checked by
/// one thread each (as many as the machine has CPUs, at most
/// [`MAX_CHECK_THREADS`]), and the results are joined in line order, so
/// every error still comes out in order. The check is a quarter of a
/// large restore's time, and the requests cannot go out before it ends
/// (nothing is sent when a line is bad): measured under qemu with 2 CPUs,
/// docs/performance.md run F.
pub fn check_lines<S, E>(
    lines: &[(usize, &str)],
    check: impl Fn(&str) -> Result<S, E> + Sync,
) -> Checked<S, E>
where
    S: Send,
    E: Send,
{
    let check_part = |part: &[(usize, &str)]| -> CheckedPart<S, E> {
        let mut good = Vec::with_capacity(part.len());
        let mut failed = Vec::new();
        for &(number, line) in part {
            match check(line) {
                Ok(step) => good.push((number, step)),
                Err(e) => failed.push((number, e)),
            }
        }
        (good, failed)
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(MAX_CHECK_THREADS);
    let checked = if threads < 2 || lines.len() < PARALLEL_CHECK_LINES {
        vec![check_part(lines)]
    } else {
        let per = lines.len().div_ceil(threads);
        let check_part = &check_part;
        std::thread::scope(|scope| {
            let mut parts = lines.chunks(per);
            let mine = parts.next().unwrap_or(&[]);
            // A part whose thread cannot be started is checked here instead.
            let spawned: Vec<_> = parts
                .map(|part| {
                    std::thread::Builder::new()
                        .spawn_scoped(scope, move || check_part(part))
                        .map_err(|_| part)
                })
                .collect();
            let mut all = vec![check_part(mine)];
            for s in spawned {
                all.push(match s {
                    Ok(handle) => match handle.join() {
                        Ok(checked) => checked,
                        Err(panic) => std::panic::resume_unwind(panic),
                    },
                    Err(part) => check_part(part),
                });
            }
            all
        })
    };
    let mut parts = Vec::with_capacity(checked.len());
    let mut failed = Vec::new();
    for (good, bad) in checked {
        parts.push(good);
        failed.extend(bad);
    }
    Checked {
        steps: Steps { parts },
        failed,
    }
}

/// Environment variable that makes a restore send one request per line,
/// as ipvsadm does, instead of batches. Only for tests that prove both
/// ways give the same table, messages and status; not a user setting.
pub const ONE_BY_ONE_ENV: &str = "IPVSADM_RS_RESTORE_ONE_BY_ONE";

/// Whether a restore should send one request per line (see
/// [`ONE_BY_ONE_ENV`]).
pub fn one_by_one() -> bool {
    std::env::var_os(ONE_BY_ONE_ENV).is_some_and(|v| !v.is_empty())
}

/// Most requests handed to one [`Client::batch`] call during a restore
/// (the client splits them further into datagrams, and only the last
/// request of each datagram asks for an acknowledgement); bounds the
/// memory held for results.
pub const RESTORE_CHUNK: usize = 4096;

/// Why a write line failed.
#[derive(Debug)]
pub enum WriteError<'a> {
    /// The kernel's answer to this line's request (or, after an
    /// overflow, [`Error::AckLost`]: it may or may not have been applied).
    Refused(Error),
    /// The whole batch the line was in failed (the socket, or a malformed
    /// reply) with its requests in flight: none of them is known to have
    /// been applied. The same error is handed to every line of the batch.
    BatchLost(&'a Error),
}

/// Whether [`apply`] goes on after a line the front end ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on with the next line.
    Continue,
    /// Stop here: the rest of the input is not applied (ipvsadm's help and
    /// version lines end a restore).
    Stop,
}

/// The front end's part of [`apply`]: the client to send with, and what
/// to do with failed writes and with the other lines.
pub trait Lines<T, R> {
    /// The client the writes go through (the front end's, which its run
    /// lines use too).
    fn client(&mut self) -> &mut Client;
    /// A write line failed. Called in line order, and before any later
    /// line runs, so that messages and output keep the input's order.
    fn failed(&mut self, line: usize, tag: T, error: WriteError<'_>);
    /// Runs a line that is not a table write; every write before it has
    /// gone out and been reported.
    fn run(&mut self, line: usize, step: R) -> Flow;
}

/// What [`apply`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// Write lines sent (failed or not).
    pub writes: usize,
    /// Write lines that failed.
    pub failed: usize,
    /// Whether a run line stopped the restore early.
    pub stopped: bool,
}

/// Applies checked lines in order. Runs of consecutive writes go to the
/// kernel through `lines.client()` in batches of at most
/// [`RESTORE_CHUNK`] (one request per call unless `batching`); every other
/// line is handed to `lines.run` between them. Each failed write is handed
/// to `lines.failed` with its line number, in line order, exactly as when
/// sending one by one.
pub fn apply<T, R>(
    steps: impl IntoIterator<Item = (usize, Step<T, R>)>,
    batching: bool,
    lines: &mut dyn Lines<T, R>,
) -> Applied {
    let mut done = Applied::default();
    let mut pending: Vec<(usize, T)> = Vec::new();
    let mut reqs: Vec<Request> = Vec::new();
    for (number, step) in steps {
        match step {
            Step::Write(req, tag) if batching => {
                pending.push((number, tag));
                reqs.push(req);
                if reqs.len() >= RESTORE_CHUNK {
                    send_batch(&mut pending, &mut reqs, lines, &mut done);
                }
            }
            Step::Write(req, tag) => {
                done.writes += 1;
                if let Err(e) = lines.client().execute(&req) {
                    done.failed += 1;
                    lines.failed(number, tag, WriteError::Refused(e));
                }
            }
            Step::Run(r) => {
                // Whatever runs next sees the table the lines before left.
                send_batch(&mut pending, &mut reqs, lines, &mut done);
                if lines.run(number, r) == Flow::Stop {
                    done.stopped = true;
                    return done;
                }
            }
        }
    }
    send_batch(&mut pending, &mut reqs, lines, &mut done);
    done
}

/// Sends the collected requests as one batch and hands each failure to
/// `lines` with its line number, in order; empties both lists.
fn send_batch<T, R>(
    pending: &mut Vec<(usize, T)>,
    reqs: &mut Vec<Request>,
    lines: &mut dyn Lines<T, R>,
    done: &mut Applied,
) {
    if reqs.is_empty() {
        return;
    }
    let results = lines.client().batch(reqs);
    done.writes += reqs.len();
    reqs.clear();
    match results {
        Ok(results) => {
            for ((number, tag), r) in pending.drain(..).zip(results) {
                if let Err(e) = r {
                    done.failed += 1;
                    lines.failed(number, tag, WriteError::Refused(e));
                }
            }
        }
        Err(e) => {
            for (number, tag) in pending.drain(..) {
                done.failed += 1;
                lines.failed(number, tag, WriteError::BatchLost(&e));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::Transport;
    use crate::model::{Service, ServiceKey};
    use crate::wire::netlink::{align, encode_error, header_of, NLM_F_ACK};
    use std::collections::VecDeque;
    use std::io;
    use std::sync::{Arc, Mutex};

    /// A fake kernel: every write request (numbered from 0 in sending
    /// order) fails with the errno `script` gives, or succeeds with 0.
    /// Errors are answered, and so is a request asking for an
    /// acknowledgement; the datagram numbered `lose` (from 0) cannot be
    /// sent. Records how many requests each datagram carried and which
    /// asked for an acknowledgement.
    struct Fake {
        script: fn(usize) -> i32,
        writes: usize,
        lose: Option<usize>,
        log: Arc<Mutex<Vec<Vec<bool>>>>,
        queue: VecDeque<Vec<u8>>,
    }

    impl Transport for Fake {
        fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
            let mut log = self.log.lock().unwrap();
            if self.lose == Some(log.len()) {
                log.push(Vec::new());
                return Err(io::Error::from_raw_os_error(libc::ECONNREFUSED));
            }
            let mut acks = Vec::new();
            let mut d = Vec::new();
            let mut rest = datagram;
            while let Some(h) = header_of(rest) {
                let len = h.length as usize;
                rest = &rest[align(len).min(rest.len())..];
                let errno = (self.script)(self.writes);
                self.writes += 1;
                let ack = h.flags & NLM_F_ACK == NLM_F_ACK;
                acks.push(ack);
                if errno != 0 || ack {
                    encode_error(&mut d, &h, errno);
                }
            }
            log.push(acks);
            self.queue.push_back(d);
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

    fn client(
        script: fn(usize) -> i32,
        lose: Option<usize>,
    ) -> (Client, Arc<Mutex<Vec<Vec<bool>>>>) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let fake = Fake {
            script,
            writes: 0,
            lose,
            log: log.clone(),
            queue: VecDeque::new(),
        };
        (Client::with_family(Box::new(fake), 0x1c), log)
    }

    fn add(port: u16) -> Request {
        Request::AddService(Service::new(ServiceKey::Addr {
            protocol: crate::model::Protocol::Tcp,
            addr: "10.0.0.1".parse().unwrap(),
            port,
        }))
    }

    /// Records what the engine hands back, as text.
    struct Record {
        client: Client,
        events: Vec<String>,
        stop_at: Option<usize>,
    }

    impl Record {
        fn new(client: Client) -> Record {
            Record {
                client,
                events: Vec::new(),
                stop_at: None,
            }
        }
    }

    impl Lines<&'static str, &'static str> for Record {
        fn client(&mut self) -> &mut Client {
            &mut self.client
        }

        fn failed(&mut self, line: usize, tag: &'static str, error: WriteError<'_>) {
            self.events.push(match error {
                WriteError::Refused(e) => format!("{line} {tag} refused {:?}", e.errno()),
                WriteError::BatchLost(e) => format!("{line} {tag} lost {:?}", e.errno()),
            });
        }

        fn run(&mut self, line: usize, step: &'static str) -> Flow {
            self.events.push(format!("{line} run {step}"));
            if self.stop_at == Some(line) {
                Flow::Stop
            } else {
                Flow::Continue
            }
        }
    }

    type TestStep = Step<&'static str, &'static str>;

    fn script_steps() -> Vec<(usize, TestStep)> {
        vec![
            (1, Step::Write(add(1), "a")),
            (2, Step::Write(add(2), "b")),
            (4, Step::Write(add(3), "c")),
            (5, Step::Write(add(4), "d")),
            (6, Step::Run("list")),
            (8, Step::Write(add(5), "e")),
            (9, Step::Write(add(6), "f")),
        ]
    }

    fn fails_1_and_4(n: usize) -> i32 {
        match n {
            1 => libc::EEXIST,
            4 => libc::ESRCH,
            _ => 0,
        }
    }

    #[test]
    fn batches_report_failures_by_line_in_order() {
        let (c, log) = client(fails_1_and_4, None);
        let mut rec = Record::new(c);
        let done = apply(script_steps(), true, &mut rec);
        assert_eq!(
            rec.events,
            ["2 b refused Some(17)", "6 run list", "8 e refused Some(3)"]
        );
        assert_eq!(
            done,
            Applied {
                writes: 6,
                failed: 2,
                stopped: false
            }
        );
        // Three requests at most per datagram, only the last one asking
        // for an acknowledgement; the run line cuts the batches.
        assert_eq!(
            *log.lock().unwrap(),
            [vec![false, false, true], vec![true], vec![false, true]]
        );
    }

    #[test]
    fn one_by_one_reports_the_same() {
        let (c, log) = client(fails_1_and_4, None);
        let mut rec = Record::new(c);
        let done = apply(script_steps(), false, &mut rec);
        let (c2, _) = client(fails_1_and_4, None);
        let mut batched = Record::new(c2);
        assert_eq!(done, apply(script_steps(), true, &mut batched));
        assert_eq!(rec.events, batched.events);
        assert_eq!(log.lock().unwrap().len(), 6);
        assert!(log.lock().unwrap().iter().all(|d| d == &[true]));
    }

    #[test]
    fn a_lost_batch_fails_each_of_its_lines() {
        let (c, _) = client(|_| 0, Some(0));
        let mut rec = Record::new(c);
        let done = apply(script_steps(), true, &mut rec);
        // The whole first run (two datagrams, the first lost) fails.
        assert_eq!(
            rec.events,
            [
                "1 a lost Some(111)",
                "2 b lost Some(111)",
                "4 c lost Some(111)",
                "5 d lost Some(111)",
                "6 run list"
            ]
        );
        assert_eq!(done.failed, 4);
    }

    #[test]
    fn a_run_line_may_stop_the_rest() {
        let (c, log) = client(|_| 0, None);
        let mut rec = Record::new(c);
        rec.stop_at = Some(6);
        let done = apply(script_steps(), true, &mut rec);
        assert_eq!(rec.events, ["6 run list"]);
        assert!(done.stopped);
        assert_eq!(done.writes, 4);
        assert_eq!(log.lock().unwrap().len(), 2);
    }

    #[test]
    fn checks_in_line_order_with_every_failure() {
        // Enough lines to be shared out between threads on a machine with
        // several CPUs.
        let text: Vec<String> = (0..3 * PARALLEL_CHECK_LINES)
            .map(|i| {
                if i % 1000 == 7 {
                    "bad".into()
                } else {
                    format!("{i}")
                }
            })
            .collect();
        let lines: Vec<(usize, &str)> = text
            .iter()
            .enumerate()
            .map(|(i, t)| (i + 1, t.as_str()))
            .collect();
        let checked = check_lines(&lines, |t| t.parse::<usize>().map_err(|_| t.len()));
        let bad: Vec<usize> = checked.failed.iter().map(|(n, _)| *n).collect();
        let want: Vec<usize> = (0..3 * PARALLEL_CHECK_LINES)
            .filter(|i| i % 1000 == 7)
            .map(|i| i + 1)
            .collect();
        assert_eq!(bad, want);
        assert!(checked.failed.iter().all(|(_, e)| *e == 3));
        assert_eq!(checked.steps.len(), lines.len() - want.len());
        assert!(checked.steps.iter().all(|(n, v)| *n == v + 1));
        let small = check_lines(&lines[..5], |t| t.parse::<usize>().map_err(|_| ()));
        assert_eq!(small.steps.into_iter().count(), 5);
    }
}
