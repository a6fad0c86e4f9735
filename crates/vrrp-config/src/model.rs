//! The typed configuration: every supported keyword as a field, with keepalived's defaults
//! applied.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

mod alerts;
mod bgp;
mod global_vrrp;
mod lvs;
mod sched;
mod statics;

pub use global_vrrp::VrrpNetDefs;
pub use sched::{CheckerSched, VrrpSched};
pub use statics::{StaticAddress, Statics};

pub use alerts::{AlertObject, AlertSwitch, Alerts, SmtpServer, address_of};
pub use bgp::{BgpGlobal, FrrProblem, announced_addrs, frr_problems};
pub(crate) use bgp::{MAX_ANNOUNCED as BGP_MAX_ANNOUNCED, MAX_TABLE as BGP_MAX_TABLE};
pub use lvs::{
    FlushOnStop, LbDataplane, LvsGlobal, LvsSyncDaemon, LvsTimeouts, RealServerHooks, Site,
    VirtualServer, VirtualServerGroup,
};

/// A position in a configuration file (1-based line and column; column counts characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// The file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
}

/// The whole configuration: `global_defs`, the `vrrp_instance` blocks and the trackers and
/// sync groups they use, each list in file order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    /// `global_defs`, merged.
    pub global: GlobalDefs,
    /// `vrrp_instance NAME { }`
    pub instances: Vec<VrrpInstance>,
    /// `vrrp_script NAME { }`
    pub scripts: Vec<VrrpScript>,
    /// `track_file NAME { }` (alias `vrrp_track_file`)
    pub track_files: Vec<TrackFile>,
    /// `vrrp_track_process NAME { }`
    pub track_processes: Vec<TrackProcess>,
    /// `vrrp_sync_group NAME { }`
    pub sync_groups: Vec<SyncGroup>,
    /// `interface_up_down_delays { IF DOWN [UP] }` (top level)
    pub interface_delays: Vec<InterfaceDelay>,
    /// `virtual_server ... { }`
    pub virtual_servers: Vec<VirtualServer>,
    /// `virtual_server_group NAME { }`
    pub virtual_server_groups: Vec<VirtualServerGroup>,
    /// The top-level `SSL { }`: the TLS client of SSL_GET.
    pub ssl: Option<vrrp_lb::check::TlsClient>,
    /// `static_ipaddress`, `static_routes` and `static_rules` (top level).
    pub statics: Statics,
}

impl Config {
    /// The `vrrp_script` called `name`.
    pub fn script(&self, name: &str) -> Option<&VrrpScript> {
        self.scripts.iter().find(|s| s.name == name)
    }

    /// The `track_file` called `name`.
    pub fn track_file(&self, name: &str) -> Option<&TrackFile> {
        self.track_files.iter().find(|s| s.name == name)
    }

    /// The `vrrp_track_process` called `name`.
    pub fn track_process(&self, name: &str) -> Option<&TrackProcess> {
        self.track_processes.iter().find(|s| s.name == name)
    }

    /// The `vrrp_sync_group` called `name`.
    pub fn sync_group(&self, name: &str) -> Option<&SyncGroup> {
        self.sync_groups.iter().find(|s| s.name == name)
    }

    /// The `vrrp_instance` called `name`.
    pub fn instance(&self, name: &str) -> Option<&VrrpInstance> {
        self.instances.iter().find(|s| s.name == name)
    }
}

/// A command to run: a `vrrp_script` `script`, a `notify*` hook, a FIFO reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The program and its arguments. As in keepalived, a `"..."` string is split again at
    /// white space, where `'...'` keeps spaces inside an argument:
    /// `notify "/bin/n.sh 'a b' c"` gives `["/bin/n.sh", "a b", "c"]`.
    pub argv: Vec<String>,
    /// `USER [GROUP]` given with the command (else `global_defs` `script_user` applies).
    pub user: Option<ScriptUser>,
    /// Where the keyword is.
    pub location: Location,
}

impl Command {
    /// The program (first word).
    pub fn program(&self) -> &str {
        self.argv.first().map_or("", String::as_str)
    }
}

