//! The connection synchronisation daemon: NEW_DAEMON and DEL_DAEMON.

use std::net::IpAddr;

use super::message::{Cmd, CmdAttr, DaemonAttr, IpvsMessage};
use super::{SyncDaemon, SyncRole};

/// `IP_VS_STATE_MASTER`, `IP_VS_STATE_BACKUP`.
pub(crate) const MASTER: u32 = 1;
pub(crate) const BACKUP: u32 = 2;

/// The request that starts the daemon in `role`.
pub(crate) fn start(role: SyncRole, d: &SyncDaemon) -> IpvsMessage {
    let state = match role {
        SyncRole::Master => MASTER,
        SyncRole::Backup => BACKUP,
    };
    let mut attrs = vec![
        DaemonAttr::State(state),
        DaemonAttr::McastIfn(d.interface.clone()),
        DaemonAttr::SyncId(d.sync_id.into()),
    ];
    attrs.extend(d.max_len.map(DaemonAttr::SyncMaxLen));
    attrs.extend(d.group.map(|g| match g {
        IpAddr::V4(a) => DaemonAttr::McastGroup(a.octets()),
        IpAddr::V6(a) => DaemonAttr::McastGroup6(a.octets()),
    }));
    attrs.extend(d.port.map(DaemonAttr::McastPort));
    attrs.extend(d.ttl.map(DaemonAttr::McastTtl));
    IpvsMessage::new(Cmd::NewDaemon, vec![CmdAttr::Daemon(attrs)])
}

/// The request that stops the daemon of `state`.
pub(crate) fn stop(state: u32) -> IpvsMessage {
    IpvsMessage::new(
        Cmd::DelDaemon,
        vec![CmdAttr::Daemon(vec![DaemonAttr::State(state)])],
    )
}
