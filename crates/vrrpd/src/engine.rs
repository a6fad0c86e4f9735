//! The protocol engine: every VRRP instance of the daemon, fed by the sockets, the protocol
//! timer and link events, all on the protocol thread.
//!
//! Handling an input is synchronous and short: decode, step the state machine, send the
//! advertisements it asks for, queue address work for the address worker, log. Nothing here
//! waits for the kernel beyond a non-blocking `sendmsg`.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};
use tracing::{debug, info, warn};
use vrrp_config::VrrpInstance;
use vrrp_core::packet::{self, Family, MULTICAST_V4, MULTICAST_V6};
use vrrp_core::{Input, Instance, Output, State, Timestamp, TransitionReason};
use vrrp_linux::netlink::AddressSpec;
use vrrp_linux::netlink::Link;
use vrrp_linux::{Announcer, Received, VrrpSocket};

use crate::addresses::{InstanceAddresses, Job};
use crate::control::{self, Request};
use crate::report;
use crate::setup::RouterPlan;

/// One running instance.
pub struct Router {
    /// Stable for the instance's life (indices shift when a reload removes instances).
    pub id: u64,
    pub instance: Instance,
    pub plan: RouterPlan,
    /// Index of the socket that sends this instance's advertisements.
    pub socket: usize,
    /// Current state of each tracked interface: `true` when up.
    pub tracked_up: Vec<bool>,
    /// A temporary priority set by an operator (until reset or restart).
    pub operator_priority: Option<u8>,
    /// When the current state was entered.
    pub state_since: Timestamp,
    /// The last transitions, oldest first.
    pub history: VecDeque<Transition>,
    /// Changes of the Master as seen from here.
    pub master_changes: u64,
}

/// One state transition, as shown by `vrrpctl show`.
#[derive(Debug, Clone)]
pub struct Transition {
    pub at: Timestamp,
    pub wall: SystemTime,
    pub from: State,
    pub to: State,
    pub reason: TransitionReason,
}

/// VIPs with the interface each goes on.
pub type Addresses = Vec<(u32, AddressSpec)>;

/// How many transitions each instance remembers.
const HISTORY: usize = 20;

/// How late the protocol timer fired, over the daemon's life.
#[derive(Debug, Default, Clone)]
pub struct TimerLateness {
    pub fired: u64,
    pub total: Duration,
    pub max: Duration,
    /// Counts of wake-ups at most 50 µs, 100 µs, 250 µs, 500 µs, 1 ms, 5 ms late, and later.
    pub buckets: [u64; 7],
}

impl TimerLateness {
    pub const BOUNDS_MICROS: [u64; 6] = [50, 100, 250, 500, 1_000, 5_000];

    fn record(&mut self, late: Duration) {
        self.fired += 1;
        self.total += late;
        self.max = self.max.max(late);
        let micros = u64::try_from(late.as_micros()).unwrap_or(u64::MAX);
        let bucket = Self::BOUNDS_MICROS
            .iter()
            .position(|&bound| micros <= bound)
            .unwrap_or(Self::BOUNDS_MICROS.len());
        self.buckets[bucket] += 1;
    }
}

pub struct Engine {
    pub routers: Vec<Router>,
    /// Receive-and-send sockets, one per (family, interface, sending interface).
    pub sockets: Vec<Rc<VrrpSocket>>,
    by_key: HashMap<(Family, u32, u32), usize>,
    /// Gratuitous ARP / NA senders, one per interface.
    announcers: HashMap<u32, Rc<Announcer>>,
    /// The last known state of every link, by name.
    links: HashMap<String, bool>,
    next_id: u64,
    jobs: mpsc::UnboundedSender<Job>,
    check_unicast_src: bool,
    pub lateness: TimerLateness,
    /// Where `vrrpctl watch` listens; sending is skipped when nobody does.
    events: Option<broadcast::Sender<String>>,
    /// The metrics endpoint's view of `lateness`.
    pub lateness_histogram: Option<prometheus_client::metrics::histogram::Histogram>,
}

impl Engine {
    pub fn new(jobs: mpsc::UnboundedSender<Job>, check_unicast_src: bool) -> Engine {
        Engine {
            routers: Vec::new(),
            sockets: Vec::new(),
            by_key: HashMap::new(),
            announcers: HashMap::new(),
            links: HashMap::new(),
            next_id: 0,
            jobs,
            check_unicast_src,
            lateness: TimerLateness::default(),
            events: None,
            lateness_histogram: None,
        }
    }

    pub fn set_check_unicast_src(&mut self, on: bool) {
        self.check_unicast_src = on;
    }

