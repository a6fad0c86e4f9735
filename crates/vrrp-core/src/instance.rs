//! The per-virtual-router state machine (RFC 3768 §6, RFC 5798 / RFC 9568 §6), sans-IO.
//!
//! One [`Instance`] is one virtual router: a VRID on one interface, of one family. The caller
//! feeds it [`Input`]s with the current time, then drains [`Instance::poll_output`] and
//! wakes it again (with [`Input::Timeout`]) no later than [`Instance::poll_timeout`].
//! A Timeout before the deadline does nothing, so spurious wake-ups are harmless.
//!
//! # Outputs, in order
//!
//! Data-plane actions come first, in the order the RFC lists them, then the notifications:
//!
//! - becoming Master: `AddAddresses`, `Send`, `Announce`, `StateChanged`, `MasterChanged`
//!   (the addresses are configured before the gratuitous ARP / unsolicited NA that announce
//!   them, RFC 5798 §8.1.2 / §8.2.2, as keepalived does);
//! - leaving Master: [`Send`](Output::Send) of priority 0 when the RFC or the fault rule
//!   asks for it, `RemoveAddresses`, `StateChanged`, `MasterChanged`.
//!
//! `MasterChanged` is emitted exactly when [`Instance::master`] changes its address,
//! priority or interval (also to `None` on Shutdown and Fault); `since` is kept while the
//! address stays the same.
//!
//! # Choices where the RFCs (or keepalived) leave room
//!
//! - **preempt_delay** (keepalived): see `Instance::preempt_delay_holds`. A Backup that
//!   could preempt a lower-priority Master still treats it as alive until `preempt_delay`
//!   has passed since startup (or recovery from Fault) or since it first saw that
//!   lower-priority Master after a higher-or-equal one; then it discards its
//!   advertisements (RFC 5798 §6.4.2) and takes over when the Master_Down_Timer fires.
//!   No extra deadline is polled: preemption happens at most one Master_Down_Interval
//!   after the delay, with reason `MasterDownTimer`.
//! - **Owners**: the "local router is not the address owner" receive check of RFC 3768 /
//!   RFC 5798 §7.1 is not applied (RFC 9568 erratum 8298 makes it log-only): two owners
//!   settle by the address tie-break, and the loser stays at priority 255 as a Backup
//!   (keepalived instead drops to 254, issue #1835). [`Input::SetPriority`] never changes
//!   an owner's priority.
//! - **Address list**: a mismatch is counted; VRRPv2 drops it unless the sender is an
//!   owner (RFC 3768 §7.1), VRRPv3 only counts it (RFC 5798 §7.1 has no drop).
//! - **Lower priority heard as Master** (RFC 9568 §6.4.3): advertise at once, announce the
//!   addresses again and rearm the Adver_Timer, unless
//!   [`InstanceConfig::readvertise_on_lower_priority`] is off. Not rate-limited: it is
//!   paced by the other router's advertisements.
//! - **Own advertisements** (source = the primary address) are ignored without counting:
//!   a Master would otherwise answer its own looped-back packet forever.
//! - **Fault**: link and tracker faults are separate flags; the instance leaves Fault only
//!   when both are clear, then starts as at Startup (owner -> Master, else Backup), with
//!   reason `LinkUp` / `TrackRecovered`. A Master entering Fault on a tracker failure
//!   sends priority 0 first (keepalived), so Backups take over after Skew_Time; on link
//!   down it does not, since the link cannot carry it. Fault causes reported while in
//!   Initialize are remembered: Startup then goes straight to Fault.
//! - **SetPriority**: non-owners are clamped to 1..=254. In Backup the running
//!   Master_Down_Timer is recomputed from its start (the last advertisement). In Master
//!   a lower priority is advertised at once, so Backups and observers learn it without
//!   waiting for the Adver_Timer (a Backup that now outranks it stops resetting its
//!   timer from that advertisement on); a higher one waits for the next advertisement.
//! - **Observer**: learns the Master from advertisements of priority > 0: the sender that
//!   wins the election among those heard (priority, then address). Losers are ignored
//!   while the Master is heard; once it has been silent for 3 × its interval (before any
//!   Backup can take over) the next sender is its successor. A priority-0 advertisement
//!   from the Master marks it as leaving: any other sender replaces it. The observer's
//!   timers use priority 1 (the longest Skew_Time any Backup can have) and the Master's
//!   interval (v3), so silence (`MasterChanged(None)`) is reported only after every Backup
//!   had its chance: Master_Down_Interval after the last advertisement, or Skew_Time + one
//!   Master_Adver_Interval after a priority 0. Backups track the Master they report by
//!   the same rules.
//! - Receive counters are kept in every state, even when the state does not act on the
//!   advertisement (Initialize, Fault).

use std::collections::VecDeque;
use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use crate::counters::{Counters, ReceiveError};
use crate::packet::{Advertisement, Auth, ChecksumForm, DecodeError, Family, Version};
use crate::time::Timestamp;
use crate::timers;

/// Whether the instance takes part in elections or only follows them.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum Role {
    /// An ordinary VRRP router: Backup or Master.
    #[default]
    Router,
    /// Never sends, never holds the addresses; follows the group's Master and reports
    /// every change of it. (Called *slave* in the documents vrrpd started from.)
    Observer,
}

/// The state of an instance.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Not started, or shut down (RFC 5798 §6.4.1).
    Initialize,
    /// RFC 5798 §6.4.2.
    Backup,
    /// RFC 5798 §6.4.3 (RFC 9568: Active).
    Master,
    /// The interface is down or a tracked failure holds: never advertises, holds no addresses.
    Fault,
    /// The observer role: listening only.
    Observer,
}

