//! keepalived's LVS side as configured: virtual servers with their real servers and
//! checkers (the pure part is `vrrp_lb`'s [`ServiceSpec`]), the hooks and locations only the
//! driver needs, and the LVS keywords of `global_defs`.

use std::net::IpAddr;
use std::time::Duration;

use vrrp_lb::dataplane::DataPathKind;
use vrrp_lb::spec::{Forwarding, ServiceAddr, ServiceSpec};

use super::{Command, Config, Location, NotifyFifo};
use crate::diag::ConfigError;

/// A keyword's position and the text of its line, so that errors found after loading
/// (data-path refusals) are shown like the parser's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Site {
    /// Where the keyword (or its value) is.
    pub location: Location,
    /// The text of that line.
    pub line: String,
}

/// `virtual_server IP PORT | fwmark N | group NAME { }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualServer {
    /// What the load-balancing core runs, with keepalived's defaults and the inherited checker
    /// settings resolved (`group NAME`: the group's addresses).
    pub spec: ServiceSpec,
    /// `quorum_up`.
    pub quorum_up: Option<Command>,
    /// `quorum_down`.
    pub quorum_down: Option<Command>,
    /// The driver's side of each real server: same order and length as
    /// `spec.real_servers`.
    pub real_servers: Vec<RealServerHooks>,
    /// The `virtual_server` keyword.
    pub site: Site,
    /// `lvs_sched` (or `lb_algo`), when given.
    pub scheduler_site: Option<Site>,
    /// `lvs_method` (or `lb_kind`), when given.
    pub lvs_method_site: Option<Site>,
    /// `protocol`, when given.
    pub protocol_site: Option<Site>,
    /// `sorry_server_lvs_method`, when given.
    pub sorry_lvs_method_site: Option<Site>,
    /// `bgp_announce` (vrrpd), when given: its addresses are announced through FRR while the
    /// service has its quorum.
    pub bgp_announce: Option<Site>,
}

impl VirtualServer {
    /// Every command of the service with the keyword that gives it (`quorum_up`,
    /// `quorum_down`, `notify_up`, `notify_down`, `MISC_CHECK`), for the script checks the
    /// daemon runs on hooks at load.
    pub fn commands(&self) -> Vec<(&'static str, &Command)> {
        let mut out = Vec::new();
        let quorum = [
            ("quorum_up", &self.quorum_up),
            ("quorum_down", &self.quorum_down),
        ];
        out.extend(
            quorum
                .into_iter()
                .filter_map(|(k, c)| c.as_ref().map(|c| (k, c))),
        );
        for rs in &self.real_servers {
            let notify = [
                ("notify_up", &rs.notify_up),
                ("notify_down", &rs.notify_down),
            ];
            out.extend(
                notify
                    .into_iter()
                    .filter_map(|(k, c)| c.as_ref().map(|c| (k, c))),
            );
            out.extend(rs.misc_checks.iter().map(|c| ("MISC_CHECK", c)));
        }
        out
    }
}

/// What only the driver needs of a `real_server`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealServerHooks {
    /// `notify_up`.
    pub notify_up: Option<Command>,
    /// `notify_down`.
    pub notify_down: Option<Command>,
    /// The `real_server` keyword.
    pub site: Site,
    /// Its own `lvs_method`, when given.
    pub lvs_method_site: Option<Site>,
    /// Its MISC_CHECK programs (`misc_path` with `user`), in checker order: the commands
    /// the daemon's script checks (`enable_script_security`, `script_user`) apply to.
    pub misc_checks: Vec<Command>,
}

/// `virtual_server_group NAME { }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualServerGroup {
    /// The name `virtual_server group NAME` uses.
    pub name: String,
    /// Its entries, in order (`IP [PORT]` without a port: port 0).
    pub addrs: Vec<ServiceAddr>,
    /// Where it is defined.
    pub location: Location,
}

/// `lb_dataplane` (a vrrpd keyword): which data path carries the virtual servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LbDataplane {
    /// The daemon picks one for the kernel it runs on (the default).
    #[default]
    Auto,
    /// nftables: what it cannot do is a configuration error.
    Nftables,
    /// The kernel's IPVS.
    Ipvs,
}

