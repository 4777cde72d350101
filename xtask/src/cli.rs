//! The command line of `cargo xtask` (clap derive), with the commands the
//! same binary runs inside the VM as hidden subcommands.
//!
//! Only the grammar lives here: `main` turns each command into the options
//! struct of the module that does the work.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand};

use crate::bench::GuestOptions;
use crate::kernel::{self, Flavor};

/// Where the differential runner's candidates come from (the help of the
/// whole tool and of `test`).
macro_rules! candidates {
    () => {
        "\
Candidates for the differential runner come from IPVSADM_UNDER_TEST,
IPVSADM_SAVE_UNDER_TEST, IPVSADM_RESTORE_UNDER_TEST: unset = the project's
static release binary in target/shipped, `ref` = the reference, anything else
= a host path."
    };
}

/// Project tooling: the kernel test bed (qemu boots of Debian's kernels with
/// IPVS), benchmarks, code generation, packaging and fuzzing.
#[derive(Debug, Parser)]
#[command(
    name = "xtask",
    bin_name = "cargo xtask",
    arg_required_else_help = true,
    after_help = concat!(candidates!(), "

Every command checks for the host packages it needs first (`cargo xtask
deps`) and installs them when run as root with apt.")
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Host unit tests, then every kernel test and scenario on each kernel
    #[command(after_help = candidates!())]
    Test {
        /// Boot only this kernel (repeatable)
        #[arg(long = "kernel", value_name = "KERNEL", value_parser = kernel_parser(),
              default_values = ["6.1", "6.12"])]
        kernels: Vec<Flavor>,
        /// Only VM tests whose name contains TEXT (the same as FILTER)
        #[arg(long, value_name = "TEXT", conflicts_with = "filter_arg")]
        filter: Option<String>,
        /// Only VM tests whose name contains FILTER
        #[arg(value_name = "FILTER")]
        filter_arg: Option<String>,
        /// Skip `cargo test --workspace`
        #[arg(long)]
        no_host: bool,
        /// The reference plays every candidate role
        #[arg(long)]
        reference: bool,
        /// Also print the outputs of passing tests and the reference
        /// transcript of each scenario
        #[arg(long)]
        show: bool,
        /// Hard limit for one boot (default: 300 s plus 30 s per test booted)
        #[arg(long, value_name = "SECS", value_parser = secs)]
        timeout: Option<Duration>,
        /// Guest CPUs (1 runs the scenario sides serially)
        #[arg(long, value_name = "N", default_value = "2", value_parser = positive_u32)]
        cpus: u32,
    },
    /// A shell (or one command) in the VM
    Vm {
        /// The kernel to boot
        #[arg(long, value_name = "KERNEL", value_parser = kernel_parser(), default_value = "6.12")]
        kernel: Flavor,
        /// Hard limit for the boot
        #[arg(long, value_name = "SECS", value_parser = secs, default_value = "600")]
        timeout: Duration,
        /// The command to run instead of a shell (after `--`)
        #[arg(last = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// LVS direct routing end to end in the VM: a client, a director and two
    /// real servers, driven by ipvsadm-rs, each step explained
    Demo {
        /// The kernel to boot
        #[arg(long, value_name = "KERNEL", value_parser = kernel_parser(), default_value = "6.12")]
        kernel: Flavor,
        /// Hard limit for the boot
        #[arg(long, value_name = "SECS", value_parser = secs, default_value = "300")]
        timeout: Duration,
    },
    /// Write the man pages and shell completions from the option table and
    /// the subcommands' clap models
    Codegen {
        /// Fail if the committed ones are stale instead
        #[arg(long)]
        check: bool,
    },
    /// Build the Debian package with cargo-deb and the RPM with
    /// cargo-generate-rpm
    Package {
        /// Also check their contents and install them into scratch roots
        #[arg(long)]
        check: bool,
    },
    /// The .deb on a Debian 12 system with systemd in the VM, across a real
    /// reboot (as root)
    RebootTest {
        /// The kernel to boot
        #[arg(long, value_name = "KERNEL", value_parser = kernel_parser(), default_value = "6.1")]
        kernel: Flavor,
        /// Hard limit for the whole test
        #[arg(long, value_name = "SECS", value_parser = secs, default_value = "1200")]
        timeout: Duration,
    },
    /// Download and unpack kernels only
    Fetch {
        /// This kernel only (repeatable)
        #[arg(long = "kernel", value_name = "KERNEL", value_parser = kernel_parser(),
              default_values = ["6.1", "6.12"])]
        kernels: Vec<Flavor>,
    },
    /// The host packages each command needs (every command installs its own
    /// when run as root with apt)
    Deps,
    /// Run a command in a fresh clone inside a throwaway Debian 12 minbase
    /// root with only git and Rust (docs/testing.md)
    FreshMachine {
        /// The command to run in the clone
        #[arg(long, value_name = "CMD", default_value = "cargo xtask demo")]
        command: String,
        /// Keep the root afterwards
        #[arg(long)]
        keep: bool,
    },
    /// Record the reference ipvsadm's netlink traffic (strace in the VM) as
    /// wire fixtures
    CaptureWire {
        /// The kernel to boot
        #[arg(long, value_name = "KERNEL", value_parser = kernel_parser(), default_value = "6.12")]
        kernel: Flavor,
        /// Where to write the fixtures (default: tests/wire)
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Hard limit for the boot
        #[arg(long, value_name = "SECS", value_parser = secs, default_value = "900")]
        timeout: Duration,
        /// Only the cases whose name contains FILTER
        #[arg(value_name = "FILTER")]
        filter: Option<String>,
    },
    /// Run each cargo-fuzz target (or one) for a while; fails on a crash, a
    /// hang or a memory blow-up (needs nightly and cargo-fuzz)
    Fuzz {
        /// Seconds per target
        #[arg(long = "seconds", value_name = "N", value_parser = secs, default_value = "60")]
        seconds: Duration,
        /// Parallel fuzzing jobs per target
        #[arg(long, value_name = "N", default_value = "1", value_parser = positive_u32)]
        jobs: u32,
        /// Only this target
        #[arg(value_name = "TARGET")]
        target: Option<String>,
    },
    /// Rebuild fuzz/seeds/ from tests/wire and tests/scenarios
    FuzzSeeds,
    /// ipvsadm and ipvsadm-rs timed side by side in one VM boot per kernel
    Bench {
        /// Boot this kernel (repeatable)
        #[arg(long = "kernel", value_name = "KERNEL", value_parser = kernel_parser(),
              default_values = ["6.1"])]
        kernels: Vec<Flavor>,
        #[command(flatten)]
        guest: GuestOptions,
        /// Hard limit for one boot
        #[arg(long, value_name = "SECS", value_parser = secs, default_value = "3600")]
        timeout: Duration,
        /// Time this ipvsadm-rs build instead of target/shipped's (to
        /// evaluate a variant)
        #[arg(long, value_name = "FILE")]
        candidate: Option<PathBuf>,
        /// Run this shell script in the bench VM instead (investigations;
        /// the ipvs-bench helper is on PATH)
        #[arg(long, value_name = "TEXT")]
        script: Option<String>,
        /// With --script: also copy this host program into /usr/local/sbin
        /// (repeatable)
        #[arg(long = "with", value_name = "FILE")]
        with: Vec<PathBuf>,
    },
    /// Trace the ipvsadm commands in the VM and rewrite link/hot-code.ld, the
    /// order of the code they run in the shipped binaries
    HotCode {
        /// The kernel to boot
        #[arg(long, value_name = "KERNEL", value_parser = kernel_parser(), default_value = "6.1")]
        kernel: Flavor,
        /// Hard limit for the boot
        #[arg(long, value_name = "SECS", value_parser = secs, default_value = "600")]
        timeout: Duration,
        /// Only check target/shipped/ipvsadm-rs against the script (its
        /// .text.hot section, and how many of the functions it names are
        /// still found); no VM. `cargo xtask package --check` runs this too
        #[arg(long)]
        check: bool,
    },
    // The rest runs inside the VM (this binary is /testbed/agent there).
    /// In the VM: the whole test run, reported on PATH (xtask/assets/init.sh)
    #[command(hide = true)]
    Agent {
        /// The report channel
        #[arg(long, value_name = "PATH")]
        report: PathBuf,
    },
    /// In the VM: load the IPVS modules, saying what failed
    #[command(hide = true)]
    LoadModules,
    /// In the VM: the benchmark itself (`bench::GuestOptions::to_args`)
    #[command(hide = true)]
    BenchGuest {
        #[command(flatten)]
        guest: GuestOptions,
    },
    /// In the VM: one side of a scenario (`agent::run_scenario`)
    #[command(hide = true)]
    Side {
        /// The scenario file
        scenario: PathBuf,
        /// The directory of the side's ipvsadm programs
        side_dir: PathBuf,
        /// Where to write the outcomes
        out: PathBuf,
        /// Limit for each command, in seconds
        #[arg(value_name = "TIMEOUT_SECS", value_parser = secs)]
        timeout: Duration,
    },
}

