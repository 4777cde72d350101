//! What makes ipvsadm-rs installable like a system tool, checked on the
//! host: the systemd unit (`systemd-analyze verify` and what its start and
//! stop commands do), and drop-in mode (the binaries linked under
//! ipvsadm's names behave as those programs and name themselves so).
//! The Debian package itself is checked by `cargo xtask package --check`.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const UNIT: &str = "packaging/ipvsadm-rs.service";
const REALSERVER_UNIT: &str = "packaging/ipvsadm-rs-realserver.service";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ipvsadm-rs-pkg-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn in_ci() -> bool {
    std::env::var_os("CI").is_some()
}

#[test]
fn unit_verifies_clean() {
    let Ok(out) = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(root().join(UNIT))
        .arg(root().join(REALSERVER_UNIT))
        .output()
    else {
        assert!(
            !in_ci(),
            "systemd-analyze is missing: .ci/run must install systemd"
        );
        eprintln!("note: systemd-analyze not installed; the unit was not verified");
        return;
    };
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "verify failed: {err}");
    assert!(err.trim().is_empty(), "verify warns:\n{err}");
}

/// The unit's settings, `(key, value)` in order.
fn unit_settings() -> Vec<(String, String)> {
    settings_of(UNIT)
}

/// A unit's settings, `(key, value)` in order.
fn settings_of(unit: &str) -> Vec<(String, String)> {
    std::fs::read_to_string(root().join(unit))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn unit_is_a_oneshot_that_restores_and_saves() {
    let s = unit_settings();
    let get = |k: &str| -> Vec<&str> {
        s.iter()
            .filter(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    assert_eq!(get("Type"), ["oneshot"]);
    assert_eq!(get("RemainAfterExit"), ["yes"]);
    // After ipvsadm's own unit, so that at shutdown this one saves the
    // table before that one can flush it.
    assert_eq!(get("After"), ["network.target ipvsadm.service"]);
    assert!(get("Environment")
        .iter()
        .any(|e| e.contains("IPVSADM_RULES=/etc/ipvsadm.rules")));
    assert_eq!(
        get("EnvironmentFile"),
        ["-/etc/default/ipvsadm-rs", "-/etc/sysconfig/ipvsadm-rs"]
    );
    assert!(get("ExecStart")
        .iter()
        .any(|e| e.contains("/usr/sbin/ipvsadm-rs-restore")));
    assert!(get("ExecStop")
        .iter()
        .any(|e| e.contains("/usr/sbin/ipvsadm-rs-save -n")));
    assert_eq!(get("WantedBy"), ["multi-user.target"]);
    // The default file sets the same variables.
    let default = std::fs::read_to_string(root().join("packaging/ipvsadm-rs.default")).unwrap();
    assert!(default.contains("\nIPVSADM_RULES=/etc/ipvsadm.rules\n"));
    assert!(default.contains("\nIPVSADM_SAVE_ON_STOP=yes\n"));
    // The RPM's settings name the file Red Hat's ipvsadm-save writes.
    let sysconfig = std::fs::read_to_string(root().join("packaging/ipvsadm-rs.sysconfig")).unwrap();
    assert!(sysconfig.contains("\nIPVSADM_RULES=/etc/sysconfig/ipvsadm\n"));
    assert!(sysconfig.contains("\nIPVSADM_SAVE_ON_STOP=yes\n"));
}

#[test]
fn realserver_unit_applies_after_the_network_and_undoes_on_stop() {
    let s = settings_of(REALSERVER_UNIT);
    let get = |k: &str| -> Vec<&str> {
        s.iter()
            .filter(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    assert_eq!(get("Type"), ["oneshot"]);
    assert_eq!(get("RemainAfterExit"), ["yes"]);
    assert_eq!(get("Wants"), ["network-online.target"]);
    assert_eq!(get("After"), ["network-online.target"]);
    assert_eq!(
        get("EnvironmentFile"),
        [
            "-/etc/default/ipvsadm-rs-realserver",
            "-/etc/sysconfig/ipvsadm-rs-realserver"
        ]
    );
    assert_eq!(get("WantedBy"), ["multi-user.target"]);
    // No state file option: apply and undo share the default one in /run,
    // which the unit rebuilds at every boot.
    for k in ["ExecStart", "ExecStop"] {
        assert!(!get(k).iter().any(|e| e.contains("--state")), "{k}");
    }
    // Its settings file ships with no VIP: the unit does nothing until
    // configured.
    let default =
        std::fs::read_to_string(root().join("packaging/ipvsadm-rs-realserver.default")).unwrap();
    assert!(default.contains("\nREALSERVER_VIPS=\n"), "{default}");
    assert!(default.contains("\nREALSERVER_MODE=dr\n"), "{default}");
}

/// Runs a `/bin/sh -c '...'` command line of `unit` with `/usr/sbin/`
/// programs taken from `dir` and the given environment.
fn run_unit_exec(unit: &str, key: &str, dir: &Path, env: &[(&str, &str)]) -> Output {
    let line = settings_of(unit)
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .unwrap();
    let script = line
        .strip_prefix("/bin/sh -c '")
        .and_then(|s| s.strip_suffix('\''))
        .expect("the command is /bin/sh -c '...'")
        .replace("/usr/sbin/", &format!("{}/", dir.display()));
    Command::new("/bin/sh")
        .args(["-c", &script])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

#[test]
fn realserver_unit_passes_each_vip_and_refuses_none() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("rsunit");
    let argv = dir.join("argv");
    let fake = dir.join("ipvsadm-rs");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > {}\n",
            argv.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let args = || std::fs::read_to_string(&argv).unwrap();

    // Spaces, commas and a glob character are all just separators or text.
    let out = run_unit_exec(
        REALSERVER_UNIT,
        "ExecStart",
        &dir,
        &[
            ("REALSERVER_VIPS", " 192.168.10.1, 2001:db8::10 *"),
            ("REALSERVER_MODE", "tun"),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        args(),
        "realserver\napply\n--mode\ntun\n--vip\n192.168.10.1\n--vip\n2001:db8::10\n--vip\n*\n"
    );

    // No VIPs: the unit fails, naming the setting, and runs nothing.
    std::fs::remove_file(&argv).unwrap();
    for vips in ["", " , "] {
        let out = run_unit_exec(
            REALSERVER_UNIT,
            "ExecStart",
            &dir,
            &[("REALSERVER_VIPS", vips), ("REALSERVER_MODE", "dr")],
        );
        assert_eq!(out.status.code(), Some(2), "{vips:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("set REALSERVER_VIPS in"),
            "{out:?}"
        );
        assert!(!argv.exists());
    }

    let out = run_unit_exec(REALSERVER_UNIT, "ExecStop", &dir, &[]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(args(), "realserver\nundo\n");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs the unit's `ExecStart` or `ExecStop` (`/bin/sh -c '...'`) with
/// the programs it calls replaced by fakes in `dir`.
fn run_exec(key: &str, dir: &Path, rules: &Path, save: &str) -> Output {
    let line = unit_settings()
        .into_iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .unwrap();
    let script = line
        .strip_prefix("/bin/sh -c '")
        .and_then(|s| s.strip_suffix('\''))
        .expect("ExecStart/ExecStop is /bin/sh -c '...'")
        .replace("/usr/sbin/", &format!("{}/", dir.display()));
    Command::new("/bin/sh")
        .args(["-c", &script])
        .env("IPVSADM_RULES", rules)
        .env("IPVSADM_SAVE_ON_STOP", save)
        .output()
        .unwrap()
}

#[test]
fn unit_commands_handle_missing_files_and_save_atomically() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch("unit");
    let fake = |name: &str, body: &str| {
        let p = dir.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    fake(
        "ipvsadm-rs-restore",
        &format!("cat > {}/restored", dir.display()),
    );
    // The fake kernel table holds one service while the file `live` exists.
    let live = dir.join("live");
    fake(
        "ipvsadm-rs-save",
        &format!(
            "if [ -e {} ]; then echo \"-A -t 10.0.0.1:80 -s rr $1\"; fi",
            live.display()
        ),
    );
    let rules = dir.join("rules");
    // No rules file: nothing restored, success.
    let out = run_exec("ExecStart", &dir, &rules, "yes");
    assert!(out.status.success());
    assert!(!dir.join("restored").exists());
    // Stop saves (numeric) into the file.
    std::fs::write(&live, "").unwrap();
    let out = run_exec("ExecStop", &dir, &rules, "yes");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&rules).unwrap(),
        "-A -t 10.0.0.1:80 -s rr -n\n"
    );
    // A start on a live table (a director taken over, or a restart) keeps
    // it and restores nothing: ipvsadm-rs-restore would flush it first.
    let out = run_exec("ExecStart", &dir, &rules, "yes");
    assert!(out.status.success());
    assert!(!dir.join("restored").exists());
    assert!(String::from_utf8_lossy(&out.stdout).contains("not empty"));
    // Start on an empty table (at boot) restores it.
    std::fs::remove_file(&live).unwrap();
    let out = run_exec("ExecStart", &dir, &rules, "yes");
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_to_string(dir.join("restored")).unwrap(),
        "-A -t 10.0.0.1:80 -s rr -n\n"
    );
    // A failing save keeps the old file; saving can be turned off.
    fake("ipvsadm-rs-save", "echo partial; exit 1");
    let out = run_exec("ExecStop", &dir, &rules, "yes");
    assert!(!out.status.success());
    assert_eq!(
        std::fs::read_to_string(&rules).unwrap(),
        "-A -t 10.0.0.1:80 -s rr -n\n"
    );
    let out = run_exec("ExecStop", &dir, &rules, "no");
    assert!(out.status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Links the three binaries (and `ipvsadm-rs` once more as
/// `ipvsadm-save`'s sibling) under ipvsadm's names in a scratch directory.
fn drop_in_dir(name: &str, from: [&str; 3]) -> PathBuf {
    let dir = scratch(name);
    for (link, target) in ["ipvsadm", "ipvsadm-save", "ipvsadm-restore"]
        .iter()
        .zip(from)
    {
        symlink(target, dir.join(link)).unwrap();
    }
    dir
}

/// Runs `name` from `dir` by its bare name through PATH, as a shell does.
fn run_named(dir: &Path, name: &str, args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let path = format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", dir.display());
    let mut child = Command::new(name)
        .args(args)
        .env_clear()
        .env("PATH", path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

const OURS: [&str; 3] = [
    env!("CARGO_BIN_EXE_ipvsadm-rs"),
    env!("CARGO_BIN_EXE_ipvsadm-rs-save"),
    env!("CARGO_BIN_EXE_ipvsadm-rs-restore"),
];

#[test]
fn linked_as_ipvsadm_it_is_ipvsadm() {
    // Each binary, whatever its own name, follows the name it runs as.
    for (i, from) in [
        OURS,
        [OURS[0], OURS[0], OURS[0]],
        [OURS[2], OURS[1], OURS[2]],
    ]
    .into_iter()
    .enumerate()
    {
        let dir = drop_in_dir(&format!("dropin{i}"), from);
        let out = run_named(&dir, "ipvsadm", &["-h"], "");
        assert_eq!(out.status.code(), Some(0), "set {i}");
        let help = String::from_utf8(out.stdout).unwrap();
        assert!(help.starts_with("ipvsadm v1.31 "), "set {i}: {help}");
        assert!(help.contains("\n  ipvsadm -A|E SERVICE"), "set {i}: {help}");
        assert!(help.contains("`ipvsadm SUBCOMMAND --help'"), "set {i}");
        assert!(!help.contains("ipvsadm-rs"), "set {i}: {help}");

        let out = run_named(&dir, "ipvsadm", &["realserver", "--help"], "");
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains("\nUsage: ipvsadm realserver <COMMAND>\n"),
            "{text}"
        );
        let out = run_named(&dir, "ipvsadm", &["check", "--bogus"], "");
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("error: unexpected argument '--bogus' found")
                && err.contains("\nUsage: ipvsadm check [OPTIONS]\n"),
            "{err}"
        );

        // The save front end's usage text names it as invoked.
        let out = run_named(&dir, "ipvsadm-save", &["-x"], "");
        assert_eq!(out.status.code(), Some(1), "set {i}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "ipvsadm-save: Script to save the IPVS table to stdout.\n   With the -n option, prints out the table in numeric format.\n",
            "set {i}"
        );
        // The restore front end ignores its arguments and reads stdin
        // (`-h` is not help there), like ipvsadm's script.
        let out = run_named(&dir, "ipvsadm-restore", &["-h"], "");
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains("Usage:"),
            "set {i}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn save_usage_matches_the_reference_script() {
    const REF: &str = "/usr/sbin/ipvsadm-save";
    if !Path::new(REF).exists() {
        assert!(!in_ci(), "{REF} is missing: CI installs Debian's ipvsadm");
        return;
    }
    let dir = drop_in_dir("dropin-ref", OURS);
    let ours = run_named(&dir, "ipvsadm-save", &["--bogus"], "");
    let theirs = Command::new(REF).arg("--bogus").output().unwrap();
    assert_eq!(ours.status.code(), theirs.status.code());
    assert_eq!(
        String::from_utf8_lossy(&ours.stderr),
        String::from_utf8_lossy(&theirs.stderr)
    );
    assert_eq!(ours.stdout, theirs.stdout);
    let _ = std::fs::remove_dir_all(&dir);
}
