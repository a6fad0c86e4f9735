//! The RFC timer formulas.
//!
//! Arithmetic is done in microseconds so that sub-centisecond skews are not rounded away
//! (keepalived also keeps these timers in microseconds).

use std::time::Duration;

use crate::packet::Version;

/// The number of advertisement intervals a Backup waits before declaring the Master down
/// (RFC 3768 §6.1, RFC 5798 / RFC 9568 §6.1).
pub const DOWN_INTERVAL_ADVERTS: u64 = 3;

/// Skew_Time for a router of `priority`.
///
/// - VRRPv2 (RFC 3768 §6.1): `(256 - Priority) / 256` seconds, independent of the interval.
/// - VRRPv3 (RFC 5798 §6.1, RFC 9568 §6.1): `((256 - Priority) * Master_Adver_Interval) / 256`,
///   scaled by the Master's advertised interval.
pub fn skew_time(version: Version, priority: u8, master_adver_interval_cs: u16) -> Duration {
    let weight = 256 - u64::from(priority);
    let micros = match version {
        Version::V2 => weight * 1_000_000 / 256,
        Version::V3 => weight * u64::from(master_adver_interval_cs) * 10_000 / 256,
    };
    Duration::from_micros(micros)
}

/// Master_Down_Interval = 3 × Master_Adver_Interval + Skew_Time (RFC 3768 §6.1,
/// RFC 5798 / RFC 9568 §6.1).
pub fn master_down_interval(
    version: Version,
    priority: u8,
    master_adver_interval_cs: u16,
) -> Duration {
    master_down_interval_of(
        DOWN_INTERVAL_ADVERTS as u8,
        version,
        priority,
        master_adver_interval_cs,
    )
}

/// Master_Down_Interval counting `adverts` intervals instead of 3 (keepalived's
/// `down_timer_adverts`, a deliberate deviation from the RFCs that every router of the
/// virtual router must share).
pub fn master_down_interval_of(
    adverts: u8,
    version: Version,
    priority: u8,
    master_adver_interval_cs: u16,
) -> Duration {
    centiseconds(master_adver_interval_cs) * u32::from(adverts)
        + skew_time(version, priority, master_adver_interval_cs)
}

/// A centisecond count as a duration.
pub fn centiseconds(cs: u16) -> Duration {
    Duration::from_millis(u64::from(cs) * 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 3768 §6.1: Skew_Time = (256 - Priority) / 256 seconds.
    #[test]
    fn rfc3768_6_1_skew_time_in_seconds_independent_of_interval() {
        assert_eq!(
            skew_time(Version::V2, 100, 100),
            Duration::from_micros(609_375)
        );
        assert_eq!(
            skew_time(Version::V2, 100, 500),
            Duration::from_micros(609_375)
        );
        assert_eq!(
            skew_time(Version::V2, 255, 100),
            Duration::from_micros(3_906)
        );
    }

    /// RFC 3768 §6.1: Master_Down_Interval = 3 * Advertisement_Interval + Skew_time.
    #[test]
    fn rfc3768_6_1_master_down_interval() {
        assert_eq!(
            master_down_interval(Version::V2, 100, 100),
            Duration::from_micros(3_609_375)
        );
    }

    /// keepalived's down_timer_adverts: N intervals plus the same skew.
    #[test]
    fn down_timer_adverts_scales_the_interval_count() {
        assert_eq!(
            master_down_interval_of(3, Version::V3, 200, 100),
            master_down_interval(Version::V3, 200, 100)
        );
        assert_eq!(
            master_down_interval_of(5, Version::V3, 200, 100),
            Duration::from_micros(5_218_750)
        );
        assert_eq!(
            master_down_interval_of(1, Version::V2, 100, 100),
            Duration::from_micros(1_609_375)
        );
    }

    /// RFC 5798 §6.1: Skew_Time = ((256 - priority) * Master_Adver_Interval) / 256.
    /// Worked example: interval 100 cs, priority 200 -> 21.875 cs (FRR shows 210 ms after
    /// rounding to whole centiseconds), down interval 321.875 cs.
    #[test]
    fn rfc5798_6_1_skew_time_scales_with_master_interval() {
        assert_eq!(
            skew_time(Version::V3, 200, 100),
            Duration::from_micros(218_750)
        );
        assert_eq!(
            master_down_interval(Version::V3, 200, 100),
            Duration::from_micros(3_218_750)
        );
        assert_eq!(skew_time(Version::V3, 200, 1), Duration::from_micros(2_187));
        assert_eq!(
            master_down_interval(Version::V3, 100, 1),
            Duration::from_micros(36_093)
        );
    }
}
