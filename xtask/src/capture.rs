//! `cargo xtask capture-wire`: records the generic-netlink traffic of the
//! reference ipvsadm in the test-bed VM and writes it as fixture files
//! (`tests/wire/*.txt`) for the wire tests (`tests/wire.rs`).
//!
//! Each capture runs in a fresh network namespace: its setup commands
//! (reference ipvsadm or shell), then one ipvsadm command under
//! `strace -f -xx -s 65536 -e trace=sendmsg,recvmsg,sendto,recvfrom` with
//! `-e write=all -e read=all`, whose hex dumps give the exact bytes of every
//! datagram. The host splits the datagrams into netlink messages, labels
//! them (direction, controller or IPVS, command) and writes one file per
//! command. The messages are recorded, never interpreted beyond their
//! headers: the fixtures must not depend on the project's own decoders.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::initramfs::{self, Payload};
use crate::kernel::{self, Flavor};
use crate::qemu::{self, Boot, End};

/// One command to capture.
#[derive(Clone, Copy, Debug)]
pub struct Capture {
    /// Fixture name (`tests/wire/<name>.txt`).
    pub name: &'static str,
    /// Setup lines run first, untraced: ipvsadm arguments, or `! shell`.
    pub setup: &'static [&'static str],
    /// The traced ipvsadm's arguments (split on spaces).
    pub argv: &'static str,
}

const DUMMY: &[&str] = &["! ip link add d0 type dummy", "! ip link set d0 up"];
const TCP80: &[&str] = &["-A -t 10.0.0.1:80 -s rr"];
const TCP80_DEST: &[&str] = &[
    "-A -t 10.0.0.1:80 -s rr",
    "-a -t 10.0.0.1:80 -r 10.0.1.1:8080 -m -w 3",
];
const V6_SVC: &[&str] = &["-A -t [2001:db8::1]:443 -s wrr -p 600 -M 64"];
/// A varied table, for the dumps.
const TABLE: &[&str] = &[
    "-A -t 10.0.0.1:80 -s rr",
    "-a -t 10.0.0.1:80 -r 10.0.1.1:8080 -m -w 3",
    "-a -t 10.0.0.1:80 -r 10.0.1.2 -g -x 100 -y 10",
    "-a -t 10.0.0.1:80 -r 10.0.1.3 -i --tun-type gue --tun-port 6080 --tun-csum",
    "-A -u 10.0.0.1:53 -s wlc -p 600 -M 255.255.255.0 -o",
    "-a -u 10.0.0.1:53 -r 10.0.1.4:53 -m -w 0",
    "-A --sctp-service 10.0.0.1:3868 -s lc",
    "-A -f 7 -s sh -b sh-fallback,sh-port",
    "-a -f 7 -r 10.0.1.5:0 -m",
    "-A -f 8 -6 -s mh -b mh-port",
    "-A -t [2001:db8::1]:443 -s wrr -p 600 -M 64",
    "-a -t [2001:db8::1]:443 -r [2001:db8::11]:8443 -m -w 5",
    "-A -u 10.0.0.2:5060 -s rr -p 60 --pe sip",
];
/// One TCP and one UDP service with traffic from a second namespace, so
/// the counters in the dumps are not all zero.
const TRAFFIC: &[&str] = &[
    "! ip link add d0 type dummy",
    "! ip link set d0 up",
    "! ip addr add 10.0.1.254/24 dev d0",
    "! ip addr add 10.0.0.1/32 dev lo",
    "! ip netns add capcli",
    "! ip link add v0 type veth peer name v1 netns capcli",
    "! ip addr add 192.168.50.1/24 dev v0",
    "! ip link set v0 up",
    "! ip netns exec capcli ip addr add 192.168.50.2/24 dev v1",
    "! ip netns exec capcli ip link set v1 up",
    "! ip netns exec capcli ip link set lo up",
    "! ip netns exec capcli ip route add 10.0.0.0/8 via 192.168.50.1",
    "-A -t 10.0.0.1:80 -s rr",
    "-a -t 10.0.0.1:80 -r 10.0.1.1:8080 -m",
    "-a -t 10.0.0.1:80 -r 10.0.1.2:8080 -m -w 2",
    "-A -u 10.0.0.1:53 -s rr",
    "-a -u 10.0.0.1:53 -r 10.0.1.3:53 -m",
    "! ip netns exec capcli nc -w 1 10.0.0.1 80 </dev/null || true",
    "! ip netns exec capcli nc -w 1 10.0.0.1 80 </dev/null || true",
    "! echo hello | ip netns exec capcli nc -u -w 1 10.0.0.1 53 || true",
];
const DAEMONS: &[&str] = &[
    "! ip link add d0 type dummy",
    "! ip link set d0 up",
    "--start-daemon master --mcast-interface d0 --syncid 9 --sync-maxlen 1400 --mcast-group 239.1.2.3 --mcast-port 9999 --mcast-ttl 3",
    "--start-daemon backup --mcast-interface d0 --syncid 5",
];

