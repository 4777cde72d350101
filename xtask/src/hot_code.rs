//! `cargo xtask hot-code`: writes `link/hot-code.ld`, the linker script
//! that places the code the ipvsadm commands run at the front of the
//! shipped binaries, packed together.
//!
//! Why: the shipped binaries are static, about 4 MB, and most of that code
//! (the subcommands' crates, rtnetlink, most of glibc) never runs in
//! `ipvsadm-rs -Ln`. But the kernel maps a file's pages in 64 KiB blocks
//! around each page a program touches (fault-around), and in the order the
//! linker leaves them, the few hundred functions a listing runs are strewn
//! over the whole text: `-Ln` ended up with most of the binary resident
//! (docs/performance.md, run I). Packed at the front, they fill a few
//! blocks instead.
//!
//! How: the VM runs each ipvsadm command of [`WORKLOADS`] under
//! `ipvs-bench trace`, which puts a breakpoint on every function of the
//! binary and records the ones entered, in order. The functions are then
//! written as linker-script patterns, first-entered first: Rust functions
//! by their symbol name with the build-specific hashes left open (so the
//! list survives most rebuilds; a function that no longer matches just
//! stays where the linker puts it), C functions by the archive member of
//! glibc that holds them (glibc's code is not split per function), and,
//! last, every CPU-specific variant of the string functions entered, since
//! the CPU of a real director picks other variants than qemu's.
//! [`crate::cargo::build_release_bins`] hands the script to the linker
//! (`INSERT BEFORE .text`: everything else keeps the default layout).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use object::read::archive::ArchiveFile;
use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};

use crate::kernel::Flavor;

/// The committed script, relative to the workspace root.
pub const SCRIPT: &str = "link/hot-code.ld";
/// Where the guest finds the function list.
const FUNCS: &str = "/usr/local/sbin/hot-code-funcs";

/// The traced commands, most important first: a function's place in the
/// script is where it was first entered in this sequence. `{B}` is
/// `ipvsadm-rs`, `{S}`/`{R}` the same binary started as `-save`/`-restore`.
/// The table is the one [`setup`] builds.
const WORKLOADS: &[(&str, &str)] = &[
    ("list", "-- {B} -Ln"),
    ("save", "-- {B} -Sn"),
    ("restore", "--in /tmp/hot/rules -- {B} -R"),
    ("add-service", "-- {B} -A -t 10.9.9.9:80 -s rr"),
    (
        "add-dest",
        "-- {B} -a -t 10.9.9.9:80 -r 10.9.9.10:80 -g -w 3",
    ),
    (
        "edit-dest",
        "-- {B} -e -t 10.9.9.9:80 -r 10.9.9.10:80 -i -w 5",
    ),
    ("edit-service", "-- {B} -E -t 10.9.9.9:80 -s wrr -p 300"),
    ("list-one", "-- {B} -Ln -t 10.9.9.9:80"),
    ("stats", "-- {B} -Ln --stats"),
    ("rate", "-- {B} -Ln --rate"),
    ("exact", "-- {B} -Ln --stats --exact"),
    ("connections", "-- {B} -Lnc"),
    ("timeout", "-- {B} -L --timeout"),
    ("set", "-- {B} --set 900 120 300"),
    ("daemon", "-- {B} -L --daemon"),
    ("names", "-- {B} -L"),
    ("delete-dest", "-- {B} -d -t 10.9.9.9:80 -r 10.9.9.10:80"),
    ("delete-service", "-- {B} -D -t 10.9.9.9:80"),
    ("zero", "-- {B} -Z"),
    ("save-program", "-- {S} -n"),
    ("clear", "-- {B} -C"),
    ("restore-program", "--in /tmp/hot/rules -- {R}"),
    ("bad-scheduler", "-- {B} -A -t 10.9.9.9:80 -s nosuch"),
    ("no-such-service", "-- {B} -D -t 10.9.9.8:80"),
    ("version", "-- {B} -v"),
    ("help", "-- {B} -h"),
];

