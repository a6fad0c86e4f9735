//! Requests spread over the live servers; a dead one leaves the rotation and comes back.

use std::net::Ipv4Addr;
use std::time::Instant;

use vrrp_testlab::{Nginx, require, wait_until};

use crate::common::*;

#[test]
fn requests_spread_over_live_servers_and_a_dead_one_leaves_the_rotation() {
    require!("nginx", "curl", "nft");
    let s = setup("lb-basic", 3);
    let servers: Vec<(Ipv4Addr, u32)> = s.servers.iter().map(|(n, _)| (n.ipv4(), 1)).collect();
    let servers: Vec<Rs> = servers.iter().map(|(a, w)| Rs::new(*a, *w)).collect();
    let conf = config(s.vip, 150, "rr", &[], &[], &servers);
    let d = start_vrrpd(&s.balancer, &conf);
    let all_in = wait_until(ROTATION, POLL, || {
        s.balancer.has_address(s.vip) && rotation(&s.balancer, &d).values().all(|w| *w == Some(1))
    });
    assert!(
        all_in,
        "not all servers in rotation: {:?}\n{}",
        rotation(&s.balancer, &d),
        d.tail(30)
    );

    let (seen, failed) = requests(&s.client, s.vip, 60);
    assert_eq!(failed, 0, "failed requests with every server up: {seen:?}");
    for i in 1..=3 {
        let n = seen.get(&format!("rs{i}")).copied().unwrap_or(0);
        assert!((10..=30).contains(&n), "rr gave rs{i} {n} of 60: {seen:?}");
    }

    // rs2 dies: its checker fails, it leaves the rotation, and requests go to the others.
    s.servers[1].1.kill().expect("kill nginx");
    let killed = Instant::now();
    let rs2 = format!("[{}]:8080", s.servers[1].0.ipv4());
    let out = wait_until(ROTATION, POLL, || {
        rotation(&s.balancer, &d).get(&rs2) == Some(&None)
    });
    assert!(
        out,
        "rs2 still in rotation: {:?}\n{}",
        rotation(&s.balancer, &d),
        d.tail(30)
    );
    eprintln!("rs2 left the rotation {:?} after it died", killed.elapsed());
    let (seen, failed) = requests(&s.client, s.vip, 30);
    assert_eq!(failed, 0, "failed requests after rs2 left: {seen:?}");
    assert!(!seen.contains_key("rs2"), "rs2 still answers: {seen:?}");

    // It comes back.
    let node = &s.servers[1].0;
    let _web = Nginx::start(node, "rs2", 8080).expect("nginx again");
    let back = wait_until(ROTATION, POLL, || {
        rotation(&s.balancer, &d).get(&rs2) == Some(&Some(1))
    });
    assert!(
        back,
        "rs2 did not come back: {:?}",
        rotation(&s.balancer, &d)
    );
    drop(s.lab);
}
