//! `vrrp_track_process`: the number of running processes that match, against a quorum.
//!
//! **Polling, not the proc connector.** keepalived listens to the kernel's process events
//! (netlink `CN_IDX_PROC`). That needs CAP_NET_ADMIN, works only in the initial network and
//! pid namespaces (so not in most containers), can lose events under load (then a full
//! rescan is needed anyway), and the kernel may lack `CONFIG_PROC_EVENTS`. vrrpd instead
//! scans `/proc` every [`DEFAULT_POLL`] (200 ms), one scan for all trackers, reading only
//! what the trackers need (`/proc/PID/stat` for names, `/proc/PID/cmdline` for full
//! commands). A change is therefore seen within one poll interval, well below any
//! Master_Down_Interval, and the `delay`s are measured in poll steps.
//!
//! Matching (keepalived `track_process.c`):
//! * by default `process NAME` is compared with the process name (`comm`, as in
//!   `/proc/PID/stat`; the kernel truncates it to 15 bytes, so a longer NAME is compared by its
//!   first 15 bytes — keepalived would never match it);
//! * with arguments (`process NAME ARG...`), `param_match`, or `full_command`, NAME is
//!   compared with `argv[0]` of `/proc/PID/cmdline` (the full path if the process was started
//!   that way), and the arguments by `param_match`:
//!   * none given, no `param_match`: any arguments;
//!   * `exact` (the default once arguments are given): exactly these arguments;
//!   * `partial`: these are the first arguments, whole, more may follow;
//!   * `initial`: these are the first arguments, the last one only as a prefix.
//! * zombies do not count.
//!
//! Quorum: the tracker is up while `quorum <= count <= quorum_max` (defaults 1 and
//! unlimited; `quorum_max 0` means "must not run"). A change is reported once it has
//! lasted `fork_delay` (when the count went up) or `terminate_delay` (when it went down);
//! `delay` sets both. A change that reverts within the delay is not reported.

use std::fs;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;
use tracing::info;

use crate::tracker::{TrackerEvent, TrackerKind, TrackerStatus};

/// How often `/proc` is scanned.
pub const DEFAULT_POLL: Duration = Duration::from_millis(200);

/// Linux's `TASK_COMM_LEN - 1`.
pub const COMM_LEN: usize = 15;

/// `param_match`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamMatch {
    /// The arguments must be exactly the configured ones.
    Exact,
    /// `partial`: the configured arguments must come first; more may follow.
    Partial,
    /// `initial`: like `Partial`, but the last configured argument need only be a prefix of the actual one.
    Initial,
}

/// A `vrrp_track_process` block.
///
/// | keepalived | field | default |
/// |---|---|---|
/// | `vrrp_track_process NAME` | `name` | |
/// | `process PROC [ARG...]` | `process`, `args` | |
/// | `param_match [initial\|partial]` | `param_match` (`exact` when given without a value) | none |
/// | `full_command` | `full_command` | false |
/// | `weight N [reverse]` | `weight`, `reverse` (defaults for the instance's `track_process`) | 0 |
/// | `quorum N` / `quorum_max N` | `quorum`, `quorum_max` | 1 / `u32::MAX` |
/// | `fork_delay S` / `terminate_delay S` / `delay S` | `fork_delay`, `terminate_delay` | 0 |
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    /// `vrrp_track_process NAME`
    pub name: String,
    /// `process PROC`: the process name (or command line with `full_command`).
    pub process: String,
    /// `process PROC ARG...`: the arguments to match.
    pub args: Vec<String>,
    /// `param_match`; `None`: exact when arguments are given, else the name alone.
    pub param_match: Option<ParamMatch>,
    /// `full_command`: match the whole command line instead of the name.
    pub full_command: bool,
    /// `weight N` (0: Fault while the quorum is lost).
    pub weight: i32,
    /// `weight N reverse`
    pub reverse: bool,
    /// `quorum N`: at least this many matching processes.
    pub quorum: u32,
    /// `quorum_max N`: at most this many matching processes.
    pub quorum_max: u32,
    /// `fork_delay S`: how long a rise in the count must last before it is reported.
    pub fork_delay: Duration,
    /// `terminate_delay S`: how long a drop in the count must last before it is reported.
    pub terminate_delay: Duration,
}

