//! The nftables data path: the installed state, the numbering of chains and marks, and one
//! transaction per [`DataPath::apply`].

use std::collections::{BTreeMap, BTreeSet};

use vrrp_lb::dataplane::{Change, DataPathKind, DesiredState, Destination, Service, apply};
use vrrp_lb::spec::{RealServerKey, ServiceId};

use crate::libnft::Nft;
use crate::{
    Counters, DataPath, DataPathError, ServiceStats, Stats, conntrack, script, slots, stats,
    validate,
};

/// How the nftables data path is set up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NftOptions {
    /// Masquerade (SNAT to the balancer's own address) the connections it balances, so that
    /// replies come back through it although the real servers do not route through it
    /// (same LAN as the clients, or another default gateway). The real servers then see the
    /// balancer's address instead of the client's. Without it, the balancer must be the
    /// real servers' route back to the clients.
    pub masquerade: bool,
}

/// The nftables data path, owning the table `inet vrrpd_lb` of its network namespace.
pub struct Nftables {
    nft: Nft,
    installed: DesiredState,
    /// Service -> the number N of its chain `sN` and map `pN`.
    numbers: BTreeMap<ServiceId, u32>,
    /// Destination -> its mark M (chains `dM`, `aM`); never reused in a run.
    marks: BTreeMap<(ServiceId, RealServerKey), u32>,
    /// Service -> its slot table (the marks of map `wN`).
    slots: BTreeMap<ServiceId, Vec<u32>>,
    next_number: u32,
    next_mark: u32,
    closed: bool,
}

impl std::fmt::Debug for Nftables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nftables")
            .field("services", &self.numbers.len())
            .field("destinations", &self.marks.len())
            .finish()
    }
}

impl Nftables {
    /// Loads libnftables and installs an empty table, replacing one a crashed run left.
    /// The table belongs to the calling thread's network namespace.
    pub fn open(options: NftOptions) -> Result<Nftables, DataPathError> {
        let mut nft = Nft::open()?;
        nft.run(&script::skeleton(options.masquerade))?;
        Ok(Nftables {
            nft,
            installed: DesiredState::default(),
            numbers: BTreeMap::new(),
            marks: BTreeMap::new(),
            slots: BTreeMap::new(),
            next_number: 1,
            next_mark: script::MARK_BASE + 1,
            closed: false,
        })
    }

    /// The state installed by the last successful [`DataPath::apply`].
    pub fn installed(&self) -> &DesiredState {
        &self.installed
    }

    fn mark_of(&self, id: &ServiceId, key: RealServerKey) -> Option<u32> {
        self.marks.get(&(id.clone(), key)).copied()
    }

    /// The destinations of `service` with their marks, in key order.
    fn marked<'a>(
        marks: &BTreeMap<(ServiceId, RealServerKey), u32>,
        id: &ServiceId,
        service: &'a Service,
    ) -> Vec<(u32, &'a Destination)> {
        service
            .destinations
            .values()
            .filter_map(|d| marks.get(&(id.clone(), d.key)).map(|m| (*m, d)))
            .collect()
    }
}

/// What one transaction does, by service.
#[derive(Default)]
struct Plan {
    dispatch: bool,
    added: BTreeSet<ServiceId>,
    removed: BTreeSet<ServiceId>,
    /// Own settings changed: destination chains and persistence map are rebuilt.
    edited: BTreeSet<ServiceId>,
    /// Service chains to rebuild.
    touched: BTreeSet<ServiceId>,
    new_dests: Vec<(ServiceId, RealServerKey)>,
    gone_dests: Vec<(ServiceId, RealServerKey)>,
}

impl Plan {
    fn of(installed: &DesiredState, changes: &[Change]) -> Plan {
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
        for id in &plan.removed {
            plan.touched.remove(id);
        }
        plan
    }
}

