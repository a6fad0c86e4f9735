//! Property tests: thousands of random scenarios, each generated from a seed, run through
//! the simulator and judged by `vrrp_sim::check`.
//!
//! A failure prints the seed and the whole timeline. Replay one seed with
//! `VRRP_SIM_SEED=<seed> cargo test -p vrrp-sim --test properties <test name>`;
//! change the number of scenarios with `VRRP_SIM_SCENARIOS=<n>`.
//!
//! Every test runs `check::check_all` on every scenario and fails on any violation, so each
//! checks all the properties (a-m) wherever they apply; its flavour decides which apply
//! often, and its doc says which do. The asserted minimums name the ones each test is
//! there for; h (no transition while settled) and i (Initialize and Fault left once their
//! cause is gone) apply in every flavour, i from Fault only where links and trackers fail
//! (Chaos, SyncGroups, Weights). docs/simulator.md has the counts.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use vrrp_core::weights::{TrackState, TrackerKey, TrackerKind};
use vrrp_core::{Family, State, Timestamp, TransitionReason, Version};
use vrrp_sim::check::{self, Report};
use vrrp_sim::{
    Action, InstanceSpec, LinkParams, LinkScope, NodeId, RouterSpec, Scenario, SimRng, Trace,
    TraceEvent, TrackerSpec, VrKey, What,
};

/// What a scenario is built to exercise.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Flavor {
    /// Every kind of action, lossy phases included, then a quiet tail.
    Chaos,
    /// nopreempt everywhere; routers join a settled group.
    Joins,
    /// The best router of a VRID crashes, later restarts.
    Crashes,
    /// The best router of a VRID shuts down gracefully, later restarts.
    Shutdowns,
    /// The LAN splits for long enough to elect a Master per side, then heals.
    Partitions,
    /// Every router runs its instances (2-3 VRIDs) in one sync group, priorities crossed
    /// half the time; members' trackers and links fail, routers crash and restart.
    SyncGroups,
    /// Script and file trackers with ± weights move the effective priorities.
    Weights,
    /// The operator puts routers (mostly the Master) in maintenance and takes them out.
    Maintenance,
}

/// A scenario and when to stop it.
struct Case {
    scenario: Scenario,
    end: Timestamp,
}

