//! The shared LAN: who hears whom, after how long, and what gets lost.
//!
//! Link parameters apply per sender→receiver pair, falling back to the receiver's, then to
//! the LAN default. A partition splits the nodes into groups; packets cross only within a
//! group. A node whose link is down neither sends nor receives.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::rng::SimRng;

/// A router's index in the scenario (declaration order).
pub type NodeId = usize;

/// Loss, delay and jitter of a link.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct LinkParams {
    /// Probability that one packet is lost, 0.0-1.0.
    pub loss: f64,
    /// Fixed one-way delay.
    pub delay: Duration,
    /// Extra delay, uniform in `0..=jitter` per packet. The simulator keeps each
    /// sender→receiver link in order, so a packet never overtakes an earlier one.
    pub jitter: Duration,
}

impl Default for LinkParams {
    /// A quiet LAN: no loss, 100 µs delay, 20 µs jitter.
    fn default() -> Self {
        LinkParams {
            loss: 0.0,
            delay: Duration::from_micros(100),
            jitter: Duration::from_micros(20),
        }
    }
}

impl LinkParams {
    /// The longest a packet can take on this link.
    pub fn max_delay(&self) -> Duration {
        self.delay + self.jitter
    }
}

/// Which links a [`LinkParams`] change applies to.
#[derive(Clone, Debug, PartialEq)]
pub enum LinkScope {
    /// The LAN default (per-receiver and per-pair settings are cleared).
    All,
    /// Every packet to this receiver.
    To(NodeId),
    /// Packets from the first node to the second.
    Between(NodeId, NodeId),
}

/// Why a packet did not arrive.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Random loss.
    Loss,
    /// Sender and receiver are in different partition groups.
    Partition,
    /// The sender's or the receiver's link is down.
    LinkDown,
    /// The receiver is crashed or shut down.
    NodeDown,
    /// The receiver has no instance for the packet's family and VRID.
    NoInstance,
    /// The packet could not be encoded.
    EncodeError,
}

impl DropReason {
    /// A short label for the printed timeline.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::Loss => "loss",
            DropReason::Partition => "partition",
            DropReason::LinkDown => "link down",
            DropReason::NodeDown => "node down",
            DropReason::NoInstance => "no instance",
            DropReason::EncodeError => "encode error",
        }
    }
}

/// The LAN's state.
#[derive(Clone, Debug)]
pub struct Lan {
    default: LinkParams,
    per_receiver: BTreeMap<NodeId, LinkParams>,
    per_pair: BTreeMap<(NodeId, NodeId), LinkParams>,
    /// Partition group of each node.
    group: Vec<usize>,
    link_up: Vec<bool>,
}

impl Lan {
    /// A LAN of `nodes` routers with `default` links: no partition, every link up.
    pub fn new(nodes: usize, default: LinkParams) -> Self {
        Lan {
            default,
            per_receiver: BTreeMap::new(),
            per_pair: BTreeMap::new(),
            group: vec![0; nodes],
            link_up: vec![true; nodes],
        }
    }

    /// How many routers the LAN connects.
    pub fn nodes(&self) -> usize {
        self.group.len()
    }

    /// The parameters of the link from `from` to `to`.
    pub fn params(&self, from: NodeId, to: NodeId) -> LinkParams {
        self.per_pair
            .get(&(from, to))
            .or_else(|| self.per_receiver.get(&to))
            .copied()
            .unwrap_or(self.default)
    }

    /// Set the links `scope` names to `params` ([`LinkScope::All`] also clears the
    /// per-receiver and per-pair settings).
    pub fn set_params(&mut self, scope: &LinkScope, params: LinkParams) {
        match *scope {
            LinkScope::All => {
                self.default = params;
                self.per_receiver.clear();
                self.per_pair.clear();
            }
            LinkScope::To(to) => {
                self.per_receiver.insert(to, params);
            }
            LinkScope::Between(from, to) => {
                self.per_pair.insert((from, to), params);
            }
        }
    }

    /// True when some link currently loses packets.
    pub fn lossy(&self) -> bool {
        std::iter::once(&self.default)
            .chain(self.per_receiver.values())
            .chain(self.per_pair.values())
            .any(|p| p.loss > 0.0)
    }

