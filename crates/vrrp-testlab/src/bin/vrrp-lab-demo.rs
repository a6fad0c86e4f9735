//! vrrp-lab-demo: a live VRRP failover demo on a namespace LAN.
//!
//! Three routers (priorities 200/150/100) share one VIP; a client probes the
//! VIP every 10 ms. The demo prints a timeline: the election, which MAC answers
//! the VIP, a crash of the Master (SIGKILL + cable pulled) and how long the VIP
//! was unreachable, the old Master returning and preempting, a clean SIGTERM
//! handover (priority 0), and cleanup. Needs root.
//!
//! Usage: vrrp-lab-demo [--daemon vrrpd|keepalived] [--vrrpd PATH]
//!                      [--advert-int SECS] [--keep]

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use vrrp_testlab::{
    Daemon, DaemonProc, KeepalivedConf, Lab, Node, ProbeReport, Prober, SIGTERM, VrrpInstance,
    skip_reason,
};

const TOTAL_BUDGET: Duration = Duration::from_secs(58);
const PROBE_INTERVAL: Duration = Duration::from_millis(10);
const VRID: u8 = 51;

struct Opts {
    daemon: Daemon,
    advert_int: f64,
    keep: bool,
}

fn usage() -> String {
    "usage: vrrp-lab-demo [--daemon vrrpd|keepalived] [--vrrpd PATH] [--advert-int SECS] [--keep]\n\
     \n\
     Builds a namespace LAN with three VRRP routers (priorities 200/150/100,\n\
     VRRPv3, one VIP) and a client, then shows election, crash failover,\n\
     preemption and a SIGTERM handover. Needs root, iproute2 and nftables;\n\
     --daemon keepalived needs keepalived. --vrrpd defaults to the vrrpd next\n\
     to this executable. --keep keeps the lab directory (configs, logs)."
        .into()
}

fn parse_args() -> Result<Opts, String> {
    let mut daemon = "vrrpd".to_string();
    let mut vrrpd: Option<PathBuf> = None;
    let mut advert_int = 1.0;
    let mut keep = false;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = |name: &str| {
            it.next()
                .ok_or(format!("{name} needs a value\n{}", usage()))
        };
        match a.as_str() {
            "--daemon" => daemon = val("--daemon")?,
            "--vrrpd" => vrrpd = Some(val("--vrrpd")?.into()),
            "--advert-int" => {
                let v = val("--advert-int")?;
                advert_int = v
                    .parse::<f64>()
                    .ok()
                    .filter(|x| (0.01..=5.0).contains(x))
                    .ok_or(format!("--advert-int: {v}: want seconds in 0.01..=5"))?;
            }
            "--keep" => keep = true,
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown argument {other}\n{}", usage())),
        }
    }
    let daemon = match daemon.as_str() {
        "keepalived" => Daemon::Keepalived,
        "vrrpd" => match vrrpd {
            Some(binary) => Daemon::Vrrpd { binary },
            None => Daemon::vrrpd_next_to_exe(),
        },
        other => return Err(format!("--daemon {other}: want vrrpd or keepalived")),
    };
    Ok(Opts {
        daemon,
        advert_int,
        keep,
    })
}

/// The timeline printer and the demo's clock and deadline.
struct Clock {
    t0: Instant,
    deadline: Instant,
}

impl Clock {
    fn say(&self, msg: impl AsRef<str>) {
        let t = self.t0.elapsed().as_secs_f64();
        let mut first = true;
        for line in msg.as_ref().lines() {
            if first {
                println!("[{t:7.3}s] {line}");
                first = false;
            } else {
                println!("           {line}");
            }
        }
    }