fn generate(seed: u64, flavor: Flavor) -> Case {
    if flavor == Flavor::SyncGroups {
        return generate_groups(seed);
    }
    let mut rng = SimRng::new(seed);
    let n = rng.range(2, 5) as usize;
    let with_v2 = rng.chance(0.2);
    let interval_cs = if with_v2 {
        100
    } else if rng.chance(0.3) {
        *rng.pick(&[1, 2, 5, 10, 50, 100])
    } else {
        rng.range(1, 100) as u16
    };
    let interval = Duration::from_millis(u64::from(interval_cs) * 10);

    // Virtual routers: 1-3 distinct (family, VRID).
    let mut vrs: Vec<(VrKey, Version)> = Vec::new();
    for _ in 0..rng.range(1, 3) {
        let version = if with_v2 && rng.chance(0.6) {
            Version::V2
        } else {
            Version::V3
        };
        let family = if version == Version::V3 && rng.chance(0.5) {
            Family::Ipv6
        } else {
            Family::Ipv4
        };
        let key = VrKey {
            family,
            vrid: rng.range(1, 4) as u8,
        };
        if !vrs.iter().any(|(k, _)| *k == key) {
            vrs.push((key, version));
        }
    }
    // Sometimes VRRPv3 routers of one VR advertise at different intervals (the Backups
    // learn the Master's).
    let mixed_intervals = !with_v2 && rng.chance(0.25);
    let preempt: Vec<bool> = vrs
        .iter()
        .map(|_| flavor != Flavor::Joins && rng.chance(0.85))
        .collect();
    let preempt_delay: Vec<Duration> = vrs
        .iter()
        .map(|_| {
            if flavor == Flavor::Chaos && rng.chance(0.15) {
                rng.duration(interval * 3)
            } else {
                Duration::ZERO
            }
        })
        .collect();

    // Membership: each router in each VR with probability 0.85, some as observers; at
    // least two voting members per VR.
    let mut members: Vec<Vec<InstanceSpec>> = vec![Vec::new(); n];
    for (v, &(key, version)) in vrs.iter().enumerate() {
        let mut voters = 0;
        for (r, inst) in members.iter_mut().enumerate() {
            let forced = n - r <= 2 - voters.min(2);
            if !forced && !rng.chance(0.85) {
                continue;
            }
            let observer = !forced && rng.chance(0.1);
            let priority = if rng.chance(0.2) {
                *rng.pick(&[100, 150])
            } else if r == 0 && flavor != Flavor::Joins && rng.chance(0.05) {
                255
            } else {
                rng.range(1, 254) as u8
            };
            if !observer {
                voters += 1;
            }
            inst.push(InstanceSpec {
                key,
                version,
                priority,
                interval_cs: if mixed_intervals {
                    rng.range(u64::from(interval_cs), 3 * u64::from(interval_cs)) as u16
                } else {
                    interval_cs
                },
                preempt: preempt[v],
                preempt_delay: preempt_delay[v],
                observer,
                readvertise: true,
                sync_group: None,
                trackers: if flavor == Flavor::Weights {
                    weighted_trackers(&mut rng)
                } else {
                    Vec::new()
                },
            });
        }
    }

    let cap = (interval / 40)
        .min(Duration::from_micros(300))
        .max(Duration::from_micros(10));
    let link = LinkParams {
        loss: 0.0,
        delay: rng.duration(cap),
        jitter: rng.duration(cap),
    };
    let mut s = Scenario::new(seed);
    s.link(link);
    for (r, instances) in members.into_iter().enumerate() {
        let mut router = RouterSpec::new(format!("r{}", r + 1), r as u8 + 1).instances(instances);
        if flavor == Flavor::Weights {
            for key in tracker_keys() {
                let state = tracker_state(&mut rng, &key);
                router = router.tracker_state(key, state);
            }
        }
        s.router(router);
    }
    if rng.chance(0.2) {
        let to = rng.below(n as u64) as NodeId;
        let p = LinkParams {
            loss: 0.0,
            delay: rng.duration(cap),
            jitter: rng.duration(cap),
        };
        s.at(Timestamp::ZERO, Action::SetLink(LinkScope::To(to), p));
    }

    let settle = s
        .vr_keys()
        .iter()
        .map(|&vr| check::settle_time(&s, vr))
        .max()
        .unwrap_or_default();
    let mut up = vec![true; n];
    if flavor == Flavor::Joins {
        // Some routers join later.
        for (r, router) in s.routers.iter_mut().enumerate().skip(1) {
            if rng.chance(0.5) {
                up[r] = false;
                router.start_at = None;
            }
        }
    } else if rng.chance(0.3) {
        for router in &mut s.routers {
            router.start_at = Some(Timestamp::ZERO + rng.duration(interval * 2));
        }
    }

    let mut t = Timestamp::ZERO + settle;
    let phases = rng.range(3, 8);
    let mut partitioned = false;
    let mut lossy = false;
    let mut down_links: Vec<NodeId> = Vec::new();
    let mut track_faults: Vec<NodeId> = Vec::new();
    let mut maintenance: Vec<NodeId> = Vec::new();
    for _ in 0..phases {
        let gap = if rng.chance(0.75) {
            settle + rng.duration(settle)
        } else {
            rng.duration(settle)
        };
        let down: Vec<NodeId> = (0..n).filter(|&r| !up[r]).collect();
        let live: Vec<NodeId> = (0..n).filter(|&r| up[r]).collect();
        let best = best_router(&s, &up, &mut rng);
        match flavor {
            Flavor::SyncGroups => unreachable!("generate_groups"),
            Flavor::Weights => {
                let node = rng.below(n as u64) as NodeId;
                match rng.below(10) {
                    0 => {
                        s.at(t, Action::Crash(node));
                        up[node] = false;
                    }
                    1 => {
                        s.at(t, Action::Restart(node));
                        up[node] = true;
                    }
                    2 => {
                        if down_links.contains(&node) {
                            s.at(t, Action::LinkUp(node));
                            down_links.retain(|&x| x != node);
                        } else {
                            s.at(t, Action::LinkDown(node));
                            down_links.push(node);
                        }
                    }
                    3 => {
                        // An operator priority: it replaces the weights until a restart.
                        let vrid = s.routers[node].instances.first().map(|i| i.key.vrid);
                        let priority = rng.range(1, 254) as u8;
                        s.at(
                            t,
                            Action::SetPriority {
                                node,
                                vrid,
                                priority,
                            },
                        );
                    }
                    _ => {
                        // One or two trackers of a router change.
                        for _ in 0..rng.range(1, 2) {
                            let keys = tracker_keys();
                            let key = rng.pick(&keys).clone();
                            let state = tracker_state(&mut rng, &key);
                            s.at(t, Action::Tracker { node, key, state });
                        }
                    }
                }
            }
            Flavor::Maintenance => {
                let in_maint: Vec<NodeId> = maintenance.clone();
                if !in_maint.is_empty() && rng.chance(0.35) {
                    let node = *rng.pick(&in_maint);
                    s.at(
                        t,
                        Action::Maintenance {
                            node,
                            vrid: None,
                            on: false,
                        },
                    );
                    maintenance.retain(|&x| x != node);
                } else if rng.chance(0.15) {
                    let node = rng.below(n as u64) as NodeId;
                    s.at(t, Action::Restart(node));
                    up[node] = true;
                    maintenance.retain(|&x| x != node);
                } else {
                    // Mostly the Master of a VR (the best router not in maintenance).
                    let avail: Vec<bool> =
                        (0..n).map(|r| up[r] && !maintenance.contains(&r)).collect();
                    let node = best_router(&s, &avail, &mut rng)
                        .filter(|_| rng.chance(0.8))
                        .unwrap_or_else(|| rng.below(n as u64) as NodeId);
                    let vrid = if rng.chance(0.3) {
                        s.routers[node].instances.first().map(|i| i.key.vrid)
                    } else {
                        None
                    };
                    s.at(
                        t,
                        Action::Maintenance {
                            node,
                            vrid,
                            on: true,
                        },
                    );
                    if !maintenance.contains(&node) {
                        maintenance.push(node);
                    }
                }
            }
            Flavor::Joins => {
                if !down.is_empty() && rng.chance(0.7) {
                    let j = *rng.pick(&down);
                    s.at(t, Action::Start(j));
                    up[j] = true;
                } else if live.len() > 1 {
                    // Take down a router that is not the Master's likely... any router but
                    // keep at least one up.
                    let c = *rng.pick(&live);
                    s.at(t, Action::Crash(c));
                    up[c] = false;
                }
            }
            Flavor::Crashes | Flavor::Shutdowns => {
                if let Some(b) = best.filter(|_| live.len() > 1 && rng.chance(0.8)) {
                    let a = if flavor == Flavor::Crashes {
                        Action::Crash(b)
                    } else {
                        Action::Shutdown(b)
                    };
                    s.at(t, a);
                    up[b] = false;
                } else if !down.is_empty() {
                    let j = *rng.pick(&down);
                    s.at(t, Action::Start(j));
                    up[j] = true;
                }
            }
            Flavor::Partitions => {
                if partitioned {
                    s.at(t, Action::Heal);
                    partitioned = false;
                } else {
                    let k = rng.range(2, 3);
                    let mut groups: Vec<Vec<NodeId>> = vec![Vec::new(); k as usize];
                    for r in 0..n {
                        groups[rng.below(k) as usize].push(r);
                    }
                    s.at(t, Action::Partition(groups));
                    partitioned = true;
                }
            }
            Flavor::Chaos => {
                let node = rng.below(n as u64) as NodeId;
                match rng.below(10) {
                    0 => {
                        s.at(t, Action::Crash(node));
                        up[node] = false;
                    }
                    1 => {
                        s.at(t, Action::Restart(node));
                        up[node] = true;
                    }
                    2 => {
                        s.at(t, Action::Shutdown(node));
                        up[node] = false;
                    }
                    3 => {
                        let mut groups: Vec<Vec<NodeId>> = vec![Vec::new(), Vec::new()];
                        for r in 0..n {
                            groups[rng.below(2) as usize].push(r);
                        }
                        s.at(t, Action::Partition(groups));
                        partitioned = true;
                    }
                    4 => {
                        s.at(t, Action::Heal);
                        partitioned = false;
                    }
                    5 => {
                        let p = LinkParams {
                            loss: rng.unit() * 0.5,
                            ..link
                        };
                        s.at(t, Action::SetLink(LinkScope::All, p));
                        lossy = true;
                    }
                    6 => {
                        let vrid = s.routers[node].instances.first().map(|i| i.key.vrid);
                        let priority = rng.range(1, 254) as u8;
                        s.at(
                            t,
                            Action::SetPriority {
                                node,
                                vrid,
                                priority,
                            },
                        );
                    }
                    7 => {
                        if down_links.contains(&node) {
                            s.at(t, Action::LinkUp(node));
                            down_links.retain(|&x| x != node);
                        } else {
                            s.at(t, Action::LinkDown(node));
                            down_links.push(node);
                        }
                    }
                    8 => {
                        let failed = !track_faults.contains(&node);
                        s.at(t, Action::TrackFault(node, failed));
                        if failed {
                            track_faults.push(node);
                        } else {
                            track_faults.retain(|&x| x != node);
                        }
                    }
                    _ => {
                        let j = down.first().copied().unwrap_or(node);
                        s.at(t, Action::Start(j));
                        up[j] = true;
                    }
                }
            }
        }
        t += gap;
    }
    // Restore the LAN, then leave a quiet tail.
    if lossy {
        s.at(t, Action::SetLink(LinkScope::All, link));
    }
    if partitioned && flavor == Flavor::Chaos {
        s.at(t, Action::Heal);
    }
    for node in down_links {
        s.at(t, Action::LinkUp(node));
    }
    for node in track_faults {
        s.at(t, Action::TrackFault(node, false));
    }
    if flavor == Flavor::Maintenance && rng.chance(0.5) {
        for node in maintenance {
            s.at(
                t,
                Action::Maintenance {
                    node,
                    vrid: None,
                    on: false,
                },
            );
        }
    }
    let end = t + settle + rng.duration(settle);
    Case { scenario: s, end }
}

