//! Per-instance statistics, named after RFC 6527 (VRRPv3-MIB) `vrrpv3StatisticsEntry`, with
//! the VRRPv2 authentication counters of RFC 2787 (VRRP-MIB) and the router-wide error
//! counters (`vrrpv3RouterChecksumErrors`, ...) kept per instance, where the daemon can
//! attribute them by VRID.

use crate::packet::DecodeError;

/// Why a received packet for an instance was counted as an error: one variant per error
/// counter, so that a caller learns the reason from the instance's output, typed, instead
/// of comparing counters.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ReceiveError {
    /// The advertisement interval differs (VRRPv2, RFC 3768 §7.1).
    AdvInterval,
    /// TTL / hop limit not 255 (RFC 5798 §7.1).
    IpTtl,
    /// Not an advertisement.
    InvalidType,
    /// The address list differs from ours (RFC 5798 §7.1 MAY check).
    AddressList,
    /// Truncated, or the length disagrees with the address count.
    PacketLength,
    /// Bad checksum.
    Checksum,
    /// Another VRRP version, or v3 with the wrong family.
    Version,
    /// Another VRID (cannot happen once routed by VRID; kept for the MIB).
    Vrid,
    /// VRRPv2: wrong password.
    AuthFailure,
    /// VRRPv2: authentication type 2 (AH) or unknown.
    InvalidAuthType,
    /// VRRPv2: a valid authentication type other than ours.
    AuthTypeMismatch,
    /// Zero count, zero interval, a source of the other family.
    Proto,
    /// `check_unicast_src`: the source is not one of the instance's unicast peers.
    UnicastSrc,
}

impl ReceiveError {
    /// The name of the counter it increments (a field of [`Counters`]).
    pub fn counter_name(self) -> &'static str {
        match self {
            ReceiveError::AdvInterval => "adv_interval_errors",
            ReceiveError::IpTtl => "ip_ttl_errors",
            ReceiveError::InvalidType => "rcvd_invalid_type_packets",
            ReceiveError::AddressList => "address_list_errors",
            ReceiveError::PacketLength => "packet_length_errors",
            ReceiveError::Checksum => "checksum_errors",
            ReceiveError::Version => "version_errors",
            ReceiveError::Vrid => "vrid_errors",
            ReceiveError::AuthFailure => "auth_failures",
            ReceiveError::InvalidAuthType => "invalid_auth_type",
            ReceiveError::AuthTypeMismatch => "auth_type_mismatch",
            ReceiveError::Proto => "proto_errors",
            ReceiveError::UnicastSrc => "unicast_src_errors",
        }
    }
}

impl From<&DecodeError> for ReceiveError {
    fn from(error: &DecodeError) -> Self {
        match error {
            DecodeError::TtlNot255 { .. } => ReceiveError::IpTtl,
            DecodeError::Truncated { .. } | DecodeError::LengthMismatch { .. } => {
                ReceiveError::PacketLength
            }
            DecodeError::BadType { .. } => ReceiveError::InvalidType,
            DecodeError::BadChecksum { .. } => ReceiveError::Checksum,
            DecodeError::BadVersion { .. } | DecodeError::VersionFamilyMismatch => {
                ReceiveError::Version
            }
            DecodeError::ZeroCount
            | DecodeError::ZeroInterval
            | DecodeError::FirstAddressNotLinkLocal => ReceiveError::Proto,
            DecodeError::AuthHeaderUnsupported | DecodeError::BadAuthType { .. } => {
                ReceiveError::InvalidAuthType
            }
        }
    }
}

