//! Defaults and cross-keyword rules, applied once the whole file set is parsed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use crate::diag::{Diags, SourceMap, Span};
use crate::model::{Config, Family, Garp, GlobalDefs, InitialState, Role, Vip, VrrpInstance};
use crate::parser::{Parsed, RawGlobal, RawInstance, StateKw};

mod bgp;
mod garp_group;
mod instance_extra;
mod lvs;
mod statics;
mod tracking;

/// Default priority (keepalived's VRRP_PRIO_DFL).
const DEFAULT_PRIORITY: u8 = 100;
/// The address owner's priority.
const OWNER_PRIORITY: u8 = 255;
/// The VRRP count field is 8 bits wide.
const MAX_VIPS: usize = 255;

/// Builds the typed configuration; rule violations go to `d`.
pub(crate) fn finish(mut parsed: Parsed, map: &SourceMap, d: &mut Diags) -> Config {
    let fifos = tracking::fifos(&mut parsed.global, map, d);
    tracking::check_references(&parsed, map, d);
    tracking::check_weights(&mut parsed, d);
    let lvs_fifo = tracking::fifo(
        &mut parsed.global.lvs_notify_fifo,
        "lvs_notify_fifo",
        map,
        d,
    );
    let lvs_sync_span = parsed.global.lvs_sync_span;
    let alerts = crate::parser::finish_alerts(std::mem::take(&mut parsed.global.alerts), map, d);
    let mut global = global_defs(parsed.global);
    global.alerts = alerts;
    global.lvs.notify_fifo = lvs_fifo;
    if let (Some(sd), Some(span)) = (&mut global.lvs.sync_daemon, lvs_sync_span) {
        sd.location = map.location(span);
    }
    (global.notify_fifo, global.vrrp_notify_fifo) = fifos;
    let scripts = tracking::scripts(std::mem::take(&mut parsed.scripts), map, d);
    let track_files = tracking::files(std::mem::take(&mut parsed.files), map, d);
    let track_processes = tracking::processes(std::mem::take(&mut parsed.processes), map, d);
    let raw_names: Vec<String> = parsed.instances.iter().map(|i| i.name.clone()).collect();
    let sync_groups = tracking::groups(std::mem::take(&mut parsed.groups), &raw_names, map, d);
    let interface_delays = tracking::delays(std::mem::take(&mut parsed.delays), map, d);
    let virtual_server_groups = lvs::groups(std::mem::take(&mut parsed.vs_groups), map, d);
    let file_names: Vec<String> = track_files.iter().map(|f| f.name.clone()).collect();
    let cx = lvs::Context {
        groups: &virtual_server_groups,
        track_files: &file_names,
        lvs: &global.lvs,
        map,
    };
    let virtual_servers = lvs::virtual_servers(std::mem::take(&mut parsed.virtual_servers), &cx, d);
    let ssl = parsed.ssl.take();
    let statics = statics::statics(std::mem::take(&mut parsed.statics), &global, map, d);
    let garp_groups = std::mem::take(&mut parsed.garp_groups);
    // With errors (an unreadable file, a block lost to a missing `}`), it would be an echo.
    if parsed.instances.is_empty() && virtual_servers.is_empty() && d.errors.is_empty() {
        d.warn(Span::new(0, 0, 0), "no vrrp_instance is configured");
    }
    let mut instances = Vec::new();
    let mut names: HashMap<String, Span> = HashMap::new();
    // (interface, family, vrid) -> (instance span, unicast source if unicast)
    let mut vrids: HashMap<(String, Family, u8), (Span, Option<IpAddr>)> = HashMap::new();
    let mut vip_owner: HashMap<IpAddr, String> = HashMap::new();

    for raw in parsed.instances {
        let duplicate = match names.get(&raw.name) {
            Some(first) if !raw.name.is_empty() => {
                d.error_hint(
                    raw.name_span,
                    format!("duplicate instance name `{}`", raw.name),
                    format!("first defined at {}", at(map, *first)),
                );
                true
            }
            _ => {
                names.insert(raw.name.clone(), raw.name_span);
                false
            }
        };
        let span = raw.span;
        let vrid_span = raw.vrid.as_ref().map_or(raw.span, |v| v.span);
        let vmac = raw.use_vmac.as_ref().map(|v| (v.v.is_none(), v.span));
        let Some(inst) = instance(raw, &global, map, d) else {
            continue;
        };
        if duplicate {
            continue;
        }
        let unicast_src = if inst.unicast_peers.is_empty() {
            None
        } else {
            inst.unicast_src_ip
        };
        let key = (inst.interface.clone(), inst.family, inst.vrid);
        match vrids.get(&key) {
            // keepalived tells unicast instances on one interface apart by source address.
            Some((_, Some(src))) if unicast_src.is_some_and(|s| s != *src) => {}
            Some((first, _)) => d.error_hint(
                vrid_span,
                format!(
                    "virtual_router_id {} is already used for {} on interface `{}`",
                    inst.vrid,
                    family_name(inst.family),
                    inst.interface
                ),
                format!("by the instance at {}", at(map, *first)),
            ),
            None => {
                vrids.insert(key, (span, unicast_src));
            }
        }
        for vip in &inst.vips {
            match vip_owner.get(&vip.addr) {
                Some(other) if *other != inst.name => d.warn(
                    span,
                    format!(
                        "address {} is a virtual address of both `{other}` and `{}`",
                        vip.addr, inst.name
                    ),
                ),
                Some(_) => {}
                None => {
                    vip_owner.insert(vip.addr, inst.name.clone());
                }
            }
        }
        instances.push((inst, vmac));
    }
    let mut instances = vmac_names(instances, map, d);
    for inst in &mut instances {
        inst.sync_group = sync_groups
            .iter()
            .find(|g| g.members.contains(&inst.name))
            .map(|g| g.name.clone());
    }
    garp_group::apply(garp_groups, &mut instances, map, d);
    Config {
        global,
        instances,
        scripts,
        track_files,
        track_processes,
        sync_groups,
        interface_delays,
        virtual_servers,
        virtual_server_groups,
        ssl,
        statics,
    }
}

