//! One observed VRRP packet: what `decode` made of it, or what its header shows when it
//! does not decode; printed as a text line or a JSON object.

use std::fmt::Write as _;
use std::net::IpAddr;

use serde::Serialize;
use vrrp_core::packet::{
    Auth, ChecksumForm, DecodeError, HEADER_LEN, IPPROTO_VRRP, IpMeta, VRRP_TTL, checksum, decode,
};

use crate::capture::Timestamp;
use crate::frame::VrrpPacket;

/// The `--json` object of one packet. The field set and names are a contract.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JsonRecord {
    /// Capture time, RFC 3339 UTC with microseconds.
    pub time: String,
    /// IP source address.
    pub src: String,
    /// Source MAC (`aa:bb:...`), when the link layer has one.
    pub src_mac: Option<String>,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// The version nibble.
    pub version: Option<u8>,
    /// VRID.
    pub vrid: Option<u8>,
    /// Priority.
    pub priority: Option<u8>,
    /// The address count field.
    pub count: Option<u8>,
    /// The addresses, when the bytes are there.
    pub addresses: Option<Vec<String>>,
    /// The advertisement interval in centiseconds.
    pub interval_cs: Option<u16>,
    /// VRRPv2 auth type; never the password itself.
    pub auth_type: Option<u8>,
    /// The checksum verifies.
    pub checksum_ok: bool,
    /// `pseudo-header` or `message-only` (VRRPv3 over IPv4).
    pub checksum_form: Option<&'static str>,
    /// Why vrrpd would refuse the packet (`ttl_not_255`, `bad_checksum`...).
    pub error: Option<&'static str>,
}

/// Everything known about one packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Capture time.
    pub time: Timestamp,
    /// IP source address.
    pub src: IpAddr,
    /// IP destination address.
    pub dst: IpAddr,
    /// Source MAC, when the link layer has one.
    pub src_mac: Option<[u8; 6]>,
    /// The outermost 802.1Q VLAN id, if the frame was tagged.
    pub vlan: Option<u16>,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// The version nibble (any value, as on the wire).
    pub version: Option<u8>,
    /// VRID, when the packet is long enough.
    pub vrid: Option<u8>,
    /// Priority, when the packet is long enough.
    pub priority: Option<u8>,
    /// The address count field, when the packet is long enough.
    pub count: Option<u8>,
    /// The addresses, when the bytes are there.
    pub addresses: Option<Vec<IpAddr>>,
    /// The interval in centiseconds (VRRPv2 seconds converted).
    pub interval_cs: Option<u16>,
    /// VRRPv2 auth type; `None` for VRRPv3.
    pub auth_type: Option<u8>,
    /// VRRPv2 type 1 authentication data (8 bytes, zero padded).
    pub password: Option<[u8; 8]>,
    /// The checksum verifies, by the rules of the version in the header.
    pub checksum_ok: bool,
    /// Which checksum form matched (VRRPv3 over IPv4).
    pub checksum_form: Option<ChecksumForm>,
    /// What `decode` refused it for, if it did.
    pub error: Option<DecodeError>,
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let bytes: [u8; 2] = b.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(u16::from_be_bytes(bytes))
}

