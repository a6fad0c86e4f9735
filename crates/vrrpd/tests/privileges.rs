//! Least privilege on a real LAN (network namespaces, `vrrp-testlab`): once started, vrrpd
//! keeps exactly the capabilities it needs, in every thread (`/proc/PID/task/*/status`), and
//! still works: Master with its VIP, reload, SIGTERM removes the VIP. Scripts run as another
//! user get no capability; a reload that would need a dropped capability is refused.
//!
//! Needs root; without it every test prints `SKIPPED: ...` (a failure under
//! `VRRPD_LAB_REQUIRED=1`, as in CI). The lab kills the daemons it started and deletes its
//! namespaces on drop, also when a test panics. See docs/reliability.md, "Least privilege".

use std::fs;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use vrrp_testlab::{Daemon, DaemonProc, Lab, Node, require, wait_until};

const STEP: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(50);

// Capability bits (linux/capability.h).
const KILL: u64 = 1 << 5;
const SETGID: u64 = 1 << 6;
const SETUID: u64 = 1 << 7;
const NET_ADMIN: u64 = 1 << 12;
const NET_RAW: u64 = 1 << 13;

fn start_vrrpd(node: &Node, conf: &str) -> DaemonProc {
    let d = Daemon::Vrrpd {
        binary: PathBuf::from(env!("CARGO_BIN_EXE_vrrpd")),
    }
    .start(node, conf)
    .expect("spawn vrrpd");
    d.wait_ready(STEP).expect("vrrpd starts");
    d
}

/// The capability sets of a `/proc/.../status` text, by name (`CapEff`, ...).
fn cap_sets(status: &str) -> Vec<(String, u64)> {
    status
        .lines()
        .filter_map(|l| l.strip_prefix("Cap"))
        .filter_map(|l| l.split_once(':'))
        .filter_map(|(k, v)| Some((format!("Cap{k}"), u64::from_str_radix(v.trim(), 16).ok()?)))
        .collect()
}

/// Asserts that every thread of `pid` has exactly `kept` as its effective, permitted and
/// bounding sets, and empty inheritable and ambient sets.
fn assert_threads_keep(pid: u32, kept: u64) {
    let tasks = fs::read_dir(format!("/proc/{pid}/task")).expect("list the threads");
    let mut seen = 0;
    for task in tasks.flatten() {
        let path = task.path();
        let status = fs::read_to_string(path.join("status")).expect("thread status");
        let name = fs::read_to_string(path.join("comm")).unwrap_or_default();
        assert_sets(&status, kept, kept, &format!("thread {}", name.trim()));
        seen += 1;
    }
    assert!(seen >= 2, "vrrpd should run several threads, saw {seen}");
}

fn assert_sets(status: &str, kept: u64, bounding: u64, who: &str) {
    let sets = cap_sets(status);
    assert_eq!(sets.len(), 5, "{who}: five capability sets in\n{status}");
    for (name, value) in sets {
        let expected = match name.as_str() {
            "CapEff" | "CapPrm" => kept,
            "CapBnd" => bounding,
            _ => 0,
        };
        assert_eq!(
            value, expected,
            "{who}: {name} is {value:#x}, expected {expected:#x}"
        );
    }
}

fn instance(vip: IpAddr, extra: &str) -> String {
    format!(
        "vrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 71\n    priority 100\n    \
         version 3\n    advert_int 0.1\n{extra}    virtual_ipaddress {{\n        {vip}/24\n    }}\n}}\n"
    )
}

/// A directory every user can traverse, for the scripts and what they write; removed on drop.
struct ScriptDir(PathBuf);

impl ScriptDir {
    fn new() -> ScriptDir {
        // /tmp, not $TMPDIR: nobody must be able to search every parent directory.
        let dir = PathBuf::from(format!("/tmp/vrrpd-privileges-{}", std::process::id()));
        let out = dir.join("out");
        fs::create_dir_all(&out).expect("script directory");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).expect("chmod");
        fs::set_permissions(&out, fs::Permissions::from_mode(0o777)).expect("chmod");
        ScriptDir(dir)
    }

    /// A script that writes its own capability sets to `out/NAME`.
    fn status_script(&self, name: &str) -> PathBuf {
        let script = self.0.join(format!("{name}.sh"));
        let out = self.0.join("out").join(name);
        let text = format!(
            "#!/bin/sh\ngrep ^Cap /proc/self/status > {}.tmp && mv {0}.tmp {0}\n",
            out.display()
        );
        fs::write(&script, text).expect("write script");
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).expect("chmod");
        script
    }

    fn written(&self, name: &str) -> Option<String> {
        fs::read_to_string(self.0.join("out").join(name)).ok()
    }
}

