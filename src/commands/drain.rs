//! `ipvsadm-rs drain`: the front end of [`crate::services::drain`]. It parses the
//! arguments (clap), lists the table, sets the weights, polls, deletes
//! with `--remove`, and prints the state machine's events: bars on a
//! terminal, one plain line per change on a pipe, one JSON object per
//! line with `--json`. The decisions are all in [`crate::services::drain`].

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;

use crate::client::Client;
use crate::commands::args::{parse, parse_duration, ServiceArgs};
use crate::ipvsadm::addr::parse_host_port;
use crate::ipvsadm::print::save_table;
use crate::ipvsadm::resolve::{NumericResolver, Resolver, SystemResolver};
use crate::model::{Protocol, Service, ServiceEntry, ServiceKey};
use crate::services::drain::{Drain, Event, Options, Outcome, Selector, ServerSpec, Target};

/// How often the table is read while waiting.
const POLL: Duration = Duration::from_millis(250);

/// Exit status when Ctrl-C stopped the wait (128 + SIGINT, as shells
/// report it).
const INTERRUPTED: i32 = 130;

/// The arguments of `drain` (the source of its `--help`, of its row on
/// the `-h` screen, of its man page section and of its completions).
#[derive(Debug, Parser)]
#[command(
    name = "drain",
    about = "take real servers out of service without cutting their connections",
    long_about = "Sets the weight of the named real servers to 0, so that no new connection \
is scheduled to them, prints the weight each had, then waits while their active connections end. \
With --server a server is drained in every service it belongs to. On a terminal each server \
gets a progress line; on a pipe one plain line is printed per change; --json prints one JSON \
object per event. On a timeout or Ctrl-C the weights stay 0 and the command that puts each \
weight back is printed.",
    override_usage = "ipvsadm-rs drain -t|-u|--sctp-service VIP:PORT | -f MARK [-6] -r SERVER[:PORT]... [OPTIONS]\n       \
ipvsadm-rs drain --server SERVER[:PORT]... [OPTIONS]",
    after_long_help = "Exit status:
  0    every server drained (and deleted, with --remove)
  1    the timeout passed (weights left at 0; the commands that restore
       them are printed), or the kernel refused a change
  2    a usage error, or a service or server that is not in the table
       (nothing changed)
  130  interrupted by Ctrl-C (weights left at 0)"
)]
pub struct Args {
    #[command(flatten)]
    service: ServiceArgs,
    /// A real server of the service to drain; without a port, every port
    /// of it; repeat for several.
    #[arg(short = 'r', long = "real-server", value_name = "SERVER[:PORT]")]
    real: Vec<String>,
    /// A real server to drain in every service it belongs to; repeat for
    /// several.
    #[arg(long = "server", value_name = "SERVER[:PORT]")]
    server: Vec<String>,
    /// Give up after DURATION (30, 30s, 500ms, 5m, 1h); default: wait as
    /// long as it takes.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    timeout: Option<Duration>,
    /// Also wait for inactive connections to end.
    #[arg(long)]
    inactive: bool,
    /// Delete each real server once it is drained.
    #[arg(long)]
    remove: bool,
    /// Print one JSON object per event, one per line.
    #[arg(long)]
    json: bool,
    /// Do not resolve names in addresses.
    #[arg(short = 'n', long = "numeric")]
    numeric: bool,
}

/// A usage error in clap's form: `error: MESSAGE`, the usage line, exit 2.
fn usage_error(msg: &str) -> clap::Error {
    <Args as clap::CommandFactory>::command().error(clap::error::ErrorKind::ArgumentConflict, msg)
}

