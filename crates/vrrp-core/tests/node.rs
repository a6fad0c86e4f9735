//! The node: routing by (interface, family, VRID), the node's receive checks, typed
//! discards, trackers with keepalived's weights, the operator, and sync groups.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use vrrp_core::node::{AddressAction, Discard, GroupState, NodeEvent, NodeOutput};
use vrrp_core::packet::{self, MULTICAST_V4};
use vrrp_core::weights::{TrackState, TrackerKey, TrackerKind};
use vrrp_core::{
    Advertisement, Auth, ChecksumForm, Family, InstanceConfig, InstanceId, InstanceSpec, IpMeta,
    Node, OperatorError, ReceiveError, SocketKey, State, Timestamp, TrackedInterface,
    TrackerWeight, Version,
};

const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 10);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 20);
const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);

fn t(ms: u64) -> Timestamp {
    Timestamp::ZERO + Duration::from_millis(ms)
}

fn spec(name: &str, vrid: u8, ifindex: u32, priority: u8) -> InstanceSpec {
    let mut core = InstanceConfig::new(name, vrid, IpAddr::V4(LOCAL));
    core.priority = priority;
    core.addresses = vec![IpAddr::V4(VIP)];
    InstanceSpec {
        core,
        socket: SocketKey {
            family: Family::Ipv4,
            ifindex,
            send_ifindex: ifindex,
        },
        interface: format!("eth{ifindex}"),
        unicast_peers: Vec::new(),
        check_unicast_src: false,
        unicast_ttl: 255,
        track_src: false,
        old_unicast_checksum: false,
        tracked_interfaces: vec![TrackedInterface {
            name: format!("eth{ifindex}"),
            weight: 0,
            reverse: false,
        }],
        trackers: Vec::new(),
        sync_group: None,
    }
}

/// The encoded advertisement `adv` from `src`, as the kernel hands it over.
fn wire(adv: &Advertisement, src: Ipv4Addr) -> (IpMeta, Vec<u8>) {
    let (src, dst) = (IpAddr::V4(src), IpAddr::V4(MULTICAST_V4));
    let bytes = packet::encode(adv, src, dst, ChecksumForm::PseudoHeader).expect("encode");
    (IpMeta { src, dst, ttl: 255 }, bytes)
}

fn advert(vrid: u8, priority: u8) -> Advertisement {
    Advertisement {
        version: Version::V3,
        vrid,
        priority,
        interval_cs: 100,
        auth: Auth::None,
        addresses: vec![IpAddr::V4(VIP)],
    }
}

fn outputs(node: &mut Node) -> Vec<NodeOutput> {
    std::iter::from_fn(|| node.poll_output()).collect()
}

fn events(node: &mut Node) -> Vec<NodeEvent> {
    outputs(node)
        .into_iter()
        .filter_map(|o| match o {
            NodeOutput::Event(e) => Some(e),
            _ => None,
        })
        .collect()
}

/// A node with `specs`, links up, started, drained.
fn running(specs: Vec<InstanceSpec>) -> (Node, Vec<InstanceId>) {
    let mut node = Node::new();
    let ids: Vec<InstanceId> = specs.into_iter().map(|s| node.add(s)).collect();
    node.set_links([("eth2", true), ("eth3", true)]);
    node.start(t(0));
    outputs(&mut node);
    (node, ids)
}

fn state(node: &Node, id: InstanceId) -> State {
    node.instance(id).expect("instance").state()
}

/// Runs the node's timers up to `until` (ms), returning everything it output.
fn run_until(node: &mut Node, until: u64) -> Vec<NodeOutput> {
    let mut out = Vec::new();
    while let Some(d) = node.poll_timeout().filter(|d| *d <= t(until)) {
        node.handle_timeout(d);
        out.extend(outputs(node));
    }
    out
}

