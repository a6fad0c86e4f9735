//! The typed configuration: every supported keyword as a field, with keepalived's defaults
//! applied.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

/// A position in a configuration file (1-based line and column; column counts characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

/// The whole configuration: `global_defs` and the `vrrp_instance` blocks, in file order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    pub global: GlobalDefs,
    pub instances: Vec<VrrpInstance>,
}

/// `global_defs { ... }`. Several `global_defs` blocks are merged, later keywords win.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalDefs {
    /// `router_id` (keepalived defaults to the host name; `None` here means "not set").
    pub router_id: Option<String>,
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
}

impl Default for GlobalDefs {
    fn default() -> Self {
        GlobalDefs {
            router_id: None,
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
        }
    }
}

/// `script_user USER [GROUP]` (also `USER:GROUP`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptUser {
    pub user: String,
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
        }
    }
}

/// The `state` keyword as the instance's initial wish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InitialState {
    Master,
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

/// Address family of an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    /// The family of an address.
    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }
}

/// One `virtual_ipaddress` (or `virtual_ipaddress_excluded`) line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vip {
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
    pub fn family(&self) -> Family {
        Family::of(&self.addr)
    }
}

/// One `track_interface` line: `IF [weight N]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackInterface {
    pub name: String,
    /// 0 (default) = the instance goes to Fault when the interface is down; otherwise the
    /// priority changes by this amount (-253..=253).
    pub weight: i32,
}

/// `vrrp_instance NAME { ... }` after defaults and validation.
#[derive(Debug, Clone, PartialEq)]
pub struct VrrpInstance {
    pub name: String,
    /// Initial wish (`state`); observers are `Backup`.
    pub initial_state: InitialState,
    pub role: Role,
    pub interface: String,
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
    pub vips: Vec<Vip>,
    pub excluded_vips: Vec<Vip>,
    /// `authentication { auth_type PASS; auth_pass TEXT }`: the password (at most 8 bytes).
    pub auth: Option<String>,
    /// `false` with `nopreempt`.
    pub preempt: bool,
    pub preempt_delay: Duration,
    pub unicast_src_ip: Option<IpAddr>,
    pub unicast_peers: Vec<IpAddr>,
    pub mcast_src_ip: Option<IpAddr>,
    /// Accept mode (default on, off in strict mode unless priority is 255).
    pub accept: bool,
    /// `use_vmac [NAME]`: the macvlan interface name (default `vrrp.<vrid>`).
    pub use_vmac: Option<String>,
    pub vmac_xmit_base: bool,
    pub track_interfaces: Vec<TrackInterface>,
    pub dont_track_primary: bool,
    pub garp: Garp,
    pub lower_prio_no_advert: bool,
    pub higher_prio_send_advert: bool,
    pub v3_checksum_as_v2: bool,
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
