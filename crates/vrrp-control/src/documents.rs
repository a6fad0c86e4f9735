//! The documents the daemon tells about itself: status lines, `show`, the metrics
//! snapshot and the SIGUSR1 / SIGUSR2 dumps.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Deserializer, Serialize};

/// Version of the dump documents (`"version"`).
pub const DUMP_VERSION: u32 = 1;

/// An instance's state, as the daemon names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum VrrpState {
    /// Initialize: not started, or shut down.
    #[serde(rename = "INIT")]
    Init,
    /// Backup: listening for the Master.
    #[serde(rename = "BACKUP")]
    Backup,
    /// Master: advertising and holding the VIPs.
    #[serde(rename = "MASTER")]
    Master,
    /// Fault: the interface is down or a tracked failure holds.
    #[serde(rename = "FAULT")]
    Fault,
    /// The observer role: listening only.
    #[serde(rename = "OBSERVER")]
    Observer,
}

impl VrrpState {
    /// Every state, in the order the metrics list them.
    pub const ALL: [VrrpState; 5] = [
        VrrpState::Init,
        VrrpState::Backup,
        VrrpState::Master,
        VrrpState::Fault,
        VrrpState::Observer,
    ];

    /// The name on the wire (`"MASTER"`).
    pub fn name(self) -> &'static str {
        match self {
            VrrpState::Init => "INIT",
            VrrpState::Backup => "BACKUP",
            VrrpState::Master => "MASTER",
            VrrpState::Fault => "FAULT",
            VrrpState::Observer => "OBSERVER",
        }
    }
}

impl std::fmt::Display for VrrpState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl From<vrrp_core::State> for VrrpState {
    fn from(s: vrrp_core::State) -> VrrpState {
        match s {
            vrrp_core::State::Initialize => VrrpState::Init,
            vrrp_core::State::Backup => VrrpState::Backup,
            vrrp_core::State::Master => VrrpState::Master,
            vrrp_core::State::Fault => VrrpState::Fault,
            vrrp_core::State::Observer => VrrpState::Observer,
        }
    }
}

/// The address family of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpFamily {
    /// IPv4 (VRRPv2 or v3).
    Ipv4,
    /// IPv6 (VRRPv3).
    Ipv6,
}

impl IpFamily {
    /// The name on the wire (`"ipv4"`).
    pub fn name(self) -> &'static str {
        match self {
            IpFamily::Ipv4 => "ipv4",
            IpFamily::Ipv6 => "ipv6",
        }
    }
}

impl From<vrrp_core::Family> for IpFamily {
    fn from(f: vrrp_core::Family) -> IpFamily {
        match f {
            vrrp_core::Family::Ipv4 => IpFamily::Ipv4,
            vrrp_core::Family::Ipv6 => IpFamily::Ipv6,
        }
    }
}

/// The Master as this node sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterSeen {
    /// Its primary address (the advertisement's IP source).
    pub address: IpAddr,
    /// Its priority.
    pub priority: u8,
}

/// One line of `status` (`STATUS` in `docs/control.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusLine {
    /// The instance's name.
    pub name: String,
    /// The interface it runs on.
    pub interface: String,
    /// Its address family.
    pub family: IpFamily,
    /// Virtual router identifier.
    pub vrid: u8,
    /// VRRP version (2 or 3).
    pub version: u8,
    /// The current state.
    pub state: VrrpState,
    /// The effective priority.
    pub priority: u8,
    /// The priority in the configuration.
    pub configured_priority: u8,
    /// A temporary priority set by an operator (`vrrpctl priority`).
    pub operator_priority: Option<u8>,
    /// Whether maintenance is on (`vrrpctl maintenance`).
    pub maintenance: bool,
    /// The Master as this node sees it, if one is heard.
    pub master: Option<MasterSeen>,
    /// Seconds since the last transition.
    pub in_state_s: f64,
    /// The VIPs held now (`address/prefix`): empty unless Master.
    pub vips: Vec<String>,
}

/// The answer to `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusList {
    /// One entry per instance, in configuration order.
    pub instances: Vec<StatusLine>,
}

