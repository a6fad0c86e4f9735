//! The invariants, judged after a run from the scenario and its trace.
//!
//! The checker replays the trace (actions, state changes) to know, at any moment, which
//! routers are up, who hears whom, every instance's state and effective priority. Each
//! property names the preconditions under which it applies; a [`Report`] counts how many
//! times each property was actually checked, so a test can tell a vacuous pass.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use vrrp_core::weights::{self, TrackState, Tracked, TrackerKey};
use vrrp_core::{State, Timestamp, Version, timers};

use crate::lan::{Lan, NodeId};
use crate::scenario::{Action, InstanceSpec, Scenario, VrKey};
use crate::trace::{Trace, TraceEvent, What};

/// Timing tolerance on top of the RFC bounds (timer arithmetic is exact in the
/// simulator; this only absorbs rounding).
pub const SLACK: Duration = Duration::from_millis(1);

// Property names, as counted in [`Report::checked`].

/// Property a: once settled, each connected group has one Master per virtual router, and
/// the highest-priority candidate when it preempts.
pub const STABLE_SINGLE_MASTER: &str = "a: stable network has one Master, the best";
/// Property b: a higher-priority nopreempt router joining a settled group neither displaces
/// its Master nor becomes Master itself.
pub const NOPREEMPT_KEEPS_MASTER: &str = "b: nopreempt Master not displaced by a joiner";
/// Property c: after the Master crashes, a Backup takes over when its Master_Down_Timer,
/// started by the last advertisement it heard, runs out (Master_Down_Interval).
pub const CRASH_FAILOVER: &str = "c: crash failover within Master_Down_Interval";
/// Property d: after the Master shuts down, a Backup takes over Skew_Time after the
/// priority-0 advertisement reached it (RFC 5798 / RFC 9568 §6.4.2).
pub const PRIORITY_ZERO_HANDOVER: &str = "d: priority-0 handover within Skew_Time";
/// Property e: an observer never sends an advertisement, becomes Master or adds the
/// virtual addresses.
pub const OBSERVERS_SILENT: &str = "e: observers never send nor become Master";
/// Property f: after a partition heals, every Master but the best (priority, then primary
/// address) steps down within an advertisement interval plus the LAN delay.
pub const HEAL_STEP_DOWN: &str = "f: after a heal the worse Master steps down within an interval";
/// Anomalies the simulator recorded while driving the core ([`What::Anomaly`]): outputs
/// that disagree with the states told, a livelock, an encoding failure.
pub const ANOMALY: &str = "core anomaly (outputs disagree with state, livelock, encode error)";
/// Property g: once settled, every Backup, Master and observer names the actual Master.
pub const MASTER_VIEW: &str = "g: once settled, every instance names the right Master";
/// Property h: from the moment the LAN has settled until the next action, no instance
/// changes state (a transition would be a flap).
pub const SETTLED_NO_TRANSITION: &str = "h: no instance changes state while the LAN is settled";
/// Property i: an instance in Initialize or Fault leaves it at once when its router and
/// link are up and its tracked objects are fine.
pub const LEAVES_INIT_FAULT: &str = "i: Initialize or Fault is left as soon as its cause is gone";
/// Of the checks of property i, those of an instance in Fault (a recovered link or
/// tracker rather than a boot): a count only, so a test can demand them.
pub const LEAVES_FAULT: &str = "i (of which from Fault)";
/// Of the checks of property a, those where a tracker weight moved a candidate's
/// priority away from its configured one: a count only.
pub const WEIGHTED: &str = "a (of which with tracker weights moving a priority)";
/// Property j: when a tracker gives one member of a sync group its own fault, every member
/// on that router is in Fault by the same instant.
pub const SYNC_GROUP_FAULT: &str = "j: a member's own fault takes its whole sync group to Fault";
/// Property j: once everything settled, the members of a sync group on a live router are
/// not split between Master and Backup.
pub const SYNC_GROUP_TOGETHER: &str =
    "j: once settled, a sync group's members on a router are not split between Master and Backup";
/// Of the checks of property a, those that found no Master because every candidate was
/// held back by its sync group: a count only.
pub const SYNC_GROUP_HELD: &str = "a (of which no Master: every candidate held by its sync group)";
/// Property m: no instance becomes Master while in operator maintenance.
pub const MAINTENANCE_NEVER_MASTER: &str = "m: an instance in maintenance never becomes Master";
/// Property m: a Master entering maintenance is replaced as on a shutdown, within
/// Skew_Time of its priority-0 advertisement.
pub const MAINTENANCE_HANDOVER: &str =
    "m: a Master entering maintenance is replaced within priority 0 + Skew_Time";

/// A property that did not hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The property, as named by its constant (its key in [`Report::checked`]).
    pub property: &'static str,
    /// What went wrong, when and where, for people.
    pub text: String,
}

/// The outcome of checking one run.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Every violation found.
    pub violations: Vec<Violation>,
    /// How many times each property applied.
    pub checked: BTreeMap<&'static str, usize>,
}

impl Report {
    /// True when no property was violated.
    pub fn ok(&self) -> bool {
        self.violations.is_empty()
    }

    fn count(&mut self, property: &'static str) {
        *self.checked.entry(property).or_default() += 1;
    }

    /// The violations of properties other than `skip`.
    pub fn violations_except(&self, skip: &[&str]) -> Vec<&Violation> {
        self.violations
            .iter()
            .filter(|v| !skip.contains(&v.property))
            .collect()
    }

    fn fail(&mut self, property: &'static str, text: String) {
        self.violations.push(Violation { property, text });
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[{}] {}", self.property, self.text)
    }
}

