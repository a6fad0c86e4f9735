//! Why vrrpd refuses some keepalived keywords, and what to do instead: the hint of the
//! "unsupported keyword" error says it, where the general hint would leave a user guessing.

use crate::keywords::Block;

/// The reason `name` is refused, for the keywords where there is more to say than "not
/// supported".
pub(super) fn reason(block: Block, name: &str) -> Option<&'static str> {
    Some(match name {
        "net_namespace" => {
            "vrrpd runs in the namespace it is started in: start it with `ip netns exec NS vrrpd` \
             (vrrpctl finds it the same way, see docs/control.md)"
        }
        "interfaces" if block == Block::GarpGroup => {
            "vrrpd paces gratuitous ARPs and NAs per instance, not across interfaces; write one \
             `garp_group` per interface with `interface IF`"
        }
        "linkbeat_interfaces" | "linkbeat_use_polling" => {
            "vrrpd follows link state through rtnetlink events only (no MII/ethtool polling)"
        }
        "track_group" | "static_track_group" => {
            "static addresses, routes and rules are set at start but not watched; track the \
             interface with `track_interface` or a `vrrp_script` instead"
        }
        "bfd_instance" => {
            "vrrpd has no BFD; track the peer with a `vrrp_script` (for example a ping) instead"
        }
        _ => return None,
    })
}
