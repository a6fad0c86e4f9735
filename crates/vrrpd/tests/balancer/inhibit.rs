//! `inhibit_on_failure` and `drain` keep an established connection on its server; a failure
//! without `inhibit_on_failure` resets it.

use std::time::Duration;

use vrrp_testlab::{require, wait_until};

use crate::common::*;

/// Four servers (rr). rs1 and rs2 have `inhibit_on_failure`, rs3 not, rs4 stays healthy.
/// Each checker asks for `/check.html`, a file in its nginx's document root. One held
/// keep-alive connection per server (HTTP/1.1 over bash's /dev/tcp from the client):
///
/// * `vrrpctl rs drain` rs1: weight 0, no new connection goes to rs1, and the held one is
///   still answered by rs1;
/// * rs2's check file is deleted (nginx keeps serving): the checker fails, rs2 stays at
///   weight 0, the held connection is still answered by rs2;
/// * rs3's check file is deleted: rs3 leaves the data path and its held connection is reset
///   (its conntrack entry is deleted; the next segment reaches a live server, which resets).
#[test]
fn inhibit_on_failure_and_drain_keep_an_established_connection() {
    require!("nginx", "curl", "nft", "bash");
    let s = setup("lb-inhb", 4);
    for (_, web) in &s.servers {
        web.put("check.html", b"ok\n").expect("check file");
    }
    let servers: Vec<Rs> = (1..=4)
        .map(|i| {
            let rs = Rs::new(s.rs(i), 1).check_path("/check.html");
            if i <= 2 {
                rs.line("inhibit_on_failure")
            } else {
                rs
            }
        })
        .collect();
    let d = start_vrrpd(&s.balancer, &config(s.vip, 150, "rr", &[], &[], &servers));
    let all: Vec<_> = (1..=4).map(|i| (s.rs(i), Some(1))).collect();
    wait_rotation(&s.balancer, &d, &all, "at start");
    assert!(
        wait_until(START, POLL, || s.balancer.has_address(s.vip)),
        "no VIP"
    );

    // One held connection on each of rs1, rs2, rs3 (rr: a few tries at most).
    let mut held: Vec<Option<Held>> = (0..3).map(|_| None).collect();
    for n in 0..40 {
        if held.iter().all(Option::is_some) {
            break;
        }
        let h = Held::open(&s.client, s.vip, &format!("c{n}"));
        let name = h.server();
        if let Some(i) = name
            .strip_prefix("rs")
            .and_then(|i| i.parse::<usize>().ok())
            && (1..=3).contains(&i)
            && held[i - 1].is_none()
        {
            held[i - 1] = Some(h);
        }
    }
    let held: Vec<Held> = held
        .into_iter()
        .map(|h| h.expect("a held connection on each of rs1..rs3"))
        .collect();

    // Drain rs1.
    let out = ctl_json(
        &s.balancer,
        &d,
        &[
            "rs",
            "drain",
            &format!("{}:80", s.vip),
            &format!("{}:8080", s.rs(1)),
        ],
    );
    assert_eq!(out["weight"], 0, "{out}");
    let (seen, failed) = requests(&s.client, s.vip, 12);
    assert!(
        failed == 0 && !seen.contains_key("rs1"),
        "after drain: {seen:?} {failed}"
    );
    let (line, took) = held[0].ask();
    eprintln!("inhibit: drained rs1's held connection answered {line:?} in {took:?}");
    assert_eq!(line, "rs1", "the drained server's held connection");

    // rs2's checker fails, inhibit_on_failure: weight 0.
    s.servers[1]
        .1
        .remove("check.html")
        .expect("delete rs2's check file");
    let out_after = wait_rotation(&s.balancer, &d, &[(s.rs(2), Some(0))], "rs2 inhibited");
    let (seen, failed) = requests(&s.client, s.vip, 12);
    assert!(
        failed == 0 && !seen.contains_key("rs1") && !seen.contains_key("rs2"),
        "after rs2 failed: {seen:?} {failed}"
    );
    let (line, took) = held[1].ask();
    eprintln!(
        "inhibit: rs2 at weight 0 {out_after:?} after its check file went; its held \
         connection answered {line:?} in {took:?}"
    );
    assert_eq!(line, "rs2", "the inhibited server's held connection");

    // rs3's checker fails without inhibit_on_failure: out, and its connection is reset.
    s.servers[2]
        .1
        .remove("check.html")
        .expect("delete rs3's check file");
    let out_after = wait_rotation(&s.balancer, &d, &[(s.rs(3), None)], "rs3 out");
    let (line, took) = held[2].ask();
    eprintln!(
        "inhibit: rs3 out {out_after:?} after its check file went; its held connection: \
         {line:?} in {took:?}"
    );
    assert!(
        line == "closed 1" || line == "closed write",
        "the held connection to a failed server without inhibit_on_failure is reset: {line}"
    );
    assert!(took < Duration::from_secs(3), "reset after {took:?}");
    let (seen, failed) = requests(&s.client, s.vip, 12);
    assert_eq!(failed, 0, "{seen:?}");
    assert_eq!(
        seen.get("rs4"),
        Some(&12),
        "only rs4 takes new connections: {seen:?}"
    );
    // The inhibited and drained servers still serve their held connections.
    assert_eq!(held[0].ask().0, "rs1");
    assert_eq!(held[1].ask().0, "rs2");
}
