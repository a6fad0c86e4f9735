//! The Linux data plane of vrrpd: raw VRRP sockets, rtnetlink for addresses and links,
//! gratuitous ARP and unsolicited neighbour advertisements, virtual MAC interfaces.
//!
//! See `docs/dataplane.md` for the socket options, sysctls and the traps they avoid.

pub mod announce;
pub mod host_routes;
pub mod netlink;
pub mod nft;
pub mod routes;
pub mod socket;
pub mod sysctl;

pub use announce::Announcer;
pub use netlink::{link_local_ipv6, primary_ipv4, wait_link_local};
pub use socket::{Received, VrrpSocket};
pub use sysctl::SysctlGuard;

use vrrp_core::packet::Family;

/// The virtual router MAC address of a VRID (RFC 5798 §7.3): 00-00-5E-00-01-{VRID} for IPv4,
/// 00-00-5E-00-02-{VRID} for IPv6.
pub fn virtual_mac(family: Family, vrid: u8) -> [u8; 6] {
    let kind = match family {
        Family::Ipv4 => 0x01,
        Family::Ipv6 => 0x02,
    };
    [0x00, 0x00, 0x5e, 0x00, kind, vrid]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_macs() {
        assert_eq!(virtual_mac(Family::Ipv4, 1), [0, 0, 0x5e, 0, 1, 1]);
        assert_eq!(virtual_mac(Family::Ipv6, 0xfe), [0, 0, 0x5e, 0, 2, 0xfe]);
    }
}
