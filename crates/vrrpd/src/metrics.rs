//! The optional Prometheus endpoint (`--metrics-listen ADDR` or `metrics_listen` in
//! global_defs), served in OpenMetrics text on the control thread.
//!
//! Each scrape asks the protocol thread for a snapshot ([`vrrp_control::Snapshot`]: the
//! `status` lines with counters, master changes and trackers) and renders it; the protocol timer's lateness histogram is shared
//! with the protocol thread through atomics. Metric names follow RFC 6527 where it names the
//! counter, and the community keepalived exporter's `keepalived_*` names are offered as
//! well, so that dashboards built for it keep working.
//!
//! With `virtual_server`s, the scrape also asks the load balancer's thread for its `lvs`
//! document (through the protocol thread, which only forwards the question) and renders it
//! ([`lb`]); a balancer that does not answer in time costs the scrape those series, never
//! the protocol thread a wait.

mod bgp;
mod deadline;
mod lb;

use std::convert::Infallible;
use std::net::SocketAddr;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request as HttpRequest, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};
use vrrp_control::{Counters, LvsStatus, Snapshot, VrrpState};

use crate::control::ControlRequest;
use crate::control::gate::{self, Endpoint, Gate, Refusal, Ticket};

type Labels = Vec<(String, String)>;

/// How long a scrape waits for the load balancer's thread.
const LB_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
/// Scrapers served at once; beyond, the longest idle connection makes room.
pub(crate) const MAX_SCRAPERS: usize = 64;
/// How long a client may take to send a request's headers.
pub(crate) const HEADER_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long a client may take to read an answer.
const ANSWER_WAIT: std::time::Duration = std::time::Duration::from_secs(5);
/// Longest request head accepted (hyper's smallest buffer).
const MAX_HEAD: usize = 8192;

/// What the protocol thread answers a scrape with: its snapshot, and the load balancer's
/// answer to come when there is one.
#[derive(Debug)]
pub(crate) struct Scrape {
    pub(crate) vrrp: Snapshot,
    /// Packets for VRIDs not configured here.
    pub(crate) unknown_vrid: u64,
    pub(crate) lvs: Option<oneshot::Receiver<Result<LvsStatus, String>>>,
}

/// Upper bounds (seconds) of the protocol timer lateness histogram.
pub(crate) const LATENESS_BUCKETS: [f64; 8] =
    [25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 5e-3, 20e-3];

/// The lateness histogram, observed by the protocol thread and read by scrapes.
pub(crate) fn lateness_histogram() -> Histogram {
    Histogram::new(LATENESS_BUCKETS)
}

/// Serves `GET /metrics` on `addr` (on the current runtime: the control thread's).
pub(crate) async fn serve(
    addr: SocketAddr,
    requests: mpsc::Sender<ControlRequest>,
    lateness: Histogram,
) {
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            warn!("metrics endpoint disabled: cannot listen on {addr}: {e}");
            return;
        }
    };
    info!("metrics on http://{addr}/metrics");
    let gate = Gate::new(Endpoint::Metrics, MAX_SCRAPERS);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors, say: wait rather than spin.
                warn!("metrics endpoint: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let Some(ticket) = gate.admit() else {
            // A fresh socket's buffer takes the refusal without blocking.
            let _ = stream.try_write(BUSY.as_bytes());
            continue;
        };
        tokio::spawn(connection(
            stream,
            ticket,
            requests.clone(),
            lateness.clone(),
        ));
    }
}

const BUSY: &str = "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\
                    Content-Length: 17\r\n\r\ntoo many clients\n";

