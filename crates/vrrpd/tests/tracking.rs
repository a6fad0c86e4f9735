//! Trackers, notify hooks, the notify FIFO, sync groups, observers and
//! `notify_master_rx_lower_pri`, on real LANs (network namespaces, `vrrp-testlab`).
//!
//! Each test builds its own lab and leaves nothing behind (the lab kills what it started and
//! deletes its namespaces on drop, also when a test panics). Without root every test prints
//! `SKIPPED: ...` (a failure under `VRRPD_LAB_REQUIRED=1`, as in CI). Instances use VRRPv3 with `advert_int 0.1` (one test 1 s);
//! waits are bounded and generous, and the assertions are about behaviour (who is Master,
//! which priority, which hooks ran in which order), not tight timings. See docs/testing.md,
//! "Tracking, hooks and sync group tests".

#[path = "tracking/support.rs"]
mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{
    Net, POLL, STEP, fifo_reader, global_defs, hook_lines, instance, logged_events,
    logged_transitions, logging_hook, pgrep, receive, run, script, unix_now, vrrpctl,
};
use vrrp_testlab::{require, wait_until};

/// The lines of a results file written by the rise/fall check script: `N ok|fail`.
fn results(path: &Path) -> Vec<(u64, bool)> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (n, r) = l.split_once(' ')?;
            Some((n.parse().ok()?, r == "ok"))
        })
        .collect()
}

/// How many results at the end of `r` are `ok` (true) / failures (false) in a row.
fn trailing(r: &[(u64, bool)], ok: bool) -> usize {
    r.iter().rev().take_while(|(_, o)| *o == ok).count()
}

