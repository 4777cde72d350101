//! Cargo invocations: host unit tests, release binaries, and the Rust
//! kernel-test binaries.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

/// `cargo` as the xtask was started with (falls back to PATH).
fn cargo(root: &Path) -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root);
    cmd
}

/// Outcome of `cargo test --workspace`, summed over its `test result:` lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostTests {
    /// Tests that passed.
    pub passed: u64,
    /// Tests that failed (at least 1 if cargo itself failed, e.g. to build).
    pub failed: u64,
}

/// Runs the host test suite, echoing cargo's output and counting results.
pub fn host_tests(root: &Path) -> Result<HostTests> {
    let mut child = cargo(root)
        .args(["test", "--workspace"])
        // The preflight (hostdeps) installed every tool the host tests use,
        // so a missing one is a failure here, as in CI, never a skip.
        .env("CI", "1")
        .stdout(Stdio::piped())
        .spawn()
        .context("running cargo test")?;
    let mut counts = HostTests::default();
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines() {
            let line = line?;
            println!("{line}");
            if let Some((p, f)) = parse_test_result(&line) {
                counts.passed += p;
                counts.failed += f;
            }
        }
    }
    let status = child.wait()?;
    if !status.success() && counts.failed == 0 {
        counts.failed = 1;
    }
    Ok(counts)
}

/// Parses libtest's `test result: ok. 3 passed; 1 failed; ...` line.
fn parse_test_result(line: &str) -> Option<(u64, u64)> {
    let rest = line.trim().strip_prefix("test result: ")?;
    let mut passed = None;
    let mut failed = None;
    for part in rest.split(';') {
        let part = part
            .trim()
            .trim_start_matches("ok.")
            .trim_start_matches("FAILED.")
            .trim();
        if let Some(n) = part.strip_suffix(" passed") {
            passed = n.trim().parse().ok();
        } else if let Some(n) = part.strip_suffix(" failed") {
            failed = n.trim().parse().ok();
        }
    }
    Some((passed?, failed?))
}

/// Cargo's target directory: `CARGO_TARGET_DIR` when it is set (relative
/// to the workspace root), else `target/`.
pub fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if !d.is_empty() => root.join(d),
        _ => root.join("target"),
    }
}

/// The product's binaries.
pub const BINS: [&str; 3] = ["ipvsadm-rs", "ipvsadm-rs-save", "ipvsadm-rs-restore"];

/// Where [`build_release_bins`] leaves the binaries that are tested,
/// benchmarked and packaged (relative to the workspace root).
pub const SHIPPED_DIR: &str = "target/shipped";

/// Builds the release binaries as static-pie executables (glibc linked
/// in) and copies them to [`SHIPPED_DIR`]; returns that directory.
///
/// Why static: a CLI that shell loops call thousands of times pays the
/// dynamic loader on every call (mapping and relocating libc and
/// libgcc_s). Measured in the test-bed VM (docs/performance.md), the
/// static build starts markedly faster and its peak memory drops below
/// ipvsadm's, while the dynamic one was slower and larger than ipvsadm.
/// `-C target-feature=+crt-static` is passed through `cargo rustc` to the
/// binaries only: given to every crate (RUSTFLAGS) it would break the
/// proc-macro dependencies, which must be dynamic libraries. The copies
/// keep them apart from `target/release/`, which `cargo test --release`
/// rebuilds without the flag.
///
/// The code the ipvsadm commands run is packed at the front of the text
/// by `link/hot-code.ld` (see xtask/src/hot_code.rs for why and how it is
/// made). The script is passed under a name that carries a hash of its
/// contents: cargo reruns the link when the arguments change, and would
/// not notice an edited file behind an unchanged path.
pub fn build_release_bins(root: &Path) -> Result<PathBuf> {
    let dir = root.join(SHIPPED_DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut flags = vec!["-C".to_string(), "target-feature=+crt-static".to_string()];
    let layout = root.join(crate::hot_code::SCRIPT);
    if let Ok(text) = std::fs::read(&layout) {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        text.hash(&mut h);
        let copy = dir.join(format!("hot-code-{:016x}.ld", h.finish()));
        for old in std::fs::read_dir(&dir)?.flatten() {
            let name = old.file_name().to_string_lossy().into_owned();
            if name.starts_with("hot-code-") && old.path() != copy {
                let _ = std::fs::remove_file(old.path());
            }
        }
        std::fs::write(&copy, &text).with_context(|| format!("writing {}", copy.display()))?;
        flags.push("-C".to_string());
        flags.push(format!("link-arg=-Wl,-T,{}", copy.display()));
    }
    for bin in BINS {
        let status = cargo(root)
            .args([
                "rustc",
                "--release",
                "--package",
                "ipvsadm-rs",
                "--bin",
                bin,
            ])
            .arg("--")
            .args(&flags)
            .status()
            .context("running cargo rustc")?;
        if !status.success() {
            bail!("cargo rustc --release --bin {bin} failed");
        }
        let built = target_dir(root).join("release").join(bin);
        let to = dir.join(bin);
        // Replace rather than overwrite in place: a running VM build may
        // still hold the old file open.
        let _ = std::fs::remove_file(&to);
        std::fs::copy(&built, &to)
            .with_context(|| format!("copying {} to {}", built.display(), to.display()))?;
    }
    Ok(dir)
}

/// Names of the integration-test targets that hold kernel tests:
/// `tests/kernel_*.rs`, `tests/kernel_*/main.rs` and `tests/kernel/main.rs`.
pub fn kernel_test_targets(root: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let dir = root.join("tests");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(names);
    };
    for e in entries {
        let p = e?.path();
        let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if p.is_file() {
            if let Some(stem) = name.strip_suffix(".rs") {
                if stem.starts_with("kernel_") {
                    names.push(stem.to_string());
                }
            }
        } else if (name == "kernel" || name.starts_with("kernel_")) && p.join("main.rs").is_file() {
            names.push(name.to_string());
        }
    }
    names.sort();
    Ok(names)
}

