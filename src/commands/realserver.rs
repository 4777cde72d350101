//! `ipvsadm-rs realserver apply|check|undo`: the front end of
//! [`crate::services::realserver`]. It parses the arguments (clap, one
//! subcommand per action), opens the host and the state file, runs the
//! action and prints what it did or found: each step of `apply` and
//! `undo` on a line, the findings of a check through [`super::report`]
//! (a table on a terminal, plain text on a pipe, JSON with `--json`).
//!
//! It also hands a `check` line to [`super::check`] (see [`dispatch`]).

use std::ffi::OsString;
use std::io::Write;
use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::commands::check;
use crate::commands::report::{self, Style};
use crate::route::{HostNet, System};
use crate::services::realserver::{
    apply, check_realserver, undo, vip_list, Changes, FileStore, Mode, StateStore, DEFAULT_STATE,
};

/// The arguments of `realserver`.
#[derive(Debug, Parser)]
#[command(
    name = "realserver",
    about = "prepare, check or restore this host as a real server",
    long_about = "Prepares this host as a real server behind an IPVS director that uses direct \
routing (-g, the default mode here) or IP tunnelling (-i), checks it, and takes the preparation \
back. apply records what it changes in a state file (default /run/ipvsadm-rs/realserver.state) \
before changing it; undo reads it. Network namespaces may share /run: give each its own file \
with --state.",
    after_long_help = "Exit status:\n  0  done; for check, nothing is wrong\n  1  something is \
wrong, or a change failed\n  2  a usage error, or the host could not be read",
    subcommand_required = true,
    arg_required_else_help = true
)]
pub struct Args {
    /// What to do.
    #[command(subcommand)]
    pub action: Action,
}

/// The actions of `realserver`.
#[derive(Debug, Subcommand)]
pub enum Action {
    /// Put the VIPs on this host and set what a real server needs.
    #[command(
        long_about = "dr: puts each VIP on lo as a single address (/32, IPv6 /128) and, \
for IPv4, sets arp_ignore=1 and arp_announce=2 on lo and all, so this host accepts the \
director's packets but never answers ARP for the VIP. tun: puts the VIP on tunl0 (ip6tnl0 for \
IPv6; the ipip or ip6_tunnel module creates it) and brings it up, sets rp_filter to 2 (loose) \
where it is 1 (strict) on tunl0 and all, plus the same ARP settings. Settings are changed \
before addresses are added; each change is recorded in the state file before it is made. \
Running it again changes nothing. Ends with a check."
    )]
    Apply {
        #[command(flatten)]
        vips: Vips,
        /// How the director forwards: dr, direct routing, or tun, IP-in-IP.
        #[arg(long, value_enum, value_name = "MODE", default_value_t = ModeArg::Dr)]
        mode: ModeArg,
        /// Where apply records its changes.
        #[arg(long, value_name = "FILE", default_value = DEFAULT_STATE)]
        state: PathBuf,
    },
    /// Report every setting that is wrong and what it breaks.
    #[command(
        long_about = "Reports every setting that is wrong and what it breaks; exit \
status 1 if anything is. On a terminal the findings are a table; otherwise plain text, one \
finding a line under its subject."
    )]
    Check {
        #[command(flatten)]
        vips: Vips,
        /// How the director forwards: dr, direct routing, or tun, IP-in-IP.
        #[arg(long, value_enum, value_name = "MODE", default_value_t = ModeArg::Dr)]
        mode: ModeArg,
        /// Print the findings as one JSON object.
        #[arg(long)]
        json: bool,
        /// Accepted and ignored (check reads no state), as before clap.
        #[arg(long, value_name = "FILE", hide = true)]
        state: Option<PathBuf>,
    },
    /// Take back what apply did.
    #[command(
        long_about = "Removes the addresses apply added and restores the settings it \
changed (once the last VIP is undone), leaving everything that was there before apply alone. \
Without --vip: everything recorded."
    )]
    Undo {
        /// A VIP to undo; repeat it or separate several with commas.
        /// Default: every recorded one.
        #[arg(long = "vip", value_name = "VIP", value_parser = parse_vips)]
        vip: Vec<VipList>,
        /// Where apply recorded its changes.
        #[arg(long, value_name = "FILE", default_value = DEFAULT_STATE)]
        state: PathBuf,
    },
}

