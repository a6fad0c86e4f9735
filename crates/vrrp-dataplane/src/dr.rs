//! Direct routing: the installed state of `netdev vrrpd_lb_dr` and the commands that take
//! it to a desired one, in an order where nothing is deleted while something still jumps
//! to it. The commands join the NAT table's in one libnftables buffer (one transaction).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;
use std::net::IpAddr;

use vrrp_lb::dataplane::{DesiredState, Service};
use vrrp_lb::spec::{Forwarding, RealServerKey, Scheduler, ServiceId};

use crate::drscript::{self, DR, DR_SLOTS};
use crate::route::Device;
use crate::{Counters, DataPathError, ServiceStats, Stats, script, slots, stats};

/// The direct-routing services of `state` (those with a DR destination; validation
/// refuses a service that mixes methods), and the others.
pub(crate) fn split(state: &DesiredState) -> (DesiredState, DesiredState) {
    let (mut nat, mut dr) = (DesiredState::default(), DesiredState::default());
    for (id, service) in &state.services {
        let is_dr = service
            .destinations
            .values()
            .any(|d| d.forwarding == Forwarding::Dr);
        let to = if is_dr { &mut dr } else { &mut nat };
        to.services.insert(id.clone(), service.clone());
    }
    (nat, dr)
}

/// The installed direct-routing services, with the numbering of their chains.
#[derive(Clone, Debug, Default)]
pub(crate) struct DrTable {
    installed: DesiredState,
    /// Service -> N of `sN`, `wN`; destination -> M of `dM`, `cM` (one counter for both).
    numbers: BTreeMap<ServiceId, u32>,
    ids: BTreeMap<(ServiceId, RealServerKey), u32>,
    slots: BTreeMap<ServiceId, Vec<u32>>,
    /// The interface of each real server address in use, resolved when it first comes.
    devices: BTreeMap<IpAddr, Device>,
    next: u32,
}

/// One service's part of a transaction: its slot map's changes, and whether its hash rule
/// is rebuilt.
struct SlotCmds<'a> {
    n: u32,
    id: &'a ServiceId,
    service: &'a Service,
    rule: bool,
    del: String,
    add: String,
    len: usize,
}

/// Interface index -> (interface, dispatch rules) of the ingress chains `state` needs.
type Dispatch = BTreeMap<u32, (Device, Vec<String>)>;

impl DrTable {
    fn dispatch(&self) -> Dispatch {
        let mut out = Dispatch::new();
        for (id, service) in &self.installed.services {
            let Some(n) = self.numbers.get(id) else {
                continue;
            };
            let devs: BTreeSet<&Device> = service
                .destinations
                .keys()
                .filter_map(|k| self.devices.get(&k.addr))
                .collect();
            for dev in devs {
                let entry = out
                    .entry(dev.index)
                    .or_insert_with(|| (dev.clone(), Vec::new()));
                entry.1.extend(drscript::dispatch_rules(*n, id, service));
            }
        }
        out
    }

    /// The slot table of `service` (destination ids) from `before`.
    fn slot_table(&self, id: &ServiceId, service: &Service, before: &[u32]) -> Vec<u32> {
        let dests: Vec<_> = service
            .destinations
            .values()
            .filter_map(|d| self.ids.get(&(id.clone(), d.key)).map(|m| (*m, d)))
            .collect();
        if !dests.iter().any(|(_, d)| d.weight > 0) {
            return Vec::new();
        }
        if service.scheduler == Scheduler::Mh {
            // Maglev's table has DR_SLOTS slots; validation caps the weights it takes.
            return slots::next(Scheduler::Mh, before, &dests).unwrap_or_default();
        }
        let weights: Vec<(u32, u32)> = dests.iter().map(|(m, d)| (*m, d.weight)).collect();
        slots::shares(
            before,
            &weights,
            DR_SLOTS,
            service.scheduler == Scheduler::Rr,
        )
    }

