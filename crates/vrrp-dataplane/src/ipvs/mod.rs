//! The IPVS data path: the kernel's IP Virtual Server programmed over generic netlink
//! (family `IPVS`, include/uapi/linux/ip_vs.h). See "The IPVS data path" in
//! docs/dataplane.md.
//!
//! One IPVS service per address of a service (its address and port, each address of a
//! range, or its firewall mark). IPVS has no transactions: [`DataPath::apply`] sends one
//! command after the other and, when one fails, undoes those it already sent (inverse
//! commands, newest first), so that an error leaves the services as they were (a removed
//! destination that is put back has lost its connections).

mod attrs;
mod daemon;
mod dest;
mod listing;
mod message;
mod model;
mod options;
mod plan;
mod socket;
mod validate;

use std::collections::BTreeMap;

use vrrp_lb::dataplane::{Change, DataPathKind, DesiredState, apply};
use vrrp_lb::spec::RealServerKey;

pub use listing::{IpvsDestEntry, IpvsEntry};
pub use options::{IpvsFlushOnStop, IpvsOptions, IpvsTimeouts, SyncDaemon, SyncRole};

use crate::{DataPath, DataPathError, ServiceStats, Stats};
use dest::VsDest;
use message::{Cmd, CmdAttr, IpvsMessage};
use model::{VsKey, VsSettings};
use plan::{Existing, Op, Step};
use socket::{IpvsSocket, NlError};

/// Whether this kernel has IPVS: resolves the generic netlink family `IPVS` (which loads
/// the module); the error says why not.
pub fn ipvs_available() -> Result<(), String> {
    IpvsSocket::open().map(drop).map_err(|e| e.to_string())
}

/// The IPVS data path of the calling thread's network namespace.
///
/// It owns the IPVS services of the state it installed, and no other: services made by
/// hand or by another program are neither changed nor removed, unless the configuration
/// names the same service (then [`DataPath::apply`] adopts it). IPVS cannot mark a service
/// as this daemon's, so a restart after `shutdown(true)` finds its services again this way.
#[derive(Debug)]
pub struct Ipvs {
    socket: IpvsSocket,
    options: IpvsOptions,
    installed: DesiredState,
    sync: Option<(SyncRole, SyncDaemon)>,
    closed: bool,
}

fn ipvs_error(what: &str, e: NlError) -> DataPathError {
    DataPathError::Ipvs(format!("{what}: {e}"))
}

impl Ipvs {
    /// Resolves the family `IPVS` (which loads the module), flushes every IPVS service if
    /// `options.flush`, and sets the connection timeouts given.
    pub fn open(options: IpvsOptions) -> Result<Ipvs, DataPathError> {
        let socket = IpvsSocket::open().map_err(|e| ipvs_error("opening IPVS", e))?;
        let mut me = Ipvs {
            socket,
            options,
            installed: DesiredState::default(),
            sync: None,
            closed: false,
        };
        if me.options.flush {
            me.command(Cmd::Flush, vec![], "flushing IPVS (lvs_flush)")?;
        }
        let t = me.options.timeouts;
        let attrs: Vec<CmdAttr> = [
            t.tcp.map(CmdAttr::TimeoutTcp),
            t.tcpfin.map(CmdAttr::TimeoutTcpFin),
            t.udp.map(CmdAttr::TimeoutUdp),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !attrs.is_empty() {
            me.command(Cmd::SetConfig, attrs, "setting the timeouts (lvs_timeouts)")?;
        }
        Ok(me)
    }

    /// The state installed by the last successful [`DataPath::apply`].
    pub fn installed(&self) -> &DesiredState {
        &self.installed
    }

    fn command(&mut self, cmd: Cmd, attrs: Vec<CmdAttr>, what: &str) -> Result<(), DataPathError> {
        self.socket
            .request(IpvsMessage::new(cmd, attrs))
            .map_err(|e| ipvs_error(what, e))
    }

    /// Sends `op`; removing what is already gone is not an error.
    fn send(&mut self, op: &Op) -> Result<(), NlError> {
        match (self.socket.request(op.message()), op) {
            (Err(NlError::Kernel(libc::ESRCH)), Op::DelService(_))
            | (Err(NlError::Kernel(libc::ENOENT)), Op::DelDest(..)) => Ok(()),
            (result, _) => result,
        }
    }

    /// Every IPVS service in the kernel: its key and settings.
    fn dump_services(&mut self) -> Result<Vec<(VsKey, Option<VsSettings>)>, DataPathError> {
        let all = self
            .socket
            .dump(IpvsMessage::new(Cmd::GetService, vec![]))
            .map_err(|e| ipvs_error("listing the IPVS services", e))?;
        Ok(all
            .iter()
            .filter_map(|m| m.service())
            .filter_map(|s| Some((VsKey::from_attrs(s)?, VsSettings::from_attrs(s))))
            .collect())
    }

    /// The destinations of the service `key`, with their counters.
    fn dump_dests(&mut self, key: &VsKey) -> Result<Vec<(VsDest, crate::Counters)>, DataPathError> {
        let request = IpvsMessage::new(Cmd::GetDest, vec![CmdAttr::Service(key.attrs())]);
        let all = self
            .socket
            .dump(request)
            .map_err(|e| ipvs_error(&format!("listing the destinations of {key}"), e))?;
        let af = model::af_of(key);
        Ok(all
            .iter()
            .filter_map(|m| m.dest())
            .filter_map(|d| Some((VsDest::from_attrs(d, af)?, dest::dest_counters(d))))
            .collect())
    }

    /// The services `desired` adds that exist in the kernel but are not installed.
    fn existing(&mut self, changes: &[Change]) -> Result<BTreeMap<VsKey, Existing>, DataPathError> {
        let mut added = Vec::new();
        for change in changes {
            if let Change::AddService(id, service) = change {
                added.extend(validate::keys(id, service)?);
            }
        }
        // Those of installed services are this data path's own (a service whose identity
        // changed: removed, then added).
        let mut owned = Vec::new();
        for (id, service) in &self.installed.services {
            owned.extend(validate::keys(id, service)?);
        }
        added.retain(|k| !owned.contains(k));
        let mut out = BTreeMap::new();
        if added.is_empty() {
            return Ok(out);
        }
        for (key, settings) in self.dump_services()? {
            let Some(settings) = settings.filter(|_| added.contains(&key)) else {
                continue;
            };
            let dests = self.dump_dests(&key)?.into_iter().map(|(d, _)| d).collect();
            out.insert(key, Existing { settings, dests });
        }
        Ok(out)
    }

    /// Sends the steps; when one fails, undoes those done (newest first) and says what
    /// failed, and what could not be undone.
    fn run(&mut self, steps: &[Step]) -> Result<(), DataPathError> {
        for (done, step) in steps.iter().enumerate() {
            let Err(e) = self.send(&step.op) else {
                continue;
            };
            let mut message = format!("{}: {e}", step.op.describe());
            let mut failed = Vec::new();
            for undo in steps[..done].iter().rev().flat_map(|s| s.undo.iter()) {
                if let Err(e) = self.send(undo) {
                    failed.push(format!("{}: {e}", undo.describe()));
                }
            }
            match failed.is_empty() {
                true => message.push_str(" (the changes before it were undone)"),
                false => {
                    message.push_str("; undoing the changes before it failed too: ");
                    message.push_str(&failed.join("; "));
                }
            }
            return Err(DataPathError::Ipvs(message));
        }
        Ok(())
    }
}

impl DataPath for Ipvs {
    fn kind(&self) -> DataPathKind {
        DataPathKind::Ipvs
    }