/// The `--vip` of apply and check: at least one.
#[derive(Debug, clap::Args)]
pub struct Vips {
    /// A virtual IP address (IPv4 or IPv6); repeat it or separate several
    /// with commas.
    #[arg(long = "vip", value_name = "VIP", value_parser = parse_vips, required = true)]
    vip: Vec<VipList>,
}

/// The addresses of one `--vip` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VipList(Vec<IpAddr>);

/// `ADDR[,ADDR]...`; empty parts are skipped, but one address is needed.
fn parse_vips(text: &str) -> Result<VipList, String> {
    let mut v = Vec::new();
    for part in text.split(',').filter(|p| !p.is_empty()) {
        let ip: IpAddr = part
            .parse()
            .map_err(|_| format!("not an IP address: '{part}'"))?;
        v.push(ip);
    }
    if v.is_empty() {
        return Err("no address given".into());
    }
    Ok(VipList(v))
}

/// Every address of every `--vip`, each once, in the order given.
fn flatten(lists: &[VipList]) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    for ip in lists.iter().flat_map(|l| &l.0) {
        if !out.contains(ip) {
            out.push(*ip);
        }
    }
    out
}

/// `--mode`: the words, with ipvsadm's names for the methods as aliases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Direct routing (-g): the VIP on lo.
    #[value(alias = "DR", alias = "route", alias = "gatewaying")]
    Dr,
    /// IP-in-IP tunnelling (-i): the VIP on tunl0 or ip6tnl0.
    #[value(alias = "TUN", alias = "ipip", alias = "tunnel")]
    Tun,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Mode {
        match m {
            ModeArg::Dr => Mode::Dr,
            ModeArg::Tun => Mode::Tun,
        }
    }
}

/// `ipvsadm-rs realserver ...`.
pub fn run(prog: &str, args: &[OsString], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let a: Args = match crate::commands::args::parse(prog, "realserver", args, out, err) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let mut host = match System::open() {
        Ok(h) => h,
        Err(e) => {
            let _ = writeln!(err, "{prog} realserver: cannot open route netlink: {e}");
            return 2;
        }
    };
    let state = match &a.action {
        Action::Apply { state, .. } | Action::Undo { state, .. } => state.clone(),
        Action::Check { .. } => PathBuf::from(DEFAULT_STATE),
    };
    let mut store = FileStore::new(state);
    let code = execute(
        prog,
        &a.action,
        &mut host,
        &mut store,
        Style::for_stdout(),
        out,
        err,
    );
    let _ = out.flush();
    code
}

