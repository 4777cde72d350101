//! The architecture check (issue #16), run by plain `cargo test`.
//!
//! The library is built in layers, and a module may only use what lies
//! below it:
//!
//! 1. `model.rs`: the typed table (plain data, uses nothing of ours);
//! 2. `wire/`, `json.rs`: the table as netlink messages and as JSON;
//! 3. `client.rs`, `route.rs`, `sys.rs`: the kernel and the host;
//! 4. `services/`: what the commands do, returning data;
//! 5. `ipvsadm/`: the byte-exact ipvsadm front end;
//! 6. `commands/`: the subcommands and the process entry;
//! 7. `bin/`: the binaries.
//!
//! This test reads every source file, finds each path it names in code
//! (`crate::...`, `super::...`, `ipvsadm_rs::...`; comments do not count),
//! and fails when a file names a module of a higher layer, or when files
//! name each other, directly or around a longer circle. Modules of one
//! layer may use each other in one direction only.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The layer of a source file, by its path under `src/`.
fn layer(rel: &str) -> u32 {
    let first = rel.split('/').next().unwrap_or(rel);
    match first {
        "model.rs" => 1,
        "wire" | "json.rs" => 2,
        "client.rs" | "route.rs" | "sys.rs" => 3,
        "services" => 4,
        "ipvsadm" => 5,
        "commands" => 6,
        "bin" => 7,
        // lib.rs only declares the modules and documents them.
        "lib.rs" => 8,
        other => panic!("src/{rel}: a file outside the known layers ({other}); add it to tests/layout.rs and docs/design.md"),
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The text without comments (line comments, doc comments, block
/// comments); string literals are kept (no source names modules in them).
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut in_str = false;
    while i < bytes.len() {
        let b = bytes[i];
        if in_str {
            out.push(b as char);
            if b == b'\\' && i + 1 < bytes.len() {
                out.push(bytes[i + 1] as char);
                i += 2;
                continue;
            }
            if b == b'"' {
                in_str = false;
            }
            i += 1;
            continue;
        }
        if b == b'"' {
            in_str = true;
            out.push('"');
            i += 1;
        } else if bytes[i..].starts_with(b"//") {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if bytes[i..].starts_with(b"/*") {
            while i < bytes.len() && !bytes[i..].starts_with(b"*/") {
                i += 1;
            }
            i += 2;
        } else {
            out.push(b as char);
            i += 1;
        }
    }
    out
}

/// The module path (segments under `src/`) a file defines.
fn module_of(rel: &str) -> Vec<String> {
    let no_ext = rel.trim_end_matches(".rs");
    let mut segs: Vec<String> = no_ext.split('/').map(str::to_string).collect();
    if segs.last().is_some_and(|s| s == "mod") {
        segs.pop();
    }
    segs
}

/// For each byte of `code`, how many inline modules (`mod name { ... }`)
/// enclose it: a `super::` inside one names that file's own module.
fn inline_depths(code: &str) -> Vec<usize> {
    let bytes = code.as_bytes();
    let mut depths = vec![0; bytes.len()];
    let mut braces = 0usize;
    let mut opened: Vec<usize> = Vec::new();
    let mut pending = false;
    let mut i = 0;
    while i < bytes.len() {
        let word_start = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if word_start && bytes[i..].starts_with(b"mod ") {
            // `mod name {` opens one; `mod name;` is another file.
            let rest = &code[i + 4..];
            let name_len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            pending = rest[name_len..].trim_start().starts_with('{');
        }
        match bytes[i] {
            b'{' => {
                braces += 1;
                if pending {
                    opened.push(braces);
                    pending = false;
                }
            }
            b'}' => {
                if opened.last() == Some(&braces) {
                    opened.pop();
                }
                braces = braces.saturating_sub(1);
            }
            _ => {}
        }
        depths[i] = opened.len();
        i += 1;
    }
    depths
}

/// Every module path named in `code`, absolute (from the crate root),
/// for a file whose module is `here`; paths inside the file itself are
/// left out.
fn named_paths(code: &str, here: &[String]) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    let depths = inline_depths(code);
    for root in ["crate::", "ipvsadm_rs::", "super::"] {
        let mut from = 0;
        while let Some(pos) = code[from..].find(root) {
            let at = from + pos;
            from = at + root.len();
            // A whole word only (not `my_crate::`).
            if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
                continue;
            }
            // `super::super::` is read from its first `super`.
            if at >= 7 && &code[at - 7..at] == "super::" {
                continue;
            }
            let mut base: Vec<String> = Vec::new();
            let mut rest = &code[from..];
            if root == "super::" {
                let mut ups = 1;
                while let Some(r) = rest.strip_prefix("super::") {
                    ups += 1;
                    rest = r;
                }
                let inline = depths.get(at).copied().unwrap_or(0);
                if ups <= inline {
                    continue; // names this file's own items
                }
                base = here.to_vec();
                for _ in 0..(ups - inline) {
                    base.pop();
                }
            }
            for tail in expand(rest) {
                let mut p = base.clone();
                p.extend(tail);
                found.push(p);
            }
        }
    }
    found
}

/// The paths a use tree or path expression starting at `s` names: `a::b`
/// gives `[a, b]`, `{a::b, c}` gives both, nested braces are followed.
fn expand(s: &str) -> Vec<Vec<String>> {
    let s = s.trim_start();
    if let Some(inner) = s.strip_prefix('{') {
        let mut depth = 0;
        let mut end = inner.len();
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    end = i;
                    break;
                }
                '}' => depth -= 1,
                _ => {}
            }
        }
        let body = &inner[..end];
        let mut items = Vec::new();
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in body.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(&body[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        items.push(&body[start..]);
        return items
            .into_iter()
            .filter(|i| !i.trim().is_empty())
            .flat_map(expand)
            .collect();
    }
    let ident: String = s
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    if ident.is_empty() || ident == "self" {
        return vec![Vec::new()];
    }
    let after = &s[ident.len()..];
    match after.strip_prefix("::") {
        Some(more) => expand(more)
            .into_iter()
            .map(|mut t| {
                t.insert(0, ident.clone());
                t
            })
            .collect(),
        None => vec![vec![ident]],
    }
}

