//! `static_ipaddress`, `static_routes` and `static_rules`: set at start whatever the VRRP
//! state, removed at stop, as keepalived does. They are not watched: one deleted by hand
//! stays deleted until the next start or reload (keepalived's `track_group` is refused).

use anyhow::{Context, Result};
use tracing::{info, warn};
use vrrp_config::Statics;
use vrrp_linux::netlink::{AddressSpec, Netlink};
use vrrp_linux::routes::{RouteSpec, RuleSpec};

use crate::setup;

/// The static configuration in the kernel's terms, interfaces resolved.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct StaticSet {
    addresses: Vec<(u32, AddressSpec)>,
    routes: Vec<RouteSpec>,
    rules: Vec<RuleSpec>,
}

impl StaticSet {
    fn is_empty(&self) -> bool {
        self.addresses.is_empty() && self.routes.is_empty() && self.rules.is_empty()
    }
}

/// Resolves the interfaces of `statics`: one that does not exist is an error, as keepalived
/// refuses a static address whose interface is missing.
pub(crate) async fn resolve(nl: &Netlink, statics: &Statics) -> Result<StaticSet> {
    let mut set = StaticSet::default();
    for a in &statics.addresses {
        let vip = &a.address;
        let dev = vip.dev.as_deref().unwrap_or_default();
        let link = nl.link_by_name(dev).await?.with_context(|| {
            format!(
                "interface {dev} of static address {} ({}:{}) does not exist",
                vip.addr,
                a.location.file.display(),
                a.location.line
            )
        })?;
        set.addresses.push((link.index, setup::address_spec(vip)?));
    }
    for r in &statics.routes {
        set.routes.push(setup::route_spec(nl, r, None).await?);
    }
    set.rules = statics.rules.iter().map(setup::rule_spec).collect();
    Ok(set)
}

/// Adds what `set` holds: addresses first (a route may use one as its source), then routes,
/// then rules. A refusal by the kernel is logged and the rest goes on, as keepalived does.
pub(crate) async fn install(nl: &Netlink, set: &StaticSet) {
    if set.is_empty() {
        return;
    }
    for (ifindex, spec) in &set.addresses {
        if let Err(e) = nl.add_address(*ifindex, spec).await {
            warn!("static address {}/{}: {e}", spec.addr, spec.prefix_len);
        }
    }
    for spec in &set.routes {
        if let Err(e) = nl.add_route(spec).await {
            warn!("static route {spec}: {e}");
        }
    }
    for spec in &set.rules {
        if let Err(e) = nl.add_rule(spec).await {
            warn!("static rule {spec}: {e}");
        }
    }
    info!(
        "static configuration set: {} address(es), {} route(s), {} rule(s)",
        set.addresses.len(),
        set.routes.len(),
        set.rules.len()
    );
}

/// Removes what `set` holds, in the reverse order of [`install`].
pub(crate) async fn remove(nl: &Netlink, set: &StaticSet) {
    for spec in &set.rules {
        if let Err(e) = nl.del_rule(spec).await {
            warn!("cannot remove static rule {spec}: {e}");
        }
    }
    for spec in &set.routes {
        if let Err(e) = nl.del_route(spec).await {
            warn!("cannot remove static route {spec}: {e}");
        }
    }
    for (ifindex, spec) in &set.addresses {
        if let Err(e) = nl.del_address(*ifindex, spec.addr, spec.prefix_len).await {
            warn!(
                "cannot remove static address {}/{}: {e}",
                spec.addr, spec.prefix_len
            );
        }
    }
}

/// A reload: what the old set has and the new one lacks is removed, then the new set is
/// added (adding is idempotent).
pub(crate) async fn replace(nl: &Netlink, old: &StaticSet, new: &StaticSet) {
    let gone = StaticSet {
        addresses: old
            .addresses
            .iter()
            .filter(|a| !new.addresses.contains(a))
            .cloned()
            .collect(),
        routes: old
            .routes
            .iter()
            .filter(|r| !new.routes.contains(r))
            .cloned()
            .collect(),
        rules: old
            .rules
            .iter()
            .filter(|r| !new.rules.contains(r))
            .cloned()
            .collect(),
    };
    remove(nl, &gone).await;
    install(nl, new).await;
}
