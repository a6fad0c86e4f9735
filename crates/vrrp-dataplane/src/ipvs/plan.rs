//! The IPVS commands of a change set, each with the commands that undo it.
//!
//! IPVS has no transactions: [`super::Ipvs`] sends the commands one by one and, when one
//! fails, sends the undo commands of those already done, newest first.

use std::collections::BTreeMap;

use vrrp_lb::dataplane::{Change, DesiredState, Service, apply};
use vrrp_lb::spec::{RealServerKey, ServiceId};

use super::dest::VsDest;
use super::message::{Cmd, CmdAttr, IpvsMessage};
use super::model::{VsKey, VsSettings};
use super::validate::keys;
use crate::DataPathError;

/// One IPVS command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    NewService(VsKey, VsSettings),
    SetService(VsKey, VsSettings),
    DelService(VsKey),
    NewDest(VsKey, VsDest),
    SetDest(VsKey, VsDest),
    DelDest(VsKey, VsDest),
}

impl Op {
    /// The request.
    pub(crate) fn message(&self) -> IpvsMessage {
        let (cmd, attrs) = match self {
            Op::NewService(k, s) => (Cmd::NewService, vec![CmdAttr::Service(s.attrs(k))]),
            Op::SetService(k, s) => (Cmd::SetService, vec![CmdAttr::Service(s.attrs(k))]),
            Op::DelService(k) => (Cmd::DelService, vec![CmdAttr::Service(k.attrs())]),
            Op::NewDest(k, d) => (Cmd::NewDest, dest_attrs(k, d.attrs())),
            Op::SetDest(k, d) => (Cmd::SetDest, dest_attrs(k, d.attrs())),
            Op::DelDest(k, d) => (Cmd::DelDest, dest_attrs(k, d.id_attrs())),
        };
        IpvsMessage::new(cmd, attrs)
    }

    /// What it does, for an error message.
    pub(crate) fn describe(&self) -> String {
        match self {
            Op::NewService(k, s) => format!("adding the service {k} ({})", s.scheduler),
            Op::SetService(k, s) => format!("changing the service {k} ({})", s.scheduler),
            Op::DelService(k) => format!("removing the service {k}"),
            Op::NewDest(k, d) => format!("adding {} to {k}", dest_name(d)),
            Op::SetDest(k, d) => format!("changing {} of {k}", dest_name(d)),
            Op::DelDest(k, d) => format!("removing {} from {k}", dest_name(d)),
        }
    }
}

fn dest_name(d: &VsDest) -> RealServerKey {
    RealServerKey {
        addr: d.addr,
        port: d.port,
    }
}

fn dest_attrs(key: &VsKey, dest: Vec<super::attrs::DestAttr>) -> Vec<CmdAttr> {
    vec![CmdAttr::Service(key.attrs()), CmdAttr::Dest(dest)]
}

/// A command and its undo commands, in the order to send them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Step {
    pub(crate) op: Op,
    pub(crate) undo: Vec<Op>,
}

/// An IPVS service found in the kernel that this data path did not create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Existing {
    pub(crate) settings: VsSettings,
    pub(crate) dests: Vec<VsDest>,
}

/// The steps of `changes`, from `installed` to `desired`. A service to add that already
/// exists (`existing`: left by an earlier run, or made by hand) is adopted: its settings are
/// changed, its destinations that `desired` lacks are removed, the others changed.
pub(crate) fn steps(
    installed: &DesiredState,
    desired: &DesiredState,
    changes: &[Change],
    existing: &BTreeMap<VsKey, Existing>,
) -> Result<Vec<Step>, DataPathError> {
    let mut planner = Planner {
        current: installed.clone(),
        desired,
        existing,
        adopted: BTreeMap::new(),
        out: Vec::new(),
    };
    for change in changes {
        planner.change(change)?;
        apply(&mut planner.current, change);
    }
    // Removals first, so that an address that moves from one service to another is free
    // when it is added (no step before a removal names the removed service).
    planner
        .out
        .sort_by_key(|s| !matches!(s.op, Op::DelService(_)));
    Ok(planner.out)
}

struct Planner<'a> {
    current: DesiredState,
    desired: &'a DesiredState,
    existing: &'a BTreeMap<VsKey, Existing>,
    /// The destinations adopted services had, by key.
    adopted: BTreeMap<(VsKey, RealServerKey), VsDest>,
    out: Vec<Step>,
}