#[test]
fn packets_are_routed_by_interface_family_and_vrid() {
    let (mut node, ids) = running(vec![spec("A", 1, 2, 100), spec("B", 1, 3, 100)]);
    let (meta, bytes) = wire(&advert(1, 200), PEER);
    node.handle_packet(t(10), 3, &meta, &bytes);
    let ev = events(&mut node);
    assert!(
        ev.contains(&NodeEvent::MasterChanged {
            id: ids[1],
            master: node.instance(ids[1]).and_then(|i| i.master()),
        }),
        "{ev:?}"
    );
    assert!(node.instance(ids[0]).and_then(|i| i.master()).is_none());
    assert_eq!(
        node.instance(ids[1])
            .and_then(|i| i.master())
            .map(|m| m.priority),
        Some(200)
    );
    // Another VRID on that interface: nobody's.
    let (meta, bytes) = wire(&advert(9, 200), PEER);
    node.handle_packet(t(20), 3, &meta, &bytes);
    assert_eq!(
        events(&mut node),
        vec![NodeEvent::UnknownVrid {
            src: IpAddr::V4(PEER),
            vrid: 9
        }]
    );
}

#[test]
fn own_advertisements_are_ignored() {
    let (mut node, ids) = running(vec![spec("A", 1, 2, 100)]);
    let (meta, bytes) = wire(&advert(1, 200), LOCAL);
    node.handle_packet(t(10), 2, &meta, &bytes);
    assert!(outputs(&mut node).is_empty());
    let c = node.instance(ids[0]).expect("A").counters();
    assert_eq!(c.rcvd_advertisements, 0);
}

#[test]
fn unicast_sources_are_checked_when_asked() {
    let mut s = spec("A", 1, 2, 100);
    s.unicast_peers = vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 30))];
    let (mut node, ids) = running(vec![s]);
    node.set_check_unicast_src(true);
    let (meta, bytes) = wire(&advert(1, 200), PEER);
    node.handle_packet(t(10), 2, &meta, &bytes);
    assert_eq!(
        events(&mut node),
        vec![NodeEvent::Discarded {
            id: ids[0],
            src: IpAddr::V4(PEER),
            reason: Discard::NotUnicastPeer
        }]
    );
    let c = node.instance(ids[0]).expect("A").counters();
    assert_eq!((c.unicast_src_errors, c.rcvd_advertisements), (1, 0));
}

#[test]
fn receive_errors_are_typed_with_the_advertisement() {
    let (mut node, ids) = running(vec![spec("A", 1, 2, 100)]);
    let mut adv = advert(1, 200);
    adv.addresses = vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 99))];
    let (meta, bytes) = wire(&adv, PEER);
    node.handle_packet(t(10), 2, &meta, &bytes);
    let ev = events(&mut node);
    // VRRPv3: an address list mismatch is only logged (RFC 5798 §7.1).
    assert!(
        ev.contains(&NodeEvent::Discarded {
            id: ids[0],
            src: IpAddr::V4(PEER),
            reason: Discard::Check {
                error: ReceiveError::AddressList,
                dropped: false,
                advertisement: adv.clone(),
            }
        }),
        "{ev:?}"
    );
    // A packet that does not decode is typed too, and counted on its VRID's instance.
    let (meta, mut bytes) = wire(&advert(1, 200), PEER);
    bytes[6] ^= 0xff;
    node.handle_packet(t(20), 2, &meta, &bytes);
    let ev = events(&mut node);
    assert!(
        matches!(
            ev.as_slice(),
            [NodeEvent::Discarded {
                reason: Discard::Malformed(_),
                ..
            }]
        ),
        "{ev:?}"
    );
    let c = node.instance(ids[0]).expect("A").counters();
    assert_eq!((c.address_list_errors, c.checksum_errors), (1, 1));
}

