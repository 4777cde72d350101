//! `--json` on real kernel state (an extension; ipvsadm has no such
//! option). A small director with real traffic (so counters, connection
//! entries and persistence templates exist) is listed by ipvsadm-rs with
//! `--json` in every listing mode; each document is parsed with
//! serde_json into the library's types, printed again with the library's
//! text printers, and must equal what the reference ipvsadm prints for
//! the same table (`-Ln` with the same options). Connections are compared
//! field by field with the reference's `-Lnc` (expiry times move).
//!
//! Run inside the test-bed VM by `cargo xtask test`; `#[ignore]`d on the
//! host.

use std::ffi::OsString;
use std::process::Command;

use ipvsadm_rs::ipvsadm::parse;
use ipvsadm_rs::ipvsadm::print;
use ipvsadm_rs::ipvsadm::resolve::NumericResolver;
use ipvsadm_rs::json::{ConnectionJson, Document};
use ipvsadm_rs::model::{Daemon, Timeouts};

fn env_path(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set: run with `cargo xtask test`"))
}

/// Runs `program args`, asserts success, returns stdout.
fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn sh(script: &str) {
    run("sh", &["-c", script]);
}

/// The client and real-server namespaces; deleted (with what runs in
/// them) when dropped.
struct Topology {
    client: String,
    server: String,
}

impl Drop for Topology {
    fn drop(&mut self) {
        for ns in [&self.client, &self.server] {
            let _ = Command::new("sh")
                .args([
                    "-c",
                    &format!("kill $(ip netns pids {ns}) 2>/dev/null; ip netns del {ns}"),
                ])
                .status();
        }
    }
}

/// Builds the director in the test's namespace and sends traffic through
/// it: HTTP over IPv4 and IPv6, to a plain and to a persistent service.
fn director() -> Topology {
    let pid = std::process::id();
    let t = Topology {
        client: format!("jc{pid}"),
        server: format!("jr{pid}"),
    };
    let (c, r) = (&t.client, &t.server);
    let a = env_path("REF_IPVSADM");
    sh(&format!(
        r#"set -ex
ip link add d0 type dummy
ip link set d0 up
# (A running master refuses destinations of the other family, and the
# other way round: the tunnels below are all IPv4.)
{a} --start-daemon master --mcast-interface d0 --syncid 7
{a} --start-daemon backup --mcast-interface d0 --syncid 9 --mcast-group 224.0.0.99 --mcast-port 9000
ip netns add {c}
ip netns add {r}
ip link add vc0 type veth peer name vc1
ip link add vr0 type veth peer name vr1
ip link set vc1 netns {c}
ip link set vr1 netns {r}
sysctl -qw net.ipv4.ip_forward=1
sysctl -qw net.ipv6.conf.all.forwarding=1
ip addr add 10.9.9.1/24 dev vc0
ip addr add 2001:db8:9::1/64 dev vc0 nodad
ip link set vc0 up
ip addr add 192.168.10.254/24 dev vr0
ip addr add 2001:db8::1/64 dev vr0 nodad
ip link set vr0 up
ip addr add 192.168.10.1/32 dev lo
ip addr add 2001:db8::10/128 dev lo nodad
ip -n {c} link set lo up
ip -n {c} addr add 10.9.9.9/24 dev vc1
ip -n {c} addr add 2001:db8:9::9/64 dev vc1 nodad
ip -n {c} link set vc1 up
ip -n {c} route add default via 10.9.9.1
ip -n {c} -6 route add default via 2001:db8:9::1
ip -n {r} link set lo up
ip -n {r} addr add 192.168.10.11/24 dev vr1
ip -n {r} addr add 2001:db8::11/64 dev vr1 nodad
ip -n {r} link set vr1 up
ip -n {r} route add default via 192.168.10.254
ip -n {r} -6 route add default via 2001:db8::1
mkdir -p www
echo hello > www/index.html
ip netns exec {r} httpd -p 8080 -h "$PWD/www"
{a} -A -t 192.168.10.1:80 -s rr
{a} -a -t 192.168.10.1:80 -r 192.168.10.11:8080 -m -w 3
{a} -a -t 192.168.10.1:80 -r 192.168.10.12:8080 -m -w 0 -x 50 -y 5
{a} -A -t 192.168.10.1:443 -s sh -b sh-port -p 300 -M 255.255.255.0
{a} -a -t 192.168.10.1:443 -r 192.168.10.11:8080 -m
{a} -A -u 192.168.10.1:5060 -s rr -p 60 --pe sip
{a} -a -u 192.168.10.1:5060 -r 192.168.10.11:5060 -m
{a} -A -u 192.168.10.1:53 -s rr -o
{a} -A -t [2001:db8::10]:80 -s wrr
{a} -a -t [2001:db8::10]:80 -r [2001:db8::11]:8080 -m -w 2
{a} -A -t 192.168.10.1:82 -s rr
{a} -a -t 192.168.10.1:82 -r 10.2.0.12:82 -i --tun-type gue --tun-port 6080 --tun-csum
{a} -a -t 192.168.10.1:82 -r 10.2.0.11:82 -i --tun-type gre
{a} -A -f 7 -s lc
{a} -a -f 7 -r 192.168.10.11:0 -g
{a} -A -f 8 -6 -s rr -p 10 -M 64
{a} --set 901 121 301
sleep 1
for i in 1 2 3; do
    ip netns exec {c} wget -q -O /dev/null http://192.168.10.1/
    ip netns exec {c} wget -q -O /dev/null http://192.168.10.1:443/
    ip netns exec {c} wget -q -O /dev/null "http://[2001:db8::10]/"
done
sleep 3
"#
    ));
    t
}

