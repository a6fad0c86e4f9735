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
    #[serde(rename = "INIT")]
    Init,
    #[serde(rename = "BACKUP")]
    Backup,
    #[serde(rename = "MASTER")]
    Master,
    #[serde(rename = "FAULT")]
    Fault,
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
    Ipv4,
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
    pub address: IpAddr,
    pub priority: u8,
}

/// One line of `status` (`STATUS` in `docs/control.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusLine {
    pub name: String,
    pub interface: String,
    pub family: IpFamily,
    pub vrid: u8,
    pub version: u8,
    pub state: VrrpState,
    /// The effective priority.
    pub priority: u8,
    pub configured_priority: u8,
    pub operator_priority: Option<u8>,
    pub maintenance: bool,
    pub master: Option<MasterSeen>,
    pub in_state_s: f64,
    /// The VIPs held now (`address/prefix`): empty unless Master.
    pub vips: Vec<String>,
}

/// The answer to `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusList {
    pub instances: Vec<StatusLine>,
}

/// How advertisements are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Auth {
    /// VRRPv2 simple password.
    #[serde(rename = "PASS")]
    Pass,
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

/// Which checksum form the instance sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChecksumForm {
    PseudoHeader,
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
    pub advert_interval_cs: u16,
    pub master_adver_interval_cs: u16,
    pub master_down_interval_us: u64,
    pub skew_time_us: u64,
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
    #[serde(rename = "type")]
    pub kind: TrackerType,
    /// The configured name (interface, script, file or process).
    pub name: String,
    pub weight: i32,
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

/// Every counter of an instance (RFC 6527 names; `docs/control.md`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub master_transitions: u64,
    pub rcvd_advertisements: u64,
    pub sent_advertisements: u64,
    pub adv_interval_errors: u64,
    pub ip_ttl_errors: u64,
    pub rcvd_pri_zero_packets: u64,
    pub sent_pri_zero_packets: u64,
    pub rcvd_invalid_type_packets: u64,
    pub address_list_errors: u64,
    pub packet_length_errors: u64,
    pub checksum_errors: u64,
    pub version_errors: u64,
    pub vrid_errors: u64,
    pub auth_failures: u64,
    pub invalid_auth_type: u64,
    pub auth_type_mismatch: u64,
    pub proto_errors: u64,
    pub rcvd_checksum_pseudo_header: u64,
    pub rcvd_checksum_message_only: u64,
    pub master_releases: u64,
    pub rcvd_lower_priority_as_master: u64,
}

