//! Two balancers with VRRP: the Master dies, the Backup takes the VIP and its services
//! carry on.

use std::time::Duration;

use vrrp_testlab::{require, wait_until};

use crate::common::*;

/// lb1 (priority 150) and lb2 (100), the same virtual server over 4 nginx servers
/// (`lb_nat_masquerade`, advert_int 0.1). The client requests continuously, one connection
/// per request (a Rust client in the client's namespace: connect and each read bounded by
/// 0.5 s, 10 ms between requests). lb1 dies as a crashed host does: its vrrpd is SIGKILLed and its link goes
/// down at once (a SIGKILLed vrrpd leaves the VIP and its nftables table in lb1's
/// namespace, and a host that is only missing its daemon would still answer ARP for the
/// VIP and balance: not a dead balancer). lb2 becomes Master after Master_Down_Interval
/// (3 x 0.1 + (256 - 100) / 256 x 0.1 = 0.36 s) and new connections succeed again through
/// it; the bound allows 3 s.
#[test]
fn backup_balancer_takes_over_when_the_master_dies() {
    require!("nginx", "nft");
    let mut s = setup("lb-fail", 4);
    let lb2 = s.lab.add_router("lb2").expect("lb2");
    let servers: Vec<Rs> = (1..=4).map(|i| Rs::new(s.rs(i), 1)).collect();
    let d1 = start_vrrpd(&s.balancer, &config(s.vip, 150, "rr", &[], &[], &servers));
    let d2 = start_vrrpd(&lb2, &config(s.vip, 100, "rr", &[], &[], &servers));
    let all: Vec<_> = (1..=4).map(|i| (s.rs(i), Some(1))).collect();
    wait_rotation(&s.balancer, &d1, &all, "lb1");
    wait_rotation(&lb2, &d2, &all, "lb2");
    let master = wait_until(START, POLL, || {
        s.balancer.has_address(s.vip) && !lb2.has_address(s.vip)
    });
    assert!(master, "lb1 is not the only Master\n{}", d1.tail(20));

    let client = Client::start(
        &s.client,
        s.vip,
        Duration::from_millis(10),
        Duration::from_millis(500),
    );
    client.wait_answers(50, Duration::from_secs(20));
    let (before, failed) = tally(&client.records());
    assert!(failed.is_empty(), "failures before the crash: {failed:?}");
    assert_eq!(
        before.len(),
        4,
        "every server answers through lb1: {before:?}"
    );

    // lb1 crashes.
    let t_kill = client.start.elapsed();
    d1.crash().expect("SIGKILL lb1's vrrpd");
    s.balancer.link_down().expect("lb1's link down");
    let t_dead = client.start.elapsed();
    let took_over = wait_until(Duration::from_secs(5), Duration::from_millis(10), || {
        lb2.has_address(s.vip)
    });
    let t_vip = client.start.elapsed();
    let vip_after = t_vip - t_dead;
    assert!(took_over, "lb2 did not take the VIP\n{}", d2.tail(30));
    let connections_before = lvs_connections(&lb2, &d2);
    client.wait_answers(100, Duration::from_secs(20));
    let records = client.stop();

    // The first request begun once lb1 was dead that was answered (through lb2).
    let first_after = records
        .iter()
        .find(|r| r.at >= t_dead && r.result.is_ok())
        .expect("answers after the crash");
    let recovered = first_after.at + first_after.took - t_dead;
    // The longest time without an answer around the crash.
    let mut ends: Vec<Duration> = records
        .iter()
        .filter(|r| r.result.is_ok())
        .map(|r| r.at + r.took)
        .collect();
    ends.sort();
    let gap = ends
        .windows(2)
        .filter(|w| w[1] >= t_kill)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    let failed: Vec<&Record> = records
        .iter()
        .filter(|r| r.at + r.took >= t_kill && r.result.is_err())
        .collect();
    let failed_once_taken: usize = records
        .iter()
        .filter(|r| r.at >= t_vip && r.result.is_err())
        .count();
    let (after, _) = tally(
        &records
            .iter()
            .filter(|r| r.at > t_dead)
            .cloned()
            .collect::<Vec<_>>(),
    );
    let connections_after = lvs_connections(&lb2, &d2);
    eprintln!(
        "failover: lb1 dead (SIGKILL + link down) {:?} after the kill began; lb2 held the VIP \
         {vip_after:?} after that; the first answered request begun then ended {recovered:?} \
         after it; longest time without an answer {gap:?}; {} failed request(s) of {} ({:?}), \
         {failed_once_taken} of them begun after lb2 held the VIP; after: {after:?}; lb2 \
         scheduled {} connection(s)",
        t_dead - t_kill,
        failed.len(),
        records.len(),
        failed.iter().map(|r| &r.result).collect::<Vec<_>>(),
        connections_after.saturating_sub(connections_before)
    );
    assert!(
        recovered < Duration::from_secs(3) && gap < Duration::from_secs(3),
        "new connections failed for {recovered:?} after the crash (gap {gap:?})"
    );
    assert_eq!(
        after.len(),
        4,
        "every server answers through lb2: {after:?}"
    );
    assert!(
        connections_after > connections_before,
        "lb2's data path scheduled nothing ({connections_before} -> {connections_after})"
    );
    assert!(d2.is_running(), "{}", d2.tail(20));
}

/// The connections `vrrpctl lvs` counts for the first service.
fn lvs_connections(node: &vrrp_testlab::Node, d: &vrrp_testlab::DaemonProc) -> u64 {
    let lvs = ctl_json(node, d, &["lvs"]);
    lvs["services"][0]["traffic"]["connections"]
        .as_u64()
        .unwrap_or(0)
}
