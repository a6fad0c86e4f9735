//! Virtual servers: keepalived's defaults, the inheritance of checker settings (virtual
//! server, then real server, then checker), group references and the family rules.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use vrrp_lb::check::{CheckKind, CheckTiming, CheckerSpec};
use vrrp_lb::spec::{
    Forwarding, IpFamily, Persistence, Protocol, RealServerKey, RealServerSpec, Scheduler,
    ServiceAddr, ServiceId, ServiceKey, ServiceSpec, SorryServer,
};

use super::tracking::command;
use crate::diag::{Diags, SourceMap, Span};
use crate::model::{LvsGlobal, RealServerHooks, Site, VirtualServer, VirtualServerGroup};
use crate::parser::{At, RawChecker, RawRs, RawTiming, RawVs, RawVsGroup, RawVsKey};

/// keepalived's defaults (`check_data.c`, `check_api.c`).
const DEFAULT_DELAY_LOOP: Duration = Duration::from_secs(60);
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_DELAY_BEFORE_RETRY: Duration = Duration::from_secs(1);

pub(crate) fn site(map: &SourceMap, span: Span) -> Site {
    Site {
        location: map.location(span),
        line: map.snippet(span),
    }
}

fn at(map: &SourceMap, s: Span) -> String {
    format!("{}:{}:{}", map.path(s.file).display(), s.line, s.col)
}

fn family_name(f: IpFamily) -> &'static str {
    match f {
        IpFamily::V4 => "IPv4",
        IpFamily::V6 => "IPv6",
    }
}

/// The `virtual_server_group` blocks, names unique.
pub(crate) fn groups(
    raw: Vec<RawVsGroup>,
    map: &SourceMap,
    d: &mut Diags,
) -> Vec<VirtualServerGroup> {
    let mut names: HashMap<String, Span> = HashMap::new();
    let mut out = Vec::new();
    for g in raw {
        if let Some(first) = names.get(&g.name) {
            d.error_hint(
                g.name_span,
                format!("duplicate virtual_server_group name `{}`", g.name),
                format!("first defined at {}", at(map, *first)),
            );
            continue;
        }
        names.insert(g.name.clone(), g.name_span);
        let mut families = g.addrs.iter().map(|a| (a.v.family(), a.span));
        if let Some((first, _)) = families.next()
            && let Some((_, span)) = families.find(|(f, _)| *f != first)
        {
            d.error_hint(
                span,
                format!(
                    "virtual_server_group `{}` mixes IPv4 and IPv6 entries",
                    g.name
                ),
                "a service has one family: use one group per family",
            );
            continue;
        }
        out.push(VirtualServerGroup {
            name: g.name,
            addrs: g.addrs.into_iter().map(|a| a.v).collect(),
            location: map.location(g.span),
        });
    }
    out
}

/// What the virtual servers need from the rest of the configuration.
pub(crate) struct Context<'a> {
    pub groups: &'a [VirtualServerGroup],
    pub track_files: &'a [String],
    pub lvs: &'a LvsGlobal,
    pub map: &'a SourceMap,
}

/// Every `virtual_server`, with its defaults resolved; unusable ones are reported and left
/// out.
pub(crate) fn virtual_servers(
    raw: Vec<RawVs>,
    cx: &Context<'_>,
    d: &mut Diags,
) -> Vec<VirtualServer> {
    let mut ids: HashMap<ServiceId, Span> = HashMap::new();
    let mut out = Vec::new();
    for vs in raw {
        let Some(v) = virtual_server(vs, cx, d) else {
            continue;
        };
        let (vs, key_span) = v;
        if let Some(first) = ids.get(&vs.spec.id) {
            d.error_hint(
                key_span,
                format!("duplicate virtual_server {}", vs.spec.id),
                format!("first defined at {}", at(cx.map, *first)),
            );
            continue;
        }
        ids.insert(vs.spec.id.clone(), key_span);
        out.push(vs);
    }
    out
}

