//! `bgp_announce` on the load balancer's thread: the pure [`Announcements`] decides, a task
//! of this thread's runtime installs and removes the host routes FRR imports (rtnetlink,
//! one change at a time, in order), so the protocol thread never waits for it.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};
use vrrp_config::Config;
use vrrp_control::{AnnounceAction, BgpAnnouncement};
use vrrp_lb::Balancer;
use vrrp_lb::announce::{Announcements, Change};
use vrrp_lb::spec::ServiceId;
use vrrp_linux::host_routes::{RTPROT_VRRPD_BGP, host_route};

/// What the configuration asks: the announced services and their VIPs, the table, the drain.
#[derive(Clone, Debug, Default)]
pub(crate) struct AnnouncePlan {
    pub services: Vec<(ServiceId, Vec<IpAddr>)>,
    pub table: u32,
    pub drain: Duration,
}

impl AnnouncePlan {
    /// The plan of `config` (FRR's setup is checked at start, `verify.rs`).
    pub(crate) fn from_config(config: &Config) -> AnnouncePlan {
        let bgp = &config.global.lvs.bgp;
        let services = config
            .virtual_servers
            .iter()
            .filter(|vs| vs.bgp_announce.is_some())
            .map(|vs| {
                let addrs = vrrp_config::announced_addrs(&vs.spec.addrs);
                (vs.spec.id.clone(), addrs)
            })
            .collect();
        AnnouncePlan {
            services,
            table: bgp.table,
            drain: bgp.drain,
        }
    }
}

/// The route worker's jobs.
enum Job {
    Route(Change),
    /// Answered once every earlier job is done.
    Flush(oneshot::Sender<()>),
}

/// The last route error of each VIP, for `vrrpctl lvs`.
type Errors = Arc<Mutex<BTreeMap<IpAddr, String>>>;

/// The announcements and their route worker.
pub(crate) struct Announcer {
    state: Announcements,
    plan: AnnouncePlan,
    jobs: Option<mpsc::UnboundedSender<Job>>,
    errors: Errors,
}

impl Announcer {
    pub(crate) fn new(plan: AnnouncePlan) -> Announcer {
        let mut state = Announcements::default();
        state.configure(&plan.services);
        Announcer {
            state,
            plan,
            jobs: None,
            errors: Errors::default(),
        }
    }