impl State {
    /// The state as logs and `vrrpctl` name it (`MASTER`, `BACKUP`, ...).
    pub fn name(self) -> &'static str {
        match self {
            State::Initialize => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
            State::Fault => "FAULT",
            State::Observer => "OBSERVER",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a transition happened (logged, shown in `vrrpctl show`, passed to hooks).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum TransitionReason {
    /// Startup of an address owner (priority 255).
    StartupOwner,
    /// Ordinary startup.
    Startup,
    /// Master_Down_Timer fired in Backup.
    MasterDownTimer,
    /// A Backup received a priority-0 advertisement and its Skew_Time passed.
    PriorityZeroReceived,
    /// A Master received an advertisement with a higher priority (or equal priority and a
    /// higher primary address).
    HigherPriorityAdvertisement,
    /// The instance shut down.
    Shutdown,
    /// The interface went down.
    LinkDown,
    /// The interface came back up.
    LinkUp,
    /// A tracked object failed.
    TrackFault,
    /// A tracked failure cleared.
    TrackRecovered,
    /// The effective priority changed to/from 255.
    PriorityChange,
    /// An operator put the instance in maintenance.
    Maintenance,
    /// Another member of its sync group changed state.
    SyncGroup,
}

impl TransitionReason {
    /// The reason as logs and `vrrpctl` name it.
    pub fn name(self) -> &'static str {
        match self {
            TransitionReason::StartupOwner => "startup as address owner",
            TransitionReason::Startup => "startup",
            TransitionReason::MasterDownTimer => "master down timer expired",
            TransitionReason::PriorityZeroReceived => "master left (priority 0)",
            TransitionReason::HigherPriorityAdvertisement => "higher priority advertisement",
            TransitionReason::Shutdown => "shutdown",
            TransitionReason::LinkDown => "interface down",
            TransitionReason::LinkUp => "interface up",
            TransitionReason::TrackFault => "tracked object failed",
            TransitionReason::TrackRecovered => "tracked object recovered",
            TransitionReason::PriorityChange => "priority change",
            TransitionReason::Maintenance => "maintenance",
            TransitionReason::SyncGroup => "sync group",
        }
    }
}

impl fmt::Display for TransitionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Configuration of one instance, as far as the protocol needs it. Data-plane settings
/// (interface, unicast peers, excluded addresses, garp knobs) live in the daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceConfig {
    /// The instance's name (keepalived's `vrrp_instance NAME`).
    pub name: String,
    /// Virtual Router Identifier, 1-255.
    pub vrid: u8,
    /// VRRPv2 (RFC 3768) or VRRPv3 (RFC 5798 / RFC 9568).
    pub version: Version,
    /// IPv4 or IPv6: the family of the addresses and of the advertisements.
    pub family: Family,
    /// A router, or an observer that only listens.
    pub role: Role,
    /// Configured priority, 1-255; 255 = address owner.
    pub priority: u8,
    /// Advertisement_Interval in centiseconds (v2: a multiple of 100).
    pub advert_interval_cs: u16,
    /// Preempt_Mode (RFC 5798 §6.1, default true).
    pub preempt: bool,
    /// How long a Backup that could preempt waits first (keepalived's `preempt_delay`).
    pub preempt_delay: Duration,
    /// Accept_Mode (RFC 5798 §6.1, default false); carried for the data plane.
    pub accept: bool,
    /// VRRPv2 authentication; [`Auth::None`] for v3.
    pub auth: Auth,
    /// The virtual addresses advertised, in configuration order.
    pub addresses: Vec<IpAddr>,
    /// This router's primary address on the interface (IPv4 primary, or IPv6 link-local):
    /// the advertisement source and the tie-breaker (RFC 5798 §6.4.3).
    pub primary_address: IpAddr,
    /// Checksum form sent for VRRPv3 over IPv4.
    pub checksum_form: ChecksumForm,
    /// RFC 9568 §6.4.3: a Master hearing a lower-priority advertisement advertises at once
    /// (and re-announces its addresses). On by default; keepalived's `lower_prio_no_advert`
    /// turns it off.
    pub readvertise_on_lower_priority: bool,
    /// keepalived's `higher_prio_send_advert`: a Master hearing a higher priority sends one
    /// advertisement before becoming Backup. Off by default.
    pub advertise_before_yielding: bool,
    /// keepalived's `down_timer_adverts`: the advertisement intervals in
    /// Master_Down_Interval (RFC 5798 §6.1: 3, the default).
    pub down_timer_adverts: u8,
    /// keepalived's `owner_ignore_adverts`: an address owner drops every advertisement
    /// (it stays Master whatever it hears). Off by default.
    pub owner_ignore_adverts: bool,
    /// keepalived's `skip_check_adv_addr`: a Backup does not check the address list of
    /// advertisements from the Master it already knows (the list was checked when that
    /// Master was first heard). Off by default.
    pub skip_check_adv_addr: bool,
}

impl InstanceConfig {
    /// A VRRPv3 router with the RFC defaults: priority 100, interval 100 cs, preempt on,
    /// accept off.
    pub fn new(name: impl Into<String>, vrid: u8, primary_address: IpAddr) -> Self {
        InstanceConfig {
            name: name.into(),
            vrid,
            version: Version::V3,
            family: Family::of(&primary_address),
            role: Role::Router,
            priority: 100,
            advert_interval_cs: 100,
            preempt: true,
            preempt_delay: Duration::ZERO,
            accept: false,
            auth: Auth::None,
            addresses: Vec::new(),
            primary_address,
            checksum_form: ChecksumForm::PseudoHeader,
            readvertise_on_lower_priority: true,
            advertise_before_yielding: false,
            down_timer_adverts: timers::DOWN_INTERVAL_ADVERTS as u8,
            owner_ignore_adverts: false,
            skip_check_adv_addr: false,
        }
    }
}

/// The Master as this instance knows it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct MasterInfo {
    /// The Master's primary address (the advertisement's IP source).
    pub address: IpAddr,
    /// The Master's configured or effective priority as advertised.
    pub priority: u8,
    /// The interval the Master advertises, in centiseconds.
    pub interval_cs: u16,
    /// When this router became the Master as seen from here.
    pub since: Timestamp,
}

/// What happens to an instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input<'a> {
    /// RFC 5798 §6.4.1 Startup event.
    Startup,
    /// RFC 5798 §6.4.2/§6.4.3 Shutdown event (priority 0 is sent when Master).
    Shutdown,
    /// A decoded advertisement for this VRID, with its IP source address.
    Advertisement {
        /// The advertisement's IP source.
        src: IpAddr,
        /// The decoded advertisement.
        advertisement: &'a Advertisement,
        /// The checksum form that matched, if the decoder reported one.
        checksum_form: Option<ChecksumForm>,
    },
    /// The deadline from [`Instance::poll_timeout`] has passed.
    Timeout,
    /// The instance's interface went down.
    LinkDown,
    /// The instance's interface came back up.
    LinkUp,
    /// A tracked object failed (`true`) or recovered (`false`): Fault while failed.
    TrackFault(bool),
    /// The effective priority changed (trackers, operator). Ignored for owners.
    SetPriority(u8),
    /// Operator maintenance on (`true`) or off: a Master leaves gracefully with a priority-0
    /// advertisement, and the instance stays Backup (never takes over) until it is off.
    Maintenance(bool),
    /// Another member of the instance's sync group became Master: a Backup follows at once
    /// (keepalived's `vrrp_sync_group`: the members are Master together).
    SyncGroupMaster,
    /// Another member of the sync group stopped being Master: a Master follows, resigning
    /// with a priority-0 advertisement, and goes on as an ordinary Backup.
    SyncGroupBackup,
    /// Another member of the sync group would not become Master now (keepalived: members
    /// go Master together or not at all): while held, a Backup does not take over on its
    /// Master_Down_Timer (it keeps listening). [`Input::SyncGroupMaster`] still applies.
    SyncGroupHold(bool),
}

