//! The hostile VRRP messages of the flood scenarios (docs/reliability.md, "Floods of VRRP
//! packets on the LAN"), written once for the CI test and the benchmark: sent from `src` to
//! the IPv4 group against a Master of VRID 51 (VRRPv3, no authentication) and VRID 61
//! (VRRPv2, `auth_type PASS`).

use std::net::{IpAddr, Ipv4Addr};

use vrrp_core::packet::{self, Advertisement, Auth, ChecksumForm, Version};

use crate::attacker::{GROUP4, ip_packet};

/// Each kind's payload.
pub struct FloodPayloads {
    /// Well-formed VRRPv3 advertisements for VRIDs 52 to 60 (priority 100, `other_vip`):
    /// whole IP packets, TTL 255.
    pub other_vrids: Vec<Vec<u8>>,
    /// VRID 51 at priority 254 (the VRRP message: the caller picks the TTL).
    pub takeover: Vec<u8>,
    /// The same with a wrong VRRP checksum.
    pub bad_checksum: Vec<u8>,
    /// The same with 1,400 bytes of padding after the address.
    pub oversized: Vec<u8>,
    /// VRRPv2, VRID 61, priority 254, the wrong password.
    pub wrong_pass: Vec<u8>,
}

/// The payloads from `src`, naming `vip51` and `vip61` as the two instances' addresses.
pub fn flood_payloads(
    src: Ipv4Addr,
    vip51: Ipv4Addr,
    vip61: Ipv4Addr,
    other_vip: Ipv4Addr,
) -> FloodPayloads {
    let other_vrids = (52..=60)
        .map(|v| ip_packet(src, GROUP4, 255, &to_group(&v3(v, 100, other_vip), src)))
        .collect();
    let takeover = to_group(&v3(51, 254, vip51), src);
    let mut bad_checksum = takeover.clone();
    bad_checksum[6] ^= 0x5a;
    let mut oversized = takeover.clone();
    oversized.extend([0u8; 1400]);
    let wrong_pass = to_group(
        &Advertisement {
            version: Version::V2,
            vrid: 61,
            priority: 254,
            interval_cs: 100,
            auth: Auth::simple_password("guessed"),
            addresses: vec![IpAddr::V4(vip61)],
        },
        src,
    );
    FloodPayloads {
        other_vrids,
        takeover,
        bad_checksum,
        oversized,
        wrong_pass,
    }
}

/// A VRRPv3 advertisement (0.1 s) for `vrid` at `priority` naming `vip`.
pub fn v3(vrid: u8, priority: u8, vip: Ipv4Addr) -> Advertisement {
    Advertisement {
        version: Version::V3,
        vrid,
        priority,
        interval_cs: 10,
        auth: Auth::None,
        addresses: vec![IpAddr::V4(vip)],
    }
}

/// `adv` encoded from `src` to the IPv4 group (empty if it cannot be: the lab's own
/// messages always can).
pub fn to_group(adv: &Advertisement, src: Ipv4Addr) -> Vec<u8> {
    packet::encode(
        adv,
        IpAddr::V4(src),
        IpAddr::V4(GROUP4),
        ChecksumForm::PseudoHeader,
    )
    .unwrap_or_default()
}