/// The fixed list of reference commands captured.
pub const CAPTURES: &[Capture] = &[
    // Start-up alone: GET_INFO (the version line needs no table).
    Capture {
        name: "version",
        setup: &[],
        argv: "-v",
    },
    // -A in its forms.
    Capture {
        name: "add-service-tcp",
        setup: &[],
        argv: "-A -t 10.0.0.1:80 -s wrr -p 300 -M 255.255.255.0",
    },
    Capture {
        name: "add-service-udp",
        setup: &[],
        argv: "-A -u 10.0.0.1:53 -s rr",
    },
    Capture {
        name: "add-service-sctp",
        setup: &[],
        argv: "--add-service --sctp-service 10.0.0.1:3868 --scheduler lc",
    },
    Capture {
        name: "add-service-fwmark",
        setup: &[],
        argv: "-A -f 7 -s dh",
    },
    Capture {
        name: "add-service-fwmark6",
        setup: &[],
        argv: "-A -f 8 -6 -s sed -p",
    },
    Capture {
        name: "add-service-ipv6",
        setup: &[],
        argv: "-A -t [2001:db8::1]:443 -s wrr -p 600 -M 64",
    },
    Capture {
        name: "add-service-pe-sip",
        setup: &[],
        argv: "-A -u 10.0.0.2:5060 -s rr -p 60 --pe sip",
    },
    Capture {
        name: "add-service-ops",
        setup: &[],
        argv: "-A -u 10.0.0.3:53 -s nq -o",
    },
    Capture {
        name: "add-service-sched-flags",
        setup: &[],
        argv: "-A -t 10.0.0.4:80 -s sh -b sh-fallback,sh-port",
    },
    Capture {
        name: "add-service-default-sched",
        setup: &[],
        argv: "-A -t 10.0.0.5:0 -p",
    },
    Capture {
        name: "add-service-exists",
        setup: TCP80,
        argv: "-A -t 10.0.0.1:80 -s rr",
    },
    Capture {
        name: "add-service-no-scheduler",
        setup: &[],
        argv: "-A -t 10.0.0.1:80 -s nosuchsched",
    },
    Capture {
        name: "edit-service",
        setup: TCP80,
        argv: "-E -t 10.0.0.1:80 -s wlc -p 120",
    },
    Capture {
        name: "edit-service-missing",
        setup: &[],
        argv: "-E -t 10.0.0.1:80 -s rr",
    },
    Capture {
        name: "delete-service",
        setup: TCP80,
        argv: "-D -t 10.0.0.1:80",
    },
    Capture {
        name: "delete-service-fwmark6",
        setup: &["-A -f 8 -6 -s rr"],
        argv: "--delete-service --fwmark-service 8 --ipv6",
    },
    // -a / -e / -d.
    Capture {
        name: "add-dest-masq",
        setup: TCP80,
        argv: "-a -t 10.0.0.1:80 -r 10.0.1.1:8080 -m -w 3",
    },
    Capture {
        name: "add-dest-route",
        setup: TCP80,
        argv: "-a -t 10.0.0.1:80 -r 10.0.1.2 -g",
    },
    Capture {
        name: "add-dest-tunnel",
        setup: TCP80,
        argv: "-a -t 10.0.0.1:80 -r 10.0.1.3:9999 -i -w 0",
    },
    Capture {
        name: "add-dest-thresholds",
        setup: TCP80,
        argv: "-a -t 10.0.0.1:80 -r 10.0.1.4:80 -m -x 100 -y 10",
    },
    Capture {
        name: "add-dest-ipv6",
        setup: V6_SVC,
        argv: "-a -t [2001:db8::1]:443 -r [2001:db8::11]:8443 -m -w 5",
    },
    Capture {
        name: "add-dest-gue",
        setup: TCP80,
        argv: "-a -t 10.0.0.1:80 -r 10.0.1.5 -i --tun-type gue --tun-port 6080 --tun-csum",
    },
    Capture {
        name: "add-dest-gre",
        setup: TCP80,
        argv: "-a -t 10.0.0.1:80 -r 10.0.1.6 -i --tun-type gre --tun-csum",
    },
    Capture {
        name: "add-dest-fwmark",
        setup: &["-A -f 7 -s rr"],
        argv: "-a -f 7 -r 10.0.1.7:8080 -m",
    },
    Capture {
        name: "add-dest-mixed-family",
        setup: TCP80,
        argv: "-a -t 10.0.0.1:80 -r [2001:db8::12]:80 -i",
    },
    Capture {
        name: "add-dest-no-service",
        setup: &[],
        argv: "-a -t 10.0.0.1:80 -r 10.0.1.1 -m",
    },
    Capture {
        name: "add-dest-range",
        setup: TCP80,
        argv: "-a -t 10.0.0.1:80 -r 10.0.1.1 -m -x 5 -y 6",
    },
    Capture {
        name: "edit-dest",
        setup: TCP80_DEST,
        argv: "-e -t 10.0.0.1:80 -r 10.0.1.1:8080 -m -w 7 -x 50 -y 5",
    },
    Capture {
        name: "edit-dest-missing",
        setup: TCP80,
        argv: "-e -t 10.0.0.1:80 -r 10.0.1.9:80 -m",
    },
    Capture {
        name: "delete-dest",
        setup: TCP80_DEST,
        argv: "-d -t 10.0.0.1:80 -r 10.0.1.1:8080",
    },
    // Table-wide commands.
    Capture {
        name: "flush",
        setup: TCP80_DEST,
        argv: "-C",
    },
    Capture {
        name: "zero-all",
        setup: TCP80_DEST,
        argv: "-Z",
    },
    Capture {
        name: "zero-one",
        setup: TCP80_DEST,
        argv: "-Z -t 10.0.0.1:80",
    },
    Capture {
        name: "set-timeouts",
        setup: &[],
        argv: "--set 900 60 300",
    },
    // Listings.
    Capture {
        name: "list-empty",
        setup: &[],
        argv: "-L -n",
    },
    Capture {
        name: "list-table",
        setup: TABLE,
        argv: "-L -n",
    },
    Capture {
        name: "list-stats",
        setup: TRAFFIC,
        argv: "-L -n --stats --exact",
    },
    Capture {
        name: "list-one",
        setup: TABLE,
        argv: "-L -n -t 10.0.0.1:80",
    },
    Capture {
        name: "list-one-missing",
        setup: &[],
        argv: "-L -n -t 10.0.0.1:80",
    },
    Capture {
        name: "save",
        setup: TABLE,
        argv: "-S -n",
    },
    Capture {
        name: "list-timeout",
        setup: &["--set 100 20 30"],
        argv: "-L --timeout",
    },
    Capture {
        name: "list-daemon",
        setup: DAEMONS,
        argv: "-L --daemon",
    },
    // Sync daemons.
    Capture {
        name: "start-daemon-master",
        setup: DUMMY,
        argv: "--start-daemon master --mcast-interface d0 --syncid 9 --sync-maxlen 1400 --mcast-group 239.1.2.3 --mcast-port 9999 --mcast-ttl 3",
    },
    Capture {
        name: "start-daemon-backup",
        setup: DUMMY,
        argv: "--start-daemon backup --mcast-interface d0 --syncid 5",
    },
    Capture {
        name: "start-daemon-group6",
        setup: DUMMY,
        argv: "--start-daemon master --mcast-interface d0 --mcast-group ff02::1:2",
    },
    Capture {
        name: "stop-daemon",
        setup: DAEMONS,
        argv: "--stop-daemon master",
    },
    Capture {
        name: "stop-daemon-backup",
        setup: DAEMONS,
        argv: "--stop-daemon backup --syncid 5",
    },
];

