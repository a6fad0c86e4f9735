//! Trackers (`vrrp_script`, `track_file`, `vrrp_track_process`), notify hooks and notify
//! FIFOs, wired from the configuration to the `vrrp-track` thread.
//!
//! Everything that runs a program or waits on a file runs on that thread; the protocol
//! thread only receives [`TrackerEvent`]s and pushes hooks and FIFO lines, which never
//! blocks (`docs/tracking.md`).

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::HashSet;
use std::time::Duration;

use tokio::sync::mpsc;
use tracing::{info, warn};
use vrrp_config::{Command, Config, GlobalDefs, Location, Notify, TrackRef, VrrpInstance, Warning};
use vrrp_core::TrackerWeight;
use vrrp_core::weights::TrackerKey;
use vrrp_track::fifo::FifoState;
use vrrp_track::notify::NotifyOptions;
use vrrp_track::security::{self, DEFAULT_PATH};
use vrrp_track::{
    FifoScript, FileInit, FileSpec, HookScript, NotifyFifo, NotifyQueue, NotifyScripts,
    NotifyState, ProcessSpec, RunAs, Scope, ScriptSpec, TrackerEvent, TrackingThread,
};

/// Resolves the users and executables of scripts and hooks, applying
/// `enable_script_security` (an unsafe script refuses the configuration).
pub(crate) struct Scripts {
    security: bool,
    script_user: Option<(String, Option<String>)>,
    default: OnceCell<Result<RunAs, String>>,
    /// Scripts and hooks whose program is missing or not executable: keepalived disables
    /// them with a warning and runs; so does vrrpd (`-t --strict` refuses them).
    missing: RefCell<Vec<Warning>>,
    /// Other warnings found while checking (unsafe paths without script security).
    notes: RefCell<Vec<Warning>>,
    /// Scripts would run as root for want of a script user.
    as_root: Cell<bool>,
    /// A script or hook runs as another user or group than root (capabilities kept).
    others: Cell<bool>,
}

/// A checked command: ready to run, or disabled because its program is missing (why).
enum Resolved {
    Ready(RunAs, std::path::PathBuf),
    Missing(String),
}

impl Scripts {
    pub(crate) fn new(global: &GlobalDefs) -> Scripts {
        Scripts {
            security: global.enable_script_security,
            script_user: global
                .script_user
                .as_ref()
                .map(|u| (u.user.clone(), u.group.clone())),
            default: OnceCell::new(),
            missing: RefCell::new(Vec::new()),
            notes: RefCell::new(Vec::new()),
            as_root: Cell::new(false),
            others: Cell::new(false),
        }
    }

    /// The other warnings found so far (`path`: the configuration file, for those that
    /// belong to no line).
    pub(crate) fn notes(&self, path: &std::path::Path) -> Vec<Warning> {
        let mut notes = self.notes.borrow().clone();
        if self.as_root.get() {
            notes.push(Warning {
                file: path.to_path_buf(),
                line: 0,
                column: 0,
                message: format!(
                    "scripts run as root: set script_user in global_defs or create user {}",
                    security::DEFAULT_SCRIPT_USER
                ),
                snippet: String::new(),
                hint: None,
            });
        }
        notes
    }

    /// The located warnings about missing scripts and hooks found so far.
    pub(crate) fn missing(&self) -> Vec<Warning> {
        self.missing.borrow().clone()
    }

    /// Whether a script or hook resolved so far runs as another user or group than root.
    pub(crate) fn runs_as_others(&self) -> bool {
        self.others.get()
    }

    /// keepalived's default script user, looked up once and only when needed.
    fn default_user(&self) -> Result<RunAs, String> {
        self.default
            .get_or_init(|| {
                let configured = self
                    .script_user
                    .as_ref()
                    .map(|(u, g)| (u.as_str(), g.as_deref()));
                match security::default_script_user(configured, self.security) {
                    Ok((run_as, source)) => {
                        self.others.set(self.others.get() || run_as != RunAs::ROOT);
                        if source == security::UserSource::RootInsecure {
                            self.as_root.set(true);
                        }
                        Ok(run_as)
                    }
                    Err(e) => Err(e.to_string()),
                }
            })
            .clone()
    }

