//! Many VRRP instances on a pair of routers: several LANs (one [`Lab`] each, the routers
//! plugged into every bridge), one VIP per instance, the same keepalived.conf for vrrpd
//! and keepalived; and what the scale benchmark and test measure on it: daemons pinned to
//! a CPU, their on-CPU time, the adverts of every LAN, the states their logs report.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::soak::{self, Advert};
use crate::{Daemon, DaemonProc, Error, KeepalivedConf, Lab, Node, Result, VrrpInstance};

/// Instances per LAN at most: a lab's VIPs are .100-.254.
pub const MAX_PER_LAN: usize = 155;

/// Two routers, r1 and r2, on `lans` LANs: `eth0` on the first lab, `eth<k>` on lab `k`.
pub struct ScaleLab {
    /// One lab per LAN; the first holds the router namespaces.
    pub labs: Vec<Lab>,
    /// The first router (index 1 on every LAN).
    pub r1: Node,
    /// The second router (index 2 on every LAN).
    pub r2: Node,
    /// Instances per LAN.
    pub per_lan: usize,
}

impl ScaleLab {
    /// `instances` spread over as few LANs as hold them.
    pub fn new(tag: &str, instances: usize) -> Result<ScaleLab> {
        let lans = instances.div_ceil(MAX_PER_LAN).max(1);
        let mut first = Lab::new(tag)?;
        let r1 = first.add_router("r1")?;
        let r2 = first.add_router("r2")?;
        let mut labs = vec![first];
        for k in 1..lans {
            let mut lab = Lab::new(&format!("{tag}{k}"))?;
            lab.attach(&r1, &format!("eth{k}"))?;
            lab.attach(&r2, &format!("eth{k}"))?;
            labs.push(lab);
        }
        Ok(ScaleLab {
            labs,
            r1,
            r2,
            per_lan: instances.div_ceil(lans),
        })
    }

    /// (LAN, VRID) of each of the first `instances` instances.
    pub fn slots(&self, instances: usize) -> impl Iterator<Item = (usize, u8)> + '_ {
        (0..instances).map(|i| (i / self.per_lan, (i % self.per_lan + 1) as u8))
    }

    /// The VIP of VRID `vrid` on LAN `lan`.
    pub fn vip(&self, lan: usize, vrid: u8) -> IpAddr {
        IpAddr::V4(self.labs[lan].vip4(99 + vrid))
    }

    /// The keepalived.conf of `instances` VRRPv3 instances `VI_<lan>_<vrid>` at
    /// `advert_int` seconds and `priority`, all starting as Backup.
    pub fn conf(&self, router: &str, priority: u8, instances: usize, advert_int: f64) -> String {
        let mut c = KeepalivedConf::new().router_id(format!("scale-{router}"));
        for (lan, vrid) in self.slots(instances) {
            let i = VrrpInstance::new(
                &format!("VI_{lan}_{vrid}"),
                &format!("eth{lan}"),
                vrid,
                priority,
            )
            .advert_int(advert_int)
            .version(3)
            .vip(format!("{}/24", self.vip(lan, vrid)));
            c = c.instance(i);
        }
        c.render()
    }

    /// VIPs of the first `instances` instances that `node` holds.
    pub fn held(&self, node: &Node, instances: usize) -> usize {
        let have = node.addresses().unwrap_or_default();
        self.slots(instances)
            .filter(|&(lan, vrid)| have.contains(&self.vip(lan, vrid)))
            .count()
    }

    /// r1's address on LAN `lan`, the source of its adverts there.
    pub fn r1_source(&self, lan: usize) -> IpAddr {
        IpAddr::V4(self.labs[lan].ipv4(self.r1.index()))
    }

    /// `secs` seconds of VRRP on every LAN's bridge at once, with each advert's LAN.
    pub fn capture(&self, secs: f64, name: &str) -> Result<Vec<(usize, Advert)>> {
        let pcaps: Vec<PathBuf> = self
            .labs
            .iter()
            .map(|l| l.dir().join(format!("{name}.pcap")))
            .collect();
        let results: Vec<Result<u64>> = std::thread::scope(|s| {
            let runs: Vec<_> = self
                .labs
                .iter()
                .zip(&pcaps)
                .map(|(l, p)| s.spawn(move || soak::capture(l.bridge_ns(), "br0", secs, p)))
                .collect();
            runs.into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(Error::msg("capture panicked")))
                })
                .collect()
        });
        let mut out = Vec::new();
        for (lan, (r, p)) in results.into_iter().zip(&pcaps).enumerate() {
            r?;
            out.extend(soak::read_adverts(p)?.into_iter().map(|a| (lan, a)));
        }
        Ok(out)
    }

    /// How late r1's adverts were (gap minus `interval_s`, ns, sorted), every LAN.
    pub fn r1_lateness(&self, adverts: &[(usize, Advert)], interval_s: f64) -> Vec<i64> {
        let interval_ns = (interval_s * 1e9) as i64;
        let mut late = Vec::new();
        for lan in 0..self.labs.len() {
            let here: Vec<Advert> = adverts
                .iter()
                .filter(|(l, a)| *l == lan && a.prio != 0)
                .map(|(_, a)| *a)
                .collect();
            for gaps in soak::gaps_by_vrid(&here, self.r1_source(lan)).values() {
                late.extend(gaps.iter().map(|g| g - interval_ns));
            }
        }
        late.sort_unstable();
        late
    }
}