/// Options of `cargo xtask capture-wire`.
#[derive(Clone, Debug)]
pub struct CaptureOptions {
    /// Kernel to boot.
    pub kernel: Flavor,
    /// Where the fixtures go.
    pub out: PathBuf,
    /// Only captures whose name contains this.
    pub filter: Option<String>,
    /// Hard limit for the boot.
    pub timeout: Duration,
}

/// Single-quotes `s` for the shell.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

const STRACE_ARGS: &str =
    "-f -xx -s 65536 -e trace=sendmsg,recvmsg,sendto,recvfrom -e write=all -e read=all";

/// The shell script run in the VM: every capture in its own namespace,
/// results written to ttyS1 as `@@`-framed blocks with one prefixed line
/// per line of output (`T` trace, `O` stdout, `E` stderr, `S` setup).
fn vm_script(captures: &[Capture]) -> String {
    let mut s = String::from(
        "set -f\nstty -F /dev/ttyS1 raw -echo 2>/dev/null\nexec 3>/dev/ttyS1\n\
         emit() { awk -v p=\"$1\" '{ print p \" \" $0 }' \"$2\" >&3; }\n",
    );
    for c in captures {
        let mut setup = String::from("set -ef\nip link set lo up\n");
        for line in c.setup {
            match line.strip_prefix("! ") {
                Some(cmd) => setup.push_str(&format!("{cmd}\n")),
                None => setup.push_str(&format!("/usr/sbin/ipvsadm {line}\n")),
            }
        }
        let _ = write!(
            s,
            "echo '@@BEGIN {name}' >&3\n\
             ip netns add cap\n\
             if ip netns exec cap /bin/sh -c {setup} >/tmp/setup.out 2>&1; then\n\
             \x20 ip netns exec cap {strace} {args} -o /tmp/trace /usr/sbin/ipvsadm {argv} >/tmp/out 2>/tmp/err\n\
             \x20 echo \"@@STATUS $?\" >&3\n\
             \x20 emit T /tmp/trace; emit O /tmp/out; emit E /tmp/err\n\
             else\n\
             \x20 echo '@@SETUPFAIL' >&3; emit S /tmp/setup.out\n\
             fi\n\
             ip netns del cap\n\
             ip netns del capcli 2>/dev/null\n\
             echo '@@END' >&3\n",
            name = c.name,
            setup = quote(&setup),
            strace = crate::layout::STRACE,
            args = STRACE_ARGS,
            argv = c.argv,
        );
    }
    s.push_str("echo '@@DONE' >&3\n");
    s
}

