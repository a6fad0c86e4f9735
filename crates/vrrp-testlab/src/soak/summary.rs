//! The soak report: reads back the CSV files of a run (`samples.csv`, `gaps.csv`,
//! `events.csv`) and prints Markdown tables: each process's footprint at the start, 10 min
//! and the end with the slope of RSS and fds after the warm-up, the protocol timer's
//! lateness and the advertisement gaps per 10-minute window, transitions and failovers.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use super::{Fit, fit, percentile};
use crate::{Error, Result};

/// Samples before this (seconds) are the warm-up, left out of the slopes.
pub const WARM_UP_S: f64 = 300.0;
/// Growth over the run (after the warm-up) under this fraction counts as none.
pub const GROWTH_BOUND: f64 = 0.01;
const WINDOW_S: f64 = 600.0;
/// VRRP instances per router.
const INSTANCES: usize = 110;

/// A CSV file with a header line, read into rows of strings.
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// Reads `path`; an absent file is an empty table.
    pub fn read(path: &Path) -> Result<Table> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(Error::msg(format!("{}: {e}", path.display()))),
        };
        let mut lines = text.lines();
        let split = |l: &str| l.split(',').map(str::to_owned).collect::<Vec<_>>();
        let header = lines.next().map(split).unwrap_or_default();
        Ok(Table {
            header,
            rows: lines.map(split).collect(),
        })
    }

    fn col(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// A row's field as text ("" when absent).
    pub fn text<'a>(&self, row: &'a [String], name: &str) -> &'a str {
        self.col(name)
            .and_then(|i| row.get(i))
            .map_or("", String::as_str)
    }

    /// A row's field as a number, `None` when empty.
    pub fn num(&self, row: &[String], name: &str) -> Option<f64> {
        self.text(row, name).parse().ok()
    }
}

/// The report of the run whose CSV files are in `dir`, as Markdown.
pub fn report(dir: &Path) -> Result<String> {
    let samples = Table::read(&dir.join("samples.csv"))?;
    let gaps = Table::read(&dir.join("gaps.csv"))?;
    let events = Table::read(&dir.join("events.csv"))?;
    if samples.rows.is_empty() {
        return Err(Error::msg(format!("no samples in {}", dir.display())));
    }
    let mut out = String::new();
    run_line(&samples, &mut out);
    footprint(&samples, &mut out);
    lateness(&samples, &mut out);
    gap_table(&gaps, &mut out);
    transitions(&samples, &events, &mut out);
    per_window(&samples, &mut out);
    Ok(out)
}

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("—".into(), |v| format!("{v:.digits$}"))
}

fn run_line(s: &Table, out: &mut String) {
    let t_end = s
        .rows
        .iter()
        .filter_map(|r| s.num(r, "t_s"))
        .fold(0.0, f64::max);
    let loads: Vec<f64> = s.rows.iter().filter_map(|r| s.num(r, "load1")).collect();
    let mean = loads.iter().sum::<f64>() / loads.len().max(1) as f64;
    let max = loads.iter().copied().fold(0.0, f64::max);
    let times: std::collections::BTreeSet<String> =
        s.rows.iter().map(|r| s.text(r, "t_s").to_owned()).collect();
    let _ = writeln!(
        out,
        "Run: {:.1} min, {} samples; load average (1 min) mean {mean:.2}, max {max:.2}.\n",
        t_end / 60.0,
        times.len()
    );
}

/// (side, proc) and its rows.
type Group<'a> = ((String, String), Vec<&'a [String]>);

/// Rows grouped by (side, proc), in order of appearance.
fn groups(s: &Table) -> Vec<Group<'_>> {
    let mut order: Vec<(String, String)> = Vec::new();
    let mut by: BTreeMap<(String, String), Vec<&[String]>> = BTreeMap::new();
    for r in &s.rows {
        let key = (s.text(r, "side").to_owned(), s.text(r, "proc").to_owned());
        if !by.contains_key(&key) {
            order.push(key.clone());
        }
        by.entry(key).or_default().push(r);
    }
    order
        .into_iter()
        .map(|k| {
            let rows = by.remove(&k).unwrap_or_default();
            (k, rows)
        })
        .collect()
}

