//! What `vrrpctl lvs` shows, and what `vrrpctl rs ...` does.

use std::fmt;
use std::time::Duration;

use vrrp_core::Timestamp;

use crate::event::{Event, Override};
use crate::spec::{RealServerKey, Scheduler, ServiceId};

use super::Balancer;
use super::service::RealServer;

/// One checker as it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckerStatus {
    /// keepalived's keyword (`TCP_CHECK`, `HTTP_GET`, ...).
    pub kind: &'static str,
    /// It passes.
    pub up: bool,
    /// Failed probes in a row.
    pub consecutive_failures: u32,
    /// Why the last failed probe failed.
    pub last_failure: Option<String>,
    /// When the last probe ended.
    pub last_check: Option<Timestamp>,
    /// How long the last probe took, if the driver said.
    pub last_latency: Option<Duration>,
    /// Probes launched since it started.
    pub probes: u64,
}

/// One real server as it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealServerStatus {
    /// Address and port.
    pub key: RealServerKey,
    /// `weight` as configured.
    pub configured_weight: u32,
    /// The weight it has now (operator's, checker-set or configured).
    pub effective_weight: u32,
    /// All its checkers pass.
    pub up: bool,
    /// The operator's override.
    pub operator: Option<Override>,
    /// Its checkers, in configuration order.
    pub checkers: Vec<CheckerStatus>,
}

/// One virtual service as it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceStatus {
    /// Its identity.
    pub id: ServiceId,
    /// `lvs_sched`.
    pub scheduler: Scheduler,
    /// `quorum`.
    pub quorum: u32,
    /// `hysteresis`.
    pub hysteresis: u32,
    /// It has its quorum.
    pub quorum_up: bool,
    /// The summed effective weight of its live real servers.
    pub live_weight: u64,
    /// The sorry server takes the traffic.
    pub sorry_server_in: bool,
    /// `ha_suspend` and this node holds none of its addresses.
    pub suspended: bool,
    /// Its real servers, in configuration order.
    pub real_servers: Vec<RealServerStatus>,
}

/// `vrrpctl rs weight N|drain|enable|disable VS RS`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorCommand {
    /// The service.
    pub service: ServiceId,
    /// The real server.
    pub real_server: RealServerKey,
    /// What to do: `Some` sets an override, `None` (`enable`) clears it.
    pub action: Option<Override>,
}

/// Why an operator command was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OperatorError {
    /// No such virtual service.
    NoSuchService(ServiceId),
    /// The service has no such real server.
    NoSuchRealServer(ServiceId, RealServerKey),
    /// The balancer has shut down.
    Stopped,
}

impl fmt::Display for OperatorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OperatorError::NoSuchService(id) => write!(f, "no virtual server {id}"),
            OperatorError::NoSuchRealServer(id, rs) => {
                write!(f, "virtual server {id} has no real server {rs}")
            }
            OperatorError::Stopped => f.write_str("the load balancer is shutting down"),
        }
    }
}

impl std::error::Error for OperatorError {}

fn real_server_status(rs: &RealServer) -> RealServerStatus {
    RealServerStatus {
        key: rs.spec.key,
        configured_weight: rs.spec.weight,
        effective_weight: rs.effective_weight(),
        up: rs.alive,
        operator: rs.operator,
        checkers: rs
            .checkers
            .iter()
            .map(|c| CheckerStatus {
                kind: c.spec.kind.keyword(),
                up: c.up,
                consecutive_failures: c.consecutive_failures,
                last_failure: c.last_failure.clone(),
                last_check: c.last_check,
                last_latency: c.last_latency,
                probes: c.probes,
            })
            .collect(),
    }
}

impl Balancer {
    /// Whether service `id` has its quorum and runs (not suspended by `ha_suspend`): what
    /// gates its `bgp_announce`. An unknown service has none.
    pub fn serving(&self, id: &ServiceId) -> bool {
        self.services
            .iter()
            .any(|vs| vs.spec.id == *id && vs.quorum_up && !vs.suspended)
    }

    /// Every service's state, in configuration order.
    pub fn status(&self) -> Vec<ServiceStatus> {
        self.services
            .iter()
            .map(|vs| ServiceStatus {
                id: vs.spec.id.clone(),
                scheduler: vs.spec.scheduler,
                quorum: vs.spec.quorum,
                hysteresis: vs.spec.hysteresis,
                quorum_up: vs.quorum_up,
                live_weight: vs.live_weight(),
                sorry_server_in: !vs.suspended && !vs.quorum_up && vs.spec.sorry_server.is_some(),
                suspended: vs.suspended,
                real_servers: vs.real_servers.iter().map(real_server_status).collect(),
            })
            .collect()
    }

    /// Applies an operator's command; its effects come out as outputs like any input's.
    /// An override lasts until `enable` or a reload that changes that real server.
    pub fn operator(&mut self, now: Timestamp, cmd: OperatorCommand) -> Result<(), OperatorError> {
        if self.stopped {
            return Err(OperatorError::Stopped);
        }
        let si = self
            .services
            .iter()
            .position(|vs| vs.spec.id == cmd.service)
            .ok_or_else(|| OperatorError::NoSuchService(cmd.service.clone()))?;
        let vs = &mut self.services[si];
        let rs = vs
            .real_servers
            .iter_mut()
            .find(|rs| rs.spec.key == cmd.real_server)
            .ok_or_else(|| OperatorError::NoSuchRealServer(cmd.service.clone(), cmd.real_server))?;
        if rs.operator != cmd.action {
            self.dirty.insert(si);
            let old_weight = rs.effective_weight();
            rs.operator = cmd.action;
            self.events.push(Event::OperatorOverride {
                service: cmd.service.clone(),
                real_server: cmd.real_server,
                value: cmd.action,
            });
            let new_weight = rs.effective_weight();
            if new_weight != old_weight {
                self.events.push(Event::WeightChanged {
                    service: cmd.service,
                    real_server: cmd.real_server,
                    from: old_weight,
                    to: new_weight,
                });
            }
            vs.update_quorum(&mut self.events);
        }
        self.settle(now);
        Ok(())
    }
}
