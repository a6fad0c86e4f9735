//! The active-active benchmark of issue 12 (`scripts/bench-bgp.sh`): on the lab of
//! `vrrp_testlab::bgp`, for DR and NAT and for `mh` and `rr`, what each event costs the
//! clients (held keep-alive connections broken, new requests failed): a balancer added,
//! a balancer dying (link down and SIGKILL; BFD tells the router), a real server dying
//! and coming back, the dead balancer coming back (its table built in one go, the others'
//! through the server's loss and return).
//! Then requests/s through 1, 2 and 3 active balancers (wrk). Markdown to stdout,
//! progress to stderr.
//!
//! usage: vrrp-bgp-bench [events|rps|all] [--runs N]

use std::time::{Duration, Instant};

use vrrp_testlab::bgp::{ActiveActive, Announce, Forwarding, PORT, Spec, announce_supported};
use vrrp_testlab::flows::{FlowKind, FlowRecord, Flows};
use vrrp_testlab::{Daemon, Error, Nginx, Result};

/// Every flow requests every 50 ms (held) or 100 ms (new connections).
const EVERY: Duration = Duration::from_millis(50);
/// How long after an event the flows keep running before they are counted.
const SETTLE: Duration = Duration::from_secs(6);

/// What one event cost.
#[derive(Default)]
struct Outcome {
    held: usize,
    broken: usize,
    broken_elsewhere: usize,
    answered: u64,
    failed: u64,
    route_change: Option<Duration>,
    max_gap: Duration,
}

fn spec(forwarding: Forwarding, scheduler: &str, vrrpd: &std::path::Path) -> Spec {
    Spec {
        balancers: 3,
        servers: 4,
        client_addresses: 48,
        forwarding,
        scheduler: scheduler.into(),
        announce: announce_supported(vrrpd),
        vrrpd: vrrpd.to_path_buf(),
    }
}

/// Runs `event` under held flows and new connections from every source; `dead` names the
/// server the event kills (its held flows are expected to break).
fn measure(
    aa: &mut ActiveActive,
    dead: Option<&str>,
    event: impl FnOnce(&mut ActiveActive) -> Result<Option<Duration>>,
) -> Result<Outcome> {
    let held = Flows::start(
        &aa.client,
        aa.vip,
        &aa.sources,
        FlowKind::Held,
        EVERY,
        Duration::from_secs(6),
    )?;
    if !held.wait_answered(3, Duration::from_secs(20)) {
        return Err(Error::msg("the held flows are not all answered"));
    }
    let fresh = Flows::start(
        &aa.client,
        aa.vip,
        &aa.sources,
        FlowKind::PerRequest,
        EVERY * 2,
        Duration::from_secs(2),
    )?;
    pause(Duration::from_secs(1))?;
    let route_change = event(aa)?;
    pause(SETTLE)?;
    let (held, fresh) = (held.stop(), fresh.stop());
    Ok(outcome(&held, &fresh, dead, route_change))
}

/// Sleeps `d`, or fails at once on Ctrl-C (the labs are removed as the error unwinds).
fn pause(d: Duration) -> Result<()> {
    let end = Instant::now() + d;
    loop {
        if vrrp_testlab::budget::interrupted() {
            return Err(Error::msg("interrupted"));
        }
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100).min(left));
    }
}

fn outcome(
    held: &[FlowRecord],
    fresh: &[FlowRecord],
    dead: Option<&str>,
    route_change: Option<Duration>,
) -> Outcome {
    let broken: Vec<_> = held.iter().filter(|r| r.broken.is_some()).collect();
    Outcome {
        held: held.len(),
        broken: broken.len(),
        broken_elsewhere: broken
            .iter()
            .filter(|r| dead.is_none() || r.last_server.as_deref() != dead)
            .count(),
        answered: fresh.iter().map(|r| r.answered).sum(),
        failed: fresh.iter().map(|r| r.failed).sum(),
        route_change,
        max_gap: held
            .iter()
            .filter(|r| r.broken.is_none())
            .map(|r| r.max_gap)
            .max()
            .unwrap_or_default(),
    }
}