/// The `notify*` hooks of an instance or a sync group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Notify {
    /// `notify_master`
    pub master: Option<Command>,
    /// `notify_backup`
    pub backup: Option<Command>,
    /// `notify_fault`
    pub fault: Option<Command>,
    /// `notify_stop`
    pub stop: Option<Command>,
    /// `notify`: run on every state change with 4 more arguments (`INSTANCE|GROUP`, name,
    /// state, priority).
    pub any: Option<Command>,
    /// `notify_master_rx_lower_pri` (instances only)
    pub master_rx_lower_pri: Option<Command>,
}

impl Notify {
    /// True when no hook is configured.
    pub fn is_empty(&self) -> bool {
        *self == Notify::default()
    }
}

/// `notify_fifo` / `vrrp_notify_fifo FIFO [USER [GROUP]]` and the matching `*_script`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyFifo {
    /// The FIFO's path.
    pub path: PathBuf,
    /// Owner of the FIFO when vrrpd creates it.
    pub owner: Option<ScriptUser>,
    /// `notify_fifo_script` / `vrrp_notify_fifo_script`: a reader started by vrrpd, with
    /// the FIFO path as its last argument.
    pub script: Option<Command>,
}

/// `vrrp_script NAME { }`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrrpScript {
    /// The script's name, as `track_script` refers to it.
    pub name: String,
    /// `script`, with `user USER [GROUP]` as its user.
    pub command: Command,
    /// `interval` (default 1 s)
    pub interval: Duration,
    /// `timeout` (default: the interval)
    pub timeout: Duration,
    /// `weight N` (-253..253, default 0 = Fault while failed)
    pub weight: i32,
    /// `weight N reverse`
    pub reverse: bool,
    /// `rise` (default 1)
    pub rise: u32,
    /// `fall` (default 1)
    pub fall: u32,
    /// `init_fail`: start in the failed state.
    pub init_fail: bool,
    /// Where the block starts.
    pub location: Location,
}

/// One line of `track_script`, `track_file` or `track_process` in an instance or sync
/// group: `NAME [weight N] [reverse|noreverse]`. `None` means the tracker's own setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackRef {
    /// The tracker's name.
    pub name: String,
    /// `weight N`
    pub weight: Option<i32>,
    /// `reverse` (`Some(true)`) or `noreverse` (`Some(false)`).
    pub reverse: Option<bool>,
}

/// A `track_script` line (see [`TrackRef`]).
pub type TrackScript = TrackRef;

/// `track_file NAME { }` (alias `vrrp_track_file`)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackFile {
    /// The tracker's name, as `track_file` refers to it.
    pub name: String,
    /// `file PATH`
    pub path: PathBuf,
    /// `weight N` (-254..254, default 1): the value read times the weight adjusts the
    /// priority; with 0, a non-zero value means Fault.
    pub weight: i32,
    /// `weight N reverse`: the priority moves the other way.
    pub reverse: bool,
    /// `init_file [VALUE] [overwrite]`
    pub init: Option<InitFile>,
    /// Where the block starts.
    pub location: Location,
}

/// `init_file [VALUE] [overwrite]`: write VALUE (default 0) at start if the file does not
/// exist, or always with `overwrite`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitFile {
    /// The value to write (default 0).
    pub value: i64,
    /// `overwrite`: write it even when the file exists.
    pub overwrite: bool,
}

/// `param_match` of a tracked process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamMatch {
    /// The parameters must be exactly the configured ones (default).
    Exact,
    /// `initial`: the last configured parameter may be a prefix of the actual one.
    Initial,
    /// `partial`: the first configured parameters must match; more may follow.
    Partial,
}

/// `vrrp_track_process NAME { }`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackProcess {
    /// The tracker's name, as `track_process` refers to it.
    pub name: String,
    /// `process NAME [ARGS...]`: the process name.
    pub process: String,
    /// The parameters to match; `None` = any (name only). `param_match` without parameters
    /// gives `Some(vec![])`: the process must have none.
    pub args: Option<Vec<String>>,
    /// `param_match exact|initial|partial` (default exact).
    pub param_match: ParamMatch,
    /// `full_command`: match the whole command line instead of the name.
    pub full_command: bool,
    /// `weight N` (-254..254, default 0 = Fault when the quorum is lost)
    pub weight: i32,
    /// `weight N reverse`: the weight counts the other way round.
    pub reverse: bool,
    /// `quorum` (default 1)
    pub quorum: u32,
    /// `quorum_max` (default unlimited)
    pub quorum_max: Option<u32>,
    /// `fork_delay` (or `delay`; default 0)
    pub fork_delay: Duration,
    /// `terminate_delay` (or `delay`; default 0)
    pub terminate_delay: Duration,
    /// Where the block starts.
    pub location: Location,
}