/// The service's addresses and family, from its key.
fn addrs_of(
    key: &RawVsKey,
    span: Span,
    ip_family: Option<IpFamily>,
    cx: &Context<'_>,
    d: &mut Diags,
) -> Option<(ServiceKey, Vec<ServiceAddr>, IpFamily)> {
    Some(match key {
        RawVsKey::Socket(sa) => (
            ServiceKey::Socket(*sa),
            vec![ServiceAddr::Socket(*sa)],
            IpFamily::of(sa.ip()),
        ),
        RawVsKey::Fwmark(mark, fam) => {
            let family = fam.or(ip_family).unwrap_or_default();
            (
                ServiceKey::Fwmark(*mark),
                vec![ServiceAddr::Fwmark {
                    mark: *mark,
                    family,
                }],
                family,
            )
        }
        RawVsKey::Group(name) => {
            let Some(g) = cx.groups.iter().find(|g| g.name == *name) else {
                let known: Vec<&str> = cx.groups.iter().map(|g| g.name.as_str()).collect();
                let hint = match super::tracking::did_you_mean(name, &known) {
                    Some(h) => h,
                    None => format!("define it with `virtual_server_group {name} {{ ... }}`"),
                };
                d.error_hint(span, format!("unknown virtual_server_group `{name}`"), hint);
                return None;
            };
            let Some(first) = g.addrs.first() else {
                d.error_hint(
                    span,
                    format!("virtual_server_group `{name}` is empty"),
                    "add `IP PORT` or `fwmark N` lines to the group",
                );
                return None;
            };
            (
                ServiceKey::Group(name.clone()),
                g.addrs.clone(),
                first.family(),
            )
        }
    })
}

