//! A node: every VRRP instance of one router, as one sans-IO object.
//!
//! [`Instance`] is one virtual router; a [`Node`] is what a daemon runs (quinn-proto's
//! `Endpoint` to `Instance`'s `Connection`): the instance table keyed by (interface,
//! family, VRID), the receive path with the own-source and unicast-peer checks, sync groups
//! ([`sync`]), tracked interfaces and trackers with keepalived's weight rules and the
//! operator's priority and maintenance ([`tracking`]). Inputs carry a [`Timestamp`]; the
//! node answers with [`NodeOutput`]s (packets to transmit, address work, typed events) and
//! one deadline ([`Node::poll_timeout`]). It does no I/O and reads no clock, so the daemon
//! and the simulator drive the same code.

mod receive;
mod spec;
mod sync;
mod tracking;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::net::IpAddr;

use crate::ReceiveError;
use crate::instance::{Input, Instance, MasterInfo, Output, State, TransitionReason};
use crate::packet::{self, Advertisement, DecodeError, EncodeError, Family};
use crate::time::Timestamp;
use crate::weights::{TrackState, TrackerKey};

pub use spec::{InstanceSpec, SocketKey, TrackedInterface, TrackerWeight};
pub use sync::GroupState;
pub use tracking::Resync;

/// A node's name for one of its instances, stable for the instance's life (positions
/// shift when a reload removes instances).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceId(u64);

impl InstanceId {
    /// The number behind the id (for logs and maps).
    pub fn get(self) -> u64 {
        self.0
    }
}

/// What the node asks its driver to do, or tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeOutput {
    /// Send `bytes` (an encoded advertisement) from `src` to `dst` through `socket`.
    Transmit {
        /// The socket to send on.
        socket: SocketKey,
        /// The source address (the instance's primary address).
        src: IpAddr,
        /// The multicast group or one unicast peer.
        dst: IpAddr,
        /// The VRRP message.
        bytes: Vec<u8>,
        /// The IPv4 TTL / IPv6 hop limit: 255 (RFC 5798 §5.1.1.3), or a unicast instance's
        /// `unicast_ttl`.
        ttl: u8,
    },
    /// Address work for an instance's virtual addresses.
    Addresses(InstanceId, AddressAction),
    /// Something happened that the driver reports (logs, hooks, metrics, `vrrpctl watch`).
    Event(NodeEvent),
}

/// What to do with an instance's virtual addresses (routes and rules go with them).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AddressAction {
    /// It became Master: add them.
    Add,
    /// It stopped being Master: remove them.
    Remove,
    /// Announce them (gratuitous ARP / unsolicited NA) after becoming Master.
    AnnounceMaster,
    /// Announce them again after hearing a lower priority as Master (RFC 9568 §6.4.3).
    AnnounceLowerPriority,
    /// One of them went away from under it while Master (removed by hand, or by another
    /// program): add it again on `ifindex` and announce it.
    Restore {
        /// The interface it belongs on.
        ifindex: u32,
        /// The address.
        address: IpAddr,
    },
}