/// The trackers every router of the Weights flavour has: two scripts and a file.
fn tracker_keys() -> Vec<TrackerKey> {
    vec![
        TrackerKey::new(TrackerKind::Script, "chk1"),
        TrackerKey::new(TrackerKind::Script, "chk2"),
        TrackerKey::new(TrackerKind::File, "load"),
    ]
}

/// A random state for a tracker: up or down for a script, -60..=60 for a file.
fn tracker_state(rng: &mut SimRng, key: &TrackerKey) -> TrackState {
    match key.kind {
        TrackerKind::File => TrackState::Value(rng.range(0, 120) as i64 - 60),
        _ => {
            if rng.chance(0.5) {
                TrackState::Up
            } else {
                TrackState::Down
            }
        }
    }
}

/// An instance's trackers in the Weights flavour: each of the router's trackers with
/// probability 0.7, weights -60..=60 for scripts (0, a fault, one time in ten), -5..=5
/// for the file, sometimes reversed.
fn weighted_trackers(rng: &mut SimRng) -> Vec<TrackerSpec> {
    let mut out = Vec::new();
    for key in tracker_keys() {
        if !rng.chance(0.7) {
            continue;
        }
        let weight = match key.kind {
            TrackerKind::File => rng.range(0, 10) as i32 - 5,
            _ if rng.chance(0.1) => 0,
            _ => rng.range(0, 120) as i32 - 60,
        };
        out.push(TrackerSpec {
            key,
            weight,
            reverse: rng.chance(0.2),
        });
    }
    out
}

