//! vrrpd: the VRRP daemon.
//!
//! The main thread is the protocol thread: a current-thread tokio runtime that runs the
//! engine (sockets, the timerfd protocol timer, link events) and the address worker. Work
//! that may be slow (health checks, scripts, control requests) belongs on other threads, so
//! it can never delay an advertisement.

mod addresses;
mod cli;
mod clock;
mod control;
mod engine;
mod logging;
mod metrics;
mod pidfile;
mod report;
mod setup;
mod tracking;

use std::cell::RefCell;
use std::process::ExitCode;
use std::rc::Rc;

use anyhow::{Context, Result};
use clap::Parser;
use futures::StreamExt;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};
use vrrp_config::Config;
use vrrp_linux::SysctlGuard;
use vrrp_linux::netlink::{Event, Netlink};

use crate::addresses::Job;
use crate::cli::Args;
use crate::clock::ProtocolTimer;
use crate::engine::Engine;
use crate::pidfile::PidFile;

fn main() -> ExitCode {
    let args = Args::parse();
    let _log_flush = logging::init(args.log_detail, args.log_format);

    let path = args.config_path();
    let loaded = match vrrp_config::load(&path) {
        Ok(loaded) => loaded,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!(
                "{}: {} error{} in the configuration",
                path.display(),
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            );
            return ExitCode::FAILURE;
        }
    };
    for w in &loaded.warnings {
        warn!("{w}");
    }
    // Scripts and hooks are checked at load (users, executables, script security), so that
    // `-t` reports what would keep the daemon from starting.
    let scripts = tracking::Scripts::new(&loaded.config.global);
    let mut errors = Vec::new();
    for instance in &loaded.config.instances {
        if let Err(e) = setup::extras(&loaded.config, instance, &scripts) {
            errors.push(e);
        }
    }
    for group in &loaded.config.sync_groups {
        if let Err(e) = scripts.notify_scripts(&group.notify, None) {
            errors.push(e);
        }
    }
    let tracker_plan = match tracking::plan(&loaded.config, &scripts) {
        Ok(plan) => Some(plan),
        Err(e) => {
            errors.extend(e);
            None
        }
    };
    let tracker_plan = match (tracker_plan, errors.is_empty()) {
        (Some(plan), true) => plan,
        _ => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!(
                "{}: {} error(s) in scripts and hooks",
                path.display(),
                errors.len()
            );
            return ExitCode::FAILURE;
        }
    };
    if args.config_test {
        println!("{}: configuration is valid", path.display());
        return ExitCode::SUCCESS;
    }

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let local = tokio::task::LocalSet::new();
    match local.block_on(&runtime, run(loaded.config, scripts, tracker_plan, &args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    config: Config,
    scripts: tracking::Scripts,
    tracker_plan: tracking::Plan,
    args: &Args,
) -> Result<()> {
    // Signals first: from the moment the pid file names us, a signal must not kill us.
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut sigusr1 = signal(SignalKind::user_defined1())?;
    let mut sigusr2 = signal(SignalKind::user_defined2())?;
    let _pid_file = PidFile::acquire(&args.pid_file)?;

    let nl = Netlink::new().context("cannot open rtnetlink")?;
    // Subscribe before reading the initial link state, so no change falls in between.
    let mut link_events = vrrp_linux::netlink::events()
        .await
        .context("cannot subscribe to link events")?;
    let plan = setup::prepare(&nl, &config, &scripts).await?;
    let (tracker_tx, mut tracker_rx) = mpsc::unbounded_channel();
    let tracking =
        tracking::Tracking::start(tracker_plan, tracker_tx).context("cannot start the trackers")?;
    let mut sysctls = plan.sysctls;
    let no_accept = !setup::no_accept_vips(&config).is_empty();
    if no_accept {
        setup::apply_no_accept(&config)?;
    }

    let (jobs, job_rx) = mpsc::unbounded_channel();
    let worker = tokio::task::spawn_local(addresses::run(nl.clone(), job_rx));
    let mut engine = Engine::new(jobs.clone(), config.global.check_unicast_src);
    for router in plan.routers {
        engine.add_router(router)?;
    }
    let (watchers, _) = tokio::sync::broadcast::channel(1024);
    engine.set_events(watchers.clone());
    engine.set_notifier(tracking.notifier.clone());
    for group in &config.sync_groups {
        let notify = scripts
            .notify_scripts(&group.notify, None)
            .map_err(|e| anyhow::anyhow!(e))?;
        engine.set_group(&group.name, notify);
    }
    let metrics = args
        .metrics_listen
        .or(config.global.metrics_listen)
        .map(|addr| {
            let histogram = metrics::lateness_histogram();
            engine.lateness_histogram = Some(histogram.clone());
            (addr, histogram)
        });
    let engine = Rc::new(RefCell::new(engine));
    let (control_tx, mut control_rx) = mpsc::channel::<control::ControlRequest>(64);
    control::spawn(&args.control_socket, control_tx, watchers, metrics)?;
    let timer = Rc::new(ProtocolTimer::new().context("cannot create the protocol timer")?);

    if !config.global.startup_delay.is_zero() {
        info!(
            "waiting vrrp_startup_delay {:?} before starting",
            config.global.startup_delay
        );
        tokio::time::sleep(config.global.startup_delay).await;
    }
    let links = nl.links().await?;
    engine.borrow_mut().start(clock::now(), &links);
    timer.arm(engine.borrow().next_deadline())?;
    let socket_count = engine.borrow().sockets.len();
    for index in 0..socket_count {
        spawn_receiver(&engine, &timer, index)?;
    }
    let count = engine.borrow().routers.len();
    info!("vrrpd started with {count} instance(s)");
    systemd(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status(&format!("{count} VRRP instance(s)")),
    ]);

    // Link events: the instance's interface and tracked interfaces, debounced by
    // `interface_up_down_delays` (a change that reverts within the delay is ignored).
    {
        let engine = Rc::clone(&engine);
        let timer = Rc::clone(&timer);
        let delays: std::collections::HashMap<String, (std::time::Duration, std::time::Duration)> =
            config
                .interface_delays
                .iter()
                .map(|d| (d.interface.clone(), (d.down, d.up)))
                .collect();
        tokio::task::spawn_local(async move {
            let generation: Rc<RefCell<std::collections::HashMap<String, u64>>> = Rc::default();
            while let Some(event) = link_events.next().await {
                let Event::Link(link) = event else { continue };
                let apply = {
                    let engine = Rc::clone(&engine);
                    let timer = Rc::clone(&timer);
                    move |link: &vrrp_linux::netlink::Link| {
                        engine.borrow_mut().on_link(clock::now(), link);
                        if let Err(e) = timer.arm(engine.borrow().next_deadline()) {
                            error!("cannot arm the protocol timer: {e}");
                        }
                    }
                };
                let delay = delays
                    .get(&link.name)
                    .map(|(down, up)| if link.up { *up } else { *down })
                    .unwrap_or_default();
                let mine = {
                    let mut g = generation.borrow_mut();
                    let n = g.entry(link.name.clone()).or_default();
                    *n += 1;
                    *n
                };
                if delay.is_zero() {
                    apply(&link);
                    continue;
                }
                let generation = Rc::clone(&generation);
                tokio::task::spawn_local(async move {
                    tokio::time::sleep(delay).await;
                    if generation.borrow().get(&link.name) == Some(&mine) {
                        apply(&link);
                    }
                });
            }
        });
    }

    // systemd's watchdog: prove the protocol thread is alive at half the period.
    let watchdog_period = sd_notify::watchdog_enabled().map(|d| d / 2);
    let mut watchdog =
        tokio::time::interval(watchdog_period.unwrap_or(std::time::Duration::from_secs(3600)));
    let watchdog_on = watchdog_period.is_some();

    let reloader = Rc::new(Reloader {
        config: RefCell::new(config),
        nl: nl.clone(),
        path: args.config_path(),
        engine: Rc::clone(&engine),
        timer: Rc::clone(&timer),
        running: std::cell::Cell::new(false),
        sysctls: RefCell::new(Vec::new()),
    });
    loop {
        tokio::select! {
            biased;
            result = timer.expired() => {
                let armed = result?;
                let mut e = engine.borrow_mut();
                let now = clock::now();
                if armed.is_some_and(|deadline| now - deadline > std::time::Duration::from_millis(1)) {
                    // Woken late: first see what arrived meanwhile.
                    e.drain_sockets(now);
                }
                e.on_timer(now, armed);
                timer.arm(e.next_deadline())?;
            }
            Some(req) = control_rx.recv() => {
                if req.request == control::Request::Reload {
                    // A reload waits for the file and the kernel: its own task, so that the
                    // protocol timer is served meanwhile.
                    control::log_action(&req.who, "reload");
                    let reloader = Rc::clone(&reloader);
                    tokio::task::spawn_local(async move {
                        let result = reloader.reload().await;
                        let _ = req.reply.send(result.map(serde_json::Value::String));
                    });
                    continue;
                }
                let mut e = engine.borrow_mut();
                let answer = e.control(clock::now(), req.request, &req.who);
                let _ = req.reply.send(answer);
                timer.arm(e.next_deadline())?;
            }
            Some(event) = tracker_rx.recv() => {
                let mut e = engine.borrow_mut();
                e.on_tracker(clock::now(), &event);
                timer.arm(e.next_deadline())?;
            }
            _ = watchdog.tick(), if watchdog_on => systemd(&[sd_notify::NotifyState::Watchdog]),
            _ = sigterm.recv() => { info!("SIGTERM: shutting down"); break; }
            _ = sigint.recv() => { info!("SIGINT: shutting down"); break; }
            _ = sighup.recv() => {
                info!("SIGHUP: reloading the configuration");
                let reloader = Rc::clone(&reloader);
                tokio::task::spawn_local(async move {
                    let _ = reloader.reload().await;
                });
            }
            _ = sigusr1.recv() => {
                let doc = report::state(&engine.borrow(), clock::now());
                match report::write(&args.state_file, &doc) {
                    Ok(()) => info!("SIGUSR1: state written to {}", args.state_file.display()),
                    Err(e) => warn!("SIGUSR1: cannot write {}: {e}", args.state_file.display()),
                }
            }
            _ = sigusr2.recv() => {
                let doc = report::stats(&engine.borrow());
                match report::write(&args.stats_file, &doc) {
                    Ok(()) => info!("SIGUSR2: statistics written to {}", args.stats_file.display()),
                    Err(e) => warn!("SIGUSR2: cannot write {}: {e}", args.stats_file.display()),
                }
            }
        }
    }

    systemd(&[sd_notify::NotifyState::Stopping]);
    engine.borrow_mut().shutdown(clock::now());
    // STOP hooks are queued: let them run (bounded), then stop the trackers.
    tracking.stop().await;
    let (done, flushed) = oneshot::channel();
    let _ = jobs.send(Job::Flush(done));
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), flushed).await;
    worker.abort();
    let vmacs: Vec<(u32, String)> = engine
        .borrow()
        .routers
        .iter()
        .filter_map(|r| r.plan.vmac.as_ref().map(|v| (v.ifindex, v.name.clone())))
        .collect();
    for (ifindex, name) in vmacs {
        if let Err(e) = nl.delete_link(ifindex).await {
            warn!("cannot delete virtual MAC interface {name}: {e}");
        }
    }
    for e in sysctls.restore().into_iter().chain(
        reloader
            .sysctls
            .borrow_mut()
            .iter_mut()
            .flat_map(|g| g.restore()),
    ) {
        warn!("cannot restore a sysctl: {e}");
    }
    if (no_accept || !setup::no_accept_vips(&reloader.config.borrow()).is_empty())
        && let Err(e) = vrrp_linux::nft::remove_no_accept()
    {
        warn!("cannot remove the no_accept filter: {e}");
    }
    let _ = std::fs::remove_file(&args.control_socket);
    info!("vrrpd stopped");
    Ok(())
}

