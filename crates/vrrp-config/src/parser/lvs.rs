//! keepalived's LVS side: `virtual_server`, `virtual_server_group`, `real_server`, the
//! top-level `SSL` block and the LVS keywords of `global_defs`. The checkers are in
//! `checkers.rs`.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use vrrp_lb::spec::{
    Forwarding, IpFamily, Protocol, Scheduler, SchedulerFlags, ServiceAddr, Tunnel, TunnelChecksum,
};

use super::checkers::RawChecker;
use super::{At, BlockCtx, Next, Parser, RawAlertObject, RawCmd, Stmt, word};
use crate::diag::Span;
use crate::keywords::{self, Block};
use crate::value;

/// Longest LVS timer (seconds): keepalived keeps them in microseconds in 32 bits at most.
pub(crate) const MAX_LVS_TIMER: u64 = u32::MAX as u64 / 1000;

/// How a `virtual_server` names its service.
#[derive(Debug, Clone)]
pub(crate) enum RawVsKey {
    Socket(SocketAddr),
    Fwmark(u32, Option<IpFamily>),
    Group(String),
}

/// The settings a checker inherits: checker, else real server, else virtual server.
#[derive(Debug, Clone, Default)]
pub(crate) struct RawTiming {
    pub delay_loop: Option<Duration>,
    pub connect_timeout: Option<Duration>,
    pub retry: Option<u32>,
    pub delay_before_retry: Option<Duration>,
    pub warmup: Option<Duration>,
    pub alpha: Option<bool>,
}

/// `virtual_server ... { }` as written.
#[derive(Debug)]
pub(crate) struct RawVs {
    pub span: Span,
    pub key: Option<At<RawVsKey>>,
    pub scheduler: Option<At<Scheduler>>,
    pub flags: SchedulerFlags,
    pub forwarding: Option<At<Forwarding>>,
    pub protocol: Option<At<Protocol>>,
    pub persistence_timeout: Option<Duration>,
    pub granularity: Option<At<u8>>,
    pub timing: RawTiming,
    pub inhibit: Option<bool>,
    pub weight: Option<u32>,
    pub quorum: u32,
    pub hysteresis: u32,
    pub quorum_up: Option<RawCmd>,
    pub quorum_down: Option<RawCmd>,
    pub sorry: Option<At<(IpAddr, Option<u16>)>>,
    pub sorry_inhibit: bool,
    pub sorry_forwarding: Option<At<Forwarding>>,
    pub omega: bool,
    pub ha_suspend: bool,
    pub bgp_announce: Option<Span>,
    pub virtualhost: Option<String>,
    pub ip_family: Option<At<IpFamily>>,
    pub real_servers: Vec<RawRs>,
}

/// `real_server IP [PORT] { }` as written.
#[derive(Debug)]
pub(crate) struct RawRs {
    pub span: Span,
    /// `None` when the address was invalid (already reported).
    pub addr: Option<(IpAddr, Option<u16>)>,
    pub weight: Option<u32>,
    pub forwarding: Option<At<Forwarding>>,
    pub inhibit: Option<bool>,
    pub notify_up: Option<RawCmd>,
    pub notify_down: Option<RawCmd>,
    pub uthreshold: u32,
    pub lthreshold: u32,
    pub timing: RawTiming,
    pub virtualhost: Option<String>,
    pub checkers: Vec<RawChecker>,
}

/// `virtual_server_group NAME { }` as written.
#[derive(Debug)]
pub(crate) struct RawVsGroup {
    pub name: String,
    pub span: Span,
    pub name_span: Span,
    pub addrs: Vec<At<ServiceAddr>>,
}

pub(super) fn u32_of(s: &str, min: i64) -> Result<u32, String> {
    value::int(s, min, i64::from(u32::MAX)).map(|v| u32::try_from(v).unwrap_or(u32::MAX))
}

pub(super) fn port(s: &str) -> Result<u16, String> {
    value::int(s, 0, 65535)
        .map(|v| u16::try_from(v).unwrap_or(0))
        .map_err(|_| "must be a port number between 0 and 65535".to_owned())
}

