//! The reload storm's figures from what a run recorded (phases, capture, address events,
//! /proc, the protocol timer), printed for both daemons and checked for vrrpd.

use std::net::IpAddr;

use vrrp_testlab::Daemon;
use vrrp_testlab::chaos::realtime_ns;
use vrrp_testlab::churn::{self, Lateness, States, Usage};

use super::{INSTANCES, Run, SYNCED};
use crate::{Lazy, loadavg};

fn index(name: &str) -> usize {
    INSTANCES.iter().position(|x| x.0 == name).unwrap_or(0)
}

/// Phases in which the protocol dictates no transition at all.
const QUIET: [&str; 4] = ["same", "alternate", "same-again", "bad"];

/// The largest gap (ms) between r1's advertisements of each instance in `phases`, and how
/// many gaps exceeded 1.5 intervals.
fn phase_gaps(r: &Run, phases: &[&str]) -> Vec<(f64, usize)> {
    let src = IpAddr::V4(r.side.r[0].ipv4());
    INSTANCES
        .iter()
        .map(|&(_, vrid, _, interval, _)| {
            let g: Vec<i64> = r
                .phases
                .iter()
                .filter(|p| phases.contains(&p.name))
                .flat_map(|p| churn::gaps(&r.adverts, src, vrid, p.from_ns, p.to_ns))
                .collect();
            let over = g
                .iter()
                .filter(|&&x| x as f64 > 1.5 * interval * 1e9)
                .count();
            (g.iter().max().copied().unwrap_or(0) as f64 / 1e6, over)
        })
        .collect()
}

/// The longest time (ms) without any advertisement of each instance on the wire, from
/// either node, over the kill and the restart: how long the VIP had no Master.
fn silence(r: &Run) -> Vec<f64> {
    let from = r
        .phases
        .iter()
        .find(|p| p.name == "kill")
        .map_or(0, |p| p.from_ns);
    let to = r
        .phases
        .iter()
        .find(|p| p.name == "restart-held")
        .map_or(0, |p| p.to_ns);
    INSTANCES
        .iter()
        .map(|&(_, vrid, ..)| {
            let t: Vec<i64> = r
                .adverts
                .iter()
                .filter(|a| a.vrid == vrid && (from..=to).contains(&a.t_ns))
                .map(|a| a.t_ns)
                .collect();
            let edges = [from].into_iter().chain(t).chain([to]).collect::<Vec<_>>();
            let max = edges.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
            max as f64 / 1e6
        })
        .collect()
}

/// [`phase_gaps`] over the phases where the protocol dictates nothing.
fn quiet_gaps(r: &Run) -> Vec<(f64, usize)> {
    phase_gaps(r, &QUIET)
}

/// VIP problems: (deletions on r1 or additions on r2 in the quiet phases, the longest
/// span (ms) during which both nodes held an instance's VIP outside the kill window).
fn vip_trouble(r: &Run) -> Vec<(usize, f64)> {
    let s = &r.side;
    let ev = [
        s.events[0].events().expect("r1 events"),
        s.events[1].events().expect("r2 events"),
    ];
    let end = realtime_ns();
    (0..4)
        .map(|i| {
            let vip = s.vip(i);
            let quiet = r.phases.iter().filter(|p| QUIET.contains(&p.name));
            let wrong =
                quiet
                    .flat_map(|p| {
                        ev[0]
                            .iter()
                            .filter(move |e| e.deleted && (p.from_ns..=p.to_ns).contains(&e.t_ns))
                            .chain(ev[1].iter().filter(move |e| {
                                !e.deleted && (p.from_ns..=p.to_ns).contains(&e.t_ns)
                            }))
                    })
                    .filter(|e| e.addr == vip)
                    .count();
            let both = churn::overlap(
                &churn::held(&ev[0], vip, true, end),
                &churn::held(&ev[1], vip, false, end),
            );
            let longest = both
                .iter()
                .filter(|(a, b)| *b <= r.killed.0 || *a >= r.killed.1)
                .map(|(a, b)| b - a)
                .max()
                .unwrap_or(0);
            (wrong, longest as f64 / 1e6)
        })
        .collect()
}

