//! The numbers and the table of `ipvsadm-rs top`: rates computed from the
//! 64-bit counters of two readings of the table, and their rendering.
//!
//! Pure: the front end (`commands::top`) takes the readings and draws the
//! text. The rates are counter differences over the elapsed time between
//! the two readings, not the kernel's smoothed estimates that `-L --rate`
//! shows. (The kernel refreshes the counters it reports every 2 seconds,
//! so intervals of at least that are exact.)

use std::cmp::Ordering;
use std::collections::HashMap;
use std::time::Duration;

use comfy_table::{CellAlignment, ContentArrangement, Table};

use crate::model::{ServiceEntry, ServiceKey, Stats};
use crate::services::drain::{service_text, ServerSpec};

/// One reading of the table, and when it was taken (any monotonic
/// origin; only differences are used).
#[derive(Debug, Clone, Default)]
pub struct Reading {
    /// The services and their destinations, with counters.
    pub entries: Vec<ServiceEntry>,
    /// When.
    pub at: Duration,
}

/// Per-second rates over one interval.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rates {
    /// New connections per second.
    pub cps: f64,
    /// Packets in per second.
    pub inpps: f64,
    /// Packets out per second.
    pub outpps: f64,
    /// Bytes in per second.
    pub inbps: f64,
    /// Bytes out per second.
    pub outbps: f64,
    /// New connections in the interval (for shares).
    pub conns: u64,
}

/// One line of the view: a service or one of its real servers.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    /// `TCP 10.0.0.1:80`, or the server `10.1.0.1:80`.
    pub name: String,
    /// The server's weight (none for a service line).
    pub weight: Option<i32>,
    /// Active connections (a service: the sum of its servers').
    pub active: u64,
    /// Inactive connections (likewise).
    pub inactive: u64,
    /// Rates; `None` when this reading has no earlier one to compare with
    /// (new in the table) or no counters.
    pub rates: Option<Rates>,
    /// A server's share of its service's new connections in the interval
    /// (0..=1); `None` for a service line or when the service had none.
    pub share: Option<f64>,
}

/// A service and its servers.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceView {
    /// The service's line.
    pub service: Line,
    /// Its servers' lines.
    pub servers: Vec<Line>,
}

/// What the lines are ordered by (largest first, the name ascending).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortKey {
    /// Connections per second.
    #[default]
    Cps,
    /// Active connections.
    Active,
    /// Inactive connections.
    Inactive,
    /// Packets in + out per second.
    Packets,
    /// Bytes in + out per second.
    Bytes,
    /// The name.
    Name,
}