/// What the instance asks the caller to do, or tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send this advertisement (to the multicast group, or to each unicast peer).
    Send(Advertisement),
    /// Send gratuitous ARPs / unsolicited neighbour advertisements for the addresses.
    Announce,
    /// Add the virtual addresses (this router became Master).
    AddAddresses,
    /// Remove the virtual addresses (this router stopped being Master).
    RemoveAddresses,
    /// The state changed.
    StateChanged {
        /// The state left.
        from: State,
        /// The state entered.
        to: State,
        /// Why.
        reason: TransitionReason,
    },
    /// The Master as seen from here changed (`None`: the group went silent).
    MasterChanged(Option<MasterInfo>),
    /// A received advertisement failed a receive check (RFC 5798 §7.1) and was counted;
    /// `discard`: it was dropped (otherwise only logged, as the RFC asks for some).
    ReceiveError {
        /// Which check failed (it names the counter incremented).
        error: ReceiveError,
        /// Whether the advertisement was dropped.
        discard: bool,
    },
    /// As Master, an advertisement of lower priority was heard: another router believes it
    /// is Master (split brain, RFC 9568 §6.4.3; keepalived's `notify_master_rx_lower_pri`).
    LowerPriorityHeard,
}

/// One virtual router.
#[derive(Clone, Debug)]
pub struct Instance {
    config: InstanceConfig,
    state: State,
    counters: Counters,
    outputs: VecDeque<Output>,
    /// The priority in use: the configured one, changed by [`Input::SetPriority`].
    priority: u8,
    /// Master_Adver_Interval (RFC 5798 §6.1): learned from the Master's advertisements in v3.
    master_adver_interval_cs: u16,
    /// Adver_Timer (Master only).
    adver_timer: Option<Timestamp>,
    /// Master_Down_Timer (Backup and Observer).
    down_timer: Option<Timestamp>,
    /// When the running Master_Down_Timer was last (re)started, so that a priority change
    /// can recompute the deadline from the same start.
    down_timer_start: Timestamp,
    /// The running Master_Down_Timer was set to Skew_Time by a priority-0 advertisement.
    down_timer_skew_only: bool,
    /// The Master as seen from here.
    master: Option<MasterInfo>,
    /// The known Master sent priority 0: any other sender replaces it.
    master_leaving: bool,
    /// When the known Master (not ourselves) was last heard.
    master_heard: Timestamp,
    /// Until when a Backup still treats a lower-priority Master as alive (preempt_delay).
    preempt_deadline: Option<Timestamp>,
    link_down: bool,
    track_fault: bool,
    /// Operator maintenance: never become Master.
    maintenance: bool,
    /// A sync group member holds this one back (see [`Input::SyncGroupHold`]).
    sync_hold: bool,
}

impl Instance {
    /// An instance in Initialize; [`Input::Startup`] starts it.
    pub fn new(config: InstanceConfig) -> Self {
        let priority = config.priority.max(1);
        let master_adver_interval_cs = config.advert_interval_cs.max(1);
        Instance {
            config,
            state: State::Initialize,
            counters: Counters::default(),
            outputs: VecDeque::new(),
            priority,
            master_adver_interval_cs,
            adver_timer: None,
            down_timer: None,
            down_timer_start: Timestamp::ZERO,
            down_timer_skew_only: false,
            master: None,
            master_leaving: false,
            master_heard: Timestamp::ZERO,
            preempt_deadline: None,
            link_down: false,
            track_fault: false,
            maintenance: false,
            sync_hold: false,
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &InstanceConfig {
        &self.config
    }

    /// Its current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Its statistics (RFC 6527 names).
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Counts a virtual address put back while Master (the node decides when).
    pub fn count_vip_restore(&mut self) {
        self.counters.vip_restores += 1;
    }

    /// Feed one input.
    pub fn handle(&mut self, now: Timestamp, input: Input<'_>) {
        match input {
            Input::Startup => self.startup(now),
            Input::Shutdown => self.shutdown(),
            Input::Advertisement {
                src,
                advertisement,
                checksum_form,
            } => self.receive(now, src, advertisement, checksum_form),
            Input::Timeout => self.timeout(now),
            Input::LinkDown => self.set_fault(now, FaultCause::Link, true),
            Input::LinkUp => self.set_fault(now, FaultCause::Link, false),
            Input::TrackFault(failed) => self.set_fault(now, FaultCause::Track, failed),
            Input::SetPriority(priority) => self.set_priority(now, priority),
            Input::Maintenance(on) => self.set_maintenance(now, on),
            Input::SyncGroupMaster => {
                if self.state == State::Backup && !self.maintenance {
                    self.become_master(now, TransitionReason::SyncGroup);
                }
            }
            Input::SyncGroupHold(on) => self.sync_hold = on,
            Input::SyncGroupBackup => {
                if self.state == State::Master {
                    self.resign(now, TransitionReason::SyncGroup);
                }
            }
        }
    }

    /// The next thing to do, until `None`.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When to feed [`Input::Timeout`] next.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        match self.state {
            State::Master => self.adver_timer,
            State::Backup | State::Observer => self.down_timer,
            State::Initialize | State::Fault => None,
        }
    }

    /// Count a packet for this VRID that failed to decode; returns the error counted.
    pub fn record_decode_error(&mut self, error: &DecodeError) -> ReceiveError {
        let e = ReceiveError::from(error);
        self.counters.count(e);
        e
    }

    /// Counts a packet the node refused for this instance before the instance saw it
    /// (`check_unicast_src`).
    pub fn record_error(&mut self, error: ReceiveError) {
        self.counters.count(error);
    }

    /// The Master as seen from here (ourselves when Master).
    pub fn master(&self) -> Option<MasterInfo> {
        self.master
    }

    /// The priority in use now (configured priority adjusted by [`Input::SetPriority`]).
    pub fn effective_priority(&self) -> u8 {
        self.priority
    }

    /// Master_Adver_Interval: learned from the Master in v3, configured otherwise.
    pub fn master_adver_interval_cs(&self) -> u16 {
        self.master_adver_interval_cs
    }

    /// Skew_Time with the current priority and Master_Adver_Interval.
    ///
    /// An observer computes it as a priority-1 Backup would: the longest skew any Backup
    /// can have, so that it reports silence only after every Backup had its chance.
    pub fn skew_time(&self) -> Duration {
        timers::skew_time(
            self.config.version,
            self.timer_priority(),
            self.master_adver_interval_cs,
        )
    }

    /// Master_Down_Interval with the current priority and Master_Adver_Interval.
    pub fn master_down_interval(&self) -> Duration {
        timers::master_down_interval_of(
            self.config.down_timer_adverts,
            self.config.version,
            self.timer_priority(),
            self.master_adver_interval_cs,
        )
    }

    /// The interface is down (a fault cause).
    pub fn link_down(&self) -> bool {
        self.link_down
    }

