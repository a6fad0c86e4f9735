//! What the node needs to know of an instance beyond its protocol settings.

use std::net::IpAddr;

use crate::instance::InstanceConfig;
use crate::packet::Family;
use crate::weights::TrackerKey;

/// The socket an instance sends and receives on: the daemon opens one per key, shared by
/// every VRID on it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct SocketKey {
    /// The family of its packets.
    pub family: Family,
    /// The interface advertisements arrive on (the instance's `interface`).
    pub ifindex: u32,
    /// The interface they leave by: a virtual MAC interface, unless `vmac_xmit_base`.
    pub send_ifindex: u32,
}

/// A tracked interface: `track_interface` lines, and the instance's own interface (weight
/// 0: Fault while it is down) unless `dont_track_primary`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackedInterface {
    /// The interface's name.
    pub name: String,
    /// Its weight (0: Fault while down).
    pub weight: i32,
    /// The weight's sign turned around.
    pub reverse: bool,
}

/// A script, file or process tracker as one instance tracks it (its own line or its sync
/// group's), with the weight that applies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrackerWeight {
    /// The tracker.
    pub key: TrackerKey,
    /// The weight that applies (0: Fault while it fails).
    pub weight: i32,
    /// The weight's sign turned around.
    pub reverse: bool,
}

/// One instance as the node runs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceSpec {
    /// The protocol settings; `core.primary_address` is the advertisements' source and
    /// the address own advertisements are recognised by.
    pub core: InstanceConfig,
    /// Where it sends and receives.
    pub socket: SocketKey,
    /// Its interface's name: down means Fault when it is tracked with weight 0.
    pub interface: String,
    /// Unicast peers; empty: the multicast group of its family.
    pub unicast_peers: Vec<IpAddr>,
    /// keepalived's `check_unicast_src` for this instance (the node's
    /// [`Node::set_check_unicast_src`](crate::Node::set_check_unicast_src) covers all).
    pub check_unicast_src: bool,
    /// keepalived's `unicast_ttl`: the TTL / hop limit of its unicast advertisements
    /// (255 by default). Other than 255, the instance also accepts unicast advertisements
    /// of any TTL (they may be routed); with 255, RFC 5798 §7.1's check applies to unicast
    /// as to multicast.
    pub unicast_ttl: u8,
    /// keepalived's `track_src_ip`: the instance is in Fault while its source address
    /// (`core.primary_address`) is on none of the host's interfaces.
    pub track_src: bool,
    /// keepalived's `old_unicast_checksum`: VRRPv3 over IPv4 to unicast peers checksums its
    /// pseudo-header with the multicast group as destination, as keepalived before 1.3.6
    /// did; received adverts in that form are accepted too.
    pub old_unicast_checksum: bool,
    /// Its tracked interfaces.
    pub tracked_interfaces: Vec<TrackedInterface>,
    /// Its script, file and process trackers.
    pub trackers: Vec<TrackerWeight>,
    /// Its `vrrp_sync_group`, if any.
    pub sync_group: Option<String>,
}
