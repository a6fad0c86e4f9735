//! The receive path: decode, route by (interface, family, VRID), the node's own checks
//! (own source, unicast peers), then the instance's checks (RFC 5798 §7.1).

use std::net::IpAddr;

use crate::counters::ReceiveError;
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
        // A multicast instance takes only what was sent to the group: an advertisement sent
        // to this host's address reaches no other router, so the Master cannot answer it (a
        // forged priority 0 would move the role). keepalived refuses it too.
        if m.spec.unicast_peers.is_empty() && !meta.dst.is_multicast() {
            self.members[i]
                .instance
                .record_error(ReceiveError::AddressList);
            self.event(NodeEvent::Discarded {
                id,
                src,
                reason: Discard::NotToTheGroup { dst: meta.dst },
            });
            return;
        }
        if (self.check_unicast_src || m.spec.check_unicast_src)
            && !m.spec.unicast_peers.is_empty()
            && !m.spec.unicast_peers.contains(&src)
        {
            self.members[i]
                .instance
                .record_error(ReceiveError::UnicastSrc);
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

    /// Decodes `bytes` with the unicast relaxations of the instance it is for: with a
    /// `unicast_ttl` other than 255 the TTL is not checked (keepalived never checks it on
    /// unicast; vrrpd only when told), and with `old_unicast_checksum` the checksum may
    /// use the group as destination (keepalived before 1.3.6).
    fn decode(
        &self,
        ifindex: u32,
        meta: &IpMeta,
        bytes: &[u8],
    ) -> Result<packet::Decoded, packet::DecodeError> {
        let first = packet::decode(bytes, meta);
        let Err(error) = &first else {
            return first;
        };
        let Some(spec) = packet::peek_vrid(bytes)
            .and_then(|v| self.route(ifindex, meta.src, v))
            .map(|i| &self.members[i].spec)
            .filter(|s| !s.unicast_peers.is_empty())
        else {
            return first;
        };
        let mut relaxed = *meta;
        if spec.unicast_ttl != packet::VRRP_TTL {
            relaxed.ttl = packet::VRRP_TTL;
        }
        let retry = match error {
            packet::DecodeError::TtlNot255 { .. } => relaxed.ttl != meta.ttl,
            packet::DecodeError::BadChecksum { .. } => spec.old_unicast_checksum,
            _ => false,
        };
        if !retry {
            return first;
        }
        match packet::decode(bytes, &relaxed) {
            Err(packet::DecodeError::BadChecksum { .. })
                if spec.old_unicast_checksum && spec.core.family == Family::Ipv4 =>
            {
                relaxed.dst = IpAddr::V4(packet::MULTICAST_V4);
                packet::decode(bytes, &relaxed).map_err(|_| error.clone())
            }
            Err(_) => first,
            ok => ok,
        }
    }
}