    /// The commands from the installed state to `desired` (direct-routing services only),
    /// and the table after them; `resolve` finds a new real server's interface.
    pub(crate) fn transaction(
        &self,
        desired: &DesiredState,
        resolve: impl Fn(IpAddr) -> Result<Device, DataPathError>,
    ) -> Result<(String, DrTable), DataPathError> {
        let (old, new) = (&self.installed.services, &desired.services);
        let mut next = self.clone();
        next.installed = desired.clone();
        let used: BTreeSet<IpAddr> = new
            .values()
            .flat_map(|s| s.destinations.keys().map(|k| k.addr))
            .collect();
        next.devices.retain(|a, _| used.contains(a));
        for addr in used {
            if let std::collections::btree_map::Entry::Vacant(e) = next.devices.entry(addr) {
                e.insert(resolve(addr)?);
            }
        }
        let kept = |id: &ServiceId, key: &RealServerKey| {
            new.get(id)
                .is_some_and(|s| s.destinations.contains_key(key))
        };
        let mut gone = Vec::new();
        for (id, service) in old {
            for key in service.destinations.keys().filter(|k| !kept(id, k)) {
                gone.extend(next.ids.remove(&(id.clone(), *key)));
            }
        }
        let removed: Vec<u32> = old
            .keys()
            .filter(|id| !new.contains_key(*id))
            .filter_map(|id| next.numbers.remove(id))
            .collect();
        next.slots.retain(|id, _| new.contains_key(id));
        let mut came = Vec::new();
        for (id, service) in new {
            if !next.numbers.contains_key(id) {
                next.next += 1;
                next.numbers.insert(id.clone(), next.next);
            }
            for key in service.destinations.keys() {
                if !next.ids.contains_key(&(id.clone(), *key)) {
                    next.next += 1;
                    next.ids.insert((id.clone(), *key), next.next);
                    came.push((id.clone(), *key, next.next));
                }
            }
        }
        let mut slot_cmds = Vec::new();
        for (id, service) in new {
            // An unchanged service keeps its slots (and its destinations their ids).
            if old.get(id) == Some(service) {
                continue;
            }
            let n = next.numbers[id];
            let before = self.slots.get(id).cloned().unwrap_or_default();
            let after = next.slot_table(id, service, &before);
            // The hash rule changes with the settings or when the table (dis)appears.
            let rule = old.get(id).is_none_or(|o| {
                o.scheduler != service.scheduler
                    || o.flags != service.flags
                    || before.is_empty() != after.is_empty()
            });
            let (del, add) = script::slot_changes(DR, "d", n, &before, &after);
            slot_cmds.push(SlotCmds {
                n,
                id,
                service,
                rule,
                del,
                add,
                len: after.len(),
            });
            next.slots.insert(id.clone(), after);
        }
        let (was, will) = (self.dispatch(), next.dispatch());

        let mut out = String::new();
        if was != will {
            for index in was.keys() {
                let _ = writeln!(out, "flush chain {DR} i{index}");
            }
        }
        for n in &removed {
            drscript::remove_service(&mut out, *n);
        }
        for c in &slot_cmds {
            out.push_str(&c.del);
        }
        for m in &gone {
            drscript::remove_destination(&mut out, *m);
        }
        for index in was.keys().filter(|i| !will.contains_key(i)) {
            let _ = writeln!(out, "delete chain {DR} i{index}");
        }
        // Then what comes.
        for (index, (dev, _)) in &will {
            if !was.contains_key(index) {
                drscript::add_ingress(&mut out, dev);
            }
        }
        for (id, n) in &next.numbers {
            if !self.numbers.contains_key(id) {
                drscript::add_service(&mut out, *n);
            }
        }
        for (id, key, m) in &came {
            if let (Some(dest), Some(dev)) = (
                new.get(id).and_then(|s| s.destinations.get(key)),
                next.devices.get(&key.addr),
            ) {
                drscript::add_destination(&mut out, id, dest, *m, dev);
            }
        }
        for c in &slot_cmds {
            out.push_str(&c.add);
            if c.rule {
                drscript::service_rule(&mut out, c.n, c.id, c.service, c.len);
            }
        }
        if was != will {
            for (index, (_, rules)) in &will {
                for rule in rules {
                    let _ = writeln!(out, "add rule {DR} i{index} {rule}");
                }
            }
        }
        Ok((out, next))
    }

