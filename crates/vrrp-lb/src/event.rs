//! What the balancer tells the daemon happened: the notify scripts, the notify FIFO lines,
//! the log and the metrics are made from these.

use std::fmt::Write as _;

use crate::spec::{RealServerKey, ServiceId, ServiceKey};

/// An operator's override of a real server (`vrrpctl rs ...`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Override {
    /// `weight N`: this weight instead of the configured or checker-set one.
    Weight(u32),
    /// `drain`: weight 0, established connections kept.
    Drain,
    /// `disable`: out of the data path, as if failed without `inhibit_on_failure`.
    Disable,
}

/// Something that happened in the balancer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A real server's checkers all pass again (keepalived's `notify_up`).
    RealServerUp {
        /// Its service.
        service: ServiceId,
        /// The real server.
        real_server: RealServerKey,
    },
    /// A real server failed a checker (keepalived's `notify_down`), or goes with `omega`.
    RealServerDown {
        /// Its service.
        service: ServiceId,
        /// The real server.
        real_server: RealServerKey,
        /// Why: the failing checker's reason.
        reason: String,
    },
    /// A real server's effective weight changed (checker-set or operator's).
    WeightChanged {
        /// Its service.
        service: ServiceId,
        /// The real server.
        real_server: RealServerKey,
        /// The weight before.
        from: u32,
        /// The weight now.
        to: u32,
    },
    /// An operator set or cleared an override.
    OperatorOverride {
        /// Its service.
        service: ServiceId,
        /// The real server.
        real_server: RealServerKey,
        /// The override now (`None`: `enable`).
        value: Option<Override>,
    },
    /// The live weight reached the quorum (`notify_up` / `quorum_up` of the service).
    QuorumUp {
        /// The service.
        service: ServiceId,
        /// Its live weight.
        live_weight: u64,
    },
    /// The live weight fell below the quorum (`quorum_down`).
    QuorumDown {
        /// The service.
        service: ServiceId,
        /// Its live weight.
        live_weight: u64,
    },
    /// The sorry server takes the traffic (the quorum is lost).
    SorryServerIn {
        /// The service.
        service: ServiceId,
        /// The sorry server.
        sorry_server: RealServerKey,
    },
    /// The sorry server is taken out (the quorum is back).
    SorryServerOut {
        /// The service.
        service: ServiceId,
        /// The sorry server.
        sorry_server: RealServerKey,
    },
    /// An `ha_suspend` service stops: this node no longer holds its address.
    ServiceSuspended {
        /// The service.
        service: ServiceId,
    },
    /// An `ha_suspend` service runs again: this node holds its address.
    ServiceResumed {
        /// The service.
        service: ServiceId,
    },
    /// A probe failed without changing the checker's state (`log_all_failures`).
    CheckFailed {
        /// Its service.
        service: ServiceId,
        /// The real server.
        real_server: RealServerKey,
        /// The checker's keyword (`TCP_CHECK`, ...).
        kind: &'static str,
        /// Why.
        reason: String,
    },
}

impl Event {
    /// keepalived's `notify_fifo` / `lvs_notify_fifo` line, without its newline:
    /// `VS [10.0.0.1]:tcp:80 UP`, `RS [192.168.1.10]:tcp:80 [10.0.0.1]:tcp:80 DOWN`
    /// (`ipwrapper.c`: `notify_fifo_vs`, `notify_fifo_rs`; real servers are written with the
    /// service's protocol, as `format_rs` does). Events keepalived does not write give `None`.
    pub fn fifo_line(&self) -> Option<String> {
        let (service, real_server, state) = match self {
            Event::QuorumUp { service, .. } => (service, None, "UP"),
            Event::QuorumDown { service, .. } => (service, None, "DOWN"),
            Event::RealServerUp {
                service,
                real_server,
            } => (service, Some(real_server), "UP"),
            Event::RealServerDown {
                service,
                real_server,
                ..
            } => (service, Some(real_server), "DOWN"),
            _ => return None,
        };
        let mut line = String::new();
        match real_server {
            None => line.push_str("VS "),
            Some(rs) => {
                let _ = write!(
                    line,
                    "RS [{}]:{}:{} ",
                    rs.addr,
                    service.protocol.name(),
                    rs.port
                );
            }
        }
        let _ = write!(line, "{} {state}", fifo_service(service));
        Some(line)
    }
}

/// keepalived's `format_vs`: `[IP]:proto:port`, `FWM n`, or `[GROUP]:0` for a group (a
/// group's service carries no address of its own, so keepalived prints port 0).
pub fn fifo_service(service: &ServiceId) -> String {
    match &service.key {
        ServiceKey::Socket(_) | ServiceKey::Fwmark(_) => service.to_string(),
        ServiceKey::Group(name) => format!("[{name}]:0"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Protocol;

    fn vs() -> ServiceId {
        ServiceId {
            key: ServiceKey::Socket("10.0.0.1:80".parse().unwrap()),
            protocol: Protocol::Tcp,
        }
    }

    #[test]
    fn fifo_lines_as_keepalived_writes_them() {
        let rs = RealServerKey {
            addr: "192.168.1.10".parse().unwrap(),
            port: 8080,
        };
        let up = Event::QuorumUp {
            service: vs(),
            live_weight: 3,
        };
        assert_eq!(up.fifo_line().unwrap(), "VS [10.0.0.1]:tcp:80 UP");
        let down = Event::RealServerDown {
            service: vs(),
            real_server: rs,
            reason: "refused".into(),
        };
        assert_eq!(
            down.fifo_line().unwrap(),
            "RS [192.168.1.10]:tcp:8080 [10.0.0.1]:tcp:80 DOWN"
        );
        let fwm = Event::QuorumDown {
            service: ServiceId {
                key: ServiceKey::Fwmark(5),
                protocol: Protocol::Udp,
            },
            live_weight: 0,
        };
        assert_eq!(fwm.fifo_line().unwrap(), "VS FWM 5 DOWN");
        let v6 = Event::RealServerUp {
            service: ServiceId {
                key: ServiceKey::Group("web".into()),
                protocol: Protocol::Tcp,
            },
            real_server: RealServerKey {
                addr: "fd99::2".parse().unwrap(),
                port: 443,
            },
        };
        assert_eq!(v6.fifo_line().unwrap(), "RS [fd99::2]:tcp:443 [web]:0 UP");
        assert_eq!(Event::ServiceSuspended { service: vs() }.fifo_line(), None);
    }
}
