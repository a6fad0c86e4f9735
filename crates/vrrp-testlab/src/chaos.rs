//! Chaos on the LAN (issue 13): random loss of VRRP on a node's ingress, partitions of the
//! bridge for VRRP only, time-stamped address events, the transitions a daemon logged, an
//! inventory of what a node's kernel holds, and the statistics that say how many spurious
//! takeovers a given loss rate predicts.
//!
//! Loss uses nftables `numgen random` (no netem); a partition is a rule in the bridge's
//! namespace, so that one `nft` transaction cuts or heals both directions at once and no
//! interface changes state (a link cut would put the daemons in Fault, not make both Master).

use std::fs;
use std::net::IpAddr;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::{Daemon, DaemonProc, Error, Lab, Node, Proc, Result, run_bounded};

const LOSS_TABLE: &str = "chaos_loss";
const SPLIT_TABLE: &str = "chaos_split";

/// CLOCK_REALTIME in nanoseconds, the clock of [`AddressEvents`]' stamps.
pub fn realtime_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

fn nft_file(ns: &str, path: &std::path::Path) -> Result<()> {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, "nft", "-f"]).arg(path);
    let out = run_bounded(c, crate::COMMAND_TIMEOUT)?;
    if !out.status.success() {
        return Err(Error::msg(format!(
            "nft -f {} in {ns}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Drops `pct` percent (0..=100) of the VRRP packets from `from` arriving on `node`'s
/// `eth0`, at random (`numgen random mod 100 < pct`), before anything else sees them
/// (prerouting, priority -300). The rule counts what arrived and what it dropped
/// ([`vrrp_loss_counts`]); replacing it (another `pct`) resets both counters.
pub fn set_vrrp_loss(node: &Node, from: IpAddr, pct: u32) -> Result<()> {
    let (fam, proto) = match from {
        IpAddr::V4(_) => ("ip", "ip protocol 112"),
        IpAddr::V6(_) => ("ip6", "ip6 nexthdr 112"),
    };
    let ifn = node.ifname();
    let script = format!(
        "table inet {LOSS_TABLE} {{}}\ndelete table inet {LOSS_TABLE}\n\
         table inet {LOSS_TABLE} {{\n  chain input {{\n    \
         type filter hook prerouting priority -300; policy accept;\n    \
         iifname \"{ifn}\" {fam} saddr {from} {proto} counter numgen random mod 100 < {pct} counter drop\n  \
         }}\n}}\n"
    );
    let path = node.write_file(&format!("{}-chaos-loss.nft", node.name()), &script)?;
    nft_file(node.ns(), &path)
}

/// (arrived, dropped) VRRP packets of the [`set_vrrp_loss`] rule since it was set.
pub fn vrrp_loss_counts(node: &Node) -> Result<(u64, u64)> {
    let out = node.run_ok("nft", &["list", "table", "inet", LOSS_TABLE])?;
    match counters(&out)[..] {
        [seen, dropped] => Ok((seen, dropped)),
        ref other => Err(Error::msg(format!(
            "expected two counters in {LOSS_TABLE}, found {other:?}"
        ))),
    }
}

/// The `packets N` of every counter in an nft listing, in order.
fn counters(listing: &str) -> Vec<u64> {
    let words: Vec<&str> = listing.split_whitespace().collect();
    words
        .windows(2)
        .filter(|w| w[0] == "packets")
        .filter_map(|w| w[1].parse().ok())
        .collect()
}

/// Splits the LAN for VRRP (IPv4 and IPv6, both directions, every port) with a rule on
/// the bridge: every router stops hearing the others and becomes Master.
pub fn partition_vrrp(lab: &Lab) -> Result<()> {
    let script = format!(
        "table bridge {SPLIT_TABLE} {{}}\ndelete table bridge {SPLIT_TABLE}\n\
         table bridge {SPLIT_TABLE} {{\n  chain forward {{\n    \
         type filter hook forward priority -200; policy accept;\n    \
         ip protocol 112 counter drop\n    ip6 nexthdr 112 counter drop\n  }}\n}}\n"
    );
    let path = lab.write_file("chaos-partition.nft", &script)?;
    nft_file(lab.bridge_ns(), &path)
}

/// Heals [`partition_vrrp`] in one nft transaction.
pub fn heal_vrrp(lab: &Lab) -> Result<()> {
    let script = format!("table bridge {SPLIT_TABLE} {{}}\ndelete table bridge {SPLIT_TABLE}\n");
    let path = lab.write_file("chaos-heal.nft", &script)?;
    nft_file(lab.bridge_ns(), &path)
}

/// One address added or deleted, as `ip -ts monitor address` stamped it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddressEvent {
    /// CLOCK_REALTIME, nanoseconds.
    pub t_ns: i64,
    /// The address.
    pub addr: IpAddr,
    /// Deleted (else added).
    pub deleted: bool,
}

/// A running `ip -ts monitor address` in a node (the lab stops it on drop): every address
/// change with the kernel's notification time, to the microsecond, read back at leisure.
pub struct AddressEvents {
    proc: Proc,
}

impl AddressEvents {
    /// Starts the monitor in `node` and gives it a moment to subscribe.
    pub fn start(node: &Node) -> Result<AddressEvents> {
        let proc = node.spawn("ip", &["-ts", "monitor", "address"], &[("TZ", "UTC")])?;
        std::thread::sleep(Duration::from_millis(200));
        Ok(AddressEvents { proc })
    }

    /// Every event so far. Fails if the monitor died (a dead probe must not read as "no
    /// change").
    pub fn events(&self) -> Result<Vec<AddressEvent>> {
        if !self.proc.is_running() {
            return Err(Error::msg(format!(
                "ip monitor died: {}",
                self.proc.tail(5)
            )));
        }
        let text = fs::read_to_string(self.proc.stdout_path())?;
        Ok(text.lines().filter_map(parse_event).collect())
    }
}

/// `[2026-12-03T18:17:50.036612] Deleted 1: lo    inet 10.99.250.5/24 scope global lo`
fn parse_event(line: &str) -> Option<AddressEvent> {
    let rest = line.strip_prefix('[')?;
    let (stamp, rest) = rest.split_once("] ")?;
    let t_ns = parse_stamp(stamp)?;
    let deleted = rest.starts_with("Deleted ");
    let mut words = rest.split_whitespace();
    words.find(|w| *w == "inet" || *w == "inet6")?;
    let addr = words.next()?.split('/').next()?.parse().ok()?;
    Some(AddressEvent {
        t_ns,
        addr,
        deleted,
    })
}

/// `2026-12-03T18:17:50.036612` (UTC) in nanoseconds since the epoch.
fn parse_stamp(s: &str) -> Option<i64> {
    let (date, time) = s.split_once('T')?;
    let d: Vec<i64> = date
        .split('-')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let (hms, frac) = time.split_once('.')?;
    let t: Vec<i64> = hms
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let ([y, mo, da], [h, mi, se]) = (d[..].try_into().ok()?, t[..].try_into().ok()?);
    let micros: i64 = frac.parse().ok()?;
    let secs = days_from_civil(y, mo, da) * 86_400 + h * 3600 + mi * 60 + se;
    Some(secs * 1_000_000_000 + micros * 1_000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// How often a daemon logged that an instance became Master and became Backup.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Transitions {
    /// Transitions to Master.
    pub to_master: u64,
    /// Transitions to Backup (the first one, at start-up, included).
    pub to_backup: u64,
}

impl std::ops::Sub for Transitions {
    type Output = Transitions;
    fn sub(self, o: Transitions) -> Transitions {
        Transitions {
            to_master: self.to_master.saturating_sub(o.to_master),
            to_backup: self.to_backup.saturating_sub(o.to_backup),
        }
    }
}

/// The transitions of `instance` that `d` logged so far: vrrpd's `VI_1: BACKUP -> MASTER
/// (reason)`, keepalived's `(VI_1) Entering MASTER STATE`.
pub fn transitions(d: &DaemonProc, instance: &str) -> Transitions {
    let mut text = fs::read_to_string(d.proc.stderr_path()).unwrap_or_default();
    text.push_str(&fs::read_to_string(d.proc.stdout_path()).unwrap_or_default());
    count_transitions(&text, &d.daemon, instance)
}

fn count_transitions(log: &str, daemon: &Daemon, instance: &str) -> Transitions {
    let (master, backup) = match daemon {
        Daemon::Vrrpd { .. } => (
            format!("{instance}: BACKUP -> MASTER ("),
            format!("{instance}: MASTER -> BACKUP ("),
        ),
        Daemon::Keepalived => (
            format!("({instance}) Entering MASTER STATE"),
            format!("({instance}) Entering BACKUP STATE"),
        ),
    };
    let mut t = Transitions::default();
    for l in log.lines() {
        t.to_master += u64::from(l.contains(&master));
        t.to_backup += u64::from(l.contains(&backup));
    }
    t
}

/// What a node's kernel holds that the LAN could notice: interfaces (name, MAC, state),
/// addresses, routes and rules of every table, the nftables ruleset. Lines, sorted.
pub fn inventory(node: &Node) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    let mut add = |prefix: &str, text: String| {
        lines.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("valid_lft"))
                .map(|l| format!("{prefix}: {l}")),
        )
    };
    add("link", node.run_ok("ip", &["-br", "link", "show"])?);
    add("addr", node.run_ok("ip", &["-br", "addr", "show"])?);
    for fam in ["-4", "-6"] {
        add(
            "route",
            node.run_ok("ip", &[fam, "route", "show", "table", "all"])?,
        );
        add("rule", node.run_ok("ip", &[fam, "rule", "show"])?);
    }
    // Counters move with traffic; what matters is which tables and rules exist.
    let nft = node.run_ok("nft", &["-s", "list", "ruleset"])?;
    add("nft", nft);
    // What use_vmac sets on the base interface changes how it answers ARP.
    let ifn = node.ifname();
    let keys: Vec<String> = ["arp_ignore", "arp_filter", "arp_announce"]
        .iter()
        .flat_map(|k| {
            [
                format!("net.ipv4.conf.{ifn}.{k}"),
                format!("net.ipv4.conf.all.{k}"),
            ]
        })
        .collect();
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    add("sysctl", node.run_ok("sysctl", &keys)?);
    lines.sort();
    Ok(lines)
}

/// The bridge port (in the bridge's namespace) that the bridge's forwarding database has
/// learned `mac` on: where the LAN's frames for that MAC go.
pub fn fdb_port(lab: &Lab, mac: &str) -> Result<Option<String>> {
    let mut c = Command::new("ip");
    c.args([
        "netns",
        "exec",
        lab.bridge_ns(),
        "bridge",
        "fdb",
        "show",
        "br",
        "br0",
    ]);
    let out = run_bounded(c, crate::COMMAND_TIMEOUT)?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        (w.next()? == mac).then_some(())?;
        w.skip_while(|x| *x != "dev").nth(1).map(str::to_string)
    }))
}