impl ProcessSpec {
    /// A spec with keepalived's defaults, matching `process` by name.
    pub fn new(name: &str, process: &str) -> ProcessSpec {
        ProcessSpec {
            name: name.to_string(),
            process: process.to_string(),
            args: Vec::new(),
            param_match: None,
            full_command: false,
            weight: 0,
            reverse: false,
            quorum: 1,
            quorum_max: u32::MAX,
            fork_delay: Duration::ZERO,
            terminate_delay: Duration::ZERO,
        }
    }

    /// Matches against the command line rather than the process name.
    pub fn uses_cmdline(&self) -> bool {
        self.full_command || !self.args.is_empty() || self.param_match.is_some()
    }

    fn effective_match(&self) -> Option<ParamMatch> {
        match self.param_match {
            Some(m) => Some(m),
            None if !self.args.is_empty() => Some(ParamMatch::Exact),
            None => None,
        }
    }

    /// Whether a process with this `comm` and command line counts.
    pub fn matches(&self, comm: &str, cmdline: &[String]) -> bool {
        if !self.uses_cmdline() {
            let want = truncate_comm(&self.process);
            return comm == want;
        }
        let Some((argv0, args)) = cmdline.split_first() else {
            return false;
        };
        if *argv0 != self.process {
            return false;
        }
        match self.effective_match() {
            None => true,
            Some(ParamMatch::Exact) => args == self.args.as_slice(),
            Some(ParamMatch::Partial) => args.starts_with(&self.args),
            Some(ParamMatch::Initial) => {
                let Some((last, first)) = self.args.split_last() else {
                    return true;
                };
                args.len() >= self.args.len()
                    && args[..first.len()] == *first
                    && args[first.len()].starts_with(last.as_str())
            }
        }
    }

    fn in_range(&self, count: u32) -> bool {
        count >= self.quorum && count <= self.quorum_max
    }
}

fn truncate_comm(name: &str) -> &str {
    if name.len() <= COMM_LEN {
        return name;
    }
    let mut end = COMM_LEN;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// One process seen in `/proc`.
#[derive(Debug, Clone, Default)]
pub struct ProcInfo {
    /// The process id.
    pub pid: u32,
    /// The name in `/proc/PID/stat` (at most [`COMM_LEN`] bytes).
    pub comm: String,
    /// `/proc/PID/cmdline`, split at the NULs.
    pub cmdline: Vec<String>,
}

/// Parses `/proc/PID/stat`: the name between the first `(` and the last `)`, and whether the
/// state is zombie.
fn parse_stat(stat: &str) -> Option<(String, bool)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    if close < open {
        return None;
    }
    let comm = stat[open + 1..close].to_string();
    let zombie = stat[close + 1..].trim_start().starts_with('Z');
    Some((comm, zombie))
}

fn parse_cmdline(bytes: &[u8]) -> Vec<String> {
    let mut v: Vec<String> = bytes
        .split(|&b| b == 0)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    if v.last().is_some_and(|s| s.is_empty()) {
        v.pop();
    }
    v
}

/// Scans `/proc`: every live (non-zombie) process, with its command line when
/// `want_cmdline`. Processes that vanish during the scan are skipped.
pub fn scan_proc(want_cmdline: bool) -> Vec<ProcInfo> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((comm, zombie)) = parse_stat(&stat) else {
            continue;
        };
        if zombie {
            continue;
        }
        let cmdline = if want_cmdline {
            match fs::read(format!("/proc/{pid}/cmdline")) {
                Ok(b) => parse_cmdline(&b),
                Err(_) => continue,
            }
        } else {
            Vec::new()
        };
        out.push(ProcInfo { pid, comm, cmdline });
    }
    out
}

