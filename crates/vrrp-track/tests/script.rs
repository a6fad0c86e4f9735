//! The script runner: exit codes, output, timeouts that kill the whole process group,
//! no zombies, identity change, concurrency.

mod common;

use std::time::{Duration, Instant};

use common::{TempDir, is_dead, is_root, read_pid, read_pid_async, sh, wait_until_async};
use vrrp_track::script::{self, Outcome, RunAs, ScriptCommand};

fn cmd(argv: Vec<String>, timeout_ms: u64) -> ScriptCommand {
    let mut c = ScriptCommand::new(argv, Duration::from_millis(timeout_ms));
    c.kill_grace = Duration::from_millis(300);
    c
}

/// The script was reaped: its /proc entry is gone (or belongs to someone else's child).
fn reaped(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => {
            let ppid = s
                .rfind(')')
                .and_then(|i| s[i + 1..].split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            ppid != Some(std::process::id())
        }
    }
}

#[tokio::test]
async fn exit_codes_and_output() {
    let r = script::run(&cmd(sh("echo out; echo err >&2; exit 3"), 5000)).await;
    assert_eq!(r.outcome, Outcome::Exited(3));
    assert!(!r.outcome.success());
    assert_eq!(r.stdout, "out\n");
    assert_eq!(r.stderr, "err\n");
    assert!(reaped(r.pid.expect("pid")));

    let r = script::run(&cmd(vec!["/bin/true".into()], 5000)).await;
    assert_eq!(r.outcome, Outcome::Exited(0));
    assert!(r.outcome.success());

    let r = script::run(&cmd(sh("kill -USR1 $$; sleep 5"), 5000)).await;
    assert_eq!(r.outcome, Outcome::Signaled(libc::SIGUSR1));
}

#[tokio::test]
async fn output_is_limited() {
    let mut c = cmd(sh("head -c 100000 /dev/zero | tr '\\0' x"), 5000);
    c.output_limit = 64;
    let r = script::run(&c).await;
    assert_eq!(r.outcome, Outcome::Exited(0));
    assert_eq!(r.stdout.len(), 64);
    assert!(r.truncated);
}

#[tokio::test]
async fn failed_to_start() {
    let r = script::run(&cmd(vec!["/nonexistent/vrrp-track-script".into()], 1000)).await;
    match r.outcome {
        Outcome::FailedToStart(e) => assert!(e.contains("/nonexistent/vrrp-track-script"), "{e}"),
        o => panic!("unexpected {o:?}"),
    }
    let r = script::run(&cmd(Vec::new(), 1000)).await;
    assert!(matches!(r.outcome, Outcome::FailedToStart(_)));
}

#[tokio::test]
async fn environment_is_scrubbed() {
    // SAFETY: no other thread of this test binary reads the environment concurrently in a
    // way that matters; the variable is set once for the child to inherit.
    unsafe { std::env::set_var("LD_PRELOAD", "/nonexistent.so") };
    let r = script::run(&cmd(sh("echo \"[${LD_PRELOAD-unset}]\""), 5000)).await;
    assert_eq!(r.stdout.trim(), "[unset]");
}

#[tokio::test]
async fn timeout_kills_the_whole_group_including_a_grandchild() {
    let dir = TempDir::new("timeout");
    let pidfile = dir.s("gc.pid");
    let started = Instant::now();
    let r = script::run(&cmd(
        sh(&format!("sleep 30 & echo $! > {pidfile}; wait")),
        300,
    ))
    .await;
    assert_eq!(r.outcome, Outcome::TimedOut { forced: false });
    assert!(started.elapsed() < Duration::from_secs(5));
    let gc = read_pid(&dir.join("gc.pid"));
    assert!(
        wait_until_async(Duration::from_secs(3), || is_dead(gc)).await,
        "grandchild sleep {gc} survived the timeout"
    );
    assert!(reaped(r.pid.expect("pid")));
}

#[tokio::test]
async fn sigterm_ignored_means_sigkill_for_the_group() {
    let dir = TempDir::new("forced");
    let pidfile = dir.s("gc.pid");
    let started = Instant::now();
    // The ignored SIGTERM is inherited by the grandchild too.
    let r = script::run(&cmd(
        sh(&format!(
            "trap '' TERM; sleep 30 & echo $! > {pidfile}; while :; do sleep 0.05; done"
        )),
        300,
    ))
    .await;
    assert_eq!(r.outcome, Outcome::TimedOut { forced: true });
    assert!(started.elapsed() < Duration::from_secs(5));
    let gc = read_pid(&dir.join("gc.pid"));
    assert!(wait_until_async(Duration::from_secs(3), || is_dead(gc)).await);
    assert!(reaped(r.pid.expect("pid")));
}

