//! Simulator throughput: simulated router-seconds per wall-clock second.
//!
//! `cargo bench -p vrrp-sim --bench sim` (release). Each case runs a steady LAN with one
//! crash and restart of the Master, with and without packet tracing, in 5 rounds; the
//! best round and the median round are shown.

use std::time::{Duration, Instant};

use vrrp_core::Timestamp;
use vrrp_sim::{Action, RouterSpec, Scenario};

const ROUNDS: usize = 5;

struct Case {
    name: &'static str,
    routers: u8,
    vrids: u8,
    interval_cs: u16,
    simulated: Duration,
}

fn scenario(case: &Case, trace_packets: bool) -> Scenario {
    let vrids: Vec<u8> = (1..=case.vrids).collect();
    let mut s = Scenario::new(42);
    s.trace_packets(trace_packets);
    for r in 1..=case.routers {
        s.router(
            RouterSpec::new(format!("r{r}"), r)
                .vrids(&vrids)
                .priority(100 + r)
                .interval_cs(case.interval_cs),
        );
    }
    let top = usize::from(case.routers) - 1;
    let half = Timestamp::ZERO + case.simulated / 2;
    s.at(half, Action::Crash(top))
        .at(half + case.simulated / 10, Action::Start(top));
    s
}

fn main() {
    let cases = [
        Case {
            name: "3 routers x 1 VRID, 1 s interval",
            routers: 3,
            vrids: 1,
            interval_cs: 100,
            simulated: Duration::from_secs(24 * 3600),
        },
        Case {
            name: "3 routers x 1 VRID, 10 ms interval",
            routers: 3,
            vrids: 1,
            interval_cs: 1,
            simulated: Duration::from_secs(600),
        },
        Case {
            name: "10 routers x 10 VRIDs, 100 ms interval",
            routers: 10,
            vrids: 10,
            interval_cs: 10,
            simulated: Duration::from_secs(300),
        },
    ];
    println!(
        "{:<40} {:>7} {:>10} {:>16} {:>20} {:>12}",
        "case", "packets", "simulated", "wall best (med)", "router-s/s best (med)", "events/s best"
    );
    for case in &cases {
        for trace_packets in [true, false] {
            let mut walls = Vec::new();
            let mut events = 0;
            for _ in 0..ROUNDS {
                let mut sim = scenario(case, trace_packets).build();
                let started = Instant::now();
                sim.run_until(Timestamp::ZERO + case.simulated);
                walls.push(started.elapsed().as_secs_f64());
                events = sim.events_run();
                std::hint::black_box(sim.trace().events.len());
            }
            walls.sort_by(f64::total_cmp);
            let (best, median) = (walls[0], walls[ROUNDS / 2]);
            let router_seconds = case.simulated.as_secs_f64() * f64::from(case.routers);
            println!(
                "{:<40} {:>7} {:>9}s {:>7.3}s ({:.3}s) {:>10.0} ({:.0}) {:>12.0}",
                case.name,
                if trace_packets { "traced" } else { "off" },
                case.simulated.as_secs(),
                best,
                median,
                router_seconds / best,
                router_seconds / median,
                events as f64 / best
            );
        }
    }
}
