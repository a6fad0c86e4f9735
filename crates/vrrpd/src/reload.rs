//! Reload: read the configuration again and apply the difference, on its own task so
//! that the protocol timer is served meanwhile. Reading and parsing the file, the script
//! security checks and the `nft` run happen on blocking threads, never on the protocol
//! thread.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use tokio::sync::oneshot;
use tracing::{debug, error, info, warn};
use vrrp_config::Config;
use vrrp_control::{ReloadError, ReloadSummary};
use vrrp_linux::SysctlGuard;
use vrrp_linux::netlink::Netlink;

use crate::balancer::{BalancerHandle, BalancerPlan, Message};
use crate::clock;
use crate::engine::Engine;
use crate::host::Host;
use crate::setup::{self, Extras};
use crate::{daemon, tracking};

/// Reload: read the configuration again and apply the difference. An instance whose
/// settings did not change keeps its state, timers and counters; a changed one is updated
/// in place when it is the same virtual router, and re-created otherwise; a removed one
/// leaves gracefully (priority 0, VIPs removed). A configuration that does not load is
/// refused as a whole and the running one stays.
pub(crate) struct Reloader {
    /// The configuration running now.
    pub config: RefCell<Config>,
    pub nl: Netlink,
    pub path: std::path::PathBuf,
    pub engine: Rc<RefCell<Engine>>,
    /// Held by the reload that runs: a reload asked for meanwhile (SIGHUP, `vrrpctl
    /// reload`) waits for it, then reads the file again, so the last request sees the last
    /// file.
    pub serial: tokio::sync::Mutex<()>,
    /// A SIGHUP's reload is queued and has not read the file yet: a later SIGHUP needs no
    /// reload of its own (that one reads the file after it). Without it a storm of
    /// signals queued one reload each, which ran on long after the storm.
    pub signal_queued: Cell<bool>,
    /// Sysctls set for instances that reloads added (restored on exit).
    pub sysctls: RefCell<Vec<SysctlGuard>>,
    /// The load balancer's thread, when `virtual_server`s are configured.
    pub balancer: RefCell<Option<BalancerHandle>>,
    /// The static addresses, routes and rules set now (removed on exit).
    pub statics: RefCell<crate::statics::StaticSet>,
    /// Instances waiting for their interface (`dynamic_interfaces`).
    pub waiting: RefCell<Vec<String>>,
}

impl Reloader {
    /// Reloads; `Ok` with a summary, `Err` with why nothing (or not all) was applied.
    pub(crate) async fn reload(&self) -> Result<ReloadSummary, ReloadError> {
        let serial = self.serial.lock().await;
        self.reload_serial(serial).await
    }

    /// Reloads for a SIGHUP, unless a SIGHUP's reload already waits to start.
    pub(crate) async fn reload_for_signal(&self) {
        if self.signal_queued.replace(true) {
            debug!("SIGHUP: a reload is already queued");
            return;
        }
        info!("SIGHUP: reloading the configuration");
        let serial = self.serial.lock().await;
        // The file is read after every signal that found this reload queued.
        self.signal_queued.set(false);
        let _ = self.reload_serial(serial).await;
    }

    /// The reload itself, once `_serial` is held.
    async fn reload_serial(
        &self,
        _serial: tokio::sync::MutexGuard<'_, ()>,
    ) -> Result<ReloadSummary, ReloadError> {
        // systemd's notify-reload protocol wants the monotonic time with RELOADING=1.
        match sd_notify::NotifyState::monotonic_usec_now() {
            Ok(now) => daemon::systemd(&[sd_notify::NotifyState::Reloading, now]),
            Err(_) => daemon::systemd(&[sd_notify::NotifyState::Reloading]),
        }
        let result = self.apply().await;
        daemon::systemd(&[sd_notify::NotifyState::Ready]);
        match &result {
            Ok(summary) => info!("reload: {summary}"),
            Err(e @ ReloadError::Partial { summary, .. }) => error!("reload {e} ({summary})"),
            Err(ReloadError::Refused(e)) => {
                error!("reload refused, the running configuration stays: {e}")
            }
        }
        result
    }