/// What came back for one capture.
#[derive(Debug, Default)]
struct Raw {
    name: String,
    status: Option<i32>,
    setup_failed: bool,
    trace: Vec<String>,
    stdout: Vec<String>,
    stderr: Vec<String>,
    setup_out: Vec<String>,
}

fn parse_report(text: &str) -> Vec<Raw> {
    let mut out = Vec::new();
    let mut cur: Option<Raw> = None;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(name) = line.strip_prefix("@@BEGIN ") {
            cur = Some(Raw {
                name: name.to_string(),
                ..Raw::default()
            });
            continue;
        }
        let Some(r) = cur.as_mut() else { continue };
        if line == "@@END" {
            out.extend(cur.take());
        } else if let Some(st) = line.strip_prefix("@@STATUS ") {
            r.status = st.trim().parse().ok();
        } else if line == "@@SETUPFAIL" {
            r.setup_failed = true;
        } else if let Some((tag, rest)) = line.split_at_checked(2) {
            let rest = rest.to_string();
            match tag {
                "T " => r.trace.push(rest),
                "O " => r.stdout.push(rest),
                "E " => r.stderr.push(rest),
                "S " => r.setup_out.push(rest),
                _ => {}
            }
        } else if matches!(line, "T" | "O" | "E" | "S") {
            // An empty line of output (awk printed just the prefix and " "
            // which the terminal may have kept): keep it.
            match line {
                "O" => r.stdout.push(String::new()),
                "E" => r.stderr.push(String::new()),
                _ => {}
            }
        }
    }
    out
}