/// Serves one connection; it is idle (may be asked to make room) except while a scrape is
/// being answered.
async fn connection(
    stream: tokio::net::TcpStream,
    ticket: Ticket,
    requests: mpsc::Sender<ControlRequest>,
    lateness: Histogram,
) {
    let ticket = std::sync::Arc::new(ticket);
    let serving = std::sync::Arc::clone(&ticket);
    let service = hyper::service::service_fn(move |req: HttpRequest<Incoming>| {
        let (requests, lateness, ticket) = (
            requests.clone(),
            lateness.clone(),
            std::sync::Arc::clone(&serving),
        );
        async move {
            ticket.busy();
            let response = answer(req, requests, lateness).await;
            // Writing the answer to a client that does not read makes it idle again.
            ticket.idle();
            Ok::<_, Infallible>(response)
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_WAIT)
        .max_buf_size(MAX_HEAD)
        .serve_connection(
            TokioIo::new(deadline::WriteDeadline::new(stream, ANSWER_WAIT)),
            service,
        );
    let outcome = tokio::select! {
        outcome = conn => outcome,
        () = ticket.evicted() => return,
    };
    if let Err(e) = outcome {
        let reason = if e.is_timeout() {
            Refusal::Idle
        } else if e.is_parse_too_large() {
            Refusal::TooLong
        } else if e.is_parse() {
            Refusal::Malformed
        } else {
            // The client went away, or did not take its answer (counted by the deadline).
            return;
        };
        gate::count(Endpoint::Metrics, reason);
    }
}

async fn answer(
    req: HttpRequest<Incoming>,
    requests: mpsc::Sender<ControlRequest>,
    lateness: Histogram,
) -> Response<Full<Bytes>> {
    if req.uri().path() != "/metrics" {
        return plain(StatusCode::NOT_FOUND, "see /metrics\n".into());
    }
    let (reply, answer) = oneshot::channel();
    let asked = requests.send(ControlRequest::Metrics { reply }).await;
    let scrape = match (asked, answer.await) {
        (Ok(()), Ok(scrape)) => scrape,
        _ => {
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "daemon shutting down\n".into(),
            );
        }
    };
    let lvs = match scrape.lvs {
        Some(answer) => match tokio::time::timeout(LB_TIMEOUT, answer).await {
            Ok(Ok(Ok(status))) => Some(status),
            Ok(Ok(Err(e))) => {
                warn!("metrics: the load balancer's status: {e}");
                None
            }
            Ok(Err(_)) => None,
            Err(_) => {
                warn!("metrics: the load balancer did not answer within {LB_TIMEOUT:?}");
                None
            }
        },
        None => None,
    };
    let rendered = render(&scrape.vrrp, scrape.unknown_vrid, lvs.as_ref(), lateness);
    release_freed_memory();
    match rendered {
        Ok(text) => {
            let mut response = Response::new(Full::new(Bytes::from(text)));
            if let Ok(ct) = "application/openmetrics-text; version=1.0.0; charset=utf-8".parse() {
                response
                    .headers_mut()
                    .insert(hyper::header::CONTENT_TYPE, ct);
            }
            response
        }
        Err(e) => plain(StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")),
    }
}

/// A scrape of 1,000 instances builds some 50,000 labelled series, ~30 MB freed at once;
/// glibc keeps the freed pages of this thread's arena, and RSS would stay at that peak.
fn release_freed_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only returns free heap pages to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn plain(status: StatusCode, text: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(text)));
    *response.status_mut() = status;
    response
}

/// keepalived's state numbers, as the keepalived exporter reports them.
fn keepalived_state(state: VrrpState) -> i64 {
    match state {
        VrrpState::Backup => 1,
        VrrpState::Master => 2,
        VrrpState::Fault => 3,
        VrrpState::Init | VrrpState::Observer => 0,
    }
}

/// One counter of an instance.
type Field = fn(&Counters) -> u64;

/// Our counters → (metric name, help, keepalived exporter name).
const COUNTERS: &[(Field, &str, &str, Option<&str>)] = &[
    (
        |c| c.rcvd_advertisements,
        "vrrp_advertisements_received",
        "Advertisements received and accepted (vrrpv3StatisticsRcvdAdvertisements)",
        Some("keepalived_advert_rcvd"),
    ),
    (
        |c| c.sent_advertisements,
        "vrrp_advertisements_sent",
        "Advertisements sent",
        Some("keepalived_advert_sent"),
    ),
    (
        |c| c.rcvd_pri_zero_packets,
        "vrrp_priority_zero_received",
        "Priority-0 advertisements received (vrrpv3StatisticsRcvdPriZeroPackets)",
        Some("keepalived_pri_zero_rcvd"),
    ),
    (
        |c| c.sent_pri_zero_packets,
        "vrrp_priority_zero_sent",
        "Priority-0 advertisements sent (vrrpv3StatisticsSentPriZeroPackets)",
        Some("keepalived_pri_zero_sent"),
    ),
    (
        |c| c.master_transitions,
        "vrrp_master_transitions",
        "Transitions to Master (vrrpv3StatisticsMasterTransitions)",
        Some("keepalived_become_master"),
    ),
    (
        |c| c.master_releases,
        "vrrp_master_releases",
        "Transitions out of Master",
        Some("keepalived_release_master"),
    ),
    (
        |c| c.rcvd_lower_priority_as_master,
        "vrrp_lower_priority_received_as_master",
        "Lower-priority advertisements heard while Master (split brain)",
        None,
    ),
    (
        |c| c.vip_restores,
        "vrrp_vip_restores",
        "Virtual addresses put back after they went away from a Master (ip addr del)",
        None,
    ),
];