/// Check every property on a finished run.
pub fn check_all(scenario: &Scenario, trace: &Trace) -> Report {
    let mut report = Report::default();
    for e in trace.anomalies() {
        if let What::Anomaly(text) = &e.what {
            report.fail(
                ANOMALY,
                format!("{} {}: {text}", e.at, trace.name(e.node.unwrap_or(0))),
            );
        }
    }
    let checker = Checker::new(scenario, trace);
    checker.observers_silent(&mut report);
    checker.maintenance_never_master(&mut report);
    checker.walk(&mut report);
    checker.recovery(&mut report);
    report
}

/// How long after the last disturbance the election of `vr` must have settled.
///
/// Without preempt_delay: the longest Master_Down_Interval (priority 1), for the best
/// Backup's timer, plus one advertisement interval, plus twice the worst delay (the new
/// Master's advertisement reaching the others). With preempt_delay a Backup first accepts
/// a lower-priority Master for preempt_delay after it first hears it, and that Master may
/// itself appear only one Master_Down_Interval after the disturbance: add preempt_delay
/// and a second Master_Down_Interval.
///
/// A VR with sync group members settles with the slowest VR of the scenario plus one more
/// Master_Down_Interval: members go Master together, so a group takes over when its last
/// member's timer runs out, and a member held back by its group restarts its timer.
pub fn settle_time(scenario: &Scenario, vr: VrKey) -> Duration {
    let grouped = |vr: VrKey| {
        scenario
            .routers
            .iter()
            .flat_map(|r| r.instances.iter())
            .any(|i| i.key == vr && i.sync_group.is_some())
    };
    if !grouped(vr) {
        return base_settle_time(scenario, vr);
    }
    scenario
        .vr_keys()
        .into_iter()
        .map(|v| base_settle_time(scenario, v) + longest_mdi(scenario, v))
        .max()
        .unwrap_or_default()
}

fn longest_mdi(scenario: &Scenario, vr: VrKey) -> Duration {
    scenario
        .routers
        .iter()
        .flat_map(|r| r.instances.iter())
        .filter(|i| i.key == vr)
        .map(|i| timers::master_down_interval(i.version, 1, i.interval_cs))
        .max()
        .unwrap_or_default()
}

fn base_settle_time(scenario: &Scenario, vr: VrKey) -> Duration {
    let instances = || {
        scenario
            .routers
            .iter()
            .flat_map(|r| r.instances.iter())
            .filter(move |i| i.key == vr)
    };
    let mdi = instances()
        .map(|i| timers::master_down_interval(i.version, 1, i.interval_cs))
        .max()
        .unwrap_or_default();
    let interval = instances()
        .map(|i| timers::centiseconds(i.interval_cs))
        .max()
        .unwrap_or_default();
    let preempt_delay = instances()
        .map(|i| i.preempt_delay)
        .max()
        .unwrap_or_default();
    let delayed_preemption = if preempt_delay.is_zero() {
        Duration::ZERO
    } else {
        preempt_delay + mdi
    };
    mdi + interval + delayed_preemption + scenario.max_delay() * 2 + SLACK
}

/// A virtual router in messages: `vrid 3` or `vrid 3 (IPv6)`.
fn vr_name(vr: VrKey) -> String {
    match vr.family {
        vrrp_core::Family::Ipv4 => format!("vrid {}", vr.vrid),
        vrrp_core::Family::Ipv6 => format!("vrid {} (IPv6)", vr.vrid),
    }
}

/// One instance as the replay sees it.
#[derive(Clone, Debug)]
struct SlotView {
    spec: InstanceSpec,
    state: State,
    /// The effective priority: the operator's, else the configured one with the trackers'
    /// weights (keepalived's rules, `vrrp_core::weights`).
    priority: u8,
    /// The Master as last reported by MasterChanged.
    view: Option<IpAddr>,
    /// An operator priority (`Action::SetPriority`), until the router restarts.
    operator: Option<u8>,
    /// Operator maintenance, until the router restarts.
    maintenance: bool,
    /// Its own trackers hold it in Fault (a weight-0 tracker failed, a file value at the
    /// fault floor) or in Initialize (an unweighted tracker not reported yet).
    tracker_fault: bool,
}

/// Everything the replay knows at one moment.
#[derive(Clone, Debug)]
struct World {
    lan: Lan,
    up: Vec<bool>,
    /// A tracked object of the router failed (told to its instances while it is up; a
    /// fresh boot forgets it, as the simulator's new instances do).
    track_fault: Vec<bool>,
    /// The state of each router's tracked objects (kept across crashes).
    trackers: Vec<Vec<(TrackerKey, TrackState)>>,
    slots: Vec<Vec<SlotView>>,
}

impl World {
    fn new(scenario: &Scenario) -> Self {
        let mut world = World {
            lan: Lan::new(scenario.routers.len(), scenario.link),
            up: vec![false; scenario.routers.len()],
            track_fault: vec![false; scenario.routers.len()],
            trackers: scenario
                .routers
                .iter()
                .map(|r| r.trackers.clone())
                .collect(),
            slots: scenario
                .routers
                .iter()
                .map(|r| {
                    r.instances
                        .iter()
                        .map(|spec| SlotView {
                            spec: spec.clone(),
                            state: State::Initialize,
                            priority: spec.priority,
                            view: None,
                            operator: None,
                            maintenance: false,
                            tracker_fault: false,
                        })
                        .collect()
                })
                .collect(),
        };
        for n in 0..scenario.routers.len() {
            world.weigh(n);
        }
        world
    }

    fn reset(&mut self, node: NodeId, up: bool) {
        self.up[node] = up;
        self.track_fault[node] = false;
        for s in &mut self.slots[node] {
            s.state = State::Initialize;
            s.view = None;
            s.operator = None;
            s.maintenance = false;
        }
        self.weigh(node);
    }