/// Starts the task that reads socket `index` and feeds the engine.
fn spawn_receiver(
    engine: &Rc<RefCell<Engine>>,
    timer: &Rc<ProtocolTimer>,
    index: usize,
) -> Result<()> {
    let socket = Rc::clone(&engine.borrow().sockets[index]);
    // SAFETY: the `Rc` keeps the socket, and so its descriptor, open for as long as the
    // `AsyncFd` exists.
    let fd = unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) }
        .map_err(|e| anyhow::anyhow!("cannot poll a VRRP socket: {e}"))?;
    let engine = Rc::clone(engine);
    let timer = Rc::clone(timer);
    tokio::task::spawn_local(async move {
        let mut buf = vec![0u8; 65_536];
        loop {
            let Ok(mut guard) = fd.readable().await else {
                return;
            };
            loop {
                match fd.get_ref().recv(&mut buf) {
                    Ok(received) => {
                        let Some(bytes) = buf.get(received.payload.clone()) else {
                            continue;
                        };
                        engine
                            .borrow_mut()
                            .on_packet(clock::now(), bytes, &received);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        guard.clear_ready();
                        break;
                    }
                    Err(e) => debug!("discarded a malformed packet: {e}"),
                }
            }
            if let Err(e) = timer.arm(engine.borrow().next_deadline()) {
                error!("cannot arm the protocol timer: {e}");
            }
        }
    });
    Ok(())
}

