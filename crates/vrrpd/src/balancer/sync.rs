//! `lvs_sync_daemon`: the kernel's IPVS connection sync daemon, Master on the node whose
//! VRRP instance is Master, Backup on the others, so that a new Master already has the
//! connections of the old one (ipvs(7) "connection synchronization"). Switched on the load
//! balancer's thread: the protocol thread only sends the instance's state.

use tracing::{info, warn};
use vrrp_dataplane::{DataPath, SyncRole};

use super::plan::SyncPlan;

/// What runs now.
pub(super) struct SyncState {
    plan: Option<SyncPlan>,
    /// The role the kernel runs (`None`: stopped).
    role: Option<SyncRole>,
}

impl SyncState {
    pub(super) fn new(plan: Option<SyncPlan>) -> SyncState {
        SyncState { plan, role: None }
    }

    /// At start. keepalived stops what a killed run left first; without `inst` it runs
    /// both sides for good, vrrpd the Master side only (docs/differences.md). With `inst`
    /// the instance's first transition (out of Init) starts it.
    pub(super) fn start(&mut self, data_path: &mut dyn DataPath) {
        let Some(plan) = &self.plan else { return };
        if let Err(e) = data_path.set_sync_daemon(None, &plan.daemon) {
            warn!("lvs_sync_daemon: cannot stop a previous run's sync daemon: {e}");
        }
        if plan.follow.is_none() {
            self.set(data_path, Some(SyncRole::Master));
        }
    }

    /// The followed instance became Master (`master`) or left it.
    pub(super) fn instance_state(&mut self, data_path: &mut dyn DataPath, master: bool) {
        if self.plan.as_ref().is_some_and(|p| p.follow.is_some()) {
            let role = if master {
                SyncRole::Master
            } else {
                SyncRole::Backup
            };
            self.set(data_path, Some(role));
        }
    }

    /// At shutdown: the daemon stops with vrrpd, as keepalived's does.
    pub(super) fn stop(&mut self, data_path: &mut dyn DataPath) {
        if self.role.is_some() {
            self.set(data_path, None);
        }
    }

    fn set(&mut self, data_path: &mut dyn DataPath, role: Option<SyncRole>) {
        let Some(plan) = &self.plan else { return };
        if role == self.role {
            return;
        }
        let d = &plan.daemon;
        match data_path.set_sync_daemon(role, d) {
            Ok(()) => {
                match role {
                    Some(r) => info!(
                        "lvs_sync_daemon: {r:?} on {} (sync id {})",
                        d.interface, d.sync_id
                    ),
                    None => info!("lvs_sync_daemon: stopped"),
                }
                self.role = role;
            }
            // The data path keeps working without it; the next transition tries again.
            Err(e) => warn!("lvs_sync_daemon: cannot switch to {role:?}: {e}"),
        }
    }
}