/// Runs `action` on `host` with `store`, printing in `style`.
fn execute(
    prog: &str,
    action: &Action,
    host: &mut dyn HostNet,
    store: &mut dyn StateStore,
    style: Style,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    match action {
        Action::Check {
            vips, mode, json, ..
        } => {
            let (vips, mode) = (flatten(&vips.vip), Mode::from(*mode));
            match check_realserver(host, &vips, mode) {
                Ok(r) => {
                    let written = if *json {
                        report::write_json(out, &r)
                    } else {
                        writeln!(
                            out,
                            "real server check ({}) for {}",
                            mode.words(),
                            vip_list(&vips)
                        )
                        .and_then(|()| report::write_text(out, &r, style))
                    };
                    match written {
                        Ok(()) => report::status(&r),
                        Err(e) => {
                            let _ = writeln!(err, "write error: {e}");
                            2
                        }
                    }
                }
                Err(e) => {
                    let _ = writeln!(err, "{prog} realserver check: {e}");
                    2
                }
            }
        }
        Action::Apply { vips, mode, .. } => {
            let (vips, mode) = (flatten(&vips.vip), Mode::from(*mode));
            let _ = writeln!(
                out,
                "real server apply ({}) for {}",
                mode.words(),
                vip_list(&vips)
            );
            let mut log = Changes::default();
            let result = apply(host, store, &vips, mode, &mut log);
            print_steps(out, &log);
            if let Err(e) = result {
                let _ = writeln!(err, "{prog} realserver apply: {e}");
                return 1;
            }
            let _ = if log.changed() {
                writeln!(
                    out,
                    "recorded in {} (`{prog} realserver undo` takes it back)",
                    store.location()
                )
            } else {
                writeln!(out, "nothing changed: this host was already set up")
            };
            match check_realserver(host, &vips, mode) {
                Ok(r) => {
                    let _ = writeln!(out, "check:");
                    let _ = report::write_text(out, &r, style);
                    report::status(&r)
                }
                Err(e) => {
                    let _ = writeln!(err, "{prog} realserver apply: check failed: {e}");
                    1
                }
            }
        }
        Action::Undo { vip, .. } => {
            let _ = writeln!(out, "real server undo");
            let mut log = Changes::default();
            let result = undo(host, store, &flatten(vip), &mut log);
            print_steps(out, &log);
            match result {
                Ok(()) => {
                    if !log.changed() {
                        let _ = writeln!(out, "nothing changed");
                    }
                    0
                }
                Err(e) => {
                    let _ = writeln!(err, "{prog} realserver undo: {e}");
                    1
                }
            }
        }
    }
}

/// Each step on a line of its own, indented under the heading.
fn print_steps(out: &mut dyn Write, log: &Changes) {
    for s in &log.steps {
        let _ = writeln!(out, "  {}", s.text);
    }
}

