//! keepalived's weight rules, for every kind of tracker, as one pure function.
//!
//! An instance (or a sync-group member) tracks several objects, each with a weight and a
//! `reverse` flag given where it is tracked (`track_script { chk weight -20 reverse }`),
//! falling back to the weight in the tracker's own block. [`priority_adjustment`] turns the
//! current state of all of them into a priority delta and a fault flag; the daemon feeds
//! `SetPriority(effective_priority(base, &adj))` and `TrackFault(adj.fault)` to the core.
//!
//! The rules (keepalived `vrrp_track.c`, `track_file.c`):
//!
//! * Up/down trackers (`vrrp_script`, `track_interface`, `track_process`, `track_bfd`), with
//!   `m = -1` when `reverse`, else `1`:
//!   * weight 0: the instance is in FAULT while the tracker is down (with `reverse`: while it
//!     is up);
//!   * weight > 0: `weight × m` is added while the tracker is up, nothing while it is down;
//!   * weight < 0: `weight × m` is added while the tracker is down, nothing while it is up.
//!
//!   So `weight 10 reverse` subtracts 10 while up, and `weight -10 reverse` adds 10 while
//!   down.
//! * Value trackers (`track_file`, value `v` read from the file):
//!   * weight 0: FAULT while `v != 0` (with `reverse`: while `v == 0`);
//!   * otherwise `s = v × weight × m`, clamped to `-254..=253`; `s == -254` (that is, the
//!     product is below -253) means FAULT, any other `s` is added.
//! * A tracker that cannot run ([`TrackState::Missing`]: its script was missing at load)
//!   counts as failing whatever `reverse` says: FAULT with weight 0, otherwise the lower of
//!   its two contributions, `min(0, weight × m)` (`weight 10`: 0; `weight -10`: -10;
//!   `weight 10 reverse`: -10; `weight -10 reverse`: 0).
//! * A tracker that has not reported yet ([`TrackState::Pending`], a `vrrp_script` before
//!   its first run): weight 0 makes the adjustment `pending` (keepalived keeps the instance
//!   in INIT until every unweighted script has reported); a weighted one adds nothing yet.
//!
//! The effective priority is `base + delta` clamped to `1..=254`; an address owner (base
//! 255) is never changed by weights (faults still apply).

/// What kind of object a tracker watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TrackerKind {
    /// `vrrp_script`.
    Script,
    /// `track_file` / `vrrp_track_file`.
    File,
    /// `vrrp_track_process`.
    Process,
}

impl TrackerKind {
    /// The kind as vrrpctl and the logs name it.
    pub fn name(self) -> &'static str {
        match self {
            TrackerKind::Script => "script",
            TrackerKind::File => "file",
            TrackerKind::Process => "process",
        }
    }
}

/// A script, file or process tracker by kind and configured name (names are unique per
/// kind, not across kinds).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrackerKey {
    /// Script, file or process.
    pub kind: TrackerKind,
    /// The name in the configuration (`vrrp_script NAME`, ...).
    pub name: String,
}

impl TrackerKey {
    /// The key of tracker `name` of kind `kind`.
    pub fn new(kind: TrackerKind, name: impl Into<String>) -> Self {
        TrackerKey {
            kind,
            name: name.into(),
        }
    }
}

impl std::fmt::Display for TrackerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.kind.name(), self.name)
    }
}

/// The current state of one tracked object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackState {
    /// No result yet.
    Pending,
    /// Script succeeding, interface up, process quorum held, BFD session up.
    Up,
    /// The opposite.
    Down,
    /// The number read by a `track_file`.
    Value(i64),
    /// A tracker that cannot run (its script was missing at load): it counts as failing on
    /// whichever side is worse, never as success.
    Missing,
}

/// One tracked object as seen by one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tracked {
    /// Its current state.
    pub state: TrackState,
    /// The weight that applies (the `track_*` line's, else the tracker's own).
    pub weight: i32,
    /// `reverse`: the weight's sign (and the fault condition) turned around.
    pub reverse: bool,
}

