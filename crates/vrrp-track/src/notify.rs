//! Notify hooks, run in order per instance (or sync group), each with a timeout.
//!
//! keepalived forks every notify script and forgets it, so a slow BACKUP script can finish
//! after the MASTER script that followed it (issues #996, #1055, #2158...). Here each key (an
//! instance or sync-group name) has its own queue: its hooks run one at a time, in the order
//! they were pushed, each killed (with its process group) at its timeout. Different keys'
//! queues run concurrently, so a hung hook of one instance delays only that instance's
//! later hooks, never another instance, and never the protocol thread (pushing is a
//! non-blocking channel send).

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::{Notify, mpsc};
use tracing::{info, warn};

use crate::script::{self, Outcome, RunAs, ScriptCommand};

/// Default timeout of a notify hook.
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// A queue longer than this is logged (a hook slower than the instance flaps).
const DEPTH_WARNING: usize = 8;

/// The state passed to `notify` scripts and written to the FIFO.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotifyState {
    /// `MASTER`
    Master,
    /// `BACKUP`
    Backup,
    /// `FAULT`
    Fault,
    /// `STOP`: the daemon is stopping.
    Stop,
    /// `DELETED`: the instance is gone (`notify_deleted`).
    Deleted,
}

impl NotifyState {
    /// The word passed to scripts and written to the FIFO.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyState::Master => "MASTER",
            NotifyState::Backup => "BACKUP",
            NotifyState::Fault => "FAULT",
            NotifyState::Stop => "STOP",
            NotifyState::Deleted => "DELETED",
        }
    }
}

impl fmt::Display for NotifyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a hook or FIFO line is about an instance or a sync group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// `INSTANCE`: a `vrrp_instance`.
    Instance,
    /// `GROUP`: a `vrrp_sync_group`.
    Group,
}

impl Scope {
    /// The word passed to scripts and written to the FIFO.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Instance => "INSTANCE",
            Scope::Group => "GROUP",
        }
    }
}

/// A configured notify script: its argv (after the config's word splitting), the user it
/// runs as (`notify_master SCRIPT [user [group]]`, else the default script user), and
/// optionally the executable resolved at load time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookScript {
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// The user and group it runs as; `None` keeps the daemon's identity.
    pub run_as: Option<RunAs>,
    /// The executable resolved at load time, when it differs from `argv[0]`.
    pub program: Option<std::path::PathBuf>,
    /// Why the hook is disabled: its program was missing (or not executable) at load. It is
    /// then never run (as keepalived), but each would-be run is logged and counted
    /// ([`missing_runs`]) until a reload finds the program.
    pub missing: Option<String>,
}

/// Runs of hooks and scripts skipped because their program was missing at load.
static MISSING_RUNS: AtomicU64 = AtomicU64::new(0);

/// How many hook or tracking-script runs were skipped because the program was missing at
/// load (since the daemon started).
pub fn missing_runs() -> u64 {
    MISSING_RUNS.load(Ordering::Relaxed)
}

/// Counts one skipped run of a missing program.
pub(crate) fn count_missing_run() {
    MISSING_RUNS.fetch_add(1, Ordering::Relaxed);
}

impl HookScript {
    /// A script with no resolved executable.
    pub fn new(argv: Vec<String>, run_as: Option<RunAs>) -> HookScript {
        HookScript {
            argv,
            run_as,
            program: None,
            missing: None,
        }
    }
}

/// One hook to run.
#[derive(Debug, Clone)]
pub struct Hook {
    /// For the logs, e.g. `notify_master` or `notify MASTER`.
    pub label: String,
    /// The script and its arguments.
    pub script: HookScript,
    /// `None`: the queue's default.
    pub timeout: Option<Duration>,
}

impl Hook {
    /// A hook run with its configured arguments only (`notify_master`, `notify_backup`,
    /// `notify_fault`, `notify_stop`, `notify_deleted`, `notify_master_rx_lower_pri`).
    pub fn plain(label: &str, script: &HookScript) -> Hook {
        Hook {
            label: label.to_string(),
            script: script.clone(),
            timeout: None,
        }
    }

