//! The `apply` engine: reads the live table once, plans the changes that
//! make it equal to the desired one ([`crate::services::plan`]), sends
//! them in one batch, and when the kernel refuses part of it undoes what
//! went through, then reads the table again to say whether it is as it
//! was.
//!
//! It returns what happened as data ([`Planned`], [`Outcome`]); reading
//! the file, the messages and the exit status are the front end's
//! (`commands/apply.rs`). Nothing here parses or prints.

use crate::client::{Client, Error, Request};
use crate::model::ServiceEntry;
use crate::services::plan::{self, Change};

/// Where `apply` reads the live table and sends its changes: the kernel
/// in real use, an in-memory table in tests.
pub trait Table {
    /// The whole table, services in listing order.
    fn read(&mut self) -> Result<Vec<ServiceEntry>, Error>;
    /// Sends the requests as one batch; one result per request.
    fn send(&mut self, reqs: &[Request]) -> Result<Vec<Result<(), Error>>, Error>;
}

impl Table for Client {
    fn read(&mut self) -> Result<Vec<ServiceEntry>, Error> {
        let mut table = self.table()?;
        table.sort_by_key(|e| plan::service_order(&e.service.key));
        Ok(table)
    }

    fn send(&mut self, reqs: &[Request]) -> Result<Vec<Result<(), Error>>, Error> {
        self.batch(reqs)
    }
}

/// The live table as it was read, and the changes that make it the
/// desired one (in the order they are sent; empty when it already is).
#[derive(Debug, Clone)]
pub struct Planned {
    /// The live table before anything was sent.
    pub start: Vec<ServiceEntry>,
    /// The changes.
    pub changes: Vec<Change>,
}

/// Reads the live table and plans the changes to `desired`.
pub fn plan(table: &mut dyn Table, desired: &[ServiceEntry]) -> Result<Planned, Error> {
    let start = table.read()?;
    let changes = plan::plan(&start, desired);
    Ok(Planned { start, changes })
}

/// What sending a plan came to.
#[derive(Debug)]
pub enum Outcome {
    /// Every change went through.
    Applied,
    /// Some did not; what was made was undone, or tried to be.
    Failed {
        /// What went wrong.
        failure: Failure,
        /// How the undo went.
        rollback: Rollback,
    },
}

/// Why a plan did not go through.
#[derive(Debug)]
pub enum Failure {
    /// The kernel refused these changes (in plan order, with its errors);
    /// the others went through. (Empty if the kernel answered fewer
    /// requests than were sent, which it should not.)
    Refused(Vec<(Change, Error)>),
    /// The batch failed as a whole (the socket, or a malformed reply):
    /// the kernel may have applied part of it.
    BatchLost(Error),
}

/// How the undo after a failure went.
#[derive(Debug)]
pub struct Rollback {
    /// How many changes had gone through and were being undone, when
    /// there was anything to undo.
    pub undoing: Option<usize>,
    /// The undo changes the kernel refused, or the failed undo batch.
    pub undo_errors: Vec<UndoError>,
    /// Where the table ended.
    pub end: End,
}

/// A failed part of an undo.
#[derive(Debug)]
pub enum UndoError {
    /// The kernel refused this undo change.
    Refused(Change, Error),
    /// The undo batch failed as a whole.
    BatchFailed(Error),
}

/// Where the table ended after an undo.
#[derive(Debug)]
pub enum End {
    /// Read back and equal to the table before apply.
    AsItWas,
    /// The batch was lost and the table could not be read to find what to
    /// undo: nothing was undone.
    CannotRead(Error),
    /// The undo was sent but the table could not be read back.
    Unverified(Error),
    /// Read back, and these changes would still be needed to make it as
    /// it was.
    Left(Vec<Change>),
}

impl Outcome {
    /// Whether the table is as `apply` wanted it or as it was before:
    /// everything but a failed or unverified rollback.
    pub fn consistent(&self) -> bool {
        match self {
            Outcome::Applied => true,
            Outcome::Failed { rollback, .. } => matches!(rollback.end, End::AsItWas),
        }
    }
}