impl Tracked {
    /// One tracked object.
    pub fn new(state: TrackState, weight: i32, reverse: bool) -> Tracked {
        Tracked {
            state,
            weight,
            reverse,
        }
    }
}

/// The combined effect of an instance's trackers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Adjustment {
    /// Added to the configured priority.
    pub delta: i32,
    /// At least one tracker puts the instance in FAULT.
    pub fault: bool,
    /// At least one unweighted tracker has not reported yet: keep the instance from
    /// starting (keepalived's INIT) until it has.
    pub pending: bool,
}

/// Lowest value of a track_file contribution; reaching it means FAULT.
pub const FILE_FAULT: i64 = -254;
/// Highest value of a track_file contribution.
pub const FILE_MAX: i64 = 253;

/// The contribution of one tracker: `Err(())` for FAULT, `Ok(None)` for pending,
/// `Ok(Some(delta))` otherwise.
fn contribution(t: &Tracked) -> Result<Option<i32>, ()> {
    let m: i64 = if t.reverse { -1 } else { 1 };
    let w = i64::from(t.weight);
    match t.state {
        TrackState::Pending => {
            if t.weight == 0 {
                Ok(None)
            } else {
                Ok(Some(0))
            }
        }
        // The worse of up and down: FAULT with weight 0, else min(0, weight × m).
        TrackState::Missing => {
            if t.weight == 0 {
                Err(())
            } else {
                Ok(Some(i32::try_from((w * m).min(0)).unwrap_or(0)))
            }
        }
        TrackState::Up | TrackState::Down => {
            let up = t.state == TrackState::Up;
            if t.weight == 0 {
                // Fault when down; reversed: fault when up.
                if up == t.reverse {
                    Err(())
                } else {
                    Ok(Some(0))
                }
            } else if (t.weight > 0) == up {
                Ok(Some(i32::try_from(w * m).unwrap_or(0)))
            } else {
                Ok(Some(0))
            }
        }
        TrackState::Value(v) => {
            if t.weight == 0 {
                if (v != 0) != t.reverse {
                    Err(())
                } else {
                    Ok(Some(0))
                }
            } else {
                let s = v
                    .saturating_mul(w)
                    .saturating_mul(m)
                    .clamp(FILE_FAULT, FILE_MAX);
                if s == FILE_FAULT {
                    Err(())
                } else {
                    Ok(Some(i32::try_from(s).unwrap_or(0)))
                }
            }
        }
    }
}

/// Combines the trackers of one instance (see the module documentation for the rules).
pub fn priority_adjustment(trackers: &[Tracked]) -> Adjustment {
    let mut adj = Adjustment::default();
    for t in trackers {
        match contribution(t) {
            Err(()) => adj.fault = true,
            Ok(None) => adj.pending = true,
            Ok(Some(d)) => adj.delta = adj.delta.saturating_add(d),
        }
    }
    adj
}