    /// keepalived's `notify SCRIPT`: four arguments appended,
    /// `INSTANCE|GROUP NAME STATE PRIORITY` (priority 0 for groups).
    pub fn notify(
        script: &HookScript,
        scope: Scope,
        name: &str,
        state: NotifyState,
        priority: u8,
    ) -> Hook {
        let mut s = script.clone();
        s.argv.extend([
            scope.as_str().to_string(),
            name.to_string(),
            state.as_str().to_string(),
            priority.to_string(),
        ]);
        Hook {
            label: format!("notify {state}"),
            script: s,
            timeout: None,
        }
    }

    /// vrrpd's `notify_master_change SCRIPT`: four arguments appended,
    /// `INSTANCE NAME MASTER_ADDRESS PRIORITY`; the address is `none` (priority 0) when no
    /// Master is heard any more.
    pub fn master_change(
        script: &HookScript,
        instance: &str,
        master: Option<IpAddr>,
        priority: u8,
    ) -> Hook {
        let mut s = script.clone();
        s.argv.extend([
            Scope::Instance.as_str().to_string(),
            instance.to_string(),
            master.map_or_else(|| "none".to_string(), |a| a.to_string()),
            if master.is_some() { priority } else { 0 }.to_string(),
        ]);
        Hook {
            label: "notify_master_change".to_string(),
            script: s,
            timeout: None,
        }
    }

    /// Sets a timeout of its own instead of the queue's default.
    pub fn with_timeout(mut self, timeout: Duration) -> Hook {
        self.timeout = Some(timeout);
        self
    }
}

/// The notify scripts of one instance or sync group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotifyScripts {
    /// `notify_master SCRIPT`
    pub master: Option<HookScript>,
    /// `notify_backup SCRIPT`
    pub backup: Option<HookScript>,
    /// `notify_fault SCRIPT`
    pub fault: Option<HookScript>,
    /// `notify_stop SCRIPT`
    pub stop: Option<HookScript>,
    /// `notify_deleted SCRIPT` (with no script, keepalived only changes the state passed to
    /// `notify` from FAULT to DELETED; the daemon decides which state to push).
    pub deleted: Option<HookScript>,
    /// `notify SCRIPT`.
    pub notify: Option<HookScript>,
    /// `notify_master_rx_lower_pri SCRIPT`
    pub master_rx_lower_pri: Option<HookScript>,
    /// vrrpd: `notify_master_change SCRIPT`.
    pub master_change: Option<HookScript>,
}

impl NotifyScripts {
    /// The hooks for a transition to `state`, in keepalived's order: the per-state script,
    /// then `notify` with its four arguments.
    pub fn for_state(
        &self,
        scope: Scope,
        name: &str,
        state: NotifyState,
        priority: u8,
    ) -> Vec<Hook> {
        let per_state = match state {
            NotifyState::Master => (&self.master, "notify_master"),
            NotifyState::Backup => (&self.backup, "notify_backup"),
            NotifyState::Fault => (&self.fault, "notify_fault"),
            NotifyState::Stop => (&self.stop, "notify_stop"),
            NotifyState::Deleted => (&self.deleted, "notify_deleted"),
        };
        let priority = if scope == Scope::Group { 0 } else { priority };
        let mut hooks = Vec::new();
        if let (Some(s), label) = per_state {
            hooks.push(Hook::plain(label, s));
        }
        if let Some(s) = &self.notify {
            hooks.push(Hook::notify(s, scope, name, state, priority));
        }
        hooks
    }

    /// The hooks for "a Master heard a lower-priority advertisement".
    pub fn for_master_rx_lower_pri(&self) -> Vec<Hook> {
        self.master_rx_lower_pri
            .iter()
            .map(|s| Hook::plain("notify_master_rx_lower_pri", s))
            .collect()
    }

    /// The hooks for "the Master of this instance's group is now `master`".
    pub fn for_master_change(
        &self,
        instance: &str,
        master: Option<IpAddr>,
        priority: u8,
    ) -> Vec<Hook> {
        self.master_change
            .iter()
            .map(|s| Hook::master_change(s, instance, master, priority))
            .collect()
    }
}

/// What happened to one hook (sent on the report channel, if one was given).
#[derive(Debug, Clone)]
pub struct HookReport {
    /// The queue it ran in: the instance or sync-group name.
    pub key: String,
    /// The hook's label, e.g. `notify_master`.
    pub label: String,
    /// The program and the arguments it was run with.
    pub argv: Vec<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Time spent in the queue before starting.
    pub waited: Duration,
    /// Run time.
    pub ran: Duration,
}

