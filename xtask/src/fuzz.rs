//! `cargo xtask fuzz`: the cargo-fuzz targets in `fuzz/`, each run for a
//! bounded time (nightly toolchain and cargo-fuzz needed), and
//! `cargo xtask fuzz-seeds`: the seed corpora in `fuzz/seeds/`, built
//! from the captured kernel replies (`tests/wire/*.txt`) and the
//! scenarios' command lines (`tests/scenarios/*.txt`).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// Every fuzz target, in the order they run.
pub const TARGETS: &[&str] = &[
    "parse_args",
    "restore_input",
    "wire_decode",
    "client_replies",
];

/// Options of `cargo xtask fuzz`.
#[derive(Debug, Clone)]
pub struct FuzzOptions {
    /// Time for each target.
    pub seconds: Duration,
    /// Only this target (all when `None`).
    pub target: Option<String>,
    /// libFuzzer's `-jobs` (1 unless asked).
    pub jobs: u32,
}

fn fuzz_dir(root: &Path) -> PathBuf {
    root.join("fuzz")
}

/// Runs each target for the bounded time; false if any crashed, hung or
/// ran out of memory (libFuzzer then leaves the input in
/// `fuzz/artifacts/TARGET/`).
pub fn run(root: &Path, opts: &FuzzOptions) -> Result<bool> {
    let targets: Vec<&str> = match &opts.target {
        Some(t) if TARGETS.contains(&t.as_str()) => vec![t.as_str()],
        Some(t) => bail!("unknown fuzz target {t} (known: {})", TARGETS.join(", ")),
        None => TARGETS.to_vec(),
    };
    let dir = fuzz_dir(root);
    let mut ok = true;
    for t in targets {
        // The working corpus grows in fuzz/corpus (not committed); the
        // committed seeds are read too, never written.
        let corpus = dir.join("corpus").join(t);
        fs::create_dir_all(&corpus).with_context(|| format!("creating {}", corpus.display()))?;
        let seeds = dir.join("seeds").join(t);
        let mut cmd = Command::new("cargo");
        cmd.current_dir(&dir)
            .args(["+nightly", "fuzz", "run", t])
            .arg(&corpus)
            .arg(&seeds)
            .arg("--")
            .arg(format!("-max_total_time={}", opts.seconds.as_secs()))
            .arg("-rss_limit_mb=512")
            .arg("-timeout=5")
            .arg("-print_final_stats=1");
        if opts.jobs > 1 {
            cmd.arg(format!("-jobs={}", opts.jobs))
                .arg(format!("-workers={}", opts.jobs));
        }
        println!("fuzz: {t} for {} s", opts.seconds.as_secs());
        let status = cmd
            .status()
            .context("running cargo +nightly fuzz (is cargo-fuzz installed?)")?;
        if status.success() {
            println!("fuzz: {t}: no crash");
        } else {
            println!("fuzz: {t}: FAILED ({status}); see fuzz/artifacts/{t}/");
            ok = false;
        }
    }
    Ok(ok)
}

/// One message of a wire fixture.
#[derive(Debug, Clone)]
struct WireMsg {
    send: bool,
    ipvs: bool,
    name: String,
    seq: u32,
    pid: u32,
    bytes: Vec<u8>,
}

fn field(line: &str, key: &str) -> Option<u32> {
    let v = line.split_whitespace().find_map(|w| w.strip_prefix(key))?;
    match v.strip_prefix("0x") {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => v.parse().ok(),
    }
}

fn parse_wire(text: &str) -> Vec<WireMsg> {
    let mut out: Vec<WireMsg> = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let first = words.next().unwrap_or("");
        if first == "send" || first == "recv" {
            let family = words.next().unwrap_or("");
            let name = words.next().unwrap_or("").to_string();
            out.push(WireMsg {
                send: first == "send",
                ipvs: family == "ipvs",
                name,
                seq: field(line, "seq=").unwrap_or(0),
                pid: field(line, "pid=").unwrap_or(0),
                bytes: Vec::new(),
            });
        } else if line.starts_with("    ") {
            if let Some(m) = out.last_mut() {
                m.bytes.extend(
                    line.split_whitespace()
                        .filter_map(|h| u8::from_str_radix(h, 16).ok()),
                );
            }
        }
    }
    out
}