/// `vrrp_sync_group NAME { }`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroup {
    /// The group's name.
    pub name: String,
    /// `group { INSTANCE... }`
    pub members: Vec<String>,
    /// `track_interface { }`
    pub track_interfaces: Vec<TrackInterface>,
    /// `track_script { }`
    pub track_scripts: Vec<TrackScript>,
    /// `track_file { }`
    pub track_files: Vec<TrackRef>,
    /// `track_process { }`
    pub track_processes: Vec<TrackRef>,
    /// The group's `notify*` hooks.
    pub notify: Notify,
    /// `sync_group_tracking_weight`: members may have weighted trackers.
    pub tracking_weight: bool,
    /// Where the block starts.
    pub location: Location,
}

/// One line of `interface_up_down_delays`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceDelay {
    /// The interface name.
    pub interface: String,
    /// How long the link must stay down before it counts as down.
    pub down: Duration,
    /// How long it must stay up before it counts as up (default 0).
    pub up: Duration,
}

/// An address prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Prefix {
    /// The address.
    pub addr: IpAddr,
    /// The prefix length.
    pub len: u8,
}

impl Prefix {
    /// The family of the address.
    pub fn family(&self) -> Family {
        Family::of(&self.addr)
    }
}

/// The type of a virtual route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteType {
    /// An ordinary route (default).
    Unicast,
    /// `blackhole`: packets are dropped silently.
    Blackhole,
    /// `unreachable`: packets are refused with ICMP unreachable.
    Unreachable,
    /// `prohibit`: packets are refused with ICMP prohibited.
    Prohibit,
}

/// One `virtual_routes` line (`ip route` syntax, common options): installed while Master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualRoute {
    /// `unicast` (default), `blackhole`, `unreachable` or `prohibit`.
    pub kind: RouteType,
    /// `[to] PREFIX` or `default`.
    pub dst: Prefix,
    /// `via ADDR` (alias `gw`)
    pub via: Option<IpAddr>,
    /// `dev IF`
    pub dev: Option<String>,
    /// `src ADDR`
    pub src: Option<IpAddr>,
    /// `metric N` (aliases `priority`, `preference`)
    pub metric: Option<u32>,
    /// `table N|main|local|default`
    pub table: Option<u32>,
    /// `scope host|link|global|site|nowhere|N`
    pub scope: Option<String>,
    /// `proto NAME|N` (alias `protocol`)
    pub proto: Option<String>,
    /// Where the line is.
    pub location: Location,
}

impl VirtualRoute {
    /// The family of the destination.
    pub fn family(&self) -> Family {
        self.dst.family()
    }
}

/// One `virtual_rules` line (`ip rule` syntax, common options): installed while Master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualRule {
    /// `from PREFIX` (`all` = `None`)
    pub from: Option<Prefix>,
    /// `to PREFIX` (`all` = `None`)
    pub to: Option<Prefix>,
    /// `table N|main|local|default` (alias `lookup`), required.
    pub table: u32,
    /// `priority N` (aliases `preference`, `pref`)
    pub priority: Option<u32>,
    /// `iif IF` (alias `dev`)
    pub iif: Option<String>,
    /// `oif IF`
    pub oif: Option<String>,
    /// `fwmark MARK[/MASK]`
    pub fwmark: Option<u32>,
    /// The `/MASK` of `fwmark`.
    pub fwmask: Option<u32>,
    /// From the addresses, else the instance's family.
    pub family: Family,
    /// Where the line is.
    pub location: Location,
}