impl SortKey {
    /// Every key, with the word and the key that select it.
    pub const ALL: [(SortKey, &'static str, char); 6] = [
        (SortKey::Cps, "cps", 'c'),
        (SortKey::Active, "active", 'a'),
        (SortKey::Inactive, "inactive", 'i'),
        (SortKey::Packets, "packets", 'p'),
        (SortKey::Bytes, "bytes", 'b'),
        (SortKey::Name, "name", 'n'),
    ];

    /// The key called `word`.
    pub fn from_word(word: &str) -> Option<SortKey> {
        SortKey::ALL
            .iter()
            .find(|(_, w, _)| *w == word)
            .map(|(k, _, _)| *k)
    }

    /// The key selected by the key `c`.
    pub fn from_char(c: char) -> Option<SortKey> {
        SortKey::ALL
            .iter()
            .find(|(_, _, ch)| *ch == c)
            .map(|(k, _, _)| *k)
    }

    fn value(self, l: &Line) -> f64 {
        let r = l.rates.unwrap_or_default();
        match self {
            SortKey::Cps => r.cps,
            SortKey::Active => l.active as f64,
            SortKey::Inactive => l.inactive as f64,
            SortKey::Packets => r.inpps + r.outpps,
            SortKey::Bytes => r.inbps + r.outbps,
            SortKey::Name => 0.0,
        }
    }

    fn order(self, a: &Line, b: &Line) -> Ordering {
        match self {
            SortKey::Name => a.name.cmp(&b.name),
            _ => self
                .value(b)
                .partial_cmp(&self.value(a))
                .unwrap_or(Ordering::Equal)
                .then_with(|| a.name.cmp(&b.name)),
        }
    }
}

/// How much a counter grew from `prev` to `cur`. A counter that went down
/// was either zeroed (`-Z`) in between, in which case it counted `cur`
/// since then, or wrapped past 2^64 (only from near the top): then the
/// difference modulo 2^64 is the growth.
pub fn delta(prev: u64, cur: u64) -> u64 {
    if cur >= prev {
        cur - prev
    } else if prev > u64::MAX / 2 && cur < u64::MAX / 2 {
        cur.wrapping_sub(prev)
    } else {
        cur
    }
}

fn rates(prev: Option<&Stats>, cur: Option<&Stats>, secs: f64) -> Option<Rates> {
    let (p, c) = (prev?, cur?);
    if secs <= 0.0 {
        return None;
    }
    let per = |a: u64, b: u64| delta(a, b) as f64 / secs;
    Some(Rates {
        cps: per(p.conns, c.conns),
        inpps: per(p.inpkts, c.inpkts),
        outpps: per(p.outpkts, c.outpkts),
        inbps: per(p.inbytes, c.inbytes),
        outbps: per(p.outbytes, c.outbytes),
        conns: delta(p.conns, c.conns),
    })
}

/// The view of `cur` with rates against `prev`, sorted by `sort`.
/// Services and servers are matched by their keys, so a table that
/// changed in between is handled: what is new has no rates yet, what
/// left is not shown.
pub fn compute(prev: &Reading, cur: &Reading, sort: SortKey) -> Vec<ServiceView> {
    let secs = cur.at.saturating_sub(prev.at).as_secs_f64();
    let earlier: HashMap<ServiceKey, &ServiceEntry> =
        prev.entries.iter().map(|p| (p.service.key, p)).collect();
    let mut views: Vec<ServiceView> = cur
        .entries
        .iter()
        .map(|e| {
            let before = earlier.get(&e.service.key).copied();
            let mut servers: Vec<Line> = e
                .dests
                .iter()
                .map(|d| {
                    let was = before.and_then(|p| {
                        p.dests
                            .iter()
                            .find(|x| x.addr == d.addr && x.port == d.port)
                    });
                    Line {
                        name: ServerSpec {
                            addr: d.addr,
                            port: Some(d.port),
                        }
                        .to_string(),
                        weight: Some(d.weight),
                        active: u64::from(d.active_conns),
                        inactive: u64::from(d.inact_conns),
                        rates: rates(
                            was.and_then(|w| w.stats.as_deref()),
                            d.stats.as_deref(),
                            secs,
                        ),
                        share: None,
                    }
                })
                .collect();
            let total: u64 = servers
                .iter()
                .filter_map(|s| s.rates.map(|r| r.conns))
                .sum();
            if total > 0 {
                for s in &mut servers {
                    s.share = Some(s.rates.map_or(0.0, |r| r.conns as f64 / total as f64));
                }
            }
            servers.sort_by(|a, b| sort.order(a, b));
            let service = Line {
                name: service_text(&e.service.key),
                weight: None,
                active: servers.iter().map(|s| s.active).sum(),
                inactive: servers.iter().map(|s| s.inactive).sum(),
                rates: rates(
                    before.and_then(|p| p.service.stats.as_deref()),
                    e.service.stats.as_deref(),
                    secs,
                ),
                share: None,
            };
            ServiceView { service, servers }
        })
        .collect();
    views.sort_by(|a, b| sort.order(&a.service, &b.service));
    views
}

/// `v` with a unit prefix: `0`, `950`, `1.2K`, `3.40M`, `12G` (powers of
/// 1000), three significant digits at most.
pub fn human(v: f64) -> String {
    if !v.is_finite() || v < 0.0 {
        return "?".to_string();
    }
    let units = ["", "K", "M", "G", "T", "P", "E", "Z"];
    let mut x = v;
    let mut i = 0;
    while x >= 999.5 && i + 1 < units.len() {
        x /= 1000.0;
        i += 1;
    }
    let unit = units.get(i).copied().unwrap_or("?");
    if i == 0 {
        // Whole numbers as such; fractions of one per second with one
        // decimal so that a slow trickle does not read as 0.
        if x == 0.0 || x >= 10.0 {
            format!("{x:.0}")
        } else {
            format!("{x:.1}")
        }
    } else if x < 9.995 {
        format!("{x:.2}{unit}")
    } else if x < 99.95 {
        format!("{x:.1}{unit}")
    } else {
        format!("{x:.0}{unit}")
    }
}

/// The view as a table (comfy-table, ASCII, no colours, no width guess):
/// a service line, then its servers indented under it.
pub fn render(views: &[ServiceView]) -> String {
    render_rows(views, usize::MAX)
}

/// [`render`], but only the first `rows` lines after the header: what a
/// screen shows. Formatting is most of a refresh's cost, so the
/// full-screen view does not format what it cannot show.
pub fn render_rows(views: &[ServiceView], rows: usize) -> String {
    let mut t = Table::new();
    t.load_preset(comfy_table::presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(vec![
            "SERVICE / SERVER",
            "WEIGHT",
            "CONN/S",
            "SHARE",
            "ACTIVE",
            "INACT",
            "INPKT/S",
            "OUTPKT/S",
            "IN B/S",
            "OUT B/S",
        ]);
    let row = |l: &Line, indent: &str| {
        let r = l.rates;
        let rate =
            |f: fn(&Rates) -> f64| r.as_ref().map_or_else(|| "-".to_string(), |r| human(f(r)));
        vec![
            format!("{indent}{}", l.name),
            l.weight.map_or_else(String::new, |w| w.to_string()),
            rate(|r| r.cps),
            l.share
                .map_or_else(String::new, |s| format!("{:.0}%", s * 100.0)),
            l.active.to_string(),
            l.inactive.to_string(),
            rate(|r| r.inpps),
            rate(|r| r.outpps),
            rate(|r| r.inbps),
            rate(|r| r.outbps),
        ]
    };
    let mut left = rows;
    'all: for v in views {
        for (line, indent) in
            std::iter::once((&v.service, "")).chain(v.servers.iter().map(|s| (s, "  -> ")))
        {
            if left == 0 {
                break 'all;
            }
            left -= 1;
            t.add_row(row(line, indent));
        }
    }
    for i in 1..10 {
        if let Some(c) = t.column_mut(i) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    let text = t.to_string();
    // The NOTHING preset pads every line on both sides; keep the right
    // edge clean for logs.
    let mut out = String::with_capacity(text.len() + 1);
    for line in text.lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Dest, Protocol, Service, ServiceKey};

    fn stats(conns: u64, pkts: u64, bytes: u64) -> Option<Box<Stats>> {
        Some(Box::new(Stats {
            conns,
            inpkts: pkts,
            outpkts: pkts / 2,
            inbytes: bytes,
            outbytes: bytes * 2,
            ..Stats::default()
        }))
    }

    fn svc(port: u16, s: Option<Box<Stats>>, dests: Vec<Dest>) -> ServiceEntry {
        let mut service = Service::new(ServiceKey::Addr {
            protocol: Protocol::Tcp,
            addr: "10.0.0.1".parse().unwrap(),
            port,
        });
        service.stats = s;
        ServiceEntry { service, dests }
    }

    fn dest(last: u8, weight: i32, active: u32, s: Option<Box<Stats>>) -> Dest {
        let mut d = Dest::new(std::net::IpAddr::from([10, 1, 0, last]), 80);
        d.weight = weight;
        d.active_conns = active;
        d.stats = s;
        d
    }

    fn reading(at: u64, entries: Vec<ServiceEntry>) -> Reading {
        Reading {
            entries,
            at: Duration::from_secs(at),
        }
    }

    #[test]
    fn rates_and_shares_over_the_interval() {
        let prev = reading(
            10,
            vec![svc(
                80,
                stats(100, 1000, 10_000),
                vec![
                    dest(1, 3, 0, stats(70, 700, 7000)),
                    dest(2, 1, 0, stats(30, 300, 3000)),
                ],
            )],
        );
        let cur = reading(
            12,
            vec![svc(
                80,
                stats(140, 1400, 30_000),
                vec![
                    dest(1, 3, 5, stats(100, 1000, 20_000)),
                    dest(2, 1, 2, stats(40, 400, 10_000)),
                ],
            )],
        );
        let v = compute(&prev, &cur, SortKey::Cps);
        let s = &v[0].service;
        assert_eq!(s.name, "TCP 10.0.0.1:80");
        assert_eq!(s.active, 7);
        let r = s.rates.unwrap();
        assert_eq!((r.cps, r.inpps, r.outpps), (20.0, 200.0, 100.0));
        assert_eq!((r.inbps, r.outbps), (10_000.0, 20_000.0));
        // The busy server first, with 30 of the 40 new connections.
        assert_eq!(v[0].servers[0].name, "10.1.0.1:80");
        assert_eq!(v[0].servers[0].rates.unwrap().cps, 15.0);
        assert_eq!(v[0].servers[0].share, Some(0.75));
        assert_eq!(v[0].servers[1].share, Some(0.25));
        let text = render(&v);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("SERVICE / SERVER") && lines[0].contains("SHARE"));
        assert!(lines[1].contains("TCP 10.0.0.1:80"), "{text}");
        assert!(
            lines[2].contains("-> 10.1.0.1:80") && lines[2].contains("75%"),
            "{text}"
        );
        assert!(
            lines[3].contains("-> 10.1.0.2:80") && lines[3].contains("25%"),
            "{text}"
        );
        assert!(
            lines[1].contains("10.0K") && lines[1].contains("20.0K"),
            "{text}"
        );
        assert!(text.lines().all(|l| l == l.trim_end()));
        // Sorted by name instead.
        let v = compute(&prev, &cur, SortKey::Name);
        assert_eq!(v[0].servers[0].name, "10.1.0.1:80");
        let v = compute(&prev, &cur, SortKey::Active);
        assert_eq!(v[0].servers[0].active, 5);
    }