/// The value of `col` in the row nearest `t` seconds.
fn at(s: &Table, rows: &[&[String]], col: &str, t: f64) -> Option<f64> {
    rows.iter()
        .filter_map(|r| Some((s.num(r, "t_s")?, s.num(r, col)?)))
        .min_by(|a, b| (a.0 - t).abs().total_cmp(&(b.0 - t).abs()))
        .map(|p| p.1)
}

/// The fit of `col` against time (hours) after the warm-up, and the growth it makes over
/// that span relative to the fitted start.
fn growth(s: &Table, rows: &[&[String]], col: &str) -> Option<(Fit, f64)> {
    let pts: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|r| Some((s.num(r, "t_s")?, s.num(r, col)?)))
        .filter(|p| p.0 >= WARM_UP_S)
        .map(|(t, v)| (t / 3600.0, v))
        .collect();
    let f = fit(&pts)?;
    let (t0, t1) = (pts.first()?.0, pts.last()?.0);
    let start = f.intercept + f.slope * t0;
    let rel = if start > 0.0 {
        f.slope * (t1 - t0) / start
    } else {
        0.0
    };
    Some((f, rel))
}

fn verdict(g: Option<(Fit, f64)>) -> String {
    match g {
        None => "—".into(),
        Some((f, rel)) => {
            let zero = f.includes_zero() || rel.abs() < GROWTH_BOUND;
            format!(
                "{:+.1} ± {:.1} /h ({:+.2} %){}",
                f.slope,
                f.ci95,
                rel * 100.0,
                if zero { "" } else { " **growth**" }
            )
        }
    }
}

