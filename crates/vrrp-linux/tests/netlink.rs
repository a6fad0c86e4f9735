//! rtnetlink operations inside a namespace (root only).

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use common::{Netns, Pair};
use futures::StreamExt;
use vrrp_core::packet::Family;
use vrrp_linux::netlink::{AddressSpec, EVENTS_RECEIVE_BUFFER, Event, Netlink, events};
use vrrp_linux::virtual_mac;

#[test]
fn add_and_delete_addresses() {
    if !common::can_run("add_and_delete_addresses") {
        return;
    }
    let pair = Pair::new("nla", 10);
    let ia = pair.a.ifindex("va");
    pair.a.block_on(|| async move {
        let nl = Netlink::new().expect("netlink");
        let link = nl.link_by_index(ia).await.expect("get").expect("va exists");
        assert_eq!(link.name, "va");
        assert!(link.mac.is_some());
        let by_name = nl.link_by_name("va").await.expect("get").expect("va");
        assert_eq!(by_name.index, ia);
        assert_eq!(nl.link_by_name("nope0").await.expect("get"), None);
        assert!(
            nl.links()
                .await
                .expect("links")
                .iter()
                .any(|l| l.name == "lo")
        );

        let v4 = IpAddr::V4(Ipv4Addr::new(10, 99, 10, 100));
        let mut spec = AddressSpec::new(v4, 24);
        spec.label = Some("va:vip".into());
        nl.add_address(ia, &spec).await.expect("add v4");
        nl.add_address(ia, &spec)
            .await
            .expect("add v4 again is fine");
        let v6 = IpAddr::V6("fd99:10::100".parse::<Ipv6Addr>().expect("addr"));
        let spec6 = AddressSpec::new(v6, 64);
        assert!(spec6.nodad);
        nl.add_address(ia, &spec6).await.expect("add v6");
        nl.add_address(ia, &spec6)
            .await
            .expect("add v6 again is fine");

        let addrs = nl.addresses(ia).await.expect("addresses");
        let vip = addrs.iter().find(|a| a.addr == v4).expect("v4 VIP listed");
        assert_eq!(vip.label.as_deref(), Some("va:vip"));
        // 10.99.10.1/24 was there first: the VIP of the same subnet is secondary.
        assert!(vip.secondary);
        assert_eq!(
            vrrp_linux::primary_ipv4(&addrs),
            Some(Ipv4Addr::new(10, 99, 10, 1))
        );
        let vip6 = addrs.iter().find(|a| a.addr == v6).expect("v6 VIP listed");
        assert!(!vip6.tentative, "nodad address must be usable at once");
        assert_eq!(vip6.prefix_len, 64);

        nl.del_address(ia, v4, 24).await.expect("del v4");
        nl.del_address(ia, v4, 24)
            .await
            .expect("del v4 again is fine");
        nl.del_address(ia, v6, 64).await.expect("del v6");
        nl.del_address(ia, v6, 64)
            .await
            .expect("del v6 again is fine");
        let addrs = nl.addresses(ia).await.expect("addresses");
        assert!(!addrs.iter().any(|a| a.addr == v4 || a.addr == v6));
    });
}

#[test]
fn macvlan_with_virtual_mac() {
    if !common::can_run("macvlan_with_virtual_mac") {
        return;
    }
    let pair = Pair::new("nlm", 11);
    let ia = pair.a.ifindex("va");
    let mac = virtual_mac(Family::Ipv4, 11);
    pair.a.block_on(|| async move {
        let nl = Netlink::new().expect("netlink");
        let idx = nl.create_macvlan(ia, "vrrp.11", mac).await.expect("create");
        let link = nl.link_by_index(idx).await.expect("get").expect("exists");
        assert_eq!(link.name, "vrrp.11");
        assert_eq!(link.mac, Some(mac));
        // Creating it again (a restart) reuses it.
        assert_eq!(
            nl.create_macvlan(ia, "vrrp.11", mac).await.expect("again"),
            idx
        );
        // Its link-local is random, not the EUI-64 of the shared virtual MAC.
        let ll = vrrp_linux::wait_link_local(&nl, idx, Duration::from_secs(10))
            .await
            .expect("link-local");
        let eui64: Ipv6Addr = "fe80::200:5eff:fe00:10b".parse().expect("addr");
        assert_ne!(ll, eui64);
        nl.delete_link(idx).await.expect("delete");
        nl.delete_link(idx).await.expect("delete again is fine");
        assert_eq!(nl.link_by_index(idx).await.expect("get"), None);
    });
    let out = pair.a.ip(&["-d", "link", "show"]);
    assert!(!out.contains("vrrp.11"));
}