/// `global_defs { ... }`. Several `global_defs` blocks are merged, later keywords win.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalDefs {
    /// `router_id` (keepalived defaults to the host name; `None` here means "not set").
    pub router_id: Option<String>,
    /// `metrics_listen ADDR:PORT` (a vrrpd keyword): serve Prometheus metrics there.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// `vrrp_version`: default version for instances without `version` (default 2).
    pub vrrp_version: u8,
    /// The `vrrp_garp_*` / `vrrp_gna_interval` defaults that instances inherit.
    pub garp: Garp,
    /// `vrrp_check_unicast_src`
    pub check_unicast_src: bool,
    /// `vrrp_skip_check_adv_addr`
    pub skip_check_adv_addr: bool,
    /// `vrrp_strict`
    pub strict: bool,
    /// `vrrp_startup_delay` (default 0)
    pub startup_delay: Duration,
    /// `enable_script_security`
    pub enable_script_security: bool,
    /// `script_user USER [GROUP]`
    pub script_user: Option<ScriptUser>,
    /// `vrrp_lower_prio_no_advert`
    pub lower_prio_no_advert: bool,
    /// `vrrp_higher_prio_send_advert`
    pub higher_prio_send_advert: bool,
    /// `v3_checksum_as_v2`
    pub v3_checksum_as_v2: bool,
    /// `notify_fifo FIFO [USER [GROUP]]` and `notify_fifo_script`
    pub notify_fifo: Option<NotifyFifo>,
    /// `vrrp_notify_fifo FIFO [USER [GROUP]]` and `vrrp_notify_fifo_script`
    pub vrrp_notify_fifo: Option<NotifyFifo>,
    /// The LVS keywords (`lvs_*`, `lb_dataplane`...).
    pub lvs: LvsGlobal,
    /// The e-mail alerts (`notification_email`, `smtp_*`).
    pub alerts: Alerts,
    /// `vrrp_mcast_group4/6`, `default_interface`, `max_auto_priority`.
    pub vrrp_net: VrrpNetDefs,
    /// `vrrp_priority`, `vrrp_rt_priority`, `vrrp_rlimit_rttime`, `vrrp_no_swap`,
    /// `vrrp_cpu_affinity`.
    pub vrrp_sched: VrrpSched,
    /// `checker_priority`, `checker_no_swap`.
    pub checker_sched: CheckerSched,
}

impl Default for GlobalDefs {
    fn default() -> Self {
        GlobalDefs {
            router_id: None,
            metrics_listen: None,
            vrrp_version: 2,
            garp: Garp::default(),
            check_unicast_src: false,
            skip_check_adv_addr: false,
            strict: false,
            startup_delay: Duration::ZERO,
            enable_script_security: false,
            script_user: None,
            lower_prio_no_advert: false,
            higher_prio_send_advert: false,
            v3_checksum_as_v2: false,
            notify_fifo: None,
            vrrp_notify_fifo: None,
            lvs: LvsGlobal::default(),
            alerts: Alerts::default(),
            vrrp_net: VrrpNetDefs::default(),
            vrrp_sched: VrrpSched::default(),
            checker_sched: CheckerSched::default(),
        }
    }
}

/// `script_user USER [GROUP]` (also `USER:GROUP`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptUser {
    /// The user name.
    pub user: String,
    /// The group name (default: the user's primary group).
    pub group: Option<String>,
}

/// Gratuitous ARP / unsolicited NA timing. In `GlobalDefs` these are the `vrrp_garp_*`
/// values; in an instance they are resolved (instance keyword, else global value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Garp {
    /// Delay before the second burst after becoming Master (default 5 s; 0 = no second burst).
    pub master_delay: Duration,
    /// Messages per burst after becoming Master (default 5).
    pub master_repeat: u32,
    /// Periodic refresh while Master (default `None` = off).
    pub master_refresh: Option<Duration>,
    /// Messages per refresh (default 1).
    pub master_refresh_repeat: u32,
    /// Delay of the second burst after a Master hears a lower-priority advert
    /// (default: `master_delay` of `global_defs`; 0 in strict mode).
    pub lower_prio_delay: Duration,
    /// Messages per burst after a lower-priority advert (default: `master_repeat` of
    /// `global_defs`; 0 in strict mode).
    pub lower_prio_repeat: u32,
    /// Gap between two gratuitous ARPs on one interface (`vrrp_garp_interval`, default 0).
    pub interval: Duration,
    /// Gap between two unsolicited NAs on one interface (`vrrp_gna_interval`, default 0).
    pub gna_interval: Duration,
    /// `garp_extra_if` / `vrrp_garp_extra_if`: periodic GARP/NA on the other interfaces of
    /// the addresses while Master (default off).
    pub extra_if: Option<GarpExtraIf>,
}

