//! The operator's commands without a reload: `vrrpctl rs weight|drain|disable|enable`.

use std::time::Duration;

use serde_json::Value;
use vrrp_testlab::{require, wait_until};

use crate::common::*;

/// Three servers of weight 1 (wrr). `rs weight VS rs1 3` gives rs1 three requests in five;
/// `drain` rs2 takes it out of new connections (weight 0); `disable` rs3 takes it out of the
/// data path; `enable` brings each back to its configured weight. `vrrpctl lvs` shows each
/// step (weight, operator), the traffic split follows, and `vrrpctl watch --json` shows the
/// real_server events of `disable` and `enable`.
#[test]
fn operator_commands_change_the_rotation_without_a_reload() {
    require!("nginx", "curl", "nft");
    let s = setup("lb-oper", 3);
    let servers: Vec<Rs> = (1..=3).map(|i| Rs::new(s.rs(i), 1)).collect();
    let d = start_vrrpd(&s.balancer, &config(s.vip, 150, "wrr", &[], &[], &servers));
    let all: Vec<_> = (1..=3).map(|i| (s.rs(i), Some(1))).collect();
    wait_rotation(&s.balancer, &d, &all, "at start");
    assert!(
        wait_until(START, POLL, || s.balancer.has_address(s.vip)),
        "no VIP"
    );
    let watch = Watch::start(&s.balancer, &d);
    let vs = format!("{}:80", s.vip);
    let rs = |i: usize| format!("{}:8080", s.rs(i));
    let rs_doc = |i: usize| -> Value {
        ctl_json(&s.balancer, &d, &["lvs"])["services"][0]["real_servers"]
            .as_array()
            .and_then(|a| a.iter().find(|r| r["address"] == rs_name(s.rs(i))).cloned())
            .unwrap_or_default()
    };

    let (seen, failed) = requests(&s.client, s.vip, 30);
    eprintln!("operator: weights 1:1:1: {seen:?}");
    assert_eq!(failed, 0);
    assert!(
        (1..=3).all(|i| seen.get(&format!("rs{i}")) == Some(&10)),
        "{seen:?}"
    );

    // weight 3
    let out = ctl_json(&s.balancer, &d, &["rs", "weight", &vs, &rs(1), "3"]);
    assert_eq!(out["weight"], 3, "{out}");
    let doc = rs_doc(1);
    assert_eq!(
        (doc["weight"].clone(), doc["operator"].clone()),
        (3.into(), "weight 3".into())
    );
    let (seen, failed) = requests(&s.client, s.vip, 50);
    eprintln!("operator: rs1 at weight 3: {seen:?}");
    assert_eq!(failed, 0);
    let n1 = seen.get("rs1").copied().unwrap_or(0);
    assert!((24..=36).contains(&n1), "rs1 should take 3 in 5: {seen:?}");
    assert!(
        seen.contains_key("rs2") && seen.contains_key("rs3"),
        "{seen:?}"
    );

    // drain
    let out = ctl_json(&s.balancer, &d, &["rs", "drain", &vs, &rs(2)]);
    assert_eq!(out["weight"], 0, "{out}");
    assert_eq!(rs_doc(2)["operator"], "drain");
    let (seen, failed) = requests(&s.client, s.vip, 20);
    eprintln!("operator: rs2 drained: {seen:?}");
    assert_eq!(failed, 0);
    assert!(
        !seen.contains_key("rs2") && seen.contains_key("rs3"),
        "{seen:?}"
    );

    // disable
    let out = ctl_json(&s.balancer, &d, &["rs", "disable", &vs, &rs(3)]);
    assert_eq!(out["weight"], Value::Null, "{out}");
    let doc = rs_doc(3);
    assert_eq!(doc["operator"], "disable");
    assert_eq!(doc["up"], true, "its health is still shown: {doc}");
    let (seen, failed) = requests(&s.client, s.vip, 20);
    eprintln!("operator: rs3 disabled: {seen:?}");
    assert_eq!(failed, 0);
    assert_eq!(seen.get("rs1"), Some(&20), "{seen:?}");
    let rs3 = rs_name(s.rs(3));
    let down = watch.wait_for(Duration::from_secs(5), |e| {
        e["type"] == "real_server" && e["real_server"] == rs3.as_str() && e["up"] == false
    });
    assert!(
        down.is_some(),
        "no real_server down event for rs3: {:?}\n{}",
        watch.events(),
        watch.tail()
    );

    // enable all
    for i in 1..=3 {
        let out = ctl_json(&s.balancer, &d, &["rs", "enable", &vs, &rs(i)]);
        assert_eq!(out["weight"], 1, "{out}");
        assert_eq!(out["operator"], Value::Null, "{out}");
    }
    let (seen, failed) = requests(&s.client, s.vip, 30);
    eprintln!("operator: all enabled: {seen:?}");
    assert_eq!(failed, 0);
    assert!(
        (1..=3).all(|i| seen.get(&format!("rs{i}")) == Some(&10)),
        "{seen:?}"
    );
    let up = watch.wait_for(Duration::from_secs(5), |e| {
        e["type"] == "real_server" && e["real_server"] == rs3.as_str() && e["up"] == true
    });
    assert!(
        up.is_some(),
        "no real_server up event for rs3: {:?}",
        watch.events()
    );
    eprintln!("operator: watch events: {:?}", watch.events());
}
