//! vrrp_script rise/fall/init_fail timing, track_file with inotify, track_process quorum.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{TempDir, sh};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use tokio::time::timeout;
use vrrp_track::file::{self, FileInit, FileSpec, FileTracker};
use vrrp_track::process::{ParamMatch, ProcessSpec, run_process_trackers};
use vrrp_track::tracker::{
    ScriptSpec, TrackerEvent, TrackerKind, TrackerStatus, run_script_tracker,
};

async fn next(rx: &mut UnboundedReceiver<TrackerEvent>, limit_ms: u64) -> TrackerEvent {
    timeout(Duration::from_millis(limit_ms), rx.recv())
        .await
        .expect("tracker event in time")
        .expect("channel open")
}

async fn quiet(rx: &mut UnboundedReceiver<TrackerEvent>, ms: u64) {
    if let Ok(Some(ev)) = timeout(Duration::from_millis(ms), rx.recv()).await {
        panic!("unexpected event {ev:?}");
    }
}

fn script_spec(dir: &TempDir, rise: u32, fall: u32, init_fail: bool) -> ScriptSpec {
    let rc = dir.s("rc");
    let mut spec = ScriptSpec::new("chk", sh(&format!("exit $(cat {rc})")));
    spec.interval = Duration::from_millis(50);
    // The default timeout is the interval: too tight for a loaded test machine.
    spec.timeout = Some(Duration::from_secs(2));
    spec.rise = rise;
    spec.fall = fall;
    spec.init_fail = init_fail;
    spec
}

#[tokio::test]
async fn script_rise_and_fall() {
    let dir = TempDir::new("risefall");
    std::fs::write(dir.join("rc"), "0").expect("write");
    let (tx, mut rx) = unbounded_channel();
    let task = tokio::spawn(run_script_tracker(
        script_spec(&dir, 2, 3, false),
        None,
        None,
        tx,
    ));

    // One success is enough at start.
    let ev = next(&mut rx, 2000).await;
    assert_eq!(
        (ev.name.as_str(), ev.kind, ev.status),
        ("chk", TrackerKind::Script, TrackerStatus::Up)
    );

    // fall 3: three failed runs (about 3 intervals) before Down.
    std::fs::write(dir.join("rc"), "1").expect("write");
    let t = Instant::now();
    let ev = next(&mut rx, 3000).await;
    assert_eq!(ev.status, TrackerStatus::Down);
    assert!(ev.detail.contains("exit status 1"), "{}", ev.detail);
    assert!(
        t.elapsed() >= Duration::from_millis(90),
        "fell after {:?}",
        t.elapsed()
    );

    // rise 2.
    std::fs::write(dir.join("rc"), "0").expect("write");
    let t = Instant::now();
    let ev = next(&mut rx, 3000).await;
    assert_eq!(ev.status, TrackerStatus::Up);
    assert!(
        t.elapsed() >= Duration::from_millis(40),
        "rose after {:?}",
        t.elapsed()
    );
    quiet(&mut rx, 200).await;

    task.abort();
}

#[tokio::test]
async fn script_init_fail_starts_down() {
    let dir = TempDir::new("initfail");
    std::fs::write(dir.join("rc"), "0").expect("write");
    let (tx, mut rx) = unbounded_channel();
    let task = tokio::spawn(run_script_tracker(
        script_spec(&dir, 3, 1, true),
        None,
        None,
        tx,
    ));
    let t = Instant::now();
    let ev = next(&mut rx, 1000).await;
    assert_eq!(ev.status, TrackerStatus::Down);
    assert_eq!(ev.detail, "init_fail");
    // Three successes (runs at 0, 50, 100 ms) to rise.
    let ev = next(&mut rx, 3000).await;
    assert_eq!(ev.status, TrackerStatus::Up);
    assert!(
        t.elapsed() >= Duration::from_millis(90),
        "rose after {:?}",
        t.elapsed()
    );
    task.abort();
}

#[tokio::test]
async fn script_first_failure_reported_at_once_and_timeout_is_failure() {
    let mut spec = ScriptSpec::new("slow", sh("sleep 5"));
    spec.interval = Duration::from_millis(300);
    spec.timeout = Some(Duration::from_millis(100));
    spec.rise = 5;
    spec.fall = 5;
    let (tx, mut rx) = unbounded_channel();
    let task = tokio::spawn(run_script_tracker(spec, None, None, tx));
    let ev = next(&mut rx, 3000).await;
    assert_eq!(ev.status, TrackerStatus::Down);
    assert!(ev.detail.contains("timed out"), "{}", ev.detail);
    task.abort();
}

