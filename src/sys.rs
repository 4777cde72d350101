//! The few direct system calls the tool needs that the standard library
//! does not offer. `unsafe` is denied crate-wide and allowed only here and
//! in `ipvsadm::resolve` (the C library's name lookups); each block says why it
//! is sound.

/// Restores the default action for SIGPIPE, so that `ipvsadm-rs -Ln | head`
/// ends quietly the way the C tool does, instead of failing a write with
/// EPIPE (Rust ignores SIGPIPE by default).
pub fn default_sigpipe() {
    // SAFETY: signal(2) with SIG_DFL installs no handler of ours; it only
    // changes the process disposition for SIGPIPE, before any thread runs.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The errno the legacy IPVS socket-option interface answers, which is what
/// ipvsadm reports when the generic-netlink family is missing: a raw IPv4
/// socket, then `getsockopt(IPPROTO_IP, IP_VS_SO_GET_INFO)`. Without IPVS in
/// the kernel this gives ENOPROTOOPT; without privileges the socket itself
/// fails with EPERM. Returns 0 if, unexpectedly, the call succeeds.
pub fn legacy_ipvs_probe() -> i32 {
    const IP_VS_SO_GET_INFO: libc::c_int = 64 + 1024 + 64 + 1;
    // SAFETY: socket(2) takes no pointers; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW) };
    if fd < 0 {
        return last_errno();
    }
    // The reply buffer matches struct ip_vs_getinfo (version, size,
    // num_services: three u32s).
    let mut buf = [0u8; 12];
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: buf and len are valid for writes for the duration of the call,
    // and len holds buf's true size, so the kernel writes within bounds.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_IP,
            IP_VS_SO_GET_INFO,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    let err = if rc < 0 { last_errno() } else { 0 };
    // SAFETY: fd is a descriptor this function opened and nothing else owns.
    unsafe {
        libc::close(fd);
    }
    err
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EINVAL)
}

/// The size of a memory page, from `sysconf(_SC_PAGESIZE)`; 4096 if the
/// C library cannot say.
pub fn page_size() -> usize {
    // SAFETY: sysconf takes no pointers and has no side effects.
    let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(v).ok().filter(|&v| v > 0).unwrap_or(4096)
}

/// Sets a socket's receive buffer with `SO_RCVBUFFORCE`, which may exceed
/// `rmem_max` for a process with CAP_NET_ADMIN (every IPVS operation needs
/// that capability anyway). Returns false if the kernel refused.
pub fn force_rcvbuf(fd: std::os::fd::RawFd, bytes: libc::c_int) -> bool {
    // SAFETY: the option value points at a live c_int and its exact size is
    // passed; setsockopt only reads it. A bad fd yields an error, not UB.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&bytes as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    rc == 0
}

/// Moves the calling thread into the network namespace `ns` refers to (a
/// file under `/run/netns`, or `/proc/PID/ns/net`), so that every socket
/// opened afterwards, and `/proc/net` and `/proc/sys/net` as this process
/// sees them, belong to that namespace. Called once at start-up, before
/// any socket exists and while the process has one thread.
pub fn set_netns(ns: &std::fs::File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: setns(2) takes a descriptor and a flag, no pointers; the
    // descriptor is borrowed from a live `File`, so it stays open for the
    // call. CLONE_NEWNET makes the kernel check that it is a network
    // namespace (EINVAL otherwise). Changing the namespace affects only
    // the calling thread, and no memory Rust tracks.
    let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