/// Sync groups: 2-3 routers, each with 2-3 VRs (VRIDs 1-3, one family) in one sync group
/// (one router in five without a group), each member tracking its own script with weight
/// 0. Half the scenarios cross the priorities (the top of VRID v is router v mod n), the
/// others give one router the top everywhere. Phases: a member's tracker fails or
/// recovers, links go down and up, routers crash, restart or shut down.
fn generate_groups(seed: u64) -> Case {
    let mut rng = SimRng::new(seed);
    let n = rng.range(2, 3) as usize;
    let v2 = rng.chance(0.2);
    let (version, interval_cs) = if v2 {
        (Version::V2, 100)
    } else if rng.chance(0.5) {
        (Version::V3, *rng.pick(&[5, 10, 20, 50, 100]))
    } else {
        (Version::V3, rng.range(1, 100) as u16)
    };
    let interval = Duration::from_millis(u64::from(interval_cs) * 10);
    let family = if !v2 && rng.chance(0.5) {
        Family::Ipv6
    } else {
        Family::Ipv4
    };
    let k = rng.range(2, 3) as u8;
    let crossed = rng.chance(0.5);
    let winner = rng.below(n as u64) as usize;
    let preempt: Vec<bool> = (0..k).map(|_| rng.chance(0.9)).collect();
    let cap = (interval / 40)
        .min(Duration::from_micros(300))
        .max(Duration::from_micros(10));
    let link = LinkParams {
        loss: 0.0,
        delay: rng.duration(cap),
        jitter: rng.duration(cap),
    };
    let mut s = Scenario::new(seed);
    s.link(link);
    for r in 0..n {
        let grouped = rng.chance(0.8);
        let mut router = RouterSpec::new(format!("r{}", r + 1), r as u8 + 1);
        let mut instances = Vec::new();
        for v in 0..k {
            let top = if crossed {
                usize::from(v) % n == r
            } else {
                r == winner
            };
            let priority = if top {
                rng.range(200, 254) as u8
            } else {
                rng.range(1, 199) as u8
            };
            let vrid = v + 1;
            let mut i = InstanceSpec::new(vrid);
            i.key.family = family;
            i.version = version;
            i.priority = priority;
            i.interval_cs = interval_cs;
            i.preempt = preempt[usize::from(v)];
            i.sync_group = grouped.then(|| "g".to_string());
            i.trackers = vec![TrackerSpec::script(&format!("chk{vrid}"), 0)];
            router = router.tracker_state(
                TrackerKey::new(TrackerKind::Script, format!("chk{vrid}")),
                TrackState::Up,
            );
            instances.push(i);
        }
        s.router(router.instances(instances));
    }
    let settle = s
        .vr_keys()
        .iter()
        .map(|&vr| check::settle_time(&s, vr))
        .max()
        .unwrap_or_default();
    if rng.chance(0.3) {
        for router in &mut s.routers {
            router.start_at = Some(Timestamp::ZERO + rng.duration(interval * 2));
        }
    }
    let mut up = vec![true; n];
    let mut failed: Vec<(NodeId, u8)> = Vec::new();
    let mut down_links: Vec<NodeId> = Vec::new();
    let mut t = Timestamp::ZERO + settle;
    for _ in 0..rng.range(3, 8) {
        let gap = if rng.chance(0.8) {
            settle + rng.duration(settle)
        } else {
            rng.duration(settle)
        };
        let node = rng.below(n as u64) as NodeId;
        let live = up.iter().filter(|&&u| u).count();
        match rng.below(10) {
            0..=4 => {
                // A member's own tracker fails (or recovers).
                let vrid = rng.range(1, u64::from(k)) as u8;
                let key = TrackerKey::new(TrackerKind::Script, format!("chk{vrid}"));
                let was = failed.contains(&(node, vrid));
                let state = if was {
                    failed.retain(|&x| x != (node, vrid));
                    TrackState::Up
                } else {
                    failed.push((node, vrid));
                    TrackState::Down
                };
                s.at(t, Action::Tracker { node, key, state });
            }
            5 | 6 => {
                if down_links.contains(&node) {
                    s.at(t, Action::LinkUp(node));
                    down_links.retain(|&x| x != node);
                } else {
                    s.at(t, Action::LinkDown(node));
                    down_links.push(node);
                }
            }
            7 if up[node] && live > 1 => {
                s.at(t, Action::Crash(node));
                up[node] = false;
            }
            8 if up[node] && live > 1 => {
                s.at(t, Action::Shutdown(node));
                up[node] = false;
            }
            _ => {
                s.at(t, Action::Restart(node));
                up[node] = true;
            }
        }
        t += gap;
    }
    for (node, vrid) in failed {
        let key = TrackerKey::new(TrackerKind::Script, format!("chk{vrid}"));
        s.at(
            t,
            Action::Tracker {
                node,
                key,
                state: TrackState::Up,
            },
        );
    }
    for node in down_links {
        s.at(t, Action::LinkUp(node));
    }
    let end = t + settle + rng.duration(settle);
    Case { scenario: s, end }
}

/// The router expected to be Master of a random VR (highest priority, then address) among
/// the routers up.
fn best_router(s: &Scenario, up: &[bool], rng: &mut SimRng) -> Option<NodeId> {
    let vrs = s.vr_keys();
    let vr = *rng.pick(&vrs);
    (0..s.routers.len())
        .filter(|&r| up[r])
        .filter_map(|r| {
            s.routers[r]
                .instances
                .iter()
                .find(|i| i.key == vr && !i.observer)
                .map(|i| ((i.priority, s.routers[r].address(vr.family)), r))
        })
        .max()
        .map(|(_, r)| r)
}

/// Scenarios per test (override with `VRRP_SIM_SCENARIOS`).
const SCENARIOS: u64 = 4000;
/// Scenarios per test of the flavours only a `Node` has (sync groups, weights,
/// maintenance): fewer, to keep the crate's CI run within its time budget (a scenario
/// there costs 1.3-1.5 times one of the others; docs/simulator.md).
const NODE_SCENARIOS: u64 = 3000;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Run `count` scenarios of a flavor; fail with the seed and the timeline on a violation.
fn run(flavor: Flavor, base: u64, count: u64) -> BTreeMap<&'static str, usize> {
    let started = Instant::now();
    let seeds: Vec<u64> = match env_u64("VRRP_SIM_SEED") {
        Some(seed) => vec![seed],
        None => {
            let count = env_u64("VRRP_SIM_SCENARIOS").unwrap_or(count);
            (0..count)
                .map(|i| base.wrapping_mul(1_000_003).wrapping_add(i))
                .collect()
        }
    };
    let mut checked: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut events = 0;
    for &seed in &seeds {
        let case = generate(seed, flavor);
        let mut sim = case.scenario.build();
        sim.run_until(case.end);
        events += sim.events_run();
        let report: Report = check::check_all(&case.scenario, sim.trace());
        if !report.ok() {
            let list: Vec<String> = report.violations.iter().map(|v| v.to_string()).collect();
            panic!(
                "{flavor:?} scenario with seed {seed} violates:\n  {}\n\nreplay: VRRP_SIM_SEED={seed} cargo test -p vrrp-sim --test properties\n\nscenario: {:#?}\n\ntimeline:\n{}",
                list.join("\n  "),
                case.scenario,
                sim.trace()
            );
        }
        for (k, v) in report.checked {
            *checked.entry(k).or_default() += v;
        }
    }
    eprintln!(
        "{flavor:?}: {} scenarios, {events} events, {:?}; checked {checked:#?}",
        seeds.len(),
        started.elapsed()
    );
    checked
}

/// Demand that a property was exercised at least `min` times (unless replaying one seed).
fn exercised(checked: &BTreeMap<&'static str, usize>, property: &str, min: usize) {
    if env_u64("VRRP_SIM_SEED").is_some() || env_u64("VRRP_SIM_SCENARIOS").is_some() {
        return;
    }
    let n = checked.get(property).copied().unwrap_or(0);
    assert!(
        n >= min,
        "property {property:?} checked only {n} times (want {min})"
    );
}

