//! The text of `vrrpctl lvs`: the layout of `ipvsadm -Ln --stats`, with the health of each
//! real server and its checkers.

use vrrp_control::{BgpAnnouncement, LvsRealServer, LvsService, LvsStatus};

/// The whole `lvs` document.
pub fn status_text(status: &LvsStatus) -> String {
    let mut out = vec![format!("Data path: {}", status.data_path)];
    if status.services.is_empty() {
        out.push("No virtual servers.".into());
    }
    out.push(header());
    for service in &status.services {
        out.push(service_line(service));
        for rs in &service.real_servers {
            out.push(real_server_line(rs));
        }
    }
    if !status.announcements.is_empty() {
        out.push(String::new());
        out.push("BGP announcements (bgp_announce):".into());
        out.extend(status.announcements.iter().map(announcement_line));
    }
    out.join("\n")
}

/// One announced VIP: `10.0.0.1 announced` or `10.0.0.1 withdrawn (no-quorum)`, its
/// services and transitions, and the kernel's last refusal.
pub fn announcement_line(a: &BgpAnnouncement) -> String {
    let state = match (&a.withheld, a.announced) {
        (_, true) => "announced".to_string(),
        (Some(why), false) => format!("withdrawn ({why})"),
        (None, false) => "withdrawn".to_string(),
    };
    let mut line = format!(
        "  {:<16} {state:<26} {} transition(s); {}",
        a.vip,
        a.transitions,
        a.services.join(", ")
    );
    if let Some(e) = &a.error {
        line.push_str(&format!("; route error: {e}"));
    }
    line
}

/// One real server after an operator action, under the column titles.
pub fn real_server_text(rs: &LvsRealServer) -> String {
    format!("{}\n{}", header(), real_server_line(rs))
}

fn header() -> String {
    format!(
        "{:<34} {:>6} {:>8} {:>9} {:>11}  Health",
        "Prot LocalAddress:Port Scheduler", "Weight", "Conns", "InPkts", "InBytes"
    )
}

fn service_line(s: &LvsService) -> String {
    let mut flags = Vec::new();
    if let Some(p) = s.persistence_s {
        flags.push(format!("persistent {p}"));
    }
    if !s.quorum_up {
        flags.push(format!(
            "QUORUM LOST ({} < {})",
            s.live_weight,
            s.quorum.saturating_sub(s.hysteresis)
        ));
    }
    if s.suspended {
        flags.push("suspended (address not held)".into());
    }
    let head = format!(
        "{} {} {}",
        s.protocol.to_uppercase(),
        s.service,
        s.scheduler
    );
    format!(
        "{head:<34} {:>6} {:>8} {:>9} {:>11}  {}",
        s.live_weight,
        s.traffic.connections,
        s.traffic.packets,
        s.traffic.bytes,
        flags.join(", ")
    )
}

fn real_server_line(rs: &LvsRealServer) -> String {
    let weight = rs.weight.map_or("-".into(), |w| w.to_string());
    let mut health = vec![if rs.up { "up" } else { "DOWN" }.to_string()];
    if rs.sorry_server {
        health.push("sorry server".into());
    }
    if let Some(op) = &rs.operator {
        health.push(format!("operator: {op}"));
    }
    for c in &rs.checkers {
        let latency = c
            .latency_ms
            .map_or(String::new(), |l| format!(" {l:.1} ms"));
        let error = match (&c.last_error, c.up) {
            (Some(e), false) => format!(": {e}"),
            _ => String::new(),
        };
        health.push(format!(
            "{} {}{latency}{error}",
            c.kind,
            if c.up { "ok" } else { "failed" }
        ));
    }
    let head = format!("  -> {} {}", rs.address, rs.forwarding);
    format!(
        "{head:<34} {weight:>6} {:>8} {:>9} {:>11}  {}",
        rs.traffic.connections,
        rs.traffic.packets,
        rs.traffic.bytes,
        health.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use vrrp_control::{LvsChecker, Traffic};

    use super::*;

    #[test]
    fn renders_services_real_servers_and_checkers() {
        let rs = |address: &str, up: bool| LvsRealServer {
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
                failures: u32::from(!up),
                last_error: (!up).then(|| "connection refused".into()),
                latency_ms: Some(1.25),
                probes: 3,
            }],
            traffic: Traffic {
                connections: 10,
                active_connections: None,
                packets: 60,
                bytes: 4000,
            },
        };
        let status = LvsStatus {
            data_path: "nftables".into(),
            services: vec![LvsService {
                service: "[10.99.1.100]:tcp:80".into(),
                protocol: "tcp".into(),
                scheduler: "wrr".into(),
                persistence_s: None,
                quorum: 1,
                hysteresis: 0,
                quorum_up: true,
                live_weight: 2,
                suspended: false,
                real_servers: vec![rs("[10.99.1.10]:80", true), rs("[10.99.1.11]:80", false)],
                traffic: Traffic::default(),
            }],
            announcements: vec![vrrp_control::BgpAnnouncement {
                vip: "10.99.1.100".into(),
                announced: false,
                withheld: Some("maintenance".into()),
                services: vec!["[10.99.1.100]:tcp:80".into()],
                transitions: 2,
                error: None,
            }],
        };
        let text = status_text(&status);
        assert!(text.contains("TCP [10.99.1.100]:tcp:80 wrr"), "{text}");
        assert!(text.contains("-> [10.99.1.10]:80 Masq"), "{text}");
        assert!(
            text.contains("DOWN; HTTP_GET failed 1.2 ms: connection refused"),
            "{text}"
        );
        assert!(
            text.contains("10.99.1.100      withdrawn (maintenance)"),
            "{text}"
        );
    }
}