/// Events, in the order they happened; hooks run in this order per instance or sync group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeEvent {
    /// An instance changed state; `priority` is its effective priority then, `master` the
    /// Master it knows (when not Master itself).
    Transition {
        /// The instance.
        id: InstanceId,
        /// The state left.
        from: State,
        /// The state entered.
        to: State,
        /// Why.
        reason: TransitionReason,
        /// Its effective priority then.
        priority: u8,
        /// The Master it knows, when it is not Master itself.
        master: Option<MasterInfo>,
    },
    /// The Master as an instance sees it changed (`None`: silence).
    MasterChanged {
        /// The instance.
        id: InstanceId,
        /// The new Master, `None` after silence.
        master: Option<MasterInfo>,
    },
    /// As Master, an instance heard a lower priority (another router thinks it is Master).
    LowerPriorityHeard {
        /// The instance (Master).
        id: InstanceId,
        /// Its own effective priority.
        priority: u8,
    },
    /// The source address of an instance with `track_src_ip` appeared on the host or
    /// left it (it is in Fault while absent).
    SourceAddress {
        /// The instance.
        id: InstanceId,
        /// Its source address.
        address: IpAddr,
        /// Whether the host has it now.
        present: bool,
    },
    /// An instance's effective priority changed (trackers, operator); `state` is its state
    /// then (keepalived's `notify_priority_changes` writes `MASTER_PRIORITY` or
    /// `BACKUP_PRIORITY` from it).
    PriorityChanged {
        /// The instance.
        id: InstanceId,
        /// Its new effective priority.
        priority: u8,
        /// Its state after the change.
        state: State,
    },
    /// A sync group as a whole changed state.
    GroupState {
        /// The sync group's name.
        group: String,
        /// Its new state.
        state: GroupState,
    },
    /// A packet for an instance was counted as an error or refused.
    Discarded {
        /// The instance the packet was for (by interface, family and VRID).
        id: InstanceId,
        /// The packet's source.
        src: IpAddr,
        /// Why.
        reason: Discard,
    },
    /// A received advertisement was accepted although it breaks a SHOULD: its IPv6 address
    /// list does not start with a link-local address (RFC 5798 §5.2.9); keepalived sends
    /// such lists.
    GlobalFirstAddress {
        /// The instance.
        id: InstanceId,
        /// The sender.
        src: IpAddr,
    },
    /// A packet for a VRID no instance has on that interface.
    UnknownVrid {
        /// The sender.
        src: IpAddr,
        /// The VRID it advertised.
        vrid: u8,
    },
    /// A tracked interface of an instance went up or down.
    TrackedInterface {
        /// The instance tracking it.
        id: InstanceId,
        /// The interface.
        name: String,
        /// Up or down now.
        up: bool,
    },
    /// A tracker reported a new state.
    Tracker {
        /// The tracker.
        key: TrackerKey,
        /// Its new state.
        state: TrackState,
    },
    /// An instance waits for its unweighted trackers' first results before starting.
    WaitingForTrackers {
        /// The instance held in Initialize.
        id: InstanceId,
    },
    /// An advertisement could not be encoded (a configuration the codec refuses).
    EncodeFailed {
        /// The instance.
        id: InstanceId,
        /// What the encoder refused.
        error: EncodeError,
    },
}

/// Why a packet was counted or refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Discard {
    /// It did not decode (RFC 5798 §7.1 checks the packet alone can decide).
    Malformed(DecodeError),
    /// A receive check of the instance failed; `dropped` is false for checks the RFC only
    /// asks to log (a v3 address list mismatch).
    Check {
        /// Which check failed.
        error: ReceiveError,
        /// Whether it was dropped (else only counted and logged).
        dropped: bool,
        /// The advertisement, for the diagnosis.
        advertisement: Advertisement,
    },
    /// `vrrp_check_unicast_src`: the source is not one of the instance's unicast peers.
    NotUnicastPeer,
    /// Sent to `dst`, not to the group, for an instance without unicast peers (counted in
    /// `address_list_errors`, as keepalived does).
    NotToTheGroup {
        /// The destination it had.
        dst: IpAddr,
    },
}

/// An operator action the node refuses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OperatorError {
    /// No instance with that id.
    NoSuchInstance,
    /// The address owner's priority (255) cannot change.
    AddressOwner,
}

/// One instance and what the node knows around it.
#[derive(Debug)]
struct Member {
    id: InstanceId,
    spec: InstanceSpec,
    instance: Instance,
    /// State of each tracked interface, in `spec.tracked_interfaces` order: `true` when up.
    tracked_up: Vec<bool>,
    /// A temporary priority set by an operator (until reset, reload or restart).
    operator_priority: Option<u8>,
    /// Its own fault causes hold (interface down, a tracker failed): the other members of
    /// its sync group follow it into Fault.
    own_fault: bool,
    /// Waiting for unweighted trackers' first results before starting (keepalived's INIT).
    pending_start: bool,
    /// Held back by its sync group ([`sync`]).
    sync_hold: bool,
    /// Its virtual addresses with their interfaces ([`Node::set_vips`]): put back when they
    /// go away while it is Master.
    vips: Vec<(u32, IpAddr)>,
    /// The VIPs it asked to put back and has not seen back yet, with when it asked.
    restoring: HashMap<(u32, IpAddr), Timestamp>,
}

