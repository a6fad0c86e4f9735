//! The discrete-event scheduler: a virtual clock, an event queue, the routers and the LAN.
//!
//! Each router runs one [`vrrp_core::Node`] holding its instances (one per VRID and
//! family), driven as the daemon drives it: packets through [`Node::handle_packet`], one
//! timer per node from [`Node::poll_timeout`], the interface through [`Node::set_link`],
//! trackers through [`Node::set_tracker`], the operator through
//! [`Node::set_operator_priority`] and [`Node::set_maintenance`].
//!
//! Events at equal times run in the order they were scheduled (a sequence number breaks
//! ties), so a run depends only on the scenario and its seed.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::net::IpAddr;

use vrrp_core::node::{AddressAction, Discard, NodeEvent, NodeOutput};
use vrrp_core::packet::{self, MULTICAST_V4, MULTICAST_V6, VRRP_TTL};
use vrrp_core::weights::{TrackState, TrackerKey, TrackerKind};
use vrrp_core::{
    Family, Instance, InstanceId, IpMeta, Node, SocketKey, State, Timestamp, TrackedInterface,
    TrackerWeight,
};

use crate::lan::{DropReason, Lan, NodeId};
use crate::rng::SimRng;
use crate::scenario::{Action, InstanceSpec, RouterSpec, Scenario, VrKey};
use crate::trace::{Trace, What};

/// How many times in a row a node may ask to be woken at the very instant it was just
/// woken before the simulator calls it a livelock and stops waking it.
const MAX_IMMEDIATE_WAKEUPS: u32 = 1_000;

/// The one interface of every simulated router.
pub const LINK: &str = "eth0";
const IFINDEX: u32 = 1;

/// The tracker behind [`Action::TrackFault`]: every instance tracks it with weight 0.
pub fn fault_tracker() -> TrackerKey {
    TrackerKey::new(TrackerKind::Script, "sim-fault")
}

/// A packet in flight.
#[derive(Clone, Debug)]
struct Packet {
    from: NodeId,
    to: NodeId,
    key: VrKey,
    src: IpAddr,
    dst: IpAddr,
    bytes: Vec<u8>,
}