/// Chaos (every kind of action): a, c, d, e, f, g, h, i (b rarely applies: preempt is
/// mostly on).
#[test]
fn a_settled_lan_has_one_master_the_best() {
    let c = run(Flavor::Chaos, 1, SCENARIOS);
    exercised(&c, check::STABLE_SINGLE_MASTER, 20_000);
    exercised(&c, check::MASTER_VIEW, 20_000);
    exercised(&c, check::OBSERVERS_SILENT, 600);
    exercised(&c, check::CRASH_FAILOVER, 200);
    exercised(&c, check::PRIORITY_ZERO_HANDOVER, 200);
    exercised(&c, check::HEAL_STEP_DOWN, 200);
    exercised(&c, check::SETTLED_NO_TRANSITION, 20_000);
    exercised(&c, check::LEAVES_INIT_FAULT, 15_000);
    exercised(&c, check::LEAVES_FAULT, 2_000);
}

/// Joins (nopreempt, late starts, crashes): b, and a, c, e, g, h, i (no shutdowns nor
/// partitions: d and f never apply).
#[test]
fn b_nopreempt_master_survives_higher_priority_joiners() {
    let c = run(Flavor::Joins, 2, SCENARIOS);
    exercised(&c, check::NOPREEMPT_KEEPS_MASTER, 2_000);
    exercised(&c, check::STABLE_SINGLE_MASTER, 20_000);
    exercised(&c, check::MASTER_VIEW, 20_000);
    exercised(&c, check::CRASH_FAILOVER, 2_000);
    exercised(&c, check::SETTLED_NO_TRANSITION, 20_000);
    exercised(&c, check::LEAVES_INIT_FAULT, 15_000);
}

/// Crashes of the best router: c, and a, b, e, g, h, i (d and f never apply).
#[test]
fn c_crash_failover_within_master_down_interval() {
    let c = run(Flavor::Crashes, 3, SCENARIOS);
    exercised(&c, check::CRASH_FAILOVER, 4_000);
    exercised(&c, check::STABLE_SINGLE_MASTER, 20_000);
    exercised(&c, check::MASTER_VIEW, 20_000);
    exercised(&c, check::SETTLED_NO_TRANSITION, 20_000);
    exercised(&c, check::LEAVES_INIT_FAULT, 15_000);
}

/// Shutdowns of the best router: d, and a, b, e, g, h, i (c and f never apply).
#[test]
fn d_priority_zero_handover_within_skew_time() {
    let c = run(Flavor::Shutdowns, 4, SCENARIOS);
    exercised(&c, check::PRIORITY_ZERO_HANDOVER, 4_000);
    exercised(&c, check::STABLE_SINGLE_MASTER, 20_000);
    exercised(&c, check::MASTER_VIEW, 20_000);
    exercised(&c, check::SETTLED_NO_TRANSITION, 20_000);
    exercised(&c, check::LEAVES_INIT_FAULT, 15_000);
}

/// Partitions and heals: f, and a, e, g, h, i (no router joins, crashes or shuts down: b,
/// c and d never apply).
#[test]
fn f_partition_heal_worse_master_steps_down_within_an_interval() {
    let c = run(Flavor::Partitions, 5, SCENARIOS);
    exercised(&c, check::HEAL_STEP_DOWN, 4_000);
    exercised(&c, check::STABLE_SINGLE_MASTER, 20_000);
    exercised(&c, check::MASTER_VIEW, 20_000);
    exercised(&c, check::SETTLED_NO_TRANSITION, 20_000);
    exercised(&c, check::LEAVES_INIT_FAULT, 15_000);
}

/// g: once settled, every Backup and observer names the Master that is (MasterChanged).
/// This caught a Backup that kept naming a crashed higher-priority Master while a
/// lower-priority one had taken over (see docs/simulator.md). Chaos on other seeds than
/// test a: a, c, d, e, f, g, h, i.
#[test]
fn g_every_instance_names_the_right_master() {
    let c = run(Flavor::Chaos, 6, SCENARIOS);
    exercised(&c, check::MASTER_VIEW, 20_000);
    exercised(&c, check::STABLE_SINGLE_MASTER, 20_000);
    exercised(&c, check::SETTLED_NO_TRANSITION, 20_000);
    exercised(&c, check::LEAVES_INIT_FAULT, 15_000);
    exercised(&c, check::LEAVES_FAULT, 2_000);
}

/// Sync groups (crossed priorities half the time): j (a member's own fault takes its
/// group to Fault at once; settled groups are never split) and k = h in group scenarios
/// (no transition once settled, so no flapping with crossed priorities), with a, g, i.
#[test]
fn j_sync_groups_move_together_and_do_not_flap() {
    let c = run(Flavor::SyncGroups, 7, NODE_SCENARIOS);
    exercised(&c, check::SYNC_GROUP_FAULT, 2_000);
    exercised(&c, check::SYNC_GROUP_TOGETHER, 10_000);
    exercised(&c, check::SETTLED_NO_TRANSITION, 20_000);
    exercised(&c, check::STABLE_SINGLE_MASTER, 15_000);
    exercised(&c, check::MASTER_VIEW, 15_000);
    exercised(&c, check::LEAVES_FAULT, 2_000);
}

/// Tracker weights (and sometimes an operator priority, which replaces them): a with
/// effective priorities (the Master of each VR once settled is the top effective
/// priority), and g, h, i.
#[test]
fn l_tracker_weights_elect_the_best_effective_priority() {
    let c = run(Flavor::Weights, 8, NODE_SCENARIOS);
    exercised(&c, check::STABLE_SINGLE_MASTER, 20_000);
    exercised(&c, check::WEIGHTED, 10_000);
    exercised(&c, check::MASTER_VIEW, 20_000);
    exercised(&c, check::SETTLED_NO_TRANSITION, 20_000);
    exercised(&c, check::LEAVES_FAULT, 500);
}

