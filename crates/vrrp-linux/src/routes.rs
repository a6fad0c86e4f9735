//! Virtual routes and policy-routing rules through rtnetlink: what keepalived's
//! `virtual_routes` and `virtual_rules` install while Master.
//!
//! The specs here are plain kernel-level values (an interface index for a route's `dev`, names
//! for a rule's `iif`/`oif`, numbers for tables, scopes and protocols); the daemon translates
//! the configuration into them. [`scope_number`] and [`protocol_number`] read keepalived's
//! (and `ip`'s) names.
//!
//! All four operations are idempotent, so a repeated transition or a restart does no harm:
//! adding what is there (or updating it, for a route) and removing what is not there succeed.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures::TryStreamExt;
use netlink_packet_route::AddressFamily;
use netlink_packet_route::route::{RouteMessage, RouteProtocol, RouteScope, RouteType};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleFlags, RuleMessage};
use rtnetlink::{IpVersion, RouteMessageBuilder};
use vrrp_core::packet::Family;

use crate::netlink::{Error, Netlink, Result};

/// RTPROT_KEEPALIVED: the protocol of routes installed without an explicit `proto`, as
/// keepalived does, so `ip route show proto keepalived` lists them.
pub const RTPROT_KEEPALIVED: u8 = 18;

const RT_TABLE_MAIN: u32 = 254;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RT_SCOPE_LINK: u8 = 253;
const RT_SCOPE_NOWHERE: u8 = 255;

/// The type of a route (`ip route add [TYPE] PREFIX ...`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum RouteKind {
    /// A real route, through a gateway and/or out of an interface.
    #[default]
    Unicast,
    /// Silently discard.
    Blackhole,
    /// Discard with ICMP "host unreachable" (`EHOSTUNREACH` locally).
    Unreachable,
    /// Discard with ICMP "administratively prohibited" (`EACCES` locally).
    Prohibit,
}

impl RouteKind {
    fn to_netlink(self) -> RouteType {
        match self {
            RouteKind::Unicast => RouteType::Unicast,
            RouteKind::Blackhole => RouteType::BlackHole,
            RouteKind::Unreachable => RouteType::Unreachable,
            RouteKind::Prohibit => RouteType::Prohibit,
        }
    }

    fn name(self) -> &'static str {
        match self {
            RouteKind::Unicast => "unicast",
            RouteKind::Blackhole => "blackhole",
            RouteKind::Unreachable => "unreachable",
            RouteKind::Prohibit => "prohibit",
        }
    }
}

/// A route to install (one `virtual_routes` line).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RouteSpec {
    /// The destination prefix; host bits beyond `prefix_len` are cleared (as the kernel does
    /// for IPv6; for IPv4 it would refuse them). `prefix_len` 0 is the default route.
    pub dst: IpAddr,
    /// The destination prefix length.
    pub prefix_len: u8,
    /// `via`. An IPv6 gateway for an IPv4 route is sent as RTA_VIA (RFC 5549).
    pub gateway: Option<IpAddr>,
    /// `dev`, as an interface index.
    pub oif: Option<u32>,
    /// `src`: the preferred source address; must be a local address.
    pub src: Option<IpAddr>,
    /// `metric`. `None`: 0 for IPv4, 1024 (chosen by the kernel) for IPv6.
    pub metric: Option<u32>,
    /// `table`. `None`: main (254).
    pub table: Option<u32>,
    /// RT_SCOPE_*. `None`: link for a unicast route without gateway, else universe (as `ip`).
    pub scope: Option<u8>,
    /// RTPROT_*. `None`: [`RTPROT_KEEPALIVED`].
    pub protocol: Option<u8>,
    /// Unicast, blackhole, unreachable or prohibit.
    pub kind: RouteKind,
}

impl RouteSpec {
    /// A unicast route to `dst/prefix_len` with every option unset.
    pub fn new(dst: IpAddr, prefix_len: u8) -> RouteSpec {
        RouteSpec {
            dst,
            prefix_len,
            gateway: None,
            oif: None,
            src: None,
            metric: None,
            table: None,
            scope: None,
            protocol: None,
            kind: RouteKind::Unicast,
        }
    }

    /// The family of the destination.
    pub fn family(&self) -> Family {
        Family::of(&self.dst)
    }