/// `-Ln` plus `opts` as the parser reads it: the options to print with.
fn list_options(opts: &[&str]) -> ipvsadm_rs::ipvsadm::options::ListOptions {
    let mut args: Vec<OsString> = vec!["-Ln".into()];
    args.extend(opts.iter().map(OsString::from));
    parse::parse("ipvsadm", &args, &NumericResolver)
        .unwrap()
        .list
}

fn parse_doc(text: &str) -> Document {
    // Also a plain serde_json parse: the output is one JSON value.
    let v: serde_json::Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(v["version"], 2, "{text}");
    assert!(text.starts_with("{\"version\":2,"), "{text}");
    Document::parse(text).unwrap()
}

/// Retries a comparison a few times: rates decay on their own between
/// the two programs' runs.
fn eventually(what: &str, mut f: impl FnMut() -> (String, String)) {
    let mut last = (String::new(), String::new());
    for _ in 0..8 {
        last = f();
        if last.0 == last.1 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    panic!(
        "{what}: the JSON printed as text differs from the reference\n--- from JSON\n{}\n--- reference\n{}",
        last.0, last.1
    );
}

#[test]
#[ignore = "needs an IPVS kernel: run by cargo xtask test"]
fn json_listings_match_the_reference_text() {
    let rs = env_path("IPVSADM_RS");
    let reference = env_path("REF_IPVSADM");
    let _t = director();

    // The whole table, in every listing mode.
    let modes: &[&[&str]] = &[
        &[],
        &["--stats", "--exact"],
        &["--stats"],
        &["--rate", "--exact"],
        &["--thresholds"],
        &["--persistent-conn"],
        &["--tun-info"],
        &["--nosort", "--stats", "--exact"],
    ];
    let mut saw_traffic = false;
    for opts in modes {
        let list = list_options(opts);
        eventually(&format!("-L {opts:?}"), || {
            let mut args = vec!["-L", "--json"];
            args.extend_from_slice(opts);
            let json = run(&rs, &args);
            // Names are never resolved (the VM's hosts file names vip).
            assert!(json.contains("\"192.168.10.1\""), "{json}");
            let Document::Services(doc) = parse_doc(&json) else {
                panic!("not a services document: {json}")
            };
            let (info, entries) = doc.to_model().unwrap();
            assert!(info.is_some());
            assert_eq!(entries.len(), 8, "{json}");
            saw_traffic |= entries.iter().any(|e| {
                e.service
                    .stats
                    .as_ref()
                    .is_some_and(|s| s.conns >= 3 && s.inbytes > 0)
            });
            let mut text = Vec::new();
            print::list_table(&mut text, info.as_ref(), &entries, &list, &NumericResolver).unwrap();
            let mut ref_args = vec!["-Ln"];
            ref_args.extend_from_slice(opts);
            (String::from_utf8(text).unwrap(), run(&reference, &ref_args))
        });
    }
    assert!(saw_traffic, "no counters: the traffic did not go through");

    // Names as people read them: the sh service's flag under -b's name,
    // tunnel settings only on tunnel destinations.
    let v: serde_json::Value = serde_json::from_str(&run(&rs, &["-L", "--json"])).unwrap();
    let services = v["services"].as_array().unwrap();
    let sh = services.iter().find(|s| s["port"] == 443).unwrap();
    assert_eq!(
        sh["flags"],
        serde_json::json!(["persistent", "hashed", "sh-port"])
    );
    let mut tunnels = 0;
    for d in services
        .iter()
        .flat_map(|s| s["destinations"].as_array().unwrap())
    {
        if d["forward"] == "tunnel" {
            tunnels += 1;
            assert!(d["tunnel"]["type"].is_string(), "{d}");
        } else {
            assert_eq!(d["tunnel"], serde_json::Value::Null, "{d}");
        }
    }
    assert_eq!(tunnels, 2);
    let gue = services
        .iter()
        .flat_map(|s| s["destinations"].as_array().unwrap())
        .find(|d| d["address"] == "10.2.0.12")
        .unwrap();
    assert_eq!(
        gue["tunnel"],
        serde_json::json!({"type": "gue", "port": 6080, "flags": ["csum"]})
    );

    // One service at a time.
    for svc in [
        &["-t", "192.168.10.1:80"][..],
        &["-t", "[2001:db8::10]:80"],
        &["-f", "8", "-6"],
        &["-u", "192.168.10.1:5060"],
    ] {
        let opts = ["--stats", "--exact"];
        let list = list_options(&opts);
        eventually(&format!("-L {svc:?}"), || {
            let mut args = vec!["-L", "--json"];
            args.extend_from_slice(svc);
            args.extend_from_slice(&opts);
            let Document::Services(doc) = parse_doc(&run(&rs, &args)) else {
                panic!("not a services document")
            };
            let (_, entries) = doc.to_model().unwrap();
            assert_eq!(entries.len(), 1);
            let mut text = Vec::new();
            print::list_table(&mut text, None, &entries, &list, &NumericResolver).unwrap();
            let mut ref_args = vec!["-Ln"];
            ref_args.extend_from_slice(svc);
            ref_args.extend_from_slice(&opts);
            (String::from_utf8(text).unwrap(), run(&reference, &ref_args))
        });
    }

    // Timeouts.
    let Document::Timeouts(doc) = parse_doc(&run(&rs, &["-L", "--timeout", "--json"])) else {
        panic!("not a timeouts document")
    };
    let t = Timeouts::from(&doc.timeouts);
    assert_eq!((t.tcp, t.tcp_fin, t.udp), (901, 121, 301));
    let mut text = Vec::new();
    print::print_timeouts(&mut text, &t).unwrap();
    assert_eq!(
        String::from_utf8(text).unwrap(),
        run(&reference, &["-L", "--timeout"])
    );

    // Daemons.
    let Document::Daemons(doc) = parse_doc(&run(&rs, &["-L", "--daemon", "--json"])) else {
        panic!("not a daemons document")
    };
    let daemons: Vec<Daemon> = doc
        .daemons
        .iter()
        .map(|d| Daemon::try_from(d).unwrap())
        .collect();
    assert_eq!(daemons.len(), 2);
    let mut text = Vec::new();
    print::print_daemons(&mut text, &daemons).unwrap();
    assert_eq!(
        String::from_utf8(text).unwrap(),
        run(&reference, &["-L", "--daemon"])
    );
}

/// `ADDR:PORT` as ipvsadm's numeric connection listing writes it.
fn addrport(a: std::net::IpAddr, port: u16) -> String {
    match a {
        std::net::IpAddr::V4(v4) => format!("{v4}:{port}"),
        std::net::IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    }
}

/// The rows of `-Lnc` without the expiry column, sorted.
fn ref_connections(reference: &str) -> Vec<String> {
    let text = run(reference, &["-Lnc"]);
    let mut rows: Vec<String> = text
        .lines()
        .skip(2)
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.len(), 6, "{l}");
            format!("{} {} {} {} {}", f[0], f[2], f[3], f[4], f[5])
        })
        .collect();
    rows.sort();
    rows
}

