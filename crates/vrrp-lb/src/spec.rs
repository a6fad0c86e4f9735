//! Virtual and real servers as configured (`virtual_server`, `virtual_server_group`,
//! `real_server` in keepalived.conf, keepalived.conf(5) and `../check/` of keepalived).
//!
//! These are the settings the core decides with and the data paths program; hooks (scripts)
//! stay with the configuration, and the core names the event that runs them.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::check::CheckerSpec;

/// `protocol TCP|UDP|SCTP` (default TCP).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Protocol {
    /// TCP.
    #[default]
    Tcp,
    /// UDP.
    Udp,
    /// SCTP (IPVS only).
    Sctp,
}

impl Protocol {
    /// The lower-case name of keepalived's FIFO lines and of nftables.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

/// An address family, for fwmark services (`ip_family`, `fwmark N inet6`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum IpFamily {
    /// IPv4 (keepalived's default for a fwmark service).
    #[default]
    V4,
    /// IPv6.
    V6,
}

impl IpFamily {
    /// The family of `addr`.
    pub fn of(addr: IpAddr) -> Self {
        if addr.is_ipv4() {
            IpFamily::V4
        } else {
            IpFamily::V6
        }
    }
}

/// `lvs_sched` (alias `lb_algo`): IPVS's schedulers, by keepalived's names.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scheduler {
    /// Round robin.
    Rr,
    /// Weighted round robin.
    Wrr,
    /// Least connections.
    Lc,
    /// Weighted least connections (IPVS's default).
    Wlc,
    /// Locality-based least connections.
    Lblc,
    /// Locality-based least connections with replication.
    Lblcr,
    /// Destination hashing.
    Dh,
    /// Source hashing.
    Sh,
    /// Maglev consistent hashing.
    Mh,
    /// Weighted failover.
    Fo,
    /// Weighted overflow.
    Ovf,
    /// Shortest expected delay.
    Sed,
    /// Never queue.
    Nq,
    /// Weighted random twos choice.
    Twos,
}

impl Scheduler {
    /// Every scheduler, in keepalived's order.
    pub const ALL: [Scheduler; 14] = [
        Scheduler::Rr,
        Scheduler::Wrr,
        Scheduler::Lc,
        Scheduler::Wlc,
        Scheduler::Lblc,
        Scheduler::Lblcr,
        Scheduler::Dh,
        Scheduler::Sh,
        Scheduler::Mh,
        Scheduler::Fo,
        Scheduler::Ovf,
        Scheduler::Sed,
        Scheduler::Nq,
        Scheduler::Twos,
    ];

    /// The name as written in a configuration and given to IPVS.
    pub fn name(self) -> &'static str {
        match self {
            Scheduler::Rr => "rr",
            Scheduler::Wrr => "wrr",
            Scheduler::Lc => "lc",
            Scheduler::Wlc => "wlc",
            Scheduler::Lblc => "lblc",
            Scheduler::Lblcr => "lblcr",
            Scheduler::Dh => "dh",
            Scheduler::Sh => "sh",
            Scheduler::Mh => "mh",
            Scheduler::Fo => "fo",
            Scheduler::Ovf => "ovf",
            Scheduler::Sed => "sed",
            Scheduler::Nq => "nq",
            Scheduler::Twos => "twos",
        }
    }

    /// The scheduler called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Scheduler::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Scheduler flags (`flag-1`..`flag-3`, with their names for `sh` and `mh`: `sh-fallback`
/// and `mh-fallback` are flag-1, `sh-port` and `mh-port` flag-2), and `ops` (one-packet
/// scheduling, UDP).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SchedulerFlags {
    /// `flag-1` (`sh-fallback`, `mh-fallback`).
    pub flag1: bool,
    /// `flag-2` (`sh-port`, `mh-port`).
    pub flag2: bool,
    /// `flag-3`.
    pub flag3: bool,
    /// `ops`: every UDP datagram is scheduled on its own.
    pub one_packet: bool,
}

/// How a tunnelled packet is encapsulated (`lvs_method TUN type ...`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Tunnel {
    /// IP in IP (the default).
    #[default]
    Ipip,
    /// Generic UDP encapsulation to `port`.
    Gue {
        /// The destination UDP port.
        port: u16,
    },
    /// GRE.
    Gre,
}

/// Checksums of a GUE or GRE tunnel (`nocsum`, `csum`, `remcsum`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum TunnelChecksum {
    /// `nocsum` (the default).
    #[default]
    None,
    /// `csum`.
    Csum,
    /// `remcsum` (GUE only).
    Remcsum,
}

/// `lvs_method` (alias `lb_kind`): how packets reach a real server (default NAT).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Forwarding {
    /// Masquerading: the destination address is rewritten, replies come back through the
    /// balancer.
    #[default]
    Nat,
    /// Direct routing: the frame goes to the real server's MAC address, the real server holds
    /// the VIP and answers the client directly.
    Dr,
    /// Tunnelling.
    Tun {
        /// The encapsulation.
        tunnel: Tunnel,
        /// Its checksums.
        checksum: TunnelChecksum,
    },
}

impl Forwarding {
    /// The name keepalived and `ipvsadm -Ln` show (`Masq`, `Route`, `Tunnel`).
    pub fn ipvs_name(self) -> &'static str {
        match self {
            Forwarding::Nat => "Masq",
            Forwarding::Dr => "Route",
            Forwarding::Tun { .. } => "Tunnel",
        }
    }
}

