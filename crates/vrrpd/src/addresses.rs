//! The address worker: adds and removes VIPs through rtnetlink and sends gratuitous ARPs /
//! unsolicited NAs, in the order the protocol asked for them, off the protocol's hot path.
//!
//! The protocol loop only queues jobs here (it never waits for the kernel), so an
//! advertisement is never late because an address change is slow. Instances are known by
//! a stable id, so that a reload can add and remove instances while jobs are queued.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};
use vrrp_config::Garp;
use vrrp_linux::Announcer;
use vrrp_linux::netlink::{self, AddressSpec, Netlink};
use vrrp_linux::routes::{RouteSpec, RuleSpec};

use crate::takeover::Trace;

/// Address requests in flight at once: enough to keep the netlink thread busy without a
/// round trip per address, few enough that their acknowledgements fit the socket's receive
/// buffer (an overrun would lose some, and their requests would never end).
const IN_FLIGHT: usize = 64;

/// The addresses and announcement settings of one instance.
pub(crate) struct InstanceAddresses {
    pub name: String,
    pub addresses: Vec<(u32, AddressSpec)>,
    /// `virtual_routes` / `virtual_rules`: added after the addresses, removed before them.
    pub routes: Vec<RouteSpec>,
    pub rules: Vec<RuleSpec>,
    pub announcer: Option<Arc<Announcer>>,
    pub mac: [u8; 6],
    pub garp: Garp,
    /// `garp_extra_if all`: announcers of the other interfaces of its addresses, with the
    /// MAC of each.
    pub extra: Vec<(Arc<Announcer>, [u8; 6])>,
}

/// What the protocol loop asks of the worker.
pub(crate) enum Job {
    /// Learn (or replace) the settings of instance `id`.
    Configure(u64, Box<InstanceAddresses>),
    /// A takeover may come before this instant: poll for jobs until then rather than
    /// sleep ([`crate::takeover::Readiness`]).
    Ready(Instant),
    /// Forget instance `id` (after its addresses were removed).
    Forget(u64),
    /// Add all addresses of `id` (it became Master at `at`); with `announce`, the
    /// AnnounceMaster that follows a takeover, folded in so that each address is announced
    /// as soon as the kernel has it.
    Add {
        id: u64,
        at: Instant,
        announce: bool,
    },
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

/// When the next paced GARP / NA may leave each interface: keepalived's `garp_interval` /
/// `gna_interval` space the messages of one interface, whichever instances send them.
#[derive(Clone, Default)]
struct Pacer(Rc<RefCell<HashMap<(u32, bool), Instant>>>);

impl Pacer {
    /// Books the next slot on `ifindex` (IPv6 or not) and returns it; `None` when unpaced.
    fn book(&self, ifindex: u32, ipv6: bool, gap: Duration) -> Option<Instant> {
        if gap.is_zero() {
            return None;
        }
        let now = Instant::now();
        let mut next = self.0.borrow_mut();
        let free = next.entry((ifindex, ipv6)).or_insert(now);
        let at = (*free).max(now);
        *free = at + gap;
        Some(at)
    }

    /// A paced message left now, maybe later than booked (a timer fires late on a busy
    /// host): the next one on that interface waits the whole gap from now, as keepalived's
    /// "delay between gratuitous ARP messages" means.
    fn sent(&self, ifindex: u32, ipv6: bool, gap: Duration) {
        let mut next = self.0.borrow_mut();
        let free = next.entry((ifindex, ipv6)).or_insert_with(Instant::now);
        *free = (*free).max(Instant::now() + gap);
    }
}

/// What announcements need besides the instance: its term (they stop when it ends) and the
/// interfaces' pacing.
#[derive(Clone)]
struct Burst {
    table: Table,
    pacer: Pacer,
    id: u64,
    term: u64,
}

impl Burst {
    fn new(table: &Table, pacer: &Pacer, id: u64) -> Burst {
        Burst {
            table: Rc::clone(table),
            pacer: pacer.clone(),
            id,
            term: term(table, id),
        }
    }