fn json_connections(conns: &[ConnectionJson]) -> Vec<String> {
    let mut rows: Vec<String> = conns
        .iter()
        .map(|c| {
            format!(
                "{} {} {} {} {}",
                c.protocol.to_ascii_uppercase(),
                c.state,
                addrport(c.client_address, c.client_port),
                addrport(c.virtual_address, c.virtual_port),
                addrport(c.destination_address, c.destination_port)
            )
        })
        .collect();
    rows.sort();
    rows
}

#[test]
#[ignore = "needs an IPVS kernel: run by cargo xtask test"]
fn json_connections_match_the_reference() {
    let rs = env_path("IPVSADM_RS");
    let reference = env_path("REF_IPVSADM");
    let _t = director();
    let mut last = (Vec::new(), Vec::new());
    for _ in 0..8 {
        let Document::Connections(doc) = parse_doc(&run(&rs, &["-L", "-c", "--json"])) else {
            panic!("not a connections document")
        };
        // Persistence templates and real connections, IPv4 and IPv6.
        assert!(doc.connections.len() >= 9, "{doc:?}");
        assert!(doc.connections.iter().any(|c| c.client_port == 0));
        assert!(doc.connections.iter().any(|c| c.client_address.is_ipv6()));
        assert!(doc.connections.iter().all(|c| c.expires <= 3600));
        let with_pe = run(&rs, &["-L", "-c", "--json", "--persistent-conn"]);
        assert!(matches!(parse_doc(&with_pe), Document::Connections(_)));
        last = (
            json_connections(&doc.connections),
            ref_connections(&reference),
        );
        if last.0 == last.1 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    panic!("connections differ:\n{:#?}\n{:#?}", last.0, last.1);
}
