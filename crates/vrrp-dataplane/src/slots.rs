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
}