#[tokio::test]
async fn script_tracker_stops_when_the_receiver_goes() {
    let dir = TempDir::new("stop");
    std::fs::write(dir.join("rc"), "0").expect("write");
    let (tx, mut rx) = unbounded_channel();
    let task = tokio::spawn(run_script_tracker(
        script_spec(&dir, 1, 1, false),
        None,
        None,
        tx,
    ));
    let _ = next(&mut rx, 2000).await;
    drop(rx);
    timeout(Duration::from_secs(2), task)
        .await
        .expect("tracker ends")
        .expect("join");
}

#[tokio::test]
async fn track_file_follows_writes_renames_and_deletes() {
    let dir = TempDir::new("file");
    let path = dir.join("prio");
    let tracker = FileTracker::new(vec![FileSpec::new("fprio", &path)]).expect("watch");
    let (tx, mut rx) = unbounded_channel();
    let task = tokio::spawn(tracker.run(tx));

    let ev = next(&mut rx, 1000).await;
    assert_eq!(
        (ev.kind, ev.status),
        (TrackerKind::File, TrackerStatus::Value(0))
    );

    std::fs::write(&path, "5\n").expect("write");
    assert_eq!(next(&mut rx, 2000).await.status, TrackerStatus::Value(5));

    // Replace by rename, the atomic way.
    let tmp = dir.join(".prio.tmp");
    std::fs::write(&tmp, "-30\n").expect("write tmp");
    std::fs::rename(&tmp, &path).expect("rename");
    assert_eq!(next(&mut rx, 2000).await.status, TrackerStatus::Value(-30));

    // Same value again: no event. Garbage keeps the value? No: no digits reads as 0.
    std::fs::write(&path, "-30").expect("write");
    quiet(&mut rx, 200).await;
    std::fs::write(&path, "0x10").expect("write");
    assert_eq!(next(&mut rx, 2000).await.status, TrackerStatus::Value(16));
    // Out of range is ignored.
    std::fs::write(&path, "99999999999").expect("write");
    quiet(&mut rx, 200).await;

    std::fs::remove_file(&path).expect("rm");
    assert_eq!(next(&mut rx, 2000).await.status, TrackerStatus::Value(0));

    // Moved in from elsewhere in the directory.
    let other = dir.join("other");
    std::fs::write(&other, "7").expect("write");
    std::fs::rename(&other, &path).expect("rename");
    assert_eq!(next(&mut rx, 2000).await.status, TrackerStatus::Value(7));

    // Moved away.
    std::fs::rename(&path, dir.join("gone")).expect("rename");
    assert_eq!(next(&mut rx, 2000).await.status, TrackerStatus::Value(0));

    task.abort();
}

#[tokio::test]
async fn track_file_initial_value_and_init_file() {
    let dir = TempDir::new("initfile");
    let path = dir.join("v");
    std::fs::write(&path, "12").expect("write");
    let mut spec = FileSpec::new("v", &path);
    spec.init = Some(FileInit {
        value: 3,
        overwrite: false,
    });
    file::initialise(&spec, false).expect("init");
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        "12",
        "kept without overwrite"
    );
    spec.init = Some(FileInit {
        value: 3,
        overwrite: true,
    });
    file::initialise(&spec, true).expect("init on reload");
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        "12",
        "kept on reload"
    );
    file::initialise(&spec, false).expect("init");
    assert_eq!(std::fs::read_to_string(&path).expect("read"), "3\n");

    let created = FileSpec {
        init: Some(FileInit {
            value: -4,
            overwrite: false,
        }),
        ..FileSpec::new("c", dir.join("created"))
    };
    file::initialise(&created, false).expect("create");
    let tracker = FileTracker::new(vec![spec, created]).expect("watch");
    assert_eq!(
        tracker.values(),
        vec![("v".to_string(), 3), ("c".to_string(), -4)]
    );

    assert!(FileTracker::new(vec![FileSpec::new("x", dir.join("no/such/dir/f"))]).is_err());
}