/// Checks `use_vmac` names and picks the default ones as keepalived does: `vrrp.VRID`, and
/// when that is taken `vrrp1.VRID`, `vrrp2.VRID`... (`vrrp6.VRID` first for IPv6).
fn vmac_names(
    mut list: Vec<(VrrpInstance, Option<(bool, Span)>)>,
    map: &SourceMap,
    d: &mut Diags,
) -> Vec<VrrpInstance> {
    let interfaces: Vec<String> = list.iter().map(|(i, _)| i.interface.clone()).collect();
    let mut taken: HashMap<String, (String, Span)> = HashMap::new();
    for (inst, vmac) in &list {
        let (Some(name), Some((false, span))) = (&inst.use_vmac, vmac) else {
            continue;
        };
        if interfaces.contains(name) {
            d.error(
                *span,
                format!("use_vmac interface `{name}` is the name of a configured interface"),
            );
        } else if let Some((other, at_other)) = taken.get(name) {
            d.error_hint(
                *span,
                format!("use_vmac interface `{name}` is also used by instance `{other}`"),
                format!("see {}", at(map, *at_other)),
            );
        } else {
            taken.insert(name.clone(), (inst.name.clone(), *span));
        }
    }
    for (inst, vmac) in &mut list {
        let Some((true, span)) = vmac else {
            continue;
        };
        let vrid = inst.vrid;
        let nums = match inst.family {
            Family::Ipv4 => (1..1000).collect::<Vec<u32>>(),
            Family::Ipv6 => std::iter::once(6)
                .chain((1..1000).filter(|&n| n != 6))
                .collect(),
        };
        let candidates = std::iter::once(format!("vrrp.{vrid}"))
            .chain(nums.into_iter().map(|n| format!("vrrp{n}.{vrid}")));
        for c in candidates {
            if !taken.contains_key(&c) && !interfaces.contains(&c) {
                taken.insert(c.clone(), (inst.name.clone(), *span));
                inst.use_vmac = Some(c);
                break;
            }
        }
    }
    list.into_iter().map(|(i, _)| i).collect()
}

fn global_defs(raw: RawGlobal) -> GlobalDefs {
    let mut g = raw.defs;
    if !raw.lower_prio_delay_set {
        g.garp.lower_prio_delay = g.garp.master_delay;
    }
    if !raw.lower_prio_repeat_set {
        g.garp.lower_prio_repeat = g.garp.master_repeat;
    }
    g
}

