//! The per-virtual-router state machine (RFC 3768 §6, RFC 5798 / RFC 9568 §6), sans-IO.
//!
//! One [`Instance`] is one virtual router: a VRID on one interface, of one family. The caller
//! feeds it [`Input`]s with the current time, then drains [`Instance::poll_output`] and
//! wakes it again (with [`Input::Timeout`]) no later than [`Instance::poll_timeout`].

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use crate::counters::Counters;
use crate::packet::{Advertisement, Auth, ChecksumForm, DecodeError, Family, Version};
use crate::time::Timestamp;

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
}

impl TransitionReason {
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
    pub vrid: u8,
    pub version: Version,
    pub family: Family,
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
        }
    }
}

/// The Master as this instance knows it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct MasterInfo {
    /// The Master's primary address (the advertisement's IP source).
    pub address: IpAddr,
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
        src: IpAddr,
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
        from: State,
        to: State,
        reason: TransitionReason,
    },
    /// The Master as seen from here changed (`None`: the group went silent).
    MasterChanged(Option<MasterInfo>),
}

/// One virtual router.
#[derive(Clone, Debug)]
pub struct Instance {
    config: InstanceConfig,
    state: State,
    counters: Counters,
}

impl Instance {
    pub fn new(config: InstanceConfig) -> Self {
        Instance {
            config,
            state: State::Initialize,
            counters: Counters::default(),
        }
    }

    pub fn config(&self) -> &InstanceConfig {
        &self.config
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Feed one input.
    pub fn handle(&mut self, now: Timestamp, input: Input<'_>) {
        let _ = (now, input);
        todo!("state machine")
    }

    /// The next thing to do, until `None`.
    pub fn poll_output(&mut self) -> Option<Output> {
        todo!("state machine")
    }

    /// When to feed [`Input::Timeout`] next.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        todo!("state machine")
    }

    /// Count a packet for this VRID that failed to decode.
    pub fn record_decode_error(&mut self, error: &DecodeError) {
        let _ = error;
        todo!("state machine")
    }

    /// The Master as seen from here (ourselves when Master).
    pub fn master(&self) -> Option<MasterInfo> {
        todo!("state machine")
    }

    /// The priority in use now (configured priority adjusted by [`Input::SetPriority`]).
    pub fn effective_priority(&self) -> u8 {
        todo!("state machine")
    }

    /// Master_Adver_Interval: learned from the Master in v3, configured otherwise.
    pub fn master_adver_interval_cs(&self) -> u16 {
        todo!("state machine")
    }

    /// Skew_Time with the current priority and Master_Adver_Interval.
    pub fn skew_time(&self) -> Duration {
        todo!("state machine")
    }

    /// Master_Down_Interval with the current priority and Master_Adver_Interval.
    pub fn master_down_interval(&self) -> Duration {
        todo!("state machine")
    }
}