    /// A checked command: who it runs as and the executable to run, or why it is disabled.
    fn resolve(&self, label: &str, command: &Command) -> Result<Resolved, String> {
        let at = format!(
            "{}:{}:{}",
            command.location.file.display(),
            command.location.line,
            command.location.column
        );
        let run_as = match &command.user {
            Some(u) => security::resolve_user(&u.user, u.group.as_deref())
                .map_err(|e| format!("{at}: error: {label}: {e}"))?,
            None => self
                .default_user()
                .map_err(|e| format!("{at}: error: {label}: {e}"))?,
        };
        // Also when not installed yet: it may be once the daemon runs.
        self.others.set(self.others.get() || run_as != RunAs::ROOT);
        let check = match security::check_script(
            label,
            &command.argv,
            run_as,
            self.security,
            DEFAULT_PATH,
        ) {
            Ok(check) => check,
            Err(e) if e.is_missing() => {
                let hint = if label.starts_with("vrrp_script") {
                    "keepalived disables it too; until it is installed and the configuration reloaded, the tracker counts as failing (weight 0: FAULT)"
                } else if label == "MISC_CHECK" {
                    "until it is installed, each run of the check fails (the real server counts as down)"
                } else {
                    "keepalived disables it too; until it is installed and the configuration reloaded, each run is skipped and logged"
                };
                self.missing.borrow_mut().push(located_warning(
                    &command.location,
                    format!("{e}: disabled"),
                    hint,
                ));
                return Ok(Resolved::Missing(e.to_string()));
            }
            Err(e) => return Err(format!("{at}: error: {e}")),
        };
        for w in check.warnings {
            let hint = "set enable_script_security, or make the path safe";
            (self.notes.borrow_mut()).push(located_warning(&command.location, w, hint));
        }
        Ok(Resolved::Ready(run_as, check.executable))
    }

    /// A checked hook (`None` when not configured).
    pub(crate) fn hook(
        &self,
        label: &str,
        command: Option<&Command>,
    ) -> Result<Option<HookScript>, String> {
        let Some(command) = command else {
            return Ok(None);
        };
        Ok(Some(match self.resolve(label, command)? {
            Resolved::Ready(run_as, program) => HookScript {
                argv: command.argv.clone(),
                run_as: Some(run_as),
                program: Some(program),
                missing: None,
            },
            Resolved::Missing(why) => HookScript {
                argv: command.argv.clone(),
                run_as: None,
                program: None,
                missing: Some(why),
            },
        }))
    }

    /// What the load balancer's checkers need: the `SSL` block, the default script user
    /// (MISC_CHECK), script security and the `track_file` paths (FILE_CHECK).
    pub(crate) fn probe_context(&self, config: &Config) -> vrrp_check::ProbeContext {
        vrrp_check::ProbeContext {
            tls: config.ssl.clone(),
            // Looked up (and warned about) only when a MISC_CHECK needs it.
            script_user: config
                .virtual_servers
                .iter()
                .any(|vs| vs.real_servers.iter().any(|r| !r.misc_checks.is_empty()))
                .then(|| self.default_user().ok())
                .flatten(),
            script_security: self.security,
            track_files: config
                .track_files
                .iter()
                .map(|f| (f.name.clone(), f.path.clone()))
                .collect(),
            helo_name: String::new(),
        }
    }

    /// The notify scripts of an instance or sync group.
    pub(crate) fn notify_scripts(
        &self,
        notify: &Notify,
        master_change: Option<&Command>,
    ) -> Result<NotifyScripts, String> {
        Ok(NotifyScripts {
            master: self.hook("notify_master", notify.master.as_ref())?,
            backup: self.hook("notify_backup", notify.backup.as_ref())?,
            fault: self.hook("notify_fault", notify.fault.as_ref())?,
            stop: self.hook("notify_stop", notify.stop.as_ref())?,
            deleted: None,
            notify: self.hook("notify", notify.any.as_ref())?,
            master_rx_lower_pri: self.hook(
                "notify_master_rx_lower_pri",
                notify.master_rx_lower_pri.as_ref(),
            )?,
            master_change: self.hook("notify_master_change", master_change)?,
        })
    }
}