/// Runs `f` (which spawns processes) with the calling thread bound to `cpu`: what it
/// spawns inherits the binding from its first instruction, as under `taskset -c CPU`.
pub fn pinned<T>(cpu: usize, f: impl FnOnce() -> T) -> T {
    // SAFETY: cpu_set_t is plain data; the sched_*affinity calls only read/write it.
    unsafe {
        let mut old: libc::cpu_set_t = std::mem::zeroed();
        let got = libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut old);
        let mut one: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut one);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &one);
        let out = f();
        if got == 0 {
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &old);
        }
        out
    }
}

/// A daemon's processes: vrrpd, or keepalived's parent and its VRRP child.
pub fn processes(d: &DaemonProc) -> Vec<u32> {
    let mut pids = vec![d.pid()];
    pids.extend(
        d.proc
            .children()
            .into_iter()
            .filter_map(|c| u32::try_from(c).ok()),
    );
    pids
}

/// On-CPU time of every thread of `pids` (schedstat), ns.
pub fn on_cpu_ns(pids: &[u32]) -> u64 {
    let mut total = 0;
    for pid in pids {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            continue;
        };
        for t in tasks.flatten() {
            total += std::fs::read_to_string(t.path().join("schedstat"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    total
}

/// A daemon's log, read on as it grows: the states its instances entered.
pub struct StateLog {
    daemon: Daemon,
    path: PathBuf,
    offset: u64,
    /// "MASTER"/"BACKUP"/... entered so far (upper case), in log order.
    pub entered: Vec<String>,
    /// When the log last grew (since this watch began).
    pub grew: Option<Instant>,
}

impl StateLog {
    /// Watches `d`'s log from its current end (`from_start`: from its beginning).
    pub fn new(d: &DaemonProc, from_start: bool) -> StateLog {
        let path = log_path(d);
        let offset = if from_start {
            0
        } else {
            std::fs::metadata(&path).map_or(0, |m| m.len())
        };
        StateLog {
            daemon: d.daemon.clone(),
            path,
            offset,
            entered: Vec::new(),
            grew: None,
        }
    }

    /// Reads what was logged since the last call; returns the new lines.
    pub fn poll(&mut self) -> String {
        let text = soak::new_log_lines(&self.path, &mut self.offset);
        if !text.is_empty() {
            self.grew = Some(Instant::now());
        }
        for l in text.lines() {
            if let Some(s) = soak::entered_state(&self.daemon, l) {
                self.entered.push(s.to_ascii_uppercase());
            }
        }
        text
    }

    /// How many times `state` was entered.
    pub fn count(&self, state: &str) -> usize {
        self.entered.iter().filter(|s| *s == state).count()
    }
}

/// Where a daemon logs (both log to stderr with `-l`; keepalived's console log may be
/// stdout): the larger of the two.
fn log_path(d: &DaemonProc) -> PathBuf {
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let (out, err) = (d.proc.stdout_path(), d.proc.stderr_path());
    if size(out) > size(err) { out } else { err }.to_path_buf()
}

/// Polls `cond` every `poll` until it holds or `timeout` passes; the time it took.
pub fn time_until(
    timeout: Duration,
    poll: Duration,
    mut cond: impl FnMut() -> bool,
) -> Option<Duration> {
    let t0 = Instant::now();
    while t0.elapsed() < timeout {
        if cond() {
            return Some(t0.elapsed());
        }
        std::thread::sleep(poll);
    }
    None
}
