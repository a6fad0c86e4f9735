//! The load balancer's series: one scrape renders the `lvs` document
//! ([`vrrp_control::LvsStatus`]) the balancer's thread answers with, as `vrrpd_lb_*` and,
//! where they fit, node_exporter's `node_ipvs_*` names so that IPVS dashboards keep working.

use std::sync::atomic::AtomicU64;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use vrrp_control::{LvsService, LvsStatus, Traffic};

use super::Labels;

type Gauges = Family<Labels, Gauge>;
type FloatGauges = Family<Labels, Gauge<f64, AtomicU64>>;
type Counters = Family<Labels, Counter>;

/// The three traffic counters, service and real-server level.
#[derive(Default)]
struct TrafficFamilies {
    connections: Counters,
    packets: Counters,
    bytes: Counters,
}

impl TrafficFamilies {
    fn add(&self, labels: &Labels, t: &Traffic) {
        self.connections.get_or_create(labels).inc_by(t.connections);
        self.packets.get_or_create(labels).inc_by(t.packets);
        self.bytes.get_or_create(labels).inc_by(t.bytes);
    }

    fn register(self, registry: &mut Registry, prefix: &str, what: &str) {
        registry.register(
            format!("{prefix}_connections"),
            format!("Connections scheduled to the {what} by the data path"),
            self.connections,
        );
        registry.register(
            format!("{prefix}_packets"),
            format!("Packets from clients to the {what}"),
            self.packets,
        );
        registry.register(
            format!("{prefix}_bytes"),
            format!("Bytes from clients to the {what}"),
            self.bytes,
        );
    }
}

/// node_exporter's IPVS labels of a service: `local_address`, `local_port`, `proto` and
/// `local_mark` (an fwmark service has no address). A group has no single address: `None`.
fn ipvs_service_labels(s: &LvsService) -> Option<Labels> {
    let proto = s.protocol.to_uppercase();
    if let Some(mark) = s.service.strip_prefix("FWM ") {
        return Some(vec![
            ("local_address".into(), String::new()),
            ("local_port".into(), "0".into()),
            ("proto".into(), proto),
            ("local_mark".into(), mark.to_string()),
        ]);
    }
    // `[ADDRESS]:proto:PORT`
    let (address, rest) = s.service.strip_prefix('[')?.split_once("]:")?;
    let (_, port) = rest.rsplit_once(':')?;
    Some(vec![
        ("local_address".into(), address.to_string()),
        ("local_port".into(), port.to_string()),
        ("proto".into(), proto),
        ("local_mark".into(), String::new()),
    ])
}

/// `[ADDRESS]:PORT` → node_exporter's `remote_address` and `remote_port`.
fn ipvs_backend_labels(service: &Labels, address: &str) -> Option<Labels> {
    let (ip, port) = address.strip_prefix('[')?.split_once("]:")?;
    let mut labels = service.clone();
    labels.push(("remote_address".into(), ip.to_string()));
    labels.push(("remote_port".into(), port.to_string()));
    Some(labels)
}

