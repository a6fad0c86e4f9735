//! The less common `vrrp_instance` keywords of keepalived (`vrrp_parser.c`): unicast TTL,
//! per-instance forms of global switches, `garp_extra_if`, `notify_deleted`,
//! `notify_priority_changes`, `down_timer_adverts`, `owner_ignore_adverts`,
//! `unicast_fault_no_peer`, `no_virtual_ipaddress`, `track_src_ip`; and why the rest is
//! refused.

use std::time::Duration;

use super::tracking::RawCmd;
use super::{At, Parser, Stmt, word};
use crate::diag::Span;
use crate::model::GarpExtraIf;
use crate::value;

/// The keywords read here.
pub(crate) const KEYWORDS: &[&str] = &[
    "unicast_ttl",
    "check_unicast_src",
    "skip_check_adv_addr",
    "strict_mode",
    "garp_extra_if",
    "no_virtual_ipaddress",
    "notify_deleted",
    "notify_priority_changes",
    "down_timer_adverts",
    "owner_ignore_adverts",
    "unicast_fault_no_peer",
    "track_src_ip",
    "old_unicast_checksum",
];

/// The instance keywords keepalived knows and vrrpd refuses, with the reason.
pub(crate) fn refusal(name: &str) -> Option<&'static str> {
    Some(match name {
        "use_ipvlan" => {
            "vrrpd creates macvlan interfaces only: use `use_vmac`, or no virtual interface (an ipvlan shares its parent's MAC, so it gives no virtual MAC either)"
        }
        "mcast_dst_ip" => {
            "not implemented per instance: vrrpd's sockets are shared by the instances of an interface and family and join a single multicast group"
        }
        "auth_hmac" => {
            "HMAC authentication (newer keepalived, draft) is not implemented; use VRRPv3 without authentication, as RFC 5798 §9 advises"
        }
        _ => return None,
    })
}

/// The keywords of this file as written.
#[derive(Debug, Default)]
pub(crate) struct RawInstanceExtra {
    pub unicast_ttl: Option<At<u8>>,
    pub check_unicast_src: Option<bool>,
    pub skip_check_adv_addr: Option<bool>,
    pub strict_mode: Option<At<bool>>,
    pub garp_extra_if: Option<At<GarpExtraIf>>,
    pub no_virtual_ipaddress: bool,
    /// `notify_deleted [SCRIPT]`: present, with its script if any.
    pub notify_deleted: Option<Option<RawCmd>>,
    pub notify_priority_changes: Option<bool>,
    pub down_timer_adverts: Option<At<u8>>,
    pub owner_ignore_adverts: Option<At<bool>>,
    pub unicast_fault_no_peer: Option<Span>,
    pub track_src_ip: bool,
    pub old_unicast_checksum: bool,
}

/// `garp_extra_if [all] SECS` (either order): `min` is 0 in an instance (0 turns it off) and
/// 1 in `global_defs`, as keepalived reads them; at most one day.
pub(crate) fn garp_extra_if(words: &[&str], min: i64) -> Result<GarpExtraIf, String> {
    let mut all = false;
    let mut secs = None;
    for w in words {
        if *w == "all" {
            all = true;
        } else {
            let v = value::int(w, min, 86_400).map_err(|_| {
                format!("`{w}` is neither `all` nor a number of seconds {min}-86400")
            })?;
            secs = Some(v.unsigned_abs());
        }
    }
    let secs = secs.ok_or_else(|| "needs an interval in seconds".to_owned())?;
    Ok(GarpExtraIf {
        interval: Duration::from_secs(secs),
        all,
    })
}

