//! The diff behind `ipvsadm-rs apply`: the smallest list of table writes
//! that turns one IPVS table into another, and the inverse of each write.
//!
//! Pure functions over [`ServiceEntry`] snapshots, so the diff can be
//! proven on in-memory tables. Two objects are "the same" when every
//! setting that `-S` can express is equal: that is what a file in the save
//! format can ask for, and it keeps a second apply from editing what the
//! kernel reports differently from what was sent (the `HASHED` flag, the
//! timeout of a service that is not persistent, a local destination the
//! kernel turned into `Local`).
//!
//! Order of a plan: destination deletions first, then services (edits,
//! deletions and additions, in listing order), then destination additions
//! and edits. Deleting destinations first keeps a service's set of real
//! servers from growing past what either table has; services come before
//! the destinations that need them.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use crate::client::Request;
use crate::model::{svc_flags, Dest, Family, FwdMethod, Service, ServiceEntry, ServiceKey};

/// One table write of a plan, carrying what its inverse needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Add a service (no destinations; they follow as [`Change::AddDest`]).
    AddService(Service),
    /// Replace a service's settings.
    EditService {
        /// The settings before (from the live table).
        from: Service,
        /// The settings after.
        to: Service,
    },
    /// Delete a service; the entry is the live one, destinations
    /// included, so the inverse can rebuild it.
    DelService(ServiceEntry),
    /// Add a destination to the service with this key.
    AddDest(ServiceKey, Dest),
    /// Replace a destination's settings.
    EditDest {
        /// The service it belongs to.
        service: ServiceKey,
        /// The settings before.
        from: Dest,
        /// The settings after.
        to: Dest,
    },
    /// Delete a destination (the live one, for the inverse).
    DelDest(ServiceKey, Dest),
}

/// What a change does, for summaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A service or destination added.
    Added,
    /// A service or destination edited in place.
    Edited,
    /// A service or destination deleted.
    Deleted,
}

impl Change {
    /// Whether this change adds, edits or deletes.
    pub fn kind(&self) -> Kind {
        match self {
            Change::AddService(_) | Change::AddDest(..) => Kind::Added,
            Change::EditService { .. } | Change::EditDest { .. } => Kind::Edited,
            Change::DelService(_) | Change::DelDest(..) => Kind::Deleted,
        }
    }

    /// The key of the service this change is about.
    pub fn service_key(&self) -> ServiceKey {
        match self {
            Change::AddService(s) => s.key,
            Change::EditService { to, .. } => to.key,
            Change::DelService(e) => e.service.key,
            Change::AddDest(k, _) | Change::DelDest(k, _) => *k,
            Change::EditDest { service, .. } => *service,
        }
    }

    /// The request that makes this change.
    pub fn request(&self) -> Request {
        match self {
            Change::AddService(s) => Request::AddService(s.clone()),
            Change::EditService { to, .. } => Request::EditService(to.clone()),
            Change::DelService(e) => Request::DelService(Service::new(e.service.key)),
            Change::AddDest(k, d) => Request::AddDest(Service::new(*k), d.clone()),
            Change::EditDest { service, to, .. } => {
                Request::EditDest(Service::new(*service), to.clone())
            }
            Change::DelDest(k, d) => Request::DelDest(Service::new(*k), d.clone()),
        }
    }

    /// The changes that undo this one once it has been applied, in the
    /// order to send them. Deleting a service takes its destinations with
    /// it, so its inverse adds them back too.
    pub fn inverse(&self) -> Vec<Change> {
        match self {
            Change::AddService(s) => vec![Change::DelService(ServiceEntry {
                service: s.clone(),
                dests: Vec::new(),
            })],
            Change::EditService { from, to } => vec![Change::EditService {
                from: to.clone(),
                to: from.clone(),
            }],
            Change::DelService(e) => {
                let mut v = Vec::with_capacity(1 + e.dests.len());
                v.push(Change::AddService(e.service.clone()));
                v.extend(
                    e.dests
                        .iter()
                        .map(|d| Change::AddDest(e.service.key, d.clone())),
                );
                v
            }
            Change::AddDest(k, d) => vec![Change::DelDest(*k, d.clone())],
            Change::EditDest { service, from, to } => vec![Change::EditDest {
                service: *service,
                from: to.clone(),
                to: from.clone(),
            }],
            Change::DelDest(k, d) => vec![Change::AddDest(*k, d.clone())],
        }
    }
}

