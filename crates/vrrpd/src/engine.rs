//! The driver of the protocol core: the node ([`vrrp_core::Node`]) and what it needs on
//! Linux, on the protocol thread.
//!
//! Every input goes into the node; [`Engine::after_input`] then carries out what it asks:
//! transmits on the raw sockets (a non-blocking `sendmsg`), address work queued for the
//! address worker, hooks and FIFO lines queued for the tracking thread, logs and
//! `vrrpctl watch` events. Nothing here waits for the kernel.

use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{broadcast, mpsc};
use tracing::{debug, info, warn};
use vrrp_config::VrrpInstance;
use vrrp_control::{Event, Reply, Request, Snapshot};
use vrrp_core::node::{AddressAction, NodeOutput};
use vrrp_core::{
    InstanceId, InstanceSpec, Node, SocketKey, State, Timestamp, TrackedInterface, TransitionReason,
};
use vrrp_linux::netlink::AddressSpec;
use vrrp_linux::netlink::Link;
use vrrp_linux::{Announcer, Received, VrrpSocket};

use crate::addresses::{InstanceAddresses, Job};
use crate::clock::ProtocolTimer;
use crate::control;
use crate::report;
use crate::setup::RouterPlan;
use crate::takeover::Readiness;
use crate::tracking::{self, Notifier};

mod events;
use vrrp_track::{TrackState, TrackerEvent};

/// What the daemon keeps of one instance beside the node: its plan and its history.
pub(crate) struct Router {
    /// The node's name for it (also the address worker's).
    pub id: InstanceId,
    pub plan: RouterPlan,
    /// When the current state was entered.
    pub state_since: Timestamp,
    /// The last transitions, oldest first.
    pub history: VecDeque<Transition>,
    /// Changes of the Master as seen from here.
    pub master_changes: u64,
    /// When each kind of discarded packet was last logged as a warning.
    warned: HashMap<&'static str, Timestamp>,
    /// A reload is removing it: its last transition is notified FAULT or DELETED
    /// (`notify_deleted`), as keepalived does, not STOP.
    deleted: bool,
}

/// One state transition, as shown by `vrrpctl show`.
#[derive(Debug, Clone)]
pub(crate) struct Transition {
    pub at: Timestamp,
    pub wall: SystemTime,
    pub from: State,
    pub to: State,
    pub reason: TransitionReason,
}

/// VIPs with the interface each goes on.
pub(crate) type Addresses = Vec<(u32, AddressSpec)>;

/// How many transitions each instance remembers.
const HISTORY: usize = 20;

/// How late the protocol timer fired, over the daemon's life.
#[derive(Debug, Default, Clone)]
pub(crate) struct TimerLateness {
    pub fired: u64,
    pub total: Duration,
    pub max: Duration,
    /// Counts of wake-ups at most 50 µs, 100 µs, 250 µs, 500 µs, 1 ms, 5 ms late, and later.
    pub buckets: [u64; 7],
}

