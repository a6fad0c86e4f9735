//! The load balancer's thread: the `vrrp-lb` core, the health checks, the data path and the
//! hooks, all off the protocol thread.
//!
//! The protocol thread never waits for any of it: it sends [`Message`]s (control requests,
//! reloads, addresses gained or lost) and gets answers on oneshot channels. Probes run as
//! tasks on this thread's runtime and come back as inputs; data-path transactions run here
//! too, so a slow `nft` or a hung real server delays only the load balancer.

mod addresses;
mod announce;
mod plan;
mod report;

use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::{error, info, warn};
use vrrp_control::{
    AnnounceAction, BgpAnnouncement, Event as WatchEvent, LvsRealServer, LvsStatus, RsAction,
};
use vrrp_dataplane::DataPath;
use vrrp_lb::dataplane::{self, DesiredState};
use vrrp_lb::{Balancer, CheckerId, Event, Input, OperatorCommand, Output, Override};

pub(crate) use announce::AnnouncePlan;
pub(crate) use plan::BalancerPlan;

use crate::clock;
use crate::tracking::Notifier;

/// What the other threads ask of the load balancer.
pub(crate) enum Message {
    /// `vrrpctl lvs [show VS]`.
    Status {
        service: Option<String>,
        reply: oneshot::Sender<Result<LvsStatus, String>>,
    },
    /// `vrrpctl rs ACTION VS RS`.
    Operator {
        service: String,
        real_server: String,
        action: RsAction,
        reply: oneshot::Sender<Result<LvsRealServer, String>>,
    },
    /// `vrrpctl announce drain|restore VIP`.
    Announce {
        address: String,
        action: AnnounceAction,
        reply: oneshot::Sender<Result<BgpAnnouncement, String>>,
    },
    /// A new configuration (already checked): unchanged services keep their state.
    Reload {
        plan: Box<BalancerPlan>,
        reply: oneshot::Sender<String>,
    },
    /// A VRRP instance added or removed an address on this node (`ha_suspend`).
    VipHeld { addr: IpAddr, held: bool },
    /// Stop: `omega` notifications, then the data path removed unless `keep`.
    Shutdown {
        keep: bool,
        done: oneshot::Sender<()>,
    },
}

/// The protocol thread's side: a channel to the load balancer's thread.
pub(crate) struct BalancerHandle {
    /// `bgp_announce_drain`: a stop waits that much longer.
    drain: Duration,
    tx: mpsc::UnboundedSender<Message>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BalancerHandle {
    /// Opens the data path (an error stops the start-up) and starts the thread.
    pub(crate) fn start(
        plan: BalancerPlan,
        notifier: Notifier,
        watchers: broadcast::Sender<WatchEvent>,
        nice: Option<i32>,
    ) -> Result<BalancerHandle> {
        // Balanced packets are forwarded: on for the daemon's life, restored at its end.
        let sysctls = vrrp_linux::SysctlGuard::apply(&plan.forwarding_sysctls())
            .context("cannot turn on forwarding for the load balancer")?;
        let data_path = plan.open_data_path()?;
        info!(
            "load balancer: {} virtual server(s) on {}",
            plan.spec.services.len(),
            plan.data_path_reason
        );
        let (tx, rx) = mpsc::unbounded_channel();
        let drain = plan.announce.drain;
        let watch = plan
            .spec
            .services
            .iter()
            .any(|s| s.ha_suspend)
            .then(|| tx.clone());
        let thread = std::thread::Builder::new()
            .name("vrrpd-balancer".into())
            .spawn(move || {
                crate::sched::apply_checker_thread(nice);
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => return error!("load balancer: cannot start its runtime: {e}"),
                };
                let state = Driver::new(plan, data_path, notifier, watchers);
                runtime.block_on(async move {
                    if let Some(tx) = watch {
                        tokio::spawn(addresses::watch(tx));
                    }
                    state.run(rx).await;
                });
                drop(sysctls);
            })
            .context("cannot start the load balancer's thread")?;
        Ok(BalancerHandle {
            drain,
            tx,
            thread: Some(thread),
        })
    }

    /// Sends a message; `false` when the thread is gone.
    pub(crate) fn send(&self, message: Message) -> bool {
        self.tx.send(message).is_ok()
    }