pub(super) fn family(s: &str) -> Result<IpFamily, String> {
    match s {
        "inet" => Ok(IpFamily::V4),
        "inet6" => Ok(IpFamily::V6),
        _ => Err("must be inet or inet6".to_owned()),
    }
}

/// A fwmark: decimal or `0x` hex, not 0.
pub(crate) fn fwmark(s: &str) -> Result<u32, String> {
    let v = match s.strip_prefix("0x").or(s.strip_prefix("0X")) {
        Some(h) => u32::from_str_radix(h, 16).map_err(|_| "is not a 32-bit number".to_owned())?,
        None => u32_of(s, 0).map_err(|_| "is not a 32-bit number".to_owned())?,
    };
    if v == 0 {
        return Err("must not be 0".to_owned());
    }
    Ok(v)
}

fn protocol(w: &str) -> Result<Protocol, String> {
    match w.to_ascii_uppercase().as_str() {
        "TCP" => Ok(Protocol::Tcp),
        "UDP" => Ok(Protocol::Udp),
        "SCTP" => Ok(Protocol::Sctp),
        _ => Err("must be TCP, UDP or SCTP".to_owned()),
    }
}

/// `persistence_granularity`: a prefix length or an IPv4 netmask.
fn granularity(s: &str) -> Result<u8, String> {
    if let Ok(mask) = s.parse::<Ipv4Addr>() {
        let m = u32::from(mask);
        if m.leading_ones() + m.trailing_zeros() != 32 || m == 0 {
            return Err("is not a contiguous netmask".to_owned());
        }
        return Ok(u8::try_from(m.leading_ones()).unwrap_or(32));
    }
    value::int(s, 1, 128)
        .map(|v| u8::try_from(v).unwrap_or(128))
        .map_err(|_| "must be a netmask or a prefix length 1-128".to_owned())
}

