//! Per-instance statistics, named after RFC 6527 (VRRPv3-MIB) `vrrpv3StatisticsEntry`, with
//! the VRRPv2 authentication counters of RFC 2787 (VRRP-MIB) and the router-wide error
//! counters (`vrrpv3RouterChecksumErrors`, ...) kept per instance, where the daemon can
//! attribute them by VRID.

/// Counters of one instance. All are monotonic.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
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
}

impl Counters {
    /// Every counter with its name (the field name), for dumps, metrics and the control
    /// socket.
    pub fn fields(&self) -> [(&'static str, u64); 21] {
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
        ]
    }
}
