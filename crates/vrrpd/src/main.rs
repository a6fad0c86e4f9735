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
use vrrp_linux::netlink::{Event, Netlink};

use crate::addresses::{InstanceAddresses, Job};
use crate::cli::Args;
use crate::clock::ProtocolTimer;
use crate::engine::Engine;
use crate::pidfile::PidFile;

fn main() -> ExitCode {
    let args = Args::parse();
    logging::init(args.log_detail, args.log_format);

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
    if args.config_test {
        println!("{}: configuration is valid", path.display());
        return ExitCode::SUCCESS;
    }

    let _pid_file = match PidFile::acquire(&args.pid_file) {
        Ok(p) => p,
        Err(e) => {
            error!("{e:#}");
            return ExitCode::FAILURE;
        }
    };

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
    match local.block_on(&runtime, run(loaded.config, &args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config, args: &Args) -> Result<()> {
    let nl = Netlink::new().context("cannot open rtnetlink")?;
    // Subscribe before reading the initial link state, so no change falls in between.
    let mut events = vrrp_linux::netlink::events()
        .await
        .context("cannot subscribe to link events")?;
    let plan = setup::prepare(&nl, &config).await?;
    let mut sysctls = plan.sysctls;
    let vmacs: Vec<(u32, String)> = plan
        .routers
        .iter()
        .filter_map(|r| r.vmac.as_ref().map(|v| (v.ifindex, v.name.clone())))
        .collect();

    let worker_state: Rc<Vec<InstanceAddresses>> = Rc::new(
        plan.routers
            .iter()
            .map(|r| {
                let announcer = match vrrp_linux::Announcer::open(r.announce_ifindex) {
                    Ok(a) => Some(a),
                    Err(e) => {
                        warn!("{}: cannot send gratuitous ARP / NA: {e}", r.config.name);
                        None
                    }
                };
                InstanceAddresses::new(
                    r.config.name.clone(),
                    r.addresses.clone(),
                    announcer,
                    r.announce_mac,
                    r.config.garp.clone(),
                )
            })
            .collect(),
    );
    let (jobs, job_rx) = mpsc::unbounded_channel();
    let worker =
        tokio::task::spawn_local(addresses::run(nl.clone(), Rc::clone(&worker_state), job_rx));

    let engine = Engine::new(plan.routers, jobs.clone(), config.global.check_unicast_src)?;
    let (watchers, _) = tokio::sync::broadcast::channel(1024);
    let mut engine = engine;
    engine.set_events(watchers.clone());
    let metrics = args.metrics_listen.map(|addr| {
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
    let count = engine.borrow().routers.len();
    info!("vrrpd started with {count} instance(s)");
    systemd(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status(&format!("{count} VRRP instance(s)")),
    ]);
    // systemd's watchdog: prove the protocol thread is alive at half the period.
    let watchdog_period = sd_notify::watchdog_enabled().map(|d| d / 2);
    let mut watchdog =
        tokio::time::interval(watchdog_period.unwrap_or(std::time::Duration::from_secs(3600)));
    let watchdog_on = watchdog_period.is_some();

    // One receive task per socket; each re-arms the protocol timer after the engine ran.
    let socket_count = engine.borrow().sockets.len();
    for index in 0..socket_count {
        let socket = Rc::clone(&engine.borrow().sockets[index]);
        // SAFETY: the `Rc` keeps the socket, and so its descriptor, open for as long as the
        // `AsyncFd` exists.
        let fd = unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) }
            .map_err(|e| anyhow::anyhow!("cannot poll a VRRP socket: {e}"))?;
        let engine = Rc::clone(&engine);
        let timer = Rc::clone(&timer);
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
                                .on_packet(clock::now(), index, bytes, &received);
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
    }

    // Link events: the instance's interface and tracked interfaces.
    {
        let engine = Rc::clone(&engine);
        let timer = Rc::clone(&timer);
        tokio::task::spawn_local(async move {
            while let Some(event) = events.next().await {
                if let Event::Link(link) = event {
                    engine.borrow_mut().on_link(clock::now(), &link);
                    if let Err(e) = timer.arm(engine.borrow().next_deadline()) {
                        error!("cannot arm the protocol timer: {e}");
                    }
                }
            }
        });
    }

    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut sigusr1 = signal(SignalKind::user_defined1())?;
    let mut sigusr2 = signal(SignalKind::user_defined2())?;
    loop {
        tokio::select! {
            biased;
            result = timer.expired() => {
                let armed = result?;
                let mut e = engine.borrow_mut();
                e.on_timer(clock::now(), armed);
                timer.arm(e.next_deadline())?;
            }
            Some(req) = control_rx.recv() => {
                let mut e = engine.borrow_mut();
                let answer = e.control(clock::now(), req.request, &req.who);
                let _ = req.reply.send(answer);
                timer.arm(e.next_deadline())?;
            }
            _ = watchdog.tick(), if watchdog_on => systemd(&[sd_notify::NotifyState::Watchdog]),
            _ = sigterm.recv() => { info!("SIGTERM: shutting down"); break; }
            _ = sigint.recv() => { info!("SIGINT: shutting down"); break; }
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
            _ = sighup.recv() => warn!("SIGHUP: configuration reload is not supported yet; keeping the running configuration"),
        }
    }

    systemd(&[sd_notify::NotifyState::Stopping]);
    engine.borrow_mut().shutdown(clock::now());
    let (done, flushed) = oneshot::channel();
    let _ = jobs.send(Job::Flush(done));
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), flushed).await;
    worker.abort();
    for (ifindex, name) in vmacs {
        if let Err(e) = nl.delete_link(ifindex).await {
            warn!("cannot delete virtual MAC interface {name}: {e}");
        }
    }
    for e in sysctls.restore() {
        warn!("cannot restore a sysctl: {e}");
    }
    let _ = std::fs::remove_file(&args.control_socket);
    info!("vrrpd stopped");
    Ok(())
}

/// Tells systemd (when it started us with NOTIFY_SOCKET) how we are doing.
fn systemd(state: &[sd_notify::NotifyState]) {
    if std::env::var_os("NOTIFY_SOCKET").is_some()
        && let Err(e) = sd_notify::notify(state)
    {
        warn!("cannot notify systemd: {e}");
    }
}