#[test]
fn link_events() {
    if !common::can_run("link_events") {
        return;
    }
    let pair = Pair::new("nle", 12);
    let ia = pair.a.ifindex("va");
    pair.a.block_on(|| async move {
        let nl = Netlink::new().expect("netlink");
        let mut ev = events(EVENTS_RECEIVE_BUFFER).await.expect("events");
        let wait_link = async |ev: &mut (dyn futures::Stream<Item = Event> + Unpin), up: bool| {
            tokio::time::timeout(Duration::from_secs(5), async {
                while let Some(e) = ev.next().await {
                    if let Event::Link(l) = e
                        && l.index == ia
                        && l.up == up
                    {
                        return;
                    }
                }
                panic!("event stream ended");
            })
            .await
            .unwrap_or_else(|_| panic!("no link event with up={up}"));
        };
        nl.set_link_down(ia).await.expect("down");
        wait_link(&mut ev, false).await;
        nl.set_link_up(ia).await.expect("up");
        wait_link(&mut ev, true).await;

        let vip = IpAddr::V4(Ipv4Addr::new(10, 99, 12, 50));
        nl.add_address(ia, &AddressSpec::new(vip, 32))
            .await
            .expect("add");
        nl.del_address(ia, vip, 32).await.expect("del");
        let (mut added, mut removed) = (false, false);
        tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(e) = ev.next().await {
                match e {
                    Event::AddressAdded { ifindex, addr } if ifindex == ia && addr == vip => {
                        added = true
                    }
                    Event::AddressRemoved { ifindex, addr } if ifindex == ia && addr == vip => {
                        removed = true
                    }
                    _ => {}
                }
                if added && removed {
                    return;
                }
            }
        })
        .await
        .expect("address events");
    });
}

/// A receive buffer far too small for a burst: the stream reports the overrun as one
/// full dump (`Event::Resync`) that shows the state after the burst, and carries on.
#[test]
fn an_overrun_becomes_a_resync() {
    if !common::can_run("an_overrun_becomes_a_resync") {
        return;
    }
    let pair = Pair::new("nlo", 13);
    let ia = pair.a.ifindex("va");
    pair.a.block_on(|| async move {
        let nl = Netlink::new().expect("netlink");
        let mut ev = events(4096).await.expect("events");
        let addr = |i: u16| IpAddr::V6(Ipv6Addr::new(0xfd99, 13, 0, 1, 0, 0, 0, i + 1));
        // 300 added, all but the first deleted, by `ip -batch` while this thread (which
        // drives the subscription) waits for it: the kernel has nowhere to put them.
        let mut batch = String::new();
        for i in 0..300 {
            batch.push_str(&format!("address add {}/128 dev va nodad\n", addr(i)));
        }
        for i in 1..300 {
            batch.push_str(&format!("address del {}/128 dev va\n", addr(i)));
        }
        let path =
            std::env::temp_dir().join(format!("vrrp-linux-nlo-{}.batch", std::process::id()));
        std::fs::write(&path, batch).expect("batch file");
        let out = std::process::Command::new("ip")
            .arg("-batch")
            .arg(&path)
            .output()
            .expect("ip -batch");
        let _ = std::fs::remove_file(&path);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let kept = addr(0);
        let snapshot = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(e) = ev.next().await {
                if let Event::Resync(r) = e {
                    return r.expect("dump");
                }
            }
            panic!("event stream ended");
        })
        .await
        .expect("a resync after the overrun");
        assert!(snapshot.overruns >= 1);
        let on_va: Vec<IpAddr> = snapshot
            .addresses
            .iter()
            .filter(|(i, _)| *i == ia)
            .map(|(_, a)| a.addr)
            .collect();
        assert!(on_va.contains(&kept), "{on_va:?}");
        assert!(!on_va.contains(&addr(1)), "{on_va:?}");
        assert!(snapshot.links.iter().any(|l| l.index == ia));
        assert!(vrrp_linux::netlink::resyncs_total() >= 1);
        nl.del_address(ia, kept, 128).await.expect("del");
    });
}

#[test]
fn sysctl_guard_restores() {
    if !common::can_run("sysctl_guard_restores") {
        return;
    }
    let ns = Netns::new("sys");
    ns.run(|| {
        let path = "net/ipv4/conf/lo/arp_ignore";
        let before = vrrp_linux::sysctl::get(path).expect("read");
        {
            let mut g = vrrp_linux::SysctlGuard::new();
            let target = if before == "1" { "2" } else { "1" };
            g.set(path, target).expect("set");
            g.set(path, "0").expect("set again");
            assert_eq!(vrrp_linux::sysctl::get(path).expect("read"), "0");
            assert_eq!(g.saved().len(), 1);
        }
        assert_eq!(vrrp_linux::sysctl::get(path).expect("read"), before);
    });
}
