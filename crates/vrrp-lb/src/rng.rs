//! The warm-up jitter's pseudo-random numbers: SplitMix64 (Steele, Lea, Flood 2014), seeded by
//! the caller so that a run is reproducible (tests, the simulator). Not for anything secret.

use std::time::Duration;

/// A SplitMix64 generator.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A duration uniformly in `[0, bound)` (zero when `bound` is zero: keepalived's
    /// `warmup 0` starts at once).
    pub(crate) fn below(&mut self, bound: Duration) -> Duration {
        let nanos = u64::try_from(bound.as_nanos()).unwrap_or(u64::MAX);
        // Multiply-shift instead of modulo: no bias worth speaking of, no division.
        let scaled = (u128::from(nanos) * u128::from(self.next_u64())) >> 64;
        Duration::from_nanos(scaled as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_bounded() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        for _ in 0..1000 {
            let bound = Duration::from_millis(1500);
            let x = a.below(bound);
            assert_eq!(x, b.below(bound));
            assert!(x < bound);
        }
        assert_eq!(a.below(Duration::ZERO), Duration::ZERO);
    }
}
