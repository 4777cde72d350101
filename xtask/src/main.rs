//! Project tooling, run as `cargo xtask <command>`.
//!
//! The main job is the kernel test bed (docs/testing.md): this machine's
//! kernel has no IPVS, so `cargo xtask test` boots real Debian kernels under
//! qemu and runs the kernel tests and the differential scenarios inside. The
//! same binary is copied into the VM and acts as the in-VM agent there.

mod agent;
mod bench;
mod capture;
mod cargo;
mod codegen;
mod demo;
mod diff;
mod fresh;
mod fuzz;
mod hostdeps;
mod hot_code;
mod initramfs;
mod kernel;
mod layout;
mod package;
mod protocol;
mod qemu;
mod reboot_test;
mod scenario;
mod suite;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};

const USAGE: &str = "\
usage:
  cargo xtask test [OPTIONS] [FILTER]   host unit tests, then every kernel
                                        test and scenario on each kernel
      --kernel 6.1|6.12   boot only this kernel (repeatable; default: both)
      --filter TEXT       only VM tests whose name contains TEXT (= FILTER)
      --no-host           skip `cargo test --workspace`
      --reference         the reference plays every candidate role
      --show              also print outputs of passing tests and the
                          reference transcript of each scenario
      --timeout SECS      hard limit for one boot (default: 300 s plus
                          30 s per test booted)
      --cpus N            guest CPUs (default 2; 1 runs scenario sides serially)
  cargo xtask vm [--kernel 6.1|6.12] [--timeout SECS] [-- COMMAND...]
                                        shell (or one command) in the VM
  cargo xtask demo [--kernel 6.1|6.12] [--timeout SECS]
                                        LVS direct routing end to end in the
                                        VM: a client, a director and two real
                                        servers, driven by ipvsadm-rs, each
                                        step explained (default kernel 6.12)
  cargo xtask codegen [--check]         write the man pages and shell
                                        completions from the option table
                                        and the subcommands' clap models
                                        (--check: fail if the committed
                                        ones are stale)
  cargo xtask package [--check]         build the Debian package with
                                        cargo-deb and the RPM with
                                        cargo-generate-rpm (--check: also
                                        check their contents and install
                                        them into scratch roots)
  cargo xtask reboot-test [--kernel 6.1|6.12] [--timeout SECS]
                                        the .deb on a Debian 12 system with
                                        systemd in the VM, across a real
                                        reboot (as root; default kernel 6.1,
                                        limit 1200 s)
  cargo xtask fetch [--kernel 6.1|6.12] download and unpack kernels only
  cargo xtask deps                      the host packages each command needs
                                        (every command installs its own when
                                        run as root with apt)
  cargo xtask fresh-machine [--command CMD] [--keep]
                                        run CMD (default `cargo xtask demo`)
                                        in a fresh clone inside a throwaway
                                        Debian 12 minbase root with only git
                                        and Rust (docs/testing.md)
  cargo xtask capture-wire [--kernel 6.1|6.12] [--out DIR] [FILTER]
                                        record the reference ipvsadm's netlink
                                        traffic (strace in the VM) as wire
                                        fixtures (default: 6.12, tests/wire)
  cargo xtask fuzz [--seconds N] [--jobs N] [TARGET]
                                        run each cargo-fuzz target (or one)
                                        for N seconds (default 60); fails on
                                        a crash, hang or memory blow-up
                                        (needs nightly and cargo-fuzz)
  cargo xtask fuzz-seeds                rebuild fuzz/seeds/ from tests/wire
                                        and tests/scenarios
  cargo xtask bench [OPTIONS]           ipvsadm and ipvsadm-rs timed side by
                                        side in one VM boot per kernel
      --kernel 6.1|6.12   (repeatable; default: 6.1)
      --reps N            repetitions of each measurement (default 5)
      --services N        services of the main table, 10 destinations
                          each (default 2000)
      --singles N         single -A invocations in the loop (default 100)
      --scale A,B,..|none service counts of the scaling series
                          (default 1000,2000,4000)
      --scale-reps N      repetitions in the scaling series (default 3)
      --timeout SECS      hard limit for one boot (default 3600)
      --candidate FILE    time this ipvsadm-rs build instead of
                          target/shipped's (to evaluate a variant)
      --script TEXT       run this shell script in the bench VM instead
                          (investigations; ipvs-bench helper on PATH)
      --with FILE         with --script: also copy this host program into
                          /usr/local/sbin (repeatable)
  cargo xtask hot-code [--kernel 6.1|6.12] [--timeout SECS]
                                        trace the ipvsadm commands in the VM
                                        and rewrite link/hot-code.ld, the
                                        order of the code they run in the
                                        shipped binaries (default 6.1)