/// The guest's table: TCP, UDP and firewall-mark services with
/// masquerading, direct-routing and tunnelling destinations, and IPv6.
fn setup() -> String {
    "\
set -e
ip link set lo up
mkdir -p /tmp/hot
cd /tmp/hot
ln -s /usr/local/sbin/ipvsadm-rs ipvsadm-rs-save
ln -s /usr/local/sbin/ipvsadm-rs ipvsadm-rs-restore
s=0
: > rules
while [ $s -lt 50 ]; do
  echo \"-A -t 10.0.$s.1:80 -s wlc\" >> rules
  echo \"-A -u 10.0.$s.1:53 -s rr -p 60\" >> rules
  echo \"-A -f $((s + 1)) -s sh\" >> rules
  d=1
  while [ $d -le 4 ]; do
    echo \"-a -t 10.0.$s.1:80 -r 172.16.$s.$d:8080 -m -w 2\" >> rules
    echo \"-a -u 10.0.$s.1:53 -r 172.16.$s.$d:53 -g -w 1\" >> rules
    echo \"-a -f $((s + 1)) -r 172.17.$s.$d -i\" >> rules
    d=$((d + 1))
  done
  s=$((s + 1))
done
echo \"-A -t [2001:db8::1]:80 -s rr\" >> rules
echo \"-a -t [2001:db8::1]:80 -r [2001:db8::2]:80 -m\" >> rules
ipvsadm-rs -R < rules
"
    .to_string()
}

/// The guest script: the table, then each workload traced, then every
/// entered function as `HIT NAME ADDRESS`.
fn guest_script() -> String {
    let mut s = String::from("stty -F /dev/ttyS1 raw -echo 2>/dev/null\n(\n");
    s.push_str(&setup());
    for (name, args) in WORKLOADS {
        let args = args
            .replace("{B}", "/usr/local/sbin/ipvsadm-rs")
            .replace("{S}", "/tmp/hot/ipvsadm-rs-save")
            .replace("{R}", "/tmp/hot/ipvsadm-rs-restore");
        let _ = writeln!(
            s,
            "echo \"TRACE {name} $(ipvs-bench trace --funcs {FUNCS} --out /tmp/hot/hit-{name} {args})\""
        );
    }
    for (name, _) in WORKLOADS {
        let _ = writeln!(s, "sed 's/^/HIT {name} /' /tmp/hot/hit-{name}");
    }
    s.push_str(") >/dev/ttyS1 2>&1\n");
    s
}

/// The binary's functions: address → name (the first name at an address).
fn functions(binary: &Path) -> Result<BTreeMap<u64, String>> {
    let data = fs::read(binary).with_context(|| format!("reading {}", binary.display()))?;
    let file =
        object::File::parse(&*data).with_context(|| format!("parsing {}", binary.display()))?;
    let mut out = BTreeMap::new();
    for sym in file.symbols() {
        if sym.kind() != SymbolKind::Text || sym.size() == 0 || !sym.is_definition() {
            continue;
        }
        if let Ok(name) = sym.name() {
            out.entry(sym.address()).or_insert_with(|| name.to_string());
        }
    }
    if out.is_empty() {
        bail!("{} has no function symbols (stripped?)", binary.display());
    }
    Ok(out)
}

/// Symbol → (archive file name, member) for the C libraries the binary
/// links statically.
fn c_members() -> Result<HashMap<String, (String, String)>> {
    let mut map = HashMap::new();
    for lib in ["libc.a", "libm.a"] {
        for archive in archives(lib)? {
            let data =
                fs::read(&archive).with_context(|| format!("reading {}", archive.display()))?;
            let file_name = archive
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let ar = ArchiveFile::parse(&*data)
                .with_context(|| format!("parsing {}", archive.display()))?;
            for member in ar.members() {
                let member = member?;
                let name = String::from_utf8_lossy(member.name()).into_owned();
                let Ok(bytes) = member.data(&*data) else {
                    continue;
                };
                let Ok(obj) = object::File::parse(bytes) else {
                    continue;
                };
                for sym in obj.symbols() {
                    if sym.kind() == SymbolKind::Text && sym.is_definition() {
                        if let Ok(s) = sym.name() {
                            map.entry(s.to_string())
                                .or_insert_with(|| (file_name.clone(), name.clone()));
                        }
                    }
                }
            }
        }
    }
    Ok(map)
}