#[test]
fn unicast_instances_transmit_to_each_peer() {
    let mut s = spec("A", 1, 2, 255);
    let peers = [Ipv4Addr::new(10, 0, 0, 30), Ipv4Addr::new(10, 0, 0, 31)];
    s.unicast_peers = peers.iter().map(|p| IpAddr::V4(*p)).collect();
    let mut node = Node::new();
    let id = node.add(s);
    node.set_links([("eth2", true)]);
    node.start(t(0));
    let out = outputs(&mut node);
    assert_eq!(state(&node, id), State::Master);
    let dsts: Vec<IpAddr> = out
        .iter()
        .filter_map(|o| match o {
            NodeOutput::Transmit { dst, .. } => Some(*dst),
            _ => None,
        })
        .collect();
    assert_eq!(dsts, vec![IpAddr::V4(peers[0]), IpAddr::V4(peers[1])]);
    assert!(out.contains(&NodeOutput::Addresses(id, AddressAction::Add)));
}

#[test]
fn multicast_adverts_go_to_the_configured_group() {
    let group = Ipv4Addr::new(224, 0, 0, 19);
    let mut node = Node::new();
    node.set_multicast_groups(group, "ff02::13".parse().expect("addr"));
    let id = node.add(spec("A", 1, 2, 255));
    node.set_links([("eth2", true)]);
    node.start(t(0));
    let out = outputs(&mut node);
    assert_eq!(state(&node, id), State::Master);
    let sent: Vec<(IpAddr, Vec<u8>)> = out
        .iter()
        .filter_map(|o| match o {
            NodeOutput::Transmit { dst, bytes, .. } => Some((*dst, bytes.clone())),
            _ => None,
        })
        .collect();
    assert!(!sent.is_empty());
    for (dst, bytes) in sent {
        assert_eq!(dst, IpAddr::V4(group));
        // The VRRPv3 checksum covers the pseudo-header, destination included.
        let meta = IpMeta {
            src: IpAddr::V4(LOCAL),
            dst,
            ttl: 255,
        };
        let decoded =
            packet::decode(&bytes, &meta).expect("decodes with the group in the pseudo-header");
        assert_eq!(decoded.checksum_form, Some(ChecksumForm::PseudoHeader));
    }
}

#[test]
fn tracker_weights_set_the_priority_and_unweighted_ones_hold_the_start() {
    let key = TrackerKey::new(TrackerKind::Script, "chk");
    let gate = TrackerKey::new(TrackerKind::File, "gate");
    let mut s = spec("A", 1, 2, 150);
    s.trackers = vec![
        TrackerWeight {
            key: key.clone(),
            weight: -60,
            reverse: false,
        },
        TrackerWeight {
            key: gate.clone(),
            weight: 0,
            reverse: false,
        },
    ];
    let mut node = Node::new();
    let id = node.add(s);
    node.set_links([("eth2", true)]);
    node.start(t(0));
    assert!(events(&mut node).contains(&NodeEvent::WaitingForTrackers { id }));
    assert_eq!(state(&node, id), State::Initialize);
    node.set_tracker(t(5), &gate, TrackState::Value(0));
    outputs(&mut node);
    assert_eq!(state(&node, id), State::Backup);
    node.set_tracker(t(10), &key, TrackState::Down);
    outputs(&mut node);
    assert_eq!(node.instance(id).expect("A").effective_priority(), 90);
    node.set_tracker(t(20), &key, TrackState::Up);
    outputs(&mut node);
    assert_eq!(node.instance(id).expect("A").effective_priority(), 150);
    // A file value that is not 0 with weight 0: Fault.
    node.set_tracker(t(30), &gate, TrackState::Value(3));
    outputs(&mut node);
    assert_eq!(state(&node, id), State::Fault);
}

