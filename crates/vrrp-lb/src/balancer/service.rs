//! A virtual service as it runs: its real servers' health and weights, its quorum, and the
//! part of the desired data path it makes (keepalived's `ipwrapper.c`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use crate::dataplane::{Destination, Service};
use crate::event::{Event, Override};
use crate::spec::{RealServerSpec, ServiceAddr, ServiceSpec};

use super::checker::Checker;

/// A real server as it runs.
#[derive(Clone, Debug)]
pub(crate) struct RealServer {
    pub(crate) spec: RealServerSpec,
    pub(crate) checkers: Vec<Checker>,
    /// Every checker passes (keepalived's `alive`).
    pub(crate) alive: bool,
    /// The weight a checker set last (`misc_dynamic`, FILE_CHECK); it stays until another
    /// sets one, whatever the checkers do meanwhile.
    pub(crate) dynamic_weight: Option<u32>,
    pub(crate) operator: Option<Override>,
}

impl RealServer {
    pub(crate) fn new(spec: RealServerSpec) -> Self {
        let checkers = spec
            .checkers
            .iter()
            .map(|c| Checker::new(c.clone(), spec.alpha))
            .collect();
        let mut rs = RealServer {
            spec,
            checkers,
            alive: true,
            dynamic_weight: None,
            operator: None,
        };
        rs.alive = rs.checkers_pass();
        rs
    }

    /// All checkers pass (no checkers: always).
    pub(crate) fn checkers_pass(&self) -> bool {
        self.checkers.iter().all(|c| c.up)
    }

    /// The weight it carries: the operator's, else the one a checker set last, else the
    /// configured one.
    pub(crate) fn effective_weight(&self) -> u32 {
        match self.operator {
            Some(Override::Weight(w)) => w,
            Some(Override::Drain | Override::Disable) => 0,
            None => self.dynamic_weight.unwrap_or(self.spec.weight),
        }
    }

    /// In the pool: healthy and not disabled.
    pub(crate) fn pooled(&self) -> bool {
        self.alive && self.operator != Some(Override::Disable)
    }

    fn destination(&self, weight: u32) -> Destination {
        Destination {
            key: self.spec.key,
            weight,
            forwarding: self.spec.forwarding,
            upper_threshold: self.spec.upper_threshold,
            lower_threshold: self.spec.lower_threshold,
        }
    }
}

/// A virtual service as it runs.
#[derive(Clone, Debug)]
pub(crate) struct VirtualService {
    pub(crate) spec: ServiceSpec,
    pub(crate) real_servers: Vec<RealServer>,
    pub(crate) quorum_up: bool,
    /// `ha_suspend` and none of its addresses is held here.
    pub(crate) suspended: bool,
}

impl VirtualService {
    /// A new service; the quorum starts as the live weight says (keepalived's
    /// `set_quorum_states`), so a service of `alpha` servers starts without it.
    pub(crate) fn new(spec: ServiceSpec, held: &BTreeSet<IpAddr>) -> Self {
        let real_servers = spec
            .real_servers
            .iter()
            .cloned()
            .map(RealServer::new)
            .collect();
        let mut vs = VirtualService {
            spec,
            real_servers,
            quorum_up: true,
            suspended: false,
        };
        vs.suspended = !vs.holds(held);
        let live = vs.live_weight();
        vs.quorum_up =
            live > 0 && live >= u64::from(vs.spec.quorum) + u64::from(vs.spec.hysteresis);
        vs
    }

    /// Not suspended by `ha_suspend` given the addresses held here (keepalived counts the
    /// service's addresses: it runs while any is held; fwmarks cannot be suspended).
    pub(crate) fn holds(&self, held: &BTreeSet<IpAddr>) -> bool {
        if !self.spec.ha_suspend {
            return true;
        }
        let mut suspendable = false;
        for addr in &self.spec.addrs {
            match *addr {
                ServiceAddr::Socket(sa) => {
                    suspendable = true;
                    if held.contains(&sa.ip()) {
                        return true;
                    }
                }
                ServiceAddr::Range { first, last, .. } => {
                    suspendable = true;
                    if held.range(first..=last).next().is_some() {
                        return true;
                    }
                }
                ServiceAddr::Fwmark { .. } => {}
            }
        }
        !suspendable
    }