fn runs(path: &Path) -> u64 {
    fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// 1. vrrp_script: weight, fall, rise

/// r1 (150) tracks a script (interval 0.2, weight -60, fall 3, rise 2) that fails while a
/// flag file exists, one (weight 0, `user nobody`) that fails unless it runs as nobody, and
/// one (weight 0, `init_fail`, rise 3) that always succeeds; r2 (100) has no tracker. r1
/// starts in FAULT and leaves it after 3 runs of the `init_fail` script. One failed run (the script removes its
/// one-shot flag) changes nothing; persistent failure takes r1 to 90 after at least 3
/// failures in a row and r2 takes over; success again brings r1 back to 150 after at least
/// 2 successes and it preempts. A `notify` hook gets each transition with its effective
/// priority (`BACKUP 90`).
#[test]
fn track_script_weight_fall_and_rise() {
    require!();
    let mut net = Net::new("tscr", 2);
    let dir = net.lab.dir().to_path_buf();
    let d = dir.display();
    let chk = script(
        &net.lab,
        "chk.sh",
        &format!(
            "n=$(( $(cat {d}/runs 2>/dev/null || echo 0) + 1 )); echo $n > {d}/runs\n\
             if [ -e {d}/fail-once ]; then rm -f {d}/fail-once; echo \"$n fail\" >> {d}/results; exit 1; fi\n\
             if [ -e {d}/fail ]; then echo \"$n fail\" >> {d}/results; exit 1; fi\n\
             echo \"$n ok\" >> {d}/results\n"
        ),
    );
    // A second tracker (weight 0) that fails unless it runs as its `user`, nobody.
    let uid = script(
        &net.lab,
        "uid.sh",
        "[ \"$(id -u)\" = \"$(id -u nobody)\" ] && [ \"$(id -g)\" = \"$(id -g nobody)\" ]\n",
    );
    // A third (weight 0, `init_fail`, rise 3) that always succeeds and counts its runs: the
    // instance starts in FAULT and leaves it after the third run.
    let init = script(
        &net.lab,
        "init.sh",
        &format!("echo $(( $(cat {d}/init-runs 2>/dev/null || echo 0) + 1 )) > {d}/init-runs\n"),
    );
    // And a `notify` hook, to check the priority it is given.
    let hook_log = net.path("notify.log");
    let hook = logging_hook(&net.lab, "notify.sh", &hook_log, &[], 0.0);
    let vip = net.vip_cidr(100);
    let r1 = format!(
        "{}vrrp_script chk {{\n    script \"{}\"\n    interval 0.2\n    weight -60\n    fall 3\n    rise 2\n}}\n\
         vrrp_script uid {{\n    script \"{}\"\n    interval 1\n    weight 0\n    user nobody\n}}\n\
         vrrp_script init {{\n    script \"{}\"\n    interval 0.5\n    weight 0\n    init_fail\n    rise 3\n}}\n{}",
        global_defs(&[]),
        chk.display(),
        uid.display(),
        init.display(),
        instance(
            "VI_1",
            51,
            150,
            &vip,
            &[
                "track_script {\n        chk\n        uid\n        init\n    }".into(),
                format!("notify \"{}\"", hook.display()),
            ]
        )
    );
    let r2 = format!(
        "{}{}",
        global_defs(&[]),
        instance("VI_1", 51, 100, &vip, &[])
    );
    net.start(1, &r2);
    net.start(0, &r1);
    net.expect("r1 should leave FAULT (init_fail, rise 3)", || {
        ["BACKUP", "MASTER"].contains(&net.routers[0].state("VI_1").as_str())
    });
    let init_runs = runs(&dir.join("init-runs"));
    assert!(
        init_runs >= 3,
        "init_fail with rise 3: up after {init_runs} successful runs{}",
        net.lab.diag()
    );
    let first = logged_transitions(&net.routers[0].log());
    assert_eq!(
        first.first().map(|t| (t.from.as_str(), t.to.as_str())),
        Some(("INIT", "FAULT")),
        "init_fail: r1 should start in FAULT: {first:?}"
    );
    net.expect_state(0, "VI_1", "MASTER");
    net.expect_sole_holder(0, net.vip(100));
    assert_eq!(net.routers[0].priority("VI_1"), 150, "{}", net.lab.diag());
    let transitions_before = logged_transitions(&net.routers[0].log()).len();

    // One failed run: fall 3 is not reached.
    fs::write(dir.join("fail-once"), "").unwrap();
    net.expect("the one-shot failure should be consumed", || {
        !dir.join("fail-once").exists()
    });
    let after = runs(&dir.join("runs")) + 5;
    net.expect("five more runs of the script", || {
        runs(&dir.join("runs")) >= after
    });
    let r = results(&dir.join("results"));
    assert_eq!(
        r.iter().filter(|(_, ok)| !ok).count(),
        1,
        "exactly one failed run expected: {r:?}"
    );
    let log = net.routers[0].log();
    assert!(
        !log.contains("tracker script:chk is Down"),
        "a single failure must not bring the tracker down (fall 3){}",
        net.lab.diag()
    );
    assert_eq!(net.routers[0].priority("VI_1"), 150);
    assert_eq!(net.routers[0].state("VI_1"), "MASTER");
    assert_eq!(logged_transitions(&log).len(), transitions_before);

    // Persistent failure: down after >= 3 failures, priority 150 - 60 = 90 < 100.
    fs::write(dir.join("fail"), "").unwrap();
    let t = Instant::now();
    net.expect("r1's priority should drop to 90", || {
        net.routers[0].priority("VI_1") == 90
    });
    let r = results(&dir.join("results"));
    eprintln!(
        "priority 90 after {:?}; trailing failures {}",
        t.elapsed(),
        trailing(&r, false)
    );
    assert!(
        trailing(&r, false) >= 3,
        "the tracker went down after fewer than fall=3 failures: {r:?}{}",
        net.lab.diag()
    );
    net.expect_state(1, "VI_1", "MASTER");
    net.expect_state(0, "VI_1", "BACKUP");
    net.expect_sole_holder(1, net.vip(100));

    // Recovery: up after >= 2 successes; r1 preempts.
    fs::remove_file(dir.join("fail")).unwrap();
    net.expect("r1's priority should return to 150", || {
        net.routers[0].priority("VI_1") == 150
    });
    let r = results(&dir.join("results"));
    assert!(
        trailing(&r, true) >= 2,
        "the tracker came up after fewer than rise=2 successes: {r:?}{}",
        net.lab.diag()
    );
    net.expect_state(0, "VI_1", "MASTER");
    net.expect_state(1, "VI_1", "BACKUP");
    net.expect_sole_holder(0, net.vip(100));
    let log = net.routers[0].log();
    assert!(log.contains("tracker script:chk is Down"), "{log}");
    assert!(log.contains("tracker script:chk is Up"), "{log}");

    // `notify` got the effective priority of each transition (BACKUP 90 after the drop).
    let want: Vec<Vec<String>> = logged_events(&log)
        .into_iter()
        .map(|(scope, name, event, prio)| vec![scope, name, event, prio.to_string()])
        .collect();
    net.expect("every notify call should have run", || {
        hook_lines(&hook_log).len() >= want.len()
    });
    let got: Vec<Vec<String>> = hook_lines(&hook_log).into_iter().map(|l| l.args).collect();
    assert_eq!(got, want, "notify calls (left) vs the log (right)");
    assert!(
        got.iter().any(|a| a[2] == "BACKUP" && a[3] == "90"),
        "notify should be called with BACKUP 90: {got:?}"
    );
}

/// Until its first run ends, a weight-0 script has no state and holds the instance in INIT
/// (keepalived does the same): r1 (150) tracks `slow` (sleeps 1.5 s, then fails) while r2
/// (100) is Master. For the first 1.2 s r1 stays in INIT (never BACKUP or MASTER) and r2
/// keeps the VIP; then r1 goes straight to FAULT.
#[test]
fn weight_0_script_holds_the_instance_until_its_first_result() {
    require!();
    let mut net = Net::new("tpnd", 2);
    let slow = script(&net.lab, "slow.sh", "sleep 1.5\nexit 1\n");
    let vip = net.vip_cidr(100);
    let r1 = format!(
        "{}vrrp_script slow {{\n    script \"{}\"\n    interval 3\n    timeout 2\n    weight 0\n}}\n{}",
        global_defs(&[]),
        slow.display(),
        instance(
            "VI_1",
            51,
            150,
            &vip,
            &["track_script {\n        slow\n    }".into()]
        )
    );
    let r2 = format!(
        "{}{}",
        global_defs(&[]),
        instance("VI_1", 51, 100, &vip, &[])
    );
    net.start(1, &r2);
    net.expect_state(1, "VI_1", "MASTER");
    net.start(0, &r1);
    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1200) {
        let state = net.routers[0].state("VI_1");
        assert_eq!(
            state, "INIT",
            "r1 left INIT before its script's first result"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(net.holders(net.vip(100)), ["r2"]);
    net.expect_state(0, "VI_1", "FAULT");
    let t = logged_transitions(&net.routers[0].log());
    assert_eq!(
        t.first().map(|t| (t.from.as_str(), t.to.as_str())),
        Some(("INIT", "FAULT")),
        "{t:?}"
    );
    net.expect_sole_holder(1, net.vip(100));
}

/// r1 tracks two scripts that are not installed: it starts anyway (keepalived disables such
/// scripts and runs) and each counts as failing, never as success: VI_1 (150, weight -60)
/// runs at 90, so r2 (100) stays Master; VI_2 (weight 0, `reverse`, which would make a
/// plain failing script a success) is in FAULT. r2's `notify_master` hook is not installed
/// either: r2 runs, and each would-be run of the hook is logged.
#[test]
fn missing_track_script_runs_and_counts_as_failing() {
    require!();
    let mut net = Net::new("tmis", 2);
    let (vip1, vip2) = (net.vip_cidr(100), net.vip_cidr(101));
    let missing = net.path("not-installed.sh");
    let r1 = format!(
        "{}vrrp_script minus {{\n    script \"{m}\"\n    interval 0.2\n    weight -60\n}}\nvrrp_script zero {{\n    script \"{m}\"\n    interval 0.2\n    weight 0\n}}\n{}{}",
        global_defs(&[]),
        instance(
            "VI_1",
            51,
            150,
            &vip1,
            &["track_script {\n        minus\n    }".into()]
        ),
        instance(
            "VI_2",
            52,
            150,
            &vip2,
            &["track_script {\n        zero weight 0 reverse\n    }".into()]
        ),
        m = missing.display(),
    );
    let hook = format!("notify_master \"{}\"", net.path("no-hook.sh").display());
    let r2 = format!(
        "{}{}{}",
        global_defs(&[]),
        instance("VI_1", 51, 100, &vip1, std::slice::from_ref(&hook)),
        instance("VI_2", 52, 100, &vip2, &[]),
    );
    net.start(1, &r2);
    net.expect_state(1, "VI_1", "MASTER");
    net.expect_state(1, "VI_2", "MASTER");
    net.start(0, &r1);
    net.expect("r1's VI_1 should run at 150 - 60", || {
        net.routers[0].priority("VI_1") == 90
    });
    net.expect_state(0, "VI_1", "BACKUP");
    net.expect_state(0, "VI_2", "FAULT");
    // Held for a while: the trackers never turn into successes.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(net.routers[0].priority("VI_1"), 90);
    assert_eq!(net.routers[0].state("VI_2"), "FAULT");
    net.expect_sole_holder(1, net.vip(100));
    net.expect_sole_holder(1, net.vip(101));
    let log = net.routers[0].log();
    for name in ["minus", "zero"] {
        assert!(
            log.contains(&format!("VRRP_Script({name}) disabled")),
            "r1 should say that {name} is disabled:\n{log}"
        );
    }
    let log = net.routers[1].log();
    assert!(
        log.contains("(instance:VI_1) notify_master not run"),
        "r2 should log the hook it could not run:\n{log}"
    );
}

// ---------------------------------------------------------------------------------------
// 2. A hung script is killed at its timeout, with its process group

/// r1 (150) tracks a script (interval 1, timeout 0.5, weight 0) that hangs in `sleep
/// 30.1XXX` (one in the background, one in the foreground) while a flag file exists. The
/// hung run is killed at its timeout and counts as a failure: r1 goes to FAULT and r2
/// takes over. Every `sleep` of a killed run is gone shortly after (the whole process group
/// was killed); once the flag is removed r1 comes back and no `sleep` is left.
#[test]
fn hung_script_is_killed_with_its_group_and_faults() {
    require!("pgrep");
    let mut net = Net::new("hang", 2);
    let dir = net.lab.dir().to_path_buf();
    let d = dir.display();
    // A number unique to this lab, so that pgrep finds only our sleeps.
    let arg = format!("30.1{:03}", net.lab.octet());
    let pattern = format!("sleep {}", arg.replace('.', "\\."));
    // While the flag exists: one sleep in the background that ignores SIGTERM, one in the
    // foreground.
    let hang = script(
        &net.lab,
        "hang.sh",
        &format!(
            "if [ -e {d}/hang ]; then (trap '' TERM; exec sleep {arg}) & sleep {arg}; fi\nexit 0\n"
        ),
    );
    // A tracker script that succeeds but leaves a background child behind, every 0.3 s.
    let bg_arg = format!("30.2{:03}", net.lab.octet());
    let bg_pattern = format!("sleep {}", bg_arg.replace('.', "\\."));
    let bg = script(
        &net.lab,
        "bg.sh",
        &format!(
            "n=$(( $(cat {d}/bg-runs 2>/dev/null || echo 0) + 1 )); echo $n > {d}/bg-runs\n\
             sleep {bg_arg} &\nexit 0\n"
        ),
    );
    let vip = net.vip_cidr(100);
    let r1 = format!(
        "{}vrrp_script hang {{\n    script \"{}\"\n    interval 1\n    timeout 0.5\n    weight 0\n}}\n\
         vrrp_script bg {{\n    script \"{}\"\n    interval 0.3\n    weight 0\n}}\n{}",
        global_defs(&[]),
        hang.display(),
        bg.display(),
        instance(
            "VI_1",
            51,
            150,
            &vip,
            &["track_script {\n        hang\n        bg\n    }".into()]
        )
    );
    let r2 = format!(
        "{}{}",
        global_defs(&[]),
        instance("VI_1", 51, 100, &vip, &[])
    );
    net.start(1, &r2);
    net.start(0, &r1);
    net.expect_state(0, "VI_1", "MASTER");
    net.expect_sole_holder(0, net.vip(100));

    fs::write(dir.join("hang"), "").unwrap();
    net.expect_state(0, "VI_1", "FAULT");
    net.expect_state(1, "VI_1", "MASTER");
    net.expect_sole_holder(1, net.vip(100));
    let log = net.routers[0].log();
    assert!(
        log.contains("timed out"),
        "the tracker's log should say the run timed out{}",
        net.lab.diag()
    );

    // A hanging run's sleeps are killed with it (timeout 0.5 s; SIGKILL 2 s later at worst).
    let mut seen = Vec::new();
    net.expect("a hung run's sleep processes", || {
        seen = pgrep(&pattern);
        !seen.is_empty()
    });
    let alive = |pids: &[u32]| -> Vec<u32> {
        pids.iter()
            .copied()
            .filter(|p| Path::new(&format!("/proc/{p}")).exists())
            .collect()
    };
    assert!(
        wait_until(Duration::from_secs(6), POLL, || alive(&seen).is_empty()),
        "the sleeps {seen:?} of a timed-out run are still alive: {:?}{}",
        alive(&seen),
        net.lab.diag()
    );

    fs::remove_file(dir.join("hang")).unwrap();
    net.expect_state(0, "VI_1", "MASTER");
    net.expect_sole_holder(0, net.vip(100));
    assert!(
        wait_until(Duration::from_secs(6), POLL, || pgrep(&pattern).is_empty()),
        "sleep processes left after recovery: {:?}{}",
        pgrep(&pattern),
        net.lab.diag()
    );
    // The background children of the succeeding tracker do not pile up: vrrpd kills the
    // script's process group when the script exits.
    net.expect("the bg tracker should have run 5 times", || {
        runs(&dir.join("bg-runs")) >= 5
    });
    assert!(
        wait_until(Duration::from_secs(6), POLL, || pgrep(&bg_pattern)
            .is_empty()),
        "background children of a tracker script are left running: {:?}{}",
        pgrep(&bg_pattern),
        net.lab.diag()
    );
    assert_eq!(net.routers[0].state("VI_1"), "MASTER");
}

// ---------------------------------------------------------------------------------------
// 3. track_interface

/// r1 (150) tracks two interfaces of its own namespace: `trk0` (weight -60) and `trk2`
/// (weight 0), each one end of a veth pair whose peer (`trk1`, `trk3`) the test sets down
/// and up. trk1 down (trk0 loses its carrier): priority 90, r2 (100) takes over; up again:
/// 150, r1 preempts. trk3 down: r1 goes to FAULT; up: back to Master.
#[test]
fn track_interface_weight_and_fault() {
    require!();
    let mut net = Net::new("tifc", 2);
    let n1 = net.routers[0].node.clone();
    for (a, b) in [("trk0", "trk1"), ("trk2", "trk3")] {
        n1.run_ok("ip", &["link", "add", a, "type", "veth", "peer", "name", b])
            .expect("veth pair in r1");
        n1.run_ok("ip", &["link", "set", a, "up"]).unwrap();
        n1.run_ok("ip", &["link", "set", b, "up"]).unwrap();
    }
    let vip = net.vip_cidr(100);
    let r1 = format!(
        "{}{}",
        global_defs(&[]),
        instance(
            "VI_1",
            51,
            150,
            &vip,
            &["track_interface {\n        trk0 weight -60\n        trk2 weight 0\n    }".into()]
        )
    );
    let r2 = format!(
        "{}{}",
        global_defs(&[]),
        instance("VI_1", 51, 100, &vip, &[])
    );
    net.start(1, &r2);
    net.start(0, &r1);
    net.expect_state(0, "VI_1", "MASTER");
    net.expect_sole_holder(0, net.vip(100));
    assert_eq!(net.routers[0].priority("VI_1"), 150);

    let set = |ifname: &str, state: &str| {
        n1.run_ok("ip", &["link", "set", ifname, state]).unwrap();
    };
    set("trk1", "down");
    net.expect(
        "r1's priority should drop to 90 (trk0 has no carrier)",
        || net.routers[0].priority("VI_1") == 90,
    );
    net.expect_state(1, "VI_1", "MASTER");
    net.expect_state(0, "VI_1", "BACKUP");
    net.expect_sole_holder(1, net.vip(100));

    set("trk1", "up");
    net.expect("r1's priority should return to 150", || {
        net.routers[0].priority("VI_1") == 150
    });
    net.expect_state(0, "VI_1", "MASTER");
    net.expect_sole_holder(0, net.vip(100));

    set("trk3", "down");
    net.expect_state(0, "VI_1", "FAULT");
    net.expect_sole_holder(1, net.vip(100));
    set("trk3", "up");
    net.expect_state(0, "VI_1", "MASTER");
    net.expect_sole_holder(0, net.vip(100));

    // A tracked interface that disappears is down; created again, it is up.
    n1.run_ok("ip", &["link", "del", "trk2"]).unwrap();
    net.expect_state(0, "VI_1", "FAULT");
    net.expect_sole_holder(1, net.vip(100));
    n1.run_ok(
        "ip",
        &[
            "link", "add", "trk2", "type", "veth", "peer", "name", "trk3",
        ],
    )
    .unwrap();
    set("trk2", "up");
    set("trk3", "up");
    net.expect_state(0, "VI_1", "MASTER");
    net.expect_sole_holder(0, net.vip(100));
    let log = net.routers[0].log();
    assert!(log.contains("tracked interface trk0 is down"), "{log}");
    assert!(log.contains("tracked interface trk2 is down"), "{log}");
}

/// keepalived 2.2.7 refuses a configuration whose `track_interface` names an interface
/// that does not exist ("tracked interface nosuch0 doesn't exist", exit with a
/// configuration error). vrrpd must either refuse it (exit non-zero, naming the interface)
/// or count the interface as down, as it does for a tracked interface deleted while it runs
/// (weight 0: FAULT).
#[test]
fn missing_tracked_interface_is_refused_or_down() {
    require!();
    let net = Net::new("tmis", 1);
    let conf = format!(
        "{}{}",
        global_defs(&[]),
        instance(
            "VI_1",
            51,
            150,
            &net.vip_cidr(100),
            &["track_interface {\n        nosuch0\n    }".into()]
        )
    );
    let d = vrrp_testlab::Daemon::Vrrpd {
        binary: support::vrrpd_binary(),
    }
    .start(&net.routers[0].node, &conf)
    .expect("spawn vrrpd");
    let sock = d.control_socket.clone().expect("control socket");
    let state = || {
        let out = support::ctl(&sock, &["status", "--json"]);
        serde_json::from_str::<Value>(out.stdout.trim())
            .ok()
            .and_then(|v| v["instances"][0]["state"].as_str().map(str::to_string))
            .unwrap_or_default()
    };
    let settled = wait_until(STEP, POLL, || {
        !d.is_running() || ["MASTER", "BACKUP", "FAULT"].contains(&state().as_str())
    });
    assert!(
        settled,
        "vrrpd neither exited nor settled{}",
        net.lab.diag()
    );
    let log = fs::read_to_string(d.proc.stderr_path()).unwrap_or_default();
    if d.is_running() {
        assert_eq!(
            state(),
            "FAULT",
            "a missing tracked interface (weight 0) should be down{}",
            net.lab.diag()
        );
    } else {
        assert!(
            !d.proc.status().is_some_and(|s| s.success()) && log.contains("nosuch0"),
            "vrrpd should refuse the configuration naming the interface{}",
            net.lab.diag()
        );
    }
}

/// `vrrp_track_process p { process sleep 30.4X; weight -60; quorum 2 }` on r1 (150), r2
/// (100): with no such process r1 is at 90 and r2 is Master; one `sleep 30.4X` (started in
/// r1's namespace) is below the quorum, r1 stays at 90 for a second (5 scans); a second one
/// brings r1 to 150 and it preempts; one killed: 90 again and r2 takes over.
#[test]
fn track_process_quorum_and_weight() {
    require!();
    let mut net = Net::new("tprc", 2);
    let arg = format!("30.4{:03}", net.lab.octet());
    let vip = net.vip_cidr(100);
    let r1 = format!(
        "{}vrrp_track_process p {{\n    process sleep {arg}\n    weight -60\n    quorum 2\n}}\n{}",
        global_defs(&[]),
        instance(
            "VI_1",
            51,
            150,
            &vip,
            &["track_process {\n        p\n    }".into()]
        )
    );
    let r2 = format!(
        "{}{}",
        global_defs(&[]),
        instance("VI_1", 51, 100, &vip, &[])
    );
    net.start(1, &r2);
    net.start(0, &r1);
    net.expect_state(1, "VI_1", "MASTER");
    net.expect("r1 should be at 90 without the processes", || {
        net.routers[0].priority("VI_1") == 90
    });
    net.expect_state(0, "VI_1", "BACKUP");

    let n1 = net.routers[0].node.clone();
    let first = n1.spawn("sleep", &[&arg], &[]).expect("sleep");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        net.routers[0].priority("VI_1"),
        90,
        "one process is below quorum 2{}",
        net.lab.diag()
    );
    let _second = n1.spawn("sleep", &[&arg], &[]).expect("sleep");
    net.expect("r1 should be back at 150 with two processes", || {
        net.routers[0].priority("VI_1") == 150
    });
    net.expect_state(0, "VI_1", "MASTER");
    net.expect_sole_holder(0, net.vip(100));

    first.kill_and_wait().expect("kill one sleep");
    net.expect("r1 should drop to 90 with one process left", || {
        net.routers[0].priority("VI_1") == 90
    });
    net.expect_state(1, "VI_1", "MASTER");
    net.expect_sole_holder(1, net.vip(100));
}

// ---------------------------------------------------------------------------------------
// 4. track_file

/// r1 (150) tracks `tf` (weight 10, `init_file`) and `tz` (weight 0, `init_file`); r2 has
/// 100. vrrpd creates both files with 0. The value × 10 is added to the priority (-1: 140,
/// still Master; -10: 50, r2 takes over; -20: clamped to 1; 0: 150 and r1 preempts); a
/// non-zero value in `tz` is a FAULT.
#[test]
fn track_file_weight_init_and_fault() {
    require!();
    let mut net = Net::new("tfil", 2);
    let tf = net.path("tf.value");
    let tz = net.path("tz.value");
    let vip = net.vip_cidr(100);
    let r1 = format!(
        "{}vrrp_track_file tf {{\n    file \"{}\"\n    weight 10\n    init_file\n}}\n\
         vrrp_track_file tz {{\n    file \"{}\"\n    weight 0\n    init_file\n}}\n{}",
        global_defs(&[]),
        tf.display(),
        tz.display(),
        instance(
            "VI_1",
            51,
            150,
            &vip,
            &["track_file {\n        tf\n        tz\n    }".into()]
        )
    );
    let r2 = format!(
        "{}{}",
        global_defs(&[]),
        instance("VI_1", 51, 100, &vip, &[])
    );
    assert!(!tf.exists() && !tz.exists());
    net.start(1, &r2);
    net.start(0, &r1);
    for f in [&tf, &tz] {
        assert_eq!(
            fs::read_to_string(f).map(|s| s.trim().to_string()).ok(),
            Some("0".to_string()),
            "init_file should create {} with 0{}",
            f.display(),
            net.lab.diag()
        );
    }
    net.expect_state(0, "VI_1", "MASTER");
    net.expect_sole_holder(0, net.vip(100));

    let show_priority = || {
        net.routers[0]
            .show("VI_1")
            .and_then(|s| s["priority"].as_u64())
            .unwrap_or(0)
    };
    let expect_priority = |value: &str, want: u64| {
        fs::write(&tf, format!("{value}\n")).unwrap();
        net.expect(
            &format!("r1's effective priority should be {want} with {value} in the file"),
            || show_priority() == want,
        );
    };
    assert_eq!(show_priority(), 150);
    expect_priority("-1", 140);
    assert_eq!(net.routers[0].state("VI_1"), "MASTER");
    expect_priority("-10", 50);
    net.expect_state(1, "VI_1", "MASTER");
    net.expect_state(0, "VI_1", "BACKUP");
    net.expect_sole_holder(1, net.vip(100));
    expect_priority("-20", 1);
    assert_eq!(net.routers[0].state("VI_1"), "BACKUP");
    expect_priority("0", 150);
    net.expect_state(0, "VI_1", "MASTER");
    net.expect_sole_holder(0, net.vip(100));
    let show = net.routers[0].show("VI_1").expect("show");
    let trackers = show["trackers"].to_string();
    assert!(
        trackers.contains("tf") && trackers.contains("tz"),
        "show should list the file trackers: {trackers}"
    );

    fs::write(&tz, "3\n").unwrap();
    net.expect_state(0, "VI_1", "FAULT");
    net.expect_sole_holder(1, net.vip(100));
    fs::write(&tz, "0\n").unwrap();
    net.expect_state(0, "VI_1", "MASTER");
    net.expect_sole_holder(0, net.vip(100));
}

// ---------------------------------------------------------------------------------------
// 5. Notify hooks in order under rapid flapping

/// r1 (150) has notify_master / notify_backup / notify_stop (all sleep 0.3 s first),
/// notify_fault and `notify`, all appending `START END ARGS` to one log. Ten transitions in
/// about a second (a weight-0 track file flipped, maintenance on and off) queue the hooks
/// behind each other, and vrrpd is stopped (SIGTERM) while they are still queued. The log
/// must list, for each transition vrrpd logged and in that order (the last one to INIT,
/// STOP), the state's hook and then `notify INSTANCE VI_1 STATE PRIORITY`; no hook may start
/// before the previous one ended, and vrrpd exits only after the last one.
#[test]
fn notify_hooks_run_in_order_one_at_a_time() {
    require!();
    let mut net = Net::new("hook", 2);
    let hook_log = net.path("hooks.log");
    let hook = logging_hook(
        &net.lab,
        "hook.sh",
        &hook_log,
        &["master", "backup", "stop"],
        0.3,
    );
    let flap = net.path("flap.value");
    fs::write(&flap, "0\n").unwrap();
    let vip = net.vip_cidr(100);
    let h = hook.display();
    let r1 = format!(
        "{}vrrp_track_file flap {{\n    file \"{}\"\n    weight 0\n}}\n{}",
        global_defs(&[]),
        flap.display(),
        instance(
            "VI_1",
            51,
            150,
            &vip,
            &[
                "track_file {\n        flap\n    }".into(),
                format!("notify_master \"{h} master\""),
                format!("notify_backup \"{h} backup\""),
                format!("notify_fault \"{h} fault\""),
                format!("notify_stop \"{h} stop\""),
                format!("notify \"{h} notify\""),
            ]
        )
    );
    let r2 = format!(
        "{}{}",
        global_defs(&[]),
        instance("VI_1", 51, 100, &vip, &[])
    );
    net.start(1, &r2);
    net.start(0, &r1);
    net.expect_state(0, "VI_1", "MASTER");

    let t = Instant::now();
    let r = &net.routers[0];
    for round in 0..2 {
        fs::write(&flap, "1\n").unwrap();
        net.expect_state(0, "VI_1", "FAULT");
        fs::write(&flap, "0\n").unwrap();
        net.expect_state(0, "VI_1", "MASTER");
        if round == 0 {
            assert_eq!(r.ctl(&["maintenance", "VI_1", "on"]).code, 0);
            net.expect_state(0, "VI_1", "BACKUP");
            assert_eq!(r.ctl(&["maintenance", "VI_1", "off"]).code, 0);
            net.expect_state(0, "VI_1", "MASTER");
        }
    }
    let flapping = t.elapsed();
    let queued = hook_lines(&hook_log).len();
    // Stop while hooks are still queued: vrrpd runs them all (and the stop hooks) first.
    net.stop(0);
    let exited = unix_now();

    let events = logged_events(&r.log());
    let mut want: Vec<Vec<String>> = Vec::new();
    for (scope, name, event, prio) in &events {
        want.push(vec![event.to_lowercase()]);
        want.push(vec![
            "notify".into(),
            scope.clone(),
            name.clone(),
            event.clone(),
            prio.to_string(),
        ]);
    }
    assert!(
        events.len() >= 11 && events.last().is_some_and(|e| e.2 == "STOP"),
        "expected at least 10 transitions and the stop, got {events:?}{}",
        net.lab.diag()
    );
    let lines = hook_lines(&hook_log);
    let got: Vec<Vec<String>> = lines.iter().map(|l| l.args.clone()).collect();
    let last = lines.last().map(|l| l.end).unwrap_or(0.0);
    let first = lines.first().map(|l| l.start).unwrap_or(0.0);
    eprintln!(
        "{} transitions in {flapping:?}; {queued} of {} hooks had run when the flapping ended; \
         the hooks ran in {:.2} s; vrrpd exited {:.3} s after the last one",
        events.len(),
        want.len(),
        last - first,
        exited - last
    );
    assert!(
        got == want,
        "hooks (left) should follow the transitions (right):\n{got:?}\n{want:?}{}",
        net.lab.diag()
    );
    for w in lines.windows(2) {
        assert!(
            w[1].start >= w[0].end,
            "hook {:?} started at {} before {:?} ended at {}",
            w[1].args,
            w[1].start,
            w[0].args,
            w[0].end
        );
    }
    assert!(
        exited >= last,
        "vrrpd exited before its last hook ended{}",
        net.lab.diag()
    );
}

/// A notify hook that hangs is killed at the hooks' timeout (10 s) with its process group,
/// and only delays the later hooks of its own instance. r1 alone: VI_1's notify_master
/// logs and hangs in `sleep 30.3X`; VI_2's notify_master only logs. VI_2's hook runs while
/// VI_1's hangs; `maintenance VI_1 on` takes VI_1 to BACKUP at once (the protocol does not
/// wait for hooks), but its notify_backup runs only once the hung hook was killed, about
/// 10 s after it started, when no `sleep 30.3X` is left.
#[test]
fn hung_notify_hook_is_killed_and_delays_only_its_instance() {
    require!("pgrep");
    let mut net = Net::new("hhok", 1);
    let log = net.path("hooks.log");
    let arg = format!("30.3{:03}", net.lab.octet());
    let pattern = format!("sleep {}", arg.replace('.', "\\."));
    let hang = script(
        &net.lab,
        "hang-hook.sh",
        &format!(
            "echo \"$(date +%s.%N) $(date +%s.%N) hang\" >> {}\nsleep {arg}\n",
            log.display()
        ),
    );
    let quick = logging_hook(&net.lab, "quick.sh", &log, &[], 0.0);
    let q = quick.display();
    let conf = format!(
        "{}{}{}",
        global_defs(&[]),
        instance(
            "VI_1",
            51,
            150,
            &net.vip_cidr(100),
            &[
                format!("notify_master \"{}\"", hang.display()),
                format!("notify_backup \"{q} vi1-backup\""),
            ]
        ),
        instance(
            "VI_2",
            52,
            150,
            &net.vip_cidr(101),
            &[format!("notify_master \"{q} vi2-master\"")]
        ),
    );
    net.start(0, &conf);
    net.expect_state(0, "VI_1", "MASTER");
    net.expect_state(0, "VI_2", "MASTER");
    let calls = || -> Vec<(f64, String)> {
        hook_lines(&log)
            .into_iter()
            .map(|l| (l.start, l.args.join(" ")))
            .collect()
    };
    let started = |what: &str| calls().into_iter().find(|(_, a)| a == what).map(|(t, _)| t);
    net.expect("VI_1's notify_master should hang", || {
        started("hang").is_some() && !pgrep(&pattern).is_empty()
    });
    net.expect("VI_2's notify_master should run meanwhile", || {
        started("vi2-master").is_some()
    });
    assert!(
        !pgrep(&pattern).is_empty(),
        "VI_1's hook should still be hanging"
    );

    // notify_backup ran once already, at start-up (INIT -> BACKUP): look for a later one.
    let hang_start = started("hang").unwrap();
    let backup_after = || {
        calls()
            .into_iter()
            .find(|(t, a)| a == "vi1-backup" && *t > hang_start)
            .map(|(t, _)| t)
    };
    assert_eq!(net.routers[0].ctl(&["maintenance", "VI_1", "on"]).code, 0);
    net.expect_state(0, "VI_1", "BACKUP");
    assert!(
        backup_after().is_none(),
        "notify_backup must wait for the hung notify_master"
    );
    let ran = wait_until(Duration::from_secs(25), POLL, || backup_after().is_some());
    assert!(ran, "notify_backup never ran{}", net.lab.diag());
    let waited = backup_after().unwrap() - hang_start;
    eprintln!("notify_backup ran {waited:.2} s after the hung notify_master started");
    assert!(
        waited >= 9.5,
        "the hung hook was killed after {waited:.2} s, before its 10 s timeout"
    );
    assert!(
        wait_until(Duration::from_secs(5), POLL, || pgrep(&pattern).is_empty()),
        "the hung hook's sleep is still running: {:?}",
        pgrep(&pattern)
    );
    assert!(
        net.routers[0].log().contains("timed out"),
        "the log should say the hook timed out{}",
        net.lab.diag()
    );
}

// ---------------------------------------------------------------------------------------
// 6. The notify FIFO

/// r1 alone (150) writes to `vrrp_notify_fifo`; a reader attaches after the start (the
/// first lines wait in the pipe). A fault (weight-0 track file), maintenance on and off,
/// and SIGTERM give `INSTANCE "VI_1" STATE PRIORITY` lines, one per transition vrrpd
/// logged, in the same order, ending with STOP. A second FIFO (`notify_fifo`) with a
/// `notify_fifo_script` reader started by vrrpd (ignoring SIGTERM) gets the same lines; the
/// reader is killed with vrrpd. A `notify_master SCRIPT nobody` hook runs as nobody.
#[test]
fn notify_fifo_lines_follow_the_transitions() {
    require!();
    let mut net = Net::new("fifo", 1);
    let fifo = net.path("notify.fifo");
    let flap = net.path("flap.value");
    fs::write(&flap, "0\n").unwrap();
    let vip = net.vip_cidr(100);
    // A notify_master hook run as nobody records who it ran as (in a directory nobody may
    // write to).
    let out_dir = net.path("out");
    fs::create_dir(&out_dir).unwrap();
    fs::set_permissions(
        &out_dir,
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let uid_file = out_dir.join("uid");
    let uid_hook = script(
        &net.lab,
        "uid-hook.sh",
        &format!("echo \"$(id -u) $(id -g)\" >> {}\n", uid_file.display()),
    );
    // A second FIFO, `notify_fifo`, read by a `notify_fifo_script` that vrrpd starts. At
    // shutdown vrrpd writes the STOP lines, then sends SIGTERM to the reader (SIGKILL 2 s
    // later): a reader that wants the STOP lines must outlive SIGTERM, so this one ignores it.
    let fifo2 = net.path("notify2.fifo");
    let copied = net.path("reader.out");
    let reader = script(
        &net.lab,
        "reader.sh",
        &format!(
            "trap '' TERM\nwhile read -r line; do echo \"$line\" >> {}; done < \"$1\"\n",
            copied.display()
        ),
    );
    let conf = format!(
        "{}vrrp_track_file flap {{\n    file \"{}\"\n    weight 0\n}}\n{}",
        global_defs(&[
            format!("vrrp_notify_fifo {}", fifo.display()),
            format!("notify_fifo {}", fifo2.display()),
            format!("notify_fifo_script \"{}\"", reader.display()),
        ]),
        flap.display(),
        instance(
            "VI_1",
            51,
            150,
            &vip,
            &[
                "track_file {\n        flap\n    }".into(),
                format!("notify_master \"{}\" nobody", uid_hook.display()),
            ]
        )
    );
    net.start(0, &conf);
    net.expect_state(0, "VI_1", "MASTER");
    assert!(fifo.exists(), "vrrpd should create the FIFO");
    // The lines written so far wait in the pipe for this late reader.
    let rx = fifo_reader(&fifo);

    let r = &net.routers[0];
    fs::write(&flap, "1\n").unwrap();
    net.expect_state(0, "VI_1", "FAULT");
    fs::write(&flap, "0\n").unwrap();
    net.expect_state(0, "VI_1", "MASTER");
    assert_eq!(r.ctl(&["maintenance", "VI_1", "on"]).code, 0);
    net.expect_state(0, "VI_1", "BACKUP");
    assert_eq!(r.ctl(&["maintenance", "VI_1", "off"]).code, 0);
    net.expect_state(0, "VI_1", "MASTER");
    net.stop(0);

    let want: Vec<String> = logged_events(&r.log())
        .into_iter()
        .map(|(scope, name, event, prio)| format!("{scope} \"{name}\" {event} {prio}"))
        .collect();
    assert!(
        want.len() >= 8 && want.last().is_some_and(|l| l.contains(" STOP ")),
        "unexpected transitions: {want:?}{}",
        net.lab.diag()
    );
    let got = receive(&rx, want.len(), STEP);
    assert_eq!(
        got,
        want,
        "FIFO lines (left) vs transitions{}",
        net.lab.diag()
    );
    // The reader vrrpd started got the same lines, and was stopped with vrrpd.
    let read = || {
        fs::read_to_string(&copied)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert!(
        wait_until(STEP, POLL, || read().len() >= want.len()) && read() == want,
        "notify_fifo_script read (left) vs transitions:\n{:?}\n{want:?}{}",
        read(),
        net.lab.diag()
    );
    let nobody = run(
        std::process::Command::new("sh").args(["-c", "echo \"$(id -u nobody) $(id -g nobody)\""]),
        Duration::from_secs(30),
    )
    .expect("id nobody")
    .stdout;
    let uids = fs::read_to_string(&uid_file).unwrap_or_default();
    assert!(
        !uids.is_empty() && uids.lines().all(|l| l == nobody.trim()),
        "notify_master with user nobody ran as {uids:?}, not {nobody:?}"
    );
    let pattern = reader.display().to_string();
    assert!(
        wait_until(STEP, POLL, || pgrep(&pattern).is_empty()),
        "the notify_fifo_script reader outlived vrrpd: {:?}",
        pgrep(&pattern)
    );
}

// ---------------------------------------------------------------------------------------
// 7. Sync groups

/// Sync group G = {VI_1 (VRID 51), VI_2 (VRID 52)} on r1 (150) and r2 (100), with a group
/// `notify` hook on each; on r1 the instances have a `notify` hook too (same log) and
/// there is a `vrrp_notify_fifo`. On r1, VI_1 tracks a file (weight 0) and VI_2 an
/// interface `trk0` (weight 0, a veth whose peer the test sets down). Either failure takes
/// both members of r1 to FAULT and r2 holds both VIPs; recovery brings both back to r1.
/// The group hooks get `GROUP G STATE 0` (r1: MASTER, FAULT, ..., MASTER, FAULT, ...,
/// MASTER; r2 the opposite); r1's hooks and FIFO lines follow its logged transitions and
/// group changes exactly, in order.
#[test]
fn sync_group_moves_together_and_runs_group_hooks() {
    require!();
    let mut net = Net::new("sync", 2);
    let n1 = net.routers[0].node.clone();
    n1.run_ok(
        "ip",
        &[
            "link", "add", "trk0", "type", "veth", "peer", "name", "trk1",
        ],
    )
    .expect("veth pair in r1");
    for i in ["trk0", "trk1"] {
        n1.run_ok("ip", &["link", "set", i, "up"]).unwrap();
    }
    let f1 = net.path("r1-f1.value");
    fs::write(&f1, "0\n").unwrap();
    let fifo = net.path("r1.fifo");
    let (vip1, vip2) = (net.vip_cidr(100), net.vip_cidr(101));
    let mut logs = Vec::new();
    let mut confs = Vec::new();
    for (i, prio) in [(0usize, 150u8), (1, 100)] {
        let log = net.path(&format!("r{}-hooks.log", i + 1));
        let hook = logging_hook(&net.lab, &format!("r{}-hook.sh", i + 1), &log, &[], 0.0);
        let notify = format!("notify \"{}\"", hook.display());
        let conf = if i == 0 {
            format!(
                "{}vrrp_track_file f1 {{\n    file \"{}\"\n    weight 0\n}}\n\
                 vrrp_sync_group G {{\n    group {{\n        VI_1\n        VI_2\n    }}\n    {notify}\n}}\n{}{}",
                global_defs(&[format!("vrrp_notify_fifo {}", fifo.display())]),
                f1.display(),
                instance(
                    "VI_1",
                    51,
                    prio,
                    &vip1,
                    &["track_file {\n        f1\n    }".into(), notify.clone()]
                ),
                instance(
                    "VI_2",
                    52,
                    prio,
                    &vip2,
                    &[
                        "track_interface {\n        trk0\n    }".into(),
                        notify.clone()
                    ]
                ),
            )
        } else {
            format!(
                "{}vrrp_sync_group G {{\n    group {{\n        VI_1\n        VI_2\n    }}\n    {notify}\n}}\n{}{}",
                global_defs(&[]),
                instance("VI_1", 51, prio, &vip1, &[]),
                instance("VI_2", 52, prio, &vip2, &[]),
            )
        };
        confs.push(conf);
        logs.push(log);
    }
    // The group states a router's hook saw.
    let group_states = |k: usize| -> Vec<String> {
        hook_lines(&logs[k])
            .into_iter()
            .filter(|l| l.args.first().is_some_and(|a| a == "GROUP"))
            .map(|l| l.args.get(2).cloned().unwrap_or_default())
            .collect()
    };
    let expect_last = |net: &Net, k: usize, state: &str| {
        net.expect(
            &format!("r{}'s group hook should last report {state}", k + 1),
            || group_states(k).last().is_some_and(|s| s == state),
        );
    };
    let expect_both = |net: &Net, i: usize, state: &str| {
        for inst in ["VI_1", "VI_2"] {
            net.expect_state(i, inst, state);
        }
    };
    let expect_on = |net: &Net, master: usize| {
        expect_both(net, master, "MASTER");
        net.expect_sole_holder(master, net.vip(100));
        net.expect_sole_holder(master, net.vip(101));
    };

    net.start(1, &confs[1]);
    net.start(0, &confs[0]);
    let rx = fifo_reader(&fifo);
    expect_on(&net, 0);
    expect_both(&net, 1, "BACKUP");
    expect_last(&net, 0, "MASTER");
    expect_last(&net, 1, "BACKUP");

    // VI_1's file tracker fails: the whole group moves.
    fs::write(&f1, "1\n").unwrap();
    expect_both(&net, 0, "FAULT");
    expect_on(&net, 1);
    expect_last(&net, 0, "FAULT");
    expect_last(&net, 1, "MASTER");
    fs::write(&f1, "0\n").unwrap();
    expect_on(&net, 0);
    expect_both(&net, 1, "BACKUP");
    expect_last(&net, 0, "MASTER");
    expect_last(&net, 1, "BACKUP");

    // VI_2's tracked interface loses its carrier: the whole group moves.
    n1.run_ok("ip", &["link", "set", "trk1", "down"]).unwrap();
    expect_both(&net, 0, "FAULT");
    expect_on(&net, 1);
    expect_last(&net, 0, "FAULT");
    n1.run_ok("ip", &["link", "set", "trk1", "up"]).unwrap();
    expect_on(&net, 0);
    expect_both(&net, 1, "BACKUP");
    expect_last(&net, 0, "MASTER");
    expect_last(&net, 1, "BACKUP");

    for (k, want) in [
        (0, ["MASTER", "FAULT", "MASTER", "FAULT", "MASTER"]),
        (1, ["BACKUP", "MASTER", "BACKUP", "MASTER", "BACKUP"]),
    ] {
        let states = group_states(k);
        let mut it = states.iter();
        assert!(
            want.iter().all(|w| it.any(|s| s == w)),
            "r{}: group hook states {states:?} should contain {want:?} in order{}",
            k + 1,
            net.lab.diag()
        );
        let mut dedup = states.clone();
        dedup.dedup();
        assert_eq!(
            dedup,
            states,
            "r{}: a group state reported twice in a row",
            k + 1
        );
    }
    let r2_lines = hook_lines(&logs[1]);
    assert!(
        r2_lines.iter().all(|l| l.args.len() == 4
            && l.args[0] == "GROUP"
            && l.args[1] == "G"
            && l.args[3] == "0"),
        "r2's group hook calls should all be GROUP G STATE 0: {r2_lines:?}"
    );

    // r1: instance and group hooks share one queue; they and the FIFO lines follow the log.
    let events = logged_events(&net.routers[0].log());
    let want_hooks: Vec<Vec<String>> = events
        .iter()
        .map(|(scope, name, event, prio)| {
            vec![scope.clone(), name.clone(), event.clone(), prio.to_string()]
        })
        .collect();
    net.expect("r1's hooks should all have run", || {
        hook_lines(&logs[0]).len() >= want_hooks.len()
    });
    let got_hooks: Vec<Vec<String>> = hook_lines(&logs[0]).into_iter().map(|l| l.args).collect();
    assert_eq!(
        got_hooks,
        want_hooks,
        "r1's hooks (left) should follow its log (right){}",
        net.lab.diag()
    );
    let want_fifo: Vec<String> = events
        .iter()
        .map(|(scope, name, event, prio)| format!("{scope} \"{name}\" {event} {prio}"))
        .collect();
    // When r1 and r2 become Master at the same moment at start-up (their timers can expire
    // together), r1 may hear r2's lower priority: MASTER_RX_LOWER_PRI lines, legitimately.
    let got_fifo: Vec<String> = receive(&rx, want_fifo.len(), STEP)
        .into_iter()
        .filter(|l| !l.ends_with(" MASTER_RX_LOWER_PRI 150"))
        .collect();
    assert_eq!(
        got_fifo,
        want_fifo,
        "r1's FIFO lines (left) should follow its log (right){}",
        net.lab.diag()
    );
}

// ---------------------------------------------------------------------------------------
// 8. Observers

/// r1 (150) and r2 (100) run VI_1; r3 (`state OBSERVER`) and r4 (`state SLAVE`) follow it
/// with a `notify_master_change` hook. The hooks record, in order: r1 150 (the initial
/// Master), r2 100 (r1 stopped), r1 150 (r1 back, preempting), `none 0` (r2 stopped, then r1
/// killed: silence, reported no earlier than the Master_Down_Interval; r3's `vrrp_notify_fifo`
/// gets the same as `MASTER_CHANGE` lines). The observers never hold the VIP, and a capture
/// of the whole LAN holds VRRP packets from r1 and r2 only.
#[test]
fn observers_report_every_master_change_and_never_send() {
    require!("tcpdump");
    let mut net = Net::new("obsv", 4);
    let cap = net.lab.capture("vrrp", "ip proto 112").expect("capture");
    let vip = net.vip_cidr(100);
    let fifo = net.path("r3.fifo");
    let router = |p: u8| format!("{}{}", global_defs(&[]), instance("VI_1", 51, p, &vip, &[]));
    let mut logs = Vec::new();
    let mut observers = Vec::new();
    for (k, state) in [(3, "OBSERVER"), (4, "SLAVE")] {
        let log = net.path(&format!("r{k}-master-change.log"));
        let hook = logging_hook(&net.lab, &format!("r{k}-mc.sh"), &log, &[], 0.0);
        // r3 also writes MASTER_CHANGE lines to a notify FIFO.
        let fifo = (k == 3).then(|| format!("vrrp_notify_fifo {}", fifo.display()));
        observers.push(format!(
            "{}{}",
            global_defs(&fifo.into_iter().collect::<Vec<_>>()),
            instance(
                "VI_1",
                51,
                50,
                &vip,
                &[
                    format!("state {state}"),
                    format!("notify_master_change \"{}\"", hook.display()),
                ]
            )
        ));
        logs.push(log);
    }
    let ips: Vec<String> = net
        .routers
        .iter()
        .map(|r| r.node.ipv4().to_string())
        .collect();
    let ip = |i: usize| ips[i].clone();
    let no_observer_holds = |net: &Net| {
        let h = net.holders(net.vip(100));
        assert!(
            !h.iter().any(|n| n == "r3" || n == "r4"),
            "an observer holds the VIP: {h:?}{}",
            net.lab.diag()
        );
    };

    net.start(0, &router(150));
    net.expect_state(0, "VI_1", "MASTER");
    net.start(1, &router(100));
    net.expect_state(1, "VI_1", "BACKUP");
    net.start(2, &observers[0]);
    net.start(3, &observers[1]);
    net.expect_state(2, "VI_1", "OBSERVER");
    net.expect_state(3, "VI_1", "OBSERVER");

    let mut want_changes: Vec<Vec<String>> = Vec::new();
    let mut expect_change = |net: &Net, addr: String, prio: u32| {
        want_changes.push(
            ["INSTANCE", "VI_1", &addr, &prio.to_string()]
                .map(String::from)
                .to_vec(),
        );
        for (k, log) in logs.iter().enumerate() {
            let got =
                || -> Vec<Vec<String>> { hook_lines(log).into_iter().map(|l| l.args).collect() };
            let ok = wait_until(STEP, POLL, || got() == want_changes);
            assert!(
                ok,
                "r{}'s notify_master_change calls should be {want_changes:?}, are {:?}{}",
                k + 3,
                got(),
                net.lab.diag()
            );
        }
        no_observer_holds(net);
    };
    expect_change(&net, ip(0), 150);

    net.stop(0);
    net.expect_state(1, "VI_1", "MASTER");
    expect_change(&net, ip(1), 100);

    net.start(0, &router(150));
    net.expect_state(0, "VI_1", "MASTER");
    net.expect_state(1, "VI_1", "BACKUP");
    expect_change(&net, ip(0), 150);

    // r2 (Backup) stops, then r1 crashes: no priority 0, the observers report silence
    // after their Master_Down_Interval (3 intervals + skew, at least 0.3 s).
    net.stop(1);
    let crashed = unix_now();
    net.routers[0].daemon().crash().expect("SIGKILL r1");
    expect_change(&net, "none".into(), 0);
    for log in &logs {
        let none = hook_lines(log).pop().expect("a hook line");
        assert!(
            none.start - crashed >= 0.3,
            "silence reported {:.3} s after the crash, before Master_Down_Interval",
            none.start - crashed
        );
    }
    for i in [2, 3] {
        let s = net.routers[i].status_of("VI_1").expect("observer status");
        assert_eq!(s["state"], "OBSERVER");
        assert!(s["master"].is_null(), "no master any more: {s}");
    }

    // r3's FIFO: one MASTER_CHANGE line per change, nothing else.
    let want_fifo: Vec<String> = want_changes
        .iter()
        .map(|c| format!("INSTANCE \"VI_1\" MASTER_CHANGE {} {}", c[2], c[3]))
        .collect();
    let got_fifo = receive(&fifo_reader(&fifo), want_fifo.len(), STEP);
    assert_eq!(got_fifo, want_fifo, "r3's FIFO lines{}", net.lab.diag());

    let pcap = cap.stop().expect("stop the capture");
    let out = run(
        std::process::Command::new(vrrpctl()).args([
            "sniff",
            "--pcap",
            &pcap.to_string_lossy(),
            "--json",
        ]),
        Duration::from_secs(60),
    )
    .expect("vrrpctl sniff");
    assert_eq!(out.code, 0, "vrrpctl sniff: {}", out.stderr);
    let sources: BTreeSet<String> = out
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["src"].as_str().map(str::to_string))
        .collect();
    assert!(
        sources.contains(&ip(0)) && sources.contains(&ip(1)),
        "the capture should hold r1's and r2's advertisements: {sources:?}"
    );
    for i in [2, 3] {
        assert!(
            !sources.contains(&ip(i)),
            "observer r{} sent VRRP packets: {sources:?}",
            i + 1
        );
    }
}

// ---------------------------------------------------------------------------------------
// 9. notify_master_rx_lower_pri

/// Seconds of the day of a sniff time (`2026-11-29T07:34:18.436538Z`).
fn time_of_day(t: &str) -> Option<f64> {
    let clock = t.split_once('T')?.1.trim_end_matches('Z');
    let mut f = clock.split(':');
    let h: f64 = f.next()?.parse().ok()?;
    let m: f64 = f.next()?.parse().ok()?;
    let s: f64 = f.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}

/// r1 (150, advert_int 1 s) with `notify_master_rx_lower_pri`, r2 (100, advert_int 0.1 s).
/// VRRP multicast dropped on r2: r2 becomes Master too (split brain). Half healed (r2's
/// advertisements reach r1, r1's do not reach r2 yet): r1 hears a lower priority, runs the
/// hook and answers every advertisement of r2 at once (the capture shows r1 advertising at
/// r2's pace, not once a second). Fully healed: r2 steps down; r1 never left MASTER.
#[test]
fn master_hearing_lower_priority_runs_hook_and_reannounces() {
    require!("nft", "tcpdump");
    let mut net = Net::new("rxlo", 2);
    let log = net.path("rx-lower.log");
    let hook = logging_hook(&net.lab, "rx-lower.sh", &log, &[], 0.0);
    let vip = net.vip_cidr(100);
    let r1 = format!(
        "{}{}",
        global_defs(&[]),
        instance(
            "VI_1",
            51,
            150,
            &vip,
            &[format!(
                "notify_master_rx_lower_pri \"{} rxlow\"",
                hook.display()
            )]
        )
        .replace("advert_int 0.1", "advert_int 1")
    );
    let r2 = format!(
        "{}{}",
        global_defs(&[]),
        instance("VI_1", 51, 100, &vip, &[])
    );
    let cap = net.lab.capture("vrrp", "ip proto 112").expect("capture");
    net.start(0, &r1);
    net.expect_state(0, "VI_1", "MASTER");
    net.start(1, &r2);
    net.expect_state(1, "VI_1", "BACKUP");
    net.expect_sole_holder(0, net.vip(100));

    net.routers[1]
        .node
        .drop_vrrp_multicast()
        .expect("drop VRRP on r2");
    net.expect_state(1, "VI_1", "MASTER");
    net.expect("both routers hold the VIP (split brain)", || {
        net.holders(net.vip(100)).len() == 2
    });
    assert!(hook_lines(&log).is_empty(), "r1 heard nothing yet");
    let lower = || {
        net.routers[0]
            .show("VI_1")
            .and_then(|s| s["counters"]["rcvd_lower_priority_as_master"].as_u64())
            .unwrap_or(0)
    };
    let before = lower();

    // Half heal: r2's advertisements leave r2, r1's still do not enter it.
    net.routers[1]
        .node
        .run_ok("nft", &["flush", "chain", "inet", "vrrplab_drop", "output"])
        .expect("flush r2's output drop rules");
    net.expect("r1 should run notify_master_rx_lower_pri", || {
        hook_lines(&log)
            .first()
            .is_some_and(|l| l.args == ["rxlow"])
    });
    net.expect("r1 should count 8 lower-priority advertisements", || {
        lower() >= before + 8
    });
    assert_eq!(
        net.routers[1].state("VI_1"),
        "MASTER",
        "r2 cannot hear r1 yet"
    );

    net.routers[1].node.allow_vrrp_multicast().expect("heal r2");
    let t = Instant::now();
    net.expect_state(1, "VI_1", "BACKUP");
    net.expect_sole_holder(0, net.vip(100));
    eprintln!("r2 back to BACKUP {:?} after the heal", t.elapsed());
    let r1_transitions: Vec<String> = logged_transitions(&net.routers[0].log())
        .into_iter()
        .map(|t| format!("{} -> {}", t.from, t.to))
        .collect();
    assert_eq!(
        r1_transitions,
        ["INIT -> BACKUP", "BACKUP -> MASTER"],
        "r1 should stay Master throughout{}",
        net.lab.diag()
    );

    // The capture: while r2 (priority 100) advertised, r1 answered each advertisement.
    let pcap = cap.stop().expect("stop the capture");
    let out = run(
        std::process::Command::new(vrrpctl()).args([
            "sniff",
            "--pcap",
            &pcap.to_string_lossy(),
            "--json",
        ]),
        Duration::from_secs(60),
    )
    .expect("vrrpctl sniff");
    assert_eq!(out.code, 0, "vrrpctl sniff: {}", out.stderr);
    let packets: Vec<(String, u64, f64)> = out
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| {
            Some((
                v["src"].as_str()?.to_string(),
                v["priority"].as_u64()?,
                time_of_day(v["time"].as_str()?)?,
            ))
        })
        .collect();
    let (ip1, ip2) = (
        net.routers[0].node.ipv4().to_string(),
        net.routers[1].node.ipv4().to_string(),
    );
    let r2_times: Vec<f64> = packets
        .iter()
        .filter(|(s, p, _)| *s == ip2 && *p == 100)
        .map(|(_, _, t)| *t)
        .collect();
    let (Some(first), Some(last)) = (r2_times.first(), r2_times.last()) else {
        panic!("no advertisement of r2 in the capture{}", net.lab.diag());
    };
    let r1_in_window = packets
        .iter()
        .filter(|(s, p, t)| *s == ip1 && *p == 150 && *t >= *first && *t <= last + 0.05)
        .count();
    let window = last - first;
    eprintln!(
        "r2 advertised {} times in {window:.2} s; r1 {} times",
        r2_times.len(),
        r1_in_window
    );
    assert!(
        r2_times.len() >= 8
            && r1_in_window * 2 >= r2_times.len()
            && r1_in_window as f64 > window + 2.0,
        "r1 (advert_int 1 s) should answer r2's advertisements: r2 sent {} in {window:.2} s, r1 {}{}",
        r2_times.len(),
        r1_in_window,
        net.lab.diag()
    );
}

/// With `sync_group_tracking_weight`, a member's weighted tracker may lower its priority
/// below the peer's: r1 (VI_1 and VI_2 at 150, VI_1 tracking a file with weight -60) and r2
/// (both at 100) in sync group G. With 1 in the file, r1's VI_1 drops to 90 while r1's VI_2
/// still outranks r2's: the members disagree about who should be Master. The group must
/// settle with one router Master of both members: keepalived 2.2.7 keeps both on r1 (a
/// member goes Master only when every member of its group wants to, "prefer backup state
/// to avoid thrashing"; r2's VI_1 logs "Receive advertisement timeout" and stays Backup).
/// With 0 again, both are on r1.
#[test]
fn sync_group_with_tracking_weight_settles() {
    require!();
    let mut net = Net::new("sgtw", 2);
    let f1 = net.path("r1-f1.value");
    fs::write(&f1, "0\n").unwrap();
    let (vip1, vip2) = (net.vip_cidr(100), net.vip_cidr(101));
    let group = "vrrp_sync_group G {\n    group {\n        VI_1\n        VI_2\n    }\n    sync_group_tracking_weight\n}\n";
    let r1 = format!(
        "{}vrrp_track_file f1 {{\n    file \"{}\"\n    weight -60\n}}\n{group}{}{}",
        global_defs(&[]),
        f1.display(),
        instance(
            "VI_1",
            51,
            150,
            &vip1,
            &["track_file {\n        f1\n    }".into()]
        ),
        instance("VI_2", 52, 150, &vip2, &[]),
    );
    let r2 = format!(
        "{}{group}{}{}",
        global_defs(&[]),
        instance("VI_1", 51, 100, &vip1, &[]),
        instance("VI_2", 52, 100, &vip2, &[]),
    );
    net.start(1, &r2);
    net.start(0, &r1);
    for inst in ["VI_1", "VI_2"] {
        net.expect_state(0, inst, "MASTER");
        net.expect_state(1, inst, "BACKUP");
    }

    fs::write(&f1, "1\n").unwrap();
    net.expect("r1's VI_1 priority should drop to 90", || {
        net.routers[0].priority("VI_1") == 90
    });
    expect_group_settles(&net);

    fs::write(&f1, "0\n").unwrap();
    for inst in ["VI_1", "VI_2"] {
        net.expect_state(0, inst, "MASTER");
        net.expect_state(1, inst, "BACKUP");
    }
    net.expect_sole_holder(0, net.vip(100));
    net.expect_sole_holder(0, net.vip(101));
}

/// Sync group G = {VI_1, VI_2} on r1 and r2: waits until one router is Master of both
/// members and the other Backup of both, then checks that for 3 s (30 advertisement
/// intervals) nobody changes state any more and that the Master holds both VIPs. Returns
/// the Master's index.
fn expect_group_settles(net: &Net) -> usize {
    let states = |net: &Net, i: usize| -> Vec<String> {
        ["VI_1", "VI_2"]
            .iter()
            .map(|inst| net.routers[i].state(inst))
            .collect()
    };
    let settled = |net: &Net| {
        let (a, b) = (states(net, 0), states(net, 1));
        (a == ["MASTER", "MASTER"] && b == ["BACKUP", "BACKUP"])
            || (b == ["MASTER", "MASTER"] && a == ["BACKUP", "BACKUP"])
    };
    net.expect("one router should be Master of both members", || {
        settled(net)
    });
    std::thread::sleep(Duration::from_millis(500));
    let count = |net: &Net| {
        (
            logged_transitions(&net.routers[0].log()).len(),
            logged_transitions(&net.routers[1].log()).len(),
        )
    };
    let before = count(net);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        count(net),
        before,
        "the sync group keeps changing state (transitions of r1, r2){}",
        net.lab.diag()
    );
    assert!(
        settled(net),
        "the members disagree: r1 {:?}, r2 {:?}{}",
        states(net, 0),
        states(net, 1),
        net.lab.diag()
    );
    let master = if states(net, 0)[0] == "MASTER" { 0 } else { 1 };
    net.expect_sole_holder(master, net.vip(100));
    net.expect_sole_holder(master, net.vip(101));
    master
}

