//! Links, trackers and the operator's priority, combined by keepalived's weight rules
//! ([`crate::weights`]) into each instance's priority, its Fault and its start.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use crate::instance::{Input, State};
use crate::time::Timestamp;
use crate::weights::{self, TrackState, Tracked, TrackerKey};

use super::{AddressAction, InstanceId, InstanceSpec, Node, NodeEvent, NodeOutput};

/// How long a VIP asked to be put back is not asked for again while it is not seen back.
const RESTORE_PENDING: std::time::Duration = std::time::Duration::from_secs(1);

/// What a [`Node::resync`] found changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resync {
    /// Links whose state differed.
    pub links: usize,
    /// Addresses that had come or gone unnoticed.
    pub addresses: usize,
    /// Virtual addresses of Masters found missing, and put back.
    pub restores: usize,
}

impl Node {
    /// Every link's current state (at start, before [`Node::start`]). A tracked interface
    /// that is not among them counts as down.
    pub fn set_links<'a>(&mut self, links: impl IntoIterator<Item = (&'a str, bool)>) {
        for (name, up) in links {
            self.links.insert(name.to_string(), up);
        }
        for i in 0..self.members.len() {
            let up = self.tracked_up(&self.members[i].spec);
            self.members[i].tracked_up = up;
        }
    }

    /// The host's addresses (interface index, address) at start, before [`Node::start`].
    pub fn set_addresses(&mut self, addresses: impl IntoIterator<Item = (u32, IpAddr)>) {
        for (ifindex, address) in addresses {
            self.add_local(ifindex, address);
        }
    }

    /// An address was added to (`present`) or removed from interface `ifindex`. A virtual
    /// address of a Master that goes away is put back ([`AddressAction::Restore`]): what
    /// keepalived users expect of a VIP removed by hand, where keepalived 2.2.7 itself steps
    /// down to Backup. One added by hand on a Backup is left alone, as keepalived does.
    pub fn set_address(&mut self, now: Timestamp, ifindex: u32, address: IpAddr, present: bool) {
        if !present {
            self.restore_missing(now, &|i, a| (i, a) != (ifindex, address));
        }
        self.note_address(now, ifindex, address, present);
    }

    /// Records an address change and applies `track_src_ip`.
    fn note_address(&mut self, now: Timestamp, ifindex: u32, address: IpAddr, present: bool) {
        let before = self.has_address(address);
        if present {
            // Hashing for 1,000 empty maps per address event made start-up O(n²).
            for m in self.members.iter_mut().filter(|m| !m.restoring.is_empty()) {
                m.restoring.remove(&(ifindex, address));
            }
            self.add_local(ifindex, address);
        } else {
            self.remove_local(ifindex, address);
        }
        if self.has_address(address) == before {
            return;
        }
        for i in 0..self.members.len() {
            let spec = &self.members[i].spec;
            if spec.track_src && spec.core.primary_address == address {
                let id = self.members[i].id;
                self.event(NodeEvent::SourceAddress {
                    id,
                    address,
                    present: !before,
                });
                self.apply_tracking(i, now);
            }
        }
    }

    /// The virtual addresses of an instance, with the interface each goes on.
    pub fn set_vips(&mut self, id: InstanceId, vips: Vec<(u32, IpAddr)>) {
        if let Some(i) = self.index(id) {
            self.members[i].vips = vips;
        }
    }

    /// Asks for every virtual address of a Master for which `present` is false to be put
    /// back, and counts it; returns how many. One asked for less than [`RESTORE_PENDING`]
    /// ago is not asked for again: a resync can run while the first restore is under way.
    fn restore_missing(&mut self, now: Timestamp, present: &dyn Fn(u32, IpAddr) -> bool) -> usize {
        let mut count = 0;
        for i in 0..self.members.len() {
            let m = &mut self.members[i];
            if m.instance.state() != State::Master {
                m.restoring.clear();
                continue;
            }
            m.restoring
                .retain(|_, asked| now.saturating_duration_since(*asked) < RESTORE_PENDING);
            let missing: Vec<(u32, IpAddr)> = m
                .vips
                .iter()
                .copied()
                .filter(|&(ifindex, address)| !present(ifindex, address))
                .filter(|vip| !m.restoring.contains_key(vip))
                .collect();
            let id = m.id;
            for (ifindex, address) in missing {
                self.members[i].instance.count_vip_restore();
                self.members[i].restoring.insert((ifindex, address), now);
                let action = AddressAction::Restore { ifindex, address };
                self.outputs.push_back(NodeOutput::Addresses(id, action));
                count += 1;
            }
        }
        count
    }

    /// The whole picture again, after the driver lost change notifications (a netlink
    /// overrun): every link's state and every address of the host. The differences are
    /// applied as the changes they stand for, and every virtual address a Master lacks is
    /// put back (its removal may be among the lost changes, as may its addition).
    pub fn resync<'a>(
        &mut self,
        now: Timestamp,
        links: impl IntoIterator<Item = (&'a str, bool)>,
        addresses: &HashSet<(u32, IpAddr)>,
    ) -> Resync {
        let mut out = Resync::default();
        let links: HashMap<&str, bool> = links.into_iter().collect();
        let mut known: Vec<(String, bool)> =
            self.links.iter().map(|(n, up)| (n.clone(), *up)).collect();
        known.sort();
        for (name, up) in known {
            let now_up = links.get(name.as_str()).copied().unwrap_or(false);
            if now_up != up {
                out.links += 1;
                self.set_link(now, &name, now_up);
            }
        }
        for (name, up) in &links {
            if !self.links.contains_key(*name) {
                self.links.insert((*name).to_string(), *up);
            }
        }
        out.restores = self.restore_missing(now, &|i, a| addresses.contains(&(i, a)));
        let mut gone: Vec<(u32, IpAddr)> = self
            .local_addresses
            .difference(addresses)
            .copied()
            .collect();
        let mut new: Vec<(u32, IpAddr)> = addresses
            .difference(&self.local_addresses)
            .copied()
            .collect();
        gone.sort();
        new.sort();
        out.addresses = gone.len() + new.len();
        for (ifindex, address) in gone {
            self.note_address(now, ifindex, address, false);
        }
        for (ifindex, address) in new {
            self.note_address(now, ifindex, address, true);
        }
        out
    }

    fn has_address(&self, address: IpAddr) -> bool {
        self.address_interfaces.contains_key(&address)
    }

    fn add_local(&mut self, ifindex: u32, address: IpAddr) {
        if self.local_addresses.insert((ifindex, address)) {
            *self.address_interfaces.entry(address).or_default() += 1;
        }
    }

    fn remove_local(&mut self, ifindex: u32, address: IpAddr) {
        if !self.local_addresses.remove(&(ifindex, address)) {
            return;
        }
        if let Some(n) = self.address_interfaces.get_mut(&address) {
            *n -= 1;
            if *n == 0 {
                self.address_interfaces.remove(&address);
            }
        }
    }

    /// Whether a link by this name is known.
    pub fn has_link(&self, name: &str) -> bool {
        self.links.contains_key(name)
    }

    /// A link went up or down (or was reported).
    pub fn set_link(&mut self, now: Timestamp, name: &str, up: bool) {
        self.links.insert(name.to_string(), up);
        for i in 0..self.members.len() {
            let m = &mut self.members[i];
            let mut changed = Vec::new();
            for (k, t) in m.spec.tracked_interfaces.iter().enumerate() {
                if t.name == name && m.tracked_up[k] != up {
                    m.tracked_up[k] = up;
                    changed.push(t.name.clone());
                }
            }
            let id = m.id;
            if !changed.is_empty() {
                for name in changed {
                    self.event(NodeEvent::TrackedInterface { id, name, up });
                }
                self.apply_tracking(i, now);
            }
        }
    }

    /// A script, file or process tracker reported.
    pub fn set_tracker(&mut self, now: Timestamp, key: &TrackerKey, state: TrackState) {
        if self.trackers.insert(key.clone(), state) == Some(state) {
            return;
        }
        self.event(NodeEvent::Tracker {
            key: key.clone(),
            state,
        });
        for i in 0..self.members.len() {
            if self.members[i].spec.trackers.iter().any(|t| t.key == *key) {
                self.apply_tracking(i, now);
            }
        }
    }

    /// The state of each tracked interface of `spec` as known now.
    pub(super) fn tracked_up(&self, spec: &InstanceSpec) -> Vec<bool> {
        spec.tracked_interfaces
            .iter()
            .map(|t| self.links.get(&t.name).copied().unwrap_or(false))
            .collect()
    }

    /// Applies member `i`'s trackers: its own interface (down = Fault), tracked
    /// interfaces, scripts, files and processes by keepalived's weight rules, its sync
    /// group's faults, and an operator's priority; starts it once nothing is pending.
    pub(super) fn apply_tracking(&mut self, i: usize, now: Timestamp) {
        let Some(m) = self.members.get(i) else {
            return;
        };
        let own = &m.spec.interface;
        let mut link_down = false;
        let mut list = Vec::new();
        for (t, up) in m.spec.tracked_interfaces.iter().zip(&m.tracked_up) {
            if t.name == *own && t.weight == 0 {
                link_down |= !up;
                continue;
            }
            let state = if *up {
                TrackState::Up
            } else {
                TrackState::Down
            };
            list.push(Tracked::new(state, t.weight, t.reverse));
        }
        for t in &m.spec.trackers {
            list.push(Tracked::new(
                self.tracker_state(&t.key),
                t.weight,
                t.reverse,
            ));
        }
        let adj = weights::priority_adjustment(&list);
        // keepalived's track_src_ip: no source address, no advertisement (Fault).
        let src_missing = m.spec.track_src && !self.has_address(m.spec.core.primary_address);
        let own_fault = link_down || adj.fault || src_missing;
        let group_fault = self.group_fault(i);
        let priority = match m.operator_priority {
            Some(p) => p,
            None => weights::effective_priority(m.spec.core.priority, &adj),
        };
        let was_own_fault = m.own_fault;
        let start = m.pending_start && !adj.pending;
        let before = m.instance.effective_priority();
        if before != priority {
            self.input(i, now, Input::SetPriority(priority));
            let m = &self.members[i];
            let (id, state) = (m.id, m.instance.state());
            let priority = m.instance.effective_priority();
            if priority != before {
                self.event(NodeEvent::PriorityChanged {
                    id,
                    priority,
                    state,
                });
            }
        }
        if link_down != self.members[i].instance.link_down() {
            let input = if link_down {
                Input::LinkDown
            } else {
                Input::LinkUp
            };
            self.input(i, now, input);
        }
        let track_fault = adj.fault || group_fault || src_missing;
        if track_fault != self.members[i].instance.track_fault() {
            self.input(i, now, Input::TrackFault(track_fault));
        }
        self.members[i].own_fault = own_fault;
        if start {
            self.members[i].pending_start = false;
            self.input(i, now, Input::Startup);
        }
        if own_fault != was_own_fault {
            // The other members follow this one into (or out of) Fault.
            for j in self.group_members(i) {
                self.apply_tracking(j, now);
            }
        }
    }
}