pub(super) fn report(r: &Run) {
    let who = r.side.daemon.name();
    for p in &r.phases {
        let cells: Vec<String> = (0..2)
            .map(|n| {
                let per: Vec<String> = p.states[n].iter().map(|s| s.to_string()).collect();
                format!("r{} [{}]", n + 1, per.join(", "))
            })
            .collect();
        eprintln!(
            "churn-storm: {who} {:<12} {:>5.1}s {:>3} SIGHUP; {}",
            p.name,
            (p.to_ns - p.from_ns) as f64 / 1e9,
            p.hups,
            cells.join("; ")
        );
    }
    let gaps: Vec<String> = quiet_gaps(r)
        .iter()
        .zip(INSTANCES)
        .map(|((max, over), i)| format!("{} max {max:.1} ms, {over} > 1.5 int", i.0))
        .collect();
    eprintln!(
        "churn-storm: {who} r1 adverts under the storm: {}",
        gaps.join("; ")
    );
    let calm: Vec<String> = phase_gaps(r, &["quiet"])
        .iter()
        .zip(INSTANCES)
        .map(|((max, over), i)| format!("{} max {max:.1} ms, {over} > 1.5 int", i.0))
        .collect();
    eprintln!(
        "churn-storm: {who} r1 adverts before, no SIGHUP: {}",
        calm.join("; ")
    );
    for (n, d) in r.side.d.iter().enumerate() {
        let olds = r.side.dead.iter().filter(|x| x.node == d.node);
        let (mut got, mut done) = (0, 0);
        for x in olds.chain(std::iter::once(d)) {
            let (g, k) = match x.daemon {
                Daemon::Vrrpd { .. } => ("SIGHUP: reloading", " unchanged, "),
                Daemon::Keepalived => ("Reloading ...", "Reload complete"),
            };
            got += churn::count_lines(x, g);
            done += churn::count_lines(x, k);
        }
        eprintln!(
            "churn-storm: {who} r{}: {got} reloads begun, {done} completed",
            n + 1
        );
    }
    if let Some((a, b)) = r.late_quiet {
        let share = (b.over_5ms - a.over_5ms) as f64 / (b.fired - a.fired).max(1) as f64;
        eprintln!(
            "churn-storm: {who} r1 protocol timer, quiet: {} firings, {:.2} % > 5 ms late",
            b.fired - a.fired,
            share * 100.0
        );
    }
    let quiet: Vec<String> = silence(r)
        .iter()
        .zip(INSTANCES)
        .map(|(ms, i)| format!("{} {ms:.1} ms", i.0))
        .collect();
    eprintln!(
        "churn-storm: {who} longest silence on the wire, kill to the end: {}",
        quiet.join("; ")
    );
    let vips: Vec<String> = vip_trouble(r)
        .iter()
        .zip(INSTANCES)
        .map(|((wrong, both), i)| format!("{} {wrong} wrong events, both {both:.1} ms", i.0))
        .collect();
    eprintln!("churn-storm: {who} VIPs: {}", vips.join("; "));
    let u = |(a, b): (Usage, Usage)| {
        format!(
            "RSS {} -> {} kB, fds {} -> {}",
            a.rss_kb, b.rss_kb, a.fds, b.fds
        )
    };
    eprintln!(
        "churn-storm: {who} r1 (before the kill) {}; r2 {}; bad file refused {} times; \
         {} SIGHUP in {:.1} s; alive r1 {} r2 {}; load {}",
        u(r.usage[0]),
        u(r.usage[1]),
        r.refused,
        r.side.hups,
        r.seconds,
        r.side.d[0].is_running(),
        r.side.d[1].is_running(),
        loadavg()
    );
    for (n, l) in r.late.iter().enumerate() {
        if let Some((a, b)) = l {
            let share = (b.over_5ms - a.over_5ms) as f64 / (b.fired - a.fired).max(1) as f64;
            eprintln!(
                "churn-storm: {who} r{} protocol timer: {} firings, {:.2} % > 5 ms late, \
                 max {} us (since start)",
                n + 1,
                b.fired - a.fired,
                share * 100.0,
                b.max_us
            );
        }
    }
    let rss: Vec<String> = r
        .phases
        .iter()
        .map(|p| format!("{} {}", p.name, p.usage[1].rss_kb))
        .collect();
    eprintln!(
        "churn-storm: {who} r2 RSS kB at each phase's end: {}",
        rss.join(", ")
    );
    eprintln!(
        "churn-storm: {who} daemons killed by the flood {:?}, by the bad file {:?}",
        r.died[0], r.died[1]
    );
    let (sent, ran, backlog) = r.flood;
    let flood_gaps: Vec<String> = phase_gaps(r, &["flood"])
        .iter()
        .zip(INSTANCES)
        .map(|((max, _), i)| format!("{} {max:.1} ms", i.0))
        .collect();
    eprintln!(
        "churn-storm: {who} flood: {sent} SIGHUP, {ran} reloads, the last {backlog:.0} ms after \
         it; largest gaps {}",
        flood_gaps.join(", ")
    );
}