    /// The scope sent when adding.
    fn add_scope(&self) -> u8 {
        self.scope.unwrap_or(
            if self.kind == RouteKind::Unicast && self.gateway.is_none() {
                RT_SCOPE_LINK
            } else {
                RT_SCOPE_UNIVERSE
            },
        )
    }

    fn effective_protocol(&self) -> u8 {
        self.protocol.unwrap_or(RTPROT_KEEPALIVED)
    }

    fn check(&self) -> std::result::Result<(), String> {
        check_prefix(self.dst, self.prefix_len)?;
        if let Some(src) = self.src
            && src.is_ipv4() != self.dst.is_ipv4()
        {
            return Err(format!("src {src} is not of the destination's family"));
        }
        if let Some(gw @ IpAddr::V4(_)) = self.gateway
            && self.dst.is_ipv6()
        {
            return Err(format!("IPv4 gateway {gw} for an IPv6 route"));
        }
        if self.kind != RouteKind::Unicast && self.gateway.is_some() {
            return Err(format!("a {} route has no gateway", self.kind.name()));
        }
        Ok(())
    }

    /// The RTM_NEWROUTE / RTM_DELROUTE message. A delete leaves unset what the kernel treats
    /// as "any" (scope NOWHERE), but keeps the protocol: only a route with our protocol is
    /// removed, not an administrator's route to the same prefix.
    fn message(&self, delete: bool) -> std::result::Result<RouteMessage, String> {
        self.check()?;
        let mut b = RouteMessageBuilder::<IpAddr>::new();
        b.get_mut().header.address_family = match self.family() {
            Family::Ipv4 => AddressFamily::Inet,
            Family::Ipv6 => AddressFamily::Inet6,
        };
        if self.prefix_len > 0 {
            b = b
                .destination_prefix(mask(self.dst, self.prefix_len), self.prefix_len)
                .map_err(|e| e.to_string())?;
        }
        if let Some(gw) = self.gateway {
            b = b.gateway(gw).map_err(|e| e.to_string())?;
        }
        if let Some(oif) = self.oif {
            b = b.output_interface(oif);
        }
        if let Some(src) = self.src {
            b = b.pref_source(src).map_err(|e| e.to_string())?;
        }
        if let Some(metric) = self.metric {
            b = b.priority(metric);
        }
        let scope = if delete {
            self.scope.unwrap_or(RT_SCOPE_NOWHERE)
        } else {
            self.add_scope()
        };
        Ok(b.table_id(self.table.unwrap_or(RT_TABLE_MAIN))
            .kind(self.kind.to_netlink())
            .scope(RouteScope::from(scope))
            .protocol(RouteProtocol::from(self.effective_protocol()))
            .build())
    }
}

/// `ip route` syntax, e.g. `blackhole 10.0.0.0/8 table 100 proto keepalived` or
/// `10.1.0.0/16 via 10.0.0.1 dev ifindex 3 metric 10`.
impl fmt::Display for RouteSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind != RouteKind::Unicast {
            write!(f, "{} ", self.kind.name())?;
        }
        if self.prefix_len == 0 && self.dst.is_unspecified() {
            f.write_str("default")?;
        } else {
            write!(f, "{}/{}", self.dst, self.prefix_len)?;
        }
        if let Some(gw) = self.gateway {
            write!(f, " via {gw}")?;
        }
        if let Some(oif) = self.oif {
            write!(f, " dev ifindex {oif}")?;
        }
        if let Some(src) = self.src {
            write!(f, " src {src}")?;
        }
        if let Some(metric) = self.metric {
            write!(f, " metric {metric}")?;
        }
        if let Some(table) = self.table {
            write!(f, " table {table}")?;
        }
        if let Some(scope) = self.scope {
            match scope_name(scope) {
                Some(name) => write!(f, " scope {name}")?,
                None => write!(f, " scope {scope}")?,
            }
        }
        let proto = self.effective_protocol();
        match protocol_name(proto) {
            Some(name) => write!(f, " proto {name}"),
            None => write!(f, " proto {proto}"),
        }
    }
}