/// A sync group whose members' priorities are crossed: r1 has VI_1 100 and VI_2 150, r2
/// VI_1 150 and VI_2 100. No tracker, no operator: the group must settle on one router
/// (keepalived: whichever got both first; a member goes Master only when all do).
#[test]
fn sync_group_with_crossed_priorities_settles() {
    require!();
    let mut net = Net::new("sgcr", 2);
    let (vip1, vip2) = (net.vip_cidr(100), net.vip_cidr(101));
    let conf = |p1: u8, p2: u8| {
        format!(
            "{}vrrp_sync_group G {{\n    group {{\n        VI_1\n        VI_2\n    }}\n}}\n{}{}",
            global_defs(&[]),
            instance("VI_1", 51, p1, &vip1, &[]),
            instance("VI_2", 52, p2, &vip2, &[]),
        )
    };
    net.start(1, &conf(150, 100));
    net.start(0, &conf(100, 150));
    expect_group_settles(&net);
}

/// `vrrpctl maintenance VI_1 on` on r1, Master of sync group G = {VI_1, VI_2} (150; r2 100):
/// VI_1 resigns and VI_2 follows; the group must then settle on r2, Master of both, with
/// both VIPs.
#[test]
fn sync_group_member_in_maintenance_moves_the_group() {
    require!();
    let mut net = Net::new("sgmn", 2);
    let (vip1, vip2) = (net.vip_cidr(100), net.vip_cidr(101));
    let conf = |p: u8| {
        format!(
            "{}vrrp_sync_group G {{\n    group {{\n        VI_1\n        VI_2\n    }}\n}}\n{}{}",
            global_defs(&[]),
            instance("VI_1", 51, p, &vip1, &[]),
            instance("VI_2", 52, p, &vip2, &[]),
        )
    };
    net.start(1, &conf(100));
    net.start(0, &conf(150));
    for inst in ["VI_1", "VI_2"] {
        net.expect_state(0, inst, "MASTER");
        net.expect_state(1, inst, "BACKUP");
    }
    assert_eq!(net.routers[0].ctl(&["maintenance", "VI_1", "on"]).code, 0);
    assert_eq!(
        expect_group_settles(&net),
        1,
        "r2 should be Master of the group{}",
        net.lab.diag()
    );
}