/// The debounced quorum state of one tracker (pure; driven by [`run_process_trackers`]).
#[derive(Debug, Clone, Default)]
pub struct Quorum {
    reported: Option<bool>,
    pending: Option<(bool, Instant)>,
    count: u32,
}

impl Quorum {
    /// Feeds the count from one scan at `now`; returns the new state when one is to be
    /// reported (the first scan always reports).
    pub fn update(&mut self, spec: &ProcessSpec, count: u32, now: Instant) -> Option<bool> {
        let in_range = spec.in_range(count);
        let went_up = count > self.count;
        let went_down = count < self.count;
        self.count = count;
        let Some(reported) = self.reported else {
            self.reported = Some(in_range);
            return Some(in_range);
        };
        if in_range == reported {
            self.pending = None;
            return None;
        }
        let deadline = match self.pending {
            Some((target, deadline)) if target == in_range => deadline,
            _ => {
                let delay = if went_up {
                    spec.fork_delay
                } else if went_down {
                    spec.terminate_delay
                } else {
                    Duration::ZERO
                };
                now + delay
            }
        };
        if now >= deadline {
            self.pending = None;
            self.reported = Some(in_range);
            Some(in_range)
        } else {
            self.pending = Some((in_range, deadline));
            None
        }
    }

    /// The last count seen.
    pub fn count(&self) -> u32 {
        self.count
    }
}

/// Counts, for each spec, the matching processes in `procs`.
pub fn count_matches(specs: &[ProcessSpec], procs: &[ProcInfo]) -> Vec<u32> {
    specs
        .iter()
        .map(|s| {
            let n = procs
                .iter()
                .filter(|p| s.matches(&p.comm, &p.cmdline))
                .count();
            u32::try_from(n).unwrap_or(u32::MAX)
        })
        .collect()
}