/// A policy-routing rule to install (one `virtual_rules` line): packets matching every given
/// selector look up `table`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RuleSpec {
    /// The family the rule is installed in.
    pub family: Family,
    /// Source prefix; `None` = all. Host bits beyond the length are cleared.
    pub from: Option<(IpAddr, u8)>,
    /// Destination prefix; `None` = all. Host bits beyond the length are cleared.
    pub to: Option<(IpAddr, u8)>,
    /// The table to look up (`table`/`lookup`).
    pub table: u32,
    /// `priority`. `None`: the kernel picks one just below the first non-zero rule, and the
    /// rule is then recognised by its selectors alone.
    pub priority: Option<u32>,
    /// Input interface name (need not exist yet).
    pub iif: Option<String>,
    /// Output interface name (need not exist yet).
    pub oif: Option<String>,
    /// `fwmark`: the firewall mark to match.
    pub fwmark: Option<u32>,
    /// `None` with a mark: all bits (0xffffffff), as the kernel does.
    pub fwmask: Option<u32>,
}

impl RuleSpec {
    /// A rule sending everything of `family` to `table`; set the selectors on the result.
    pub fn new(family: Family, table: u32) -> RuleSpec {
        RuleSpec {
            family,
            from: None,
            to: None,
            table,
            priority: None,
            iif: None,
            oif: None,
            fwmark: None,
            fwmask: None,
        }
    }

    fn check(&self) -> std::result::Result<(), String> {
        for (what, prefix) in [("from", self.from), ("to", self.to)] {
            if let Some((addr, len)) = prefix {
                check_prefix(addr, len)?;
                if Family::of(&addr) != self.family {
                    return Err(format!("{what} {addr}/{len} is not of the rule's family"));
                }
            }
        }
        if self.table == 0 {
            return Err("table 0 (unspec) is not a table".into());
        }
        Ok(())
    }

    /// The RTM_NEWRULE / RTM_DELRULE message, built as `ip rule` does.
    fn message(&self) -> std::result::Result<RuleMessage, String> {
        self.check()?;
        let mut m = RuleMessage::default();
        m.header.family = match self.family {
            Family::Ipv4 => AddressFamily::Inet,
            Family::Ipv6 => AddressFamily::Inet6,
        };
        m.header.action = RuleAction::ToTable;
        match u8::try_from(self.table) {
            Ok(t) => m.header.table = t,
            Err(_) => m.attributes.push(RuleAttribute::Table(self.table)),
        }
        if let Some((addr, len)) = self.from {
            m.header.src_len = len;
            m.attributes.push(RuleAttribute::Source(mask(addr, len)));
        }
        if let Some((addr, len)) = self.to {
            m.header.dst_len = len;
            m.attributes
                .push(RuleAttribute::Destination(mask(addr, len)));
        }
        if let Some(p) = self.priority {
            m.attributes.push(RuleAttribute::Priority(p));
        }
        if let Some(iif) = &self.iif {
            m.attributes.push(RuleAttribute::Iifname(iif.clone()));
        }
        if let Some(oif) = &self.oif {
            m.attributes.push(RuleAttribute::Oifname(oif.clone()));
        }
        if let Some(mark) = self.fwmark {
            m.attributes.push(RuleAttribute::FwMark(mark));
        }
        if let Some(mask) = self.fwmask {
            m.attributes.push(RuleAttribute::FwMask(mask));
        }
        Ok(m)
    }

    /// What identifies this rule in a dump.
    fn key(&self) -> RuleKey {
        let mark = self.fwmark.unwrap_or(0);
        RuleKey {
            family: self.family,
            from: self.from.map(|(a, l)| (mask(a, l), l)),
            to: self.to.map(|(a, l)| (mask(a, l), l)),
            table: self.table,
            priority: self.priority,
            iif: self.iif.clone(),
            oif: self.oif.clone(),
            fwmark: mark,
            fwmask: self.fwmask.unwrap_or(if mark != 0 { u32::MAX } else { 0 }),
            plain: true,
        }
    }
}

/// `ip rule` syntax, e.g. `from 10.0.0.0/24 fwmark 0x1/0xff priority 100 table 100`; IPv6
/// rules start with `-6`.
impl fmt::Display for RuleSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.family == Family::Ipv6 {
            f.write_str("-6 ")?;
        }
        match self.from {
            Some((a, l)) => write!(f, "from {a}/{l}")?,
            None => f.write_str("from all")?,
        }
        if let Some((a, l)) = self.to {
            write!(f, " to {a}/{l}")?;
        }
        if let Some(iif) = &self.iif {
            write!(f, " iif {iif}")?;
        }
        if let Some(oif) = &self.oif {
            write!(f, " oif {oif}")?;
        }
        match (self.fwmark, self.fwmask) {
            (Some(m), Some(k)) => write!(f, " fwmark {m:#x}/{k:#x}")?,
            (Some(m), None) => write!(f, " fwmark {m:#x}")?,
            (None, Some(k)) => write!(f, " fwmark 0x0/{k:#x}")?,
            (None, None) => {}
        }
        if let Some(p) = self.priority {
            write!(f, " priority {p}")?;
        }
        write!(f, " table {}", self.table)
    }
}

