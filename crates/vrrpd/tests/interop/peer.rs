//! The routers of an interop lab: vrrpd, keepalived or FRR's vrrpd on one node,
//! started, crashed and stopped the same way, and asked the same question: are
//! you Master?
//!
//! keepalived and vrrpd add the VIP to `eth0` when Master: the Master is the
//! node whose daemon runs and holds the VIP. FRR's vrrpd keeps the VIP on a
//! macvlan with the virtual MAC that the operator created (here: the test) and
//! sets that macvlan `protodown on` when Backup: its Master is the node whose
//! vrrpd runs and whose macvlan is not protodown.

use std::net::{IpAddr, Ipv6Addr};
use std::path::PathBuf;
use std::time::Duration;
use vrrp_testlab::{
    Daemon, DaemonProc, KeepalivedConf, Lab, Node, Proc, SIGTERM, VrrpInstance, find_tool,
    wait_until,
};

pub(crate) const VRID: u8 = 51;

/// Where FRR's daemons are installed by the Debian package `frr`.
pub(crate) const FRR_ZEBRA: &str = "/usr/lib/frr/zebra";
pub(crate) const FRR_VRRPD: &str = "/usr/lib/frr/vrrpd";

/// Protocol version and address family of a scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// VRRPv2, IPv4, no authentication.
    V2,
    /// VRRPv2, IPv4, `auth_type PASS`.
    V2Pass,
    /// VRRPv3, IPv4.
    V3v4,
    /// VRRPv3, IPv6.
    V3v6,
}

impl Mode {
    pub(crate) fn version(self) -> u8 {
        match self {
            Mode::V2 | Mode::V2Pass => 2,
            Mode::V3v4 | Mode::V3v6 => 3,
        }
    }

    pub(crate) fn v2(self) -> bool {
        matches!(self, Mode::V2 | Mode::V2Pass)
    }

    pub(crate) fn ipv6(self) -> bool {
        self == Mode::V3v6
    }

    /// Advertisement interval: whole seconds are all VRRPv2 has; VRRPv3 uses
    /// 0.1 s to keep the suite short.
    pub(crate) fn advert_int(self) -> f64 {
        match self {
            Mode::V2 | Mode::V2Pass => 1.0,
            Mode::V3v4 | Mode::V3v6 => 0.1,
        }
    }

    /// How long a settled state is watched to be sure it is stable: more than
    /// twice the Master_Down_Interval.
    pub(crate) fn hold(self) -> Duration {
        match self {
            Mode::V2 | Mode::V2Pass => Duration::from_millis(2500),
            Mode::V3v4 | Mode::V3v6 => Duration::from_millis(1200),
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::V2 => "VRRPv2",
            Mode::V2Pass => "VRRPv2+PASS",
            Mode::V3v4 => "VRRPv3/IPv4",
            Mode::V3v6 => "VRRPv3/IPv6",
        }
    }
}

/// Which implementation runs on a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Vrrpd,
    Keepalived,
    Frr,
}

impl Kind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Vrrpd => "vrrpd",
            Kind::Keepalived => "keepalived",
            Kind::Frr => "frr",
        }
    }
}

/// What a router is configured with.
#[derive(Clone, Debug)]
pub(crate) struct Spec {
    pub mode: Mode,
    pub priority: u8,
    /// Overrides the mode's interval.
    pub advert_int: Option<f64>,
    pub nopreempt: bool,
    /// Unicast to this peer (from the node's own address).
    pub unicast_peer: Option<IpAddr>,
    /// Raw lines for the keepalived.conf instance.
    pub extra: Vec<String>,
    /// IPv6: list only the global VIP (no link-local one first).
    pub global_first: bool,
    /// Raw lines for keepalived only (keywords vrrpd does not know).
    pub keepalived_extra: Vec<String>,
}

impl Spec {
    pub(crate) fn new(mode: Mode, priority: u8) -> Spec {
        Spec {
            mode,
            priority,
            advert_int: None,
            nopreempt: false,
            unicast_peer: None,
            extra: Vec::new(),
            global_first: false,
            keepalived_extra: Vec::new(),
        }
    }

    pub(crate) fn advert_int(mut self, secs: f64) -> Spec {
        self.advert_int = Some(secs);
        self
    }

    pub(crate) fn nopreempt(mut self) -> Spec {
        self.nopreempt = true;
        self
    }

    pub(crate) fn unicast_peer(mut self, ip: IpAddr) -> Spec {
        self.unicast_peer = Some(ip);
        self
    }

    pub(crate) fn keepalived_line(mut self, l: &str) -> Spec {
        self.keepalived_extra.push(l.to_string());
        self
    }

