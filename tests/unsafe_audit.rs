//! The unsafe and lint audit (issue #8), run by plain `cargo test`:
//!
//! * `unsafe` code appears only in `src/sys.rs` and `src/ipvsadm/resolve.rs`,
//!   the two modules lib.rs allows it in, and nowhere else in `src/`;
//! * every `unsafe` block there has a `// SAFETY:` comment just above it
//!   (or on its line), and every `unsafe fn` a `# Safety` doc section;
//! * `#[allow(unsafe_code)]` is used only for those two modules;
//! * lib.rs denies unsafe code and `unwrap`/`expect`/`panic!`/indexing
//!   outside tests, and each binary forbids unsafe code and denies the same
//!   lints.

use std::fs;
use std::path::{Path, PathBuf};

const ALLOWED: &[&str] = &["src/sys.rs", "src/ipvsadm/resolve.rs"];
const LINTS: &[&str] = &[
    "clippy::unwrap_used",
    "clippy::expect_used",
    "clippy::panic",
    "clippy::indexing_slicing",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The code of a line: without its `//` comment (string literals holding
/// `//` are rare enough in this crate not to matter here).
fn code(line: &str) -> &str {
    line.split("//").next().unwrap_or("")
}

fn has_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !ident(before) && !ident(after)
    })
}

#[test]
fn unsafe_code_only_in_the_reviewed_modules_each_with_its_reason() {
    let root = root();
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.sort();
    let mut problems = Vec::new();
    let mut blocks = 0;
    for f in &files {
        let rel = f
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let text = fs::read_to_string(f).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let c = code(line);
            if !has_word(c, "unsafe") || c.contains("unsafe_code") {
                continue;
            }
            if !ALLOWED.contains(&rel.as_str()) {
                problems.push(format!("{rel}:{}: unsafe outside {ALLOWED:?}", i + 1));
                continue;
            }
            blocks += 1;
            let above = &lines[i.saturating_sub(6)..=i];
            let is_fn = c.contains("unsafe fn");
            let reason = if is_fn {
                above.iter().any(|l| l.contains("# Safety"))
            } else {
                above.iter().any(|l| l.contains("SAFETY:"))
            };
            if !reason {
                problems.push(format!(
                    "{rel}:{}: unsafe {} without a {} comment",
                    i + 1,
                    if is_fn { "fn" } else { "block" },
                    if is_fn { "`# Safety`" } else { "`// SAFETY:`" }
                ));
            }
        }
        for (i, line) in lines.iter().enumerate() {
            if code(line).contains("allow(unsafe_code)") {
                let next = lines.get(i + 1).copied().unwrap_or("");
                let ok = (rel == "src/lib.rs" && next.trim() == "pub mod sys;")
                    || (rel == "src/ipvsadm/mod.rs" && next.trim() == "pub mod resolve;");
                if !ok {
                    problems.push(format!("{rel}:{}: allow(unsafe_code) for {next:?}", i + 1));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        blocks >= 5,
        "only {blocks} unsafe sites found: is the scan broken?"
    );
}

#[test]
fn the_library_and_the_binaries_deny_unsafe_and_panicking_shortcuts() {
    let root = root();
    let lib = fs::read_to_string(root.join("src/lib.rs")).unwrap();
    assert!(
        lib.contains("#![deny(unsafe_code)]"),
        "lib.rs must deny unsafe_code"
    );
    assert!(
        lib.contains("not(test)"),
        "lib.rs's lints apply outside tests"
    );
    for lint in LINTS {
        assert!(lib.contains(lint), "lib.rs must deny {lint}");
    }
    let mut bins = Vec::new();
    rust_files(&root.join("src/bin"), &mut bins);
    assert!(bins.len() >= 3);
    for b in bins {
        let text = fs::read_to_string(&b).unwrap();
        assert!(
            text.contains("#![forbid(unsafe_code)]"),
            "{} must forbid unsafe_code",
            b.display()
        );
        for lint in LINTS {
            assert!(text.contains(lint), "{} must deny {lint}", b.display());
        }
    }
}

#[test]
fn the_scanner_sees_unsafe_words_but_not_comments() {
    assert!(has_word(code("    let x = unsafe { f() };"), "unsafe"));
    assert!(!has_word(code("    // unsafe here is fine"), "unsafe"));
    assert!(!has_word(code("#![deny(unsafe_code)]"), "unsafe"));
    assert!(!has_word("not_unsafe()", "unsafe"));
}
