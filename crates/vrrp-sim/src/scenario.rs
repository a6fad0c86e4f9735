//! Declaring a simulation: routers, their VRRP instances, the LAN, and timed actions.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use vrrp_core::weights::{TrackState, TrackerKey, TrackerKind};
use vrrp_core::{Family, InstanceConfig, Role, Timestamp, Version};

use crate::lan::{LinkParams, LinkScope, NodeId};
use crate::sim::Sim;

/// A virtual router as the LAN tells them apart: its family and VRID.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct VrKey {
    /// The address family: IPv4, or IPv6 (VRRPv3 only).
    pub family: Family,
    /// The Virtual Router Identifier.
    pub vrid: u8,
}

impl VrKey {
    /// Virtual router `vrid` over IPv4.
    pub fn v4(vrid: u8) -> Self {
        VrKey {
            family: Family::Ipv4,
            vrid,
        }
    }

    /// Virtual router `vrid` over IPv6.
    pub fn v6(vrid: u8) -> Self {
        VrKey {
            family: Family::Ipv6,
            vrid,
        }
    }

    /// A sort key (Family is not `Ord`).
    pub fn rank(self) -> (u8, u8) {
        (matches!(self.family, Family::Ipv6) as u8, self.vrid)
    }

    /// The virtual address the group protects: 10.99.1.VRID, or fe80::1:VRID (VRRPv3 over
    /// IPv6 wants a link-local first address).
    pub fn virtual_address(self) -> IpAddr {
        match self.family {
            Family::Ipv4 => IpAddr::V4(Ipv4Addr::new(10, 99, 1, self.vrid)),
            Family::Ipv6 => IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 1, self.vrid.into())),
        }
    }
}

/// One VRRP instance of a router.
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceSpec {
    /// The virtual router it joins.
    pub key: VrKey,
    /// VRRPv2 (RFC 3768) or VRRPv3 (RFC 5798 / RFC 9568).
    pub version: Version,
    /// Configured priority (255: address owner); trackers and the operator may move the
    /// effective one.
    pub priority: u8,
    /// Advertisement_Interval in centiseconds (VRRPv2: a multiple of 100).
    pub interval_cs: u16,
    /// Preempt_Mode: as a Backup, take over from a lower-priority Master (`false`:
    /// keepalived's `nopreempt`).
    pub preempt: bool,
    /// keepalived's `preempt_delay`: how long a Backup that could preempt waits first.
    pub preempt_delay: Duration,
    /// An observer follows the election but never sends nor becomes Master.
    pub observer: bool,
    /// RFC 9568 §6.4.3: a Master hearing a lower priority re-advertises at once
    /// (keepalived's `lower_prio_no_advert` turns it off).
    pub readvertise: bool,
    /// Its `vrrp_sync_group` on its router, if any.
    pub sync_group: Option<String>,
    /// Script and file trackers with their weights (keepalived's rules,
    /// `vrrp_core::weights`); their states are the router's ([`RouterSpec::trackers`],
    /// [`Action::Tracker`]).
    pub trackers: Vec<TrackerSpec>,
}

/// A tracker as one instance tracks it: `track_script { name weight W [reverse] }` or
/// `track_file`.
#[derive(Clone, Debug, PartialEq)]
pub struct TrackerSpec {
    /// The tracked object: a `vrrp_script` or a `track_file`.
    pub key: TrackerKey,
    /// The weight this instance gives it (0: Fault while it fails).
    pub weight: i32,
    /// keepalived's `reverse`: the weight's sign and the fault condition turned around.
    pub reverse: bool,
}

impl TrackerSpec {
    /// Track the `vrrp_script` `name` with `weight`.
    pub fn script(name: &str, weight: i32) -> Self {
        TrackerSpec {
            key: TrackerKey::new(TrackerKind::Script, name),
            weight,
            reverse: false,
        }
    }