/// Reload: read the configuration again and apply the difference. An instance whose
/// settings did not change keeps its state, timers and counters; a changed one is updated
/// in place when it is the same virtual router, and re-created otherwise; a removed one
/// leaves gracefully (priority 0, VIPs removed). A configuration that does not load is
/// refused as a whole and the running one stays.
struct Reloader {
    /// The configuration running now.
    config: std::cell::RefCell<Config>,
    nl: Netlink,
    path: std::path::PathBuf,
    engine: Rc<RefCell<Engine>>,
    timer: Rc<ProtocolTimer>,
    running: std::cell::Cell<bool>,
    /// Sysctls set for instances that reloads added (restored on exit).
    sysctls: RefCell<Vec<SysctlGuard>>,
}

impl Reloader {
    async fn reload(&self) -> Result<String, String> {
        if self.running.replace(true) {
            return Err("a reload is already running".into());
        }
        // systemd's notify-reload protocol wants the monotonic time with RELOADING=1.
        match sd_notify::NotifyState::monotonic_usec_now() {
            Ok(now) => systemd(&[sd_notify::NotifyState::Reloading, now]),
            Err(_) => systemd(&[sd_notify::NotifyState::Reloading]),
        }
        let result = self.apply().await;
        self.running.set(false);
        systemd(&[sd_notify::NotifyState::Ready]);
        if let Err(e) = self.timer.arm(self.engine.borrow().next_deadline()) {
            error!("cannot arm the protocol timer: {e}");
        }
        match &result {
            Ok(summary) => info!("reload: {summary}"),
            Err(e) if e.starts_with("applied") => error!("reload {e}"),
            Err(e) => error!("reload refused, the running configuration stays: {e}"),
        }
        result
    }

