//! From configuration to running routers: resolve interfaces and source addresses, create
//! virtual MAC interfaces, and remove VIPs left behind by an earlier run.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tracing::{debug, info, warn};
use vrrp_config::RouteType;
use vrrp_config::{Config, Role as ConfigRole, VrrpInstance};
use vrrp_core::packet::{Auth, ChecksumForm, Family, Version};
use vrrp_core::{InstanceConfig, Role};
use vrrp_linux::netlink::{AddressSpec, Netlink};
use vrrp_linux::routes::{RouteKind, RouteSpec, RuleSpec};
use vrrp_linux::{SysctlGuard, sysctl, virtual_mac};

use crate::host::Host;

/// How long to wait for an IPv6 link-local address to finish duplicate address detection.
const LINK_LOCAL_WAIT: Duration = Duration::from_secs(5);

/// Everything the daemon needs to run one `vrrp_instance`.
#[derive(Debug)]
pub(crate) struct RouterPlan {
    pub config: VrrpInstance,
    pub core: InstanceConfig,
    /// The instance's interface: advertisements are received here.
    pub ifindex: u32,
    /// Where advertisements leave: the virtual MAC interface, unless `vmac_xmit_base`.
    pub send_ifindex: u32,
    /// Where VIPs without `dev` go: the virtual MAC interface, or the instance's interface.
    pub vip_ifindex: u32,
    /// The virtual MAC interface we created, if any (deleted on exit).
    pub vmac: Option<Vmac>,
    /// Source address of advertisements.
    pub src: IpAddr,
    /// VIPs and excluded VIPs, each with the interface it goes on.
    pub addresses: Vec<(u32, AddressSpec)>,
    /// `virtual_routes` and `virtual_rules`: installed while Master.
    pub routes: Vec<RouteSpec>,
    pub rules: Vec<RuleSpec>,
    /// Where gratuitous ARPs / NAs are sent, and with which MAC.
    pub announce_ifindex: u32,
    pub announce_mac: [u8; 6],
    /// `garp_extra_if all`: the other interfaces of its addresses, with their MAC.
    pub extra_announce: Vec<(u32, [u8; 6])>,
    /// Tracked interfaces (name, weight, reverse); the instance's own interface is tracked
    /// by link state unless `dont_track_primary`.
    pub tracked: Vec<(String, i32, bool)>,
    /// Scripts, files and processes tracked (its own and its sync group's).
    pub trackers: Vec<vrrp_core::TrackerWeight>,
    /// Its notify hooks.
    pub notify: vrrp_track::NotifyScripts,
    /// Its `vrrp_sync_group`, if any.
    pub sync_group: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Vmac {
    pub ifindex: u32,
    pub name: String,
}

/// The resolved plan of every instance, and the sysctls to restore on exit.
pub(crate) struct Plan {
    pub routers: Vec<RouterPlan>,
    pub sysctls: SysctlGuard,
}

pub(crate) async fn prepare(
    nl: &Netlink,
    config: &Config,
    scripts: &crate::tracking::Scripts,
) -> Result<Plan> {
    let mut routers = Vec::new();
    let mut sysctls = SysctlGuard::new();
    let mut host = Host::default();
    for instance in &config.instances {
        let extras = extras(config, instance, scripts).map_err(|e| anyhow::anyhow!(e))?;
        let plan = prepare_instance(nl, &mut host, instance, extras, &mut sysctls)
            .await
            .with_context(|| format!("vrrp_instance {}", instance.name))?;
        routers.push(plan);
    }
    Ok(Plan { routers, sysctls })
}

pub(crate) async fn prepare_instance(
    nl: &Netlink,
    host: &mut Host,
    instance: &VrrpInstance,
    extras: Extras,
    sysctls: &mut SysctlGuard,
) -> Result<RouterPlan> {
    if instance.promote_secondaries {
        let path = format!(
            "/proc/sys/net/ipv4/conf/{}/promote_secondaries",
            instance.interface
        );
        if let Err(e) = sysctls.set(&path, "1") {
            warn!("{}: cannot set {path}: {e}", instance.name);
        }
    }
    let family = instance.family;
    let link = host
        .link(nl, &instance.interface)
        .await?
        .with_context(|| format!("interface {} does not exist", instance.interface))?;

    let mut send_ifindex = link.index;
    let mut announce_ifindex = link.index;
    let mut announce_mac = link.mac.unwrap_or([0; 6]);
    let mut vip_ifindex = link.index;
    let mut vmac = None;
    if let Some(name) = &instance.use_vmac {
        let mac = virtual_mac(family, instance.vrid);
        let ifindex = nl
            .create_macvlan(link.index, name, mac)
            .await
            .with_context(|| format!("creating virtual MAC interface {name}"))?;
        for (path, value) in sysctl::vmac_sysctls(&instance.interface, name) {
            if let Err(e) = sysctls.set(&path, &value) {
                warn!("{}: cannot set {path} to {value}: {e}", instance.name);
            }
        }
        if !instance.vmac_xmit_base {
            send_ifindex = ifindex;
        }
        announce_ifindex = ifindex;
        announce_mac = mac;
        vip_ifindex = ifindex;
        vmac = Some(Vmac {
            ifindex,
            name: name.clone(),
        });
    }

    // Stale VIPs go first: a link-local VIP left by a killed daemon must not be taken as
    // the advertisement source (RFC 5798 §5.1.2.1: the interface's own link-local).
    let addresses = resolve_addresses(nl, instance, vip_ifindex).await?;
    remove_stale_vips(nl, host, &instance.name, &addresses).await;
    let (routes, rules) = resolve_routes(nl, instance, link.index).await?;
    let extra_announce = extra_interfaces(nl, instance, announce_ifindex, &addresses).await?;

    let src = match instance.src_ip() {
        Some(ip) => ip,
        None => {
            let link = (link.index, send_ifindex);
            source_address(nl, host, family, link, &instance.interface).await?
        }
    };

    let core = core_config(instance, family, src);
    let tracked = tracked(instance);

    info!(
        "{}: interface {} (index {}), VRID {}, VRRPv{}, {:?}, priority {}, source {}{}",
        instance.name,
        instance.interface,
        link.index,
        instance.vrid,
        instance.version,
        family,
        instance.priority,
        src,
        vmac.as_ref()
            .map(|v: &Vmac| format!(", virtual MAC interface {}", v.name))
            .unwrap_or_default()
    );
    Ok(RouterPlan {
        config: instance.clone(),
        core,
        ifindex: link.index,
        send_ifindex,
        vip_ifindex,
        vmac,
        src,
        addresses,
        announce_ifindex,
        announce_mac,
        extra_announce,
        tracked,
        routes,
        rules,
        trackers: extras.trackers,
        notify: extras.notify,
        sync_group: instance.sync_group.clone(),
    })
}

/// The interfaces other than `announce_ifindex` that hold some of the instance's addresses
/// (their `dev`), each with its MAC, the source of its GARPs: keepalived announces every VIP
/// on its own interface on becoming Master (a gateway VIP behind a NAT director must move
/// too), and `garp_extra_if all` repeats that periodically.
pub(crate) async fn extra_interfaces(
    nl: &Netlink,
    instance: &VrrpInstance,
    announce_ifindex: u32,
    addresses: &[(u32, AddressSpec)],
) -> Result<Vec<(u32, [u8; 6])>> {
    let mut extra: Vec<(u32, [u8; 6])> = Vec::new();
    for &(ifindex, _) in addresses {
        if ifindex == announce_ifindex || extra.iter().any(|e| e.0 == ifindex) {
            continue;
        }
        let link = nl
            .link_by_index(ifindex)
            .await?
            .with_context(|| format!("interface index {ifindex} does not exist"))?;
        match link.mac {
            Some(mac) => extra.push((ifindex, mac)),
            None => debug!(
                "{}: {} has no Ethernet address; no GARP/NA there",
                instance.name, link.name
            ),
        }
    }
    Ok(extra)
}

/// The protocol core's view of an instance.
pub(crate) fn core_config(instance: &VrrpInstance, family: Family, src: IpAddr) -> InstanceConfig {
    let version = if instance.version == 2 {
        Version::V2
    } else {
        Version::V3
    };
    let mut core = InstanceConfig::new(instance.name.clone(), instance.vrid, src);
    core.version = version;
    core.family = family;
    core.role = match instance.role {
        ConfigRole::Router => Role::Router,
        ConfigRole::Observer => Role::Observer,
    };
    core.priority = instance.priority;
    core.advert_interval_cs = instance.advert_interval_cs;
    core.preempt = instance.preempt;
    core.preempt_delay = instance.preempt_delay;
    core.accept = instance.accept;
    core.auth = match (&instance.auth, version) {
        (Some(pass), Version::V2) => Auth::simple_password(pass),
        _ => Auth::None,
    };
    core.addresses = instance.vips.iter().map(|v| v.addr).collect();
    core.checksum_form = if instance.v3_checksum_as_v2 {
        ChecksumForm::MessageOnly
    } else {
        ChecksumForm::PseudoHeader
    };
    core.readvertise_on_lower_priority = !instance.lower_prio_no_advert;
    core.advertise_before_yielding = instance.higher_prio_send_advert;
    core.down_timer_adverts = instance.down_timer_adverts;
    core.owner_ignore_adverts = instance.owner_ignore_adverts;
    core.skip_check_adv_addr = instance.skip_check_adv_addr;
    core
}

/// Interfaces whose link state the instance follows: `track_interface`, and its own
/// interface (weight 0: down = Fault) unless `dont_track_primary`.
pub(crate) fn tracked(instance: &VrrpInstance) -> Vec<(String, i32, bool)> {
    let mut tracked: Vec<(String, i32, bool)> = instance
        .track_interfaces
        .iter()
        .map(|t| (t.name.clone(), t.weight, t.reverse))
        .collect();
    if !instance.dont_track_primary {
        tracked.push((instance.interface.clone(), 0, false));
    }
    tracked
}

/// What an instance needs beyond its own block: trackers (with its sync group's), notify
/// hooks (checked: users, executables, script security).
pub(crate) struct Extras {
    pub trackers: Vec<vrrp_core::TrackerWeight>,
    pub notify: vrrp_track::NotifyScripts,
}

pub(crate) fn extras(
    config: &Config,
    instance: &VrrpInstance,
    scripts: &crate::tracking::Scripts,
) -> std::result::Result<Extras, String> {
    Ok(Extras {
        trackers: crate::tracking::instance_trackers(config, instance),
        notify: {
            let mut n =
                scripts.notify_scripts(&instance.notify, instance.notify_master_change.as_ref())?;
            let deleted = instance.notify_deleted.as_ref().and_then(Option::as_ref);
            n.deleted = scripts.hook("notify_deleted", deleted)?;
            n
        },
    })
}

/// The VIPs and excluded VIPs of an instance, each with the interface it goes on
/// (`dev`, else `default_ifindex`: the instance's interface or its virtual MAC interface).
pub(crate) async fn resolve_addresses(
    nl: &Netlink,
    instance: &VrrpInstance,
    default_ifindex: u32,
) -> Result<Vec<(u32, AddressSpec)>> {
    let mut addresses = Vec::new();
    for vip in instance.vips.iter().chain(&instance.excluded_vips) {
        let ifindex = match &vip.dev {
            Some(dev) => {
                nl.link_by_name(dev)
                    .await?
                    .with_context(|| format!("interface {dev} of VIP {} does not exist", vip.addr))?
                    .index
            }
            None => default_ifindex,
        };
        addresses.push((ifindex, address_spec(vip)?));
    }
    Ok(addresses)
}

/// A `virtual_ipaddress` (or `static_ipaddress`) line in the kernel's terms.
pub(crate) fn address_spec(vip: &vrrp_config::Vip) -> Result<AddressSpec> {
    let mut spec = AddressSpec::new(vip.addr, vip.prefix_len);
    spec.broadcast = vip.broadcast;
    spec.label = vip.label.clone();
    spec.scope = match vip.scope.as_deref() {
        Some(name) => Some(
            vrrp_linux::routes::scope_number(name)
                .with_context(|| format!("unknown address scope {name}"))?,
        ),
        None => None,
    };
    Ok(spec)
}

/// The `virtual_routes` and `virtual_rules` of an instance in the kernel's terms; a route
/// without `dev` and without a gateway goes on the instance's interface.
pub(crate) async fn resolve_routes(
    nl: &Netlink,
    instance: &VrrpInstance,
    default_ifindex: u32,
) -> Result<(Vec<RouteSpec>, Vec<RuleSpec>)> {
    let mut routes = Vec::new();
    for r in &instance.virtual_routes {
        routes.push(route_spec(nl, r, Some(default_ifindex)).await?);
    }
    let rules = instance.virtual_rules.iter().map(rule_spec).collect();
    Ok((routes, rules))
}

/// A `virtual_routes` (or `static_routes`) line in the kernel's terms; without `dev` and
/// without a gateway, a unicast route goes on `default_ifindex`, if given.
pub(crate) async fn route_spec(
    nl: &Netlink,
    r: &vrrp_config::VirtualRoute,
    default_ifindex: Option<u32>,
) -> Result<RouteSpec> {
    let mut spec = RouteSpec::new(r.dst.addr, r.dst.len);
    spec.kind = match r.kind {
        RouteType::Unicast => RouteKind::Unicast,
        RouteType::Blackhole => RouteKind::Blackhole,
        RouteType::Unreachable => RouteKind::Unreachable,
        RouteType::Prohibit => RouteKind::Prohibit,
    };
    spec.gateway = r.via;
    spec.src = r.src;
    spec.metric = r.metric;
    spec.table = r.table;
    spec.oif = match &r.dev {
        Some(dev) => Some(
            nl.link_by_name(dev)
                .await?
                .with_context(|| format!("interface {dev} of route {} does not exist", r.dst.addr))?
                .index,
        ),
        None if r.via.is_none() && spec.kind == RouteKind::Unicast => default_ifindex,
        None => None,
    };
    spec.scope = match &r.scope {
        Some(s) => Some(
            vrrp_linux::routes::scope_number(s)
                .with_context(|| format!("unknown route scope {s}"))?,
        ),
        None => None,
    };
    spec.protocol = match &r.proto {
        Some(p) => Some(
            vrrp_linux::routes::protocol_number(p)
                .with_context(|| format!("unknown route protocol {p}"))?,
        ),
        None => None,
    };
    Ok(spec)
}

/// A `virtual_rules` (or `static_rules`) line in the kernel's terms.
pub(crate) fn rule_spec(r: &vrrp_config::VirtualRule) -> RuleSpec {
    let mut spec = RuleSpec::new(r.family, r.table);
    spec.from = r.from.as_ref().map(|p| (p.addr, p.len));
    spec.to = r.to.as_ref().map(|p| (p.addr, p.len));
    spec.priority = r.priority;
    spec.iif = r.iif.clone();
    spec.oif = r.oif.clone();
    spec.fwmark = r.fwmark;
    spec.fwmask = r.fwmask;
    spec
}

/// Checks, without changing anything, what starting `instance` needs: its interface, the
/// interfaces named by its VIPs and routes, and a source address.
pub(crate) async fn check_instance(
    nl: &Netlink,
    host: &mut Host,
    instance: &VrrpInstance,
) -> Result<()> {
    let link = host
        .link(nl, &instance.interface)
        .await?
        .with_context(|| format!("interface {} does not exist", instance.interface))?;
    resolve_addresses(nl, instance, link.index).await?;
    resolve_routes(nl, instance, link.index).await?;
    if instance.src_ip().is_none()
        && instance.family == Family::Ipv4
        && vrrp_linux::primary_ipv4(host.of(nl, link.index).await?).is_none()
    {
        bail!(
            "interface {} has no IPv4 address to send advertisements from",
            instance.interface
        );
    }
    Ok(())
}

/// The VIPs to protect with the no_accept filter: those of instances with Accept_Mode off
/// that are not address owners (RFC 5798 §6.4.3: only the owner, or Accept_Mode, accepts).
pub(crate) fn no_accept_vips(config: &Config) -> Vec<IpAddr> {
    config
        .instances
        .iter()
        .filter(|i| !i.accept && i.priority != 255 && i.role == ConfigRole::Router)
        .flat_map(|i| i.vips.iter().chain(&i.excluded_vips).map(|v| v.addr))
        .collect()
}

/// Installs the no_accept filter for `config` (or removes it when nothing needs it).
pub(crate) fn apply_no_accept(config: &Config) -> Result<()> {
    let vips = no_accept_vips(config);
    vrrp_linux::nft::apply_no_accept(&vips).context("no_accept")?;
    if !vips.is_empty() {
        info!(
            "no_accept: packets to {} VIP(s) are dropped while Master",
            vips.len()
        );
    }
    Ok(())
}

/// Whether `new` can replace `old` in place (same virtual router), rather than by removing
/// the old instance and starting a new one.
pub(crate) fn same_identity(old: &VrrpInstance, new: &VrrpInstance) -> bool {
    old.interface == new.interface
        && old.vrid == new.vrid
        && old.family == new.family
        && old.version == new.version
        && old.role == new.role
        && old.use_vmac == new.use_vmac
        && old.vmac_xmit_base == new.vmac_xmit_base
        && old.src_ip() == new.src_ip()
        && (old.priority == 255) == (new.priority == 255)
        // Routes and rules change by re-creating the instance (they follow Master state).
        && old.virtual_routes == new.virtual_routes
        && old.virtual_rules == new.virtual_rules
}

/// The advertisement source: the interface's primary IPv4 address, or the link-local IPv6
/// address of the interface that sends (RFC 5798 §5.1.1.1, §5.1.2.1).
async fn source_address(
    nl: &Netlink,
    host: &mut Host,
    family: Family,
    (ifindex, send_ifindex): (u32, u32),
    ifname: &str,
) -> Result<IpAddr> {
    match family {
        Family::Ipv4 => match vrrp_linux::primary_ipv4(host.of(nl, ifindex).await?) {
            Some(ip) => Ok(IpAddr::V4(ip)),
            None => bail!(
                "interface {ifname} has no IPv4 address to send advertisements from; \
                     add one or set mcast_src_ip / unicast_src_ip"
            ),
        },
        Family::Ipv6 => {
            let ip = vrrp_linux::wait_link_local(nl, send_ifindex, LINK_LOCAL_WAIT)
                .await
                .with_context(|| format!("no usable IPv6 link-local address on {ifname}"))?;
            Ok(IpAddr::V6(ip))
        }
    }
}

/// Removes our VIPs found on their interfaces at start: we are not Master yet, and a VIP
/// left by a killed daemon or a removed container would answer beside the real Master.
async fn remove_stale_vips(
    nl: &Netlink,
    host: &mut Host,
    name: &str,
    addresses: &[(u32, AddressSpec)],
) {
    for (ifindex, spec) in addresses {
        let present = match host.of(nl, *ifindex).await {
            Ok(list) => list.iter().any(|a| a.addr == spec.addr),
            Err(e) => {
                warn!("{name}: cannot list addresses of interface {ifindex}: {e}");
                continue;
            }
        };
        if present {
            host.changed();
            match nl.del_address(*ifindex, spec.addr, spec.prefix_len).await {
                Ok(()) => info!(
                    "{name}: removed stale VIP {} left by an earlier run",
                    spec.addr
                ),
                Err(e) => warn!("{name}: cannot remove stale VIP {}: {e}", spec.addr),
            }
        }
    }
}
