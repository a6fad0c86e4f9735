//! What the kernel holds, read with ipvsadm (the reference observer), and the daemons
//! under test: vrrpd and keepalived 2.2.7, each in the foreground in a namespace.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use vrrp_control::LvsStatus;

use super::lab::{IPVSADM, Lab};

/// The IPVS table of `ns`, as ipvsadm -Ln prints it: each service line (whitespace
/// squeezed) with its real servers' address, forwarding method and weight, sorted (the
/// connection counters are left out).
pub(crate) type Table = BTreeMap<String, Vec<String>>;

pub(crate) fn table(lab: &Lab, ns: &str) -> Table {
    parse_table(&lab.exec(ns, &[IPVSADM, "-Ln"]))
}

fn parse_table(text: &str) -> Table {
    let mut out = Table::new();
    let mut current: Option<String> = None;
    for line in text.lines().skip(3) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.first() {
            Some(&"->") => {
                if let Some(service) = &current {
                    let rs = words.get(1..4).map(|w| w.join(" ")).unwrap_or_default();
                    out.entry(service.clone()).or_default().push(rs);
                }
            }
            Some(_) => {
                let service = words.join(" ");
                out.entry(service.clone()).or_default();
                current = Some(service);
            }
            None => {}
        }
    }
    out.values_mut().for_each(|v| v.sort());
    out
}

/// Connections, packets and bytes (both directions) of a service or a real server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Counters {
    pub connections: u64,
    pub packets: u64,
    pub bytes: u64,
}

/// Counters by service or "service -> real server".
pub(crate) type StatsMap = BTreeMap<String, Counters>;

/// `ipvsadm -Ln --stats --exact`: per "TCP 10.99.210.100:80" and per
/// "TCP 10.99.210.100:80 -> 10.99.211.11:8080".
pub(crate) fn stats(lab: &Lab, ns: &str) -> StatsMap {
    let text = lab.exec(ns, &[IPVSADM, "-Ln", "--stats", "--exact"]);
    let mut out = BTreeMap::new();
    let mut service = String::new();
    for line in text.lines().skip(3) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let (key, numbers) = match words.first() {
            Some(&"->") if words.len() >= 7 => (format!("{service} -> {}", words[1]), &words[2..]),
            Some(_) if words.len() >= 7 => {
                service = format!("{} {}", words[0], words[1]);
                (service.clone(), &words[2..])
            }
            _ => continue,
        };
        let n: Vec<u64> = numbers.iter().filter_map(|w| w.parse().ok()).collect();
        if let [conns, inpkts, outpkts, inbytes, outbytes, ..] = n[..] {
            let c = Counters {
                connections: conns,
                packets: inpkts + outpkts,
                bytes: inbytes + outbytes,
            };
            out.insert(key, c);
        }
    }
    out
}

/// The same counters as `vrrpctl lvs --json` shows them, keyed like [`stats`].
pub(crate) fn lvs_counters(status: &LvsStatus) -> StatsMap {
    let mut out = BTreeMap::new();
    for s in &status.services {
        let service = ipvsadm_service(&s.service);
        let c = |t: &vrrp_control::Traffic| Counters {
            connections: t.connections,
            packets: t.packets,
            bytes: t.bytes,
        };
        out.insert(service.clone(), c(&s.traffic));
        for rs in &s.real_servers {
            let addr = rs.address.replace(['[', ']'], "");
            out.insert(format!("{service} -> {addr}"), c(&rs.traffic));
        }
    }
    out
}

/// `[10.99.210.100]:tcp:80` -> `TCP 10.99.210.100:80`; `FWM 5` stays.
fn ipvsadm_service(id: &str) -> String {
    let Some(rest) = id.strip_prefix('[') else {
        return id.to_string();
    };
    let Some((addr, rest)) = rest.split_once("]:") else {
        return id.to_string();
    };
    let Some((proto, port)) = rest.split_once(':') else {
        return id.to_string();
    };
    format!("{} {addr}:{port}", proto.to_ascii_uppercase())
}

/// Polls `read` until two readings `settle` apart agree and `done` holds (or `timeout`).
pub(crate) fn settled<T: PartialEq + Clone>(
    timeout: Duration,
    settle: Duration,
    mut read: impl FnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> Result<T, T> {
    let deadline = Instant::now() + timeout;
    let mut last = read();
    loop {
        std::thread::sleep(settle);
        let now = read();
        if now == last && done(&now) {
            return Ok(now);
        }
        if Instant::now() >= deadline {
            return Err(now);
        }
        last = now;
    }
}

pub(crate) fn vrrpd_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vrrpd"))
}

/// vrrpd running in a namespace, with its own files in the lab's directory.
pub(crate) struct Vrrpd {
    pub index: usize,
    pub label: String,
    pub socket: String,
    pub ns: String,
}