    /// An operator holds the instance in maintenance (never Master).
    pub fn maintenance(&self) -> bool {
        self.maintenance
    }

    /// Whether this instance, left alone, would be Master: it is, or it is a Backup that
    /// hears no Master it yields to (none, or one it would preempt), and no operator holds
    /// it. Sync groups use it: a member only takes over when every member would.
    pub fn would_be_master(&self) -> bool {
        match self.state {
            State::Master => true,
            State::Backup if !self.maintenance => match self.master {
                None => true,
                Some(m) if m.address == self.config.primary_address => true,
                Some(m) => {
                    self.config.preempt
                        && (self.priority > m.priority
                            || (self.priority == m.priority
                                && address_greater(self.config.primary_address, m.address)))
                }
            },
            _ => false,
        }
    }

    /// A tracked object has failed (a fault cause).
    pub fn track_fault(&self) -> bool {
        self.track_fault
    }

    /// Until when a Backup keeps treating a lower-priority Master as alive
    /// (`preempt_delay`), if that delay is running.
    pub fn preempt_deadline(&self) -> Option<Timestamp> {
        self.preempt_deadline
    }

    fn timer_priority(&self) -> u8 {
        match self.config.role {
            Role::Router => self.priority,
            Role::Observer => OBSERVER_TIMER_PRIORITY,
        }
    }

    /// Advertisement_Interval for the timers. A configured 0 (which the codec refuses to
    /// send) counts as 1 cs, so that a deadline never equals the time it was set at and the
    /// caller cannot spin.
    fn advert_interval_cs(&self) -> u16 {
        self.config.advert_interval_cs.max(1)
    }

    fn is_owner(&self) -> bool {
        self.config.priority == OWNER_PRIORITY
    }

    fn faulted(&self) -> bool {
        self.link_down || self.track_fault
    }

    // ---- events ----------------------------------------------------------------------

    /// RFC 5798 §6.4.1. Startup while a fault cause holds goes straight to Fault.
    fn startup(&mut self, now: Timestamp) {
        if self.state != State::Initialize {
            return;
        }
        if self.faulted() {
            let reason = if self.link_down {
                TransitionReason::LinkDown
            } else {
                TransitionReason::TrackFault
            };
            self.transition(State::Fault, reason);
            return;
        }
        let reason = if self.is_owner() && self.config.role == Role::Router {
            TransitionReason::StartupOwner
        } else {
            TransitionReason::Startup
        };
        self.start(now, reason);
    }

    /// The Startup branch of §6.4.1, shared with fault recovery.
    fn start(&mut self, now: Timestamp, reason: TransitionReason) {
        self.master_adver_interval_cs = self.advert_interval_cs();
        match self.config.role {
            Role::Observer => {
                self.start_down_timer(now);
                self.transition(State::Observer, reason);
            }
            Role::Router if self.is_owner() && !self.maintenance => self.become_master(now, reason),
            Role::Router => {
                self.start_down_timer(now);
                // keepalived: preempt_delay also counts from startup.
                self.preempt_deadline = self.preempt_delay_from(now);
                self.transition(State::Backup, reason);
            }
        }
    }

    /// RFC 5798 §6.4.2 / §6.4.3 Shutdown.
    fn shutdown(&mut self) {
        match self.state {
            State::Initialize => return,
            State::Master => {
                self.send_priority_zero();
                self.outputs.push_back(Output::RemoveAddresses);
                self.counters.master_releases += 1;
            }
            State::Backup | State::Fault | State::Observer => {}
        }
        self.stop_timers();
        self.transition(State::Initialize, TransitionReason::Shutdown);
        self.set_master(None);
    }

    fn timeout(&mut self, now: Timestamp) {
        match self.state {
            State::Master => {
                if let Some(due) = self.adver_timer.filter(|t| *t <= now) {
                    // RFC 5798 §6.4.3: send an ADVERTISEMENT, reset the Adver_Timer.
                    self.send_advertisement();
                    self.rearm_adver_timer(due, now);
                }
            }
            State::Backup => {
                if self.down_timer.is_some_and(|t| t <= now) && (self.maintenance || self.sync_hold)
                {
                    // In maintenance (or held by its sync group) the instance never takes
                    // over: it keeps listening. The advertisements of a Master it would
                    // preempt do not reset the timer, so the timer running out is no
                    // silence: the Master it reports goes only once it is silent (or left).
                    self.start_down_timer(now);
                    let silent = self.master.is_none_or(|m| {
                        now >= self.master_heard
                            + timers::centiseconds(m.interval_cs)
                                * u32::from(self.config.down_timer_adverts)
                    });
                    if silent || self.master_leaving {
                        self.set_master(None);
                    }
                } else if self.down_timer.is_some_and(|t| t <= now) {
                    // RFC 5798 §6.4.2: the Master_Down_Timer fired.
                    let reason = if self.down_timer_skew_only {
                        TransitionReason::PriorityZeroReceived
                    } else {
                        TransitionReason::MasterDownTimer
                    };
                    self.become_master(now, reason);
                }
            }
            State::Observer => {
                if self.down_timer.is_some_and(|t| t <= now) {
                    // The group went silent.
                    self.down_timer = None;
                    self.down_timer_skew_only = false;
                    self.set_master(None);
                }
            }
            State::Initialize | State::Fault => {}
        }
    }

    fn set_fault(&mut self, now: Timestamp, cause: FaultCause, failed: bool) {
        let was_faulted = self.faulted();
        match cause {
            FaultCause::Link => self.link_down = failed,
            FaultCause::Track => self.track_fault = failed,
        }
        match self.state {
            // Not running: only remember the cause, [`Self::startup`] looks at it.
            State::Initialize => {}
            State::Fault => {
                if !self.faulted() {
                    let reason = match cause {
                        FaultCause::Link => TransitionReason::LinkUp,
                        FaultCause::Track => TransitionReason::TrackRecovered,
                    };
                    self.start(now, reason);
                }
            }
            State::Backup | State::Master | State::Observer => {
                if failed && !was_faulted {
                    self.enter_fault(cause);
                }
            }
        }
    }

    /// A running instance enters Fault: no adverts, no addresses, no timers.
    fn enter_fault(&mut self, cause: FaultCause) {
        let reason = match cause {
            FaultCause::Link => TransitionReason::LinkDown,
            FaultCause::Track => TransitionReason::TrackFault,
        };
        if self.state == State::Master {
            // Like keepalived, a failing Master says goodbye with priority 0 so the Backups
            // take over after Skew_Time rather than Master_Down_Interval. Not on link down:
            // the interface cannot carry it.
            if cause == FaultCause::Track {
                self.send_priority_zero();
            }
            self.outputs.push_back(Output::RemoveAddresses);
            self.counters.master_releases += 1;
        }
        self.stop_timers();
        self.transition(State::Fault, reason);
        self.set_master(None);
    }