    /// Recomputes the effective priority and the tracker fault of `node`'s instances.
    fn weigh(&mut self, node: NodeId) {
        let trackers = &self.trackers[node];
        for s in &mut self.slots[node] {
            let list: Vec<Tracked> = s
                .spec
                .trackers
                .iter()
                .map(|t| {
                    let state = trackers
                        .iter()
                        .find(|(k, _)| *k == t.key)
                        .map_or(TrackState::Pending, |&(_, st)| st);
                    Tracked::new(state, t.weight, t.reverse)
                })
                .collect();
            let adj = weights::priority_adjustment(&list);
            s.tracker_fault = adj.fault || adj.pending;
            s.priority = if s.spec.priority == 255 {
                255
            } else if let Some(p) = s.operator {
                p.clamp(1, 254)
            } else {
                weights::effective_priority(s.spec.priority, &adj)
            };
        }
    }

    /// Whether instance `j` of `node` has its own fault from its trackers or shares one
    /// of a member of its sync group.
    fn group_fault(&self, node: NodeId, j: usize) -> bool {
        let slots = &self.slots[node];
        let me = &slots[j];
        me.tracker_fault
            || me.spec.sync_group.as_ref().is_some_and(|g| {
                slots
                    .iter()
                    .any(|o| o.tracker_fault && o.spec.sync_group.as_ref() == Some(g))
            })
    }

    fn apply(&mut self, e: &TraceEvent) {
        match &e.what {
            What::Action(a) => match a {
                Action::Start(n) => {
                    if !self.up[*n] {
                        self.reset(*n, true);
                    }
                }
                Action::Restart(n) => self.reset(*n, true),
                Action::Crash(n) | Action::Shutdown(n) => self.reset(*n, false),
                Action::Partition(groups) => self.lan.partition(groups),
                Action::Heal => self.lan.heal(),
                Action::SetLink(scope, p) => self.lan.set_params(scope, *p),
                Action::SetPriority {
                    node,
                    vrid,
                    priority,
                } => {
                    if self.up[*node] {
                        for s in &mut self.slots[*node] {
                            if vrid.is_none_or(|v| v == s.spec.key.vrid) {
                                s.operator = Some(*priority);
                            }
                        }
                        self.weigh(*node);
                    }
                }
                Action::Maintenance { node, vrid, on } => {
                    if self.up[*node] {
                        for s in &mut self.slots[*node] {
                            if vrid.is_none_or(|v| v == s.spec.key.vrid) {
                                s.maintenance = *on;
                            }
                        }
                    }
                }
                Action::Tracker { node, key, state } => {
                    let t = &mut self.trackers[*node];
                    t.retain(|(k, _)| k != key);
                    t.push((key.clone(), *state));
                    self.weigh(*node);
                }
                Action::LinkDown(n) => self.lan.set_link(*n, false),
                Action::LinkUp(n) => self.lan.set_link(*n, true),
                Action::TrackFault(n, failed) => {
                    if self.up[*n] {
                        self.track_fault[*n] = *failed;
                    }
                }
            },
            What::State { to, .. } => {
                if let (Some(n), Some(vr)) = (e.node, e.vr)
                    && let Some(s) = self.slot_mut(n, vr)
                {
                    s.state = *to;
                }
            }
            What::Master(info) => {
                if let (Some(n), Some(vr)) = (e.node, e.vr)
                    && let Some(s) = self.slot_mut(n, vr)
                {
                    s.view = info.map(|m| m.address);
                }
            }
            _ => {}
        }
    }

    fn slot(&self, node: NodeId, vr: VrKey) -> Option<&SlotView> {
        self.slots[node].iter().find(|s| s.spec.key == vr)
    }

    fn slot_mut(&mut self, node: NodeId, vr: VrKey) -> Option<&mut SlotView> {
        self.slots[node].iter_mut().find(|s| s.spec.key == vr)
    }

    /// Whether a node is up with its link up.
    fn live(&self, node: NodeId) -> bool {
        self.up[node] && self.lan.link_up(node)
    }

    /// Whether instance `j` of `node` sits in Initialize or Fault with none of the causes
    /// the simulator has for them: its router is up, its link up, no tracked object failed.
    fn stranded(&self, node: NodeId, j: usize) -> bool {
        self.live(node)
            && !self.track_fault[node]
            && !self.group_fault(node, j)
            && matches!(self.slots[node][j].state, State::Initialize | State::Fault)
    }

    /// Live nodes that hear `node`, itself included.
    fn component(&self, node: NodeId) -> Vec<NodeId> {
        (0..self.up.len())
            .filter(|&n| {
                self.live(n) && self.live(node) && self.lan.group(n) == self.lan.group(node)
            })
            .collect()
    }

    /// The components of live nodes.
    fn components(&self) -> Vec<Vec<NodeId>> {
        let mut seen = vec![false; self.up.len()];
        let mut out = Vec::new();
        for n in 0..self.up.len() {
            if self.live(n) && !seen[n] {
                let c = self.component(n);
                c.iter().for_each(|&m| seen[m] = true);
                out.push(c);
            }
        }
        out
    }

    /// Router-role instances of `vr` in `nodes` that can be elected (not Fault, not down).
    fn candidates(&self, nodes: &[NodeId], vr: VrKey) -> Vec<(NodeId, &SlotView)> {
        nodes
            .iter()
            .filter_map(|&n| self.slot(n, vr).map(|s| (n, s)))
            .filter(|(_, s)| {
                !s.spec.observer
                    && !s.maintenance
                    && matches!(s.state, State::Backup | State::Master)
            })
            .collect()
    }

    fn masters(&self, nodes: &[NodeId], vr: VrKey) -> Vec<NodeId> {
        nodes
            .iter()
            .copied()
            .filter(|&n| self.slot(n, vr).is_some_and(|s| s.state == State::Master))
            .collect()
    }
}

struct Checker<'a> {
    scenario: &'a Scenario,
    trace: &'a Trace,
    max_delay: Duration,
}

impl<'a> Checker<'a> {
    fn new(scenario: &'a Scenario, trace: &'a Trace) -> Self {
        Checker {
            scenario,
            trace,
            max_delay: scenario.max_delay(),
        }
    }