#[test]
fn the_operator_sets_priorities_except_the_owners() {
    let (mut node, ids) = running(vec![spec("A", 1, 2, 100), spec("O", 2, 2, 255)]);
    assert_eq!(node.set_operator_priority(ids[0], t(1), Some(42)), Ok(()));
    outputs(&mut node);
    assert_eq!(node.instance(ids[0]).expect("A").effective_priority(), 42);
    assert_eq!(node.operator_priority(ids[0]), Some(42));
    assert_eq!(
        node.set_operator_priority(ids[1], t(1), Some(42)),
        Err(OperatorError::AddressOwner)
    );
    node.clear_operator_priorities(t(2));
    outputs(&mut node);
    assert_eq!(node.instance(ids[0]).expect("A").effective_priority(), 100);
}

#[test]
fn a_sync_group_goes_master_together_and_follows_a_members_fault() {
    let mut a = spec("A", 1, 2, 100);
    let mut b = spec("B", 2, 3, 100);
    a.sync_group = Some("G".into());
    b.sync_group = Some("G".into());
    let (mut node, ids) = running(vec![a, b]);
    let out = run_until(&mut node, 5_000);
    assert_eq!(state(&node, ids[0]), State::Master);
    assert_eq!(state(&node, ids[1]), State::Master);
    assert!(out.contains(&NodeOutput::Event(NodeEvent::GroupState {
        group: "G".into(),
        state: GroupState::Master
    })));
    // A's interface goes down: A in Fault, B follows; the group is in Fault.
    node.set_link(t(5_100), "eth2", false);
    let ev = events(&mut node);
    assert_eq!(state(&node, ids[0]), State::Fault);
    assert_eq!(state(&node, ids[1]), State::Fault);
    assert!(ev.contains(&NodeEvent::GroupState {
        group: "G".into(),
        state: GroupState::Fault
    }));
    // Back up: both Backup, then Master together again.
    node.set_link(t(6_000), "eth2", true);
    outputs(&mut node);
    run_until(&mut node, 12_000);
    assert_eq!(state(&node, ids[0]), State::Master);
    assert_eq!(state(&node, ids[1]), State::Master);
    assert_eq!(node.group_state("G"), Some(GroupState::Master));
}

#[test]
fn removing_a_master_sends_priority_zero_and_releases_its_addresses() {
    let (mut node, ids) = running(vec![spec("A", 1, 2, 255)]);
    assert_eq!(state(&node, ids[0]), State::Master);
    let removed = node.remove(ids[0], t(10));
    assert!(removed.is_some());
    let out = outputs(&mut node);
    assert!(out.contains(&NodeOutput::Addresses(ids[0], AddressAction::Remove)));
    let zero = out.iter().any(|o| match o {
        NodeOutput::Transmit { bytes, .. } => bytes.get(2) == Some(&0),
        _ => false,
    });
    assert!(zero, "{out:?}");
    assert!(node.instance(ids[0]).is_none());
    assert!(node.poll_timeout().is_none());
}

#[test]
fn on_shutdown_every_priority_zero_leaves_before_any_bookkeeping() {
    let (mut node, ids) = running((1..=3).map(|v| spec("M", v, 2, 255)).collect());
    assert!(ids.iter().all(|&id| state(&node, id) == State::Master));
    node.shutdown(t(10));
    let out = outputs(&mut node);
    let sends = out
        .iter()
        .take_while(|o| matches!(o, NodeOutput::Transmit { .. }))
        .count();
    assert_eq!(sends, 3, "{out:?}");
    assert!(
        out[sends..]
            .iter()
            .all(|o| !matches!(o, NodeOutput::Transmit { .. }))
    );
}