    /// A reload changed the instance's configuration in place. The identity of the virtual
    /// router (VRID, version, family, role, primary address, ownership) must not change:
    /// the caller re-creates the instance for that. Priority, interval, addresses, preempt,
    /// accept, authentication and checksum form take effect at once: a Master advertises
    /// the new values immediately, a Backup recomputes its Master_Down_Timer from its start.
    pub fn reconfigure(&mut self, now: Timestamp, config: InstanceConfig) {
        let priority_changed = config.priority != self.config.priority;
        let interval_changed = config.advert_interval_cs != self.config.advert_interval_cs;
        let advertised_changed = priority_changed
            || interval_changed
            || config.addresses != self.config.addresses
            || config.auth != self.config.auth;
        let new_priority = config.priority;
        self.config = config;
        if priority_changed {
            self.set_priority(now, new_priority);
        }
        match self.state {
            State::Master => {
                if advertised_changed {
                    self.send_advertisement();
                    self.start_adver_timer(now);
                    self.set_master(Some(self.self_as_master(now)));
                }
            }
            State::Backup | State::Observer => {
                if interval_changed && self.config.version == Version::V2 {
                    // VRRPv2 has nothing to learn: Master_Adver_Interval is ours.
                    self.master_adver_interval_cs = self.advert_interval_cs();
                }
                if self.down_timer.is_some() {
                    self.down_timer = Some(self.down_timer_start + self.down_timer_duration());
                }
            }
            State::Initialize | State::Fault => {}
        }
    }

    /// Maintenance: a Master resigns as at shutdown (priority 0, so Backups take over after
    /// Skew_Time) but stays running as a Backup that never takes over.
    fn set_maintenance(&mut self, now: Timestamp, on: bool) {
        self.maintenance = on;
        if on && self.state == State::Master {
            self.resign(now, TransitionReason::Maintenance);
        }
    }

    /// Master -> Backup on our own initiative: priority 0 first, so the Backups take over
    /// after Skew_Time (as at shutdown), then listen as a Backup.
    fn resign(&mut self, now: Timestamp, reason: TransitionReason) {
        self.send_priority_zero();
        self.outputs.push_back(Output::RemoveAddresses);
        self.counters.master_releases += 1;
        self.adver_timer = None;
        self.start_down_timer(now);
        self.transition(State::Backup, reason);
        self.set_master(None);
    }

    /// Owners keep 255 (RFC 5798 §6.1: the owner's priority is 255); others are clamped to
    /// 1..=254.
    fn set_priority(&mut self, now: Timestamp, priority: u8) {
        if self.is_owner() {
            return;
        }
        let new = priority.clamp(1, OWNER_PRIORITY - 1);
        let old = self.priority;
        if new == old {
            return;
        }
        self.priority = new;
        match self.state {
            State::Backup => {
                // Skew_Time depends on the priority: move the deadline, keeping its start.
                if self.down_timer.is_some() {
                    self.down_timer = Some(self.down_timer_start + self.down_timer_duration());
                }
            }
            State::Master => {
                if new < old {
                    // Tell the group at once: a Backup that now outranks us stops resetting
                    // its Master_Down_Timer from this advertisement on, observers learn it.
                    self.send_advertisement();
                    self.start_adver_timer(now);
                }
                self.set_master(Some(self.self_as_master(now)));
            }
            State::Initialize | State::Fault | State::Observer => {}
        }
    }

    // ---- receiving -------------------------------------------------------------------

    fn receive(
        &mut self,
        now: Timestamp,
        src: IpAddr,
        adv: &Advertisement,
        checksum_form: Option<ChecksumForm>,
    ) {
        // Our own advertisement looped back: never an election input (answering it as a
        // "lower priority" one would loop forever).
        if src == self.config.primary_address {
            return;
        }
        // keepalived's owner_ignore_adverts: dropped before any check or count.
        if self.config.owner_ignore_adverts && self.is_owner() {
            return;
        }
        if !self.check(src, adv) {
            return;
        }
        self.counters.rcvd_advertisements += 1;
        if adv.priority == 0 {
            self.counters.rcvd_pri_zero_packets += 1;
        }
        match checksum_form {
            Some(ChecksumForm::PseudoHeader) => self.counters.rcvd_checksum_pseudo_header += 1,
            Some(ChecksumForm::MessageOnly) => self.counters.rcvd_checksum_message_only += 1,
            None => {}
        }
        match self.state {
            State::Backup => self.backup_receive(now, src, adv),
            State::Master => self.master_receive(now, src, adv),
            State::Observer => self.observer_receive(now, src, adv),
            State::Initialize | State::Fault => {}
        }
    }

    /// The receive checks of RFC 3768 §7.1 and RFC 5798 / RFC 9568 §7.1 that need the
    /// configuration. Returns whether the advertisement is to be processed.
    ///
    /// The "local router is not the address owner" check of RFC 3768 / RFC 5798 is not
    /// applied: RFC 9568 erratum 8298 makes it SHOULD-log, and duplicate owners are then
    /// settled by election (tie-break on the address) instead of both staying Master.
    fn check(&mut self, src: IpAddr, adv: &Advertisement) -> bool {
        match self.check_error(src, adv) {
            None => true,
            Some((error, discard)) => {
                self.counters.count(error);
                self.outputs
                    .push_back(Output::ReceiveError { error, discard });
                !discard
            }
        }
    }

    /// The first receive error of `adv`, and whether it discards the advertisement (some
    /// are only counted and logged).
    fn check_error(&self, src: IpAddr, adv: &Advertisement) -> Option<(ReceiveError, bool)> {
        if adv.version != self.config.version {
            return Some((ReceiveError::Version, true));
        }
        if adv.vrid != self.config.vrid {
            return Some((ReceiveError::Vrid, true));
        }
        if Family::of(&src) != self.config.family {
            // The tie-break compares addresses of one family (RFC 5798 §6.4.3).
            return Some((ReceiveError::Proto, true));
        }
        match self.config.version {
            Version::V2 => {
                // RFC 3768 §7.1: the auth type MUST match; a wrong password fails auth.
                if adv.auth.type_number() != self.config.auth.type_number() {
                    return Some((ReceiveError::AuthTypeMismatch, true));
                }
                if adv.auth != self.config.auth {
                    return Some((ReceiveError::AuthFailure, true));
                }
                // RFC 3768 §7.1: the Adver Interval MUST match, else discard.
                if adv.interval_cs != self.config.advert_interval_cs {
                    return Some((ReceiveError::AdvInterval, true));
                }
            }
            Version::V3 => {
                // RFC 9568 erratum 8301 (the decoder refuses it too): a zero interval would
                // make every Backup expire at once.
                if adv.interval_cs == 0 {
                    return Some((ReceiveError::Proto, true));
                }
                // A differing interval is only logged (RFC 5798 §7.1 SHOULD); the Backup
                // adopts it (§6.4.2).
            }
        }
        // The address list MAY be checked (RFC 3768 / RFC 5798 §7.1). An instance without
        // configured addresses (an observer) cannot judge it; with skip_check_adv_addr a
        // Backup trusts the Master it already heard (keepalived checks on a Master change).
        let known_master =
            self.state == State::Backup && self.master.is_some_and(|m| m.address == src);
        if self.config.skip_check_adv_addr && known_master {
            return None;
        }
        if !self.config.addresses.is_empty() && !same_set(&adv.addresses, &self.config.addresses) {
            // RFC 3768 §7.1: "If the packet was not generated by the address owner
            // (Priority does not equal 255 (decimal)), the receiver MUST drop the packet".
            // RFC 5798 dropped that sentence: in v3 the mismatch is only logged.
            let discard = self.config.version == Version::V2 && adv.priority != OWNER_PRIORITY;
            return Some((ReceiveError::AddressList, discard));
        }
        None
    }