    /// Applies the configuration file. A sentence error (`?` on `String`) is a refusal:
    /// every one of them happens before anything changed.
    async fn apply(&self) -> Result<ReloadSummary, ReloadError> {
        // Parse off the protocol thread's runtime work: a large file must not delay timers.
        let path = self.path.clone();
        let loaded = tokio::task::spawn_blocking(move || vrrp_config::load(&path))
            .await
            .map_err(|e| format!("cannot read the configuration: {e}"))?;
        let config = match loaded {
            Ok(loaded) => {
                for w in &loaded.warnings {
                    warn!("{w}");
                }
                loaded.config
            }
            Err(errors) => {
                let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
                return Err(ReloadError::Refused(text.join("\n")));
            }
        };

        {
            let running = self.config.borrow();
            if running.scripts != config.scripts
                || running.track_files != config.track_files
                || running.track_processes != config.track_processes
                || running.sync_groups != config.sync_groups
                || running.global.notify_fifo != config.global.notify_fifo
                || running.global.vrrp_notify_fifo != config.global.vrrp_notify_fifo
                || running.global.enable_script_security != config.global.enable_script_security
                || running.global.script_user != config.global.script_user
            {
                return Err(ReloadError::Refused("vrrp_script, track_file, vrrp_track_process, vrrp_sync_group, notify FIFO and script security changes need a restart; reload changes instances only".into()));
            }
            if running.global.lvs != config.global.lvs || running.ssl != config.ssl {
                return Err(ReloadError::Refused(
                    "the lvs_* and lb_dataplane settings of global_defs and the SSL block need a restart; reload changes virtual servers".into(),
                ));
            }
            if running.global.vrrp_net.mcast_group4 != config.global.vrrp_net.mcast_group4
                || running.global.vrrp_net.mcast_group6 != config.global.vrrp_net.mcast_group6
            {
                return Err(ReloadError::Refused(
                    "vrrp_mcast_group4/vrrp_mcast_group6 changes need a restart (the sockets have joined the groups)".into(),
                ));
            }
            // Applied once at start, before the other threads and before privileges drop.
            if running.global.vrrp_sched != config.global.vrrp_sched
                || running.global.checker_sched != config.global.checker_sched
            {
                return Err(ReloadError::Refused(
                    "vrrp_priority, vrrp_rt_priority, vrrp_rlimit_rttime, vrrp_no_swap, vrrp_cpu_affinity, checker_priority and checker_no_swap changes need a restart".into(),
                ));
            }
            if running.virtual_servers.is_empty() && !config.virtual_servers.is_empty() {
                return Err(ReloadError::Refused(
                    "the first virtual_server needs a restart (the load balancer was not started)"
                        .into(),
                ));
            }
            // Only the trackers in use run: a reload that starts using another one needs
            // a restart too.
            let used = |c: &Config| -> std::collections::BTreeSet<vrrp_core::weights::TrackerKey> {
                c.instances
                    .iter()
                    .flat_map(|i| tracking::instance_trackers(c, i))
                    .map(|t| t.key)
                    .collect()
            };
            let (before, after) = (used(&running), used(&config));
            if let Some(new) = after.difference(&before).next() {
                return Err(ReloadError::Refused(format!(
                    "tracker {new} is not running (no instance used it at start); using it needs a restart"
                )));
            }
        }
        let (config, mut extras, balancer_plan) = checked_extras(config).await?;
        if let (Some(handle), Some(plan)) = (self.balancer.borrow().as_ref(), &balancer_plan)
            && handle.kind != plan.data_path
        {
            // Moving every service between data paths under load would drop connections:
            // a restart does it knowingly.
            return Err(ReloadError::Refused(format!(
                "the data path would change from {} to {}: switching data paths needs a restart",
                handle.kind.name(),
                plan.data_path_reason
            )));
        }
        let new_statics = crate::statics::resolve(&self.nl, &config.statics)
            .await
            .map_err(|e| ReloadError::Refused(format!("{e:#}")))?;

        let now = clock::now();
        let mut unchanged = 0;
        let mut updated = Vec::new();
        let mut recreated = Vec::new();
        let mut removed = Vec::new();
        let mut added = Vec::new();
        {
            let engine = self.engine.borrow();
            for r in &engine.routers {
                match config
                    .instances
                    .iter()
                    .find(|n| n.name == r.plan.config.name)
                {
                    None => removed.push(r.plan.config.name.clone()),
                    Some(new) => {
                        let mut same = new.clone();
                        same.location = r.plan.config.location.clone();
                        if same == r.plan.config {
                            unchanged += 1;
                        } else if setup::same_identity(&r.plan.config, new) {
                            updated.push(new.clone());
                        } else {
                            recreated.push(new.clone());
                        }
                    }
                }
            }
            for new in &config.instances {
                if engine.index_of(&new.name).is_none() {
                    added.push(new.clone());
                }
            }
        }
        // dynamic_interfaces: a new instance whose interface is missing waits for it.
        let waiting: Vec<String> = crate::dynamic::missing(&self.nl, &config)
            .await
            .map_err(|e| format!("{e:#}"))?
            .into_iter()
            .filter(|name| added.iter().any(|i| &i.name == name))
            .collect();
        added.retain(|i| !waiting.contains(&i.name));

        // 0. Everything that can fail is checked before anything changes: a refused reload
        //    leaves the running configuration exactly as it was.
        let mut resolved = Vec::new();
        for new in updated.iter() {
            let ifindexes = {
                let engine = self.engine.borrow();
                engine.index_of(&new.name).map(|i| {
                    let plan = &engine.routers[i].plan;
                    (plan.vip_ifindex, plan.announce_ifindex)
                })
            };
            let Some((ifindex, announce_ifindex)) = ifindexes else {
                continue;
            };
            let addresses = setup::resolve_addresses(&self.nl, new, ifindex)
                .await
                .map_err(|e| format!("{}: {e:#}", new.name))?;
            let extra = setup::extra_interfaces(&self.nl, new, announce_ifindex, &addresses)
                .await
                .map_err(|e| format!("{}: {e:#}", new.name))?;
            resolved.push((new.clone(), addresses, extra));
        }
        let mut host = Host::default();
        for new in added.iter().chain(recreated.iter()) {
            setup::check_instance(&self.nl, &mut host, new)
                .await
                .map_err(|e| format!("{}: {e:#}", new.name))?;
        }

        // 1. Leave: removed instances, and the old form of re-created ones.
        for name in removed.iter().chain(recreated.iter().map(|n| &n.name)) {
            let plan = {
                let mut engine = self.engine.borrow_mut();
                let Some(i) = engine.index_of(name) else {
                    continue;
                };
                // Gone from the file: notified FAULT or DELETED (a re-created one: STOP).
                let deleted = removed.contains(name);
                engine.remove_router(i, clock::now(), deleted)
            };
            if let Some(vmac) = plan.and_then(|p| p.vmac) {
                let (done, flushed) = oneshot::channel();
                let _ = self.engine.borrow().queue_flush(done);
                let _ = tokio::time::timeout(std::time::Duration::from_secs(5), flushed).await;
                if let Err(e) = self.nl.delete_link(vmac.ifindex).await {
                    warn!("cannot delete virtual MAC interface {}: {e}", vmac.name);
                }
            }
        }

        // 2. In place: every removal before every addition, so a VIP moves in one reload.
        let (mut all_removed, mut all_added) = (Vec::new(), Vec::new());
        {
            let mut engine = self.engine.borrow_mut();
            engine.set_check_unicast_src(config.global.check_unicast_src);
            for (new, addresses, extra) in resolved {
                let Some(i) = engine.index_of(&new.name) else {
                    continue;
                };
                // garp_extra_if's interfaces go with the addresses (read by update_router).
                engine.routers[i].plan.extra_announce = extra;
                let Some(x) = extras.remove(&new.name) else {
                    continue;
                };
                let (r, a) = engine.update_router(i, now, new, x, addresses);
                all_removed.extend(r);
                all_added.extend(a);
            }
            engine.queue_address_changes(all_removed, all_added);
            engine.clear_operator_priorities(clock::now());
        }

        // 3. Start: new instances, and the new form of re-created ones. They were checked
        //    above; a failure here (the kernel changed meanwhile) is reported, and the other
        //    instances still start.
        let mut sysctls = SysctlGuard::new();
        // Dumped again: step 1 removed addresses.
        let mut host = Host::default();
        let mut failed = Vec::new();
        for new in added.iter().chain(recreated.iter()) {
            let Some(x) = extras.remove(&new.name) else {
                continue;
            };
            let plan =
                match setup::prepare_instance(&self.nl, &mut host, new, x, &mut sysctls).await {
                    Ok(plan) => plan,
                    Err(e) => {
                        failed.push(format!("{}: {e:#}", new.name));
                        continue;
                    }
                };
            let opened = {
                let mut engine = self.engine.borrow_mut();
                match engine.add_router(plan) {
                    Ok(opened) => {
                        let i = engine.routers.len() - 1;
                        engine.start_router(i, clock::now());
                        opened
                    }
                    Err(e) => {
                        failed.push(e.to_string());
                        None
                    }
                }
            };
            if let Some(index) = opened
                && let Err(e) = daemon::spawn_receiver(&self.engine, index)
            {
                failed.push(e.to_string());
            }
        }
        self.sysctls.borrow_mut().push(sysctls);
        let filter_changed =
            setup::no_accept_vips(&self.config.borrow()) != setup::no_accept_vips(&config);
        if filter_changed {
            // `nft` runs on a blocking thread.
            let c = config.clone();
            match tokio::task::spawn_blocking(move || setup::apply_no_accept(&c)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failed.push(format!("{e:#}")),
                Err(e) => failed.push(format!("no_accept: {e}")),
            }
        }
        if let Some(n) = self.engine.borrow().notifier() {
            n.alerts.configure(&config);
        }
        *self.waiting.borrow_mut() = waiting;
        let old_statics = self.statics.replace(new_statics.clone());
        if old_statics != new_statics {
            crate::statics::replace(&self.nl, &old_statics, &new_statics).await;
        }
        *self.config.borrow_mut() = config;
        if let Err(e) = self.reload_balancer(balancer_plan).await {
            failed.push(e);
        }
        let summary = ReloadSummary {
            unchanged,
            updated: updated.len(),
            recreated: recreated.len(),
            removed: removed.len(),
            added: added.len(),
        };
        if !failed.is_empty() {
            return Err(ReloadError::Partial {
                summary,
                failures: failed,
            });
        }
        Ok(summary)
    }
}

