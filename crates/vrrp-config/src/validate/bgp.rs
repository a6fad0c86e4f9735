//! What `bgp_announce` needs of its virtual server.

use vrrp_lb::spec::{IpFamily, ServiceAddr, ServiceSpec};

use crate::diag::{Diags, Span};

use crate::model::BGP_MAX_ANNOUNCED as MAX_ANNOUNCED;

/// Refuses what cannot be announced: fwmark services (no address), IPv6 (FRR 8.4's
/// `ip import-table` imports IPv4 tables only) and ranges of more than 256 addresses.
pub(super) fn check_announced(spec: &ServiceSpec, span: Span, d: &mut Diags) {
    if spec
        .addrs
        .iter()
        .any(|a| matches!(a, ServiceAddr::Fwmark { .. }))
    {
        d.error_hint(
            span,
            "bgp_announce: a fwmark service has no address to announce",
            "announce the addresses of `virtual_server IP PORT` or `group NAME` services",
        );
    }
    if spec.addrs.iter().any(|a| a.family() == IpFamily::V6) {
        d.error_hint(
            span,
            "bgp_announce: IPv6 addresses cannot be announced",
            "FRR 8.4 imports IPv4 routing tables only (`ip import-table`)",
        );
    }
    let count = crate::model::announced_addrs(&spec.addrs).len();
    if count > MAX_ANNOUNCED {
        d.error(
            span,
            format!("bgp_announce: more than {MAX_ANNOUNCED} addresses (one route each)"),
        );
    }
}
