//! The `global_defs` keywords of VRRP's network side: `vrrp_mcast_group4/6`,
//! `default_interface`, `max_auto_priority`.

use std::net::IpAddr;

use super::{Parser, Stmt, word};
use crate::value;

impl<'t> Parser<'t, '_> {
    pub(super) fn global_vrrp_net(&mut self, s: &Stmt<'t>) {
        match s.name {
            "vrrp_mcast_group4" => {
                if let Some(v) = self.value(s, |w| multicast(w, false))
                    && let IpAddr::V4(a) = v.v
                {
                    self.global.defs.vrrp_net.mcast_group4 = a;
                }
            }
            "vrrp_mcast_group6" => {
                if let Some(v) = self.value(s, |w| multicast(w, true))
                    && let IpAddr::V6(a) = v.v
                {
                    self.global.defs.vrrp_net.mcast_group6 = a;
                }
            }
            // `allow_if_changes` only matters to keepalived's duplicate VRID checks; vrrpd
            // resolves a waiting instance's interface when it appears, whatever its type.
            "dynamic_interfaces" => match s.args.as_slice() {
                [] => self.global.defs.vrrp_net.dynamic_interfaces = true,
                [w] if word(w) == "allow_if_changes" => {
                    self.global.defs.vrrp_net.dynamic_interfaces = true;
                }
                [w, ..] => self.d.error_hint(
                    w.span,
                    format!("unexpected `{}` after `dynamic_interfaces`", word(w)),
                    "write `dynamic_interfaces` or `dynamic_interfaces allow_if_changes`",
                ),
            },
            "default_interface" => {
                if let Some(v) = self.value(s, value::ifname) {
                    self.global.defs.vrrp_net.default_interface = v.v;
                }
            }
            // keepalived: `-1` to the highest real-time priority (99); no value: the highest.
            _ => {
                let n = if s.args.is_empty() {
                    Some(99)
                } else {
                    self.value(s, |w| value::int(w, -1, 99)).map(|v| v.v)
                };
                if let Some(n) = n {
                    self.global.defs.vrrp_net.max_auto_priority = i32::try_from(n).ok();
                    self.d.warn_hint(
                        s.span(),
                        "`max_auto_priority` is accepted and has no effect",
                        "vrrpd never raises its scheduling priority by itself, so there is no \
                         automatic priority to cap; set `vrrp_rt_priority` for a real-time \
                         protocol thread",
                    );
                }
            }
        }
    }
}

/// A multicast address of the family asked for (`v6`).
fn multicast(w: &str, v6: bool) -> Result<IpAddr, String> {
    let a = value::ip(w)?;
    match a {
        IpAddr::V4(v4) if !v6 && v4.is_multicast() => Ok(a),
        IpAddr::V6(v6a) if v6 && v6a.is_multicast() => Ok(a),
        _ if a.is_ipv6() != v6 => Err(format!(
            "an {} multicast address is needed",
            if v6 { "IPv6" } else { "IPv4" }
        )),
        _ => Err("not a multicast address".to_owned()),
    }
}
