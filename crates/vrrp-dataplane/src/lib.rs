//! The load balancer's data paths: what turns `vrrp_lb`'s desired state into kernel state.
//!
//! [`DataPath`] is the interface the daemon drives. [`Nftables`] is its nftables
//! implementation: the tables `inet vrrpd_lb` (NAT) and `netdev vrrpd_lb_dr` (direct
//! routing), changed only by atomic transactions through libnftables in-process. [`Ipvs`]
//! programs the kernel's IP Virtual Server over generic netlink. See `docs/dataplane.md`.
#![deny(unsafe_code)]

mod conntrack;
mod dr;
mod drscript;
#[allow(unsafe_code)]
mod ifname;
mod ipvs;
#[allow(unsafe_code)]
mod libnft;
mod nftables;
mod route;
mod script;
mod slots;
mod stats;
mod validate;

use std::collections::BTreeMap;

pub use ipvs::{
    Ipvs, IpvsDestEntry, IpvsEntry, IpvsFlushOnStop, IpvsOptions, IpvsTimeouts, SyncDaemon,
    SyncRole, ipvs_available,
};
pub use nftables::{NftOptions, Nftables};
pub use vrrp_lb::dataplane::DataPathKind;
use vrrp_lb::dataplane::{Change, DesiredState};
use vrrp_lb::spec::{RealServerKey, ServiceId};

/// What a data path could not do. An error from [`DataPath::apply`] leaves the kernel as it
/// was, except [`DataPathError::Conntrack`], which comes after the change was committed, and
/// an [`DataPathError::Ipvs`] error that says its undoing failed too.
#[derive(Debug, thiserror::Error)]
pub enum DataPathError {
    /// The desired state asks for something this data path cannot do (a scheduler, a
    /// forwarding method, a protocol, a mix of families).
    #[error("not supported by the {kind} data path: {what}")]
    Unsupported {
        /// The data path.
        kind: &'static str,
        /// What, and why.
        what: String,
    },
    /// The changes do not lead from the installed state to the desired one.
    #[error("inconsistent change set: {0}")]
    Inconsistent(String),
    /// The data path's library cannot be used.
    #[error("{0}")]
    Library(String),
    /// nftables refused the transaction (nothing was changed).
    #[error("nftables refused the change: {0}")]
    Nft(String),
    /// Connections of a removed destination could not be ended (the change itself is
    /// applied).
    #[error("{0}")]
    Conntrack(String),
    /// IPVS refused a request or could not be reached (what was asked, and the kernel's
    /// error). From [`DataPath::apply`], the commands it had already sent were undone,
    /// unless the message says that undoing failed too.
    #[error("IPVS: {0}")]
    Ipvs(String),
    /// The data path was shut down.
    #[error("the data path is shut down")]
    Closed,
}

/// Counters of a destination, or of a service (the sum of its destinations').
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Connections scheduled to it.
    pub connections: u64,
    /// Packets of those connections, both directions.
    pub packets: u64,
    /// Bytes of those packets (IP headers included).
    pub bytes: u64,
}

impl std::ops::AddAssign for Counters {
    fn add_assign(&mut self, other: Counters) {
        self.connections += other.connections;
        self.packets += other.packets;
        self.bytes += other.bytes;
    }
}

/// Counters of a service and its destinations.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceStats {
    /// The sum over its present destinations.
    pub total: Counters,
    /// Per destination.
    pub destinations: BTreeMap<RealServerKey, Counters>,
}

/// Counters of every installed service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Per service.
    pub services: BTreeMap<ServiceId, ServiceStats>,
}

/// A load-balancing data path.
pub trait DataPath: Send {
    /// Which one it is.
    fn kind(&self) -> DataPathKind;
    /// Installs `desired`, reached from the installed state by `changes`: all or nothing.
    fn apply(&mut self, desired: &DesiredState, changes: &[Change]) -> Result<(), DataPathError>;
    /// Connections, packets and bytes per service and destination.
    fn stats(&mut self) -> Result<Stats, DataPathError>;
    /// Removes the data path's kernel state, unless `keep` (a restart that takes over).
    fn shutdown(&mut self, keep: bool) -> Result<(), DataPathError>;
    /// Starts the connection synchronisation daemon in `role` (stopping the other role
    /// first), or stops it (`None`). Only IPVS has one.
    fn set_sync_daemon(
        &mut self,
        role: Option<SyncRole>,
        daemon: &SyncDaemon,
    ) -> Result<(), DataPathError> {
        let _ = (role, daemon);
        Err(DataPathError::Unsupported {
            kind: self.kind().name(),
            what: "a connection synchronisation daemon (lvs_sync_daemon) needs IPVS".into(),
        })
    }
}
