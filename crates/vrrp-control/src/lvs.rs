//! The load balancer's documents: `lvs` (every virtual service, like `ipvsadm -Ln --stats`)
//! and the operator's real-server actions (`rs`).

use serde::{Deserialize, Serialize};

/// What an operator does to a real server (`vrrpctl rs ACTION VS RS`), without a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum RsAction {
    /// A weight that holds until `enable` or a reload that changes the server.
    Weight {
        /// The weight.
        weight: u32,
    },
    /// Weight 0: no new connections, established ones kept.
    Drain,
    /// Out of the data path, as if its checks failed without `inhibit_on_failure`.
    Disable,
    /// Back to its configured weight and its checks' verdict.
    Enable,
}

impl RsAction {
    /// The action's name on the wire and on `vrrpctl`'s command line.
    pub fn name(self) -> &'static str {
        match self {
            RsAction::Weight { .. } => "weight",
            RsAction::Drain => "drain",
            RsAction::Disable => "disable",
            RsAction::Enable => "enable",
        }
    }
}

/// Traffic counters of a service or real server, as the data path counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Traffic {
    /// Connections scheduled (new flows) since the data path was set up.
    pub connections: u64,
    /// Connections open now, where the data path knows (null otherwise).
    pub active_connections: Option<u64>,
    /// Packets from clients.
    pub packets: u64,
    /// Bytes from clients.
    pub bytes: u64,
}

/// One checker of a real server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LvsChecker {
    /// keepalived's keyword (`HTTP_GET`, `TCP_CHECK`, ...).
    pub kind: String,
    /// Whether it passes now.
    pub up: bool,
    /// Failed attempts in a row.
    pub failures: u32,
    /// The last failure, as a sentence (null when it never failed).
    pub last_error: Option<String>,
    /// How long the last probe took, in milliseconds (null before the first).
    pub latency_ms: Option<f64>,
    /// Probes run.
    pub probes: u64,
}

/// One real server (or the sorry server) of a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LvsRealServer {
    /// `[IP]:PORT`.
    pub address: String,
    /// `Masq`, `Route` or `Tunnel`, as `ipvsadm -Ln`.
    pub forwarding: String,
    /// Its configured weight.
    pub configured_weight: u32,
    /// Its weight in the data path (null when it is not in the data path).
    pub weight: Option<u32>,
    /// Whether its checks pass (all of them).
    pub up: bool,
    /// The operator's action in force (`weight 5`, `drain`, `disable`), if any.
    pub operator: Option<String>,
    /// Whether this is the service's sorry server.
    pub sorry_server: bool,
    /// Its checkers.
    pub checkers: Vec<LvsChecker>,
    /// Its traffic.
    pub traffic: Traffic,
}

/// One virtual service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LvsService {
    /// keepalived's notation: `[10.0.0.1]:tcp:80`, `FWM 5`, `group NAME`.
    pub service: String,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    /// The scheduler (`rr`, `wrr`, ...).
    pub scheduler: String,
    /// Client stickiness in seconds, if any.
    pub persistence_s: Option<u64>,
    /// The configured quorum.
    pub quorum: u32,
    /// The hysteresis around it.
    pub hysteresis: u32,
    /// Whether the service has its quorum.
    pub quorum_up: bool,
    /// The sum of the weights of the live real servers.
    pub live_weight: u32,
    /// `ha_suspend` and this node does not hold the address: no checks, not in the data
    /// path.
    pub suspended: bool,
    /// The real servers (and the sorry server, marked).
    pub real_servers: Vec<LvsRealServer>,
    /// Its traffic.
    pub traffic: Traffic,
}

/// The `lvs` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LvsStatus {
    /// The data path in use (`nftables`, `ipvs`), and why it was chosen.
    pub data_path: String,
    /// The services, in configuration order.
    pub services: Vec<LvsService>,
    /// The VIPs of `bgp_announce` services, in address order (absent without any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub announcements: Vec<crate::BgpAnnouncement>,
}