/// What the arguments ask for.
fn selector(a: &Args, res: &dyn Resolver) -> Result<Selector, clap::Error> {
    let services = a.service.given();
    let spec = |text: &str, proto: Option<Protocol>| {
        parse_host_port(text, proto, res)
            .map(|hp| ServerSpec {
                addr: hp.addr,
                port: hp.port,
            })
            .ok_or_else(|| usage_error(&format!("invalid real server {text:?}")))
    };
    if !a.server.is_empty() {
        if services > 0 || !a.real.is_empty() {
            return Err(usage_error(
                "--server drains a server in every service: give no service and no -r with it",
            ));
        }
        let servers = a
            .server
            .iter()
            .map(|s| spec(s, None))
            .collect::<Result<_, _>>()?;
        return Ok(Selector::Everywhere(servers));
    }
    if services != 1 {
        return Err(usage_error(
            "give one service (-t, -u, --sctp-service or -f) and its servers (-r), or --server",
        ));
    }
    if a.service.ipv6 && a.service.fwmark.is_none() {
        return Err(usage_error("-6 goes with -f only"));
    }
    if a.real.is_empty() {
        return Err(usage_error("give the real servers to drain with -r"));
    }
    let key = a
        .service
        .key(res)
        .map_err(|m| usage_error(&m))?
        .ok_or_else(|| usage_error("no service given"))?;
    let proto = match key {
        ServiceKey::Addr { protocol, .. } => Some(protocol),
        ServiceKey::Fwmark { .. } => None,
    };
    let servers = a
        .real
        .iter()
        .map(|s| spec(s, proto))
        .collect::<Result<_, _>>()?;
    Ok(Selector::Service { key, servers })
}

/// The targets' services only; a service that is gone is left out.
fn read_services(client: &mut Client, keys: &[ServiceKey]) -> Vec<ServiceEntry> {
    let mut table = Vec::new();
    for key in keys {
        let service = Service::new(*key);
        if let Ok(dests) = client.dests(&service) {
            table.push(ServiceEntry { service, dests });
        }
    }
    table
}

/// The command line that puts a target back as it was: its `-S` line
/// with `-a` turned into `-e`.
fn restore_command(t: &Target, netns: Option<&str>) -> String {
    let entry = ServiceEntry {
        service: Service::new(t.service),
        dests: vec![t.dest.clone()],
    };
    let mut text = Vec::new();
    let _ = save_table(&mut text, &[entry], true, &NumericResolver);
    let text = String::from_utf8_lossy(&text);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("-a "))
        .unwrap_or_default();
    match netns {
        Some(ns) => format!("ipvsadm-rs --netns {ns} -e {line}"),
        None => format!("ipvsadm-rs -e {line}"),
    }
}

/// Where events go.
enum Display {
    Json,
    Plain,
    Bars {
        multi: indicatif::MultiProgress,
        bars: Vec<indicatif::ProgressBar>,
    },
}

struct Reporter<'a> {
    display: Display,
    out: &'a mut dyn Write,
    netns: Option<&'a str>,
    inactive: bool,
}

fn secs(d: Duration) -> f64 {
    (d.as_millis() as f64) / 1000.0
}