    fn spec(&self, node: NodeId, vr: VrKey) -> Option<&InstanceSpec> {
        self.scenario.routers[node]
            .instances
            .iter()
            .find(|i| i.key == vr)
    }

    fn addr(&self, node: NodeId, vr: VrKey) -> IpAddr {
        self.scenario.routers[node].address(vr.family)
    }

    fn name(&self, node: NodeId) -> &str {
        self.trace.name(node)
    }

    fn settle_time(&self, vr: VrKey) -> Duration {
        settle_time(self.scenario, vr)
    }

    /// e: no Send, no Master, no addresses from an observer instance.
    fn observers_silent(&self, report: &mut Report) {
        for e in &self.trace.events {
            let (Some(n), Some(vr)) = (e.node, e.vr) else {
                continue;
            };
            if !self.spec(n, vr).is_some_and(|s| s.observer) {
                continue;
            }
            let bad = match &e.what {
                What::Send { .. } => Some("sent an advertisement"),
                What::State {
                    to: State::Master, ..
                } => Some("became Master"),
                What::Addresses(true) => Some("added the virtual addresses"),
                _ => None,
            };
            if let Some(bad) = bad {
                report.fail(
                    OBSERVERS_SILENT,
                    format!("{} {} observer {bad}", e.at, self.name(n)),
                );
            }
        }
        if self
            .scenario
            .routers
            .iter()
            .any(|r| r.instances.iter().any(|i| i.observer))
        {
            report.count(OBSERVERS_SILENT);
        }
    }

    /// Replay the trace; at each action (and at the end) check the properties that apply.
    fn walk(&self, report: &mut Report) {
        let events = &self.trace.events;
        let action_idx: Vec<usize> = (0..events.len())
            .filter(|&i| matches!(events[i].what, What::Action(_)))
            .collect();
        let vrs = self.scenario.vr_keys();
        let settle: Vec<Duration> = vrs.iter().map(|&vr| self.settle_time(vr)).collect();
        let max_settle = settle.iter().copied().max().unwrap_or_default();
        let mut world = World::new(self.scenario);
        let mut next = 0;
        let mut last_action: Option<Timestamp> = None;
        // The trace since the last action (the boots included).
        let mut since = 0;
        for (k, &ai) in action_idx.iter().enumerate() {
            while next < ai {
                world.apply(&events[next]);
                next += 1;
            }
            let at = events[ai].at;
            let next_action = action_idx
                .get(k + 1)
                .map_or(self.trace.end, |&i| events[i].at);
            let What::Action(action) = &events[ai].what else {
                unreachable!("indexed actions")
            };
            for (vr, &settle) in vrs.iter().zip(&settle) {
                // Settled: no action (the boots included) for `settle`, and no loss.
                let settled = last_action.is_some_and(|t| at - t >= settle) && !world.lan.lossy();
                if !settled {
                    continue;
                }
                self.stable(report, &world, *vr, at);
                let quiet_from = last_action.expect("settled") + settle;
                self.quiet(report, *vr, &events[since..ai], quiet_from);
                let window = Window {
                    at,
                    until: next_action,
                    index: ai,
                };
                let grouped = self.grouped(*vr);
                match action {
                    Action::Start(j) | Action::Restart(j) if !grouped => {
                        self.nopreempt_join(report, &world, *vr, *j, &window, settle)
                    }
                    Action::Crash(m) if !grouped => {
                        self.crash_failover(report, &world, *vr, *m, &window)
                    }
                    Action::Shutdown(m) if !grouped => {
                        self.priority_zero(report, &world, *vr, *m, &window, PRIORITY_ZERO_HANDOVER)
                    }
                    Action::Maintenance {
                        node: m,
                        vrid,
                        on: true,
                    } if !grouped && vrid.is_none_or(|v| v == vr.vrid) => {
                        self.priority_zero(report, &world, *vr, *m, &window, MAINTENANCE_HANDOVER)
                    }
                    _ => {}
                }
            }
            let all_settled =
                last_action.is_some_and(|t| at - t >= max_settle) && !world.lan.lossy();
            if all_settled {
                self.groups_together(report, &world, at);
            }
            if let Action::Tracker { node, .. } = action
                && world.up[*node]
                && world.slots[*node]
                    .iter()
                    .any(|s| s.spec.sync_group.is_some())
            {
                let mut after = world.clone();
                after.apply(&events[ai]);
                let w = Window {
                    at,
                    until: next_action,
                    index: ai,
                };
                self.group_fault_follows(report, &world, &after, *node, &w);
            }
            if let Action::Heal = action
                && !world.lan.lossy()
            {
                world.apply(&events[ai]);
                next = ai + 1;
                for &vr in &vrs {
                    self.heal(
                        report,
                        &world,
                        vr,
                        &Window {
                            at,
                            until: next_action,
                            index: ai,
                        },
                    );
                }
            }
            last_action = Some(at);
            since = ai + 1;
        }
        while next < events.len() {
            world.apply(&events[next]);
            next += 1;
        }
        if last_action.is_none_or(|t| self.trace.end - t >= max_settle) && !world.lan.lossy() {
            self.groups_together(report, &world, self.trace.end);
        }
        for (vr, &settle) in vrs.iter().zip(&settle) {
            let settled =
                last_action.is_none_or(|t| self.trace.end - t >= settle) && !world.lan.lossy();
            if settled {
                self.stable(report, &world, *vr, self.trace.end);
                let quiet_from = last_action.map_or(Timestamp::ZERO, |t| t + settle);
                self.quiet(report, *vr, &events[since..], quiet_from);
            }
        }
    }