/// One datagram seen by strace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    /// True for sendmsg/sendto, false for recvmsg/recvfrom.
    pub sent: bool,
    /// The bytes.
    pub data: Vec<u8>,
}

/// The bytes of one strace hex-dump row (` | 00010  03 01 ...  ascii |`).
fn dump_row(line: &str) -> Option<Vec<u8>> {
    let rest = line.trim_start().strip_prefix("| ")?;
    let (offset, rest) = rest.split_at_checked(5)?;
    if !offset.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let rest = rest.strip_prefix("  ")?;
    // The hex area is 16 groups "xx " with one extra space in the middle:
    // 48 columns; the ASCII column follows after two spaces.
    let hex: String = rest.chars().take(48).collect();
    let mut bytes = Vec::new();
    for tok in hex.split_whitespace() {
        if tok.len() != 2 {
            return None;
        }
        bytes.push(u8::from_str_radix(tok, 16).ok()?);
    }
    Some(bytes)
}

/// The datagrams of an strace log (`-e write=all -e read=all` dumps);
/// `MSG_PEEK` receives are left out, as the same bytes are read again.
pub fn datagrams(trace: &[String]) -> Result<Vec<Datagram>> {
    let mut out: Vec<Datagram> = Vec::new();
    // The syscall whose dump rows follow: (sent, expected length, peek).
    let mut current: Option<(bool, usize, bool)> = None;
    let mut buf = Vec::new();
    let flush = |cur: &mut Option<(bool, usize, bool)>,
                 buf: &mut Vec<u8>,
                 out: &mut Vec<Datagram>|
     -> Result<()> {
        if let Some((sent, len, peek)) = cur.take() {
            if buf.len() != len {
                bail!(
                    "strace dump has {} bytes, the call returned {len}",
                    buf.len()
                );
            }
            if !peek {
                out.push(Datagram {
                    sent,
                    data: std::mem::take(buf),
                });
            }
        }
        buf.clear();
        Ok(())
    };
    for line in trace {
        let t = line.trim_start();
        if t.starts_with("| ") {
            let row = dump_row(line).with_context(|| format!("bad dump row: {line}"))?;
            buf.extend(row);
            continue;
        }
        if t.starts_with("* ") {
            continue; // "* N bytes in buffer 0"
        }
        flush(&mut current, &mut buf, &mut out)?;
        // "PID  sendmsg(3, ...) = 32", the PID only with -f and -o.
        let call = t
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .trim_start();
        let sent = if call.starts_with("sendmsg(") || call.starts_with("sendto(") {
            true
        } else if call.starts_with("recvmsg(") || call.starts_with("recvfrom(") {
            false
        } else {
            continue;
        };
        let Some((_, ret)) = call.rsplit_once(") = ") else {
            continue; // unfinished or failed call
        };
        let Ok(len) = ret.trim().parse::<usize>() else {
            continue; // "-1 EAGAIN ..."
        };
        if len == 0 {
            continue;
        }
        current = Some((sent, len, call.contains("MSG_PEEK")));
    }
    flush(&mut current, &mut buf, &mut out)?;
    Ok(out)
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// A netlink message of a capture.
#[derive(Debug, Clone)]
struct NlMsg {
    sent: bool,
    bytes: Vec<u8>,
}

impl NlMsg {
    fn msg_type(&self) -> u16 {
        u16_at(&self.bytes, 4).unwrap_or(0)
    }
    fn flags(&self) -> u16 {
        u16_at(&self.bytes, 6).unwrap_or(0)
    }
    fn seq(&self) -> u32 {
        u32_at(&self.bytes, 8).unwrap_or(0)
    }
    fn pid(&self) -> u32 {
        u32_at(&self.bytes, 12).unwrap_or(0)
    }
    fn genl_cmd(&self) -> u8 {
        self.bytes.get(16).copied().unwrap_or(0)
    }
}

/// Splits datagrams into netlink messages (by `nlmsg_len`, 4-aligned).
fn split(datagrams: &[Datagram]) -> Result<Vec<NlMsg>> {
    let mut out = Vec::new();
    for d in datagrams {
        let mut rest = d.data.as_slice();
        while !rest.is_empty() {
            let len = u32_at(rest, 0).context("truncated nlmsghdr")? as usize;
            if len < 16 || len > rest.len() {
                bail!("bad nlmsg_len {len} with {} bytes left", rest.len());
            }
            out.push(NlMsg {
                sent: d.sent,
                bytes: rest[..len].to_vec(),
            });
            rest = &rest[((len + 3) & !3).min(rest.len())..];
        }
    }
    Ok(out)
}

const IPVS_CMDS: [&str; 18] = [
    "UNSPEC",
    "NEW_SERVICE",
    "SET_SERVICE",
    "DEL_SERVICE",
    "GET_SERVICE",
    "NEW_DEST",
    "SET_DEST",
    "DEL_DEST",
    "GET_DEST",
    "NEW_DAEMON",
    "DEL_DAEMON",
    "GET_DAEMON",
    "SET_CONFIG",
    "GET_CONFIG",
    "SET_INFO",
    "GET_INFO",
    "ZERO",
    "FLUSH",
];

/// The IPVS family id from a controller `NEWFAMILY` reply.
fn family_id(m: &NlMsg) -> Option<u16> {
    let mut at = 20;
    while at + 4 <= m.bytes.len() {
        let len = u16_at(&m.bytes, at)? as usize;
        let kind = u16_at(&m.bytes, at + 2)? & 0x3fff;
        if len < 4 {
            return None;
        }
        if kind == 1 {
            return u16_at(&m.bytes, at + 4);
        }
        at += (len + 3) & !3;
    }
    None
}

/// The header line of one message in a fixture.
fn describe(m: &NlMsg, class: &str, family: u16) -> String {
    let dir = if m.sent { "send" } else { "recv" };
    let t = m.msg_type();
    let what = match t {
        2 => match u32_at(&m.bytes, 16).map(|c| c as i32) {
            Some(0) => "ACK".to_string(),
            Some(e) => format!("ERROR errno={}", -e),
            None => "ERROR".to_string(),
        },
        3 => "DONE".to_string(),
        0x10 => match m.genl_cmd() {
            1 => "NEWFAMILY".to_string(),
            3 => "GETFAMILY".to_string(),
            c => format!("cmd={c}"),
        },
        _ if t == family => IPVS_CMDS
            .get(m.genl_cmd() as usize)
            .map_or_else(|| format!("cmd={}", m.genl_cmd()), |n| n.to_string()),
        _ => format!("type=0x{t:x}"),
    };
    format!(
        "{dir} {class} {what} len={} flags=0x{:04x} seq={} pid={}",
        m.bytes.len(),
        m.flags(),
        m.seq(),
        m.pid()
    )
}

fn hex_rows(bytes: &[u8]) -> String {
    let mut s = String::new();
    for row in bytes.chunks(16) {
        s.push_str("   ");
        for b in row {
            let _ = write!(s, " {b:02x}");
        }
        s.push('\n');
    }
    s
}

/// Builds the fixture text for one capture.
fn fixture(c: &Capture, raw: &Raw, release: &str) -> Result<String> {
    let msgs = split(&datagrams(&raw.trace)?)?;
    // Requests by (seq, pid) decide whose replies the control messages are.
    let mut family = None;
    for m in &msgs {
        if !m.sent && m.msg_type() == 0x10 && m.genl_cmd() == 1 {
            family = family.or(family_id(m));
        }
    }
    let family = family.context("no controller reply with the IPVS family id")?;
    let mut ctrl_requests = Vec::new();
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Generic-netlink traffic of the reference ipvsadm 1.31 for one command,\n\
         # captured in the test-bed VM (Linux {release}) by `cargo xtask capture-wire`.\n\
         # Regenerate it with that command rather than editing it."
    );
    let _ = writeln!(s, "name: {}", c.name);
    for l in c.setup {
        let _ = writeln!(s, "setup: {l}");
    }
    let _ = writeln!(s, "argv: {}", c.argv);
    let _ = writeln!(s, "exit: {}", raw.status.unwrap_or(-1));
    for l in &raw.stdout {
        let _ = writeln!(s, "out: {l}");
    }
    for l in &raw.stderr {
        let _ = writeln!(s, "err: {l}");
    }
    let _ = writeln!(s, "family: 0x{family:04x}");
    // The controller exchange repeats for every socket ipvsadm opens; the
    // first is kept whole, the later ones only counted.
    let mut first_ctrl: Option<(u32, u32)> = None;
    let mut skipped = 0usize;
    let mut body = String::new();
    for m in &msgs {
        let t = m.msg_type();
        let is_ctrl = if m.sent {
            t == 0x10
        } else {
            t == 0x10 || (t < 0x10 && ctrl_requests.contains(&(m.seq(), m.pid())))
        };
        if m.sent && is_ctrl {
            ctrl_requests.push((m.seq(), m.pid()));
        }
        if !is_ctrl && t != family && t >= 0x10 {
            bail!("message of unknown type 0x{t:x} in {}", c.name);
        }
        if is_ctrl {
            let id = (m.seq(), m.pid());
            if *first_ctrl.get_or_insert(id) != id {
                skipped += 1;
                continue;
            }
        }
        let class = if is_ctrl { "ctrl" } else { "ipvs" };
        let _ = writeln!(body, "\n{}", describe(m, class, family));
        body.push_str(&hex_rows(&m.bytes));
    }
    let _ = writeln!(
        s,
        "# {skipped} messages of later controller exchanges (one per socket) left out"
    );
    s.push_str(&body);
    Ok(s)
}

