//! Draining real servers: which destinations a request names, and the
//! state of each while its connections end (`ipvsadm-rs drain`).
//!
//! Pure: it reads tables the caller lists and returns events; the caller
//! sets the weights, lists the table again, deletes drained servers and
//! prints. So the whole progression (weights set, connections falling,
//! a server deleted by someone else, the timeout) is tested without a
//! kernel, and the front end (`commands::drain`) only moves data.

use std::net::IpAddr;
use std::time::Duration;

use crate::model::{Dest, ServiceEntry, ServiceKey};

/// A real server as the user names it: an address and, optionally, a
/// port (without one, every port of that address matches).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerSpec {
    /// Address.
    pub addr: IpAddr,
    /// Port; `None` matches any.
    pub port: Option<u16>,
}

impl ServerSpec {
    fn matches(&self, d: &Dest) -> bool {
        d.addr == self.addr && self.port.map_or(true, |p| p == d.port)
    }
}

impl std::fmt::Display for ServerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.addr, self.port) {
            (a, None) => write!(f, "{a}"),
            (IpAddr::V6(a), Some(p)) => write!(f, "[{a}]:{p}"),
            (a, Some(p)) => write!(f, "{a}:{p}"),
        }
    }
}

/// What to drain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// These servers of one service.
    Service {
        /// The service.
        key: ServiceKey,
        /// Its servers to drain (at least one).
        servers: Vec<ServerSpec>,
    },
    /// These servers in every service they belong to.
    Everywhere(Vec<ServerSpec>),
}

/// Why a drain cannot start. Nothing has been changed when one of these
/// is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DrainError {
    /// The service is not in the table.
    #[error("service {0} is not in the table")]
    NoService(String),
    /// A server is not a destination of the service.
    #[error("real server {server} is not in service {service}")]
    NotInService {
        /// The server as given.
        server: String,
        /// The service.
        service: String,
    },
    /// A server is a destination of no service.
    #[error("real server {0} is in no service")]
    Nowhere(String),
    /// Nothing to drain was named.
    #[error("no real server given")]
    Empty,
}

/// One destination being drained, as it was before its weight was set to
/// 0 (so `dest.weight` is the weight to restore).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Its service's key.
    pub service: ServiceKey,
    /// The destination as listed before the drain.
    pub dest: Dest,
}

impl Target {
    /// `TCP 10.0.0.1:80` or `FWM 7` (`FWM 7 IPv6`), as `-L -n` names it.
    pub fn service_text(&self) -> String {
        service_text(&self.service)
    }

    /// `10.0.1.1:80`, `[2001:db8::1]:80`.
    pub fn server_text(&self) -> String {
        ServerSpec {
            addr: self.dest.addr,
            port: Some(self.dest.port),
        }
        .to_string()
    }
}

/// A service key as `-L -n` names it.
pub fn service_text(key: &ServiceKey) -> String {
    match *key {
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => format!(
            "{} {}",
            protocol.service_db_name().map_or_else(
                || format!("PROTO {}", protocol.to_raw()),
                str::to_ascii_uppercase
            ),
            ServerSpec {
                addr,
                port: Some(port)
            }
        ),
        ServiceKey::Fwmark { family, mark } => match family {
            crate::model::Family::Inet6 => format!("FWM {mark} IPv6"),
            _ => format!("FWM {mark}"),
        },
    }
}

/// The destinations `sel` names in `table`, in table order. Every
/// service and server named must be there.
pub fn select(table: &[ServiceEntry], sel: &Selector) -> Result<Vec<Target>, DrainError> {
    let mut out = Vec::new();
    match sel {
        Selector::Service { key, servers } => {
            if servers.is_empty() {
                return Err(DrainError::Empty);
            }
            let entry = table
                .iter()
                .find(|e| e.service.key == *key)
                .ok_or_else(|| DrainError::NoService(service_text(key)))?;
            for s in servers {
                if !entry.dests.iter().any(|d| s.matches(d)) {
                    return Err(DrainError::NotInService {
                        server: s.to_string(),
                        service: service_text(key),
                    });
                }
            }
            for d in &entry.dests {
                if servers.iter().any(|s| s.matches(d)) {
                    out.push(Target {
                        service: *key,
                        dest: d.clone(),
                    });
                }
            }
        }
        Selector::Everywhere(servers) => {
            if servers.is_empty() {
                return Err(DrainError::Empty);
            }
            for s in servers {
                if !table.iter().any(|e| e.dests.iter().any(|d| s.matches(d))) {
                    return Err(DrainError::Nowhere(s.to_string()));
                }
            }
            for e in table {
                for d in &e.dests {
                    if servers.iter().any(|s| s.matches(d)) {
                        out.push(Target {
                            service: e.service.key,
                            dest: d.clone(),
                        });
                    }
                }
            }
        }
    }
    Ok(out)
}

