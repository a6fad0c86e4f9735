//! The balancer's life events: `ha_suspend` toggles, reloads, shutdown.

use vrrp_core::Timestamp;

use crate::dataplane::{DesiredState, diff};
use crate::event::Event;
use crate::spec::{BalancerSpec, RealServerSpec, ServiceSpec};

use super::checker::{Checker, Phase};
use super::service::{RealServer, VirtualService};
use super::{Balancer, Output, health_event};

impl Balancer {
    /// `ha_suspend`: services whose addresses came or went stop or start their checkers.
    pub(super) fn update_suspension(&mut self, now: Timestamp) {
        for si in 0..self.services.len() {
            let holds = self.services[si].holds(&self.held);
            let vs = &mut self.services[si];
            if vs.suspended != holds {
                continue;
            }
            vs.suspended = !holds;
            self.dirty.insert(si);
            let service = vs.spec.id.clone();
            if holds {
                let mut rss = std::mem::take(&mut self.services[si].real_servers);
                for rs in &mut rss {
                    self.schedule_new(rs, now);
                }
                self.services[si].real_servers = rss;
                self.events.push(Event::ServiceResumed { service });
                // A service back without its quorum says so, as at start.
                self.services[si].start_events(&mut self.events);
            } else {
                for rs in &mut vs.real_servers {
                    for c in &mut rs.checkers {
                        c.phase = Phase::Idle;
                    }
                }
                self.events.push(Event::ServiceSuspended { service });
            }
        }
    }

    /// A new configuration: state carried over where the identity matches.
    pub(super) fn reload(&mut self, spec: BalancerSpec, now: Timestamp) {
        self.all_dirty = true;
        let mut old = std::mem::take(&mut self.services);
        for new_spec in spec.services {
            let kept = old
                .iter()
                .position(|vs| vs.spec.id == new_spec.id)
                .map(|i| old.swap_remove(i));
            let vs = match kept {
                Some(old_vs) => self.reload_service(old_vs, new_spec, now),
                None => self.start_service(new_spec, now),
            };
            self.services.push(vs);
        }
        // Removed services: their live servers and quorum go down, as keepalived notifies
        // when it clears a service on reload (`clear_service_rs`, `update_vs_notifies`).
        for vs in old {
            if vs.suspended {
                continue;
            }
            self.removed_real_servers(&vs.spec.id, &vs.real_servers);
            if vs.quorum_up {
                self.events.push(Event::QuorumDown {
                    service: vs.spec.id.clone(),
                    live_weight: 0,
                });
            }
        }
        // A service whose ha_suspend or addresses changed stops or starts here.
        self.update_suspension(now);
    }

    /// `RealServerDown` for each live server of `removed` (taken out by a reload).
    fn removed_real_servers(&mut self, service: &crate::spec::ServiceId, removed: &[RealServer]) {
        for rs in removed.iter().filter(|rs| rs.alive) {
            self.events.push(Event::RealServerDown {
                service: service.clone(),
                real_server: rs.spec.key,
                reason: "removed from the configuration".into(),
            });
        }
    }

    fn reload_service(
        &mut self,
        mut old: VirtualService,
        spec: ServiceSpec,
        now: Timestamp,
    ) -> VirtualService {
        let mut real_servers = Vec::with_capacity(spec.real_servers.len());
        for rs_spec in &spec.real_servers {
            let kept = old
                .real_servers
                .iter()
                .position(|rs| rs.spec.key == rs_spec.key)
                .map(|i| old.real_servers.swap_remove(i));
            let mut rs = match kept {
                Some(old_rs) => {
                    let was_alive = old_rs.alive;
                    let rs = reload_real_server(old_rs, rs_spec.clone());
                    if rs.alive != was_alive {
                        self.events
                            .push(health_event(&spec.id, &rs, "checkers changed"));
                    }
                    rs
                }
                None => RealServer::new(rs_spec.clone()),
            };
            if !old.suspended {
                self.schedule_new(&mut rs, now);
            }
            real_servers.push(rs);
        }
        if !old.suspended {
            self.removed_real_servers(&spec.id, &old.real_servers);
        }
        let mut vs = VirtualService {
            spec,
            real_servers,
            quorum_up: old.quorum_up,
            suspended: old.suspended,
        };
        vs.update_quorum(&mut self.events);
        vs
    }

    pub(super) fn shutdown(&mut self, keep: bool) {
        self.stopped = true;
        for vs in &mut self.services {
            for rs in &mut vs.real_servers {
                for c in &mut rs.checkers {
                    c.phase = Phase::Idle;
                }
            }
            if !vs.spec.omega || vs.suspended {
                continue;
            }
            for rs in &vs.real_servers {
                if rs.alive {
                    self.events.push(Event::RealServerDown {
                        service: vs.spec.id.clone(),
                        real_server: rs.spec.key,
                        reason: "shutdown".into(),
                    });
                }
            }
            // keepalived's update_vs_notifies(stopping): with omega, the service's down
            // notification runs at exit whatever its quorum was.
            self.events.push(Event::QuorumDown {
                service: vs.spec.id.clone(),
                live_weight: vs.live_weight(),
            });
        }
        if !keep {
            let changes = diff(&self.desired, &DesiredState::default());
            if !changes.is_empty() {
                self.outputs.push_back(Output::DataPath(changes));
            }
            self.desired = DesiredState::default();
        }
        self.outputs
            .extend(self.events.drain(..).map(Output::Event));
    }
}

/// A real server kept across a reload: its health and checkers stay; an operator's override
/// and a checker-set weight go when its configuration changed.
fn reload_real_server(mut old: RealServer, spec: RealServerSpec) -> RealServer {
    let mut checkers = Vec::with_capacity(spec.checkers.len());
    for (i, c_spec) in spec.checkers.iter().enumerate() {
        let checker = match old.checkers.get_mut(i) {
            Some(c) if c.same_probe(c_spec) => {
                let mut c = c.clone();
                c.spec = c_spec.clone();
                c
            }
            _ => Checker::new(c_spec.clone(), spec.alpha),
        };
        checkers.push(checker);
    }
    if old.spec != spec {
        old.operator = None;
        old.dynamic_weight = None;
    }
    let mut rs = RealServer {
        spec,
        checkers,
        alive: old.alive,
        dynamic_weight: old.dynamic_weight,
        operator: old.operator,
    };
    rs.alive = rs.checkers_pass();
    rs
}