    async fn apply(&self) -> Result<String, String> {
        // Parse off the protocol thread's runtime work: a large file must not delay timers.
        let path = self.path.clone();
        let loaded = tokio::task::spawn_blocking(move || vrrp_config::load(&path))
            .await
            .map_err(|e| format!("cannot read the configuration: {e}"))?;
        let config = match loaded {
            Ok(loaded) => {
                for w in &loaded.warnings {
                    warn!("{w}");
                }
                loaded.config
            }
            Err(errors) => {
                let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
                return Err(text.join("\n"));
            }
        };

        {
            let running = self.config.borrow();
            if running.scripts != config.scripts
                || running.track_files != config.track_files
                || running.track_processes != config.track_processes
                || running.sync_groups != config.sync_groups
                || running.global.notify_fifo != config.global.notify_fifo
                || running.global.vrrp_notify_fifo != config.global.vrrp_notify_fifo
                || running.global.enable_script_security != config.global.enable_script_security
                || running.global.script_user != config.global.script_user
            {
                return Err("vrrp_script, track_file, vrrp_track_process, vrrp_sync_group, notify FIFO and script security changes need a restart; reload changes instances only".into());
            }
            // Only the trackers in use run: a reload that starts using another one needs
            // a restart too.
            let used = |c: &Config| -> std::collections::BTreeSet<vrrp_core::weights::TrackerKey> {
                c.instances
                    .iter()
                    .flat_map(|i| tracking::instance_trackers(c, i))
                    .map(|t| t.key)
                    .collect()
            };
            let (before, after) = (used(&running), used(&config));
            if let Some(new) = after.difference(&before).next() {
                return Err(format!(
                    "tracker {new} is not running (no instance used it at start); using it needs a restart"
                ));
            }
        }
        let scripts = tracking::Scripts::new(&config.global);
        let mut extras = std::collections::HashMap::new();
        for instance in &config.instances {
            extras.insert(
                instance.name.clone(),
                setup::extras(&config, instance, &scripts)?,
            );
        }

        let now = clock::now();
        let mut unchanged = 0;
        let mut updated = Vec::new();
        let mut recreated = Vec::new();
        let mut removed = Vec::new();
        let mut added = Vec::new();
        {
            let engine = self.engine.borrow();
            for r in &engine.routers {
                match config
                    .instances
                    .iter()
                    .find(|n| n.name == r.plan.config.name)
                {
                    None => removed.push(r.plan.config.name.clone()),
                    Some(new) => {
                        let mut same = new.clone();
                        same.location = r.plan.config.location.clone();
                        if same == r.plan.config {
                            unchanged += 1;
                        } else if setup::same_identity(&r.plan.config, new) {
                            updated.push(new.clone());
                        } else {
                            recreated.push(new.clone());
                        }
                    }
                }
            }
            for new in &config.instances {
                if engine.index_of(&new.name).is_none() {
                    added.push(new.clone());
                }
            }
        }

        // 0. Everything that can fail is checked before anything changes: a refused reload
        //    leaves the running configuration exactly as it was.
        let mut resolved = Vec::new();
        for new in updated.iter() {
            let ifindex = {
                let engine = self.engine.borrow();
                engine
                    .index_of(&new.name)
                    .map(|i| engine.routers[i].plan.vip_ifindex)
            };
            let Some(ifindex) = ifindex else { continue };
            let addresses = setup::resolve_addresses(&self.nl, new, ifindex)
                .await
                .map_err(|e| format!("{}: {e:#}", new.name))?;
            resolved.push((new.clone(), addresses));
        }
        for new in added.iter().chain(recreated.iter()) {
            setup::check_instance(&self.nl, new)
                .await
                .map_err(|e| format!("{}: {e:#}", new.name))?;
        }

        // 1. Leave: removed instances, and the old form of re-created ones.
        for name in removed.iter().chain(recreated.iter().map(|n| &n.name)) {
            let plan = {
                let mut engine = self.engine.borrow_mut();
                let Some(i) = engine.index_of(name) else {
                    continue;
                };
                engine.remove_router(i, clock::now())
            };
            if let Some(vmac) = plan.and_then(|p| p.vmac) {
                let (done, flushed) = oneshot::channel();
                let _ = self.engine.borrow().queue_flush(done);
                let _ = tokio::time::timeout(std::time::Duration::from_secs(5), flushed).await;
                if let Err(e) = self.nl.delete_link(vmac.ifindex).await {
                    warn!("cannot delete virtual MAC interface {}: {e}", vmac.name);
                }
            }
        }

        // 2. In place: every removal before every addition, so a VIP moves in one reload.
        let (mut all_removed, mut all_added) = (Vec::new(), Vec::new());
        {
            let mut engine = self.engine.borrow_mut();
            engine.set_check_unicast_src(config.global.check_unicast_src);
            for (new, addresses) in resolved {
                let Some(i) = engine.index_of(&new.name) else {
                    continue;
                };
                let Some(x) = extras.remove(&new.name) else {
                    continue;
                };
                let (r, a) = engine.update_router(i, now, new, x, addresses);
                all_removed.extend(r);
                all_added.extend(a);
            }
            engine.queue_address_changes(all_removed, all_added);
            engine.clear_operator_priorities(clock::now());
        }

        // 3. Start: new instances, and the new form of re-created ones. They were checked
        //    above; a failure here (the kernel changed meanwhile) is reported, and the other
        //    instances still start.
        let mut sysctls = SysctlGuard::new();
        let mut failed = Vec::new();
        for new in added.iter().chain(recreated.iter()) {
            let Some(x) = extras.remove(&new.name) else {
                continue;
            };
            let plan = match setup::prepare_instance(&self.nl, new, x, &mut sysctls).await {
                Ok(plan) => plan,
                Err(e) => {
                    failed.push(format!("{}: {e:#}", new.name));
                    continue;
                }
            };
            let opened = {
                let mut engine = self.engine.borrow_mut();
                match engine.add_router(plan) {
                    Ok(opened) => {
                        let i = engine.routers.len() - 1;
                        engine.start_router(i, clock::now());
                        opened
                    }
                    Err(e) => {
                        failed.push(e.to_string());
                        None
                    }
                }
            };
            if let Some(index) = opened
                && let Err(e) = spawn_receiver(&self.engine, &self.timer, index)
            {
                failed.push(e.to_string());
            }
        }
        self.sysctls.borrow_mut().push(sysctls);
        let filter_changed =
            setup::no_accept_vips(&self.config.borrow()) != setup::no_accept_vips(&config);
        if filter_changed && let Err(e) = setup::apply_no_accept(&config) {
            failed.push(format!("{e:#}"));
        }
        *self.config.borrow_mut() = config;
        if !failed.is_empty() {
            return Err(format!("applied, except: {}", failed.join("; ")));
        }
        Ok(format!(
            "{unchanged} unchanged, {} updated in place, {} re-created, {} removed, {} added",
            updated.len(),
            recreated.len(),
            removed.len(),
            added.len()
        ))
    }
}

/// Tells systemd (when it started us with NOTIFY_SOCKET) how we are doing.
fn systemd(state: &[sd_notify::NotifyState]) {
    if std::env::var_os("NOTIFY_SOCKET").is_some()
        && let Err(e) = sd_notify::notify(state)
    {
        warn!("cannot notify systemd: {e}");
    }
}