/// Options of a drain.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// Also wait for inactive connections to end.
    pub inactive: bool,
    /// Delete each server once drained.
    pub remove: bool,
    /// Give up after this long.
    pub timeout: Option<Duration>,
}

/// Where one target is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Connections left.
    Waiting,
    /// No connections left (of the kinds waited for).
    Drained,
    /// No longer in the table (deleted by someone else, or its service
    /// was): nothing left to wait for.
    Gone,
    /// Deleted by the drain after it drained.
    Removed,
}

/// A target's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct State {
    /// Phase.
    pub phase: Phase,
    /// Active connections at the last reading.
    pub active: u32,
    /// Inactive connections at the last reading.
    pub inactive: u32,
}

/// Something that happened to one target (its index in
/// [`Drain::targets`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// First reading after the weight was set to 0.
    Started {
        /// Target.
        target: usize,
        /// Active connections.
        active: u32,
        /// Inactive connections.
        inactive: u32,
    },
    /// The connection counts changed.
    Progress {
        /// Target.
        target: usize,
        /// Active connections.
        active: u32,
        /// Inactive connections.
        inactive: u32,
    },
    /// Nothing left to wait for.
    Drained {
        /// Target.
        target: usize,
    },
    /// It left the table without the drain deleting it.
    Gone {
        /// Target.
        target: usize,
    },
    /// The drain deleted it.
    Removed {
        /// Target.
        target: usize,
    },
    /// The timeout passed with connections left.
    TimedOut {
        /// Target.
        target: usize,
        /// Active connections left.
        active: u32,
        /// Inactive connections left.
        inactive: u32,
    },
}

/// Where the whole drain is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Some target has connections left, or is drained and waits to be
    /// removed.
    Waiting,
    /// Every target drained (and removed, with `remove`) or gone.
    Done,
    /// The timeout passed first.
    TimedOut,
}

/// The state machine of one drain.
#[derive(Debug, Clone)]
pub struct Drain {
    targets: Vec<Target>,
    states: Vec<State>,
    opts: Options,
    started: bool,
    timed_out: bool,
}

impl Drain {
    /// A drain of `targets` (from [`select`]).
    pub fn new(targets: Vec<Target>, opts: Options) -> Drain {
        let states = targets
            .iter()
            .map(|t| State {
                phase: Phase::Waiting,
                active: t.dest.active_conns,
                inactive: t.dest.inact_conns,
            })
            .collect();
        Drain {
            targets,
            states,
            opts,
            started: false,
            timed_out: false,
        }
    }

    /// The targets, as they were before the drain.
    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    /// Each target's state, in the order of [`Drain::targets`].
    pub fn states(&self) -> &[State] {
        &self.states
    }

    /// The destinations to write first: each target with weight 0 (every
    /// other setting as listed, so that the edit changes nothing else).
    pub fn zero_weights(&self) -> Vec<(ServiceKey, Dest)> {
        self.targets
            .iter()
            .map(|t| {
                let mut d = t.dest.clone();
                d.weight = 0;
                (t.service, d)
            })
            .collect()
    }

    /// Takes a reading of the table (at least the targets' services) at
    /// `elapsed` since the weights were set, and says what changed.
    pub fn observe(&mut self, table: &[ServiceEntry], elapsed: Duration) -> Vec<Event> {
        let mut events = Vec::new();
        let first = !self.started;
        self.started = true;
        for (i, (t, st)) in self.targets.iter().zip(self.states.iter_mut()).enumerate() {
            if matches!(st.phase, Phase::Gone | Phase::Removed) {
                continue;
            }
            let now = table
                .iter()
                .find(|e| e.service.key == t.service)
                .and_then(|e| {
                    e.dests
                        .iter()
                        .find(|d| d.addr == t.dest.addr && d.port == t.dest.port)
                });
            let Some(d) = now else {
                st.phase = Phase::Gone;
                events.push(Event::Gone { target: i });
                continue;
            };
            let changed = (d.active_conns, d.inact_conns) != (st.active, st.inactive);
            st.active = d.active_conns;
            st.inactive = d.inact_conns;
            if first {
                events.push(Event::Started {
                    target: i,
                    active: st.active,
                    inactive: st.inactive,
                });
            } else if changed {
                events.push(Event::Progress {
                    target: i,
                    active: st.active,
                    inactive: st.inactive,
                });
            }
            let empty = st.active == 0 && (!self.opts.inactive || st.inactive == 0);
            if st.phase == Phase::Waiting && empty {
                st.phase = Phase::Drained;
                events.push(Event::Drained { target: i });
            }
        }
        if self.outcome() == Outcome::Waiting
            && self.opts.timeout.is_some_and(|limit| elapsed >= limit)
        {
            self.timed_out = true;
            for (i, st) in self.states.iter().enumerate() {
                if st.phase == Phase::Waiting {
                    events.push(Event::TimedOut {
                        target: i,
                        active: st.active,
                        inactive: st.inactive,
                    });
                }
            }
        }
        events
    }

