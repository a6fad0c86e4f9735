//! CPU starvation: busy loops next to a daemon, the advertisements it sent as the bridge saw
//! them, and the scheduling of its threads as /proc shows it.
//!
//! The hogs are processes of the lab (killed by PID with it, also on a panic) and are
//! started with the nice value given, so that they compete with a daemon at that value.

use std::net::IpAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::{Error, Node, Proc, Result, run_bounded};

/// Busy loops (`sh -c 'while :; do :; done'`), killed on drop.
pub struct Hogs {
    procs: Vec<Proc>,
}

impl Hogs {
    /// `per_cpu` busy loops per online CPU, at nice `nice`, in `node`'s namespace.
    pub fn start(node: &Node, per_cpu: usize, nice: i32) -> Result<Hogs> {
        let count = per_cpu * online_cpus();
        let nice = nice.to_string();
        let mut procs = Vec::with_capacity(count);
        for _ in 0..count {
            let args = ["-n", &nice, "sh", "-c", "while :; do :; done"];
            procs.push(node.spawn("nice", &args, &[])?);
        }
        Ok(Hogs { procs })
    }

    /// How many run.
    pub fn count(&self) -> usize {
        self.procs.len()
    }
}

impl Drop for Hogs {
    fn drop(&mut self) {
        for p in &self.procs {
            let _ = p.kill_and_wait();
        }
    }
}

/// The CPUs the scheduler may use.
pub fn online_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// One VRRP advertisement seen on the wire.
#[derive(Debug, Clone, Copy)]
pub struct Advert {
    /// Capture time stamp (CLOCK_REALTIME), nanoseconds.
    pub t_ns: i64,
    /// Its source address.
    pub src: IpAddr,
    /// Its VRID.
    pub vrid: u8,
    /// Its priority.
    pub prio: u8,
}

/// The VRRP advertisements of a pcap file, read with `tcpdump -r` (bounded).
pub fn read_adverts(pcap: &Path) -> Result<Vec<Advert>> {
    let mut cmd = Command::new("tcpdump");
    cmd.args(["-r", &pcap.to_string_lossy(), "-tt", "-n", "vrrp"]);
    let out = run_bounded(cmd, Duration::from_secs(60))?;
    // A capture cut short ends in a truncated record: tcpdump fails after printing the
    // packets before it, which are kept.
    if !out.status.success() && out.stdout.is_empty() {
        return Err(Error::msg(format!(
            "tcpdump -r {}: {}",
            pcap.display(),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(parse_line)
        .collect())
}

/// `1733240000.123456 IP 10.99.3.1 > 224.0.0.18: VRRPv3, Advertisement, vrid 51, prio 200, ...`
fn parse_line(line: &str) -> Option<Advert> {
    let mut words = line.split_whitespace();
    let (secs, micros) = words.next()?.split_once('.')?;
    let t_ns = secs.parse::<i64>().ok()? * 1_000_000_000 + micros.parse::<i64>().ok()? * 1_000;
    let _family = words.next()?;
    let src = words.next()?.parse().ok()?;
    let field = |name: &str| -> Option<u8> {
        line.split(", ")
            .find_map(|f| f.strip_prefix(name))?
            .trim()
            .parse()
            .ok()
    };
    Some(Advert {
        t_ns,
        src,
        vrid: field("vrid ")?,
        prio: field("prio ")?,
    })
}

/// Gaps between consecutive advertisements of one sender, nanoseconds.
#[derive(Debug, Clone, Default)]
pub struct Gaps {
    /// Advertisements counted.
    pub adverts: usize,
    /// The largest gap.
    pub max_ns: i64,
    /// The 99th percentile.
    pub p99_ns: i64,
    /// The median.
    pub p50_ns: i64,
}

/// The gaps between the advertisements of `src` in `adverts` (in capture order).
pub fn gaps(adverts: &[Advert], src: IpAddr) -> Gaps {
    let times: Vec<i64> = adverts
        .iter()
        .filter(|a| a.src == src)
        .map(|a| a.t_ns)
        .collect();
    let mut d: Vec<i64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    d.sort_unstable();
    let at = |p: f64| {
        d.get(((d.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(0)
    };
    Gaps {
        adverts: times.len(),
        max_ns: d.last().copied().unwrap_or(0),
        p99_ns: at(0.99),
        p50_ns: at(0.5),
    }
}

/// A thread's scheduling policy number from `/proc/PID/task/TID/sched` (0 SCHED_OTHER,
/// 1 SCHED_FIFO, 2 SCHED_RR) and its priority field (`prio`: 0..99 real time, 100..139 nice).
pub fn thread_policy(pid: u32, tid: u32) -> Option<(u32, i32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/sched")).ok()?;
    let field = |name: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == name).then(|| v.trim().to_owned())
        })
    };
    Some((field("policy")?.parse().ok()?, field("prio")?.parse().ok()?))
}

/// The threads of `pid` (`/proc/PID/task`).
pub fn threads(pid: u32) -> Vec<u32> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// A thread's nice value (field 19 of `/proc/PID/task/TID/stat`).
pub fn thread_nice(pid: u32, tid: u32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).ok()?;
    // Fields after the command name, which ends at the last ')': state is field 3.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(16)?.parse().ok()
}

/// A `/proc/PID/status` field in kB (`VmLck`, `VmRSS`...).
pub fn status_kb(pid: u32, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines().find_map(|l| {
        let v = l.strip_prefix(key)?.strip_prefix(':')?;
        v.split_whitespace().next()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tcpdump_line_is_read() {
        let a = parse_line(
            "1733240000.123456 IP 10.99.3.1 > 224.0.0.18: VRRPv3, Advertisement, vrid 51, prio 200, intvl 10cs, length 12",
        )
        .expect("parsed");
        assert_eq!(a.t_ns, 1_733_240_000_123_456_000);
        assert_eq!(a.src, "10.99.3.1".parse::<IpAddr>().expect("ip"));
        assert_eq!((a.vrid, a.prio), (51, 200));
    }

    #[test]
    fn gaps_are_sorted_out() {
        let src: IpAddr = "10.99.3.1".parse().expect("ip");
        let at = |t_ns| Advert {
            t_ns,
            src,
            vrid: 1,
            prio: 1,
        };
        let g = gaps(&[at(0), at(100), at(250), at(300)], src);
        assert_eq!((g.adverts, g.max_ns, g.p50_ns), (4, 150, 100));
    }
}
