//! What `drain` and `top` share: the service-selection options (one
//! [`ServiceArgs`], flattened into both clap models), the duration
//! syntax of their time options, and the service look-ups
//! their front ends make. Neither subcommand imports the other; both
//! import this.

use std::ffi::OsString;
use std::io::Write;
use std::time::Duration;

use crate::ipvsadm::addr::{parse_fwmark, parse_host_port};
use crate::ipvsadm::resolve::Resolver;
use crate::model::{Family, Protocol, ServiceKey};

/// The options that name one virtual service, with ipvsadm's short forms:
/// `-t`, `-u`, `--sctp-service` (VIP:PORT) or `-f` (MARK) with `-6`.
/// Each subcommand decides whether one is required.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServiceArgs {
    /// The TCP service VIP:PORT.
    #[arg(short = 't', long = "tcp-service", value_name = "VIP:PORT")]
    pub tcp: Option<String>,
    /// The UDP service VIP:PORT.
    #[arg(short = 'u', long = "udp-service", value_name = "VIP:PORT")]
    pub udp: Option<String>,
    /// The SCTP service VIP:PORT.
    #[arg(long = "sctp-service", value_name = "VIP:PORT")]
    pub sctp: Option<String>,
    /// The firewall-mark service MARK.
    #[arg(short = 'f', long = "fwmark-service", value_name = "MARK")]
    pub fwmark: Option<String>,
    /// The firewall-mark service is IPv6.
    #[arg(short = '6', long = "ipv6")]
    pub ipv6: bool,
}

impl ServiceArgs {
    /// How many of `-t`, `-u`, `--sctp-service` and `-f` were given.
    pub fn given(&self) -> usize {
        [&self.tcp, &self.udp, &self.sctp, &self.fwmark]
            .iter()
            .filter(|s| s.is_some())
            .count()
    }

    /// The service they name (the first of `-f`, `-t`, `-u`,
    /// `--sctp-service` given); `None` when none is. The message of an
    /// error names the bad text.
    pub fn key(&self, res: &dyn Resolver) -> Result<Option<ServiceKey>, String> {
        if let Some(mark) = &self.fwmark {
            let mark =
                parse_fwmark(mark).ok_or_else(|| format!("invalid firewall mark {mark:?}"))?;
            let family = if self.ipv6 {
                Family::Inet6
            } else {
                Family::Inet
            };
            return Ok(Some(ServiceKey::Fwmark { family, mark }));
        }
        let (text, protocol) = match (&self.tcp, &self.udp, &self.sctp) {
            (Some(t), _, _) => (t, Protocol::Tcp),
            (_, Some(u), _) => (u, Protocol::Udp),
            (_, _, Some(s)) => (s, Protocol::Sctp),
            _ => return Ok(None),
        };
        let bad = || format!("invalid virtual service {text:?}");
        let hp = parse_host_port(text, Some(protocol), res).ok_or_else(bad)?;
        let port = hp.port.ok_or_else(bad)?;
        Ok(Some(ServiceKey::Addr {
            protocol,
            addr: hp.addr,
            port,
        }))
    }
}

/// Parses a subcommand's words (`args`, after its name) with its clap
/// model, the way every subcommand reports usage: `--help`/`-h` print to
/// `out` and give `Err(0)`; a usage error prints clap's message on `err`
/// and gives `Err(2)`. The usage lines name the program as invoked
/// (`ipvsadm drain ...` when installed as `ipvsadm`), also where a model's
/// `override_usage` spells it `ipvsadm-rs NAME`.
pub fn parse<A: clap::Parser>(
    prog: &str,
    name: &str,
    args: &[OsString],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<A, i32> {
    let argv =
        std::iter::once(OsString::from(format!("{prog} {name}"))).chain(args.iter().cloned());
    A::try_parse_from(argv).map_err(|e| {
        let base = prog.rsplit('/').next().unwrap_or(prog);
        let text = e
            .render()
            .to_string()
            .replace(&format!("ipvsadm-rs {name}"), &format!("{base} {name}"));
        if e.use_stderr() {
            let _ = err.write_all(text.as_bytes());
            2
        } else {
            match out.write_all(text.as_bytes()) {
                Ok(()) => 0,
                Err(_) => 1,
            }
        }
    })
}

/// `30` (seconds), `30s`, `500ms`, `5m`, `1h`: the value of `--timeout`
/// and `--interval`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration {text:?} (use e.g. 30, 30s, 500ms, 5m, 1h)");
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let secs = |m: u64| n.checked_mul(m).map(Duration::from_secs).ok_or_else(bad);
    match unit {
        "" | "s" => secs(1),
        "ms" => Ok(Duration::from_millis(n)),
        "m" => secs(60),
        "h" => secs(3600),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvsadm::resolve::NumericResolver;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "s", "-1", "1.5s", "3d", "99999999999999999999h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[derive(clap::Parser, Debug)]
    #[command(name = "x", override_usage = "ipvsadm-rs x [--on]")]
    struct X {
        /// A switch.
        #[arg(long)]
        on: bool,
    }

    #[test]
    fn parse_reports_the_clap_way_under_the_invoked_name() {
        let run = |args: &[&str]| {
            let args: Vec<OsString> = args.iter().map(OsString::from).collect();
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let r = parse::<X>("/usr/sbin/ipvsadm", "x", &args, &mut out, &mut err);
            (
                r.map(|x| x.on),
                String::from_utf8(out).unwrap(),
                String::from_utf8(err).unwrap(),
            )
        };
        assert_eq!(run(&["--on"]), (Ok(true), String::new(), String::new()));
        let (r, out, err) = run(&["--bogus"]);
        assert_eq!(r, Err(2));
        assert!(out.is_empty());
        assert!(
            err.starts_with("error: unexpected argument '--bogus'"),
            "{err}"
        );
        assert!(err.contains("Usage: ipvsadm x [--on]"), "{err}");
        let (r, out, err) = run(&["--help"]);
        assert_eq!(r, Err(0));
        assert!(err.is_empty());
        assert!(
            out.contains("Usage: ipvsadm x [--on]") && !out.contains("ipvsadm-rs"),
            "{out}"
        );
    }

    #[test]
    fn service_keys() {
        let a = |tcp: Option<&str>, fwmark: Option<&str>, ipv6: bool| ServiceArgs {
            tcp: tcp.map(str::to_string),
            fwmark: fwmark.map(str::to_string),
            ipv6,
            ..ServiceArgs::default()
        };
        assert_eq!(a(None, None, false).key(&NumericResolver), Ok(None));
        assert_eq!(a(None, None, false).given(), 0);
        assert_eq!(
            a(Some("10.0.0.1:80"), None, false).key(&NumericResolver),
            Ok(Some(ServiceKey::Addr {
                protocol: Protocol::Tcp,
                addr: "10.0.0.1".parse().unwrap(),
                port: 80
            }))
        );
        assert_eq!(
            a(None, Some("7"), true).key(&NumericResolver),
            Ok(Some(ServiceKey::Fwmark {
                family: Family::Inet6,
                mark: 7
            }))
        );
        assert!(a(Some("10.0.0.1"), None, false)
            .key(&NumericResolver)
            .is_err());
        assert!(a(None, Some("x"), false).key(&NumericResolver).is_err());
    }
}