fn footprint(s: &Table, out: &mut String) {
    let t_end = s
        .rows
        .iter()
        .filter_map(|r| s.num(r, "t_s"))
        .fold(0.0, f64::max);
    let _ = writeln!(
        out,
        "| process | RSS kB at 0 / 10 / 30 min / end | RSS slope after {:.0} min, 95 % CI (growth over the span) | PSS kB end | VmHWM kB 0 / end | fds 0 / 10 min / end | fds slope | threads 0 / end | CPU % mean / max |",
        WARM_UP_S / 60.0
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    for ((side, proc), rows) in groups(s) {
        let v = |col: &str, t: f64| fmt_opt(at(s, &rows, col, t), 0);
        let cpu: Vec<f64> = rows.iter().filter_map(|r| s.num(r, "cpu_pct")).collect();
        let cpu_mean = cpu.iter().sum::<f64>() / cpu.len().max(1) as f64;
        let cpu_max = cpu.iter().copied().fold(0.0, f64::max);
        let _ = writeln!(
            out,
            "| {side} {proc} | {} / {} / {} / {} | {} | {} | {} / {} | {} / {} / {} | {} | {} / {} | {cpu_mean:.1} / {cpu_max:.1} |",
            v("rss_kb", 0.0),
            v("rss_kb", WINDOW_S),
            v("rss_kb", 3.0 * WINDOW_S),
            v("rss_kb", t_end),
            verdict(growth(s, &rows, "rss_kb")),
            v("pss_kb", t_end),
            v("hwm_kb", 0.0),
            v("hwm_kb", t_end),
            v("fds", 0.0),
            v("fds", WINDOW_S),
            v("fds", t_end),
            verdict(growth(s, &rows, "fds")),
            v("threads", 0.0),
            v("threads", t_end),
        );
    }
    let _ = writeln!(
        out,
        "\nGrowth counts as none when the slope's 95 % interval holds 0 or the fitted growth over the span is under {:.0} %.\n",
        GROWTH_BOUND * 100.0
    );
}

fn window(t: f64) -> usize {
    (t / WINDOW_S).floor().max(0.0) as usize
}

fn window_label(w: usize) -> String {
    format!("{}-{} min", w * 10, w * 10 + 10)
}

fn lateness(s: &Table, out: &mut String) {
    let _ = writeln!(
        out,
        "| vrrpd protocol timer | window | firings | mean µs | p50 ≤ µs (median of samples) | p99 ≤ µs (worst sample) | > 1 ms | > 5 ms | lifetime max ms at window end |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|");
    for ((side, proc), rows) in groups(s) {
        if side != "vrrpd" {
            continue;
        }
        let mut by: BTreeMap<usize, Vec<&[String]>> = BTreeMap::new();
        for r in rows.iter().filter(|r| s.num(r, "late_n").is_some()) {
            by.entry(window(s.num(r, "t_s").unwrap_or(0.0)))
                .or_default()
                .push(r);
        }
        for (w, rs) in by {
            let sum = |c: &str| rs.iter().filter_map(|r| s.num(r, c)).sum::<f64>();
            let n = sum("late_n");
            let weighted: f64 = rs
                .iter()
                .filter_map(|r| Some(s.num(r, "late_mean_us")? * s.num(r, "late_n")?))
                .sum();
            let mut p50: Vec<f64> = rs
                .iter()
                .filter_map(|r| s.num(r, "late_p50_le_us"))
                .collect();
            p50.sort_by(f64::total_cmp);
            let p99 = rs
                .iter()
                .filter_map(|r| s.num(r, "late_p99_le_us"))
                .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
            let life = rs.last().and_then(|r| s.num(r, "late_max_life_us"));
            let _ = writeln!(
                out,
                "| {side} {proc} | {} | {n:.0} | {} | {} | {} | {:.0} | {:.0} | {} |",
                window_label(w),
                fmt_opt((n > 0.0).then(|| weighted / n), 1),
                fmt_opt((!p50.is_empty()).then(|| percentile(&p50, 0.5)), 0),
                fmt_opt(p99, 0),
                sum("late_over_1ms"),
                sum("late_over_5ms"),
                fmt_opt(life.map(|u| u / 1e3), 2),
            );
        }
    }
    let _ = writeln!(
        out,
        "\nBounds are the metrics histogram's (25, 50, 100, 250, 500 µs, 1, 5, 20 ms; inf past 20 ms).\n"
    );
}

fn gap_table(g: &Table, out: &mut String) {
    let _ = writeln!(
        out,
        "| adverts on the wire | window | adverts captured | gap p50 / p99 / max (× interval) | gaps > 3 intervals | Backup adverts | dropped by the capture |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    type Key = (String, String, usize);
    let mut by: BTreeMap<Key, Vec<&[String]>> = BTreeMap::new();
    for r in &g.rows {
        let class = format!("{} ms", g.text(r, "interval_ms"));
        let w = window(g.num(r, "t_s").unwrap_or(0.0));
        by.entry((g.text(r, "side").to_owned(), class, w))
            .or_default()
            .push(r);
    }
    for ((side, class, w), rs) in by {
        let ratio = |r: &[String], c: &str| Some(g.num(r, c)? / g.num(r, "interval_ms")?);
        let live: Vec<&&[String]> = rs
            .iter()
            .filter(|r| g.num(r, "adverts").unwrap_or(0.0) > 1.0)
            .collect();
        let mut p50: Vec<f64> = live.iter().filter_map(|r| ratio(r, "p50_ms")).collect();
        let mut p99: Vec<f64> = live.iter().filter_map(|r| ratio(r, "p99_ms")).collect();
        p50.sort_by(f64::total_cmp);
        p99.sort_by(f64::total_cmp);
        let max = live
            .iter()
            .filter_map(|r| ratio(r, "max_ms"))
            .fold(0.0, f64::max);
        let sum = |c: &str| rs.iter().filter_map(|r| g.num(r, c)).sum::<f64>();
        let _ = writeln!(
            out,
            "| {side} VRIDs at {class} | {} | {:.0} | {:.2} / {:.2} / {max:.2} | {:.0} | {:.0} | {:.0} |",
            window_label(w),
            sum("adverts"),
            percentile(&p50, 0.5),
            percentile(&p99, 0.99),
            sum("over3"),
            sum("backup_adverts"),
            sum("dropped"),
        );
    }
    let _ = writeln!(
        out,
        "\np50: median over (sample, VRID) of each capture's median gap; p99: 99th percentile over (sample, VRID) of each capture's p99; max: the largest gap. Captures never overlap a failover.\n"
    );
}

fn transitions(s: &Table, e: &Table, out: &mut String) {
    let sides: std::collections::BTreeSet<&str> =
        e.rows.iter().map(|r| e.text(r, "side")).collect();
    let failovers = e
        .rows
        .iter()
        .filter(|r| e.text(r, "event") == "failover")
        .count()
        / sides.len().max(1);
    // Each failover and back moves every instance twice on each router.
    let expected = failovers * 2 * INSTANCES;
    let _ = writeln!(
        out,
        "| process | transitions logged | of which the failovers' | master changes (metrics) | VIPs held at end |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for ((side, proc), rows) in groups(s) {
        if proc.ends_with("-vrrp") {
            continue;
        }
        let last = rows.last();
        let v = |c: &str| fmt_opt(last.and_then(|r| s.num(r, c)), 0);
        let _ = writeln!(
            out,
            "| {side} {proc} | {} | {expected} | {} | {} |",
            v("transitions"),
            v("master_changes"),
            v("vips_held")
        );
    }
    let mut by: BTreeMap<(String, String), Vec<(f64, bool)>> = BTreeMap::new();
    for r in &e.rows {
        by.entry((e.text(r, "side").to_owned(), e.text(r, "event").to_owned()))
            .or_default()
            .push((
                e.num(r, "seconds").unwrap_or(0.0),
                e.text(r, "ok") == "true",
            ));
    }
    let _ = writeln!(
        out,
        "\n{failovers} failovers and back per daemon (the Master's track_file, then reset); seconds until every VIP moved:\n"
    );
    let _ = writeln!(
        out,
        "| daemon | event | count | all VIPs moved | seconds min / median / max |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|");
    for ((side, event), mut v) in by {
        let ok = v.iter().all(|x| x.1);
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        let secs: Vec<f64> = v.iter().map(|x| x.0).collect();
        let _ = writeln!(
            out,
            "| {side} | {event} | {} | {} | {:.2} / {:.2} / {:.2} |",
            v.len(),
            if ok { "yes" } else { "**no**" },
            secs.first().copied().unwrap_or(0.0),
            percentile(&secs, 0.5),
            secs.last().copied().unwrap_or(0.0),
        );
    }
}

/// Transitions logged and the load average, per 10-minute window: the takeovers a starved
/// Master lets happen follow the machine's load.
fn per_window(s: &Table, out: &mut String) {
    let procs: Vec<_> = groups(s)
        .into_iter()
        .filter(|((_, p), _)| !p.ends_with("-vrrp"))
        .collect();
    let names: Vec<String> = procs
        .iter()
        .map(|((sd, p), _)| format!("{sd} {p}"))
        .collect();
    let _ = writeln!(
        out,
        "\n| window | load (1 min) mean / max | {} |",
        names
            .iter()
            .map(|n| format!("{n} transitions"))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(out, "|---|---|{}", "---|".repeat(names.len()));
    let last_w = s
        .rows
        .iter()
        .filter_map(|r| s.num(r, "t_s"))
        .map(window)
        .max()
        .unwrap_or(0);
    for w in 0..=last_w {
        let in_w = |r: &&[String]| s.num(r, "t_s").map(window) == Some(w);
        let loads: Vec<f64> = s
            .rows
            .iter()
            .filter(|r| in_w(&r.as_slice()))
            .filter_map(|r| s.num(r, "load1"))
            .collect();
        let mean = loads.iter().sum::<f64>() / loads.len().max(1) as f64;
        let max = loads.iter().copied().fold(0.0, f64::max);
        let cells: Vec<String> = procs
            .iter()
            .map(|(_, rows)| {
                // The cumulative count at the window's end, less the previous window's.
                let upto = |w: usize| {
                    rows.iter()
                        .filter(|r| s.num(r, "t_s").map(window).is_some_and(|x| x <= w))
                        .filter_map(|r| s.num(r, "transitions"))
                        .fold(0.0, f64::max)
                };
                let before = if w == 0 { 0.0 } else { upto(w - 1) };
                format!("{:.0}", upto(w) - before)
            })
            .collect();
        let _ = writeln!(
            out,
            "| {} | {mean:.1} / {max:.1} | {} |",
            window_label(w),
            cells.join(" | ")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flat_footprint_shows_no_growth_and_a_climbing_one_does() {
        let rows = |slope: f64| -> String {
            let mut t = String::from("t_s,side,proc,rss_kb,fds\n");
            for k in 0..120 {
                let noise = if k % 3 == 0 { 8.0 } else { -4.0 };
                let v = 10_000.0 + slope * f64::from(k) + noise;
                let _ = writeln!(t, "{},vrrpd,master,{v},12", f64::from(k) * 30.0);
            }
            t
        };
        let dir = std::env::temp_dir().join(format!("soak-summary-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        for (slope, growing) in [(0.0, false), (10.0, true)] {
            std::fs::write(dir.join("samples.csv"), rows(slope)).expect("write");
            let text = report(&dir).expect("report");
            assert_eq!(text.contains("**growth**"), growing, "{text}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