    /// Polls `cond` until true, `timeout`, the global deadline or Ctrl-C.
    fn wait(
        &self,
        what: &str,
        timeout: Duration,
        mut cond: impl FnMut() -> bool,
    ) -> Result<Duration, String> {
        let start = Instant::now();
        let end = (start + timeout).min(self.deadline);
        for _ in 0..100_000 {
            if vrrp_testlab::budget::interrupted() {
                return Err("interrupted".into());
            }
            if cond() {
                return Ok(start.elapsed());
            }
            if Instant::now() >= end {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!(
            "timed out after {:.1} s waiting for: {what}",
            start.elapsed().as_secs_f64()
        ))
    }

    fn pause(&self, d: Duration) -> Result<(), String> {
        let end = Instant::now() + d;
        let _ = self.wait("pause", d, || Instant::now() >= end);
        if vrrp_testlab::budget::interrupted() {
            return Err("interrupted".into());
        }
        Ok(())
    }
}

struct Router {
    node: Node,
    prio: u8,
    conf: String,
    daemon: Option<DaemonProc>,
}

struct Demo<'a> {
    clock: Clock,
    opts: &'a Opts,
    routers: Vec<Router>,
    client: Node,
    vip: IpAddr,
    step_timeout: Duration,
}

impl Demo<'_> {
    fn who(&self, mac: &str) -> String {
        self.routers
            .iter()
            .find(|r| r.node.mac() == mac)
            .map(|r| format!("{} ({mac})", r.node.name()))
            .unwrap_or_else(|| mac.to_string())
    }

    fn holders(&self) -> Vec<usize> {
        (0..self.routers.len())
            .filter(|&i| self.routers[i].node.has_address(self.vip))
            .collect()
    }

    fn start(&mut self, i: usize) -> Result<(), String> {
        let r = &mut self.routers[i];
        let d = self
            .opts
            .daemon
            .start(&r.node, &r.conf)
            .map_err(|e| e.to_string())?;
        d.wait_started(Duration::from_secs(10))
            .map_err(|e| e.to_string())?;
        r.daemon = Some(d);
        Ok(())
    }

    /// Waits until router `i` holds the VIP (and, if `alone`, only it among
    /// the routers whose link is up, given by `ignore`).
    fn wait_master(&self, i: usize, ignore: Option<usize>) -> Result<Duration, String> {
        let name = self.routers[i].node.name().to_string();
        self.clock.wait(
            &format!("{name} to hold the VIP alone"),
            self.step_timeout,
            || {
                let h = self.holders();
                h.contains(&i) && h.iter().all(|&j| j == i || Some(j) == ignore)
            },
        )
    }

    fn describe_outage(&self, rep: &ProbeReport, since: Duration) -> String {
        let after: Vec<_> = rep
            .outages()
            .into_iter()
            .filter(|o| o.end.is_none_or(|e| e >= since))
            .collect();
        if after.is_empty() {
            return "no probe lost".into();
        }
        let lost: usize = after.iter().map(|o| o.lost).sum();
        let longest = after
            .iter()
            .filter_map(|o| o.duration())
            .max()
            .unwrap_or_default();
        format!(
            "{lost} probe(s) lost, longest gap {:.3} s",
            longest.as_secs_f64()
        )
    }

    fn run(&mut self) -> Result<(), String> {
        let c = &self.clock;
        let adv = self.opts.advert_int;
        c.say(format!(
            "starting {} on r1, r2, r3 (VRRPv3, VRID {VRID}, advert_int {adv} s, VIP {}/24)",
            self.opts.daemon.name(),
            self.vip
        ));
        for i in 0..self.routers.len() {
            self.start(i)?;
        }
        let c = &self.clock;
        let took = self.wait_master(0, None)?;
        c.say(format!(
            "election: r1 (priority 200) is Master after {:.2} s; r2 and r3 are Backup",
            took.as_secs_f64()
        ));

        // The client probes the VIP for the rest of the demo.
        let v4 = match self.vip {
            IpAddr::V4(v) => v,
            IpAddr::V6(_) => return Err("IPv4 VIP expected".into()),
        };
        let probe_t0 = c.t0.elapsed();
        let prober = Prober::start(&self.client, v4, PROBE_INTERVAL, TOTAL_BUDGET)
            .map_err(|e| e.to_string())?;
        c.wait("the VIP to answer the client", self.step_timeout, || {
            prober.last_answer().is_some()
        })?;
        c.pause(Duration::from_secs(1))?;
        let snap = prober.snapshot();
        c.say(format!(
            "client {} probes the VIP every {} ms (ARP + ICMP echo): {}/{} answered, by {}",
            self.client.ipv4(),
            PROBE_INTERVAL.as_millis(),
            snap.answered(),
            snap.sent(),
            self.who(&snap.last_mac().unwrap_or_default())
        ));

        // 1. Crash of the Master.
        let r1 = &self.routers[0];
        let d1 = r1.daemon.clone().ok_or("r1 has no daemon")?;
        d1.crash().map_err(|e| e.to_string())?;
        r1.node.link_down().map_err(|e| e.to_string())?;
        let t_kill = prober.elapsed();
        c.say(format!(
            "CRASH: SIGKILL {} on r1 (pid {}) and r1's cable pulled",
            self.opts.daemon.name(),
            d1.pid()
        ));
        let took = self.wait_master(1, Some(0))?;
        c.say(format!(
            "r2 (priority 150) became Master {:.2} s after the crash",
            took.as_secs_f64()
        ));
        let r2mac = self.routers[1].node.mac().to_string();
        c.wait("the VIP to answer from r2", self.step_timeout, || {
            prober.last_answer().is_some_and(|(_, m)| m == r2mac)
        })?;
        let snap = prober.snapshot();
        let t_back = snap
            .first_answer_from(&r2mac, t_kill)
            .ok_or("no answer from r2 after the crash")?;
        c.say(format!(
            "VIP answers again, now from {}, {:.3} s after the crash; {}",
            self.who(&r2mac),
            (t_back.saturating_sub(t_kill)).as_secs_f64(),
            self.describe_outage(&snap, t_kill)
        ));
        c.pause(Duration::from_millis(500))?;

        // 2. The old Master comes back and preempts.
        let r1 = &self.routers[0];
        let vip_cidr = format!("{}/24", self.vip);
        if r1.node.has_address(self.vip) {
            // What a reboot would do: the crashed daemon's VIP is gone.
            r1.node.del_address(&vip_cidr).map_err(|e| e.to_string())?;
        }
        r1.node.link_up().map_err(|e| e.to_string())?;
        let t_back_up = prober.elapsed();
        self.start(0)?;
        let c = &self.clock;
        c.say("r1 is back (rebooted: cable in, daemon restarted); it has the highest priority");
        let took = self.wait_master(0, None)?;
        let r1mac = self.routers[0].node.mac().to_string();
        c.wait("the VIP to answer from r1", self.step_timeout, || {
            prober.last_answer().is_some_and(|(_, m)| m == r1mac)
        })?;
        let snap = prober.snapshot();
        c.say(format!(
            "r1 preempted r2 and is Master again ({:.2} s after restart); VIP answered by {}; {}",
            took.as_secs_f64(),
            self.who(&snap.last_mac().unwrap_or_default()),
            self.describe_outage(&snap, t_back_up)
        ));
        c.pause(Duration::from_millis(500))?;

        // 3. Clean handover: SIGTERM makes the Master send priority 0.
        let d1 = self.routers[0].daemon.clone().ok_or("r1 has no daemon")?;
        let t_term = prober.elapsed();
        c.say(format!(
            "SIGTERM {} on r1 (pid {}): it resigns with a priority 0 advertisement",
            self.opts.daemon.name(),
            d1.pid()
        ));
        let term_at = Instant::now();
        d1.proc.kill_main(SIGTERM).map_err(|e| e.to_string())?;
        self.wait_master(1, Some(0))?;
        let took = term_at.elapsed();
        if d1
            .proc
            .wait_timeout(self.step_timeout)
            .map_err(|e| e.to_string())?
            .is_none()
        {
            return Err("r1's daemon did not exit after SIGTERM".into());
        }
        let exited = term_at.elapsed();
        self.wait_master(1, None)?;
        c.wait("the VIP to answer from r2", self.step_timeout, || {
            prober.last_answer().is_some_and(|(_, m)| m == r2mac)
        })?;
        let c = &self.clock;
        let snap = prober.snapshot();
        c.say(format!(
            "r2 became Master {:.2} s after the SIGTERM (r1 exited after {:.2} s); VIP answered by {}; {}",
            took.as_secs_f64(),
            exited.as_secs_f64(),
            self.who(&snap.last_mac().unwrap_or_default()),
            self.describe_outage(&snap, t_term)
        ));
        c.pause(Duration::from_millis(300))?;
        let rep = prober.stop().map_err(|e| e.to_string())?;
        let who: Vec<String> = rep
            .mac_changes()
            .iter()
            .map(|(t, m)| format!("{:.2}s {}", (probe_t0 + *t).as_secs_f64(), self.who(m)))
            .collect();
        c.say(format!(
            "client summary: {} probes, {} answered; who answered (demo time):\n  {}",
            rep.sent(),
            rep.answered(),
            who.join("\n  ")
        ));
        if self.routers[2].node.has_address(self.vip) {
            return Err("r3 (priority 100) holds the VIP: it should have stayed Backup".into());
        }
        Ok(())
    }
}

