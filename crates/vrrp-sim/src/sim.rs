//! The discrete-event scheduler: a virtual clock, an event queue, the routers and the LAN.
//!
//! Events at equal times run in the order they were scheduled (a sequence number breaks
//! ties), so a run depends only on the scenario and its seed.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::net::IpAddr;

use vrrp_core::packet::{self, MULTICAST_V4, MULTICAST_V6, VRRP_TTL};
use vrrp_core::{
    Advertisement, ChecksumForm, DecodeError, Decoded, Family, Input, Instance, IpMeta, Output,
    State, Timestamp,
};

use crate::lan::{DropReason, Lan, NodeId};
use crate::rng::SimRng;
use crate::scenario::{Action, InstanceSpec, RouterSpec, Scenario, VrKey};
use crate::trace::{Trace, What};

/// How many times in a row an instance may ask to be woken at the very instant it was just
/// woken before the simulator calls it a livelock and stops waking it.
const MAX_IMMEDIATE_WAKEUPS: u32 = 1_000;

/// A packet in flight.
#[derive(Clone, Debug)]
struct Packet {
    from: NodeId,
    to: NodeId,
    key: VrKey,
    src: IpAddr,
    bytes: Vec<u8>,
}

#[derive(Clone, Debug)]
enum Event {
    Action(Action),
    Timer {
        node: NodeId,
        slot: usize,
        incarnation: u64,
        deadline: Timestamp,
    },
    Deliver(Packet),
}