    /// Track the `track_file` `name` with `weight` (scaled by the file's value).
    pub fn file(name: &str, weight: i32) -> Self {
        TrackerSpec {
            key: TrackerKey::new(TrackerKind::File, name),
            weight,
            reverse: false,
        }
    }

    /// Set keepalived's `reverse` flag.
    pub fn reverse(mut self, reverse: bool) -> Self {
        self.reverse = reverse;
        self
    }
}

impl InstanceSpec {
    /// VRRPv3 over IPv4 with the RFC defaults: priority 100, 100 cs, preempt on.
    pub fn new(vrid: u8) -> Self {
        InstanceSpec {
            key: VrKey::v4(vrid),
            version: Version::V3,
            priority: 100,
            interval_cs: 100,
            preempt: true,
            preempt_delay: Duration::ZERO,
            observer: false,
            readvertise: true,
            sync_group: None,
            trackers: Vec::new(),
        }
    }

    /// The core's configuration for this instance on a router with `primary` address.
    pub fn config(&self, router: &str, primary: IpAddr) -> InstanceConfig {
        let mut c = InstanceConfig::new(
            format!("{router}-vrid{}", self.key.vrid),
            self.key.vrid,
            primary,
        );
        c.version = self.version;
        c.role = if self.observer {
            Role::Observer
        } else {
            Role::Router
        };
        c.priority = self.priority;
        c.advert_interval_cs = self.interval_cs;
        c.preempt = self.preempt;
        c.preempt_delay = self.preempt_delay;
        c.addresses = vec![self.key.virtual_address()];
        c.readvertise_on_lower_priority = self.readvertise;
        c
    }
}

/// A router on the LAN.
#[derive(Clone, Debug, PartialEq)]
pub struct RouterSpec {
    /// Its name in the trace and the timeline, as [`Scenario::id`] finds it.
    pub name: String,
    /// Primary IPv4 address (source of IPv4 advertisements and tie-breaker).
    pub ipv4: Ipv4Addr,
    /// Primary IPv6 link-local address.
    pub ipv6: Ipv6Addr,
    /// Its VRRP instances, one per virtual router it joins.
    pub instances: Vec<InstanceSpec>,
    /// When the router boots; `None` waits for an [`Action::Start`].
    pub start_at: Option<Timestamp>,
    /// The state of the objects its trackers watch at time zero (a script's result, a
    /// file's value); they belong to the router's world, not to the VRRP process, so they
    /// survive crashes and are reported to a booting node. Unlisted: never reported yet
    /// ([`TrackState::Pending`]).
    pub trackers: Vec<(TrackerKey, TrackState)>,
}