/// Adds the load balancer's series for `status` to `registry`.
pub(super) fn register(registry: &mut Registry, status: &LvsStatus) {
    let quorum_up = Gauges::default();
    let live_weight = Gauges::default();
    let suspended = Gauges::default();
    let rs_up = Gauges::default();
    let rs_weight = Gauges::default();
    let rs_configured_weight = Gauges::default();
    let rs_in_data_path = Gauges::default();
    let checker_up = Gauges::default();
    let checker_failures = Gauges::default();
    let checker_probes = Counters::default();
    let checker_latency = FloatGauges::default();
    let service_traffic = TrafficFamilies::default();
    let rs_traffic = TrafficFamilies::default();
    let ipvs_weight = Gauges::default();
    let ipvs_active = Gauges::default();
    let mut total = Traffic::default();

    for s in &status.services {
        let labels: Labels = vec![("service".into(), s.service.clone())];
        quorum_up.get_or_create(&labels).set(i64::from(s.quorum_up));
        live_weight
            .get_or_create(&labels)
            .set(i64::from(s.live_weight));
        suspended.get_or_create(&labels).set(i64::from(s.suspended));
        service_traffic.add(&labels, &s.traffic);
        total.connections = total.connections.saturating_add(s.traffic.connections);
        total.packets = total.packets.saturating_add(s.traffic.packets);
        total.bytes = total.bytes.saturating_add(s.traffic.bytes);
        let ipvs_service = ipvs_service_labels(s);
        for rs in &s.real_servers {
            let mut l = labels.clone();
            l.push(("real_server".into(), rs.address.clone()));
            rs_up.get_or_create(&l).set(i64::from(rs.up));
            rs_weight
                .get_or_create(&l)
                .set(i64::from(rs.weight.unwrap_or(0)));
            rs_configured_weight
                .get_or_create(&l)
                .set(i64::from(rs.configured_weight));
            rs_in_data_path
                .get_or_create(&l)
                .set(i64::from(rs.weight.is_some()));
            rs_traffic.add(&l, &rs.traffic);
            for (k, c) in rs.checkers.iter().enumerate() {
                // Two checkers of one kind on a server are told apart by their position.
                let repeated = rs.checkers.iter().filter(|o| o.kind == c.kind).count() > 1;
                let name = if repeated {
                    format!("{}#{}", c.kind, k + 1)
                } else {
                    c.kind.clone()
                };
                let mut cl = l.clone();
                cl.push(("checker".into(), name));
                checker_up.get_or_create(&cl).set(i64::from(c.up));
                checker_failures
                    .get_or_create(&cl)
                    .set(i64::from(c.failures));
                checker_probes.get_or_create(&cl).inc_by(c.probes);
                if let Some(ms) = c.latency_ms {
                    checker_latency.get_or_create(&cl).set(ms / 1000.0);
                }
            }
            let Some(backend) = ipvs_service
                .as_ref()
                .and_then(|sl| ipvs_backend_labels(sl, &rs.address))
            else {
                continue;
            };
            // IPVS lists only the destinations it holds.
            if let Some(w) = rs.weight {
                ipvs_weight.get_or_create(&backend).set(i64::from(w));
                if let Some(active) = rs.traffic.active_connections {
                    ipvs_active
                        .get_or_create(&backend)
                        .set(i64::try_from(active).unwrap_or(i64::MAX));
                }
            }
        }
    }

    registry.register(
        "vrrpd_lb_service_quorum_up",
        "Whether the virtual service has its quorum (1) or serves its sorry server / nothing",
        quorum_up,
    );
    registry.register(
        "vrrpd_lb_service_live_weight",
        "Sum of the weights of the live real servers",
        live_weight,
    );
    registry.register(
        "vrrpd_lb_service_suspended",
        "ha_suspend in force: this node does not hold the service's address",
        suspended,
    );
    registry.register(
        "vrrpd_lb_real_server_up",
        "Whether all the real server's checkers pass",
        rs_up,
    );
    registry.register(
        "vrrpd_lb_real_server_weight",
        "The real server's weight in the data path (0 when out of it)",
        rs_weight,
    );
    registry.register(
        "vrrpd_lb_real_server_configured_weight",
        "The real server's configured weight",
        rs_configured_weight,
    );
    registry.register(
        "vrrpd_lb_real_server_in_data_path",
        "Whether the real server is in the data path (a drained one is, with weight 0)",
        rs_in_data_path,
    );
    registry.register(
        "vrrpd_lb_checker_up",
        "Whether the checker passes",
        checker_up,
    );
    registry.register(
        "vrrpd_lb_checker_consecutive_failures",
        "Failed attempts in a row",
        checker_failures,
    );
    registry.register("vrrpd_lb_checker_probes", "Probes run", checker_probes);
    registry.register(
        "vrrpd_lb_checker_latency_seconds",
        "How long the checker's last probe took",
        checker_latency,
    );
    service_traffic.register(registry, "vrrpd_lb_service", "virtual service");
    rs_traffic.register(registry, "vrrpd_lb_real_server", "real server");
    // node_exporter's IPVS collector's names.
    registry.register(
        "node_ipvs_backend_weight",
        "Weight of the backend (node_exporter compatible)",
        ipvs_weight,
    );
    registry.register(
        "node_ipvs_backend_connections_active",
        "Open connections of the backend, where the data path counts them (node_exporter \
         compatible)",
        ipvs_active,
    );
    let counter = |v: u64| {
        let c = Counter::<u64>::default();
        c.inc_by(v);
        c
    };
    registry.register(
        "node_ipvs_connections",
        "Connections scheduled, all services (node_exporter compatible)",
        counter(total.connections),
    );
    registry.register(
        "node_ipvs_incoming_packets",
        "Packets from clients, all services (node_exporter compatible)",
        counter(total.packets),
    );
    registry.register(
        "node_ipvs_incoming_bytes",
        "Bytes from clients, all services (node_exporter compatible)",
        counter(total.bytes),
    );
}