impl<'t> Parser<'t, '_> {
    /// The next statement of an LVS block: a keyword of `own`, else of `shared` (the
    /// checkers' common options), with its block opened when the table says so.
    pub(super) fn lvs_stmt(
        &mut self,
        ctx: &BlockCtx<'_>,
        own: Block,
        shared: Option<Block>,
        seen: &mut HashMap<String, Span>,
    ) -> Option<Option<(Stmt<'t>, Block)>> {
        let Next::Stmt(s) = self.next_in_block(ctx) else {
            return None;
        };
        let block = match (keywords::lookup(own, s.name), shared) {
            (Some(_), _) => own,
            (None, Some(b)) if keywords::lookup(b, s.name).is_some() => b,
            _ => {
                if s.name == "BFD_CHECK" {
                    self.d.error_hint(
                        s.span(),
                        "BFD_CHECK is not supported: vrrpd has no BFD; check the real server with another checker (TCP_CHECK, PING_CHECK...)",
                        "keepalived knows this keyword but vrrpd does not support it (see docs/config.md)",
                    );
                    if self.peek_open() {
                        self.skip_block();
                    }
                } else {
                    // "Did you mean" looks in the block that has the closest keyword.
                    let nearest = |b: Block| {
                        keywords::supported(b)
                            .map(|k| value::distance(s.name, k))
                            .min()
                            .unwrap_or(usize::MAX)
                    };
                    let block = match shared {
                        Some(b) if nearest(b) < nearest(own) => b,
                        _ => own,
                    };
                    self.unsupported(&s, block);
                }
                return Some(None);
            }
        };
        if !self.keyword_shape(&s, block, seen) {
            return Some(None);
        }
        Some(Some((s, block)))
    }

    /// `lvs_method NAT|DR|TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]`.
    pub(super) fn lvs_method(&mut self, s: &Stmt<'t>) -> Option<At<Forwarding>> {
        const HINT: &str =
            "write `NAT`, `DR` or `TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]`";
        let Some((first, rest)) = s.args.split_first() else {
            self.d
                .error_hint(s.span(), format!("`{}` needs a value", s.name), HINT);
            return None;
        };
        let at = |v| {
            Some(At {
                v,
                span: first.span,
            })
        };
        match (word(first), rest) {
            ("NAT", []) => return at(Forwarding::Nat),
            ("DR", []) => return at(Forwarding::Dr),
            ("TUN", _) => {}
            ("NAT" | "DR", [extra, ..]) => {
                self.d.error_hint(
                    extra.span,
                    format!("unexpected `{}` after `{}`", word(extra), word(first)),
                    HINT,
                );
                return None;
            }
            (w, _) => {
                self.d.error_hint(
                    first.span,
                    format!("invalid {} `{w}`: must be NAT, DR or TUN", s.name),
                    HINT,
                );
                return None;
            }
        }
        let mut tunnel = Tunnel::Ipip;
        let mut checksum = TunnelChecksum::None;
        let mut gue_port = None;
        let mut gue_at = None;
        let mut it = rest.iter();
        // keepalived takes `type`, `port` and the checksum in any order.
        while let Some(t) = it.next() {
            match word(t) {
                "type" => {
                    tunnel = match it.next().map(|k| word(k)) {
                        Some("ipip") => Tunnel::Ipip,
                        Some("gre") => Tunnel::Gre,
                        Some("gue") => {
                            gue_at = Some(t.span);
                            Tunnel::Gue { port: 0 }
                        }
                        _ => {
                            self.d
                                .error_hint(t.span, "`type` needs ipip, gue or gre", HINT);
                            return None;
                        }
                    };
                }
                "port" => match it.next().map(|p| (p, port(word(p)))) {
                    Some((_, Ok(n))) if n != 0 => gue_port = Some((n, t.span)),
                    Some((p, _)) => {
                        self.d.error(
                            p.span,
                            format!("invalid gue port `{}`: must be 1 to 65535", word(p)),
                        );
                        return None;
                    }
                    None => {
                        self.d.error_hint(t.span, "`port` needs a value", HINT);
                        return None;
                    }
                },
                "nocsum" => checksum = TunnelChecksum::None,
                "csum" => checksum = TunnelChecksum::Csum,
                "remcsum" => checksum = TunnelChecksum::Remcsum,
                w => {
                    self.d
                        .error_hint(t.span, format!("unexpected `{w}` in `{}`", s.name), HINT);
                    return None;
                }
            }
        }
        match (tunnel, gue_port, gue_at) {
            (Tunnel::Gue { .. }, Some((port, _)), _) => tunnel = Tunnel::Gue { port },
            (Tunnel::Gue { .. }, None, Some(at)) => {
                self.d.error_hint(at, "`type gue` needs `port N`", HINT);
                return None;
            }
            (_, Some((_, at)), _) => {
                self.d.error_hint(at, "`port` is for `type gue` only", HINT);
                return None;
            }
            _ => {}
        }
        if checksum == TunnelChecksum::Remcsum && !matches!(tunnel, Tunnel::Gue { .. }) {
            self.d
                .error_hint(first.span, "`remcsum` is for `type gue` only", HINT);
            return None;
        }
        if checksum != TunnelChecksum::None && tunnel == Tunnel::Ipip {
            self.d.error_hint(
                first.span,
                "checksums are for `type gue` or `type gre`",
                HINT,
            );
            return None;
        }
        at(Forwarding::Tun { tunnel, checksum })
    }

    /// `delay_loop`, `connect_timeout`, `retry`, `delay_before_retry`, `warmup`, `alpha`.
    pub(super) fn timing(&mut self, t: &mut RawTiming, s: &Stmt<'t>) {
        let timer = |p: &mut Self, positive: bool| {
            let v = p.value(s, |w| value::timer(w, MAX_LVS_TIMER))?;
            if positive && v.v.is_zero() {
                p.d.error(
                    v.span,
                    format!("invalid {} `0`: must be more than 0", s.name),
                );
                return None;
            }
            Some(v.v)
        };
        match s.name {
            "delay_loop" => t.delay_loop = timer(self, true).or(t.delay_loop),
            "connect_timeout" => t.connect_timeout = timer(self, true).or(t.connect_timeout),
            "delay_before_retry" => {
                t.delay_before_retry = timer(self, false).or(t.delay_before_retry)
            }
            "warmup" => t.warmup = timer(self, false).or(t.warmup),
            "alpha" => t.alpha = self.flag(s).map(|v| v.v).or(t.alpha),
            _ => t.retry = self.value(s, |w| u32_of(w, 0)).map(|v| v.v).or(t.retry),
        }
    }

    fn ip_port(&mut self, s: &Stmt<'t>) -> Option<At<(IpAddr, Option<u16>)>> {
        let (a, p) = match s.args.as_slice() {
            [a] => (a, None),
            [a, p] => (a, Some(p)),
            [] => {
                self.d.error_hint(
                    s.span(),
                    format!("`{}` needs an address", s.name),
                    format!("write `{} IP [PORT]`", s.name),
                );
                return None;
            }
            [_, _, extra, ..] => {
                self.d.error_hint(
                    extra.span,
                    format!("unexpected `{}` after `{} IP PORT`", word(extra), s.name),
                    format!("write `{} IP [PORT]`", s.name),
                );
                return None;
            }
        };
        let addr = match value::ip(word(a)) {
            Ok(v) => v,
            Err(reason) => {
                self.d.error(
                    a.span,
                    format!("invalid {} address `{}`: {reason}", s.name, word(a)),
                );
                return None;
            }
        };
        let port = match p.map(|p| (p, port(word(p)))) {
            None => None,
            Some((_, Ok(v))) => Some(v),
            Some((p, Err(reason))) => {
                self.d.error(
                    p.span,
                    format!("invalid {} port `{}`: {reason}", s.name, word(p)),
                );
                return None;
            }
        };
        Some(At {
            v: (addr, port),
            span: a.span,
        })
    }

    fn vs_key(&mut self, st: &Stmt<'t>) -> Option<At<RawVsKey>> {
        const HINT: &str = "write `virtual_server IP PORT`, `virtual_server fwmark N [inet|inet6]` or `virtual_server group NAME`";
        let first = st.args.first()?;
        let span = first.span;
        let key = match st.args.as_slice() {
            [g, name] if word(g) == "group" => RawVsKey::Group(word(name).to_owned()),
            [f, rest @ ..] if word(f) == "fwmark" => {
                let (mark, fam) = match rest {
                    [m] => (m, None),
                    [m, f] => (m, Some(f)),
                    _ => {
                        self.d.error_hint(span, "`fwmark` needs a mark", HINT);
                        return None;
                    }
                };
                let fam = match fam.map(|f| (f, family(word(f)))) {
                    None => None,
                    Some((_, Ok(v))) => Some(v),
                    Some((f, Err(reason))) => {
                        self.d
                            .error(f.span, format!("invalid family `{}`: {reason}", word(f)));
                        return None;
                    }
                };
                match fwmark(word(mark)) {
                    Ok(m) => RawVsKey::Fwmark(m, fam),
                    Err(reason) => {
                        self.d.error(
                            mark.span,
                            format!("invalid fwmark `{}`: {reason}", word(mark)),
                        );
                        return None;
                    }
                }
            }
            _ => {
                let at = self.ip_port(st)?;
                RawVsKey::Socket(SocketAddr::new(at.v.0, at.v.1.unwrap_or(0)))
            }
        };
        Some(At { v: key, span })
    }

    pub(super) fn virtual_server(&mut self, st: &Stmt<'t>) {
        let key = if st.args.is_empty() {
            self.d.error_hint(
                st.span(),
                "`virtual_server` needs an address",
                "write `virtual_server IP PORT`, `virtual_server fwmark N` or `virtual_server group NAME`",
            );
            None
        } else {
            self.vs_key(st)
        };
        if !self.expect_top_open(st) {
            return;
        }
        let mut vs = RawVs {
            span: st.span(),
            key,
            scheduler: None,
            flags: SchedulerFlags::default(),
            forwarding: None,
            protocol: None,
            persistence_timeout: None,
            granularity: None,
            timing: RawTiming::default(),
            inhibit: None,
            weight: None,
            quorum: 1,
            hysteresis: 0,
            quorum_up: None,
            quorum_down: None,
            sorry: None,
            sorry_inhibit: false,
            sorry_forwarding: None,
            omega: false,
            ha_suspend: false,
            bgp_announce: None,
            virtualhost: None,
            ip_family: None,
            real_servers: Vec::new(),
        };
        let ctx = BlockCtx {
            name: "virtual_server",
            span: st.span(),
        };
        let mut seen = HashMap::new();
        while let Some(s) = self.lvs_stmt(&ctx, Block::VirtualServer, None, &mut seen) {
            let Some((s, _)) = s else { continue };
            self.vs_stmt(&mut vs, &s);
        }
        self.virtual_servers.push(vs);
    }

    fn vs_stmt(&mut self, vs: &mut RawVs, s: &Stmt<'t>) {
        match s.name {
            "lvs_sched" | "lb_algo" => {
                let names: Vec<&str> = Scheduler::ALL.iter().map(|s| s.name()).collect();
                let v = self.value(s, |w| {
                    Scheduler::from_name(w)
                        .ok_or_else(|| format!("must be one of {}", names.join(", ")))
                });
                // Refused (reported): `rr`, which every data path has, so that the data-path
                // check does not echo the error with the default `wlc`.
                let refused = At {
                    v: Scheduler::Rr,
                    span: s.span(),
                };
                vs.scheduler = v.or(vs.scheduler.take()).or(Some(refused));
            }
            "lvs_method" | "lb_kind" => {
                vs.forwarding = self.lvs_method(s).or(vs.forwarding.take());
            }
            "protocol" => {
                vs.protocol = self.value(s, protocol).or(vs.protocol.take());
            }
            "persistence_timeout" => {
                if s.args.is_empty() {
                    vs.persistence_timeout = Some(Duration::from_secs(360));
                } else if let Some(v) = self.value(s, |w| value::int(w, 1, 86400 * 31)) {
                    vs.persistence_timeout = Some(Duration::from_secs(v.v.unsigned_abs()));
                }
            }
            "persistence_granularity" => {
                vs.granularity = self.value(s, granularity).or(vs.granularity.take());
            }
            "flag-1" | "sh-fallback" | "mh-fallback" | "flag-2" | "sh-port" | "mh-port"
            | "flag-3" | "ops" => {
                if let Some(v) = self.flag(s) {
                    let f = &mut vs.flags;
                    let slot = match s.name {
                        "flag-1" | "sh-fallback" | "mh-fallback" => &mut f.flag1,
                        "flag-2" | "sh-port" | "mh-port" => &mut f.flag2,
                        "flag-3" => &mut f.flag3,
                        _ => &mut f.one_packet,
                    };
                    *slot = v.v;
                }
            }
            "hashed" => self
                .d
                .warn(s.span(), "`hashed` is a legacy keyword; ignored"),
            "delay_loop" | "connect_timeout" | "retry" | "delay_before_retry" | "warmup"
            | "alpha" => self.timing(&mut vs.timing, s),
            "inhibit_on_failure" => vs.inhibit = self.flag(s).map(|v| v.v).or(vs.inhibit),
            "weight" => {
                let v = self.value(s, |w| value::int(w, 1, i64::from(i32::MAX)));
                vs.weight = v.map(|v| u32::try_from(v.v).unwrap_or(1)).or(vs.weight);
            }
            "quorum" => vs.quorum = self.value(s, |w| u32_of(w, 1)).map_or(vs.quorum, |v| v.v),
            "hysteresis" => {
                vs.hysteresis = self
                    .value(s, |w| u32_of(w, 0))
                    .map_or(vs.hysteresis, |v| v.v)
            }
            "quorum_up" => vs.quorum_up = self.command(s, true).or(vs.quorum_up.take()),
            "quorum_down" => vs.quorum_down = self.command(s, true).or(vs.quorum_down.take()),
            "sorry_server" => vs.sorry = self.ip_port(s).or(vs.sorry.take()),
            "sorry_server_inhibit" => {
                vs.sorry_inhibit = self.flag(s).map_or(vs.sorry_inhibit, |v| v.v)
            }
            "sorry_server_lvs_method" => {
                vs.sorry_forwarding = self.lvs_method(s).or(vs.sorry_forwarding.take())
            }
            "omega" => vs.omega = self.flag(s).map_or(vs.omega, |v| v.v),
            "ha_suspend" => vs.ha_suspend = self.flag(s).map_or(vs.ha_suspend, |v| v.v),
            "bgp_announce" => {
                if let Some(v) = self.flag(s) {
                    vs.bgp_announce = v.v.then(|| s.span());
                }
            }
            "virtualhost" => vs.virtualhost = self.value(s, |w| Ok(w.to_owned())).map(|v| v.v),
            "ip_family" => vs.ip_family = self.value(s, family).or(vs.ip_family.take()),
            "real_server" => {
                let rs = self.real_server(s);
                vs.real_servers.push(rs);
            }
            "smtp_alert" => self.smtp_alert_switch(s, RawAlertObject::VirtualServer(vs.span)),
            _ => self.unsupported(s, Block::VirtualServer),
        }
    }

    fn real_server(&mut self, st: &Stmt<'t>) -> RawRs {
        let mut rs = RawRs {
            span: st.span(),
            addr: self.ip_port(st).map(|a| a.v),
            weight: None,
            forwarding: None,
            inhibit: None,
            notify_up: None,
            notify_down: None,
            uthreshold: 0,
            lthreshold: 0,
            timing: RawTiming::default(),
            virtualhost: None,
            checkers: Vec::new(),
        };
        let ctx = BlockCtx {
            name: "real_server",
            span: st.span(),
        };
        let mut seen = HashMap::new();
        while let Some(s) = self.lvs_stmt(&ctx, Block::RealServer, None, &mut seen) {
            let Some((s, _)) = s else { continue };
            self.rs_stmt(&mut rs, &s);
        }
        rs
    }

    fn rs_stmt(&mut self, rs: &mut RawRs, s: &Stmt<'t>) {
        match s.name {
            "weight" => {
                let v = self.value(s, |w| value::int(w, 0, i64::from(i32::MAX)));
                rs.weight = v.map(|v| u32::try_from(v.v).unwrap_or(0)).or(rs.weight);
            }
            "lvs_method" => {
                rs.forwarding = self.lvs_method(s).or(rs.forwarding.take());
            }
            "inhibit_on_failure" => rs.inhibit = self.flag(s).map(|v| v.v).or(rs.inhibit),
            "notify_up" => rs.notify_up = self.command(s, true).or(rs.notify_up.take()),
            "notify_down" => rs.notify_down = self.command(s, true).or(rs.notify_down.take()),
            "uthreshold" => {
                rs.uthreshold = self
                    .value(s, |w| u32_of(w, 0))
                    .map_or(rs.uthreshold, |v| v.v)
            }
            "lthreshold" => {
                rs.lthreshold = self
                    .value(s, |w| u32_of(w, 0))
                    .map_or(rs.lthreshold, |v| v.v)
            }
            "delay_loop" | "connect_timeout" | "retry" | "delay_before_retry" | "warmup"
            | "alpha" => self.timing(&mut rs.timing, s),
            "virtualhost" => rs.virtualhost = self.value(s, |w| Ok(w.to_owned())).map(|v| v.v),
            "smtp_alert" => self.smtp_alert_switch(s, RawAlertObject::RealServer(rs.span)),
            "HTTP_GET" | "SSL_GET" | "TCP_CHECK" | "SMTP_CHECK" | "DNS_CHECK" | "MISC_CHECK"
            | "UDP_CHECK" | "PING_CHECK" | "FILE_CHECK" => {
                self.no_args(s);
                if let Some(c) = self.checker(s) {
                    rs.checkers.push(c);
                }
            }
            _ => self.unsupported(s, Block::RealServer),
        }
    }
}