/// A warning at `at`, quoting its line (read again from the file; none when unreadable).
pub(crate) fn located_warning(at: &Location, message: String, hint: &str) -> Warning {
    let snippet = std::fs::read_to_string(&at.file)
        .ok()
        .and_then(|text| text.lines().nth(at.line.wrapping_sub(1)).map(str::to_owned))
        .unwrap_or_default();
    Warning {
        file: at.file.clone(),
        line: at.line,
        column: at.column,
        message,
        snippet,
        hint: Some(hint.to_owned()),
    }
}

/// The key of a script, file or process tracker.
pub(crate) fn key(kind: vrrp_track::TrackerKind, name: &str) -> TrackerKey {
    TrackerKey::new(kind, name)
}

/// The trackers of an instance: its own `track_script` / `track_file` / `track_process`
/// lines and its sync group's, each with the instance's weight (else the tracker's own).
pub(crate) fn instance_trackers(config: &Config, instance: &VrrpInstance) -> Vec<TrackerWeight> {
    let group = instance
        .sync_group
        .as_deref()
        .and_then(|g| config.sync_group(g));
    let mut refs = Vec::new();
    let mut add = |kind, r: &TrackRef, weight: i32, reverse: bool| {
        refs.push(TrackerWeight {
            key: key(kind, &r.name),
            weight: r.weight.unwrap_or(weight),
            reverse: r.reverse.unwrap_or(reverse),
        });
    };
    let scripts = instance
        .track_scripts
        .iter()
        .chain(group.into_iter().flat_map(|g| g.track_scripts.iter()));
    for r in scripts {
        if let Some(s) = config.script(&r.name) {
            add(vrrp_track::TrackerKind::Script, r, s.weight, s.reverse);
        }
    }
    let files = instance
        .track_files
        .iter()
        .chain(group.into_iter().flat_map(|g| g.track_files.iter()));
    for r in files {
        if let Some(f) = config.track_file(&r.name) {
            add(vrrp_track::TrackerKind::File, r, f.weight, f.reverse);
        }
    }
    let processes = instance
        .track_processes
        .iter()
        .chain(group.into_iter().flat_map(|g| g.track_processes.iter()));
    for r in processes {
        if let Some(p) = config.track_process(&r.name) {
            add(vrrp_track::TrackerKind::Process, r, p.weight, p.reverse);
        }
    }
    refs
}

/// Everything to start on the tracking thread, checked at configuration load.
pub(crate) struct Plan {
    /// Each script with its program, or why it is disabled.
    scripts: Vec<(ScriptSpec, Result<std::path::PathBuf, String>)>,
    files: Vec<FileSpec>,
    processes: Vec<ProcessSpec>,
    fifos: Vec<(
        std::path::PathBuf,
        Option<RunAs>,
        Option<HookScript>,
        Topics,
    )>,
    default_user: Option<RunAs>,
}

/// Which events a notify FIFO receives: `notify_fifo` both, `vrrp_notify_fifo` the VRRP
/// ones, `lvs_notify_fifo` the load balancer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Topics {
    vrrp: bool,
    lvs: bool,
}