    /// Adds an instance (not started). Opens its socket if no instance on the same
    /// interface has one yet (one per family, interface and sending interface, shared by
    /// every VRID on it) and returns the new socket's index, whose receiver the caller
    /// starts.
    pub fn add_router(&mut self, plan: RouterPlan) -> std::io::Result<Option<usize>> {
        let family = plan.core.family;
        let key = (family, plan.ifindex, plan.send_ifindex);
        let mut opened = None;
        let socket = match self.by_key.get(&key) {
            Some(&i) => i,
            None => {
                let s =
                    VrrpSocket::open_on(family, plan.ifindex, plan.send_ifindex).map_err(|e| {
                        std::io::Error::new(
                            e.kind(),
                            format!("{}: VRRP socket: {e}", plan.config.name),
                        )
                    })?;
                self.sockets.push(Rc::new(s));
                let i = self.sockets.len() - 1;
                self.by_key.insert(key, i);
                opened = Some(i);
                i
            }
        };
        let id = self.next_id;
        self.next_id += 1;
        let _ = self
            .jobs
            .send(Job::Configure(id, worker_view(&mut self.announcers, &plan)));
        let tracked_up = plan
            .tracked
            .iter()
            .map(|(name, _)| self.links.get(name).copied().unwrap_or(true))
            .collect();
        self.routers.push(Router {
            id,
            instance: Instance::new(plan.core.clone()),
            plan,
            socket,
            tracked_up,
            operator_priority: None,
            state_since: Timestamp::ZERO,
            history: VecDeque::new(),
            master_changes: 0,
        });
        Ok(opened)
    }

    /// Starts instance `i` (Startup), after applying its trackers' current state.
    pub fn start_router(&mut self, i: usize, now: Timestamp) {
        self.apply_tracking(i, now);
        self.input(i, now, Input::Startup);
    }

    /// Stops instance `i` (a Master sends priority 0 and releases its addresses) and
    /// removes it; returns its plan so that the caller can delete its virtual MAC
    /// interface.
    pub fn remove_router(&mut self, i: usize, now: Timestamp) -> Option<RouterPlan> {
        if i >= self.routers.len() {
            return None;
        }
        self.input(i, now, Input::Shutdown);
        let router = self.routers.remove(i);
        let _ = self.jobs.send(Job::Forget(router.id));
        Some(router.plan)
    }

    /// A reload changed instance `i` in place: new settings, addresses resolved by the
    /// caller. Returns the addresses to remove and to add now (when it is Master), so that
    /// the caller can order every removal of a reload before every addition (a VIP moving
    /// between instances).
    pub fn update_router(
        &mut self,
        i: usize,
        now: Timestamp,
        config: VrrpInstance,
        addresses: Vec<(u32, AddressSpec)>,
    ) -> (Addresses, Addresses) {
        let Some(router) = self.routers.get_mut(i) else {
            return (Vec::new(), Vec::new());
        };
        let core = crate::setup::core_config(&config, router.plan.core.family, router.plan.src);
        let old_addresses = std::mem::replace(&mut router.plan.addresses, addresses);
        let is_master = router.instance.state() == State::Master;
        router.plan.tracked = crate::setup::tracked(&config);
        router.plan.config = config;
        router.plan.core = core.clone();
        router.operator_priority = None;
        router.tracked_up = router
            .plan
            .tracked
            .iter()
            .map(|(name, _)| self.links.get(name).copied().unwrap_or(true))
            .collect();
        let same = |a: &(u32, AddressSpec), b: &(u32, AddressSpec)| {
            a.0 == b.0 && a.1.addr == b.1.addr && a.1.prefix_len == b.1.prefix_len
        };
        let (removed, added) = if is_master {
            let new = &router.plan.addresses;
            (
                old_addresses
                    .iter()
                    .filter(|o| !new.iter().any(|n| same(o, n)))
                    .cloned()
                    .collect(),
                new.iter()
                    .filter(|n| !old_addresses.iter().any(|o| same(o, n)))
                    .cloned()
                    .collect(),
            )
        } else {
            (Vec::new(), Vec::new())
        };
        router.instance.reconfigure(now, core);
        let id = router.id;
        let view = worker_view(&mut self.announcers, &self.routers[i].plan);
        let _ = self.jobs.send(Job::Configure(id, view));
        self.apply_tracking(i, now);
        self.drain(i, now);
        (removed, added)
    }

    /// Queues address work of a reload: all removals first, then all additions.
    pub fn queue_address_changes(&self, removed: Addresses, added: Addresses) {
        if !removed.is_empty() {
            let _ = self.jobs.send(Job::RemoveSome(removed));
        }
        if !added.is_empty() {
            let _ = self.jobs.send(Job::AddSome(added));
        }
    }

