//! ipvsadm's start-up: opening the IPVS family with the one
//! `modprobe ip_vs` attempt, and the two-line message when that fails.
//! Shared by ipvsadm's runner ([`crate::ipvsadm::run`], which adds the
//! `GET_INFO` step) and by the subcommands that must open the kernel as
//! ipvsadm does (`apply`).

use std::io::Write;

use crate::client::{Client, Error};
use crate::ipvsadm::errors::{errno_of, ipvs_strerror, Op};

/// ipvsadm's two-line start-up failure; returns its exit status.
pub fn init_failure(err: &mut dyn Write, errno: i32) -> i32 {
    let _ = write!(
        err,
        "Can't initialize ipvs: {}\nAre you sure that IP Virtual Server is built in the kernel or as module?\n",
        ipvs_strerror(Op::Generic, errno)
    );
    2
}

/// Opens the IPVS family the way ipvsadm's start-up does, including the
/// one `modprobe ip_vs` attempt; on failure prints ipvsadm's two-line
/// message and returns its exit status.
pub fn open(err: &mut dyn Write) -> Result<Client, i32> {
    match Client::open() {
        Ok(c) => Ok(c),
        Err(Error::FamilyNotFound) => {
            let _ = err.flush();
            let _ = std::process::Command::new("/sbin/modprobe")
                .args(["--", "ip_vs"])
                .status();
            match Client::open() {
                Ok(c) => Ok(c),
                Err(Error::FamilyNotFound) => {
                    Err(init_failure(err, crate::sys::legacy_ipvs_probe()))
                }
                Err(e) => Err(init_failure(err, errno_of(&e))),
            }
        }
        Err(e) => Err(init_failure(err, errno_of(&e))),
    }
}