impl Reloader {
    /// Hands the new virtual servers to the load balancer's thread (none: every service
    /// leaves) and waits for its summary.
    async fn reload_balancer(&self, plan: Option<BalancerPlan>) -> Result<(), String> {
        let (reply, summary) = oneshot::channel();
        let sent = match self.balancer.borrow().as_ref() {
            None => return Ok(()),
            Some(handle) => handle.send(Message::Reload {
                plan: Box::new(plan.unwrap_or_else(BalancerPlan::empty)),
                reply,
            }),
        };
        if !sent {
            return Err("the load balancer's thread is gone".into());
        }
        match summary.await {
            Ok(text) => {
                info!("reload: load balancer: {text}");
                Ok(())
            }
            Err(_) => Err("the load balancer did not answer the reload".into()),
        }
    }
}

/// What a reload checks before it changes anything.
type Checked = (Config, HashMap<String, Extras>, Option<BalancerPlan>);

/// The trackers and hooks of every instance of `config`, and the load balancer's plan,
/// with the users, executables and script security checked (file system look-ups: on a
/// blocking thread).
async fn checked_extras(config: Config) -> Result<Checked, String> {
    tokio::task::spawn_blocking(move || {
        let scripts = tracking::Scripts::new(&config.global);
        let mut extras = HashMap::new();
        for instance in &config.instances {
            extras.insert(
                instance.name.clone(),
                setup::extras(&config, instance, &scripts)?,
            );
        }
        let plan = BalancerPlan::from_config(&config, &scripts).map_err(|e| format!("{e:#}"))?;
        crate::privileges::allows(crate::privileges::Needs::of(&config, &scripts))?;
        // Not installed: disabled, as at start (a hook is then skipped at each run).
        for w in scripts.missing() {
            tracing::warn!("reload: {w}");
        }
        Ok((config, extras, plan))
    })
    .await
    .map_err(|e| format!("cannot check the scripts: {e}"))?
}