/// The archives behind `-l<lib>` as the C compiler finds them; a
/// linker-script stub (Debian's libm.a) is followed to its archives.
fn archives(lib: &str) -> Result<Vec<PathBuf>> {
    let out = Command::new("cc")
        .arg(format!("-print-file-name={lib}"))
        .output()
        .context("running cc -print-file-name")?;
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let data = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    if data.starts_with(b"!<arch>") {
        return Ok(vec![path]);
    }
    let text = String::from_utf8_lossy(&data);
    Ok(text
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter(|w| w.starts_with('/') && w.ends_with(".a"))
        .map(PathBuf::from)
        .collect())
}

/// A symbol name as a section-name pattern that survives rebuilds: the
/// hashes a build puts in a name (legacy `17h<16 hex>E`, v0 crate
/// disambiguators `Cs<base62>_` and back-references `B<base62>_`, LTO's
/// `.<n>` suffixes) become `*`. Replacing part of a name by `*` can only
/// widen the match, never lose the function itself.
pub fn name_pattern(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let b = name.as_bytes();
    let mut i = 0;
    let v0 = name.starts_with("_R");
    let base62 = |c: u8| c.is_ascii_alphanumeric();
    while i < b.len() {
        // legacy hash: 17h + 16 hex digits + E
        if name[i..].starts_with("17h")
            && b.len() >= i + 20
            && b[i + 3..i + 19].iter().all(u8::is_ascii_hexdigit)
            && b[i + 19] == b'E'
        {
            out.push_str("17h*E");
            i += 20;
            continue;
        }
        if v0 && (name[i..].starts_with("Cs") || b[i] == b'B') {
            let start = i + if b[i] == b'B' { 1 } else { 2 };
            let mut j = start;
            while j < b.len() && base62(b[j]) {
                j += 1;
            }
            if j < b.len() && b[j] == b'_' && (b[i] == b'B' || j > start) {
                out.push_str(if b[i] == b'B' { "B*_" } else { "Cs*_" });
                i = j + 1;
                continue;
            }
        }
        // LTO's numbered copies: `name.123` → `name.*`
        if b[i] == b'.' && i + 1 < b.len() && b[i + 1..].iter().all(u8::is_ascii_digit) {
            out.push_str(".*");
            break;
        }
        out.push(b[i] as char);
        i += 1;
    }
    out
}

/// The script for functions entered in `order` (names).
pub fn script(
    order: &[String],
    members: &HashMap<String, (String, String)>,
    header: &str,
) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    let mut families: Vec<(String, String)> = Vec::new();
    for name in order {
        let line = match members.get(name) {
            Some((lib, member)) if !name.starts_with("_ZN") && !name.starts_with("_R") => {
                // glibc's CPU-specific objects are named FAMILY-VARIANT.o
                // (memmove-avx-unaligned-erms.o, strlen-sse2.o).
                let multiarch = ["sse", "avx", "evex"].iter().any(|v| member.contains(v));
                if let Some((family, _)) = member.split_once('-').filter(|_| multiarch) {
                    let f = (lib.clone(), family.to_string());
                    if !families.contains(&f) {
                        families.push(f);
                    }
                }
                format!("*{lib}:{member}(.text .text.*)")
            }
            _ => {
                let p = name_pattern(name);
                format!("*(.text.{p} .text.unlikely.{p})")
            }
        };
        if seen.insert(line.clone()) {
            lines.push(line);
        }
    }
    let mut out = String::new();
    for l in header.lines() {
        let _ = writeln!(out, "/* {l} */");
    }
    out.push_str("SECTIONS\n{\n  .text.hot :\n  {\n");
    for l in &lines {
        let _ = writeln!(out, "    {l}");
    }
    out.push_str("    /* the other CPU variants of the string functions above */\n");
    for (lib, family) in &families {
        let _ = writeln!(out, "    *{lib}:{family}-*.o(.text .text.*)");
    }
    out.push_str("  }\n}\nINSERT BEFORE .text;\n");
    out
}