/// One lab per (forwarding, scheduler): lb3 added to lb1+lb2, then lb2 dies, then rs2.
fn events_of(forwarding: Forwarding, scheduler: &str, vrrpd: &std::path::Path) -> Result<()> {
    let mut aa = ActiveActive::new("bgpb", spec(forwarding, scheduler, vrrpd))?;
    for i in [0, 1] {
        aa.start_balancer(i)?;
    }
    aa.wait_next_hops(&[0, 1], Duration::from_secs(30))?;
    let label = format!("{} {scheduler}", forwarding.keyword());
    let add = measure(&mut aa, None, |aa| {
        let at = Instant::now();
        aa.start_balancer(2)?;
        aa.wait_next_hops(&[0, 1, 2], Duration::from_secs(30))?;
        Ok(Some(at.elapsed()))
    })?;
    row(&label, "balancer added", &add);
    let loss = measure(&mut aa, None, |aa| {
        let at = aa.crash_balancer(1)?;
        aa.wait_next_hops(&[0, 2], Duration::from_secs(10))?;
        Ok(Some(at.elapsed()))
    })?;
    row(&label, "balancer lost", &loss);
    let server = measure(&mut aa, Some("rs2"), |aa| {
        aa.servers[1].1.kill()?;
        Ok(None)
    })?;
    row(&label, "real server lost", &server);
    let rs2 = aa.servers[1].0.clone();
    let returned = measure(&mut aa, None, |aa| {
        aa.servers[1].1 = Nginx::start(&rs2, "rs2", PORT)?;
        Ok(None)
    })?;
    row(&label, "real server back", &returned);
    // lb2 comes back and builds its table in one go; lb1 and lb3 lived through rs2's loss
    // and return. A flow ECMP moves to lb2 survives only if the tables agree.
    let back = measure(&mut aa, None, |aa| {
        let at = Instant::now();
        aa.restart_balancer(1)?;
        aa.wait_next_hops(&[0, 1, 2], Duration::from_secs(30))?;
        Ok(Some(at.elapsed()))
    })?;
    row(&label, "balancer back (after rs2's loss and return)", &back);
    Ok(())
}

fn row(label: &str, event: &str, o: &Outcome) {
    let route = o
        .route_change
        .map(|d| format!("{:.0} ms", d.as_secs_f64() * 1000.0))
        .unwrap_or_else(|| "-".into());
    println!(
        "| {label} | {event} | {} of {} ({} not on the dead server) | {} of {} | {route} | {:.0} ms |",
        o.broken,
        o.held,
        o.broken_elsewhere,
        o.failed,
        o.failed + o.answered,
        o.max_gap.as_secs_f64() * 1000.0
    );
}

fn events(runs: u32, vrrpd: &std::path::Path) -> Result<()> {
    println!(
        "| mode | event | held connections broken | new requests failed | route change at the router | longest pause of a surviving held flow |"
    );
    println!("|---|---|---|---|---|---|");
    for run in 1..=runs {
        for fwd in [Forwarding::Dr, Forwarding::Nat] {
            for sched in ["mh", "rr"] {
                eprintln!("run {run}: {} {sched}", fwd.keyword());
                events_of(fwd, sched, vrrpd)?;
            }
        }
    }
    Ok(())
}

/// wrk through the VIP for 5 s, 48 connections: requests/s.
fn wrk(aa: &ActiveActive) -> Result<f64> {
    let url = format!("http://{}/", aa.vip);
    let out = aa.client.run_timeout(
        "wrk",
        &["-t", "2", "-c", "48", "-d", "5s", "--timeout", "2s", &url],
        Duration::from_secs(30),
    )?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| Error::msg(format!("no Requests/sec in wrk's output: {text}")))
}

/// DR `rr` (it hashes the port: wrk's one source address still spreads over the
/// servers): 3, then 2, then 1 balancer, by maintenance.
fn rps(runs: u32, vrrpd: &std::path::Path) -> Result<()> {
    println!("| active balancers | requests/s (wrk -t2 -c48, 5 s, DR rr) |");
    println!("|---|---|");
    let mut results: [Vec<f64>; 3] = Default::default();
    for run in 1..=runs {
        eprintln!("rps run {run}");
        let mut aa = ActiveActive::new("bgpr", spec(Forwarding::Dr, "rr", vrrpd))?;
        for i in 0..3 {
            aa.start_balancer(i)?;
        }
        aa.wait_next_hops(&[0, 1, 2], Duration::from_secs(30))?;
        pause(Duration::ZERO)?;
        results[2].push(wrk(&aa)?);
        aa.maintenance(2)?;
        aa.wait_next_hops(&[0, 1], Duration::from_secs(30))?;
        results[1].push(wrk(&aa)?);
        aa.maintenance(1)?;
        aa.wait_next_hops(&[0], Duration::from_secs(30))?;
        results[0].push(wrk(&aa)?);
    }
    for (n, r) in results.iter().enumerate() {
        let list: Vec<String> = r.iter().map(|v| format!("{v:.0}")).collect();
        println!("| {} | {} |", n + 1, list.join(", "));
    }
    Ok(())
}

fn main() {
    vrrp_testlab::budget::catch_interrupts();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let what = args.first().map(String::as_str).unwrap_or("all");
    let runs = args
        .iter()
        .position(|a| a == "--runs")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let Daemon::Vrrpd { binary } = Daemon::vrrpd_next_to_exe() else {
        unreachable!("vrrpd_next_to_exe names vrrpd")
    };
    let mode = announce_supported(&binary);
    eprintln!(
        "vrrpd {}; the VIP is announced {}",
        binary.display(),
        if mode == Announce::Vrrpd {
            "by vrrpd (bgp_announce)"
        } else {
            "by hand (ip route add ... table 200)"
        }
    );
    let result = match what {
        "events" => events(runs, &binary),
        "rps" => rps(runs, &binary),
        "all" => events(runs, &binary).and_then(|_| rps(runs, &binary)),
        other => Err(Error::msg(format!("unknown benchmark {other}"))),
    };
    if let Err(e) = result {
        eprintln!("vrrp-bgp-bench: {e}");
        std::process::exit(1);
    }
}
