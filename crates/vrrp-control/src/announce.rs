//! The BGP announcements of `bgp_announce` services (`lvs`, `announce`): which VIPs this
//! node announces through FRR, and the operator's maintenance of one.

use serde::{Deserialize, Serialize};

/// `vrrpctl announce drain|restore VIP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnnounceAction {
    /// Withdraw the VIP and keep it withdrawn (maintenance), whatever its quorum.
    Drain,
    /// End the maintenance: announced again while its services have their quorum.
    Restore,
}

impl AnnounceAction {
    /// The action's name on the wire and on `vrrpctl`'s command line.
    pub fn name(self) -> &'static str {
        match self {
            AnnounceAction::Drain => "drain",
            AnnounceAction::Restore => "restore",
        }
    }
}

/// One announced VIP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgpAnnouncement {
    /// The address.
    pub vip: String,
    /// Its route is in the announce table: FRR announces it.
    pub announced: bool,
    /// Why it is withdrawn: `no-quorum`, `maintenance` or `draining` (null when announced).
    pub withheld: Option<String>,
    /// The services that have it, in `lvs` notation.
    pub services: Vec<String>,
    /// Times it was announced or withdrawn since the daemon started.
    pub transitions: u64,
    /// The last error installing or removing its route, if the kernel refused.
    pub error: Option<String>,
}
