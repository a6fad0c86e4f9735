//! The host routes vrrpd installs in a table of their own for FRR to announce
//! (`bgp_announce`): `VIP/32 dev lo table N proto P`. zebra imports the table
//! (`ip import-table N`) and bgpd redistributes it (`redistribute table N`); a route
//! present is an announcement, a route removed a withdrawal.

use std::net::{IpAddr, Ipv4Addr};

use futures::TryStreamExt;
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteProtocol};
use rtnetlink::RouteMessageBuilder;

use crate::netlink::{Error, Netlink, Result};
use crate::routes::RouteSpec;

/// The rtnetlink protocol of announced routes (`ip route show table N proto 201`): not one
/// FRR takes for its own (zebra removes routes of its protocols at start), nor keepalived's.
pub const RTPROT_VRRPD_BGP: u8 = 201;

/// The route announcing `vip`: out of `lo` (ifindex `lo`), in `table`.
pub fn host_route(vip: Ipv4Addr, table: u32, lo: u32) -> RouteSpec {
    let mut spec = RouteSpec::new(IpAddr::V4(vip), 32);
    spec.oif = Some(lo);
    spec.table = Some(table);
    spec.protocol = Some(RTPROT_VRRPD_BGP);
    spec
}

/// The destination of `msg` when it is a /32 of `table` with protocol `protocol`.
fn announced(msg: &RouteMessage, table: u32, protocol: u8) -> Option<Ipv4Addr> {
    let h = &msg.header;
    if h.protocol != RouteProtocol::from(protocol) || h.destination_prefix_length != 32 {
        return None;
    }
    let mut in_table = u32::from(h.table) == table;
    let mut dst = None;
    for a in &msg.attributes {
        match a {
            RouteAttribute::Table(t) => in_table = *t == table,
            RouteAttribute::Destination(RouteAddress::Inet(d)) => dst = Some(*d),
            _ => {}
        }
    }
    dst.filter(|_| in_table)
}

impl Netlink {
    /// The IPv4 host routes of `table` with protocol `protocol`: what a previous run left
    /// announced.
    pub async fn host_routes(&self, table: u32, protocol: u8) -> Result<Vec<Ipv4Addr>> {
        let query = RouteMessageBuilder::<Ipv4Addr>::new()
            .table_id(table)
            .build();
        let routes: Vec<RouteMessage> = self
            .handle()
            .route()
            .get(query)
            .execute()
            .try_collect()
            .await
            .map_err(|source| Error::Netlink {
                op: "list routes",
                target: format!("table {table}"),
                source,
            })?;
        Ok(routes
            .iter()
            .filter_map(|m| announced(m, table, protocol))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_route_is_a_host_route_out_of_lo() {
        let r = host_route(Ipv4Addr::new(10, 99, 0, 100), 200, 1);
        assert_eq!(
            r.to_string(),
            "10.99.0.100/32 dev ifindex 1 table 200 proto 201"
        );
    }
}