/// How advertisements are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Auth {
    /// VRRPv2 simple password.
    #[serde(rename = "PASS")]
    Pass,
    /// No authentication.
    #[serde(rename = "none")]
    None,
}

impl Auth {
    /// The name on the wire (`"PASS"`, `"none"`).
    pub fn name(self) -> &'static str {
        match self {
            Auth::Pass => "PASS",
            Auth::None => "none",
        }
    }
}

/// How the instance computes the checksum of VRRPv3 IPv4 advertisements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChecksumForm {
    /// Pseudo-header (source, destination, length, protocol 112) + message.
    PseudoHeader,
    /// The VRRP message alone (RFC 9568 §5.2.8).
    MessageOnly,
}

impl ChecksumForm {
    /// The name on the wire (`"pseudo-header"`).
    pub fn name(self) -> &'static str {
        match self {
            ChecksumForm::PseudoHeader => "pseudo-header",
            ChecksumForm::MessageOnly => "message-only",
        }
    }
}

impl From<vrrp_core::ChecksumForm> for ChecksumForm {
    fn from(c: vrrp_core::ChecksumForm) -> ChecksumForm {
        match c {
            vrrp_core::ChecksumForm::PseudoHeader => ChecksumForm::PseudoHeader,
            vrrp_core::ChecksumForm::MessageOnly => ChecksumForm::MessageOnly,
        }
    }
}

/// The protocol timers of an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timers {
    /// The configured advertisement interval (centiseconds).
    pub advert_interval_cs: u16,
    /// Master_Adver_Interval: learned from the Master in v3 (centiseconds).
    pub master_adver_interval_cs: u16,
    /// Master_Down_Interval (microseconds).
    pub master_down_interval_us: u64,
    /// Skew_Time (microseconds).
    pub skew_time_us: u64,
    /// When the instance's next timer fires (microseconds), if armed.
    pub next_deadline_in_us: Option<u64>,
}

/// What a tracked object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrackerType {
    /// `track_interface`.
    Interface,
    /// `vrrp_script`.
    Script,
    /// `track_file` / `vrrp_track_file`.
    File,
    /// `vrrp_track_process`.
    Process,
}

impl TrackerType {
    /// The name on the wire (`"script"`).
    pub fn name(self) -> &'static str {
        match self {
            TrackerType::Interface => "interface",
            TrackerType::Script => "script",
            TrackerType::File => "file",
            TrackerType::Process => "process",
        }
    }
}

impl From<vrrp_core::weights::TrackerKind> for TrackerType {
    fn from(k: vrrp_core::weights::TrackerKind) -> TrackerType {
        match k {
            vrrp_core::weights::TrackerKind::Script => TrackerType::Script,
            vrrp_core::weights::TrackerKind::File => TrackerType::File,
            vrrp_core::weights::TrackerKind::Process => TrackerType::Process,
        }
    }
}

/// One tracked object of an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tracker {
    /// What it tracks (`"type"` on the wire).
    #[serde(rename = "type")]
    pub kind: TrackerType,
    /// The configured name (interface, script, file or process).
    pub name: String,
    /// The weight that applies.
    pub weight: i32,
    /// `reverse`: the weight's sign (and the fault condition) turned around.
    pub reverse: bool,
    /// `None` before a script's first result.
    pub up: Option<bool>,
    /// A file tracker's value. Present (possibly `null`) for script, file and process
    /// trackers, absent for interfaces: `None` is absent, `Some(None)` is `null`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub value: Option<Option<i64>>,
}

/// A field that is present (even as `null`) is `Some`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Every counter of an instance (RFC 6527 names; `docs/control.md`): the core's own type,
/// serialized as one object with the field names as keys.
pub use vrrp_core::Counters;

/// One transition of an instance's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransitionRecord {
    /// Seconds ago.
    pub ago_s: f64,
    /// When, in seconds since the Unix epoch.
    pub unix_time: f64,
    /// The state left.
    pub from: VrrpState,
    /// The state entered.
    pub to: VrrpState,
    /// Why, as a sentence (`"master down timer expired"`).
    pub reason: String,
}