/// The pseudo-header of RFC 5798 §5.2.8 (IPv4 reading) / RFC 8200 §8.1 (IPv6).
fn pseudo_header(src: IpAddr, dst: IpAddr, len: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(40);
    for a in [src, dst] {
        match a {
            IpAddr::V4(a) => p.extend(a.octets()),
            IpAddr::V6(a) => p.extend(a.octets()),
        }
    }
    match src {
        IpAddr::V4(_) => {
            p.extend([0, IPPROTO_VRRP]);
            p.extend(u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
        }
        IpAddr::V6(_) => {
            p.extend(u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
            p.extend([0, 0, 0, IPPROTO_VRRP]);
        }
    }
    p
}

/// Which checksum form verifies, judged from the raw bytes by the rules of the version
/// (for packets that `decode` refused before or regardless of the checksum).
fn raw_checksum(
    bytes: &[u8],
    version: u8,
    src: IpAddr,
    dst: IpAddr,
) -> (bool, Option<ChecksumForm>) {
    if bytes.len() < HEADER_LEN {
        return (false, None);
    }
    let pseudo_ok = || checksum(&[&pseudo_header(src, dst, bytes.len()), bytes]) == 0;
    let message_ok = || checksum(&[bytes]) == 0;
    match (version, src) {
        (2, _) => (message_ok(), None),
        (3, IpAddr::V6(_)) => (pseudo_ok(), None),
        (3, IpAddr::V4(_)) => {
            if pseudo_ok() {
                (true, Some(ChecksumForm::PseudoHeader))
            } else if message_ok() {
                (true, Some(ChecksumForm::MessageOnly))
            } else {
                (false, None)
            }
        }
        _ => (message_ok() || pseudo_ok(), None),
    }
}

impl Record {
    /// Decodes the VRRP payload of `pkt`.
    pub fn from_packet(time: Timestamp, pkt: &VrrpPacket<'_>) -> Record {
        let bytes = pkt.payload;
        let meta = IpMeta {
            src: pkt.src,
            dst: pkt.dst,
            ttl: pkt.ttl,
        };
        let mut rec = Record {
            time,
            src: pkt.src,
            dst: pkt.dst,
            src_mac: pkt.src_mac,
            vlan: pkt.vlan,
            ttl: pkt.ttl,
            version: None,
            vrid: None,
            priority: None,
            count: None,
            addresses: None,
            interval_cs: None,
            auth_type: None,
            password: None,
            checksum_ok: false,
            checksum_form: None,
            error: None,
        };
        let verdict = decode(bytes, &meta);
        rec.error = verdict.as_ref().err().cloned();
        // A bad TTL is checked first and hides everything else: read the rest as if the
        // TTL were right, keeping the TTL error.
        let full = match verdict {
            Err(DecodeError::TtlNot255 { .. }) => decode(
                bytes,
                &IpMeta {
                    ttl: VRRP_TTL,
                    ..meta
                },
            ),
            other => other,
        };
        match full {
            Ok(d) => {
                let adv = d.advertisement;
                let link_local_first = vrrp_core::packet::first_address_is_link_local(&adv);
                rec.version = Some(adv.version.number());
                rec.vrid = Some(adv.vrid);
                rec.priority = Some(adv.priority);
                rec.count = u8::try_from(adv.addresses.len()).ok();
                rec.interval_cs = Some(adv.interval_cs);
                rec.addresses = Some(adv.addresses);
                rec.checksum_ok = true;
                rec.checksum_form = d.checksum_form;
                // Accepted by receivers, but worth showing: RFC 5798 §5.2.9.
                if rec.error.is_none() && !link_local_first {
                    rec.error = Some(DecodeError::FirstAddressNotLinkLocal);
                }
                if adv.version.number() == 2 {
                    rec.auth_type = Some(adv.auth.type_number());
                    if let Auth::SimplePassword(p) = adv.auth {
                        rec.password = Some(p);
                    }
                }
            }
            Err(_) => rec.fill_from_raw(bytes),
        }
        rec
    }

    /// Reads what the header shows of a packet that does not decode.
    fn fill_from_raw(&mut self, bytes: &[u8]) {
        let version = bytes.first().map(|b| b >> 4);
        self.version = version;
        self.vrid = bytes.get(1).copied();
        self.priority = bytes.get(2).copied();
        self.count = bytes.get(3).copied();
        let (ok, form) = raw_checksum(bytes, version.unwrap_or(0), self.src, self.dst);
        self.checksum_ok = ok;
        self.checksum_form = form;
        match version {
            Some(2) => {
                self.auth_type = bytes.get(4).copied();
                self.interval_cs = bytes.get(5).map(|s| u16::from(*s) * 100);
            }
            Some(3) => self.interval_cs = be16(bytes, 4).map(|i| i & 0x0fff),
            _ => return,
        }
        let alen = match self.src {
            IpAddr::V4(_) => 4,
            IpAddr::V6(_) => 16,
        };
        if let Some(count) = self.count {
            let end = HEADER_LEN + usize::from(count) * alen;
            if let Some(raw) = bytes.get(HEADER_LEN..end) {
                self.addresses = Some(
                    raw.chunks_exact(alen)
                        .filter_map(|c| match c.len() {
                            4 => <[u8; 4]>::try_from(c).ok().map(IpAddr::from),
                            _ => <[u8; 16]>::try_from(c).ok().map(IpAddr::from),
                        })
                        .collect(),
                );
                if version == Some(2) && self.auth_type == Some(1) {
                    self.password = bytes
                        .get(end..end + 8)
                        .and_then(|p| <[u8; 8]>::try_from(p).ok());
                }
            }
        }
    }

    /// The source MAC as `aa:bb:cc:dd:ee:ff`.
    pub fn mac_string(&self) -> Option<String> {
        self.src_mac.map(|m| format_mac(&m))
    }

    /// The `--json` object.
    pub fn to_json(&self) -> JsonRecord {
        JsonRecord {
            time: self.time.rfc3339(),
            src: self.src.to_string(),
            src_mac: self.mac_string(),
            ttl: self.ttl,
            version: self.version,
            vrid: self.vrid,
            priority: self.priority,
            count: self.count,
            addresses: self
                .addresses
                .as_ref()
                .map(|a| a.iter().map(ToString::to_string).collect()),
            interval_cs: self.interval_cs,
            auth_type: self.auth_type,
            checksum_ok: self.checksum_ok,
            checksum_form: self.checksum_form.map(ChecksumForm::name),
            error: self.error.as_ref().map(DecodeError::name),
        }
    }

    /// The text line. The v2 password is shown only with `show_password`.
    pub fn to_text(&self, show_password: bool) -> String {
        let mut s = String::new();
        let opt = |v: Option<u8>| v.map_or("?".to_string(), |v| v.to_string());
        let _ = write!(
            s,
            "{} {} mac {} ttl {}",
            self.time.rfc3339(),
            self.src,
            self.mac_string().as_deref().unwrap_or("-"),
            self.ttl
        );
        if let Some(v) = self.vlan {
            let _ = write!(s, " vlan {v}");
        }
        let _ = write!(
            s,
            " VRRPv{} vrid {} prio {}",
            opt(self.version),
            opt(self.vrid),
            opt(self.priority)
        );
        match &self.addresses {
            Some(a) => {
                let list: Vec<String> = a.iter().map(ToString::to_string).collect();
                let _ = write!(s, " count {} [{}]", a.len(), list.join(" "));
            }
            None => {
                let _ = write!(s, " count {} [?]", opt(self.count));
            }
        }
        match (self.version, self.interval_cs) {
            (Some(2), Some(cs)) => {
                let _ = write!(s, " interval {}s ({cs}cs)", cs / 100);
            }
            (_, Some(cs)) => {
                let _ = write!(s, " interval {cs}cs ({}.{:02}s)", cs / 100, cs % 100);
            }
            (_, None) => s.push_str(" interval ?"),
        }
        if self.version == Some(2) {
            match (self.auth_type, &self.password) {
                (Some(0), _) => s.push_str(" auth none"),
                (Some(1), Some(p)) if show_password => {
                    let _ = write!(s, " auth pass \"{}\"", password_text(p));
                }
                (Some(1), Some(p)) if p.iter().all(|b| *b == 0) => s.push_str(" auth pass (empty)"),
                (Some(1), Some(_)) => s.push_str(" auth pass (set)"),
                (Some(t), _) => {
                    let _ = write!(s, " auth type {t}");
                }
                (None, _) => s.push_str(" auth ?"),
            }
        }
        s.push_str(if self.checksum_ok {
            " cksum ok"
        } else {
            " cksum BAD"
        });
        if let Some(f) = self.checksum_form {
            let _ = write!(s, " ({})", f.name());
        }
        if let Some(e) = &self.error {
            let _ = write!(s, " ERROR {} ({e})", e.name());
        }
        s
    }
}

/// `aa:bb:cc:dd:ee:ff`
pub fn format_mac(m: &[u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// The password as text: up to the first zero byte, non-printable bytes escaped.
pub fn password_text(p: &[u8; 8]) -> String {
    let end = p.iter().position(|b| *b == 0).unwrap_or(p.len());
    p.get(..end)
        .unwrap_or(&[])
        .iter()
        .flat_map(|b| std::ascii::escape_default(*b))
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use vrrp_core::packet::{Advertisement, Version, encode};

    fn packet(bytes: &[u8], ttl: u8) -> VrrpPacket<'_> {
        VrrpPacket {
            src_mac: Some([0, 0, 0x5e, 0, 1, 7]),
            vlan: None,
            src: IpAddr::V4(Ipv4Addr::new(10, 99, 0, 1)),
            dst: IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)),
            ttl,
            payload: bytes,
        }
    }

    fn v2() -> Vec<u8> {
        let adv = Advertisement {
            version: Version::V2,
            vrid: 7,
            priority: 150,
            interval_cs: 100,
            auth: Auth::simple_password("secret"),
            addresses: vec![IpAddr::V4(Ipv4Addr::new(10, 99, 0, 100))],
        };
        let src = IpAddr::V4(Ipv4Addr::new(10, 99, 0, 1));
        let dst = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18));
        encode(&adv, src, dst, ChecksumForm::MessageOnly).unwrap()
    }

    #[test]
    fn good_v2() {
        let bytes = v2();
        let r = Record::from_packet(Timestamp::default(), &packet(&bytes, 255));
        let j = r.to_json();
        assert_eq!(j.version, Some(2));
        assert_eq!(j.vrid, Some(7));
        assert_eq!(j.auth_type, Some(1));
        assert_eq!(j.interval_cs, Some(100));
        assert!(j.checksum_ok);
        assert_eq!(j.error, None);
        assert_eq!(password_text(&r.password.unwrap()), "secret");
        let text = r.to_text(false);
        assert!(
            text.contains("auth pass (set)") && !text.contains("secret"),
            "{text}"
        );
        assert!(r.to_text(true).contains("auth pass \"secret\""));
        assert!(text.contains("interval 1s"), "{text}");
    }

    #[test]
    fn bad_ttl_still_shows_the_fields() {
        let bytes = v2();
        let r = Record::from_packet(Timestamp::default(), &packet(&bytes, 64));
        let j = r.to_json();
        assert_eq!(j.error, Some("ttl_not_255"));
        assert_eq!(j.priority, Some(150));
        assert!(j.checksum_ok);
        assert_eq!(j.addresses, Some(vec!["10.99.0.100".to_string()]));
    }

    #[test]
    fn bad_checksum_and_truncated() {
        let mut bytes = v2();
        bytes[6] ^= 0xff;
        let r = Record::from_packet(Timestamp::default(), &packet(&bytes, 255));
        assert_eq!(r.to_json().error, Some("bad_checksum"));
        assert!(!r.checksum_ok);
        assert_eq!(r.vrid, Some(7));
        assert_eq!(r.addresses.as_ref().map(Vec::len), Some(1));

        let r = Record::from_packet(Timestamp::default(), &packet(&bytes[..3], 255));
        let j = r.to_json();
        assert_eq!(j.error, Some("truncated"));
        assert_eq!(
            (j.version, j.vrid, j.priority, j.count),
            (Some(2), Some(7), Some(150), None)
        );
        assert_eq!(j.addresses, None);
        assert!(r.to_text(false).contains("ERROR truncated"));
    }

    #[test]
    fn raw_checksum_of_refused_ipv6_packets() {
        // keepalived's packets with a global first address: refused after the checksum.
        let src: IpAddr = "fe80::1".parse().unwrap();
        let dst: IpAddr = "ff02::12".parse().unwrap();
        let adv = Advertisement {
            version: Version::V3,
            vrid: 51,
            priority: 150,
            interval_cs: 100,
            auth: Auth::None,
            addresses: vec!["fd99::100".parse().unwrap()],
        };
        let bytes = encode(&adv, src, dst, ChecksumForm::PseudoHeader).unwrap();
        let pkt = VrrpPacket {
            src_mac: None,
            vlan: None,
            src,
            dst,
            ttl: 255,
            payload: &bytes,
        };
        let r = Record::from_packet(Timestamp::default(), &pkt);
        let j = r.to_json();
        assert_eq!(j.error, Some("first_address_not_link_local"));
        assert!(j.checksum_ok);
        assert_eq!(j.checksum_form, None);
        assert_eq!(j.addresses, Some(vec!["fd99::100".to_string()]));
        assert_eq!(j.interval_cs, Some(100));
        assert_eq!(j.src_mac, None);
        assert!(r.to_text(false).contains(" mac - "));

        // VRRPv2 over IPv6 (version_family_mismatch): raw fields, message-only checksum.
        let mut v2 = bytes.clone();
        v2[0] = 0x21;
        let pkt = VrrpPacket {
            payload: &v2,
            ..pkt
        };
        let j = Record::from_packet(Timestamp::default(), &pkt).to_json();
        assert_eq!(j.error, Some("version_family_mismatch"));
        assert_eq!(
            (j.version, j.vrid, j.auth_type),
            (Some(2), Some(51), Some(0))
        );
        assert!(!j.checksum_ok);
    }
}