/// A scheduled event. Actions and packets are boxed: the queue moves its entries at every
/// push and pop, and small entries keep that cheap (a third of the run time otherwise).
#[derive(Clone, Debug)]
enum Event {
    Action(Box<Action>),
    Timer {
        node: NodeId,
        incarnation: u64,
        deadline: Timestamp,
    },
    Deliver(Box<Packet>),
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

/// What the simulator knows of one instance of a router, to check the node's outputs.
#[derive(Debug)]
struct Slot {
    spec: InstanceSpec,
    /// Its id in the running node.
    id: Option<InstanceId>,
    /// The state as told by Transition events.
    told_state: State,
    holds_addresses: bool,
}

#[derive(Debug)]
struct Router {
    spec: RouterSpec,
    up: bool,
    /// Bumped at every crash, shutdown and start, so stale timers are recognised.
    incarnation: u64,
    node: Option<Node>,
    slots: Vec<Slot>,
    /// The deadline a live timer event stands for.
    armed: Option<Timestamp>,
    immediate_wakeups: u32,
    /// The objects its trackers watch: the router's world, kept across crashes.
    trackers: Vec<(TrackerKey, TrackState)>,
}

impl Router {
    fn slot_of_id(&self, id: InstanceId) -> Option<usize> {
        self.slots.iter().position(|s| s.id == Some(id))
    }
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
                node: None,
                slots: spec
                    .instances
                    .iter()
                    .map(|i| Slot {
                        spec: i.clone(),
                        id: None,
                        told_state: State::Initialize,
                        holds_addresses: false,
                    })
                    .collect(),
                armed: None,
                immediate_wakeups: 0,
                trackers: spec.trackers.clone(),
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
            sim.schedule(at, Event::Action(Box::new(Action::Start(node))));
        }
        for (at, action) in sim.scenario.actions.clone() {
            sim.schedule(at, Event::Action(Box::new(action)));
        }
        sim
    }

    /// The virtual clock.
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// The scenario being run.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// The trace recorded so far.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// End the simulation, keeping its trace.
    pub fn into_trace(self) -> Trace {
        self.trace
    }

    /// The LAN as it is now: partitions, link parameters and link states.
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

    /// A router's running node.
    pub fn node(&self, node: NodeId) -> Option<&Node> {
        self.routers[node].node.as_ref()
    }

    /// A router's live instance for a virtual router.
    pub fn instance(&self, node: NodeId, key: VrKey) -> Option<&Instance> {
        let r = &self.routers[node];
        let id = r.slots.iter().find(|s| s.spec.key == key)?.id?;
        r.node.as_ref()?.instance(id)
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
                Event::Action(action) => self.apply(*action),
                Event::Timer {
                    node,
                    incarnation,
                    deadline,
                } => self.fire_timer(node, incarnation, deadline),
                Event::Deliver(packet) => self.deliver(*packet),
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
        let now = self.now;
        match action {
            Action::Start(node) => self.start(node),
            Action::Crash(node) => self.crash(node),
            Action::Restart(node) => {
                self.crash(node);
                self.start(node);
            }
            Action::Shutdown(node) => {
                if self.with_node(node, |n, _| n.shutdown(now)) {
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
            } => {
                self.with_node(node, |n, slots| {
                    for s in slots
                        .iter()
                        .filter(|s| vrid.is_none_or(|v| v == s.spec.key.vrid))
                    {
                        if let Some(id) = s.id {
                            // An owner's priority cannot change: refused, as before.
                            let _ = n.set_operator_priority(id, now, Some(priority));
                        }
                    }
                });
            }
            Action::LinkDown(node) | Action::LinkUp(node) => {
                let up = matches!(action, Action::LinkUp(_));
                self.lan.set_link(node, up);
                self.with_node(node, |n, _| n.set_link(now, LINK, up));
            }
            Action::TrackFault(node, failed) => {
                let state = if failed {
                    TrackState::Down
                } else {
                    TrackState::Up
                };
                self.with_node(node, |n, _| n.set_tracker(now, &fault_tracker(), state));
            }
            Action::Tracker { node, key, state } => {
                let trackers = &mut self.routers[node].trackers;
                trackers.retain(|(k, _)| *k != key);
                trackers.push((key.clone(), state));
                self.with_node(node, |n, _| n.set_tracker(now, &key, state));
            }
            Action::Maintenance { node, vrid, on } => {
                self.with_node(node, |n, slots| {
                    for s in slots
                        .iter()
                        .filter(|s| vrid.is_none_or(|v| v == s.spec.key.vrid))
                    {
                        if let Some(id) = s.id {
                            let _ = n.set_maintenance(id, now, on);
                        }
                    }
                });
            }
        }
    }

    /// Feeds the running node of a router (if up) and carries out what it asks; whether
    /// it was up.
    fn with_node(&mut self, node: NodeId, f: impl FnOnce(&mut Node, &[Slot])) -> bool {
        let r = &mut self.routers[node];
        let Some(n) = r.node.as_mut() else {
            return false;
        };
        f(n, &r.slots);
        self.after_input(node, None);
        true
    }

    /// The node's view of one instance.
    fn node_spec(router: &RouterSpec, spec: &InstanceSpec) -> vrrp_core::InstanceSpec {
        let family = spec.key.family;
        let mut trackers = vec![TrackerWeight {
            key: fault_tracker(),
            weight: 0,
            reverse: false,
        }];
        trackers.extend(spec.trackers.iter().map(|t| TrackerWeight {
            key: t.key.clone(),
            weight: t.weight,
            reverse: t.reverse,
        }));
        vrrp_core::InstanceSpec {
            core: spec.config(&router.name, router.address(family)),
            socket: SocketKey {
                family,
                ifindex: IFINDEX,
                send_ifindex: IFINDEX,
            },
            interface: LINK.to_string(),
            unicast_peers: Vec::new(),
            check_unicast_src: false,
            unicast_ttl: vrrp_core::packet::VRRP_TTL,
            track_src: false,
            old_unicast_checksum: false,
            tracked_interfaces: vec![TrackedInterface {
                name: LINK.to_string(),
                weight: 0,
                reverse: false,
            }],
            trackers,
            sync_group: spec.sync_group.clone(),
        }
    }

    /// Boot a router (no-op when up): a fresh node with its link state and trackers, then
    /// started.
    fn start(&mut self, node: NodeId) {
        let now = self.now;
        let link_up = self.lan.link_up(node);
        let router = &mut self.routers[node];
        if router.up {
            return;
        }
        router.up = true;
        router.incarnation += 1;
        router.armed = None;
        router.immediate_wakeups = 0;
        let mut n = Node::new();
        for slot in &mut router.slots {
            slot.id = Some(n.add(Self::node_spec(&router.spec, &slot.spec)));
            slot.told_state = State::Initialize;
            slot.holds_addresses = false;
        }
        n.set_links([(LINK, link_up)]);
        n.set_tracker(now, &fault_tracker(), TrackState::Up);
        for (key, state) in &router.trackers {
            n.set_tracker(now, key, *state);
        }
        n.start(now);
        router.node = Some(n);
        self.after_input(node, None);
    }

    /// Drop a router's node without a word.
    fn crash(&mut self, node: NodeId) {
        let router = &mut self.routers[node];
        router.up = false;
        router.incarnation += 1;
        router.node = None;
        router.armed = None;
        for slot in &mut router.slots {
            slot.id = None;
            slot.told_state = State::Initialize;
            slot.holds_addresses = false;
        }
    }

    fn fire_timer(&mut self, node: NodeId, incarnation: u64, deadline: Timestamp) {
        let now = self.now;
        let router = &mut self.routers[node];
        if !router.up || router.incarnation != incarnation || router.armed != Some(deadline) {
            return; // stale
        }
        router.armed = None;
        self.with_node(node, |n, _| n.handle_timeout(now));
    }

    /// Drains the node's outputs into the LAN and the trace, checks them against its
    /// instances' states, and re-arms its timer. `from`: the sender of the packet just
    /// handled.
    fn after_input(&mut self, node: NodeId, from: Option<NodeId>) {
        let mut outputs = Vec::new();
        {
            let Some(n) = self.routers[node].node.as_mut() else {
                return;
            };
            while let Some(out) = n.poll_output() {
                outputs.push(out);
            }
        }
        for out in outputs {
            self.output(node, from, out);
        }
        let now = self.now;
        let r = &mut self.routers[node];
        let Some(n) = r.node.as_ref() else { return };
        let mut anomalies = Vec::new();
        for s in &mut r.slots {
            let Some(state) = s.id.and_then(|id| n.instance(id)).map(|i| i.state()) else {
                continue;
            };
            if s.told_state != state {
                anomalies.push((
                    s.spec.key,
                    format!(
                        "Transition events say {}, state() says {state}",
                        s.told_state
                    ),
                ));
                s.told_state = state;
            }
            if s.holds_addresses != (state == State::Master) {
                anomalies.push((
                    s.spec.key,
                    format!(
                        "in {state} but virtual addresses {}",
                        if s.holds_addresses {
                            "held"
                        } else {
                            "not held"
                        }
                    ),
                ));
                s.holds_addresses = state == State::Master;
            }
        }
        let deadline = n.poll_timeout();
        if deadline != r.armed {
            r.armed = deadline;
            if let Some(deadline) = deadline {
                if deadline <= now {
                    r.immediate_wakeups += 1;
                } else {
                    r.immediate_wakeups = 0;
                }
                if r.immediate_wakeups > MAX_IMMEDIATE_WAKEUPS {
                    r.armed = None;
                    let key = r.slots.first().map(|s| s.spec.key);
                    anomalies.push((key.unwrap_or(VrKey::v4(0)), format!(
                        "livelock: asked to wake at {deadline} (now {now}) {MAX_IMMEDIATE_WAKEUPS} times in a row; timer dropped"
                    )));
                } else {
                    let incarnation = r.incarnation;
                    self.schedule(
                        deadline.max(now),
                        Event::Timer {
                            node,
                            incarnation,
                            deadline,
                        },
                    );
                }
            }
        }
        for (key, text) in anomalies {
            self.record(Some(node), Some(key), What::Anomaly(text));
        }
    }

    fn key_of(&self, node: NodeId, id: InstanceId) -> Option<(usize, VrKey)> {
        let r = &self.routers[node];
        r.slot_of_id(id).map(|i| (i, r.slots[i].spec.key))
    }

    fn output(&mut self, node: NodeId, from: Option<NodeId>, out: NodeOutput) {
        match out {
            NodeOutput::Transmit {
                socket,
                src,
                dst,
                bytes,
                ..
            } => self.send(node, socket.family, src, dst, bytes),
            NodeOutput::Addresses(id, action) => {
                let Some((slot, key)) = self.key_of(node, id) else {
                    return;
                };
                let what = match action {
                    AddressAction::Add => {
                        self.routers[node].slots[slot].holds_addresses = true;
                        What::Addresses(true)
                    }
                    AddressAction::Remove => {
                        self.routers[node].slots[slot].holds_addresses = false;
                        What::Addresses(false)
                    }
                    AddressAction::AnnounceMaster | AddressAction::AnnounceLowerPriority => {
                        What::Announce
                    }
                    // The simulated host never loses an address from under an instance.
                    AddressAction::Restore { .. } => What::Addresses(true),
                };
                self.record(Some(node), Some(key), what);
            }
            NodeOutput::Event(event) => self.event(node, from, event),
        }
    }

    fn event(&mut self, node: NodeId, from: Option<NodeId>, event: NodeEvent) {
        match event {
            NodeEvent::Transition {
                id,
                from: was,
                to,
                reason,
                ..
            } => {
                let Some((slot, key)) = self.key_of(node, id) else {
                    return;
                };
                let s = &mut self.routers[node].slots[slot];
                let told = s.told_state;
                s.told_state = to;
                if was != told {
                    let text = format!("Transition from {was}, but the last state told was {told}");
                    self.record(Some(node), Some(key), What::Anomaly(text));
                }
                self.record(
                    Some(node),
                    Some(key),
                    What::State {
                        from: was,
                        to,
                        reason,
                    },
                );
            }
            NodeEvent::MasterChanged { id, master } => {
                if let Some((_, key)) = self.key_of(node, id) {
                    self.record(Some(node), Some(key), What::Master(master));
                }
            }
            NodeEvent::GroupState { group, state } => {
                self.record(Some(node), None, What::Group { group, state });
            }
            NodeEvent::EncodeFailed { id, error } => {
                let key = self.key_of(node, id).map(|(_, k)| k);
                let text = format!("cannot encode an advertisement: {error}");
                self.record(Some(node), key, What::Anomaly(text));
            }
            NodeEvent::Discarded {
                id,
                reason: Discard::Malformed(error),
                ..
            } => {
                if let (Some((_, key)), Some(from)) = (self.key_of(node, id), from) {
                    self.record(Some(node), Some(key), What::Undecodable { from, error });
                }
            }
            // Counted by the instances; the properties do not judge them.
            NodeEvent::Discarded { .. }
            | NodeEvent::LowerPriorityHeard { .. }
            | NodeEvent::PriorityChanged { .. }
            | NodeEvent::SourceAddress { .. }
            | NodeEvent::GlobalFirstAddress { .. }
            | NodeEvent::UnknownVrid { .. }
            | NodeEvent::TrackedInterface { .. }
            | NodeEvent::Tracker { .. }
            | NodeEvent::WaitingForTrackers { .. } => {}
        }
    }

    /// Put one advertisement on the LAN: one copy per other router, each with its own fate.
    fn send(&mut self, from: NodeId, family: Family, src: IpAddr, dst: IpAddr, bytes: Vec<u8>) {
        let packets = self.scenario.trace_packets;
        let Some(vrid) = packet::peek_vrid(&bytes) else {
            let text = format!("sent a packet of {} bytes without a VRID", bytes.len());
            self.record(Some(from), None, What::Anomaly(text));
            return;
        };
        let key = VrKey { family, vrid };
        if packets {
            let (priority, interval_cs) = header(&bytes);
            let what = What::Send {
                priority,
                interval_cs,
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
                        dst,
                        bytes: bytes.clone(),
                    };
                    // Jitter varies the delay but, as on one Ethernet segment, never
                    // reorders packets between the same two routers.
                    let at = (self.now + delay).max(self.last_arrival[from][to]);
                    self.last_arrival[from][to] = at;
                    self.schedule(at, Event::Deliver(Box::new(packet)));
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
        if packets {
            let what = if self.slot_of(p.to, p.key).is_some() {
                let (priority, interval_cs) = header(&p.bytes);
                What::Recv {
                    from: p.from,
                    priority,
                    interval_cs,
                }
            } else {
                What::Drop {
                    from: p.from,
                    reason: DropReason::NoInstance,
                }
            };
            self.record(Some(p.to), Some(p.key), what);
        }
        let meta = IpMeta {
            src: p.src,
            dst: p.dst,
            ttl: VRRP_TTL,
        };
        let now = self.now;
        let r = &mut self.routers[p.to];
        if let Some(n) = r.node.as_mut() {
            n.handle_packet(now, IFINDEX, &meta, &p.bytes);
            self.after_input(p.to, Some(p.from));
        }
    }

    fn slot_of(&self, node: NodeId, key: VrKey) -> Option<usize> {
        self.routers[node]
            .slots
            .iter()
            .position(|s| s.spec.key == key)
    }
}

/// The priority and the interval (cs) of an encoded advertisement, read from its header
/// for the trace (the node decodes it for real): VRRPv3 has a 12-bit interval in
/// centiseconds in bytes 4-5, VRRPv2 an interval in seconds in byte 5.
fn header(bytes: &[u8]) -> (u8, u16) {
    let byte = |i: usize| bytes.get(i).copied().unwrap_or(0);
    let interval_cs = if byte(0) >> 4 == 3 {
        u16::from_be_bytes([byte(4), byte(5)]) & 0x0fff
    } else {
        u16::from(byte(5)) * 100
    };
    (byte(2), interval_cs)
}

/// The VRRP multicast group of a family.
pub fn group(family: Family) -> IpAddr {
    match family {
        Family::Ipv4 => IpAddr::V4(MULTICAST_V4),
        Family::Ipv6 => IpAddr::V6(MULTICAST_V6),
    }
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
                event: Event::Action(Box::new(Action::Heal)),
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