/// `cargo xtask capture-wire`.
pub fn run(opts: &CaptureOptions) -> Result<bool> {
    let root = crate::suite::workspace_root();
    let cache = root.join("target/testbed");
    if initramfs::find_host(&["/usr/bin/strace", "/bin/strace"]).is_err() {
        bail!("strace is not installed on this host (apt-get install strace)");
    }
    let captures: Vec<Capture> = CAPTURES
        .iter()
        .filter(|c| opts.filter.as_deref().is_none_or(|f| c.name.contains(f)))
        .copied()
        .collect();
    if captures.is_empty() {
        bail!("no capture matches the filter");
    }
    let k = kernel::prepare(opts.kernel, &cache)?;
    let plan = kernel::module_plan(&k)?;
    let payload = Payload::command(vm_script(&captures), Vec::new());
    let dir = cache
        .join("run")
        .join(format!("capture-{}", opts.kernel.label));
    fs::create_dir_all(&dir)?;
    let initrd = dir.join("initramfs.cpio");
    initramfs::build(&k, &plan, &payload, &initrd).context("building the initramfs")?;
    println!(
        "booting {} to capture {} commands",
        k.release,
        captures.len()
    );
    let boot = Boot {
        kernel: k.vmlinuz.clone(),
        initrd,
        cpus: 2,
        memory_mib: 1024,
    };
    let report = dir.join("report.log");
    let console = dir.join("console.log");
    let end = qemu::run_streaming(
        &boot,
        &console,
        &report,
        &dir.join("qemu.log"),
        opts.timeout,
        |_| {},
    )?;
    let text = fs::read_to_string(&report).context("reading the report")?;
    if !text.contains("@@DONE") {
        let why = match end {
            End::TimedOut => "timed out".to_string(),
            End::Exited(c) => format!("qemu exited ({c:?})"),
        };
        bail!(
            "the capture did not finish ({why}); see {} and {}",
            report.display(),
            console.display()
        );
    }
    let raws = parse_report(&text);
    fs::create_dir_all(&opts.out)?;
    let mut ok = true;
    for c in &captures {
        let Some(raw) = raws.iter().find(|r| r.name == c.name) else {
            println!("FAIL  {}: no result", c.name);
            ok = false;
            continue;
        };
        if raw.setup_failed {
            println!("FAIL  {}: setup failed:", c.name);
            for l in &raw.setup_out {
                println!("        {l}");
            }
            ok = false;
            continue;
        }
        match fixture(c, raw, &k.release) {
            Ok(text) => {
                let path = opts.out.join(format!("{}.txt", c.name));
                fs::write(&path, text).with_context(|| format!("{}", path.display()))?;
                println!(
                    "ok    {} (exit {}) -> {}",
                    c.name,
                    raw.status.unwrap_or(-1),
                    relative(&path, &root).display()
                );
            }
            Err(e) => {
                println!("FAIL  {}: {e:#}", c.name);
                ok = false;
            }
        }
    }
    Ok(ok)
}

