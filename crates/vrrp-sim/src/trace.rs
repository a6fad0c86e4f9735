//! What happened, when: the record every check reads and the timeline people read.

use std::fmt::{self, Write as _};
use std::net::IpAddr;

use vrrp_core::{DecodeError, Family, GroupState, MasterInfo, State, Timestamp, TransitionReason};

use crate::lan::{DropReason, LinkScope, NodeId};
use crate::scenario::{Action, Scenario, VrKey};

/// One recorded event.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceEvent {
    /// When it happened, on the virtual clock.
    pub at: Timestamp,
    /// The router concerned (`None` for LAN-wide actions).
    pub node: Option<NodeId>,
    /// The virtual router concerned (`None` for actions).
    pub vr: Option<VrKey>,
    /// What happened.
    pub what: What,
}

/// The kinds of events.
#[derive(Clone, Debug, PartialEq)]
pub enum What {
    /// A scheduled action was applied.
    Action(Action),
    /// Output::StateChanged.
    State {
        /// The state left.
        from: State,
        /// The state entered.
        to: State,
        /// Why the core made the transition.
        reason: TransitionReason,
    },
    /// Output::MasterChanged.
    Master(Option<MasterInfo>),
    /// Output::Send, as put on the wire (`len`: encoded bytes).
    Send {
        /// The advertised priority (0: the Master is leaving).
        priority: u8,
        /// The advertised interval in centiseconds (VRRPv2's seconds field × 100).
        interval_cs: u16,
        /// The advertisement's length in encoded bytes.
        len: usize,
    },
    /// An advertisement handed to the receiving instance.
    Recv {
        /// The sending router.
        from: NodeId,
        /// The advertised priority (0: the Master is leaving).
        priority: u8,
        /// The advertised interval in centiseconds (VRRPv2's seconds field × 100).
        interval_cs: u16,
    },
    /// A packet that did not reach an instance.
    Drop {
        /// The sending router.
        from: NodeId,
        /// Why it did not arrive.
        reason: DropReason,
    },
    /// A packet the codec refused (counted with `record_decode_error`).
    Undecodable {
        /// The sending router.
        from: NodeId,
        /// Why the codec refused it.
        error: DecodeError,
    },
    /// Output::AddAddresses (`true`) / Output::RemoveAddresses (`false`).
    Addresses(bool),
    /// Output::Announce.
    Announce,
    /// A sync group of the router changed state as a whole (`NodeEvent::GroupState`).
    Group {
        /// The group's name (`vrrp_sync_group`).
        group: String,
        /// Its new state.
        state: GroupState,
    },
    /// Something the core did that the simulator considers wrong.
    Anomaly(String),
}

/// The trace of one run.
#[derive(Clone, Debug, Default)]
pub struct Trace {
    /// Every event, in the order it happened.
    pub events: Vec<TraceEvent>,
    /// Router names, by node.
    pub names: Vec<String>,
    /// Primary addresses, to name the Master in MasterChanged.
    pub addresses: Vec<(IpAddr, NodeId)>,
    /// How far the simulation ran.
    pub end: Timestamp,
}

impl Trace {
    /// An empty trace knowing the scenario's router names and primary addresses.
    pub fn new(scenario: &Scenario) -> Self {
        Trace {
            events: Vec::new(),
            names: scenario.routers.iter().map(|r| r.name.clone()).collect(),
            addresses: scenario
                .routers
                .iter()
                .enumerate()
                .flat_map(|(n, r)| [(r.address(Family::Ipv4), n), (r.address(Family::Ipv6), n)])
                .collect(),
            end: Timestamp::ZERO,
        }
    }

    /// Record `what` at `at`.
    pub fn push(&mut self, at: Timestamp, node: Option<NodeId>, vr: Option<VrKey>, what: What) {
        self.events.push(TraceEvent { at, node, vr, what });
    }

    /// The node whose primary address this is.
    pub fn node_of(&self, addr: IpAddr) -> Option<NodeId> {
        self.addresses
            .iter()
            .find(|(a, _)| *a == addr)
            .map(|&(_, n)| n)
    }

    /// A router's name, or `?` for an unknown node.
    pub fn name(&self, node: NodeId) -> &str {
        self.names.get(node).map_or("?", String::as_str)
    }

    /// Anomalies recorded by the simulator.
    pub fn anomalies(&self) -> impl Iterator<Item = &TraceEvent> {
        self.events
            .iter()
            .filter(|e| matches!(e.what, What::Anomaly(_)))
    }