/// `lvs_flush_on_stop [VS]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlushOnStop {
    /// Not given: services stay as the checkers left them.
    #[default]
    Off,
    /// Every IPVS service is removed.
    All,
    /// `VS`: only the configured virtual servers are removed.
    VirtualServers,
}

/// `lvs_timeouts [tcp SECS] [tcpfin SECS] [udp SECS]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LvsTimeouts {
    /// `tcp`.
    pub tcp: Option<Duration>,
    /// `tcpfin`.
    pub tcpfin: Option<Duration>,
    /// `udp`.
    pub udp: Option<Duration>,
}

/// `lvs_sync_daemon IF [inst VRRP] [id N] [maxlen N] [port N] [ttl N] [group ADDR]`
/// (read; the IPVS data path runs it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LvsSyncDaemon {
    /// The interface the sync messages use.
    pub interface: String,
    /// `inst`: the VRRP instance whose state says master or backup.
    pub instance: Option<String>,
    /// `id` (0-255); `None`: the VRID of the instance, as keepalived defaults it.
    pub sync_id: Option<u8>,
    /// `maxlen`: largest sync message.
    pub max_len: Option<u16>,
    /// `port`.
    pub port: Option<u16>,
    /// `ttl`.
    pub ttl: Option<u8>,
    /// `group`: multicast group.
    pub group: Option<IpAddr>,
    /// Where it is.
    pub location: Location,
}

/// The LVS keywords of `global_defs`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LvsGlobal {
    /// `lb_dataplane auto|nftables|ipvs` (vrrpd; default auto).
    pub dataplane: LbDataplane,
    /// `lvs_notify_fifo FIFO [USER [GROUP]]` and `lvs_notify_fifo_script`.
    pub notify_fifo: Option<NotifyFifo>,
    /// `lvs_flush`.
    pub flush: bool,
    /// `lvs_flush_on_stop` (alias `lvs_flush_onstop`).
    pub flush_on_stop: FlushOnStop,
    /// `lvs_timeouts`.
    pub timeouts: Option<LvsTimeouts>,
    /// `lvs_sync_daemon`.
    pub sync_daemon: Option<LvsSyncDaemon>,
    /// `checker_log_all_failures`.
    pub checker_log_all_failures: bool,
    /// `lb_nat_masquerade` (vrrpd): NAT traffic is also source-NATed to the balancer, so
    /// replies return through it whatever the real servers' routes.
    pub nat_masquerade: bool,
    /// `rs_init_notifies`.
    pub rs_init_notifies: bool,
    /// `bgp_announce_table`, `bgp_announce_drain`, `bgp_frr_config` (vrrpd).
    pub bgp: super::BgpGlobal,
}

impl Site {
    /// An error at this keyword.
    pub(super) fn error(&self, message: String, hint: String) -> ConfigError {
        ConfigError {
            file: self.location.file.clone(),
            line: self.location.line,
            column: self.location.column,
            message,
            snippet: self.line.clone(),
            hint: Some(hint),
        }
    }
}