/// The inverse of a list of applied changes: each change's inverse, last
/// change first.
pub fn undo(applied: &[Change]) -> Vec<Change> {
    applied.iter().rev().flat_map(Change::inverse).collect()
}

/// A service as it would be sent: no counters, no `HASHED` flag.
pub fn clean_service(s: &Service) -> Service {
    Service {
        flags: s.flags & !svc_flags::HASHED,
        stats: None,
        ..s.clone()
    }
}

/// A destination as it would be sent: no counters or connection counts.
pub fn clean_dest(d: &Dest) -> Dest {
    Dest {
        active_conns: 0,
        inact_conns: 0,
        persist_conns: 0,
        stats: None,
        ..d.clone()
    }
}

/// True when a live service already has every setting `desired` asks for
/// (scheduler, flags, persistence engine; timeout and netmask when
/// persistent).
pub fn same_service(live: &Service, desired: &Service) -> bool {
    let flags = |s: &Service| s.flags & !svc_flags::HASHED;
    live.key == desired.key
        && live.scheduler == desired.scheduler
        && live.pe == desired.pe
        && flags(live) == flags(desired)
        && (!desired.is_persistent()
            || (live.timeout == desired.timeout && live.netmask == desired.netmask))
}

/// True when a live destination already has every setting `desired` asks
/// for (forwarding, weight, thresholds; tunnel settings for tunnels). A
/// live `Local` destination matches any method: the kernel reports local
/// addresses that way whatever was sent.
pub fn same_dest(live: &Dest, desired: &Dest) -> bool {
    let fwd_ok = live.fwd == desired.fwd || live.fwd == FwdMethod::Local;
    let tun_ok = desired.fwd != FwdMethod::Tunnel
        || (live.tun_type == desired.tun_type
            && live.tun_port == desired.tun_port
            && live.tun_flags == desired.tun_flags);
    live.addr == desired.addr
        && live.port == desired.port
        && fwd_ok
        && tun_ok
        && live.weight == desired.weight
        && live.u_threshold == desired.u_threshold
        && live.l_threshold == desired.l_threshold
}