/// A copy of `sleep` under a unique name (its `comm`), in `dir`.
fn unique_sleep(dir: &TempDir) -> (String, std::path::PathBuf) {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let name = format!("vtk{}x{n}", std::process::id() % 1_000_000);
    let path = dir.join(&name);
    let src = ["/usr/bin/sleep", "/bin/sleep"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("sleep binary");
    std::fs::copy(src, &path).expect("copy sleep");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (name, path)
}

struct Kids(Vec<Child>);

impl Kids {
    fn spawn(&mut self, prog: &std::path::Path, arg: &str) {
        self.0.push(
            Command::new(prog)
                .arg(arg)
                .stdin(Stdio::null())
                .spawn()
                .expect("spawn"),
        );
    }
    fn kill_one(&mut self) {
        if let Some(mut c) = self.0.pop() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Kids {
    fn drop(&mut self) {
        while !self.0.is_empty() {
            self.kill_one();
        }
    }
}

#[tokio::test]
async fn track_process_quorum() {
    let dir = TempDir::new("proc");
    let (name, prog) = unique_sleep(&dir);
    let mut by_comm = ProcessSpec::new("by_comm", &name);
    by_comm.quorum = 2;
    by_comm.quorum_max = 3;
    let mut by_cmd = ProcessSpec::new("by_cmd", &prog.display().to_string());
    by_cmd.args = vec!["30".to_string()];
    let mut by_prefix = ProcessSpec::new("by_prefix", &prog.display().to_string());
    by_prefix.args = vec!["3".to_string()];
    by_prefix.param_match = Some(ParamMatch::Initial);
    let (tx, mut rx) = unbounded_channel();
    let task = tokio::spawn(run_process_trackers(
        vec![by_comm, by_cmd, by_prefix],
        Duration::from_millis(50),
        tx,
    ));
    let mut initial = Vec::new();
    for _ in 0..3 {
        let ev = next(&mut rx, 2000).await;
        assert_eq!(ev.kind, TrackerKind::Process);
        initial.push((ev.name, ev.status));
    }
    initial.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        initial,
        vec![
            ("by_cmd".to_string(), TrackerStatus::Down),
            ("by_comm".to_string(), TrackerStatus::Down),
            ("by_prefix".to_string(), TrackerStatus::Down),
        ]
    );

    let mut kids = Kids(Vec::new());
    kids.spawn(&prog, "31");
    // One process: by_prefix ("3" is a prefix of "31") is up, by_comm needs 2, by_cmd wants "30".
    let ev = next(&mut rx, 2000).await;
    assert_eq!(
        (ev.name.as_str(), ev.status),
        ("by_prefix", TrackerStatus::Up)
    );
    quiet(&mut rx, 200).await;

    kids.spawn(&prog, "30");
    let mut got = [next(&mut rx, 2000).await, next(&mut rx, 2000).await];
    got.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(
        got.iter()
            .map(|e| (e.name.as_str(), e.status))
            .collect::<Vec<_>>(),
        vec![
            ("by_cmd", TrackerStatus::Up),
            ("by_comm", TrackerStatus::Up)
        ]
    );

    // Above quorum_max (3) is a loss too.
    kids.spawn(&prog, "32");
    kids.spawn(&prog, "33");
    let ev = next(&mut rx, 2000).await;
    assert_eq!(
        (ev.name.as_str(), ev.status),
        ("by_comm", TrackerStatus::Down)
    );
    assert!(ev.detail.contains("4 matching"), "{}", ev.detail);
    kids.kill_one();
    let ev = next(&mut rx, 2000).await;
    assert_eq!(
        (ev.name.as_str(), ev.status),
        ("by_comm", TrackerStatus::Up)
    );
    // Kill "32" and "30": one left ("31").
    kids.kill_one();
    kids.kill_one();
    let mut got = [next(&mut rx, 2000).await, next(&mut rx, 2000).await];
    got.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(
        got.iter()
            .map(|e| (e.name.as_str(), e.status))
            .collect::<Vec<_>>(),
        vec![
            ("by_cmd", TrackerStatus::Down),
            ("by_comm", TrackerStatus::Down)
        ]
    );
    quiet(&mut rx, 200).await;
    drop(kids);
    task.abort();
}

#[tokio::test]
async fn track_process_delay_debounces() {
    let dir = TempDir::new("procdelay");
    let (name, prog) = unique_sleep(&dir);
    let mut spec = ProcessSpec::new("d", &name);
    spec.fork_delay = Duration::from_millis(400);
    spec.terminate_delay = Duration::from_millis(400);
    let (tx, mut rx) = unbounded_channel();
    let task = tokio::spawn(run_process_trackers(
        vec![spec],
        Duration::from_millis(50),
        tx,
    ));
    assert_eq!(next(&mut rx, 2000).await.status, TrackerStatus::Down);
    let mut kids = Kids(Vec::new());
    // A process that lives shorter than the delay is not reported.
    kids.spawn(&prog, "30");
    tokio::time::sleep(Duration::from_millis(150)).await;
    kids.kill_one();
    quiet(&mut rx, 600).await;
    // One that stays is, after the delay.
    let t = Instant::now();
    kids.spawn(&prog, "30");
    assert_eq!(next(&mut rx, 3000).await.status, TrackerStatus::Up);
    assert!(
        t.elapsed() >= Duration::from_millis(350),
        "after {:?}",
        t.elapsed()
    );
    drop(kids);
    task.abort();
}