    /// Starts the route worker (on the current runtime) when anything is announced; routes a
    /// previous run left for VIPs no longer configured are removed first.
    fn start(&mut self) {
        if self.plan.services.is_empty() {
            return;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let keep: Vec<IpAddr> = self
            .plan
            .services
            .iter()
            .flat_map(|(_, a)| a.clone())
            .collect();
        tokio::spawn(worker(self.plan.table, keep, rx, Arc::clone(&self.errors)));
        self.jobs = Some(tx);
    }

    /// Brings the routes in line with the services' quorum (after each input of the core,
    /// on the balancer's runtime: the first call starts the worker).
    pub(crate) fn update(&mut self, core: &Balancer) {
        if self.jobs.is_none() {
            self.start();
        }
        let changes = self.state.update(|id| core.serving(id));
        self.send(changes);
    }

    /// A reload: removed VIPs are withdrawn. `true` when one of them was announced (the
    /// caller waits `bgp_announce_drain` before removing its service).
    pub(crate) fn reload(&mut self, plan: AnnouncePlan) -> bool {
        let announced = self.state.any_announced();
        let changes = self.state.configure(&plan.services);
        let drained = announced && changes.iter().any(|c| matches!(c, Change::Withdraw(_)));
        self.plan = plan;
        if self.jobs.is_none() {
            self.start();
        }
        self.send(changes);
        drained
    }

    /// `vrrpctl announce drain|restore VIP`.
    pub(crate) fn operator(
        &mut self,
        core: &Balancer,
        address: &str,
        action: AnnounceAction,
    ) -> Result<BgpAnnouncement, String> {
        let vip: IpAddr = address
            .parse()
            .map_err(|_| format!("{address:?} is not an IP address"))?;
        let on = action == AnnounceAction::Drain;
        self.state
            .set_maintenance(vip, on)
            .map_err(|e| e.to_string())?;
        info!("bgp_announce: {vip}: {}", action.name());
        self.update(core);
        self.status(core)
            .into_iter()
            .find(|a| a.vip == vip.to_string())
            .ok_or_else(|| format!("{vip} is gone"))
    }

    /// Stop: every VIP withdrawn; when any was announced, the routes are removed and then
    /// `bgp_announce_drain` passes, for the peers to move the traffic before the data path
    /// goes.
    pub(crate) async fn stop(&mut self) {
        let announced = self.state.any_announced();
        let changes = self.state.stop();
        self.send(changes);
        if !announced {
            return;
        }
        self.flush().await;
        info!(
            "bgp_announce: withdrawn; draining for {:?}",
            self.plan.drain
        );
        tokio::time::sleep(self.plan.drain).await;
    }

    /// Waits until the worker has carried out every change sent so far.
    pub(crate) async fn flush(&self) {
        let Some(jobs) = &self.jobs else { return };
        let (tx, rx) = oneshot::channel();
        if jobs.send(Job::Flush(tx)).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(5), rx).await;
        }
    }

    /// How long a stop may take beyond the data path's own.
    pub(crate) fn drain(&self) -> Duration {
        self.plan.drain
    }

    /// The `announcements` of the `lvs` document.
    pub(crate) fn status(&self, core: &Balancer) -> Vec<BgpAnnouncement> {
        let errors = self.errors.lock().map(|e| e.clone()).unwrap_or_default();
        self.state
            .status(|id| core.serving(id))
            .into_iter()
            .map(|v| BgpAnnouncement {
                vip: v.vip.to_string(),
                announced: v.announced,
                withheld: v.withheld.map(|w| w.name().to_string()),
                services: v.services.iter().map(ToString::to_string).collect(),
                transitions: v.transitions,
                error: errors.get(&v.vip).cloned(),
            })
            .collect()
    }

    fn send(&self, changes: Vec<Change>) {
        for c in changes {
            match c {
                Change::Announce(vip) => info!("bgp_announce: announcing {vip}"),
                Change::Withdraw(vip) => info!("bgp_announce: withdrawing {vip}"),
            }
            if let Some(jobs) = &self.jobs {
                let _ = jobs.send(Job::Route(c));
            }
        }
    }
}

/// Carries out the route changes in order. Only IPv4 VIPs get here (the configuration
/// refuses the others: FRR 8.4 imports IPv4 tables only).
async fn worker(
    table: u32,
    keep: Vec<IpAddr>,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    errors: Errors,
) {
    let nl = match vrrp_linux::netlink::Netlink::new() {
        Ok(nl) => nl,
        Err(e) => return warn!("bgp_announce: no rtnetlink socket: {e}; nothing is announced"),
    };
    let lo = match nl.link_by_name("lo").await {
        Ok(Some(l)) => l.index,
        _ => 1,
    };
    match nl.host_routes(table, RTPROT_VRRPD_BGP).await {
        Ok(stale) => {
            for vip in stale
                .into_iter()
                .filter(|v| !keep.contains(&IpAddr::V4(*v)))
            {
                info!("bgp_announce: removing {vip}, left by a previous run");
                if let Err(e) = nl.del_route(&host_route(vip, table, lo)).await {
                    warn!("bgp_announce: cannot remove {vip}: {e}");
                }
            }
        }
        Err(e) => warn!("bgp_announce: cannot list table {table}: {e}"),
    }
    while let Some(job) = jobs.recv().await {
        let change = match job {
            Job::Flush(done) => {
                let _ = done.send(());
                continue;
            }
            Job::Route(c) => c,
        };
        let (vip, add) = match change {
            Change::Announce(v) => (v, true),
            Change::Withdraw(v) => (v, false),
        };
        let IpAddr::V4(v4) = vip else { continue };
        let result = route(&nl, v4, table, lo, add).await;
        if let Ok(mut errors) = errors.lock() {
            match result {
                Ok(()) => errors.remove(&vip),
                Err(e) => {
                    warn!("bgp_announce: {vip}: {e}");
                    errors.insert(vip, e)
                }
            };
        }
    }
}

async fn route(
    nl: &vrrp_linux::netlink::Netlink,
    vip: Ipv4Addr,
    table: u32,
    lo: u32,
    add: bool,
) -> Result<(), String> {
    let spec = host_route(vip, table, lo);
    let r = if add {
        nl.add_route(&spec).await
    } else {
        nl.del_route(&spec).await
    };
    r.map_err(|e| e.to_string())
}