    /// a: one Master per connected group; the best one when the best would preempt.
    fn stable(&self, report: &mut Report, world: &World, vr: VrKey, at: Timestamp) {
        for comp in world.components() {
            let cands = world.candidates(&comp, vr);
            let masters = world.masters(&comp, vr);
            if cands.is_empty() {
                continue;
            }
            report.count(STABLE_SINGLE_MASTER);
            let names: Vec<&str> = masters.iter().map(|&n| self.name(n)).collect();
            if masters.is_empty() && cands.iter().all(|&(n, _)| self.held(world, &comp, n, vr)) {
                // keepalived: members go Master together or not at all, preferring Backup
                // to thrashing; a VR whose every candidate is held back that way has none.
                report.count(SYNC_GROUP_HELD);
                continue;
            }
            if masters.len() != 1 {
                report.fail(
                    STABLE_SINGLE_MASTER,
                    format!(
                        "{at} {}: {} Masters {names:?} in a settled group",
                        vr_name(vr),
                        masters.len()
                    ),
                );
                continue;
            }
            let top = cands.iter().map(|(_, s)| s.priority).max().unwrap_or(0);
            let tops: Vec<NodeId> = cands
                .iter()
                .filter(|(_, s)| s.priority == top)
                .map(|&(n, _)| n)
                .collect();
            let all_preempt = cands
                .iter()
                .filter(|(_, s)| s.priority == top)
                .all(|(_, s)| s.spec.preempt);
            let m = masters[0];
            if cands
                .iter()
                .any(|(_, s)| s.operator.is_none() && s.priority != s.spec.priority)
            {
                report.count(WEIGHTED);
            }
            // Sync groups: a router wins a VR only with its whole group, so the top
            // priority is demanded only where every top router is the sole top of every
            // other member of its group.
            let all_preempt =
                all_preempt && tops.iter().all(|&t| self.group_wins(world, &comp, t, vr));
            report.count(MASTER_VIEW);
            for &n in &comp {
                let Some(s) = world.slot(n, vr) else { continue };
                if matches!(s.state, State::Backup | State::Master | State::Observer)
                    && s.view != Some(self.addr(m, vr))
                {
                    report.fail(
                        MASTER_VIEW,
                        format!(
                            "{at} {}: {} ({}) names {} as Master, but the Master is {}",
                            vr_name(vr),
                            self.name(n),
                            s.state,
                            s.view
                                .and_then(|a| self.trace.node_of(a))
                                .map_or("nobody", |x| self.name(x)),
                            self.name(m)
                        ),
                    );
                }
            }
            if all_preempt && !tops.contains(&m) {
                let prio = world.slot(m, vr).map_or(0, |s| s.priority);
                report.fail(
                    STABLE_SINGLE_MASTER,
                    format!(
                        "{at} {}: Master {} has priority {prio}, but {} has {top} and preempts",
                        vr_name(vr),
                        self.name(m),
                        self.name(tops[0])
                    ),
                );
            }
        }
    }

    /// h: once settled, nothing changes state until the next action. With every election
    /// decided, the Master's advertisements keep resetting the Backups' Master_Down_Timers
    /// and no Backup outranks it (RFC 5798 §6.4.2, RFC 9568 §6.4.2): a transition here is
    /// a flap. `events` run from the last action to the next; those from `from` on are
    /// judged.
    fn quiet(&self, report: &mut Report, vr: VrKey, events: &[TraceEvent], from: Timestamp) {
        report.count(SETTLED_NO_TRANSITION);
        for e in events.iter().filter(|e| e.at >= from && e.vr == Some(vr)) {
            if let (
                What::State {
                    from: was,
                    to,
                    reason,
                },
                Some(n),
            ) = (&e.what, e.node)
            {
                report.fail(
                    SETTLED_NO_TRANSITION,
                    format!(
                        "{} {} {}: {was} -> {to} ({reason}) in a LAN settled since {from}",
                        e.at,
                        vr_name(vr),
                        self.name(n)
                    ),
                );
            }
        }
    }

    /// i: an instance left in Initialize or Fault once its router is up, its link up and
    /// its tracked objects fine leaves at once: the Startup event moves Initialize to
    /// Backup or Master (RFC 5798 §6.4.1), and the core restarts a recovered instance the
    /// same way. A second pass over the trace, judging each such episode when it ends
    /// (or at the end of the trace).
    fn recovery(&self, report: &mut Report) {
        let mut world = World::new(self.scenario);
        let mut stuck: Vec<Vec<Option<Stranded>>> =
            world.slots.iter().map(|s| vec![None; s.len()]).collect();
        for e in &self.trace.events {
            world.apply(e);
            let (What::Action(_) | What::State { .. }, Some(n)) = (&e.what, e.node) else {
                continue;
            };
            for (j, episode) in stuck[n].iter_mut().enumerate() {
                match (episode.take(), world.stranded(n, j)) {
                    (None, true) => {
                        let state = world.slots[n][j].state;
                        *episode = Some(Stranded { since: e.at, state });
                    }
                    (Some(was), false) => self.stranded(report, n, j, was, e.at, false),
                    (was, _) => *episode = was,
                }
            }
        }
        for (n, slots) in stuck.into_iter().enumerate() {
            for (j, was) in slots.into_iter().enumerate() {
                if let Some(was) = was.filter(|w| self.trace.end >= w.since + SLACK) {
                    self.stranded(report, n, j, was, self.trace.end, true);
                }
            }
        }
    }

    /// Judge one episode of instance `j` of `node` in Initialize or Fault without a cause,
    /// ended at `until` (`still`: not left by the end of the trace).
    fn stranded(
        &self,
        report: &mut Report,
        node: NodeId,
        j: usize,
        was: Stranded,
        until: Timestamp,
        still: bool,
    ) {
        report.count(LEAVES_INIT_FAULT);
        if was.state == State::Fault {
            report.count(LEAVES_FAULT);
        }
        if until <= was.since + SLACK && !still {
            return;
        }
        let how = if still { "still there at" } else { "until" };
        report.fail(
            LEAVES_INIT_FAULT,
            format!(
                "{} {}: {} from {} with its router up, link up and trackers fine, {how} {until}",
                vr_name(self.scenario.routers[node].instances[j].key),
                self.name(node),
                was.state,
                was.since
            ),
        );
    }