fn build(lab: &mut Lab, opts: &Opts, clock: &Clock) -> Result<(Vec<Router>, Node, IpAddr), String> {
    let vip = lab.vip4(100);
    let mut routers = Vec::new();
    for (name, prio) in [("r1", 200u8), ("r2", 150), ("r3", 100)] {
        let node = lab.add_router(name).map_err(|e| e.to_string())?;
        let conf = KeepalivedConf::new()
            .router_id(name)
            .instance(
                VrrpInstance::new("VI_DEMO", node.ifname(), VRID, prio)
                    .version(3)
                    .advert_int(opts.advert_int)
                    .vip(format!("{vip}/24")),
            )
            .render();
        routers.push(Router {
            node,
            prio,
            conf,
            daemon: None,
        });
    }
    let client = lab.add_host("client").map_err(|e| e.to_string())?;
    let mut desc = format!(
        "LAN 10.99.{}.0/24 + fd99:{}::/64 on a bridge in namespace {}",
        lab.octet(),
        lab.octet(),
        lab.bridge_ns()
    );
    for r in &routers {
        desc.push_str(&format!(
            "\n  {:<6} {:<14} {}  priority {}",
            r.node.name(),
            r.node.ipv4().to_string(),
            r.node.mac(),
            r.prio
        ));
    }
    desc.push_str(&format!(
        "\n  {:<6} {:<14} {}",
        client.name(),
        client.ipv4().to_string(),
        client.mac()
    ));
    clock.say(desc);
    Ok((routers, client, vip.into()))
}

fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if let Some(why) = skip_reason(&["nft"]) {
        eprintln!("vrrp-lab-demo: cannot run: {why}");
        return ExitCode::from(2);
    }
    if let Some(why) = opts.daemon.unavailable() {
        eprintln!("vrrp-lab-demo: cannot run {}: {why}", opts.daemon.name());
        return ExitCode::from(2);
    }
    // Ctrl-C / SIGTERM: stop waiting and clean up instead of leaking namespaces.
    vrrp_testlab::budget::catch_interrupts();
    let t0 = Instant::now();
    let clock = Clock {
        t0,
        deadline: t0 + TOTAL_BUDGET,
    };
    println!(
        "vrrp-lab-demo: {} | 3 routers + 1 client | VRRPv3 | advert_int {} s",
        opts.daemon, opts.advert_int
    );
    let mut lab = match Lab::new("demo") {
        Ok(l) => l,
        Err(e) => {
            eprintln!("vrrp-lab-demo: cannot build the lab: {e}");
            return ExitCode::FAILURE;
        }
    };
    if opts.keep {
        lab.keep_dir();
    }
    let result = build(&mut lab, &opts, &clock).and_then(|(routers, client, vip)| {
        let step = Duration::from_secs_f64((opts.advert_int * 10.0).max(12.0));
        let mut demo = Demo {
            clock: Clock {
                t0: clock.t0,
                deadline: clock.deadline,
            },
            opts: &opts,
            routers,
            client,
            vip,
            step_timeout: step,
        };
        demo.run()
    });
    let code = match &result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if vrrp_testlab::budget::interrupted() => {
            eprintln!("\nvrrp-lab-demo: {e}; cleaning up");
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("\nvrrp-lab-demo: FAILED: {e}{}", lab.diag());
            ExitCode::FAILURE
        }
    };
    let names = lab.namespaces().len();
    let procs = lab.procs().len();
    drop(lab);
    clock.say(format!(
        "cleanup: {procs} process(es) killed and reaped, {names} namespaces deleted"
    ));
    if result.is_ok() {
        clock.say("demo finished OK");
    }
    code
}
