//! The data path as the core wants it: services and their destinations with weights, the
//! minimal changes from one state to another, and what each data path can do.
//!
//! A data path (nftables, IPVS) receives the new desired state with the changes that lead to
//! it from the previous one; applying the changes to the previous state gives the new one
//! ([`apply`] of [`diff`]), which the property tests check.

use std::collections::BTreeMap;

use crate::spec::{
    Forwarding, Persistence, RealServerKey, Scheduler, SchedulerFlags, ServiceAddr, ServiceId,
};

/// A destination (IPVS's word) of a service: a live real server, or the sorry server.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Destination {
    /// Address and port.
    pub key: RealServerKey,
    /// Its weight now (0: no new connections, existing ones kept).
    pub weight: u32,
    /// How packets reach it.
    pub forwarding: Forwarding,
    /// `uthreshold` (0: none).
    pub upper_threshold: u32,
    /// `lthreshold` (0: none).
    pub lower_threshold: u32,
}

/// A service as the data path carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    /// The addresses it matches.
    pub addrs: Vec<ServiceAddr>,
    /// The scheduler.
    pub scheduler: Scheduler,
    /// Its flags.
    pub flags: SchedulerFlags,
    /// Client stickiness.
    pub persistence: Option<Persistence>,
    /// The destinations, by key.
    pub destinations: BTreeMap<RealServerKey, Destination>,
}

impl Service {
    /// The service's own settings are equal (destinations aside).
    fn same_settings(&self, other: &Service) -> bool {
        self.addrs == other.addrs
            && self.scheduler == other.scheduler
            && self.flags == other.flags
            && self.persistence == other.persistence
    }

    /// The service without its destinations.
    fn bare(&self) -> Service {
        Service {
            destinations: BTreeMap::new(),
            ..self.clone()
        }
    }
}

/// The whole data path.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct DesiredState {
    /// Every service, by identity.
    pub services: BTreeMap<ServiceId, Service>,
}

/// One change to the data path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A new service, without destinations (they follow as [`Change::AddDestination`]).
    AddService(ServiceId, Service),
    /// The service's own settings changed (destinations untouched).
    EditService(ServiceId, Service),
    /// The service goes, with its destinations.
    RemoveService(ServiceId),
    /// A new destination.
    AddDestination(ServiceId, Destination),
    /// A destination's weight, method or thresholds changed.
    EditDestination(ServiceId, Destination),
    /// A destination goes: the data path also ends its connections (a server that is not
    /// removed but set to weight 0 keeps them: `inhibit_on_failure`).
    RemoveDestination(ServiceId, RealServerKey),
}

/// The changes that turn `from` into `to`: untouched services and destinations are not
/// named, a weight change is one edit.
pub fn diff(from: &DesiredState, to: &DesiredState) -> Vec<Change> {
    let mut changes = Vec::new();
    for id in from.services.keys() {
        if !to.services.contains_key(id) {
            changes.push(Change::RemoveService(id.clone()));
        }
    }
    for (id, new) in &to.services {
        let empty = BTreeMap::new();
        let old_dests = match from.services.get(id) {
            None => {
                changes.push(Change::AddService(id.clone(), new.bare()));
                &empty
            }
            Some(old) => {
                if !old.same_settings(new) {
                    changes.push(Change::EditService(id.clone(), new.bare()));
                }
                &old.destinations
            }
        };
        for key in old_dests.keys() {
            if !new.destinations.contains_key(key) {
                changes.push(Change::RemoveDestination(id.clone(), *key));
            }
        }
        for (key, dest) in &new.destinations {
            match old_dests.get(key) {
                None => changes.push(Change::AddDestination(id.clone(), *dest)),
                Some(old) if old != dest => {
                    changes.push(Change::EditDestination(id.clone(), *dest))
                }
                Some(_) => {}
            }
        }
    }
    changes
}

/// `change` applied to `state` (what a data path does; the reference for the tests).
pub fn apply(state: &mut DesiredState, change: &Change) {
    match change {
        Change::AddService(id, service) | Change::EditService(id, service) => {
            let entry = state
                .services
                .entry(id.clone())
                .or_insert_with(|| service.bare());
            let destinations = std::mem::take(&mut entry.destinations);
            *entry = Service {
                destinations,
                ..service.bare()
            };
        }
        Change::RemoveService(id) => {
            state.services.remove(id);
        }
        Change::AddDestination(id, dest) | Change::EditDestination(id, dest) => {
            if let Some(service) = state.services.get_mut(id) {
                service.destinations.insert(dest.key, *dest);
            }
        }
        Change::RemoveDestination(id, key) => {
            if let Some(service) = state.services.get_mut(id) {
                service.destinations.remove(key);
            }
        }
    }
}

/// A data path.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum DataPathKind {
    /// nftables: NAT and DR on any kernel with nf_tables.
    Nftables,
    /// The kernel's IPVS.
    Ipvs,
}

impl DataPathKind {
    /// The name of `lb_dataplane`, the log and `vrrpctl`.
    pub fn name(self) -> &'static str {
        match self {
            DataPathKind::Nftables => "nftables",
            DataPathKind::Ipvs => "ipvs",
        }
    }

    /// Why this data path cannot run `scheduler`, if it cannot.
    pub fn refuses_scheduler(self, scheduler: Scheduler) -> Option<&'static str> {
        match (self, scheduler) {
            (DataPathKind::Ipvs, _) => None,
            (_, Scheduler::Rr | Scheduler::Wrr | Scheduler::Sh | Scheduler::Mh) => None,
            (_, Scheduler::Lc | Scheduler::Wlc | Scheduler::Sed | Scheduler::Nq) => {
                Some("needs connection counts: IPVS only (nftables has rr, wrr, sh, mh)")
            }
            (_, Scheduler::Lblc | Scheduler::Lblcr) => Some(
                "needs per-destination connection state: IPVS only (nftables has rr, wrr, sh, mh)",
            ),
            (_, Scheduler::Dh) => Some("IPVS only; `mh` or `sh` hash on nftables"),
            (_, Scheduler::Fo | Scheduler::Ovf | Scheduler::Twos) => {
                Some("IPVS only (nftables has rr, wrr, sh, mh)")
            }
        }
    }

    /// Why this data path cannot forward with `forwarding`, if it cannot.
    pub fn refuses_forwarding(self, forwarding: Forwarding) -> Option<&'static str> {
        match (self, forwarding) {
            (DataPathKind::Nftables, Forwarding::Tun { .. }) => {
                Some("tunnelling needs IPVS (nftables has NAT and DR)")
            }
            _ => None,
        }
    }

    /// Why this data path cannot honour `uthreshold` / `lthreshold`, if it cannot.
    pub fn refuses_thresholds(self) -> Option<&'static str> {
        match self {
            DataPathKind::Nftables => Some("needs connection counts: IPVS only"),
            DataPathKind::Ipvs => None,
        }
    }

    /// Why this data path cannot schedule every datagram on its own (`ops`), if it cannot.
    pub fn refuses_one_packet(self) -> Option<&'static str> {
        match self {
            DataPathKind::Nftables => Some("one-packet scheduling is IPVS only"),
            DataPathKind::Ipvs => None,
        }
    }

    /// Why this data path cannot carry `protocol`, if it cannot.
    pub fn refuses_protocol(self, protocol: crate::spec::Protocol) -> Option<&'static str> {
        match (self, protocol) {
            (DataPathKind::Nftables, crate::spec::Protocol::Sctp) => {
                Some("SCTP services need IPVS (nftables has TCP and UDP)")
            }
            _ => None,
        }
    }
}
