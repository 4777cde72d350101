//! Kernel error numbers turned into the messages ipvsadm prints.
//!
//! ipvsadm's wording depends on the errno *and* on the operation that was
//! under way (an `ESRCH` reads "No such service" when deleting a service
//! but "Service not defined" when adding a destination), so callers say
//! which [`Op`] failed.

/// The operation whose failure is being described.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `-A`.
    AddService,
    /// `-E`.
    EditService,
    /// `-D`.
    DelService,
    /// `-a`.
    AddDest,
    /// `-e`.
    EditDest,
    /// `-d`.
    DelDest,
    /// `-Z`.
    Zero,
    /// `--start-daemon`.
    StartDaemon,
    /// `--stop-daemon`.
    StopDaemon,
    /// Destination dump while listing.
    GetDests,
    /// `-L -t ...` (one service), and the service dump of `-L`/`-S`.
    GetService,
    /// Everything else (`-C`, `--set`, `-L --timeout`, `-L --daemon`): only
    /// the generic table applies.
    Generic,
}

/// The errno a client error stands for. Failures before the kernel
/// answered read as EINVAL, as in ipvsadm.
pub fn errno_of(e: &crate::client::Error) -> i32 {
    e.errno().unwrap_or(libc::EINVAL)
}

/// ipvsadm's text for `errno` during `op`.
pub fn ipvs_strerror(op: Op, errno: i32) -> String {
    let specific = match (op, errno) {
        (Op::AddService, libc::EEXIST) => Some("Service already exists"),
        (Op::AddService | Op::EditService, libc::ENOENT) => {
            Some("Scheduler or persistence engine not found")
        }
        (Op::EditService | Op::DelService | Op::Zero, libc::ESRCH) => Some("No such service"),
        (Op::AddDest | Op::EditDest | Op::DelDest, libc::ESRCH) => Some("Service not defined"),
        (Op::AddDest, libc::EEXIST) => Some("Destination already exists"),
        (Op::EditDest | Op::DelDest, libc::ENOENT) => Some("No such destination"),
        (Op::StartDaemon, libc::EEXIST) => Some("Daemon has already run"),
        (Op::StopDaemon, libc::ESRCH) => Some("No daemon is running"),
        (Op::GetDests | Op::GetService, libc::ESRCH) => Some("No such service"),
        _ => None,
    };
    if let Some(s) = specific {
        return s.to_string();
    }
    match errno {
        libc::EPERM => "Permission denied (you must be root)".to_string(),
        libc::EINVAL => {
            "Invalid operation.  Possibly wrong module version, address not unicast, ..."
                .to_string()
        }
        libc::ENOPROTOOPT => "Protocol not available".to_string(),
        libc::ENOMEM => "Memory allocation problem".to_string(),
        libc::EOPNOTSUPP => "Operation not supported with IPv6".to_string(),
        libc::EAFNOSUPPORT => "Operation not supported with specified address family".to_string(),
        libc::EMSGSIZE => "Module is wrong version".to_string(),
        other => strerror(other),
    }
}

/// The C library's text for an errno, without Rust's " (os error N)".
pub fn strerror(errno: i32) -> String {
    let text = std::io::Error::from_raw_os_error(errno).to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specific_messages_depend_on_the_operation() {
        assert_eq!(
            ipvs_strerror(Op::DelService, libc::ESRCH),
            "No such service"
        );
        assert_eq!(
            ipvs_strerror(Op::AddDest, libc::ESRCH),
            "Service not defined"
        );
        assert_eq!(ipvs_strerror(Op::Generic, libc::ESRCH), "No such process");
        assert_eq!(ipvs_strerror(Op::EditService, libc::EEXIST), "File exists");
        assert_eq!(
            ipvs_strerror(Op::DelService, libc::ENOENT),
            "No such file or directory"
        );
    }

    #[test]
    fn generic_messages() {
        assert_eq!(
            ipvs_strerror(Op::AddDest, libc::EINVAL),
            "Invalid operation.  Possibly wrong module version, address not unicast, ..."
        );
        assert_eq!(
            ipvs_strerror(Op::AddDest, libc::ERANGE),
            "Numerical result out of range"
        );
        assert_eq!(
            ipvs_strerror(Op::StartDaemon, libc::ENODEV),
            "No such device"
        );
    }
}
