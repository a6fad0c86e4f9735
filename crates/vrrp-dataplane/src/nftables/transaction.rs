//! One transaction: what the changes touch ([`Plan`]) and the nft commands that do it, in
//! an order where nothing is deleted while something still jumps to it.

use std::collections::{BTreeMap, BTreeSet};

use vrrp_lb::dataplane::{Change, DesiredState};
use vrrp_lb::spec::{RealServerKey, ServiceId};

use super::Nftables;
use crate::{DataPathError, script, slots};

/// What one transaction does, by service.
#[derive(Default)]
pub(super) struct Plan {
    pub(super) dispatch: bool,
    pub(super) added: BTreeSet<ServiceId>,
    pub(super) removed: BTreeSet<ServiceId>,
    /// Own settings changed: destination chains and persistence map are rebuilt.
    pub(super) edited: BTreeSet<ServiceId>,
    /// Service chains to rebuild.
    pub(super) touched: BTreeSet<ServiceId>,
    pub(super) new_dests: Vec<(ServiceId, RealServerKey)>,
    pub(super) gone_dests: Vec<(ServiceId, RealServerKey)>,
}

impl Plan {
    pub(super) fn of(installed: &DesiredState, desired: &DesiredState, changes: &[Change]) -> Plan {
        let mut plan = Plan::default();
        for change in changes {
            match change {
                Change::AddService(id, _) => {
                    plan.dispatch = true;
                    plan.added.insert(id.clone());
                    plan.touched.insert(id.clone());
                }
                Change::EditService(id, _) => {
                    plan.dispatch = true;
                    plan.edited.insert(id.clone());
                    plan.touched.insert(id.clone());
                }
                Change::RemoveService(id) => {
                    plan.dispatch = true;
                    plan.removed.insert(id.clone());
                    if let Some(old) = installed.services.get(id) {
                        for key in old.destinations.keys() {
                            plan.gone_dests.push((id.clone(), *key));
                        }
                    }
                }
                Change::AddDestination(id, d) => {
                    plan.new_dests.push((id.clone(), d.key));
                    plan.touched.insert(id.clone());
                }
                // Only NAT is carried, so an edit is a weight (or threshold) change: the
                // service chain alone changes.
                Change::EditDestination(id, _) => {
                    plan.touched.insert(id.clone());
                }
                Change::RemoveDestination(id, key) => {
                    plan.gone_dests.push((id.clone(), *key));
                    plan.touched.insert(id.clone());
                }
            }
        }
        // A change naming a service that is not there (any more) has nothing to touch.
        plan.touched.retain(|id| desired.services.contains_key(id));
        plan.removed
            .retain(|id| installed.services.contains_key(id));
        plan.new_dests
            .retain(|(id, _)| desired.services.contains_key(id));
        plan
    }
}