/// Sends the planned changes in one batch; on a failure undoes what went
/// through and checks the table against `planned.start`.
pub fn apply(table: &mut dyn Table, planned: &Planned) -> Outcome {
    let changes = &planned.changes;
    let reqs: Vec<Request> = changes.iter().map(Change::request).collect();
    match table.send(&reqs) {
        Ok(results) => {
            let complete = results.len() == changes.len();
            let mut applied = Vec::new();
            let mut refused = Vec::new();
            for (c, r) in changes.iter().zip(results) {
                match r {
                    Ok(()) => applied.push(c.clone()),
                    Err(e) => refused.push((c.clone(), e)),
                }
            }
            if refused.is_empty() && complete {
                return Outcome::Applied;
            }
            let undo = plan::undo(&applied);
            Outcome::Failed {
                failure: Failure::Refused(refused),
                rollback: roll_back(table, &planned.start, Some((applied.len(), undo))),
            }
        }
        Err(e) => Outcome::Failed {
            failure: Failure::BatchLost(e),
            rollback: roll_back(table, &planned.start, None),
        },
    }
}

/// Puts the table back as it was at `start`: with `undo` (how many changes
/// were applied, and their inverses in order) when it is known which
/// changes were applied, otherwise with a fresh plan from the table as it
/// is now. Then reads the table again and compares it with `start`.
fn roll_back(
    table: &mut dyn Table,
    start: &[ServiceEntry],
    undo: Option<(usize, Vec<Change>)>,
) -> Rollback {
    let (applied, undo) = match undo {
        Some(u) => u,
        None => match table.read() {
            Ok(now) => {
                let back = plan::plan(&now, start);
                (back.len(), back)
            }
            Err(e) => {
                return Rollback {
                    undoing: None,
                    undo_errors: Vec::new(),
                    end: End::CannotRead(e),
                }
            }
        },
    };
    let mut undo_errors = Vec::new();
    let undoing = (!undo.is_empty()).then_some(applied);
    if !undo.is_empty() {
        let reqs: Vec<Request> = undo.iter().map(Change::request).collect();
        match table.send(&reqs) {
            Ok(results) => {
                for (c, r) in undo.iter().zip(results) {
                    if let Err(e) = r {
                        undo_errors.push(UndoError::Refused(c.clone(), e));
                    }
                }
            }
            Err(e) => undo_errors.push(UndoError::BatchFailed(e)),
        }
    }
    let end = match table.read() {
        Ok(now) => {
            let left = plan::plan(&now, start);
            if left.is_empty() {
                End::AsItWas
            } else {
                End::Left(left)
            }
        }
        Err(e) => End::Unverified(e),
    };
    Rollback {
        undoing,
        undo_errors,
        end,
    }
}

/// An in-memory [`Table`] over the simulated kernel of
/// [`crate::services::plan::sim`], for the engine's tests and the front
/// end's.
#[cfg(test)]
pub(crate) mod fake {
    use super::*;
    use crate::services::plan::sim::Sim;
    use std::io;

    /// The simulated kernel behind the `Table` trait; `lose` makes the
    /// numbered `send` (from 0) apply its first half and then fail as a
    /// broken socket would; `unreadable` makes reads after the first fail.
    pub(crate) struct Fake {
        pub sim: Sim,
        pub sends: usize,
        pub reads: usize,
        pub lose: Option<usize>,
        pub unreadable: bool,
    }

    impl Fake {
        pub fn new(sim: Sim) -> Fake {
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
}

#[cfg(test)]
mod tests {
    use super::fake::Fake;
    use super::*;
    use crate::model::{Dest, Protocol, Service, ServiceKey};
    use crate::services::plan::sim::Sim;

    fn service(port: u16, scheduler: &str, dests: &[u8]) -> ServiceEntry {
        let mut s = Service::new(ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: "10.0.0.1".parse().unwrap(),
            port,
        });
        s.scheduler = scheduler.to_string();
        let dests = dests
            .iter()
            .map(|&d| Dest::new(std::net::IpAddr::from([10, 1, 0, d]), port))
            .collect();
        ServiceEntry { service: s, dests }
    }

    fn live() -> Vec<ServiceEntry> {
        vec![service(80, "rr", &[1, 2]), service(443, "rr", &[1])]
    }

