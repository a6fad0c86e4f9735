//! The balancer: keepalived's checker process (`check/`) as a pure state machine.
//!
//! The daemon feeds it inputs stamped with a time and drains its outputs: the probes to run,
//! the data-path changes, the events. [`Balancer::poll_timeout`] says when it next needs a
//! [`Input::Timeout`]. See `docs/balancer.md` for the semantics.

mod checker;
mod lifecycle;
mod service;
mod status;

use std::collections::{BTreeSet, VecDeque};
use std::net::IpAddr;
use std::time::Duration;

use vrrp_core::Timestamp;

use crate::check::{CheckOutcome, CheckerSpec};
use crate::dataplane::{Change, DesiredState, diff};
use crate::event::Event;
use crate::rng::SplitMix64;
use crate::spec::{BalancerSpec, RealServerKey, ServiceId};

use checker::{Checker, Phase};
use service::{RealServer, VirtualService};
pub use status::{CheckerStatus, OperatorCommand, OperatorError, RealServerStatus, ServiceStatus};

/// One checker: its service, its real server, and its position among the real server's.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CheckerId {
    /// The service.
    pub service: ServiceId,
    /// The real server.
    pub real_server: RealServerKey,
    /// The checker's position in the real server's configuration.
    pub index: usize,
}

/// What the daemon tells the balancer.
#[derive(Clone, Debug)]
pub enum Input {
    /// A probe asked by [`Output::RunCheck`] finished (an answer nobody waits for, e.g. after
    /// a reload removed the checker, is ignored).
    CheckDone {
        /// The checker.
        checker: CheckerId,
        /// The probe's number, from [`Output::RunCheck`]: a late answer of an earlier
        /// probe is ignored.
        probe: u64,
        /// Its result.
        outcome: CheckOutcome,
        /// How long the probe took, if the driver measured it.
        latency: Option<Duration>,
    },
    /// The time of [`Balancer::poll_timeout`] has come.
    Timeout,
    /// A VRRP instance added (`held`) or removed this address on this node (`ha_suspend`).
    VipHeld {
        /// The address.
        addr: IpAddr,
        /// Held now.
        held: bool,
    },
    /// A new configuration: unchanged services, real servers and checkers keep their state.
    Reload(BalancerSpec),
    /// The daemon stops: with `omega`, the down events; the data path is emptied unless
    /// `keep`.
    Shutdown {
        /// Leave the data path as it is.
        keep: bool,
    },
}

/// What the balancer asks of the daemon.
// A probe's spec is moved to the driver as is; outputs are few and short-lived, so a box
// would only add an allocation and a deref for the driver.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Run this probe and answer with [`Input::CheckDone`] (one at a time per checker).
    RunCheck {
        /// The checker.
        checker: CheckerId,
        /// What to probe.
        spec: CheckerSpec,
        /// 0 for a regular check, n for the nth retry after a failure.
        attempt: u32,
        /// The probe's number (counting this checker's probes), to answer with.
        probe: u64,
    },
    /// Apply these changes to the data path (from the last emitted state to
    /// [`Balancer::desired`]).
    DataPath(Vec<Change>),
    /// Something happened (after the data-path change it caused, as keepalived notifies).
    Event(Event),
}

/// The load-balancing core.
#[derive(Debug)]
pub struct Balancer {
    services: Vec<VirtualService>,
    /// The addresses VRRP put on this node (for `ha_suspend`).
    held: BTreeSet<IpAddr>,
    rng: SplitMix64,
    desired: DesiredState,
    outputs: VecDeque<Output>,
    /// Events of the input being handled, queued after its data-path change.
    events: Vec<Event>,
    /// Services (by position) whose desired state may have changed during this input.
    dirty: BTreeSet<usize>,
    /// Every service may have changed (start, reload).
    all_dirty: bool,
    stopped: bool,
}

impl Balancer {
    /// A balancer running `spec` from `now`; `seed` drives the warm-up jitter.
    pub fn new(spec: BalancerSpec, now: Timestamp, seed: u64) -> Balancer {
        let mut b = Balancer {
            services: Vec::new(),
            held: BTreeSet::new(),
            rng: SplitMix64::new(seed),
            desired: DesiredState::default(),
            outputs: VecDeque::new(),
            events: Vec::new(),
            dirty: BTreeSet::new(),
            all_dirty: true,
            stopped: false,
        };
        for spec in spec.services {
            let vs = b.start_service(spec, now);
            b.services.push(vs);
        }
        b.settle(now);
        b
    }