    /// Stops the thread: `omega` hooks queued, the data path emptied unless `keep`.
    pub(crate) async fn stop(mut self, keep: bool) {
        let (done, stopped) = oneshot::channel();
        if self.send(Message::Shutdown { keep, done }) {
            let budget = Duration::from_secs(10) + self.drain;
            let _ = tokio::time::timeout(budget, stopped).await;
        }
        if let Some(thread) = self.thread.take() {
            // The thread ends right after answering; don't block the loop on a stuck one.
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

/// A probe's answer: its checker, its number, its result.
type ProbeDone = (CheckerId, u64, vrrp_check::Probe);

/// How soon a refused data-path transaction is tried again.
const APPLY_RETRY: Duration = Duration::from_secs(1);

/// What lives on the load balancer's thread.
struct Driver {
    core: Balancer,
    /// `bgp_announce`: the VIPs announced through FRR.
    announcer: announce::Announcer,
    plan: BalancerPlan,
    data_path: Box<dyn DataPath>,
    /// What the data path holds: the last state applied without error.
    applied: DesiredState,
    /// After a refused transaction: when to try the difference again.
    retry_at: Option<vrrp_lb::Timestamp>,
    prober: vrrp_check::Prober,
    notifier: Notifier,
    watchers: broadcast::Sender<WatchEvent>,
    probes: mpsc::UnboundedSender<ProbeDone>,
    results: mpsc::UnboundedReceiver<ProbeDone>,
}

impl Driver {
    fn new(
        plan: BalancerPlan,
        data_path: Box<dyn DataPath>,
        notifier: Notifier,
        watchers: broadcast::Sender<WatchEvent>,
    ) -> Driver {
        let seed = u64::from(std::process::id()) ^ clock::now().as_nanos();
        let core = Balancer::new(plan.spec.clone(), clock::now(), seed);
        let prober = plan.prober();
        let (probes, results) = mpsc::unbounded_channel();
        Driver {
            core,
            announcer: announce::Announcer::new(plan.announce.clone()),
            plan,
            data_path,
            applied: DesiredState::default(),
            retry_at: None,
            prober,
            notifier,
            watchers,
            probes,
            results,
        }
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Message>) {
        loop {
            self.drain();
            let now = clock::now();
            let sleep = self
                .core
                .poll_timeout()
                .into_iter()
                .chain(self.retry_at)
                .min()
                .map(|deadline| deadline.saturating_duration_since(now));
            tokio::select! {
                Some((checker, number, probe)) = self.results.recv() => {
                    let input = Input::CheckDone {
                        checker,
                        probe: number,
                        outcome: probe.outcome,
                        latency: Some(probe.latency),
                    };
                    self.core.handle(clock::now(), input);
                }
                message = rx.recv() => match message {
                    Some(Message::Shutdown { keep, done }) => {
                        // Withdraw, drain, then stop the data path.
                        self.announcer.stop().await;
                        self.shutdown(keep);
                        let _ = done.send(());
                        return;
                    }
                    Some(Message::Reload { plan, reply }) => {
                        // Removed VIPs are withdrawn, and drain, before their services go.
                        if self.announcer.reload(plan.announce.clone()) {
                            self.announcer.flush().await;
                            tokio::time::sleep(self.announcer.drain()).await;
                        }
                        self.message(Message::Reload { plan, reply });
                    }
                    Some(message) => self.message(message),
                    // The daemon is gone without a shutdown: leave the data path as it is.
                    None => return,
                },
                () = tokio::time::sleep(sleep.unwrap_or(Duration::from_secs(3600))) => {
                    let now = clock::now();
                    if self.retry_at.is_some_and(|t| t <= now) {
                        self.retry_at = None;
                        self.apply(&[]);
                    }
                    self.core.handle(now, Input::Timeout);
                }
            }
        }
    }

    fn message(&mut self, message: Message) {
        let now = clock::now();
        match message {
            Message::Status { service, reply } => {
                let _ = reply.send(self.status(service.as_deref()));
            }
            Message::Operator {
                service,
                real_server,
                action,
                reply,
            } => {
                let _ = reply.send(self.operator(now, &service, &real_server, action));
            }
            Message::Announce {
                address,
                action,
                reply,
            } => {
                let _ = reply.send(self.announcer.operator(&self.core, &address, action));
            }
            Message::Reload { plan, reply } => {
                let before = self.core.status().len();
                self.core.handle(now, Input::Reload(plan.spec.clone()));
                self.plan.replace(*plan);
                let after = self.core.status().len();
                let _ = reply.send(format!("{before} -> {after} virtual server(s)"));
            }
            Message::VipHeld { addr, held } => self.core.handle(now, Input::VipHeld { addr, held }),
            Message::Shutdown { .. } => {}
        }
    }

    fn status(&mut self, service: Option<&str>) -> Result<LvsStatus, String> {
        let stats = match self.data_path.stats() {
            Ok(s) => Some(s),
            Err(e) => {
                warn!("load balancer: cannot read the data path's counters: {e}");
                None
            }
        };
        let mut status = report::status(
            &self.core,
            &self.plan,
            &self.applied,
            stats.as_ref(),
            service,
        )?;
        if service.is_none() {
            status.announcements = self.announcer.status(&self.core);
        }
        Ok(status)
    }

    fn operator(
        &mut self,
        now: vrrp_lb::Timestamp,
        service: &str,
        real_server: &str,
        action: RsAction,
    ) -> Result<LvsRealServer, String> {
        let (id, key) = report::resolve(&self.core, service, real_server)?;
        let action = match action {
            RsAction::Weight { weight } => Some(Override::Weight(weight)),
            RsAction::Drain => Some(Override::Drain),
            RsAction::Disable => Some(Override::Disable),
            RsAction::Enable => None,
        };
        let command = OperatorCommand {
            service: id,
            real_server: key,
            action,
        };
        self.core
            .operator(now, command)
            .map_err(|e| e.to_string())?;
        self.drain();
        report::real_server(&self.core, &self.plan, &self.applied, service, real_server)
    }

    /// Carries out what the core asks: probes, data-path changes, events.
    fn drain(&mut self) {
        while let Some(output) = self.core.poll_output() {
            match output {
                Output::RunCheck {
                    checker,
                    spec,
                    probe: number,
                    ..
                } => {
                    let prober = self.prober.clone();
                    let done = self.probes.clone();
                    tokio::spawn(async move {
                        let probe = prober.probe(&spec, checker.real_server).await;
                        let _ = done.send((checker, number, probe));
                    });
                }
                Output::DataPath(changes) => self.apply(&changes),
                Output::Event(event) => self.event(&event),
            }
        }
        self.announcer.update(&self.core);
    }

    /// Applies the changes; after a failed transaction, the next one carries the whole
    /// difference from what the data path holds.
    fn apply(&mut self, changes: &[dataplane::Change]) {
        let desired = self.core.desired().clone();
        let mut expected = self.applied.clone();
        changes
            .iter()
            .for_each(|c| dataplane::apply(&mut expected, c));
        let changes = if expected == desired {
            changes.to_vec()
        } else {
            dataplane::diff(&self.applied, &desired)
        };
        if changes.is_empty() {
            return;
        }
        match self.data_path.apply(&desired, &changes) {
            Ok(()) => {
                self.applied = desired;
                self.retry_at = None;
            }
            Err(e) => {
                // Nothing changed (a transaction is all or nothing): try the whole
                // difference again soon, whether or not another change comes.
                error!(
                    "load balancer: the data path refused {} change(s): {e}; trying again in {APPLY_RETRY:?}",
                    changes.len()
                );
                self.retry_at = Some(clock::now() + APPLY_RETRY);
            }
        }
    }

    fn event(&self, event: &Event) {
        self.plan.log(event);
        if let Some(line) = event.fifo_line() {
            self.notifier.lvs_line(&line);
        }
        self.notifier.alerts.lb_event(event);
        for (key, hook) in self.plan.hooks.for_event(event) {
            self.notifier.queue.push(&key, hook);
        }
        if self.watchers.receiver_count() > 0
            && let Some(e) = report::watch_event(&self.core, event)
        {
            let _ = self.watchers.send(e);
        }
    }

    fn shutdown(&mut self, keep: bool) {
        self.core.handle(clock::now(), Input::Shutdown { keep });
        while let Some(output) = self.core.poll_output() {
            match output {
                Output::Event(event) => self.event(&event),
                // Without `keep` the whole table goes in one transaction below: emptying
                // it service by service first would only cost time.
                Output::DataPath(changes) if keep => self.apply(&changes),
                Output::DataPath(_) | Output::RunCheck { .. } => {}
            }
        }
        if let Err(e) = self.data_path.shutdown(keep) {
            warn!("load balancer: cannot remove the data path: {e}");
        }
    }
}
