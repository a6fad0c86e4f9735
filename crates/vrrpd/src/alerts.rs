//! keepalived's e-mail alerts: which transitions send one (`smtp_alert` and its defaults,
//! `no_email_faults`, one alert per new state), and the bounded queue to the worker thread
//! that sends them ([`smtp`]). The protocol and load balancer threads only ever push to
//! the queue, which never blocks: a full queue drops the alert and counts it.

mod message;
mod smtp;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;
use tracing::warn;
use vrrp_config::{Config, SmtpServer};
use vrrp_lb::Event;
use vrrp_lb::spec::{RealServerKey, ServiceId};
use vrrp_track::NotifyState;

pub(crate) use message::Alert;

/// Alerts waiting for the worker beyond this are dropped.
const QUEUE: usize = 64;

/// Alert counters, for the metrics (one set per process: there is one worker).
pub(crate) struct Counts {
    pub sent: AtomicU64,
    pub failed: AtomicU64,
    pub dropped: AtomicU64,
    /// Queued and not yet sent or failed.
    pub pending: AtomicU64,
}

pub(crate) static COUNTS: Counts = Counts {
    sent: AtomicU64::new(0),
    failed: AtomicU64::new(0),
    dropped: AtomicU64::new(0),
    pending: AtomicU64::new(0),
};

/// Registers the alert counters (`vrrpd_alerts_{sent,failed,dropped}_total`).
pub(crate) fn register_metrics(registry: &mut Registry) {
    let series = [
        (
            "vrrpd_alerts_sent",
            "E-mail alerts accepted by the SMTP server",
            &COUNTS.sent,
        ),
        (
            "vrrpd_alerts_failed",
            "E-mail alerts the SMTP server did not take (unreachable, refused, timed out)",
            &COUNTS.failed,
        ),
        (
            "vrrpd_alerts_dropped",
            "E-mail alerts dropped because the queue to the alerts worker was full",
            &COUNTS.dropped,
        ),
    ];
    for (name, help, count) in series {
        let c = Counter::<u64>::default();
        c.inc_by(count.load(Ordering::Relaxed));
        registry.register(name, help, c);
    }
}

/// How alerts are sent: `global_defs` with keepalived's defaults applied.
#[derive(Debug)]
pub(crate) struct Settings {
    /// `router_id`, else the host name: the `[...]` of the subjects.
    router_id: String,
    server: SmtpServer,
    recipients: Vec<String>,
    from: String,
    helo_name: String,
    timeout: Duration,
}

/// One alert in the queue, with the settings in force when it was raised.
pub(crate) struct Queued {
    settings: Arc<Settings>,
    alert: Alert,
}

impl Queued {
    /// Its subject and body (`None`: nothing to send for it).
    fn text(&self) -> Option<(String, String)> {
        self.alert.text(&self.settings.router_id)
    }
}

/// Which objects send alerts, from one configuration.
#[derive(Debug, Default)]
struct Policy {
    settings: Option<Arc<Settings>>,
    instances: HashSet<String>,
    groups: HashSet<String>,
    /// Virtual servers with alerts: their quorum and hysteresis.
    services: HashMap<ServiceId, (u32, u32)>,
    real_servers: HashSet<(ServiceId, RealServerKey)>,
    no_email_faults: bool,
    /// keepalived's `last_email_state`: one alert per state of an instance or group.
    last: HashMap<(bool, String), NotifyState>,
}

/// The handle the protocol and load balancer threads push alerts through.
#[derive(Clone)]
pub(crate) struct Alerts {
    inner: Option<Arc<Shared>>,
}

struct Shared {
    queue: SyncSender<Queued>,
    policy: Mutex<Policy>,
}

impl Alerts {
    /// No alerts (tests, or the worker could not start).
    pub(crate) fn off() -> Alerts {
        Alerts { inner: None }
    }