Candidates for the differential runner come from IPVSADM_UNDER_TEST,
IPVSADM_SAVE_UNDER_TEST, IPVSADM_RESTORE_UNDER_TEST: unset = the project's
static release binary in target/shipped, `ref` = the reference, anything else = a host path.";

fn main() -> ExitCode {
    match real_main() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            // What the preflight could not provide: nothing was started.
            if e.downcast_ref::<hostdeps::Missing>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn value(args: &mut impl Iterator<Item = String>, opt: &str) -> Result<String> {
    args.next()
        .with_context(|| format!("{opt} needs a value\n\n{USAGE}"))
}

fn parse_secs(v: &str, opt: &str) -> Result<Duration> {
    let n: u64 = v
        .parse()
        .with_context(|| format!("{opt}: not a number of seconds: {v}"))?;
    Ok(Duration::from_secs(n))
}

fn flavor(v: &str) -> Result<kernel::Flavor> {
    kernel::flavor(v).with_context(|| {
        let known: Vec<&str> = kernel::FLAVORS.iter().map(|f| f.label).collect();
        format!("unknown kernel {v} (known: {})", known.join(", "))
    })
}

fn real_main() -> Result<bool> {
    let mut args = std::env::args().skip(1);
    let Some(cmd) = args.next() else {
        println!("{USAGE}");
        return Ok(false);
    };
    match cmd.as_str() {
        "test" => {
            let mut opts = suite::TestOptions {
                kernels: Vec::new(),
                filter: None,
                host: true,
                show: false,
                boot_timeout: None,
                cmd_timeout: Duration::from_secs(30),
                test_timeout: Duration::from_secs(300),
                cpus: 2,
                reference: false,
            };
            while let Some(a) = args.next() {
                match a.as_str() {
                    "--kernel" => opts.kernels.push(flavor(&value(&mut args, &a)?)?),
                    "--filter" => opts.filter = Some(value(&mut args, &a)?),
                    "--no-host" => opts.host = false,
                    "--reference" => opts.reference = true,
                    "--show" => opts.show = true,
                    "--timeout" => {
                        opts.boot_timeout = Some(parse_secs(&value(&mut args, &a)?, &a)?)
                    }
                    "--cpus" => {
                        let v = value(&mut args, &a)?;
                        opts.cpus = v
                            .parse()
                            .ok()
                            .filter(|n| *n >= 1)
                            .with_context(|| format!("--cpus: not a positive number: {v}"))?;
                    }
                    "-h" | "--help" => {
                        println!("{USAGE}");
                        return Ok(true);
                    }
                    f if !f.starts_with('-') && opts.filter.is_none() => {
                        opts.filter = Some(f.to_string())
                    }
                    other => bail!("unexpected argument {other}\n\n{USAGE}"),
                }
            }
            if opts.kernels.is_empty() {
                opts.kernels = kernel::FLAVORS.to_vec();
            }
            let mut jobs = vec![hostdeps::Job::Kernel, hostdeps::Job::Vm];
            if opts.host {
                jobs.push(hostdeps::Job::HostTests);
            }
            hostdeps::ensure("test", &jobs)?;
            suite::test(&opts)
        }
        "vm" => {
            let mut opts = suite::VmOptions {
                kernel: kernel::FLAVORS[1],
                command: None,
                timeout: Duration::from_secs(600),
            };
            while let Some(a) = args.next() {
                match a.as_str() {
                    "--kernel" => opts.kernel = flavor(&value(&mut args, &a)?)?,
                    "--timeout" => opts.timeout = parse_secs(&value(&mut args, &a)?, &a)?,
                    "--" => {
                        let rest: Vec<String> = args.by_ref().collect();
                        if !rest.is_empty() {
                            opts.command = Some(rest.join(" "));
                        }
                    }
                    other => bail!("unexpected argument {other}\n\n{USAGE}"),
                }
            }
            hostdeps::ensure("vm", &[hostdeps::Job::Kernel, hostdeps::Job::Vm])?;
            suite::vm(&opts)
        }
        "demo" => {
            let mut opts = demo::DemoOptions {
                kernel: kernel::FLAVORS[1],
                timeout: Duration::from_secs(300),
            };
            while let Some(a) = args.next() {
                match a.as_str() {
                    "--kernel" => opts.kernel = flavor(&value(&mut args, &a)?)?,
                    "--timeout" => opts.timeout = parse_secs(&value(&mut args, &a)?, &a)?,
                    "-h" | "--help" => {
                        println!("{USAGE}");
                        return Ok(true);
                    }
                    other => bail!("unexpected argument {other}\n\n{USAGE}"),
                }
            }
            hostdeps::ensure("demo", &[hostdeps::Job::Kernel, hostdeps::Job::Vm])?;
            demo::run(&opts)
        }
        "codegen" => {
            let mut check = false;
            for a in args {
                match a.as_str() {
                    "--check" => check = true,
                    other => bail!("unexpected argument {other}\n\n{USAGE}"),
                }
            }
            codegen::run(&suite::workspace_root(), check)
        }
        "package" => {
            let mut check = false;
            for a in args {
                match a.as_str() {
                    "--check" => check = true,
                    other => bail!("unexpected argument {other}\n\n{USAGE}"),
                }
            }
            hostdeps::ensure("package", &[hostdeps::Job::Package])?;
            package::run(&suite::workspace_root(), check)
        }
        "reboot-test" => {
            let mut opts = reboot_test::Options {
                kernel: kernel::FLAVORS[0],
                timeout: Duration::from_secs(1200),
            };
            while let Some(a) = args.next() {
                match a.as_str() {
                    "--kernel" => opts.kernel = flavor(&value(&mut args, &a)?)?,
                    "--timeout" => opts.timeout = parse_secs(&value(&mut args, &a)?, &a)?,
                    "-h" | "--help" => {
                        println!("{USAGE}");
                        return Ok(true);
                    }
                    other => bail!("unexpected argument {other}\n\n{USAGE}"),
                }
            }
            hostdeps::ensure(
                "reboot-test",
                &[hostdeps::Job::Kernel, hostdeps::Job::Reboot],
            )?;
            reboot_test::run_test(&suite::workspace_root(), &opts)
        }
        "fetch" => {
            let mut kernels = Vec::new();
            while let Some(a) = args.next() {
                match a.as_str() {
                    "--kernel" => kernels.push(flavor(&value(&mut args, &a)?)?),
                    other => bail!("unexpected argument {other}\n\n{USAGE}"),
                }
            }
            if kernels.is_empty() {
                kernels = kernel::FLAVORS.to_vec();
            }
            hostdeps::ensure("fetch", &[hostdeps::Job::Kernel])?;
            let cache = suite::workspace_root().join("target/testbed");
            for f in kernels {
                let k = kernel::prepare(f, &cache)?;
                println!("{}: {} ({})", f.label, k.package, k.vmlinuz.display());
            }
            Ok(true)
        }
        "fuzz" => {
            let mut opts = fuzz::FuzzOptions {
                seconds: Duration::from_secs(60),
                target: None,
                jobs: 1,
            };
            while let Some(a) = args.next() {
                match a.as_str() {
                    "--seconds" => opts.seconds = parse_secs(&value(&mut args, &a)?, &a)?,
                    "--jobs" => {
                        let v = value(&mut args, &a)?;
                        opts.jobs = v
                            .parse()
                            .ok()
                            .filter(|n| *n >= 1)
                            .with_context(|| format!("--jobs: not a positive number: {v}"))?;
                    }
                    "-h" | "--help" => {
                        println!("{USAGE}");
                        return Ok(true);
                    }
                    t if !t.starts_with('-') && opts.target.is_none() => {
                        opts.target = Some(t.to_string())
                    }
                    other => bail!("unexpected argument {other}\n\n{USAGE}"),
                }
            }
            hostdeps::ensure("fuzz", &[hostdeps::Job::Fuzz])?;
            fuzz::run(&suite::workspace_root(), &opts)
        }
        "deps" => Ok(hostdeps::print_table()),
        "fresh-machine" => {
            let mut opts = fresh::FreshOptions {
                command: "cargo xtask demo".into(),
                keep: false,
            };
            while let Some(a) = args.next() {
                match a.as_str() {
                    "--command" => opts.command = value(&mut args, &a)?,
                    "--keep" => opts.keep = true,
                    other => bail!("unexpected argument {other}\n\n{USAGE}"),
                }
            }
            hostdeps::ensure("fresh-machine", &[hostdeps::Job::FreshRoot])?;
            fresh::run_fresh(&suite::workspace_root(), &opts)
        }
        "fuzz-seeds" => fuzz::write_seeds(&suite::workspace_root()),
        "capture-wire" => {
            let mut opts = capture::CaptureOptions {
                kernel: kernel::FLAVORS[1],
                out: suite::workspace_root().join("tests/wire"),
                filter: None,
                timeout: Duration::from_secs(900),
            };
            while let Some(a) = args.next() {
                match a.as_str() {
                    "--kernel" => opts.kernel = flavor(&value(&mut args, &a)?)?,
                    "--out" => opts.out = std::path::absolute(value(&mut args, &a)?)?,
                    "--timeout" => opts.timeout = parse_secs(&value(&mut args, &a)?, &a)?,
                    f if !f.starts_with('-') && opts.filter.is_none() => {
                        opts.filter = Some(f.to_string())
                    }
                    other => bail!("unexpected argument {other}\n\n{USAGE}"),
                }
            }
            hostdeps::ensure(
                "capture-wire",
                &[
                    hostdeps::Job::Kernel,
                    hostdeps::Job::Vm,
                    hostdeps::Job::Capture,
                ],
            )?;
            capture::run(&opts)
        }
        "bench" => {
            let mut opts = bench::BenchOptions {
                kernels: Vec::new(),
                guest: bench::GuestOptions::default(),
                timeout: Duration::from_secs(3600),
                script: None,
                extra: Vec::new(),
                candidate: None,
            };
            while let Some(a) = args.next() {
                match a.as_str() {
                    "--kernel" => opts.kernels.push(flavor(&value(&mut args, &a)?)?),
                    "--timeout" => opts.timeout = parse_secs(&value(&mut args, &a)?, &a)?,
                    "--script" => opts.script = Some(value(&mut args, &a)?),
                    "--with" => opts.extra.push(PathBuf::from(value(&mut args, &a)?)),
                    "--candidate" => opts.candidate = Some(PathBuf::from(value(&mut args, &a)?)),
                    "-h" | "--help" => {
                        println!("{USAGE}");
                        return Ok(true);
                    }
                    _ => {
                        let v = value(&mut args, &a)?;
                        opts.guest.set(&a, &v)?;
                    }
                }
            }
            if opts.kernels.is_empty() {
                opts.kernels = vec![kernel::FLAVORS[0]];
            }
            hostdeps::ensure("bench", &[hostdeps::Job::Kernel, hostdeps::Job::Vm])?;
            bench::bench(&opts)
        }
        "hot-code" => {
            let mut kernel = kernel::FLAVORS[0];
            let mut timeout = Duration::from_secs(600);
            while let Some(a) = args.next() {
                match a.as_str() {
                    "--kernel" => kernel = flavor(&value(&mut args, &a)?)?,
                    "--timeout" => timeout = parse_secs(&value(&mut args, &a)?, &a)?,
                    other => bail!("unexpected argument {other}\n\n{USAGE}"),
                }
            }
            hostdeps::ensure("hot-code", &[hostdeps::Job::Kernel, hostdeps::Job::Vm])?;
            hot_code::run(&suite::workspace_root(), kernel, timeout)
        }
        // The rest runs inside the VM.
        "agent" => {
            let (Some(flag), Some(path)) = (args.next(), args.next()) else {
                bail!("usage: agent --report PATH");
            };
            if flag != "--report" {
                bail!("usage: agent --report PATH");
            }
            agent::run(&PathBuf::from(path))?;
            Ok(true)
        }
        "load-modules" => {
            agent::load_modules_verbose()?;
            Ok(true)
        }
        "bench-guest" => {
            let rest: Vec<String> = args.collect();
            bench::guest(&rest)?;
            Ok(true)
        }
        "side" => {
            let rest: Vec<String> = args.collect();
            let [scenario, side, out, timeout] = rest.as_slice() else {
                bail!("usage: side SCENARIO SIDE_DIR OUT TIMEOUT_SECS");
            };
            agent::run_side(
                &PathBuf::from(scenario),
                &PathBuf::from(side),
                &PathBuf::from(out),
                parse_secs(timeout, "timeout")?,
            )?;
            Ok(true)
        }
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            Ok(true)
        }
        other => bail!("unknown command {other}\n\n{USAGE}"),
    }
}
