//! Maglev consistent hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software Network
//! Load Balancer", NSDI 2016, §3.4): a lookup table in which each backend fills the slots of
//! its own permutation in turn, so that a backend that leaves frees only its own slots and
//! moves few others.
//!
//! The table is the same on every machine: the hash is fixed here (FNV-1a 64 of the backend's
//! address and port, finished by SplitMix64's mixer so that neighbouring addresses spread),
//! with no per-process random keys. Weights give a backend proportionally more turns; the
//! turns are interleaved by smooth weighted round robin (as nginx does) so that no backend
//! takes a long run of turns at once.

use std::fmt;
use std::net::IpAddr;

use crate::spec::RealServerKey;

/// The default table size: a prime, large enough that 100 backends each get ~655 slots.
pub const DEFAULT_SIZE: usize = 65_537;

/// Why no table could be built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MaglevError {
    /// The size must be a prime (the permutations must visit every slot).
    SizeNotPrime(usize),
    /// More backends than slots, or than a `u16` index can name.
    TooManyBackends {
        /// Backends given.
        backends: usize,
        /// The table size.
        size: usize,
    },
}

impl fmt::Display for MaglevError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaglevError::SizeNotPrime(n) => write!(f, "Maglev table size {n} is not a prime"),
            MaglevError::TooManyBackends { backends, size } => write!(
                f,
                "{backends} backends do not fit a Maglev table of {size} slots (at most {} backends)",
                (*size).min(usize::from(u16::MAX) + 1)
            ),
        }
    }
}

impl std::error::Error for MaglevError {}

/// The lookup table for `backends` (with their weights): `size` entries, each an index into
/// `backends`. Backends of weight 0 get no slot; with no backend of positive weight the table
/// is empty.
pub fn table(backends: &[(RealServerKey, u32)], size: usize) -> Result<Vec<u16>, MaglevError> {
    if !is_prime(size) {
        return Err(MaglevError::SizeNotPrime(size));
    }
    if backends.len() > size || backends.len() > usize::from(u16::MAX) + 1 {
        return Err(MaglevError::TooManyBackends {
            backends: backends.len(),
            size,
        });
    }
    let total: i64 = backends.iter().map(|(_, w)| i64::from(*w)).sum();
    if total == 0 {
        return Ok(Vec::new());
    }
    let size64 = size as u64;
    let perms: Vec<(u64, u64)> = backends
        .iter()
        .map(|(key, _)| {
            let bytes = key_bytes(key);
            let offset = hash(0, &bytes) % size64;
            let skip = hash(1, &bytes) % (size64 - 1).max(1) + 1;
            (offset, skip)
        })
        .collect();
    let mut next = vec![0u64; backends.len()];
    let mut credit = vec![0i64; backends.len()];
    let mut entry: Vec<Option<u16>> = vec![None; size];
    let mut filled = 0;
    while filled < size {
        // Smooth weighted round robin: whose turn it is.
        let mut turn = 0;
        for (i, (_, w)) in backends.iter().enumerate() {
            credit[i] += i64::from(*w);
            if credit[i] > credit[turn] || backends[turn].1 == 0 {
                turn = i;
            }
        }
        credit[turn] -= total;
        let (offset, skip) = perms[turn];
        loop {
            let slot = ((offset + next[turn] * skip) % size64) as usize;
            next[turn] += 1;
            if entry[slot].is_none() {
                // `turn` < backends.len() <= 65536, checked above.
                entry[slot] = Some(turn as u16);
                filled += 1;
                break;
            }
        }
    }
    Ok(entry.into_iter().map(|e| e.unwrap_or_default()).collect())
}

/// The bytes hashed for a backend: family tag, address, port (big-endian).
fn key_bytes(key: &RealServerKey) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(19);
    match key.addr {
        IpAddr::V4(a) => {
            bytes.push(4);
            bytes.extend_from_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            bytes.push(6);
            bytes.extend_from_slice(&a.octets());
        }
    }
    bytes.extend_from_slice(&key.port.to_be_bytes());
    bytes
}