/// An instance in maintenance (or held by its sync group) that outranks the Master keeps
/// naming it: the Master's advertisements do not reset its Master_Down_Timer (it would
/// preempt), but the timer running out while the Master is heard is no silence. Found by
/// the simulator (property g, seed 9000027 of `m_maintenance_hands_over_and_never_masters`):
/// the view went "master unknown" and back every Master_Down_Interval.
#[test]
fn a_held_backup_keeps_naming_a_master_it_hears() {
    let (mut node, ids) = running(vec![spec("A", 1, 2, 200)]);
    node.set_maintenance(ids[0], t(0), true)
        .expect("maintenance");
    outputs(&mut node);
    let mut views = Vec::new();
    for k in 0..15u64 {
        let at = 100 + 1000 * k;
        let mut out = run_until(&mut node, at);
        let (meta, bytes) = wire(&advert(1, 100), PEER);
        node.handle_packet(t(at), 2, &meta, &bytes);
        out.extend(outputs(&mut node));
        views.extend(out.into_iter().filter_map(|o| match o {
            NodeOutput::Event(NodeEvent::MasterChanged { master, .. }) => {
                Some(master.map(|m| m.address))
            }
            _ => None,
        }));
    }
    assert_eq!(views, vec![Some(IpAddr::V4(PEER))], "{views:?}");
    assert_eq!(state(&node, ids[0]), State::Backup);
    // Once the Master falls silent the view does go.
    let out = run_until(&mut node, 30_000);
    assert!(
        out.iter().any(|o| matches!(
            o,
            NodeOutput::Event(NodeEvent::MasterChanged { master: None, .. })
        )),
        "{out:?}"
    );
}

/// `check_unicast_src` of one instance applies without the node-wide switch.
#[test]
fn unicast_sources_are_checked_per_instance() {
    let mut s = spec("A", 1, 2, 100);
    s.unicast_peers = vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 30))];
    s.check_unicast_src = true;
    let (mut node, ids) = running(vec![s]);
    let (meta, bytes) = wire(&advert(1, 200), PEER);
    node.handle_packet(t(10), 2, &meta, &bytes);
    assert_eq!(
        events(&mut node),
        vec![NodeEvent::Discarded {
            id: ids[0],
            src: IpAddr::V4(PEER),
            reason: Discard::NotUnicastPeer
        }]
    );
    let c = node.instance(ids[0]).expect("A").counters();
    assert_eq!((c.unicast_src_errors, c.rcvd_advertisements), (1, 0));
}

/// A unicast instance with `unicast_ttl 10` accepts a routed advertisement (TTL 64) and
/// sends with TTL 10; with 255, or without unicast peers, the TTL must be 255 (RFC 5798
/// §7.1) and multicast adverts keep 255.
#[test]
fn unicast_ttl_relaxes_the_ttl_check_of_unicast_instances_only() {
    let ttl64 = |node: &mut Node| {
        let (mut meta, bytes) = wire(&advert(1, 200), PEER);
        meta.ttl = 64;
        node.handle_packet(t(10), 2, &meta, &bytes);
        events(node)
    };
    let unicast = |ttl: u8| {
        let mut s = spec("A", 1, 2, 100);
        s.unicast_peers = vec![IpAddr::V4(PEER)];
        s.unicast_ttl = ttl;
        s
    };
    let (mut node, ids) = running(vec![unicast(10)]);
    ttl64(&mut node);
    let c = node.instance(ids[0]).expect("A").counters();
    assert_eq!((c.rcvd_advertisements, c.ip_ttl_errors), (1, 0));

    for s in [unicast(255), {
        let mut s = spec("A", 1, 2, 100);
        s.unicast_ttl = 10;
        s
    }] {
        let (mut node, ids) = running(vec![s]);
        let ev = ttl64(&mut node);
        assert!(
            ev.iter().any(|e| matches!(
                e,
                NodeEvent::Discarded {
                    reason: Discard::Malformed(packet::DecodeError::TtlNot255 { ttl: 64 }),
                    ..
                }
            )),
            "{ev:?}"
        );
        let c = node.instance(ids[0]).expect("A").counters();
        assert_eq!((c.rcvd_advertisements, c.ip_ttl_errors), (0, 1));
    }
}

