//! Ordered notify hooks: order under flapping, per-instance concurrency, timeouts.

mod common;

use std::time::{Duration, Instant};

use common::{TempDir, sh};
use tokio::sync::mpsc::unbounded_channel;
use vrrp_track::notify::{
    Hook, HookScript, NotifyOptions, NotifyQueue, NotifyScripts, NotifyState, Scope,
};
use vrrp_track::script::Outcome;

/// A hook that sleeps, then appends `tag` to `log`.
fn slow_append(log: &str, secs: &str, tag: &str) -> Hook {
    Hook::plain(
        tag,
        &HookScript::new(sh(&format!("sleep {secs}; echo {tag} >> {log}")), None),
    )
}

fn lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

#[tokio::test]
async fn hooks_of_one_instance_run_in_order_under_flapping() {
    let dir = TempDir::new("order");
    let log1 = dir.s("vi1.log");
    let log2 = dir.s("vi2.log");
    let both = dir.s("both.log");
    let (rtx, mut reports) = unbounded_channel();
    let q = NotifyQueue::start(NotifyOptions {
        reports: Some(rtx),
        ..Default::default()
    });
    // Earlier hooks are slower: unordered execution would finish them last.
    let flaps = [
        ("BACKUP1", "0.4"),
        ("MASTER1", "0.2"),
        ("FAULT1", "0.1"),
        ("BACKUP2", "0.05"),
        ("MASTER2", "0"),
    ];
    let started = Instant::now();
    for (tag, secs) in flaps {
        q.push("VI_1", slow_append(&log1, secs, tag));
        q.push("VI_1", slow_append(&both, "0", tag));
    }
    // Another instance: its quick hook must not wait behind VI_1's.
    q.push("VI_2", slow_append(&log2, "0", "OTHER"));
    q.push("VI_2", slow_append(&both, "0", "OTHER"));
    assert!(q.pending() > 0);
    assert!(
        q.wait_idle(Duration::from_secs(10)).await,
        "hooks did not finish"
    );
    assert_eq!(q.pending(), 0);
    let expected: Vec<String> = flaps.iter().map(|(t, _)| t.to_string()).collect();
    assert_eq!(lines(&dir.join("vi1.log")), expected);
    assert_eq!(lines(&dir.join("vi2.log")), ["OTHER"]);
    // VI_2 ran while VI_1's first (0.4 s) hook was still running.
    assert_eq!(
        lines(&dir.join("both.log")).first().map(String::as_str),
        Some("OTHER")
    );
    // Serial: at least the sum of the sleeps.
    assert!(started.elapsed() >= Duration::from_millis(700));

    let mut n = 0;
    let mut max_wait = Duration::ZERO;
    while let Ok(r) = reports.try_recv() {
        assert_eq!(r.outcome, Outcome::Exited(0), "{r:?}");
        if r.key == "VI_1" {
            max_wait = max_wait.max(r.waited);
        }
        n += 1;
    }
    assert_eq!(n, 12);
    assert!(
        max_wait >= Duration::from_millis(600),
        "queue wait {max_wait:?}"
    );
}

#[tokio::test]
async fn a_hung_hook_is_killed_at_its_timeout_and_the_queue_moves_on() {
    let dir = TempDir::new("hooktimeout");
    let log = dir.s("log");
    let (rtx, mut reports) = unbounded_channel();
    let q = NotifyQueue::start(NotifyOptions {
        default_timeout: Duration::from_millis(300),
        kill_grace: Duration::from_millis(200),
        reports: Some(rtx),
    });
    let started = Instant::now();
    q.push("VI_1", slow_append(&log, "30", "HUNG"));
    q.push(
        "VI_1",
        slow_append(&log, "30", "HUNG2").with_timeout(Duration::from_millis(100)),
    );
    q.push("VI_1", slow_append(&log, "0", "AFTER"));
    assert!(q.wait_idle(Duration::from_secs(10)).await);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(lines(&dir.join("log")), ["AFTER"]);
    let r1 = reports.recv().await.expect("report");
    assert!(matches!(r1.outcome, Outcome::TimedOut { .. }), "{r1:?}");
    assert!(r1.ran >= Duration::from_millis(300));
    let r2 = reports.recv().await.expect("report");
    assert!(matches!(r2.outcome, Outcome::TimedOut { .. }), "{r2:?}");
    assert!(r2.ran < Duration::from_millis(300), "{:?}", r2.ran);
    let r3 = reports.recv().await.expect("report");
    assert_eq!(r3.outcome, Outcome::Exited(0));
}

#[tokio::test]
async fn keepalived_argument_conventions() {
    let dir = TempDir::new("args");
    let log = dir.s("log");
    let record = |name: &str| {
        HookScript::new(
            vec![
                "/bin/sh".into(),
                "-c".into(),
                format!("echo {name} \"$@\" >> {log}"),
                "sh".into(),
            ],
            None,
        )
    };
    let scripts = NotifyScripts {
        master: Some(record("notify_master")),
        fault: Some(record("notify_fault")),
        notify: Some(record("notify")),
        master_change: Some(record("notify_master_change")),
        master_rx_lower_pri: Some(record("rx_lower")),
        ..Default::default()
    };
    let q = NotifyQueue::start(NotifyOptions::default());
    q.push_all(
        "VI_1",
        scripts.for_state(Scope::Instance, "VI_1", NotifyState::Master, 150),
    );
    q.push_all(
        "VI_1",
        scripts.for_state(Scope::Instance, "VI_1", NotifyState::Backup, 150),
    );
    q.push_all(
        "G1",
        scripts.for_state(Scope::Group, "G1", NotifyState::Fault, 150),
    );
    q.push_all("VI_1", scripts.for_master_rx_lower_pri());
    q.push_all(
        "VI_1",
        scripts.for_master_change("VI_1", Some("10.99.0.2".parse().expect("ip")), 200),
    );
    q.push_all("VI_1", scripts.for_master_change("VI_1", None, 200));
    assert!(q.wait_idle(Duration::from_secs(10)).await);
    let mut got = lines(&dir.join("log"));
    // G1's queue runs concurrently with VI_1's: compare VI_1's lines in order, G1's apart.
    let of_g1 = |l: &String| l.contains("G1") || l == "notify_fault";
    let g1: Vec<String> = got.iter().filter(|l| of_g1(l)).cloned().collect();
    got.retain(|l| !of_g1(l));
    assert_eq!(
        got,
        [
            "notify_master",
            "notify INSTANCE VI_1 MASTER 150",
            "notify INSTANCE VI_1 BACKUP 150",
            "rx_lower",
            "notify_master_change INSTANCE VI_1 10.99.0.2 200",
            "notify_master_change INSTANCE VI_1 none 0",
        ]
    );
    // The group's per-state script, then its notify line.
    assert_eq!(g1, ["notify_fault", "notify GROUP G1 FAULT 0"]);
}