    fn apply(&mut self, desired: &DesiredState, changes: &[Change]) -> Result<(), DataPathError> {
        if self.closed {
            return Err(DataPathError::Closed);
        }
        validate::check(desired)?;
        let mut expected = self.installed.clone();
        for change in changes {
            apply(&mut expected, change);
        }
        if expected != *desired {
            return Err(DataPathError::Inconsistent(
                "the changes applied to the installed state do not give the desired state".into(),
            ));
        }
        let existing = self.existing(changes)?;
        let steps = plan::steps(&self.installed, desired, changes, &existing)?;
        self.run(&steps)?;
        self.installed = desired.clone();
        Ok(())
    }

    fn stats(&mut self) -> Result<Stats, DataPathError> {
        if self.closed {
            return Err(DataPathError::Closed);
        }
        let mut out = Stats::default();
        let services = self.installed.services.clone();
        for (id, service) in &services {
            let mut s = ServiceStats::default();
            for key in validate::keys(id, service)? {
                for (dest, counters) in self.dump_dests(&key)? {
                    let rs = RealServerKey {
                        addr: dest.addr,
                        port: dest.port,
                    };
                    if service.destinations.contains_key(&rs) {
                        *s.destinations.entry(rs).or_default() += counters;
                        s.total += counters;
                    }
                }
            }
            out.services.insert(id.clone(), s);
        }
        Ok(out)
    }

    fn shutdown(&mut self, keep: bool) -> Result<(), DataPathError> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        if keep {
            return Ok(());
        }
        let mut failed = Vec::new();
        // The sync daemon this data path started stops with it.
        if self.sync.take().is_some() {
            for state in [daemon::MASTER, daemon::BACKUP] {
                match self.socket.request(daemon::stop(state)) {
                    Ok(()) | Err(NlError::Kernel(libc::ESRCH)) => {}
                    Err(e) => failed.push(format!("stopping the sync daemon: {e}")),
                }
            }
        }
        if self.options.flush_on_stop == IpvsFlushOnStop::All {
            self.installed = DesiredState::default();
            let flush = self.command(Cmd::Flush, vec![], "flushing IPVS (lvs_flush_on_stop)");
            return match failed.is_empty() {
                true => flush,
                false => Err(DataPathError::Ipvs(failed.join("; "))),
            };
        }
        for (id, service) in &self.installed.services.clone() {
            for key in validate::keys(id, service)? {
                let op = Op::DelService(key);
                if let Err(e) = self.send(&op) {
                    failed.push(format!("{}: {e}", op.describe()));
                }
            }
        }
        self.installed = DesiredState::default();
        match failed.is_empty() {
            true => Ok(()),
            false => Err(DataPathError::Ipvs(failed.join("; "))),
        }
    }

    fn set_sync_daemon(
        &mut self,
        role: Option<SyncRole>,
        daemon: &SyncDaemon,
    ) -> Result<(), DataPathError> {
        if self.closed {
            return Err(DataPathError::Closed);
        }
        let wanted = role.map(|r| (r, daemon.clone()));
        if wanted.is_some() && wanted == self.sync {
            return Ok(());
        }
        // One role at a time: the other one (or this one with other settings) stops first.
        for state in [daemon::MASTER, daemon::BACKUP] {
            match self.socket.request(daemon::stop(state)) {
                Ok(()) | Err(NlError::Kernel(libc::ESRCH)) => {}
                Err(e) => return Err(ipvs_error("stopping the sync daemon", e)),
            }
        }
        self.sync = None;
        if let Some(role) = role {
            self.socket
                .request(daemon::start(role, daemon))
                .map_err(|e| ipvs_error("starting the sync daemon", e))?;
            self.sync = wanted;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
