//! Slot tables: which destination each scheduler slot leads to.
//!
//! `rr` gives every live destination one slot, `wrr` and `sh` as many as its weight, `mh`
//! the Maglev table. A change keeps every slot it can (a weight change moves as many slots
//! as the weight moves), so that the kernel update is a handful of map elements even at
//! 1,000 destinations, and hashed clients of other destinations keep their server.

use std::collections::BTreeMap;

use vrrp_lb::dataplane::Destination;
use vrrp_lb::spec::Scheduler;

use crate::script::MAGLEV_SLOTS;

/// The most slots of one service (the sum of its weights for `wrr` and `sh`).
pub(crate) const MAX_SLOTS: usize = 1 << 18;

/// The new slot table of a service with `dests` (mark, destination, in key order), from
/// `old`; `None` when the weights need more than [`MAX_SLOTS`] slots.
pub(crate) fn next(
    scheduler: Scheduler,
    old: &[u32],
    dests: &[(u32, &Destination)],
) -> Option<Vec<u32>> {
    let live: Vec<(u32, &Destination)> = dests
        .iter()
        .copied()
        .filter(|(_, d)| d.weight > 0)
        .collect();
    if scheduler == Scheduler::Mh {
        let servers: Vec<_> = live.iter().map(|(_, d)| (d.key, d.weight)).collect();
        // The core's table (a fixed hash): every balancer computes the same one.
        let table = vrrp_lb::maglev::table(&servers, MAGLEV_SLOTS).ok()?;
        return Some(table.iter().map(|&i| live[usize::from(i)].0).collect());
    }
    let want: BTreeMap<u32, usize> = live
        .iter()
        .map(|(m, d)| {
            (
                *m,
                if scheduler == Scheduler::Rr {
                    1
                } else {
                    d.weight as usize
                },
            )
        })
        .collect();
    if want.values().sum::<usize>() > MAX_SLOTS {
        return None;
    }
    let mut have: BTreeMap<u32, usize> = BTreeMap::new();
    let mut slots = old.to_vec();
    let mut i = 0;
    // A slot of a destination above its share takes the last slot's owner: one slot moves.
    while i < slots.len() {
        let mark = slots[i];
        let count = have.entry(mark).or_default();
        if *count < want.get(&mark).copied().unwrap_or(0) {
            *count += 1;
            i += 1;
        } else {
            slots.swap_remove(i);
        }
    }
    for (mark, n) in &want {
        let count = have.get(mark).copied().unwrap_or(0);
        slots.extend(std::iter::repeat_n(*mark, n.saturating_sub(count)));
    }
    Some(slots)
}

/// A slot table of fixed length `size` for direct routing, shared among `dests` (mark,
/// weight; every weight counts as 1 with `equal`) in proportion, from `old`: a slot keeps
/// its owner while the owner is under its share, so a change moves only the slots it must.
/// The length never changes, because a stateless hash `mod` a new length would move almost
/// every flow. A destination whose share rounds to nothing gets no slot.
pub(crate) fn shares(old: &[u32], dests: &[(u32, u32)], size: usize, equal: bool) -> Vec<u32> {
    let live: Vec<(u32, u128)> = dests
        .iter()
        .filter(|(_, w)| *w > 0)
        .map(|(m, w)| (*m, if equal { 1 } else { u128::from(*w) }))
        .collect();
    let total: u128 = live.iter().map(|(_, w)| w).sum();
    if total == 0 || size == 0 {
        return Vec::new();
    }
    let size128 = size as u128;
    let mut want: BTreeMap<u32, usize> = BTreeMap::new();
    let mut rest: Vec<(u128, u32)> = Vec::new();
    for (m, w) in &live {
        want.insert(*m, (size128 * w / total) as usize);
        rest.push((size128 * w % total, *m));
    }
    // Largest remainders take the slots the rounding down left.
    rest.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let short = size - want.values().sum::<usize>();
    for (_, m) in rest.iter().take(short) {
        *want.entry(*m).or_default() += 1;
    }
    let mut have: BTreeMap<u32, usize> = BTreeMap::new();
    let mut slots: Vec<Option<u32>> = match old.len() == size {
        true => old.iter().map(|m| Some(*m)).collect(),
        false => vec![None; size],
    };
    for slot in &mut slots {
        if let Some(m) = *slot {
            let count = have.entry(m).or_default();
            if *count < want.get(&m).copied().unwrap_or(0) {
                *count += 1;
            } else {
                *slot = None;
            }
        }
    }
    let mut needy = want
        .iter()
        .flat_map(|(m, n)| std::iter::repeat_n(*m, n - have.get(m).copied().unwrap_or(0)));
    slots
        .into_iter()
        .map(|s| s.or_else(|| needy.next()).unwrap_or_default())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use vrrp_lb::spec::{Forwarding, RealServerKey};

    fn dest(n: u8, weight: u32) -> Destination {
        Destination {
            key: RealServerKey {
                addr: std::net::IpAddr::from([10, 0, 0, n]),
                port: 80,
            },
            weight,
            forwarding: Forwarding::Nat,
            upper_threshold: 0,
            lower_threshold: 0,
        }
    }

    #[test]
    fn weights_make_slots_and_a_change_moves_few() {
        let (a, b, c) = (dest(1, 2), dest(2, 3), dest(3, 0));
        let one = next(Scheduler::Wrr, &[], &[(1, &a), (2, &b), (3, &c)]).unwrap();
        assert_eq!(one, vec![1, 1, 2, 2, 2]);
        let b1 = dest(2, 1);
        let two = next(Scheduler::Wrr, &one, &[(1, &a), (2, &b1)]).unwrap();
        assert_eq!(two.len(), 3);
        let moved = one.iter().zip(&two).filter(|(x, y)| x != y).count();
        assert_eq!(moved, 0, "{one:?} -> {two:?}");
        let rr = next(Scheduler::Rr, &two, &[(1, &a), (2, &b1), (3, &dest(3, 5))]).unwrap();
        assert_eq!(rr.len(), 3);
        assert!(rr.contains(&1) && rr.contains(&2) && rr.contains(&3));
    }

    #[test]
    fn too_many_slots_and_maglev() {
        let big = dest(1, u32::MAX);
        assert!(next(Scheduler::Wrr, &[], &[(1, &big)]).is_none());
        let (a, b) = (dest(1, 1), dest(2, 1));
        let mh = next(Scheduler::Mh, &[], &[(7, &a), (8, &b)]).unwrap();
        assert_eq!(mh.len(), MAGLEV_SLOTS);
        assert!(mh.iter().all(|m| *m == 7 || *m == 8));
    }

    #[test]
    fn shares_keep_their_length_and_move_only_what_they_must() {
        let count = |s: &[u32], m| s.iter().filter(|x| **x == m).count();
        let one = shares(&[], &[(1, 1), (2, 2), (3, 3)], 601, false);
        assert_eq!(one.len(), 601);
        assert_eq!(
            (count(&one, 1), count(&one, 2), count(&one, 3)),
            (100, 200, 301)
        );
        // 3 goes to weight 0: only its slots move.
        let two = shares(&one, &[(1, 1), (2, 2), (3, 0)], 601, false);
        let moved = one.iter().zip(&two).filter(|(a, b)| a != b).count();
        assert_eq!(moved, 301);
        assert!(one.iter().zip(&two).all(|(a, b)| *a == 3 || a == b));
        let rr = shares(&two, &[(1, 1), (2, 2)], 601, true);
        assert_eq!((count(&rr, 1), count(&rr, 2)), (301, 300));
        assert!(shares(&rr, &[(1, 0)], 601, true).is_empty());
    }
}
