//! `-L -c`: the connection table, read from `/proc/net/ip_vs_conn` (the
//! kernel offers no netlink dump of connections) and printed as ipvsadm
//! 1.31 prints it.
//!
//! The file can hold millions of lines, so it is streamed: one line is
//! read, parsed and written at a time, with one reused line buffer and no
//! collection of rows. Lines are handled as bytes, so persistence-engine
//! data that is not UTF-8 passes through unchanged.

use std::io::{self, BufRead, BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use thiserror::Error;

use crate::cli::options::ListOptions;
use crate::cli::print::addrport;
use crate::cli::resolve::Resolver;
use crate::model::Protocol;

/// Why `-L -c` failed; the messages are ipvsadm's.
#[derive(Debug, Error)]
pub enum ConnError {
    /// The proc file could not be opened (raised by the caller, which
    /// opens it).
    #[error("cannot open file /proc/net/ip_vs_conn")]
    CannotOpen,
    /// The file is empty: not even the kernel's header line.
    #[error("unexpected input from /proc/net/ip_vs_conn")]
    UnexpectedInput,
    /// Reading the file or writing the output failed (e.g. broken pipe).
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Appends `s` left-justified in a field of `width` bytes (`%-Ns`).
fn push_left(out: &mut Vec<u8>, s: &[u8], width: usize) {
    out.extend_from_slice(s);
    for _ in s.len()..width {
        out.push(b' ');
    }
}

/// C's `strtoul(s, NULL, 16)` as far as the kernel's fields need it: an
/// optional `0x`, then leading hex digits; saturates on overflow; zero
/// when there are no digits.
fn strtoul_hex(s: &[u8]) -> u64 {
    let digits = match s {
        [b'0', b'x' | b'X', rest @ ..] if rest.first().is_some_and(u8::is_ascii_hexdigit) => rest,
        _ => s,
    };
    let mut v: u64 = 0;
    for &c in digits.iter().take_while(|c| c.is_ascii_hexdigit()) {
        let d = u64::from(char::from(c).to_digit(16).unwrap_or(0));
        v = v
            .checked_mul(16)
            .and_then(|v| v.checked_add(d))
            .unwrap_or(u64::MAX);
        if v == u64::MAX {
            break;
        }
    }
    v
}

/// A hexadecimal port field (`%hX`): at least one hex digit, truncated
/// to 16 bits as scanf does.
fn parse_port(s: &[u8]) -> Option<u16> {
    let digits = match s {
        [b'0', b'x' | b'X', rest @ ..] => rest,
        _ => s,
    };
    if !digits.first().is_some_and(u8::is_ascii_hexdigit) {
        return None;
    }
    Some(strtoul_hex(s) as u16)
}

/// The expiry field (`%d`): leading decimal digits, saturating.
fn parse_expire(s: &[u8]) -> Option<u64> {
    let digits = s.strip_prefix(b"+").unwrap_or(s);
    if !digits.first().is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits.iter().take_while(|c| c.is_ascii_digit()) {
        v = v.saturating_mul(10).saturating_add(u64::from(c - b'0'));
    }
    Some(v)
}

/// How an address field of the proc file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AddrForm {
    /// IPv6 text (the kernel's full form, or any valid form).
    V6,
    /// Dotted IPv4 text.
    V4Text,
    /// 8 hex digits: the IPv4 address as a host-order number.
    V4Hex,
}

fn classify(s: &[u8]) -> AddrForm {
    let text = std::str::from_utf8(s).unwrap_or("");
    if text.parse::<Ipv6Addr>().is_ok() {
        AddrForm::V6
    } else if text.parse::<Ipv4Addr>().is_ok() {
        AddrForm::V4Text
    } else {
        AddrForm::V4Hex
    }
}

/// Reads an address field in the given form. A field that does not match
/// the form (only possible for the virtual address, whose form is decided
/// by the client address) reads as the unspecified address, where ipvsadm
/// would print whatever its buffer held.
fn read_addr(s: &[u8], form: AddrForm) -> IpAddr {
    let text = std::str::from_utf8(s).unwrap_or("");
    match form {
        AddrForm::V6 => IpAddr::V6(text.parse().unwrap_or(Ipv6Addr::UNSPECIFIED)),
        AddrForm::V4Text => IpAddr::V4(text.parse().unwrap_or(Ipv4Addr::UNSPECIFIED)),
        // strtoul's result is cut to 32 bits by ipvsadm.
        AddrForm::V4Hex => IpAddr::V4(Ipv4Addr::from(strtoul_hex(s) as u32)),
    }
}

/// One parsed connection line, borrowing the text fields.
struct ConnLine<'a> {
    protocol: &'a [u8],
    client: IpAddr,
    cport: u16,
    virt: IpAddr,
    vport: u16,
    dest: IpAddr,
    dport: u16,
    state: &'a [u8],
    expire: u64,
    /// Persistence engine name and data, when both are present.
    pe: Option<(&'a [u8], &'a [u8])>,
}