impl RouterSpec {
    /// Router number `n`: 10.99.0.n and fe80::n, one VRRPv3 IPv4 instance for VRID 1,
    /// booting at time zero.
    pub fn new(name: impl Into<String>, n: u8) -> Self {
        RouterSpec {
            name: name.into(),
            ipv4: Ipv4Addr::new(10, 99, 0, n),
            ipv6: Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, n.into()),
            instances: vec![InstanceSpec::new(1)],
            start_at: Some(Timestamp::ZERO),
            trackers: Vec::new(),
        }
    }

    /// Another primary IPv4 address.
    pub fn ipv4(mut self, addr: Ipv4Addr) -> Self {
        self.ipv4 = addr;
        self
    }

    /// Another primary IPv6 link-local address.
    pub fn ipv6(mut self, addr: Ipv6Addr) -> Self {
        self.ipv6 = addr;
        self
    }

    /// The primary address of a family.
    pub fn address(&self, family: Family) -> IpAddr {
        match family {
            Family::Ipv4 => IpAddr::V4(self.ipv4),
            Family::Ipv6 => IpAddr::V6(self.ipv6),
        }
    }

    /// Replace all instances.
    pub fn instances(mut self, instances: Vec<InstanceSpec>) -> Self {
        self.instances = instances;
        self
    }

    /// One instance per VRID, each a copy of the first instance.
    pub fn vrids(mut self, vrids: &[u8]) -> Self {
        let template = self
            .instances
            .first()
            .cloned()
            .unwrap_or_else(|| InstanceSpec::new(1));
        self.instances = vrids
            .iter()
            .map(|&vrid| InstanceSpec {
                key: VrKey {
                    vrid,
                    ..template.key
                },
                ..template.clone()
            })
            .collect();
        self
    }

    fn each(mut self, f: impl Fn(&mut InstanceSpec)) -> Self {
        self.instances.iter_mut().for_each(f);
        self
    }

    /// Set every instance's configured priority.
    pub fn priority(self, priority: u8) -> Self {
        self.each(|i| i.priority = priority)
    }

    /// Run every instance as VRRPv2 or VRRPv3.
    pub fn version(self, version: Version) -> Self {
        self.each(|i| i.version = version)
    }

    /// Move every instance to another address family (IPv6 needs VRRPv3).
    pub fn family(self, family: Family) -> Self {
        self.each(|i| i.key.family = family)
    }

    /// Set every instance's advertisement interval, in centiseconds.
    pub fn interval_cs(self, interval_cs: u16) -> Self {
        self.each(|i| i.interval_cs = interval_cs)
    }

    /// Set every instance's Preempt_Mode (`false`: `nopreempt`).
    pub fn preempt(self, preempt: bool) -> Self {
        self.each(|i| i.preempt = preempt)
    }

    /// Set every instance's `preempt_delay`.
    pub fn preempt_delay(self, delay: Duration) -> Self {
        self.each(|i| i.preempt_delay = delay)
    }

    /// Make every instance an observer.
    pub fn observer(self) -> Self {
        self.each(|i| i.observer = true)
    }

    /// When the router boots (`None`: only on an [`Action::Start`]).
    pub fn starts_at(mut self, at: Option<Timestamp>) -> Self {
        self.start_at = at;
        self
    }

    /// Put every instance in sync group `name`.
    pub fn sync_group(self, name: &str) -> Self {
        self.each(|i| i.sync_group = Some(name.to_string()))
    }

    /// Every instance tracks `tracker`.
    pub fn track(self, tracker: TrackerSpec) -> Self {
        self.each(|i| i.trackers.push(tracker.clone()))
    }

    /// The state of a tracked object at time zero.
    pub fn tracker_state(mut self, key: TrackerKey, state: TrackState) -> Self {
        self.trackers.retain(|(k, _)| *k != key);
        self.trackers.push((key, state));
        self
    }
}

/// Something that happens to the routers or the LAN at a scheduled time.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Boot a router that is down: fresh instances, then Startup.
    Start(NodeId),
    /// Power loss: the instances vanish without a word (no priority 0).
    Crash(NodeId),
    /// Crash if up, then start.
    Restart(NodeId),
    /// Graceful shutdown: Input::Shutdown to every instance (a Master sends priority 0),
    /// then the router is down.
    Shutdown(NodeId),
    /// Split the LAN into groups (a node in no group is alone).
    Partition(Vec<Vec<NodeId>>),
    /// End the partition.
    Heal,
    /// Change loss, delay and jitter.
    SetLink(LinkScope, LinkParams),
    /// An operator priority (`Node::set_operator_priority`) for a router's instance for
    /// `vrid` (all instances when `None`): it replaces the configured priority and the
    /// trackers' weights until the router restarts; an owner's is refused.
    SetPriority {
        /// The router.
        node: NodeId,
        /// Its instance's VRID, or `None` for all its instances.
        vrid: Option<u8>,
        /// The operator priority.
        priority: u8,
    },
    /// The router's interface goes down (`Node::set_link`: every instance tracks it with
    /// weight 0, so Fault; the LAN stops carrying its packets).
    LinkDown(NodeId),
    /// The router's interface comes back.
    LinkUp(NodeId),
    /// A tracked object every instance of the router tracks with weight 0 fails (`true`)
    /// or recovers: Fault while failed. Told only to a running node; a booting node
    /// starts with it recovered.
    TrackFault(NodeId, bool),
    /// A tracked object of the router changes state (`Node::set_tracker`); remembered
    /// while the router is down and reported when it boots.
    Tracker {
        /// The router.
        node: NodeId,
        /// The tracked object.
        key: TrackerKey,
        /// Its new state.
        state: TrackState,
    },
    /// Operator maintenance on or off (`Node::set_maintenance`) for a router's instance
    /// for `vrid` (all when `None`); a restart ends it.
    Maintenance {
        /// The router.
        node: NodeId,
        /// Its instance's VRID, or `None` for all its instances.
        vrid: Option<u8>,
        /// Maintenance on (`true`) or off.
        on: bool,
    },
}

