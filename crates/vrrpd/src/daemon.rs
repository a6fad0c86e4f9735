//! The running daemon: start-up, the event loop of the protocol thread, and shutdown.
//!
//! Every input reaches the engine as one [`engine::Input`] on this thread: the protocol
//! timer and control requests in the loop below, packets from one task per socket, link
//! events from their task. The engine hands its work to the address worker (a task here
//! that never blocks the loop) and the tracking thread, and arms the timer itself.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};
use vrrp_config::Config;
use vrrp_control::{Reply, Request};
use vrrp_linux::SysctlGuard;
use vrrp_linux::netlink::Netlink;
use vrrp_track::TrackerEvent;

use crate::addresses::Job;
use crate::balancer::{BalancerHandle, BalancerPlan, Message};
use crate::cli::Args;
use crate::clock::{self, ProtocolTimer};
use crate::engine::{Engine, Input};
use crate::pidfile::PidFile;
use crate::reload::Reloader;
use crate::{control, dynamic, metrics, privileges, report, setup, statics, tracking};

/// The signals the daemon answers, installed before the pid file names it.
struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
    usr1: Signal,
    usr2: Signal,
    /// RLIMIT_RTTIME's soft limit (`vrrp_rlimit_rttime`): logged instead of the default
    /// core dump.
    xcpu: Signal,
}

impl Signals {
    fn install() -> Result<Signals> {
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
            usr1: signal(SignalKind::user_defined1())?,
            usr2: signal(SignalKind::user_defined2())?,
            xcpu: signal(SignalKind::from_raw(libc::SIGXCPU))?,
        })
    }
}

