//! `ipvsadm-rs top`: the front end of [`crate::services::top`]. It parses the
//! arguments (clap), reads the table every interval and prints the view:
//! full screen on a terminal (crossterm: redrawn in place, keys to sort,
//! `q` to quit, the terminal put back on every way out), plain tables one
//! after another on a pipe or with `--once` / `--count N`.

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;

use crate::client::Client;
use crate::commands::args::{parse, parse_duration, ServiceArgs};
use crate::ipvsadm::resolve::SystemResolver;
use crate::model::{Service, ServiceEntry, ServiceKey};
use crate::services::top::{compute, render, render_rows, Reading, SortKey};

/// The arguments of `top` (the source of its `--help`, of its row on
/// the `-h` screen, of its man page section and of its completions).
#[derive(Debug, Parser)]
#[command(
    name = "top",
    about = "a live view of the traffic through the services and real servers",
    long_about = "Reads the table every interval and shows, for each service and each of \
its real servers, the new connections per second, each server's share of its service's new \
connections, the active and inactive connections, and the packets and bytes per second in and \
out. The rates are the difference of the kernel's 64-bit counters between two readings, not \
the kernel's smoothed estimates; the kernel updates the counters it reports every 2 seconds, \
so intervals of at least that are exact. With a service option only that service is shown. \
On a terminal the view fills the \
screen and is redrawn in place; the keys c, a, i, p, b and n sort by connection rate, active \
and inactive connections, packet and byte rates and name, and q quits. Otherwise, or with \
--once or --count, plain tables are printed one after another.",
    override_usage = "ipvsadm-rs top [-t|-u|--sctp-service VIP:PORT | -f MARK [-6]] [--interval DURATION] \
[--sort KEY] [--once | --count N]",
    after_long_help = "Exit status:
  0  quit with q, Ctrl-C, or after --once/--count
  1  the table could not be read
  2  a usage error"
)]
pub struct Args {
    #[command(flatten)]
    service: ServiceArgs,
    /// Time between readings (1, 2s, 500ms); default 1 s.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    interval: Option<Duration>,
    /// The column to order by, largest first (name: alphabetical); default
    /// cps.
    #[arg(long, value_name = "KEY", value_parser = sort_parser())]
    sort: Option<SortKey>,
    /// Print one table, over one interval, and exit.
    #[arg(long, conflicts_with = "count")]
    once: bool,
    /// Print N tables, one per interval, and exit.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
}

/// `--sort`'s words, as a fixed set (so that `--help` and the
/// completions offer them).
fn sort_parser() -> impl clap::builder::TypedValueParser<Value = SortKey> {
    use clap::builder::TypedValueParser as _;
    let words: Vec<&'static str> = SortKey::ALL.iter().map(|(_, w, _)| *w).collect();
    clap::builder::PossibleValuesParser::new(words)
        .map(|w| SortKey::from_word(&w).unwrap_or_default())
}

fn sort_word(k: SortKey) -> &'static str {
    SortKey::ALL
        .iter()
        .find(|(s, _, _)| *s == k)
        .map_or("cps", |(_, w, _)| w)
}

static STOP: AtomicBool = AtomicBool::new(false);

/// What is read each time: the whole table or one service.
fn read(
    client: &mut Client,
    only: Option<ServiceKey>,
) -> Result<Vec<ServiceEntry>, crate::client::Error> {
    match only {
        None => client.table(),
        Some(key) => {
            let service = client.service(&Service::new(key))?;
            let dests = client.dests(&service)?;
            Ok(vec![ServiceEntry { service, dests }])
        }
    }
}

/// Sleeps `d`, in steps, unless a signal asks to stop; true if stopped.
fn pause(d: Duration) -> bool {
    let end = Instant::now() + d;
    loop {
        if STOP.load(Ordering::SeqCst) {
            return true;
        }
        let now = Instant::now();
        if now >= end {
            return false;
        }
        std::thread::sleep((end - now).min(Duration::from_millis(100)));
    }
}

/// `ipvsadm-rs [--netns NS] top ARGS...` (`args` without `top`).
pub fn run(prog: &str, args: &[OsString], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let a: Args = match parse(prog, "top", args, out, err) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let only = match a.service.key(&SystemResolver) {
        Ok(k) => k,
        Err(m) => {
            let e = <Args as clap::CommandFactory>::command()
                .error(clap::error::ErrorKind::InvalidValue, m);
            let _ = err.write_all(e.render().to_string().as_bytes());
            return 2;
        }
    };
    let interval = a.interval.unwrap_or(Duration::from_secs(1));
    let mut sort = a.sort.unwrap_or_default();
    let mut client = match Client::open() {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(err, "{prog} top: cannot talk to IPVS: {e}");
            return 1;
        }
    };
    let start = Instant::now();
    let mut take = |client: &mut Client| -> Result<Reading, i32> {
        match read(client, only) {
            Ok(entries) => Ok(Reading {
                entries,
                at: start.elapsed(),
            }),
            Err(e) => {
                let _ = writeln!(err, "{prog} top: cannot read the table: {e}");
                Err(1)
            }
        }
    };
    let _ = ctrlc::set_handler(|| STOP.store(true, Ordering::SeqCst));
    STOP.store(false, Ordering::SeqCst);
    let count = if a.once { Some(1) } else { a.count };
    let full_screen = count.is_none() && std::io::stdout().is_terminal();
    let mut prev = match take(&mut client) {
        Ok(r) => r,
        Err(code) => return code,
    };
    if full_screen {
        return screen::run(interval, &mut sort, prev, || take(&mut client));
    }
    let mut printed = 0u64;
    loop {
        if pause(interval) {
            return 0;
        }
        let cur = match take(&mut client) {
            Ok(r) => r,
            Err(code) => return code,
        };
        let views = compute(&prev, &cur, sort);
        let head = format!(
            "# over {:.2} s, by {}\n",
            cur.at.saturating_sub(prev.at).as_secs_f64(),
            sort_word(sort)
        );
        let sep = if printed > 0 { "\n" } else { "" };
        if write!(out, "{sep}{head}{}", render(&views))
            .and_then(|()| out.flush())
            .is_err()
        {
            // The reader went away (`| head`).
            return 0;
        }
        printed += 1;
        if count.is_some_and(|n| printed >= n) {
            return 0;
        }
        prev = cur;
    }
}