    #[test]
    fn a_plan_that_goes_through_is_applied() {
        let want = vec![service(80, "wlc", &[1, 3]), service(8080, "rr", &[])];
        let mut fake = Fake::new(Sim::new(live()));
        let planned = plan(&mut fake, &want).unwrap();
        assert_eq!(planned.start.len(), 2);
        assert_eq!(planned.changes.len(), 5);
        let outcome = apply(&mut fake, &planned);
        assert!(matches!(outcome, Outcome::Applied), "{outcome:?}");
        assert!(outcome.consistent());
        assert_eq!(fake.sends, 1);
        assert!(plan(&mut fake, &want).unwrap().changes.is_empty());
    }

    #[test]
    fn a_refusal_is_undone_and_verified() {
        let want = vec![service(80, "nosuch", &[1, 3]), service(8080, "rr", &[])];
        let mut fake = Fake::new(Sim::new(live()));
        let planned = plan(&mut fake, &want).unwrap();
        let outcome = apply(&mut fake, &planned);
        let Outcome::Failed { failure, rollback } = &outcome else {
            panic!("{outcome:?}")
        };
        match failure {
            Failure::Refused(r) => {
                assert_eq!(r.len(), 1);
                let (change, error) = &r[0];
                assert!(matches!(change, Change::EditService { .. }));
                assert_eq!(error.errno(), Some(libc::ENOENT));
            }
            f => panic!("{f:?}"),
        }
        assert_eq!(rollback.undoing, Some(4));
        assert!(rollback.undo_errors.is_empty());
        assert!(matches!(rollback.end, End::AsItWas));
        assert!(outcome.consistent());
        assert!(plan(&mut fake, &live()).unwrap().changes.is_empty());
    }

    #[test]
    fn a_lost_batch_is_undone_from_a_fresh_read_or_not_at_all() {
        let want = vec![service(8080, "rr", &[1, 2, 3])];
        let mut fake = Fake::new(Sim::new(live()));
        fake.lose = Some(0);
        let planned = plan(&mut fake, &want).unwrap();
        let outcome = apply(&mut fake, &planned);
        let Outcome::Failed {
            failure: Failure::BatchLost(_),
            rollback,
        } = &outcome
        else {
            panic!("{outcome:?}")
        };
        assert!(rollback.undoing.is_some());
        assert!(matches!(rollback.end, End::AsItWas));
        assert!(plan(&mut fake, &live()).unwrap().changes.is_empty());

        let mut fake = Fake::new(Sim::new(live()));
        fake.lose = Some(0);
        fake.unreadable = true;
        let planned = plan(&mut fake, &want).unwrap();
        let outcome = apply(&mut fake, &planned);
        let Outcome::Failed { rollback, .. } = &outcome else {
            panic!("{outcome:?}")
        };
        assert!(matches!(rollback.end, End::CannotRead(_)));
        assert_eq!((rollback.undoing, fake.sends), (None, 1));
        assert!(!outcome.consistent());
    }

    #[test]
    fn a_refused_undo_leaves_the_difference() {
        let want = vec![service(80, "wlc", &[1, 2]), service(443, "nosuch", &[1])];
        let mut sim = Sim::new(live());
        // Refuse putting 10.0.0.1:80's scheduler back.
        sim.refuse = Box::new(|n, req| match req {
            Request::EditService(s) if n >= 2 && s.scheduler == "rr" => Some(libc::ENOMEM),
            _ => None,
        });
        let mut fake = Fake::new(sim);
        let planned = plan(&mut fake, &want).unwrap();
        let outcome = apply(&mut fake, &planned);
        let Outcome::Failed { rollback, .. } = &outcome else {
            panic!("{outcome:?}")
        };
        let [UndoError::Refused(change, error)] = rollback.undo_errors.as_slice() else {
            panic!("{rollback:?}")
        };
        assert!(matches!(change, Change::EditService { .. }));
        assert_eq!(error.errno(), Some(libc::ENOMEM));
        match &rollback.end {
            End::Left(left) => assert_eq!(left.len(), 1),
            e => panic!("{e:?}"),
        }
        assert!(!outcome.consistent());
    }
}