    /// The unique Master of `node`'s group, if there is exactly one.
    fn sole_master(&self, world: &World, vr: VrKey, node: NodeId) -> Option<NodeId> {
        let masters = world.masters(&world.component(node), vr);
        (masters.len() == 1).then(|| masters[0])
    }

    /// b: a higher-priority nopreempt router joining a settled group does not displace its
    /// Master, and does not become Master itself, until the next action.
    fn nopreempt_join(
        &self,
        report: &mut Report,
        world: &World,
        vr: VrKey,
        joiner: NodeId,
        w: &Window,
        settle: Duration,
    ) {
        let Some(spec) = self.spec(joiner, vr) else {
            return;
        };
        if spec.preempt
            || spec.observer
            || spec.priority == 255
            || w.until - w.at < settle
            || !world.lan.link_up(joiner)
        {
            return;
        }
        let group: Vec<NodeId> = (0..world.up.len())
            .filter(|&n| {
                n != joiner && world.live(n) && world.lan.group(n) == world.lan.group(joiner)
            })
            .collect();
        let masters = world.masters(&group, vr);
        if masters.len() != 1 {
            return;
        }
        let m = masters[0];
        if world
            .slot(m, vr)
            .is_none_or(|s| s.priority >= spec.priority)
        {
            return;
        }
        report.count(NOPREEMPT_KEEPS_MASTER);
        for e in self.after(w) {
            if e.vr != Some(vr) {
                continue;
            }
            if let What::State { from, to, reason } = &e.what {
                if e.node == Some(m) && *from == State::Master {
                    report.fail(
                        NOPREEMPT_KEEPS_MASTER,
                        format!(
                            "{} Master {} displaced ({reason}) after {} joined",
                            e.at,
                            self.name(m),
                            self.name(joiner)
                        ),
                    );
                }
                if e.node == Some(joiner) && *to == State::Master {
                    report.fail(
                        NOPREEMPT_KEEPS_MASTER,
                        format!(
                            "{} nopreempt joiner {} became Master ({reason}) over live {}",
                            e.at,
                            self.name(joiner),
                            self.name(m)
                        ),
                    );
                }
            }
        }
    }