/// Every instance of one router.
#[derive(Debug, Default)]
pub struct Node {
    members: Vec<Member>,
    next_id: u64,
    /// The last known state of every link, by name.
    links: HashMap<String, bool>,
    /// The host's addresses, with the interface each is on (for `track_src_ip`).
    local_addresses: HashSet<(u32, IpAddr)>,
    /// How many interfaces hold each of `local_addresses`: whether the host has an address
    /// without walking all of them (with 10,000 VIPs that walk, twice per notification,
    /// was most of the protocol thread's time in a takeover).
    address_interfaces: HashMap<IpAddr, usize>,
    /// The last reported state of every script, file and process tracker.
    trackers: HashMap<TrackerKey, TrackState>,
    /// Sync groups by name: their last aggregate state.
    groups: BTreeMap<String, Option<GroupState>>,
    /// `vrrp_check_unicast_src`.
    check_unicast_src: bool,
    /// `vrrp_mcast_group4/6`; `None`: RFC 5798's groups.
    multicast_groups: Option<(std::net::Ipv4Addr, std::net::Ipv6Addr)>,
    outputs: VecDeque<NodeOutput>,
    /// The member of each (interface, family, VRID), the first if several: a packet finds
    /// its instance without a walk over every member (1,000 per packet at 1,000 instances).
    routes: HashMap<RouteKey, usize>,
    /// Each member's deadline as last seen, and the same in time order: the next deadline
    /// after every packet without a walk over every member.
    deadlines: Vec<Option<Timestamp>>,
    timers: BTreeSet<(Timestamp, usize)>,
}

/// What routes a received packet: its interface, family and VRID.
type RouteKey = (u32, Family, u8);

fn route_key(spec: &InstanceSpec) -> RouteKey {
    (spec.socket.ifindex, spec.core.family, spec.core.vrid)
}

impl Node {
    /// An empty node.
    pub fn new() -> Node {
        Node::default()
    }

    /// `vrrp_check_unicast_src`: advertisements to a unicast instance must come from one of
    /// its peers.
    pub fn set_check_unicast_src(&mut self, on: bool) {
        self.check_unicast_src = on;
    }

    /// `vrrp_mcast_group4/6`: the groups multicast advertisements are sent to (RFC 5798's
    /// 224.0.0.18 and ff02::12 unless set).
    pub fn set_multicast_groups(&mut self, v4: std::net::Ipv4Addr, v6: std::net::Ipv6Addr) {
        self.multicast_groups = Some((v4, v6));
    }

    /// Adds an instance, not started ([`Node::start`], [`Node::start_instance`]).
    pub fn add(&mut self, spec: InstanceSpec) -> InstanceId {
        let id = InstanceId(self.next_id);
        self.next_id += 1;
        if let Some(g) = &spec.sync_group {
            self.groups.entry(g.clone()).or_insert(None);
        }
        let tracked_up = self.tracked_up(&spec);
        self.routes
            .entry(route_key(&spec))
            .or_insert(self.members.len());
        self.members.push(Member {
            id,
            instance: Instance::new(spec.core.clone()),
            spec,
            tracked_up,
            operator_priority: None,
            own_fault: false,
            pending_start: false,
            sync_hold: false,
            vips: Vec::new(),
            restoring: HashMap::new(),
        });
        self.deadlines.push(None);
        self.rearm(self.members.len() - 1);
        id
    }

    /// Starts every instance (Startup), each once its unweighted trackers have reported.
    pub fn start(&mut self, now: Timestamp) {
        for id in self.ids() {
            self.start_instance(id, now);
        }
    }

    /// Starts one instance once its trackers allow: an unweighted tracker that has not
    /// reported yet holds it in Initialize, as keepalived does.
    pub fn start_instance(&mut self, id: InstanceId, now: Timestamp) {
        let Some(i) = self.index(id) else { return };
        self.members[i].pending_start = true;
        self.apply_tracking(i, now);
        if self.members.get(i).is_some_and(|m| m.pending_start) {
            self.event(NodeEvent::WaitingForTrackers { id });
        }
    }

    /// Stops an instance (a Master sends priority 0 and releases its addresses) and
    /// removes it; returns its spec.
    pub fn remove(&mut self, id: InstanceId, now: Timestamp) -> Option<InstanceSpec> {
        let i = self.index(id)?;
        self.input(i, now, Input::Shutdown);
        let m = self.members.remove(i);
        self.reindex();
        self.retime();
        if let Some(g) = &m.spec.sync_group
            && !self
                .members
                .iter()
                .any(|o| o.spec.sync_group.as_ref() == Some(g))
        {
            self.groups.remove(g);
        }
        Some(m.spec)
    }

