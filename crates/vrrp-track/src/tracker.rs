//! Tracker events and the `vrrp_script` tracker.
//!
//! Every tracker (script, file, process) reports on one tokio channel of
//! [`TrackerEvent`]s: the first event gives the initial state, later events only changes.
//! The daemon keeps the latest state per tracker name and recomputes the affected
//! instances' priority with [`crate::weights::priority_adjustment`].

use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;
use tokio::time::MissedTickBehavior;
use tracing::{debug, info, warn};

use crate::script::{self, RunAs, ScriptCommand};
use crate::weights::TrackState;

pub use crate::weights::TrackerKind;

/// The reported state of a tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackerStatus {
    /// Script succeeding / process quorum held.
    Up,
    /// Script failing (after `fall` failures) / quorum lost.
    Down,
    /// The value of a `track_file`.
    Value(i64),
    /// The script was missing (or not executable) at load: the tracker is disabled and
    /// counts as failing (see [`TrackState::Missing`]).
    Missing,
}

impl From<TrackerStatus> for TrackState {
    fn from(s: TrackerStatus) -> TrackState {
        match s {
            TrackerStatus::Up => TrackState::Up,
            TrackerStatus::Down => TrackState::Down,
            TrackerStatus::Value(v) => TrackState::Value(v),
            TrackerStatus::Missing => TrackState::Missing,
        }
    }
}

/// A tracker's state, sent at start and on every change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerEvent {
    /// The tracker's name (`vrrp_script NAME`, `track_file NAME`, `vrrp_track_process NAME`).
    pub name: String,
    /// What it watches.
    pub kind: TrackerKind,
    /// Its state.
    pub status: TrackerStatus,
    /// Why, for the logs: the script's outcome and output, the value read, the process count.
    pub detail: String,
}

impl TrackerEvent {
    /// `true` for [`TrackerStatus::Up`], or a file value of 0.
    pub fn ok(&self) -> bool {
        matches!(self.status, TrackerStatus::Up | TrackerStatus::Value(0))
    }
}

/// A `vrrp_script` block.
///
/// | keepalived | field | default |
/// |---|---|---|
/// | `vrrp_script NAME` | `name` | |
/// | `script "CMD ARGS"` | `command` (argv after the config's word splitting) | |
/// | `interval SECS` | `interval` | 1 s |
/// | `timeout SECS` | `timeout` | `None` = the interval |
/// | `weight N [reverse]` | `weight`, `reverse` (defaults for `track_script`) | 0 |
/// | `rise N` / `fall N` | `rise`, `fall` | 1 / 1 |
/// | `user USER [GROUP]` | `user` (resolved with [`crate::security::resolve_user`]); `None` = `script_user` default | |
/// | `init_fail` | `init_fail` | false |
#[derive(Debug, Clone)]
pub struct ScriptSpec {
    /// `vrrp_script NAME`
    pub name: String,
    /// `script "CMD ARGS"`, as argv.
    pub command: Vec<String>,
    /// `interval SECS`: time between two runs.
    pub interval: Duration,
    /// `timeout SECS`; `None`: the interval.
    pub timeout: Option<Duration>,
    /// `weight N` (0: Fault while failing).
    pub weight: i32,
    /// `weight N reverse`
    pub reverse: bool,
    /// `rise N`: successes needed to count as up.
    pub rise: u32,
    /// `fall N`: failures needed to count as down.
    pub fall: u32,
    /// `user USER [GROUP]`; `None`: the `script_user` default.
    pub user: Option<RunAs>,
    /// `init_fail`: start failed.
    pub init_fail: bool,
}

impl ScriptSpec {
    /// A spec with keepalived's defaults.
    pub fn new(name: &str, command: Vec<String>) -> ScriptSpec {
        ScriptSpec {
            name: name.to_string(),
            command,
            interval: Duration::from_secs(1),
            timeout: None,
            weight: 0,
            reverse: false,
            rise: 1,
            fall: 1,
            user: None,
            init_fail: false,
        }
    }

    /// The timeout actually applied (keepalived: the interval when not set).
    pub fn effective_timeout(&self) -> Duration {
        self.timeout.unwrap_or(self.interval)
    }
}

