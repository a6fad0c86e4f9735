//! The nftables data path: the installed state, the numbering of chains and marks, and one
//! transaction per [`DataPath::apply`].

use std::collections::BTreeMap;

use vrrp_lb::dataplane::{Change, DataPathKind, DesiredState, Destination, Service, apply, diff};
use vrrp_lb::spec::{RealServerKey, ServiceId};

mod transaction;

use crate::dr::{DrTable, split};
use crate::libnft::Nft;
use crate::{
    Counters, DataPath, DataPathError, ServiceStats, Stats, conntrack, drscript, route, script,
    stats, validate,
};
use transaction::{Numbering, Plan};

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

/// The nftables data path, owning the tables `inet vrrpd_lb` (NAT) and `netdev vrrpd_lb_dr`
/// (direct routing) of its network namespace.
pub struct Nftables {
    nft: Nft,
    installed: DesiredState,
    /// The direct-routing services (not in the NAT numbering below).
    dr: DrTable,
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
        nft.run(&(script::skeleton(options.masquerade) + &drscript::skeleton()))?;
        Ok(Nftables {
            nft,
            installed: DesiredState::default(),
            dr: DrTable::default(),
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
        // A service moves between the tables when its method changes: each table gets
        // the changes of its own services.
        let ((nat_old, _), (nat_new, dr_new)) = (split(&self.installed), split(desired));
        let nat_changes = diff(&nat_old, &nat_new);
        let plan = Plan::of(&nat_old, &nat_new, &nat_changes);
        let mut next = Numbering {
            numbers: self.numbers.clone(),
            marks: self.marks.clone(),
            slots: self.slots.clone(),
            next_number: self.next_number,
            next_mark: self.next_mark,
        };
        let (mut script, gone) = self.transaction(&nat_old, &nat_new, &plan, &mut next)?;
        let (dr_script, dr_next) = self.dr.transaction(&dr_new, route::device_to)?;
        script.push_str(&dr_script);
        if !script.is_empty() {
            self.nft.run(&script)?;
        }
        self.dr = dr_next;
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
        let dr_listing = self.nft.run(&format!("list table {}", drscript::DR))?;
        self.dr.stats(&dr_listing, &mut out);
        for (id, service) in &self.installed.services {
            if out.services.contains_key(id) {
                continue;
            }
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
            self.nft
                .run(&(script::remove_table() + &drscript::remove_table()))?;
        }
        self.closed = true;
        Ok(())
    }
}
