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
mod cli;
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

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
    match real_main(Cli::parse()) {
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

/// Runs one command: `Ok(false)` when it ran and found something wrong.
fn real_main(cli: Cli) -> Result<bool> {
    match cli.command {
        Command::Test {
            kernels,
            filter,
            filter_arg,
            no_host,
            reference,
            show,
            timeout,
            cpus,
        } => {
            let opts = suite::TestOptions {
                kernels,
                filter: filter.or(filter_arg),
                host: !no_host,
                show,
                boot_timeout: timeout,
                cmd_timeout: Duration::from_secs(30),
                test_timeout: Duration::from_secs(300),
                cpus,
                reference,
            };
            let mut jobs = vec![hostdeps::Job::Kernel, hostdeps::Job::Vm];
            if opts.host {
                jobs.push(hostdeps::Job::HostTests);
            }
            hostdeps::ensure("test", &jobs)?;
            suite::test(&opts)
        }
        Command::Vm {
            kernel,
            timeout,
            command,
        } => {
            let opts = suite::VmOptions {
                kernel,
                command: (!command.is_empty()).then(|| command.join(" ")),
                timeout,
            };
            hostdeps::ensure("vm", &[hostdeps::Job::Kernel, hostdeps::Job::Vm])?;
            suite::vm(&opts)
        }
        Command::Demo { kernel, timeout } => {
            hostdeps::ensure("demo", &[hostdeps::Job::Kernel, hostdeps::Job::Vm])?;
            demo::run(&demo::DemoOptions { kernel, timeout })
        }
        Command::Codegen { check } => codegen::run(&suite::workspace_root(), check),
        Command::Package { check } => {
            hostdeps::ensure("package", &[hostdeps::Job::Package])?;
            package::run(&suite::workspace_root(), check)
        }
        Command::RebootTest { kernel, timeout } => {
            hostdeps::ensure(
                "reboot-test",
                &[hostdeps::Job::Kernel, hostdeps::Job::Reboot],
            )?;
            reboot_test::run_test(
                &suite::workspace_root(),
                &reboot_test::Options { kernel, timeout },
            )
        }
        Command::Fetch { kernels } => {
            hostdeps::ensure("fetch", &[hostdeps::Job::Kernel])?;
            let cache = suite::workspace_root().join("target/testbed");
            for f in kernels {
                let k = kernel::prepare(f, &cache)?;
                println!("{}: {} ({})", f.label, k.package, k.vmlinuz.display());
            }
            Ok(true)
        }
        Command::Fuzz {
            seconds,
            jobs,
            target,
        } => {
            hostdeps::ensure("fuzz", &[hostdeps::Job::Fuzz])?;
            fuzz::run(
                &suite::workspace_root(),
                &fuzz::FuzzOptions {
                    seconds,
                    target,
                    jobs,
                },
            )
        }
        Command::Deps => Ok(hostdeps::print_table()),
        Command::FreshMachine { command, keep } => {
            hostdeps::ensure("fresh-machine", &[hostdeps::Job::FreshRoot])?;
            fresh::run_fresh(
                &suite::workspace_root(),
                &fresh::FreshOptions { command, keep },
            )
        }
        Command::FuzzSeeds => fuzz::write_seeds(&suite::workspace_root()),
        Command::CaptureWire {
            kernel,
            out,
            timeout,
            filter,
        } => {
            let out = match out {
                Some(dir) => std::path::absolute(dir)?,
                None => suite::workspace_root().join("tests/wire"),
            };
            hostdeps::ensure(
                "capture-wire",
                &[
                    hostdeps::Job::Kernel,
                    hostdeps::Job::Vm,
                    hostdeps::Job::Capture,
                ],
            )?;
            capture::run(&capture::CaptureOptions {
                kernel,
                out,
                filter,
                timeout,
            })
        }
        Command::Bench {
            kernels,
            guest,
            timeout,
            candidate,
            script,
            with,
        } => {
            hostdeps::ensure("bench", &[hostdeps::Job::Kernel, hostdeps::Job::Vm])?;
            bench::bench(&bench::BenchOptions {
                kernels,
                guest,
                timeout,
                script,
                extra: with,
                candidate,
            })
        }
        Command::HotCode {
            kernel,
            timeout,
            check,
        } => {
            let root = suite::workspace_root();
            if check {
                crate::cargo::build_release_bins(&root)?;
                return hot_code::check(&root);
            }
            hostdeps::ensure("hot-code", &[hostdeps::Job::Kernel, hostdeps::Job::Vm])?;
            hot_code::run(&root, kernel, timeout)
        }
        // The rest runs inside the VM.
        Command::Agent { report } => {
            agent::run(&report)?;
            Ok(true)
        }
        Command::LoadModules => {
            agent::load_modules_verbose()?;
            Ok(true)
        }
        Command::BenchGuest { guest } => {
            bench::guest(&guest)?;
            Ok(true)
        }
        Command::Side {
            scenario,
            side_dir,
            out,
            timeout,
        } => {
            agent::run_side(&scenario, &side_dir, &out, timeout)?;
            Ok(true)
        }
    }
}