    #[test]
    fn zero_counters_and_no_traffic() {
        let prev = reading(
            1,
            vec![svc(80, stats(0, 0, 0), vec![dest(1, 1, 0, stats(0, 0, 0))])],
        );
        let v = compute(&prev, &prev.clone(), SortKey::Cps);
        // No time passed: no rates rather than a division by zero.
        assert_eq!(v[0].service.rates, None);
        let mut later = prev.clone();
        later.at = Duration::from_secs(2);
        let v = compute(&prev, &later, SortKey::Cps);
        assert_eq!(v[0].service.rates.unwrap().cps, 0.0);
        // No new connections: no shares.
        assert_eq!(v[0].servers[0].share, None);
        let text = render(&v);
        assert!(text.lines().nth(1).unwrap().contains(" 0 "), "{text}");
        // An empty table renders its header only.
        assert_eq!(render(&[]).lines().count(), 1);
        // A screenful: the header and the first lines only.
        let two = render_rows(&v, 1);
        assert_eq!(two.lines().count(), 2);
        assert!(two.lines().nth(1).unwrap().contains("TCP 10.0.0.1:80"));
    }

    #[test]
    fn zeroed_wrapped_and_huge_counters() {
        assert_eq!(delta(5, 9), 4);
        // Zeroed with -Z in between: counted from 0.
        assert_eq!(delta(1000, 7), 7);
        // Wrapped past 2^64.
        assert_eq!(delta(u64::MAX - 1, 3), 5);
        // Huge but growing.
        let prev = reading(
            0,
            vec![svc(80, stats(u64::MAX - 2_000_000, 0, 1 << 62), vec![])],
        );
        let cur = reading(
            1,
            vec![svc(
                80,
                stats(u64::MAX, 0, (1 << 62) + 5_000_000_000_000),
                vec![],
            )],
        );
        let v = compute(&prev, &cur, SortKey::Cps);
        let r = v[0].service.rates.unwrap();
        assert_eq!(r.cps, 2_000_000.0);
        assert_eq!(r.inbps, 5e12);
        let text = render(&v);
        assert!(text.contains("2.00M") && text.contains("5.00T"), "{text}");
    }

