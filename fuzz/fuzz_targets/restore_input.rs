//! The restore checker with arbitrary bytes as standard input (what
//! `ipvsadm-rs -R` and `ipvsadm-rs-restore` check before applying
//! anything). Names come from a fixed table, never from DNS. Every
//! request of a good input is encoded into one batch, as a restore sends
//! it.
#![no_main]

use ipvsadm_rs::ipvsadm::resolve::StaticResolver;
use ipvsadm_rs::ipvsadm::run::check_restore_input;
use ipvsadm_rs::model::Protocol;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let res = StaticResolver::new()
        .with_host("vip", "192.168.10.1".parse().unwrap())
        .with_host("rs1", "192.168.10.11".parse().unwrap())
        .with_service("http", 80, Protocol::Tcp)
        .with_service_all("domain", 53);
    let mut err = Vec::new();
    match check_restore_input("ipvsadm", data, &res, &mut err) {
        Ok(lines) => {
            let mut buf = Vec::new();
            for (seq, (_, req)) in lines.iter().enumerate() {
                if let Some(req) = req {
                    let _ = req.to_wire().encode(&mut buf, 0x23, seq as u32, 0);
                }
            }
        }
        Err(code) => {
            assert!(code == 2 || code == 255, "exit code {code}");
            assert!(!err.is_empty());
        }
    }
});
