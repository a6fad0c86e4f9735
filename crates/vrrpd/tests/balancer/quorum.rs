//! The quorum is lost: the sorry server answers; the hooks run in order and the
//! `lvs_notify_fifo` gets keepalived's lines.

use std::fs;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::time::{Duration, Instant};

use serde_json::Value;
use vrrp_testlab::{Nginx, require, wait_until};

use crate::common::*;

/// `quorum 2`, `hysteresis 0`, two real servers of weight 1 and a sorry server (nginx
/// answering "sorry"). rs1 dies: its `notify_down` runs, then `quorum_down`; the sorry
/// server takes every request. rs1 comes back: `notify_up`, then `quorum_up`, and the sorry
/// server is out. The FIFO gets `RS [..]:tcp:8080 [VIP]:tcp:80 DOWN` and `VS [VIP]:tcp:80
/// DOWN` (and UP), in that order.
#[test]
fn quorum_lost_sends_requests_to_the_sorry_server_and_runs_the_hooks_in_order() {
    require!("nginx", "curl", "nft");
    let mut s = setup("lb-quor", 2);
    let sorry_node = s.lab.add_host("sorry").expect("sorry node");
    let _sorry = Nginx::start(&sorry_node, "sorry", 8080).expect("sorry nginx");
    let log = s.lab.dir().join("hooks.log");
    let hook = script(
        &s.lab,
        "hook.sh",
        &format!("echo \"$*\" >> {}\n", log.display()),
    );
    let fifo = s.lab.dir().join("lvs.fifo");
    let h = hook.display();
    let servers: Vec<Rs> = (1..=2)
        .map(|i| {
            Rs::new(s.rs(i), 1)
                .line(format!("notify_up \"{h} notify_up rs{i}\""))
                .line(format!("notify_down \"{h} notify_down rs{i}\""))
        })
        .collect();
    let vs = [
        "quorum 2".to_string(),
        "hysteresis 0".into(),
        format!("sorry_server {} 8080", sorry_node.ipv4()),
        format!("quorum_up \"{h} quorum_up\""),
        format!("quorum_down \"{h} quorum_down\""),
    ];
    let globals = [format!("lvs_notify_fifo {}", fifo.display())];
    let d = start_vrrpd(
        &s.balancer,
        &config(s.vip, 150, "rr", &globals, &vs, &servers),
    );
    let mut reader = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .expect("open the FIFO");
    let mut fifo_text = String::new();
    let mut read_fifo = || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            fifo_text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        fifo_text.clone()
    };
    let (rs1, rs2) = (s.rs(1), s.rs(2));
    wait_rotation(
        &s.balancer,
        &d,
        &[(rs1, Some(1)), (rs2, Some(1))],
        "at start",
    );
    assert!(
        wait_until(START, POLL, || s.balancer.has_address(s.vip)),
        "no VIP"
    );
    let svc = service(&s.balancer, &d);
    assert_eq!(svc["quorum_up"], true, "{svc}");
    assert_eq!(sorry_weight(&svc), None, "{svc}");
    let (seen, failed) = requests(&s.client, s.vip, 20);
    assert!(
        failed == 0 && !seen.contains_key("sorry"),
        "{seen:?} {failed}"
    );
    let hooks_at_start = read_lines(&log).len();
    let fifo_at_start = read_fifo().len();

    // rs1 dies: the quorum is lost.
    s.servers[0].1.kill().expect("kill rs1");
    let killed = Instant::now();
    let lost = wait_until(ROTATION, POLL, || {
        let svc = service(&s.balancer, &d);
        svc["quorum_up"] == false && sorry_weight(&svc) == Some(1)
    });
    assert!(lost, "{}\n{}", service(&s.balancer, &d), d.tail(20));
    let took = killed.elapsed();
    let rotation_now = rotation(&s.balancer, &d);
    assert_eq!(
        rotation_now.get(&rs_name(rs2)),
        Some(&None),
        "the live server is out while the sorry server is in: {rotation_now:?}"
    );
    let (seen, failed) = requests(&s.client, s.vip, 10);
    assert_eq!(failed, 0, "{seen:?}");
    assert_eq!(
        seen.get("sorry"),
        Some(&10),
        "only the sorry server answers: {seen:?}"
    );
    let down = ["notify_down rs1", "quorum_down"];
    let hooks_ok = wait_until(Duration::from_secs(10), POLL, || {
        read_lines(&log)[hooks_at_start..] == down
    });
    let vip = s.vip;
    let fifo_down = [
        format!("RS [{rs1}]:tcp:8080 [{vip}]:tcp:80 DOWN"),
        format!("VS [{vip}]:tcp:80 DOWN"),
    ];
    let fifo_ok = wait_until(Duration::from_secs(10), POLL, || {
        lines_from(&read_fifo(), fifo_at_start) == fifo_down
    });
    eprintln!(
        "quorum: lost {took:?} after rs1 died; hooks {:?}; FIFO {:?}",
        &read_lines(&log)[hooks_at_start..],
        lines_from(&read_fifo(), fifo_at_start)
    );
    assert!(hooks_ok, "hooks: {:?}", read_lines(&log));
    assert!(fifo_ok, "FIFO: {:?}", read_fifo());

    // rs1 comes back: the quorum too, and the sorry server goes.
    let hooks_mid = read_lines(&log).len();
    let fifo_mid = read_fifo().len();
    let _web = Nginx::start(&s.servers[0].0, "rs1", 8080).expect("nginx again");
    let started = Instant::now();
    let back = wait_until(ROTATION, POLL, || {
        let svc = service(&s.balancer, &d);
        svc["quorum_up"] == true && sorry_weight(&svc).is_none()
    });
    assert!(back, "{}\n{}", service(&s.balancer, &d), d.tail(20));
    let took = started.elapsed();
    wait_rotation(
        &s.balancer,
        &d,
        &[(rs1, Some(1)), (rs2, Some(1))],
        "after rs1 came back",
    );
    let (seen, failed) = requests(&s.client, s.vip, 20);
    assert_eq!(failed, 0, "{seen:?}");
    assert!(
        !seen.contains_key("sorry") && seen.contains_key("rs1") && seen.contains_key("rs2"),
        "{seen:?}"
    );
    let up = ["notify_up rs1", "quorum_up"];
    let hooks_ok = wait_until(Duration::from_secs(10), POLL, || {
        read_lines(&log)[hooks_mid..] == up
    });
    let fifo_up = [
        format!("RS [{rs1}]:tcp:8080 [{vip}]:tcp:80 UP"),
        format!("VS [{vip}]:tcp:80 UP"),
    ];
    let fifo_ok = wait_until(Duration::from_secs(10), POLL, || {
        lines_from(&read_fifo(), fifo_mid) == fifo_up
    });
    eprintln!(
        "quorum: back {took:?} after rs1 restarted; hooks {:?}; FIFO {:?}",
        &read_lines(&log)[hooks_mid..],
        lines_from(&read_fifo(), fifo_mid)
    );
    assert!(hooks_ok, "hooks: {:?}", read_lines(&log));
    assert!(fifo_ok, "FIFO: {:?}", read_fifo());
}

fn service(node: &vrrp_testlab::Node, d: &vrrp_testlab::DaemonProc) -> Value {
    ctl_json(node, d, &["lvs"])["services"][0].clone()
}

fn sorry_weight(svc: &Value) -> Option<u64> {
    svc["real_servers"]
        .as_array()?
        .iter()
        .find(|rs| rs["sorry_server"] == true)?["weight"]
        .as_u64()
}

fn read_lines(path: &std::path::Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The whole lines of `text` after byte `from`.
fn lines_from(text: &str, from: usize) -> Vec<String> {
    let rest = &text[from.min(text.len())..];
    let whole = rest.rfind('\n').map_or("", |i| &rest[..i]);
    whole
        .lines()
        .map(|l| l.trim_end_matches('\0').to_string())
        .filter(|l| !l.is_empty())
        .collect()
}
