//! The static addresses, routes and rules: locations, and the defaults keepalived applies
//! (`default_interface` for an address without `dev`, IPv4 for a rule without an address).

use crate::diag::{Diags, SourceMap};
use crate::model::{GlobalDefs, StaticAddress, Statics};
use crate::parser::RawStatics;

pub(super) fn statics(
    raw: RawStatics,
    global: &GlobalDefs,
    map: &SourceMap,
    d: &mut Diags,
) -> Statics {
    let addresses = raw
        .addresses
        .into_iter()
        .map(|a| {
            let mut address = a.v;
            if address.dev.is_none() {
                address.dev = Some(global.vrrp_net.default_interface.clone());
            }
            StaticAddress {
                address,
                location: map.location(a.span),
            }
        })
        .collect();
    let routes = raw
        .routes
        .into_iter()
        .map(|r| {
            let mut v = r.v;
            v.location = map.location(r.span);
            v
        })
        .collect();
    // The rule parser leaves the family at IPv4 unless an address tells it.
    let rules = raw
        .rules
        .into_iter()
        .map(|r| {
            // As keepalived warns: the kernel would pick the priority, and the order of rules
            // would depend on the order they were added in.
            if r.v.rule.priority.is_none() {
                d.warn_hint(
                    r.span,
                    "static rule without `priority`",
                    "the kernel picks one (keepalived sets 16384); add `priority N`",
                );
            }
            let mut v = r.v.rule;
            v.location = map.location(r.span);
            v
        })
        .collect();
    Statics {
        addresses,
        routes,
        rules,
    }
}