    fn current(&self) -> bool {
        term(&self.table, self.id) == self.term
    }
}

pub(crate) async fn run(nl: Netlink, mut jobs: mpsc::UnboundedReceiver<Job>) {
    let table: Table = Rc::new(RefCell::new(HashMap::new()));
    let pacer = Pacer::default();
    let mut queued: VecDeque<Job> = VecDeque::new();
    loop {
        let job = match queued.pop_front() {
            Some(job) => job,
            None => match jobs.recv().await {
                Some(job) => job,
                None => return,
            },
        };
        match job {
            Job::Ready(until) => crate::takeover::poll_jobs(&mut jobs, &mut queued, until),
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
            Job::Add { id, at, announce } => {
                while let Ok(job) = jobs.try_recv() {
                    queued.push_back(job);
                }
                // Instances taking over in the same turn share one pipeline.
                let mut batch = Vec::new();
                push_takeover(&table, &mut batch, id, at, announce);
                while let Some(&Job::Add { id, at, announce }) = queued.front() {
                    queued.pop_front();
                    push_takeover(&table, &mut batch, id, at, announce);
                }
                take_over(&nl, &table, &pacer, batch).await;
            }
            Job::Remove(id) => {
                if let Some(e) = table.borrow_mut().get_mut(&id) {
                    e.term += 1;
                }
                let Some(inst) = lookup(&table, id) else {
                    continue;
                };
                remove_routes(&nl, &inst).await;
                remove(&nl, &inst.name, &inst.addresses, false).await;
            }
            Job::AddSome(addresses) => add(&nl, "reload", &addresses).await,
            Job::RemoveSome(addresses) => remove(&nl, "reload", &addresses, true).await,
            Job::AnnounceMaster(id) => {
                let Some(inst) = lookup(&table, id) else {
                    continue;
                };
                let burst = Burst::new(&table, &pacer, id);
                spawn_if_paced(burst.clone(), inst.clone(), inst.garp.master_repeat, None).await;
                schedule_master_announcements(&burst, &inst);
            }
            Job::AnnounceLowerPriority(id) => {
                let Some(inst) = lookup(&table, id) else {
                    continue;
                };
                // As keepalived: a burst at once, and one more after garp_lower_prio_delay.
                let (repeat, delay) = (inst.garp.lower_prio_repeat, inst.garp.lower_prio_delay);
                if repeat == 0 {
                    continue;
                }
                let burst = Burst::new(&table, &pacer, id);
                spawn_if_paced(burst.clone(), inst.clone(), repeat, None).await;
                if !delay.is_zero() {
                    tokio::task::spawn_local(async move {
                        tokio::time::sleep(delay).await;
                        if burst.current() {
                            announce(&burst, &inst, repeat, None).await;
                        }
                    });
                }
            }
            Job::Restore(id, ifindex, addr) => {
                if let Some(inst) = lookup(&table, id) {
                    restore(&nl, &Burst::new(&table, &pacer, id), &inst, ifindex, addr).await;
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

/// An instance becoming Master.
struct Takeover {
    id: u64,
    inst: Rc<InstanceAddresses>,
    /// The AnnounceMaster of the takeover came with it.
    announce: bool,
}

impl Takeover {
    /// The first round of GARP/NA goes out address by address as the kernel acknowledges
    /// each (not before: a peer would send to an address not configured yet), unless pacing
    /// or routes (keepalived adds them before announcing) make it wait for all.
    fn at_once(&self) -> bool {
        let (garp, inst) = (&self.inst.garp, &self.inst);
        self.announce
            && garp.master_repeat > 0
            && garp.interval.is_zero()
            && garp.gna_interval.is_zero()
            && inst.routes.is_empty()
            && inst.rules.is_empty()
    }
}

/// Adds instance `id`'s takeover to `batch`.
fn push_takeover(
    table: &Table,
    batch: &mut Vec<(Takeover, Trace)>,
    id: u64,
    at: Instant,
    announce: bool,
) {
    if let Some(inst) = lookup(table, id) {
        batch.push((Takeover { id, inst, announce }, Trace::new(at)));
    }
}

/// The takeovers: every address of `batch` added in one pipeline, each announced once
/// acknowledged ([`Takeover::at_once`]); then routes, the rest of the first burst, and the
/// later bursts scheduled.
async fn take_over(nl: &Netlink, table: &Table, pacer: &Pacer, mut batch: Vec<(Takeover, Trace)>) {
    let at_once: Vec<bool> = batch.iter().map(|(t, _)| t.at_once()).collect();
    let insts: Vec<Rc<InstanceAddresses>> = batch.iter().map(|(t, _)| Rc::clone(&t.inst)).collect();
    let links: Vec<_> = insts.iter().map(|inst| links(inst)).collect();
    let flat: Vec<(usize, &(u32, AddressSpec))> = insts
        .iter()
        .enumerate()
        .flat_map(|(i, inst)| inst.addresses.iter().map(move |a| (i, a)))
        .collect();
    let mut added = vec![0usize; batch.len()];
    for (_, trace) in &mut batch {
        trace.requested();
    }
    pipelined(
        &flat,
        |(_, (ifindex, spec))| nl.add_address(*ifindex, spec),
        |&(i, (ifindex, spec)), result| {
            let (Some(inst), Some((_, trace))) = (insts.get(i), batch.get_mut(i)) else {
                return;
            };
            if let Err(e) = result {
                warn!("{}: cannot add VIP {}: {e}", inst.name, spec.addr);
                return;
            }
            trace.acknowledged();
            if let Some(n) = added.get_mut(i) {
                *n += 1;
            }
            if at_once.get(i) == Some(&true)
                && let Some(links) = links.get(i)
            {
                announce_one(inst, links, *ifindex, spec);
                trace.announced();
            }
        },
    )
    .await;
    for (((t, trace), n), at_once) in batch.into_iter().zip(added).zip(at_once) {
        let inst = &t.inst;
        debug!(
            "{}: added {n} of {} addresses",
            inst.name,
            inst.addresses.len()
        );
        add_routes(nl, inst).await;
        if t.announce {
            let burst = Burst::new(table, pacer, t.id);
            if at_once {
                announce(&burst, inst, inst.garp.master_repeat - 1, None).await;
                trace.finish(&inst.name);
            } else {
                spawn_if_paced(
                    burst.clone(),
                    Rc::clone(inst),
                    inst.garp.master_repeat,
                    Some(trace),
                )
                .await;
            }
            schedule_master_announcements(&burst, inst);
        }
    }
}

/// The later bursts and refreshes after becoming Master (its first burst is out).
fn schedule_master_announcements(burst: &Burst, inst: &Rc<InstanceAddresses>) {
    if !inst.garp.master_delay.is_zero() || inst.garp.master_refresh.is_some() {
        tokio::task::spawn_local(later_announcements(burst.clone(), Rc::clone(inst)));
    }
    if inst.garp.extra_if.is_some_and(|x| x.all) && !inst.extra.is_empty() {
        tokio::task::spawn_local(extra_if_announcements(burst.clone(), Rc::clone(inst)));
    }
}

/// `repeat` rounds for `burst`: at once when unpaced (microseconds per address), else in a
/// task of its own, so that a paced burst does not hold up the worker's next jobs (an
/// address removal, say). `trace` is finished after the first round.
async fn spawn_if_paced(
    burst: Burst,
    inst: Rc<InstanceAddresses>,
    repeat: u32,
    mut trace: Option<Trace>,
) {
    let garp = &inst.garp;
    if garp.interval.is_zero() && garp.gna_interval.is_zero() {
        announce(&burst, &inst, repeat, trace.as_mut()).await;
        if let Some(t) = trace {
            t.finish(&inst.name);
        }
        return;
    }
    tokio::task::spawn_local(async move {
        announce(&burst, &inst, repeat, trace.as_mut()).await;
        if let Some(t) = trace {
            t.finish(&inst.name);
        }
    });
}

/// Runs `op` on every item, [`IN_FLIGHT`] at a time, and hands each result to `done` in
/// order.
async fn pipelined<'a, T, F, Fut>(
    items: &'a [T],
    op: F,
    mut done: impl FnMut(&'a T, netlink::Result<()>),
) where
    F: Fn(&'a T) -> Fut,
    Fut: Future<Output = netlink::Result<()>>,
{
    let mut results = futures::stream::iter(items)
        .map(|a| {
            let request = op(a);
            async move { (a, request.await) }
        })
        .buffered(IN_FLIGHT);
    while let Some((a, result)) = results.next().await {
        done(a, result);
    }
}

/// Adds `addresses`, pipelined (a reload's, a restored one): a line each (debug).
async fn add(nl: &Netlink, name: &str, addresses: &[(u32, AddressSpec)]) {
    pipelined(
        addresses,
        |(ifindex, spec)| nl.add_address(*ifindex, spec),
        |(_, spec), result| match result {
            Ok(()) => debug!("{name}: added {}/{}", spec.addr, spec.prefix_len),
            Err(e) => warn!("{name}: cannot add VIP {}: {e}", spec.addr),
        },
    )
    .await;
}

/// Removes `addresses`, pipelined: a line each (debug) for a reload's few, one line after
/// all when an instance leaves Master (thousands of lines would slow the release down).
async fn remove(nl: &Netlink, name: &str, addresses: &[(u32, AddressSpec)], each: bool) {
    let mut ok = 0;
    pipelined(
        addresses,
        |(ifindex, spec)| nl.del_address(*ifindex, spec.addr, spec.prefix_len),
        |(_, spec), result| match result {
            Ok(()) if each => debug!("{name}: removed {}/{}", spec.addr, spec.prefix_len),
            Ok(()) => ok += 1,
            Err(e) => warn!("{name}: cannot remove VIP {}: {e}", spec.addr),
        },
    )
    .await;
    if ok > 0 {
        debug!("{name}: removed {ok} of {} addresses", addresses.len());
    }
}

/// Adds one address of `inst` again, its routes and rules (the kernel removed those that
/// went through it; the others are there already), and announces it as on becoming Master.
async fn restore(
    nl: &Netlink,
    burst: &Burst,
    inst: &InstanceAddresses,
    ifindex: u32,
    addr: IpAddr,
) {
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
    announce(burst, &view, inst.garp.master_repeat.max(1), None).await;
}

/// The second burst after `garp_master_delay`, then a refresh every `garp_master_refresh`,
/// for as long as the instance stays in the same Master term.
async fn later_announcements(burst: Burst, inst: Rc<InstanceAddresses>) {
    if !inst.garp.master_delay.is_zero() {
        tokio::time::sleep(inst.garp.master_delay).await;
        if !burst.current() {
            return;
        }
        announce(&burst, &inst, inst.garp.master_repeat, None).await;
    }
    let Some(period) = inst.garp.master_refresh else {
        return;
    };
    let period = period.max(Duration::from_millis(10));
    loop {
        tokio::time::sleep(period).await;
        if !burst.current() {
            return;
        }
        announce(&burst, &inst, inst.garp.master_refresh_repeat, None).await;
    }
}

/// keepalived's `garp_extra_if`: while the instance stays in the same Master term, one
/// GARP/NA per address on each other interface every interval, the first one
/// `garp_master_delay` + interval after becoming Master (`vrrp_gratuitous_arp_vmac_update_thread`).
async fn extra_if_announcements(burst: Burst, inst: Rc<InstanceAddresses>) {
    let Some(extra_if) = inst.garp.extra_if else {
        return;
    };
    let period = extra_if.interval.max(Duration::from_millis(10));
    tokio::time::sleep(inst.garp.master_delay).await;
    loop {
        tokio::time::sleep(period).await;
        if !burst.current() {
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

/// The links an instance announces on: its own, then `garp_extra_if`'s, each with its MAC.
fn links(inst: &InstanceAddresses) -> Vec<(&Announcer, [u8; 6])> {
    // Each address on its own link (`dev`), from that link's MAC, as keepalived does.
    inst.announcer
        .iter()
        .map(|a| (a.as_ref(), inst.mac))
        .chain(inst.extra.iter().map(|(a, mac)| (a.as_ref(), *mac)))
        .collect()
}

/// One gratuitous ARP / unsolicited NA for one address, on its link.
fn announce_one(
    inst: &InstanceAddresses,
    links: &[(&Announcer, [u8; 6])],
    ifindex: u32,
    spec: &AddressSpec,
) {
    let Some((announcer, mac)) = links.iter().find(|(a, _)| a.ifindex() == ifindex) else {
        return;
    };
    let result = match spec.addr {
        IpAddr::V4(ip) => announcer.send_garp(*mac, ip),
        IpAddr::V6(ip) => announcer.send_na(*mac, ip),
    };
    if let Err(e) = result {
        warn!("{}: cannot announce {}: {e}", inst.name, spec.addr);
    }
}

/// `repeat` rounds of one gratuitous ARP / unsolicited NA per address, each in its
/// interface's next free slot (`vrrp_garp_interval` / `vrrp_gna_interval`); a paced burst
/// stops when the Master term ends. `trace`: the takeover's, told of the first round.
async fn announce(
    burst: &Burst,
    inst: &InstanceAddresses,
    repeat: u32,
    mut trace: Option<&mut Trace>,
) {
    let links = links(inst);
    for round in 0..repeat {
        for (ifindex, spec) in &inst.addresses {
            let gap = match spec.addr {
                IpAddr::V4(_) => inst.garp.interval,
                IpAddr::V6(_) => inst.garp.gna_interval,
            };
            if let Some(at) = burst.pacer.book(*ifindex, spec.addr.is_ipv6(), gap) {
                tokio::time::sleep_until(at.into()).await;
                if !burst.current() {
                    return;
                }
            }
            announce_one(inst, &links, *ifindex, spec);
            if !gap.is_zero() {
                burst.pacer.sent(*ifindex, spec.addr.is_ipv6(), gap);
            }
            if round == 0
                && let Some(t) = trace.as_deref_mut()
            {
                t.announced();
            }
        }
    }
}