/// Builds one test target in release mode; returns its executable.
pub fn build_test_binary(root: &Path, target: &str) -> Result<PathBuf> {
    let o = cargo(root)
        .args(["test", "--release", "--no-run", "--test", target])
        .args(["--message-format", "json-render-diagnostics"])
        .stderr(Stdio::inherit())
        .output()
        .context("running cargo test --no-run")?;
    if !o.status.success() {
        bail!("building test target {target} failed");
    }
    let json = String::from_utf8_lossy(&o.stdout);
    // Integration tests also build the package's binaries: pick the test target.
    let name = format!("\"name\":\"{target}\"");
    json.lines()
        .filter(|l| {
            l.contains("\"reason\":\"compiler-artifact\"")
                && l.contains("\"kind\":[\"test\"]")
                && l.contains(&name)
        })
        .filter_map(executable_of)
        .next_back()
        .with_context(|| format!("cargo reported no executable for {target}"))
}

/// The `"executable":"..."` field of one cargo JSON message, if not null.
fn executable_of(line: &str) -> Option<PathBuf> {
    let start = line.find("\"executable\":\"")? + "\"executable\":\"".len();
    let rest = line.get(start..)?;
    let end = rest.find('"')?;
    Some(PathBuf::from(rest.get(..end)?))
}

/// The ignored tests of a test binary (kernel tests are `#[ignore]`d so a
/// plain `cargo test` on a host without IPVS skips them).
pub fn list_ignored(binary: &Path) -> Result<Vec<String>> {
    let o = Command::new(binary)
        .args(["--list", "--ignored"])
        .output()
        .with_context(|| format!("listing {}", binary.display()))?;
    if !o.status.success() {
        bail!("{} --list failed", binary.display());
    }
    Ok(String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.strip_suffix(": test"))
        .map(str::to_string)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_result_lines() {
        assert_eq!(
            parse_test_result(
                "test result: ok. 12 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s"
            ),
            Some((12, 0))
        );
        assert_eq!(
            parse_test_result("test result: FAILED. 3 passed; 2 failed; 0 ignored"),
            Some((3, 2))
        );
        assert_eq!(parse_test_result("running 3 tests"), None);
    }

    #[test]
    fn executable_field() {
        let l = r#"{"reason":"compiler-artifact","filenames":["/t/x"],"executable":"/t/release/deps/kernel-abc","fresh":true}"#;
        assert_eq!(
            executable_of(l),
            Some(PathBuf::from("/t/release/deps/kernel-abc"))
        );
        assert_eq!(executable_of(r#"{"executable":null}"#), None);
    }
}