    /// RFC 5798 / RFC 9568 §6.4.2, with keepalived's preempt_delay.
    fn backup_receive(&mut self, now: Timestamp, src: IpAddr, adv: &Advertisement) {
        self.observe_master(now, src, adv);
        if adv.priority == 0 {
            // "Set the Master_Down_Timer to Skew_Time."
            self.down_timer_start = now;
            self.down_timer_skew_only = true;
            self.down_timer = Some(now + self.skew_time());
            return;
        }
        let alive = if !self.config.preempt || adv.priority >= self.priority {
            // A Master we would not preempt: a later lower-priority one restarts the delay.
            self.preempt_deadline = None;
            true
        } else {
            self.preempt_delay_holds(now)
        };
        if alive {
            self.learn_interval(adv);
            self.start_down_timer(now);
        }
        // Otherwise discard: the down timer runs out and this Backup preempts.
    }

    /// keepalived's preempt_delay: a Backup that could preempt a lower-priority Master
    /// treats it as alive until `preempt_delay` has passed since it first saw it (with no
    /// higher-or-equal Master heard in between) or since startup, whichever is earlier
    /// running; then it discards its advertisements and takes over when the
    /// Master_Down_Timer fires (RFC 5798 §6.4.2). So preemption happens between
    /// `preempt_delay` and `preempt_delay + Master_Down_Interval` after the lower-priority
    /// Master was first seen.
    fn preempt_delay_holds(&mut self, now: Timestamp) -> bool {
        if self.config.preempt_delay.is_zero() {
            return false;
        }
        let deadline = *self
            .preempt_deadline
            .get_or_insert(now + self.config.preempt_delay);
        now < deadline
    }

    fn preempt_delay_from(&self, now: Timestamp) -> Option<Timestamp> {
        (!self.config.preempt_delay.is_zero()).then(|| now + self.config.preempt_delay)
    }

    /// RFC 5798 / RFC 9568 §6.4.3.
    fn master_receive(&mut self, now: Timestamp, src: IpAddr, adv: &Advertisement) {
        if adv.priority == 0 {
            // "Send an ADVERTISEMENT; reset the Adver_Timer to Advertisement_Interval."
            self.send_advertisement();
            self.start_adver_timer(now);
            return;
        }
        let higher = adv.priority > self.priority
            || (adv.priority == self.priority && address_greater(src, self.config.primary_address));
        if higher {
            if self.config.advertise_before_yielding {
                // keepalived's higher_prio_send_advert: one last advertisement, so that
                // the winner (which may not have heard us) re-announces its addresses.
                self.send_advertisement();
            }
            self.adver_timer = None;
            self.learn_interval(adv);
            self.start_down_timer(now);
            self.preempt_deadline = None;
            self.outputs.push_back(Output::RemoveAddresses);
            self.counters.master_releases += 1;
            self.transition(State::Backup, TransitionReason::HigherPriorityAdvertisement);
            self.set_master(Some(MasterInfo {
                address: src,
                priority: adv.priority,
                interval_cs: adv.interval_cs,
                since: now,
            }));
            self.master_leaving = false;
            self.master_heard = now;
        } else {
            self.counters.rcvd_lower_priority_as_master += 1;
            self.outputs.push_back(Output::LowerPriorityHeard);
            if self.config.readvertise_on_lower_priority {
                // RFC 9568 §6.4.3: "Send an ADVERTISEMENT immediately to assert the Active
                // state to the sending VRRP Router and to update any learning bridges";
                // announcing the addresses again heals the hosts' caches after a split
                // brain.
                self.send_advertisement();
                self.outputs.push_back(Output::Announce);
                self.start_adver_timer(now);
            }
        }
    }

    /// The observer role: follow the election winner without taking part.
    fn observer_receive(&mut self, now: Timestamp, src: IpAddr, adv: &Advertisement) {
        let from_master = self.master.is_some_and(|m| m.address == src);
        if adv.priority == 0 {
            if from_master {
                // The Master is leaving. Any Backup takes over within its Skew_Time (at
                // most ours, computed for priority 1) and advertises at once; allow one
                // more Master_Adver_Interval for that advertisement before reporting
                // silence.
                self.master_leaving = true;
                self.down_timer_start = now;
                self.down_timer = Some(
                    now + self.skew_time() + timers::centiseconds(self.master_adver_interval_cs),
                );
            }
            return;
        }
        if self.observe_master(now, src, adv) {
            self.learn_interval(adv);
            self.start_down_timer(now);
        }
    }

    /// Update the Master as seen from here with an advertisement of priority > 0, and say
    /// whether it comes from that Master. The Master is the sender that wins the election
    /// (higher priority, then higher address) among those heard, except that another
    /// sender replaces it when it sent priority 0 or has been silent for
    /// 3 × its interval: no Backup takes over sooner (Master_Down_Interval is
    /// 3 × Master_Adver_Interval plus a Skew_Time > 0), so that sender is its successor,
    /// not a challenger.
    fn observe_master(&mut self, now: Timestamp, src: IpAddr, adv: &Advertisement) -> bool {
        if adv.priority == 0 {
            if self.master.is_some_and(|m| m.address == src) {
                self.master_leaving = true;
                self.master_heard = now;
            }
            return false;
        }
        let replaces = match self.master {
            None => true,
            Some(m) if m.address == src => true,
            Some(m) => {
                let silent_since = self.master_heard
                    + timers::centiseconds(m.interval_cs) * timers::DOWN_INTERVAL_ADVERTS as u32;
                self.master_leaving
                    || now >= silent_since
                    || adv.priority > m.priority
                    || (adv.priority == m.priority && address_greater(src, m.address))
            }
        };
        if replaces {
            self.master_leaving = false;
            self.master_heard = now;
            self.set_master(Some(MasterInfo {
                address: src,
                priority: adv.priority,
                interval_cs: adv.interval_cs,
                since: now,
            }));
        }
        replaces
    }