impl Config {
    /// What the data path `kind` cannot do of the virtual servers (scheduler, forwarding
    /// method, protocol), each located at its keyword (at the `virtual_server` for a
    /// default). `load` reports these itself when `lb_dataplane nftables` is configured; with
    /// `auto` the daemon asks once it knows the kernel.
    pub fn data_path_errors(&self, kind: DataPathKind) -> Vec<ConfigError> {
        let hint = || {
            format!(
                "the {} data path cannot do this: change it (the IPVS data path, `lb_dataplane ipvs`, is not in vrrpd yet)",
                kind.name()
            )
        };
        let mut out = Vec::new();
        for vs in &self.virtual_servers {
            let spec = &vs.spec;
            let protocol = spec.id.protocol;
            if let Some(why) = kind.refuses_protocol(protocol) {
                let at = vs.protocol_site.as_ref().unwrap_or(&vs.site);
                let name = protocol.name().to_ascii_uppercase();
                out.push(at.error(format!("protocol {name}: {why}"), hint()));
            }
            if let Some(why) = kind.refuses_scheduler(spec.scheduler) {
                let (at, default) = match &vs.scheduler_site {
                    Some(s) => (s, ""),
                    None => (&vs.site, " (the default)"),
                };
                let name = spec.scheduler.name();
                out.push(at.error(format!("lvs_sched {name}{default}: {why}"), hint()));
            }
            let mut forwarding = |f: Forwarding, at: Option<&Site>| {
                if let (Some(why), Some(at)) = (kind.refuses_forwarding(f), at) {
                    let name = method_name(f);
                    out.push(at.error(format!("lvs_method {name}: {why}"), hint()));
                }
            };
            forwarding(spec.forwarding, vs.lvs_method_site.as_ref());
            for (rs, hooks) in spec.real_servers.iter().zip(&vs.real_servers) {
                forwarding(rs.forwarding, hooks.lvs_method_site.as_ref());
            }
            if let Some(sorry) = &spec.sorry_server {
                forwarding(sorry.forwarding, vs.sorry_lvs_method_site.as_ref());
            }
            if let Some(why) = spec
                .flags
                .one_packet
                .then(|| kind.refuses_one_packet())
                .flatten()
            {
                out.push(vs.site.error(format!("ops: {why}"), hint()));
            }
            for (rs, hooks) in spec.real_servers.iter().zip(&vs.real_servers) {
                let thresholds = rs.upper_threshold > 0 || rs.lower_threshold > 0;
                if let Some(why) = thresholds.then(|| kind.refuses_thresholds()).flatten() {
                    let text = format!("uthreshold/lthreshold of {}: {why}", rs.key);
                    out.push(hooks.site.error(text, hint()));
                }
            }
            if kind == DataPathKind::Nftables {
                direct_routing_errors(vs, &hint(), &mut out);
            }
        }
        out
    }
}

/// What nftables' direct routing cannot do of a virtual server (it forwards packets
/// unchanged, by a stateless hash, before conntrack and the firewall mark).
fn direct_routing_errors(vs: &VirtualServer, hint: &str, out: &mut Vec<ConfigError>) {
    let spec = &vs.spec;
    let methods = spec
        .real_servers
        .iter()
        .map(|rs| rs.forwarding)
        .chain(spec.sorry_server.as_ref().map(|s| s.forwarding));
    let (dr, other) = methods.fold((0, 0), |(d, o), f| match f {
        Forwarding::Dr => (d + 1, o),
        _ => (d, o + 1),
    });
    if dr == 0 {
        return;
    }
    let err = |at: &Site, what: String| at.error(what, hint.to_string());
    if other > 0 {
        out.push(err(
            &vs.site,
            "lvs_method DR with other methods in one virtual server: nftables forwards a \
             service one way (make every lvs_method of it DR)"
                .into(),
        ));
    }
    if spec.persistence.is_some() {
        out.push(err(
            &vs.site,
            "persistence with lvs_method DR needs connection state: IPVS only (or lvs_sched \
             sh/mh, which keep a client on its server)"
                .into(),
        ));
    }
    let mut ports = Vec::new();
    for addr in &spec.addrs {
        match *addr {
            ServiceAddr::Socket(sa) => ports.push(sa.port()),
            ServiceAddr::Range { port, .. } => ports.push(port),
            ServiceAddr::Fwmark { .. } => out.push(err(
                &vs.site,
                "fwmark with lvs_method DR: nftables forwards DR before the mark is set: IPVS \
                 only"
                    .into(),
            )),
        }
    }
    for (rs, hooks) in spec.real_servers.iter().zip(&vs.real_servers) {
        let port = rs.key.port;
        if rs.forwarding == Forwarding::Dr && port != 0 && ports.iter().any(|p| *p != port) {
            let text = format!(
                "real server {} {port}: lvs_method DR cannot change the port",
                rs.key.addr
            );
            out.push(err(&hooks.site, text));
        }
    }
}

/// The keyword value of a forwarding method.
fn method_name(f: Forwarding) -> &'static str {
    match f {
        Forwarding::Nat => "NAT",
        Forwarding::Dr => "DR",
        Forwarding::Tun { .. } => "TUN",
    }
}
