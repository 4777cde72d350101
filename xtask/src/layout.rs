//! Paths inside the VM, shared by the initramfs builder (host) and the agent
//! (guest) so the two always agree.

/// The xtask binary itself, run inside the VM as the agent.
pub const AGENT: &str = "/testbed/agent";
/// What `/init` does: `agent`, `shell` or `command`.
pub const MODE: &str = "/testbed/mode";
/// Shell command run in `command` mode (`cargo xtask vm -- CMD`).
pub const COMMAND: &str = "/testbed/command";
/// `key=value` settings for the agent.
pub const CONFIG: &str = "/testbed/config";
/// Decompressed kernel modules, `<name>.ko`.
pub const MODULES_DIR: &str = "/testbed/modules";
/// Load plan: `name required|optional present|builtin|missing`, in load order.
pub const MODULES_LIST: &str = "/testbed/modules.list";
/// Shell kernel tests (`tests/kernel/*.sh`).
pub const KERNEL_TESTS: &str = "/testbed/kernel";
/// Rust kernel test binaries, each with a `<binary>.list` of test names.
pub const RUST_TESTS: &str = "/testbed/rust";
/// Differential scenarios (`tests/scenarios/*.txt`).
pub const SCENARIOS: &str = "/testbed/scenarios";
/// Copies of candidate programs given by path on the host.
pub const CANDIDATE_DIR: &str = "/testbed/candidate";
/// Directory of `ipvsadm`, `ipvsadm-save`, `ipvsadm-restore` links to the reference.
pub const SIDE_REF: &str = "/testbed/side/ref";
/// Directory of `ipvsadm`, `ipvsadm-save`, `ipvsadm-restore` links to the candidates.
pub const SIDE_CAND: &str = "/testbed/side/cand";

/// iproute2's `ip` (busybox's has no `netns`).
pub const IP: &str = "/sbin/ip";
/// busybox `insmod`, which loads uncompressed `.ko` files.
pub const INSMOD: &str = "/sbin/insmod";
/// Debian's strace, for capturing the reference's netlink traffic.
pub const STRACE: &str = "/usr/bin/strace";
/// Debian's ipvsadm, the reference.
pub const REF_IPVSADM: &str = "/usr/sbin/ipvsadm";
/// Debian's `ipvsadm-save` wrapper script.
pub const REF_SAVE: &str = "/usr/sbin/ipvsadm-save";
/// Debian's `ipvsadm-restore` wrapper script.
pub const REF_RESTORE: &str = "/usr/sbin/ipvsadm-restore";
/// The project's binaries.
pub const IPVSADM_RS: &str = "/usr/local/sbin/ipvsadm-rs";
/// The project's save binary.
pub const IPVSADM_RS_SAVE: &str = "/usr/local/sbin/ipvsadm-rs-save";
/// The project's restore binary.
pub const IPVSADM_RS_RESTORE: &str = "/usr/local/sbin/ipvsadm-rs-restore";

/// PATH for tests and setup commands inside the VM.
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