/// The fields of a rule that [`RuleSpec`] can express, read from a kernel dump.
#[derive(Debug, PartialEq, Eq)]
struct RuleKey {
    family: Family,
    from: Option<(IpAddr, u8)>,
    to: Option<(IpAddr, u8)>,
    table: u32,
    priority: Option<u32>,
    iif: Option<String>,
    oif: Option<String>,
    fwmark: u32,
    fwmask: u32,
    /// No selector or action a `RuleSpec` cannot express (tos, inversion, goto, uid range,
    /// ports, ...): a rule that has one is someone else's.
    plain: bool,
}

impl RuleKey {
    fn from_message(m: &RuleMessage) -> Option<RuleKey> {
        let family = match m.header.family {
            AddressFamily::Inet => Family::Ipv4,
            AddressFamily::Inet6 => Family::Ipv6,
            _ => return None,
        };
        let mut key = RuleKey {
            family,
            from: None,
            to: None,
            table: u32::from(m.header.table),
            priority: None,
            iif: None,
            oif: None,
            fwmark: 0,
            fwmask: 0,
            plain: m.header.action == RuleAction::ToTable
                && m.header.tos == 0
                && !m.header.flags.contains(RuleFlags::Invert),
        };
        let mut mask = None;
        for a in &m.attributes {
            match a {
                RuleAttribute::Source(ip) => key.from = Some((*ip, m.header.src_len)),
                RuleAttribute::Destination(ip) => key.to = Some((*ip, m.header.dst_len)),
                RuleAttribute::Table(t) => key.table = *t,
                RuleAttribute::Priority(p) => key.priority = Some(*p),
                RuleAttribute::Iifname(n) => key.iif = Some(n.clone()),
                RuleAttribute::Oifname(n) => key.oif = Some(n.clone()),
                RuleAttribute::FwMark(v) => key.fwmark = *v,
                RuleAttribute::FwMask(v) => mask = Some(*v),
                // Always dumped; -1 is "not set".
                RuleAttribute::SuppressPrefixLen(u32::MAX)
                | RuleAttribute::SuppressIfGroup(u32::MAX)
                | RuleAttribute::Protocol(_)
                | RuleAttribute::L3MDev(false) => {}
                _ => key.plain = false,
            }
        }
        key.fwmask = mask.unwrap_or(if key.fwmark != 0 { u32::MAX } else { 0 });
        Some(key)
    }

    /// Whether this (dumped) rule is the one `want` describes; without a wanted priority any
    /// priority matches.
    fn matches(&self, want: &RuleKey) -> bool {
        self.plain
            && self.family == want.family
            && self.from == want.from
            && self.to == want.to
            && self.table == want.table
            && (want.priority.is_none() || self.priority == want.priority)
            && self.iif == want.iif
            && self.oif == want.oif
            && self.fwmark == want.fwmark
            && self.fwmask == want.fwmask
    }
}

fn check_prefix(addr: IpAddr, len: u8) -> std::result::Result<(), String> {
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if len > max {
        return Err(format!("prefix length {len} of {addr} is over {max}"));
    }
    Ok(())
}

/// `addr` with the bits beyond `len` cleared.
fn mask(addr: IpAddr, len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let m = u32::MAX
                .checked_shl(32 - u32::from(len.min(32)))
                .unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & m))
        }
        IpAddr::V6(a) => {
            let m = u128::MAX
                .checked_shl(128 - u32::from(len.min(128)))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & m))
        }
    }
}

/// The RT_SCOPE_* number of a scope name as `ip` and keepalived write it (`global` and
/// `universe` 0, `site` 200, `link` 253, `host` 254, `nowhere` 255), or a number 0-255.
pub fn scope_number(name: &str) -> Option<u8> {
    match name {
        "global" | "universe" => Some(0),
        "site" => Some(200),
        "link" => Some(RT_SCOPE_LINK),
        "host" => Some(254),
        "nowhere" => Some(RT_SCOPE_NOWHERE),
        _ => parse_number(name),
    }
}