/// Receive error counters → the `error` label, and the keepalived exporter's name.
const ERRORS: &[(Field, &str, Option<&str>)] = &[
    (
        |c| c.adv_interval_errors,
        "interval",
        Some("keepalived_advert_interval_err"),
    ),
    (|c| c.ip_ttl_errors, "ttl", Some("keepalived_ip_ttl_err")),
    (
        |c| c.rcvd_invalid_type_packets,
        "type",
        Some("keepalived_invalid_type_rcvd"),
    ),
    (
        |c| c.address_list_errors,
        "address_list",
        Some("keepalived_addr_list_err"),
    ),
    (
        |c| c.packet_length_errors,
        "length",
        Some("keepalived_packet_len_err"),
    ),
    (|c| c.checksum_errors, "checksum", None),
    (|c| c.version_errors, "version", None),
    (|c| c.vrid_errors, "vrid", None),
    (
        |c| c.auth_failures,
        "auth_failure",
        Some("keepalived_auth_failure"),
    ),
    (
        |c| c.invalid_auth_type,
        "invalid_auth_type",
        Some("keepalived_invalid_authtype"),
    ),
    (
        |c| c.auth_type_mismatch,
        "auth_type_mismatch",
        Some("keepalived_authtype_mismatch"),
    ),
    (|c| c.proto_errors, "protocol", None),
    (|c| c.unicast_src_errors, "unicast_src", None),
];