    /// RFC 5798 / RFC 9568 §6.4.2: "Set Master_Adver_Interval to Adver Interval contained
    /// in the ADVERTISEMENT", then Skew_Time and Master_Down_Interval follow from it. v2
    /// has no such step (and the interval was checked equal).
    fn learn_interval(&mut self, adv: &Advertisement) {
        if self.config.version == Version::V3 {
            self.master_adver_interval_cs = adv.interval_cs;
        }
    }

    // ---- actions ---------------------------------------------------------------------

    /// Backup (or Initialize) -> Master: RFC 5798 §6.4.1 / §6.4.2. The addresses are
    /// added before the advertisement and the announcements, which need them configured
    /// (RFC 5798 §8.1.2 / §8.2.2).
    fn become_master(&mut self, now: Timestamp, reason: TransitionReason) {
        self.down_timer = None;
        self.down_timer_skew_only = false;
        self.preempt_deadline = None;
        self.master_adver_interval_cs = self.advert_interval_cs();
        self.outputs.push_back(Output::AddAddresses);
        self.send_advertisement();
        self.outputs.push_back(Output::Announce);
        self.start_adver_timer(now);
        self.counters.master_transitions += 1;
        self.transition(State::Master, reason);
        self.master_leaving = false;
        self.set_master(Some(self.self_as_master(now)));
    }

    fn self_as_master(&self, now: Timestamp) -> MasterInfo {
        let since = match self.master {
            Some(m) if m.address == self.config.primary_address => m.since,
            _ => now,
        };
        MasterInfo {
            address: self.config.primary_address,
            priority: self.priority,
            interval_cs: self.config.advert_interval_cs,
            since,
        }
    }

    fn advertisement(&self, priority: u8) -> Advertisement {
        Advertisement {
            version: self.config.version,
            vrid: self.config.vrid,
            priority,
            interval_cs: self.config.advert_interval_cs,
            auth: self.config.auth.clone(),
            addresses: self.config.addresses.clone(),
        }
    }

    fn send_advertisement(&mut self) {
        let adv = self.advertisement(self.priority);
        self.outputs.push_back(Output::Send(adv));
        self.counters.sent_advertisements += 1;
    }

    fn send_priority_zero(&mut self) {
        let adv = self.advertisement(0);
        self.outputs.push_back(Output::Send(adv));
        self.counters.sent_advertisements += 1;
        self.counters.sent_pri_zero_packets += 1;
    }

    fn start_adver_timer(&mut self, now: Timestamp) {
        self.adver_timer = Some(now + timers::centiseconds(self.advert_interval_cs()));
    }

    /// The periodic reset counts from the deadline, not from the wake-up: a wake-up's
    /// lateness is not added to the next interval (no drift; instances due together leave
    /// at a steady offset, so the gaps between one VRID's advertisements stay the
    /// interval). A deadline missed by a whole interval restarts from `now` (no catch-up
    /// burst).
    fn rearm_adver_timer(&mut self, due: Timestamp, now: Timestamp) {
        let next = due + timers::centiseconds(self.advert_interval_cs());
        if next > now {
            self.adver_timer = Some(next);
        } else {
            self.start_adver_timer(now);
        }
    }

    /// Master_Down_Timer = now + Master_Down_Interval.
    fn start_down_timer(&mut self, now: Timestamp) {
        self.down_timer_start = now;
        self.down_timer_skew_only = false;
        self.down_timer = Some(now + self.master_down_interval());
    }

    fn down_timer_duration(&self) -> Duration {
        if self.down_timer_skew_only {
            self.skew_time()
        } else {
            self.master_down_interval()
        }
    }

    fn stop_timers(&mut self) {
        self.adver_timer = None;
        self.down_timer = None;
        self.down_timer_skew_only = false;
        self.preempt_deadline = None;
    }

    fn transition(&mut self, to: State, reason: TransitionReason) {
        let from = self.state;
        self.state = to;
        self.outputs
            .push_back(Output::StateChanged { from, to, reason });
    }

    /// Record the Master as seen from here; say so when its address, priority or interval
    /// changed. `since` is kept while the address stays the same.
    fn set_master(&mut self, new: Option<MasterInfo>) {
        let new = match (self.master, new) {
            (Some(old), Some(mut new)) if old.address == new.address => {
                new.since = old.since;
                Some(new)
            }
            (_, new) => new,
        };
        if new != self.master {
            self.master = new;
            self.outputs.push_back(Output::MasterChanged(new));
        }
        if self.master.is_none() {
            self.master_leaving = false;
        }
    }
}

/// Priority 255: the address owner (RFC 5798 §6.1).
pub(crate) const OWNER_PRIORITY: u8 = 255;

/// The priority an observer computes its timers with: the lowest a Backup can have.
const OBSERVER_TIMER_PRIORITY: u8 = 1;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum FaultCause {
    Link,
    Track,
}

/// `a > b` as unsigned integers in network byte order (RFC 5798 §6.4.3). Addresses of
/// different families are never greater.
fn address_greater(a: IpAddr, b: IpAddr) -> bool {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => a.to_bits() > b.to_bits(),
        (IpAddr::V6(a), IpAddr::V6(b)) => a.to_bits() > b.to_bits(),
        _ => false,
    }
}