/// Counters of one instance. All are monotonic. With the `serde` feature they are one JSON
/// object, the field names as keys, in this order (the control contract's form).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(default))]
pub struct Counters {
    /// `vrrpv3StatisticsMasterTransitions`: transitions to Master.
    pub master_transitions: u64,
    /// `vrrpv3StatisticsRcvdAdvertisements`: advertisements received and accepted for this VRID.
    pub rcvd_advertisements: u64,
    /// Advertisements sent (not in the MIB; every vendor shows it).
    pub sent_advertisements: u64,
    /// `vrrpv3StatisticsAdvIntervalErrors`.
    pub adv_interval_errors: u64,
    /// `vrrpv3StatisticsIpTtlErrors`.
    pub ip_ttl_errors: u64,
    /// `vrrpv3StatisticsRcvdPriZeroPackets`.
    pub rcvd_pri_zero_packets: u64,
    /// `vrrpv3StatisticsSentPriZeroPackets`.
    pub sent_pri_zero_packets: u64,
    /// `vrrpv3StatisticsRcvdInvalidTypePackets`.
    pub rcvd_invalid_type_packets: u64,
    /// `vrrpv3StatisticsAddressListErrors`.
    pub address_list_errors: u64,
    /// `vrrpv3StatisticsPacketLengthErrors`.
    pub packet_length_errors: u64,
    /// `vrrpv3RouterChecksumErrors`.
    pub checksum_errors: u64,
    /// `vrrpv3RouterVersionErrors`.
    pub version_errors: u64,
    /// `vrrpv3RouterVrIdErrors`.
    pub vrid_errors: u64,
    /// `vrrpStatsAuthFailures` (RFC 2787): wrong password.
    pub auth_failures: u64,
    /// `vrrpStatsInvalidAuthType` (RFC 2787): auth type 2 or unknown.
    pub invalid_auth_type: u64,
    /// `vrrpStatsAuthTypeMismatch` (RFC 2787): a valid auth type other than ours.
    pub auth_type_mismatch: u64,
    /// Other protocol errors (`vrrpv3StatisticsProtoErrReason`): zero count, zero interval,
    /// first IPv6 address not link-local.
    pub proto_errors: u64,
    /// VRRPv3 IPv4 advertisements accepted with the pseudo-header checksum form.
    pub rcvd_checksum_pseudo_header: u64,
    /// VRRPv3 IPv4 advertisements accepted with the message-only checksum form.
    pub rcvd_checksum_message_only: u64,
    /// Transitions out of Master (keepalived exporter's `release_master`).
    pub master_releases: u64,
    /// Advertisements of lower priority (or equal priority and lower address) heard while
    /// Master: another router believes it is Master (split brain, RFC 9568 §6.4.3).
    pub rcvd_lower_priority_as_master: u64,
    /// Advertisements discarded by `check_unicast_src` (not in the MIB; keepalived only logs
    /// them): their source is not one of the instance's unicast peers.
    pub unicast_src_errors: u64,
    /// Virtual addresses put back while Master after something else removed them (an
    /// operator's `ip addr del`, a network manager); not in the MIB.
    pub vip_restores: u64,
}

impl Counters {
    /// Counts one receive error.
    pub fn count(&mut self, error: ReceiveError) {
        let c = match error {
            ReceiveError::AdvInterval => &mut self.adv_interval_errors,
            ReceiveError::IpTtl => &mut self.ip_ttl_errors,
            ReceiveError::InvalidType => &mut self.rcvd_invalid_type_packets,
            ReceiveError::AddressList => &mut self.address_list_errors,
            ReceiveError::PacketLength => &mut self.packet_length_errors,
            ReceiveError::Checksum => &mut self.checksum_errors,
            ReceiveError::Version => &mut self.version_errors,
            ReceiveError::Vrid => &mut self.vrid_errors,
            ReceiveError::AuthFailure => &mut self.auth_failures,
            ReceiveError::InvalidAuthType => &mut self.invalid_auth_type,
            ReceiveError::AuthTypeMismatch => &mut self.auth_type_mismatch,
            ReceiveError::Proto => &mut self.proto_errors,
            ReceiveError::UnicastSrc => &mut self.unicast_src_errors,
        };
        *c += 1;
    }

    /// Every counter with its name (the field name), for dumps, metrics and the control
    /// socket.
    pub fn fields(&self) -> [(&'static str, u64); 23] {
        // Destructured so that a new counter cannot be forgotten here.
        let Counters {
            master_transitions,
            rcvd_advertisements,
            sent_advertisements,
            adv_interval_errors,
            ip_ttl_errors,
            rcvd_pri_zero_packets,
            sent_pri_zero_packets,
            rcvd_invalid_type_packets,
            address_list_errors,
            packet_length_errors,
            checksum_errors,
            version_errors,
            vrid_errors,
            auth_failures,
            invalid_auth_type,
            auth_type_mismatch,
            proto_errors,
            rcvd_checksum_pseudo_header,
            rcvd_checksum_message_only,
            master_releases,
            rcvd_lower_priority_as_master,
            unicast_src_errors,
            vip_restores,
        } = *self;
        [
            ("master_transitions", master_transitions),
            ("rcvd_advertisements", rcvd_advertisements),
            ("sent_advertisements", sent_advertisements),
            ("adv_interval_errors", adv_interval_errors),
            ("ip_ttl_errors", ip_ttl_errors),
            ("rcvd_pri_zero_packets", rcvd_pri_zero_packets),
            ("sent_pri_zero_packets", sent_pri_zero_packets),
            ("rcvd_invalid_type_packets", rcvd_invalid_type_packets),
            ("address_list_errors", address_list_errors),
            ("packet_length_errors", packet_length_errors),
            ("checksum_errors", checksum_errors),
            ("version_errors", version_errors),
            ("vrid_errors", vrid_errors),
            ("auth_failures", auth_failures),
            ("invalid_auth_type", invalid_auth_type),
            ("auth_type_mismatch", auth_type_mismatch),
            ("proto_errors", proto_errors),
            ("rcvd_checksum_pseudo_header", rcvd_checksum_pseudo_header),
            ("rcvd_checksum_message_only", rcvd_checksum_message_only),
            ("master_releases", master_releases),
            (
                "rcvd_lower_priority_as_master",
                rcvd_lower_priority_as_master,
            ),
            ("unicast_src_errors", unicast_src_errors),
            ("vip_restores", vip_restores),
        ]
    }
}