fn virtual_server(mut vs: RawVs, cx: &Context<'_>, d: &mut Diags) -> Option<(VirtualServer, Span)> {
    let map = cx.map;
    let key = vs.key.take()?;
    let forwarding = vs.forwarding.as_ref().map_or(Forwarding::Nat, |f| f.v);
    // A fwmark service without a family takes the first real server's (tunnelled ones,
    // which may be of either family, aside), as keepalived does.
    let tunnelled = |f: &Option<At<Forwarding>>| {
        matches!(
            f.as_ref().map_or(forwarding, |f| f.v),
            Forwarding::Tun { .. }
        )
    };
    let inferred = vs
        .real_servers
        .iter()
        .filter(|rs| !tunnelled(&rs.forwarding))
        .filter_map(|rs| rs.addr.map(|a| a.0))
        .chain(vs.sorry.iter().map(|s| s.v.0))
        .next()
        .map(IpFamily::of);
    let explicit = vs.ip_family.as_ref().map(|f| f.v);
    let (service_key, addrs, family) = addrs_of(&key.v, key.span, explicit.or(inferred), cx, d)?;
    if vs.real_servers.is_empty() {
        d.warn_hint(
            vs.span,
            "virtual_server has no real_server; it is ignored",
            "keepalived ignores it too",
        );
        return None;
    }
    let port = match key.v {
        RawVsKey::Socket(sa) => sa.port(),
        _ => 0,
    };
    if let (RawVsKey::Fwmark(..), Some(p)) = (&key.v, &vs.protocol) {
        d.warn(
            p.span,
            "`protocol` is ignored for a fwmark service (the mark selects the packets)",
        );
    }
    // `persistence_granularity` alone implies the default timeout (keepalived's pgr_handler).
    let timeout = vs
        .persistence_timeout
        .or(vs.granularity.as_ref().map(|_| Duration::from_secs(360)));
    let persistence = timeout.map(|timeout| Persistence {
        timeout,
        granularity: vs.granularity.as_ref().map(|g| g.v),
    });
    if let Some(g) = &vs.granularity
        && family == IpFamily::V4
        && g.v > 32
    {
        d.error(
            g.span,
            format!(
                "invalid persistence_granularity `{}`: an IPv4 service takes 1 to 32",
                g.v
            ),
        );
    }
    let sorry_server = vs.sorry.as_ref().and_then(|s| {
        let (ip, p) = s.v;
        let sorry_forwarding = vs.sorry_forwarding.as_ref().map_or(forwarding, |f| f.v);
        // A tunnelled server may be of the other family (IPVS carries the family per server).
        let tunnelled = matches!(sorry_forwarding, Forwarding::Tun { .. });
        if IpFamily::of(ip) != family && !tunnelled {
            d.error(
                s.span,
                format!(
                    "sorry server {ip} is {} but the virtual server is {}",
                    family_name(IpFamily::of(ip)),
                    family_name(family)
                ),
            );
            return None;
        }
        Some(SorryServer {
            key: RealServerKey {
                addr: ip,
                port: p.unwrap_or(port),
            },
            forwarding: sorry_forwarding,
            inhibit: vs.sorry_inhibit,
        })
    });
    let mut real_servers = Vec::new();
    let mut hooks = Vec::new();
    let mut seen: HashMap<RealServerKey, Span> = HashMap::new();
    for rs in std::mem::take(&mut vs.real_servers) {
        let Some((spec, hook, span)) = real_server(rs, &vs, family, port, forwarding, cx, d) else {
            continue;
        };
        if let Some(first) = seen.get(&spec.key) {
            d.error_hint(
                span,
                format!("duplicate real_server {}", spec.key),
                format!("first defined at {}", at(map, *first)),
            );
            continue;
        }
        seen.insert(spec.key, span);
        real_servers.push(spec);
        hooks.push(hook);
    }
    let total: u64 = real_servers.iter().map(|r| u64::from(r.weight)).sum();
    if !real_servers.is_empty() && u64::from(vs.quorum) > total {
        d.warn(
            vs.span,
            format!(
                "quorum {} is more than the total weight {total} of the real servers: the service is never up",
                vs.quorum
            ),
        );
    }
    let spec = ServiceSpec {
        id: ServiceId {
            key: service_key,
            protocol: vs.protocol.as_ref().map_or(Protocol::Tcp, |p| p.v),
        },
        addrs,
        scheduler: vs.scheduler.as_ref().map_or(Scheduler::Wlc, |s| s.v),
        flags: vs.flags,
        forwarding,
        persistence,
        quorum: vs.quorum,
        hysteresis: vs.hysteresis,
        sorry_server,
        omega: vs.omega,
        ha_suspend: vs.ha_suspend,
        real_servers,
    };
    let out = VirtualServer {
        spec,
        quorum_up: vs.quorum_up.as_ref().map(|c| command(c, map)),
        quorum_down: vs.quorum_down.as_ref().map(|c| command(c, map)),
        real_servers: hooks,
        site: site(map, vs.span),
        scheduler_site: vs.scheduler.as_ref().map(|s| site(map, s.span)),
        lvs_method_site: vs.forwarding.as_ref().map(|s| site(map, s.span)),
        protocol_site: vs.protocol.as_ref().map(|s| site(map, s.span)),
        sorry_lvs_method_site: vs.sorry_forwarding.as_ref().map(|s| site(map, s.span)),
        bgp_announce: vs.bgp_announce.map(|s| site(map, s)),
    };
    if let Some(span) = vs.bgp_announce {
        super::bgp::check_announced(&out.spec, span, d);
    }
    Some((out, key.span))
}

