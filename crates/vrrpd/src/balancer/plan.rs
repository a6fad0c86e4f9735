//! What the load balancer runs, made from the configuration: the core's services, the
//! hooks the driver runs for its events, the data path and the checkers' context.

use std::collections::HashMap;

use anyhow::{Result, bail};
use tracing::{info, warn};
use vrrp_config::Config;
use vrrp_dataplane::DataPath;
use vrrp_lb::Event;
use vrrp_lb::dataplane::DataPathKind;
use vrrp_lb::spec::{BalancerSpec, IpFamily, RealServerKey, ServiceId, ServiceSpec};
use vrrp_track::{Hook, HookScript};

use crate::tracking::Scripts;

/// The scripts of one service.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServiceHooks {
    /// `quorum_up`.
    pub quorum_up: Option<HookScript>,
    /// `quorum_down`.
    pub quorum_down: Option<HookScript>,
    /// `notify_up` and `notify_down` of each real server.
    pub real_servers: HashMap<RealServerKey, (Option<HookScript>, Option<HookScript>)>,
}

/// Every service's scripts.
#[derive(Debug, Clone, Default)]
pub(crate) struct Hooks {
    services: HashMap<ServiceId, ServiceHooks>,
}

impl Hooks {
    /// The hooks `event` runs, each with the queue key that keeps one service's hooks in
    /// order (keepalived runs them with no arguments appended).
    pub(crate) fn for_event(&self, event: &Event) -> Vec<(String, Hook)> {
        let (service, script, label) = match event {
            Event::QuorumUp { service, .. } => {
                let h = self.services.get(service);
                (service, h.and_then(|h| h.quorum_up.as_ref()), "quorum_up")
            }
            Event::QuorumDown { service, .. } => {
                let h = self.services.get(service);
                (
                    service,
                    h.and_then(|h| h.quorum_down.as_ref()),
                    "quorum_down",
                )
            }
            Event::RealServerUp {
                service,
                real_server,
            } => {
                let h = self.real_server(service, real_server);
                (service, h.and_then(|h| h.0.as_ref()), "notify_up")
            }
            Event::RealServerDown {
                service,
                real_server,
                ..
            } => {
                let h = self.real_server(service, real_server);
                (service, h.and_then(|h| h.1.as_ref()), "notify_down")
            }
            _ => return Vec::new(),
        };
        script
            .map(|s| (service.to_string(), Hook::plain(label, s)))
            .into_iter()
            .collect()
    }

    fn real_server(
        &self,
        service: &ServiceId,
        real_server: &RealServerKey,
    ) -> Option<&(Option<HookScript>, Option<HookScript>)> {
        self.services.get(service)?.real_servers.get(real_server)
    }
}

/// The load balancer's part of a configuration.
pub(crate) struct BalancerPlan {
    /// The core's services.
    pub spec: BalancerSpec,
    /// `bgp_announce`: the VIPs announced through FRR.
    pub announce: super::AnnouncePlan,
    /// Their scripts.
    pub hooks: Hooks,
    /// The data path to use.
    pub data_path: DataPathKind,
    /// It, and why it was chosen (for the log and `vrrpctl lvs`).
    pub data_path_reason: String,
    /// What the checkers need.
    pub probe_context: vrrp_check::ProbeContext,
    /// `lb_nat_masquerade`.
    pub masquerade: bool,
}

impl BalancerPlan {
    /// The plan of `config`, or `None` when it has no `virtual_server`. Every script is
    /// checked here (`enable_script_security`), and what the data path cannot do is
    /// refused, located at the keyword.
    pub(crate) fn from_config(config: &Config, scripts: &Scripts) -> Result<Option<BalancerPlan>> {
        if config.virtual_servers.is_empty() {
            return Ok(None);
        }
        let (data_path, data_path_reason) = choose_data_path(config.global.lvs.dataplane);
        // The scripts are checked too when the data path refuses something: all at once.
        // With `lb_dataplane nftables` the configuration's own errors already hold these.
        let mut errors: Vec<String> =
            if config.global.lvs.dataplane == vrrp_config::LbDataplane::Nftables {
                Vec::new()
            } else {
                config
                    .data_path_errors(data_path)
                    .iter()
                    .map(ToString::to_string)
                    .collect()
            };
        let mut hooks = Hooks::default();
        let mut spec = BalancerSpec::default();
        for vs in &config.virtual_servers {
            let mut service = ServiceHooks {
                quorum_up: hook(scripts, "quorum_up", vs.quorum_up.as_ref(), &mut errors),
                quorum_down: hook(scripts, "quorum_down", vs.quorum_down.as_ref(), &mut errors),
                real_servers: HashMap::new(),
            };
            for (rs, rs_hooks) in vs.spec.real_servers.iter().zip(&vs.real_servers) {
                let up = hook(
                    scripts,
                    "notify_up",
                    rs_hooks.notify_up.as_ref(),
                    &mut errors,
                );
                let down = hook(
                    scripts,
                    "notify_down",
                    rs_hooks.notify_down.as_ref(),
                    &mut errors,
                );
                for misc in &rs_hooks.misc_checks {
                    hook(scripts, "MISC_CHECK", Some(misc), &mut errors);
                }
                service.real_servers.insert(rs.key, (up, down));
            }
            hooks.services.insert(vs.spec.id.clone(), service);
            spec.services.push(vs.spec.clone());
        }
        if !errors.is_empty() {
            bail!("{}", errors.join("\n"));
        }
        let probe_context = scripts.probe_context(config);
        Ok(Some(BalancerPlan {
            spec,
            announce: super::AnnouncePlan::from_config(config),
            hooks,
            data_path,
            data_path_reason,
            probe_context,
            masquerade: config.global.lvs.nat_masquerade,
        }))
    }