/// Checks every script, hook and FIFO of the configuration (users, executables, script
/// security) and builds the tracker specs. Only trackers some instance or group uses run,
/// as in keepalived. `Err` holds located messages; the configuration is then refused.
pub(crate) fn plan(config: &Config, scripts: &Scripts) -> Result<Plan, Vec<String>> {
    let mut errors = Vec::new();
    let used: HashSet<TrackerKey> = config
        .instances
        .iter()
        .flat_map(|i| instance_trackers(config, i))
        .map(|r| r.key)
        .collect();

    let mut specs = Vec::new();
    for s in &config.scripts {
        if !used.contains(&key(vrrp_track::TrackerKind::Script, &s.name)) {
            scripts.notes.borrow_mut().push(located_warning(
                &s.command.location,
                format!(
                    "vrrp_script `{}` is not used by any instance: it does not run",
                    s.name
                ),
                "track it in an instance or a sync group (`track_script`), or remove it",
            ));
            continue;
        }
        let mut spec = ScriptSpec::new(&s.name, s.command.argv.clone());
        spec.interval = s.interval;
        spec.timeout = Some(s.timeout);
        spec.weight = s.weight;
        spec.reverse = s.reverse;
        spec.rise = s.rise;
        spec.fall = s.fall;
        spec.init_fail = s.init_fail;
        match scripts.resolve(&format!("vrrp_script {}", s.name), &s.command) {
            Ok(Resolved::Ready(run_as, program)) => {
                spec.user = Some(run_as);
                specs.push((spec, Ok(program)));
            }
            Ok(Resolved::Missing(why)) => specs.push((spec, Err(why))),
            Err(e) => errors.push(e),
        }
    }
    let files = config
        .track_files
        .iter()
        .filter(|f| used.contains(&key(vrrp_track::TrackerKind::File, &f.name)))
        .map(|f| {
            let mut spec = FileSpec::new(&f.name, f.path.clone());
            spec.weight = f.weight;
            spec.reverse = f.reverse;
            spec.init = f.init.map(|i| FileInit {
                value: i.value,
                overwrite: i.overwrite,
            });
            spec
        })
        .collect();
    let processes = config
        .track_processes
        .iter()
        .filter(|p| used.contains(&key(vrrp_track::TrackerKind::Process, &p.name)))
        .map(|p| {
            let mut spec = ProcessSpec::new(&p.name, &p.process);
            spec.args = p.args.clone().unwrap_or_default();
            spec.param_match = match (&p.args, p.param_match) {
                (None, _) => None,
                (Some(_), vrrp_config::ParamMatch::Exact) => Some(vrrp_track::ParamMatch::Exact),
                (Some(_), vrrp_config::ParamMatch::Initial) => {
                    Some(vrrp_track::ParamMatch::Initial)
                }
                (Some(_), vrrp_config::ParamMatch::Partial) => {
                    Some(vrrp_track::ParamMatch::Partial)
                }
            };
            spec.full_command = p.full_command;
            spec.weight = p.weight;
            spec.reverse = p.reverse;
            spec.quorum = p.quorum;
            spec.quorum_max = p.quorum_max.unwrap_or(u32::MAX);
            spec.fork_delay = p.fork_delay;
            spec.terminate_delay = p.terminate_delay;
            spec
        })
        .collect();

    let mut fifos = Vec::new();
    let topics = [
        (
            &config.global.notify_fifo,
            Topics {
                vrrp: true,
                lvs: true,
            },
        ),
        (
            &config.global.vrrp_notify_fifo,
            Topics {
                vrrp: true,
                lvs: false,
            },
        ),
        (
            &config.global.lvs.notify_fifo,
            Topics {
                vrrp: false,
                lvs: true,
            },
        ),
    ];
    for (fifo, topics) in topics
        .into_iter()
        .filter_map(|(f, t)| f.as_ref().map(|f| (f, t)))
    {
        let owner = match &fifo.owner {
            Some(u) => match security::resolve_user(&u.user, u.group.as_deref()) {
                Ok(r) => Some(r),
                Err(e) => {
                    errors.push(format!("notify FIFO {}: {e}", fifo.path.display()));
                    None
                }
            },
            None => None,
        };
        match scripts.hook("notify_fifo_script", fifo.script.as_ref()) {
            Ok(reader) => fifos.push((fifo.path.clone(), owner, reader, topics)),
            Err(e) => errors.push(e),
        }
    }
    let needs_default = !specs.is_empty() || !fifos.is_empty();
    let default_user = if needs_default {
        scripts.default_user().ok()
    } else {
        None
    };
    if errors.is_empty() {
        Ok(Plan {
            scripts: specs,
            files,
            processes,
            fifos,
            default_user,
        })
    } else {
        Err(errors)
    }
}

/// Hooks and FIFO lines, as the engine pushes them (never blocks).
#[derive(Clone)]
pub(crate) struct Notifier {
    pub queue: NotifyQueue,
    pub fifos: Vec<(NotifyFifo, Topics)>,
    /// The e-mail alerts (`smtp_alert`).
    pub alerts: crate::alerts::Alerts,
}

impl Notifier {
    pub(crate) fn state_line(&self, scope: Scope, name: &str, state: FifoState, priority: u8) {
        for (f, _) in self.fifos.iter().filter(|(_, t)| t.vrrp) {
            f.state(scope, name, state, priority);
        }
    }

    pub(crate) fn master_change_line(
        &self,
        instance: &str,
        master: Option<std::net::IpAddr>,
        priority: u8,
    ) {
        for (f, _) in self.fifos.iter().filter(|(_, t)| t.vrrp) {
            f.master_change(instance, master, priority);
        }
    }