// ---------------------------------------------------------------------------------------
// Trackers across a reload

/// A configuration with two track files (weight 0): `tf` tracked by VI_1, `tg` defined but
/// not tracked. Returns (text, tf path, tg path).
fn reload_conf(
    net: &Net,
    priority: u8,
    track: &str,
) -> (String, std::path::PathBuf, std::path::PathBuf) {
    let (tf, tg) = (net.path("tf.value"), net.path("tg.value"));
    let text = format!(
        "{}vrrp_track_file tf {{\n    file \"{}\"\n    weight 0\n}}\n\
         vrrp_track_file tg {{\n    file \"{}\"\n    weight 0\n}}\n\
         vrrp_script bad {{\n    script \"/bin/false\"\n    interval 0.2\n    weight 0\n}}\n{}",
        global_defs(&[]),
        tf.display(),
        tg.display(),
        instance(
            "VI_1",
            51,
            priority,
            &net.vip_cidr(100),
            &[track.to_string()]
        )
    );
    (text, tf, tg)
}

/// Reloads router `i` with `text` (written over its configuration file); the reload must
/// succeed.
fn reload(net: &Net, i: usize, text: &str) -> String {
    fs::write(&net.routers[i].daemon().conf, text).expect("rewrite the configuration");
    let out = net.routers[i].ctl(&["reload"]);
    assert_eq!(
        out.code,
        0,
        "reload refused: {}{}",
        out.stderr,
        net.lab.diag()
    );
    out.stdout.trim().to_string()
}

