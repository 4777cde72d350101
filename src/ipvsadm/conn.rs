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

use crate::ipvsadm::options::ListOptions;
use crate::ipvsadm::print::addrport;
use crate::ipvsadm::resolve::Resolver;
use crate::json::{ConnectionJson, ListWriter};
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

/// The JSON form of one parsed line (addresses numeric, text fields read
/// lossily as UTF-8).
fn to_json(c: &ConnLine<'_>) -> ConnectionJson {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    ConnectionJson {
        protocol: text(c.protocol).to_ascii_lowercase(),
        client_address: c.client,
        client_port: c.cport,
        virtual_address: c.virt,
        virtual_port: c.vport,
        destination_address: c.dest,
        destination_port: c.dport,
        state: text(c.state),
        expires: c.expire,
        pe_name: c.pe.map(|(n, _)| text(n)),
        pe_data: c.pe.map(|(_, d)| text(d)),
    }
}

/// Prints `-L -c --json` from the contents of `/proc/net/ip_vs_conn`:
/// the `connections` document of `docs/json.md`, streamed one connection
/// per line. Input is read as by [`list_connections`] (same header check,
/// same lines skipped).
pub fn list_connections_json(
    mut input: impl BufRead,
    out: &mut dyn Write,
) -> Result<(), ConnError> {
    let mut line = Vec::with_capacity(256);
    if input.read_until(b'\n', &mut line)? == 0 {
        return Err(ConnError::UnexpectedInput);
    }
    let mut w = BufWriter::new(out);
    let mut list = ListWriter::begin(&mut w, "connections", &[], "connections")?;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if let Some(conn) = parse_line(&line) {
            list.item(&mut w, &to_json(&conn))?;
        }
    }
    list.end(&mut w)?;
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipvsadm::resolve::{NumericResolver, StaticResolver};
    use std::io::Cursor;

    const HEADER: &str =
        "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n";

    fn run(input: &str, opts: ListOptions, res: &dyn Resolver) -> Result<String, ConnError> {
        let mut out = Vec::new();
        list_connections(Cursor::new(input.as_bytes()), &mut out, &opts, res)?;
        Ok(String::from_utf8(out).unwrap())
    }

    fn numeric() -> ListOptions {
        ListOptions {
            numeric: true,
            connection: true,
            ..ListOptions::default()
        }
    }

    fn persistent() -> ListOptions {
        ListOptions {
            persistent_conn: true,
            ..numeric()
        }
    }

    // Kernel-format fixture lines (`%-3s %08X %04X %08X %04X %08X %04X
    // %-11s %7u`, plus ` PENAME PEDATA`).
    const TCP_LINE: &str = "TCP C0A80164 D431 0A000001 0050 C0A80102 0050 ESTABLISHED     899\n";
    const SCTP_LINE: &str = "SCTP 0A000002 0BB8 0A000002 0F1C 0A000003 0F1C ESTABLISHED    3600\n";
    const UDP_PE_LINE: &str =
        "UDP 7F000001 1234 0A000063 13C4 7F000001 13C4 UDP             299 sip 1234@example\n";

    const TITLE: &str = "IPVS connection entries\n\
        pro expire state       source             virtual            destination\n";
    const TITLE_PE: &str = "IPVS connection entries\n\
        pro expire state       source             virtual            destination        pe name          pe_data\n";

    #[test]
    fn rows_match_reference_samples() {
        let input = format!("{HEADER}{TCP_LINE}{SCTP_LINE}");
        let got = run(&input, numeric(), &NumericResolver).unwrap();
        // Reference §2.9 [verified] rows.
        assert_eq!(
            got,
            format!(
                "{TITLE}\
                 TCP 14:59  ESTABLISHED 192.168.1.100:54321 10.0.0.1:80        192.168.1.2:80\n\
                 SCTP 60:00  ESTABLISHED 10.0.0.2:3000      10.0.0.2:3868      10.0.0.3:3868\n"
            )
        );
    }

    #[test]
    fn persistent_conn_rows() {
        let input = format!("{HEADER}{UDP_PE_LINE}{TCP_LINE}");
        let got = run(&input, persistent(), &NumericResolver).unwrap();
        // Reference §2.9 [verified] pe row; a row without pe fields keeps
        // the short form.
        assert_eq!(
            got,
            format!(
                "{TITLE_PE}\
                 UDP 04:59  UDP         127.0.0.1:4660     10.0.0.99:5060     127.0.0.1:5060   sip                1234@example\n\
                 TCP 14:59  ESTABLISHED 192.168.1.100:54321 10.0.0.1:80        192.168.1.2:80\n"
            )
        );
        // Without --persistent-conn the pe fields are not shown.
        let got = run(&input, numeric(), &NumericResolver).unwrap();
        assert!(got.contains(
            "\nUDP 04:59  UDP         127.0.0.1:4660     10.0.0.99:5060     127.0.0.1:5060\n"
        ));
    }

    #[test]
    fn empty_input_is_unexpected() {
        let err = run("", numeric(), &NumericResolver).unwrap_err();
        assert!(matches!(err, ConnError::UnexpectedInput));
        assert_eq!(
            err.to_string(),
            "unexpected input from /proc/net/ip_vs_conn"
        );
        assert_eq!(
            ConnError::CannotOpen.to_string(),
            "cannot open file /proc/net/ip_vs_conn"
        );
        // A header alone gives the titles and no rows.
        assert_eq!(run(HEADER, numeric(), &NumericResolver).unwrap(), TITLE);
    }

    #[test]
    fn ipv6_and_mixed_family_and_names() {
        let input = format!(
            "{HEADER}TCP 2001:0db8:0000:0000:0000:0000:0000:0064 D431 2001:0db8:0000:0000:0000:0000:0000:0001 0050 0A000005 0050 SYN_RECV          59\n\
             TCP 0A000002 0401 0A000001 0050 2001:0db8:0000:0000:0000:0000:0000:0002 01BB CLOSE        6001\n\
             UDP 10.1.2.3 0035 10.0.0.1 0035 10.0.0.9 0035 UDP                 0\n"
        );
        let got = run(&input, numeric(), &NumericResolver).unwrap();
        let rows: Vec<&str> = got.lines().skip(2).collect();
        assert_eq!(
            rows,
            [
                "TCP 00:59  SYN_RECV    [2001:db8::64]:54321 [2001:db8::1]:80   10.0.0.5:80",
                "TCP 100:01 CLOSE       10.0.0.2:1025      10.0.0.1:80        [2001:db8::2]:443",
                "UDP 00:00  UDP         10.1.2.3:53        10.0.0.1:53        10.0.0.9:53",
            ]
        );
        let res = StaticResolver::new()
            .with_host("client", IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)))
            .with_service("domain", 53, Protocol::Udp)
            .with_service("http", 80, Protocol::Tcp);
        let opts = ListOptions {
            numeric: false,
            ..numeric()
        };
        let got = run(&input, opts, &res).unwrap();
        assert!(got.contains(
            "\nUDP 00:00  UDP         client:domain      10.0.0.1:domain    10.0.0.9:domain\n"
        ));
        assert!(got.contains(" [2001:db8::1]:http "));
    }

    #[test]
    fn malformed_lines_are_skipped() {
        let input = format!("{HEADER}\n   \nTCP 0A000001 zz\n{TCP_LINE}");
        let got = run(&input, numeric(), &NumericResolver).unwrap();
        assert_eq!(got.lines().count(), 3);
        assert!(got.ends_with("192.168.1.2:80\n"));
        // Last line without a newline, and CRLF endings, still count.
        let row = TCP_LINE.trim_end();
        let input = format!("{HEADER}{row}\r\n{row}");
        let got = run(&input, numeric(), &NumericResolver).unwrap();
        let expected =
            "TCP 14:59  ESTABLISHED 192.168.1.100:54321 10.0.0.1:80        192.168.1.2:80\n";
        assert_eq!(got, format!("{TITLE}{expected}{expected}"));
    }

    #[test]
    fn non_utf8_pe_data_passes_through() {
        let mut input = HEADER.as_bytes().to_vec();
        input.extend_from_slice(
            b"UDP 7F000001 1234 0A000063 13C4 7F000001 13C4 UDP             299 sip \xff\xfe\n",
        );
        let mut out = Vec::new();
        list_connections(
            Cursor::new(input),
            &mut out,
            &persistent(),
            &NumericResolver,
        )
        .unwrap();
        assert!(out.ends_with(b"sip                \xff\xfe\n"));
    }

    #[test]
    fn streams_large_inputs() {
        // Rows are produced while reading: a reader that yields many lines
        // lazily never needs the whole file in memory.
        struct Lines {
            left: usize,
            header_sent: bool,
        }
        impl io::Read for Lines {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let line: &[u8] = if !self.header_sent {
                    self.header_sent = true;
                    HEADER.as_bytes()
                } else if self.left > 0 {
                    self.left -= 1;
                    TCP_LINE.as_bytes()
                } else {
                    return Ok(0);
                };
                let n = line.len().min(buf.len());
                buf[..n].copy_from_slice(&line[..n]);
                assert_eq!(n, line.len(), "test reader needs a big enough buffer");
                Ok(n)
            }
        }
        struct Count(usize);
        impl Write for Count {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.0 += buf.iter().filter(|&&b| b == b'\n').count();
                Ok(buf.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let input = io::BufReader::new(Lines {
            left: 100_000,
            header_sent: false,
        });
        let mut out = Count(0);
        list_connections(input, &mut out, &numeric(), &NumericResolver).unwrap();
        assert_eq!(out.0, 100_002);
    }

    #[test]
    fn broken_pipe_is_io_error() {
        struct Broken;
        impl Write for Broken {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::from(io::ErrorKind::BrokenPipe))
            }
            fn flush(&mut self) -> io::Result<()> {
                Err(io::Error::from(io::ErrorKind::BrokenPipe))
            }
        }
        let input = format!("{HEADER}{TCP_LINE}");
        let err = list_connections(
            Cursor::new(input),
            &mut Broken,
            &numeric(),
            &NumericResolver,
        )
        .unwrap_err();
        assert!(matches!(err, ConnError::Io(e) if e.kind() == io::ErrorKind::BrokenPipe));
    }

    #[test]
    fn field_parsers() {
        assert_eq!(strtoul_hex(b"0A000001"), 0x0A00_0001);
        assert_eq!(strtoul_hex(b"0x1F"), 0x1F);
        assert_eq!(strtoul_hex(b"zz"), 0);
        assert_eq!(strtoul_hex(b"FFFFFFFFFFFFFFFFFFFF"), u64::MAX);
        assert_eq!(parse_port(b"D431"), Some(54321));
        assert_eq!(parse_port(b"1FFFF"), Some(0xFFFF));
        assert_eq!(parse_port(b"x"), None);
        assert_eq!(parse_expire(b"899"), Some(899));
        assert_eq!(parse_expire(b"-1"), None);
        assert_eq!(classify(b"0A000001"), AddrForm::V4Hex);
        assert_eq!(classify(b"10.0.0.1"), AddrForm::V4Text);
        assert_eq!(classify(b"fe80::1"), AddrForm::V6);
    }

    #[test]
    fn json_rows() {
        use crate::json::{ConnectionsDoc, Document};
        let input = format!("{HEADER}{TCP_LINE}{SCTP_LINE}{UDP_PE_LINE}\n");
        let mut out = Vec::new();
        list_connections_json(Cursor::new(input.as_bytes()), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 5, "{text}");
        let Document::Connections(ConnectionsDoc {
            version,
            connections,
        }) = Document::parse(&text).unwrap()
        else {
            panic!("{text}")
        };
        assert_eq!(version, crate::json::VERSION);
        assert_eq!(connections.len(), 3);
        let c = &connections[0];
        assert_eq!(c.protocol, "tcp");
        assert_eq!(c.client_address.to_string(), "192.168.1.100");
        assert_eq!(c.client_port, 54321);
        assert_eq!(c.virtual_address.to_string(), "10.0.0.1");
        assert_eq!(c.destination_port, 80);
        assert_eq!(c.state, "ESTABLISHED");
        assert_eq!(c.expires, 899);
        assert_eq!(c.pe_name, None);
        assert_eq!(connections[2].pe_name.as_deref(), Some("sip"));
        assert_eq!(connections[2].pe_data.as_deref(), Some("1234@example"));
        let mut none = Vec::new();
        list_connections_json(Cursor::new(HEADER.as_bytes()), &mut none).unwrap();
        assert!(matches!(
            Document::parse(std::str::from_utf8(&none).unwrap()).unwrap(),
            Document::Connections(ConnectionsDoc { connections, .. }) if connections.is_empty()
        ));
        assert!(matches!(
            list_connections_json(Cursor::new(&b""[..]), &mut Vec::new()),
            Err(ConnError::UnexpectedInput)
        ));
    }
}