    /// A load-balancer line (`VS ... UP`, `RS ... DOWN`) for `notify_fifo` and
    /// `lvs_notify_fifo`.
    pub(crate) fn lvs_line(&self, line: &str) {
        for (f, _) in self.fifos.iter().filter(|(_, t)| t.lvs) {
            f.write_line(line);
        }
    }

    /// Waits (bounded) until queued hooks ran and FIFO lines were written.
    pub(crate) async fn drain(&self, timeout: Duration) {
        if !self.queue.wait_idle(timeout).await {
            warn!("notify hooks still running after {timeout:?}; they are killed");
        }
        for (f, _) in &self.fifos {
            let _ = f.flush(timeout).await;
        }
        self.alerts.drain(timeout.min(Duration::from_secs(5))).await;
    }
}

/// The running tracking thread and what lives on it.
pub(crate) struct Tracking {
    thread: TrackingThread,
    readers: Vec<FifoScript>,
    pub notifier: Notifier,
}

impl Tracking {
    /// Starts the tracking thread, the trackers, the hook queue and the FIFOs.
    pub(crate) fn start(
        plan: Plan,
        events: mpsc::UnboundedSender<TrackerEvent>,
    ) -> std::io::Result<Tracking> {
        let thread = TrackingThread::start()?;
        let handle = thread.handle().clone();
        for f in &plan.files {
            if f.init.is_some()
                && let Err(e) = vrrp_track::file::initialise(f, false)
            {
                warn!(
                    "track_file {}: cannot initialise {}: {e}",
                    f.name,
                    f.path.display()
                );
            }
        }
        for (spec, program) in plan.scripts {
            match program {
                Ok(program) => {
                    info!("vrrp_script {}: every {:?}", spec.name, spec.interval);
                    handle.spawn(vrrp_track::tracker::run_script_tracker(
                        spec,
                        Some(program),
                        plan.default_user,
                        events.clone(),
                    ));
                }
                Err(why) => {
                    handle.spawn(vrrp_track::tracker::run_missing_script_tracker(
                        spec,
                        why,
                        events.clone(),
                    ));
                }
            }
        }
        if !plan.files.is_empty() {
            let files = vrrp_track::FileTracker::new_on(&handle, plan.files)?;
            handle.spawn(files.run(events.clone()));
        }
        if !plan.processes.is_empty() {
            handle.spawn(vrrp_track::process::run_process_trackers(
                plan.processes,
                vrrp_track::process::DEFAULT_POLL,
                events.clone(),
            ));
        }
        let queue = NotifyQueue::start_on(&handle, NotifyOptions::default());
        let mut fifos = Vec::new();
        let mut readers = Vec::new();
        for (path, owner, reader, topics) in plan.fifos {
            let fifo = NotifyFifo::open_on(&handle, &path, owner)?;
            if let Some(script) = reader.as_ref().filter(|s| s.missing.is_some()) {
                // Disabled at load: the FIFO is written, nothing reads it from here.
                warn!(
                    "notify FIFO {}: its script {:?} is not started: {}",
                    path.display(),
                    script.argv.first().map_or("", String::as_str),
                    script.missing.as_deref().unwrap_or_default()
                );
            } else if let Some(script) = reader {
                readers.push(FifoScript::start_on(
                    &handle,
                    script.argv,
                    script.run_as,
                    &path,
                ));
            }
            fifos.push((fifo, topics));
        }
        Ok(Tracking {
            thread,
            readers,
            notifier: Notifier {
                queue,
                fifos,
                alerts: crate::alerts::Alerts::off(),
            },
        })
    }

    /// Lets the last hooks run (bounded), then stops the thread, killing what still runs.
    pub(crate) async fn stop(self) {
        self.notifier.drain(Duration::from_secs(10)).await;
        for r in self.readers {
            r.stop().await;
        }
        self.thread.stop();
    }
}

/// keepalived's notify state for a transition to `state`.
pub(crate) fn notify_state(from: vrrp_core::State, to: vrrp_core::State) -> Option<NotifyState> {
    use vrrp_core::State;
    match to {
        State::Master => Some(NotifyState::Master),
        State::Backup => Some(NotifyState::Backup),
        State::Fault => Some(NotifyState::Fault),
        State::Initialize if from != State::Initialize => Some(NotifyState::Stop),
        State::Initialize | State::Observer => None,
    }
}