/// One address entry of a virtual service: the `virtual_server IP PORT` itself, or a line of
/// its `virtual_server_group`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceAddr {
    /// `IP PORT` (port 0: every port, as keepalived allows with persistence).
    Socket(SocketAddr),
    /// `A.B.C.D-E PORT`, `IP1-IP2 PORT` or a CIDR: every address from `first` to `last`.
    Range {
        /// The first address.
        first: IpAddr,
        /// The last address (same family, not below `first`).
        last: IpAddr,
        /// The port.
        port: u16,
    },
    /// `fwmark N [inet|inet6]`: packets marked N by the firewall.
    Fwmark {
        /// The mark.
        mark: u32,
        /// The family of the packets.
        family: IpFamily,
    },
}

impl ServiceAddr {
    /// The family of the packets it matches.
    pub fn family(&self) -> IpFamily {
        match *self {
            ServiceAddr::Socket(sa) => IpFamily::of(sa.ip()),
            ServiceAddr::Range { first, .. } => IpFamily::of(first),
            ServiceAddr::Fwmark { family, .. } => family,
        }
    }
}

/// How a virtual service is named in the configuration: its identity across reloads.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceKey {
    /// `virtual_server IP PORT`.
    Socket(SocketAddr),
    /// `virtual_server fwmark N`.
    Fwmark(u32),
    /// `virtual_server group NAME`.
    Group(String),
}

/// A service's identity: its name and protocol (one address may have a TCP and a UDP
/// service, as in IPVS).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServiceId {
    /// As configured.
    pub key: ServiceKey,
    /// `protocol`.
    pub protocol: Protocol,
}

impl fmt::Display for ServiceId {
    /// keepalived's notation of its FIFO lines and logs: `[10.0.0.1]:tcp:80`, `FWM 5`,
    /// `group NAME`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            ServiceKey::Socket(sa) => {
                write!(f, "[{}]:{}:{}", sa.ip(), self.protocol.name(), sa.port())
            }
            ServiceKey::Fwmark(mark) => write!(f, "FWM {mark}"),
            ServiceKey::Group(name) => write!(f, "group {name}"),
        }
    }
}

/// A real server's identity within its service (`real_server IP [PORT]`; without a port, the
/// service's own port, as in keepalived).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RealServerKey {
    /// Its address.
    pub addr: IpAddr,
    /// Its port (0 for a fwmark service without one: the packet's own port).
    pub port: u16,
}

impl fmt::Display for RealServerKey {
    /// keepalived's notation: `[192.168.1.10]:80`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]:{}", self.addr, self.port)
    }
}

/// `persistence_timeout` and `persistence_granularity`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Persistence {
    /// How long a client stays with its server after its last connection (default 360 s
    /// when the keyword has no value).
    pub timeout: Duration,
    /// The prefix length of the client address that counts (`persistence_granularity`;
    /// 32 or 128, the whole address, when not given).
    pub granularity: Option<u8>,
}

/// `sorry_server IP [PORT]`: where traffic goes while the quorum is lost.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct SorryServer {
    /// Its address and port (the service's port when not given).
    pub key: RealServerKey,
    /// `sorry_server_lvs_method` (the service's when not given).
    pub forwarding: Forwarding,
    /// `sorry_server_inhibit`: when the quorum comes back, weight 0 instead of removal.
    pub inhibit: bool,
}

/// One `real_server` as the core runs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealServerSpec {
    /// Address and port.
    pub key: RealServerKey,
    /// `weight` (default 1; 0 is a valid weight: no new connections).
    pub weight: u32,
    /// `lvs_method` (the service's when not given).
    pub forwarding: Forwarding,
    /// `inhibit_on_failure`: a failed server keeps its connections at weight 0 instead of
    /// being removed.
    pub inhibit_on_failure: bool,
    /// `uthreshold` (0: none): IPVS stops sending it new connections above this count.
    pub upper_threshold: u32,
    /// `lthreshold` (0: none).
    pub lower_threshold: u32,
    /// `alpha`: starts down until its checkers pass (else up until they fail).
    pub alpha: bool,
    /// Whether `notify_up` / `notify_down` scripts are configured (the core tells the driver
    /// when to run them; the driver holds the commands).
    pub has_notify: bool,
    /// Its checkers, all of which must pass (AND-ed).
    pub checkers: Vec<CheckerSpec>,
}

/// One `virtual_server` as the core runs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSpec {
    /// Its identity.
    pub id: ServiceId,
    /// The addresses it matches (one for `IP PORT` and `fwmark N`, the group's for `group`).
    pub addrs: Vec<ServiceAddr>,
    /// `lvs_sched` (default `wlc`, as IPVS).
    pub scheduler: Scheduler,
    /// Scheduler flags.
    pub flags: SchedulerFlags,
    /// `lvs_method`: the default of its real servers.
    pub forwarding: Forwarding,
    /// `persistence_timeout` and `persistence_granularity`.
    pub persistence: Option<Persistence>,
    /// `quorum` (default 1): the live weight needed for the service to be up.
    pub quorum: u32,
    /// `hysteresis` (default 0): up at quorum + hysteresis, down below quorum - hysteresis.
    pub hysteresis: u32,
    /// `sorry_server`.
    pub sorry_server: Option<SorryServer>,
    /// `omega`: at shutdown, the down notifications run (and `quorum_down`).
    pub omega: bool,
    /// `ha_suspend`: checks and the service only while this node holds the VIP.
    pub ha_suspend: bool,
    /// Its real servers, in configuration order.
    pub real_servers: Vec<RealServerSpec>,
}

/// Every virtual service of a configuration.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct BalancerSpec {
    /// The services, in configuration order.
    pub services: Vec<ServiceSpec>,
}