    /// A plan without services: a reload that removed every `virtual_server`.
    pub(crate) fn empty() -> BalancerPlan {
        BalancerPlan {
            spec: BalancerSpec::default(),
            announce: super::AnnouncePlan::default(),
            hooks: Hooks::default(),
            data_path: DataPathKind::Nftables,
            data_path_reason: String::new(),
            probe_context: vrrp_check::ProbeContext::default(),
            masquerade: false,
        }
    }

    /// Opens the chosen data path (a stale table of a killed run is replaced).
    pub(crate) fn open_data_path(&self) -> Result<Box<dyn DataPath>> {
        match self.data_path {
            DataPathKind::Nftables => Ok(Box::new(
                vrrp_dataplane::Nftables::open(vrrp_dataplane::NftOptions {
                    masquerade: self.masquerade,
                })
                .map_err(|e| anyhow::anyhow!("cannot set up the nftables data path: {e}"))?,
            )),
            DataPathKind::Ipvs => bail!("lb_dataplane ipvs: the IPVS data path is not built yet"),
        }
    }

    /// The forwarding sysctls the services need (NAT and DR forward the clients' packets).
    pub(crate) fn forwarding_sysctls(&self) -> Vec<(String, String)> {
        let family = |f: IpFamily| {
            self.spec
                .services
                .iter()
                .any(|s| s.addrs.iter().any(|a| a.family() == f))
        };
        let mut out = Vec::new();
        if family(IpFamily::V4) {
            out.push(("net/ipv4/ip_forward".to_string(), "1".to_string()));
        }
        if family(IpFamily::V6) {
            out.push(("net/ipv6/conf/all/forwarding".to_string(), "1".to_string()));
        }
        out
    }

    /// The checkers' runner.
    pub(crate) fn prober(&self) -> vrrp_check::Prober {
        match vrrp_check::Prober::new(self.probe_context.clone()) {
            Ok(p) => p,
            Err(e) => {
                warn!("load balancer: {e}; SSL_GET checks run without the SSL block");
                let mut ctx = self.probe_context.clone();
                ctx.tls = None;
                match vrrp_check::Prober::new(ctx) {
                    Ok(p) => p,
                    // Without TLS files nothing is read: building cannot fail again.
                    Err(e) => unreachable!("a prober without TLS cannot fail: {e}"),
                }
            }
        }
    }

    /// The spec of service `id`.
    pub(crate) fn service(&self, id: &ServiceId) -> Option<&ServiceSpec> {
        self.spec.services.iter().find(|s| s.id == *id)
    }

    /// Takes the services and hooks of a reloaded configuration (the data path stays).
    pub(crate) fn replace(&mut self, new: BalancerPlan) {
        self.spec = new.spec;
        self.announce = new.announce;
        self.hooks = new.hooks;
        self.probe_context = new.probe_context;
    }

    /// Logs an event.
    pub(crate) fn log(&self, event: &Event) {
        match event {
            Event::RealServerDown {
                service,
                real_server,
                reason,
            } => warn!("{service}: real server {real_server} down: {reason}"),
            Event::QuorumDown {
                service,
                live_weight,
            } => warn!("{service}: quorum lost (live weight {live_weight})"),
            Event::CheckFailed {
                service,
                real_server,
                kind,
                reason,
            } => warn!("{service}: {kind} of {real_server} failed: {reason}"),
            other => info!("{}", describe(other)),
        }
    }
}

fn describe(event: &Event) -> String {
    match event {
        Event::RealServerUp {
            service,
            real_server,
        } => format!("{service}: real server {real_server} up"),
        Event::QuorumUp {
            service,
            live_weight,
        } => format!("{service}: quorum up (live weight {live_weight})"),
        Event::WeightChanged {
            service,
            real_server,
            from,
            to,
        } => format!("{service}: real server {real_server} weight {from} -> {to}"),
        Event::OperatorOverride {
            service,
            real_server,
            value,
        } => format!("{service}: real server {real_server}: operator {value:?}"),
        Event::SorryServerIn {
            service,
            sorry_server,
        } => format!("{service}: sorry server {sorry_server} in"),
        Event::SorryServerOut {
            service,
            sorry_server,
        } => format!("{service}: sorry server {sorry_server} out"),
        Event::ServiceSuspended { service } => format!("{service}: suspended (address not held)"),
        Event::ServiceResumed { service } => format!("{service}: resumed"),
        other => format!("{other:?}"),
    }
}

/// A configured script, checked like every other.
fn hook(
    scripts: &Scripts,
    label: &str,
    command: Option<&vrrp_config::Command>,
    errors: &mut Vec<String>,
) -> Option<HookScript> {
    match scripts.hook(label, command) {
        Ok(h) => h,
        Err(e) => {
            errors.push(e);
            None
        }
    }
}

/// `lb_dataplane`: IPVS where the kernel has it (its data path is the next step), else
/// nftables.
fn choose_data_path(wanted: vrrp_config::LbDataplane) -> (DataPathKind, String) {
    use vrrp_config::LbDataplane;
    match wanted {
        LbDataplane::Nftables => (
            DataPathKind::Nftables,
            "nftables (lb_dataplane nftables)".into(),
        ),
        LbDataplane::Ipvs => (DataPathKind::Ipvs, "ipvs (lb_dataplane ipvs)".into()),
        LbDataplane::Auto => {
            let why = if std::path::Path::new("/proc/net/ip_vs").exists() {
                "the IPVS data path is not built yet"
            } else {
                "this kernel has no IPVS"
            };
            (
                DataPathKind::Nftables,
                format!("nftables (lb_dataplane auto: {why})"),
            )
        }
    }
}