/// The lines of `after` that are not in `before`, and those gone: (`+ line` / `- line`).
pub fn inventory_diff(before: &[String], after: &[String]) -> Vec<String> {
    let mut d: Vec<String> = after
        .iter()
        .filter(|l| !before.contains(l))
        .map(|l| format!("+ {l}"))
        .collect();
    d.extend(
        before
            .iter()
            .filter(|l| !after.contains(l))
            .map(|l| format!("- {l}")),
    );
    d
}

/// The probability, per advertisement of the Master, that a Backup takes over when each
/// advertisement is lost independently with probability `p`: the advertisement arrives and
/// the next three do not. With Master_Down_Interval = 3 × interval + Skew_Time and
/// 0 < Skew_Time < interval (RFC 9568 §6.1), the timer armed by an arrival fires after
/// the third advertisement is due and before the fourth.
pub fn takeover_probability(p: f64) -> f64 {
    (1.0 - p) * p.powi(3)
}

/// The smallest `k` with P(X > k) < `alpha` for X ~ Binomial(`n`, `q`): a count above it
/// happens by chance less often than `alpha`.
pub fn binomial_upper(n: u64, q: f64, alpha: f64) -> u64 {
    if q <= 0.0 {
        return 0;
    }
    if q >= 1.0 {
        return n;
    }
    let pmf = binomial_pmf(n, q);
    let mut tail = 0.0;
    for k in (0..=n).rev() {
        // tail = P(X > k) before adding pmf(k)
        if tail >= alpha {
            return k + 1;
        }
        tail += pmf[k as usize];
    }
    0
}

