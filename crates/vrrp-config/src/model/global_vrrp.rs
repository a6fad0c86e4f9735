//! `global_defs` keywords about where VRRP runs: the advertisements' multicast groups, the
//! default interface of static addresses, keepalived's scheduling caps.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The `global_defs` settings of VRRP's network side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrrpNetDefs {
    /// `vrrp_mcast_group4`: where IPv4 adverts go and which group is joined (224.0.0.18).
    pub mcast_group4: Ipv4Addr,
    /// `vrrp_mcast_group6`: the same for IPv6 (ff02::12).
    pub mcast_group6: Ipv6Addr,
    /// `default_interface`: the interface of static addresses without `dev` (keepalived's
    /// default: eth0).
    pub default_interface: String,
    /// `max_auto_priority [N]`: accepted for compatibility; vrrpd never raises its
    /// scheduling priority by itself (`vrrp_rt_priority` sets it), so there is nothing to cap.
    pub max_auto_priority: Option<i32>,
    /// `dynamic_interfaces [allow_if_changes]`: an instance whose interface does not exist at
    /// start waits for it instead of stopping the start.
    pub dynamic_interfaces: bool,
}

impl Default for VrrpNetDefs {
    fn default() -> Self {
        VrrpNetDefs {
            mcast_group4: vrrp_core::packet::MULTICAST_V4,
            mcast_group6: vrrp_core::packet::MULTICAST_V6,
            default_interface: "eth0".to_owned(),
            max_auto_priority: None,
            dynamic_interfaces: false,
        }
    }
}