/// Maintenance: m (never Master in maintenance; a Master entering it is replaced at
/// priority 0 + Skew_Time), and a (maintenance instances are not candidates), g, h, i.
#[test]
fn m_maintenance_hands_over_and_never_masters() {
    let c = run(Flavor::Maintenance, 9, NODE_SCENARIOS);
    exercised(&c, check::MAINTENANCE_NEVER_MASTER, 2_000);
    exercised(&c, check::MAINTENANCE_HANDOVER, 3_000);
    exercised(&c, check::STABLE_SINGLE_MASTER, 20_000);
    exercised(&c, check::MASTER_VIEW, 20_000);
    exercised(&c, check::SETTLED_NO_TRANSITION, 20_000);
}

#[test]
fn same_seed_same_trace() {
    let flavors = [
        Flavor::Chaos,
        Flavor::SyncGroups,
        Flavor::Weights,
        Flavor::Maintenance,
    ];
    for (seed, flavor) in [11, 12, 13]
        .into_iter()
        .flat_map(|s| flavors.map(|f| (s, f)))
    {
        let case = generate(seed, flavor);
        let mut a = case.scenario.build();
        a.run_until(case.end);
        let mut b = case.scenario.build();
        b.run_until(case.end);
        assert_eq!(
            a.trace().to_string(),
            b.trace().to_string(),
            "seed {seed} {flavor:?}"
        );
        assert!(!a.trace().events.is_empty());
    }
}

/// The checks are not vacuous: two misconfigurations the RFCs do not save make them fail.
#[test]
fn checks_catch_violations() {
    // VRRPv2 and VRRPv3 on one VRID do not hear each other: two Masters for good.
    let mut s = Scenario::new(1);
    s.router(RouterSpec::new("r1", 1).priority(200))
        .router(RouterSpec::new("r2", 2).version(Version::V2));
    let mut sim = s.build();
    sim.run_until(Timestamp::from_millis(20_000));
    let report = check::check_all(&s, sim.trace());
    assert!(
        report
            .violations
            .iter()
            .any(|v| v.property == check::STABLE_SINGLE_MASTER),
        "{:?}",
        report.violations
    );

    // Without the RFC 9568 re-advertisement, a slow best Master (3 s) leaves the fast worse
    // one (100 ms) Master after a heal for far longer than the worse one's interval.
    let heal = |readvertise: bool| {
        let mut s = Scenario::new(2);
        s.router(RouterSpec::new("r1", 1).priority(200).interval_cs(300))
            .router(RouterSpec::new("r2", 2).priority(100).interval_cs(10))
            .at(Timestamp::ZERO, Action::Partition(vec![vec![0], vec![1]]))
            .at(Timestamp::from_millis(20_000), Action::Heal);
        for r in &mut s.routers {
            r.instances
                .iter_mut()
                .for_each(|i| i.readvertise = readvertise);
        }
        let mut sim = s.build();
        sim.run_until(Timestamp::from_millis(30_000));
        check::check_all(&s, sim.trace())
    };
    let on = heal(true);
    assert_eq!(on.checked.get(check::HEAL_STEP_DOWN), Some(&1));
    assert!(on.ok(), "{:?}", on.violations);
    let off = heal(false);
    assert!(
        off.violations
            .iter()
            .any(|v| v.property == check::HEAL_STEP_DOWN),
        "{:?}",
        off.violations
    );
}

/// A trace edited by `edit` (the hand-made misbehaviour of a core).
fn edited(trace: &Trace, edit: impl FnOnce(&mut Vec<TraceEvent>)) -> Trace {
    let mut t = trace.clone();
    edit(&mut t.events);
    t
}

/// Whether r2 (node 1) entered `to` in this event.
fn r2_enters(e: &TraceEvent, to: State) -> bool {
    e.node == Some(1) && matches!(e.what, What::State { to: t, .. } if t == to)
}

/// h and i are not vacuous: a settled LAN whose trace has an extra Master-and-back flap
/// fails h (and only h: the end state is fine, so a and g see nothing), and an instance
/// that never leaves Initialize or Fault fails i; the untouched trace passes both.
#[test]
fn checks_catch_flaps_and_stranded_instances() {
    let secs = |s: u64| Timestamp::from_millis(s * 1000);
    // r2 loses its link from 10 s to 20 s; r1 stays Master throughout.
    let mut s = Scenario::new(3);
    s.router(RouterSpec::new("r1", 1).priority(200))
        .router(RouterSpec::new("r2", 2).priority(100))
        .at(secs(10), Action::LinkDown(1))
        .at(secs(20), Action::LinkUp(1));
    let trace = s.run_until(secs(40)).into_trace();
    let clean = check::check_all(&s, &trace);
    assert!(clean.ok(), "{:?}", clean.violations);
    // Settled before 10 s, before 20 s and at the end; two boots and one recovery.
    assert_eq!(clean.checked.get(check::SETTLED_NO_TRANSITION), Some(&3));
    assert_eq!(clean.checked.get(check::LEAVES_INIT_FAULT), Some(&3));
    assert_eq!(clean.checked.get(check::LEAVES_FAULT), Some(&1));

    // A flapping core: r2 takes over and gives back at 35 s, in the settled tail.
    let flap = edited(&trace, |events| {
        let at = secs(35);
        let i = events
            .iter()
            .position(|e| e.at > at)
            .unwrap_or(events.len());
        let vr = Some(VrKey::v4(1));
        let state = |from, to, reason| TraceEvent {
            at,
            node: Some(1),
            vr,
            what: What::State { from, to, reason },
        };
        events.insert(
            i,
            state(
                State::Master,
                State::Backup,
                TransitionReason::HigherPriorityAdvertisement,
            ),
        );
        events.insert(
            i,
            state(
                State::Backup,
                State::Master,
                TransitionReason::MasterDownTimer,
            ),
        );
    });
    let report = check::check_all(&s, &flap);
    let props: Vec<&str> = report.violations.iter().map(|v| v.property).collect();
    assert_eq!(props, vec![check::SETTLED_NO_TRANSITION; 2], "{report:?}");

    // A core that never leaves Fault after the link comes back.
    let stuck = edited(&trace, |events| {
        events.retain(|e| !(r2_enters(e, State::Backup) && e.at == secs(20)))
    });
    let report = check::check_all(&s, &stuck);
    assert!(
        report
            .violations
            .iter()
            .any(|v| v.property == check::LEAVES_INIT_FAULT
                && v.text.contains("FAULT")
                && v.text.contains("still there")),
        "{:?}",
        report.violations
    );

    // A core that never leaves Initialize after Startup (until the link goes down).
    let stuck = edited(&trace, |events| {
        events.retain(|e| !(r2_enters(e, State::Backup) && e.at == Timestamp::ZERO))
    });
    let report = check::check_all(&s, &stuck);
    assert!(
        report
            .violations
            .iter()
            .any(|v| v.property == check::LEAVES_INIT_FAULT
                && v.text.contains("INIT")
                && v.text.contains("until 10")),
        "{:?}",
        report.violations
    );
}

