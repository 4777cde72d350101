//! The client's reply handling with arbitrary kernel answers: a fake
//! transport plays the kernel. The input is one byte choosing the
//! operation, then datagrams, each a little-endian u16 length and that
//! many bytes. The client gets them in order, whatever it sent; once they
//! run out, a receive fails, so every operation ends. The sequence number
//! of every message in a datagram is taken as relative to the first
//! request of the last datagram sent (0 answers it, 1 the next one of a
//! batch), so that inputs can answer whatever the client asks. The
//! controller's family reply is given without consuming input.
#![no_main]

use std::io;

use ipvsadm_rs::ipvsadm::options::ListOptions;
use ipvsadm_rs::ipvsadm::print::list_table;
use ipvsadm_rs::ipvsadm::resolve::NumericResolver;
use ipvsadm_rs::client::{Client, Request, Transport};
use ipvsadm_rs::model::{Dest, Family, Protocol, Service, ServiceEntry, ServiceKey};
use ipvsadm_rs::wire::netlink::{encode_error, encode_family_reply, header_of};
use libfuzzer_sys::fuzz_target;

struct Fake {
    input: Vec<u8>,
    pos: usize,
    first_seq: u32,
    family_reply: Option<Vec<u8>>,
}

impl Transport for Fake {
    fn send(&mut self, datagram: &[u8]) -> io::Result<()> {
        if let Some(h) = header_of(datagram) {
            self.first_seq = h.sequence_number;
            if h.message_type == 0x10 && self.family_reply.is_none() {
                let mut d = Vec::new();
                let _ = encode_family_reply(&mut d, h.sequence_number, h.port_number, "IPVS", 0x23);
                encode_error(&mut d, &h, 0);
                self.family_reply = Some(d);
            }
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        if let Some(d) = self.family_reply.as_mut().filter(|d| !d.is_empty()) {
            *buf = std::mem::take(d);
            return Ok(());
        }
        let gone = || io::Error::new(io::ErrorKind::WouldBlock, "input exhausted");
        let (len, rest) = match self.input.get(self.pos..) {
            Some([a, b, rest @ ..]) => (usize::from(u16::from_le_bytes([*a, *b])), rest),
            _ => return Err(gone()),
        };
        let take = len.min(rest.len());
        buf.clear();
        buf.extend_from_slice(&rest[..take]);
        self.pos += 2 + take;
        // Relative sequence numbers become absolute ones.
        let mut off = 0usize;
        while off + 16 <= buf.len() {
            let mlen = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
            let seq = u32::from_ne_bytes(buf[off + 8..off + 12].try_into().unwrap());
            buf[off + 8..off + 12].copy_from_slice(&seq.wrapping_add(self.first_seq).to_ne_bytes());
            if mlen < 16 {
                break;
            }
            off += (mlen + 3) & !3;
        }
        Ok(())
    }

    fn max_batch_messages(&self) -> usize {
        4
    }
}

fn svc(family: Family) -> Service {
    let addr = match family {
        Family::Inet6 => "2001:db8::1".parse().unwrap(),
        _ => "10.0.0.1".parse().unwrap(),
    };
    Service::new(ServiceKey::Addr {
        protocol: Protocol::Tcp,
        addr,
        port: 80,
    })
}

fn print(entries: &[ServiceEntry]) {
    let mut out = Vec::new();
    let o = ListOptions {
        numeric: true,
        ..ListOptions::default()
    };
    for o in [
        o,
        ListOptions { stats: true, ..o },
        ListOptions {
            thresholds: true,
            persistent_conn: true,
            tun_info: true,
            ..o
        },
    ] {
        let _ = list_table(&mut out, None, entries, &o, &NumericResolver);
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&op, input)) = data.split_first() else {
        return;
    };
    let fake = Fake {
        input: input.to_vec(),
        pos: 0,
        first_seq: 0,
        family_reply: None,
    };
    let Ok(mut c) = Client::with_transport(Box::new(fake)) else {
        return;
    };
    let s4 = svc(Family::Inet);
    let s6 = svc(Family::Inet6);
    match op % 10 {
        0 => {
            if let Ok(all) = c.services() {
                let entries: Vec<ServiceEntry> = all
                    .into_iter()
                    .map(|service| ServiceEntry {
                        service,
                        dests: Vec::new(),
                    })
                    .collect();
                print(&entries);
            }
        }
        1 => {
            let _ = c.services_with(|s| s.key);
        }
        2 | 3 => {
            let s = if op % 10 == 2 { s4 } else { s6 };
            if let Ok(dests) = c.dests(&s) {
                print(&[ServiceEntry { service: s, dests }]);
            }
        }
        4 => {
            let _ = c.service(&s4);
        }
        5 => {
            let _ = c.info();
        }
        6 => {
            let _ = c.timeouts();
        }
        7 => {
            let _ = c.daemons();
        }
        8 => {
            let _ = c.flush();
        }
        _ => {
            let d = Dest::new("10.0.1.1".parse().unwrap(), 80);
            let reqs: Vec<Request> = (0..9)
                .map(|i| match i % 3 {
                    0 => Request::AddService(s4.clone()),
                    1 => Request::AddDest(s4.clone(), d.clone()),
                    _ => Request::Flush,
                })
                .collect();
            if let Ok(res) = c.batch(&reqs) {
                assert_eq!(res.len(), reqs.len());
            }
        }
    }
});