/// Whether two address lists hold the same addresses, ignoring order and repeats.
/// Quadratic, without allocating: lists are short (at most 255 on the wire).
fn same_set(a: &[IpAddr], b: &[IpAddr]) -> bool {
    a.iter().all(|x| b.contains(x)) && b.iter().all(|x| a.contains(x))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// RFC 5798 §6.4.3: addresses compare "as unsigned integers" in network byte order.
    #[test]
    fn address_greater_is_unsigned_and_per_family() {
        let v4 = |a, b, c, d| IpAddr::V4(Ipv4Addr::new(a, b, c, d));
        assert!(address_greater(v4(200, 0, 0, 1), v4(10, 0, 0, 1)));
        assert!(!address_greater(v4(10, 0, 0, 1), v4(10, 0, 0, 1)));
        let v6 = |s: &str| IpAddr::V6(s.parse::<Ipv6Addr>().expect("address"));
        assert!(address_greater(v6("fe80::8000:0:0:1"), v6("fe80::1")));
        assert!(!address_greater(v6("::1"), v4(0, 0, 0, 0)));
        assert!(!address_greater(v4(1, 0, 0, 0), v6("::")));
    }

    #[test]
    fn zero_interval_never_spins() {
        let mut config = InstanceConfig::new("z", 1, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        config.priority = 255;
        config.advert_interval_cs = 0;
        let mut inst = Instance::new(config);
        inst.handle(Timestamp::ZERO, Input::Startup);
        assert_eq!(inst.poll_timeout(), Some(Timestamp::from_millis(10)));
    }

    /// A late wake-up does not push the next advertisement back (no drift), and one a
    /// whole interval late does not bring a catch-up burst.
    #[test]
    fn adver_timer_counts_from_its_deadline() {
        let mut config = InstanceConfig::new("d", 1, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        config.priority = 255;
        let mut inst = Instance::new(config);
        inst.handle(Timestamp::ZERO, Input::Startup);
        assert_eq!(inst.poll_timeout(), Some(Timestamp::from_millis(1000)));
        inst.handle(Timestamp::from_millis(1003), Input::Timeout);
        assert_eq!(inst.poll_timeout(), Some(Timestamp::from_millis(2000)));
        inst.handle(Timestamp::from_millis(3500), Input::Timeout);
        assert_eq!(inst.poll_timeout(), Some(Timestamp::from_millis(4500)));
    }

    #[test]
    fn same_set_ignores_order_and_repeats() {
        let a = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let b = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
        assert!(same_set(&[a, b], &[b, a]));
        assert!(same_set(&[a, a, b], &[b, a]));
        assert!(!same_set(&[a], &[a, b]));
        assert!(!same_set(&[], &[a]));
    }

    mod invariants {
        use super::*;
        use proptest::prelude::*;

        #[derive(Clone, Debug)]
        enum Op {
            Startup,
            Shutdown,
            /// Wake up at the deadline (`true`) or `dt` early/late regardless (`false`).
            Timeout(bool),
            Advert {
                src: u8,
                priority: u8,
                interval_cs: u16,
            },
            LinkDown,
            LinkUp,
            Track(bool),
            SetPriority(u8),
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                1 => Just(Op::Startup),
                1 => Just(Op::Shutdown),
                6 => any::<bool>().prop_map(Op::Timeout),
                8 => (0u8..3, prop::sample::select(vec![0u8, 1, 50, 100, 150, 255]),
                      prop::sample::select(vec![1u16, 50, 100, 300]))
                    .prop_map(|(src, priority, interval_cs)| Op::Advert { src, priority, interval_cs }),
                1 => Just(Op::LinkDown),
                1 => Just(Op::LinkUp),
                1 => any::<bool>().prop_map(Op::Track),
                1 => any::<u8>().prop_map(Op::SetPriority),
            ]
        }

        fn config() -> impl Strategy<Value = InstanceConfig> {
            (
                any::<bool>(),
                prop::sample::select(vec![100u8, 255]),
                any::<bool>(),
                any::<bool>(),
                any::<bool>(),
            )
                .prop_map(|(observer, priority, preempt, delay, v2)| {
                    let mut c = InstanceConfig::new("p", 1, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)));
                    c.role = if observer {
                        Role::Observer
                    } else {
                        Role::Router
                    };
                    c.priority = priority;
                    c.preempt = preempt;
                    c.preempt_delay = if delay {
                        Duration::from_secs(2)
                    } else {
                        Duration::ZERO
                    };
                    if v2 {
                        c.version = Version::V2;
                    }
                    c.addresses = vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100))];
                    c
                })
        }

        proptest! {
            /// Whatever happens: addresses are held exactly in Master, observers never act
            /// on the data plane, early wake-ups do nothing, Master and Backup always have
            /// a deadline, and `master()` agrees with the last `MasterChanged`.
            #[test]
            fn state_machine_invariants(
                config in config(),
                ops in prop::collection::vec((0u64..2_000_000, op()), 1..80),
            ) {
                let observer = config.role == Role::Observer;
                let primary = config.primary_address;
                let vrid = config.vrid;
                let version = config.version;
                let addresses = config.addresses.clone();
                let mut inst = Instance::new(config);
                let mut now = Timestamp::ZERO;
                let mut held = false;
                for (dt, op) in ops {
                    now += Duration::from_micros(dt);
                    let before = inst.state();
                    let input_adv;
                    let input = match op {
                        Op::Startup => Input::Startup,
                        Op::Shutdown => Input::Shutdown,
                        Op::Timeout(at_deadline) => {
                            if at_deadline && let Some(d) = inst.poll_timeout() {
                                now = now.max(d);
                            }
                            Input::Timeout
                        }
                        Op::Advert { src, priority, interval_cs } => {
                            input_adv = Advertisement {
                                version,
                                vrid,
                                priority,
                                interval_cs: if version == Version::V2 { 100 } else { interval_cs },
                                auth: Auth::None,
                                addresses: addresses.clone(),
                            };
                            Input::Advertisement {
                                src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1 + src)),
                                advertisement: &input_adv,
                                checksum_form: None,
                            }
                        }
                        Op::LinkDown => Input::LinkDown,
                        Op::LinkUp => Input::LinkUp,
                        Op::Track(f) => Input::TrackFault(f),
                        Op::SetPriority(p) => Input::SetPriority(p),
                    };
                    let was_timeout = matches!(input, Input::Timeout);
                    let early = was_timeout
                        && inst.poll_timeout().is_none_or(|d| now < d);
                    inst.handle(now, input);
                    let out: Vec<Output> = std::iter::from_fn(|| inst.poll_output()).collect();
                    if early {
                        prop_assert!(out.is_empty());
                        prop_assert_eq!(inst.state(), before);
                    }
                    let mut last_master = None;
                    for o in &out {
                        match o {
                            Output::AddAddresses => {
                                prop_assert!(!held && !observer);
                                held = true;
                            }
                            Output::RemoveAddresses => {
                                prop_assert!(held && !observer);
                                held = false;
                            }
                            Output::Send(_) | Output::Announce => {
                                prop_assert!(!observer);
                                prop_assert!(before == State::Master || inst.state() == State::Master);
                            }
                            Output::MasterChanged(m) => last_master = Some(*m),
                            Output::LowerPriorityHeard => {
                                prop_assert_eq!(before, State::Master);
                            }
                            Output::StateChanged { .. } | Output::ReceiveError { .. } => {}
                        }
                    }
                    prop_assert_eq!(held, inst.state() == State::Master);
                    if let Some(m) = last_master {
                        prop_assert_eq!(m, inst.master());
                    }
                    match inst.state() {
                        State::Master => {
                            // After a wake-up the next deadline lies ahead.
                            prop_assert!(
                                inst.poll_timeout().is_some_and(|d| d > now || !was_timeout)
                            );
                            prop_assert_eq!(inst.master().map(|m| m.address), Some(primary));
                        }
                        State::Backup => prop_assert!(inst.poll_timeout().is_some()),
                        State::Initialize | State::Fault => {
                            prop_assert_eq!(inst.poll_timeout(), None);
                            prop_assert_eq!(inst.master(), None);
                        }
                        State::Observer => prop_assert!(observer),
                    }
                }
            }
        }
    }
}
