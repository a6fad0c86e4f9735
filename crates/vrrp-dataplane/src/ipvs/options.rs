//! How the IPVS data path is set up, and its sync daemon's settings (keepalived's
//! `lvs_flush`, `lvs_flush_on_stop`, `lvs_timeouts`, `lvs_sync_daemon`).

use std::net::IpAddr;

/// `lvs_flush_on_stop`: what the data path removes when the daemon stops.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum IpvsFlushOnStop {
    /// Nothing beyond what [`DataPath::shutdown`] removes.
    #[default]
    Off,
    /// Every IPVS service, this daemon's or not.
    All,
    /// The services this data path created.
    Own,
}

/// `lvs_timeouts`: IPVS's connection timeouts in seconds (`None`: left as they are).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct IpvsTimeouts {
    /// Established TCP connections.
    pub tcp: Option<u32>,
    /// TCP connections after a FIN.
    pub tcpfin: Option<u32>,
    /// UDP flows.
    pub udp: Option<u32>,
}

/// How the IPVS data path is set up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IpvsOptions {
    /// `lvs_flush`: remove every IPVS service when opening.
    pub flush: bool,
    /// `lvs_flush_on_stop`.
    pub flush_on_stop: IpvsFlushOnStop,
    /// `lvs_timeouts`, set when opening.
    pub timeouts: IpvsTimeouts,
}

/// The IPVS connection synchronisation daemon (`lvs_sync_daemon`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncDaemon {
    /// The interface its multicast goes through.
    pub interface: String,
    /// `id`: the sync ID, 0..=255.
    pub sync_id: u8,
    /// `maxlen`: the largest sync message.
    pub max_len: Option<u16>,
    /// `port`: the UDP port (IPVS's default 8848).
    pub port: Option<u16>,
    /// `ttl` of the multicast.
    pub ttl: Option<u8>,
    /// `group`: the multicast group (IPVS's default 224.0.0.81).
    pub group: Option<IpAddr>,
}

/// Which side of the connection synchronisation this node runs.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SyncRole {
    /// Sends its connections.
    Master,
    /// Receives the master's.
    Backup,
}