    /// New settings for a running instance (a reload that changed it in place). The
    /// operator's priority ends; trackers are applied again.
    pub fn reconfigure(&mut self, id: InstanceId, now: Timestamp, spec: InstanceSpec) {
        let Some(i) = self.index(id) else { return };
        if let Some(g) = &spec.sync_group {
            self.groups.entry(g.clone()).or_insert(None);
        }
        let tracked_up = self.tracked_up(&spec);
        let moved = route_key(&spec) != route_key(&self.members[i].spec);
        let m = &mut self.members[i];
        m.instance.reconfigure(now, spec.core.clone());
        m.spec = spec;
        m.tracked_up = tracked_up;
        m.operator_priority = None;
        if moved {
            self.reindex();
        }
        self.drain(i, now, None);
        self.apply_tracking(i, now);
    }

    /// Shuts every instance down: Masters send priority 0 and release their addresses.
    pub fn shutdown(&mut self, now: Timestamp) {
        for i in 0..self.members.len() {
            self.input(i, now, Input::Shutdown);
        }
        // Every priority-0 advertisement leaves before any instance's bookkeeping (log
        // line, hooks, address removal): with 1,000 Masters the last one otherwise waits
        // behind 999 transitions' work, tens of milliseconds, while Backups wait on it.
        let (sends, rest): (VecDeque<_>, VecDeque<_>) = self
            .outputs
            .drain(..)
            .partition(|o| matches!(o, NodeOutput::Transmit { .. }));
        self.outputs = sends;
        self.outputs.extend(rest);
    }