    /// Queues a marker answered once the address worker has done every job before it.
    pub fn queue_flush(&self, done: tokio::sync::oneshot::Sender<()>) -> bool {
        self.jobs.send(Job::Flush(done)).is_ok()
    }

    /// The operator's temporary priorities end with a reload.
    pub fn clear_operator_priorities(&mut self, now: Timestamp) {
        for i in 0..self.routers.len() {
            if self.routers[i].operator_priority.take().is_some() {
                self.apply_tracking(i, now);
            }
        }
    }

    /// Publish events (transitions, master changes, operator actions) to `events`.
    pub fn set_events(&mut self, events: broadcast::Sender<String>) {
        self.events = Some(events);
    }

    fn publish(&self, event: impl FnOnce() -> Value) {
        if let Some(tx) = &self.events
            && tx.receiver_count() > 0
        {
            let line = json!({"v": control::PROTOCOL_VERSION, "event": event()});
            let _ = tx.send(line.to_string());
        }
    }

    /// The index of the instance called `name`.
    pub fn find(&self, name: &str) -> Result<usize, String> {
        self.routers
            .iter()
            .position(|r| r.plan.config.name == name)
            .ok_or_else(|| format!("no instance named {name:?}"))
    }

    /// Answers a control request (on the protocol thread: quick, no waiting).
    pub fn control(
        &mut self,
        now: Timestamp,
        request: Request,
        who: &str,
    ) -> Result<Value, String> {
        match request {
            Request::Status => Ok(report::status(self, now)),
            Request::Show { instance } => {
                let i = self.find(&instance)?;
                Ok(report::show(self, i, now))
            }
            Request::Priority { instance, priority } => {
                let i = self.find(&instance)?;
                if self.routers[i].plan.core.priority == 255 {
                    return Err(format!(
                        "{instance} is the address owner (priority 255); its priority cannot change"
                    ));
                }
                control::log_action(
                    who,
                    &match priority {
                        Some(p) => {
                            format!("{instance}: priority set to {p} until reset or restart")
                        }
                        None => format!("{instance}: operator priority reset"),
                    },
                );
                self.routers[i].operator_priority = priority;
                self.apply_tracking(i, now);
                self.publish(|| json!({"type": "priority", "instance": instance, "priority": priority, "by": who}));
                Ok(report::status_line(&self.routers[i], now))
            }
            Request::Maintenance { instance, on } => {
                let i = self.find(&instance)?;
                control::log_action(
                    who,
                    &format!("{instance}: maintenance {}", if on { "on" } else { "off" }),
                );
                self.input(i, now, Input::Maintenance(on));
                self.publish(
                    || json!({"type": "maintenance", "instance": instance, "on": on, "by": who}),
                );
                Ok(report::status_line(&self.routers[i], now))
            }
            Request::Metrics => Ok(report::metrics(self, now)),
            // Handled by the main loop, which can wait for the kernel.
            Request::Reload => Err("reload is handled by the main loop".into()),
        }
    }

