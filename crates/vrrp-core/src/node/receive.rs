//! The receive path: decode, route by (interface, family, VRID), the node's own checks
//! (own source, unicast peers), then the instance's checks (RFC 5798 §7.1).

use std::net::IpAddr;

use crate::instance::Input;
use crate::packet::{self, Family, IpMeta};
use crate::time::Timestamp;

use super::{Discard, Node, NodeEvent};

impl Node {
    /// A packet arrived on interface `ifindex` (its IP header's fields in `meta`, the VRRP
    /// message in `bytes`).
    pub fn handle_packet(&mut self, now: Timestamp, ifindex: u32, meta: &IpMeta, bytes: &[u8]) {
        let src = meta.src;
        let decoded = match self.decode(ifindex, meta, bytes) {
            Ok(d) => d,
            Err(error) => {
                let target = packet::peek_vrid(bytes).and_then(|v| self.route(ifindex, src, v));
                match target {
                    Some(i) => {
                        self.members[i].instance.record_decode_error(&error);
                        let id = self.members[i].id;
                        self.event(NodeEvent::Discarded {
                            id,
                            src,
                            reason: Discard::Malformed(error),
                        });
                    }
                    None => {
                        if let Some(vrid) = packet::peek_vrid(bytes) {
                            self.event(NodeEvent::UnknownVrid { src, vrid });
                        }
                    }
                }
                return;
            }
        };
        let adv = &decoded.advertisement;
        let Some(i) = self.route(ifindex, src, adv.vrid) else {
            self.event(NodeEvent::UnknownVrid {
                src,
                vrid: adv.vrid,
            });
            return;
        };
        let m = &self.members[i];
        let id = m.id;
        // Our own advertisement looped back (a shared socket, a bridge reflecting it).
        if src == m.spec.core.primary_address {
            return;
        }
        if (self.check_unicast_src || m.spec.check_unicast_src)
            && !m.spec.unicast_peers.is_empty()
            && !m.spec.unicast_peers.contains(&src)
        {
            self.event(NodeEvent::Discarded {
                id,
                src,
                reason: Discard::NotUnicastPeer,
            });
            return;
        }
        if !packet::first_address_is_link_local(adv) {
            self.event(NodeEvent::GlobalFirstAddress { id, src });
        }
        let m = &mut self.members[i];
        m.instance.handle(
            now,
            Input::Advertisement {
                src,
                advertisement: adv,
                checksum_form: decoded.checksum_form,
            },
        );
        self.drain(i, now, Some((src, adv)));
        self.update_group_holds(i, now);
    }

    /// Decodes `bytes`; a unicast instance with a `unicast_ttl` other than 255 skips the TTL
    /// check (keepalived never checks the TTL of unicast adverts; vrrpd only when told).
    fn decode(
        &self,
        ifindex: u32,
        meta: &IpMeta,
        bytes: &[u8],
    ) -> Result<packet::Decoded, packet::DecodeError> {
        let first = packet::decode(bytes, meta);
        let Err(packet::DecodeError::TtlNot255 { .. }) = first else {
            return first;
        };
        let relaxed = packet::peek_vrid(bytes)
            .and_then(|v| self.route(ifindex, meta.src, v))
            .is_some_and(|i| {
                let spec = &self.members[i].spec;
                spec.unicast_ttl != packet::VRRP_TTL && !spec.unicast_peers.is_empty()
            });
        if !relaxed {
            return first;
        }
        let as_if_local = IpMeta {
            ttl: packet::VRRP_TTL,
            ..*meta
        };
        packet::decode(bytes, &as_if_local)
    }

    /// The member for VRID `vrid` on interface `ifindex` in the family of `src`.
    fn route(&self, ifindex: u32, src: IpAddr, vrid: u8) -> Option<usize> {
        let family = Family::of(&src);
        self.members.iter().position(|m| {
            m.spec.socket.ifindex == ifindex
                && m.spec.core.family == family
                && m.spec.core.vrid == vrid
        })
    }
}
