//! The protocol thread's loop, and the tasks beside it that feed the engine.
//!
//! The loop waits only for the protocol timer and for a reason to stop. Control requests,
//! tracker results, signals and the systemd watchdog each have a task of their own on this
//! thread, woken by its own input only: one `select!` over all of them polled a dozen
//! futures at every wake-up of the timer, most of the user-space CPU of an advertisement.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use anyhow::Result;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::{mpsc, oneshot};
use tokio::task::spawn_local;
use tracing::{info, warn};
use vrrp_control::{Reply, Request};
use vrrp_track::TrackerEvent;

use crate::balancer::Message;
use crate::cli::Files;
use crate::clock;
use crate::control::{self, ControlRequest};
use crate::engine::{Engine, Input};
use crate::reload::Reloader;
use crate::report;

/// The signals the daemon answers, installed before the pid file names it.
pub(crate) struct Signals {
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
    pub(crate) fn install() -> Result<Signals> {
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

/// The channels from the control and tracking threads.
pub(crate) struct Inputs {
    pub control: mpsc::Receiver<ControlRequest>,
    pub trackers: mpsc::UnboundedReceiver<TrackerEvent>,
}

/// Why the loop ends: `Ok` on SIGTERM / SIGINT, an error when the timer cannot be served.
type Stop = mpsc::UnboundedSender<Result<()>>;

/// Runs until SIGTERM or SIGINT, or an error when the timer cannot be served.
pub(crate) async fn run(
    engine: &Rc<RefCell<Engine>>,
    reloader: &Rc<Reloader>,
    inputs: Inputs,
    signals: Signals,
    files: &Files,
) -> Result<()> {
    let (stop, mut stopped) = mpsc::unbounded_channel();
    let mut tasks = vec![
        spawn_local(control_requests(
            Rc::clone(engine),
            Rc::clone(reloader),
            inputs.control,
            stop.clone(),
        )),
        spawn_local(tracker_events(
            Rc::clone(engine),
            inputs.trackers,
            stop.clone(),
        )),
        spawn_local(signal_actions(
            Rc::clone(engine),
            Rc::clone(reloader),
            signals,
            (files.state_file.clone(), files.stats_file.clone()),
            stop,
        )),
    ];
    // systemd's watchdog: prove the protocol thread is alive at half the period.
    if let Some(period) = sd_notify::watchdog_enabled().map(|d| d / 2) {
        tasks.push(spawn_local(watchdog(period)));
    }
    let timer = engine.borrow().timer();
    let result = loop {
        tokio::select! {
            biased;
            fired = timer.expired() => {
                let armed = match fired {
                    Ok(armed) => armed,
                    Err(e) => break Err(e.into()),
                };
                engine.borrow_mut().handle(clock::now(), Input::Timer { armed });
                if let Err(e) = timer_ok(engine) {
                    break Err(e);
                }
            }
            Some(reason) = stopped.recv() => break reason,
        }
    };
    for task in tasks {
        task.abort();
    }
    result
}

/// An error when the engine could not arm the protocol timer after an input.
fn timer_ok(engine: &RefCell<Engine>) -> Result<()> {
    match engine.borrow_mut().take_timer_error() {
        Some(e) => Err(anyhow::Error::new(e).context("the protocol timer cannot be armed")),
        None => Ok(()),
    }
}

/// Stops the loop if the input just handled left the timer unarmed.
fn check_timer(engine: &RefCell<Engine>, stop: &Stop) {
    if let Err(e) = timer_ok(engine) {
        let _ = stop.send(Err(e));
    }
}

async fn control_requests(
    engine: Rc<RefCell<Engine>>,
    reloader: Rc<Reloader>,
    mut requests: mpsc::Receiver<ControlRequest>,
    stop: Stop,
) {
    while let Some(request) = requests.recv().await {
        match request {
            ControlRequest::Client {
                request: Request::Reload,
                who,
                reply,
            } => {
                // A reload waits for the file and the kernel: its own task, so that the
                // protocol timer is served meanwhile.
                control::log_action(&who, "reload");
                let reloader = Rc::clone(&reloader);
                spawn_local(async move {
                    let result = reloader.reload().await;
                    let _ = reply.send(result.map(Reply::Reloaded).map_err(|e| e.to_string()));
                });
            }
            ControlRequest::Client {
                request:
                    request @ (Request::Lvs { .. }
                    | Request::RealServer { .. }
                    | Request::Announce { .. }),
                who,
                reply,
            } => ask_balancer(&reloader, request, &who, reply),
            ControlRequest::Client {
                request,
                who,
                reply,
            } => {
                let answer = engine.borrow_mut().control(clock::now(), request, &who);
                let _ = reply.send(answer);
                check_timer(&engine, &stop);
            }
            ControlRequest::Metrics { reply } => {
                let vrrp = engine.borrow().metrics(clock::now());
                let unknown_vrid = engine.borrow().unknown_vrid_packets;
                let lvs = ask_balancer_status(&reloader);
                let _ = reply.send(crate::metrics::Scrape {
                    vrrp,
                    unknown_vrid,
                    lvs,
                });
            }
        }
    }
}

async fn tracker_events(
    engine: Rc<RefCell<Engine>>,
    mut events: mpsc::UnboundedReceiver<TrackerEvent>,
    stop: Stop,
) {
    while let Some(event) = events.recv().await {
        engine
            .borrow_mut()
            .handle(clock::now(), Input::Tracker(&event));
        check_timer(&engine, &stop);
    }
}

async fn signal_actions(
    engine: Rc<RefCell<Engine>>,
    reloader: Rc<Reloader>,
    mut signals: Signals,
    (state_file, stats_file): (PathBuf, PathBuf),
    stop: Stop,
) {
    loop {
        tokio::select! {
            _ = signals.term.recv() => { info!("SIGTERM: shutting down"); break; }
            _ = signals.int.recv() => { info!("SIGINT: shutting down"); break; }
            _ = signals.hup.recv() => {
                let reloader = Rc::clone(&reloader);
                spawn_local(async move { reloader.reload_for_signal().await });
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
            _ = signals.usr1.recv() => dump("SIGUSR1: state", &state_file, || {
                report::state(&engine.borrow(), clock::now())
            }),
            _ = signals.usr2.recv() => dump("SIGUSR2: statistics", &stats_file, || {
                report::stats(&engine.borrow())
            }),
        }
    }
    let _ = stop.send(Ok(()));
}

async fn watchdog(period: Duration) {
    let mut ticks = tokio::time::interval(period);
    loop {
        ticks.tick().await;
        crate::daemon::systemd(&[sd_notify::NotifyState::Watchdog]);
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
            relay(rx, reply, Reply::Lvs);
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
            relay(rx, reply, |rs| Reply::RealServer(Box::new(rs)));
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
            relay(rx, reply, Reply::Announce);
            sent
        }
        _ => true,
    };
    if !sent {
        warn!("the load balancer's thread is gone");
    }
}

/// Passes the load balancer's answer on to the control client when it comes, on a task of
/// its own.
fn relay<T: 'static>(
    answer: oneshot::Receiver<Result<T, String>>,
    reply: oneshot::Sender<Result<Reply, String>>,
    to_reply: impl FnOnce(T) -> Reply + 'static,
) {
    spawn_local(async move {
        let answer = answer
            .await
            .unwrap_or_else(|_| Err("the load balancer is gone".into()));
        let _ = reply.send(answer.map(to_reply));
    });
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