/// Parses one line of the proc file: protocol, client addr/port, virtual
/// addr/port, destination addr/port (ports in hex), state, expiry in
/// seconds, optionally pe name and pe data. `None` for lines that do not
/// have the nine mandatory fields in that shape.
fn parse_line(line: &[u8]) -> Option<ConnLine<'_>> {
    // scanf's %s stops at any isspace() byte.
    let mut fields = line
        .split(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
        .filter(|f| !f.is_empty());
    let protocol = fields.next()?;
    let client_text = fields.next()?;
    let cport = parse_port(fields.next()?)?;
    let virt_text = fields.next()?;
    let vport = parse_port(fields.next()?)?;
    let dest_text = fields.next()?;
    let dport = parse_port(fields.next()?)?;
    let state = fields.next()?;
    let expire = parse_expire(fields.next()?)?;
    let pe = match (fields.next(), fields.next()) {
        (Some(name), Some(data)) => Some((name, data)),
        _ => None,
    };
    // The client address decides the form of client and virtual; the
    // destination is classified on its own (mixed-family tunnels).
    let form = classify(client_text);
    Some(ConnLine {
        protocol,
        client: read_addr(client_text, form),
        cport,
        virt: read_addr(virt_text, form),
        vport,
        dest: read_addr(dest_text, classify(dest_text)),
        dport,
        state,
        expire,
        pe,
    })
}

/// The protocol for port names, from the protocol text as read.
fn proto_of(text: &[u8]) -> Option<Protocol> {
    match text {
        b"TCP" => Some(Protocol::Tcp),
        b"UDP" => Some(Protocol::Udp),
        b"SCTP" => Some(Protocol::Sctp),
        _ => None,
    }
}

/// Formats one row into `row` (cleared first).
fn format_row(row: &mut Vec<u8>, c: &ConnLine<'_>, opts: &ListOptions, res: &dyn Resolver) {
    row.clear();
    let proto = proto_of(c.protocol);
    let client = addrport(c.client, c.cport, proto, opts.numeric, res);
    let virt = addrport(c.virt, c.vport, proto, opts.numeric, res);
    let dest = addrport(c.dest, c.dport, proto, opts.numeric, res);
    let expire = format!("{:02}:{:02}", c.expire / 60, c.expire % 60);
    push_left(row, c.protocol, 3);
    row.push(b' ');
    push_left(row, expire.as_bytes(), 6);
    row.push(b' ');
    push_left(row, c.state, 11);
    row.push(b' ');
    push_left(row, client.as_bytes(), 18);
    row.push(b' ');
    push_left(row, virt.as_bytes(), 18);
    row.push(b' ');
    match (opts.persistent_conn, c.pe) {
        (true, Some((name, data))) => {
            push_left(row, dest.as_bytes(), 16);
            row.push(b' ');
            push_left(row, name, 18);
            row.push(b' ');
            row.extend_from_slice(data);
        }
        _ => row.extend_from_slice(dest.as_bytes()),
    }
    row.push(b'\n');
}

/// Prints `-L -c` from the contents of `/proc/net/ip_vs_conn`, streaming.
///
/// The first line (the kernel's header) is skipped; an input without it
/// is [`ConnError::UnexpectedInput`], and nothing is written then. Rows
/// are written as they are read; output is buffered internally and
/// flushed before returning.
///
/// Lines without the nine mandatory fields (blank lines, for instance)
/// are skipped. The kernel never writes such lines; ipvsadm would stop
/// silently with status 1 at a blank line and print garbage for a short
/// one. ipvsadm also reads in 256-byte pieces, splitting long lines;
/// here lines are read whole.
pub fn list_connections(
    mut input: impl BufRead,
    out: &mut dyn Write,
    opts: &ListOptions,
    res: &dyn Resolver,
) -> Result<(), ConnError> {
    let mut line = Vec::with_capacity(256);
    if input.read_until(b'\n', &mut line)? == 0 {
        return Err(ConnError::UnexpectedInput);
    }
    let mut w = BufWriter::new(out);
    w.write_all(b"IPVS connection entries\n")?;
    let head = if opts.persistent_conn {
        format!(
            "pro expire {:<11} {:<18} {:<18} {:<18} {:<16} {}\n",
            "state", "source", "virtual", "destination", "pe name", "pe_data"
        )
    } else {
        format!(
            "pro expire {:<11} {:<18} {:<18} {}\n",
            "state", "source", "virtual", "destination"
        )
    };
    w.write_all(head.as_bytes())?;
    let mut row = Vec::with_capacity(160);
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if let Some(conn) = parse_line(&line) {
            format_row(&mut row, &conn, opts, res);
            w.write_all(&row)?;
        }
    }
    w.flush()?;
    Ok(())
}
