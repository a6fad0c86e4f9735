//! The metrics endpoint shows the load balancer: services, real servers, checkers and
//! traffic, in vrrpd's names and node_exporter's IPVS names, read by the reference parser.

use std::time::Duration;

use serde_json::Value;
use vrrp_testlab::{Daemon, Lab, Node, require, wait_until};

use crate::common::*;

/// prometheus_client's OpenMetrics parser (the reference): the samples as JSON.
const PARSE_OPENMETRICS: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
samples = []
for fam in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in fam.samples:
        samples.append({"name": s.name, "labels": s.labels, "value": s.value})
print(json.dumps(samples))
"#;

fn python_parser_ok() -> bool {
    let mut cmd = std::process::Command::new("/usr/bin/python3");
    cmd.args(["-c", "import prometheus_client.openmetrics.parser"]);
    vrrp_testlab::run_bounded(cmd, Duration::from_secs(60)).is_ok_and(|o| o.status.success())
}

/// Scrapes the metrics endpoint in `node` and parses them with the reference parser.
fn scrape(lab: &Lab, node: &Node) -> Vec<Value> {
    let url = "http://127.0.0.1:9650/metrics";
    let mut body = String::new();
    let ok = wait_until(START, Duration::from_millis(100), || {
        node.run("curl", &["-s", "-f", "-m", "5", url])
            .map(|o| {
                body = String::from_utf8_lossy(&o.stdout).into_owned();
                o.status.success()
            })
            .unwrap_or(false)
    });
    assert!(ok, "no metrics at {url}");
    let path = lab.write_file("lb-metrics.txt", &body).expect("write");
    let mut cmd = std::process::Command::new("/usr/bin/python3");
    // run_bounded gives the child no stdin: the file is an argument.
    cmd.args(["-c", PARSE_OPENMETRICS]).arg(&path);
    let out = vrrp_testlab::run_bounded(cmd, Duration::from_secs(60)).expect("python3");
    assert!(
        out.status.success(),
        "the OpenMetrics parser refused the metrics: {}\n{body}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<Value>>(&out.stdout).expect("parser JSON")
}

/// The value of the sample `name` whose labels include `labels`.
fn sample(samples: &[Value], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| s["name"] == name && labels.iter().all(|(k, v)| s["labels"][*k] == *v))
        .and_then(|s| s["value"].as_f64())
}

#[test]
fn metrics_show_services_real_servers_checkers_and_traffic() {
    require!("nginx", "curl", "nft");
    if !vrrp_testlab::need(
        python_parser_ok(),
        "needs /usr/bin/python3 with prometheus_client (python3-prometheus-client)",
    ) {
        return;
    }
    let s = setup("lb-metr", 2);
    let servers: Vec<Rs> = s
        .servers
        .iter()
        .map(|(n, _)| Rs::new(n.ipv4(), 2))
        .collect();
    let conf = config(s.vip, 150, "wrr", &[], &[], &servers);
    let d = Daemon::Vrrpd {
        binary: vrrpd_binary(),
    }
    .start_with(
        &s.balancer,
        &conf,
        &["--metrics-listen", "127.0.0.1:9650"],
        &[],
    )
    .expect("spawn vrrpd");
    let all_in = wait_until(ROTATION, POLL, || {
        s.balancer.has_address(s.vip) && rotation(&s.balancer, &d).values().all(|w| *w == Some(2))
    });
    assert!(all_in, "not all servers in rotation:\n{}", d.tail(30));
    // A real server starts up; the latency comes with its first probe.
    let probed = wait_until(ROTATION, POLL, || {
        let lvs = ctl_json(&s.balancer, &d, &["lvs"]);
        lvs["services"][0]["real_servers"]
            .as_array()
            .is_some_and(|a| {
                a.iter()
                    .all(|rs| rs["checkers"][0]["probes"].as_u64() >= Some(1))
            })
    });
    assert!(probed, "no probe ran:\n{}", d.tail(30));
    let (_, failed) = requests(&s.client, s.vip, 10);
    assert_eq!(failed, 0);

    let svc = format!("[{}]:tcp:80", s.vip);
    let rs1 = format!("[{}]:8080", s.servers[0].0.ipv4());
    let rs2 = format!("[{}]:8080", s.servers[1].0.ipv4());
    let m = scrape(&s.lab, &s.balancer);
    let service = [("service", svc.as_str())];
    let at = |rs: &str| [("service", svc.clone()), ("real_server", rs.to_string())];
    let get = |m: &[Value], name: &str, labels: &[(String, String)]| {
        let l: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        sample(m, name, &l).unwrap_or_else(|| panic!("no {name}{labels:?}"))
    };
    let pairs = |a: &[(&str, String)]| -> Vec<(String, String)> {
        a.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    };
    assert_eq!(
        sample(&m, "vrrpd_lb_service_quorum_up", &service),
        Some(1.0)
    );
    assert_eq!(
        sample(&m, "vrrpd_lb_service_connections_total", &service),
        Some(10.0)
    );
    assert_eq!(sample(&m, "node_ipvs_connections_total", &[]), Some(10.0));
    for rs in [&rs1, &rs2] {
        let l = pairs(&at(rs));
        assert_eq!(get(&m, "vrrpd_lb_real_server_up", &l), 1.0);
        assert_eq!(get(&m, "vrrpd_lb_real_server_weight", &l), 2.0);
        let mut c = l.clone();
        c.push(("checker".into(), "HTTP_GET".into()));
        assert_eq!(get(&m, "vrrpd_lb_checker_up", &c), 1.0);
        let latency = get(&m, "vrrpd_lb_checker_latency_seconds", &c);
        assert!(latency > 0.0 && latency < 1.0, "latency {latency}");
    }
    let conns: f64 = [&rs1, &rs2]
        .iter()
        .map(|rs| {
            get(
                &m,
                "vrrpd_lb_real_server_connections_total",
                &pairs(&at(rs)),
            )
        })
        .sum();
    assert_eq!(conns, 10.0);
    let backend = [
        ("local_address", s.vip.to_string()),
        ("local_port", "80".into()),
        ("remote_address", s.servers[0].0.ipv4().to_string()),
        ("remote_port", "8080".into()),
        ("proto", "TCP".into()),
    ];
    assert_eq!(get(&m, "node_ipvs_backend_weight", &pairs(&backend)), 2.0);

    // rs2 dies: the scrape shows it down, out of the data path, its checker failing.
    s.servers[1].1.kill().expect("kill nginx");
    let out = wait_until(ROTATION, POLL, || {
        rotation(&s.balancer, &d).get(&rs2) == Some(&None)
    });
    assert!(out, "rs2 still in rotation:\n{}", d.tail(30));
    let m = scrape(&s.lab, &s.balancer);
    let l = pairs(&at(&rs2));
    assert_eq!(get(&m, "vrrpd_lb_real_server_up", &l), 0.0);
    assert_eq!(get(&m, "vrrpd_lb_real_server_weight", &l), 0.0);
    assert_eq!(get(&m, "vrrpd_lb_real_server_configured_weight", &l), 2.0);
    let mut c = l.clone();
    c.push(("checker".into(), "HTTP_GET".into()));
    assert_eq!(get(&m, "vrrpd_lb_checker_up", &c), 0.0);
    assert!(get(&m, "vrrpd_lb_checker_consecutive_failures", &c) >= 1.0);
    assert_eq!(
        sample(&m, "vrrpd_lb_service_live_weight", &service),
        Some(2.0)
    );
    // The VRRP series are still there.
    assert!(sample(&m, "vrrp_state", &[("state", "MASTER")]).is_some());
    drop(s.lab);
}
