//! The running daemon: start-up, the event loop of the protocol thread, and shutdown.
//!
//! Every input reaches the engine as one [`engine::Input`] on this thread: the protocol
//! timer in the loop of [`inputs`], control requests, tracker results and signals from
//! their tasks there, packets from one task per socket, link events from their task. The engine hands its work to the address worker (a task here
//! that never blocks the loop) and the tracking thread, and arms the timer itself.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};
use vrrp_config::Config;
use vrrp_linux::SysctlGuard;
use vrrp_linux::netlink::Netlink;

use crate::addresses::Job;
use crate::balancer::{BalancerHandle, BalancerPlan};
use crate::cli::Args;
use crate::clock::{self, ProtocolTimer};
use crate::engine::{Engine, Input};
use crate::inputs::{self, Inputs, Signals};
use crate::pidfile::PidFile;
use crate::reload::Reloader;
use crate::{control, dynamic, metrics, privileges, setup, statics, tracking};

/// What runs between start-up and shutdown.
struct Running {
    nl: Netlink,
    engine: Rc<RefCell<Engine>>,
    jobs: mpsc::UnboundedSender<Job>,
    worker: tokio::task::JoinHandle<()>,
    tracking: tracking::Tracking,
    sysctls: SysctlGuard,
    no_accept: bool,
    reloader: Rc<Reloader>,
}

/// Runs the daemon until SIGTERM or SIGINT.
pub(crate) async fn run(
    config: Config,
    scripts: tracking::Scripts,
    tracker_plan: tracking::Plan,
    balancer_plan: Option<BalancerPlan>,
    args: &Args,
) -> Result<()> {
    // Signals first: from the moment the pid file names us, a signal must not kill us.
    let signals = Signals::install()?;
    let _pid_file = PidFile::acquire(&args.files.pid_file)?;
    // Before anything touches the kernel: a live daemon's control socket is never taken.
    control::claim_socket(&args.files.control_socket)?;
    recover_sysctls(&args.files.pid_file);
    let result = async {
        let (running, inputs) = start(config, scripts, tracker_plan, balancer_plan, args).await?;
        let result = inputs::run(
            &running.engine,
            &running.reloader,
            inputs,
            signals,
            &args.files,
        )
        .await;
        stop(running, args).await;
        result
    }
    .await;
    // Every guard has restored its sysctls by now (stopped, or dropped on a start-up error).
    if let Err(e) = vrrp_linux::sysctl_journal::close() {
        warn!("sysctl journal: {e}");
    }
    result
}

/// Puts back the sysctls a killed run had changed (its journal, next to the pid file that
/// only one daemon holds), so that this run saves, and at its end restores, the originals.
fn recover_sysctls(pid_file: &std::path::Path) {
    let mut path = pid_file.as_os_str().to_owned();
    path.push(".sysctls");
    let (restored, errors) = vrrp_linux::sysctl_journal::recover(std::path::Path::new(&path));
    for (p, value) in restored {
        info!("restored {p} to {value}, as a killed run had left it changed");
    }
    for e in errors {
        warn!("sysctl journal: {e}");
    }
}