impl Reporter<'_> {
    /// A line for the person (plain, or above the bars).
    fn line(&mut self, text: &str) {
        match &self.display {
            Display::Bars { multi, .. } => {
                let _ = multi.println(text);
            }
            _ => {
                let _ = writeln!(self.out, "{text}");
                let _ = self.out.flush();
            }
        }
    }

    fn json(&mut self, v: serde_json::Value) {
        let _ = writeln!(self.out, "{v}");
        let _ = self.out.flush();
    }

    fn weight(&mut self, t: &Target) {
        if matches!(self.display, Display::Json) {
            self.json(serde_json::json!({
                "event": "weight", "service": t.service_text(), "server": t.server_text(),
                "old_weight": t.dest.weight, "weight": 0,
            }));
        } else {
            let text = format!(
                "{} -> {}: weight {} -> 0",
                t.service_text(),
                t.server_text(),
                t.dest.weight
            );
            self.line(&text);
        }
    }

    fn left(&self, active: u32, inactive: u32) -> u64 {
        u64::from(active)
            + if self.inactive {
                u64::from(inactive)
            } else {
                0
            }
    }

    fn event(&mut self, ev: Event, targets: &[Target], elapsed: Duration) {
        let (i, name, active, inactive) = match ev {
            Event::Started {
                target,
                active,
                inactive,
            } => (target, "started", Some(active), Some(inactive)),
            Event::Progress {
                target,
                active,
                inactive,
            } => (target, "progress", Some(active), Some(inactive)),
            Event::Drained { target } => (target, "drained", None, None),
            Event::Gone { target } => (target, "gone", None, None),
            Event::Removed { target } => (target, "removed", None, None),
            Event::TimedOut {
                target,
                active,
                inactive,
            } => (target, "timed_out", Some(active), Some(inactive)),
        };
        let Some(t) = targets.get(i) else { return };
        let restore = restore_command(t, self.netns);
        if let Display::Json = self.display {
            let mut v = serde_json::Map::new();
            v.insert("event".into(), name.into());
            v.insert("service".into(), t.service_text().into());
            v.insert("server".into(), t.server_text().into());
            v.insert("elapsed".into(), secs(elapsed).into());
            if let (Some(a), Some(n)) = (active, inactive) {
                v.insert("active".into(), a.into());
                v.insert("inactive".into(), n.into());
            }
            if name == "timed_out" {
                v.insert("restore".into(), restore.into());
            }
            self.json(serde_json::Value::Object(v));
            return;
        }
        let who = format!("{} -> {}", t.service_text(), t.server_text());
        let conns = |a: u32, n: u32| format!("{a} active, {n} inactive connections");
        let text = match (name, active, inactive) {
            ("started" | "progress", Some(a), Some(n)) => {
                if let Display::Bars { bars, .. } = &self.display {
                    if let Some(bar) = bars.get(i) {
                        let left = self.left(a, n);
                        if name == "started" {
                            bar.set_length(left.max(1));
                        }
                        let len = bar.length().unwrap_or(0).max(left);
                        bar.set_length(len);
                        bar.set_position(len - left);
                        bar.set_message(conns(a, n));
                    }
                    return;
                }
                format!("{who}: {} ({:.1} s)", conns(a, n), secs(elapsed))
            }
            ("timed_out", Some(a), Some(n)) => format!(
                "{who}: timed out with {}; weight left at 0; to restore: {restore}",
                conns(a, n)
            ),
            ("drained", _, _) => format!("{who}: drained ({:.1} s)", secs(elapsed)),
            ("removed", _, _) => format!("{who}: removed"),
            ("gone", _, _) => format!("{who}: no longer in the table"),
            _ => return,
        };
        if let Display::Bars { bars, .. } = &self.display {
            if let Some(bar) = bars.get(i) {
                if name != "timed_out" {
                    bar.set_position(bar.length().unwrap_or(0));
                }
                bar.finish_with_message(name.replace('_', " "));
            }
        }
        self.line(&text);
    }

    fn end(&mut self, status: &str, drain: &Drain, elapsed: Duration) {
        let n = drain.targets().len();
        if let Display::Json = self.display {
            self.json(
                serde_json::json!({"event": "end", "status": status, "elapsed": secs(elapsed)}),
            );
            return;
        }
        if let Display::Bars { multi, .. } = &self.display {
            let _ = multi.clear();
        }
        let text = match status {
            "drained" => format!("{n} real server(s) drained in {:.1} s", secs(elapsed)),
            "timed_out" => format!("timed out after {:.1} s; weights left at 0", secs(elapsed)),
            _ => "interrupted: weights left at 0".to_string(),
        };
        self.line(&text);
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

/// `ipvsadm-rs [--netns NS] drain ARGS...` (`args` without `drain`).
pub fn run(
    prog: &str,
    args: &[OsString],
    netns: Option<&str>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let a: Args = match parse(prog, "drain", args, out, err) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let res: &dyn Resolver = if a.numeric {
        &NumericResolver
    } else {
        &SystemResolver
    };
    let sel = match selector(&a, res) {
        Ok(s) => s,
        Err(e) => {
            let _ = err.write_all(e.render().to_string().as_bytes());
            return 2;
        }
    };
    let mut client = match Client::open() {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(err, "{prog} drain: cannot talk to IPVS: {e}");
            return 1;
        }
    };
    let table = match client.table() {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(err, "{prog} drain: cannot read the table: {e}");
            return 1;
        }
    };
    let targets = match crate::services::drain::select(&table, &sel) {
        Ok(t) => t,
        Err(e) => {
            let _ = writeln!(err, "{prog} drain: {e}; nothing changed");
            return 2;
        }
    };
    let mut drain = Drain::new(
        targets,
        Options {
            inactive: a.inactive,
            remove: a.remove,
            timeout: a.timeout,
        },
    );
    let display = if a.json {
        Display::Json
    } else if std::io::stdout().is_terminal() {
        let multi =
            indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stdout());
        let style = indicatif::ProgressStyle::with_template("{prefix} [{bar:25}] {msg} {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bars = drain
            .targets()
            .iter()
            .map(|t| {
                let bar = multi.add(indicatif::ProgressBar::new(1));
                bar.set_style(style.clone());
                bar.set_prefix(format!("{} -> {}", t.service_text(), t.server_text()));
                bar
            })
            .collect();
        Display::Bars { multi, bars }
    } else {
        Display::Plain
    };
    let mut rep = Reporter {
        display,
        out,
        netns,
        inactive: a.inactive,
    };

    // Weights to 0; if the kernel refuses one, put back those already set.
    let zero = drain.zero_weights();
    for (n, (key, dest)) in zero.iter().enumerate() {
        if let Err(e) = client.edit_dest(&Service::new(*key), dest) {
            let t = drain.targets().get(n);
            let _ = writeln!(
                err,
                "{prog} drain: cannot set the weight of {} in {}: {e}",
                t.map(Target::server_text).unwrap_or_default(),
                t.map(Target::service_text).unwrap_or_default()
            );
            for t in drain.targets().iter().take(n) {
                if let Err(e) = client.edit_dest(&Service::new(t.service), &t.dest) {
                    let _ = writeln!(
                        err,
                        "{prog} drain: could not put back: {} ({e})",
                        restore_command(t, netns)
                    );
                }
            }
            return 1;
        }
    }
    for t in drain.targets().to_vec() {
        rep.weight(&t);
    }
    let _ = ctrlc::set_handler(|| STOP.store(true, Ordering::SeqCst));
    STOP.store(false, Ordering::SeqCst);

    let mut keys: Vec<ServiceKey> = drain.targets().iter().map(|t| t.service).collect();
    keys.dedup();
    let start = Instant::now();
    loop {
        let elapsed = start.elapsed();
        let now = read_services(&mut client, &keys);
        let targets = drain.targets().to_vec();
        for ev in drain.observe(&now, elapsed) {
            rep.event(ev, &targets, elapsed);
        }
        for i in drain.to_remove() {
            let Some(t) = targets.get(i) else { continue };
            let mut d = t.dest.clone();
            d.weight = 0;
            match client.del_dest(&Service::new(t.service), &d) {
                Ok(()) => {
                    if let Some(ev) = drain.removed(i) {
                        rep.event(ev, &targets, elapsed);
                    }
                }
                Err(e) => {
                    let _ = writeln!(
                        err,
                        "{prog} drain: cannot delete {} from {}: {e}",
                        t.server_text(),
                        t.service_text()
                    );
                    rep.end("failed", &drain, elapsed);
                    return 1;
                }
            }
        }
        match drain.outcome() {
            Outcome::Done => {
                rep.end("drained", &drain, elapsed);
                return 0;
            }
            Outcome::TimedOut => {
                rep.end("timed_out", &drain, elapsed);
                return 1;
            }
            Outcome::Waiting => {}
        }
        if STOP.load(Ordering::SeqCst) {
            for t in &targets {
                if !matches!(rep.display, Display::Json) {
                    rep.line(&format!(
                        "{} -> {}: weight left at 0; to restore: {}",
                        t.service_text(),
                        t.server_text(),
                        restore_command(t, netns)
                    ));
                }
            }
            rep.end("interrupted", &drain, elapsed);
            return INTERRUPTED;
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Family;

    fn sel(args: &[&str]) -> Result<Selector, String> {
        let argv = std::iter::once("drain").chain(args.iter().copied());
        let a = Args::try_parse_from(argv).map_err(|e| e.to_string())?;
        selector(&a, &NumericResolver).map_err(|e| e.to_string())
    }

    #[test]
    fn arguments() {
        let s = sel(&["-t", "10.0.0.1:80", "-r", "10.1.0.1", "-r", "10.1.0.2:8080"]).unwrap();
        let Selector::Service { key, servers } = s else {
            panic!()
        };
        assert_eq!(
            key,
            ServiceKey::Addr {
                protocol: Protocol::Tcp,
                addr: "10.0.0.1".parse().unwrap(),
                port: 80
            }
        );
        assert_eq!(servers.len(), 2);
        assert_eq!(servers[0].port, None);
        assert_eq!(servers[1].port, Some(8080));
        let s = sel(&["--server", "[2001:db8::1]:80", "--server", "10.1.0.1"]).unwrap();
        assert!(matches!(s, Selector::Everywhere(v) if v.len() == 2));
        let s = sel(&["-f", "7", "-6", "-r", "2001:db8::1"]).unwrap();
        assert!(matches!(
            s,
            Selector::Service {
                key: ServiceKey::Fwmark {
                    family: Family::Inet6,
                    mark: 7
                },
                ..
            }
        ));
        for bad in [
            &["-t", "10.0.0.1:80"][..],
            &["-r", "10.1.0.1"],
            &["-t", "10.0.0.1", "-r", "10.1.0.1"],
            &["-t", "10.0.0.1:80", "-u", "10.0.0.1:80", "-r", "10.1.0.1"],
            &["--server", "10.1.0.1", "-t", "10.0.0.1:80"],
            &["--server", "10.1.0.1", "-r", "10.1.0.2"],
            &["--server", "nonsense:name:x"],
            &["-t", "10.0.0.1:80", "-6", "-r", "10.1.0.1"],
            &["--server", "10.1.0.1", "--timeout", "soon"],
            &["--bogus"],
        ] {
            assert!(sel(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn usage_errors_exit_2_and_help_exits_0() {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let code = run("ipvsadm-rs", &["--bogus".into()], None, &mut out, &mut err);
        assert_eq!(code, 2);
        assert!(String::from_utf8_lossy(&err).contains("--bogus"));
        let mut out = Vec::new();
        let mut err = Vec::new();
        let code = run(
            "ipvsadm-rs",
            &["-t".into(), "10.0.0.1:80".into()],
            None,
            &mut out,
            &mut err,
        );
        assert_eq!(code, 2);
        assert!(String::from_utf8_lossy(&err).contains("-r"));
        let mut out = Vec::new();
        let code = run("ipvsadm-rs", &["--help".into()], None, &mut out, &mut err);
        assert_eq!(code, 0);
        let help = String::from_utf8_lossy(&out);
        assert!(
            help.contains("--timeout") && help.contains("--server"),
            "{help}"
        );
    }

    #[test]
    fn restore_commands_carry_every_setting() {
        let mut d = crate::model::Dest::new("10.1.0.1".parse().unwrap(), 8080);
        d.fwd = crate::model::FwdMethod::Masq;
        d.weight = 3;
        d.u_threshold = 50;
        let t = Target {
            service: ServiceKey::Addr {
                protocol: Protocol::Tcp,
                addr: "10.0.0.1".parse().unwrap(),
                port: 80,
            },
            dest: d,
        };
        assert_eq!(
            restore_command(&t, None),
            "ipvsadm-rs -e -t 10.0.0.1:80 -r 10.1.0.1:8080 -m -w 3 -x 50"
        );
        assert!(restore_command(&t, Some("lb")).starts_with("ipvsadm-rs --netns lb -e -t "));
    }
}