fn relative<'a>(p: &'a Path, root: &Path) -> &'a Path {
    p.strip_prefix(root).unwrap_or(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<String> {
        s.lines().map(str::to_string).collect()
    }

    #[test]
    fn dump_rows_parse_including_short_rows_and_spaces_in_ascii() {
        assert_eq!(
            dump_row(
                " | 00010  fe ff ff ff 20 00 00 00  10 00 05 00 23 71 02 6b  .... .......#q.k |"
            ),
            Some(vec![
                0xfe, 0xff, 0xff, 0xff, 0x20, 0, 0, 0, 0x10, 0, 5, 0, 0x23, 0x71, 2, 0x6b
            ])
        );
        assert_eq!(
            dump_row(
                " | 00030  00 00 00 00                                       ....             |"
            ),
            Some(vec![0, 0, 0, 0])
        );
        assert_eq!(dump_row("recvmsg(3, ...) = 4"), None);
    }

    #[test]
    fn datagrams_skip_peeks_and_check_lengths() {
        let trace = lines(
            "233   sendmsg(3, {msg_iov=[...]}, 0) = 4\n\
             \x20* 4 bytes in buffer 0\n\
             \x20| 00000  01 02 03 04                                       ....             |\n\
             233   recvmsg(3, {...}, MSG_PEEK|MSG_TRUNC) = 2\n\
             \x20* 2 bytes in buffer 0\n\
             \x20| 00000  05 06                                             ..               |\n\
             233   recvmsg(3, {...}, 0) = 2\n\
             \x20* 2 bytes in buffer 0\n\
             \x20| 00000  05 06                                             ..               |\n\
             233   +++ exited with 0 +++",
        );
        let d = datagrams(&trace).unwrap();
        assert_eq!(
            d,
            vec![
                Datagram {
                    sent: true,
                    data: vec![1, 2, 3, 4]
                },
                Datagram {
                    sent: false,
                    data: vec![5, 6]
                }
            ]
        );
        let short = lines("1 sendmsg(3, {}, 0) = 5\n | 00000  01 02                                             ..               |");
        assert!(datagrams(&short).is_err());
    }

    #[test]
    fn report_blocks_are_split() {
        let text = "noise\n@@BEGIN a\n@@STATUS 2\nT 1 sendmsg\nO out line\nE err\n@@END\n@@BEGIN b\n@@SETUPFAIL\nS why\n@@END\n@@DONE\n";
        let r = parse_report(text);
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].status, Some(2));
        assert_eq!(r[0].trace, vec!["1 sendmsg"]);
        assert_eq!(r[0].stdout, vec!["out line"]);
        assert_eq!(r[0].stderr, vec!["err"]);
        assert!(r[1].setup_failed);
        assert_eq!(r[1].setup_out, vec!["why"]);
    }

    #[test]
    fn capture_names_are_unique() {
        let mut names: Vec<&str> = CAPTURES.iter().map(|c| c.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), CAPTURES.len());
    }
}