    /// The drained targets still to delete (with `remove`).
    pub fn to_remove(&self) -> Vec<usize> {
        if !self.opts.remove {
            return Vec::new();
        }
        self.states
            .iter()
            .enumerate()
            .filter(|(_, s)| s.phase == Phase::Drained)
            .map(|(i, _)| i)
            .collect()
    }

    /// Records that target `i` was deleted.
    pub fn removed(&mut self, i: usize) -> Option<Event> {
        let st = self.states.get_mut(i)?;
        st.phase = Phase::Removed;
        Some(Event::Removed { target: i })
    }

    /// Where the drain is.
    pub fn outcome(&self) -> Outcome {
        let finished = |s: &State| match s.phase {
            Phase::Gone | Phase::Removed => true,
            Phase::Drained => !self.opts.remove,
            Phase::Waiting => false,
        };
        if self.states.iter().all(finished) {
            Outcome::Done
        } else if self.timed_out {
            Outcome::TimedOut
        } else {
            Outcome::Waiting
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Protocol, Service};

    fn key(port: u16) -> ServiceKey {
        ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: "10.0.0.1".parse().unwrap(),
            port,
        }
    }

    fn dest(addr: &str, port: u16, weight: i32, active: u32, inactive: u32) -> Dest {
        let mut d = Dest::new(addr.parse().unwrap(), port);
        d.weight = weight;
        d.active_conns = active;
        d.inact_conns = inactive;
        d
    }

    fn entry(port: u16, dests: Vec<Dest>) -> ServiceEntry {
        ServiceEntry {
            service: Service::new(key(port)),
            dests,
        }
    }

    fn spec(addr: &str, port: Option<u16>) -> ServerSpec {
        ServerSpec {
            addr: addr.parse().unwrap(),
            port,
        }
    }

    fn table(a: u32, b: u32) -> Vec<ServiceEntry> {
        vec![
            entry(
                80,
                vec![dest("10.1.0.1", 80, 3, a, 1), dest("10.1.0.2", 80, 1, 9, 9)],
            ),
            entry(443, vec![dest("10.1.0.1", 443, 5, b, 0)]),
        ]
    }