/// An address as the kernel's 16-byte union holds it, so that comparing
/// arrays compares addresses as big-endian numbers.
fn addr_bytes(addr: IpAddr) -> [u8; 16] {
    match addr {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            [a, b, c, d, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        }
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The listing order of services (as `-L`/`-S` sort them): fwmark,
/// family, protocol, address, port.
pub fn service_order(key: &ServiceKey) -> (u32, u16, u16, [u8; 16], u16) {
    match *key {
        ServiceKey::Fwmark { family, mark } => (mark, family.to_raw(), 0, [0; 16], 0),
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => (
            0,
            Family::of(&addr).to_raw(),
            protocol.to_raw(),
            addr_bytes(addr),
            port,
        ),
    }
}

/// The listing order of destinations: address, port, then family.
pub fn dest_order(d: &Dest) -> ([u8; 16], u16, u16) {
    (addr_bytes(d.addr), d.port, d.family().to_raw())
}

fn sorted_dests(dests: &[Dest]) -> Vec<&Dest> {
    let mut v: Vec<&Dest> = dests.iter().collect();
    v.sort_by_key(|d| dest_order(d));
    v
}

/// The changes that make `live` equal to `desired` (see the module
/// documentation for "equal" and the order). Never a flush: what both
/// tables have in the same form is left alone, a difference in settings
/// is an edit, and only what one side lacks is added or deleted.
///
/// Keys are assumed unique on each side; a duplicate service or
/// destination counts once (its first occurrence).
pub fn plan(live: &[ServiceEntry], desired: &[ServiceEntry]) -> Vec<Change> {
    let mut live_map: HashMap<ServiceKey, &ServiceEntry> = HashMap::new();
    for e in live {
        live_map.entry(e.service.key).or_insert(e);
    }
    let mut want_map: HashMap<ServiceKey, &ServiceEntry> = HashMap::new();
    for e in desired {
        want_map.entry(e.service.key).or_insert(e);
    }
    let mut seen = HashSet::new();
    let mut keys: Vec<ServiceKey> = live
        .iter()
        .chain(desired)
        .map(|e| e.service.key)
        .filter(|k| seen.insert(*k))
        .collect();
    keys.sort_by_key(service_order);

    let dest_id = |d: &Dest| (d.addr, d.port);
    let mut changes = Vec::new();
    // 1. Destinations that go, from services that stay.
    for key in &keys {
        if let (Some(have), Some(want)) = (live_map.get(key), want_map.get(key)) {
            let wanted: HashSet<_> = want.dests.iter().map(dest_id).collect();
            let mut gone = HashSet::new();
            for d in sorted_dests(&have.dests) {
                if !wanted.contains(&dest_id(d)) && gone.insert(dest_id(d)) {
                    changes.push(Change::DelDest(*key, clean_dest(d)));
                }
            }
        }
    }
    // 2. Services.
    for key in &keys {
        match (live_map.get(key), want_map.get(key)) {
            (Some(have), None) => {
                let mut dests = Vec::new();
                let mut once = HashSet::new();
                for d in sorted_dests(&have.dests) {
                    if once.insert(dest_id(d)) {
                        dests.push(clean_dest(d));
                    }
                }
                changes.push(Change::DelService(ServiceEntry {
                    service: clean_service(&have.service),
                    dests,
                }));
            }
            (None, Some(want)) => changes.push(Change::AddService(clean_service(&want.service))),
            (Some(have), Some(want)) => {
                if !same_service(&have.service, &want.service) {
                    changes.push(Change::EditService {
                        from: clean_service(&have.service),
                        to: clean_service(&want.service),
                    });
                }
            }
            (None, None) => {}
        }
    }
    // 3. Destinations that come or change.
    for key in &keys {
        let Some(want) = want_map.get(key) else {
            continue;
        };
        let have: HashMap<_, &Dest> = live_map
            .get(key)
            .map(|e| {
                let mut m = HashMap::new();
                for d in &e.dests {
                    m.entry(dest_id(d)).or_insert(d);
                }
                m
            })
            .unwrap_or_default();
        let mut once = HashSet::new();
        for d in sorted_dests(&want.dests) {
            if !once.insert(dest_id(d)) {
                continue;
            }
            match have.get(&dest_id(d)) {
                None => changes.push(Change::AddDest(*key, clean_dest(d))),
                Some(old) if !same_dest(old, d) => changes.push(Change::EditDest {
                    service: *key,
                    from: clean_dest(old),
                    to: clean_dest(d),
                }),
                Some(_) => {}
            }
        }
    }
    changes
}

/// An in-memory IPVS table that answers requests the way the kernel does
/// (for the errors a plan can meet), for the tests of the diff and of the
/// `apply` command.
#[cfg(test)]
pub(crate) mod sim {
    use super::*;
    use crate::model::Stats;

    /// Decides extra refusals: request number and request to errno.
    pub(crate) type Refusal = Box<dyn FnMut(usize, &Request) -> Option<i32>>;

    /// The table, and which requests it refuses on top of the kernel's own
    /// rules.
    pub(crate) struct Sim {
        /// Services in kernel order.
        pub table: Vec<ServiceEntry>,
        /// Schedulers the "kernel" knows; others give ENOENT.
        pub schedulers: Vec<&'static str>,
        /// Extra refusals: an errno for a request, by its position in all
        /// requests sent so far (counting from 0).
        pub refuse: Refusal,
        /// Requests seen.
        pub sent: Vec<Request>,
    }

    impl Sim {
        pub fn new(table: Vec<ServiceEntry>) -> Sim {
            Sim {
                table,
                schedulers: vec!["rr", "wrr", "lc", "wlc", "sh", "mh", "dh", "sed", "nq"],
                refuse: Box::new(|_, _| None),
                sent: Vec::new(),
            }
        }

        fn find(&mut self, key: &ServiceKey) -> Option<&mut ServiceEntry> {
            self.table.iter_mut().find(|e| e.service.key == *key)
        }

        /// Applies one request; `Err(errno)` as the kernel would.
        pub fn apply(&mut self, req: &Request) -> Result<(), i32> {
            let n = self.sent.len();
            self.sent.push(req.clone());
            if let Some(errno) = (self.refuse)(n, req) {
                return Err(errno);
            }
            let stored = |s: &Service| Service {
                flags: s.flags | svc_flags::HASHED,
                stats: Some(Box::new(Stats::default())),
                ..s.clone()
            };
            let known = |s: &Service, scheds: &[&str]| scheds.contains(&s.scheduler.as_str());
            let busy = |d: &Dest| Dest {
                active_conns: 3,
                stats: Some(Box::new(Stats::default())),
                ..d.clone()
            };
            match req {
                Request::AddService(s) => {
                    if self.find(&s.key).is_some() {
                        return Err(libc::EEXIST);
                    }
                    if !known(s, &self.schedulers) {
                        return Err(libc::ENOENT);
                    }
                    self.table.push(ServiceEntry {
                        service: stored(s),
                        dests: Vec::new(),
                    });
                }
                Request::EditService(s) => {
                    let ok = known(s, &self.schedulers);
                    let e = self.find(&s.key).ok_or(libc::ESRCH)?;
                    if !ok {
                        return Err(libc::ENOENT);
                    }
                    e.service = stored(s);
                }
                Request::DelService(s) => {
                    let before = self.table.len();
                    self.table.retain(|e| e.service.key != s.key);
                    if self.table.len() == before {
                        return Err(libc::ESRCH);
                    }
                }
                Request::AddDest(s, d) => {
                    let e = self.find(&s.key).ok_or(libc::ESRCH)?;
                    if e.dests.iter().any(|x| (x.addr, x.port) == (d.addr, d.port)) {
                        return Err(libc::EEXIST);
                    }
                    e.dests.push(busy(d));
                }
                Request::EditDest(s, d) => {
                    let e = self.find(&s.key).ok_or(libc::ESRCH)?;
                    let x = e
                        .dests
                        .iter_mut()
                        .find(|x| (x.addr, x.port) == (d.addr, d.port))
                        .ok_or(libc::ENOENT)?;
                    *x = busy(d);
                }
                Request::DelDest(s, d) => {
                    let e = self.find(&s.key).ok_or(libc::ESRCH)?;
                    let before = e.dests.len();
                    e.dests.retain(|x| (x.addr, x.port) != (d.addr, d.port));
                    if e.dests.len() == before {
                        return Err(libc::ENOENT);
                    }
                }
                _ => return Err(libc::EINVAL),
            }
            Ok(())
        }

        /// Applies every request, going on after a failure as the kernel
        /// does with a batch.
        pub fn batch(&mut self, reqs: &[Request]) -> Vec<Result<(), i32>> {
            reqs.iter().map(|r| self.apply(r)).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::sim::Sim;
    use super::*;
    use crate::model::{Protocol, TunType};

    fn tcp(addr: &str, port: u16) -> ServiceKey {
        ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: addr.parse().unwrap(),
            port,
        }
    }

    fn svc(key: ServiceKey, sched: &str) -> Service {
        let mut s = Service::new(key);
        s.scheduler = sched.into();
        s
    }

    fn dest(addr: &str, port: u16, weight: i32) -> Dest {
        let mut d = Dest::new(addr.parse().unwrap(), port);
        d.fwd = FwdMethod::Masq;
        d.weight = weight;
        d
    }

    fn entry(s: Service, dests: Vec<Dest>) -> ServiceEntry {
        ServiceEntry { service: s, dests }
    }

    /// A table with a bit of everything.
    fn base() -> Vec<ServiceEntry> {
        let mut persistent = svc(tcp("10.0.0.1", 443), "sh");
        persistent.flags = svc_flags::PERSISTENT | svc_flags::SCHED2;
        persistent.timeout = 300;
        persistent.netmask = 0xffff_ff00;
        let mut tun = dest("10.2.0.1", 80, 1);
        tun.fwd = FwdMethod::Tunnel;
        tun.tun_type = TunType::Gue;
        tun.tun_port = 6080;
        tun.tun_flags = 1;
        vec![
            entry(
                svc(tcp("10.0.0.1", 80), "rr"),
                vec![dest("10.1.0.1", 8080, 1), dest("10.1.0.2", 8080, 2)],
            ),
            entry(persistent, vec![dest("10.1.0.1", 443, 1)]),
            entry(
                svc(
                    ServiceKey::Fwmark {
                        family: Family::Inet,
                        mark: 7,
                    },
                    "wlc",
                ),
                vec![tun],
            ),
            entry(
                svc(tcp("2001:db8::1", 80), "wrr"),
                vec![dest("2001:db8::11", 80, 5)],
            ),
        ]
    }

    /// Runs `plan(live, desired)` on a simulated kernel holding `live`;
    /// returns the simulator afterwards.
    fn run(live: Vec<ServiceEntry>, desired: &[ServiceEntry]) -> (Vec<Change>, Sim) {
        let mut sim = Sim::new(live.clone());
        let changes = plan(&live, desired);
        let reqs: Vec<Request> = changes.iter().map(Change::request).collect();
        let results = sim.batch(&reqs);
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        (changes, sim)
    }

    #[test]
    fn a_table_against_itself_is_empty() {
        let t = base();
        assert!(plan(&t, &t).is_empty());
        assert!(plan(&[], &[]).is_empty());
        // Also as the kernel reports it (HASHED, counters, connections).
        let (_, sim) = run(Vec::new(), &t);
        assert!(plan(&sim.table, &t).is_empty());
        assert!(plan(&sim.table, &sim.table).is_empty());
    }

    #[test]
    fn from_empty_adds_services_then_dests() {
        let t = base();
        let changes = plan(&[], &t);
        let kinds: Vec<_> = changes
            .iter()
            .map(|c| match c {
                Change::AddService(_) => 'S',
                Change::AddDest(..) => 'd',
                _ => '?',
            })
            .collect();
        assert_eq!(kinds.iter().collect::<String>(), "SSSSddddd");
    }

    #[test]
    fn to_empty_deletes_services_only() {
        let t = base();
        let changes = plan(&t, &[]);
        assert_eq!(changes.len(), 4);
        assert!(changes
            .iter()
            .all(|c| matches!(c, Change::DelService(_)) && c.kind() == Kind::Deleted));
        let (_, sim) = run(t, &[]);
        assert!(sim.table.is_empty());
    }

    #[test]
    fn edits_where_an_edit_is_enough() {
        let live = base();
        let mut want = base();
        want[0].service.scheduler = "wlc".into();
        want[0].dests[1].weight = 9;
        want[1].service.timeout = 600;
        want[2].dests[0].tun_port = 7000;
        want[3].dests[0].u_threshold = 100;
        let changes = plan(&live, &want);
        assert_eq!(changes.len(), 5);
        assert!(changes.iter().all(|c| c.kind() == Kind::Edited));
        assert!(matches!(&changes[0], Change::EditService { to, .. } if to.scheduler == "wlc"));
        assert!(matches!(&changes[1], Change::EditService { to, .. } if to.timeout == 600));
        let (_, sim) = run(live, &want);
        assert!(plan(&sim.table, &want).is_empty());
    }

    #[test]
    fn order_is_dest_deletions_services_then_dests() {
        let live = base();
        let mut want = base();
        want[0].dests.remove(0); // delete 10.1.0.1
        want[0].dests.push(dest("10.1.0.3", 8080, 1)); // add
        want[0].service.scheduler = "lc".into(); // edit service
        want.remove(3); // delete the IPv6 service
        want.push(entry(
            svc(tcp("10.0.0.2", 80), "rr"),
            vec![dest("10.1.0.9", 80, 1)],
        ));
        want[1].dests[0].weight = 4;
        let changes = plan(&live, &want);
        let text: Vec<String> = changes
            .iter()
            .map(|c| match c {
                Change::DelDest(k, d) => format!("d {:?} {}", service_order(k).4, d.addr),
                Change::EditService { to, .. } => format!("E {}", to.scheduler),
                Change::DelService(e) => format!("D {}", e.dests.len()),
                Change::AddService(s) => format!("A {:?}", service_order(&s.key).4),
                Change::AddDest(_, d) => format!("a {}", d.addr),
                Change::EditDest { to, .. } => format!("e {} {}", to.addr, to.weight),
            })
            .collect();
        assert_eq!(
            text,
            [
                "d 80 10.1.0.1",
                "E lc",
                "A 80",
                "D 1",
                "a 10.1.0.3",
                "e 10.1.0.1 4",
                "a 10.1.0.9"
            ]
        );
        let (_, sim) = run(live, &want);
        assert!(plan(&sim.table, &want).is_empty());
    }

    #[test]
    fn what_save_cannot_show_is_not_a_difference() {
        let want = base();
        let mut live = base();
        for e in &mut live {
            e.service.flags |= svc_flags::HASHED;
            for d in &mut e.dests {
                d.active_conns = 5;
            }
        }
        // Not persistent: timeout and netmask are not compared.
        live[0].service.timeout = 99;
        live[0].service.netmask = 0xff00_0000;
        // Not a tunnel: tunnel settings are not compared.
        live[0].dests[0].tun_port = 1;
        // A local destination the kernel reports as Local.
        live[3].dests[0].fwd = FwdMethod::Local;
        assert!(plan(&live, &want).is_empty());
        // But a persistent service's netmask is.
        live[1].service.netmask = 0xffff_0000;
        assert_eq!(plan(&live, &want).len(), 1);
    }

    #[test]
    fn a_changed_port_or_family_is_delete_and_add() {
        let live = base();
        let mut want = base();
        want[0].dests[0].port = 8081;
        let changes = plan(&live, &want);
        assert!(matches!(changes[0], Change::DelDest(..)));
        assert!(matches!(changes[1], Change::AddDest(..)));
        assert_eq!(changes.len(), 2);
    }

    #[test]
    fn undo_restores_the_table() {
        let live = base();
        let mut want = base();
        want[0].dests.remove(0);
        want[0].service.scheduler = "lc".into();
        want[1].dests[0].weight = 4;
        want.remove(2);
        want.push(entry(
            svc(tcp("10.0.0.2", 80), "rr"),
            vec![dest("10.1.0.9", 80, 1)],
        ));
        let (changes, mut sim) = run(live.clone(), &want);
        let back: Vec<Request> = undo(&changes).iter().map(Change::request).collect();
        assert!(sim.batch(&back).iter().all(Result::is_ok));
        assert!(plan(&sim.table, &live).is_empty());
        assert!(plan(&live, &sim.table).is_empty());
    }

    #[test]
    fn inverse_of_inverse_is_the_change() {
        let live = base();
        let mut want = base();
        want[0].dests.remove(0);
        want[0].service.scheduler = "lc".into();
        want[1].dests[0].weight = 4;
        want.remove(2);
        for c in plan(&live, &want)
            .into_iter()
            .filter(|c| !matches!(c, Change::DelService(_)))
        {
            let inv = c.inverse();
            assert_eq!(inv.len(), 1);
            assert_eq!(inv[0].inverse(), vec![c.clone()]);
            let want = match c.kind() {
                Kind::Added => Kind::Deleted,
                Kind::Edited => Kind::Edited,
                Kind::Deleted => Kind::Added,
            };
            assert_eq!(inv[0].kind(), want);
        }
    }

    /// A deterministic pseudo-random table from a seed: up to 6 services
    /// of 0..4 destinations with varying settings.
    fn random_table(seed: &mut u64) -> Vec<ServiceEntry> {
        let mut next = |n: u64| {
            *seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (*seed >> 33) % n
        };
        let scheds = ["rr", "wlc", "lc", "sh"];
        let mut t = Vec::new();
        for i in 0..6u16 {
            if next(3) == 0 {
                continue;
            }
            let mut s = svc(
                tcp("10.0.0.1", 80 + i),
                scheds[next(scheds.len() as u64) as usize],
            );
            if next(2) == 0 {
                s.flags = svc_flags::PERSISTENT;
                s.timeout = 60 * (1 + next(3) as u32);
            }
            let mut dests = Vec::new();
            for j in 0..4u8 {
                if next(2) == 0 {
                    let mut d = dest(&format!("10.1.0.{}", j + 1), 8080, next(4) as i32);
                    if next(3) == 0 {
                        d.fwd = FwdMethod::Route;
                        d.port = 80 + i;
                    }
                    d.u_threshold = next(2) as u32 * 10;
                    dests.push(d);
                }
            }
            t.push(entry(s, dests));
        }
        t
    }

    /// Whether a change is about an object that differs between `a` and
    /// `b` in the way the change says.
    fn needed(c: &Change, a: &[ServiceEntry], b: &[ServiceEntry]) -> bool {
        let svc =
            |t: &[ServiceEntry], k: ServiceKey| t.iter().find(|e| e.service.key == k).cloned();
        let dst = |t: &[ServiceEntry], k: ServiceKey, d: &Dest| {
            svc(t, k).and_then(|e| {
                e.dests
                    .into_iter()
                    .find(|x| (x.addr, x.port) == (d.addr, d.port))
            })
        };
        let k = c.service_key();
        match c {
            Change::AddService(_) => svc(a, k).is_none() && svc(b, k).is_some(),
            Change::DelService(_) => svc(a, k).is_some() && svc(b, k).is_none(),
            Change::EditService { from, to } => !same_service(from, to),
            Change::AddDest(_, d) => dst(a, k, d).is_none() && dst(b, k, d).is_some(),
            Change::DelDest(_, d) => {
                dst(a, k, d).is_some() && dst(b, k, d).is_none() && svc(b, k).is_some()
            }
            Change::EditDest { from, to, .. } => {
                !same_dest(from, to) && dst(a, k, from).is_some() && dst(b, k, to).is_some()
            }
        }
    }

    #[test]
    fn random_tables_converge_and_roll_back() {
        let mut seed = 42;
        for _ in 0..300 {
            let a = random_table(&mut seed);
            let b = random_table(&mut seed);
            let (changes, mut sim) = run(a.clone(), &b);
            // Applying the plan makes them equal; re-planning is empty.
            assert!(plan(&sim.table, &b).is_empty(), "{a:?}\n{b:?}");
            // Smallest: each change is about something that differs.
            for c in &changes {
                assert!(needed(c, &a, &b), "{c:?}");
            }
            // Undoing gives the start back.
            let back: Vec<Request> = undo(&changes).iter().map(Change::request).collect();
            assert!(sim.batch(&back).iter().all(Result::is_ok));
            assert!(plan(&sim.table, &a).is_empty());
            // No key is touched twice by one plan, except a service that
            // is added and then receives destinations.
            let mut touched = HashSet::new();
            for c in &changes {
                let id = match c {
                    Change::AddDest(k, d) | Change::DelDest(k, d) => Some((*k, d.addr, d.port)),
                    Change::EditDest { service, to, .. } => Some((*service, to.addr, to.port)),
                    _ => None,
                };
                if let Some(id) = id {
                    assert!(touched.insert(id), "{c:?}");
                }
            }
        }
    }

    #[test]
    fn partial_failure_rolls_back_what_succeeded() {
        // The kernel refuses the third request; the rest still apply.
        let live = base();
        let mut want = base();
        want[0].dests.remove(0);
        want[0].service.scheduler = "lc".into();
        want[1].service.scheduler = "nosuch".into();
        want[3].dests[0].weight = 7;
        want.push(entry(
            svc(tcp("10.0.0.2", 80), "rr"),
            vec![dest("10.1.0.9", 80, 1)],
        ));
        let changes = plan(&live, &want);
        let mut sim = Sim::new(live.clone());
        let reqs: Vec<Request> = changes.iter().map(Change::request).collect();
        let results = sim.batch(&reqs);
        assert_eq!(
            results.iter().filter(|r| r.is_err()).count(),
            1,
            "{results:?}"
        );
        let applied: Vec<Change> = changes
            .iter()
            .zip(&results)
            .filter(|(_, r)| r.is_ok())
            .map(|(c, _)| c.clone())
            .collect();
        let back: Vec<Request> = undo(&applied).iter().map(Change::request).collect();
        assert!(sim.batch(&back).iter().all(Result::is_ok));
        assert!(plan(&sim.table, &live).is_empty());
    }

    #[test]
    fn duplicates_count_once() {
        let mut want = base();
        want.push(want[0].clone());
        let again = want[0].dests[0].clone();
        want[0].dests.push(again);
        let changes = plan(&base(), &want);
        assert!(changes.is_empty(), "{changes:?}");
        let changes = plan(&[], &want);
        assert_eq!(changes.len(), plan(&[], &base()).len());
    }

    #[test]
    fn requests_carry_the_right_objects() {
        let t = base();
        let c = Change::DelService(t[1].clone());
        assert_eq!(
            c.request(),
            Request::DelService(Service::new(t[1].service.key))
        );
        let inv = c.inverse();
        assert_eq!(inv.len(), 2);
        assert_eq!(inv[0].request(), Request::AddService(t[1].service.clone()));
        assert_eq!(c.service_key(), t[1].service.key);
        let e = Change::EditDest {
            service: t[0].service.key,
            from: t[0].dests[0].clone(),
            to: t[0].dests[1].clone(),
        };
        assert_eq!(
            e.request(),
            Request::EditDest(Service::new(t[0].service.key), t[0].dests[1].clone())
        );
    }
}