fn scope_name(n: u8) -> Option<&'static str> {
    Some(match n {
        0 => "global",
        200 => "site",
        253 => "link",
        254 => "host",
        255 => "nowhere",
        _ => return None,
    })
}

/// RTPROT_* names (`/etc/iproute2/rt_protos`, with keepalived = 18).
const PROTOCOLS: &[(&str, u8)] = &[
    ("unspec", 0),
    ("redirect", 1),
    ("kernel", 2),
    ("boot", 3),
    ("static", 4),
    ("gated", 8),
    ("ra", 9),
    ("mrt", 10),
    ("zebra", 11),
    ("bird", 12),
    ("dnrouted", 13),
    ("xorp", 14),
    ("ntk", 15),
    ("dhcp", 16),
    ("keepalived", RTPROT_KEEPALIVED),
    ("babel", 42),
    ("openr", 99),
    ("bgp", 186),
    ("isis", 187),
    ("ospf", 188),
    ("rip", 189),
    ("eigrp", 192),
];

/// The RTPROT_* number of a route protocol name (`kernel` 2, `boot` 3, `static` 4,
/// `keepalived` 18, the other names of iproute2's `rt_protos`), or a number 0-255.
pub fn protocol_number(name: &str) -> Option<u8> {
    PROTOCOLS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
        .or_else(|| parse_number(name))
}

fn protocol_name(n: u8) -> Option<&'static str> {
    PROTOCOLS
        .iter()
        .find(|(_, v)| *v == n)
        .map(|(name, _)| *name)
}

/// A decimal or `0x` hexadecimal number that fits in a byte.
fn parse_number(s: &str) -> Option<u8> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u8::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

fn errno(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) if m.raw_code() != 0 => Some(m.raw_code().abs()),
        _ => None,
    }
}

fn invalid(op: &'static str, target: String) -> impl FnOnce(String) -> Error {
    move |message| Error::Other {
        op,
        target,
        message,
    }
}