impl Vrrpd {
    /// Starts vrrpd on `conf` in `ns` and waits until its control socket answers.
    pub(crate) fn start(lab: &mut Lab, ns: &str, label: &str, conf: &str) -> Vrrpd {
        let path = |ext: &str| {
            lab.path(&format!("{label}.{ext}"))
                .to_string_lossy()
                .into_owned()
        };
        let (file, pid, socket) = (path("conf"), path("pid"), path("sock"));
        std::fs::write(&file, conf).expect("vrrpd's configuration");
        let (state, stats) = (path("state.json"), path("stats.json"));
        let binary = vrrpd_binary().to_string_lossy().into_owned();
        let args = [
            binary.as_str(),
            "-n",
            "-l",
            "-D",
            "-f",
            &file,
            "-p",
            &pid,
            "--control-socket",
            &socket,
            "--state-file",
            &state,
            "--stats-file",
            &stats,
        ];
        let index = lab.spawn(ns, label, &args);
        let d = Vrrpd {
            index,
            label: label.to_string(),
            socket,
            ns: ns.to_string(),
        };
        let up =
            vrrp_testlab::wait_until(Duration::from_secs(60), Duration::from_millis(200), || {
                d.try_lvs().is_ok()
            });
        assert!(up, "vrrpd did not answer within 60 s:\n{}", lab.tail(label));
        d
    }

    /// `vrrpctl lvs --json`.
    pub(crate) fn try_lvs(&self) -> Result<LvsStatus, String> {
        // Found once: every process start is slow under TCG.
        static CTL: std::sync::OnceLock<Result<String, String>> = std::sync::OnceLock::new();
        let ctl = CTL.get_or_init(|| {
            vrrp_testlab::vrrpctl_next_to(&vrrpd_binary())
                .map(|p| p.to_string_lossy().into_owned())
                .map_err(|e| e.to_string())
        });
        if !std::path::Path::new(&self.socket).exists() {
            return Err(format!("{} is not there yet", self.socket));
        }
        let out = super::lab::run(ctl.as_ref()?, &["--socket", &self.socket, "lvs", "--json"]);
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        serde_json::from_slice(&out.stdout).map_err(|e| format!("vrrpctl lvs --json: {e}"))
    }

    pub(crate) fn lvs(&self, lab: &Lab) -> LvsStatus {
        self.try_lvs()
            .unwrap_or_else(|e| panic!("{e}\n{}", lab.tail(&self.label)))
    }

    /// SIGTERM and wait: whether it ended within the grace time.
    pub(crate) fn stop(&self, lab: &mut Lab) -> bool {
        lab.stop(self.index, Duration::from_secs(30))
    }
}

/// keepalived 2.2.7's checker process only (`--check`), in the foreground.
pub(crate) fn keepalived(lab: &mut Lab, ns: &str, label: &str, conf: &str) -> usize {
    let path = |ext: &str| {
        lab.path(&format!("{label}.{ext}"))
            .to_string_lossy()
            .into_owned()
    };
    let file = path("conf");
    std::fs::write(&file, conf).expect("keepalived's configuration");
    let (pid, vrrp, checkers, bfd) = (
        path("pid"),
        path("vrrp.pid"),
        path("chk.pid"),
        path("bfd.pid"),
    );
    let args = [
        "/usr/sbin/keepalived".to_string(),
        "--dont-fork".into(),
        "--log-console".into(),
        "--log-detail".into(),
        "--no-syslog".into(),
        "--check".into(),
        "--dont-respawn".into(),
        format!("--use-file={file}"),
        format!("--pid={pid}"),
        format!("--vrrp_pid={vrrp}"),
        format!("--checkers_pid={checkers}"),
        format!("--bfd_pid={bfd}"),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let index = lab.spawn(ns, label, &args);
    lab.kill_at_drop(PathBuf::from(checkers));
    index
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_table_is_read_like_ipvsadm_prints_it() {
        super::super::lab::in_vm();
        let text = "IP Virtual Server version 1.2.1 (size=4096)\n\
            Prot LocalAddress:Port Scheduler Flags\n\
            \x20 -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
            TCP  10.0.0.1:80 wrr persistent 50\n\
            \x20 -> 10.0.0.3:80                  Masq    1      4          0\n\
            \x20 -> 10.0.0.2:80                  Masq    3      0          0\n\
            FWM  10 sh\n";
        let t = super::parse_table(text);
        assert_eq!(t.len(), 2);
        assert_eq!(
            t["TCP 10.0.0.1:80 wrr persistent 50"],
            vec!["10.0.0.2:80 Masq 3", "10.0.0.3:80 Masq 1"]
        );
        assert!(t["FWM 10 sh"].is_empty());
        assert_eq!(
            super::ipvsadm_service("[10.0.0.1]:tcp:80"),
            "TCP 10.0.0.1:80"
        );
    }
}