impl TimerLateness {
    pub(crate) const BOUNDS_MICROS: [u64; 6] = [50, 100, 250, 500, 1_000, 5_000];

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

/// Every input of the protocol thread, one entry point: [`Engine::handle`].
pub(crate) enum Input<'a> {
    /// Start every instance, given the links' current state and the host's addresses
    /// (interface index, address).
    Start(&'a [Link], &'a [(u32, std::net::IpAddr)]),
    /// The protocol timer fired for the deadline `armed`.
    Timer { armed: Option<Timestamp> },
    /// A packet arrived on one of the sockets.
    Packet {
        bytes: &'a [u8],
        received: &'a Received,
    },
    /// A link changed.
    Link(&'a Link),
    /// An address was added to (`present`) or removed from an interface.
    Address {
        ifindex: u32,
        addr: std::net::IpAddr,
        present: bool,
    },
    /// A script, file or process tracker reported.
    Tracker(&'a TrackerEvent),
    /// Link and address notifications were lost: every link and address as they are now.
    Resync(&'a vrrp_linux::netlink::Snapshot),
    /// Shut every instance down: Masters send priority 0 and release their addresses.
    Shutdown,
}

pub(crate) struct Engine {
    /// Every instance's protocol state.
    pub node: Node,
    /// The daemon's side of each instance, in the node's order.
    pub routers: Vec<Router>,
    /// Receive-and-send sockets, one per socket key.
    pub sockets: Vec<Rc<VrrpSocket>>,
    by_key: HashMap<SocketKey, usize>,
    /// `vrrp_mcast_group4/6`: the groups the sockets join and adverts are sent to.
    multicast_groups: (std::net::Ipv4Addr, std::net::Ipv6Addr),
    /// Gratuitous ARP / NA senders, one per interface.
    announcers: HashMap<u32, Arc<Announcer>>,
    /// The sync groups' own notify hooks.
    groups: HashMap<String, vrrp_track::NotifyScripts>,
    notifier: Option<Notifier>,
    jobs: mpsc::UnboundedSender<Job>,
    pub lateness: TimerLateness,
    /// Packets for a VRID no instance has on the interface they came in on (RFC 6527's
    /// VRID errors are per instance, so these have no instance to be counted against).
    pub unknown_vrid_packets: u64,
    /// Where `vrrpctl watch` listens; sending is skipped when nobody does.
    events: Option<broadcast::Sender<Event>>,
    /// `lvs_sync_daemon inst NAME`: the load balancer hears of NAME's transitions.
    sync_follower: Option<(String, mpsc::UnboundedSender<crate::balancer::Message>)>,
    /// Receive buffer for `drain_sockets`.
    recv_buf: Vec<u8>,
    /// The metrics endpoint's view of `lateness`.
    pub lateness_histogram: Option<prometheus_client::metrics::histogram::Histogram>,
    /// Armed for the node's next deadline after every input.
    timer: Rc<ProtocolTimer>,
    /// Set when arming the timer failed: the daemon cannot keep its timers and stops.
    timer_error: Option<std::io::Error>,
    /// Wakes the address worker ahead of a possible takeover.
    readiness: Readiness,
}

/// The node's view of an instance's plan.
fn instance_spec(plan: &RouterPlan) -> InstanceSpec {
    InstanceSpec {
        core: plan.core.clone(),
        socket: SocketKey {
            family: plan.core.family,
            ifindex: plan.ifindex,
            send_ifindex: plan.send_ifindex,
        },
        interface: plan.config.interface.clone(),
        unicast_peers: plan.config.unicast_peers.clone(),
        check_unicast_src: plan.config.check_unicast_src,
        unicast_ttl: plan.config.unicast_ttl,
        track_src: plan.config.track_src_ip,
        old_unicast_checksum: plan.config.old_unicast_checksum,
        tracked_interfaces: plan
            .tracked
            .iter()
            .map(|(name, weight, reverse)| TrackedInterface {
                name: name.clone(),
                weight: *weight,
                reverse: *reverse,
            })
            .collect(),
        trackers: plan.trackers.clone(),
        sync_group: plan.sync_group.clone(),
    }
}

impl Engine {
    pub(crate) fn new(
        jobs: mpsc::UnboundedSender<Job>,
        check_unicast_src: bool,
        timer: Rc<ProtocolTimer>,
    ) -> Engine {
        let mut node = Node::new();
        node.set_check_unicast_src(check_unicast_src);
        Engine {
            node,
            routers: Vec::new(),
            sockets: Vec::new(),
            by_key: HashMap::new(),
            multicast_groups: (
                vrrp_core::packet::MULTICAST_V4,
                vrrp_core::packet::MULTICAST_V6,
            ),
            announcers: HashMap::new(),
            groups: HashMap::new(),
            notifier: None,
            jobs,
            lateness: TimerLateness::default(),
            unknown_vrid_packets: 0,
            events: None,
            sync_follower: None,
            lateness_histogram: None,
            recv_buf: Vec::new(),
            timer,
            timer_error: None,
            readiness: Readiness::default(),
        }
    }

    /// The protocol timer the engine arms.
    pub(crate) fn timer(&self) -> Rc<ProtocolTimer> {
        Rc::clone(&self.timer)
    }

    /// Why arming the protocol timer failed, once.
    pub(crate) fn take_timer_error(&mut self) -> Option<std::io::Error> {
        self.timer_error.take()
    }

    /// Where hooks and FIFO lines go.
    pub(crate) fn set_notifier(&mut self, notifier: Notifier) {
        self.notifier = Some(notifier);
    }

    /// The hooks, FIFOs and alerts, once set.
    pub(crate) fn notifier(&self) -> Option<&Notifier> {
        self.notifier.as_ref()
    }

    /// The sync groups' own notify hooks.
    pub(crate) fn set_group(&mut self, name: &str, notify: vrrp_track::NotifyScripts) {
        self.groups.insert(name.to_string(), notify);
    }

    fn on_tracker(&mut self, now: Timestamp, event: &TrackerEvent) {
        let key = tracking::key(event.kind, &event.name);
        let state = TrackState::from(event.status);
        if self.node.tracker_state(&key) != state {
            info!("tracker {key} is {state:?} ({})", event.detail);
        }
        self.node.set_tracker(now, &key, state);
    }

    /// `vrrp_mcast_group4/6`; before the first instance is added (its socket joins them).
    pub(crate) fn set_multicast_groups(&mut self, v4: std::net::Ipv4Addr, v6: std::net::Ipv6Addr) {
        self.multicast_groups = (v4, v6);
        self.node.set_multicast_groups(v4, v6);
    }

    pub(crate) fn set_check_unicast_src(&mut self, on: bool) {
        self.node.set_check_unicast_src(on);
    }

    /// Adds an instance (not started). Opens its socket if no instance on the same
    /// interface has one yet (one per family, interface and sending interface, shared by
    /// every VRID on it) and returns the new socket's index, whose receiver the caller
    /// starts.
    pub(crate) fn add_router(&mut self, plan: RouterPlan) -> std::io::Result<Option<usize>> {
        let spec = instance_spec(&plan);
        let mut opened = None;
        if !self.by_key.contains_key(&spec.socket) {
            let key = spec.socket;
            let group = match key.family {
                vrrp_core::Family::Ipv4 => std::net::IpAddr::V4(self.multicast_groups.0),
                vrrp_core::Family::Ipv6 => std::net::IpAddr::V6(self.multicast_groups.1),
            };
            let s = VrrpSocket::open_in_group(key.family, key.ifindex, key.send_ifindex, group)
                .map_err(|e| {
                    std::io::Error::new(e.kind(), format!("{}: VRRP socket: {e}", plan.config.name))
                })?;
            self.sockets.push(Rc::new(s));
            let i = self.sockets.len() - 1;
            self.by_key.insert(key, i);
            opened = Some(i);
        }
        let id = self.node.add(spec);
        self.node.set_vips(id, vips(&plan));
        let _ = self.jobs.send(Job::Configure(
            id.get(),
            worker_view(&mut self.announcers, &plan),
        ));
        self.routers.push(Router {
            id,
            plan,
            state_since: Timestamp::ZERO,
            history: VecDeque::new(),
            master_changes: 0,
            warned: HashMap::new(),
            deleted: false,
        });
        Ok(opened)
    }

    /// Starts instance `i` (Startup) once its trackers allow: an unweighted tracker that has
    /// not reported yet holds it in Initialize, as keepalived does.
    pub(crate) fn start_router(&mut self, i: usize, now: Timestamp) {
        if let Some(r) = self.routers.get(i) {
            self.node.start_instance(r.id, now);
            self.after_input(now);
        }
    }

    /// Stops instance `i` (a Master sends priority 0 and releases its addresses) and
    /// removes it; returns its plan so that the caller can delete its virtual MAC
    /// interface. `deleted`: it is gone from the configuration (not re-created), and its
    /// last transition is notified FAULT or DELETED, as keepalived does, instead of STOP.
    pub(crate) fn remove_router(
        &mut self,
        i: usize,
        now: Timestamp,
        deleted: bool,
    ) -> Option<RouterPlan> {
        let router = self.routers.get_mut(i)?;
        router.deleted = deleted;
        let id = router.id;
        self.node.remove(id, now);
        self.after_input(now);
        let router = self.routers.remove(i);
        let _ = self.jobs.send(Job::Forget(router.id.get()));
        Some(router.plan)
    }

    /// A reload changed instance `i` in place: new settings, addresses resolved by the
    /// caller. Returns the addresses to remove and to add now (when it is Master), so that
    /// the caller can order every removal of a reload before every addition (a VIP moving
    /// between instances).
    pub(crate) fn update_router(
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
        let id = router.id;
        let core = crate::setup::core_config(&config, router.plan.core.family, router.plan.src);
        let old_addresses = std::mem::replace(&mut router.plan.addresses, addresses);
        let is_master = self.node.instance(id).map(|x| x.state()) == Some(State::Master);
        router.plan.tracked = crate::setup::tracked(&config);
        router.plan.trackers = extras.trackers;
        router.plan.notify = extras.notify;
        router.plan.config = config;
        router.plan.core = core;
        let (removed, added) = if is_master {
            address_changes(&old_addresses, &router.plan.addresses)
        } else {
            (Vec::new(), Vec::new())
        };
        let spec = instance_spec(&router.plan);
        let view = worker_view(&mut self.announcers, &self.routers[i].plan);
        let _ = self.jobs.send(Job::Configure(id.get(), view));
        self.node.set_vips(id, vips(&self.routers[i].plan));
        self.node.reconfigure(id, now, spec);
        self.after_input(now);
        (removed, added)
    }

    /// Queues address work of a reload: all removals first, then all additions.
    pub(crate) fn queue_address_changes(&self, removed: Addresses, added: Addresses) {
        if !removed.is_empty() {
            let _ = self.jobs.send(Job::RemoveSome(removed));
        }
        if !added.is_empty() {
            let _ = self.jobs.send(Job::AddSome(added));
        }
    }

    /// Queues a marker answered once the address worker has done every job before it.
    pub(crate) fn queue_flush(&self, done: tokio::sync::oneshot::Sender<()>) -> bool {
        self.jobs.send(Job::Flush(done)).is_ok()
    }

    /// The operator's temporary priorities end with a reload.
    pub(crate) fn clear_operator_priorities(&mut self, now: Timestamp) {
        self.node.clear_operator_priorities(now);
        self.after_input(now);
    }

    /// Publish events (transitions, master changes, operator actions) to `events`.
    pub(crate) fn set_events(&mut self, events: broadcast::Sender<Event>) {
        self.events = Some(events);
    }

    /// Sends the transitions of instance `name` to the load balancer (`lvs_sync_daemon`).
    pub(crate) fn set_sync_follower(
        &mut self,
        name: String,
        tx: mpsc::UnboundedSender<crate::balancer::Message>,
    ) {
        self.sync_follower = Some((name, tx));
    }

    fn publish(&self, event: impl FnOnce() -> Event) {
        if let Some(tx) = &self.events
            && tx.receiver_count() > 0
        {
            let _ = tx.send(event());
        }
    }

    /// The index of the instance called `name`.
    pub(crate) fn find(&self, name: &str) -> Result<usize, String> {
        self.index_of(name)
            .ok_or_else(|| format!("no instance named {name:?}"))
    }

    /// The state machine of router `r`.
    pub(crate) fn instance(&self, r: &Router) -> &vrrp_core::Instance {
        match self.node.instance(r.id) {
            Some(i) => i,
            // Routers and the node's instances are added and removed together.
            None => unreachable!("router {} has no instance", r.plan.config.name),
        }
    }

    /// Answers a control request (on the protocol thread: quick, no waiting).
    pub(crate) fn control(
        &mut self,
        now: Timestamp,
        request: Request,
        who: &str,
    ) -> Result<Reply, String> {
        match request {
            Request::Status => Ok(Reply::Status(report::status(self, now))),
            Request::Show { instance } => {
                let i = self.find(&instance)?;
                Ok(Reply::Show(Box::new(report::show(
                    self,
                    &self.routers[i],
                    now,
                ))))
            }
            Request::Priority { instance, priority } => {
                let i = self.find(&instance)?;
                let id = self.routers[i].id;
                if self.node.set_operator_priority(id, now, priority).is_err() {
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
                self.after_input(now);
                self.publish(|| Event::Priority {
                    instance,
                    priority,
                    by: who.to_string(),
                });
                Ok(Reply::Instance(report::status_line(
                    self,
                    &self.routers[i],
                    now,
                )))
            }
            Request::Maintenance { instance, on } => {
                let i = self.find(&instance)?;
                control::log_action(
                    who,
                    &format!("{instance}: maintenance {}", if on { "on" } else { "off" }),
                );
                let _ = self.node.set_maintenance(self.routers[i].id, now, on);
                self.after_input(now);
                self.publish(|| Event::Maintenance {
                    instance,
                    on,
                    by: who.to_string(),
                });
                Ok(Reply::Instance(report::status_line(
                    self,
                    &self.routers[i],
                    now,
                )))
            }
            // Handled by the main loop, which can wait for the kernel.
            Request::Reload => Err("reload is handled by the main loop".into()),
            // Served by the control thread.
            Request::Watch => Err("watch is served by the control thread".into()),
            // The load balancer runs on its own thread; the main loop hands these to it.
            Request::Lvs { .. } | Request::RealServer { .. } | Request::Announce { .. } => {
                Err("no virtual_server is configured".into())
            }
        }
    }

    /// The metrics endpoint's snapshot.
    pub(crate) fn metrics(&self, now: Timestamp) -> Snapshot {
        report::metrics(self, now)
    }

    /// Feeds one input to the node and carries out what it asks (see [`Input`]).
    pub(crate) fn handle(&mut self, now: Timestamp, input: Input<'_>) {
        crate::busy::breathe(crate::busy::Unit::Input);
        match input {
            Input::Start(links, addresses) => {
                self.node.set_addresses(addresses.iter().copied());
                self.start(now, links)
            }
            Input::Timer { armed } => self.on_timer(now, armed),
            Input::Packet { bytes, received } => {
                self.node
                    .handle_packet(now, received.ifindex, &received.meta, bytes);
            }
            Input::Link(link) => self.node.set_link(now, &link.name, link.up),
            Input::Address {
                ifindex,
                addr,
                present,
            } => self.node.set_address(now, ifindex, addr, present),
            Input::Tracker(event) => self.on_tracker(now, event),
            Input::Resync(snapshot) => self.resync(now, snapshot),
            Input::Shutdown => self.node.shutdown(now),
        }
        self.after_input(now);
    }

    /// Feeds a full dump after lost notifications to the node: it applies the differences
    /// and puts back the VIPs its Masters lack.
    fn resync(&mut self, now: Timestamp, snapshot: &vrrp_linux::netlink::Snapshot) {
        let addresses = snapshot
            .addresses
            .iter()
            .map(|(i, a)| (*i, a.addr))
            .collect();
        let links = snapshot.links.iter().map(|l| (l.name.as_str(), l.up));
        let found = self.node.resync(now, links, &addresses);
        warn!(
            "netlink: {} overrun(s), notifications lost; resynchronised from a full dump of {} links and {} addresses in {} ms: {} link(s) and {} address(es) had changed unseen, {} virtual address(es) to put back",
            snapshot.overruns,
            snapshot.links.len(),
            snapshot.addresses.len(),
            snapshot.took.as_millis(),
            found.links,
            found.addresses,
            found.restores
        );
    }

    /// Applies the links' current state, then starts every instance.
    fn start(&mut self, now: Timestamp, links: &[Link]) {
        self.node
            .set_links(links.iter().map(|l| (l.name.as_str(), l.up)));
        for r in &self.routers {
            for (name, _, _) in &r.plan.tracked {
                if !self.node.has_link(name) {
                    warn!(
                        "{}: tracked interface {name} does not exist: it counts as down",
                        r.plan.config.name
                    );
                }
            }
        }
        self.node.start(now);
    }

    /// The index of the instance called `name`, if any.
    pub(crate) fn index_of(&self, name: &str) -> Option<usize> {
        self.routers.iter().position(|r| r.plan.config.name == name)
    }

    /// The protocol timer fired at `now` for the deadline `armed`.
    fn on_timer(&mut self, now: Timestamp, armed: Option<Timestamp>) {
        if let Some(deadline) = armed {
            let late = now - deadline;
            if late > Duration::from_millis(1) {
                // Woken late: first see what arrived meanwhile.
                self.drain_sockets(now);
            }
            self.lateness.record(late);
            if let Some(h) = &self.lateness_histogram {
                h.observe(late.as_secs_f64());
            }
            if late > Duration::from_millis(1) {
                debug!("protocol timer fired {} µs late", late.as_micros());
            }
        }
        self.node.handle_timeout(now);
    }

    /// Reads every packet already queued on the sockets. Used when the protocol timer woke
    /// up late (the process was not scheduled): an advertisement that arrived meanwhile
    /// must be seen before a Backup concludes that its Master is gone, or a busy machine
    /// makes false takeovers (keepalived's "thread timer expired" split brains).
    fn drain_sockets(&mut self, now: Timestamp) {
        let mut buf = std::mem::take(&mut self.recv_buf);
        buf.resize(65_536, 0);
        for index in 0..self.sockets.len() {
            let socket = Rc::clone(&self.sockets[index]);
            // Bounded: a flood cannot keep the timer from being served.
            for _ in 0..256 {
                match socket.recv(&mut buf) {
                    Ok(received) => {
                        crate::busy::breathe(crate::busy::Unit::Receive);
                        if let Some(bytes) = buf.get(received.payload.clone()) {
                            self.node
                                .handle_packet(now, received.ifindex, &received.meta, bytes);
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => debug!("discarded a malformed packet: {e}"),
                }
            }
        }
        self.recv_buf = buf;
    }

    /// Carries out everything the node asked for after an input, then arms the protocol
    /// timer for the node's next deadline: every input ends here.
    fn after_input(&mut self, now: Timestamp) {
        self.carry_out(now);
        let next = self.node.poll_timeout();
        let may_take_over = self.node.next_deadline_may_take_over();
        let wake = self.readiness.wake_at(now, next, may_take_over, &self.jobs);
        if let Err(e) = self.timer.arm(wake) {
            tracing::error!("cannot arm the protocol timer: {e}");
            self.timer_error = Some(e);
        }
    }

    fn carry_out(&mut self, now: Timestamp) {
        // Address jobs are held until the outputs after them (the takeover advertisement)
        // are out, but not behind the events' logging: the worker runs on another thread
        // and would otherwise announce before the advertisement leaves.
        let mut held = Vec::new();
        while let Some(output) = self.node.poll_output() {
            // A hundred instances changing state at once make hundreds of outputs.
            crate::busy::breathe(crate::busy::Unit::Output);
            match output {
                NodeOutput::Transmit {
                    socket,
                    src,
                    dst,
                    bytes,
                    ttl,
                } => self.transmit(socket, (src, dst, ttl), &bytes),
                NodeOutput::Addresses(id, action) => {
                    let id = id.get();
                    let job = match action {
                        AddressAction::Add => Job::Add {
                            id,
                            at: std::time::Instant::now(),
                            announce: false,
                        },
                        AddressAction::Remove => Job::Remove(id),
                        AddressAction::AnnounceMaster => {
                            // A takeover's Add and AnnounceMaster travel as one job.
                            if let Some(Job::Add {
                                id: n, announce, ..
                            }) = held.last_mut()
                                && *n == id
                            {
                                *announce = true;
                                continue;
                            }
                            Job::AnnounceMaster(id)
                        }
                        AddressAction::AnnounceLowerPriority => Job::AnnounceLowerPriority(id),
                        AddressAction::Restore { ifindex, address } => {
                            if let Some(r) = self.routers.iter().find(|r| r.id.get() == id) {
                                warn!(
                                    "{}: virtual address {address} went away from interface {ifindex} while Master: putting it back",
                                    r.plan.config.name
                                );
                            }
                            Job::Restore(id, ifindex, address)
                        }
                    };
                    held.push(job);
                }
                NodeOutput::Event(event) => {
                    held.drain(..).for_each(|job| _ = self.jobs.send(job));
                    self.on_event(now, event)
                }
            }
        }
        held.into_iter().for_each(|job| _ = self.jobs.send(job));
    }

    fn transmit(
        &self,
        key: SocketKey,
        (src, dst, ttl): (std::net::IpAddr, std::net::IpAddr, u8),
        bytes: &[u8],
    ) {
        let Some(socket) = self.by_key.get(&key).and_then(|&i| self.sockets.get(i)) else {
            return;
        };
        if let Err(e) = socket.send_with_ttl(bytes, src, dst, ttl) {
            warn!("cannot send advertisement to {dst}: {e}");
        }
    }

    fn position(&self, id: InstanceId) -> Option<usize> {
        self.routers.iter().position(|r| r.id == id)
    }
}

/// The node's view of an instance's virtual addresses: each with its interface.
fn vips(plan: &RouterPlan) -> Vec<(u32, std::net::IpAddr)> {
    plan.addresses.iter().map(|(i, a)| (*i, a.addr)).collect()
}

/// The addresses a Master loses and gains when its configuration changes from `old` to
/// `new`.
fn address_changes(old: &Addresses, new: &Addresses) -> (Addresses, Addresses) {
    let same = |a: &(u32, AddressSpec), b: &(u32, AddressSpec)| {
        a.0 == b.0 && a.1.addr == b.1.addr && a.1.prefix_len == b.1.prefix_len
    };
    (
        old.iter()
            .filter(|o| !new.iter().any(|n| same(o, n)))
            .cloned()
            .collect(),
        new.iter()
            .filter(|n| !old.iter().any(|o| same(o, n)))
            .cloned()
            .collect(),
    )
}

/// What the address worker needs to know of an instance; gratuitous ARP / NA senders are
/// shared per interface.
/// The shared announcer of `ifindex`, opened on first use.
fn shared_announcer(
    announcers: &mut HashMap<u32, Arc<Announcer>>,
    ifindex: u32,
) -> std::io::Result<Arc<Announcer>> {
    if let Some(a) = announcers.get(&ifindex) {
        return Ok(Arc::clone(a));
    }
    let a = Arc::new(Announcer::open(ifindex)?);
    announcers.insert(ifindex, Arc::clone(&a));
    Ok(a)
}

fn worker_view(
    announcers: &mut HashMap<u32, Arc<Announcer>>,
    plan: &RouterPlan,
) -> Box<InstanceAddresses> {
    let announcer = match announcers.get(&plan.announce_ifindex) {
        Some(a) => Some(Arc::clone(a)),
        None => match Announcer::open(plan.announce_ifindex) {
            Ok(a) => {
                let a = Arc::new(a);
                announcers.insert(plan.announce_ifindex, Arc::clone(&a));
                Some(a)
            }
            Err(e) => {
                warn!("{}: cannot send gratuitous ARP / NA: {e}", plan.config.name);
                None
            }
        },
    };
    let mut extra = Vec::new();
    for &(ifindex, mac) in &plan.extra_announce {
        match shared_announcer(announcers, ifindex) {
            Ok(a) => extra.push((a, mac)),
            Err(e) => warn!(
                "{}: no GARP/NA on interface {ifindex}: {e}",
                plan.config.name
            ),
        }
    }
    Box::new(InstanceAddresses {
        extra,
        name: plan.config.name.clone(),
        addresses: plan.addresses.clone(),
        routes: plan.routes.clone(),
        rules: plan.rules.clone(),
        announcer,
        mac: plan.announce_mac,
        garp: plan.config.garp.clone(),
    })
}