fn real_server(
    rs: RawRs,
    vs: &RawVs,
    family: IpFamily,
    service_port: u16,
    forwarding: Forwarding,
    cx: &Context<'_>,
    d: &mut Diags,
) -> Option<(RealServerSpec, RealServerHooks, Span)> {
    let map = cx.map;
    let (addr, port): (IpAddr, Option<u16>) = rs.addr?;
    let rs_forwarding = rs.forwarding.as_ref().map_or(forwarding, |f| f.v);
    // A tunnelled server may be of the other family (IPVS carries the family per server).
    let tunnelled = matches!(rs_forwarding, Forwarding::Tun { .. });
    if IpFamily::of(addr) != family && !tunnelled {
        d.error(
            rs.span,
            format!(
                "real server {addr} is {} but the virtual server is {}",
                family_name(IpFamily::of(addr)),
                family_name(family)
            ),
        );
        return None;
    }
    let alpha = rs.timing.alpha.or(vs.timing.alpha).unwrap_or(false);
    let virtualhost = rs.virtualhost.clone().or(vs.virtualhost.clone());
    let mut checkers = Vec::new();
    let mut misc_checks = Vec::new();
    for mut c in rs.checkers {
        if let Some(raw) = c.misc_command.take() {
            let mut cmd = command(&raw, map);
            cmd.user = c.misc_user.take();
            misc_checks.push(cmd);
        }
        if let Some(spec) = checker(
            c,
            &rs.timing,
            &vs.timing,
            alpha,
            virtualhost.as_deref(),
            cx,
            d,
        ) {
            checkers.push(spec);
        }
    }
    let spec = RealServerSpec {
        key: RealServerKey {
            addr,
            port: port.unwrap_or(service_port),
        },
        weight: rs.weight.or(vs.weight).unwrap_or(1),
        forwarding: rs_forwarding,
        inhibit_on_failure: rs.inhibit.or(vs.inhibit).unwrap_or(false),
        upper_threshold: rs.uthreshold,
        lower_threshold: rs.lthreshold,
        alpha,
        has_notify: rs.notify_up.is_some() || rs.notify_down.is_some(),
        checkers,
    };
    let hooks = RealServerHooks {
        notify_up: rs.notify_up.as_ref().map(|c| command(c, map)),
        notify_down: rs.notify_down.as_ref().map(|c| command(c, map)),
        site: site(map, rs.span),
        lvs_method_site: rs.forwarding.as_ref().map(|f| site(map, f.span)),
        misc_checks,
    };
    Some((spec, hooks, rs.span))
}

/// A checker with its settings resolved as keepalived does: the checker's own, else the real
/// server's (which took the virtual server's), else the checker's default.
fn checker(
    c: RawChecker,
    rs: &RawTiming,
    vs: &RawTiming,
    alpha: bool,
    virtualhost: Option<&str>,
    cx: &Context<'_>,
    d: &mut Diags,
) -> Option<CheckerSpec> {
    if let Some(f) = &c.track_file
        && !cx.track_files.contains(&f.v)
    {
        d.error_hint(
            f.span,
            format!("unknown track_file `{}`", f.v),
            format!("define it with `track_file {} {{ file PATH }}`", f.v),
        );
        return None;
    }
    let default_retry = match c.kind {
        CheckKind::Dns(_) => 3,
        CheckKind::Misc(_) => 0,
        _ => 1,
    };
    let t = &c.timing;
    let delay_loop = t
        .delay_loop
        .or(rs.delay_loop)
        .or(vs.delay_loop)
        .unwrap_or(DEFAULT_DELAY_LOOP);
    let timing = CheckTiming {
        delay_loop,
        connect_timeout: t
            .connect_timeout
            .or(rs.connect_timeout)
            .or(vs.connect_timeout)
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT),
        retry: t.retry.or(rs.retry).or(vs.retry).unwrap_or(default_retry),
        delay_before_retry: t
            .delay_before_retry
            .or(rs.delay_before_retry)
            .or(vs.delay_before_retry)
            .unwrap_or(DEFAULT_DELAY_BEFORE_RETRY),
        warmup: t.warmup.or(rs.warmup).or(vs.warmup).unwrap_or(delay_loop),
        alpha: t.alpha.unwrap_or(alpha),
        log_all_failures: c.log_all_failures || cx.lvs.checker_log_all_failures,
    };
    let mut kind = c.kind;
    if let CheckKind::Http(h) | CheckKind::Ssl(h) = &mut kind {
        if h.virtualhost.is_none() {
            h.virtualhost = virtualhost.map(str::to_owned);
        }
        // `enable_sni` alone: the server name is the virtual host.
        if h.sni.as_deref() == Some("") {
            h.sni = h.virtualhost.clone();
            if h.sni.is_none() {
                d.warn(
                    c.span,
                    "`enable_sni` without `sni_name` nor `virtualhost`: no server name is sent",
                );
            }
        }
    }
    Some(CheckerSpec {
        kind,
        timing,
        target: c.target,
    })
}