/// `garp_extra_if [all] SECS`: while Master, every `interval` one GARP/NA per address that
/// lives on another interface than the instance's (its `dev`), so that switches keep
/// those MACs in their caches. keepalived sends them on its own virtual MAC interfaces
/// only, unless `all`: vrrpd creates no VIP-side virtual MAC interface, so without `all`
/// there is nothing to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GarpExtraIf {
    /// The period (0 = off; the first one `garp_master_delay` + `interval` after becoming
    /// Master).
    pub interval: Duration,
    /// `all`: on every other interface, not only virtual MAC ones.
    pub all: bool,
}

impl Default for Garp {
    fn default() -> Self {
        Garp {
            master_delay: Duration::from_secs(5),
            master_repeat: 5,
            master_refresh: None,
            master_refresh_repeat: 1,
            lower_prio_delay: Duration::from_secs(5),
            lower_prio_repeat: 5,
            interval: Duration::ZERO,
            gna_interval: Duration::ZERO,
            extra_if: None,
        }
    }
}

/// The `state` keyword as the instance's initial wish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InitialState {
    /// `state MASTER`
    Master,
    /// `state BACKUP` (default).
    Backup,
}

/// What the instance does: take part in elections, or only watch them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// An ordinary VRRP router.
    Router,
    /// `state OBSERVER` (alias `SLAVE`): follows the elections, never advertises or takes
    /// the addresses.
    Observer,
}

/// Address family of an instance, its addresses and rules: the protocol core's type, so
/// that the daemon hands it over as it is.
pub use vrrp_core::Family;

/// One `virtual_ipaddress` (or `virtual_ipaddress_excluded`) line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vip {
    /// The address.
    pub addr: IpAddr,
    /// `/LEN`; default 32 (IPv4) or 128 (IPv6).
    pub prefix_len: u8,
    /// `brd ADDR` (IPv4 only).
    pub broadcast: Option<Ipv4Addr>,
    /// `dev IF`; `None` means the instance's interface.
    pub dev: Option<String>,
    /// `scope SCOPE` (host, link, global, site, nowhere or a number 0-255).
    pub scope: Option<String>,
    /// `label LABEL`
    pub label: Option<String>,
}

impl Vip {
    /// The family of the address.
    pub fn family(&self) -> Family {
        Family::of(&self.addr)
    }
}

/// One `track_interface` line: `IF [weight N [reverse]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackInterface {
    /// The interface name.
    pub name: String,
    /// 0 (default) = the instance goes to Fault when the interface is down; otherwise the
    /// priority changes by this amount (-253..=253).
    pub weight: i32,
    /// `reverse`: the weight applies while the interface is up (with weight 0: Fault while
    /// it is up).
    pub reverse: bool,
}