impl Nftables {
    /// The commands of one transaction from `installed` to `desired` (their NAT services);
    /// updates the numbering in `next` (committed by the
    /// caller on success). Returns the script and the marks whose connections must end.
    pub(super) fn transaction(
        &self,
        installed: &DesiredState,
        desired: &DesiredState,
        plan: &Plan,
        next: &mut Numbering,
    ) -> Result<(String, Vec<u32>), DataPathError> {
        use std::fmt::Write;
        let t = script::TABLE;
        let old = &installed.services;
        for id in &plan.added {
            next.numbers.insert(id.clone(), next.next_number);
            next.next_number += 1;
        }
        let mut gone = Vec::new();
        for (id, key) in &plan.gone_dests {
            if let Some(mark) = next.marks.remove(&(id.clone(), *key)) {
                gone.push(mark);
            }
        }
        for (id, key) in &plan.new_dests {
            if next.next_mark > script::MARK_LAST {
                return Err(DataPathError::Nft(
                    "out of connection marks: restart vrrpd".into(),
                ));
            }
            next.marks.insert((id.clone(), *key), next.next_mark);
            next.next_mark += 1;
        }
        let number = |id: &ServiceId| next.numbers.get(id).copied().unwrap_or(0);
        let persistence_changed = |id: &ServiceId| {
            old.get(id).map(|s| s.persistence) != desired.services.get(id).map(|s| s.persistence)
        };

        // A new scheduler starts from an empty slot table; otherwise slots are kept.
        let reset = |id: &ServiceId| {
            old.get(id).is_none_or(|o| {
                let n = &desired.services[id];
                o.scheduler != n.scheduler || o.flags != n.flags
            })
        };
        let mut slot_cmds = BTreeMap::new();
        for id in &plan.touched {
            let service = &desired.services[id];
            let before = match reset(id) {
                true => Vec::new(),
                false => next.slots.get(id).cloned().unwrap_or_default(),
            };
            let dests = Self::marked(&next.marks, id, service);
            let after = slots::next(service.scheduler, &before, &dests).ok_or_else(|| {
                DataPathError::Unsupported {
                    kind: "nftables",
                    what: format!("{id}: weights above {} in all", slots::MAX_SLOTS),
                }
            })?;
            slot_cmds.insert(
                id.clone(),
                script::slot_changes(
                    &format!("inet {t}"),
                    "d",
                    number(id),
                    &tagged(&before),
                    &tagged(&after),
                ),
            );
            next.slots.insert(id.clone(), after);
        }

        let mut out = String::new();
        // First nothing may jump to what goes: the dispatch and the rebuilt service chains
        // are emptied, the destination chains of a service whose persistence changes too.
        if plan.dispatch {
            let _ = writeln!(out, "flush chain inet {t} prerouting");
        }
        for id in plan.touched.iter().chain(&plan.removed) {
            if self.numbers.contains_key(id) {
                let _ = writeln!(out, "flush chain inet {t} s{}", number(id));
            }
        }
        for id in &plan.touched {
            if !self.numbers.contains_key(id) {
                continue;
            }
            if reset(id) {
                let _ = writeln!(out, "flush map inet {t} w{}", number(id));
            } else if let Some((gone, _)) = slot_cmds.get(id) {
                out.push_str(gone);
            }
        }
        for id in plan.edited.iter().filter(|id| persistence_changed(id)) {
            for key in old
                .get(id)
                .map(|s| s.destinations.keys())
                .into_iter()
                .flatten()
            {
                if let Some(mark) = next.marks.get(&(id.clone(), *key)) {
                    let tag = script::tag(*mark);
                    let _ = writeln!(out, "flush chain inet {t} d{tag}");
                    let _ = writeln!(out, "flush chain inet {t} a{tag}");
                }
            }
        }
        // A removed service's slot map goes before its destination chains, which its
        // elements still jump to.
        for id in &plan.removed {
            let _ = writeln!(out, "delete chain inet {t} s{}", number(id));
            let _ = writeln!(out, "delete map inet {t} w{}", number(id));
            if old.get(id).is_some_and(|s| s.persistence.is_some()) {
                let _ = writeln!(out, "delete map inet {t} p{}", number(id));
            }
        }
        for mark in &gone {
            script::remove_destination(&mut out, *mark);
        }
        // Then what comes.
        for id in &plan.touched {
            let (n, service) = (number(id), &desired.services[id]);
            if plan.added.contains(id) {
                let _ = writeln!(out, "add chain inet {t} s{n}");
                script::add_slot_map(&mut out, n);
                script::add_persistence_map(&mut out, n, service);
            } else if persistence_changed(id) {
                if old.get(id).is_some_and(|s| s.persistence.is_some()) {
                    let _ = writeln!(out, "delete map inet {t} p{n}");
                }
                script::add_persistence_map(&mut out, n, service);
                for (mark, dest) in Self::marked(&next.marks, id, service) {
                    if !plan.new_dests.contains(&(id.clone(), dest.key)) {
                        script::destination_rules(&mut out, n, id, service, dest, mark);
                    }
                }
            } else if service.persistence.is_some() && plan.gone_dests.iter().any(|(s, _)| s == id)
            {
                // Clients stuck to a removed server would keep a stale entry (an update
                // refreshes an entry, never rewrites it): they stick anew.
                let _ = writeln!(out, "flush map inet {t} p{n}");
            }
        }
        for (id, key) in &plan.new_dests {
            let service = &desired.services[id];
            if let (Some(dest), Some(mark)) = (
                service.destinations.get(key),
                next.marks.get(&(id.clone(), *key)),
            ) {
                script::add_destination(&mut out, number(id), id, service, dest, *mark);
            }
        }
        for id in &plan.touched {
            if let Some((_, came)) = slot_cmds.get(id) {
                out.push_str(came);
            }
            let slots = next.slots.get(id).map_or(0, Vec::len);
            script::service_rules(&mut out, number(id), &desired.services[id], slots);
        }
        if plan.dispatch {
            let services = desired.services.iter().map(|(id, s)| (number(id), id, s));
            script::dispatch(&mut out, services);
        }
        Ok((out, gone))
    }
}

/// Slot marks as the numbers of their destination chains.
fn tagged(slots: &[u32]) -> Vec<u32> {
    slots.iter().map(|m| script::tag(*m)).collect()
}

/// The numbering of chains and marks, copied for a transaction and kept if it commits.
pub(super) struct Numbering {
    pub(super) numbers: BTreeMap<ServiceId, u32>,
    pub(super) marks: BTreeMap<(ServiceId, RealServerKey), u32>,
    pub(super) slots: BTreeMap<ServiceId, Vec<u32>>,
    pub(super) next_number: u32,
    pub(super) next_mark: u32,
}
