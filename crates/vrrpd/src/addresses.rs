//! The address worker: adds and removes VIPs through rtnetlink and sends gratuitous ARPs /
//! unsolicited NAs, in the order the protocol asked for them, off the protocol's hot path.
//!
//! The protocol loop only queues jobs here (it never waits for the kernel), so an
//! advertisement is never late because an address change is slow.

use std::cell::Cell;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};
use vrrp_config::Garp;
use vrrp_linux::Announcer;
use vrrp_linux::netlink::{AddressSpec, Netlink};

/// The addresses and announcement settings of one instance.
pub struct InstanceAddresses {
    pub name: String,
    pub addresses: Vec<(u32, AddressSpec)>,
    pub announcer: Option<Announcer>,
    pub mac: [u8; 6],
    pub garp: Garp,
    /// Bumped whenever the instance stops being Master, so pending announcement bursts and
    /// refreshes of an earlier term stop.
    term: Cell<u64>,
}

impl InstanceAddresses {
    pub fn new(
        name: String,
        addresses: Vec<(u32, AddressSpec)>,
        announcer: Option<Announcer>,
        mac: [u8; 6],
        garp: Garp,
    ) -> Self {
        InstanceAddresses {
            name,
            addresses,
            announcer,
            mac,
            garp,
            term: Cell::new(0),
        }
    }
}

/// What the protocol loop asks of the worker, per instance (by index).
#[derive(Debug)]
pub enum Job {
    Add(usize),
    Remove(usize),
    /// Announce after becoming Master: keepalived's garp_master_* schedule.
    AnnounceMaster(usize),
    /// Announce again after hearing a lower-priority Master (RFC 9568 §6.4.3).
    AnnounceLowerPriority(usize),
    /// Reply once every job queued before has been done.
    Flush(oneshot::Sender<()>),
}

pub async fn run(
    nl: Netlink,
    instances: Rc<Vec<InstanceAddresses>>,
    mut jobs: mpsc::UnboundedReceiver<Job>,
) {
    while let Some(job) = jobs.recv().await {
        match job {
            Job::Add(i) => {
                let Some(inst) = instances.get(i) else {
                    continue;
                };
                for (ifindex, spec) in &inst.addresses {
                    match nl.add_address(*ifindex, spec).await {
                        Ok(()) => debug!("{}: added {}/{}", inst.name, spec.addr, spec.prefix_len),
                        Err(e) => warn!("{}: cannot add VIP {}: {e}", inst.name, spec.addr),
                    }
                }
            }
            Job::Remove(i) => {
                let Some(inst) = instances.get(i) else {
                    continue;
                };
                inst.term.set(inst.term.get() + 1);
                for (ifindex, spec) in &inst.addresses {
                    match nl.del_address(*ifindex, spec.addr, spec.prefix_len).await {
                        Ok(()) => {
                            debug!("{}: removed {}/{}", inst.name, spec.addr, spec.prefix_len)
                        }
                        Err(e) => warn!("{}: cannot remove VIP {}: {e}", inst.name, spec.addr),
                    }
                }
            }
            Job::AnnounceMaster(i) => {
                let Some(inst) = instances.get(i) else {
                    continue;
                };
                announce(inst, inst.garp.master_repeat).await;
                let garp = &inst.garp;
                let schedule = (!garp.master_delay.is_zero()).then_some(garp.master_delay);
                if schedule.is_some() || garp.master_refresh.is_some() {
                    tokio::task::spawn_local(later_announcements(
                        Rc::clone(&instances),
                        i,
                        inst.term.get(),
                    ));
                }
            }
            Job::AnnounceLowerPriority(i) => {
                let Some(inst) = instances.get(i) else {
                    continue;
                };
                // One burst at once, as on becoming Master; keepalived's lower_prio knobs
                // then add a delayed one.
                announce(inst, inst.garp.lower_prio_repeat.max(1)).await;
                if !inst.garp.lower_prio_delay.is_zero() && inst.garp.lower_prio_repeat > 0 {
                    let instances = Rc::clone(&instances);
                    let term = inst.term.get();
                    tokio::task::spawn_local(async move {
                        let Some(inst) = instances.get(i) else { return };
                        tokio::time::sleep(inst.garp.lower_prio_delay).await;
                        if inst.term.get() == term {
                            announce(inst, inst.garp.lower_prio_repeat).await;
                        }
                    });
                }
            }
            Job::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}

/// The second burst after `garp_master_delay`, then a refresh every `garp_master_refresh`,
/// for as long as the instance stays in the same Master term.
async fn later_announcements(instances: Rc<Vec<InstanceAddresses>>, i: usize, term: u64) {
    let Some(inst) = instances.get(i) else { return };
    if !inst.garp.master_delay.is_zero() {
        tokio::time::sleep(inst.garp.master_delay).await;
        if inst.term.get() != term {
            return;
        }
        announce(inst, inst.garp.master_repeat).await;
    }
    let Some(period) = inst.garp.master_refresh else {
        return;
    };
    let period = period.max(Duration::from_millis(10));
    loop {
        tokio::time::sleep(period).await;
        if inst.term.get() != term {
            return;
        }
        announce(inst, inst.garp.master_refresh_repeat).await;
    }
}

/// `repeat` rounds of one gratuitous ARP / unsolicited NA per address, spaced by
/// `vrrp_garp_interval` / `vrrp_gna_interval`.
async fn announce(inst: &InstanceAddresses, repeat: u32) {
    let Some(announcer) = &inst.announcer else {
        return;
    };
    for _ in 0..repeat {
        // Addresses on other interfaces (`dev`) are announced by nobody rather than on the
        // wrong link.
        for (_, spec) in inst
            .addresses
            .iter()
            .filter(|(ifindex, _)| *ifindex == announcer.ifindex())
        {
            let (result, gap) = match spec.addr {
                IpAddr::V4(ip) => (announcer.send_garp(inst.mac, ip), inst.garp.interval),
                IpAddr::V6(ip) => (announcer.send_na(inst.mac, ip), inst.garp.gna_interval),
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