/// j, k (= h in sync group scenarios), a with effective priorities and m are not vacuous:
/// each untouched trace passes, each hand-made misbehaviour of a core fails its property.
#[test]
fn checks_catch_sync_group_weight_and_maintenance_violations() {
    let secs = |s: u64| Timestamp::from_millis(s * 1000);
    let state = |at, node, vrid, from, to, reason| TraceEvent {
        at,
        node: Some(node),
        vr: Some(VrKey::v4(vrid)),
        what: What::State { from, to, reason },
    };
    let insert = |events: &mut Vec<TraceEvent>, e: TraceEvent| {
        let i = events
            .iter()
            .position(|x| x.at > e.at)
            .unwrap_or(events.len());
        events.insert(i, e);
    };
    let props = |r: &Report| r.violations.iter().map(|v| v.property).collect::<Vec<_>>();

    // Sync group g of VRIDs 1 and 2 on both routers, r1 the better; r1's member for VRID
    // 1 tracks chk1 (weight 0), which fails from 10 s to 20 s.
    let chk1 = TrackerKey::new(TrackerKind::Script, "chk1");
    let mut s = Scenario::new(4);
    for (n, prio) in [(1u8, 200u8), (2, 100)] {
        let mut r = RouterSpec::new(format!("r{n}"), n)
            .vrids(&[1, 2])
            .priority(prio)
            .sync_group("g")
            .tracker_state(chk1.clone(), TrackState::Up);
        r.instances[0].trackers = vec![TrackerSpec::script("chk1", 0)];
        s.router(r);
    }
    let tracker = |state| Action::Tracker {
        node: 0,
        key: chk1.clone(),
        state,
    };
    s.at(secs(10), tracker(TrackState::Down))
        .at(secs(20), tracker(TrackState::Up));
    let trace = s.run_until(secs(40)).into_trace();
    let clean = check::check_all(&s, &trace);
    assert!(
        clean.ok(),
        "{:?}\n{}",
        clean.violations,
        trace.transitions()
    );
    assert_eq!(clean.checked.get(check::SYNC_GROUP_FAULT), Some(&1));
    assert_eq!(clean.checked.get(check::SYNC_GROUP_TOGETHER), Some(&6));
    // A core whose group does not follow a member's fault: r1's VRID 2 stays Master.
    let r1_vrid2_fault = |e: &TraceEvent| {
        e.node == Some(0)
            && e.vr == Some(VrKey::v4(2))
            && matches!(
                e.what,
                What::State {
                    to: State::Fault,
                    ..
                }
            )
    };
    assert!(trace.events.iter().any(r1_vrid2_fault));
    let report = check::check_all(&s, &edited(&trace, |ev| ev.retain(|e| !r1_vrid2_fault(e))));
    assert!(
        props(&report).contains(&check::SYNC_GROUP_FAULT),
        "{report:?}"
    );
    // A core that splits a settled group (r1's VRID 2 alone steps down at 35 s): j and h.
    let split = edited(&trace, |ev| {
        insert(
            ev,
            state(
                secs(35),
                0,
                2,
                State::Master,
                State::Backup,
                TransitionReason::HigherPriorityAdvertisement,
            ),
        )
    });
    let report = check::check_all(&s, &split);
    let p = props(&report);
    assert!(p.contains(&check::SYNC_GROUP_TOGETHER), "{report:?}");
    assert!(p.contains(&check::SETTLED_NO_TRANSITION), "{report:?}");

    // Crossed priorities (VRID 1 better on r1, VRID 2 better on r2): one router wins both
    // and nothing flaps; a group flapping in the settled tail fails h. (Exactly mirrored
    // priorities flap for ever: see `mirrored_crossed_sync_groups_settle`.)
    let mut s = Scenario::new(5);
    for (n, p1, p2) in [(1u8, 200u8, 100u8), (2, 90, 210)] {
        let mut r = RouterSpec::new(format!("r{n}"), n)
            .vrids(&[1, 2])
            .sync_group("g");
        r.instances[0].priority = p1;
        r.instances[1].priority = p2;
        s.router(r);
    }
    let trace = s.run_until(secs(30)).into_trace();
    let clean = check::check_all(&s, &trace);
    assert!(
        clean.ok(),
        "{:?}\n{}",
        clean.violations,
        trace.transitions()
    );
    assert_eq!(clean.checked.get(check::SETTLED_NO_TRANSITION), Some(&2));
    let winner = trace
        .events
        .iter()
        .rev()
        .find_map(|e| match e.what {
            What::State {
                to: State::Master, ..
            } => e.node,
            _ => None,
        })
        .expect("a Master");
    let flap = edited(&trace, |ev| {
        for vrid in [1, 2] {
            for (from, to) in [
                (State::Master, State::Backup),
                (State::Backup, State::Master),
            ] {
                insert(
                    ev,
                    state(
                        secs(25),
                        winner,
                        vrid,
                        from,
                        to,
                        TransitionReason::SyncGroup,
                    ),
                );
            }
        }
    });
    let report = check::check_all(&s, &flap);
    assert!(
        props(&report).contains(&check::SETTLED_NO_TRANSITION),
        "{report:?}"
    );

    // Tracker weights: r1 (100) tracks a script that is up with weight +120, so its
    // effective priority 220 beats r2 (200). A core that ignored the weight would leave
    // r2 Master: its trace (the same LAN without the tracker) fails a.
    let up = TrackerKey::new(TrackerKind::Script, "up");
    let mut weighted = Scenario::new(6);
    weighted
        .router(
            RouterSpec::new("r1", 1)
                .priority(100)
                .track(TrackerSpec::script("up", 120))
                .tracker_state(up, TrackState::Up),
        )
        .router(RouterSpec::new("r2", 2).priority(200));
    let trace = weighted.run_until(secs(20)).into_trace();
    let clean = check::check_all(&weighted, &trace);
    assert!(clean.ok(), "{:?}", clean.violations);
    assert_eq!(clean.checked.get(check::WEIGHTED), Some(&1));
    let mut unweighted = weighted.clone();
    unweighted.routers[0].instances[0].trackers.clear();
    let trace = unweighted.run_until(secs(20)).into_trace();
    let report = check::check_all(&weighted, &trace);
    assert!(
        report
            .violations
            .iter()
            .any(|v| v.property == check::STABLE_SINGLE_MASTER && v.text.contains("220")),
        "{report:?}"
    );

    // Maintenance: r1 (200), Master, enters maintenance at 10 s; r2 takes over Skew_Time
    // after r1's priority 0.
    let mut s = Scenario::new(7);
    s.router(RouterSpec::new("r1", 1).priority(200))
        .router(RouterSpec::new("r2", 2).priority(100))
        .at(
            secs(10),
            Action::Maintenance {
                node: 0,
                vrid: None,
                on: true,
            },
        );
    let trace = s.run_until(secs(30)).into_trace();
    let clean = check::check_all(&s, &trace);
    assert!(clean.ok(), "{:?}", clean.violations);
    assert_eq!(clean.checked.get(check::MAINTENANCE_HANDOVER), Some(&1));
    assert_eq!(clean.checked.get(check::MAINTENANCE_NEVER_MASTER), Some(&1));
    // A core that lets r1 back in at 20 s fails m (and a: r1 is not a candidate).
    let back = edited(&trace, |ev| {
        insert(
            ev,
            state(
                secs(20),
                0,
                1,
                State::Backup,
                State::Master,
                TransitionReason::MasterDownTimer,
            ),
        )
    });
    let report = check::check_all(&s, &back);
    assert!(
        props(&report).contains(&check::MAINTENANCE_NEVER_MASTER),
        "{report:?}"
    );
    // A core whose Backup takes 3 s more than Skew_Time after the priority 0 (which
    // arrives at once; r2 takes over at 10.609 s).
    let slow = edited(&trace, |ev| {
        for e in ev.iter_mut() {
            if e.node == Some(1) && e.at > secs(10) + Duration::from_millis(500) && e.at < secs(11)
            {
                e.at += Duration::from_secs(3);
            }
        }
        ev.sort_by_key(|e| e.at);
    });
    let report = check::check_all(&s, &slow);
    assert!(
        props(&report).contains(&check::MAINTENANCE_HANDOVER),
        "{report:?}"
    );
}

