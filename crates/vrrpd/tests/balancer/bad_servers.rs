//! Bad real servers: one that accepts connections and never answers, and an address with
//! nothing there.

use std::time::{Duration, Instant};

use serde_json::Value;
use vrrp_testlab::{find_tool, require, wait_until};

use crate::common::*;

/// A listener that accepts every connection and never writes (one python process, which
/// keeps the connections open).
const MUTE: &str = "import socket\n\
s = socket.socket()\n\
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
s.bind(('0.0.0.0', 8080))\n\
s.listen(128)\n\
held = []\n\
while True:\n    held.append(s.accept())\n";

/// rs1 is nginx; rs2 accepts and never answers (its HTTP_GET check times out: connect_timeout
/// 1); rs3's address has nobody (no ARP answer: the check's connection times out). Both are
/// taken out by their checks, and then every request is answered by rs1 without delay.
#[test]
fn a_mute_server_and_an_empty_address_are_taken_out_and_requests_do_not_stall() {
    require!("nginx", "curl", "nft", "python3");
    let mut s = setup("lb-bad", 1);
    let mute = s.lab.add_host("mute").expect("mute node");
    let python = ["/usr/bin/python3"]
        .into_iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.is_file())
        .or_else(|| find_tool("python3"))
        .expect("python3");
    let _listener = mute
        .spawn(&python.to_string_lossy(), &["-c", MUTE], &[])
        .expect("the mute listener");
    let listening = wait_until(Duration::from_secs(10), POLL, || {
        mute.run("ss", &["-Hltn", "sport = :8080"])
            .is_ok_and(|o| !o.stdout.is_empty())
    });
    assert!(listening, "the mute listener does not listen");
    let nobody = s.lab.ipv4(250);
    let servers = [
        Rs::new(s.rs(1), 1),
        Rs::new(mute.ipv4(), 1),
        Rs::new(nobody, 1),
    ];
    let started = Instant::now();
    let d = start_vrrpd(&s.balancer, &config(s.vip, 150, "rr", &[], &[], &servers));
    wait_rotation(
        &s.balancer,
        &d,
        &[(s.rs(1), Some(1)), (mute.ipv4(), None), (nobody, None)],
        "the bad servers out",
    );
    let out_after = started.elapsed();
    assert!(
        wait_until(START, POLL, || s.balancer.has_address(s.vip)),
        "no VIP"
    );
    let lvs = ctl_json(&s.balancer, &d, &["lvs"]);
    let errors: Vec<Value> = lvs["services"][0]["real_servers"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|rs| {
                    serde_json::json!([rs["address"], rs["up"], rs["checkers"][0]["last_error"]])
                })
                .collect()
        })
        .unwrap_or_default();

    let client = Client::start(
        &s.client,
        s.vip,
        Duration::from_millis(10),
        Duration::from_secs(1),
    );
    client.wait_answers(100, Duration::from_secs(30));
    let records = client.stop();
    let (seen, failed) = tally(&records);
    let slowest = records.iter().map(|r| r.took).max().unwrap_or_default();
    eprintln!(
        "bad servers: both out {out_after:?} after vrrpd started ({errors:?}); then {} \
         requests: {seen:?}, {} failed, slowest {slowest:?}",
        records.len(),
        failed.len()
    );
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(seen.len(), 1, "only rs1 answers: {seen:?}");
    assert!(
        slowest < Duration::from_millis(500),
        "a request took {slowest:?}"
    );
    // And the same with curl.
    let (seen, failed) = requests(&s.client, s.vip, 10);
    assert_eq!((failed, seen.get("rs1")), (0, Some(&10)), "{seen:?}");
}