/// `vrrp_instance NAME { ... }` after defaults and validation.
#[derive(Debug, Clone, PartialEq)]
pub struct VrrpInstance {
    /// The instance's name.
    pub name: String,
    /// Initial wish (`state`); observers are `Backup`.
    pub initial_state: InitialState,
    /// Router, or observer (`state OBSERVER`).
    pub role: Role,
    /// `interface IF`: where adverts go and the addresses live.
    pub interface: String,
    /// `virtual_router_id` (1-255).
    pub vrid: u8,
    /// Configured priority (default 100, or 255 for `state MASTER` without `priority`, as in
    /// keepalived). Unused for observers.
    pub priority: u8,
    /// `advert_int` in centiseconds (default 100 = 1 s).
    pub advert_interval_cs: u16,
    /// 2 or 3.
    pub version: u8,
    /// From the VIPs (else from unicast/mcast source addresses, else IPv4).
    pub family: Family,
    /// `virtual_ipaddress { }`: advertised and taken while Master.
    pub vips: Vec<Vip>,
    /// `virtual_ipaddress_excluded { }`: taken while Master, not advertised.
    pub excluded_vips: Vec<Vip>,
    /// `authentication { auth_type PASS; auth_pass TEXT }`: the password (at most 8 bytes).
    pub auth: Option<String>,
    /// `false` with `nopreempt`.
    pub preempt: bool,
    /// `preempt_delay` (default 0): how long to wait before preempting.
    pub preempt_delay: Duration,
    /// `unicast_src_ip`: the source address of unicast adverts.
    pub unicast_src_ip: Option<IpAddr>,
    /// `unicast_peer { }`: adverts go unicast to these instead of multicast.
    pub unicast_peers: Vec<IpAddr>,
    /// `mcast_src_ip`: the source address of multicast adverts.
    pub mcast_src_ip: Option<IpAddr>,
    /// Accept mode (default on, off in strict mode unless priority is 255).
    pub accept: bool,
    /// `use_vmac [NAME]`: the macvlan interface name (default `vrrp.<vrid>`).
    pub use_vmac: Option<String>,
    /// `vmac_xmit_base`: send and receive adverts on the base interface.
    pub vmac_xmit_base: bool,
    /// `track_interface { }`
    pub track_interfaces: Vec<TrackInterface>,
    /// `dont_track_primary`: ignore link faults on `interface`.
    pub dont_track_primary: bool,
    /// Gratuitous ARP / unsolicited NA timing, resolved against `global_defs`.
    pub garp: Garp,
    /// A Master does not answer lower-priority adverts (instance keyword, else global).
    pub lower_prio_no_advert: bool,
    /// A Master sends one advert before yielding to a higher priority (instance keyword, else global).
    pub higher_prio_send_advert: bool,
    /// VRRPv3/IPv4 checksum without the pseudo-header (instance keyword, else global).
    pub v3_checksum_as_v2: bool,
    /// `track_script { }`: the scripts exist in `Config::scripts`.
    pub track_scripts: Vec<TrackScript>,
    /// `track_file { }`: the files exist in `Config::track_files`.
    pub track_files: Vec<TrackRef>,
    /// `track_process { }`: the processes exist in `Config::track_processes`.
    pub track_processes: Vec<TrackRef>,
    /// `notify*` hooks.
    pub notify: Notify,
    /// `notify_master_change SCRIPT [USER [GROUP]]` (vrrpd): run when the Master of the
    /// virtual router changes, as seen by this instance (made for observers).
    pub notify_master_change: Option<Command>,
    /// `virtual_routes { }`
    pub virtual_routes: Vec<VirtualRoute>,
    /// `virtual_rules { }`
    pub virtual_rules: Vec<VirtualRule>,
    /// `promote_secondaries`
    pub promote_secondaries: bool,
    /// `unicast_ttl N`: the TTL / hop limit of unicast advertisements (default 255).
    pub unicast_ttl: u8,
    /// `check_unicast_src` (or the global `vrrp_check_unicast_src`): unicast
    /// advertisements are accepted from the configured peers only.
    pub check_unicast_src: bool,
    /// `skip_check_adv_addr` (or the global `vrrp_skip_check_adv_addr`): the address list
    /// of advertisements from the Master already known is not checked again.
    pub skip_check_adv_addr: bool,
    /// `strict_mode` (else the global `vrrp_strict`).
    pub strict: bool,
    /// `notify_deleted [SCRIPT]`: an instance removed by a reload is notified as `DELETED`
    /// (instead of `FAULT`), and its script, if any, runs.
    pub notify_deleted: Option<Option<Command>>,
    /// `notify_priority_changes`: priority changes go to the notify FIFOs
    /// (`MASTER_PRIORITY` / `BACKUP_PRIORITY` lines).
    pub notify_priority_changes: bool,
    /// `down_timer_adverts N` (1-100, default 3): the Master_Down_Interval counts N
    /// advertisement intervals instead of the RFC's 3.
    pub down_timer_adverts: u8,
    /// `owner_ignore_adverts`: an address owner (priority 255) drops every advertisement.
    pub owner_ignore_adverts: bool,
    /// `track_src_ip`: Fault while the source address of advertisements (`unicast_src_ip`,
    /// `mcast_src_ip`, else the interface's) is on none of the host's interfaces.
    pub track_src_ip: bool,
    /// `old_unicast_checksum`: VRRPv3/IPv4 unicast adverts checksum the group as
    /// pseudo-header destination, as keepalived before 1.3.6, and accept that form.
    pub old_unicast_checksum: bool,
    /// The `vrrp_sync_group` the instance belongs to.
    pub sync_group: Option<String>,
    /// Where the `vrrp_instance` keyword is.
    pub location: Location,
}

impl VrrpInstance {
    /// The configured source address of advertisements: `unicast_src_ip`, else
    /// `mcast_src_ip` (one setting in keepalived).
    pub fn src_ip(&self) -> Option<IpAddr> {
        self.unicast_src_ip.or(self.mcast_src_ip)
    }

    /// Whether advertisements go to unicast peers instead of the multicast group.
    pub fn is_unicast(&self) -> bool {
        !self.unicast_peers.is_empty()
    }
}