/// Unicast advertisements carry `unicast_ttl`; multicast ones 255 whatever it says.
#[test]
fn unicast_ttl_is_the_ttl_of_unicast_transmissions() {
    let ttls = |peers: Vec<IpAddr>| {
        let mut s = spec("A", 1, 2, 100);
        s.unicast_peers = peers;
        s.unicast_ttl = 10;
        let (mut node, _) = running(vec![s]);
        let ttls: Vec<u8> = run_until(&mut node, 5_000)
            .iter()
            .filter_map(|o| match o {
                NodeOutput::Transmit { ttl, .. } => Some(*ttl),
                _ => None,
            })
            .collect();
        assert!(!ttls.is_empty());
        ttls
    };
    assert!(ttls(vec![IpAddr::V4(PEER)]).iter().all(|&t| t == 10));
    assert!(ttls(Vec::new()).iter().all(|&t| t == 255));
}

/// A weight that changes the effective priority is an event with the state then (for
/// keepalived's `notify_priority_changes`); an operator priority too; no change, no event.
#[test]
fn priority_changes_are_events() {
    let key = TrackerKey::new(TrackerKind::Script, "chk");
    let mut s = spec("A", 1, 2, 150);
    s.trackers = vec![TrackerWeight {
        key: key.clone(),
        weight: -60,
        reverse: false,
    }];
    let mut node = Node::new();
    let id = node.add(s);
    node.set_links([("eth2", true)]);
    node.start(t(0));
    node.set_tracker(t(5), &key, TrackState::Up);
    outputs(&mut node);
    let changed = |node: &mut Node| -> Vec<(u8, State)> {
        events(node)
            .into_iter()
            .filter_map(|e| match e {
                NodeEvent::PriorityChanged {
                    priority, state, ..
                } => Some((priority, state)),
                _ => None,
            })
            .collect()
    };
    node.set_tracker(t(10), &key, TrackState::Down);
    assert_eq!(changed(&mut node), vec![(90, State::Backup)]);
    node.set_tracker(t(20), &key, TrackState::Down);
    assert_eq!(changed(&mut node), vec![]);
    assert_eq!(node.set_operator_priority(id, t(30), Some(42)), Ok(()));
    assert_eq!(changed(&mut node), vec![(42, State::Backup)]);
}

/// keepalived's `track_src_ip`: Fault while the source address is on no interface; the
/// same address on another interface keeps it; without the option nothing changes.
#[test]
fn track_src_faults_while_the_source_address_is_gone() {
    let local = IpAddr::V4(LOCAL);
    let mut s = spec("A", 1, 2, 100);
    s.track_src = true;
    let mut node = Node::new();
    let id = node.add(s);
    let plain = node.add(spec("B", 2, 2, 100));
    node.set_links([("eth2", true)]);
    node.set_addresses([(2, local), (3, local)]);
    node.start(t(0));
    outputs(&mut node);
    assert_eq!(state(&node, id), State::Backup);
    node.set_address(t(10), 2, local, false);
    assert!(events(&mut node).is_empty(), "still on eth3");
    node.set_address(t(20), 3, local, false);
    assert!(events(&mut node).contains(&NodeEvent::SourceAddress {
        id,
        address: local,
        present: false
    }));
    assert_eq!(state(&node, id), State::Fault);
    assert_eq!(state(&node, plain), State::Backup);
    node.set_address(t(30), 2, local, true);
    outputs(&mut node);
    assert_eq!(state(&node, id), State::Backup);
    // Reported again (the kernel does when flags change): still one interface holds it.
    node.set_address(t(40), 2, local, true);
    node.set_address(t(50), 2, local, false);
    assert!(events(&mut node).contains(&NodeEvent::SourceAddress {
        id,
        address: local,
        present: false
    }));
    assert_eq!(state(&node, id), State::Fault);
}

