//! A thousand instances (issue 14, docs/benchmarks.md "A thousand instances"): a vrrpd
//! pair with 1,000 VRRPv3 instances at 1 s over 7 namespace LANs, one VIP each. The Master
//! takes every VIP, the Backup enters Backup everywhere, a reload of each with the file
//! unchanged changes nothing (no transition, every instance "unchanged"), and SIGTERM of
//! the Master puts a priority-0 advertisement of every instance on the wire, after which
//! the Backup holds every VIP. Bounds are wide: CI runs a debug build on a loaded VM; the
//! figures are in the benchmark. Lab test: root and namespaces; `SKIPPED` without them, a
//! failure under `VRRPD_LAB_REQUIRED=1`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use vrrp_testlab::scale::{ScaleLab, StateLog, time_until};
use vrrp_testlab::{Daemon, DaemonProc, Node, lab_ready};

const INSTANCES: usize = 1000;
const POLL: Duration = Duration::from_millis(50);

fn start(lab: &ScaleLab, node: &Node, priority: u8) -> DaemonProc {
    let vrrpd = Daemon::Vrrpd {
        binary: PathBuf::from(env!("CARGO_BIN_EXE_vrrpd")),
    };
    let conf = lab.conf(node.name(), priority, INSTANCES, 1.0);
    let d = vrrpd.start(node, &conf).expect("vrrpd starts");
    if let Err(e) = d.wait_ready(Duration::from_secs(30)) {
        panic!("{e}{}", lab.labs[0].diag());
    }
    d
}

/// SIGHUP with the file unchanged: every instance "unchanged", no transition on either side.
fn reload_unchanged(lab: &ScaleLab, d: &DaemonProc, other: &DaemonProc) {
    let mut logs = [StateLog::new(d, false), StateLog::new(other, false)];
    d.proc.kill_main(libc::SIGHUP).expect("SIGHUP");
    let mut text = String::new();
    let done = time_until(Duration::from_secs(10), POLL, || {
        text.push_str(&logs[0].poll());
        text.contains(&format!("reload: {INSTANCES} unchanged,"))
    });
    assert!(
        done.is_some(),
        "no reload summary:\n{text}{}",
        lab.labs[0].diag()
    );
    std::thread::sleep(Duration::from_secs(3));
    for l in &mut logs {
        l.poll();
        assert!(l.entered.is_empty(), "transitions: {:?}", l.entered);
    }
}

#[test]
fn a_thousand_instances_start_reload_and_stop() {
    if !lab_ready(&["tcpdump"]) {
        return;
    }
    let lab = ScaleLab::new("scal", INSTANCES).expect("lab");
    let all = |node: &Node| {
        time_until(Duration::from_secs(40), POLL, || {
            lab.held(node, INSTANCES) == INSTANCES
        })
    };
    let d1 = start(&lab, &lab.r1, 200);
    let held = all(&lab.r1);
    assert!(
        held.is_some(),
        "r1 holds {} VIPs{}",
        lab.held(&lab.r1, INSTANCES),
        lab.labs[0].diag()
    );
    let d2 = start(&lab, &lab.r2, 100);
    let mut log2 = StateLog::new(&d2, true);
    let backups = time_until(Duration::from_secs(30), POLL, || {
        log2.poll();
        log2.count("BACKUP") >= INSTANCES
    });
    assert!(
        backups.is_some(),
        "r2: {} Backups{}",
        log2.count("BACKUP"),
        lab.labs[0].diag()
    );
    reload_unchanged(&lab, &d2, &d1);
    reload_unchanged(&lab, &d1, &d2);

    let (adverts, stopped) = std::thread::scope(|s| {
        let capture = s.spawn(|| lab.capture(5.0, "sigterm"));
        std::thread::sleep(Duration::from_millis(1500));
        let stopped = d1.stop(Duration::from_secs(20)).expect("SIGTERM");
        (capture.join().expect("capture thread"), stopped)
    });
    assert!(stopped, "r1 did not exit on SIGTERM{}", lab.labs[0].diag());
    let adverts = adverts.expect("capture");
    let zero: BTreeSet<(usize, u8)> = adverts
        .iter()
        .filter(|(lan, a)| a.prio == 0 && a.src == lab.r1_source(*lan))
        .map(|(lan, a)| (*lan, a.vrid))
        .collect();
    assert_eq!(zero.len(), INSTANCES, "instances that sent priority 0");
    assert!(
        all(&lab.r2).is_some(),
        "r2 holds {} VIPs",
        lab.held(&lab.r2, INSTANCES)
    );
    let _ = d2.stop(Duration::from_secs(20));
}