    /// The timeline of the events `keep` selects.
    pub fn timeline_of(&self, keep: impl Fn(&TraceEvent) -> bool) -> String {
        let width = self.names.iter().map(String::len).max().unwrap_or(1);
        let mut out = String::new();
        for e in self.events.iter().filter(|e| keep(e)) {
            let node = e.node.map_or("--", |n| self.name(n));
            let vr = match e.vr {
                Some(VrKey {
                    family: Family::Ipv4,
                    vrid,
                }) => format!("vrid {vrid:<3}   "),
                Some(VrKey {
                    family: Family::Ipv6,
                    vrid,
                }) => format!("vrid {vrid:<3} v6"),
                None => "           ".to_string(),
            };
            let _ = writeln!(
                out,
                "{:>12}  {node:<width$}  {vr}  {}",
                e.at.to_string(),
                self.describe(&e.what)
            );
        }
        out
    }

    /// State changes, Master changes, actions and anomalies.
    pub fn transitions(&self) -> String {
        self.timeline_of(|e| {
            matches!(
                e.what,
                What::Action(_) | What::State { .. } | What::Master(_) | What::Anomaly(_)
            )
        })
    }

    fn names_of(&self, nodes: &[NodeId]) -> String {
        let names: Vec<&str> = nodes.iter().map(|&n| self.name(n)).collect();
        format!("{{{}}}", names.join(","))
    }

    fn describe(&self, what: &What) -> String {
        match what {
            What::Action(a) => format!("*** {}", self.describe_action(a)),
            What::State { from, to, reason } => format!("{from} -> {to}  ({reason})"),
            What::Master(Some(m)) => {
                let who = self
                    .node_of(m.address)
                    .map_or_else(|| m.address.to_string(), |n| self.name(n).to_string());
                format!(
                    "master is {who} (prio {}, {} cs)",
                    m.priority, m.interval_cs
                )
            }
            What::Master(None) => "master unknown".to_string(),
            What::Send {
                priority,
                interval_cs,
                len,
            } => format!("send  prio {priority}  {interval_cs} cs  {len} bytes"),
            What::Recv {
                from,
                priority,
                interval_cs,
            } => format!(
                "recv  from {}  prio {priority}  {interval_cs} cs",
                self.name(*from)
            ),
            What::Drop { from, reason } => {
                format!("drop  from {}  ({})", self.name(*from), reason.name())
            }
            What::Undecodable { from, error } => {
                format!("undecodable from {}: {error}", self.name(*from))
            }
            What::Addresses(true) => "add virtual addresses".to_string(),
            What::Addresses(false) => "remove virtual addresses".to_string(),
            What::Announce => "announce (gratuitous ARP / NA)".to_string(),
            What::Group { group, state } => format!("sync group {group}: {state:?}"),
            What::Anomaly(text) => format!("!!! ANOMALY: {text}"),
        }
    }

    fn describe_action(&self, action: &Action) -> String {
        match action {
            Action::Start(_) => "start".to_string(),
            Action::Crash(_) => "crash (silent)".to_string(),
            Action::Restart(_) => "restart".to_string(),
            Action::Shutdown(_) => "graceful shutdown".to_string(),
            Action::Partition(groups) => {
                let groups: Vec<String> = groups.iter().map(|g| self.names_of(g)).collect();
                format!("partition {}", groups.join(" "))
            }
            Action::Heal => "heal partition".to_string(),
            Action::SetLink(scope, p) => {
                let scope = match scope {
                    LinkScope::All => "all links".to_string(),
                    LinkScope::To(n) => format!("links to {}", self.name(*n)),
                    LinkScope::Between(a, b) => {
                        format!("link {} -> {}", self.name(*a), self.name(*b))
                    }
                };
                format!(
                    "{scope}: loss {:.0}%, delay {:?}, jitter {:?}",
                    p.loss * 100.0,
                    p.delay,
                    p.jitter
                )
            }
            Action::SetPriority { vrid, priority, .. } => match vrid {
                Some(v) => format!("set priority {priority} on vrid {v}"),
                None => format!("set priority {priority}"),
            },
            Action::LinkDown(_) => "link down".to_string(),
            Action::LinkUp(_) => "link up".to_string(),
            Action::TrackFault(_, true) => "tracked object failed".to_string(),
            Action::TrackFault(_, false) => "tracked object recovered".to_string(),
            Action::Tracker { key, state, .. } => format!("tracker {key}: {state:?}"),
            Action::Maintenance { vrid, on, .. } => {
                let on = if *on { "on" } else { "off" };
                match vrid {
                    Some(v) => format!("maintenance {on} on vrid {v}"),
                    None => format!("maintenance {on}"),
                }
            }
        }
    }
}

impl fmt::Display for Trace {
    /// The full timeline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.timeline_of(|_| true))
    }
}