#[derive(Debug)]
struct Scheduled {
    at: Timestamp,
    seq: u64,
    event: Event,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Scheduled {}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scheduled {
    /// Reversed: the heap pops the earliest (time, sequence) first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// One VRRP instance slot of a router.
#[derive(Debug)]
struct Slot {
    spec: InstanceSpec,
    instance: Option<Instance>,
    /// The deadline a live timer event stands for.
    armed: Option<Timestamp>,
    /// The state as told by StateChanged outputs.
    told_state: State,
    holds_addresses: bool,
    immediate_wakeups: u32,
}

#[derive(Debug)]
struct Router {
    spec: RouterSpec,
    up: bool,
    /// Bumped at every crash, shutdown and start, so stale timers are recognised.
    incarnation: u64,
    slots: Vec<Slot>,
}

/// A running simulation.
#[derive(Debug)]
pub struct Sim {
    scenario: Scenario,
    now: Timestamp,
    seq: u64,
    queue: BinaryHeap<Scheduled>,
    rng: SimRng,
    lan: Lan,
    routers: Vec<Router>,
    trace: Trace,
    events_run: u64,
    /// Latest arrival scheduled per sender→receiver link: a link delivers in order.
    last_arrival: Vec<Vec<Timestamp>>,
}

impl Sim {
    /// A simulation at time zero with the scenario's actions and boots scheduled.
    pub fn new(scenario: Scenario) -> Self {
        let routers = scenario
            .routers
            .iter()
            .map(|spec| Router {
                spec: spec.clone(),
                up: false,
                incarnation: 0,
                slots: spec
                    .instances
                    .iter()
                    .map(|i| Slot {
                        spec: i.clone(),
                        instance: None,
                        armed: None,
                        told_state: State::Initialize,
                        holds_addresses: false,
                        immediate_wakeups: 0,
                    })
                    .collect(),
            })
            .collect();
        let mut sim = Sim {
            now: Timestamp::ZERO,
            seq: 0,
            queue: BinaryHeap::new(),
            rng: SimRng::new(scenario.seed),
            lan: Lan::new(scenario.routers.len(), scenario.link),
            routers,
            trace: Trace::new(&scenario),
            events_run: 0,
            last_arrival: vec![
                vec![Timestamp::ZERO; scenario.routers.len()];
                scenario.routers.len()
            ],
            scenario,
        };
        let boots: Vec<(Timestamp, NodeId)> = sim
            .scenario
            .routers
            .iter()
            .enumerate()
            .filter_map(|(n, r)| r.start_at.map(|t| (t, n)))
            .collect();
        for (at, node) in boots {
            sim.schedule(at, Event::Action(Action::Start(node)));
        }
        for (at, action) in sim.scenario.actions.clone() {
            sim.schedule(at, Event::Action(action));
        }
        sim
    }

    pub fn now(&self) -> Timestamp {
        self.now
    }

    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    pub fn into_trace(self) -> Trace {
        self.trace
    }

    pub fn lan(&self) -> &Lan {
        &self.lan
    }

    /// Events processed so far.
    pub fn events_run(&self) -> u64 {
        self.events_run
    }

    /// Whether a router is booted (not crashed or shut down).
    pub fn is_up(&self, node: NodeId) -> bool {
        self.routers[node].up
    }

    /// A router's live instance for a virtual router.
    pub fn instance(&self, node: NodeId, key: VrKey) -> Option<&Instance> {
        self.routers[node]
            .slots
            .iter()
            .find(|s| s.spec.key == key)
            .and_then(|s| s.instance.as_ref())
    }

    /// The nodes whose instance for `key` is Master now.
    pub fn masters(&self, key: VrKey) -> Vec<NodeId> {
        (0..self.routers.len())
            .filter(|&n| {
                self.instance(n, key)
                    .is_some_and(|i| i.state() == State::Master)
            })
            .collect()
    }

    /// Run every event up to and including `until`, then set the clock to `until`.
    pub fn run_until(&mut self, until: Timestamp) {
        while let Some(next) = self.queue.peek() {
            if next.at > until {
                break;
            }
            let Scheduled { at, event, .. } = self.queue.pop().expect("peeked");
            self.now = at;
            self.events_run += 1;
            match event {
                Event::Action(action) => self.apply(action),
                Event::Timer {
                    node,
                    slot,
                    incarnation,
                    deadline,
                } => self.fire_timer(node, slot, incarnation, deadline),
                Event::Deliver(packet) => self.deliver(packet),
            }
        }
        self.now = self.now.max(until);
        self.trace.end = self.now;
    }

    fn schedule(&mut self, at: Timestamp, event: Event) {
        self.seq += 1;
        self.queue.push(Scheduled {
            at,
            seq: self.seq,
            event,
        });
    }

    fn record(&mut self, node: Option<NodeId>, vr: Option<VrKey>, what: What) {
        self.trace.push(self.now, node, vr, what);
    }

    fn apply(&mut self, action: Action) {
        self.record(action.node(), None, What::Action(action.clone()));
        match action {
            Action::Start(node) => self.start(node),
            Action::Crash(node) => self.crash(node),
            Action::Restart(node) => {
                self.crash(node);
                self.start(node);
            }
            Action::Shutdown(node) => {
                if self.routers[node].up {
                    self.feed_all(node, |_| Some(Input::Shutdown));
                    self.crash(node);
                }
            }
            Action::Partition(groups) => self.lan.partition(&groups),
            Action::Heal => self.lan.heal(),
            Action::SetLink(scope, params) => self.lan.set_params(&scope, params),
            Action::SetPriority {
                node,
                vrid,
                priority,
            } => self.feed_all(node, |spec| {
                (vrid.is_none() || vrid == Some(spec.key.vrid))
                    .then_some(Input::SetPriority(priority))
            }),
            Action::LinkDown(node) => {
                self.lan.set_link(node, false);
                self.feed_all(node, |_| Some(Input::LinkDown));
            }
            Action::LinkUp(node) => {
                self.lan.set_link(node, true);
                self.feed_all(node, |_| Some(Input::LinkUp));
            }
            Action::TrackFault(node, failed) => {
                self.feed_all(node, |_| Some(Input::TrackFault(failed)))
            }
        }
    }

    /// Boot a router (no-op when up): fresh instances, Startup, and LinkDown if its link is down.
    fn start(&mut self, node: NodeId) {
        let router = &mut self.routers[node];
        if router.up {
            return;
        }
        router.up = true;
        router.incarnation += 1;
        let name = router.spec.name.clone();
        for slot in &mut router.slots {
            let primary = router.spec.address(slot.spec.key.family);
            slot.instance = Some(Instance::new(slot.spec.config(&name, primary)));
            slot.armed = None;
            slot.told_state = State::Initialize;
            slot.holds_addresses = false;
        }
        self.feed_all(node, |_| Some(Input::Startup));
        if !self.lan.link_up(node) {
            self.feed_all(node, |_| Some(Input::LinkDown));
        }
    }

    /// Drop a router's instances without a word.
    fn crash(&mut self, node: NodeId) {
        let router = &mut self.routers[node];
        router.up = false;
        router.incarnation += 1;
        for slot in &mut router.slots {
            slot.instance = None;
            slot.armed = None;
            slot.told_state = State::Initialize;
            slot.holds_addresses = false;
        }
    }

    /// Feed an input (chosen per instance) to every live instance of a router.
    fn feed_all(&mut self, node: NodeId, input: impl Fn(&InstanceSpec) -> Option<Input<'static>>) {
        for slot in 0..self.routers[node].slots.len() {
            if let Some(input) = input(&self.routers[node].slots[slot].spec) {
                self.feed(node, slot, input);
            }
        }
    }

    /// Feed one input to one instance, then act on its outputs and re-arm its timer.
    fn feed(&mut self, node: NodeId, slot: usize, input: Input<'_>) {
        let now = self.now;
        let Some(instance) = self.routers[node].slots[slot].instance.as_mut() else {
            return;
        };
        instance.handle(now, input);
        self.after_handle(node, slot);
    }

    fn fire_timer(&mut self, node: NodeId, slot: usize, incarnation: u64, deadline: Timestamp) {
        let router = &mut self.routers[node];
        let s = &mut router.slots[slot];
        if !router.up || router.incarnation != incarnation || s.armed != Some(deadline) {
            return; // stale
        }
        s.armed = None;
        self.feed(node, slot, Input::Timeout);
    }

    fn after_handle(&mut self, node: NodeId, slot: usize) {
        let key = self.routers[node].slots[slot].spec.key;
        let mut outputs = Vec::new();
        let (state, deadline) = {
            let instance = self.routers[node].slots[slot]
                .instance
                .as_mut()
                .expect("after_handle runs on a live instance");
            while let Some(out) = instance.poll_output() {
                outputs.push(out);
            }
            (instance.state(), instance.poll_timeout())
        };
        for out in outputs {
            self.output(node, slot, out);
        }
        let now = self.now;
        let s = &mut self.routers[node].slots[slot];
        let mut anomalies = Vec::new();
        if s.told_state != state {
            anomalies.push(format!(
                "StateChanged outputs say {}, state() says {state}",
                s.told_state
            ));
            s.told_state = state;
        }
        if s.holds_addresses != (state == State::Master) {
            anomalies.push(format!(
                "in {state} but virtual addresses {}",
                if s.holds_addresses {
                    "held"
                } else {
                    "not held"
                }
            ));
            s.holds_addresses = state == State::Master;
        }
        if deadline != s.armed {
            s.armed = deadline;
            if let Some(deadline) = deadline {
                if deadline <= now {
                    s.immediate_wakeups += 1;
                } else {
                    s.immediate_wakeups = 0;
                }
                if s.immediate_wakeups > MAX_IMMEDIATE_WAKEUPS {
                    s.armed = None;
                    anomalies.push(format!(
                        "livelock: asked to wake at {deadline} (now {now}) {MAX_IMMEDIATE_WAKEUPS} times in a row; timer dropped"
                    ));
                } else {
                    let incarnation = self.routers[node].incarnation;
                    self.schedule(
                        deadline.max(now),
                        Event::Timer {
                            node,
                            slot,
                            incarnation,
                            deadline,
                        },
                    );
                }
            }
        }
        for text in anomalies {
            self.record(Some(node), Some(key), What::Anomaly(text));
        }
    }

    fn output(&mut self, node: NodeId, slot: usize, out: Output) {
        let key = self.routers[node].slots[slot].spec.key;
        let s = &mut self.routers[node].slots[slot];
        match out {
            Output::Send(adv) => self.send(node, key, &adv),
            Output::StateChanged { from, to, reason } => {
                if from != s.told_state {
                    let text = format!(
                        "StateChanged from {from}, but the last state told was {}",
                        s.told_state
                    );
                    self.record(Some(node), Some(key), What::Anomaly(text));
                }
                self.routers[node].slots[slot].told_state = to;
                self.record(Some(node), Some(key), What::State { from, to, reason });
            }
            Output::MasterChanged(info) => self.record(Some(node), Some(key), What::Master(info)),
            Output::AddAddresses => {
                s.holds_addresses = true;
                self.record(Some(node), Some(key), What::Addresses(true));
            }
            Output::RemoveAddresses => {
                s.holds_addresses = false;
                self.record(Some(node), Some(key), What::Addresses(false));
            }
            Output::Announce => self.record(Some(node), Some(key), What::Announce),
            // Counted by the instance; the properties do not judge them.
            Output::ReceiveError { .. } | Output::LowerPriorityHeard => {}
        }
    }

    /// Put one advertisement on the LAN: one copy per other router, each with its own fate.
    fn send(&mut self, from: NodeId, key: VrKey, adv: &Advertisement) {
        let src = self.routers[from].spec.address(key.family);
        let packets = self.scenario.trace_packets;
        let bytes = match transmit(adv, src, group(key.family)) {
            Ok(bytes) => bytes,
            Err(error) => {
                let text = format!("cannot encode {adv:?}: {error}");
                self.record(Some(from), Some(key), What::Anomaly(text));
                return;
            }
        };
        if packets {
            let what = What::Send {
                priority: adv.priority,
                interval_cs: adv.interval_cs,
                len: bytes.len(),
            };
            self.record(Some(from), Some(key), what);
        }
        for to in 0..self.routers.len() {
            if to == from {
                continue;
            }
            let fate = if self.routers[to].up {
                self.lan.fate(&mut self.rng, from, to)
            } else {
                Err(DropReason::NodeDown)
            };
            match fate {
                Ok(delay) => {
                    let packet = Packet {
                        from,
                        to,
                        key,
                        src,
                        bytes: bytes.clone(),
                    };
                    // Jitter varies the delay but, as on one Ethernet segment, never
                    // reorders packets between the same two routers.
                    let at = (self.now + delay).max(self.last_arrival[from][to]);
                    self.last_arrival[from][to] = at;
                    self.schedule(at, Event::Deliver(packet));
                }
                Err(reason) if packets => {
                    self.record(Some(to), Some(key), What::Drop { from, reason })
                }
                Err(_) => {}
            }
        }
    }

    fn deliver(&mut self, p: Packet) {
        let packets = self.scenario.trace_packets;
        let reachable = if self.routers[p.to].up {
            self.lan.reachable(p.from, p.to)
        } else {
            Err(DropReason::NodeDown)
        };
        if let Err(reason) = reachable {
            if packets {
                self.record(
                    Some(p.to),
                    Some(p.key),
                    What::Drop {
                        from: p.from,
                        reason,
                    },
                );
            }
            return;
        }
        let meta = IpMeta {
            src: p.src,
            dst: group(p.key.family),
            ttl: VRRP_TTL,
        };
        match receive(&p.bytes, &meta) {
            Ok(Decoded {
                advertisement,
                checksum_form,
            }) => {
                let key = VrKey {
                    family: p.key.family,
                    vrid: advertisement.vrid,
                };
                let Some(slot) = self.slot_of(p.to, key) else {
                    if packets {
                        let what = What::Drop {
                            from: p.from,
                            reason: DropReason::NoInstance,
                        };
                        self.record(Some(p.to), Some(key), what);
                    }
                    return;
                };
                if packets {
                    let what = What::Recv {
                        from: p.from,
                        priority: advertisement.priority,
                        interval_cs: advertisement.interval_cs,
                    };
                    self.record(Some(p.to), Some(key), what);
                }
                let input = Input::Advertisement {
                    src: p.src,
                    advertisement: &advertisement,
                    checksum_form,
                };
                self.feed(p.to, slot, input);
            }
            Err(error) => {
                if let Some(vrid) = packet::peek_vrid(&p.bytes) {
                    let key = VrKey {
                        family: p.key.family,
                        vrid,
                    };
                    if let Some(slot) = self.slot_of(p.to, key)
                        && let Some(instance) = self.routers[p.to].slots[slot].instance.as_mut()
                    {
                        instance.record_decode_error(&error);
                    }
                }
                self.record(
                    Some(p.to),
                    Some(p.key),
                    What::Undecodable {
                        from: p.from,
                        error,
                    },
                );
            }
        }
    }

    fn slot_of(&self, node: NodeId, key: VrKey) -> Option<usize> {
        self.routers[node]
            .slots
            .iter()
            .position(|s| s.spec.key == key)
    }
}

/// The VRRP multicast group of a family.
fn group(family: Family) -> IpAddr {
    match family {
        Family::Ipv4 => IpAddr::V4(MULTICAST_V4),
        Family::Ipv6 => IpAddr::V6(MULTICAST_V6),
    }
}

/// Encode an advertisement as the sender's kernel would send it.
fn transmit(
    adv: &Advertisement,
    src: IpAddr,
    dst: IpAddr,
) -> Result<Vec<u8>, vrrp_core::EncodeError> {
    packet::encode(adv, src, dst, ChecksumForm::PseudoHeader)
}

/// Decode a packet as the receiver's daemon would.
fn receive(bytes: &[u8], meta: &IpMeta) -> Result<Decoded, DecodeError> {
    packet::decode(bytes, meta)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::lan::LinkParams;

    fn at(ms: u64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    #[test]
    fn queue_pops_by_time_then_sequence() {
        let mut q = BinaryHeap::new();
        for (t, seq) in [(5, 1), (3, 2), (5, 0), (3, 3)] {
            q.push(Scheduled {
                at: at(t),
                seq,
                event: Event::Action(Action::Heal),
            });
        }
        let order: Vec<(Timestamp, u64)> =
            std::iter::from_fn(|| q.pop().map(|s| (s.at, s.seq))).collect();
        assert_eq!(order, vec![(at(3), 2), (at(3), 3), (at(5), 0), (at(5), 1)]);
    }

    /// Jitter larger than the interval still delivers each sender's packets in order.
    #[test]
    fn links_deliver_in_order() {
        let mut s = Scenario::new(9);
        s.link(LinkParams {
            loss: 0.0,
            delay: Duration::from_micros(10),
            jitter: Duration::from_millis(30),
        });
        s.router(RouterSpec::new("r1", 1).priority(200).interval_cs(1))
            .router(RouterSpec::new("r2", 2).priority(100).interval_cs(1))
            .at(at(500), Action::Shutdown(0));
        let mut sim = s.build();
        sim.run_until(at(1000));
        let prios: Vec<u8> = sim
            .trace()
            .events
            .iter()
            .filter_map(|e| match e.what {
                What::Recv {
                    from: 0, priority, ..
                } => Some(priority),
                _ => None,
            })
            .collect();
        assert_eq!(prios.last(), Some(&0), "priority 0 arrives last");
        assert!(prios[..prios.len() - 1].iter().all(|&p| p == 200));
    }

    /// A crashed router's pending timers are stale: it never acts again until restarted.
    #[test]
    fn crashed_router_stays_silent() {
        let mut s = Scenario::new(10);
        s.router(RouterSpec::new("r1", 1).priority(200))
            .router(RouterSpec::new("r2", 2))
            .at(at(5_000), Action::Crash(0));
        let mut sim = s.build();
        sim.run_until(at(20_000));
        assert!(!sim.is_up(0));
        let late = sim.trace().events.iter().any(|e| {
            e.node == Some(0)
                && e.at > at(5_000)
                && matches!(
                    e.what,
                    What::Send { .. } | What::State { .. } | What::Recv { .. }
                )
        });
        assert!(!late);
        assert_eq!(sim.masters(VrKey::v4(1)), vec![1]);
    }

    #[test]
    fn same_seed_same_trace_with_loss() {
        let run = || {
            let mut s = Scenario::new(77);
            s.link(LinkParams {
                loss: 0.3,
                ..LinkParams::default()
            });
            for n in 1..=4 {
                s.router(RouterSpec::new(format!("r{n}"), n).priority(100 + n));
            }
            let mut sim = s.build();
            sim.run_until(at(30_000));
            sim.trace().to_string()
        };
        assert_eq!(run(), run());
    }
}