/// Hands `realserver ...` and `check ...` to their modules; `None` for
/// every other command line (the ipvsadm grammar takes it).
pub fn dispatch(
    prog: &str,
    args: &[OsString],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Option<i32> {
    let rest = args.get(1..).unwrap_or(&[]);
    match args.first()?.to_str()? {
        "realserver" => Some(run(prog, rest, out, err)),
        "check" => Some(check::run(prog, rest, out, err)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::ipv4_conf;
    use crate::services::realserver::tests::MemStore;
    use crate::services::testhost::{addr, FakeHost};

    fn parse_words(words: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("realserver").chain(words.iter().copied()))
    }

    fn exec(h: &mut FakeHost, s: &mut MemStore, words: &[&str]) -> (i32, String, String) {
        let a = parse_words(words).unwrap();
        let (mut o, mut e) = (Vec::new(), Vec::new());
        let code = execute("ipvsadm-rs", &a.action, h, s, Style::Plain, &mut o, &mut e);
        (
            code,
            String::from_utf8(o).unwrap(),
            String::from_utf8(e).unwrap(),
        )
    }

    #[test]
    fn check_prints_the_heading_and_the_report() {
        let mut h = FakeHost::lan();
        h.addrs.push(addr(1, "192.168.10.1", 32));
        let (code, out, _) = exec(
            &mut h,
            &mut MemStore::default(),
            &["check", "--vip", "192.168.10.1"],
        );
        assert_eq!(code, 1);
        assert!(
            out.starts_with("real server check (direct routing) for 192.168.10.1\n192.168.10.1\n  ok      192.168.10.1/32 is on lo\nARP\n"),
            "{out}"
        );
        assert!(out.contains("ERROR   arp_ignore is 0 on eth0 (all: 0, eth0: 0): this host answers ARP for 192.168.10.1 on eth0 and can steal the director's traffic"), "{out}");
        assert!(out.ends_with("2 errors, 0 warnings\n"), "{out}");
        let (code, out, _) = exec(
            &mut h,
            &mut MemStore::default(),
            &["check", "--vip", "192.168.10.1", "--json"],
        );
        assert_eq!(code, 1);
        assert!(
            out.starts_with("{\"errors\":2,\"warnings\":0,\"findings\":[{\"level\":\"ok\",\"code\":\"vip-present\",\"subject\":\"192.168.10.1\""),
            "{out}"
        );
    }

    #[test]
    fn apply_and_undo_print_their_steps() {
        let mut h = FakeHost::lan();
        let mut s = MemStore::default();
        let (code, out, err) = exec(&mut h, &mut s, &["apply", "--vip", "192.168.10.1"]);
        assert_eq!((code, err.as_str()), (0, ""), "{out}");
        assert!(out.starts_with("real server apply (direct routing) for 192.168.10.1\n  set net.ipv4.conf.all.arp_ignore = 1 (was 0): "), "{out}");
        assert!(
            out.contains("\n  added 192.168.10.1/32 to lo: accept the packets"),
            "{out}"
        );
        assert!(
            out.contains("\nrecorded in mem (`ipvsadm-rs realserver undo` takes it back)\ncheck:\n192.168.10.1\n"),
            "{out}"
        );
        assert!(out.ends_with("0 errors, 0 warnings\n"), "{out}");
        let (code, out, _) = exec(&mut h, &mut s, &["apply", "--vip", "192.168.10.1"]);
        assert_eq!(code, 0);
        assert!(
            out.contains("\nnothing changed: this host was already set up\ncheck:\n"),
            "{out}"
        );
        let (code, out, _) = exec(&mut h, &mut s, &["undo"]);
        assert_eq!(code, 0, "{out}");
        assert!(
            out.starts_with("real server undo\n  removed 192.168.10.1/32 from lo\n"),
            "{out}"
        );
        assert_eq!(h.sysctls[&ipv4_conf("all", "arp_ignore")], 0);
        let (code, out, _) = exec(&mut h, &mut s, &["undo"]);
        assert_eq!(code, 0);
        assert_eq!(
            out,
            "real server undo\n  nothing to undo: no record of an apply at mem\nnothing changed\n"
        );
    }

    #[test]
    fn a_failed_apply_says_why_and_exits_1() {
        let mut h = FakeHost::lan();
        let mut s = MemStore::default();
        let (code, out, err) = exec(
            &mut h,
            &mut s,
            &["apply", "--vip", "192.168.10.1", "--mode=ipip"],
        );
        assert_eq!(code, 1, "{out}");
        assert_eq!(out, "real server apply (IP tunnelling) for 192.168.10.1\n");
        assert_eq!(err, "ipvsadm-rs realserver apply: tunl0 does not exist: load the ipip module first (modprobe ipip)\n");
    }

    #[test]
    fn arguments() {
        let a = parse_words(&[
            "check",
            "--vip=10.0.0.1,2001:db8::1",
            "--vip",
            "10.0.0.1,",
            "--json",
            "--mode",
            "TUN",
            "--state",
            "/tmp/x",
        ])
        .unwrap();
        let Action::Check {
            vips, mode, json, ..
        } = a.action
        else {
            panic!("{a:?}")
        };
        assert_eq!(
            flatten(&vips.vip),
            [
                "10.0.0.1".parse::<IpAddr>().unwrap(),
                "2001:db8::1".parse().unwrap()
            ]
        );
        assert_eq!((mode, json), (ModeArg::Tun, true));
        let a = parse_words(&["apply", "--vip", "10.0.0.1"]).unwrap();
        let Action::Apply { mode, state, .. } = a.action else {
            panic!()
        };
        assert_eq!((mode, state), (ModeArg::Dr, PathBuf::from(DEFAULT_STATE)));
        let a = parse_words(&["undo"]).unwrap();
        assert!(matches!(a.action, Action::Undo { vip, .. } if vip.is_empty()));
        for w in ["dr", "DR", "route", "gatewaying"] {
            let a = parse_words(&["check", "--vip", "1.2.3.4", "--mode", w]).unwrap();
            assert!(
                matches!(
                    a.action,
                    Action::Check {
                        mode: ModeArg::Dr,
                        ..
                    }
                ),
                "{w}"
            );
        }
    }

    #[test]
    fn usage_errors_are_clap_s() {
        let e = |w: &[&str]| parse_words(w).unwrap_err().to_string();
        assert!(e(&["apply"]).contains("--vip <VIP>"), "{}", e(&["apply"]));
        assert!(e(&["apply", "--vip", "x"]).contains("not an IP address: 'x'"));
        assert!(e(&["apply", "--vip", ","]).contains("no address given"));
        assert!(e(&["apply", "--vip", "1.2.3.4", "--mode", "nat"]).contains("invalid value 'nat'"));
        assert!(
            e(&["apply", "--vip", "1.2.3.4", "--json"]).contains("unexpected argument '--json'")
        );
        assert!(e(&["undo", "--mode", "dr"]).contains("unexpected argument '--mode'"));
        assert!(e(&["frobnicate"]).contains("unrecognized subcommand 'frobnicate'"));

        let call = |w: &[&str]| {
            let args: Vec<OsString> = w.iter().map(OsString::from).collect();
            let (mut o, mut e) = (Vec::new(), Vec::new());
            let code = dispatch("/usr/sbin/ipvsadm", &args, &mut o, &mut e);
            (
                code,
                String::from_utf8(o).unwrap(),
                String::from_utf8(e).unwrap(),
            )
        };
        let (code, out, err) = call(&["realserver", "--bogus"]);
        assert_eq!(code, Some(2));
        assert!(out.is_empty());
        assert!(
            err.starts_with("error: unexpected argument '--bogus' found"),
            "{err}"
        );
        assert!(err.contains("Usage: ipvsadm realserver <COMMAND>"), "{err}");
        let (code, _, err) = call(&["realserver", "apply", "--vip", "1.2.3.4", "--bogus"]);
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains("Usage: ipvsadm realserver apply"), "{err}");
        // Without an action: the help, as a usage error.
        let (code, _, err) = call(&["realserver"]);
        assert_eq!(code, Some(2));
        assert!(err.contains("apply") && err.contains("undo"), "{err}");
        let (code, out, err) = call(&["realserver", "--help"]);
        assert_eq!((code, err.as_str()), (Some(0), ""));
        assert!(out.contains("Usage: ipvsadm realserver <COMMAND>"), "{out}");
        assert!(out.contains("/run/ipvsadm-rs/realserver.state"), "{out}");
        assert!(out.contains("Exit status:"), "{out}");
        let (code, out, _) = call(&["realserver", "apply", "--help"]);
        assert_eq!(code, Some(0));
        assert!(
            out.contains("--mode <MODE>") && out.contains("--state <FILE>"),
            "{out}"
        );
        assert!(!out.contains("--json"), "{out}");
        let (code, out, _) = call(&["realserver", "help", "undo"]);
        assert_eq!(code, Some(0));
        assert!(out.contains("Usage: ipvsadm realserver undo"), "{out}");
    }

    #[test]
    fn dispatch_takes_only_its_words() {
        let (mut o, mut e) = (Vec::new(), Vec::new());
        let args: Vec<OsString> = vec!["-Ln".into()];
        assert_eq!(dispatch("ipvsadm-rs", &args, &mut o, &mut e), None);
        let args: Vec<OsString> = vec!["check".into(), "--help".into()];
        assert_eq!(dispatch("ipvsadm-rs", &args, &mut o, &mut e), Some(0));
        assert!(String::from_utf8(o)
            .unwrap()
            .contains("Usage: ipvsadm-rs check"));
    }
}
