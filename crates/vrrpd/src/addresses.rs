//! The address worker: adds and removes VIPs through rtnetlink and sends gratuitous ARPs /
//! unsolicited NAs, in the order the protocol asked for them, off the protocol's hot path.
//!
//! The protocol loop only queues jobs here (it never waits for the kernel), so an
//! advertisement is never late because an address change is slow. Instances are known by
//! a stable id, so that a reload can add and remove instances while jobs are queued.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};
use vrrp_config::Garp;
use vrrp_linux::Announcer;
use vrrp_linux::netlink::{AddressSpec, Netlink};
use vrrp_linux::routes::{RouteSpec, RuleSpec};

/// The addresses and announcement settings of one instance.
pub(crate) struct InstanceAddresses {
    pub name: String,
    pub addresses: Vec<(u32, AddressSpec)>,
    /// `virtual_routes` / `virtual_rules`: added after the addresses, removed before them.
    pub routes: Vec<RouteSpec>,
    pub rules: Vec<RuleSpec>,
    pub announcer: Option<Rc<Announcer>>,
    pub mac: [u8; 6],
    pub garp: Garp,
    /// `garp_extra_if all`: announcers of the other interfaces of its addresses, with the
    /// MAC of each.
    pub extra: Vec<(Rc<Announcer>, [u8; 6])>,
}

/// What the protocol loop asks of the worker.
pub(crate) enum Job {
    /// Learn (or replace) the settings of instance `id`.
    Configure(u64, Box<InstanceAddresses>),
    /// Forget instance `id` (after its addresses were removed).
    Forget(u64),
    /// Add all addresses of `id` (it became Master).
    Add(u64),
    /// Remove all addresses of `id` (it stopped being Master).
    Remove(u64),
    /// Add or remove these addresses (a reload changed a Master's VIPs).
    AddSome(Vec<(u32, AddressSpec)>),
    RemoveSome(Vec<(u32, AddressSpec)>),
    /// Announce after becoming Master: keepalived's garp_master_* schedule.
    AnnounceMaster(u64),
    /// Announce again after hearing a lower-priority Master (RFC 9568 §6.4.3).
    AnnounceLowerPriority(u64),
    /// Put back an address of `id` that went away while it is Master (on this interface),
    /// with its routes and rules, and announce it.
    Restore(u64, u32, IpAddr),
    /// Reply once every job queued before has been done.
    Flush(oneshot::Sender<()>),
}

struct Entry {
    addrs: Rc<InstanceAddresses>,
    /// Bumped whenever the instance stops being Master (or is replaced), so pending
    /// announcement bursts and refreshes of an earlier term stop.
    term: u64,
}

type Table = Rc<RefCell<HashMap<u64, Entry>>>;