/// Options of a [`NotifyQueue`].
#[derive(Debug, Clone)]
pub struct NotifyOptions {
    /// Timeout of hooks that set none.
    pub default_timeout: Duration,
    /// Time between SIGTERM and SIGKILL when a hook times out.
    pub kill_grace: Duration,
    /// Where to send a [`HookReport`] per finished hook.
    pub reports: Option<mpsc::UnboundedSender<HookReport>>,
}

impl Default for NotifyOptions {
    fn default() -> NotifyOptions {
        NotifyOptions {
            default_timeout: DEFAULT_HOOK_TIMEOUT,
            kill_grace: Duration::from_secs(2),
            reports: None,
        }
    }
}

struct Queued {
    key: String,
    hook: Hook,
    queued_at: Instant,
}

struct Shared {
    pending: AtomicUsize,
    idle: Notify,
    options: NotifyOptions,
}

/// Per-key ordered hook queues. Cheap to clone; [`NotifyQueue::push`] never blocks and may
/// be called from any thread.
#[derive(Clone)]
pub struct NotifyQueue {
    tx: mpsc::UnboundedSender<Queued>,
    shared: Arc<Shared>,
}

impl NotifyQueue {
    /// Starts the queue's dispatcher on the current tokio runtime.
    pub fn start(options: NotifyOptions) -> NotifyQueue {
        Self::start_on(&Handle::current(), options)
    }

    /// Starts the queue's dispatcher on the runtime of `handle` (hooks run there).
    pub fn start_on(handle: &Handle, options: NotifyOptions) -> NotifyQueue {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            pending: AtomicUsize::new(0),
            idle: Notify::new(),
            options,
        });
        handle.spawn(dispatch(rx, Arc::clone(&shared), handle.clone()));
        NotifyQueue { tx, shared }
    }

    /// Queues `hook` behind the earlier hooks of `key` (an instance or sync-group name).
    pub fn push(&self, key: &str, hook: Hook) {
        self.shared.pending.fetch_add(1, Ordering::SeqCst);
        let queued = Queued {
            key: key.to_string(),
            hook,
            queued_at: Instant::now(),
        };
        if self.tx.send(queued).is_err() {
            // The runtime is gone (daemon shutting down).
            self.done();
            warn!(key, "notify queue stopped; hook dropped");
        }
    }

    /// Queues several hooks in order.
    pub fn push_all(&self, key: &str, hooks: impl IntoIterator<Item = Hook>) {
        for h in hooks {
            self.push(key, h);
        }
    }

    /// Hooks queued or running, over all keys.
    pub fn pending(&self) -> usize {
        self.shared.pending.load(Ordering::SeqCst)
    }

    /// Waits until every queued hook has finished, at most `timeout`; `true` when idle.
    /// Use at shutdown, after pushing the `notify_stop` hooks, so they run before exit.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.pending() == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.pending() == 0;
            }
        }
    }

    fn done(&self) {
        finish(&self.shared);
    }
}

fn finish(shared: &Shared) {
    if shared.pending.fetch_sub(1, Ordering::SeqCst) == 1 {
        shared.idle.notify_waiters();
    }
}

async fn dispatch(mut rx: mpsc::UnboundedReceiver<Queued>, shared: Arc<Shared>, handle: Handle) {
    let mut queues: HashMap<String, (mpsc::UnboundedSender<Queued>, Arc<AtomicUsize>)> =
        HashMap::new();
    while let Some(q) = rx.recv().await {
        let (tx, depth) = queues.entry(q.key.clone()).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let depth = Arc::new(AtomicUsize::new(0));
            handle.spawn(worker(rx, Arc::clone(&shared), Arc::clone(&depth)));
            (tx, depth)
        });
        let n = depth.fetch_add(1, Ordering::SeqCst) + 1;
        if n > DEPTH_WARNING {
            warn!(key = %q.key, "notify queue of {} holds {n} hooks: hooks are slower than the state changes", q.key);
        }
        if let Err(e) = tx.send(q) {
            depth.fetch_sub(1, Ordering::SeqCst);
            finish(&shared);
            warn!(key = %e.0.key, "notify worker gone; hook dropped");
        }
    }
}