/// keepalived's `old_unicast_checksum`: unicast VRRPv3/IPv4 adverts checksum the group as
/// pseudo-header destination (keepalived before 1.3.6), and such adverts are accepted;
/// without it they are malformed.
#[test]
fn old_unicast_checksum_uses_the_group_in_the_pseudo_header() {
    let peer = IpAddr::V4(PEER);
    let unicast = |old: bool| {
        let mut s = spec("A", 1, 2, 100);
        s.unicast_peers = vec![peer];
        s.old_unicast_checksum = old;
        s
    };
    // Sent: the checksum only verifies against the group.
    let (mut node, _) = running(vec![unicast(true)]);
    let sent: Vec<(IpAddr, Vec<u8>)> = run_until(&mut node, 5_000)
        .into_iter()
        .filter_map(|o| match o {
            NodeOutput::Transmit { dst, bytes, .. } => Some((dst, bytes)),
            _ => None,
        })
        .collect();
    assert!(!sent.is_empty());
    let local = IpAddr::V4(LOCAL);
    let group = IpAddr::V4(MULTICAST_V4);
    for (dst, bytes) in &sent {
        assert_eq!(*dst, peer);
        let meta = |dst| IpMeta {
            src: local,
            dst,
            ttl: 255,
        };
        assert!(packet::decode(bytes, &meta(group)).is_ok());
        assert!(packet::decode(bytes, &meta(peer)).is_err());
    }
    // Received from an old peer: its checksum names the group, the packet our address.
    let bytes =
        packet::encode(&advert(1, 200), peer, group, ChecksumForm::PseudoHeader).expect("encode");
    let meta = IpMeta {
        src: peer,
        dst: local,
        ttl: 255,
    };
    for (old, accepted) in [(true, 1), (false, 0)] {
        let (mut node, ids) = running(vec![unicast(old)]);
        node.handle_packet(t(10), 2, &meta, &bytes);
        let c = node.instance(ids[0]).expect("A").counters();
        assert_eq!(
            c.rcvd_advertisements, accepted,
            "old_unicast_checksum {old}"
        );
    }
}

/// An advertisement sent to this host's address, not to the group, is refused by a
/// multicast instance (the Master never hears it, so it cannot answer a forged priority 0).
#[test]
fn multicast_instances_take_only_what_was_sent_to_the_group() {
    let (mut node, ids) = running(vec![spec("A", 1, 2, 100)]);
    let (mut meta, _) = wire(&advert(1, 0), PEER);
    meta.dst = IpAddr::V4(LOCAL);
    let bytes = packet::encode(
        &advert(1, 0),
        meta.src,
        meta.dst,
        ChecksumForm::PseudoHeader,
    )
    .expect("encode");
    node.handle_packet(t(10), 2, &meta, &bytes);
    assert_eq!(
        events(&mut node),
        vec![NodeEvent::Discarded {
            id: ids[0],
            src: IpAddr::V4(PEER),
            reason: Discard::NotToTheGroup { dst: meta.dst }
        }]
    );
    let c = node.instance(ids[0]).expect("A").counters();
    assert_eq!((c.address_list_errors, c.rcvd_pri_zero_packets), (1, 0));
}

fn restores(out: &[NodeOutput]) -> Vec<(InstanceId, u32, IpAddr)> {
    out.iter()
        .filter_map(|o| match o {
            NodeOutput::Addresses(id, AddressAction::Restore { ifindex, address }) => {
                Some((*id, *ifindex, *address))
            }
            _ => None,
        })
        .collect()
}