    /// Adds the counters of the direct-routing services to `out`, from `listing` (of the
    /// table): connections are TCP SYNs, packets and bytes those from the clients (the
    /// answers do not pass the balancer).
    pub(crate) fn stats(&self, listing: &str, out: &mut Stats) {
        let counters = stats::chain_counters(listing);
        for (id, service) in &self.installed.services {
            let mut s = ServiceStats::default();
            for key in service.destinations.keys() {
                let Some(m) = self.ids.get(&(id.clone(), *key)) else {
                    continue;
                };
                let get = |p: &str| counters.get(&format!("{p}{m}")).copied().unwrap_or((0, 0));
                let c = Counters {
                    connections: get("c").0,
                    packets: get("d").0,
                    bytes: get("d").1,
                };
                s.total += c;
                s.destinations.insert(*key, c);
            }
            out.services.insert(id.clone(), s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vrrp_lb::dataplane::Destination;
    use vrrp_lb::spec::{Protocol, SchedulerFlags, ServiceAddr, ServiceKey};

    fn state(weights: &[u32]) -> DesiredState {
        let sa = "10.0.0.100:80".parse().unwrap();
        let id = ServiceId {
            key: ServiceKey::Socket(sa),
            protocol: Protocol::Tcp,
        };
        let destinations = weights
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let key = RealServerKey {
                    addr: IpAddr::from([10, 0, 0, i as u8 + 1]),
                    port: 80,
                };
                let d = Destination {
                    key,
                    weight: *w,
                    forwarding: Forwarding::Dr,
                    upper_threshold: 0,
                    lower_threshold: 0,
                };
                (key, d)
            })
            .collect();
        let service = Service {
            addrs: vec![ServiceAddr::Socket(sa)],
            scheduler: Scheduler::Wrr,
            flags: SchedulerFlags::default(),
            persistence: None,
            destinations,
        };
        DesiredState {
            services: [(id, service)].into_iter().collect(),
        }
    }

    fn eth0(_: IpAddr) -> Result<Device, DataPathError> {
        Ok(Device {
            index: 2,
            name: "eth0".into(),
        })
    }

    #[test]
    fn a_weight_change_edits_the_slot_map_only_and_removal_unhooks_first() {
        let (script, one) = DrTable::default()
            .transaction(&state(&[1, 1]), eth0)
            .unwrap();
        assert!(script.contains("hook ingress device \"eth0\""), "{script}");
        assert!(
            script.contains(
                "add rule netdev vrrpd_lb_dr i2 ip daddr 10.0.0.100 tcp dport 80 jump s1"
            )
        );
        assert!(
            script.contains("jhash ip saddr . tcp sport mod 4093 seed"),
            "{script}"
        );
        assert!(script.contains("counter fwd ip to 10.0.0.2 device \"eth0\""));
        let (script, two) = one.transaction(&state(&[1, 3]), eth0).unwrap();
        assert!(!script.is_empty());
        for line in script.lines() {
            assert!(
                line.starts_with("delete element netdev vrrpd_lb_dr w1 ")
                    || line.starts_with("add element netdev vrrpd_lb_dr w1 "),
                "{script}"
            );
        }
        // The first server's share goes from 2,047 slots to 1,023: 1,024 move.
        let moved = script.lines().last().unwrap().matches("jump").count();
        assert_eq!(moved, 1024);
        let (script, three) = two.transaction(&DesiredState::default(), eth0).unwrap();
        let at = |what: &str| script.find(what).unwrap();
        assert!(at("flush chain netdev vrrpd_lb_dr i2") < at("delete chain netdev vrrpd_lb_dr s1"));
        assert!(at("delete map netdev vrrpd_lb_dr w1") < at("delete chain netdev vrrpd_lb_dr d2"));
        assert!(script.contains("delete chain netdev vrrpd_lb_dr i2"));
        assert!(three.dispatch().is_empty());
    }
}