/// What runs between start-up and shutdown.
struct Running {
    nl: Netlink,
    engine: Rc<RefCell<Engine>>,
    jobs: mpsc::UnboundedSender<Job>,
    worker: tokio::task::JoinHandle<()>,
    tracking: tracking::Tracking,
    tracker_rx: mpsc::UnboundedReceiver<TrackerEvent>,
    control_rx: mpsc::Receiver<control::ControlRequest>,
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
    let mut signals = Signals::install()?;
    let _pid_file = PidFile::acquire(&args.files.pid_file)?;
    // Before anything touches the kernel: a live daemon's control socket is never taken.
    control::claim_socket(&args.files.control_socket)?;
    recover_sysctls(&args.files.pid_file);
    let result = async {
        let mut running = start(config, scripts, tracker_plan, balancer_plan, args).await?;
        let result = event_loop(&mut running, &mut signals, args).await;
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
) -> Result<Running> {
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
    Ok(Running {
        nl,
        engine,
        jobs,
        worker,
        tracking,
        tracker_rx,
        control_rx,
        sysctls: plan.sysctls,
        no_accept,
        reloader,
    })
}

/// The protocol thread's loop: the timer first, then control requests, tracker results,
/// the watchdog and signals. Returns on SIGTERM / SIGINT, or with an error when the timer
/// cannot be served.
async fn event_loop(r: &mut Running, signals: &mut Signals, args: &Args) -> Result<()> {
    // systemd's watchdog: prove the protocol thread is alive at half the period.
    let watchdog_period = sd_notify::watchdog_enabled().map(|d| d / 2);
    let mut watchdog = tokio::time::interval(watchdog_period.unwrap_or(Duration::from_secs(3600)));
    let watchdog_on = watchdog_period.is_some();
    let timer = r.engine.borrow().timer();
    loop {
        tokio::select! {
            biased;
            result = timer.expired() => {
                let armed = result?;
                r.engine.borrow_mut().handle(clock::now(), Input::Timer { armed });
            }
            Some(req) = r.control_rx.recv() => match req {
                control::ControlRequest::Client { request: Request::Reload, who, reply } => {
                    // A reload waits for the file and the kernel: its own task, so that the
                    // protocol timer is served meanwhile.
                    control::log_action(&who, "reload");
                    let reloader = Rc::clone(&r.reloader);
                    tokio::task::spawn_local(async move {
                        let result = reloader.reload().await;
                        let _ = reply.send(result.map(Reply::Reloaded).map_err(|e| e.to_string()));
                    });
                }
                control::ControlRequest::Client { request, who, reply } => match request {
                    Request::Lvs { .. } | Request::RealServer { .. } | Request::Announce { .. } => {
                        ask_balancer(&r.reloader, request, &who, reply);
                    }
                    request => {
                        let answer = r.engine.borrow_mut().control(clock::now(), request, &who);
                        let _ = reply.send(answer);
                    }
                },
                control::ControlRequest::Metrics { reply } => {
                    let vrrp = r.engine.borrow().metrics(clock::now());
                    let unknown_vrid = r.engine.borrow().unknown_vrid_packets;
                    let lvs = ask_balancer_status(&r.reloader);
                    let _ = reply.send(crate::metrics::Scrape {
                        vrrp,
                        unknown_vrid,
                        lvs,
                    });
                }
            },
            Some(event) = r.tracker_rx.recv() => {
                r.engine.borrow_mut().handle(clock::now(), Input::Tracker(&event));
            }
            _ = watchdog.tick(), if watchdog_on => systemd(&[sd_notify::NotifyState::Watchdog]),
            _ = signals.term.recv() => { info!("SIGTERM: shutting down"); return Ok(()); }
            _ = signals.int.recv() => { info!("SIGINT: shutting down"); return Ok(()); }
            _ = signals.hup.recv() => {
                let reloader = Rc::clone(&r.reloader);
                tokio::task::spawn_local(async move { reloader.reload_for_signal().await });
            }
            _ = signals.xcpu.recv() => {
                let busy = crate::busy::snapshot();
                warn!(
                    "SIGXCPU: a soft CPU-time limit was reached (with vrrp_rt_priority: the \
                     protocol thread ran half its vrrp_rlimit_rttime without sleeping; at the \
                     limit the kernel kills the daemon); longest busy span {} µs ({} µs of CPU)",
                    busy.max_wall.as_micros(),
                    busy.max_cpu.as_micros()
                );
            }
            _ = signals.usr1.recv() => dump("SIGUSR1: state", &args.files.state_file, || {
                report::state(&r.engine.borrow(), clock::now())
            }),
            _ = signals.usr2.recv() => dump("SIGUSR2: statistics", &args.files.stats_file, || {
                report::stats(&r.engine.borrow())
            }),
        }
        if let Some(e) = r.engine.borrow_mut().take_timer_error() {
            return Err(anyhow::Error::new(e).context("the protocol timer cannot be armed"));
        }
    }
}

/// Hands a load-balancer request to its thread; the answer comes back on a task, so the
/// protocol loop never waits for it.
fn ask_balancer(
    reloader: &Reloader,
    request: Request,
    who: &str,
    reply: oneshot::Sender<Result<Reply, String>>,
) {
    let balancer = reloader.balancer.borrow();
    let Some(handle) = balancer.as_ref() else {
        let _ = reply.send(Err("no virtual_server is configured".into()));
        return;
    };
    let sent = match request {
        Request::Lvs { service } => {
            let (tx, rx) = oneshot::channel();
            let sent = handle.send(Message::Status { service, reply: tx });
            tokio::task::spawn_local(async move {
                let answer = rx
                    .await
                    .unwrap_or_else(|_| Err("the load balancer is gone".into()));
                let _ = reply.send(answer.map(Reply::Lvs));
            });
            sent
        }
        Request::RealServer {
            service,
            real_server,
            action,
        } => {
            control::log_action(
                who,
                &format!("{service}: real server {real_server}: {}", action.name()),
            );
            let (tx, rx) = oneshot::channel();
            let sent = handle.send(Message::Operator {
                service,
                real_server,
                action,
                reply: tx,
            });
            tokio::task::spawn_local(async move {
                let answer = rx
                    .await
                    .unwrap_or_else(|_| Err("the load balancer is gone".into()));
                let _ = reply.send(answer.map(|rs| Reply::RealServer(Box::new(rs))));
            });
            sent
        }
        Request::Announce { address, action } => {
            control::log_action(who, &format!("announce {} {address}", action.name()));
            let (tx, rx) = oneshot::channel();
            let sent = handle.send(Message::Announce {
                address,
                action,
                reply: tx,
            });
            tokio::task::spawn_local(async move {
                let answer = rx
                    .await
                    .unwrap_or_else(|_| Err("the load balancer is gone".into()));
                let _ = reply.send(answer.map(Reply::Announce));
            });
            sent
        }
        _ => true,
    };
    if !sent {
        warn!("the load balancer's thread is gone");
    }
}

/// Forwards a scrape's question to the load balancer's thread (when there is one): the
/// scrape waits for the answer, the protocol loop does not.
fn ask_balancer_status(
    reloader: &Reloader,
) -> Option<oneshot::Receiver<Result<vrrp_control::LvsStatus, String>>> {
    let balancer = reloader.balancer.borrow();
    let handle = balancer.as_ref()?;
    let (reply, answer) = oneshot::channel();
    handle
        .send(Message::Status {
            service: None,
            reply,
        })
        .then_some(answer)
}

/// Writes a dump document, logging where.
fn dump<T: serde::Serialize>(what: &str, path: &std::path::Path, doc: impl FnOnce() -> T) {
    match report::write(path, &doc()) {
        Ok(()) => info!("{what} written to {}", path.display()),
        Err(e) => warn!("{what}: cannot write {}: {e}", path.display()),
    }
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
