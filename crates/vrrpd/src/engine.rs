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
use vrrp_core::{Input, Instance, Output, ReceiveError, State, Timestamp, TransitionReason};
use vrrp_linux::netlink::AddressSpec;
use vrrp_linux::netlink::Link;
use vrrp_linux::{Announcer, Received, VrrpSocket};

use crate::addresses::{InstanceAddresses, Job};
use crate::control::{self, Request};
use crate::report;
use crate::setup::RouterPlan;
use crate::tracking::{self, Notifier};
use vrrp_track::fifo::FifoState;
use vrrp_track::{NotifyState, Scope, TrackState, Tracked, TrackerEvent};

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
    /// Its own fault causes hold (its interface is down or a tracker failed): the other
    /// members of its sync group follow it into Fault.
    own_fault: bool,
    /// Waiting for unweighted trackers' first results before starting (keepalived's INIT).
    pending_start: bool,
    /// When each kind of discarded packet was last logged as a warning.
    warned: HashMap<&'static str, Timestamp>,
    /// Held back by its sync group (see `update_group_holds`).
    sync_hold: bool,
}

/// A sync group's state as its notify hooks saw it last.
struct Group {
    notify: vrrp_track::NotifyScripts,
    state: Option<NotifyState>,
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
    /// The last reported state of every script, file and process tracker.
    tracker_states: HashMap<String, TrackState>,
    groups: HashMap<String, Group>,
    notifier: Option<Notifier>,
    next_id: u64,
    jobs: mpsc::UnboundedSender<Job>,
    check_unicast_src: bool,
    pub lateness: TimerLateness,
    /// Where `vrrpctl watch` listens; sending is skipped when nobody does.
    events: Option<broadcast::Sender<String>>,
    /// Receive buffer for `drain_sockets`.
    recv_buf: Vec<u8>,
    /// Receive errors the instance reported for the advertisement being handled.
    receive_errors: Vec<(ReceiveError, bool)>,
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
            tracker_states: HashMap::new(),
            groups: HashMap::new(),
            notifier: None,
            next_id: 0,
            jobs,
            check_unicast_src,
            lateness: TimerLateness::default(),
            events: None,
            lateness_histogram: None,
            recv_buf: Vec::new(),
            receive_errors: Vec::new(),
        }
    }

    /// Where hooks and FIFO lines go.
    pub fn set_notifier(&mut self, notifier: Notifier) {
        self.notifier = Some(notifier);
    }

    /// The sync groups' own notify hooks.
    pub fn set_group(&mut self, name: &str, notify: vrrp_track::NotifyScripts) {
        self.groups.insert(
            name.to_string(),
            Group {
                notify,
                state: None,
            },
        );
    }

    /// The last reported state of a tracker (`script:NAME`, `file:NAME`, `process:NAME`).
    pub fn tracker_state(&self, key: &str) -> Option<TrackState> {
        self.tracker_states.get(key).copied()
    }

    /// A script, file or process tracker reported.
    pub fn on_tracker(&mut self, now: Timestamp, event: &TrackerEvent) {
        let key = tracking::key(event.kind, &event.name);
        let state = TrackState::from(event.status);
        if self.tracker_states.insert(key.clone(), state) == Some(state) {
            return;
        }
        info!("tracker {} is {:?} ({})", key, state, event.detail);
        for i in 0..self.routers.len() {
            if self.routers[i].plan.trackers.iter().any(|t| t.key == key) {
                self.apply_tracking(i, now);
            }
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
            .map(|(name, _, _)| self.links.get(name).copied().unwrap_or(false))
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
            own_fault: false,
            pending_start: false,
            warned: HashMap::new(),
            sync_hold: false,
        });
        Ok(opened)
    }

    /// Starts instance `i` (Startup) once its trackers allow: an unweighted tracker that has
    /// not reported yet holds it in Initialize, as keepalived does.
    pub fn start_router(&mut self, i: usize, now: Timestamp) {
        if let Some(r) = self.routers.get_mut(i) {
            r.pending_start = true;
        }
        self.apply_tracking(i, now);
        if self.routers.get(i).is_some_and(|r| r.pending_start) {
            info!(
                "{}: waiting for its trackers' first results",
                self.routers[i].plan.config.name
            );
        }
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
        extras: crate::setup::Extras,
        addresses: Vec<(u32, AddressSpec)>,
    ) -> (Addresses, Addresses) {
        let Some(router) = self.routers.get_mut(i) else {
            return (Vec::new(), Vec::new());
        };
        let core = crate::setup::core_config(&config, router.plan.core.family, router.plan.src);
        let old_addresses = std::mem::replace(&mut router.plan.addresses, addresses);
        let is_master = router.instance.state() == State::Master;
        router.plan.tracked = crate::setup::tracked(&config);
        router.plan.trackers = extras.trackers;
        router.plan.notify = extras.notify;
        router.plan.config = config;
        router.plan.core = core.clone();
        router.operator_priority = None;
        router.tracked_up = router
            .plan
            .tracked
            .iter()
            .map(|(name, _, _)| self.links.get(name).copied().unwrap_or(false))
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
            self.links.insert(link.name.clone(), link.up);
        }
        for r in &mut self.routers {
            r.tracked_up = r
                .plan
                .tracked
                .iter()
                .map(|(name, _, _)| self.links.get(name).copied().unwrap_or(false))
                .collect();
            for (name, _, _) in &r.plan.tracked {
                if !self.links.contains_key(name) {
                    warn!(
                        "{}: tracked interface {name} does not exist: it counts as down",
                        r.plan.config.name
                    );
                }
            }
        }
        for i in 0..self.routers.len() {
            self.start_router(i, now);
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

    /// Reads every packet already queued on the sockets. Used when the protocol timer woke
    /// up late (the process was not scheduled): an advertisement that arrived meanwhile
    /// must be seen before a Backup concludes that its Master is gone, or a busy machine
    /// makes false takeovers (keepalived's "thread timer expired" split brains).
    pub fn drain_sockets(&mut self, now: Timestamp) {
        let mut buf = std::mem::take(&mut self.recv_buf);
        buf.resize(65_536, 0);
        for index in 0..self.sockets.len() {
            let socket = Rc::clone(&self.sockets[index]);
            // Bounded: a flood cannot keep the timer from being served.
            for _ in 0..256 {
                match socket.recv(&mut buf) {
                    Ok(received) => {
                        if let Some(bytes) = buf.get(received.payload.clone()) {
                            self.on_packet(now, index, bytes, &received);
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => debug!("discarded a malformed packet: {e}"),
                }
            }
        }
        self.recv_buf = buf;
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
                if !packet::first_address_is_link_local(&decoded.advertisement) {
                    self.warn_limited(
                        i,
                        now,
                        "first_address_not_link_local",
                        format!(
                            "advertisement from {} lists a global IPv6 address first (RFC 5798 §5.2.9 wants the link-local one); accepted",
                            received.meta.src
                        ),
                    );
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
                // Say why an advertisement was discarded: a misconfigured peer should be
                // diagnosed, not only counted (at most one warning a minute per reason).
                let errors = std::mem::take(&mut self.receive_errors);
                for &(error, discard) in &errors {
                    let adv = &decoded.advertisement;
                    let name = error.counter_name();
                    self.warn_limited(
                        i,
                        now,
                        name,
                        format!(
                            "advertisement from {} counted in {name} ({}): version {}, priority {}, interval {} cs, auth type {}, addresses {:?}",
                            received.meta.src,
                            if discard { "discarded" } else { "only logged, as the RFC asks" },
                            adv.version.number(),
                            adv.priority,
                            adv.interval_cs,
                            adv.auth.type_number(),
                            adv.addresses
                        ),
                    );
                }
                self.receive_errors = errors;
                self.receive_errors.clear();
            }
            Err(error) => {
                let target = packet::peek_vrid(bytes).and_then(|vrid| route(vrid, &self.routers));
                if let Some(i) = target {
                    self.routers[i].instance.record_decode_error(&error);
                    self.warn_limited(
                        i,
                        now,
                        error.name(),
                        format!("discarded packet from {}: {error}", received.meta.src),
                    );
                } else {
                    debug!("discarded packet from {}: {error}", received.meta.src);
                }
            }
        }
    }

    /// Logs `message` as a warning at most once a minute per instance and `reason`; as debug
    /// otherwise.
    fn warn_limited(&mut self, i: usize, now: Timestamp, reason: &'static str, message: String) {
        let Some(r) = self.routers.get_mut(i) else {
            return;
        };
        let due = r
            .warned
            .get(reason)
            .is_none_or(|last| now - *last >= Duration::from_secs(60));
        if due {
            r.warned.insert(reason, now);
            warn!("{}: {message}", r.plan.config.name);
        } else {
            debug!("{}: {message}", r.plan.config.name);
        }
    }

    /// A link changed (or is reported at start).
    pub fn on_link(&mut self, now: Timestamp, link: &Link) {
        self.links.insert(link.name.clone(), link.up);
        for i in 0..self.routers.len() {
            let router = &mut self.routers[i];
            let mut changed = false;
            for (k, (name, _, _)) in router.plan.tracked.iter().enumerate() {
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

    /// Applies the trackers of instance `i`: its own interface (down = Fault), tracked
    /// interfaces, scripts, files and processes with keepalived's weight rules
    /// (`vrrp_track::weights`), its sync group's faults, and an operator's priority.
    fn apply_tracking(&mut self, i: usize, now: Timestamp) {
        let Some(router) = self.routers.get(i) else {
            return;
        };
        let own = &router.plan.config.interface;
        let mut link_down = false;
        let mut list = Vec::new();
        for ((name, weight, reverse), up) in router.plan.tracked.iter().zip(&router.tracked_up) {
            if name == own && *weight == 0 {
                link_down |= !up;
                continue;
            }
            let state = if *up {
                TrackState::Up
            } else {
                TrackState::Down
            };
            list.push(Tracked::new(state, *weight, *reverse));
        }
        for t in &router.plan.trackers {
            let state = self
                .tracker_states
                .get(&t.key)
                .copied()
                .unwrap_or(TrackState::Pending);
            list.push(Tracked::new(state, t.weight, t.reverse));
        }
        let adj = vrrp_track::priority_adjustment(&list);
        let own_fault = link_down || adj.fault;
        let group_fault = self.group_fault(i);
        let priority = match router.operator_priority {
            Some(p) => p,
            None => vrrp_track::effective_priority(router.plan.core.priority, &adj),
        };
        let was_own_fault = router.own_fault;
        let start = router.pending_start && !adj.pending;
        if router.instance.effective_priority() != priority {
            self.input(i, now, Input::SetPriority(priority));
        }
        if link_down != self.routers[i].instance.link_down() {
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
        let track_fault = adj.fault || group_fault;
        if track_fault != self.routers[i].instance.track_fault() {
            self.input(i, now, Input::TrackFault(track_fault));
        }
        self.routers[i].own_fault = own_fault;
        if start {
            self.routers[i].pending_start = false;
            self.input(i, now, Input::Startup);
        }
        if own_fault != was_own_fault {
            // The other members follow this one into (or out of) Fault.
            for j in self.group_members(i) {
                self.apply_tracking(j, now);
            }
        }
    }

    /// The other members of instance `i`'s sync group.
    fn group_members(&self, i: usize) -> Vec<usize> {
        let Some(group) = self
            .routers
            .get(i)
            .and_then(|r| r.plan.sync_group.as_deref())
        else {
            return Vec::new();
        };
        (0..self.routers.len())
            .filter(|&j| j != i && self.routers[j].plan.sync_group.as_deref() == Some(group))
            .collect()
    }

    /// Another member of `i`'s sync group has its own fault.
    fn group_fault(&self, i: usize) -> bool {
        self.group_members(i)
            .into_iter()
            .any(|j| self.routers[j].own_fault)
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
        self.update_group_holds(i, now);
    }

    /// Sync group members go Master together or not at all (keepalived): a member is held
    /// back from taking over on its own timer while another member would not be Master
    /// (it hears a Master it yields to, is in Fault, or in maintenance).
    fn update_group_holds(&mut self, i: usize, now: Timestamp) {
        let Some(group) = self.routers.get(i).and_then(|r| r.plan.sync_group.clone()) else {
            return;
        };
        let members: Vec<usize> = (0..self.routers.len())
            .filter(|&j| self.routers[j].plan.sync_group.as_deref() == Some(group.as_str()))
            .collect();
        for &j in &members {
            let hold = members
                .iter()
                .any(|&k| k != j && !self.routers[k].instance.would_be_master());
            if hold != self.routers[j].sync_hold {
                self.routers[j].sync_hold = hold;
                self.routers[j]
                    .instance
                    .handle(now, Input::SyncGroupHold(hold));
            }
        }
    }

    /// A Master heard a lower-priority advertisement: `notify_master_rx_lower_pri`.
    fn lower_priority_heard(&self, i: usize) {
        let (Some(n), Some(r)) = (&self.notifier, self.routers.get(i)) else {
            return;
        };
        let name = &r.plan.config.name;
        n.queue
            .push_all(&self.hook_key(i), r.plan.notify.for_master_rx_lower_pri());
        n.state_line(
            Scope::Instance,
            name,
            FifoState::MasterRxLowerPri,
            r.instance.effective_priority(),
        );
    }

    /// Hooks of a sync group's members share the group's queue, so that group and member
    /// hooks run in the order the transitions happened.
    fn hook_key(&self, i: usize) -> String {
        let r = &self.routers[i];
        match &r.plan.sync_group {
            Some(g) => format!("group:{g}"),
            None => format!("instance:{}", r.plan.config.name),
        }
    }

    /// Carries out what instance `i` asks.
    fn drain(&mut self, i: usize, now: Timestamp) {
        let mut became_master = false;
        let mut follow = Vec::new();
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
                    self.notify_transition(i, from, to);
                    // Sync group: the other members follow a member's own transition (not
                    // one it made following another member).
                    if reason != TransitionReason::SyncGroup {
                        let input = match (from, to) {
                            (_, State::Master) => Some(Input::SyncGroupMaster),
                            (State::Master, State::Backup) => Some(Input::SyncGroupBackup),
                            _ => None,
                        };
                        if let Some(input) = input {
                            follow.extend(
                                self.group_members(i)
                                    .into_iter()
                                    .map(|j| (j, input.clone())),
                            );
                        }
                    }
                }
                Output::LowerPriorityHeard => self.lower_priority_heard(i),
                Output::ReceiveError { error, discard } => {
                    self.receive_errors.push((error, discard));
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
                    if let Some(n) = &self.notifier
                        && router.plan.notify.master_change.is_some()
                    {
                        let (address, priority) = master
                            .map(|m| (Some(m.address), m.priority))
                            .unwrap_or((None, 0));
                        n.queue.push_all(
                            &self.hook_key(i),
                            router
                                .plan
                                .notify
                                .for_master_change(name, address, priority),
                        );
                        n.master_change_line(name, address, priority);
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
        for (j, input) in follow {
            self.input(j, now, input);
        }
    }

    /// Notify hooks and FIFO lines of a transition of instance `i`, and of its sync group
    /// when the group as a whole changed state.
    fn notify_transition(&mut self, i: usize, from: State, to: State) {
        let Some(n) = self.notifier.clone() else {
            return;
        };
        let Some(state) = tracking::notify_state(from, to) else {
            return;
        };
        let key = self.hook_key(i);
        let r = &self.routers[i];
        let name = r.plan.config.name.clone();
        let priority = r.instance.effective_priority();
        n.queue.push_all(
            &key,
            r.plan
                .notify
                .for_state(Scope::Instance, &name, state, priority),
        );
        n.state_line(Scope::Instance, &name, FifoState::State(state), priority);
        let Some(group) = r.plan.sync_group.clone() else {
            return;
        };
        // The group is in Fault when a member is, Master when all are, Backup when all are
        // Backup (or Master and Backup mixed while they follow each other: unchanged).
        let states: Vec<State> = self
            .routers
            .iter()
            .filter(|r| r.plan.sync_group.as_deref() == Some(group.as_str()))
            .map(|r| r.instance.state())
            .collect();
        let aggregate = if states.contains(&State::Fault) {
            Some(NotifyState::Fault)
        } else if states.iter().all(|s| *s == State::Master) {
            Some(NotifyState::Master)
        } else if states.iter().all(|s| *s == State::Backup) {
            Some(NotifyState::Backup)
        } else if states.iter().all(|s| *s == State::Initialize) {
            Some(NotifyState::Stop)
        } else {
            None
        };
        let Some(aggregate) = aggregate else { return };
        let Some(g) = self.groups.get_mut(&group) else {
            return;
        };
        if g.state == Some(aggregate) {
            return;
        }
        g.state = Some(aggregate);
        info!("sync group {group}: {}", aggregate.as_str());
        n.queue
            .push_all(&key, g.notify.for_state(Scope::Group, &group, aggregate, 0));
        n.state_line(Scope::Group, &group, FifoState::State(aggregate), 0);
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
        routes: plan.routes.clone(),
        rules: plan.rules.clone(),
        announcer,
        mac: plan.announce_mac,
        garp: plan.config.garp.clone(),
    }
}