impl Drop for ScriptDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn wait_for_log(d: &DaemonProc, needle: &str) {
    let found = wait_until(STEP, POLL, || d.tail(200).contains(needle));
    assert!(found, "vrrpd should log {needle:?}:\n{}", d.tail(30));
}

/// Without scripts: CAP_NET_ADMIN and CAP_NET_RAW only, in every thread; the daemon still
/// becomes Master, reloads, and removes its VIPs at SIGTERM. A reload whose hook runs as
/// another user (CAP_SETUID, dropped) is refused and changes nothing.
#[test]
fn daemon_keeps_only_the_network_capabilities() {
    require!();
    let mut lab = Lab::new("priv").expect("lab");
    let r1 = lab.add_router("r1").expect("router");
    let (vip, vip2) = (IpAddr::V4(lab.vip4(71)), IpAddr::V4(lab.vip4(72)));
    let d = start_vrrpd(&r1, &instance(vip, ""));
    assert!(
        wait_until(STEP, POLL, || r1.has_address(vip)),
        "Master with its VIP{}",
        lab.diag()
    );
    assert_threads_keep(d.proc.pid(), NET_ADMIN | NET_RAW);

    let two_vips = instance(vip, "").replace(
        &format!("{vip}/24\n"),
        &format!("{vip}/24\n        {vip2}/24\n"),
    );
    fs::write(&d.conf, &two_vips).expect("write the configuration");
    d.proc.kill_main(libc::SIGHUP).expect("SIGHUP");
    assert!(
        wait_until(STEP, POLL, || r1.has_address(vip2)),
        "reload adds the VIP\n{}",
        d.tail(30)
    );

    let scripts = ScriptDir::new();
    let hook = scripts.status_script("hook");
    let with_user = instance(
        vip,
        &format!("    notify_master {} nobody\n", hook.display()),
    );
    fs::write(&d.conf, with_user).expect("write the configuration");
    d.proc.kill_main(libc::SIGHUP).expect("SIGHUP");
    wait_for_log(&d, "CAP_SETUID");
    assert!(d.tail(200).contains("reload refused"), "{}", d.tail(30));
    assert!(r1.has_address(vip2), "a refused reload changes nothing");

    assert!(d.stop(STEP).expect("stop"), "vrrpd exits at SIGTERM");
    assert!(
        !r1.has_address(vip) && !r1.has_address(vip2),
        "SIGTERM removes the VIPs"
    );
}

/// With `script_user nobody` the daemon also keeps CAP_SETUID, CAP_SETGID and CAP_KILL; the
/// tracker script (as nobody) has no capability at all, and a hook run as root gets the
/// daemon's bounding set.
#[test]
fn scripts_as_another_user_run_without_capabilities() {
    require!();
    let mut lab = Lab::new("prvs").expect("lab");
    let r1 = lab.add_router("r1").expect("router");
    let vip = IpAddr::V4(lab.vip4(73));
    let scripts = ScriptDir::new();
    let tracker = scripts.status_script("tracker");
    let hook = scripts.status_script("root-hook");
    let conf = format!(
        "global_defs {{\n    script_user nobody\n}}\n\
         vrrp_script chk {{\n    script {}\n    interval 1\n}}\n{}",
        tracker.display(),
        instance(
            vip,
            &format!(
                "    track_script {{\n        chk\n    }}\n    notify_master {} root\n",
                hook.display()
            )
        )
    );
    let d = start_vrrpd(&r1, &conf);
    assert!(
        wait_until(STEP, POLL, || r1.has_address(vip)),
        "Master with its VIP{}",
        lab.diag()
    );
    let kept = NET_ADMIN | NET_RAW | SETUID | SETGID | KILL;
    assert_threads_keep(d.proc.pid(), kept);

    assert!(
        wait_until(STEP, POLL, || scripts.written("tracker").is_some()),
        "the tracker ran\n{}",
        d.tail(30)
    );
    let status = scripts.written("tracker").unwrap_or_default();
    assert_sets(&status, 0, kept, "the tracker script (nobody)");
    assert!(
        wait_until(STEP, POLL, || scripts.written("root-hook").is_some()),
        "the hook ran\n{}",
        d.tail(30)
    );
    let status = scripts.written("root-hook").unwrap_or_default();
    assert_sets(&status, kept, kept, "notify_master as root");

    assert!(d.stop(STEP).expect("stop"), "vrrpd exits at SIGTERM");
    assert!(!r1.has_address(vip), "SIGTERM removes the VIP");
}
