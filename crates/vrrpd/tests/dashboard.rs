//! `contrib/grafana/vrrpd.json` asks only for metrics that vrrpd serves: a vrrpd with a VRRP
//! instance, a tracker and a virtual server (lab, root) is scraped, and every metric name in a
//! panel's PromQL or a variable's query must be among the scraped samples (a histogram's
//! `_bucket`, `_sum` and `_count` are samples of their own).

#[path = "balancer/common.rs"]
mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;
use vrrp_testlab::{require, wait_until};

use common::*;

const DASHBOARD: &str = include_str!("../../../contrib/grafana/vrrpd.json");
const METRICS: &str = "127.0.0.1:9650";

#[test]
fn every_metric_of_the_dashboard_is_served() {
    require!("nginx", "curl", "nft");
    let s = setup("dash", 1);
    let servers = [Rs::new(s.rs(1), 1)];
    let globals = [format!("metrics_listen {METRICS}")];
    let conf = with_tracker(&config(s.vip, 150, "wrr", &globals, &[], &servers));
    let d = start_vrrpd(&s.balancer, &conf);
    // Master, the server in rotation and probed once (its latency gauge starts then).
    let ready = wait_until(ROTATION, POLL, || {
        let lvs = ctl_json(&s.balancer, &d, &["lvs"]);
        s.balancer.has_address(s.vip)
            && lvs["services"][0]["real_servers"][0]["checkers"][0]["probes"].as_u64() >= Some(1)
    });
    assert!(ready, "vrrpd not ready:\n{}", d.tail(30));
    let (_, failed) = requests(&s.client, s.vip, 3);
    assert_eq!(failed, 0);

    let served = scrape_names(&s.balancer);
    let asked = dashboard_metrics();
    for must in ["vrrp_state", "vrrp_tracker_up", "vrrpd_lb_real_server_up"] {
        assert!(asked.contains(must), "the dashboard has no {must} panel");
    }
    let missing: Vec<&String> = asked.difference(&served).collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries metrics vrrpd does not serve: {missing:?}\nserved: {served:?}"
    );
    eprintln!("{} metric names of the dashboard, all served", asked.len());
}

/// A `vrrp_script` tracked by the instance, so that `vrrp_tracker_up` has a script series.
fn with_tracker(conf: &str) -> String {
    let conf = conf.replacen(
        "    version 3\n",
        "    version 3\n    track_script {\n        chk\n    }\n",
        1,
    );
    format!("vrrp_script chk {{\n    script \"/bin/true\"\n    interval 1\n}}\n{conf}")
}

/// The sample names of one scrape of the endpoint.
fn scrape_names(node: &vrrp_testlab::Node) -> BTreeSet<String> {
    let url = format!("http://{METRICS}/metrics");
    let mut body = String::new();
    let ok = wait_until(START, Duration::from_millis(100), || {
        node.run("curl", &["-s", "-f", "-m", "5", &url])
            .map(|o| {
                body = String::from_utf8_lossy(&o.stdout).into_owned();
                o.status.success()
            })
            .unwrap_or(false)
    });
    assert!(ok, "no metrics at {url}");
    body.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

/// Every metric name the dashboard's panels and variables query.
fn dashboard_metrics() -> BTreeSet<String> {
    let dash: Value = serde_json::from_str(DASHBOARD).expect("the dashboard is JSON");
    let mut names = BTreeSet::new();
    let panels = dash["panels"].as_array().expect("panels");
    for target in panels
        .iter()
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
    {
        names.extend(metric_names(target["expr"].as_str().expect("an expr")));
    }
    for var in dash["templating"]["list"].as_array().expect("variables") {
        if let Some(q) = var["query"]["query"].as_str() {
            // label_values(SELECTOR, LABEL): the label is not a metric.
            let selector = q
                .strip_prefix("label_values(")
                .and_then(|r| r.rsplit_once(','))
                .map_or(q, |(sel, _)| sel);
            names.extend(metric_names(selector));
        }
    }
    names
}

/// PromQL words that are not metric names.
const KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "and",
    "or",
    "unless",
    "inf",
    "nan",
    // Aggregation operators, which may be followed by `by (...)` rather than `(`.
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];
/// Keywords followed by a list of labels in parentheses.
const LABEL_LISTS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// The metric names of a PromQL expression: its identifiers, without function names (an
/// identifier before `(`), keywords, label matchers (`{...}`), label lists (`by (...)`),
/// ranges (`[...]`), strings, numbers and Grafana variables (`$name`).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = BTreeSet::new();
    let mut i = 0;
    let skip_to = |from: usize, close: char| {
        chars[from..]
            .iter()
            .position(|&c| c == close)
            .map_or(chars.len(), |p| from + p + 1)
    };
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    while i < chars.len() {
        let c = chars[i];
        match c {
            '{' => i = skip_to(i + 1, '}'),
            '[' => i = skip_to(i + 1, ']'),
            '"' | '\'' | '`' => i = skip_to(i + 1, c),
            '$' | '0'..='9' | '.' => {
                i += 1;
                while i < chars.len() && (word(chars[i]) || chars[i] == '.') {
                    i += 1;
                }
            }
            c if word(c) => {
                let start = i;
                while i < chars.len() && word(chars[i]) {
                    i += 1;
                }
                let ident: String = chars[start..i].iter().collect();
                let mut next = i;
                while next < chars.len() && chars[next].is_whitespace() {
                    next += 1;
                }
                let call = chars.get(next) == Some(&'(');
                if LABEL_LISTS.contains(&ident.as_str()) && call {
                    i = skip_to(next + 1, ')');
                } else if !call && !KEYWORDS.contains(&ident.to_lowercase().as_str()) {
                    names.insert(ident);
                }
            }
            _ => i += 1,
        }
    }
    names
}

#[test]
fn promql_metric_names_are_told_from_functions_labels_and_keywords() {
    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        metric_names(
            r#"histogram_quantile(0.99, sum by (instance, le) (rate(a_bucket{instance=~"$node", x="by(y)"}[$__rate_interval])))"#
        ),
        set(&["a_bucket"])
    );
    assert_eq!(
        metric_names("rate(b_total[5m]) / on (job) group_left c > 0 and d offset 1h"),
        set(&["b_total", "c", "d"])
    );
    assert_eq!(
        metric_names("count by (vrid) (e == 1) * 8e3 + sum(f) without (le)"),
        set(&["e", "f"])
    );
}