/// Start-up: the data plane prepared, the trackers, the address worker, the engine, the
/// control socket; after `vrrp_startup_delay`, every instance started.
async fn start(
    config: Config,
    scripts: tracking::Scripts,
    tracker_plan: tracking::Plan,
    balancer_plan: Option<BalancerPlan>,
    args: &Args,
) -> Result<(Running, Inputs)> {
    let nl = Netlink::new().context("cannot open rtnetlink")?;
    // Subscribe before reading the initial link state, so no change falls in between.
    let link_events = vrrp_linux::netlink::events(crate::links::receive_buffer())
        .await
        .context("cannot subscribe to link events")?;
    debug!(
        "link and address notifications: receive buffer {} bytes",
        link_events.receive_buffer()
    );
    let waiting = dynamic::missing(&nl, &config).await?;
    let plan = setup::prepare(&nl, &dynamic::without(&config, &waiting), &scripts).await?;
    let static_set = statics::resolve(&nl, &config.statics).await?;
    // Sockets open, sysctls written, VMACs created, pid file and control socket claimed:
    // what follows (and every reload) needs only the kept capabilities. Before the first
    // thread starts, as capabilities are per thread.
    let mut needs = privileges::Needs::of(&config, &scripts);
    let metrics_addr = args.metrics_listen.or(config.global.metrics_listen);
    needs.low_port = metrics_addr.is_some_and(|a| a.port() < 1024);
    privileges::restrict(needs)?;
    // From here on netlink requests go through a thread of their own (`nlthread`): the
    // kernel serves them in the sender's context, under the RTNL lock.
    drop(nl);
    let (jobs, job_rx) = mpsc::unbounded_channel();
    let (nl, worker) = crate::nlthread::spawn(job_rx).context("cannot start the netlink thread")?;
    let (tracker_tx, tracker_rx) = mpsc::unbounded_channel();
    let mut tracking =
        tracking::Tracking::start(tracker_plan, tracker_tx).context("cannot start the trackers")?;
    tracking.notifier.alerts = crate::alerts::Alerts::start(&config);
    let no_accept = !setup::no_accept_vips(&config).is_empty();
    if no_accept {
        setup::apply_no_accept(&config)?;
    }

    let timer = Rc::new(ProtocolTimer::new().context("cannot create the protocol timer")?);
    let mut engine = Engine::new(jobs.clone(), config.global.check_unicast_src, timer);
    let net = &config.global.vrrp_net;
    engine.set_multicast_groups(net.mcast_group4, net.mcast_group6);
    for router in plan.routers {
        engine.add_router(router)?;
    }
    let (watchers, _) = tokio::sync::broadcast::channel(1024);
    engine.set_events(watchers.clone());
    let sync_follow = balancer_plan
        .as_ref()
        .and_then(|p| p.sync.as_ref())
        .and_then(|s| s.follow.clone());
    let balancer = match balancer_plan {
        Some(plan) => Some(BalancerHandle::start(
            plan,
            tracking.notifier.clone(),
            watchers.clone(),
            config.global.checker_sched.nice,
        )?),
        None => None,
    };
    if let (Some(handle), Some(name)) = (&balancer, sync_follow) {
        engine.set_sync_follower(name, handle.sender());
    }
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
    let (control_tx, control_rx) = mpsc::channel::<control::ControlRequest>(64);
    control::spawn(&args.files.control_socket, control_tx, watchers, metrics)?;

    // keepalived sets the static configuration before any instance runs (and before
    // `vrrp_startup_delay`); here once the daemon is set up, so that a start that fails
    // earlier leaves none behind.
    statics::install(&nl, &static_set).await;
    if !config.global.startup_delay.is_zero() {
        info!(
            "waiting vrrp_startup_delay {:?} before starting",
            config.global.startup_delay
        );
        tokio::time::sleep(config.global.startup_delay).await;
    }
    let links = nl.links().await?;
    // For track_src_ip: the host's addresses now; address events follow them.
    let addresses: Vec<(u32, std::net::IpAddr)> = match nl.all_addresses().await {
        Ok(list) => list.into_iter().map(|(i, a)| (i, a.addr)).collect(),
        Err(e) => {
            warn!("cannot list the host's addresses (track_src_ip sees none): {e}");
            Vec::new()
        }
    };
    // After the other threads started (they stay SCHED_OTHER with the nice value of
    // `vrrp_priority`) and SIGXCPU is handled (the real-time limit sends it).
    crate::busy::restart();
    crate::sched::apply_protocol_thread(&config.global.vrrp_sched);
    engine
        .borrow_mut()
        .handle(clock::now(), Input::Start(&links, &addresses));
    let socket_count = engine.borrow().sockets.len();
    for index in 0..socket_count {
        spawn_receiver(&engine, index)?;
    }
    let count = engine.borrow().routers.len();
    info!("vrrpd started with {count} instance(s)");
    systemd(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status(&format!("{count} VRRP instance(s)")),
    ]);
    let reloader = Rc::new(Reloader {
        config: RefCell::new(config),
        nl: nl.clone(),
        path: args.config_path(),
        engine: Rc::clone(&engine),
        serial: tokio::sync::Mutex::new(()),
        signal_queued: std::cell::Cell::new(false),
        sysctls: RefCell::new(Vec::new()),
        balancer: RefCell::new(balancer),
        statics: RefCell::new(static_set),
        waiting: RefCell::new(waiting),
    });
    crate::links::spawn(&reloader, link_events);
    let running = Running {
        nl,
        engine,
        jobs,
        worker,
        tracking,
        sysctls: plan.sysctls,
        no_accept,
        reloader,
    };
    let inputs = Inputs {
        control: control_rx,
        trackers: tracker_rx,
    };
    Ok((running, inputs))
}