/// `--kernel`: one of [`kernel::FLAVORS`] (clap lists them on an error).
fn kernel_parser() -> impl TypedValueParser<Value = Flavor> {
    PossibleValuesParser::new(kernel::FLAVORS.map(|f| f.label))
        .try_map(|label| kernel::flavor(&label).ok_or_else(|| format!("unknown kernel {label}")))
}

/// A number of seconds.
fn secs(v: &str) -> Result<Duration, String> {
    v.parse()
        .map(Duration::from_secs)
        .map_err(|_| format!("not a number of seconds: {v}"))
}

/// A positive count.
pub fn positive(v: &str) -> Result<usize, String> {
    v.parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("not a positive number: {v}"))
}

/// A positive count that fits a `u32`.
fn positive_u32(v: &str) -> Result<u32, String> {
    v.parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("not a positive number: {v}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Command, clap::Error> {
        Cli::try_parse_from(std::iter::once("xtask").chain(args.iter().copied())).map(|c| c.command)
    }

    fn ok(args: &[&str]) -> Command {
        match parse(args) {
            Ok(c) => c,
            Err(e) => panic!("{args:?}: {e}"),
        }
    }

    #[test]
    fn the_model_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn test_defaults() {
        let Command::Test {
            kernels,
            filter,
            filter_arg,
            no_host,
            reference,
            show,
            timeout,
            cpus,
        } = ok(&["test"])
        else {
            panic!("not test")
        };
        assert_eq!(kernels, kernel::FLAVORS.to_vec());
        assert_eq!((filter, filter_arg), (None, None));
        assert!(!no_host && !reference && !show);
        assert_eq!(timeout, None);
        assert_eq!(cpus, 2);
    }

    #[test]
    fn test_options() {
        let Command::Test {
            kernels,
            filter_arg,
            no_host,
            timeout,
            cpus,
            ..
        } = ok(&[
            "test",
            "--no-host",
            "--kernel",
            "6.12",
            "--timeout",
            "90",
            "--cpus",
            "1",
            "smoke",
        ])
        else {
            panic!("not test")
        };
        assert_eq!(kernels, vec![kernel::FLAVORS[1]]);
        assert_eq!(filter_arg.as_deref(), Some("smoke"));
        assert!(no_host);
        assert_eq!(timeout, Some(Duration::from_secs(90)));
        assert_eq!(cpus, 1);
        // --filter and FILTER are one thing: not both.
        let e = parse(&["test", "--filter", "a", "b"]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ArgumentConflict);
        assert!(parse(&["test", "--cpus", "0"]).is_err());
    }

    #[test]
    fn repeated_kernels_replace_the_default() {
        let Command::Test { kernels, .. } = ok(&["test", "--kernel", "6.12", "--kernel", "6.1"])
        else {
            panic!("not test")
        };
        assert_eq!(kernels, vec![kernel::FLAVORS[1], kernel::FLAVORS[0]]);
        let Command::Bench { kernels, .. } = ok(&["bench", "--kernel", "6.12", "--kernel", "6.1"])
        else {
            panic!("not bench")
        };
        assert_eq!(kernels, vec![kernel::FLAVORS[1], kernel::FLAVORS[0]]);
    }

    #[test]
    fn a_bad_kernel_lists_the_known_ones() {
        for cmd in [
            "test",
            "bench",
            "vm",
            "demo",
            "hot-code",
            "reboot-test",
            "fetch",
        ] {
            let e = parse(&[cmd, "--kernel", "5.10"]).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidValue, "{cmd}");
            let text = e.to_string();
            assert!(text.contains("5.10"), "{cmd}: {text}");
            assert!(text.contains("6.1, 6.12"), "{cmd}: {text}");
        }
    }

    #[test]
    fn unknown_options_and_commands_are_errors() {
        for args in [
            &["test", "--frobnicate"][..],
            &["bench", "--reps"],
            &["bench", "--reps", "0"],
            &["bench", "--scale", "1,x"],
            &["hot-code", "extra"],
            &["codegen", "--chek"],
            &["vm", "ls"],
            &["nonsense"],
            &["side", "a", "b", "c"],
            &["agent"],
        ] {
            let e = parse(args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}");
        }
        // No command at all: the help, as a usage error.
        let e = parse(&[]).unwrap_err();
        assert_eq!(
            e.kind(),
            ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        );
    }

    #[test]
    fn bench_defaults() {
        let Command::Bench {
            kernels,
            guest,
            timeout,
            candidate,
            script,
            with,
        } = ok(&["bench"])
        else {
            panic!("not bench")
        };
        assert_eq!(kernels, vec![kernel::FLAVORS[0]]);
        assert_eq!(guest, GuestOptions::default());
        assert_eq!(guest.reps, 5);
        assert_eq!(guest.services, 2000);
        assert_eq!(guest.singles, 100);
        assert_eq!(guest.scale, vec![1000, 2000, 4000]);
        assert_eq!(guest.scale_reps, 3);
        assert_eq!(timeout, Duration::from_secs(3600));
        assert_eq!((candidate, script), (None, None));
        assert!(with.is_empty());
    }

    #[test]
    fn bench_options_reach_the_guest_unchanged() {
        let Command::Bench {
            guest,
            script,
            with,
            ..
        } = ok(&[
            "bench",
            "--reps",
            "2",
            "--services",
            "30",
            "--singles",
            "4",
            "--scale",
            "none",
            "--scale-reps",
            "1",
            "--script",
            "ipvs-bench run -- /bin/true",
            "--with",
            "/bin/a",
            "--with",
            "/bin/b",
        ])
        else {
            panic!("not bench")
        };
        assert_eq!(
            guest,
            GuestOptions {
                reps: 2,
                services: 30,
                singles: 4,
                scale: Vec::new(),
                scale_reps: 1,
            }
        );
        assert_eq!(script.as_deref(), Some("ipvs-bench run -- /bin/true"));
        assert_eq!(with, vec![PathBuf::from("/bin/a"), PathBuf::from("/bin/b")]);
        // The host writes the guest's command line; the guest reads it back.
        for g in [guest, GuestOptions::default()] {
            let mut argv = vec!["bench-guest".to_string()];
            argv.extend(g.to_args());
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            let Command::BenchGuest { guest: back } = ok(&argv) else {
                panic!("not bench-guest")
            };
            assert_eq!(back, g);
        }
    }

    #[test]
    fn single_kernel_defaults() {
        let Command::HotCode {
            kernel,
            timeout,
            check,
        } = ok(&["hot-code"])
        else {
            panic!("not hot-code")
        };
        assert_eq!(kernel, kernel::FLAVORS[0]);
        assert_eq!(timeout, Duration::from_secs(600));
        assert!(!check);
        let Command::RebootTest { kernel, timeout } = ok(&["reboot-test"]) else {
            panic!("not reboot-test")
        };
        assert_eq!(kernel, kernel::FLAVORS[0]);
        assert_eq!(timeout, Duration::from_secs(1200));
        let Command::Demo { kernel, timeout } = ok(&["demo"]) else {
            panic!("not demo")
        };
        assert_eq!(kernel, kernel::FLAVORS[1]);
        assert_eq!(timeout, Duration::from_secs(300));
        let Command::Vm {
            kernel,
            timeout,
            command,
        } = ok(&["vm"])
        else {
            panic!("not vm")
        };
        assert_eq!(kernel, kernel::FLAVORS[1]);
        assert_eq!(timeout, Duration::from_secs(600));
        assert!(command.is_empty());
        let Command::Vm { command, .. } = ok(&["vm", "--kernel", "6.1", "--", "ip", "-br", "a"])
        else {
            panic!("not vm")
        };
        assert_eq!(command, ["ip", "-br", "a"]);
        let Command::CaptureWire {
            kernel,
            out,
            timeout,
            filter,
        } = ok(&["capture-wire"])
        else {
            panic!("not capture-wire")
        };
        assert_eq!(kernel, kernel::FLAVORS[1]);
        assert_eq!((out, filter), (None, None));
        assert_eq!(timeout, Duration::from_secs(900));
        let Command::Fetch { kernels } = ok(&["fetch"]) else {
            panic!("not fetch")
        };
        assert_eq!(kernels, kernel::FLAVORS.to_vec());
    }

    #[test]
    fn fuzz_and_fresh_machine_defaults() {
        let Command::Fuzz {
            seconds,
            jobs,
            target,
        } = ok(&["fuzz"])
        else {
            panic!("not fuzz")
        };
        assert_eq!(seconds, Duration::from_secs(60));
        assert_eq!(jobs, 1);
        assert_eq!(target, None);
        let Command::Fuzz {
            seconds,
            jobs,
            target,
        } = ok(&["fuzz", "--seconds", "5", "--jobs", "2", "parse"])
        else {
            panic!("not fuzz")
        };
        assert_eq!(seconds, Duration::from_secs(5));
        assert_eq!(jobs, 2);
        assert_eq!(target.as_deref(), Some("parse"));
        let Command::FreshMachine { command, keep } = ok(&["fresh-machine"]) else {
            panic!("not fresh-machine")
        };
        assert_eq!(command, "cargo xtask demo");
        assert!(!keep);
    }

    #[test]
    fn the_commands_ci_and_the_docs_run_parse() {
        let ci = include_str!("../../.ci/run");
        let lines: Vec<&str> = ci
            .lines()
            .filter_map(|l| l.trim().strip_prefix("cargo xtask "))
            .collect();
        assert!(lines.len() >= 6, "{lines:?}");
        for line in lines {
            let args: Vec<&str> = line.split_whitespace().collect();
            ok(&args);
        }
        // As README.md, docs/testing.md and docs/performance.md quote them.
        for args in [
            &[
                "test",
                "--no-host",
                "--kernel",
                "6.12",
                "--filter",
                "reliability",
                "--show",
            ][..],
            &["test", "--reference"],
            &["test", "--filter", "overflowing", "--show"],
            &["fuzz", "--seconds", "600", "wire_decode"],
            &["fresh-machine", "--command", "cargo xtask test"],
            &["bench", "--kernel", "6.1", "--kernel", "6.12"],
            &[
                "bench",
                "--kernel",
                "6.1",
                "--script",
                "ipvs-bench run -- /bin/true",
            ],
            &["vm", "--", "ipvsadm", "-Ln"],
            &["capture-wire", "--kernel", "6.1", "dest"],
            &["package", "--check"],
            &["fetch"],
            &["deps"],
            &["fuzz-seeds"],
            &["help", "test"],
        ] {
            // `help` prints and exits: a "display" error, not a usage one.
            match parse(args) {
                Ok(_) => {}
                Err(e) => assert_eq!(e.kind(), ErrorKind::DisplayHelp, "{args:?}: {e}"),
            }
        }
    }

    #[test]
    fn the_in_vm_command_lines() {
        // As xtask/assets/init.sh and agent::run_scenario write them.
        let Command::Agent { report } = ok(&["agent", "--report", "/dev/ttyS1"]) else {
            panic!("not agent")
        };
        assert_eq!(report, PathBuf::from("/dev/ttyS1"));
        assert!(matches!(ok(&["load-modules"]), Command::LoadModules));
        let Command::Side {
            scenario,
            side_dir,
            out,
            timeout,
        } = ok(&[
            "side",
            "/testbed/scenarios/a.txt",
            "/testbed/side/ref",
            "/tmp/scenario-1.ref",
            "30",
        ])
        else {
            panic!("not side")
        };
        assert_eq!(scenario, PathBuf::from("/testbed/scenarios/a.txt"));
        assert_eq!(side_dir, PathBuf::from("/testbed/side/ref"));
        assert_eq!(out, PathBuf::from("/tmp/scenario-1.ref"));
        assert_eq!(timeout, Duration::from_secs(30));
        // Hidden from the help, still there.
        let help = Cli::command().render_help().to_string();
        for hidden in ["agent", "load-modules", "bench-guest", "side"] {
            assert!(
                !help.lines().any(|l| l.trim_start().starts_with(hidden)),
                "{hidden} shown"
            );
        }
        assert!(help.contains("hot-code"));
    }
}
