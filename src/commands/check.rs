//! `ipvsadm-rs check`: the front end of [`crate::services::check`]. It
//! parses the arguments (clap), reads the IPVS table, runs the director
//! check against this host and prints the findings ([`super::report`]):
//! a table on a terminal, plain text on a pipe, JSON with `--json`.

use std::ffi::OsString;
use std::io::Write;

use clap::Parser;

use crate::client::Client;
use crate::commands::args;
use crate::commands::report::{self, Style};
use crate::model::ServiceEntry;
use crate::route::System;
use crate::services::check::check_director;

/// The arguments of `check`.
#[derive(Debug, Parser)]
#[command(
    name = "check",
    about = "check this host as a director for the services in the table",
    long_about = "Checks this host as an IPVS director: for every virtual service, that its \
virtual IP is an address of this host (firewall-mark services are skipped), and that every real \
server is reachable as its forwarding method needs: direct routing (-g) needs the real server on \
a subnet directly connected to one of this host's interfaces, tunnelling (-i) and NAT (-m) need \
a route. For NAT it warns when IP forwarding is off or ICMP redirects are on. Each finding says \
what it breaks. On a terminal the findings are a table; otherwise plain text, one finding a \
line under its service.",
    after_long_help = "Exit status:\n  0  nothing is wrong (warnings allowed)\n  1  something is \
wrong\n  2  a usage error, or the check could not run"
)]
pub struct Args {
    /// Print the findings as one JSON object instead.
    #[arg(long)]
    pub json: bool,
}

/// `ipvsadm-rs check [--json]`.
pub fn run(prog: &str, args: &[OsString], out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let a: Args = match args::parse(prog, "check", args, out, err) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let entries = match read_table() {
        Ok(e) => e,
        Err(msg) => {
            let _ = writeln!(err, "{prog} check: cannot read the IPVS table: {msg}");
            return 2;
        }
    };
    let report = match System::open().and_then(|mut h| check_director(&mut h, &entries)) {
        Ok(r) => r,
        Err(e) => {
            let _ = writeln!(
                err,
                "{prog} check: cannot read this host's network setup: {e}"
            );
            return 2;
        }
    };
    let written = if a.json {
        report::write_json(out, &report)
    } else {
        report::write_text(out, &report, Style::for_stdout())
    };
    match written.and_then(|()| out.flush()) {
        Ok(()) => report::status(&report),
        Err(e) => {
            let _ = writeln!(err, "write error: {e}");
            2
        }
    }
}

/// The table in `-L`'s order, so the findings come in the order a listing
/// shows the services.
fn read_table() -> Result<Vec<ServiceEntry>, String> {
    let mut entries = Client::open()
        .and_then(|mut c| c.table())
        .map_err(|e| e.to_string())?;
    crate::ipvsadm::print::sort_entries(&mut entries);
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(args: &[&str]) -> (i32, String, String) {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let (mut o, mut e) = (Vec::new(), Vec::new());
        let code = run("/usr/sbin/ipvsadm", &args, &mut o, &mut e);
        (
            code,
            String::from_utf8(o).unwrap(),
            String::from_utf8(e).unwrap(),
        )
    }

    #[test]
    fn usage_errors_exit_2_and_help_exits_0() {
        let (code, out, err) = call(&["--bogus"]);
        assert_eq!(code, 2);
        assert!(out.is_empty());
        assert!(
            err.starts_with("error: unexpected argument '--bogus' found"),
            "{err}"
        );
        assert!(err.contains("Usage: ipvsadm check [OPTIONS]"), "{err}");
        let (code, _, err) = call(&["extra"]);
        assert_eq!(code, 2, "{err}");
        let (code, _, err) = call(&["--json=yes"]);
        assert_eq!(code, 2, "{err}");
        let (code, out, err) = call(&["--help"]);
        assert_eq!((code, err.as_str()), (0, ""));
        assert!(out.contains("Usage: ipvsadm check [OPTIONS]"), "{out}");
        assert!(
            out.contains("--json") && out.contains("Exit status:"),
            "{out}"
        );
        let (code, out, _) = call(&["-h"]);
        assert_eq!(code, 0);
        assert!(out.contains("--json"), "{out}");
    }
}