    /// The trace events after an action, up to the next action.
    fn after(&self, w: &Window) -> impl Iterator<Item = &'a TraceEvent> {
        let until = w.until;
        self.trace.events[w.index + 1..]
            .iter()
            .take_while(move |e| !matches!(e.what, What::Action(_)) && e.at <= until)
    }

    /// The first Master other than `old` in `old`'s group after an action.
    fn first_new_master(
        &self,
        w: &Window,
        vr: VrKey,
        old: NodeId,
        group: &[NodeId],
    ) -> Option<(Timestamp, NodeId)> {
        self.after(w).find_map(|e| match (&e.what, e.node) {
            (
                What::State {
                    to: State::Master, ..
                },
                Some(n),
            ) if e.vr == Some(vr) && n != old && group.contains(&n) => Some((e.at, n)),
            _ => None,
        })
    }

    /// c: after the Master crashes, a Backup takes over exactly when the first
    /// Master_Down_Timer (started by the last advertisement that reached it) runs out.
    fn crash_failover(&self, report: &mut Report, world: &World, vr: VrKey, m: NodeId, w: &Window) {
        if world.slot(m, vr).is_none_or(|s| s.state != State::Master)
            || self.sole_master(world, vr, m) != Some(m)
        {
            return;
        }
        let group: Vec<NodeId> = world.component(m).into_iter().filter(|&n| n != m).collect();
        let mut deadline: Option<Timestamp> = None;
        for (b, s) in world.candidates(&group, vr) {
            if s.state != State::Backup {
                continue;
            }
            // The last advertisement from m that reached b, in flight ones included.
            let last = self.trace.events[..w.index]
                .iter()
                .chain(self.after(w).take_while(|e| e.at <= w.at + self.max_delay))
                .filter(|e| e.node == Some(b) && e.vr == Some(vr))
                .filter_map(|e| match e.what {
                    What::Recv {
                        from,
                        priority,
                        interval_cs,
                    } if from == m && priority > 0 => Some((e.at, interval_cs)),
                    _ => None,
                })
                .last();
            let Some((rx, interval_cs)) = last else {
                continue;
            };
            let interval = if s.spec.version == Version::V3 {
                interval_cs
            } else {
                s.spec.interval_cs
            };
            let d = rx + timers::master_down_interval(s.spec.version, s.priority, interval);
            deadline = Some(deadline.map_or(d, |x: Timestamp| x.min(d)));
        }
        let Some(deadline) = deadline else { return };
        if w.until < deadline + SLACK {
            return;
        }
        report.count(CRASH_FAILOVER);
        match self.first_new_master(w, vr, m, &group) {
            Some((t, _)) if t + Duration::from_micros(1) >= deadline && t <= deadline + SLACK => {}
            Some((t, n)) => report.fail(
                CRASH_FAILOVER,
                format!(
                    "{}: {} crashed at {}; {} became Master at {t}, expected at {deadline} (last advertisement heard + Master_Down_Interval)",
                    vr_name(vr),
                    self.name(m),
                    w.at,
                    self.name(n)
                ),
            ),
            None => report.fail(
                CRASH_FAILOVER,
                format!("{}: {} crashed at {}; no Backup took over by {}", vr_name(vr), self.name(m), w.at, w.until),
            ),
        }
    }

    /// d: after the Master shuts down, a Backup takes over Skew_Time after the priority-0
    /// advertisement reached it.
    fn priority_zero(
        &self,
        report: &mut Report,
        world: &World,
        vr: VrKey,
        m: NodeId,
        w: &Window,
        property: &'static str,
    ) {
        if world.slot(m, vr).is_none_or(|s| s.state != State::Master)
            || self.sole_master(world, vr, m) != Some(m)
        {
            return;
        }
        let group: Vec<NodeId> = world.component(m).into_iter().filter(|&n| n != m).collect();
        let mut deadline: Option<Timestamp> = None;
        for (b, s) in world.candidates(&group, vr) {
            if s.state != State::Backup {
                continue;
            }
            let rx = self.after(w).find_map(|e| match e.what {
                What::Recv {
                    from,
                    priority: 0,
                    interval_cs,
                } if from == m && e.node == Some(b) && e.vr == Some(vr) => {
                    Some((e.at, interval_cs))
                }
                _ => None,
            });
            let Some((rx, interval_cs)) = rx else {
                continue;
            };
            let interval = if s.spec.version == Version::V3 {
                interval_cs
            } else {
                s.spec.interval_cs
            };
            let d = rx + timers::skew_time(s.spec.version, s.priority, interval);
            deadline = Some(deadline.map_or(d, |x: Timestamp| x.min(d)));
        }
        let Some(deadline) = deadline else { return };
        if w.until < deadline + SLACK {
            return;
        }
        report.count(property);
        match self.first_new_master(w, vr, m, &group) {
            Some((t, _)) if t + Duration::from_micros(1) >= deadline && t <= deadline + SLACK => {}
            Some((t, n)) => report.fail(
                property,
                format!(
                    "{}: {} {} at {}; {} became Master at {t}, expected at {deadline} (priority 0 heard + Skew_Time)",
                    vr_name(vr),
                    self.name(m),
                    leaving(property),
                    w.at,
                    self.name(n)
                ),
            ),
            None => report.fail(
                property,
                format!("{}: {} {} at {}; no Backup took over by {}", vr_name(vr), self.name(m), leaving(property), w.at, w.until),
            ),
        }
    }

    /// Whether any instance of `vr` is a sync group member.
    fn grouped(&self, vr: VrKey) -> bool {
        self.scenario
            .routers
            .iter()
            .flat_map(|r| r.instances.iter())
            .any(|i| i.key == vr && i.sync_group.is_some())
    }

    /// Whether router `t`, a top candidate of `vr`, can win it with its sync group: every
    /// other member of its group is a candidate and the sole top one of its own VR in
    /// `comp`, with every top candidate there preempting (members go Master together or
    /// not at all). True outside sync groups.
    fn group_wins(&self, world: &World, comp: &[NodeId], t: NodeId, vr: VrKey) -> bool {
        let Some(me) = world.slot(t, vr) else {
            return true;
        };
        let Some(group) = &me.spec.sync_group else {
            return true;
        };
        world.slots[t]
            .iter()
            .filter(|o| o.spec.key != vr && o.spec.sync_group.as_ref() == Some(group))
            .all(|o| {
                let cands = world.candidates(comp, o.spec.key);
                let Some(top) = cands.iter().map(|(_, s)| s.priority).max() else {
                    return false;
                };
                let tops: Vec<&(NodeId, &SlotView)> =
                    cands.iter().filter(|(_, s)| s.priority == top).collect();
                tops.len() == 1 && tops[0].0 == t && tops[0].1.spec.preempt
            })
    }

    /// Whether `n`'s instance of `vr` is held back by its sync group (so it may stay
    /// Backup with no Master around): another member of its group on `n` would not be
    /// Master, being out of Backup and Master, in maintenance, or a Backup that hears a
    /// Master in `comp` it does not preempt.
    fn held(&self, world: &World, comp: &[NodeId], n: NodeId, vr: VrKey) -> bool {
        let Some(group) = world.slot(n, vr).and_then(|s| s.spec.sync_group.as_ref()) else {
            return false;
        };
        world.slots[n]
            .iter()
            .filter(|o| o.spec.key != vr && o.spec.sync_group.as_ref() == Some(group))
            .any(|o| match o.state {
                State::Master => false,
                State::Backup if !o.maintenance => {
                    world.masters(comp, o.spec.key).into_iter().any(|m| {
                        let mp = world.slot(m, o.spec.key).map_or(0, |s| s.priority);
                        let outranks = o.priority > mp
                            || (o.priority == mp
                                && self.addr(n, o.spec.key) > self.addr(m, o.spec.key));
                        m != n && !(o.spec.preempt && outranks)
                    })
                }
                _ => true,
            })
    }

    /// j: once everything settled, the members of each sync group on each live router are
    /// not split between Master and Backup.
    fn groups_together(&self, report: &mut Report, world: &World, at: Timestamp) {
        for n in 0..world.up.len() {
            if !world.up[n] {
                continue;
            }
            let slots = &world.slots[n];
            for g in group_names(slots) {
                let members: Vec<&SlotView> = slots
                    .iter()
                    .filter(|s| s.spec.sync_group.as_ref() == Some(g))
                    .collect();
                report.count(SYNC_GROUP_TOGETHER);
                let masters = members.iter().filter(|s| s.state == State::Master).count();
                let backups = members.iter().filter(|s| s.state == State::Backup).count();
                if masters > 0 && backups > 0 {
                    let states: Vec<String> = members
                        .iter()
                        .map(|s| format!("{} {}", vr_name(s.spec.key), s.state))
                        .collect();
                    report.fail(
                        SYNC_GROUP_TOGETHER,
                        format!(
                            "{at} {} sync group {g} split in a settled LAN: {}",
                            self.name(n),
                            states.join(", ")
                        ),
                    );
                }
            }
        }
    }

    /// j: a tracker action gave a member of a sync group of `node` its own fault while
    /// another member has none: by the same instant (+ SLACK) every member is in Fault
    /// (none left Master or Backup). `before` and `after` are the world around the action.
    fn group_fault_follows(
        &self,
        report: &mut Report,
        before: &World,
        after: &World,
        node: NodeId,
        w: &Window,
    ) {
        if !after.live(node) || after.track_fault[node] {
            return;
        }
        let slots = &after.slots[node];
        for g in group_names(slots) {
            let members: Vec<usize> = (0..slots.len())
                .filter(|&j| slots[j].spec.sync_group.as_ref() == Some(g))
                .collect();
            let newly = members
                .iter()
                .any(|&j| slots[j].tracker_fault && !before.slots[node][j].tracker_fault);
            let spared = members.iter().any(|&j| !slots[j].tracker_fault);
            let running = members
                .iter()
                .all(|&j| matches!(before.slots[node][j].state, State::Master | State::Backup));
            if !newly || !spared || !running {
                continue;
            }
            report.count(SYNC_GROUP_FAULT);
            let mut states: Vec<State> = members.iter().map(|&j| slots[j].state).collect();
            for e in self.after(w).take_while(|e| e.at <= w.at + SLACK) {
                if let (What::State { to, .. }, Some(n), Some(vr)) = (&e.what, e.node, e.vr)
                    && n == node
                    && let Some(k) = members.iter().position(|&j| slots[j].spec.key == vr)
                {
                    states[k] = *to;
                }
            }
            let left: Vec<String> = members
                .iter()
                .zip(&states)
                .filter(|(_, s)| **s != State::Fault)
                .map(|(&j, s)| format!("{} {s}", vr_name(slots[j].spec.key)))
                .collect();
            if !left.is_empty() {
                report.fail(
                    SYNC_GROUP_FAULT,
                    format!(
                        "{} {}: a member of sync group {g} failed, but {} not in Fault by {}",
                        w.at,
                        self.name(node),
                        left.join(", "),
                        w.at + SLACK
                    ),
                );
            }
        }
    }

    /// m: no instance enters Master while in maintenance (replayed from the actions).
    fn maintenance_never_master(&self, report: &mut Report) {
        if !self
            .scenario
            .actions
            .iter()
            .any(|(_, a)| matches!(a, Action::Maintenance { on: true, .. }))
        {
            return;
        }
        report.count(MAINTENANCE_NEVER_MASTER);
        let mut world = World::new(self.scenario);
        for e in &self.trace.events {
            if let (
                What::State {
                    to: State::Master,
                    reason,
                    ..
                },
                Some(n),
                Some(vr),
            ) = (&e.what, e.node, e.vr)
                && world.slot(n, vr).is_some_and(|s| s.maintenance)
            {
                report.fail(
                    MAINTENANCE_NEVER_MASTER,
                    format!(
                        "{} {} {}: became Master ({reason}) in maintenance",
                        e.at,
                        vr_name(vr),
                        self.name(n)
                    ),
                );
            }
            world.apply(e);
        }
    }

    /// f: after a heal, every Master but the best (priority, then address) steps down
    /// within the best one's advertisement interval plus the delay, or its own interval
    /// plus twice the delay if shorter. `world` is after the heal.
    fn heal(&self, report: &mut Report, world: &World, vr: VrKey, w: &Window) {
        for comp in world.components() {
            let masters = world.masters(&comp, vr);
            if masters.len() < 2 {
                continue;
            }
            let rank = |n: NodeId| {
                (
                    world.slot(n, vr).map_or(0, |s| s.priority),
                    self.addr(n, vr),
                )
            };
            let best = *masters
                .iter()
                .max_by_key(|&&n| rank(n))
                .expect("two or more");
            let interval =
                |n: NodeId| timers::centiseconds(self.spec(n, vr).map_or(0, |s| s.interval_cs));
            // A worse Master steps down when the best one's next advertisement reaches it,
            // or earlier: the best one re-advertises at once on hearing the worse one
            // (RFC 9568 §6.4.3).
            let deadline = |l: NodeId| {
                w.at + interval(best).min(interval(l) + self.max_delay) + self.max_delay + SLACK
            };
            let last = masters
                .iter()
                .map(|&l| deadline(l))
                .max()
                .expect("two or more");
            if w.until < last {
                continue;
            }
            report.count(HEAL_STEP_DOWN);
            for &l in masters.iter().filter(|&&n| n != best) {
                let stepped = self.after(w).find_map(|e| match e.what {
                    What::State {
                        from: State::Master,
                        ..
                    } if e.node == Some(l) && e.vr == Some(vr) => Some(e.at),
                    _ => None,
                });
                let deadline = deadline(l);
                if stepped.is_none_or(|t| t > deadline) {
                    report.fail(
                        HEAL_STEP_DOWN,
                        format!(
                            "{}: healed at {}; {} (worse than {}) still Master at {deadline} (stepped down: {})",
                            vr_name(vr),
                            w.at,
                            self.name(l),
                            self.name(best),
                            stepped.map_or("never".to_string(), |t| t.to_string())
                        ),
                    );
                }
            }
        }
    }
}

/// How a Master left, for property d's and m's messages.
fn leaving(property: &str) -> &'static str {
    if property == MAINTENANCE_HANDOVER {
        "entered maintenance"
    } else {
        "shut down"
    }
}

/// An instance in Initialize or Fault with no cause for it: since when, and which state.
#[derive(Clone, Copy, Debug)]
struct Stranded {
    since: Timestamp,
    state: State,
}

/// An action and the quiet time after it.
struct Window {
    at: Timestamp,
    until: Timestamp,
    /// Index of the action in the trace.
    index: usize,
}

/// The sync groups of a router's instances, each once, in name order.
fn group_names(slots: &[SlotView]) -> Vec<&String> {
    let mut groups: Vec<&String> = slots
        .iter()
        .filter_map(|s| s.spec.sync_group.as_ref())
        .collect();
    groups.sort();
    groups.dedup();
    groups
}