    #[test]
    fn a_table_that_changes_between_readings() {
        let prev = reading(
            0,
            vec![
                svc(80, stats(10, 0, 0), vec![dest(1, 1, 0, stats(10, 0, 0))]),
                svc(81, stats(0, 0, 0), vec![]),
            ],
        );
        let cur = reading(
            1,
            vec![
                // :80 gained a server; :81 left; :82 is new.
                svc(
                    80,
                    stats(20, 0, 0),
                    vec![
                        dest(1, 1, 0, stats(14, 0, 0)),
                        dest(2, 1, 0, stats(6, 0, 0)),
                    ],
                ),
                svc(82, stats(50, 0, 0), vec![]),
                // A service without counters.
                svc(83, None, vec![]),
            ],
        );
        let v = compute(&prev, &cur, SortKey::Cps);
        assert_eq!(v.len(), 3);
        let names: Vec<&str> = v.iter().map(|s| s.service.name.as_str()).collect();
        // :80 has a rate; :82 and :83 have none yet (ordered by name).
        assert_eq!(
            names,
            ["TCP 10.0.0.1:80", "TCP 10.0.0.1:82", "TCP 10.0.0.1:83"]
        );
        assert_eq!(v[1].service.rates, None);
        let s80 = &v[0];
        assert_eq!(s80.servers[0].rates.unwrap().cps, 4.0);
        // The new server has no rate and so no share of the known ones.
        assert_eq!(s80.servers[1].rates, None);
        assert_eq!(s80.servers[0].share, Some(1.0));
        assert_eq!(s80.servers[1].share, Some(0.0));
        let text = render(&v);
        assert!(text.contains("-> 10.1.0.2:80"), "{text}");
        assert!(
            text.lines()
                .any(|l| l.starts_with("TCP 10.0.0.1:82") || l.contains(" TCP 10.0.0.1:82")),
            "{text}"
        );
    }

    #[test]
    fn units() {
        assert_eq!(human(0.0), "0");
        assert_eq!(human(0.5), "0.5");
        assert_eq!(human(42.0), "42");
        assert_eq!(human(999.0), "999");
        assert_eq!(human(1234.0), "1.23K");
        assert_eq!(human(56_789.0), "56.8K");
        assert_eq!(human(999_999.0), "1.00M");
        assert_eq!(human(1.8e19), "18.0E");
        assert_eq!(human(f64::NAN), "?");
        assert_eq!(SortKey::from_word("bytes"), Some(SortKey::Bytes));
        assert_eq!(SortKey::from_char('n'), Some(SortKey::Name));
        assert_eq!(SortKey::from_word("x"), None);
    }
}
