//! The load balancer as `vrrpctl` sees it: the `lvs` document, the names an operator types
//! for services and real servers, and the watch events.

use std::net::{IpAddr, SocketAddr};

use vrrp_control::{
    Event as WatchEvent, LvsChecker, LvsRealServer, LvsService, LvsStatus, Traffic,
};
use vrrp_dataplane::{Counters, Stats};
use vrrp_lb::dataplane::DesiredState;
use vrrp_lb::spec::{RealServerKey, ServiceId, ServiceKey, ServiceSpec};
use vrrp_lb::{Balancer, Event, Override, RealServerStatus, ServiceStatus};

use super::BalancerPlan;

/// The `lvs` document: every service, or the one `service` names; the weights are those
/// `held` by the data path.
pub(super) fn status(
    core: &Balancer,
    plan: &BalancerPlan,
    held: &DesiredState,
    stats: Option<&Stats>,
    service: Option<&str>,
) -> Result<LvsStatus, String> {
    let all = core.status();
    let wanted = match service {
        Some(name) => Some(find_service(&all, name)?),
        None => None,
    };
    let services = all
        .iter()
        .filter(|s| wanted.as_ref().is_none_or(|w| *w == s.id))
        .map(|s| service_doc(s, plan.service(&s.id), held, stats))
        .collect();
    Ok(LvsStatus {
        data_path: plan.data_path_reason.clone(),
        services,
        announcements: Vec::new(),
    })
}

/// One real server after an operator action.
pub(super) fn real_server(
    core: &Balancer,
    plan: &BalancerPlan,
    held: &DesiredState,
    service: &str,
    real_server: &str,
) -> Result<LvsRealServer, String> {
    let (id, key) = resolve(core, service, real_server)?;
    let all = core.status();
    let s = all
        .iter()
        .find(|s| s.id == id)
        .ok_or_else(|| format!("no virtual server {service}"))?;
    let doc = service_doc(s, plan.service(&id), held, None);
    doc.real_servers
        .into_iter()
        .find(|rs| rs.address == key.to_string())
        .ok_or_else(|| format!("virtual server {id} has no real server {real_server}"))
}

/// `desired` is what the data path holds (the last transaction it took), so the weights
/// shown are the kernel's: a failed server kept at weight 0 by
/// `inhibit_on_failure` is there, and live servers are not while the sorry server is in.
fn service_doc(
    s: &ServiceStatus,
    spec: Option<&ServiceSpec>,
    desired: &DesiredState,
    stats: Option<&Stats>,
) -> LvsService {
    let in_data_path = |key: &RealServerKey| {
        desired
            .services
            .get(&s.id)
            .and_then(|d| d.destinations.get(key))
            .map(|d| d.weight)
    };
    let mut real_servers: Vec<LvsRealServer> = s
        .real_servers
        .iter()
        .map(|rs| {
            real_server_doc(
                rs,
                spec,
                in_data_path(&rs.key),
                destination(stats, &s.id, &rs.key),
            )
        })
        .collect();
    if let Some(sorry) = spec.and_then(|sp| sp.sorry_server) {
        real_servers.push(LvsRealServer {
            address: sorry.key.to_string(),
            forwarding: sorry.forwarding.ipvs_name().into(),
            configured_weight: 1,
            weight: in_data_path(&sorry.key),
            up: true,
            operator: None,
            sorry_server: true,
            checkers: Vec::new(),
            traffic: destination(stats, &s.id, &sorry.key),
        });
    }
    LvsService {
        service: s.id.to_string(),
        protocol: s.id.protocol.name().into(),
        scheduler: s.scheduler.name().into(),
        persistence_s: spec
            .and_then(|sp| sp.persistence)
            .map(|p| p.timeout.as_secs()),
        quorum: s.quorum,
        hysteresis: s.hysteresis,
        quorum_up: s.quorum_up,
        live_weight: u32::try_from(s.live_weight).unwrap_or(u32::MAX),
        suspended: s.suspended,
        real_servers,
        traffic: traffic(stats.and_then(|t| t.services.get(&s.id)).map(|s| &s.total)),
    }
}

fn destination(stats: Option<&Stats>, id: &ServiceId, key: &RealServerKey) -> Traffic {
    traffic(
        stats
            .and_then(|t| t.services.get(id))
            .and_then(|s| s.destinations.get(key)),
    )
}

fn traffic(counters: Option<&Counters>) -> Traffic {
    counters.map_or_else(Traffic::default, |c| Traffic {
        connections: c.connections,
        active_connections: None,
        packets: c.packets,
        bytes: c.bytes,
    })
}

fn real_server_doc(
    rs: &RealServerStatus,
    spec: Option<&ServiceSpec>,
    weight: Option<u32>,
    traffic: Traffic,
) -> LvsRealServer {
    let forwarding = spec
        .and_then(|sp| sp.real_servers.iter().find(|r| r.key == rs.key))
        .map_or(vrrp_lb::spec::Forwarding::Nat, |r| r.forwarding);
    LvsRealServer {
        address: rs.key.to_string(),
        forwarding: forwarding.ipvs_name().into(),
        configured_weight: rs.configured_weight,
        weight,
        up: rs.up,
        operator: rs.operator.map(|o| match o {
            Override::Weight(w) => format!("weight {w}"),
            Override::Drain => "drain".into(),
            Override::Disable => "disable".into(),
        }),
        sorry_server: false,
        checkers: rs
            .checkers
            .iter()
            .map(|c| LvsChecker {
                kind: c.kind.into(),
                up: c.up,
                failures: c.consecutive_failures,
                last_error: c.last_failure.clone(),
                latency_ms: c.last_latency.map(|d| d.as_secs_f64() * 1000.0),
                probes: c.probes,
            })
            .collect(),
        traffic,
    }
}