    /// The earliest deadline of any instance.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        self.routers
            .iter()
            .filter_map(|r| r.instance.poll_timeout())
            .min()
    }

    /// Applies the links' current state, then starts every instance.
    pub fn start(&mut self, now: Timestamp, links: &[Link]) {
        for link in links {
            self.on_link(now, link);
        }
        for i in 0..self.routers.len() {
            self.input(i, now, Input::Startup);
        }
    }

    /// The index of the instance called `name`, if any.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.routers.iter().position(|r| r.plan.config.name == name)
    }

    /// The protocol timer fired at `now` for the deadline `armed`.
    pub fn on_timer(&mut self, now: Timestamp, armed: Option<Timestamp>) {
        if let Some(deadline) = armed {
            let late = now - deadline;
            self.lateness.record(late);
            if let Some(h) = &self.lateness_histogram {
                h.observe(late.as_secs_f64());
            }
            if late > Duration::from_millis(1) {
                debug!("protocol timer fired {} µs late", late.as_micros());
            }
        }
        for i in 0..self.routers.len() {
            let due = self.routers[i]
                .instance
                .poll_timeout()
                .is_some_and(|t| t <= now);
            if due {
                self.input(i, now, Input::Timeout);
            }
        }
    }

    /// A packet arrived on socket `socket`.
    pub fn on_packet(&mut self, now: Timestamp, socket: usize, bytes: &[u8], received: &Received) {
        let Some(sock) = self.sockets.get(socket) else {
            return;
        };
        let family = sock.family();
        let ifindex = received.ifindex;
        let route = |vrid: u8, routers: &[Router]| {
            routers.iter().position(|r| {
                r.plan.ifindex == ifindex
                    && r.plan.core.family == family
                    && r.plan.core.vrid == vrid
            })
        };
        match packet::decode(bytes, &received.meta) {
            Ok(decoded) => {
                let vrid = decoded.advertisement.vrid;
                let Some(i) = route(vrid, &self.routers) else {
                    debug!(
                        "advertisement for unconfigured VRID {vrid} from {}",
                        received.meta.src
                    );
                    return;
                };
                let router = &self.routers[i];
                if received.meta.src == router.plan.src {
                    return;
                }
                if self.check_unicast_src
                    && router.plan.config.is_unicast()
                    && !router
                        .plan
                        .config
                        .unicast_peers
                        .contains(&received.meta.src)
                {
                    debug!(
                        "{}: advertisement from {} is not from a unicast peer",
                        router.plan.config.name, received.meta.src
                    );
                    return;
                }
                self.input(
                    i,
                    now,
                    Input::Advertisement {
                        src: received.meta.src,
                        advertisement: &decoded.advertisement,
                        checksum_form: decoded.checksum_form,
                    },
                );
            }
            Err(error) => {
                let target = packet::peek_vrid(bytes).and_then(|vrid| route(vrid, &self.routers));
                if let Some(i) = target {
                    let router = &mut self.routers[i];
                    router.instance.record_decode_error(&error);
                    debug!(
                        "{}: discarded packet from {}: {error}",
                        router.plan.config.name, received.meta.src
                    );
                } else {
                    debug!("discarded packet from {}: {error}", received.meta.src);
                }
            }
        }
    }

    /// A link changed (or is reported at start).
    pub fn on_link(&mut self, now: Timestamp, link: &Link) {
        self.links.insert(link.name.clone(), link.up);
        for i in 0..self.routers.len() {
            let router = &mut self.routers[i];
            let mut changed = false;
            for (k, (name, _)) in router.plan.tracked.iter().enumerate() {
                if *name == link.name && router.tracked_up[k] != link.up {
                    router.tracked_up[k] = link.up;
                    changed = true;
                    info!(
                        "{}: tracked interface {} is {}",
                        router.plan.config.name,
                        link.name,
                        if link.up { "up" } else { "down" }
                    );
                }
            }
            if changed {
                self.apply_tracking(i, now);
            }
        }
    }

    /// Tracked interfaces of weight 0 that are down put the instance in Fault (the
    /// instance's own interface is one of them); the others change its priority (keepalived:
    /// a positive weight is added while up, a negative one while down).
    fn apply_tracking(&mut self, i: usize, now: Timestamp) {
        let router = &self.routers[i];
        let own = &router.plan.config.interface;
        let mut link_down = false;
        let mut track_fault = false;
        let mut adjust: i32 = 0;
        for ((name, weight), up) in router.plan.tracked.iter().zip(&router.tracked_up) {
            match (*weight, *up) {
                (0, false) if name == own => link_down = true,
                (0, false) => track_fault = true,
                (w, true) if w > 0 => adjust += w,
                (w, false) if w < 0 => adjust += w,
                _ => {}
            }
        }
        let priority = match router.operator_priority {
            Some(p) => i32::from(p),
            None => (i32::from(router.plan.core.priority) + adjust).clamp(1, 254),
        };
        let was_link_down = router.instance.link_down();
        let was_track_fault = router.instance.track_fault();
        let priority_changed = i32::from(router.instance.effective_priority()) != priority;
        if priority_changed {
            self.input(
                i,
                now,
                Input::SetPriority(u8::try_from(priority).unwrap_or(1)),
            );
        }
        if link_down != was_link_down {
            self.input(
                i,
                now,
                if link_down {
                    Input::LinkDown
                } else {
                    Input::LinkUp
                },
            );
        }
        if track_fault != was_track_fault {
            self.input(i, now, Input::TrackFault(track_fault));
        }
    }

    /// Shuts every instance down: Masters send priority 0 and release their addresses.
    pub fn shutdown(&mut self, now: Timestamp) {
        for i in 0..self.routers.len() {
            self.input(i, now, Input::Shutdown);
        }
    }

    /// Feeds one input and carries out what the instance asks.
    pub fn input(&mut self, i: usize, now: Timestamp, input: Input<'_>) {
        let Some(router) = self.routers.get_mut(i) else {
            return;
        };
        router.instance.handle(now, input);
        self.drain(i, now);
    }

    /// Carries out what instance `i` asks.
    fn drain(&mut self, i: usize, now: Timestamp) {
        let mut became_master = false;
        while let Some(output) = self.routers[i].instance.poll_output() {
            let router = &self.routers[i];
            match output {
                Output::Send(adv) => self.send(i, &adv),
                Output::AddAddresses => {
                    became_master = true;
                    let _ = self.jobs.send(Job::Add(router.id));
                }
                Output::RemoveAddresses => {
                    let _ = self.jobs.send(Job::Remove(router.id));
                }
                Output::Announce => {
                    let job = if became_master {
                        Job::AnnounceMaster(router.id)
                    } else {
                        Job::AnnounceLowerPriority(router.id)
                    };
                    let _ = self.jobs.send(job);
                }
                Output::StateChanged { from, to, reason } => {
                    let master = match router.instance.master() {
                        Some(m) if to != State::Master => {
                            format!("; master {} priority {}", m.address, m.priority)
                        }
                        _ => String::new(),
                    };
                    info!(
                        "{}: {from} -> {to} ({reason}), priority {}{master}",
                        router.plan.config.name,
                        router.instance.effective_priority()
                    );
                    self.record_transition(i, now, from, to, reason);
                }
                Output::MasterChanged(master) => {
                    self.routers[i].master_changes += 1;
                    let router = &self.routers[i];
                    let name = &router.plan.config.name;
                    match master {
                        Some(m) => debug!(
                            "{name}: master is {} priority {} interval {} cs",
                            m.address, m.priority, m.interval_cs
                        ),
                        None => debug!("{name}: no master heard"),
                    }
                    self.publish(|| {
                        json!({
                            "type": "master_changed",
                            "instance": name,
                            "master": master.map(|m| json!({
                                "address": m.address.to_string(),
                                "priority": m.priority,
                                "interval_cs": m.interval_cs,
                            })),
                        })
                    });
                }
            }
        }
    }

    fn record_transition(
        &mut self,
        i: usize,
        now: Timestamp,
        from: State,
        to: State,
        reason: TransitionReason,
    ) {
        let router = &mut self.routers[i];
        router.state_since = now;
        if router.history.len() == HISTORY {
            router.history.pop_front();
        }
        router.history.push_back(Transition {
            at: now,
            wall: SystemTime::now(),
            from,
            to,
            reason,
        });
        let router = &self.routers[i];
        let name = &router.plan.config.name;
        let priority = router.instance.effective_priority();
        self.publish(|| {
            json!({
                "type": "transition",
                "instance": name,
                "from": from.name(),
                "to": to.name(),
                "reason": reason.name(),
                "priority": priority,
            })
        });
    }

    fn send(&mut self, i: usize, adv: &vrrp_core::Advertisement) {
        let router = &self.routers[i];
        let Some(socket) = self.sockets.get(router.socket) else {
            return;
        };
        let plan = &router.plan;
        let multicast = [match plan.core.family {
            Family::Ipv4 => IpAddr::V4(MULTICAST_V4),
            Family::Ipv6 => IpAddr::V6(MULTICAST_V6),
        }];
        let destinations: &[IpAddr] = if plan.config.is_unicast() {
            &plan.config.unicast_peers
        } else {
            &multicast
        };
        for &dst in destinations {
            match packet::encode(adv, plan.src, dst, plan.core.checksum_form) {
                Ok(bytes) => {
                    if let Err(e) = socket.send(&bytes, plan.src, dst) {
                        warn!(
                            "{}: cannot send advertisement to {dst}: {e}",
                            plan.config.name
                        );
                    }
                }
                Err(e) => warn!("{}: cannot encode advertisement: {e}", plan.config.name),
            }
        }
    }
}

/// What the address worker needs to know of an instance; gratuitous ARP / NA senders are
/// shared per interface.
fn worker_view(
    announcers: &mut HashMap<u32, Rc<Announcer>>,
    plan: &RouterPlan,
) -> InstanceAddresses {
    let announcer = match announcers.get(&plan.announce_ifindex) {
        Some(a) => Some(Rc::clone(a)),
        None => match Announcer::open(plan.announce_ifindex) {
            Ok(a) => {
                let a = Rc::new(a);
                announcers.insert(plan.announce_ifindex, Rc::clone(&a));
                Some(a)
            }
            Err(e) => {
                warn!("{}: cannot send gratuitous ARP / NA: {e}", plan.config.name);
                None
            }
        },
    };
    InstanceAddresses {
        name: plan.config.name.clone(),
        addresses: plan.addresses.clone(),
        announcer,
        mac: plan.announce_mac,
        garp: plan.config.garp.clone(),
    }
}