/// The source file (relative to `src/`) that defines the longest prefix
/// of `path`, if any.
fn file_of(src: &Path, path: &[String]) -> Option<String> {
    for n in (1..=path.len()).rev() {
        let p = path[..n].join("/");
        for cand in [format!("{p}.rs"), format!("{p}/mod.rs")] {
            if src.join(&cand).is_file() {
                return Some(cand);
            }
        }
    }
    None
}

#[test]
fn arrows_only_point_down_and_no_module_uses_another_that_uses_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = root.join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut problems = Vec::new();
    for file in &files {
        let rel = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if rel == "lib.rs" {
            continue;
        }
        let here = module_of(&rel);
        let code = code_only(&fs::read_to_string(file).unwrap());
        for path in named_paths(&code, &here) {
            let Some(target) = file_of(&src, &path) else {
                continue;
            };
            if target == rel || target == "lib.rs" {
                continue;
            }
            if layer(&target) > layer(&rel) {
                problems.push(format!(
                    "src/{rel} uses src/{target} ({}), a higher layer",
                    path.join("::")
                ));
            }
            edges.entry(rel.clone()).or_default().insert(target);
        }
    }
    // Circles among files: depth-first search for a back edge.
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
        problems: &mut Vec<String>,
    ) {
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for m in edges.get(n).into_iter().flatten() {
            match state.get(m.as_str()).copied().unwrap_or(0) {
                0 => visit(m, edges, state, stack, problems),
                1 => {
                    let from = stack.iter().position(|s| s == m).unwrap_or(0);
                    let mut circle: Vec<String> =
                        stack[from..].iter().map(|s| format!("src/{s}")).collect();
                    circle.push(format!("src/{m}"));
                    problems.push(format!("a circle: {}", circle.join(" -> ")));
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
    }
    let mut state = BTreeMap::new();
    let nodes: Vec<String> = edges.keys().cloned().collect();
    for n in &nodes {
        if state.get(n.as_str()).copied().unwrap_or(0) == 0 {
            visit(n, &edges, &mut state, &mut Vec::new(), &mut problems);
        }
    }
    assert!(
        problems.is_empty(),
        "the layers of docs/design.md are broken:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_checker_sees_grouped_uses_and_parents() {
    let here = vec!["commands".to_string(), "top".to_string()];
    let code = "use crate::{model::Dest, services::{drain, top::Rates}};\nuse super::drain::x;\n\
                mod tests { use super::*; use super::super::args::A; }";
    let found = named_paths(code, &here);
    let joined: Vec<String> = found.iter().map(|p| p.join("::")).collect();
    assert!(joined.contains(&"model::Dest".to_string()), "{joined:?}");
    assert!(
        joined.contains(&"services::drain".to_string()),
        "{joined:?}"
    );
    assert!(
        joined.contains(&"services::top::Rates".to_string()),
        "{joined:?}"
    );
    assert!(
        joined.contains(&"commands::drain::x".to_string()),
        "{joined:?}"
    );
    // Inside an inline module, `super` is the file itself.
    assert!(
        joined.contains(&"commands::args::A".to_string()),
        "{joined:?}"
    );
    assert!(
        !joined.iter().any(|p| p == "commands" || p == "commands::*"),
        "{joined:?}"
    );
    assert_eq!(code_only("a // crate::x\nb /* crate::y */ c"), "a \nb  c");
}