/// `cargo xtask hot-code`.
pub fn run(root: &Path, flavor: Flavor, timeout: Duration) -> Result<bool> {
    println!("==> building the shipped binaries and the ipvs_bench helper");
    let helper = crate::bench::build(root)?;
    let shipped = root.join(crate::cargo::SHIPPED_DIR);
    let binary = shipped.join("ipvsadm-rs");
    let funcs = functions(&binary)?;
    let dir = root.join("target/hot-code");
    fs::create_dir_all(&dir)?;
    let list = dir.join("hot-code-funcs");
    let text: String = funcs.keys().map(|a| format!("{a:x}\n")).collect();
    fs::write(&list, text)?;
    let bins = vec![
        ("ipvsadm-rs".to_string(), binary.clone()),
        ("ipvs-bench".to_string(), helper),
        ("hot-code-funcs".to_string(), list),
    ];
    println!(
        "==> tracing {} commands over {} functions, kernel {}",
        WORKLOADS.len(),
        funcs.len(),
        flavor.label
    );
    let mut hits: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let done = crate::bench::run_script(
        root,
        "hot-code",
        flavor,
        &guest_script(),
        &bins,
        timeout,
        |line| {
            if let Some(rest) = line.strip_prefix("HIT ") {
                let mut f = rest.split_whitespace();
                if let (Some(w), Some(a)) = (f.next(), f.next()) {
                    if let Ok(a) = u64::from_str_radix(a, 16) {
                        hits.entry(w.to_string()).or_default().push(a);
                    }
                }
            } else if line.starts_with("TRACE ") || line.contains("rror") {
                println!("    {line}");
            }
        },
    )?;
    if let Err(why) = done {
        println!("    {why}");
        return Ok(false);
    }
    let mut order = Vec::new();
    let mut seen = HashSet::new();
    for (w, _) in WORKLOADS {
        let Some(list) = hits.get(*w) else {
            println!("    no functions recorded for {w}");
            return Ok(false);
        };
        for a in list {
            if seen.insert(*a) {
                if let Some(n) = funcs.get(a) {
                    order.push(n.clone());
                }
            }
        }
    }
    let members = c_members()?;
    let header = format!(
        "Generated by `cargo xtask hot-code` (xtask/src/hot_code.rs): do not edit.\n\
         The functions the ipvsadm commands run, first-entered first, traced on\n\
         Linux {} over {} commands: {} functions. Linked into the shipped\n\
         binaries by `cargo xtask` builds; docs/design.md says why.",
        flavor.label,
        WORKLOADS.len(),
        order.len()
    );
    let out = script(&order, &members, &header);
    let path = root.join(SCRIPT);
    fs::create_dir_all(path.parent().unwrap_or(root))?;
    fs::write(&path, out)?;
    println!("==> wrote {} ({} functions)", path.display(), order.len());
    Ok(true)
}

/// Glob match as the linker does it for these patterns (`*` only).
fn glob(p: &[u8], s: &[u8]) -> bool {
    // Iterative, with the last star to fall back to: linear enough for
    // symbol names.
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(c) if *c == s[si] => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == b'*')
}

/// The Rust function patterns of a script (`*(.text.PATTERN ...)`).
fn rust_patterns(script: &str) -> Vec<String> {
    script
        .lines()
        .filter_map(|l| l.trim().strip_prefix("*(.text."))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|p| p.starts_with("_ZN") || p.starts_with("_R"))
        .map(str::to_string)
        .collect()
}