#[tokio::test]
async fn leftover_children_killed_only_when_asked() {
    let dir = TempDir::new("leftover");
    let pidfile = dir.s("bg.pid");
    let mut c = cmd(
        sh(&format!("sleep 30 >/dev/null 2>&1 & echo $! > {pidfile}")),
        5000,
    );
    let r = script::run(&c).await;
    assert_eq!(r.outcome, Outcome::Exited(0));
    let bg = read_pid(&dir.join("bg.pid"));
    assert!(!is_dead(bg), "background child should survive by default");
    script::kill_group(r.pid.expect("pid"), nix::sys::signal::Signal::SIGKILL);
    assert!(wait_until_async(Duration::from_secs(3), || is_dead(bg)).await);

    std::fs::remove_file(dir.join("bg.pid")).expect("rm");
    c.kill_group_on_exit = true;
    let r = script::run(&c).await;
    assert_eq!(r.outcome, Outcome::Exited(0));
    let bg = read_pid(&dir.join("bg.pid"));
    assert!(wait_until_async(Duration::from_secs(3), || is_dead(bg)).await);
}

#[tokio::test]
async fn dropping_a_run_kills_the_group() {
    let dir = TempDir::new("drop");
    let pidfile = dir.s("gc.pid");
    let c = cmd(sh(&format!("sleep 30 & echo $! > {pidfile}; wait")), 60_000);
    let task = tokio::spawn(async move { script::run(&c).await });
    let gc = read_pid_async(&dir.join("gc.pid")).await;
    task.abort();
    let _ = task.await;
    assert!(wait_until_async(Duration::from_secs(3), || is_dead(gc)).await);
}

#[tokio::test]
async fn many_runs_at_once() {
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..20 {
        set.spawn(async move {
            let r = script::run(&cmd(sh(&format!("sleep 0.3; exit {}", i % 3)), 5000)).await;
            (i, r)
        });
    }
    let mut n = 0;
    while let Some(res) = set.join_next().await {
        let (i, r) = res.expect("join");
        assert_eq!(r.outcome, Outcome::Exited(i % 3));
        assert!(reaped(r.pid.expect("pid")));
        n += 1;
    }
    assert_eq!(n, 20);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "runs were serialised"
    );
}

#[tokio::test]
async fn runs_as_another_user() {
    if !vrrp_testlab::need(is_root(), "needs root to change user") {
        return;
    }
    let nobody = vrrp_track::security::resolve_user("nobody", None).expect("user nobody");
    assert_ne!(nobody.uid, 0);
    let mut c = cmd(sh("id -u; id -g; id -G"), 5000);
    c.run_as = Some(nobody);
    let r = script::run(&c).await;
    assert_eq!(r.outcome, Outcome::Exited(0), "{}", r.summary());
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            nobody.uid.to_string(),
            nobody.gid.to_string(),
            nobody.gid.to_string()
        ]
    );

    // A user that cannot run the program: failure to start, not a hang.
    let dir = TempDir::new("perm");
    let prog = dir.join("private.sh");
    std::fs::write(&prog, "#!/bin/sh\nexit 0\n").expect("write");
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&prog, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let mut c = cmd(vec![prog.display().to_string()], 5000);
    c.run_as = Some(RunAs {
        uid: nobody.uid,
        gid: nobody.gid,
    });
    let r = script::run(&c).await;
    assert!(
        matches!(r.outcome, Outcome::FailedToStart(_)),
        "{:?}",
        r.outcome
    );
}

#[tokio::test]
async fn a_grandchild_holding_the_pipes_does_not_hold_the_run() {
    let started = Instant::now();
    let r = script::run(&cmd(sh("sleep 5 & echo started"), 5000)).await;
    assert_eq!(r.outcome, Outcome::Exited(0));
    assert_eq!(r.stdout, "started\n");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    script::kill_group(r.pid.expect("pid"), nix::sys::signal::Signal::SIGKILL);
}