impl Nftables {
    /// The commands of one transaction; updates the numbering in `next` (committed by the
    /// caller on success). Returns the script and the marks whose connections must end.
    fn transaction(
        &self,
        desired: &DesiredState,
        plan: &Plan,
        next: &mut Numbering,
    ) -> Result<(String, Vec<u32>), DataPathError> {
        use std::fmt::Write;
        let t = script::TABLE;
        let old = &self.installed.services;
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
                script::slot_changes(number(id), &before, &after),
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
        for mark in &gone {
            script::remove_destination(&mut out, *mark);
        }
        for id in &plan.removed {
            let _ = writeln!(out, "delete chain inet {t} s{}", number(id));
            let _ = writeln!(out, "delete map inet {t} w{}", number(id));
            if old.get(id).is_some_and(|s| s.persistence.is_some()) {
                let _ = writeln!(out, "delete map inet {t} p{}", number(id));
            }
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

/// The numbering of chains and marks, copied for a transaction and kept if it commits.
struct Numbering {
    numbers: BTreeMap<ServiceId, u32>,
    marks: BTreeMap<(ServiceId, RealServerKey), u32>,
    slots: BTreeMap<ServiceId, Vec<u32>>,
    next_number: u32,
    next_mark: u32,
}

impl DataPath for Nftables {
    fn kind(&self) -> DataPathKind {
        DataPathKind::Nftables
    }

    fn apply(&mut self, desired: &DesiredState, changes: &[Change]) -> Result<(), DataPathError> {
        if self.closed {
            return Err(DataPathError::Closed);
        }
        validate::check(desired)?;
        let mut expected = self.installed.clone();
        for change in changes {
            apply(&mut expected, change);
        }
        if expected != *desired {
            return Err(DataPathError::Inconsistent(
                "the changes applied to the installed state do not give the desired state".into(),
            ));
        }
        if changes.is_empty() {
            return Ok(());
        }
        let plan = Plan::of(&self.installed, changes);
        let mut next = Numbering {
            numbers: self.numbers.clone(),
            marks: self.marks.clone(),
            slots: self.slots.clone(),
            next_number: self.next_number,
            next_mark: self.next_mark,
        };
        let (script, gone) = self.transaction(desired, &plan, &mut next)?;
        self.nft.run(&script)?;
        for id in &plan.removed {
            next.numbers.remove(id);
            next.slots.remove(id);
        }
        self.numbers = next.numbers;
        self.marks = next.marks;
        self.slots = next.slots;
        self.next_number = next.next_number;
        self.next_mark = next.next_mark;
        self.installed = desired.clone();
        // After the commit no new connection reaches them: end the established ones.
        let mut failed = Vec::new();
        for mark in gone {
            if let Err(e) = conntrack::delete_marked(mark) {
                failed.push(e.to_string());
            }
        }
        match failed.is_empty() {
            true => Ok(()),
            false => Err(DataPathError::Conntrack(failed.join("; "))),
        }
    }

    fn stats(&mut self) -> Result<Stats, DataPathError> {
        if self.closed {
            return Err(DataPathError::Closed);
        }
        let listing = self
            .nft
            .run(&format!("list table inet {}", script::TABLE))?;
        let counters = stats::chain_counters(&listing);
        let mut out = Stats::default();
        for (id, service) in &self.installed.services {
            let mut s = ServiceStats::default();
            for key in service.destinations.keys() {
                let Some(mark) = self.mark_of(id, *key) else {
                    continue;
                };
                let get = |p: &str| {
                    counters
                        .get(&format!("{p}{}", script::tag(mark)))
                        .copied()
                        .unwrap_or((0, 0))
                };
                let c = Counters {
                    connections: get("d").0,
                    packets: get("a").0,
                    bytes: get("a").1,
                };
                s.total += c;
                s.destinations.insert(*key, c);
            }
            out.services.insert(id.clone(), s);
        }
        Ok(out)
    }

    fn shutdown(&mut self, keep: bool) -> Result<(), DataPathError> {
        if self.closed {
            return Ok(());
        }
        if !keep {
            self.nft.run(&script::remove_table())?;
        }
        self.closed = true;
        Ok(())
    }
}