/// A VIP removed from under a Master is put back on its interface and counted; the same
/// address removed elsewhere, or a VIP added or removed while Backup, is left alone.
#[test]
fn a_vip_removed_from_a_master_is_restored_and_counted() {
    let vip = IpAddr::V4(VIP);
    let (mut node, ids) = running(vec![spec("A", 1, 2, 100), spec("B", 2, 3, 100)]);
    let (master, backup) = (ids[0], ids[1]);
    node.set_vips(master, vec![(2, vip)]);
    node.set_vips(backup, vec![(3, vip)]);
    // A alone on eth2 becomes Master; B then hears a better Master on eth3: Backup.
    run_until(&mut node, 3_990);
    let (meta, bytes) = wire(&advert(2, 200), PEER);
    node.handle_packet(t(3_990), 3, &meta, &bytes);
    run_until(&mut node, 4_000);
    assert_eq!(state(&node, master), State::Master);
    assert_eq!(state(&node, backup), State::Backup);
    node.set_address(t(4_000), 2, vip, true);
    node.set_address(t(4_001), 3, vip, true);
    assert!(restores(&outputs(&mut node)).is_empty());
    node.set_address(t(4_010), 5, vip, false);
    assert!(
        restores(&outputs(&mut node)).is_empty(),
        "not its interface"
    );
    node.set_address(t(4_020), 3, vip, false);
    assert!(restores(&outputs(&mut node)).is_empty(), "B is Backup");
    node.set_address(t(4_030), 2, vip, false);
    assert_eq!(restores(&outputs(&mut node)), vec![(master, 2, vip)]);
    assert_eq!(node.instance(master).expect("A").counters().vip_restores, 1);
    assert_eq!(node.instance(backup).expect("B").counters().vip_restores, 0);
}

/// After lost notifications, a resync applies the differences (a link gone down, addresses
/// come and gone) and puts back every VIP a Master lacks, even one whose addition was
/// never seen.
#[test]
fn a_resync_applies_the_differences_and_restores_missing_vips() {
    let vip = IpAddr::V4(VIP);
    let other = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7));
    let mut s = spec("A", 1, 2, 100);
    s.tracked_interfaces.push(TrackedInterface {
        name: "eth9".into(),
        weight: -10,
        reverse: false,
    });
    let (mut node, ids) = running(vec![s]);
    let id = ids[0];
    node.set_vips(id, vec![(2, vip)]);
    node.set_links([("eth9", true)]);
    run_until(&mut node, 4_000);
    assert_eq!(state(&node, id), State::Master);
    node.set_address(t(4_000), 2, other, true);
    outputs(&mut node);
    // The kernel now: eth9 down, `other` gone, the VIP never added, a new address on eth3.
    let now: std::collections::HashSet<(u32, IpAddr)> =
        [(2, IpAddr::V4(LOCAL)), (3, IpAddr::V4(PEER))].into();
    let found = node.resync(
        t(4_100),
        [("eth2", true), ("eth3", true), ("eth9", false)],
        &now,
    );
    assert_eq!(found.links, 1);
    assert_eq!(found.addresses, 3, "other gone, LOCAL and PEER new");
    assert_eq!(found.restores, 1);
    assert_eq!(restores(&outputs(&mut node)), vec![(id, 2, vip)]);
    assert_eq!(node.instance(id).expect("A").effective_priority(), 90);
    // Nothing changed since: a second resync finds nothing but the still missing VIP.
    let again = node.resync(
        t(4_200),
        [("eth2", true), ("eth3", true), ("eth9", false)],
        &now,
    );
    assert_eq!((again.links, again.addresses), (0, 0));
}

/// The daemon readies its address path before a deadline that can make a member Master:
/// a Backup's Master_Down_Timer, not a Master's advertisement timer nor a Backup held in
/// maintenance.
#[test]
fn only_a_backups_down_timer_may_take_over() {
    let (mut node, ids) = running(vec![spec("A", 1, 2, 100)]);
    assert_eq!(state(&node, ids[0]), State::Backup);
    assert!(node.next_deadline_may_take_over());
    node.set_maintenance(ids[0], t(0), true)
        .expect("maintenance");
    outputs(&mut node);
    assert!(!node.next_deadline_may_take_over());
    node.set_maintenance(ids[0], t(0), false)
        .expect("maintenance off");
    outputs(&mut node);
    assert!(node.next_deadline_may_take_over());
    run_until(&mut node, 5_000);
    assert_eq!(state(&node, ids[0]), State::Master);
    assert!(!node.next_deadline_may_take_over());
}