    /// The earliest deadline of any instance: call [`Node::handle_timeout`] then.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let next = self.timers.first().map(|&(t, _)| t);
        debug_assert_eq!(
            next,
            self.members
                .iter()
                .filter_map(|m| m.instance.poll_timeout())
                .min(),
            "a member's deadline changed unseen"
        );
        next
    }

    /// Whether the next deadline ([`Node::poll_timeout`]) is one that can make a member
    /// Master: a Backup's Master_Down_Timer, not in maintenance nor held by its sync group.
    /// With a live Master it is always intervals away; the daemon readies its address path
    /// when it comes close.
    pub fn next_deadline_may_take_over(&self) -> bool {
        let Some(&(_, i)) = self.timers.first() else {
            return false;
        };
        self.members.get(i).is_some_and(|m| {
            m.instance.state() == State::Backup && !m.instance.maintenance() && !m.sync_hold
        })
    }

    /// Serves every instance whose deadline has passed at `now`, in member order.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        let mut due: Vec<usize> = self
            .timers
            .iter()
            .take_while(|&&(t, _)| t <= now)
            .map(|&(_, i)| i)
            .collect();
        due.sort_unstable();
        for i in due {
            // An earlier member's input (its sync group) may have moved this one's deadline.
            let still_due = self
                .members
                .get(i)
                .and_then(|m| m.instance.poll_timeout())
                .is_some_and(|t| t <= now);
            if still_due {
                self.input(i, now, Input::Timeout);
            }
        }
    }

    /// The next thing to do, until `None`.
    pub fn poll_output(&mut self) -> Option<NodeOutput> {
        self.outputs.pop_front()
    }

    /// Sets (`Some`) or resets (`None`) an operator's temporary priority.
    pub fn set_operator_priority(
        &mut self,
        id: InstanceId,
        now: Timestamp,
        priority: Option<u8>,
    ) -> Result<(), OperatorError> {
        let i = self.index(id).ok_or(OperatorError::NoSuchInstance)?;
        if self.members[i].spec.core.priority == crate::instance::OWNER_PRIORITY {
            return Err(OperatorError::AddressOwner);
        }
        self.members[i].operator_priority = priority;
        self.apply_tracking(i, now);
        Ok(())
    }

    /// Operator maintenance on or off ([`Input::Maintenance`]).
    pub fn set_maintenance(
        &mut self,
        id: InstanceId,
        now: Timestamp,
        on: bool,
    ) -> Result<(), OperatorError> {
        let i = self.index(id).ok_or(OperatorError::NoSuchInstance)?;
        self.input(i, now, Input::Maintenance(on));
        Ok(())
    }

    /// Ends every operator priority (a reload does).
    pub fn clear_operator_priorities(&mut self, now: Timestamp) {
        for i in 0..self.members.len() {
            if self.members[i].operator_priority.take().is_some() {
                self.apply_tracking(i, now);
            }
        }
    }

    // ---- queries ---------------------------------------------------------------------

    /// The ids of every instance, in the order they were added.
    pub fn ids(&self) -> Vec<InstanceId> {
        self.members.iter().map(|m| m.id).collect()
    }

    /// The instance called `name`.
    pub fn find(&self, name: &str) -> Option<InstanceId> {
        self.members
            .iter()
            .find(|m| m.spec.core.name == name)
            .map(|m| m.id)
    }

    /// An instance's state machine (state, counters, timers, Master).
    pub fn instance(&self, id: InstanceId) -> Option<&Instance> {
        self.member(id).map(|m| &m.instance)
    }

    /// An instance's spec.
    pub fn spec(&self, id: InstanceId) -> Option<&InstanceSpec> {
        self.member(id).map(|m| &m.spec)
    }

    /// The operator's temporary priority of an instance, if any.
    pub fn operator_priority(&self, id: InstanceId) -> Option<u8> {
        self.member(id).and_then(|m| m.operator_priority)
    }

    /// Each tracked interface of an instance with whether it is up.
    pub fn tracked_interfaces(&self, id: InstanceId) -> Vec<(&TrackedInterface, bool)> {
        self.member(id)
            .map(|m| {
                m.spec
                    .tracked_interfaces
                    .iter()
                    .zip(m.tracked_up.iter().copied())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The last reported state of a tracker ([`TrackState::Pending`] before its first).
    pub fn tracker_state(&self, key: &TrackerKey) -> TrackState {
        self.trackers
            .get(key)
            .copied()
            .unwrap_or(TrackState::Pending)
    }

    /// Whether an instance is held in Initialize until its trackers report.
    pub fn waiting_for_trackers(&self, id: InstanceId) -> bool {
        self.member(id).is_some_and(|m| m.pending_start)
    }

    /// A sync group's last aggregate state.
    pub fn group_state(&self, group: &str) -> Option<GroupState> {
        self.groups.get(group).copied().flatten()
    }

    // ---- internals -------------------------------------------------------------------

    /// Member `i`'s deadline in [`Node::timers`], after anything that may have moved it.
    fn rearm(&mut self, i: usize) {
        let (Some(m), Some(seen)) = (self.members.get(i), self.deadlines.get_mut(i)) else {
            return;
        };
        let new = m.instance.poll_timeout();
        let old = std::mem::replace(seen, new);
        if new != old {
            if let Some(t) = old {
                self.timers.remove(&(t, i));
            }
            if let Some(t) = new {
                self.timers.insert((t, i));
            }
        }
    }

    /// Rebuilds [`Node::timers`] after members moved.
    fn retime(&mut self) {
        self.deadlines = self
            .members
            .iter()
            .map(|m| m.instance.poll_timeout())
            .collect();
        self.timers = (self.deadlines.iter().enumerate())
            .filter_map(|(i, t)| t.map(|t| (t, i)))
            .collect();
    }

    /// Rebuilds [`Node::routes`] after members moved.
    fn reindex(&mut self) {
        self.routes.clear();
        for (i, m) in self.members.iter().enumerate() {
            self.routes.entry(route_key(&m.spec)).or_insert(i);
        }
    }

    /// The member for VRID `vrid` on interface `ifindex` in the family of `src`.
    pub(crate) fn route(&self, ifindex: u32, src: IpAddr, vrid: u8) -> Option<usize> {
        let key = (ifindex, Family::of(&src), vrid);
        self.routes.get(&key).copied()
    }

    fn index(&self, id: InstanceId) -> Option<usize> {
        self.members.iter().position(|m| m.id == id)
    }

    fn member(&self, id: InstanceId) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    fn event(&mut self, event: NodeEvent) {
        self.outputs.push_back(NodeOutput::Event(event));
    }

    /// Feeds one input to member `i` and carries out what it asks.
    fn input(&mut self, i: usize, now: Timestamp, input: Input<'_>) {
        let Some(m) = self.members.get_mut(i) else {
            return;
        };
        m.instance.handle(now, input);
        self.drain(i, now, None);
        self.update_group_holds(i, now);
    }

    /// Turns member `i`'s outputs into the node's; sync group members follow. `received`:
    /// the advertisement just handled, with its source, to report receive errors with.
    fn drain(&mut self, i: usize, now: Timestamp, received: Option<(IpAddr, &Advertisement)>) {
        let mut became_master = false;
        let mut follow = Vec::new();
        while let Some(output) = self.members[i].instance.poll_output() {
            let m = &self.members[i];
            let id = m.id;
            match output {
                Output::Send(adv) => self.transmit(i, &adv),
                Output::AddAddresses => {
                    became_master = true;
                    self.outputs
                        .push_back(NodeOutput::Addresses(id, AddressAction::Add));
                }
                Output::RemoveAddresses => {
                    self.outputs
                        .push_back(NodeOutput::Addresses(id, AddressAction::Remove));
                }
                Output::Announce => {
                    let action = if became_master {
                        AddressAction::AnnounceMaster
                    } else {
                        AddressAction::AnnounceLowerPriority
                    };
                    self.outputs.push_back(NodeOutput::Addresses(id, action));
                }
                Output::StateChanged { from, to, reason } => {
                    let master = m.instance.master().filter(|_| to != State::Master);
                    let priority = m.instance.effective_priority();
                    self.event(NodeEvent::Transition {
                        id,
                        from,
                        to,
                        reason,
                        priority,
                        master,
                    });
                    // The other members follow a member's own transition (not one it made
                    // following another member).
                    if reason != TransitionReason::SyncGroup {
                        follow.extend(sync::follow(self, i, from, to));
                    }
                    self.update_group_state(i);
                }
                Output::MasterChanged(master) => {
                    self.event(NodeEvent::MasterChanged { id, master });
                }
                Output::LowerPriorityHeard => {
                    let priority = m.instance.effective_priority();
                    self.event(NodeEvent::LowerPriorityHeard { id, priority });
                }
                Output::ReceiveError { error, discard } => {
                    if let Some((src, adv)) = received {
                        let reason = Discard::Check {
                            error,
                            dropped: discard,
                            advertisement: adv.clone(),
                        };
                        self.event(NodeEvent::Discarded { id, src, reason });
                    }
                }
            }
        }
        self.rearm(i);
        for (j, input) in follow {
            self.input(j, now, input);
        }
    }

    /// Encodes `adv` for each destination of member `i` (its unicast peers, else the
    /// multicast group of its family).
    fn transmit(&mut self, i: usize, adv: &Advertisement) {
        let m = &self.members[i];
        let spec = &m.spec;
        let src = spec.core.primary_address;
        let (v4, v6) = self
            .multicast_groups
            .unwrap_or((packet::MULTICAST_V4, packet::MULTICAST_V6));
        let group = [match spec.core.family {
            Family::Ipv4 => IpAddr::V4(v4),
            Family::Ipv6 => IpAddr::V6(v6),
        }];
        let (destinations, ttl): (&[IpAddr], u8) = if spec.unicast_peers.is_empty() {
            (&group, packet::VRRP_TTL)
        } else {
            (&spec.unicast_peers, spec.unicast_ttl)
        };
        let checksum_form = spec.core.checksum_form;
        // keepalived before 1.3.6 put the group, not the peer, in the IPv4 pseudo-header.
        let old_checksum = spec.old_unicast_checksum
            && !spec.unicast_peers.is_empty()
            && spec.core.family == Family::Ipv4;
        let mut failed = None;
        for &dst in destinations {
            let checksum_dst = if old_checksum { group[0] } else { dst };
            match packet::encode(adv, src, checksum_dst, checksum_form) {
                Ok(bytes) => self.outputs.push_back(NodeOutput::Transmit {
                    socket: spec.socket,
                    src,
                    dst,
                    bytes,
                    ttl,
                }),
                Err(error) => failed = Some(error),
            }
        }
        let id = m.id;
        if let Some(error) = failed {
            self.event(NodeEvent::EncodeFailed { id, error });
        }
    }
}
