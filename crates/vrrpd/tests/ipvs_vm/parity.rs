//! Parity with keepalived 2.2.7: each configuration of `tests/ipvs_parity/` runs under
//! keepalived's checker process and, at the same time in a second director on the same
//! real-server LAN, under vrrpd (`lb_dataplane auto`, which must pick IPVS here);
//! `ipvsadm -Ln` must agree service for service (scheduler, flags, persistence, forwarding
//! method, weight) and so must the connection timeouts. Differences are bugs, or choices listed in `KNOWN` and docs/differences.md.

use std::time::Duration;

use super::ipvs::{self, Table, Vrrpd, settled};
use super::lab::{IPVSADM, Lab};
use super::{CONVERGE, Farm};

/// The configurations, and a server line each table must hold once the checkers ran
/// (`alpha` servers start down).
const CONFIGS: &[(&str, &str, &str)] = &[
    (
        "nat_web_farm",
        include_str!("../ipvs_parity/nat_web_farm.conf"),
        "Masq",
    ),
    (
        "dr_fwmark",
        include_str!("../ipvs_parity/dr_fwmark.conf"),
        "Route",
    ),
    (
        "server_group",
        include_str!("../ipvs_parity/server_group.conf"),
        "Masq",
    ),
    (
        "sorry_inhibit",
        include_str!("../ipvs_parity/sorry_inhibit.conf"),
        "10.99.211.11:8080 Masq 4",
    ),
    (
        "schedulers",
        include_str!("../ipvs_parity/schedulers.conf"),
        "Tunnel",
    ),
];

/// (configuration, service): differences that are documented choices.
const KNOWN: &[(&str, &str)] = &[];

/// The table plus the connection timeouts, as one comparable value.
fn observe(lab: &Lab, ns: &str) -> Table {
    let mut t = ipvs::table(lab, ns);
    let timeouts = lab.exec(ns, &[IPVSADM, "-L", "--timeout"]);
    t.insert("(timeouts)".into(), vec![timeouts.trim().to_string()]);
    t
}

/// Back to a clean kernel state: no service, the kernel's default timeouts.
fn reset(lab: &Lab, ns: &str) {
    lab.exec(ns, &[IPVSADM, "-C"]);
    lab.exec(ns, &[IPVSADM, "--set", "900", "120", "300"]);
}

/// Waits for the table to settle with `line` in it.
fn settle(lab: &Lab, ns: &str, line: &str, who: &str, name: &str) -> Table {
    let read = || observe(lab, ns);
    let done = |t: &Table| {
        t.len() > 1
            && t.iter()
                .any(|(s, v)| s.contains(line) || v.iter().any(|l| l.contains(line)))
    };
    settled(CONVERGE, Duration::from_secs(1), read, done)
        .unwrap_or_else(|t| panic!("{name} under {who}: no settled table with {line:?}: {t:#?}"))
}

/// One row of the results: configuration, service, keepalived's servers, vrrpd's.
type Row = (String, String, String, String);

#[test]
fn keepalived_and_vrrpd_program_the_same_table() {
    super::in_vm();
    let started = std::time::Instant::now();
    let mut farm = Farm::new("pa");
    // keepalived in the farm's director, vrrpd at the same time in a second one on the
    // same real-server LAN: IPVS is per namespace, and the guest's time is short.
    let d = farm.director.clone();
    let d2 = farm.lab.netns("d2");
    farm.lab.veth(&d2, "eth0", &d, "vr9");
    farm.lab.ip(&d, &["link", "set", "vr9", "master", "back"]);
    farm.lab
        .ip(&d2, &["addr", "add", "10.99.211.2/24", "dev", "eth0"]);
    let mut rows: Vec<Row> = Vec::new();
    let mut leftovers = Vec::new();
    for (name, conf, line) in CONFIGS {
        reset(&farm.lab, &d);
        reset(&farm.lab, &d2);
        let label = format!("keepalived-{name}");
        let k = ipvs::keepalived(&mut farm.lab, &d, &label, conf);
        let v = Vrrpd::start(&mut farm.lab, &d2, &format!("vrrpd-{name}"), conf);
        let t0 = std::time::Instant::now();
        let theirs = settle(&farm.lab, &d, line, "keepalived", name);
        let t1 = t0.elapsed();
        let ours = settle(&farm.lab, &d2, line, "vrrpd", name);
        let t2 = t0.elapsed();
        let status = v.lvs(&farm.lab);
        assert!(
            status.data_path.starts_with("ipvs"),
            "{name}: lb_dataplane auto chose {}",
            status.data_path
        );
        assert!(
            farm.lab.stop(k, Duration::from_secs(30)),
            "keepalived did not stop on SIGTERM:\n{}",
            farm.lab.tail(&label)
        );
        assert!(v.stop(&mut farm.lab), "vrrpd did not stop on SIGTERM");
        println!(
            "{name}: settled {t1:?} / {t2:?}, stopped {:?}",
            t0.elapsed()
        );
        let kept = ipvs::table(&farm.lab, &d);
        let left = ipvs::table(&farm.lab, &d2);
        if left != kept {
            leftovers.push(format!(
                "{name}: after keepalived {kept:?}, after vrrpd {left:?}"
            ));
        }
        for service in theirs.keys().chain(ours.keys()) {
            if rows.iter().any(|r| r.0 == *name && r.1 == *service) {
                continue;
            }
            let show = |t: &Table| t.get(service).map_or("(absent)".into(), |v| v.join("; "));
            rows.push((
                name.to_string(),
                service.clone(),
                show(&theirs),
                show(&ours),
            ));
        }
    }
    reset(&farm.lab, &d2);
    reset(&farm.lab, &d);

    println!("| configuration | service | keepalived 2.2.7 | vrrpd | same |");
    println!("|---|---|---|---|---|");
    let mut unexpected = Vec::new();
    for (name, service, theirs, ours) in &rows {
        let same = theirs == ours;
        let mark = if same { "yes" } else { "**no**" };
        println!("| {name} | {service} | {theirs} | {ours} | {mark} |");
        if !same && !KNOWN.contains(&(name.as_str(), service.as_str())) {
            unexpected.push(format!(
                "{name} {service}: keepalived {theirs} / vrrpd {ours}"
            ));
        }
    }
    assert!(
        unexpected.is_empty() && leftovers.is_empty(),
        "differences from keepalived:\n{}\nleft after stop:\n{}",
        unexpected.join("\n"),
        leftovers.join("\n")
    );
    println!(
        "keepalived_and_vrrpd_program_the_same_table: {:?} of guest time",
        started.elapsed()
    );
}