    /// Starts the worker thread and applies `config`.
    pub(crate) fn start(config: &Config) -> Alerts {
        let (queue, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let spawned = std::thread::Builder::new()
            .name("vrrpd-alerts".into())
            .spawn(move || smtp::run(rx));
        if let Err(e) = spawned {
            warn!("e-mail alerts disabled: cannot start their thread: {e}");
            return Alerts::off();
        }
        let alerts = Alerts {
            inner: Some(Arc::new(Shared {
                queue,
                policy: Mutex::new(Policy::default()),
            })),
        };
        alerts.configure(config);
        alerts
    }

    /// Applies a (new) configuration; the last state mailed of each object is kept.
    pub(crate) fn configure(&self, config: &Config) {
        let Some(shared) = &self.inner else { return };
        let mut new = policy(config);
        if let Ok(mut p) = shared.policy.lock() {
            new.last = std::mem::take(&mut p.last);
            *p = new;
        }
    }

    /// A `vrrp_instance` changed state.
    pub(crate) fn instance(&self, name: &str, state: NotifyState) {
        self.vrrp(false, name, state);
    }

    /// A `vrrp_sync_group` changed state.
    pub(crate) fn group(&self, name: &str, state: NotifyState) {
        self.vrrp(true, name, state);
    }

    fn vrrp(&self, group: bool, name: &str, state: NotifyState) {
        let Some(shared) = &self.inner else { return };
        let Ok(mut p) = shared.policy.lock() else {
            return;
        };
        let on = if group { &p.groups } else { &p.instances };
        if !on.contains(name) || (p.no_email_faults && state == NotifyState::Fault) {
            return;
        }
        if p.last.insert((group, name.to_owned()), state) == Some(state) {
            return;
        }
        let name = name.to_owned();
        let alert = if group {
            Alert::Group { name, state }
        } else {
            Alert::Instance { name, state }
        };
        push(shared, &p, &alert);
    }

    /// A load balancer event: real server up/down, quorum gained/lost.
    pub(crate) fn lb_event(&self, event: &Event) {
        let Some(shared) = &self.inner else { return };
        let Ok(p) = shared.policy.lock() else { return };
        if let Some(alert) = lb_alert(&p, event) {
            push(shared, &p, &alert);
        }
    }

    /// Waits (bounded) until the queued alerts are sent or failed, at shutdown.
    pub(crate) async fn drain(&self, timeout: Duration) {
        if self.inner.is_none() {
            return;
        }
        let start = Instant::now();
        while COUNTS.pending.load(Ordering::Relaxed) > 0 && start.elapsed() < timeout {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn push(shared: &Shared, p: &Policy, alert: &Alert) {
    let Some(settings) = &p.settings else { return };
    let queued = Queued {
        settings: Arc::clone(settings),
        alert: alert.clone(),
    };
    let Some((subject, _)) = queued.text() else {
        return;
    };
    COUNTS.pending.fetch_add(1, Ordering::Relaxed);
    match shared.queue.try_send(queued) {
        Ok(()) => {}
        Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
            COUNTS.pending.fetch_sub(1, Ordering::Relaxed);
            COUNTS.dropped.fetch_add(1, Ordering::Relaxed);
            warn!("e-mail alert \"{subject}\" dropped: {QUEUE} alerts already wait");
        }
    }
}

/// The real server and quorum alerts, with keepalived's bodies.
fn lb_alert(p: &Policy, event: &Event) -> Option<Alert> {
    let rs_alert = |service: &ServiceId, rs: &RealServerKey, up: bool, body: String| {
        p.real_servers
            .contains(&(service.clone(), *rs))
            .then(|| Alert::RealServer {
                service: vrrp_lb::event::fifo_service(service),
                real_server: format!("[{}]:{}:{}", rs.addr, service.protocol.name(), rs.port),
                up,
                body,
            })
    };
    match event {
        Event::RealServerUp {
            service,
            real_server,
        } => rs_alert(
            service,
            real_server,
            true,
            "=> CHECK succeed on service <=".into(),
        ),
        Event::RealServerDown {
            service,
            real_server,
            reason,
        } => {
            // The core's reasons for a server taken out rather than failed.
            let body = match reason.as_str() {
                "shutdown" => "=> Shutting down <=".to_owned(),
                "removed from the configuration" => "=> Removing <=".to_owned(),
                _ => format!("=> CHECK failed on service : {reason} <="),
            };
            rs_alert(service, real_server, false, body)
        }
        Event::QuorumUp {
            service,
            live_weight,
        } => quorum_alert(p, service, true, *live_weight),
        Event::QuorumDown {
            service,
            live_weight,
        } => quorum_alert(p, service, false, *live_weight),
        _ => None,
    }
}

fn quorum_alert(p: &Policy, service: &ServiceId, up: bool, weight: u64) -> Option<Alert> {
    let (quorum, hysteresis) = *p.services.get(service)?;
    let (what, threshold) = if up {
        ("Gained quorum", i64::from(quorum) + i64::from(hysteresis))
    } else {
        ("Lost quorum", i64::from(quorum) - i64::from(hysteresis))
    };
    Some(Alert::VirtualServer {
        service: vrrp_lb::event::fifo_service(service),
        up,
        body: format!("=> {what} {quorum}+{hysteresis}={threshold} <= {weight} <="),
    })
}

/// The policy of `config`, with keepalived's defaults (`global_data.c`): `router_id` and
/// HELO name the host name, sender `USER@HOSTNAME`.
fn policy(config: &Config) -> Policy {
    let a = &config.global.alerts;
    let host = hostname();
    let settings = a.server.clone().filter(|_| a.sends()).map(|server| {
        Arc::new(Settings {
            router_id: config.global.router_id.clone().unwrap_or(host.clone()),
            server,
            recipients: a.recipients.clone(),
            from: a
                .from
                .clone()
                .unwrap_or_else(|| format!("{}@{host}", user())),
            helo_name: a.helo_name.clone().unwrap_or_else(|| host.clone()),
            timeout: a.connect_timeout,
        })
    });
    let mut p = Policy {
        settings,
        no_email_faults: a.no_email_faults,
        ..Policy::default()
    };
    if p.settings.is_none() {
        return p;
    }
    p.instances = config
        .instances
        .iter()
        .filter(|i| a.instance(&i.name))
        .map(|i| i.name.clone())
        .collect();
    p.groups = config
        .sync_groups
        .iter()
        .filter(|g| a.sync_group(&g.name))
        .map(|g| g.name.clone())
        .collect();
    for vs in &config.virtual_servers {
        let id = &vs.spec.id;
        if a.virtual_server(&vs.site.location) {
            p.services
                .insert(id.clone(), (vs.spec.quorum, vs.spec.hysteresis));
        }
        for (rs, hooks) in vs.spec.real_servers.iter().zip(&vs.real_servers) {
            if a.real_server(&hooks.site.location) {
                p.real_servers.insert((id.clone(), rs.key));
            }
        }
    }
    p
}

/// The node's name (its UTS namespace's), as keepalived's `get_local_name`.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// The daemon's user name, for the default sender.
fn user() -> String {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map_or_else(|| "root".to_owned(), |u| u.name)
}

#[cfg(test)]
mod tests;