    #[test]
    fn select_one_service_or_everywhere() {
        let t = table(2, 1);
        let sel = Selector::Service {
            key: key(80),
            servers: vec![spec("10.1.0.1", None)],
        };
        let got = select(&t, &sel).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].dest.weight, 3);
        assert_eq!(got[0].server_text(), "10.1.0.1:80");
        assert_eq!(got[0].service_text(), "TCP 10.0.0.1:80");
        let all = select(&t, &Selector::Everywhere(vec![spec("10.1.0.1", None)])).unwrap();
        assert_eq!(
            all.iter().map(|t| t.dest.port).collect::<Vec<_>>(),
            vec![80, 443]
        );
        let one = select(&t, &Selector::Everywhere(vec![spec("10.1.0.1", Some(443))])).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].service, key(443));
    }

    #[test]
    fn select_refuses_what_is_not_there() {
        let t = table(0, 0);
        assert_eq!(
            select(
                &t,
                &Selector::Service {
                    key: key(81),
                    servers: vec![spec("10.1.0.1", None)]
                }
            ),
            Err(DrainError::NoService("TCP 10.0.0.1:81".into()))
        );
        // One missing server refuses the whole request.
        assert_eq!(
            select(
                &t,
                &Selector::Service {
                    key: key(80),
                    servers: vec![spec("10.1.0.1", None), spec("10.1.0.1", Some(81))]
                }
            ),
            Err(DrainError::NotInService {
                server: "10.1.0.1:81".into(),
                service: "TCP 10.0.0.1:80".into()
            })
        );
        assert_eq!(
            select(&t, &Selector::Everywhere(vec![spec("::1", Some(80))])),
            Err(DrainError::Nowhere("[::1]:80".into()))
        );
        assert_eq!(
            select(&t, &Selector::Everywhere(vec![])),
            Err(DrainError::Empty)
        );
    }

    #[test]
    fn zero_weights_keep_every_other_setting() {
        let mut t = table(1, 0);
        t[0].dests[0].u_threshold = 50;
        t[0].dests[0].fwd = crate::model::FwdMethod::Masq;
        let sel = Selector::Everywhere(vec![spec("10.1.0.1", None)]);
        let d = Drain::new(select(&t, &sel).unwrap(), Options::default());
        let z = d.zero_weights();
        assert_eq!(z.len(), 2);
        assert_eq!(z[0].1.weight, 0);
        assert_eq!(z[0].1.u_threshold, 50);
        assert_eq!(z[0].1.fwd, crate::model::FwdMethod::Masq);
        assert_eq!(d.targets()[0].dest.weight, 3);
    }

    #[test]
    fn connections_ending_drain_the_servers() {
        let sel = Selector::Everywhere(vec![spec("10.1.0.1", None)]);
        let mut d = Drain::new(select(&table(2, 1), &sel).unwrap(), Options::default());
        let s = Duration::from_secs;
        assert_eq!(
            d.observe(&table(2, 1), s(0)),
            vec![
                Event::Started {
                    target: 0,
                    active: 2,
                    inactive: 1
                },
                Event::Started {
                    target: 1,
                    active: 1,
                    inactive: 0
                }
            ]
        );
        assert_eq!(d.outcome(), Outcome::Waiting);
        // Nothing changed: no events.
        assert_eq!(d.observe(&table(2, 1), s(1)), vec![]);
        assert_eq!(
            d.observe(&table(1, 0), s(2)),
            vec![
                Event::Progress {
                    target: 0,
                    active: 1,
                    inactive: 1
                },
                Event::Progress {
                    target: 1,
                    active: 0,
                    inactive: 0
                },
                Event::Drained { target: 1 }
            ]
        );
        assert_eq!(d.outcome(), Outcome::Waiting);
        // Inactive connections do not count without `inactive`.
        let ev = d.observe(&table(0, 0), s(3));
        assert!(ev.contains(&Event::Drained { target: 0 }), "{ev:?}");
        assert_eq!(d.outcome(), Outcome::Done);
        assert_eq!(d.to_remove(), Vec::<usize>::new());
    }

    #[test]
    fn inactive_connections_are_waited_for_when_asked() {
        let sel = Selector::Service {
            key: key(80),
            servers: vec![spec("10.1.0.1", Some(80))],
        };
        let opts = Options {
            inactive: true,
            ..Options::default()
        };
        let mut d = Drain::new(select(&table(0, 0), &sel).unwrap(), opts);
        // Active 0 but one inactive.
        let ev = d.observe(&table(0, 0), Duration::ZERO);
        assert!(!ev.contains(&Event::Drained { target: 0 }));
        assert_eq!(d.outcome(), Outcome::Waiting);
        let mut t = table(0, 0);
        t[0].dests[0].inact_conns = 0;
        let ev = d.observe(&t, Duration::from_secs(1));
        assert!(ev.contains(&Event::Drained { target: 0 }));
        assert_eq!(d.outcome(), Outcome::Done);
    }

    #[test]
    fn the_timeout_ends_a_drain_with_connections_left() {
        let sel = Selector::Everywhere(vec![spec("10.1.0.1", None)]);
        let opts = Options {
            timeout: Some(Duration::from_secs(5)),
            ..Options::default()
        };
        let mut d = Drain::new(select(&table(2, 0), &sel).unwrap(), opts);
        d.observe(&table(2, 0), Duration::ZERO);
        assert_eq!(d.observe(&table(2, 0), Duration::from_secs(4)), vec![]);
        assert_eq!(d.outcome(), Outcome::Waiting);
        let ev = d.observe(&table(2, 0), Duration::from_secs(5));
        // The second one (no connections) drained at once; the first is
        // left.
        assert_eq!(
            ev,
            vec![Event::TimedOut {
                target: 0,
                active: 2,
                inactive: 1
            }]
        );
        assert_eq!(d.outcome(), Outcome::TimedOut);
        assert_eq!(d.states()[1].phase, Phase::Drained);
    }

    #[test]
    fn remove_waits_for_the_deletion_and_gone_servers_end() {
        let sel = Selector::Everywhere(vec![spec("10.1.0.1", None)]);
        let opts = Options {
            remove: true,
            ..Options::default()
        };
        let mut d = Drain::new(select(&table(1, 0), &sel).unwrap(), opts);
        d.observe(&table(1, 0), Duration::ZERO);
        assert_eq!(d.to_remove(), vec![1]);
        assert_eq!(d.outcome(), Outcome::Waiting);
        assert_eq!(d.removed(1), Some(Event::Removed { target: 1 }));
        assert_eq!(d.to_remove(), Vec::<usize>::new());
        // Someone else deletes the first.
        let mut t = table(1, 0);
        t[0].dests.remove(0);
        assert_eq!(
            d.observe(&t, Duration::from_secs(1)),
            vec![Event::Gone { target: 0 }]
        );
        assert_eq!(d.outcome(), Outcome::Done);
        // A whole service gone counts too, and a later reading says
        // nothing more.
        assert_eq!(d.observe(&[], Duration::from_secs(2)), vec![]);
        assert_eq!(d.removed(9), None);
    }
}
