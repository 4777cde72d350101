//! The argument parser with arbitrary argv: the input is split at NUL
//! bytes into arguments, kept as raw bytes (so not always UTF-8). Names
//! come from a fixed table, never from DNS. A parsed invocation is also
//! turned into its kernel request and encoded, as a real run would.
#![no_main]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use ipvsadm_rs::ipvsadm::parse::parse;
use ipvsadm_rs::ipvsadm::resolve::{NumericResolver, Resolver, StaticResolver};
use ipvsadm_rs::ipvsadm::lines::write_request;
use ipvsadm_rs::model::Protocol;
use libfuzzer_sys::fuzz_target;

fn resolver() -> StaticResolver {
    StaticResolver::new()
        .with_host("vip", "192.168.10.1".parse().unwrap())
        .with_host("rs1", "192.168.10.11".parse().unwrap())
        .with_service("http", 80, Protocol::Tcp)
        .with_service_all("domain", 53)
}

fuzz_target!(|data: &[u8]| {
    // First byte: which resolver; the rest: NUL-separated arguments.
    let (numeric, rest) = match data.split_first() {
        Some((b, rest)) => (b & 1 == 1, rest),
        None => (false, data),
    };
    let args: Vec<OsString> = if rest.is_empty() {
        Vec::new()
    } else {
        rest.split(|&b| b == 0)
            .map(|a| OsString::from_vec(a.to_vec()))
            .collect()
    };
    let table = resolver();
    let res: &dyn Resolver = if numeric { &NumericResolver } else { &table };
    match parse("ipvsadm", &args, res) {
        Ok(inv) => {
            if let Some((req, _op)) = write_request(&inv) {
                let mut buf = Vec::new();
                let _ = req.to_wire().encode(&mut buf, 0x23, 1, 0);
            }
        }
        Err(f) => {
            assert!(f.code == 2 || f.code == 255, "exit code {}", f.code);
            assert!(!f.stderr.is_empty());
        }
    }
});
