//! `dynamic_interfaces`: an instance whose interface does not exist at start waits for it
//! instead of stopping the start, and starts when a link or address event shows the
//! interface ready (as a reload adds an instance). Until then it is not running: `vrrpctl status` does not list it
//! (keepalived shows it in Fault). An interface deleted while vrrpd runs puts its instances
//! in Fault (link down); with `dynamic_interfaces` they then stop and wait for it again.
//! Re-created (a new index), with or without the option, its instances start again on it:
//! new sockets, addresses and index, as keepalived does.

use anyhow::Result;
use tracing::{info, warn};
use vrrp_config::{Config, VrrpInstance};
use vrrp_linux::SysctlGuard;
use vrrp_linux::netlink::Netlink;

use crate::reload::Reloader;
use crate::{clock, daemon, setup, tracking};

/// The instances whose interface is missing now, when `dynamic_interfaces` is set (without
/// it the start stops at the first one, as before).
pub(crate) async fn missing(nl: &Netlink, config: &Config) -> Result<Vec<String>> {
    let mut out = Vec::new();
    if !config.global.vrrp_net.dynamic_interfaces {
        return Ok(out);
    }
    for i in &config.instances {
        if nl.link_by_name(&i.interface).await?.is_none() {
            warn!(
                "{}: interface {} does not exist; the instance waits for it (dynamic_interfaces)",
                i.name, i.interface
            );
            out.push(i.name.clone());
        }
    }
    Ok(out)
}

/// `config` without the instances named in `waiting`.
pub(crate) fn without(config: &Config, waiting: &[String]) -> Config {
    let mut c = config.clone();
    c.instances.retain(|i| !waiting.contains(&i.name));
    c
}

impl Reloader {
    /// Whether a link event for `interface` may start or stop instances: one waits for it,
    /// or one runs on it (re-created with another index, it is started again there).
    pub(crate) fn follows(&self, interface: &str) -> bool {
        let config = self.config.borrow();
        let waits = self.waiting.borrow().iter().any(|name| {
            config
                .instances
                .iter()
                .any(|i| &i.name == name && i.interface == interface)
        });
        waits
            || self
                .engine
                .borrow()
                .routers
                .iter()
                .any(|r| r.plan.config.interface == interface)
    }

    /// Whether `link` is a new interface under the name of an instance's (deleted and
    /// re-created: another index), which the instance does not use yet.
    pub(crate) fn stale(&self, link: &vrrp_linux::netlink::Link) -> bool {
        self.engine
            .borrow()
            .routers
            .iter()
            .any(|r| r.plan.config.interface == link.name && r.plan.ifindex != link.index)
    }

    /// The interfaces the waiting instances wait for.
    pub(crate) fn waited_for(&self) -> Vec<String> {
        let config = self.config.borrow();
        let waiting = self.waiting.borrow();
        let mut out: Vec<String> = config
            .instances
            .iter()
            .filter(|i| waiting.contains(&i.name))
            .map(|i| i.interface.clone())
            .collect();
        out.dedup();
        out
    }

    /// A link event for `interface`: its instances stop and wait if it was re-created
    /// (their sockets and addresses name the old index) or, with `dynamic_interfaces`,
    /// deleted (without it they stay, in Fault, until it is back); the waiting ones start
    /// if it exists now.
    pub(crate) async fn follow_interface(&self, interface: &str) {
        {
            let _serial = self.serial.lock().await;
            let link = match self.nl.link_by_name(interface).await {
                Ok(link) => link,
                Err(e) => {
                    warn!("cannot look up interface {interface}: {e}");
                    return;
                }
            };
            let dynamic = self.config.borrow().global.vrrp_net.dynamic_interfaces;
            let mut engine = self.engine.borrow_mut();
            let stale: Vec<usize> = engine
                .routers
                .iter()
                .enumerate()
                .filter(|(_, r)| {
                    r.plan.config.interface == interface
                        && link.as_ref().map_or(dynamic, |l| l.index != r.plan.ifindex)
                })
                .map(|(i, _)| i)
                .collect();
            for i in stale.into_iter().rev() {
                if let Some(plan) = engine.remove_router(i, clock::now(), false) {
                    match &link {
                        None => info!(
                            "{}: interface {interface} is gone; the instance waits for it again",
                            plan.config.name
                        ),
                        Some(l) => info!(
                            "{}: interface {interface} was re-created (index {} now {}); the instance starts again on it",
                            plan.config.name, plan.ifindex, l.index
                        ),
                    }
                    self.waiting.borrow_mut().push(plan.config.name);
                }
            }
        }
        self.start_waiting(interface).await;
    }

    /// A link event for `interface`: starts the instances waiting for it, if it exists now.
    /// One that cannot start yet (an IPv6 interface without its link-local address, say)
    /// keeps waiting for the next event.
    pub(crate) async fn start_waiting(&self, interface: &str) {
        // Not while a reload changes the instances.
        let _serial = self.serial.lock().await;
        match self.nl.link_by_name(interface).await {
            Ok(Some(_)) => {}
            Ok(None) => return,
            Err(e) => {
                warn!("cannot look up interface {interface}: {e}");
                return;
            }
        }
        let config = self.config.borrow().clone();
        let names: Vec<String> = self.waiting.borrow().clone();
        for instance in config
            .instances
            .iter()
            .filter(|i| i.interface == interface && names.contains(&i.name))
        {
            if self.engine.borrow().index_of(&instance.name).is_some() {
                continue;
            }
            if let Err(e) = self.start_instance(&config, instance).await {
                warn!("{}: cannot start yet: {e}", instance.name);
                continue;
            }
            self.waiting.borrow_mut().retain(|n| n != &instance.name);
            info!(
                "{}: interface {interface} appeared; the instance started",
                instance.name
            );
        }
    }

    /// Prepares and starts `instance` of `config` (as a reload adds one).
    async fn start_instance(&self, config: &Config, instance: &VrrpInstance) -> Result<(), String> {
        let (c, inst) = (config.clone(), instance.clone());
        let extras = tokio::task::spawn_blocking(move || {
            setup::extras(&c, &inst, &tracking::Scripts::new(&c.global))
        })
        .await
        .map_err(|e| e.to_string())??;
        let mut sysctls = SysctlGuard::new();
        let mut host = crate::host::Host::default();
        let plan =
            setup::prepare_instance(&self.nl, &mut host, instance, extras, &mut sysctls).await;
        self.sysctls.borrow_mut().push(sysctls);
        let plan = plan.map_err(|e| format!("{e:#}"))?;
        let opened = {
            let mut engine = self.engine.borrow_mut();
            let opened = engine.add_router(plan).map_err(|e| e.to_string())?;
            let i = engine.routers.len() - 1;
            engine.start_router(i, clock::now());
            opened
        };
        if let Some(index) = opened {
            daemon::spawn_receiver(&self.engine, index).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}