/// keepalived's rise/fall counter (`vrrp_scheduler.c`, `vrrp_script_child_thread`).
///
/// `result` runs from 0 to `rise + fall - 1`; the script is OK when `result >= rise`. A
/// success below `rise - 1` counts up, otherwise jumps to the top (reporting OK if it was
/// not); a failure above `rise` counts down, otherwise drops to 0 (reporting FAIL if it was
/// OK). Without `init_fail` the counter starts at `rise - 1` in an "init" state, so the
/// first result, success or failure, is reported at once; with `init_fail` it starts at 0
/// (failed, reported at start) and needs `rise` successes.
#[derive(Debug, Clone)]
pub struct RiseFall {
    rise: u32,
    fall: u32,
    result: u32,
    init: bool,
}

impl RiseFall {
    /// A counter in its initial state (see above); `rise` and `fall` are at least 1.
    pub fn new(rise: u32, fall: u32, init_fail: bool) -> RiseFall {
        let rise = rise.max(1);
        let fall = fall.max(1);
        RiseFall {
            rise,
            fall,
            result: if init_fail { 0 } else { rise - 1 },
            init: !init_fail,
        }
    }

    /// The state to report now: `None` before the first result (unless `init_fail`).
    pub fn status(&self) -> Option<bool> {
        if self.init {
            None
        } else {
            Some(self.result >= self.rise)
        }
    }

    /// Records one run; returns the new state when the reported state changes (the first
    /// result always counts as a change).
    pub fn record(&mut self, success: bool) -> Option<bool> {
        let top = self.rise + self.fall - 1;
        let mut change = None;
        if success {
            if self.result < self.rise - 1 {
                self.result += 1;
            } else if self.result != top {
                if self.result < self.rise {
                    change = Some(true);
                }
                self.result = top;
            }
        } else if self.result > self.rise {
            self.result -= 1;
        } else {
            if self.result == self.rise || self.init {
                change = Some(false);
            }
            self.result = 0;
        }
        self.init = false;
        change
    }
}

/// A script whose exit status is 0 but whose stdout is a single non-zero integer was
/// probably written to `echo` its result; vrrp_script only looks at the exit status.
fn echoes_a_status(result: &script::ScriptResult) -> bool {
    if !result.outcome.success() {
        return false;
    }
    let out = result.stdout.trim();
    !out.is_empty() && out != "0" && out.lines().count() == 1 && out.parse::<i64>().is_ok()
}

fn send(tx: &UnboundedSender<TrackerEvent>, spec: &ScriptSpec, ok: bool, detail: String) {
    let _ = tx.send(TrackerEvent {
        name: spec.name.clone(),
        kind: TrackerKind::Script,
        status: if ok {
            TrackerStatus::Up
        } else {
            TrackerStatus::Down
        },
        detail,
    });
}

/// A `vrrp_script` whose program was missing at load (`why`): reports
/// [`TrackerStatus::Missing`] once, as keepalived disables such a script, then counts each
/// run it would have made ([`crate::notify::missing_runs`]) until `tx` is closed. The
/// program is not looked for again: it was not checked (users, script security), so only a
/// reload may enable it.
pub async fn run_missing_script_tracker(
    spec: ScriptSpec,
    why: String,
    tx: UnboundedSender<TrackerEvent>,
) {
    warn!(
        script = %spec.name,
        "VRRP_Script({}) disabled: {why}; it counts as failing until a reload finds it",
        spec.name
    );
    let _ = tx.send(TrackerEvent {
        name: spec.name.clone(),
        kind: TrackerKind::Script,
        status: TrackerStatus::Missing,
        detail: why,
    });
    let mut ticker = tokio::time::interval(spec.interval.max(Duration::from_millis(10)));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    while !tx.is_closed() {
        ticker.tick().await;
        crate::notify::count_missing_run();
    }
}