pub(super) fn check(r: &Run) {
    let (s, diag) = (&r.side, Lazy(|| r.side.lab.diag()));
    assert!(
        s.d[0].is_running() && s.d[1].is_running(),
        "a daemon died{diag}"
    );
    let zero = States::default();
    for p in &r.phases {
        let st = |n: usize, name: &str| p.states[n][index(name)];
        match p.name {
            "quiet" | "same" | "alternate" | "same-again" | "flood" | "bad" | "low-held"
            | "back-held" | "restart-held" => {
                assert_eq!(p.states, [[zero; 4]; 2], "{}: transitions{diag}", p.name)
            }
            "low" | "back" => {
                let (lose, win) = if p.name == "low" { (0, 1) } else { (1, 0) };
                for name in SYNCED {
                    let (l, w) = (st(lose, name), st(win, name));
                    assert_eq!(
                        (l.master, l.backup, l.fault),
                        (0, 1, 0),
                        "{}: {name}{diag}",
                        p.name
                    );
                    assert_eq!(
                        (w.master, w.backup, w.fault),
                        (1, 0, 0),
                        "{}: {name}{diag}",
                        p.name
                    );
                }
                for name in ["V2A", "V2B"] {
                    assert_eq!((st(0, name), st(1, name)), (zero, zero), "{}{diag}", p.name);
                }
            }
            "kill" | "restart" => {
                for (i, inst) in INSTANCES.iter().enumerate() {
                    let w = if p.name == "kill" { 1 } else { 0 };
                    let (m, b) = (p.states[1][i].master, p.states[1][i].backup);
                    assert_eq!((m, b), (w, 1 - w), "{}: r2 {}{diag}", p.name, inst.0);
                    if p.name == "restart" {
                        let x = p.states[0][i];
                        assert_eq!((x.master, x.fault), (1, 0), "restart: r1 {}{diag}", inst.0);
                    }
                }
            }
            _ => {}
        }
    }
    assert!(r.refused >= 1, "the bad file was not refused{diag}");
    for ((max, _), i) in quiet_gaps(r).iter().zip(INSTANCES) {
        // 1.5 intervals, and a margin for a loaded machine (the figures: docs); still
        // below the Backup's Master_Down_Interval (3.61 intervals).
        let bound = 1.5 * i.3 * 1e3 + 150.0;
        assert!(*max <= bound, "{}: gap {max:.1} ms > {bound} ms{diag}", i.0);
    }
    for (ms, i) in silence(r).iter().zip(INSTANCES) {
        // Master_Down_Interval at priority 100 (3.61 intervals) and a margin.
        let bound = 3.61 * i.3 * 1e3 + 500.0;
        assert!(*ms <= bound, "{}: no Master for {ms:.1} ms{diag}", i.0);
    }
    for ((wrong, both), i) in vip_trouble(r).iter().zip(INSTANCES) {
        assert_eq!(*wrong, 0, "{}: VIP events in quiet phases{diag}", i.0);
        let bound = i.3 * 1e3 + 250.0;
        assert!(
            *both <= bound,
            "{}: VIP on both for {both:.1} ms{diag}",
            i.0
        );
    }
    for (n, (a, b)) in r.usage.iter().enumerate() {
        assert!(
            b.fds <= a.fds + 2,
            "r{}: fds {} -> {}{diag}",
            n + 1,
            a.fds,
            b.fds
        );
        assert!(
            b.rss_kb <= a.rss_kb + 16 * 1024,
            "r{}: RSS {} -> {} kB{diag}",
            n + 1,
            a.rss_kb,
            b.rss_kb
        );
    }
    assert_eq!(r.died, [[false; 2]; 2], "vrrpd died{diag}");
    // One reload runs, one waits: the signals of a flood are not queued one by one.
    assert!(r.flood.2 < 1000.0, "reloads went on after the flood{diag}");
    // The machine's load makes the timer late too (a third of the firings at load 16,
    // quiet or not): the storm must add no more than a tenth to the quiet phase's share.
    let quiet = r.late_quiet.map_or(0.0, |(a, b)| late_share(a, b));
    for (a, b) in r.late.iter().flatten() {
        let share = late_share(*a, *b);
        assert!(
            share < quiet + 0.1,
            "protocol timer late under the storm: {share} (quiet: {quiet}){diag}"
        );
    }
}

/// The share of the protocol timer's firings from `a` to `b` more than 5 ms late.
fn late_share(a: Lateness, b: Lateness) -> f64 {
    (b.over_5ms - a.over_5ms) as f64 / (b.fired - a.fired).max(1) as f64
}