    /// Handles one input at `now` (and whatever fell due by then).
    pub fn handle(&mut self, now: Timestamp, input: Input) {
        if self.stopped {
            return;
        }
        match input {
            Input::CheckDone {
                checker,
                probe,
                outcome,
                latency,
            } => self.check_done(now, &checker, probe, outcome, latency),
            Input::Timeout => {}
            Input::VipHeld { addr, held } => {
                if held {
                    self.held.insert(addr);
                } else {
                    self.held.remove(&addr);
                }
                self.update_suspension(now);
            }
            Input::Reload(spec) => self.reload(spec, now),
            Input::Shutdown { keep } => return self.shutdown(keep),
        }
        self.settle(now);
    }

    /// The next output, if any.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When the balancer next needs an [`Input::Timeout`] (never in the past after an input).
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        self.all_checkers().filter_map(Checker::deadline).min()
    }

    /// The data path as it should be now (what the emitted changes have led to).
    pub fn desired(&self) -> &DesiredState {
        &self.desired
    }

    fn all_checkers(&self) -> impl Iterator<Item = &Checker> {
        self.services
            .iter()
            .flat_map(|vs| vs.real_servers.iter())
            .flat_map(|rs| rs.checkers.iter())
    }

    /// A new service: its checkers are scheduled within their warm-up unless suspended.
    fn start_service(&mut self, spec: crate::spec::ServiceSpec, now: Timestamp) -> VirtualService {
        let mut vs = VirtualService::new(spec, &self.held);
        vs.start_events(&mut self.events);
        if !vs.suspended {
            for rs in &mut vs.real_servers {
                self.schedule_new(rs, now);
            }
        }
        vs
    }

    /// Schedules every idle checker of `rs` within its warm-up.
    fn schedule_new(&mut self, rs: &mut RealServer, now: Timestamp) {
        for c in &mut rs.checkers {
            if c.phase == Phase::Idle {
                c.phase = Phase::Waiting(now + self.rng.below(c.spec.timing.warmup));
            }
        }
    }

    fn check_done(
        &mut self,
        now: Timestamp,
        id: &CheckerId,
        probe: u64,
        outcome: CheckOutcome,
        latency: Option<Duration>,
    ) {
        let Some(si) = self.services.iter().position(|vs| vs.spec.id == id.service) else {
            return;
        };
        let vs = &self.services[si];
        let Some(ri) = vs
            .real_servers
            .iter()
            .position(|rs| rs.spec.key == id.real_server)
        else {
            return;
        };
        let probing = vs.real_servers[ri]
            .checkers
            .get(id.index)
            .is_some_and(|c| matches!(c.phase, Phase::Probing(_)) && c.probes == probe);
        if probing {
            self.finish_probe(now, si, ri, id.index, outcome, latency);
        }
    }

    /// A probe of checker `ci` ended: the checker's verdict, then its real server's health,
    /// weight and its service's quorum.
    fn finish_probe(
        &mut self,
        now: Timestamp,
        si: usize,
        ri: usize,
        ci: usize,
        outcome: CheckOutcome,
        latency: Option<Duration>,
    ) {
        let vs = &mut self.services[si];
        let quorum_before = vs.quorum_up;
        let rs = &mut vs.real_servers[ri];
        let (old_weight, old_alive) = (rs.effective_weight(), rs.alive);
        let checker = &mut rs.checkers[ci];
        let verdict = checker.finish(now, outcome, latency);
        if verdict.failed_quietly && checker.spec.timing.log_all_failures {
            self.events.push(Event::CheckFailed {
                service: vs.spec.id.clone(),
                real_server: rs.spec.key,
                kind: checker.spec.kind.keyword(),
                reason: checker.last_failure.clone().unwrap_or_default(),
            });
        }
        let reason = checker.last_failure.clone().unwrap_or_default();
        if let Some(offset) = verdict.offset {
            // IPVS weights are 0..=65535 (keepalived clamps likewise).
            let w = (i64::from(rs.spec.weight) + offset).clamp(0, 65_535);
            rs.dynamic_weight = u32::try_from(w).ok();
        }
        if verdict.weight.is_some() {
            rs.dynamic_weight = verdict.weight;
        }
        let alive = rs.checkers_pass();
        let new_weight = rs.effective_weight();
        if new_weight != old_weight {
            self.events.push(Event::WeightChanged {
                service: vs.spec.id.clone(),
                real_server: rs.spec.key,
                from: old_weight,
                to: new_weight,
            });
        }
        if alive != rs.alive {
            rs.alive = alive;
            self.events.push(health_event(&vs.spec.id, rs, &reason));
        } else if verdict.confirmed_down && !rs.alive {
            self.events.push(health_event(&vs.spec.id, rs, &reason));
        }
        vs.update_quorum(&mut self.events);
        // Most verdicts confirm what was known: only a change of health, weight or quorum
        // can change the desired state, and rebuilding it is O(real servers).
        if new_weight != old_weight || alive != old_alive || vs.quorum_up != quorum_before {
            self.dirty.insert(si);
        }
    }

    /// Runs what fell due by `now`: lost answers fail, due probes start.
    fn run_due(&mut self, now: Timestamp) {
        for si in 0..self.services.len() {
            for ri in 0..self.services[si].real_servers.len() {
                for ci in 0..self.services[si].real_servers[ri].checkers.len() {
                    let phase = self.services[si].real_servers[ri].checkers[ci]
                        .phase
                        .clone();
                    if let Phase::Probing(t) = phase
                        && now >= t
                    {
                        let outcome = CheckOutcome::Down("no answer from the checker".into());
                        self.finish_probe(now, si, ri, ci, outcome, None);
                    }
                    let vs = &mut self.services[si];
                    let rs = &mut vs.real_servers[ri];
                    let c = &mut rs.checkers[ci];
                    if let Phase::Waiting(t) = c.phase
                        && now >= t
                    {
                        let attempt = c.launch(now);
                        let probe = c.probes;
                        self.outputs.push_back(Output::RunCheck {
                            checker: CheckerId {
                                service: vs.spec.id.clone(),
                                real_server: rs.spec.key,
                                index: ci,
                            },
                            spec: c.spec.clone(),
                            attempt,
                            probe,
                        });
                    }
                }
            }
        }
    }

    /// Ends an input: due work, then the data-path change, then the events it caused.
    fn settle(&mut self, now: Timestamp) {
        self.run_due(now);
        self.emit_changes();
    }

    /// The desired state of every service, from scratch.
    fn build_desired(&self) -> DesiredState {
        let mut desired = DesiredState::default();
        for vs in &self.services {
            if let Some(service) = vs.desired() {
                desired.services.insert(vs.spec.id.clone(), service);
            }
        }
        desired
    }

    /// Emits the data-path changes of the services marked dirty, then the events. Only those
    /// services are rebuilt: with thousands of real servers, a probe answer must not cost a
    /// walk over all of them.
    fn emit_changes(&mut self) {
        let mut changes = Vec::new();
        if std::mem::take(&mut self.all_dirty) {
            self.dirty.clear();
            let desired = self.build_desired();
            changes = diff(&self.desired, &desired);
            self.desired = desired;
        } else {
            for si in std::mem::take(&mut self.dirty) {
                let vs = &self.services[si];
                let id = &vs.spec.id;
                let mut from = DesiredState::default();
                if let Some(old) = self.desired.services.get(id) {
                    from.services.insert(id.clone(), old.clone());
                }
                let mut to = DesiredState::default();
                if let Some(new) = vs.desired() {
                    to.services.insert(id.clone(), new);
                }
                changes.extend(diff(&from, &to));
                match to.services.remove(id) {
                    Some(new) => self.desired.services.insert(id.clone(), new),
                    None => self.desired.services.remove(id),
                };
            }
        }
        debug_assert_eq!(self.desired, self.build_desired(), "a change left unmarked");
        if !changes.is_empty() {
            self.outputs.push_back(Output::DataPath(changes));
        }
        self.outputs
            .extend(self.events.drain(..).map(Output::Event));
    }
}

/// `RealServerUp` or `RealServerDown` as `rs` is now.
fn health_event(service: &ServiceId, rs: &RealServer, reason: &str) -> Event {
    if rs.alive {
        Event::RealServerUp {
            service: service.clone(),
            real_server: rs.spec.key,
        }
    } else {
        Event::RealServerDown {
            service: service.clone(),
            real_server: rs.spec.key,
            reason: reason.to_owned(),
        }
    }
}