/// Mirrored crossed priorities (VRID 1: r1 200, r2 100; VRID 2: r1 100, r2 200, one sync
/// group per router) booting together: a known flap of the core, kept visible here. Both
/// routers' best members take over at the same instant and pull their groups along; each
/// then hears the other's better member, so both groups resign (priority 0) together, and
/// Skew_Time later both worse members (equal Skew_Time) take over again: every 0.61 s for
/// ever. Random scenarios do not find it (their priorities break the symmetry).
#[test]
#[ignore = "known core flap with mirrored crossed sync group priorities (docs/simulator.md)"]
fn mirrored_crossed_sync_groups_settle() {
    let mut s = Scenario::new(8);
    for (n, p1, p2) in [(1u8, 200u8, 100u8), (2, 100, 200)] {
        let mut r = RouterSpec::new(format!("r{n}"), n)
            .vrids(&[1, 2])
            .sync_group("g");
        r.instances[0].priority = p1;
        r.instances[1].priority = p2;
        s.router(r);
    }
    let trace = s.run_until(Timestamp::from_millis(30_000)).into_trace();
    let report = check::check_all(&s, &trace);
    assert!(
        report.ok(),
        "{:?}\n{}",
        report.violations.first(),
        trace.transitions()
    );
}

/// The same flap found by a random scenario (the 200,000-scenario soak of
/// `j_sync_groups_move_together_and_do_not_flap`, seed 7005540), minimized: r1 is Master of
/// VRIDs 1-3 with its group; r2 and r3 have crossed priorities (VRID 1 and 2 better on
/// r2, VRID 3 on r3) and the same weakest member priority (103). When r1 crashes, the
/// weakest members on r2 and r3 give up on r1 at the same instant (their
/// Master_Down_Intervals are equal) and take their groups to Master together; each group
/// loses a VR to the other, both resign with priority 0, and the two weakest members take
/// over again Skew_Time later, together: the groups flap until something else happens.
#[test]
#[ignore = "known core flap with crossed sync group priorities (docs/simulator.md)"]
fn crossed_sync_groups_settle_after_the_master_crashes() {
    let mut s = Scenario::new(9);
    for (n, prios) in [
        (1u8, [234u8, 177, 134]),
        (2, [160, 200, 103]),
        (3, [103, 132, 226]),
    ] {
        let mut r = RouterSpec::new(format!("r{n}"), n)
            .vrids(&[1, 2, 3])
            .sync_group("g");
        for (i, p) in r.instances.iter_mut().zip(prios) {
            i.priority = p;
        }
        s.router(r);
    }
    s.at(Timestamp::from_millis(8_000), Action::Crash(0));
    let trace = s.run_until(Timestamp::from_millis(40_000)).into_trace();
    let report = check::check_all(&s, &trace);
    assert!(
        report.ok(),
        "{:?}\n{}",
        report.violations.first(),
        trace.transitions()
    );
}
