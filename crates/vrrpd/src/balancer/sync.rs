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

    /// At start: stale daemons stopped; without `inst` keepalived then runs both sides for
    /// good, vrrpd the Master side only (docs/differences.md). With `inst` the instance's
    /// first transition (out of Init) starts it.
    pub(super) fn start(&mut self, data_path: &mut dyn DataPath) {
        let Some(plan) = &self.plan else { return };
        // A killed run's daemons keep running in the kernel, and starting one again would
        // fail (EEXIST): keepalived stops both at start, so does this.
        if let Err(e) = data_path.set_sync_daemon(None, &plan.daemon) {
            warn!("lvs_sync_daemon: cannot stop a previous run's sync daemon: {e}");
        }
        if plan.follow.is_none() {
            info!("lvs_sync_daemon without inst: the master side only (keepalived runs both)");
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

#[cfg(test)]
mod tests {
    use vrrp_dataplane::{DataPathError, Stats, SyncDaemon};
    use vrrp_lb::dataplane::{Change, DataPathKind, DesiredState};

    use super::*;

    /// Records the roles asked of it.
    #[derive(Default)]
    struct Recorder(Vec<Option<SyncRole>>);

    impl DataPath for Recorder {
        fn kind(&self) -> DataPathKind {
            DataPathKind::Ipvs
        }
        fn apply(&mut self, _: &DesiredState, _: &[Change]) -> Result<(), DataPathError> {
            Ok(())
        }
        fn stats(&mut self) -> Result<Stats, DataPathError> {
            Ok(Stats::default())
        }
        fn shutdown(&mut self, _: bool) -> Result<(), DataPathError> {
            Ok(())
        }
        fn set_sync_daemon(
            &mut self,
            role: Option<SyncRole>,
            _: &SyncDaemon,
        ) -> Result<(), DataPathError> {
            self.0.push(role);
            Ok(())
        }
    }

    fn plan(follow: Option<&str>) -> SyncPlan {
        SyncPlan {
            daemon: SyncDaemon {
                interface: "eth1".into(),
                sync_id: 51,
                max_len: None,
                port: None,
                ttl: None,
                group: None,
            },
            follow: follow.map(Into::into),
        }
    }

    #[test]
    fn the_role_follows_the_instance_and_stops_at_shutdown() {
        let mut dp = Recorder::default();
        let mut sync = SyncState::new(Some(plan(Some("VI_1"))));
        sync.start(&mut dp);
        // A killed run's daemons are stopped; nothing runs until the first transition.
        assert_eq!(dp.0, [None]);
        dp.0.clear();
        sync.instance_state(&mut dp, false);
        sync.instance_state(&mut dp, false);
        sync.instance_state(&mut dp, true);
        sync.instance_state(&mut dp, false);
        sync.stop(&mut dp);
        let (m, b) = (Some(SyncRole::Master), Some(SyncRole::Backup));
        assert_eq!(dp.0, [b, m, b, None]);
    }

    #[test]
    fn without_inst_the_master_side_runs_from_the_start() {
        let mut dp = Recorder::default();
        let mut sync = SyncState::new(Some(plan(None)));
        sync.start(&mut dp);
        sync.instance_state(&mut dp, false);
        sync.stop(&mut dp);
        assert_eq!(dp.0, [None, Some(SyncRole::Master), None]);
        let mut dp = Recorder::default();
        let mut none = SyncState::new(None);
        none.start(&mut dp);
        none.instance_state(&mut dp, true);
        none.stop(&mut dp);
        assert!(dp.0.is_empty());
    }
}
