//! Defaults and rules of the less common instance keywords (`parser::instance_extra`),
//! as keepalived's `vrrp_complete_instance` applies them.

use crate::diag::{Diags, SourceMap};
use crate::model::{Command, GlobalDefs};
use crate::parser::RawInstance;

use super::tracking;

/// RFC 3768 / RFC 5798 §6.1: Master_Down_Interval counts 3 advertisement intervals.
const RFC_DOWN_TIMER_ADVERTS: u8 = 3;
/// The address owner's priority.
const OWNER_PRIORITY: u8 = 255;

/// The resolved values.
pub(crate) struct Extra {
    pub unicast_ttl: u8,
    pub check_unicast_src: bool,
    pub skip_check_adv_addr: bool,
    pub notify_deleted: Option<Option<Command>>,
    pub notify_priority_changes: bool,
    pub down_timer_adverts: u8,
    pub owner_ignore_adverts: bool,
    pub track_src_ip: bool,
    pub old_unicast_checksum: bool,
}

/// Strict mode: `strict_mode` of the instance, else `vrrp_strict`.
pub(crate) fn strict(raw: &RawInstance, g: &GlobalDefs) -> bool {
    raw.extra.strict_mode.as_ref().map_or(g.strict, |s| s.v)
}

/// Resolves the keywords against `global_defs`; `priority` is the configured one.
pub(crate) fn resolve(
    raw: &RawInstance,
    g: &GlobalDefs,
    strict: bool,
    priority: u8,
    map: &SourceMap,
    d: &mut Diags,
) -> Extra {
    let x = &raw.extra;
    let unicast = !raw.unicast_peers.is_empty();
    if let (Some(t), false) = (&x.unicast_ttl, unicast) {
        // keepalived: "Cannot use unicast_ttl without unicast peers - resetting".
        d.warn(
            t.span,
            "unicast_ttl without unicast_peer is ignored: multicast adverts keep TTL 255",
        );
    }
    if let (Some(at), false) = (x.unicast_fault_no_peer, unicast) {
        d.error_hint(
            at,
            "unicast_fault_no_peer without unicast_peer: the instance could only stay in FAULT",
            "vrrpd loads the peers with the configuration; add a `unicast_peer` block, or remove the keyword to advertise by multicast",
        );
    }
    let down_timer_adverts = match &x.down_timer_adverts {
        Some(n) if strict && n.v != RFC_DOWN_TIMER_ADVERTS => {
            d.error_hint(
                n.span,
                "vrrp_strict: down_timer_adverts must be 3",
                "RFC 5798 §6.1 fixes Master_Down_Interval at 3 advertisement intervals",
            );
            RFC_DOWN_TIMER_ADVERTS
        }
        Some(n) => n.v,
        None => RFC_DOWN_TIMER_ADVERTS,
    };
    let owner = priority == OWNER_PRIORITY;
    let owner_ignore_adverts = match &x.owner_ignore_adverts {
        Some(o) if o.v && !owner => {
            d.warn(
                o.span,
                "owner_ignore_adverts is ignored: the priority is not 255 (address owner)",
            );
            false
        }
        Some(o) => o.v,
        // Newer keepalived turns it on for an owner in strict mode; vrrpd keeps the RFC 9568
        // election between owners (erratum 8298) unless told (docs/differences.md).
        None => false,
    };
    Extra {
        unicast_ttl: x
            .unicast_ttl
            .as_ref()
            .filter(|_| unicast)
            .map_or(255, |t| t.v),
        check_unicast_src: x.check_unicast_src.unwrap_or(false) || g.check_unicast_src,
        skip_check_adv_addr: x.skip_check_adv_addr.unwrap_or(g.skip_check_adv_addr),
        notify_deleted: x
            .notify_deleted
            .as_ref()
            .map(|c| c.as_ref().map(|c| tracking::command(c, map))),
        notify_priority_changes: x.notify_priority_changes.unwrap_or(false),
        down_timer_adverts,
        owner_ignore_adverts,
        track_src_ip: x.track_src_ip,
        old_unicast_checksum: x.old_unicast_checksum,
    }
}