/// For `cargo xtask package --check`: the shipped `ipvsadm-rs` has its
/// hot-code section, and most functions the script names still exist (a
/// script that names few of them no longer packs what the commands run:
/// rerun `cargo xtask hot-code`). False, with the reason printed, when
/// not.
pub fn check(root: &Path) -> Result<bool> {
    let binary = root.join(crate::cargo::SHIPPED_DIR).join("ipvsadm-rs");
    let data = fs::read(&binary).with_context(|| format!("reading {}", binary.display()))?;
    let file =
        object::File::parse(&*data).with_context(|| format!("parsing {}", binary.display()))?;
    let Some(size) = file
        .sections()
        .find(|s| s.name() == Ok(".text.hot"))
        .map(|s| s.size())
    else {
        println!("hot code: {} has no .text.hot section", binary.display());
        return Ok(false);
    };
    let script = fs::read_to_string(root.join(SCRIPT))?;
    let patterns = rust_patterns(&script);
    let names: Vec<String> = functions(&binary)?.into_values().collect();
    let found = patterns
        .iter()
        .filter(|p| names.iter().any(|n| glob(p.as_bytes(), n.as_bytes())))
        .count();
    println!(
        "hot code: .text.hot {} KiB; {found} of the script's {} Rust functions found",
        size / 1024,
        patterns.len()
    );
    if found * 2 < patterns.len() {
        println!("hot code: most of {SCRIPT} is stale: run `cargo xtask hot-code`");
        return Ok(false);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_become_wildcards() {
        assert_eq!(
            name_pattern("_ZN10ipvsadm_rs6client6Client4dump17h0123456789abcdefE"),
            "_ZN10ipvsadm_rs6client6Client4dump17h*E"
        );
        assert_eq!(
            name_pattern("_RNvNtCsjrHSEGnQ3l9_3std3env7__var_os"),
            "_RNvNtCs*_3std3env7__var_os"
        );
        assert_eq!(
            name_pattern("_RNvMs3_NtCslNYArtu3iFV_5alloc7raw_vecINtB5_6RawVechE8grow_oneB7_"),
            "_RNvMs3_NtCs*_5alloc7raw_vecINtB*_6RawVechE8grow_oneB*_"
        );
        assert_eq!(name_pattern("write_str.230"), "write_str.*");
        assert_eq!(name_pattern("__libc_malloc"), "__libc_malloc");
    }

    #[test]
    fn patterns_match_the_names_they_come_from() {
        // A pattern made from a name must match that name: `*` stands for
        // what was cut.
        for n in [
            "_ZN4core3fmt5write17h1d37e1aae423dcd4E",
            "_RINvNvMs2_NtCslNYArtu3iFV_5alloc7raw_vecINtB8_11RawVecInnerpE7reserve21do_reserve_and_handleNtNtBa_5alloc6GlobalEBa_",
            "_RNvXsZ_NtCslNYArtu3iFV_5alloc6stringNtB5_6StringNtNtCsgEmfK2I1SDS_4core3fmt5Write9write_str.230",
            "get_common_indices.constprop.0",
        ] {
            assert!(glob(name_pattern(n).as_bytes(), n.as_bytes()), "{n}");
        }
    }

    #[test]
    fn globs_and_script_patterns() {
        assert!(glob(b"a*c", b"abbbc"));
        assert!(glob(b"_ZN3foo17h*E", b"_ZN3foo17h0123456789abcdefE"));
        assert!(!glob(b"_ZN3foo17h*E", b"_ZN3bar17h0123456789abcdefE"));
        assert!(glob(b"*", b""));
        assert!(!glob(b"a*b", b"ac"));
        let script = "/* x */\n    *(.text._ZN3foo17h*E .text.unlikely._ZN3foo17h*E)\n    *libc.a:malloc.o(.text .text.*)\n    *(.text.main .text.unlikely.main)\n";
        assert_eq!(rust_patterns(script), vec!["_ZN3foo17h*E".to_string()]);
    }

    #[test]
    fn c_functions_go_by_member_and_bring_their_variants() {
        let mut m = HashMap::new();
        m.insert(
            "__memcpy_avx_unaligned_erms".to_string(),
            (
                "libc.a".to_string(),
                "memmove-avx-unaligned-erms.o".to_string(),
            ),
        );
        m.insert(
            "__libc_malloc".to_string(),
            ("libc.a".to_string(), "malloc.o".to_string()),
        );
        let order = vec![
            "__libc_malloc".to_string(),
            "_ZN3foo3bar17h0123456789abcdefE".to_string(),
            "__memcpy_avx_unaligned_erms".to_string(),
        ];
        let s = script(&order, &m, "test");
        let body: Vec<&str> = s.lines().map(str::trim).collect();
        let at = |l: &str| body.iter().position(|b| *b == l).unwrap();
        assert!(
            at("*libc.a:malloc.o(.text .text.*)")
                < at("*(.text._ZN3foo3bar17h*E .text.unlikely._ZN3foo3bar17h*E)")
        );
        assert!(
            at("*libc.a:memmove-avx-unaligned-erms.o(.text .text.*)")
                < at("*libc.a:memmove-*.o(.text .text.*)")
        );
        assert!(s.ends_with("INSERT BEFORE .text;\n"));
    }
}