fn render(
    snapshot: &Snapshot,
    unknown_vrid: u64,
    lvs: Option<&LvsStatus>,
    lateness: Histogram,
) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    crate::alerts::register_metrics(&mut registry);
    crate::busy::register_metrics(&mut registry);
    crate::takeover::register_metrics(&mut registry);
    gate::register_metrics(&mut registry);

    let state = Family::<Labels, Gauge>::default();
    let keepalived_vrrp_state = Family::<Labels, Gauge>::default();
    let priority = Family::<Labels, Gauge>::default();
    let configured_priority = Family::<Labels, Gauge>::default();
    let since_transition = Family::<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    let master_changes = Family::<Labels, Counter>::default();
    let errors = Family::<Labels, Counter>::default();
    let tracker_up = Family::<Labels, Gauge>::default();
    let counters: Vec<Family<Labels, Counter>> =
        COUNTERS.iter().map(|_| Family::default()).collect();
    let keepalived_counters: Vec<Family<Labels, Counter>> =
        COUNTERS.iter().map(|_| Family::default()).collect();
    let keepalived_errors: Vec<Family<Labels, Counter>> =
        ERRORS.iter().map(|_| Family::default()).collect();

    for inst in &snapshot.instances {
        let s = &inst.status;
        let labels: Labels = vec![
            ("instance".into(), s.name.clone()),
            ("interface".into(), s.interface.clone()),
            ("vrid".into(), s.vrid.to_string()),
            ("family".into(), s.family.name().into()),
        ];
        let keepalived_labels: Labels = vec![
            ("iname".into(), s.name.clone()),
            ("intf".into(), s.interface.clone()),
            ("vrid".into(), s.vrid.to_string()),
        ];
        for each in VrrpState::ALL {
            let mut l = labels.clone();
            l.push(("state".into(), each.name().into()));
            state.get_or_create(&l).set(i64::from(s.state == each));
        }
        keepalived_vrrp_state
            .get_or_create(&keepalived_labels)
            .set(keepalived_state(s.state));
        priority.get_or_create(&labels).set(i64::from(s.priority));
        configured_priority
            .get_or_create(&labels)
            .set(i64::from(s.configured_priority));
        since_transition.get_or_create(&labels).set(s.in_state_s);
        master_changes
            .get_or_create(&labels)
            .inc_by(inst.master_changes);
        for t in &inst.trackers {
            let mut l = labels.clone();
            l.push(("tracker".into(), t.name.clone()));
            l.push(("type".into(), t.kind.name().into()));
            tracker_up
                .get_or_create(&l)
                .set(i64::from(t.up.unwrap_or(false)));
        }
        for (k, (field, _, _, _)) in COUNTERS.iter().enumerate() {
            let v = field(&inst.counters);
            counters[k].get_or_create(&labels).inc_by(v);
            keepalived_counters[k]
                .get_or_create(&keepalived_labels)
                .inc_by(v);
        }
        for (k, (field, label, _)) in ERRORS.iter().enumerate() {
            let v = field(&inst.counters);
            let mut l = labels.clone();
            l.push(("error".into(), (*label).into()));
            errors.get_or_create(&l).inc_by(v);
            keepalived_errors[k]
                .get_or_create(&keepalived_labels)
                .inc_by(v);
        }
    }

    registry.register(
        "vrrp_state",
        "Instance state (1 for the current state)",
        state,
    );
    registry.register("vrrp_priority", "Effective priority", priority);
    registry.register(
        "vrrp_configured_priority",
        "Configured priority",
        configured_priority,
    );
    registry.register(
        "vrrp_seconds_in_state",
        "Seconds since the last transition",
        since_transition,
    );
    registry.register(
        "vrrp_master_changes",
        "Changes of the Master as seen from here",
        master_changes,
    );
    registry.register(
        "vrrp_receive_errors",
        "Advertisements discarded, by reason (RFC 6527 error counters)",
        errors,
    );
    registry.register(
        "vrrp_tracker_up",
        "Tracked object state (1 up / OK)",
        tracker_up,
    );
    for (k, (_, name, help, _)) in COUNTERS.iter().enumerate() {
        registry.register(*name, *help, counters[k].clone());
    }
    registry.register(
        "vrrp_protocol_timer_lateness_seconds",
        "How late the protocol timer fired after its deadline",
        lateness,
    );
    let unknown = Counter::<u64>::default();
    unknown.inc_by(unknown_vrid);
    registry.register(
        "vrrp_unknown_vrid_packets",
        "Packets for a VRID not configured on the interface they came in on",
        unknown,
    );
    let overruns = Counter::<u64>::default();
    overruns.inc_by(vrrp_linux::netlink::overruns_total());
    registry.register(
        "vrrpd_netlink_overruns",
        "Times the kernel dropped link and address notifications (receive buffer overrun)",
        overruns,
    );
    let resyncs = Counter::<u64>::default();
    resyncs.inc_by(vrrp_linux::netlink::resyncs_total());
    registry.register(
        "vrrpd_netlink_resyncs",
        "Full dumps of links and addresses after lost notifications",
        resyncs,
    );
    // The keepalived exporter's names (mehdy/keepalived-exporter), for existing dashboards.
    registry.register(
        "keepalived_vrrp_state",
        "keepalived-compatible state (0 init, 1 backup, 2 master, 3 fault)",
        keepalived_vrrp_state,
    );
    for (k, (_, _, _, name)) in COUNTERS.iter().enumerate() {
        if let Some(name) = name {
            registry.register(
                *name,
                "keepalived exporter compatible counter",
                keepalived_counters[k].clone(),
            );
        }
    }
    for (k, (_, _, name)) in ERRORS.iter().enumerate() {
        if let Some(name) = name {
            registry.register(
                *name,
                "keepalived exporter compatible counter",
                keepalived_errors[k].clone(),
            );
        }
    }
    if let Some(lvs) = lvs {
        lb::register(&mut registry, lvs);
        bgp::register(&mut registry, &lvs.announcements);
    }
    process_metrics(&mut registry);

    let mut text = String::new();
    encode(&mut text, &registry)?;
    Ok(text)
}