#[cfg(test)]
mod tests {
    use vrrp_control::{LvsChecker, LvsRealServer};

    use super::*;

    fn real_server(address: &str, up: bool, connections: u64) -> LvsRealServer {
        LvsRealServer {
            address: address.into(),
            forwarding: "Masq".into(),
            configured_weight: 2,
            weight: up.then_some(2),
            up,
            operator: None,
            sorry_server: false,
            checkers: vec![LvsChecker {
                kind: "HTTP_GET".into(),
                up,
                failures: u32::from(!up) * 3,
                last_error: None,
                latency_ms: Some(1.5),
                probes: 9,
            }],
            traffic: Traffic {
                connections,
                active_connections: None,
                packets: connections * 10,
                bytes: connections * 1000,
            },
        }
    }

    #[test]
    fn renders_services_real_servers_and_the_ipvs_names() {
        let status = LvsStatus {
            data_path: "nftables".into(),
            services: vec![LvsService {
                service: "[10.0.0.100]:tcp:80".into(),
                protocol: "tcp".into(),
                scheduler: "wrr".into(),
                persistence_s: None,
                quorum: 1,
                hysteresis: 0,
                quorum_up: true,
                live_weight: 2,
                suspended: false,
                real_servers: vec![
                    real_server("[10.0.0.4]:8080", true, 7),
                    real_server("[10.0.0.5]:8080", false, 3),
                ],
                traffic: Traffic {
                    connections: 10,
                    active_connections: None,
                    packets: 100,
                    bytes: 10_000,
                },
            }],
            announcements: Vec::new(),
        };
        let mut registry = Registry::default();
        register(&mut registry, &status);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        let svc = r#"service="[10.0.0.100]:tcp:80""#;
        let rs4 = format!(r#"{svc},real_server="[10.0.0.4]:8080""#);
        let rs5 = format!(r#"{svc},real_server="[10.0.0.5]:8080""#);
        let ipvs = r#"local_address="10.0.0.100",local_port="80",proto="TCP",local_mark="",remote_address="10.0.0.4",remote_port="8080""#;
        for want in [
            format!("vrrpd_lb_service_quorum_up{{{svc}}} 1"),
            format!("vrrpd_lb_service_connections_total{{{svc}}} 10"),
            format!("vrrpd_lb_real_server_up{{{rs4}}} 1"),
            format!("vrrpd_lb_real_server_up{{{rs5}}} 0"),
            format!("vrrpd_lb_real_server_weight{{{rs5}}} 0"),
            format!("vrrpd_lb_real_server_configured_weight{{{rs5}}} 2"),
            format!("vrrpd_lb_real_server_bytes_total{{{rs4}}} 7000"),
            format!(r#"vrrpd_lb_checker_up{{{rs5},checker="HTTP_GET"}} 0"#),
            format!(r#"vrrpd_lb_checker_consecutive_failures{{{rs5},checker="HTTP_GET"}} 3"#),
            format!(r#"vrrpd_lb_checker_latency_seconds{{{rs4},checker="HTTP_GET"}} 0.0015"#),
            format!("node_ipvs_backend_weight{{{ipvs}}} 2"),
            "node_ipvs_connections_total 10".into(),
            "node_ipvs_incoming_bytes_total 10000".into(),
        ] {
            assert!(text.contains(&want), "{want} in\n{text}");
        }
        // The server out of the data path is not an IPVS destination.
        assert!(!text.contains(r#"remote_address="10.0.0.5""#), "{text}");
    }
}