/// A message with its sequence number replaced.
fn with_seq(bytes: &[u8], seq: u32) -> Vec<u8> {
    let mut b = bytes.to_vec();
    if let Some(s) = b.get_mut(8..12) {
        s.copy_from_slice(&seq.to_ne_bytes());
    }
    b
}

/// Datagrams framed for the client_replies target: a u16 length each.
fn framed(op: u8, datagrams: &[Vec<u8>]) -> Vec<u8> {
    let mut v = vec![op];
    for d in datagrams {
        let len = u16::try_from(d.len()).unwrap_or(u16::MAX);
        v.extend_from_slice(&len.to_le_bytes());
        v.extend_from_slice(d.get(..usize::from(len)).unwrap_or(d));
    }
    v
}

/// The client_replies operations a request's answer can drive.
fn ops_for(name: &str, dump: bool) -> &'static [u8] {
    match name {
        "GET_SERVICE" if dump => &[0, 1],
        "GET_SERVICE" => &[4],
        "GET_DEST" => &[2, 3],
        "GET_INFO" => &[5],
        "GET_CONFIG" => &[6],
        "GET_DAEMON" => &[7],
        _ => &[8],
    }
}

/// Scenario command lines (words of ipvsadm) and stdin blocks.
fn parse_scenario(text: &str) -> (Vec<Vec<String>>, Vec<String>) {
    let mut argvs = Vec::new();
    let mut stdins: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(rest) = line
            .strip_prefix("| ")
            .or(if line == "|" { Some("") } else { None })
        {
            current.get_or_insert_with(String::new).push_str(rest);
            if let Some(c) = current.as_mut() {
                c.push('\n');
            }
            continue;
        }
        if let Some(c) = current.take() {
            stdins.push(c);
        }
        let t = line.trim_start();
        if t.is_empty() || t.starts_with('#') || t.starts_with('!') {
            continue;
        }
        let mut words: Vec<String> = t.split_whitespace().map(str::to_string).collect();
        match words.first().map(String::as_str) {
            Some("ipvsadm") => {
                words.remove(0);
            }
            Some("ipvsadm-save") | Some("ipvsadm-restore") => continue,
            _ => {}
        }
        argvs.push(words);
    }
    if let Some(c) = current.take() {
        stdins.push(c);
    }
    (argvs, stdins)
}

fn name_of(bytes: &[u8]) -> String {
    // FNV-1a, 64 bits: stable names, so regenerating changes nothing.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

fn sorted_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    v.sort();
    Ok(v)
}