/// How late the protocol timer fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProtocolTimer {
    /// How many times it fired.
    pub fired: u64,
    /// Mean lateness (microseconds).
    pub mean_late_us: f64,
    /// Largest lateness (microseconds).
    pub max_late_us: u64,
    /// Wake-ups by lateness: `le_50us`, `le_100us`, ..., `more`.
    pub late_buckets: BTreeMap<String, u64>,
    /// The protocol thread's busy spans (from a wake-up after a sleep to the next sleep,
    /// what `vrrp_rlimit_rttime` limits): how many ended.
    #[serde(default)]
    pub busy_spans: u64,
    /// The longest busy span in the thread's CPU time (microseconds).
    #[serde(default)]
    pub max_busy_cpu_us: u64,
    /// The longest busy span in wall time (microseconds): CPU time plus time preempted.
    #[serde(default)]
    pub max_busy_wall_us: u64,
    /// Busy spans by CPU time: `le_100us`, `le_250us`, ..., `le_8000us`, `more`.
    #[serde(default)]
    pub busy_buckets: BTreeMap<String, u64>,
    /// Under `vrrp_rt_priority`: spans the thread cut short with a brief sleep, so that the
    /// kernel's `vrrp_rlimit_rttime` count restarts.
    #[serde(default)]
    pub busy_breaths: u64,
}

/// The answer to `show` (`SHOW` in `docs/control.md`): the status line and the rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Show {
    /// The status line (its fields are at the top level).
    #[serde(flatten)]
    pub status: StatusLine,
    /// The source address of its advertisements.
    pub source: IpAddr,
    /// Whether a higher priority takes over from a lower-priority Master (`false` with
    /// `nopreempt`).
    pub preempt: bool,
    /// `preempt_delay` (seconds).
    pub preempt_delay_s: f64,
    /// Accept mode: a Master accepts packets to the VIPs it does not own.
    pub accept: bool,
    /// VRRPv2 authentication.
    pub auth: Auth,
    /// The unicast peers (empty: multicast).
    pub unicast_peers: Vec<IpAddr>,
    /// The virtual MAC interface (`use_vmac`), if any.
    pub virtual_mac_interface: Option<String>,
    /// The checksum form it sends.
    pub checksum_form: ChecksumForm,
    /// `address/prefix`.
    pub configured_vips: Vec<String>,
    /// `address/prefix`.
    pub excluded_vips: Vec<String>,
    /// Its protocol timers.
    pub timers: Timers,
    /// Seconds since the Master (as seen from here) became Master.
    pub master_since_s: Option<f64>,
    /// Its tracked objects.
    pub trackers: Vec<Tracker>,
    /// How many times the Master as seen from here changed.
    pub master_changes: u64,
    /// Its counters.
    pub counters: Counters,
    /// The last transitions, oldest first.
    pub transitions: Vec<TransitionRecord>,
    /// How late the protocol timer fired (the daemon's, the same for every instance).
    pub protocol_timer: ProtocolTimer,
}

/// One instance of the metrics snapshot: its status line with counters, master changes and
/// trackers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotInstance {
    /// The status line (its fields are at the top level).
    #[serde(flatten)]
    pub status: StatusLine,
    /// Its counters.
    pub counters: Counters,
    /// How many times the Master as seen from here changed.
    pub master_changes: u64,
    /// Its tracked objects.
    pub trackers: Vec<Tracker>,
}

/// What the metrics endpoint renders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// One entry per instance, in configuration order.
    pub instances: Vec<SnapshotInstance>,
}

/// SIGUSR1: the `show` document of every instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateDump {
    /// [`DUMP_VERSION`].
    pub version: u32,
    /// One entry per instance, in configuration order.
    pub instances: Vec<Show>,
}

/// One instance of the SIGUSR2 dump.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceStats {
    /// The instance's name.
    pub name: String,
    /// The current state.
    pub state: VrrpState,
    /// Its counters.
    pub counters: Counters,
}

/// SIGUSR2: every instance's counters and the protocol timer's lateness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsDump {
    /// [`DUMP_VERSION`].
    pub version: u32,
    /// One entry per instance, in configuration order.
    pub instances: Vec<InstanceStats>,
    /// How late the protocol timer fired.
    pub protocol_timer: ProtocolTimer,
}