/// Process metrics from /proc/self, with the conventional names.
fn process_metrics(registry: &mut Registry) {
    let ticks = 100.0; // USER_HZ on Linux
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the command name (which may contain spaces) start after ") ".
        if let Some(rest) = stat.rsplit_once(") ").map(|(_, r)| r) {
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let field = |i: usize| {
                fields
                    .get(i)
                    .and_then(|f| f.parse::<f64>().ok())
                    .unwrap_or(0.0)
            };
            // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the state.
            let cpu = Counter::<f64, std::sync::atomic::AtomicU64>::default();
            cpu.inc_by((field(11) + field(12)) / ticks);
            registry.register(
                "process_cpu_seconds",
                "CPU time used by the daemon (user + system)",
                cpu,
            );
        }
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        for line in status.lines() {
            if let Some(kb) = line.strip_prefix("VmRSS:") {
                let kb: i64 = kb.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                let rss = Gauge::<i64>::default();
                rss.set(kb * 1024);
                registry.register("process_resident_memory_bytes", "Resident memory", rss);
            }
        }
    }
    let missing = Counter::<u64>::default();
    missing.inc_by(vrrp_track::notify::missing_runs());
    registry.register(
        "vrrpd_missing_script_runs",
        "Runs of tracking scripts and notify hooks skipped: their program was missing at load",
        missing,
    );
    if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
        let fds = Gauge::<i64>::default();
        fds.set(i64::try_from(entries.count()).unwrap_or(0));
        registry.register("process_open_fds", "Open file descriptors", fds);
    }
}

#[cfg(test)]
mod tests {
    use vrrp_control::{
        Counters, IpFamily, Snapshot, SnapshotInstance, StatusLine, Tracker, TrackerType,
    };

    use super::*;

    #[test]
    fn renders_the_typed_snapshot() {
        let snapshot = Snapshot {
            instances: vec![SnapshotInstance {
                status: StatusLine {
                    name: "VI_1".into(),
                    interface: "eth0".into(),
                    family: IpFamily::Ipv6,
                    vrid: 51,
                    version: 3,
                    state: VrrpState::Master,
                    priority: 90,
                    configured_priority: 100,
                    operator_priority: None,
                    maintenance: false,
                    master: None,
                    in_state_s: 2.5,
                    vips: vec![],
                },
                counters: Counters {
                    sent_advertisements: 7,
                    checksum_errors: 2,
                    vip_restores: 1,
                    ..Counters::default()
                },
                master_changes: 3,
                trackers: vec![Tracker {
                    kind: TrackerType::Script,
                    name: "chk".into(),
                    weight: -10,
                    reverse: false,
                    up: Some(true),
                    value: Some(None),
                }],
            }],
        };
        let text = render(&snapshot, 4, None, lateness_histogram()).expect("renders");
        let labels = r#"instance="VI_1",interface="eth0",vrid="51",family="ipv6""#;
        for want in [
            format!(r#"vrrp_state{{{labels},state="MASTER"}} 1"#),
            format!(r#"vrrp_state{{{labels},state="BACKUP"}} 0"#),
            r#"keepalived_vrrp_state{iname="VI_1",intf="eth0",vrid="51"} 2"#.to_string(),
            format!("vrrp_priority{{{labels}}} 90"),
            format!("vrrp_configured_priority{{{labels}}} 100"),
            format!("vrrp_seconds_in_state{{{labels}}} 2.5"),
            format!("vrrp_master_changes_total{{{labels}}} 3"),
            format!("vrrp_advertisements_sent_total{{{labels}}} 7"),
            format!(r#"vrrp_receive_errors_total{{{labels},error="checksum"}} 2"#),
            format!(r#"vrrp_tracker_up{{{labels},tracker="chk",type="script"}} 1"#),
            r#"keepalived_advert_sent_total{iname="VI_1",intf="eth0",vrid="51"} 7"#.to_string(),
            "vrrpd_missing_script_runs_total 0".to_string(),
            "vrrp_unknown_vrid_packets_total 4".to_string(),
            format!("vrrp_vip_restores_total{{{labels}}} 1"),
            "vrrpd_netlink_resyncs_total 0".to_string(),
            "vrrpd_netlink_overruns_total 0".to_string(),
        ] {
            assert!(text.contains(&want), "{want} in\n{text}");
        }
    }
}