/// Runs a `vrrp_script` every `interval` until `tx` is closed, and reports its state.
///
/// Runs never overlap: a run that overruns the interval makes the tracker skip the missed
/// ticks (logged). Each run has the spec's timeout, after which its whole process group is
/// killed and the run counts as a failure. Tracker scripts' leftover background children
/// are killed when the script exits.
///
/// `program`: the executable resolved at config load (see
/// [`crate::security::check_script`]), or `None` to run `command[0]` as is.
/// `default_user`: used when the spec has no `user`.
pub async fn run_script_tracker(
    spec: ScriptSpec,
    program: Option<std::path::PathBuf>,
    default_user: Option<RunAs>,
    tx: UnboundedSender<TrackerEvent>,
) {
    let mut cmd = ScriptCommand::new(spec.command.clone(), spec.effective_timeout());
    cmd.program = program;
    cmd.run_as = spec.user.or(default_user);
    cmd.kill_group_on_exit = true;
    cmd.kill_grace = cmd
        .kill_grace
        .min(spec.interval.max(Duration::from_millis(100)));
    let mut rf = RiseFall::new(spec.rise, spec.fall, spec.init_fail);
    if rf.status() == Some(false) {
        info!(script = %spec.name, "VRRP_Script({}) starts failed (init_fail)", spec.name);
        send(&tx, &spec, false, "init_fail".to_string());
    }
    let mut ticker = tokio::time::interval(spec.interval.max(Duration::from_millis(10)));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut warned_echo = false;
    loop {
        let tick = ticker.tick().await;
        if tx.is_closed() {
            break;
        }
        let result = script::run(&cmd).await;
        let ok = result.outcome.success();
        let overran = tick.elapsed() > spec.interval;
        if overran {
            warn!(
                script = %spec.name,
                "VRRP_Script({}) took {} ms, longer than its interval of {} ms; runs are skipped until it is idle",
                spec.name,
                result.duration.as_millis(),
                spec.interval.as_millis()
            );
        }
        if !warned_echo && echoes_a_status(&result) {
            warned_echo = true;
            warn!(
                script = %spec.name,
                "VRRP_Script({}) exited 0 but printed {:?}: only the exit status counts (use `exit N`, not `echo N`)",
                spec.name,
                result.stdout.trim()
            );
        }
        if ok {
            debug!(script = %spec.name, "VRRP_Script({}) ok: {}", spec.name, result.summary());
        } else {
            debug!(script = %spec.name, "VRRP_Script({}) failed: {}", spec.name, result.summary());
        }
        if let Some(now_ok) = rf.record(ok) {
            let detail = result.summary();
            if now_ok {
                info!(script = %spec.name, "VRRP_Script({}) succeeded: {detail}", spec.name);
            } else {
                warn!(script = %spec.name, "VRRP_Script({}) failed: {detail}", spec.name);
            }
            send(&tx, &spec, now_ok, detail);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rf: &mut RiseFall, seq: &[bool]) -> Vec<Option<bool>> {
        seq.iter().map(|&s| rf.record(s)).collect()
    }

    #[test]
    fn defaults_report_first_result() {
        let mut rf = RiseFall::new(1, 1, false);
        assert_eq!(rf.status(), None);
        assert_eq!(
            run(&mut rf, &[true, true, false, false, true]),
            [Some(true), None, Some(false), None, Some(true)]
        );
    }

    #[test]
    fn first_failure_reported_at_once() {
        let mut rf = RiseFall::new(3, 3, false);
        assert_eq!(rf.record(false), Some(false));
        assert_eq!(rf.status(), Some(false));
    }

    #[test]
    fn first_success_is_enough_at_start() {
        let mut rf = RiseFall::new(3, 2, false);
        assert_eq!(rf.record(true), Some(true));
    }

    #[test]
    fn fall_needs_consecutive_failures() {
        let mut rf = RiseFall::new(2, 3, false);
        assert_eq!(rf.record(true), Some(true));
        assert_eq!(
            run(&mut rf, &[false, false, true, false, false, false]),
            [None, None, None, None, None, Some(false)]
        );
    }

    #[test]
    fn rise_needs_consecutive_successes() {
        let mut rf = RiseFall::new(3, 1, false);
        assert_eq!(rf.record(false), Some(false));
        assert_eq!(
            run(&mut rf, &[true, true, false, true, true, true]),
            [None, None, None, None, None, Some(true)]
        );
    }

    #[test]
    fn init_fail_starts_failed_and_needs_rise() {
        let mut rf = RiseFall::new(2, 2, true);
        assert_eq!(rf.status(), Some(false));
        assert_eq!(rf.record(false), None);
        assert_eq!(run(&mut rf, &[true, true]), [None, Some(true)]);
    }

    #[test]
    fn init_fail_rise_one() {
        let mut rf = RiseFall::new(1, 1, true);
        assert_eq!(rf.record(true), Some(true));
    }
}
