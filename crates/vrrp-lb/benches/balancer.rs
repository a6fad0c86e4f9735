//! The core's costs: building a Maglev table, and handling one probe answer in a large
//! configuration. std only (no criterion), as `vrrp-core`'s codec bench: a timed loop,
//! best and median of 5 rounds. Run without `--bench` (as `cargo test --benches` does) it
//! only smoke-tests each case.

use std::hint::black_box;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use vrrp_lb::check::{CheckKind, CheckOutcome, CheckTarget, CheckTiming, CheckerSpec};
use vrrp_lb::maglev;
use vrrp_lb::spec::{
    BalancerSpec, Forwarding, Protocol, RealServerKey, RealServerSpec, Scheduler, SchedulerFlags,
    ServiceAddr, ServiceId, ServiceKey, ServiceSpec,
};
use vrrp_lb::{Balancer, Input, Output, Timestamp};

const ROUNDS: usize = 5;

fn rounds(name: &str, per_round: u32, mut f: impl FnMut()) {
    let mut times: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..per_round {
                f();
            }
            start.elapsed() / per_round
        })
        .collect();
    times.sort();
    println!(
        "{name:<48} best {:>12?}  median {:>12?}",
        times[0],
        times[ROUNDS / 2]
    );
}

fn backends(n: u32) -> Vec<(RealServerKey, u32)> {
    (0..n)
        .map(|i| {
            let key = RealServerKey {
                addr: IpAddr::from((0x0a63_0000u32 + i).to_be_bytes()),
                port: 80,
            };
            (key, 1 + i % 3)
        })
        .collect()
}

/// `services` services of `per` real servers, one TCP_CHECK each.
fn big(services: u32, per: u32) -> BalancerSpec {
    let checker = CheckerSpec {
        kind: CheckKind::Tcp,
        timing: CheckTiming {
            delay_loop: Duration::from_secs(1),
            warmup: Duration::from_secs(1),
            ..CheckTiming::default()
        },
        target: CheckTarget::default(),
    };
    let services = (0..services)
        .map(|s| {
            let vip = std::net::SocketAddr::from(([10, 99, 0, (s % 250) as u8], 1000 + s as u16));
            ServiceSpec {
                id: ServiceId {
                    key: ServiceKey::Socket(vip),
                    protocol: Protocol::Tcp,
                },
                addrs: vec![ServiceAddr::Socket(vip)],
                scheduler: Scheduler::Wrr,
                flags: SchedulerFlags::default(),
                forwarding: Forwarding::Nat,
                persistence: None,
                quorum: 1,
                hysteresis: 0,
                sorry_server: None,
                omega: false,
                ha_suspend: false,
                real_servers: backends(per)
                    .into_iter()
                    .map(|(key, weight)| RealServerSpec {
                        key,
                        weight,
                        forwarding: Forwarding::Nat,
                        inhibit_on_failure: false,
                        upper_threshold: 0,
                        lower_threshold: 0,
                        alpha: false,
                        has_notify: false,
                        checkers: vec![checker.clone()],
                    })
                    .collect(),
            }
        })
        .collect();
    BalancerSpec { services }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let n = |full_n: u32| if full { full_n } else { 1 };

    let counts: &[u32] = if full { &[10, 100, 1000] } else { &[10] };
    for &count in counts {
        let b = backends(count);
        rounds(
            &format!("maglev table, {count} backends, 65537"),
            n(20),
            || {
                black_box(maglev::table(black_box(&b), maglev::DEFAULT_SIZE).unwrap());
            },
        );
    }

    // 100 services x 20 real servers, alternating up and down: every answer changes a
    // server's health (the costly path: quorum, desired state, diff).
    answer_all(
        &big(100, 20),
        full,
        true,
        "balancer, 100 x 20, every answer a change",
    );
    // 1 service x 1,000 real servers, all up: the steady state of a large pool, where an
    // answer only confirms what is known.
    answer_all(
        &big(1, 1000),
        full,
        false,
        "balancer, 1 x 1000, steady (all up)",
    );
}

/// Answers every probe `spec` asks for (alternating up and down when `flip`), and prints
/// the cost per answer.
fn answer_all(spec: &BalancerSpec, full: bool, flip: bool, label: &str) {
    let mut b = Balancer::new(spec.clone(), Timestamp::ZERO, 1);
    let mut now = Timestamp::ZERO;
    let mut down = false;
    let mut pending = Vec::new();
    let mut answers = 0u64;
    let start = Instant::now();
    let steps = if full { 4000 } else { 1 };
    for _ in 0..steps {
        now = b.poll_timeout().unwrap_or(now).max(now);
        b.handle(now, Input::Timeout);
        while let Some(out) = b.poll_output() {
            if let Output::RunCheck { checker, probe, .. } = out {
                pending.push((checker, probe));
            }
        }
        for (checker, probe) in pending.drain(..) {
            down = flip && !down;
            let outcome = if down {
                CheckOutcome::Down("refused".into())
            } else {
                CheckOutcome::Up
            };
            b.handle(
                now,
                Input::CheckDone {
                    checker,
                    probe,
                    outcome,
                    latency: None,
                },
            );
            answers += 1;
            while b.poll_output().is_some() {}
        }
    }
    let per = start.elapsed() / u32::try_from(answers.max(1)).unwrap_or(u32::MAX);
    println!("{label:<48} {per:>12?} per answer ({answers} answers)");
}
