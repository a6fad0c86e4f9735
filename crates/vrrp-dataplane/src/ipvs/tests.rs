//! Encodings checked byte by byte against include/uapi/linux/ip_vs.h (derived by hand:
//! attribute header = length u16 + type u16, host order; values padded to 4 bytes), and
//! decoding of dumps, malformed ones included.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use netlink_packet_core::{Emitable, ParseableParametrized};
use netlink_packet_generic::GenlHeader;
use vrrp_lb::dataplane::{Destination, Service};
use vrrp_lb::spec::{
    Forwarding, IpFamily, Persistence, Protocol, RealServerKey, Scheduler, SchedulerFlags,
    ServiceAddr, Tunnel, TunnelChecksum,
};

use super::dest::VsDest;
use super::message::{Cmd, CmdAttr, IpvsMessage};
use super::model::{VsKey, VsSettings, netmask};
use super::{SyncDaemon, SyncRole, daemon};

fn encode(m: &IpvsMessage) -> Vec<u8> {
    let mut buf = vec![0u8; m.buffer_len()];
    m.emit(&mut buf);
    buf
}

/// An attribute header: length (header included, padding not) and type.
fn nla(len: u16, kind: u16) -> Vec<u8> {
    [len.to_ne_bytes(), kind.to_ne_bytes()].concat()
}

fn parse(cmd: Cmd, bytes: &[u8]) -> Result<IpvsMessage, netlink_packet_core::DecodeError> {
    IpvsMessage::parse_with_param(
        bytes,
        GenlHeader {
            cmd: cmd as u8,
            version: 1,
        },
    )
}

fn web_service() -> Service {
    Service {
        addrs: vec![ServiceAddr::Socket(SocketAddr::new(
            Ipv4Addr::new(10, 99, 0, 1).into(),
            80,
        ))],
        scheduler: Scheduler::Wrr,
        flags: SchedulerFlags::default(),
        persistence: Some(Persistence {
            timeout: Duration::from_secs(300),
            granularity: Some(24),
        }),
        destinations: Default::default(),
    }
}