/// The seed corpora, target by target, as file contents keyed by name.
pub fn build_seeds(root: &Path) -> Result<BTreeMap<&'static str, BTreeMap<String, Vec<u8>>>> {
    let mut seeds: BTreeMap<&'static str, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
    let mut add = |target: &'static str, bytes: Vec<u8>| {
        seeds
            .entry(target)
            .or_default()
            .insert(name_of(&bytes), bytes);
    };

    for path in sorted_files(&root.join("tests/scenarios"))? {
        let text = fs::read_to_string(&path)?;
        let (argvs, stdins) = parse_scenario(&text);
        let mut as_restore = String::new();
        for argv in &argvs {
            for numeric in [0u8, 1] {
                let mut v = vec![numeric];
                v.extend_from_slice(argv.join("\0").as_bytes());
                add("parse_args", v);
            }
            as_restore.push_str(&argv.join(" "));
            as_restore.push('\n');
        }
        add("restore_input", as_restore.into_bytes());
        for s in stdins {
            add("restore_input", s.into_bytes());
        }
    }

    for path in sorted_files(&root.join("tests/wire"))? {
        let text = fs::read_to_string(&path)?;
        for line in text.lines() {
            if let Some(argv) = line.strip_prefix("argv: ") {
                let mut v = vec![1u8];
                v.extend_from_slice(
                    argv.split_whitespace()
                        .collect::<Vec<_>>()
                        .join("\0")
                        .as_bytes(),
                );
                add("parse_args", v);
            }
        }
        let msgs = parse_wire(&text);
        for m in msgs.iter().filter(|m| !m.send) {
            add("wire_decode", m.bytes.clone());
        }
        // Each IPVS request with the replies that answered it, with
        // sequence numbers made relative (0 = the request).
        for (i, req) in msgs.iter().enumerate() {
            if !(req.send && req.ipvs) {
                continue;
            }
            let replies: Vec<Vec<u8>> = msgs
                .iter()
                .skip(i + 1)
                .take_while(|m| !m.send)
                .filter(|m| m.ipvs && m.seq == req.seq && m.pid == req.pid)
                .map(|m| with_seq(&m.bytes, 0))
                .collect();
            if replies.is_empty() {
                continue;
            }
            let flags = req
                .bytes
                .get(6..8)
                .map_or(0, |f| u16::from_ne_bytes([f[0], f[1]]));
            for &op in ops_for(&req.name, flags & 0x300 != 0) {
                add("client_replies", framed(op, &replies));
                // The same replies in one datagram.
                add("client_replies", framed(op, &[replies.concat()]));
            }
            // A batch of nine writes in datagrams of four: the first
            // reply (ack or error) answering each of them.
            if ops_for(&req.name, false) == [8] {
                let one = &replies[0];
                let group = |n: u32| (0..n).flat_map(|k| with_seq(one, k)).collect::<Vec<u8>>();
                add("client_replies", framed(9, &[group(4), group(4), group(1)]));
            }
        }
    }
    // A connection table as /proc/net/ip_vs_conn shows it.
    add(
        "wire_decode",
        b"Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n\
TCP 0A000001 D431 C0A80A01 0050 0A00010B 0050 ESTABLISHED     899\n\
UDP 0A000002 1F90 C0A80A01 0035 0A00010C 0035 UDP             299 sip abc\n\
TCP 20010DB8000000000000000000000001 D431 20010DB8000000000000000000000010 01BB 20010DB8000000000000000000000011 01BB SYN_RECV 59\n"
            .to_vec(),
    );
    Ok(seeds)
}

/// Writes the seed corpora into `fuzz/seeds/TARGET/`, replacing what was
/// generated before (files kept from fuzzing runs stay).
pub fn write_seeds(root: &Path) -> Result<bool> {
    let seeds = build_seeds(root)?;
    for (target, files) in seeds {
        let dir = fuzz_dir(root).join("seeds").join(target);
        fs::create_dir_all(&dir)?;
        for (name, bytes) in &files {
            fs::write(dir.join(name), bytes)?;
        }
        println!("fuzz-seeds: {target}: {} seeds", files.len());
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_fixtures_give_seeds_for_every_target() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let seeds = build_seeds(root).unwrap();
        for t in TARGETS {
            assert!(seeds.get(t).is_some_and(|s| s.len() >= 5), "{t}");
        }
        // Every client seed starts with a known operation.
        assert!(seeds["client_replies"].values().all(|v| v[0] <= 9));
    }

    #[test]
    fn scenario_lines_and_stdin() {
        let (argvs, stdins) =
            parse_scenario("# c\n-A -t 1.2.3.4:80\nipvsadm-restore\n| -A -u 1.2.3.4:53\n|\n! ip link\nipvsadm -L -n\n");
        assert_eq!(
            argvs,
            vec![vec!["-A", "-t", "1.2.3.4:80"], vec!["-L", "-n"]]
        );
        assert_eq!(stdins, vec!["-A -u 1.2.3.4:53\n\n".to_string()]);
    }
}