/// The full-screen view.
mod screen {
    use super::*;
    use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
    use crossterm::{cursor, execute, queue, terminal};

    /// Puts the terminal back when dropped: on `q`, on an error, on a
    /// signal, and on unwinding.
    struct Restore;

    impl Drop for Restore {
        fn drop(&mut self) {
            let mut o = std::io::stdout();
            let _ = execute!(o, cursor::Show, terminal::LeaveAlternateScreen);
            let _ = terminal::disable_raw_mode();
        }
    }

    /// The number of table lines the screen has room for (under the
    /// title and the table's header).
    fn room() -> usize {
        let (_, rows) = terminal::size().unwrap_or((80, 24));
        usize::from(rows).saturating_sub(3)
    }

    fn draw(text: &str, sort: SortKey, interval: Duration) -> std::io::Result<()> {
        let mut o = std::io::stdout();
        let (cols, rows) = terminal::size().unwrap_or((80, 24));
        queue!(
            o,
            cursor::MoveTo(0, 0),
            terminal::Clear(terminal::ClearType::All)
        )?;
        let keys: Vec<String> = SortKey::ALL
            .iter()
            .map(|(k, w, c)| {
                if *k == sort {
                    format!("[{c}]{w}*")
                } else {
                    format!("[{c}]{w}")
                }
            })
            .collect();
        let title = format!(
            "ipvsadm-rs top, every {:.1} s; sort: {}  [q]uit",
            interval.as_secs_f64(),
            keys.join(" ")
        );
        let width = usize::from(cols);
        let fit = |l: &str| l.chars().take(width).collect::<String>();
        write!(o, "{}\r\n", fit(&title))?;
        for line in text.lines().take(usize::from(rows).saturating_sub(2)) {
            write!(o, "{}\r\n", fit(line))?;
        }
        o.flush()
    }

    pub(super) fn run(
        interval: Duration,
        sort: &mut SortKey,
        mut prev: Reading,
        mut take: impl FnMut() -> Result<Reading, i32>,
    ) -> i32 {
        if terminal::enable_raw_mode().is_err() {
            return 1;
        }
        let _restore = Restore;
        if execute!(
            std::io::stdout(),
            terminal::EnterAlternateScreen,
            cursor::Hide
        )
        .is_err()
        {
            return 1;
        }
        let mut cur: Option<Reading> = None;
        let mut next = Instant::now() + interval;
        let _ = draw("(first reading in progress)\n", *sort, interval);
        loop {
            if STOP.load(Ordering::SeqCst) {
                return 0;
            }
            let now = Instant::now();
            if now >= next {
                let r = match take() {
                    Ok(r) => r,
                    Err(code) => return code,
                };
                if let Some(c) = cur.take() {
                    prev = c;
                }
                let text = render_rows(&compute(&prev, &r, *sort), room());
                let _ = draw(&text, *sort, interval);
                cur = Some(r);
                next = Instant::now() + interval;
                continue;
            }
            let wait = (next - now).min(Duration::from_millis(200));
            match event::poll(wait) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(_) => return 1,
            }
            let Ok(Event::Key(k)) = event::read() else {
                continue;
            };
            if k.kind != KeyEventKind::Press {
                continue;
            }
            match k.code {
                KeyCode::Char('q') | KeyCode::Esc => return 0,
                KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => return 0,
                KeyCode::Char(ch) => {
                    if let Some(key) = SortKey::from_char(ch) {
                        *sort = key;
                        if let Some(c) = &cur {
                            let text = render_rows(&compute(&prev, c, *sort), room());
                            let _ = draw(&text, *sort, interval);
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments() {
        let p = |v: &[&str]| Args::try_parse_from(std::iter::once("top").chain(v.iter().copied()));
        let a = p(&["--once", "--sort", "bytes", "-t", "10.0.0.1:80"]).unwrap();
        assert!(a.once);
        assert_eq!(a.sort, Some(SortKey::Bytes));
        let a = p(&["--count", "3", "--interval", "500ms"]).unwrap();
        assert_eq!(a.count, Some(3));
        assert_eq!(a.interval, Some(Duration::from_millis(500)));
        for bad in [
            &["--count", "0"][..],
            &["--once", "--count", "2"],
            &["--sort", "weight"],
            &["--interval", "fast"],
            &["--bogus"],
        ] {
            assert!(p(bad).is_err(), "{bad:?}");
        }
        let mut out = Vec::new();
        let mut err = Vec::new();
        assert_eq!(
            run("ipvsadm-rs", &["--bogus".into()], &mut out, &mut err),
            2
        );
        let args = ["-t".into(), "no such thing".into()];
        assert_eq!(run("ipvsadm-rs", &args, &mut out, &mut err), 2);
        assert!(String::from_utf8_lossy(&err).contains("invalid virtual service"));
        assert_eq!(run("ipvsadm-rs", &["--help".into()], &mut out, &mut err), 0);
        assert!(String::from_utf8_lossy(&out).contains("--count"));
    }
}
