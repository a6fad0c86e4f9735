//! `garp_group`: the instances on its interface take its GARP / NA gaps instead of the
//! global `vrrp_garp_interval` / `vrrp_gna_interval`.

use std::collections::HashMap;

use crate::diag::{Diags, SourceMap, Span};
use crate::model::VrrpInstance;
use crate::parser::RawGarpGroup;

pub(super) fn apply(
    groups: Vec<RawGarpGroup>,
    instances: &mut [VrrpInstance],
    map: &SourceMap,
    d: &mut Diags,
) {
    let mut by_interface: HashMap<String, Span> = HashMap::new();
    for g in groups {
        let Some(interface) = g.interface else {
            d.error_hint(
                g.span,
                "`garp_group` needs `interface`",
                "write `interface IF`: the interface whose instances use these gaps",
            );
            continue;
        };
        if let Some(first) = by_interface.get(&interface.v) {
            d.error_hint(
                interface.span,
                format!("interface `{}` is already in a garp_group", interface.v),
                format!("see {}", super::at(map, *first)),
            );
            continue;
        }
        by_interface.insert(interface.v.clone(), interface.span);
        let mut used = false;
        for inst in instances.iter_mut().filter(|i| i.interface == interface.v) {
            used = true;
            if let Some(t) = g.garp_interval {
                inst.garp.interval = t;
            }
            if let Some(t) = g.gna_interval {
                inst.garp.gna_interval = t;
            }
        }
        if !used {
            d.warn(
                interface.span,
                format!("no vrrp_instance is on interface `{}`", interface.v),
            );
        }
    }
}