impl Action {
    /// The router the action is about, if one.
    pub fn node(&self) -> Option<NodeId> {
        match *self {
            Action::Start(n)
            | Action::Crash(n)
            | Action::Restart(n)
            | Action::Shutdown(n)
            | Action::LinkDown(n)
            | Action::LinkUp(n)
            | Action::TrackFault(n, _)
            | Action::Tracker { node: n, .. }
            | Action::Maintenance { node: n, .. }
            | Action::SetPriority { node: n, .. } => Some(n),
            Action::Partition(_) | Action::Heal | Action::SetLink(..) => None,
        }
    }
}

/// A whole simulation: the routers, the LAN, the actions, and the seed of the LAN's
/// randomness.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// Seed of the LAN's loss and jitter: the same scenario and seed replay the same run.
    pub seed: u64,
    /// The routers; a router's [`NodeId`] is its index here.
    pub routers: Vec<RouterSpec>,
    /// The LAN default link.
    pub link: LinkParams,
    /// Actions in the order they are declared; at equal times, declaration order applies.
    pub actions: Vec<(Timestamp, Action)>,
    /// Record sends, receives and drops (off: state and master changes and actions only).
    pub trace_packets: bool,
}

impl Scenario {
    /// An empty scenario: no routers, no actions, the quiet default link, packets traced.
    pub fn new(seed: u64) -> Self {
        Scenario {
            seed,
            routers: Vec::new(),
            link: LinkParams::default(),
            actions: Vec::new(),
            trace_packets: true,
        }
    }

    /// Add a router; its [`NodeId`] is the number of routers before it.
    pub fn router(&mut self, router: RouterSpec) -> &mut Self {
        self.routers.push(router);
        self
    }

    /// Set the LAN default link.
    pub fn link(&mut self, link: LinkParams) -> &mut Self {
        self.link = link;
        self
    }

    /// Schedule `action` at `at`.
    pub fn at(&mut self, at: Timestamp, action: Action) -> &mut Self {
        self.actions.push((at, action));
        self
    }

    /// Whether to record sends, receives and drops.
    pub fn trace_packets(&mut self, on: bool) -> &mut Self {
        self.trace_packets = on;
        self
    }

    /// The node of a router by name.
    pub fn id(&self, name: &str) -> Option<NodeId> {
        self.routers.iter().position(|r| r.name == name)
    }

    /// The longest a packet can take on any link at any time of the scenario.
    pub fn max_delay(&self) -> Duration {
        self.actions
            .iter()
            .filter_map(|(_, a)| match a {
                Action::SetLink(_, p) => Some(p.max_delay()),
                _ => None,
            })
            .fold(self.link.max_delay(), Duration::max)
    }

    /// Every virtual router of the scenario, sorted.
    pub fn vr_keys(&self) -> Vec<VrKey> {
        let mut keys: Vec<VrKey> = self
            .routers
            .iter()
            .flat_map(|r| r.instances.iter().map(|i| i.key))
            .collect();
        keys.sort_by_key(|k| k.rank());
        keys.dedup();
        keys
    }

    /// Start the simulation at time zero.
    pub fn build(&self) -> Sim {
        Sim::new(self.clone())
    }

    /// Build and run until `until`.
    pub fn run_until(&self, until: Timestamp) -> Sim {
        let mut sim = self.build();
        sim.run_until(until);
        sim
    }
}