async fn worker(
    mut rx: mpsc::UnboundedReceiver<Queued>,
    shared: Arc<Shared>,
    depth: Arc<AtomicUsize>,
) {
    while let Some(q) = rx.recv().await {
        if let Some(why) = &q.hook.script.missing {
            count_missing_run();
            warn!(
                key = %q.key,
                "({}) {} not run: {why} (disabled since the configuration was loaded; reload once it is installed)",
                q.key,
                q.hook.label
            );
            depth.fetch_sub(1, Ordering::SeqCst);
            finish(&shared);
            continue;
        }
        let waited = q.queued_at.elapsed();
        let timeout = q.hook.timeout.unwrap_or(shared.options.default_timeout);
        let mut cmd = ScriptCommand::new(q.hook.script.argv.clone(), timeout);
        cmd.run_as = q.hook.script.run_as;
        cmd.program = q.hook.script.program.clone();
        cmd.kill_grace = shared.options.kill_grace;
        let shown = cmd.display();
        info!(
            key = %q.key,
            "({}) {} starting: {shown} (waited {} ms in queue)",
            q.key,
            q.hook.label,
            waited.as_millis()
        );
        let result = script::run(&cmd).await;
        match &result.outcome {
            Outcome::Exited(0) => info!(
                key = %q.key,
                "({}) {} finished: {}",
                q.key,
                q.hook.label,
                result.summary()
            ),
            Outcome::TimedOut { .. } => warn!(
                key = %q.key,
                "({}) {} timed out after {} ms and was killed with its process group: {}",
                q.key,
                q.hook.label,
                timeout.as_millis(),
                result.summary()
            ),
            _ => warn!(
                key = %q.key,
                "({}) {} failed: {}",
                q.key,
                q.hook.label,
                result.summary()
            ),
        }
        if let Some(reports) = &shared.options.reports {
            let _ = reports.send(HookReport {
                key: q.key.clone(),
                label: q.hook.label.clone(),
                argv: q.hook.script.argv.clone(),
                outcome: result.outcome.clone(),
                waited,
                ran: result.duration,
            });
        }
        depth.fetch_sub(1, Ordering::SeqCst);
        finish(&shared);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(argv: &str) -> HookScript {
        HookScript::new(argv.split(' ').map(String::from).collect(), None)
    }

    #[test]
    fn notify_appends_four_arguments() {
        let h = Hook::notify(
            &s("/bin/n.sh x"),
            Scope::Instance,
            "VI_1",
            NotifyState::Master,
            150,
        );
        assert_eq!(
            h.script.argv,
            ["/bin/n.sh", "x", "INSTANCE", "VI_1", "MASTER", "150"]
        );
    }

    #[test]
    fn group_priority_is_zero_and_order_is_per_state_then_notify() {
        let scripts = NotifyScripts {
            backup: Some(s("/bin/b.sh")),
            notify: Some(s("/bin/n.sh")),
            ..Default::default()
        };
        let hooks = scripts.for_state(Scope::Group, "G1", NotifyState::Backup, 100);
        let argvs: Vec<Vec<String>> = hooks.iter().map(|h| h.script.argv.clone()).collect();
        assert_eq!(
            argvs,
            vec![
                vec!["/bin/b.sh".to_string()],
                ["/bin/n.sh", "GROUP", "G1", "BACKUP", "0"]
                    .map(String::from)
                    .to_vec(),
            ]
        );
        assert!(
            scripts
                .for_state(Scope::Instance, "VI", NotifyState::Fault, 1)
                .len()
                == 1
        );
    }

    #[test]
    fn master_change_arguments() {
        let h = Hook::master_change(
            &s("/bin/m.sh"),
            "VI_1",
            Some("10.99.0.2".parse().unwrap()),
            150,
        );
        assert_eq!(
            h.script.argv,
            ["/bin/m.sh", "INSTANCE", "VI_1", "10.99.0.2", "150"]
        );
        let h = Hook::master_change(&s("/bin/m.sh"), "VI_1", None, 150);
        assert_eq!(
            h.script.argv,
            ["/bin/m.sh", "INSTANCE", "VI_1", "none", "0"]
        );
    }
}