/// Shutdown: Masters send priority 0 and release their addresses, queued hooks run
/// (bounded), then what start-up changed in the kernel is undone.
async fn stop(r: Running, args: &Args) {
    systemd(&[sd_notify::NotifyState::Stopping]);
    // The load balancer first: its services leave while the VIPs are still here, and its
    // `omega` hooks are queued before the hook queue drains.
    let balancer = r.reloader.balancer.borrow_mut().take();
    if let Some(balancer) = balancer {
        balancer.stop(false).await;
    }
    r.engine.borrow_mut().handle(clock::now(), Input::Shutdown);
    // STOP hooks are queued: let them run (bounded), then stop the trackers.
    r.tracking.stop().await;
    let (done, flushed) = oneshot::channel();
    let _ = r.jobs.send(Job::Flush(done));
    let _ = tokio::time::timeout(Duration::from_secs(5), flushed).await;
    r.worker.abort();
    let vmacs: Vec<(u32, String)> = r
        .engine
        .borrow()
        .routers
        .iter()
        .filter_map(|x| x.plan.vmac.as_ref().map(|v| (v.ifindex, v.name.clone())))
        .collect();
    for (ifindex, name) in vmacs {
        if let Err(e) = r.nl.delete_link(ifindex).await {
            warn!("cannot delete virtual MAC interface {name}: {e}");
        }
    }
    let static_set = r.reloader.statics.take();
    statics::remove(&r.nl, &static_set).await;
    // Newest first: a reload's guard saved the values start-up had set.
    let mut sysctls = r.sysctls;
    let reloaded: Vec<std::io::Error> = r
        .reloader
        .sysctls
        .borrow_mut()
        .iter_mut()
        .rev()
        .flat_map(|g| g.restore())
        .collect();
    for e in reloaded.into_iter().chain(sysctls.restore()) {
        warn!("cannot restore a sysctl: {e}");
    }
    if (r.no_accept || !setup::no_accept_vips(&r.reloader.config.borrow()).is_empty())
        && let Err(e) = vrrp_linux::nft::remove_no_accept()
    {
        warn!("cannot remove the no_accept filter: {e}");
    }
    let _ = std::fs::remove_file(&args.files.control_socket);
    info!("vrrpd stopped");
}

/// Starts the task that reads socket `index` and feeds the engine.
pub(crate) fn spawn_receiver(engine: &Rc<RefCell<Engine>>, index: usize) -> Result<()> {
    let socket = Rc::clone(&engine.borrow().sockets[index]);
    // SAFETY: the `Rc` keeps the socket, and so its descriptor, open for as long as the
    // `AsyncFd` exists.
    let fd = unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) }
        .map_err(|e| anyhow::anyhow!("cannot poll a VRRP socket: {e}"))?;
    let engine = Rc::clone(engine);
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
                        let packet = Input::Packet {
                            bytes,
                            received: &received,
                        };
                        engine.borrow_mut().handle(clock::now(), packet);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        guard.clear_ready();
                        break;
                    }
                    Err(e) => debug!("discarded a malformed packet: {e}"),
                }
            }
        }
    });
    Ok(())
}

/// Tells systemd (when it started us with NOTIFY_SOCKET) how we are doing.
pub(crate) fn systemd(state: &[sd_notify::NotifyState]) {
    if std::env::var_os("NOTIFY_SOCKET").is_some()
        && let Err(e) = sd_notify::notify(state)
    {
        warn!("cannot notify systemd: {e}");
    }
}