    pub(crate) fn global_first(mut self) -> Spec {
        self.global_first = true;
        self
    }

    pub(crate) fn line(mut self, l: &str) -> Spec {
        self.extra.push(l.to_string());
        self
    }

    /// The advertisement interval in seconds.
    pub(crate) fn interval(&self) -> f64 {
        self.advert_int.unwrap_or(self.mode.advert_int())
    }
}

/// The VIP of the lab for a mode (`.100` / `::100`).
pub(crate) fn vip(lab: &Lab, mode: Mode) -> IpAddr {
    if mode.ipv6() {
        IpAddr::V6(lab.vip6(100))
    } else {
        IpAddr::V4(lab.vip4(100))
    }
}

/// The link-local virtual address listed first in IPv6 advertisements
/// (RFC 5798 §5.2.9); every lab is its own link, so one value serves all.
pub(crate) const LL_VIP: &str = "fe80::5:51";

/// The keepalived.conf that both keepalived and vrrpd run. IPv6 instances
/// list [`LL_VIP`] first, then the lab's global VIP, unless `global_first`.
pub(crate) fn keepalived_conf(lab: &Lab, node: &Node, spec: &Spec, kind: Kind) -> String {
    let v = vip(lab, spec.mode);
    let plen = if spec.mode.ipv6() { 64 } else { 24 };
    let mut i = VrrpInstance::new("VI_1", "eth0", VRID, spec.priority)
        .version(spec.mode.version())
        .advert_int(spec.interval());
    if spec.mode.ipv6() && !spec.global_first {
        i = i.vip(format!("{LL_VIP}/64"));
    }
    i = i.vip(format!("{v}/{plen}"));
    if spec.mode == Mode::V2Pass {
        i = i.auth_pass("interop");
    }
    if spec.nopreempt {
        i = i.nopreempt();
    }
    if let Some(peer) = spec.unicast_peer {
        let src: IpAddr = if spec.mode.ipv6() {
            node.ipv6().into()
        } else {
            node.ipv4().into()
        };
        i = i
            .unicast_src(src.to_string())
            .unicast_peer(peer.to_string());
    }
    for l in &spec.extra {
        i = i.line(l.clone());
    }
    if kind == Kind::Keepalived {
        for l in &spec.keepalived_extra {
            i = i.line(l.clone());
        }
    }
    KeepalivedConf::new()
        .router_id(node.name())
        .instance(i)
        .render()
}

/// FRR's vrrpd.conf for the same router.
pub(crate) fn frr_conf(lab: &Lab, spec: &Spec) -> String {
    let v = vip(lab, spec.mode);
    let ms = (spec.interval() * 1000.0).round() as u32;
    let mut s = format!(
        "log stdout debugging\n!\ninterface eth0\n vrrp {VRID} version {}\n vrrp {VRID} priority {}\n vrrp {VRID} advertisement-interval {ms}\n",
        spec.mode.version(),
        spec.priority
    );
    if spec.nopreempt {
        s.push_str(&format!(" no vrrp {VRID} preempt\n"));
    }
    if spec.mode.ipv6() {
        if !spec.global_first {
            s.push_str(&format!(" vrrp {VRID} ipv6 {LL_VIP}\n"));
        }
        s.push_str(&format!(" vrrp {VRID} ipv6 {v}\n"));
    } else {
        s.push_str(&format!(" vrrp {VRID} ip {v}\n"));
    }
    s.push_str("!\n");
    s
}

/// The vrrpd under test.
pub(crate) fn vrrpd_daemon() -> Daemon {
    Daemon::Vrrpd {
        binary: PathBuf::from(env!("CARGO_BIN_EXE_vrrpd")),
    }
}

/// Why a test with this peer cannot run here, if it cannot.
pub(crate) fn skip_reason(peer: Kind) -> Option<String> {
    if let Some(r) = vrrp_testlab::skip_reason(&["nft", "tcpdump"]) {
        return Some(r);
    }
    match peer {
        Kind::Vrrpd => None,
        Kind::Keepalived => find_tool("keepalived")
            .is_none()
            .then(|| "keepalived is not installed (apt-get install keepalived)".to_string()),
        Kind::Frr => (!std::path::Path::new(FRR_VRRPD).is_file()
            || !std::path::Path::new(FRR_ZEBRA).is_file())
        .then(|| format!("FRR is not installed ({FRR_VRRPD}; apt-get install frr)")),
    }
}