pub(crate) async fn run(nl: Netlink, mut jobs: mpsc::UnboundedReceiver<Job>) {
    let table: Table = Rc::new(RefCell::new(HashMap::new()));
    while let Some(job) = jobs.recv().await {
        match job {
            Job::Configure(id, addrs) => {
                let mut t = table.borrow_mut();
                let term = t.get(&id).map(|e| e.term).unwrap_or(0);
                t.insert(
                    id,
                    Entry {
                        addrs: Rc::new(*addrs),
                        term,
                    },
                );
            }
            Job::Forget(id) => {
                table.borrow_mut().remove(&id);
            }
            Job::Add(id) => {
                let Some(inst) = lookup(&table, id) else {
                    continue;
                };
                add(&nl, &inst.name, &inst.addresses).await;
                add_routes(&nl, &inst).await;
            }
            Job::Remove(id) => {
                if let Some(e) = table.borrow_mut().get_mut(&id) {
                    e.term += 1;
                }
                let Some(inst) = lookup(&table, id) else {
                    continue;
                };
                remove_routes(&nl, &inst).await;
                remove(&nl, &inst.name, &inst.addresses).await;
            }
            Job::AddSome(addresses) => add(&nl, "reload", &addresses).await,
            Job::RemoveSome(addresses) => remove(&nl, "reload", &addresses).await,
            Job::AnnounceMaster(id) => {
                let Some(inst) = lookup(&table, id) else {
                    continue;
                };
                announce(&inst, inst.garp.master_repeat).await;
                let term = term(&table, id);
                if !inst.garp.master_delay.is_zero() || inst.garp.master_refresh.is_some() {
                    tokio::task::spawn_local(later_announcements(Rc::clone(&table), id, term));
                }
                if inst.garp.extra_if.is_some_and(|x| x.all) && !inst.extra.is_empty() {
                    tokio::task::spawn_local(extra_if_announcements(Rc::clone(&table), id, term));
                }
            }
            Job::AnnounceLowerPriority(id) => {
                let Some(inst) = lookup(&table, id) else {
                    continue;
                };
                // One burst at once, as on becoming Master; keepalived's lower_prio knobs
                // then add a delayed one.
                announce(&inst, inst.garp.lower_prio_repeat.max(1)).await;
                if !inst.garp.lower_prio_delay.is_zero() && inst.garp.lower_prio_repeat > 0 {
                    let table = Rc::clone(&table);
                    let term = term(&table, id);
                    tokio::task::spawn_local(async move {
                        tokio::time::sleep(inst.garp.lower_prio_delay).await;
                        if self::term(&table, id) == term {
                            announce(&inst, inst.garp.lower_prio_repeat).await;
                        }
                    });
                }
            }
            Job::Restore(id, ifindex, addr) => {
                if let Some(inst) = lookup(&table, id) {
                    restore(&nl, &inst, ifindex, addr).await;
                }
            }
            Job::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}

fn lookup(table: &Table, id: u64) -> Option<Rc<InstanceAddresses>> {
    table.borrow().get(&id).map(|e| Rc::clone(&e.addrs))
}

/// The current term of `id`; `u64::MAX` once it is forgotten, which ends its announcements.
fn term(table: &Table, id: u64) -> u64 {
    table.borrow().get(&id).map(|e| e.term).unwrap_or(u64::MAX)
}

async fn add_routes(nl: &Netlink, inst: &InstanceAddresses) {
    for route in &inst.routes {
        if let Err(e) = nl.add_route(route).await {
            warn!("{}: {e}", inst.name);
        }
    }
    for rule in &inst.rules {
        if let Err(e) = nl.add_rule(rule).await {
            warn!("{}: {e}", inst.name);
        }
    }
}

async fn remove_routes(nl: &Netlink, inst: &InstanceAddresses) {
    for rule in &inst.rules {
        if let Err(e) = nl.del_rule(rule).await {
            warn!("{}: {e}", inst.name);
        }
    }
    for route in &inst.routes {
        if let Err(e) = nl.del_route(route).await {
            warn!("{}: {e}", inst.name);
        }
    }
}

async fn add(nl: &Netlink, name: &str, addresses: &[(u32, AddressSpec)]) {
    for (ifindex, spec) in addresses {
        match nl.add_address(*ifindex, spec).await {
            Ok(()) => debug!("{name}: added {}/{}", spec.addr, spec.prefix_len),
            Err(e) => warn!("{name}: cannot add VIP {}: {e}", spec.addr),
        }
    }
}

async fn remove(nl: &Netlink, name: &str, addresses: &[(u32, AddressSpec)]) {
    for (ifindex, spec) in addresses {
        match nl.del_address(*ifindex, spec.addr, spec.prefix_len).await {
            Ok(()) => debug!("{name}: removed {}/{}", spec.addr, spec.prefix_len),
            Err(e) => warn!("{name}: cannot remove VIP {}: {e}", spec.addr),
        }
    }
}

/// Adds one address of `inst` again, its routes and rules (the kernel removed those that
/// went through it; the others are there already), and announces it as on becoming Master.
async fn restore(nl: &Netlink, inst: &InstanceAddresses, ifindex: u32, addr: IpAddr) {
    let one: Vec<(u32, AddressSpec)> = inst
        .addresses
        .iter()
        .filter(|(i, spec)| *i == ifindex && spec.addr == addr)
        .cloned()
        .collect();
    if one.is_empty() {
        return;
    }
    add(nl, &inst.name, &one).await;
    add_routes(nl, inst).await;
    let view = InstanceAddresses {
        name: inst.name.clone(),
        addresses: one,
        routes: Vec::new(),
        rules: Vec::new(),
        announcer: inst.announcer.clone(),
        mac: inst.mac,
        garp: inst.garp.clone(),
        extra: inst.extra.clone(),
    };
    announce(&view, inst.garp.master_repeat.max(1)).await;
}

/// The second burst after `garp_master_delay`, then a refresh every `garp_master_refresh`,
/// for as long as the instance stays in the same Master term.
async fn later_announcements(table: Table, id: u64, started: u64) {
    let Some(inst) = lookup(&table, id) else {
        return;
    };
    if !inst.garp.master_delay.is_zero() {
        tokio::time::sleep(inst.garp.master_delay).await;
        if term(&table, id) != started {
            return;
        }
        announce(&inst, inst.garp.master_repeat).await;
    }
    let Some(period) = inst.garp.master_refresh else {
        return;
    };
    let period = period.max(Duration::from_millis(10));
    loop {
        tokio::time::sleep(period).await;
        if term(&table, id) != started {
            return;
        }
        announce(&inst, inst.garp.master_refresh_repeat).await;
    }
}

/// keepalived's `garp_extra_if`: while the instance stays in the same Master term, one
/// GARP/NA per address on each other interface every interval, the first one
/// `garp_master_delay` + interval after becoming Master (`vrrp_gratuitous_arp_vmac_update_thread`).
async fn extra_if_announcements(table: Table, id: u64, started: u64) {
    let Some(inst) = lookup(&table, id) else {
        return;
    };
    let Some(extra_if) = inst.garp.extra_if else {
        return;
    };
    let period = extra_if.interval.max(Duration::from_millis(10));
    tokio::time::sleep(inst.garp.master_delay).await;
    loop {
        tokio::time::sleep(period).await;
        if term(&table, id) != started {
            return;
        }
        for (announcer, mac) in &inst.extra {
            for (_, spec) in inst
                .addresses
                .iter()
                .filter(|(ifindex, _)| *ifindex == announcer.ifindex())
            {
                let result = match spec.addr {
                    IpAddr::V4(ip) => announcer.send_garp(*mac, ip),
                    IpAddr::V6(ip) => announcer.send_na(*mac, ip),
                };
                if let Err(e) = result {
                    warn!("{}: cannot announce {}: {e}", inst.name, spec.addr);
                }
            }
        }
    }
}

/// `repeat` rounds of one gratuitous ARP / unsolicited NA per address, spaced by
/// `vrrp_garp_interval` / `vrrp_gna_interval`.
async fn announce(inst: &InstanceAddresses, repeat: u32) {
    // Each address on its own link (`dev`), from that link's MAC, as keepalived does.
    let links: Vec<(&Announcer, [u8; 6])> = inst
        .announcer
        .iter()
        .map(|a| (a.as_ref(), inst.mac))
        .chain(inst.extra.iter().map(|(a, mac)| (a.as_ref(), *mac)))
        .collect();
    for _ in 0..repeat {
        for (ifindex, spec) in &inst.addresses {
            let Some((announcer, mac)) = links.iter().find(|(a, _)| a.ifindex() == *ifindex) else {
                continue;
            };
            // Many instances taking over at once send thousands of these back to back.
            crate::busy::breathe(crate::busy::Unit::Announce);
            let (result, gap) = match spec.addr {
                IpAddr::V4(ip) => (announcer.send_garp(*mac, ip), inst.garp.interval),
                IpAddr::V6(ip) => (announcer.send_na(*mac, ip), inst.garp.gna_interval),
            };
            if let Err(e) = result {
                warn!("{}: cannot announce {}: {e}", inst.name, spec.addr);
            }
            if !gap.is_zero() {
                tokio::time::sleep(gap).await;
            }
        }
    }
}
