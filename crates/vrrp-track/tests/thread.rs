//! The tracking thread: trackers run on their own runtime; the caller only uses channels;
//! stopping the thread kills running scripts' process groups.

mod common;

use std::time::{Duration, Instant};

use common::{TempDir, is_dead, read_pid, sh, wait_until};
use tokio::sync::mpsc::unbounded_channel;
use vrrp_track::TrackingThread;
use vrrp_track::file::{FileSpec, FileTracker};
use vrrp_track::notify::{Hook, HookScript, NotifyOptions, NotifyQueue};
use vrrp_track::tracker::{ScriptSpec, TrackerStatus, run_script_tracker};

#[test]
fn trackers_and_hooks_run_on_the_tracking_thread() {
    let dir = TempDir::new("thread");
    let thread = TrackingThread::start().expect("start");

    // A tracker whose script hangs (with a grandchild) past the thread's stop.
    let pidfile = dir.s("gc.pid");
    let mut spec = ScriptSpec::new("hang", sh(&format!("sleep 30 & echo $! > {pidfile}; wait")));
    spec.interval = Duration::from_secs(60);
    let (tx, mut rx) = unbounded_channel();
    thread
        .handle()
        .spawn(run_script_tracker(spec, None, None, tx));

    // A quick tracker reports to this (non-async) thread.
    let mut ok = ScriptSpec::new("ok", vec!["/bin/true".into()]);
    ok.timeout = Some(Duration::from_secs(5));
    let (tx2, mut rx2) = unbounded_channel();
    thread
        .handle()
        .spawn(run_script_tracker(ok, None, None, tx2));
    let ev = rx2.blocking_recv().expect("event");
    assert_eq!((ev.name.as_str(), ev.status), ("ok", TrackerStatus::Up));

    // A file tracker set up from this thread, running on the tracking thread.
    std::fs::write(dir.join("value"), "4").expect("write");
    let files = FileTracker::new_on(thread.handle(), vec![FileSpec::new("f", dir.join("value"))])
        .expect("file tracker");
    let (tx3, mut rx3) = unbounded_channel();
    thread.handle().spawn(files.run(tx3));
    assert_eq!(
        rx3.blocking_recv().expect("event").status,
        TrackerStatus::Value(4)
    );
    std::fs::write(dir.join("value"), "-2").expect("write");
    assert_eq!(
        rx3.blocking_recv().expect("event").status,
        TrackerStatus::Value(-2)
    );

    // push() from a thread that has no runtime.
    let q = NotifyQueue::start_on(thread.handle(), NotifyOptions::default());
    let log = dir.s("hook.log");
    q.push(
        "VI_1",
        Hook::plain(
            "h",
            &HookScript::new(sh(&format!("echo done >> {log}")), None),
        ),
    );
    assert!(wait_until(Duration::from_secs(5), || {
        std::fs::read_to_string(dir.join("hook.log")).is_ok_and(|s| s == "done\n")
    }));

    let gc = read_pid(&dir.join("gc.pid"));
    assert!(!is_dead(gc));
    let t = Instant::now();
    thread.stop();
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(
        wait_until(Duration::from_secs(3), || is_dead(gc)),
        "script's grandchild {gc} survived the stop"
    );
    // The trackers' channels are closed.
    assert!(rx.blocking_recv().is_none());
    assert!(rx2.blocking_recv().is_none());
}