/// True when the test must be skipped; reports it (a failure under `VRRPD_LAB_REQUIRED=1`).
pub(crate) fn skip(test: &str, peers: &[Kind]) -> bool {
    for p in peers {
        if let Some(r) = skip_reason(*p) {
            vrrp_testlab::skip(&format!("{test}: {r}"));
            return true;
        }
    }
    false
}

enum Running {
    Daemon(DaemonProc),
    Frr(Proc),
}

/// Set when an FRR vrrpd of this test process logged its own start-up bind race (FRR 8.4
/// `vrrp.c`: "[VRID n] [IPv6] Failed to find address to bind on IF"); read and cleared by
/// the interop tests' retry, which must not retry on other failures.
pub(crate) static FRR_BIND_RACE: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Whether `log` (an FRR vrrpd's own output) has FRR's bind race line.
fn has_frr_bind_race(log: &str) -> bool {
    log.lines()
        .any(|l| l.contains("[VRID ") && l.contains("Failed to find address to bind on "))
}

/// One node of the lab and the VRRP implementation on it.
pub(crate) struct Router {
    pub node: Node,
    pub kind: Kind,
    vip: IpAddr,
    running: Option<Running>,
    /// FRR: the zebra of this node (started with the first vrrpd).
    zebra: Option<Proc>,
    /// FRR: the macvlan holding the VIP.
    macvlan: Option<String>,
    starts: u32,
}

impl Router {
    pub(crate) fn new(node: Node, kind: Kind, vip: IpAddr) -> Router {
        Router {
            node,
            kind,
            vip,
            running: None,
            zebra: None,
            macvlan: None,
            starts: 0,
        }
    }

    pub(crate) fn label(&self) -> String {
        format!("{}({})", self.node.name(), self.kind.name())
    }

    /// The source address of this router's advertisements in `mode`: the
    /// primary IPv4 address of eth0, or the link-local IPv6 address of the
    /// interface that sends (FRR: its macvlan).
    pub(crate) fn primary(&self, mode: Mode) -> Option<IpAddr> {
        if mode.ipv6() {
            let ifname = match self.kind {
                Kind::Frr => "mvl6",
                _ => "eth0",
            };
            link_local(&self.node, ifname).map(IpAddr::V6)
        } else {
            Some(IpAddr::V4(self.node.ipv4()))
        }
    }

    pub(crate) fn is_running(&self) -> bool {
        match &self.running {
            Some(Running::Daemon(d)) => d.is_running(),
            Some(Running::Frr(p)) => p.is_running(),
            None => false,
        }
    }

    /// Master: the daemon runs and holds the VIP (FRR: its macvlan is not
    /// protodown). A crashed daemon's leftovers don't count.
    pub(crate) fn is_master(&self) -> bool {
        if !self.is_running() {
            return false;
        }
        match self.kind {
            Kind::Frr => {
                let Some(m) = &self.macvlan else { return false };
                match self
                    .node
                    .run_ok("ip", &["-j", "-d", "link", "show", "dev", m])
                {
                    Ok(j) => !j.contains("\"proto_down\":true"),
                    // A failed probe must not read as "not Master".
                    Err(e) => panic!("{}: cannot read the state of {m}: {e}", self.node.name()),
                }
            }
            _ => self.node.has_address(self.vip),
        }
    }

    /// Starts the implementation with `spec` and waits until it runs.
    pub(crate) fn start(&mut self, lab: &Lab, spec: &Spec) -> Result<(), String> {
        if self.is_running() {
            return Err(format!("{} already runs", self.label()));
        }
        self.starts += 1;
        match self.kind {
            Kind::Vrrpd | Kind::Keepalived => {
                let d = if self.kind == Kind::Vrrpd {
                    vrrpd_daemon()
                } else {
                    Daemon::Keepalived
                };
                let conf = keepalived_conf(lab, &self.node, spec, self.kind);
                let p = d.start(&self.node, &conf).map_err(|e| e.to_string())?;
                p.wait_started(Duration::from_secs(10))
                    .map_err(|e| e.to_string())?;
                self.running = Some(Running::Daemon(p));
                Ok(())
            }
            Kind::Frr => self.start_frr(lab, spec),
        }
    }

    fn start_frr(&mut self, lab: &Lab, spec: &Spec) -> Result<(), String> {
        let e = |e: vrrp_testlab::Error| e.to_string();
        let name = self.node.name().to_string();
        let dir = self.node.lab_path(&format!("{name}-frr"));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        // FRR's daemons drop privileges to the `frr` user (of group `frrvty`):
        // their pid files and vty sockets go in a directory it owns.
        let mut chown = std::process::Command::new("chown");
        chown.arg("frr:frr").arg(&dir);
        let out = vrrp_testlab::run_bounded(chown, Duration::from_secs(10)).map_err(e)?;
        if !out.status.success() {
            return Err(format!(
                "chown frr:frr {}: {}",
                dir.display(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let d = |f: &str| dir.join(f).to_string_lossy().into_owned();
        let sock = d("zserv.api");
        let (mv, mac) = if spec.mode.ipv6() {
            ("mvl6", format!("00:00:5e:00:02:{VRID:02x}"))
        } else {
            ("mvl4", format!("00:00:5e:00:01:{VRID:02x}"))
        };
        if self.macvlan.as_deref() != Some(mv) {
            // The operator's part (FRR does not create it): a bridge-mode
            // macvlan with the virtual MAC, a random link-local address, and
            // the VIP; protodown until FRR's vrrpd decides.
            let n = &self.node;
            n.run_ok(
                "ip",
                &[
                    "link", "add", mv, "link", "eth0", "type", "macvlan", "mode", "bridge",
                ],
            )
            .map_err(e)?;
            n.run_ok("ip", &["link", "set", mv, "addrgenmode", "random"])
                .map_err(e)?;
            n.run_ok("ip", &["link", "set", mv, "address", &mac])
                .map_err(e)?;
            let plen = if spec.mode.ipv6() { 64 } else { 24 };
            let cidr = format!("{}/{plen}", self.vip);
            let mut args = vec!["addr", "add", cidr.as_str(), "dev", mv];
            if spec.mode.ipv6() {
                args.push("nodad");
            }
            n.run_ok("ip", &args).map_err(e)?;
            if spec.mode.ipv6() && !spec.global_first {
                let ll = format!("{LL_VIP}/64");
                n.run_ok("ip", &["addr", "add", &ll, "dev", mv, "nodad"])
                    .map_err(e)?;
            }
            // Up with carrier first: IPv6 makes the (random) link-local
            // address only then; it stays through protodown.
            n.run_ok("ip", &["link", "set", mv, "up"]).map_err(e)?;
            if spec.mode.ipv6() {
                let ok = wait_until(Duration::from_secs(5), Duration::from_millis(50), || {
                    link_local(n, mv).is_some()
                });
                if !ok {
                    return Err(format!("{name}: no link-local address on {mv}"));
                }
            }
            self.macvlan = Some(mv.to_string());
        }
        if self.zebra.as_ref().is_none_or(|z| !z.is_running()) {
            // A killed zebra leaves its socket: wait for the new one.
            let _ = std::fs::remove_file(&sock);
            let conf = self
                .node
                .write_file(&format!("{name}-zebra.conf"), "!\n")
                .map_err(e)?;
            let z = self
                .node
                .spawn(
                    FRR_ZEBRA,
                    &[
                        "-f",
                        &conf.to_string_lossy(),
                        "-i",
                        &d("zebra.pid"),
                        "-z",
                        &sock,
                        "--vty_socket",
                        &dir.to_string_lossy(),
                        "-P",
                        "0",
                        "--log",
                        "stdout",
                    ],
                    &[],
                )
                .map_err(e)?;
            let up = wait_until(Duration::from_secs(10), Duration::from_millis(20), || {
                std::path::Path::new(&sock).exists() || !z.is_running()
            });
            if !up || !z.is_running() {
                return Err(format!("zebra on {name} did not start:\n{}", z.tail(20)));
            }
            // FRR's vrrpd binds its IPv6 socket to the macvlan's link-local
            // address as zebra reports it; started at once, it may not know
            // the address yet ("Failed to find address to bind"), then
            // advertises nothing or compares itself as "::" in elections.
            // Give zebra a moment to learn the interfaces.
            std::thread::sleep(Duration::from_millis(1000));
            self.zebra = Some(z);
        }
        let conf = self
            .node
            .write_file(
                &format!("{name}-frr-vrrpd-{}.conf", self.starts),
                &frr_conf(lab, spec),
            )
            .map_err(e)?;
        let p = self
            .node
            .spawn(
                FRR_VRRPD,
                &[
                    "-f",
                    &conf.to_string_lossy(),
                    "-i",
                    &d("vrrpd.pid"),
                    "-z",
                    &sock,
                    "--vty_socket",
                    &dir.to_string_lossy(),
                    "-P",
                    "0",
                    "--log",
                    "stdout",
                ],
                &[],
            )
            .map_err(e)?;
        let pid = d("vrrpd.pid");
        wait_until(Duration::from_secs(10), Duration::from_millis(20), || {
            std::path::Path::new(&pid).exists() || !p.is_running()
        });
        if !p.is_running() {
            return Err(format!("FRR vrrpd on {name} exited:\n{}", p.tail(20)));
        }
        // FRR's vrrpd starts in Backup and has zebra set the macvlan
        // protodown (with a reason bit; a protodown set by hand would be
        // one zebra cannot clear). Until then the macvlan looks like a Master's.
        let ok = wait_until(Duration::from_secs(10), Duration::from_millis(20), || {
            self.node
                .run_ok("ip", &["-j", "-d", "link", "show", "dev", mv])
                .is_ok_and(|j| j.contains("\"proto_down\":true"))
        });
        if !ok {
            eprintln!("{name}: FRR's vrrpd did not set {mv} protodown within 10 s");
        }
        self.running = Some(Running::Frr(p));
        Ok(())
    }

    /// SIGKILL: no priority-0 advertisement, leftovers stay.
    pub(crate) fn crash(&mut self) {
        self.note_frr_bind_race();
        match self.running.take() {
            Some(Running::Daemon(d)) => {
                let _ = d.crash();
            }
            Some(Running::Frr(p)) => {
                let _ = p.kill_and_wait();
            }
            None => {}
        }
    }

    /// SIGTERM: the Master sends priority 0 and releases the VIP. Returns
    /// whether the daemon exited on its own within 10 s.
    pub(crate) fn stop(&mut self) -> bool {
        self.note_frr_bind_race();
        match self.running.take() {
            Some(Running::Daemon(d)) => d.stop(Duration::from_secs(10)).unwrap_or(false),
            Some(Running::Frr(p)) => {
                let _ = p.kill_main(SIGTERM);
                match p.wait_timeout(Duration::from_secs(10)) {
                    Ok(Some(_)) => true,
                    _ => {
                        let _ = p.kill_and_wait();
                        false
                    }
                }
            }
            None => true,
        }
    }

    /// FRR: deletes the macvlan and stops zebra (the daemon must be stopped),
    /// so that another implementation can run on the node. No-op otherwise.
    pub(crate) fn remove_frr_setup(&mut self) {
        if let Some(m) = self.macvlan.take() {
            let _ = self.node.run("ip", &["link", "del", &m]);
        }
        if let Some(z) = self.zebra.take() {
            let _ = z.kill_main(SIGTERM);
            if !matches!(z.wait_timeout(Duration::from_secs(5)), Ok(Some(_))) {
                let _ = z.kill_and_wait();
            }
        }
    }

    /// Everything the running daemon wrote (stdout and stderr).
    /// Records FRR's bind race ([`FRR_BIND_RACE`]) from this router's FRR log, before
    /// the process (and, at the lab's drop, its log) goes.
    fn note_frr_bind_race(&self) {
        if matches!(self.running, Some(Running::Frr(_))) && has_frr_bind_race(&self.log()) {
            FRR_BIND_RACE.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    pub(crate) fn log(&self) -> String {
        let p = match &self.running {
            Some(Running::Daemon(d)) => &d.proc,
            Some(Running::Frr(p)) => p,
            None => return String::new(),
        };
        let mut s = std::fs::read_to_string(p.stdout_path()).unwrap_or_default();
        s.push_str(&std::fs::read_to_string(p.stderr_path()).unwrap_or_default());
        s
    }

    /// The daemon's last output lines.
    pub(crate) fn tail(&self, n: usize) -> String {
        let mut s = match &self.running {
            Some(Running::Daemon(d)) => d.tail(n),
            Some(Running::Frr(p)) => p.tail(n),
            None => format!("{}: not running\n", self.label()),
        };
        if let Some(z) = &self.zebra {
            s.push_str(&z.tail(5));
        }
        s
    }
}

/// The (first) usable link-local IPv6 address of `ifname`, the virtual one aside.
pub(crate) fn link_local(node: &Node, ifname: &str) -> Option<Ipv6Addr> {
    let out = node
        .run_ok(
            "ip",
            &["-j", "-6", "addr", "show", "dev", ifname, "scope", "link"],
        )
        .ok()?;
    if out.contains("\"tentative\":true") {
        return None;
    }
    let vip: Ipv6Addr = LL_VIP.parse().ok()?;
    let pat = "\"local\":\"";
    let mut rest = out.as_str();
    while let Some(i) = rest.find(pat) {
        rest = &rest[i + pat.len()..];
        let a: Option<Ipv6Addr> = rest[..rest.find('"')?].parse().ok();
        if let Some(a) = a
            && a != vip
        {
            return Some(a);
        }
    }
    None
}

impl Drop for Router {
    /// A test that panics drops its routers before its lab: FRR's log is still there.
    fn drop(&mut self) {
        self.note_frr_bind_race();
    }
}