/// Scans `/proc` every `poll` and reports each tracker's quorum state (initial state at
/// the first scan, then changes) until `tx` is closed. The scan itself runs on the
/// blocking pool so the runtime's thread never waits on `/proc`.
pub async fn run_process_trackers(
    specs: Vec<ProcessSpec>,
    poll: Duration,
    tx: UnboundedSender<TrackerEvent>,
) {
    if specs.is_empty() {
        return;
    }
    let want_cmdline = specs.iter().any(ProcessSpec::uses_cmdline);
    let specs = std::sync::Arc::new(specs);
    let mut states = vec![Quorum::default(); specs.len()];
    let mut ticker = tokio::time::interval(poll.max(Duration::from_millis(10)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = tx.closed() => return,
        }
        let scan_specs = std::sync::Arc::clone(&specs);
        let counts = match tokio::task::spawn_blocking(move || {
            count_matches(&scan_specs, &scan_proc(want_cmdline))
        })
        .await
        {
            Ok(c) => c,
            Err(_) => continue,
        };
        let now = Instant::now();
        for ((spec, state), count) in specs.iter().zip(states.iter_mut()).zip(counts) {
            if let Some(up) = state.update(spec, count, now) {
                let range = if spec.quorum_max == u32::MAX {
                    format!("{}..", spec.quorum)
                } else {
                    format!("{}..={}", spec.quorum, spec.quorum_max)
                };
                let detail = format!("{count} matching processes (quorum {range})");
                info!(process = %spec.name, "track_process {}: quorum {}: {detail}", spec.name, if up { "held" } else { "lost" });
                let _ = tx.send(TrackerEvent {
                    name: spec.name.clone(),
                    kind: TrackerKind::Process,
                    status: if up {
                        TrackerStatus::Up
                    } else {
                        TrackerStatus::Down
                    },
                    detail,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    #[test]
    fn comm_match() {
        let s = ProcessSpec::new("t", "nginx");
        assert!(s.matches("nginx", &[]));
        assert!(!s.matches("nginx2", &[]));
        let long = ProcessSpec::new("t", "a-very-long-process-name");
        assert!(long.matches("a-very-long-pro", &[]));
    }

    #[test]
    fn full_command_matches_argv0_any_args() {
        let mut s = ProcessSpec::new("t", "/usr/sbin/nginx");
        s.full_command = true;
        assert!(s.matches("nginx", &argv("/usr/sbin/nginx -g daemon")));
        assert!(!s.matches("nginx", &argv("nginx -g daemon")));
        assert!(!s.matches("nginx", &[]));
    }

    #[test]
    fn args_default_to_exact() {
        let mut s = ProcessSpec::new("t", "/bin/app");
        s.args = argv("-c conf");
        assert!(s.matches("app", &argv("/bin/app -c conf")));
        assert!(!s.matches("app", &argv("/bin/app -c conf -v")));
        assert!(!s.matches("app", &argv("/bin/app -c")));
    }

    #[test]
    fn param_match_exact_without_args_means_no_args() {
        let mut s = ProcessSpec::new("t", "/bin/app");
        s.param_match = Some(ParamMatch::Exact);
        assert!(s.matches("app", &argv("/bin/app")));
        assert!(!s.matches("app", &argv("/bin/app -v")));
    }

    #[test]
    fn param_match_partial_and_initial() {
        let mut s = ProcessSpec::new("t", "/bin/app");
        s.args = argv("-c conf");
        s.param_match = Some(ParamMatch::Partial);
        assert!(s.matches("app", &argv("/bin/app -c conf -v")));
        assert!(!s.matches("app", &argv("/bin/app -c config")));
        s.param_match = Some(ParamMatch::Initial);
        assert!(s.matches("app", &argv("/bin/app -c config -v")));
        assert!(s.matches("app", &argv("/bin/app -c conf")));
        assert!(!s.matches("app", &argv("/bin/app -x conf")));
        assert!(!s.matches("app", &argv("/bin/app -c")));
    }

    #[test]
    fn stat_parsing() {
        assert_eq!(
            parse_stat("12 (my (odd) name) S 1 2 3"),
            Some(("my (odd) name".to_string(), false))
        );
        assert_eq!(parse_stat("13 (x) Z 1"), Some(("x".to_string(), true)));
        assert_eq!(parse_cmdline(b"/bin/a\0-v\0"), argv("/bin/a -v"));
        assert!(parse_cmdline(b"").is_empty());
    }

    #[test]
    fn quorum_debounce() {
        let mut spec = ProcessSpec::new("t", "x");
        spec.quorum = 2;
        spec.quorum_max = 3;
        spec.fork_delay = Duration::from_millis(100);
        spec.terminate_delay = Duration::from_millis(300);
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut q = Quorum::default();
        assert_eq!(q.update(&spec, 0, ms(0)), Some(false));
        assert_eq!(q.update(&spec, 2, ms(10)), None); // fork_delay running
        assert_eq!(q.update(&spec, 2, ms(50)), None);
        assert_eq!(q.update(&spec, 2, ms(110)), Some(true));
        assert_eq!(q.update(&spec, 1, ms(120)), None); // terminate_delay running
        assert_eq!(q.update(&spec, 2, ms(200)), None); // back in range: cancelled
        assert_eq!(q.update(&spec, 1, ms(210)), None);
        assert_eq!(q.update(&spec, 1, ms(400)), None);
        assert_eq!(q.update(&spec, 1, ms(510)), Some(false));
        // Above quorum_max counts as lost.
        assert_eq!(q.update(&spec, 3, ms(600)), None);
        assert_eq!(q.update(&spec, 3, ms(700)), Some(true));
        assert_eq!(q.update(&spec, 4, ms(710)), None);
        assert_eq!(q.update(&spec, 4, ms(810)), Some(false));
    }

    #[test]
    fn quorum_max_zero_means_must_not_run() {
        let mut spec = ProcessSpec::new("t", "x");
        spec.quorum = 0;
        spec.quorum_max = 0;
        let mut q = Quorum::default();
        let now = Instant::now();
        assert_eq!(q.update(&spec, 0, now), Some(true));
        assert_eq!(q.update(&spec, 1, now), Some(false));
    }
}