/// r1 (150) in FAULT because of its weight-0 track file stays in FAULT across an unchanged
/// `vrrpctl reload` and across one that changes its priority in place (to 140: FAULT, no
/// transition, effective priority 140); the file back to 0 brings it back as Master (r2 has
/// 100).
#[test]
fn reload_keeps_a_tracker_fault() {
    require!();
    let mut net = Net::new("rlkf", 2);
    let (conf, tf, tg) = reload_conf(&net, 150, "track_file {\n        tf\n    }");
    fs::write(&tf, "0\n").unwrap();
    fs::write(&tg, "0\n").unwrap();
    let r2 = format!(
        "{}{}",
        global_defs(&[]),
        instance("VI_1", 51, 100, &net.vip_cidr(100), &[])
    );
    net.start(1, &r2);
    net.start(0, &conf);
    net.expect_state(0, "VI_1", "MASTER");
    fs::write(&tf, "1\n").unwrap();
    net.expect_state(0, "VI_1", "FAULT");
    net.expect_sole_holder(1, net.vip(100));
    let before = logged_transitions(&net.routers[0].log()).len();

    let summary = reload(&net, 0, &conf);
    assert!(summary.starts_with("1 unchanged"), "{summary}");
    let summary = reload(&net, 0, &conf.replace("priority 150", "priority 140"));
    assert!(summary.contains("1 updated in place"), "{summary}");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(net.routers[0].state("VI_1"), "FAULT", "{}", net.lab.diag());
    assert_eq!(net.routers[0].priority("VI_1"), 140);
    assert_eq!(
        logged_transitions(&net.routers[0].log()).len(),
        before,
        "no transition across the reloads{}",
        net.lab.diag()
    );
    net.expect_sole_holder(1, net.vip(100));

    fs::write(&tf, "0\n").unwrap();
    net.expect_state(0, "VI_1", "MASTER");
    net.expect_sole_holder(0, net.vip(100));
}

