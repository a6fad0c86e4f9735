//! `vrrp-sim`: a scripted failover demo on the simulated LAN.
//!
//! Three routers (r1 200, r2 150, r3 100) elect r1; r1 crashes at 5 intervals and r2 takes
//! over; r1 restarts at 12 and preempts; r1 shuts down gracefully at 20 and hands over
//! with priority 0. Flags: `--seed N`, `--loss P` (0.0-1.0), `--version 2|3`,
//! `--interval-ms N`, `--packets` (also print sends, receives and drops).

use std::process::ExitCode;
use std::time::Duration;

use vrrp_core::{State, Timestamp, Version, timers};
use vrrp_sim::check::check_all;
use vrrp_sim::{Action, LinkParams, NodeId, RouterSpec, Scenario, Trace, VrKey, What};

struct Options {
    seed: u64,
    loss: f64,
    version: Version,
    interval_ms: u64,
    packets: bool,
}

fn parse() -> Result<Options, String> {
    let mut o = Options {
        seed: 1,
        loss: 0.0,
        version: Version::V3,
        interval_ms: 1000,
        packets: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--seed" => o.seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--loss" => {
                o.loss = value()?.parse().map_err(|e| format!("--loss: {e}"))?;
                if !(0.0..=1.0).contains(&o.loss) {
                    return Err("--loss must be within 0.0-1.0".into());
                }
            }
            "--version" => {
                o.version = match value()?.as_str() {
                    "2" => Version::V2,
                    "3" => Version::V3,
                    other => return Err(format!("--version: {other} is not 2 or 3")),
                }
            }
            "--interval-ms" => {
                o.interval_ms = value()?
                    .parse()
                    .map_err(|e| format!("--interval-ms: {e}"))?
            }
            "--packets" => o.packets = true,
            "-h" | "--help" => {
                return Err(
                    "usage: vrrp-sim [--seed N] [--loss P] [--version 2|3] [--interval-ms N] [--packets]".into(),
                );
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(o)
}

fn main() -> ExitCode {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    // VRRPv2 carries whole seconds; VRRPv3 centiseconds up to 4095.
    let interval_cs: u16 = match o.version {
        Version::V2 => ((o.interval_ms / 1000).clamp(1, 255) * 100) as u16,
        Version::V3 => (o.interval_ms / 10).clamp(1, 4095) as u16,
    };
    let interval = timers::centiseconds(interval_cs);
    let at = |n: u32| Timestamp::ZERO + interval * n;

    let mut s = Scenario::new(o.seed);
    s.link(LinkParams {
        loss: o.loss,
        delay: Duration::from_micros(300),
        jitter: Duration::from_micros(100),
    })
    .trace_packets(true);
    for (name, n, prio) in [("r1", 1, 200), ("r2", 2, 150), ("r3", 3, 100)] {
        s.router(
            RouterSpec::new(name, n)
                .priority(prio)
                .version(o.version)
                .interval_cs(interval_cs),
        );
    }
    let (r1, r2) = (0, 1);
    s.at(at(5), Action::Crash(r1))
        .at(at(12), Action::Start(r1))
        .at(at(20), Action::Shutdown(r1));
    let end = at(26);

    let mut sim = s.build();
    sim.run_until(end);
    let trace = sim.trace();
    let vr = VrKey::v4(1);

    println!(
        "vrrp-sim: 3 routers (r1 200, r2 150, r3 100), VRRPv{}, interval {} cs, loss {:.0}%, seed {}",
        o.version.number(),
        interval_cs,
        o.loss * 100.0,
        o.seed
    );
    println!();
    if o.packets {
        print!("{trace}");
    } else {
        print!("{}", trace.transitions());
    }
    println!();
    println!("summary");
    let mdi = |prio| timers::master_down_interval(o.version, prio, interval_cs);
    let skew = |prio| timers::skew_time(o.version, prio, interval_cs);
    match takeover(trace, vr, r1, at(5)) {
        Some((t, n)) => {
            let heard = last_heard(trace, vr, n, r1, at(5));
            println!(
                "  crash of r1 at {}: {} Master at {t}, {} s after the crash",
                at(5),
                trace.name(n),
                secs(t - at(5))
            );
            if let Some(rx) = heard {
                println!(
                    "    last advertisement from r1 reached {} at {rx}: takeover {} s later; its Master_Down_Interval is {} s",
                    trace.name(n),
                    secs(t - rx),
                    secs(mdi(if n == r2 { 150 } else { 100 }))
                );
            }
        }
        None => println!("  crash of r1 at {}: nobody took over", at(5)),
    }
    match became_master(trace, vr, r1, at(12)) {
        Some(t) => println!(
            "  restart of r1 at {}: r1 preempted at {t}, {} s later (Master_Down_Interval of r1: {} s)",
            at(12),
            secs(t - at(12)),
            secs(mdi(200))
        ),
        None => println!("  restart of r1 at {}: r1 did not preempt", at(12)),
    }
    match takeover(trace, vr, r1, at(20)) {
        Some((t, n)) => println!(
            "  shutdown of r1 at {} (priority 0): {} Master at {t}, {} s later (its Skew_Time: {} s)",
            at(20),
            trace.name(n),
            secs(t - at(20)),
            secs(skew(if n == r2 { 150 } else { 100 }))
        ),
        None => println!("  shutdown of r1 at {}: nobody took over", at(20)),
    }
    let report = check_all(sim.scenario(), trace);
    println!(
        "  {} events, {} trace records; invariants: {}",
        sim.events_run(),
        trace.events.len(),
        if report.ok() {
            "all hold".to_string()
        } else {
            format!("{} violated", report.violations.len())
        }
    );
    for v in &report.violations {
        println!("    {v}");
    }
    ExitCode::SUCCESS
}

/// The first router other than `old` to become Master of `vr` after `since`.
fn takeover(
    trace: &Trace,
    vr: VrKey,
    old: NodeId,
    since: Timestamp,
) -> Option<(Timestamp, NodeId)> {
    trace.events.iter().find_map(|e| match (&e.what, e.node) {
        (
            What::State {
                to: State::Master, ..
            },
            Some(n),
        ) if e.at >= since && e.vr == Some(vr) && n != old => Some((e.at, n)),
        _ => None,
    })
}

/// When `node` next became Master of `vr` after `since`.
fn became_master(trace: &Trace, vr: VrKey, node: NodeId, since: Timestamp) -> Option<Timestamp> {
    trace.events.iter().find_map(|e| match e.what {
        What::State {
            to: State::Master, ..
        } if e.at >= since && e.vr == Some(vr) && e.node == Some(node) => Some(e.at),
        _ => None,
    })
}

/// When the last advertisement from `from` reached `node` before `before` plus the flight time.
fn last_heard(
    trace: &Trace,
    vr: VrKey,
    node: NodeId,
    from: NodeId,
    before: Timestamp,
) -> Option<Timestamp> {
    trace
        .events
        .iter()
        .rev()
        .filter(|e| {
            e.at <= before + Duration::from_millis(1) && e.node == Some(node) && e.vr == Some(vr)
        })
        .find_map(|e| match e.what {
            What::Recv { from: f, .. } if f == from => Some(e.at),
            _ => None,
        })
}

/// A duration in seconds with microsecond precision, like [`Timestamp`]'s display.
fn secs(d: Duration) -> String {
    format!("{}.{:06}", d.as_secs(), d.subsec_micros())
}