impl<'t> Parser<'t, '_> {
    /// `vrrp_garp_extra_if [all] SECS` in `global_defs` (1-86400 s, as keepalived).
    pub(super) fn global_garp_extra_if(&mut self, s: &Stmt<'t>) {
        let words: Vec<&str> = s.args.iter().map(|t| word(t)).collect();
        match garp_extra_if(&words, 1) {
            Ok(v) => {
                self.warn_no_extra_if(s, v);
                self.global.defs.garp.extra_if = Some(v);
            }
            Err(reason) => self.d.error_hint(
                s.args.first().map_or(s.span(), |t| t.span),
                format!("invalid vrrp_garp_extra_if: {reason}"),
                "write `vrrp_garp_extra_if [all] SECS`",
            ),
        }
    }

    /// Without `all`, keepalived sends on its own VIP-side virtual MAC interfaces only,
    /// which vrrpd does not create: the setting does nothing here.
    fn warn_no_extra_if(&mut self, s: &Stmt<'t>, v: GarpExtraIf) {
        if !v.all && !v.interval.is_zero() {
            self.d.warn_hint(
                s.span(),
                format!("`{}` without `all` sends nothing in vrrpd", s.name),
                "keepalived sends these only on its VIP-side virtual MAC interfaces, which vrrpd does not create; add `all` for every other interface of the addresses",
            );
        }
    }

    /// One keyword of [`KEYWORDS`].
    pub(super) fn instance_extra(&mut self, x: &mut RawInstanceExtra, s: &Stmt<'t>) {
        match s.name {
            "unicast_ttl" => {
                if let Some(v) = self.value(s, |w| value::int(w, 0, 255)) {
                    x.unicast_ttl = Some(At {
                        v: u8::try_from(v.v).unwrap_or(u8::MAX),
                        span: v.span,
                    });
                }
            }
            "check_unicast_src" => {
                if let Some(v) = self.flag(s) {
                    x.check_unicast_src = Some(v.v);
                }
            }
            "skip_check_adv_addr" => {
                if let Some(v) = self.flag(s) {
                    x.skip_check_adv_addr = Some(v.v);
                }
            }
            "strict_mode" => {
                if let Some(v) = self.flag(s) {
                    x.strict_mode = Some(v);
                }
            }
            "garp_extra_if" => {
                let words: Vec<&str> = s.args.iter().map(|t| word(t)).collect();
                match garp_extra_if(&words, 0) {
                    Ok(v) => {
                        self.warn_no_extra_if(s, v);
                        x.garp_extra_if = Some(At { v, span: s.span() });
                    }
                    Err(reason) => self.d.error_hint(
                        s.args.first().map_or(s.span(), |t| t.span),
                        format!("invalid garp_extra_if: {reason}"),
                        "write `garp_extra_if [all] SECS`",
                    ),
                }
            }
            "no_virtual_ipaddress" => {
                if let Some(v) = self.flag(s) {
                    x.no_virtual_ipaddress = v.v;
                }
            }
            "notify_deleted" => {
                if s.args.is_empty() {
                    x.notify_deleted = Some(None);
                } else if let Some(c) = self.command(s, true) {
                    x.notify_deleted = Some(Some(c));
                }
            }
            "notify_priority_changes" => {
                if let Some(v) = self.flag(s) {
                    x.notify_priority_changes = Some(v.v);
                }
            }
            "down_timer_adverts" => {
                if let Some(v) = self.value(s, |w| value::int(w, 1, 100)) {
                    x.down_timer_adverts = Some(At {
                        v: u8::try_from(v.v).unwrap_or(3),
                        span: v.span,
                    });
                }
            }
            "owner_ignore_adverts" => {
                if let Some(v) = self.flag(s) {
                    x.owner_ignore_adverts = Some(v);
                }
            }
            "unicast_fault_no_peer" => {
                if let Some(v) = self.flag(s) {
                    x.unicast_fault_no_peer = v.v.then_some(s.span());
                }
            }
            // keepalived: no argument sends the old form; `never` turns off its detection of
            // old peers, which vrrpd only does when told: the default.
            "old_unicast_checksum" => match s.args.as_slice() {
                [] => x.old_unicast_checksum = true,
                [w] if word(w) == "never" => x.old_unicast_checksum = false,
                [w, ..] => self.d.error_hint(
                    w.span,
                    format!("invalid old_unicast_checksum `{}`", word(w)),
                    "write `old_unicast_checksum` or `old_unicast_checksum never`",
                ),
            },
            "track_src_ip" => {
                if let Some(v) = self.flag(s) {
                    x.track_src_ip = v.v;
                }
            }
            _ => self.unsupported(s, crate::keywords::Block::Instance),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garp_extra_if_reads_all_in_either_order() {
        let v = garp_extra_if(&["all", "100"], 0).unwrap();
        assert_eq!((v.interval, v.all), (Duration::from_secs(100), true));
        let v = garp_extra_if(&["100", "all"], 0).unwrap();
        assert!(v.all);
        let v = garp_extra_if(&["30"], 0).unwrap();
        assert_eq!((v.interval, v.all), (Duration::from_secs(30), false));
    }

    #[test]
    fn garp_extra_if_bounds() {
        assert!(garp_extra_if(&["0"], 0).is_ok());
        assert!(garp_extra_if(&["0"], 1).is_err());
        assert!(garp_extra_if(&["86401"], 0).is_err());
        assert!(garp_extra_if(&["all"], 0).is_err());
        assert!(garp_extra_if(&["soon"], 0).is_err());
    }
}
