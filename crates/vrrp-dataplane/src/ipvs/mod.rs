//! The IPVS data path: the kernel's IP Virtual Server programmed over generic netlink
//! (family `IPVS`, include/uapi/linux/ip_vs.h).

use std::net::IpAddr;

use vrrp_lb::dataplane::{Change, DataPathKind, DesiredState};

use crate::{DataPath, DataPathError, Stats};

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

/// The IPVS data path.
#[derive(Debug)]
pub struct Ipvs {
    _options: IpvsOptions,
}

impl Ipvs {
    /// Resolves the family `IPVS` (which loads the module) and applies `options`.
    pub fn open(options: IpvsOptions) -> Result<Ipvs, DataPathError> {
        ipvs_available().map_err(DataPathError::Library)?;
        Ok(Ipvs { _options: options })
    }
}

/// Whether this kernel has IPVS (the error says why not).
pub fn ipvs_available() -> Result<(), String> {
    Err("this kernel has no IPVS (not implemented yet)".into())
}

fn unsupported() -> DataPathError {
    DataPathError::Unsupported {
        kind: DataPathKind::Ipvs.name(),
        what: "not implemented yet".into(),
    }
}

impl DataPath for Ipvs {
    fn kind(&self) -> DataPathKind {
        DataPathKind::Ipvs
    }

    fn apply(&mut self, _desired: &DesiredState, _changes: &[Change]) -> Result<(), DataPathError> {
        Err(unsupported())
    }

    fn stats(&mut self) -> Result<Stats, DataPathError> {
        Err(unsupported())
    }

    fn shutdown(&mut self, _keep: bool) -> Result<(), DataPathError> {
        Ok(())
    }

    fn set_sync_daemon(
        &mut self,
        _role: Option<SyncRole>,
        _daemon: &SyncDaemon,
    ) -> Result<(), DataPathError> {
        Err(unsupported())
    }
}