impl Counters {
    /// Every counter with its name (the field name on the wire), in the core's order.
    pub fn fields(&self) -> [(&'static str, u64); 21] {
        // Destructured so that a new counter cannot be forgotten here.
        let Counters {
            master_transitions,
            rcvd_advertisements,
            sent_advertisements,
            adv_interval_errors,
            ip_ttl_errors,
            rcvd_pri_zero_packets,
            sent_pri_zero_packets,
            rcvd_invalid_type_packets,
            address_list_errors,
            packet_length_errors,
            checksum_errors,
            version_errors,
            vrid_errors,
            auth_failures,
            invalid_auth_type,
            auth_type_mismatch,
            proto_errors,
            rcvd_checksum_pseudo_header,
            rcvd_checksum_message_only,
            master_releases,
            rcvd_lower_priority_as_master,
        } = *self;
        [
            ("master_transitions", master_transitions),
            ("rcvd_advertisements", rcvd_advertisements),
            ("sent_advertisements", sent_advertisements),
            ("adv_interval_errors", adv_interval_errors),
            ("ip_ttl_errors", ip_ttl_errors),
            ("rcvd_pri_zero_packets", rcvd_pri_zero_packets),
            ("sent_pri_zero_packets", sent_pri_zero_packets),
            ("rcvd_invalid_type_packets", rcvd_invalid_type_packets),
            ("address_list_errors", address_list_errors),
            ("packet_length_errors", packet_length_errors),
            ("checksum_errors", checksum_errors),
            ("version_errors", version_errors),
            ("vrid_errors", vrid_errors),
            ("auth_failures", auth_failures),
            ("invalid_auth_type", invalid_auth_type),
            ("auth_type_mismatch", auth_type_mismatch),
            ("proto_errors", proto_errors),
            ("rcvd_checksum_pseudo_header", rcvd_checksum_pseudo_header),
            ("rcvd_checksum_message_only", rcvd_checksum_message_only),
            ("master_releases", master_releases),
            (
                "rcvd_lower_priority_as_master",
                rcvd_lower_priority_as_master,
            ),
        ]
    }
}

impl From<&vrrp_core::Counters> for Counters {
    fn from(c: &vrrp_core::Counters) -> Counters {
        // Destructured so that a new counter in the core cannot be forgotten here.
        let vrrp_core::Counters {
            master_transitions,
            rcvd_advertisements,
            sent_advertisements,
            adv_interval_errors,
            ip_ttl_errors,
            rcvd_pri_zero_packets,
            sent_pri_zero_packets,
            rcvd_invalid_type_packets,
            address_list_errors,
            packet_length_errors,
            checksum_errors,
            version_errors,
            vrid_errors,
            auth_failures,
            invalid_auth_type,
            auth_type_mismatch,
            proto_errors,
            rcvd_checksum_pseudo_header,
            rcvd_checksum_message_only,
            master_releases,
            rcvd_lower_priority_as_master,
        } = *c;
        Counters {
            master_transitions,
            rcvd_advertisements,
            sent_advertisements,
            adv_interval_errors,
            ip_ttl_errors,
            rcvd_pri_zero_packets,
            sent_pri_zero_packets,
            rcvd_invalid_type_packets,
            address_list_errors,
            packet_length_errors,
            checksum_errors,
            version_errors,
            vrid_errors,
            auth_failures,
            invalid_auth_type,
            auth_type_mismatch,
            proto_errors,
            rcvd_checksum_pseudo_header,
            rcvd_checksum_message_only,
            master_releases,
            rcvd_lower_priority_as_master,
        }
    }
}

/// One transition of an instance's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransitionRecord {
    pub ago_s: f64,
    pub unix_time: f64,
    pub from: VrrpState,
    pub to: VrrpState,
    /// Why, as a sentence (`"master down timer expired"`).
    pub reason: String,
}

/// How late the protocol timer fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProtocolTimer {
    pub fired: u64,
    pub mean_late_us: f64,
    pub max_late_us: u64,
    /// Wake-ups by lateness: `le_50us`, `le_100us`, ..., `more`.
    pub late_buckets: BTreeMap<String, u64>,
}

/// The answer to `show` (`SHOW` in `docs/control.md`): the status line and the rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Show {
    #[serde(flatten)]
    pub status: StatusLine,
    pub source: IpAddr,
    pub preempt: bool,
    pub preempt_delay_s: f64,
    pub accept: bool,
    pub auth: Auth,
    pub unicast_peers: Vec<IpAddr>,
    pub virtual_mac_interface: Option<String>,
    pub checksum_form: ChecksumForm,
    /// `address/prefix`.
    pub configured_vips: Vec<String>,
    /// `address/prefix`.
    pub excluded_vips: Vec<String>,
    pub timers: Timers,
    pub master_since_s: Option<f64>,
    pub trackers: Vec<Tracker>,
    pub master_changes: u64,
    pub counters: Counters,
    /// The last transitions, oldest first.
    pub transitions: Vec<TransitionRecord>,
    pub protocol_timer: ProtocolTimer,
}

/// One instance of the metrics snapshot: its status line with counters, master changes and
/// trackers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotInstance {
    #[serde(flatten)]
    pub status: StatusLine,
    pub counters: Counters,
    pub master_changes: u64,
    pub trackers: Vec<Tracker>,
}

/// What the metrics endpoint renders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub instances: Vec<SnapshotInstance>,
}

/// SIGUSR1: the `show` document of every instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateDump {
    /// [`DUMP_VERSION`].
    pub version: u32,
    pub instances: Vec<Show>,
}

/// One instance of the SIGUSR2 dump.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceStats {
    pub name: String,
    pub state: VrrpState,
    pub counters: Counters,
}

/// SIGUSR2: every instance's counters and the protocol timer's lateness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsDump {
    /// [`DUMP_VERSION`].
    pub version: u32,
    pub instances: Vec<InstanceStats>,
    pub protocol_timer: ProtocolTimer,
}