impl Planner<'_> {
    fn push(&mut self, op: Op, undo: Vec<Op>) {
        self.out.push(Step { op, undo });
    }

    fn current(&self, id: &ServiceId) -> Result<(Service, Vec<VsKey>), DataPathError> {
        let service = self.current.services.get(id).cloned().ok_or_else(|| {
            DataPathError::Inconsistent(format!("{id} is changed but not installed"))
        })?;
        let keys = keys(id, &service)?;
        Ok((service, keys))
    }

    fn change(&mut self, change: &Change) -> Result<(), DataPathError> {
        match change {
            Change::AddService(id, service) => {
                for key in keys(id, service)? {
                    self.add_service(id, key, VsSettings::of(service, key.family()));
                }
            }
            Change::EditService(id, new) => self.edit_service(id, new)?,
            Change::RemoveService(id) => {
                let (old, keys) = self.current(id)?;
                for key in keys {
                    let undo = recreate(&key, &old);
                    self.push(Op::DelService(key), undo);
                }
            }
            Change::AddDestination(id, d) => {
                let new = VsDest::of(d);
                for key in self.current(id)?.1 {
                    match self.adopted.get(&(key, d.key)) {
                        Some(old) => {
                            let undo = vec![Op::SetDest(key, *old)];
                            self.push(Op::SetDest(key, new), undo)
                        }
                        None => self.push(Op::NewDest(key, new), vec![Op::DelDest(key, new)]),
                    }
                }
            }
            Change::EditDestination(id, d) => {
                let (service, keys) = self.current(id)?;
                let old = service.destinations.get(&d.key).map(VsDest::of);
                let old = old.ok_or_else(|| {
                    DataPathError::Inconsistent(format!("{id}: {} is not installed", d.key))
                })?;
                for key in keys {
                    self.push(Op::SetDest(key, VsDest::of(d)), vec![Op::SetDest(key, old)]);
                }
            }
            Change::RemoveDestination(id, rs) => {
                let (service, keys) = self.current(id)?;
                if let Some(old) = service.destinations.get(rs).map(VsDest::of) {
                    for key in keys {
                        self.push(Op::DelDest(key, old), vec![Op::NewDest(key, old)]);
                    }
                }
            }
        }
        Ok(())
    }

    fn add_service(&mut self, id: &ServiceId, key: VsKey, settings: VsSettings) {
        let Some(found) = self.existing.get(&key) else {
            self.push(Op::NewService(key, settings), vec![Op::DelService(key)]);
            return;
        };
        let undo = vec![Op::SetService(key, found.settings.clone())];
        self.push(Op::SetService(key, settings), undo);
        let wanted = self.desired.services.get(id);
        for old in &found.dests {
            let rs = dest_name(old);
            if wanted.is_some_and(|s| s.destinations.contains_key(&rs)) {
                self.adopted.insert((key, rs), *old);
            } else {
                self.push(Op::DelDest(key, *old), vec![Op::NewDest(key, *old)]);
            }
        }
    }

    fn edit_service(&mut self, id: &ServiceId, new: &Service) -> Result<(), DataPathError> {
        let (old, old_keys) = self.current(id)?;
        let new_keys = keys(id, new)?;
        for key in old_keys.iter().filter(|k| !new_keys.contains(k)) {
            self.push(Op::DelService(*key), recreate(key, &old));
        }
        for key in &new_keys {
            let (before, after) = (
                VsSettings::of(&old, key.family()),
                VsSettings::of(new, key.family()),
            );
            if !old_keys.contains(key) {
                self.push(Op::NewService(*key, after), vec![Op::DelService(*key)]);
                for d in old.destinations.values().map(VsDest::of) {
                    self.push(Op::NewDest(*key, d), vec![Op::DelDest(*key, d)]);
                }
            } else if before != after {
                self.push(
                    Op::SetService(*key, after),
                    vec![Op::SetService(*key, before)],
                );
            }
        }
        Ok(())
    }
}

/// The commands that bring back the service `key` of `service` with its destinations.
fn recreate(key: &VsKey, service: &Service) -> Vec<Op> {
    let mut ops = vec![Op::NewService(*key, VsSettings::of(service, key.family()))];
    ops.extend(
        service
            .destinations
            .values()
            .map(|d| Op::NewDest(*key, VsDest::of(d))),
    );
    ops
}
