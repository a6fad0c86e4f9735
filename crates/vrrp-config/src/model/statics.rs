//! The top-level `static_ipaddress`, `static_routes` and `static_rules` blocks: addresses,
//! routes and rules set at start whatever the VRRP state, and removed at stop.

use super::{Location, Vip, VirtualRoute, VirtualRule};

/// The static addresses, routes and rules, in file order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Statics {
    /// `static_ipaddress { }` lines.
    pub addresses: Vec<StaticAddress>,
    /// `static_routes { }` lines (the same syntax as `virtual_routes`).
    pub routes: Vec<VirtualRoute>,
    /// `static_rules { }` lines (the same syntax as `virtual_rules`; IPv4 unless an address
    /// says otherwise, as keepalived).
    pub rules: Vec<VirtualRule>,
}

impl Statics {
    /// Whether no static address, route or rule is configured.
    pub fn is_empty(&self) -> bool {
        self.addresses.is_empty() && self.routes.is_empty() && self.rules.is_empty()
    }
}

/// One `static_ipaddress` line (the syntax of `virtual_ipaddress`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticAddress {
    /// The address; its `dev` is always set: the line's, else `default_interface`.
    pub address: Vip,
    /// Where the line is.
    pub location: Location,
}