/// A reload that makes VI_1 track a file it did not track before (`tg`, weight 0, holding
/// the value 1; defined in the running configuration but unused, so not running) must put
/// it in FAULT, as a restart with that configuration would, or be refused as a reload that
/// changes a tracker definition is ("... need a restart"); so must a reload that makes it
/// track a defined but unused failing `vrrp_script` (`/bin/false`, weight 0).
#[test]
fn reload_tracking_an_unused_tracker() {
    require!();
    let mut net = Net::new("rlad", 1);
    let (conf, tf, tg) = reload_conf(&net, 150, "track_file {\n        tf\n    }");
    fs::write(&tf, "0\n").unwrap();
    fs::write(&tg, "1\n").unwrap();
    net.start(0, &conf);
    net.expect_state(0, "VI_1", "MASTER");

    // Either refused (and the running configuration stays) or applied (FAULT).
    let refused_or_fault = |net: &Net, text: &str| {
        fs::write(&net.routers[0].daemon().conf, text).expect("rewrite the configuration");
        let out = net.routers[0].ctl(&["reload"]);
        if out.code != 0 {
            assert!(out.stderr.contains("restart"), "{}", out.stderr);
            fs::write(&net.routers[0].daemon().conf, &conf).unwrap();
            assert_eq!(net.routers[0].state("VI_1"), "MASTER");
        } else {
            net.expect_state(0, "VI_1", "FAULT");
        }
    };
    let (with_tg, _, _) = reload_conf(&net, 150, "track_file {\n        tf\n        tg\n    }");
    refused_or_fault(&net, &with_tg);
    reload(&net, 0, &conf);
    net.expect_state(0, "VI_1", "MASTER");
    let (with_bad, _, _) = reload_conf(&net, 150, "track_script {\n        bad\n    }");
    refused_or_fault(&net, &with_bad);
}