/// The largest `k` with P(X < k) < `alpha` for X ~ Binomial(`n`, `q`): a count below it
/// happens by chance less often than `alpha`.
pub fn binomial_lower(n: u64, q: f64, alpha: f64) -> u64 {
    if q <= 0.0 {
        return 0;
    }
    if q >= 1.0 {
        return n;
    }
    let pmf = binomial_pmf(n, q);
    let mut below = 0.0;
    for k in 0..=n {
        // below = P(X < k) before adding pmf(k)
        below += pmf[k as usize];
        if below >= alpha {
            return k;
        }
    }
    n
}

/// P(X = k) for k in 0..=n, computed in log space (no underflow for large n).
fn binomial_pmf(n: u64, q: f64) -> Vec<f64> {
    let (lq, lr) = (q.ln(), (1.0 - q).ln());
    // log pmf(k+1) = log pmf(k) + ln((n-k)/(k+1)) + ln(q/(1-q))
    let mut pmf = Vec::with_capacity(n as usize + 1);
    let mut cur = n as f64 * lr;
    for k in 0..=n {
        pmf.push(cur.exp());
        cur += ((n - k) as f64 / (k + 1) as f64).ln() + lq - lr;
    }
    pmf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monitor_lines_are_read() {
        let e = parse_event(
            "[2026-12-03T18:17:50.036612] Deleted 1: lo    inet 10.99.250.5/24 scope global lo",
        )
        .expect("parsed");
        assert!(e.deleted);
        assert_eq!(e.addr, "10.99.250.5".parse::<IpAddr>().expect("ip"));
        assert_eq!(e.t_ns, 1_796_321_870_036_612_000);
        let a =
            parse_event("[1970-01-01T00:00:01.000001] 4: vrrp.51    inet6 fd99:3::100/64 scope")
                .expect("parsed");
        assert_eq!((a.t_ns, a.deleted), (1_000_001_000, false));
        assert!(parse_event("       valid_lft forever preferred_lft forever").is_none());
    }

    #[test]
    fn logs_are_counted() {
        let v = Daemon::Vrrpd {
            binary: "vrrpd".into(),
        };
        let log = "VI_1: INIT -> BACKUP (Startup)\nVI_1: BACKUP -> MASTER (MasterDownTimer), x\n\
                   VI_1: MASTER -> BACKUP (HigherPriorityAdvertisement)\nVI_2: BACKUP -> MASTER (x)";
        assert_eq!(
            count_transitions(log, &v, "VI_1"),
            Transitions {
                to_master: 1,
                to_backup: 1
            }
        );
        let k = "(VI_1) Entering BACKUP STATE (init)\n(VI_1) Entering MASTER STATE\n";
        let t = count_transitions(k, &Daemon::Keepalived, "VI_1");
        assert_eq!((t.to_master, t.to_backup), (1, 1));
    }

    #[test]
    fn nft_counters_in_order() {
        let l = "iifname \"eth0\" ip saddr 10.99.3.1 ip protocol 112 counter packets 12 bytes 480 \
                 numgen random mod 100 < 30 counter packets 4 bytes 160 drop";
        assert_eq!(counters(l), vec![12, 4]);
    }

    #[test]
    fn binomial_bound() {
        // Binomial(10, 0.5): P(X > 9) = 1/1024, P(X > 8) = 11/1024.
        assert_eq!(binomial_upper(10, 0.5, 0.002), 9);
        assert_eq!(binomial_upper(10, 0.5, 0.0005), 10);
        assert_eq!(binomial_upper(100, 0.0, 1e-6), 0);
        // Poisson-like: mean 62.5; a 1e-6 tail lies about five standard deviations above.
        let b = binomial_upper(1000, takeover_probability(0.5), 1e-6);
        assert!((95..=110).contains(&b), "{b}");
        // P(X < 1) = 1/1024, P(X < 2) = 11/1024.
        assert_eq!(binomial_lower(10, 0.5, 0.002), 1);
        assert_eq!(binomial_lower(10, 0.5, 0.0005), 0);
        let l = binomial_lower(1000, takeover_probability(0.5), 1e-6);
        assert!((25..=35).contains(&l), "{l}");
        // Large n does not underflow.
        assert!(binomial_upper(200_000, 0.0625, 1e-6) > 12_500);
        assert!((takeover_probability(0.1) - 0.0009).abs() < 1e-12);
    }
}