fn at(map: &SourceMap, s: Span) -> String {
    format!("{}:{}:{}", map.path(s.file).display(), s.line, s.col)
}

fn family_name(f: Family) -> &'static str {
    match f {
        Family::Ipv4 => "IPv4",
        Family::Ipv6 => "IPv6",
    }
}

/// Applies defaults and the per-instance rules. `None` when the instance is unusable.
fn instance(
    raw: RawInstance,
    g: &GlobalDefs,
    map: &SourceMap,
    d: &mut Diags,
) -> Option<VrrpInstance> {
    let errors_before = d.errors.len();
    let strict = instance_extra::strict(&raw, g);
    let span = raw.span;
    let name = &raw.name;
    let present = |k: &str| raw.seen.contains_key(k);

    // Family: from the first VIP, else from a configured source or peer address.
    let family = raw
        .vips
        .first()
        .map(|v| v.v.family())
        .or(raw.unicast_src_ip.as_ref().map(|a| Family::of(&a.v)))
        .or(raw.mcast_src_ip.as_ref().map(|a| Family::of(&a.v)))
        .or(raw.unicast_peers.first().map(|a| Family::of(&a.v)))
        .unwrap_or(Family::Ipv4);
    for vip in &raw.vips {
        if vip.v.family() != family {
            d.error_hint(
                vip.span,
                format!(
                    "{} address {} in an {} instance",
                    family_name(vip.v.family()),
                    vip.v.addr,
                    family_name(family)
                ),
                "all virtual_ipaddress entries of an instance must be of one family; \
                 put the others in virtual_ipaddress_excluded",
            );
        }
    }
    for (kw, addr) in [
        ("unicast_src_ip", &raw.unicast_src_ip),
        ("mcast_src_ip", &raw.mcast_src_ip),
    ] {
        if let Some(a) = addr
            && Family::of(&a.v) != family
        {
            {
                d.error(
                    a.span,
                    format!(
                        "`{kw}` {} is {} but the instance is {}",
                        a.v,
                        family_name(Family::of(&a.v)),
                        family_name(family)
                    ),
                );
            }
        }
    }
    // keepalived reads both keywords into the one source address.
    if let (Some(u), Some(m)) = (&raw.unicast_src_ip, &raw.mcast_src_ip)
        && u.v != m.v
    {
        d.error_hint(
            m.span,
            format!(
                "`mcast_src_ip` {} differs from `unicast_src_ip` {}",
                m.v, u.v
            ),
            "both keywords set the same source address; give only one",
        );
    }
    for p in &raw.unicast_peers {
        if Family::of(&p.v) != family {
            d.error(
                p.span,
                format!(
                    "unicast peer {} is {} but the instance is {}",
                    p.v,
                    family_name(Family::of(&p.v)),
                    family_name(family)
                ),
            );
        }
    }

    // Version: IPv6 forces 3 unless `version 2` is explicit, which is refused.
    let version = match (&raw.version, family) {
        (Some(v), Family::Ipv6) if v.v == 2 => {
            d.error_hint(
                v.span,
                "VRRP version 2 does not support IPv6",
                "remove `version 2`: IPv6 instances use version 3",
            );
            3
        }
        (Some(v), _) => v.v,
        (None, Family::Ipv6) => 3,
        (None, Family::Ipv4) => g.vrrp_version,
    };

    let interface = match &raw.interface {
        Some(i) => i.v.clone(),
        None => {
            if !present("interface") {
                d.error_hint(
                    span,
                    format!("instance `{name}` has no `interface`"),
                    "vrrpd requires `interface`, also for unicast instances",
                );
            }
            String::new()
        }
    };
    let vrid = match &raw.vrid {
        Some(v) => v.v,
        None => {
            if !present("virtual_router_id") {
                d.error(
                    span,
                    format!("instance `{name}` has no `virtual_router_id`"),
                );
            }
            0
        }
    };

    // Role, initial state and priority, as keepalived derives them from each other.
    let state = raw.state.as_ref().map(|s| s.v);
    let role = if state == Some(StateKw::Observer) {
        Role::Observer
    } else {
        Role::Router
    };
    let priority = match (&raw.priority, state) {
        (Some(p), Some(StateKw::Observer)) if p.v == OWNER_PRIORITY => {
            d.error_hint(
                p.span,
                "an observer cannot have priority 255",
                "observers never become Master; the priority is optional for them",
            );
            p.v
        }
        (Some(p), _) => p.v,
        (None, Some(StateKw::Master)) => OWNER_PRIORITY,
        (None, _) => DEFAULT_PRIORITY,
    };
    let initial_state = match state {
        Some(StateKw::Master) => InitialState::Master,
        Some(_) => InitialState::Backup,
        None if priority == OWNER_PRIORITY => InitialState::Master,
        None => InitialState::Backup,
    };
    if strict && role == Role::Router && state.is_some() {
        let master = initial_state == InitialState::Master;
        if master != (priority == OWNER_PRIORITY) {
            let at = raw.state.as_ref().map_or(span, |s| s.span);
            d.error_hint(
                at,
                "vrrp_strict: state MASTER must match being the address owner (priority 255)",
                "use `state MASTER` with `priority 255` only, or drop `state`",
            );
        }
    }

    // Addresses (none when they were all refused: those errors say enough).
    if raw.vips.is_empty() && !raw.vips_refused {
        if strict {
            d.error(
                span,
                format!("vrrp_strict: instance `{name}` needs at least one virtual_ipaddress"),
            );
        } else if version == 3 && role == Role::Router {
            d.error_hint(
                span,
                format!(
                    "instance `{name}` needs at least one virtual_ipaddress with VRRP version 3"
                ),
                "RFC 9568 erratum 8299: a VRRPv3 advertisement carries at least one address \
                 (vrrpd refuses it even with no_virtual_ipaddress)",
            );
        } else if role == Role::Router && !raw.extra.no_virtual_ipaddress {
            d.warn(
                span,
                format!("instance `{name}` has no virtual_ipaddress; at least one is sensible"),
            );
        }
    }
    if let Some(v) = raw.vips.get(MAX_VIPS) {
        {
            d.error_hint(
                v.span,
                format!("more than {MAX_VIPS} virtual addresses in one instance"),
                "move the rest to virtual_ipaddress_excluded",
            );
        }
    }
    if family == Family::Ipv6
        && raw.unicast_peers.is_empty()
        && let Some(first) = raw.vips.first()
    {
        {
            let link_local = match first.v.addr {
                IpAddr::V6(a) => (a.segments()[0] & 0xffc0) == 0xfe80,
                IpAddr::V4(_) => true,
            };
            if !link_local {
                if strict {
                    d.error(
                        first.span,
                        "vrrp_strict: the first IPv6 virtual address must be link-local",
                    );
                } else {
                    d.warn_hint(
                        first.span,
                        "the first IPv6 virtual address should be link-local (RFC 5798)",
                        "keepalived accepts this too; some peers may not",
                    );
                }
            }
        }
    }

    // Advertisement interval.
    let advert_interval_cs = raw.advert_cs.as_ref().map_or(100, |a| a.v);
    if let Some(a) = &raw.advert_cs {
        if version == 2 && a.v % 100 != 0 {
            d.error_hint(
                a.span,
                format!(
                    "advert_int {}.{:02} is not a whole number of seconds, as VRRP version 2 requires",
                    a.v / 100,
                    a.v % 100
                ),
                "use `version 3` for sub-second intervals",
            );
        } else if version == 3 && a.v > 4095 {
            d.error(
                a.span,
                "advert_int must be at most 40.95 seconds with VRRP version 3",
            );
        }
    }

    // Authentication.
    let auth = match &raw.auth {
        None => None,
        Some(a) => {
            if strict {
                d.error(a.span, "vrrp_strict: authentication is not allowed");
                None
            } else if version == 3 {
                // keepalived ignores it with a remark; OpenStack Octavia writes it for IPv6.
                d.warn_hint(
                    a.span,
                    "VRRP version 3 does not support authentication: the block is ignored",
                    "keepalived ignores it too; remove the authentication block",
                );
                None
            } else {
                match (&a.auth_type, &a.auth_pass) {
                    (Some(_), Some(p)) => {
                        let mut pass = p.v.clone();
                        if pass.len() > 8 {
                            let mut end = 8;
                            while !pass.is_char_boundary(end) {
                                end -= 1;
                            }
                            pass.truncate(end);
                            d.warn(
                                p.span,
                                format!("auth_pass is longer than 8 bytes; only `{pass}` is used"),
                            );
                        }
                        Some(pass)
                    }
                    // A refused value was reported where it is written: one error.
                    (None, _) if a.type_given => None,
                    (Some(_), None) if a.pass_given => None,
                    (None, _) => {
                        d.error(a.span, "authentication needs `auth_type PASS`");
                        None
                    }
                    (Some(_), None) => {
                        d.error(a.span, "authentication needs `auth_pass`");
                        None
                    }
                }
            }
        }
    };

    // Unicast.
    if strict && !raw.unicast_peers.is_empty() {
        let at = raw.seen.get("unicast_peer").copied().unwrap_or(span);
        d.error(at, "vrrp_strict: unicast peers are not allowed");
    }

    // Preemption.
    let mut preempt = !raw.nopreempt.as_ref().is_some_and(|n| n.v);
    let mut preempt_delay = raw.preempt_delay.as_ref().map_or(Duration::ZERO, |p| p.v);
    if role == Role::Router {
        if let Some(n) = raw.nopreempt.as_ref().filter(|n| n.v) {
            if priority == OWNER_PRIORITY {
                d.warn(n.span, "nopreempt has no effect with priority 255; ignored");
                preempt = true;
            } else if initial_state == InitialState::Master {
                d.warn_hint(
                    n.span,
                    "nopreempt does not work with state MASTER; ignored",
                    "use `state BACKUP` with `nopreempt`",
                );
                preempt = true;
            }
        }
        if let Some(p) = raw.preempt_delay.as_ref().filter(|p| !p.v.is_zero()) {
            if strict {
                d.error(p.span, "vrrp_strict: preempt_delay is not allowed");
            } else if initial_state == InitialState::Master {
                d.warn(
                    p.span,
                    "preempt_delay does not work with state MASTER; ignored",
                );
                preempt_delay = Duration::ZERO;
            } else if !preempt {
                d.warn(
                    p.span,
                    "preempt_delay has no effect with nopreempt; ignored",
                );
                preempt_delay = Duration::ZERO;
            }
        }
    }

    // Accept mode: on by default, off in strict mode unless the owner.
    let owner = priority == OWNER_PRIORITY;
    let accept = match &raw.accept {
        Some(a) => {
            if a.v && strict && !owner && version == 2 {
                d.error(
                    a.span,
                    "vrrp_strict: accept mode with VRRP version 2 is only allowed with priority 255",
                );
            }
            a.v
        }
        None => owner || !strict,
    };

    // VMAC.
    let use_vmac = raw
        .use_vmac
        .as_ref()
        .map(|v| v.v.clone().unwrap_or_else(|| format!("vrrp.{vrid}")));
    let mut vmac_xmit_base = raw.vmac_xmit_base.as_ref().is_some_and(|v| v.v);
    if let Some(x) = raw.vmac_xmit_base.as_ref().filter(|x| x.v) {
        if use_vmac.is_none() {
            d.warn(
                x.span,
                "vmac_xmit_base has no effect without use_vmac; ignored",
            );
            vmac_xmit_base = false;
        } else if strict {
            d.error(x.span, "vrrp_strict: vmac_xmit_base is not allowed");
        }
    }

    // Tracked interfaces: the instance's own interface is always tracked.
    let mut track_interfaces = Vec::new();
    for t in &raw.track {
        if t.v.name == interface {
            d.warn(
                t.span,
                format!(
                    "track_interface `{}` is the instance's own interface; ignored",
                    t.v.name
                ),
            );
        } else {
            track_interfaces.push(t.v.clone());
        }
    }

    // GARP: instance keyword, else global; lower-priority GARPs are off in strict mode.
    if strict {
        if let Some(r) = raw.garp_lower_prio_repeat.as_ref().filter(|r| r.v != 0) {
            d.error(
                r.span,
                "vrrp_strict: garp_lower_prio_repeat must be 0 (no repeated GARPs)",
            );
        }
        if let Some(r) = raw
            .garp_lower_prio_delay
            .as_ref()
            .filter(|r| !r.v.is_zero())
        {
            d.error(
                r.span,
                "vrrp_strict: garp_lower_prio_delay must be 0 (no repeated GARPs)",
            );
        }
    }
    let garp = Garp {
        master_delay: raw.garp_master_delay.unwrap_or(g.garp.master_delay),
        master_repeat: raw.garp_master_repeat.unwrap_or(g.garp.master_repeat),
        master_refresh: raw.garp_master_refresh.unwrap_or(g.garp.master_refresh),
        master_refresh_repeat: raw
            .garp_master_refresh_repeat
            .unwrap_or(g.garp.master_refresh_repeat),
        lower_prio_delay: match &raw.garp_lower_prio_delay {
            Some(v) => v.v,
            None if strict => Duration::ZERO,
            None => g.garp.lower_prio_delay,
        },
        lower_prio_repeat: match &raw.garp_lower_prio_repeat {
            Some(v) => v.v,
            None if strict => 0,
            None => g.garp.lower_prio_repeat,
        },
        interval: g.garp.interval,
        gna_interval: g.garp.gna_interval,
        extra_if: raw
            .extra
            .garp_extra_if
            .as_ref()
            .map(|x| x.v)
            .or(g.garp.extra_if)
            .filter(|x| !x.interval.is_zero()),
    };
    let lower_prio_no_advert = match &raw.lower_prio_no_advert {
        Some(v) => {
            if strict && !v.v {
                d.error(
                    v.span,
                    "vrrp_strict: lower_prio_no_advert cannot be turned off",
                );
            }
            v.v
        }
        None => strict || g.lower_prio_no_advert,
    };
    let higher_prio_send_advert = match &raw.higher_prio_send_advert {
        Some(v) => {
            if strict && v.v {
                d.error(
                    v.span,
                    "vrrp_strict: higher_prio_send_advert is not allowed",
                );
            }
            v.v
        }
        None => !strict && g.higher_prio_send_advert,
    };

    let extra = instance_extra::resolve(&raw, g, strict, priority, map, d);
    if d.errors.len() > errors_before {
        return None;
    }
    let vips: Vec<Vip> = raw.vips.iter().map(|v| v.v.clone()).collect();
    Some(VrrpInstance {
        name: raw.name.clone(),
        initial_state,
        role,
        interface,
        vrid,
        priority,
        advert_interval_cs,
        version,
        family,
        vips,
        excluded_vips: raw.excluded.iter().map(|v| v.v.clone()).collect(),
        auth,
        preempt,
        preempt_delay,
        unicast_src_ip: raw.unicast_src_ip.as_ref().map(|a| a.v),
        unicast_peers: raw.unicast_peers.iter().map(|a| a.v).collect(),
        mcast_src_ip: raw.mcast_src_ip.as_ref().map(|a| a.v),
        accept,
        use_vmac,
        vmac_xmit_base,
        track_interfaces,
        dont_track_primary: raw.dont_track_primary,
        garp,
        lower_prio_no_advert,
        higher_prio_send_advert,
        v3_checksum_as_v2: raw.v3_checksum_as_v2.unwrap_or(g.v3_checksum_as_v2),
        track_scripts: raw.track_scripts.iter().map(|t| t.v.clone()).collect(),
        track_files: raw.track_files.iter().map(|t| t.v.clone()).collect(),
        track_processes: raw.track_processes.iter().map(|t| t.v.clone()).collect(),
        notify: tracking::notify(&raw.notify, map),
        notify_master_change: raw
            .notify_master_change
            .as_ref()
            .map(|c| tracking::command(c, map)),
        virtual_routes: raw
            .routes
            .iter()
            .map(|r| {
                let mut v = r.v.clone();
                v.location = map.location(r.span);
                v
            })
            .collect(),
        virtual_rules: raw
            .rules
            .iter()
            .map(|r| {
                let mut v = r.v.rule.clone();
                if !r.v.family_known {
                    v.family = family;
                }
                v.location = map.location(r.span);
                v
            })
            .collect(),
        promote_secondaries: raw.promote_secondaries,
        unicast_ttl: extra.unicast_ttl,
        check_unicast_src: extra.check_unicast_src,
        skip_check_adv_addr: extra.skip_check_adv_addr,
        strict,
        notify_deleted: extra.notify_deleted,
        notify_priority_changes: extra.notify_priority_changes,
        down_timer_adverts: extra.down_timer_adverts,
        owner_ignore_adverts: extra.owner_ignore_adverts,
        track_src_ip: extra.track_src_ip,
        old_unicast_checksum: extra.old_unicast_checksum,
        sync_group: None,
        location: map.location(span),
    })
}
