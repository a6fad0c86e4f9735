//! The soak run's pieces that are not the lab: a daemon process's footprint from /proc, the
//! VRRP advertisements of a capture per VRID and the gaps between them, the protocol timer's
//! lateness histogram from the metrics endpoint, and the maths of the summary (percentiles,
//! a least-squares line with the confidence interval of its slope).

pub mod summary;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::{Daemon, Error, Result, run_bounded};

/// A process's footprint at one instant, from /proc.
#[derive(Debug, Clone, Copy, Default)]
pub struct Footprint {
    /// VmRSS.
    pub rss_kb: u64,
    /// Pss of `smaps_rollup` (shared pages split between their users).
    pub pss_kb: u64,
    /// VmHWM: the largest RSS so far.
    pub hwm_kb: u64,
    /// Entries of /proc/PID/fd.
    pub fds: u64,
    /// Threads.
    pub threads: u64,
    /// utime + stime, clock ticks.
    pub cpu_ticks: u64,
}

/// `pid`'s footprint, `None` once it is gone.
pub fn footprint(pid: u32) -> Option<Footprint> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |key: &str| {
        status.lines().find_map(|l| {
            let v = l.strip_prefix(key)?.strip_prefix(':')?;
            v.split_whitespace().next()?.parse::<u64>().ok()
        })
    };
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let pss = smaps.lines().find_map(|l| {
        l.strip_prefix("Pss:")?
            .split_whitespace()
            .next()?
            .parse::<u64>()
            .ok()
    });
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which ends at the last ')': state is field 3, utime 14.
    let rest: Vec<&str> = stat[stat.rfind(')')? + 2..].split_whitespace().collect();
    let ticks = |i: usize| rest.get(i).and_then(|v| v.parse::<u64>().ok());
    Some(Footprint {
        rss_kb: field("VmRSS")?,
        pss_kb: pss.unwrap_or(0),
        hwm_kb: field("VmHWM")?,
        fds,
        threads: field("Threads")?,
        cpu_ticks: ticks(11)? + ticks(12)?,
    })
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`).
pub fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// `/proc/loadavg`'s 1, 5 and 15 minute averages.
pub fn loadavg() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut w = text.split_whitespace().map(|v| v.parse().unwrap_or(0.0));
    [
        w.next().unwrap_or(0.0),
        w.next().unwrap_or(0.0),
        w.next().unwrap_or(0.0),
    ]
}

/// The complete lines of the log `path` after `offset`, which moves past them (the logs of
/// long runs grow: each call reads on from where the last one stopped).
pub fn new_log_lines(path: &Path, offset: &mut u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let mut buf = Vec::new();
    let read = std::fs::File::open(path).and_then(|mut f| {
        f.seek(SeekFrom::Start(*offset))?;
        f.read_to_end(&mut buf)
    });
    if read.is_err() {
        return String::new();
    }
    let complete = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    *offset += complete as u64;
    String::from_utf8_lossy(&buf[..complete]).into_owned()
}

/// The state a log line says an instance entered ("MASTER", "BACKUP", "FAULT"), if it is a
/// transition line of `daemon`.
pub fn entered_state<'a>(daemon: &Daemon, line: &'a str) -> Option<&'a str> {
    match daemon {
        Daemon::Keepalived => {
            let rest = line.split("Entering ").nth(1)?;
            rest.contains(" STATE")
                .then(|| rest.split(" STATE").next())?
        }
        Daemon::Vrrpd { .. } => {
            line.contains("), priority ").then_some(())?;
            line.split(" -> ").nth(1)?.split(' ').next()
        }
    }
}

/// Transitions in the complete lines of `path` after `offset`, which moves past them.
pub fn count_transitions(daemon: &Daemon, path: &Path, offset: &mut u64) -> usize {
    new_log_lines(path, offset)
        .lines()
        .filter(|l| entered_state(daemon, l).is_some())
        .count()
}

pub use crate::starve::{Advert, read_adverts};

/// Captures `secs` seconds of VRRP on `iface` in namespace `ns` into `pcap` with tcpdump,
/// with a 32 MiB buffer and 128-byte snapshots: tcpdump's defaults (2 MiB, 256 KiB
/// snapshots) drop a third of 10,000 adverts/s on a loaded machine, and every drop is a
/// false gap. Returns the packets the kernel dropped, as tcpdump counts them.
pub fn capture(ns: &str, iface: &str, secs: f64, pcap: &Path) -> Result<u64> {
    let mut cmd = Command::new("ip");
    let secs_arg = format!("{secs}");
    let path = pcap.to_string_lossy();
    cmd.args([
        "netns", "exec", ns, "timeout", "-s", "INT", &secs_arg, "tcpdump",
    ]);
    cmd.args([
        "-i",
        iface,
        "-n",
        "-s",
        "128",
        "-B",
        "32768",
        "-w",
        &path,
        "ip proto 112",
    ]);
    let out = run_bounded(cmd, Duration::from_secs_f64(secs + 30.0))?;
    // timeout(1) exits 124 once it has stopped tcpdump, the normal end: read the counts.
    let err = String::from_utf8_lossy(&out.stderr);
    if !err.contains("packets captured") {
        return Err(Error::msg(format!("tcpdump in {ns}: {err}")));
    }
    Ok(err
        .lines()
        .find_map(|l| {
            l.strip_suffix(" packets dropped by kernel")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0))
}

/// The gaps (ns, sorted) between consecutive advertisements of `src`, per VRID.
pub fn gaps_by_vrid(adverts: &[Advert], src: IpAddr) -> BTreeMap<u8, Vec<i64>> {
    let mut last: BTreeMap<u8, i64> = BTreeMap::new();
    let mut gaps: BTreeMap<u8, Vec<i64>> = BTreeMap::new();
    for a in adverts.iter().filter(|a| a.src == src) {
        let g = gaps.entry(a.vrid).or_default();
        if let Some(prev) = last.insert(a.vrid, a.t_ns) {
            g.push(a.t_ns - prev);
        }
    }
    for g in gaps.values_mut() {
        g.sort_unstable();
    }
    gaps
}

/// The `p` quantile (0..=1) of sorted values, nearest rank; 0 when empty.
pub fn percentile<T: Copy + Default>(sorted: &[T], p: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    let i = ((sorted.len() - 1) as f64 * p.clamp(0.0, 1.0)).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// A Prometheus histogram: cumulative counts per upper bound (seconds, `+Inf` last), the sum
/// and the count.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// (upper bound, cumulative count).
    pub buckets: Vec<(f64, u64)>,
    /// `_sum`.
    pub sum: f64,
    /// `_count`.
    pub count: u64,
}

impl Histogram {
    /// `name`'s histogram in a metrics scrape.
    pub fn parse(text: &str, name: &str) -> Histogram {
        let mut h = Histogram::default();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix(name) else {
                continue;
            };
            let value = rest.rsplit(' ').next().unwrap_or("");
            if let Some(labels) = rest.strip_prefix("_bucket{") {
                let le = labels
                    .split("le=\"")
                    .nth(1)
                    .and_then(|v| v.split('"').next())
                    .and_then(|v| match v {
                        "+Inf" => Some(f64::INFINITY),
                        v => v.parse().ok(),
                    });
                if let (Some(le), Ok(n)) = (le, value.parse()) {
                    h.buckets.push((le, n));
                }
            } else if rest.starts_with("_sum") {
                h.sum = value.parse().unwrap_or(0.0);
            } else if rest.starts_with("_count") {
                h.count = value.parse().unwrap_or(0);
            }
        }
        h
    }

    /// What was observed between `earlier` and `self`.
    pub fn since(&self, earlier: &Histogram) -> Histogram {
        let before = |le: f64| {
            earlier
                .buckets
                .iter()
                .find(|b| b.0 == le)
                .map_or(0, |b| b.1)
        };
        Histogram {
            buckets: self
                .buckets
                .iter()
                .map(|&(le, n)| (le, n.saturating_sub(before(le))))
                .collect(),
            sum: self.sum - earlier.sum,
            count: self.count.saturating_sub(earlier.count),
        }
    }

    /// The upper bound of the bucket that holds the `q` quantile (infinite past the last
    /// finite bound), `None` without observations.
    pub fn quantile_bound(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let want = (self.count as f64 * q).ceil().max(1.0) as u64;
        self.buckets.iter().find(|b| b.1 >= want).map(|b| b.0)
    }

    /// Observations above `bound` seconds (a bucket bound).
    pub fn above(&self, bound: f64) -> u64 {
        let le = self
            .buckets
            .iter()
            .find(|b| b.0 >= bound)
            .map_or(0, |b| b.1);
        self.count.saturating_sub(le)
    }
}

/// The sum of every series of `name` (`name{...} V` or `name V`) in a metrics scrape.
pub fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            if !(rest.starts_with('{') || rest.starts_with(' ')) {
                return None;
            }
            rest.rsplit(' ').next()?.parse::<f64>().ok()
        })
        .sum()
}

/// A least-squares line through points, with the 95 % confidence half-width of its slope.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    /// Points used.
    pub n: usize,
    /// dy/dx.
    pub slope: f64,
    /// y at x = 0.
    pub intercept: f64,
    /// The slope's 95 % confidence interval is `slope ± ci95` (Student's t, residuals taken
    /// as independent: with autocorrelated samples it is too narrow, hence also a bound).
    pub ci95: f64,
}

impl Fit {
    /// Whether the slope's confidence interval holds 0.
    pub fn includes_zero(&self) -> bool {
        self.slope.abs() <= self.ci95
    }
}

/// The least-squares line through `points` (x, y); `None` under 3 points or when x does not
/// vary.
pub fn fit(points: &[(f64, f64)]) -> Option<Fit> {
    let n = points.len();
    if n < 3 {
        return None;
    }
    let nf = n as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / nf;
    let my = points.iter().map(|p| p.1).sum::<f64>() / nf;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let ssr: f64 = points
        .iter()
        .map(|p| (p.1 - intercept - slope * p.0).powi(2))
        .sum();
    let se = (ssr / (nf - 2.0) / sxx).sqrt();
    Some(Fit {
        n,
        slope,
        intercept,
        ci95: t975(n - 2) * se,
    })
}

/// Student's t 0.975 quantile for `df` degrees of freedom (table to 10, then an expansion
/// good to 1 % beyond).
fn t975(df: usize) -> f64 {
    const TABLE: [f64; 10] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    ];
    match df {
        0 => f64::INFINITY,
        1..=10 => TABLE[df - 1],
        _ => {
            let d = df as f64;
            1.96 + 2.37 / d + 2.8 / (d * d)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_per_vrid_and_per_source() {
        let m: IpAddr = "10.99.3.1".parse().expect("ip");
        let b: IpAddr = "10.99.3.2".parse().expect("ip");
        let ad = |t_ns, src, vrid| Advert {
            t_ns,
            src,
            vrid,
            prio: 100,
        };
        let g = gaps_by_vrid(
            &[
                ad(0, m, 1),
                ad(5, m, 2),
                ad(10, m, 1),
                ad(12, b, 1),
                ad(30, m, 1),
                ad(105, m, 2),
            ],
            m,
        );
        assert_eq!(g[&1], vec![10, 20]);
        assert_eq!(g[&2], vec![100]);
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), 51);
        assert_eq!(percentile(&v, 0.99), 99);
        assert_eq!(percentile(&v, 1.0), 100);
        assert_eq!(percentile::<i64>(&[], 0.5), 0);
    }

    #[test]
    fn a_line_is_fitted_with_its_confidence() {
        let exact: Vec<(f64, f64)> = (0..10).map(|x| (x as f64, 3.0 + 2.0 * x as f64)).collect();
        let f = fit(&exact).expect("fit");
        assert!((f.slope - 2.0).abs() < 1e-9 && (f.intercept - 3.0).abs() < 1e-9);
        assert!(f.ci95 < 1e-6 && !f.includes_zero());
        // Noise around a flat line: the interval holds 0.
        let flat: Vec<(f64, f64)> = (0..40)
            .map(|x| (x as f64, 100.0 + if x % 2 == 0 { 1.0 } else { -1.0 }))
            .collect();
        let f = fit(&flat).expect("fit");
        assert!(f.includes_zero(), "{f:?}");
        assert!(fit(&exact[..2]).is_none());
    }

    #[test]
    fn a_scraped_histogram_gives_window_quantiles() {
        let scrape = |a, b, c, n| {
            format!(
                "# TYPE x histogram\nx_sum 0.5\nx_count {n}\nx_bucket{{le=\"2.5e-5\"}} {a}\n\
                 x_bucket{{le=\"0.001\"}} {b}\nx_bucket{{le=\"+Inf\"}} {c}\nxy_count 9\n"
            )
        };
        let h0 = Histogram::parse(&scrape(10, 10, 10, 10), "x");
        let h1 = Histogram::parse(&scrape(100, 199, 200, 200), "x");
        assert_eq!(h1.buckets.len(), 3);
        let d = h1.since(&h0);
        assert_eq!(d.count, 190);
        assert_eq!(d.quantile_bound(0.4), Some(2.5e-5));
        assert_eq!(d.quantile_bound(0.99), Some(0.001));
        assert_eq!(d.quantile_bound(1.0), Some(f64::INFINITY));
        assert_eq!(d.above(0.001), 1);
        assert_eq!(
            metric_sum("a{x=\"1\"} 2\na{x=\"2\"} 3\nab 7\na 1\n", "a"),
            6.0
        );
    }
}