/// The service `name` designates: keepalived's notation (`[10.0.0.1]:tcp:80`, `FWM 5`,
/// `group NAME`), or `IP:PORT` / `[IPv6]:PORT` / `fwmark N` when one protocol has it.
fn find_service(all: &[ServiceStatus], name: &str) -> Result<ServiceId, String> {
    let name = name.trim();
    if let Some(s) = all.iter().find(|s| s.id.to_string() == name) {
        return Ok(s.id.clone());
    }
    let key = if let Some(mark) = name
        .strip_prefix("fwmark ")
        .or_else(|| name.strip_prefix("FWM "))
    {
        mark.trim().parse().ok().map(ServiceKey::Fwmark)
    } else if let Some(group) = name.strip_prefix("group ") {
        Some(ServiceKey::Group(group.trim().to_string()))
    } else {
        parse_socket(name).map(ServiceKey::Socket)
    };
    let matches: Vec<&ServiceStatus> = all
        .iter()
        .filter(|s| Some(&s.id.key) == key.as_ref())
        .collect();
    match matches.as_slice() {
        [one] => Ok(one.id.clone()),
        [] => Err(format!("no virtual server {name} (see vrrpctl lvs)")),
        _ => Err(format!(
            "{name} has several protocols: name one as vrrpctl lvs shows it ({})",
            matches
                .iter()
                .map(|s| s.id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// `10.0.0.1:80`, `[10.0.0.1]:80` (keepalived's way) or `[fd00::1]:80`.
fn parse_socket(text: &str) -> Option<SocketAddr> {
    text.parse().ok().or_else(|| {
        let (addr, port) = text.strip_prefix('[')?.split_once("]:")?;
        Some(SocketAddr::new(addr.parse().ok()?, port.parse().ok()?))
    })
}

/// The service and real server an operator names (a real server may be given by its
/// address alone when only one port has it).
pub(super) fn resolve(
    core: &Balancer,
    service: &str,
    real_server: &str,
) -> Result<(ServiceId, RealServerKey), String> {
    let all = core.status();
    let id = find_service(&all, service)?;
    let servers = all
        .iter()
        .find(|s| s.id == id)
        .map(|s| s.real_servers.as_slice())
        .unwrap_or_default();
    let text = real_server.trim();
    let wanted: Vec<RealServerKey> = match (parse_socket(text), text.parse::<IpAddr>()) {
        (Some(sa), _) => vec![RealServerKey {
            addr: sa.ip(),
            port: sa.port(),
        }],
        (None, Ok(addr)) => servers
            .iter()
            .map(|r| r.key)
            .filter(|k| k.addr == addr)
            .collect(),
        (None, Err(_)) => return Err(format!("{real_server:?} is not IP:PORT")),
    };
    match wanted.as_slice() {
        [key] if servers.iter().any(|r| r.key == *key) => Ok((id, *key)),
        [_, _, ..] => Err(format!(
            "{real_server} has several ports in {id}: give IP:PORT"
        )),
        _ => Err(format!(
            "virtual server {id} has no real server {real_server}"
        )),
    }
}

/// The watch line of an event, for those `vrrpctl watch` shows. An operator's action is a
/// `real_server` event too: `up` is false while the server is disabled, else its health.
pub(super) fn watch_event(core: &Balancer, event: &Event) -> Option<WatchEvent> {
    Some(match event {
        Event::OperatorOverride {
            service,
            real_server,
            value,
        } => {
            let healthy = || {
                core.status()
                    .iter()
                    .find(|s| s.id == *service)
                    .and_then(|s| s.real_servers.iter().find(|r| r.key == *real_server))
                    .is_some_and(|r| r.up)
            };
            let (up, reason) = match value {
                Some(Override::Disable) => (false, "disabled by the operator".to_string()),
                Some(Override::Drain) => (healthy(), "drained by the operator".into()),
                Some(Override::Weight(w)) => (healthy(), format!("weight {w} set by the operator")),
                None => (healthy(), "enabled by the operator".into()),
            };
            WatchEvent::RealServer {
                service: service.to_string(),
                real_server: real_server.to_string(),
                up,
                reason,
            }
        }
        Event::RealServerUp {
            service,
            real_server,
        } => WatchEvent::RealServer {
            service: service.to_string(),
            real_server: real_server.to_string(),
            up: true,
            reason: "its checks pass".into(),
        },
        Event::RealServerDown {
            service,
            real_server,
            reason,
        } => WatchEvent::RealServer {
            service: service.to_string(),
            real_server: real_server.to_string(),
            up: false,
            reason: reason.clone(),
        },
        Event::QuorumUp {
            service,
            live_weight,
        }
        | Event::QuorumDown {
            service,
            live_weight,
        } => WatchEvent::Quorum {
            service: service.to_string(),
            up: matches!(event, Event::QuorumUp { .. }),
            live_weight: u32::try_from(*live_weight).unwrap_or(u32::MAX),
        },
        _ => return None,
    })
}