impl Netlink {
    /// Adds a route, or updates it (NLM_F_REPLACE) if the kernel has one with the same key:
    /// destination, table, metric (and TOS). Idempotent. A route with a different metric is a
    /// different route: it is added beside the old one.
    pub async fn add_route(&self, spec: &RouteSpec) -> Result<()> {
        const OP: &str = "add route";
        let msg = spec.message(false).map_err(invalid(OP, spec.to_string()))?;
        match self.handle().route().add(msg).replace().execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(()),
            Err(source) => Err(Error::Netlink {
                op: OP,
                target: spec.to_string(),
                source,
            }),
        }
    }

    /// Removes a route; one that is not there (ESRCH, or ENODEV: its interface is gone, and
    /// its routes with it) is not an error. Matches the destination, table, type, protocol and
    /// the gateway, interface, source, metric and scope that are set.
    pub async fn del_route(&self, spec: &RouteSpec) -> Result<()> {
        const OP: &str = "delete route";
        let msg = spec.message(true).map_err(invalid(OP, spec.to_string()))?;
        match self.handle().route().del(msg).execute().await {
            Ok(()) => Ok(()),
            Err(e) if matches!(errno(&e), Some(libc::ESRCH | libc::ENODEV)) => Ok(()),
            Err(source) => Err(Error::Netlink {
                op: OP,
                target: spec.to_string(),
                source,
            }),
        }
    }

    /// Adds a rule; one that is already there is not an error. With a priority the kernel
    /// tells (EEXIST); without one it would pick a new priority and add a duplicate, so the
    /// rules are listed first and an identical rule at any priority counts as there.
    pub async fn add_rule(&self, spec: &RuleSpec) -> Result<()> {
        const OP: &str = "add rule";
        let msg = spec.message().map_err(invalid(OP, spec.to_string()))?;
        if spec.priority.is_none() && self.find_rule(spec, OP).await?.is_some() {
            return Ok(());
        }
        let mut req = self.handle().rule().add();
        *req.message_mut() = msg;
        match req.execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(libc::EEXIST) => Ok(()),
            Err(source) => Err(Error::Netlink {
                op: OP,
                target: spec.to_string(),
                source,
            }),
        }
    }

    /// Removes a rule; one that is not there is not an error. Only a rule with exactly these
    /// selectors (and this priority, if given) is removed, never a broader or narrower one
    /// the kernel's own matching would also accept.
    pub async fn del_rule(&self, spec: &RuleSpec) -> Result<()> {
        const OP: &str = "delete rule";
        let mut msg = spec.message().map_err(invalid(OP, spec.to_string()))?;
        let Some(priority) = self.find_rule(spec, OP).await? else {
            return Ok(());
        };
        if spec.priority.is_none() {
            msg.attributes.push(RuleAttribute::Priority(priority));
        }
        match self.handle().rule().del(msg).execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(libc::ENOENT) => Ok(()),
            Err(source) => Err(Error::Netlink {
                op: OP,
                target: spec.to_string(),
                source,
            }),
        }
    }

    /// The priority of the installed rule `spec` describes, if there is one.
    async fn find_rule(&self, spec: &RuleSpec, op: &'static str) -> Result<Option<u32>> {
        let version = match spec.family {
            Family::Ipv4 => IpVersion::V4,
            Family::Ipv6 => IpVersion::V6,
        };
        let want = spec.key();
        let rules: Vec<RuleMessage> = self
            .handle()
            .rule()
            .get(version)
            .execute()
            .try_collect()
            .await
            .map_err(|source| Error::Netlink {
                op,
                target: format!("{spec}: list rules"),
                source,
            })?;
        Ok(rules
            .iter()
            .filter_map(RuleKey::from_message)
            .find(|k| k.matches(&want))
            // Only the rule at priority 0 (local) has no FRA_PRIORITY.
            .map(|k| k.priority.unwrap_or(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::route::RouteAttribute;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn scope_and_protocol_names() {
        assert_eq!(scope_number("link"), Some(253));
        assert_eq!(scope_number("host"), Some(254));
        assert_eq!(scope_number("global"), Some(0));
        assert_eq!(scope_number("universe"), Some(0));
        assert_eq!(scope_number("site"), Some(200));
        assert_eq!(scope_number("nowhere"), Some(255));
        assert_eq!(scope_number("17"), Some(17));
        assert_eq!(scope_number("0xfd"), Some(253));
        assert_eq!(scope_number("256"), None);
        assert_eq!(scope_number("planet"), None);
        assert_eq!(protocol_number("kernel"), Some(2));
        assert_eq!(protocol_number("boot"), Some(3));
        assert_eq!(protocol_number("static"), Some(4));
        assert_eq!(protocol_number("keepalived"), Some(18));
        assert_eq!(protocol_number("bgp"), Some(186));
        assert_eq!(protocol_number("99"), Some(99));
        assert_eq!(protocol_number("-1"), None);
        assert_eq!(protocol_number("quagga"), None);
    }

    #[test]
    fn masks_host_bits() {
        assert_eq!(mask(ip("10.99.1.77"), 24), ip("10.99.1.0"));
        assert_eq!(mask(ip("10.99.1.77"), 0), ip("0.0.0.0"));
        assert_eq!(mask(ip("10.99.1.77"), 32), ip("10.99.1.77"));
        assert_eq!(mask(ip("fd99::1:2"), 64), ip("fd99::"));
        assert_eq!(mask(ip("fd99::1:2"), 128), ip("fd99::1:2"));
        assert_eq!(mask(ip("fd99::1:2"), 0), ip("::"));
    }

    #[test]
    fn route_display_is_ip_route_syntax() {
        let mut r = RouteSpec::new(ip("10.99.5.0"), 24);
        r.gateway = Some(ip("10.99.1.3"));
        r.oif = Some(3);
        r.metric = Some(10);
        r.table = Some(100);
        assert_eq!(
            r.to_string(),
            "10.99.5.0/24 via 10.99.1.3 dev ifindex 3 metric 10 table 100 proto keepalived"
        );
        let mut b = RouteSpec::new(ip("0.0.0.0"), 0);
        b.kind = RouteKind::Blackhole;
        b.scope = Some(253);
        b.protocol = Some(4);
        assert_eq!(b.to_string(), "blackhole default scope link proto static");
    }

    #[test]
    fn rule_display_is_ip_rule_syntax() {
        let mut r = RuleSpec::new(Family::Ipv4, 100);
        r.from = Some((ip("10.99.1.0"), 24));
        r.fwmark = Some(1);
        r.fwmask = Some(0xff);
        r.priority = Some(100);
        r.iif = Some("va".into());
        assert_eq!(
            r.to_string(),
            "from 10.99.1.0/24 iif va fwmark 0x1/0xff priority 100 table 100"
        );
        let r6 = RuleSpec::new(Family::Ipv6, 1000);
        assert_eq!(r6.to_string(), "-6 from all table 1000");
    }

    #[test]
    fn route_messages() {
        let mut r = RouteSpec::new(ip("10.99.5.9"), 24);
        r.oif = Some(7);
        r.table = Some(1000);
        let add = r.message(false).expect("message");
        assert_eq!(add.header.address_family, AddressFamily::Inet);
        assert_eq!(add.header.destination_prefix_length, 24);
        assert_eq!(add.header.scope, RouteScope::Link);
        assert_eq!(add.header.protocol, RouteProtocol::KeepAlived);
        assert_eq!(add.header.kind, RouteType::Unicast);
        assert!(add.attributes.contains(&RouteAttribute::Destination(
            Ipv4Addr::new(10, 99, 5, 0).into()
        )));
        assert!(add.attributes.contains(&RouteAttribute::Table(1000)));
        assert!(add.attributes.contains(&RouteAttribute::Oif(7)));
        let del = r.message(true).expect("message");
        assert_eq!(del.header.scope, RouteScope::NoWhere);
        assert_eq!(del.header.protocol, RouteProtocol::KeepAlived);

        let mut gw = RouteSpec::new(ip("fd99:5::"), 64);
        gw.gateway = Some(ip("fd99:1::3"));
        let add = gw.message(false).expect("message");
        assert_eq!(add.header.address_family, AddressFamily::Inet6);
        assert_eq!(add.header.scope, RouteScope::Universe);
        assert_eq!(add.header.table, 254);

        let default = RouteSpec::new(ip("0.0.0.0"), 0);
        let m = default.message(false).expect("message");
        assert_eq!(m.header.address_family, AddressFamily::Inet);
        assert!(
            !m.attributes
                .iter()
                .any(|a| matches!(a, RouteAttribute::Destination(_)))
        );
    }

    #[test]
    fn bad_specs_are_refused() {
        let mut r = RouteSpec::new(ip("10.99.5.0"), 33);
        assert!(r.message(false).is_err());
        r.prefix_len = 24;
        r.src = Some(ip("fd99::1"));
        assert!(r.message(false).is_err());
        let mut r6 = RouteSpec::new(ip("fd99::"), 64);
        r6.gateway = Some(ip("10.99.1.3"));
        assert!(r6.message(false).is_err());
        let mut bh = RouteSpec::new(ip("10.99.5.0"), 24);
        bh.kind = RouteKind::Prohibit;
        bh.gateway = Some(ip("10.99.1.3"));
        assert!(bh.message(false).is_err());
        let mut rule = RuleSpec::new(Family::Ipv4, 100);
        rule.from = Some((ip("fd99::"), 64));
        assert!(rule.message().is_err());
        assert!(RuleSpec::new(Family::Ipv4, 0).message().is_err());
    }

    #[test]
    fn rule_keys_match_dumped_rules() {
        let mut spec = RuleSpec::new(Family::Ipv4, 1000);
        spec.from = Some((ip("10.99.1.7"), 24));
        spec.fwmark = Some(5);
        let mut dumped = spec.message().expect("message");
        dumped.attributes.push(RuleAttribute::Priority(32765));
        dumped.attributes.push(RuleAttribute::FwMask(u32::MAX));
        dumped
            .attributes
            .push(RuleAttribute::Protocol(RouteProtocol::Boot));
        let key = RuleKey::from_message(&dumped).expect("key");
        assert!(key.matches(&spec.key()));
        assert_eq!(key.priority, Some(32765));

        let mut prio = spec.clone();
        prio.priority = Some(100);
        assert!(!key.matches(&prio.key()));

        let mut other = spec.clone();
        other.fwmask = Some(0xff);
        assert!(!key.matches(&other.key()));

        let mut inverted = dumped.clone();
        inverted.header.flags |= RuleFlags::Invert;
        let key = RuleKey::from_message(&inverted).expect("key");
        assert!(!key.matches(&spec.key()));
    }
}