    /// Split the LAN: nodes in the same group hear each other; a node in no group is alone.
    pub fn partition(&mut self, groups: &[Vec<NodeId>]) {
        let n = self.nodes();
        for (node, g) in self.group.iter_mut().enumerate() {
            *g = n + node;
        }
        for (i, members) in groups.iter().enumerate() {
            for &node in members {
                if let Some(g) = self.group.get_mut(node) {
                    *g = i;
                }
            }
        }
    }

    /// End every partition.
    pub fn heal(&mut self) {
        self.group.iter_mut().for_each(|g| *g = 0);
    }

    /// The partition group of a node (an opaque label: equal labels hear each other).
    pub fn group(&self, node: NodeId) -> usize {
        self.group[node]
    }

    /// Bring a router's interface up or down; while down it neither sends nor receives.
    pub fn set_link(&mut self, node: NodeId, up: bool) {
        self.link_up[node] = up;
    }

    /// Whether a router's interface is up.
    pub fn link_up(&self, node: NodeId) -> bool {
        self.link_up[node]
    }

    /// Whether a packet from `from` can reach `to` now (loss aside).
    pub fn reachable(&self, from: NodeId, to: NodeId) -> Result<(), DropReason> {
        if !self.link_up[from] || !self.link_up[to] {
            Err(DropReason::LinkDown)
        } else if self.group[from] != self.group[to] {
            Err(DropReason::Partition)
        } else {
            Ok(())
        }
    }

    /// Decide the fate of one packet: its delay, or why it is dropped.
    pub fn fate(&self, rng: &mut SimRng, from: NodeId, to: NodeId) -> Result<Duration, DropReason> {
        self.reachable(from, to)?;
        let p = self.params(from, to);
        if rng.chance(p.loss) {
            return Err(DropReason::Loss);
        }
        Ok(p.delay + rng.duration(p.jitter))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pair_overrides_receiver_overrides_default() {
        let mut lan = Lan::new(3, LinkParams::default());
        let slow = LinkParams {
            delay: Duration::from_millis(5),
            ..LinkParams::default()
        };
        let lossy = LinkParams {
            loss: 1.0,
            ..LinkParams::default()
        };
        lan.set_params(&LinkScope::To(2), slow);
        lan.set_params(&LinkScope::Between(0, 2), lossy);
        assert_eq!(lan.params(1, 2), slow);
        assert_eq!(lan.params(0, 2), lossy);
        assert_eq!(lan.params(2, 0), LinkParams::default());
        let mut rng = SimRng::new(1);
        assert_eq!(lan.fate(&mut rng, 0, 2), Err(DropReason::Loss));
        assert!(lan.lossy());
        lan.set_params(&LinkScope::All, LinkParams::default());
        assert!(!lan.lossy());
        assert_eq!(lan.params(0, 2), LinkParams::default());
    }

    #[test]
    fn partitions_and_links() {
        let mut lan = Lan::new(4, LinkParams::default());
        lan.partition(&[vec![0, 1], vec![2]]);
        assert_eq!(lan.reachable(0, 1), Ok(()));
        assert_eq!(lan.reachable(0, 2), Err(DropReason::Partition));
        assert_eq!(lan.reachable(3, 2), Err(DropReason::Partition));
        assert_eq!(lan.reachable(3, 0), Err(DropReason::Partition));
        lan.heal();
        assert_eq!(lan.reachable(3, 0), Ok(()));
        lan.set_link(1, false);
        assert_eq!(lan.reachable(0, 1), Err(DropReason::LinkDown));
        assert_eq!(lan.reachable(1, 0), Err(DropReason::LinkDown));
    }

    #[test]
    fn delay_within_bounds() {
        let lan = Lan::new(2, LinkParams::default());
        let mut rng = SimRng::new(3);
        for _ in 0..100 {
            let d = lan.fate(&mut rng, 0, 1).expect("no loss configured");
            assert!(d >= Duration::from_micros(100) && d <= Duration::from_micros(120));
        }
    }
}