/// The priority to advertise: the configured priority plus the delta, kept within
/// `1..=254`; an address owner (255) keeps 255.
pub fn effective_priority(base: u8, adj: &Adjustment) -> u8 {
    if base == 255 {
        return 255;
    }
    let p = (i32::from(base) + adj.delta).clamp(1, 254);
    u8::try_from(p).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use TrackState::*;

    fn adj(ts: &[(TrackState, i32, bool)]) -> Adjustment {
        let v: Vec<Tracked> = ts.iter().map(|&(s, w, r)| Tracked::new(s, w, r)).collect();
        priority_adjustment(&v)
    }

    #[test]
    fn no_trackers_no_effect() {
        assert_eq!(adj(&[]), Adjustment::default());
    }

    #[test]
    fn weight_zero_faults_when_down() {
        assert!(adj(&[(Down, 0, false)]).fault);
        assert!(!adj(&[(Up, 0, false)]).fault);
        assert_eq!(adj(&[(Up, 0, false)]).delta, 0);
    }

    #[test]
    fn weight_zero_reverse_faults_when_up() {
        assert!(adj(&[(Up, 0, true)]).fault);
        assert!(!adj(&[(Down, 0, true)]).fault);
    }

    #[test]
    fn positive_weight_added_while_up() {
        assert_eq!(adj(&[(Up, 20, false)]).delta, 20);
        assert_eq!(adj(&[(Down, 20, false)]).delta, 0);
        assert!(!adj(&[(Down, 20, false)]).fault);
    }

    #[test]
    fn negative_weight_added_while_down() {
        assert_eq!(adj(&[(Down, -30, false)]).delta, -30);
        assert_eq!(adj(&[(Up, -30, false)]).delta, 0);
    }

    #[test]
    fn a_missing_tracker_never_counts_as_success() {
        let adj = |w, r| priority_adjustment(&[Tracked::new(TrackState::Missing, w, r)]);
        assert!(adj(0, false).fault);
        assert!(adj(0, true).fault);
        assert_eq!(adj(10, false).delta, 0);
        assert_eq!(adj(-10, false).delta, -10);
        assert_eq!(adj(10, true).delta, -10);
        assert_eq!(adj(-10, true).delta, 0);
    }

    #[test]
    fn reverse_inverts_the_direction() {
        // weight 10 reverse: subtract 10 while up.
        assert_eq!(adj(&[(Up, 10, true)]).delta, -10);
        assert_eq!(adj(&[(Down, 10, true)]).delta, 0);
        // weight -10 reverse: add 10 while down.
        assert_eq!(adj(&[(Down, -10, true)]).delta, 10);
        assert_eq!(adj(&[(Up, -10, true)]).delta, 0);
    }

    #[test]
    fn contributions_add_up_and_fault_wins() {
        let a = adj(&[(Up, 20, false), (Down, -5, false), (Up, 0, false)]);
        assert_eq!(
            a,
            Adjustment {
                delta: 15,
                fault: false,
                pending: false
            }
        );
        let a = adj(&[(Up, 20, false), (Down, 0, false)]);
        assert!(a.fault);
        assert_eq!(a.delta, 20);
    }

    #[test]
    fn pending_only_matters_unweighted() {
        assert!(adj(&[(Pending, 0, false)]).pending);
        let a = adj(&[(Pending, 10, false), (Pending, -10, false)]);
        assert_eq!(a, Adjustment::default());
    }

    #[test]
    fn file_weight_zero() {
        assert!(!adj(&[(Value(0), 0, false)]).fault);
        assert!(adj(&[(Value(3), 0, false)]).fault);
        assert!(adj(&[(Value(-1), 0, false)]).fault);
        // reverse: zero is the fault.
        assert!(adj(&[(Value(0), 0, true)]).fault);
        assert!(!adj(&[(Value(7), 0, true)]).fault);
    }

    #[test]
    fn file_value_times_weight() {
        assert_eq!(adj(&[(Value(5), 1, false)]).delta, 5);
        assert_eq!(adj(&[(Value(-5), 2, false)]).delta, -10);
        assert_eq!(adj(&[(Value(5), 2, true)]).delta, -10);
        assert_eq!(adj(&[(Value(5), -3, false)]).delta, -15);
    }

    #[test]
    fn file_clamps_and_faults_below_minus_253() {
        assert_eq!(adj(&[(Value(1000), 1, false)]).delta, 253);
        let a = adj(&[(Value(-253), 1, false)]);
        assert_eq!((a.delta, a.fault), (-253, false));
        let a = adj(&[(Value(-254), 1, false)]);
        assert!(a.fault);
        assert_eq!(a.delta, 0);
        assert!(adj(&[(Value(i64::MIN), 254, false)]).fault);
        assert_eq!(adj(&[(Value(i64::MAX), 254, false)]).delta, 253);
    }

    #[test]
    fn effective_priority_clamps_and_spares_the_owner() {
        let d = |delta| Adjustment {
            delta,
            ..Default::default()
        };
        assert_eq!(effective_priority(100, &d(20)), 120);
        assert_eq!(effective_priority(100, &d(-200)), 1);
        assert_eq!(effective_priority(250, &d(20)), 254);
        assert_eq!(effective_priority(255, &d(-50)), 255);
        assert_eq!(effective_priority(100, &d(0)), 100);
    }
}