    /// The sum of the effective weights of the pooled real servers.
    pub(crate) fn live_weight(&self) -> u64 {
        self.real_servers
            .iter()
            .filter(|rs| rs.pooled())
            .map(|rs| u64::from(rs.effective_weight()))
            .sum()
    }

    /// Re-evaluates the quorum after a change (keepalived's `update_quorum_state`): gained at
    /// live weight >= quorum + hysteresis, lost at live weight < quorum - hysteresis or 0.
    pub(crate) fn update_quorum(&mut self, events: &mut Vec<Event>) {
        let live = self.live_weight() as i64;
        let quorum = i64::from(self.spec.quorum);
        let hysteresis = i64::from(self.spec.hysteresis);
        let id = &self.spec.id;
        // A live weight of 0 never holds the quorum, even `quorum 0` (keepalived's loss test);
        // gaining it needs weight too, or such a service would flap on every update.
        if !self.quorum_up && live > 0 && live >= quorum + hysteresis {
            self.quorum_up = true;
            if let Some(sorry) = &self.spec.sorry_server {
                events.push(Event::SorryServerOut {
                    service: id.clone(),
                    sorry_server: sorry.key,
                });
            }
            events.push(Event::QuorumUp {
                service: id.clone(),
                live_weight: live as u64,
            });
        } else if self.quorum_up && (live == 0 || live < quorum - hysteresis) {
            self.quorum_down(events);
        }
    }

    /// The quorum is lost (or the service stops).
    pub(crate) fn quorum_down(&mut self, events: &mut Vec<Event>) {
        self.quorum_up = false;
        let id = &self.spec.id;
        if let Some(sorry) = &self.spec.sorry_server {
            events.push(Event::SorryServerIn {
                service: id.clone(),
                sorry_server: sorry.key,
            });
        }
        events.push(Event::QuorumDown {
            service: id.clone(),
            live_weight: self.live_weight(),
        });
    }

    /// The events a new service starts with: a service that starts without its quorum says
    /// so (keepalived does only when it has a sorry server; the scripts are told always).
    pub(crate) fn start_events(&self, events: &mut Vec<Event>) {
        if !self.quorum_up && !self.suspended {
            let id = &self.spec.id;
            if let Some(sorry) = &self.spec.sorry_server {
                events.push(Event::SorryServerIn {
                    service: id.clone(),
                    sorry_server: sorry.key,
                });
            }
            events.push(Event::QuorumDown {
                service: id.clone(),
                live_weight: self.live_weight(),
            });
        }
    }

    /// The service as the data path should carry it (`None`: suspended).
    ///
    /// While the quorum is lost and there is a sorry server, keepalived takes the live real
    /// servers out and sends everything to the sorry server (`perform_quorum_state`); failed
    /// servers with `inhibit_on_failure` stay at weight 0 all along.
    pub(crate) fn desired(&self) -> Option<Service> {
        if self.suspended {
            return None;
        }
        let sorry_in = !self.quorum_up && self.spec.sorry_server.is_some();
        let mut destinations = BTreeMap::new();
        for rs in &self.real_servers {
            let weight = if rs.pooled() && !sorry_in {
                Some(rs.effective_weight())
            } else if !rs.alive
                && rs.spec.inhibit_on_failure
                && rs.operator != Some(Override::Disable)
            {
                Some(0)
            } else {
                None
            };
            if let Some(weight) = weight {
                destinations.insert(rs.spec.key, rs.destination(weight));
            }
        }
        if let Some(sorry) = &self.spec.sorry_server {
            let dest = |weight| Destination {
                key: sorry.key,
                weight,
                forwarding: sorry.forwarding,
                upper_threshold: 0,
                lower_threshold: 0,
            };
            if sorry_in {
                destinations.insert(sorry.key, dest(1));
            } else if sorry.inhibit {
                destinations.entry(sorry.key).or_insert(dest(0));
            }
        }
        Some(Service {
            addrs: self.spec.addrs.clone(),
            scheduler: self.spec.scheduler,
            flags: self.spec.flags,
            persistence: self.spec.persistence,
            destinations,
        })
    }
}