/// FNV-1a 64 of `seed` then `bytes`, finished by SplitMix64's mixer. Fixed forever: changing
/// it would reshuffle every deployed table.
fn hash(seed: u8, bytes: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = OFFSET;
    for &b in std::iter::once(&seed).chain(bytes) {
        h ^= u64::from(b);
        h = h.wrapping_mul(PRIME);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^ (h >> 31)
}

fn is_prime(n: usize) -> bool {
    if n < 2 {
        return false;
    }
    let mut d = 2;
    while d * d <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backends(n: u8, weight: impl Fn(u8) -> u32) -> Vec<(RealServerKey, u32)> {
        (0..n)
            .map(|i| {
                let key = RealServerKey {
                    addr: IpAddr::from([10, 99, 1, i]),
                    port: 80,
                };
                (key, weight(i))
            })
            .collect()
    }

    fn counts(table: &[u16], n: usize) -> Vec<usize> {
        let mut c = vec![0; n];
        for &e in table {
            c[usize::from(e)] += 1;
        }
        c
    }

    #[test]
    fn equal_weights_get_equal_shares() {
        let b = backends(10, |_| 1);
        let t = table(&b, DEFAULT_SIZE).unwrap();
        assert_eq!(t.len(), DEFAULT_SIZE);
        for c in counts(&t, 10) {
            let share = c as f64 / DEFAULT_SIZE as f64;
            assert!((share - 0.1).abs() < 0.002, "share {share}");
        }
    }

    #[test]
    fn weights_give_proportional_shares_and_zero_gets_none() {
        let b = backends(4, |i| [1, 2, 3, 0][usize::from(i)]);
        let t = table(&b, DEFAULT_SIZE).unwrap();
        let c = counts(&t, 4);
        for (i, want) in [1.0 / 6.0, 2.0 / 6.0, 3.0 / 6.0].into_iter().enumerate() {
            let share = c[i] as f64 / DEFAULT_SIZE as f64;
            assert!(
                (share - want).abs() < 0.002,
                "backend {i}: {share} vs {want}"
            );
        }
        assert_eq!(c[3], 0);
        assert_eq!(table(&backends(3, |_| 0), 7).unwrap(), Vec::<u16>::new());
    }

    #[test]
    fn removing_one_backend_moves_little_else() {
        let b = backends(20, |_| 1);
        let before = table(&b, DEFAULT_SIZE).unwrap();
        let removed = 7;
        let mut fewer = b.clone();
        fewer.remove(removed);
        let after = table(&fewer, DEFAULT_SIZE).unwrap();
        // Indices after the removed one shift down by one; compare keys.
        let key_before = |e: u16| b[usize::from(e)].0;
        let key_after = |e: u16| fewer[usize::from(e)].0;
        let mut moved_others = 0;
        for (x, y) in before.iter().zip(&after) {
            if usize::from(*x) != removed && key_before(*x) != key_after(*y) {
                moved_others += 1;
            }
        }
        let ratio = moved_others as f64 / DEFAULT_SIZE as f64;
        assert!(
            ratio < 0.01,
            "{ratio} of the table moved besides the removed backend"
        );
    }

    #[test]
    fn the_table_is_deterministic_and_pinned() {
        let b = backends(5, |i| u32::from(i) + 1);
        let t = table(&b, 13).unwrap();
        assert_eq!(t, table(&b, 13).unwrap());
        // Pinned: another machine or a new release must build the same table.
        assert_eq!(t, PINNED_13.to_vec(), "{t:?}");
    }

    const PINNED_13: [u16; 13] = [3, 4, 4, 3, 1, 2, 4, 2, 4, 2, 0, 1, 3];

    #[test]
    fn bad_sizes_and_counts_are_refused() {
        assert_eq!(
            table(&backends(2, |_| 1), 65_536),
            Err(MaglevError::SizeNotPrime(65_536))
        );
        assert!(matches!(
            table(&backends(5, |_| 1), 3),
            Err(MaglevError::TooManyBackends { .. })
        ));
    }
}