#[test]
fn new_service_tcp_v4_persistent() {
    let key = VsKey::addr(Protocol::Tcp, Ipv4Addr::new(10, 99, 0, 1).into(), 80);
    let settings = VsSettings::of(&web_service(), IpFamily::V4);
    let msg = IpvsMessage::new(
        Cmd::NewService,
        vec![CmdAttr::Service(settings.attrs(&key))],
    );
    let mut want = nla(84, 1); // IPVS_CMD_ATTR_SERVICE, nested
    want.extend(nla(6, 1)); // IPVS_SVC_ATTR_AF
    want.extend([2u16.to_ne_bytes().as_slice(), &[0, 0]].concat()); // AF_INET, padded
    want.extend(nla(6, 2)); // PROTOCOL: IPPROTO_TCP
    want.extend([6u16.to_ne_bytes().as_slice(), &[0, 0]].concat());
    want.extend(nla(20, 3)); // ADDR: union nf_inet_addr
    want.extend([10, 99, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    want.extend(nla(6, 4)); // PORT, network order
    want.extend([0, 80, 0, 0]);
    want.extend(nla(8, 6)); // SCHED_NAME "wrr\0"
    want.extend(b"wrr\0");
    want.extend(nla(12, 7)); // FLAGS: struct ip_vs_flags {PERSISTENT, ~0}
    want.extend(1u32.to_ne_bytes());
    want.extend(u32::MAX.to_ne_bytes());
    want.extend(nla(8, 8)); // TIMEOUT 300 s
    want.extend(300u32.to_ne_bytes());
    want.extend(nla(8, 9)); // NETMASK 255.255.255.0, network order
    want.extend([255, 255, 255, 0]);
    assert_eq!(encode(&msg), want);
    // And back.
    let back = parse(Cmd::NewService, &want).unwrap();
    let attrs = back.service().unwrap();
    assert_eq!(VsKey::from_attrs(attrs), Some(key));
    assert_eq!(VsSettings::from_attrs(attrs), Some(settings));
}

#[test]
fn fwmark_v6_service_and_flags() {
    let key = VsKey::fwmark(7, IpFamily::V6);
    let mut service = web_service();
    service.scheduler = Scheduler::Mh;
    service.flags = SchedulerFlags {
        flag1: true,
        flag2: true,
        flag3: false,
        one_packet: true,
    };
    service.persistence = None;
    let s = VsSettings::of(&service, IpFamily::V6);
    assert_eq!(s.flags, 0x0008 | 0x0010 | 0x0004);
    assert_eq!(s.netmask, 128u32.to_ne_bytes());
    let msg = IpvsMessage::new(Cmd::DelService, vec![CmdAttr::Service(key.attrs())]);
    let mut want = nla(20, 1);
    want.extend(nla(6, 1));
    want.extend([10u16.to_ne_bytes().as_slice(), &[0, 0]].concat()); // AF_INET6
    want.extend(nla(8, 5)); // FWMARK
    want.extend(7u32.to_ne_bytes());
    assert_eq!(encode(&msg), want);
    assert_eq!(key.to_string(), "FWM 7 IPv6");
}

#[test]
fn netmasks() {
    assert_eq!(netmask(IpFamily::V4, None), [255; 4]);
    assert_eq!(netmask(IpFamily::V4, Some(16)), [255, 255, 0, 0]);
    assert_eq!(netmask(IpFamily::V4, Some(0)), [0; 4]);
    assert_eq!(netmask(IpFamily::V6, Some(64)), 64u32.to_ne_bytes());
}

#[test]
fn new_dest_gue_tunnel() {
    let key = VsKey::addr(Protocol::Udp, Ipv6Addr::LOCALHOST.into(), 53);
    let d = VsDest::of(&Destination {
        key: RealServerKey {
            addr: Ipv4Addr::new(10, 99, 1, 2).into(),
            port: 5353,
        },
        weight: 3,
        forwarding: Forwarding::Tun {
            tunnel: Tunnel::Gue { port: 6080 },
            checksum: TunnelChecksum::Remcsum,
        },
        upper_threshold: 100,
        lower_threshold: 10,
    });
    let msg = IpvsMessage::new(Cmd::NewDest, vec![CmdAttr::Dest(d.attrs())]);
    let mut want = nla(96, 2); // IPVS_CMD_ATTR_DEST
    want.extend(nla(20, 1)); // ADDR
    want.extend([10, 99, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    want.extend(nla(6, 2)); // PORT 5353, network order
    want.extend([0x14, 0xe9, 0, 0]);
    want.extend(nla(6, 11)); // ADDR_FAMILY AF_INET
    want.extend([2u16.to_ne_bytes().as_slice(), &[0, 0]].concat());
    want.extend(nla(8, 3)); // FWD_METHOD IP_VS_CONN_F_TUNNEL
    want.extend(2u32.to_ne_bytes());
    want.extend(nla(8, 4)); // WEIGHT
    want.extend(3u32.to_ne_bytes());
    want.extend(nla(8, 5)); // U_THRESH
    want.extend(100u32.to_ne_bytes());
    want.extend(nla(8, 6)); // L_THRESH
    want.extend(10u32.to_ne_bytes());
    want.extend(nla(5, 13)); // TUN_TYPE GUE
    want.extend([1, 0, 0, 0]);
    want.extend(nla(6, 14)); // TUN_PORT 6080, network order
    want.extend([0x17, 0xc0, 0, 0]);
    want.extend(nla(6, 15)); // TUN_FLAGS REMCSUM
    want.extend([2u16.to_ne_bytes().as_slice(), &[0, 0]].concat());
    assert_eq!(encode(&msg), want);
    let back = parse(Cmd::NewDest, &want).unwrap();
    // An IPv4 destination of an IPv6 service (tunnelling): its own family decides.
    assert_eq!(VsDest::from_attrs(back.dest().unwrap(), 10), Some(d));
    let _ = key;
}

#[test]
fn daemon_master() {
    let d = SyncDaemon {
        interface: "eth1".into(),
        sync_id: 9,
        max_len: Some(1472),
        port: Some(8848),
        ttl: Some(2),
        group: Some(IpAddr::V4(Ipv4Addr::new(224, 0, 0, 81))),
    };
    let msg = daemon::start(SyncRole::Master, &d);
    let mut want = nla(64, 3); // IPVS_CMD_ATTR_DAEMON
    want.extend(nla(8, 1)); // STATE master
    want.extend(1u32.to_ne_bytes());
    want.extend(nla(9, 2)); // MCAST_IFN "eth1\0", padded
    want.extend(b"eth1\0\0\0\0");
    want.extend(nla(8, 3)); // SYNC_ID
    want.extend(9u32.to_ne_bytes());
    want.extend(nla(6, 4)); // SYNC_MAXLEN
    want.extend([1472u16.to_ne_bytes().as_slice(), &[0, 0]].concat());
    want.extend(nla(8, 5)); // MCAST_GROUP, network order
    want.extend([224, 0, 0, 81]);
    want.extend(nla(6, 7)); // MCAST_PORT, host order
    want.extend([8848u16.to_ne_bytes().as_slice(), &[0, 0]].concat());
    want.extend(nla(5, 8)); // MCAST_TTL
    want.extend([2, 0, 0, 0]);
    assert_eq!(encode(&msg), want);
    assert_eq!(
        parse(Cmd::NewDaemon, &want)
            .unwrap()
            .daemon()
            .unwrap()
            .len(),
        7
    );
    let stop = daemon::stop(daemon::BACKUP);
    let mut want = nla(12, 3);
    want.extend(nla(8, 1));
    want.extend(2u32.to_ne_bytes());
    assert_eq!(encode(&stop), want);
}

/// A destination as the kernel dumps it: with counters, 32-bit and 64-bit.
fn dumped_dest() -> Vec<u8> {
    let mut inner = nla(20, 1);
    inner.extend([10, 99, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    inner.extend(nla(6, 2));
    inner.extend([0, 80, 0, 0]);
    inner.extend(nla(8, 3));
    inner.extend(3u32.to_ne_bytes()); // DROUTE
    inner.extend(nla(8, 4));
    inner.extend(5u32.to_ne_bytes());
    let mut stats = nla(8, 1);
    stats.extend(7u32.to_ne_bytes()); // 32-bit conns
    let mut stats64 = Vec::new();
    for (kind, v) in [
        (1u16, 9u64),
        (2, 100),
        (3, 50),
        (4, 10_000),
        (5, 5_000),
        (6, 1),
    ] {
        stats64.extend(nla(12, kind));
        stats64.extend(v.to_ne_bytes());
    }
    inner.extend(nla(4 + stats.len() as u16, 10));
    inner.extend(stats);
    inner.extend(nla(4 + stats64.len() as u16, 12));
    inner.extend(stats64);
    let mut out = nla(4 + inner.len() as u16, 2);
    out.extend(inner);
    out
}

#[test]
fn parses_a_dumped_destination() {
    let m = parse(Cmd::NewDest, &dumped_dest()).unwrap();
    let attrs = m.dest().unwrap();
    let d = VsDest::from_attrs(attrs, 2).unwrap();
    assert_eq!(d.addr, IpAddr::V4(Ipv4Addr::new(10, 99, 1, 2)));
    assert_eq!((d.port, d.fwd, d.weight), (80, 3, 5));
    let c = super::dest::dest_counters(attrs);
    assert_eq!((c.connections, c.packets, c.bytes), (9, 150, 15_000));
}

#[test]
fn malformed_dumps_are_errors() {
    let good = dumped_dest();
    // Every truncation: an error or a shorter message, never a panic.
    for len in 0..good.len() {
        let _ = parse(Cmd::NewDest, &good[..len]);
    }
    // An attribute longer than its buffer.
    let mut bad = good.clone();
    bad[0..2].copy_from_slice(&500u16.to_ne_bytes());
    assert!(parse(Cmd::NewDest, &bad).is_err());
    // A length below the header's.
    let mut bad = good.clone();
    bad[4..6].copy_from_slice(&2u16.to_ne_bytes());
    assert!(parse(Cmd::NewDest, &bad).is_err());
    // A port of 3 bytes.
    let mut bad = nla(7, 2);
    bad.extend([0, 80, 0, 0]);
    let mut outer = nla(12, 2);
    outer.extend(bad);
    assert!(parse(Cmd::NewDest, &outer).is_err());
    // An address of 2 bytes.
    let mut bad = nla(6, 1);
    bad.extend([10, 99, 0, 0]);
    let mut outer = nla(12, 2);
    outer.extend(bad);
    assert!(parse(Cmd::NewDest, &outer).is_err());
    // An unknown command.
    assert!(
        IpvsMessage::parse_with_param(
            &good,
            GenlHeader {
                cmd: 99,
                version: 1
            }
        )
        .is_err()
    );
    // A service without its key is skipped, not a panic.
    assert_eq!(VsKey::from_attrs(&[]), None);
}

#[test]
fn fuzzed_bytes_never_panic() {
    // A cheap deterministic generator (xorshift) over mutations of a valid dump.
    let good = dumped_dest();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut b = good.clone();
        let at = (x as usize) % b.len();
        b[at] = (x >> 32) as u8;
        if let Ok(m) = parse(Cmd::NewDest, &b)
            && let Some(d) = m.dest()
        {
            let _ = VsDest::from_attrs(d, 2);
            let _ = super::dest::dest_counters(d);
        }
    }
}

#[test]
fn ipvs_available_says_why_not() {
    match super::ipvs_available() {
        Err(e) => assert!(
            e.contains("generic netlink family IPVS not found")
                || e.contains("Operation not permitted"),
            "{e}"
        ),
        // A kernel with IPVS (the VM, or a host that has it).
        Ok(()) => assert!(std::path::Path::new("/proc/net/ip_vs").exists()),
    }
}

fn dest(last: u8, weight: u32) -> Destination {
    Destination {
        key: RealServerKey {
            addr: Ipv4Addr::new(10, 99, 1, last).into(),
            port: 80,
        },
        weight,
        forwarding: Forwarding::Nat,
        upper_threshold: 0,
        lower_threshold: 0,
    }
}

mod plans {
    use std::collections::BTreeMap;

    use vrrp_lb::dataplane::{DesiredState, diff};
    use vrrp_lb::spec::{ServiceId, ServiceKey};

    use super::super::plan::{Existing, Op, steps};
    use super::*;

    fn state(dests: &[(u8, u32)]) -> (ServiceId, DesiredState) {
        let id = ServiceId {
            key: ServiceKey::Group("web".into()),
            protocol: Protocol::Tcp,
        };
        let mut service = web_service();
        service.addrs.push(ServiceAddr::Range {
            first: Ipv4Addr::new(10, 99, 0, 10).into(),
            last: Ipv4Addr::new(10, 99, 0, 11).into(),
            port: 80,
        });
        for (last, w) in dests {
            let d = dest(*last, *w);
            service.destinations.insert(d.key, d);
        }
        let mut s = DesiredState::default();
        s.services.insert(id.clone(), service);
        (id, s)
    }

    #[test]
    fn a_group_is_one_ipvs_service_per_address() {
        let (_, to) = state(&[(2, 1)]);
        let from = DesiredState::default();
        let s = steps(&from, &to, &diff(&from, &to), &BTreeMap::new()).unwrap();
        let news = s
            .iter()
            .filter(|s| matches!(s.op, Op::NewService(..)))
            .count();
        let dests = s.iter().filter(|s| matches!(s.op, Op::NewDest(..))).count();
        assert_eq!((news, dests), (3, 3));
        // Each is undone by its inverse.
        for step in &s {
            match (&step.op, step.undo.as_slice()) {
                (Op::NewService(k, _), [Op::DelService(u)]) => assert_eq!(k, u),
                (Op::NewDest(k, d), [Op::DelDest(u, e)]) => assert_eq!((k, d), (u, e)),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn a_weight_change_is_one_set_dest_per_ipvs_service() {
        let (_, from) = state(&[(2, 1), (3, 1)]);
        let (_, to) = state(&[(2, 1), (3, 5)]);
        let s = steps(&from, &to, &diff(&from, &to), &BTreeMap::new()).unwrap();
        assert_eq!(s.len(), 3);
        for step in &s {
            let (Op::SetDest(_, new), [Op::SetDest(_, old)]) = (&step.op, step.undo.as_slice())
            else {
                panic!("{step:?}")
            };
            assert_eq!((new.weight, old.weight), (5, 1));
        }
    }

    #[test]
    fn an_existing_service_is_adopted() {
        let (_, to) = state(&[(2, 4)]);
        let from = DesiredState::default();
        let key = VsKey::addr(Protocol::Tcp, Ipv4Addr::new(10, 99, 0, 1).into(), 80);
        let old_settings = VsSettings {
            scheduler: "rr".into(),
            flags: 0,
            timeout: 0,
            netmask: [255; 4],
        };
        let (kept, stray) = (VsDest::of(&dest(2, 1)), VsDest::of(&dest(9, 1)));
        let existing = BTreeMap::from([(
            key,
            Existing {
                settings: old_settings.clone(),
                dests: vec![kept, stray],
            },
        )]);
        let s = steps(&from, &to, &diff(&from, &to), &existing).unwrap();
        let of_key: Vec<_> = s
            .iter()
            .filter(|s| match &s.op {
                Op::SetService(k, _) | Op::DelDest(k, _) | Op::SetDest(k, _) => *k == key,
                Op::NewService(k, _) | Op::NewDest(k, _) => *k == key,
                Op::DelService(_) => false,
            })
            .collect();
        assert!(matches!(&of_key[0].undo[..], [Op::SetService(_, o)] if *o == old_settings));
        assert!(matches!(of_key[1].op, Op::DelDest(_, d) if d == stray));
        assert!(matches!(of_key[2].op, Op::SetDest(_, d) if d.weight == 4));
        assert!(matches!(&of_key[2].undo[..], [Op::SetDest(_, d)] if *d == kept));
        assert_eq!(of_key.len(), 3);
    }

    #[test]
    fn an_address_that_changes_service_is_removed_first() {
        let (old_id, from) = state(&[(2, 1)]);
        let (_, mut to) = state(&[(2, 1)]);
        let service = to.services.remove(&old_id).unwrap();
        // Whatever the names, the old service goes before the new one comes.
        let new_id = ServiceId {
            key: ServiceKey::Group("a".into()),
            protocol: Protocol::Tcp,
        };
        to.services.insert(new_id, service);
        let s = steps(&from, &to, &diff(&from, &to), &BTreeMap::new()).unwrap();
        let first_new = s.iter().position(|s| matches!(s.op, Op::NewService(..)));
        let last_del = s.iter().rposition(|s| matches!(s.op, Op::DelService(..)));
        assert!(last_del < first_new, "{s:?}");
    }
}
