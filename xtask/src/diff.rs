//! Readable, byte-exact rendering of command output and of differences.
//!
//! Each output line is shown as a quoted, escaped string that keeps its
//! newline (`"  -> 10.0.0.1:80   Route  1  \n"`), so trailing spaces, a
//! missing final newline and control bytes are all visible.

/// Common lines shown around each change.
const CONTEXT: usize = 2;
/// Above this many lines per side the diff is not aligned, just listed.
const MAX_ALIGN: usize = 2000;

/// Splits `data` into lines (each keeping its `\n`) and quotes each one.
/// Empty data renders as the single line `(empty)`.
pub fn quote_lines(data: &[u8]) -> Vec<String> {
    if data.is_empty() {
        return vec!["(empty)".to_string()];
    }
    split_lines(data).into_iter().map(quote).collect()
}

fn split_lines(data: &[u8]) -> Vec<&[u8]> {
    data.split_inclusive(|&b| b == b'\n').collect()
}

/// Quotes one line: printable ASCII as is, `"` and `\` escaped, `\n`, `\t`,
/// `\r` by name, every other byte as `\xNN`.
pub fn quote(line: &[u8]) -> String {
    let mut s = String::with_capacity(line.len() + 2);
    s.push('"');
    for &b in line {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'\r' => s.push_str("\\r"),
            0x20..=0x7e => s.push(char::from(b)),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('"');
    s
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Same,
    Del,
    Add,
}

/// Renders a line diff of `expected` against `got`: `- ` lines only in the
/// expectation, `+ ` lines only in the actual output, `  ` common context.
pub fn render(expected: &[u8], got: &[u8]) -> Vec<String> {
    let a = split_lines(expected);
    let b = split_lines(got);
    let ops = align(&a, &b);
    let mut out = Vec::new();
    if a.is_empty() {
        out.push("- (empty)".to_string());
    }
    let (mut i, mut j) = (0usize, 0usize);
    let changed: Vec<bool> = ops.iter().map(|&op| op != Op::Same).collect();
    let mut skipped = 0usize;
    for (k, &op) in ops.iter().enumerate() {
        match op {
            Op::Same => {
                let near = (k.saturating_sub(CONTEXT)..=k + CONTEXT)
                    .any(|n| changed.get(n).copied().unwrap_or(false));
                if near {
                    if skipped > 0 {
                        out.push(format!("  ... {skipped} identical lines"));
                        skipped = 0;
                    }
                    out.push(format!("  {}", quote(a.get(i).copied().unwrap_or(&[]))));
                } else {
                    skipped += 1;
                }
                i += 1;
                j += 1;
            }
            Op::Del => {
                if skipped > 0 {
                    out.push(format!("  ... {skipped} identical lines"));
                    skipped = 0;
                }
                out.push(format!("- {}", quote(a.get(i).copied().unwrap_or(&[]))));
                i += 1;
            }
            Op::Add => {
                if skipped > 0 {
                    out.push(format!("  ... {skipped} identical lines"));
                    skipped = 0;
                }
                out.push(format!("+ {}", quote(b.get(j).copied().unwrap_or(&[]))));
                j += 1;
            }
        }
    }
    if skipped > 0 {
        out.push(format!("  ... {skipped} identical lines"));
    }
    if b.is_empty() {
        out.push("+ (empty)".to_string());
    }
    out
}

/// Longest-common-subsequence alignment; one op per line.
fn align(a: &[&[u8]], b: &[&[u8]]) -> Vec<Op> {
    let (n, m) = (a.len(), b.len());
    if n > MAX_ALIGN || m > MAX_ALIGN {
        let mut ops = vec![Op::Del; n];
        ops.extend(vec![Op::Add; m]);
        return ops;
    }
    // lcs[i][j] = LCS length of a[i..] and b[j..], stored row-major.
    let width = m + 1;
    let mut lcs = vec![0u32; (n + 1) * width];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            let v = if a.get(i) == b.get(j) {
                lcs.get((i + 1) * width + j + 1).copied().unwrap_or(0) + 1
            } else {
                let down = lcs.get((i + 1) * width + j).copied().unwrap_or(0);
                let right = lcs.get(i * width + j + 1).copied().unwrap_or(0);
                down.max(right)
            };
            if let Some(cell) = lcs.get_mut(i * width + j) {
                *cell = v;
            }
        }
    }
    let mut ops = Vec::with_capacity(n + m);
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a.get(i) == b.get(j) {
            ops.push(Op::Same);
            i += 1;
            j += 1;
        } else if j < m
            && (i == n
                || lcs.get(i * width + j + 1).copied().unwrap_or(0)
                    >= lcs.get((i + 1) * width + j).copied().unwrap_or(0))
        {
            ops.push(Op::Add);
            j += 1;
        } else {
            ops.push(Op::Del);
            i += 1;
        }
    }
    // Show deletions before additions within each changed block.
    let mut k = 0;
    while k < ops.len() {
        if ops.get(k) == Some(&Op::Same) {
            k += 1;
            continue;
        }
        let start = k;
        while k < ops.len() && ops.get(k) != Some(&Op::Same) {
            k += 1;
        }
        if let Some(block) = ops.get_mut(start..k) {
            block.sort_by_key(|&o| o != Op::Del);
        }
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_shows_trailing_space_newline_and_bytes() {
        assert_eq!(quote(b"a  \n"), "\"a  \\n\"");
        assert_eq!(quote(b"\"\\\t\r\x01\xff"), "\"\\\"\\\\\\t\\r\\x01\\xff\"");
        assert_eq!(quote_lines(b""), ["(empty)"]);
        assert_eq!(quote_lines(b"a\nb"), ["\"a\\n\"", "\"b\""]);
    }

    #[test]
    fn diff_marks_changed_lines_with_context() {
        let expected = b"1\n2\n3\n4\n5\n6\n7\n8\n";
        let got = b"1\n2\n3\n4\nfive\n6\n7\n8\n";
        let d = render(expected, got);
        assert_eq!(
            d,
            [
                "  ... 2 identical lines",
                "  \"3\\n\"",
                "  \"4\\n\"",
                "- \"5\\n\"",
                "+ \"five\\n\"",
                "  \"6\\n\"",
                "  \"7\\n\"",
                "  ... 1 identical lines",
            ]
        );
    }

    #[test]
    fn diff_of_empty_and_missing_newline() {
        assert_eq!(render(b"", b"x\n"), ["- (empty)", "+ \"x\\n\""]);
        assert_eq!(render(b"x\n", b""), ["- \"x\\n\"", "+ (empty)"]);
        assert_eq!(render(b"x\n", b"x"), ["- \"x\\n\"", "+ \"x\""]);
    }
}
