//! vrrp-lb-demo: a live load-balancer demo on a namespace LAN.
//!
//! Two vrrpd balancers (VRRP Master and Backup for the VIP, the same `virtual_server`: NAT
//! with `lb_nat_masquerade`, `lb_algo wrr`, HTTP_GET checks every second) in front of four
//! nginx real servers; a client makes one HTTP request (one connection) after another to
//! the VIP and logs who answered. The demo prints a timeline: the share of each server, a
//! real server dying and leaving the rotation, its return, then the Master balancer
//! crashing (SIGKILL + cable pulled) and the Backup carrying on; requests and failures per
//! phase. Needs root.
//!
//! Usage: vrrp-lb-demo [--vrrpd PATH] [--advert-int SECS] [--keep]

// The crate root of a binary looks for its modules beside it: they live in a folder of
// the binary's name, out of the way of `src/bin`'s other binaries.
#[path = "vrrp-lb-demo/client.rs"]
mod client;
#[path = "vrrp-lb-demo/clock.rs"]
mod clock;
#[path = "vrrp-lb-demo/setup.rs"]
mod setup;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use client::Client;
use clock::Clock;
use vrrp_testlab::{DaemonProc, Lab, Nginx, Node, skip_reason};

const TOTAL_BUDGET: Duration = Duration::from_secs(60);
/// How long a step may take: a checker period is 1 s, a VRRP failover well under one.
const STEP: Duration = Duration::from_secs(15);
/// The real servers and their `wrr` weights.
const SERVERS: [(&str, u32); 4] = [("rs1", 2), ("rs2", 1), ("rs3", 1), ("rs4", 1)];
/// The real server that dies and comes back.
const VICTIM: usize = 2;

struct Opts {
    vrrpd: Option<PathBuf>,
    advert_int: f64,
    keep: bool,
}

fn usage() -> String {
    "usage: vrrp-lb-demo [--vrrpd PATH] [--advert-int SECS] [--keep]\n\
     \n\
     Builds a namespace LAN with two vrrpd load balancers (VRRP Master/Backup for one\n\
     VIP, one NAT virtual_server with wrr), four nginx real servers and a client, then\n\
     shows the share of each server, a real server dying and returning, and the Master\n\
     balancer crashing. Needs root, iproute2, nftables, nginx and curl. --vrrpd defaults\n\
     to the vrrpd next to this executable (vrrpctl is taken from beside it).\n\
     --advert-int is the VRRP interval (default 0.25 s). --keep keeps the lab directory."
        .into()
}

fn parse_args() -> Result<Opts, String> {
    let mut opts = Opts {
        vrrpd: None,
        // Sub-second failover, yet a loaded 2-core host's stalls do not make the Backup
        // declare the Master dead (3 intervals).
        advert_int: 0.25,
        keep: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut val = |name: &str| {
            it.next()
                .ok_or(format!("{name} needs a value\n{}", usage()))
        };
        match a.as_str() {
            "--vrrpd" => opts.vrrpd = Some(val("--vrrpd")?.into()),
            "--advert-int" => {
                let v = val("--advert-int")?;
                opts.advert_int = v
                    .parse::<f64>()
                    .ok()
                    .filter(|x| (0.01..=2.0).contains(x))
                    .ok_or(format!("--advert-int: {v}: want seconds in 0.01..=2"))?;
            }
            "--keep" => opts.keep = true,
            "-h" | "--help" => return Err(usage()),
            other => return Err(format!("unknown argument {other}\n{}", usage())),
        }
    }
    Ok(opts)
}

struct Balancer {
    node: Node,
    daemon: DaemonProc,
}

struct Demo {
    clock: Clock,
    vrrpctl: PathBuf,
    balancers: Vec<Balancer>,
    servers: Vec<(Node, Option<Nginx>)>,
    client: Node,
    vip: Ipv4Addr,
}

impl Demo {
    fn vrrpctl(&self, b: &Balancer, args: &[&str]) -> Result<String, String> {
        let sock = b
            .daemon
            .control_socket
            .as_ref()
            .ok_or("no control socket")?
            .to_string_lossy()
            .into_owned();
        let bin = self.vrrpctl.to_string_lossy().into_owned();
        let mut all = vec!["--socket", sock.as_str()];
        all.extend_from_slice(args);
        b.node.run_ok(&bin, &all).map_err(|e| e.to_string())
    }

    /// The weight of each real server in `b`'s data path (`None`: out of the rotation).
    fn rotation(&self, b: &Balancer) -> Vec<Option<u64>> {
        let Ok(text) = self.vrrpctl(b, &["lvs", "--json"]) else {
            return Vec::new();
        };
        let Ok(doc) = serde_json::from_str::<serde_json::Value>(&text) else {
            return Vec::new();
        };
        let empty = Vec::new();
        let list = doc["services"][0]["real_servers"]
            .as_array()
            .unwrap_or(&empty);
        self.servers
            .iter()
            .map(|(node, _)| {
                let address = format!("[{}]:8080", node.ipv4());
                list.iter()
                    .find(|rs| rs["address"].as_str() == Some(&address))
                    .and_then(|rs| rs["weight"].as_u64())
            })
            .collect()
    }

    fn all_in(&self, b: &Balancer) -> bool {
        let r = self.rotation(b);
        r.len() == SERVERS.len() && r.iter().all(Option::is_some)
    }

    /// A sentence when the Backup holds the VIP too: the Master's advertisements did not
    /// reach it in time (a stalled host), and what the client saw meanwhile is not the
    /// scenario's.
    fn split_brain(&self) -> Option<String> {
        self.balancers[1].node.has_address(self.vip).then(|| {
            "NOTE: lb2 holds the VIP too: it missed lb1's advertisements for 3 intervals (the \
             host stalled?); try a larger --advert-int"
                .to_string()
        })
    }

    /// Prints a phase, with the note above when it applies.
    fn report(&self, phase: &client::Phase) {
        self.clock.say(phase.describe());
        if let Some(note) = self.split_brain() {
            self.clock.say(note);
        }
    }

    fn show_lvs(&self, i: usize) -> Result<(), String> {
        let b = &self.balancers[i];
        let text = self.vrrpctl(b, &["lvs"])?;
        self.clock.say(format!(
            "vrrpctl lvs on {}:\n{}",
            b.node.name(),
            indent(&text)
        ));
        Ok(())
    }

    fn run(&mut self) -> Result<(), String> {
        let c = &self.clock;
        c.wait("lb1 to hold the VIP", STEP, || {
            self.balancers[0].node.has_address(self.vip)
        })?;
        c.wait(
            "every real server in rotation on both balancers",
            STEP,
            || self.balancers.iter().all(|b| self.all_in(b)),
        )?;
        c.say(format!(
            "lb1 is VRRP Master (holds {}), lb2 Backup; both balancers' checks pass for all \
             four real servers",
            self.vip,
        ));
        self.show_lvs(0)?;

        let client = Client::start(&self.client, self.vip, c.t0_epoch())?;
        let c = &self.clock;
        c.say(format!(
            "client {} requests http://{}/ continuously, one connection each (curl, 1 s timeout)",
            self.client.ipv4(),
            self.vip
        ));
        let mut phases = Vec::new();

        // 1. Everyone up: the share follows the weights.
        let from = c.now();
        c.pause(Duration::from_secs(4))?;
        phases.push(client.phase("all four up (wrr 2:1:1:1)", from, c.now())?);
        self.report(&phases[phases.len() - 1]);

        // 2. A real server dies.
        let victim = SERVERS[VICTIM].0;
        let killed = c.now();
        if let Some(web) = self.servers[VICTIM].1.take() {
            web.kill().map_err(|e| e.to_string())?;
        }
        c.say(format!("KILL: nginx on {victim} (SIGKILL)"));
        let out = c.wait(&format!("{victim} to leave the rotation"), STEP, || {
            self.rotation(&self.balancers[0]).get(VICTIM) == Some(&None)
        })?;
        let left = c.now();
        c.say(format!(
            "{victim} left the rotation {:.0} ms after it died (HTTP_GET failed, retried once)",
            out.as_secs_f64() * 1000.0,
        ));
        phases.push(client.phase(&format!("{victim} dead, still in rotation"), killed, left)?);
        self.report(&phases[phases.len() - 1]);
        c.pause(Duration::from_secs(2))?;
        phases.push(client.phase(&format!("{victim} out of rotation"), left, c.now())?);
        self.report(&phases[phases.len() - 1]);

        // 3. It comes back.
        let (node, _) = &self.servers[VICTIM];
        let web = Nginx::start(node, victim, 8080).map_err(|e| e.to_string())?;
        self.servers[VICTIM].1 = Some(web);
        let c = &self.clock;
        let restarted = c.now();
        c.say(format!("{victim}'s nginx is back"));
        let back = c.wait(&format!("{victim} to rejoin the rotation"), STEP, || {
            self.all_in(&self.balancers[0])
        })?;
        let rejoined = c.now();
        c.say(format!(
            "{victim} rejoined the rotation {:.0} ms after it came back",
            back.as_secs_f64() * 1000.0
        ));
        // `vrrpctl lvs` tells what the balancer wants; the client tells what it does.
        c.wait(
            &format!("the client to be served by {victim}"),
            STEP,
            || client.first_answer_from(victim, rejoined).is_some(),
        )?;
        c.pause(Duration::from_secs(2))?;
        phases.push(client.phase(&format!("{victim} back"), restarted, c.now())?);
        self.report(&phases[phases.len() - 1]);

        // 4. The Master balancer crashes: its host is gone (daemon killed, cable pulled).
        let lb1 = &self.balancers[0];
        // The cable first: the daemon's nftables rules outlive it in lb1's kernel.
        lb1.node.link_down().map_err(|e| e.to_string())?;
        lb1.daemon.crash().map_err(|e| e.to_string())?;
        let crashed = c.now();
        c.say(format!(
            "CRASH: SIGKILL vrrpd on lb1 (pid {}) and lb1's cable pulled",
            lb1.daemon.pid()
        ));
        let took = c.wait("lb2 to hold the VIP", STEP, || {
            self.balancers[1].node.has_address(self.vip)
        })?;
        c.say(format!(
            "lb2 (Backup) became VRRP Master {:.0} ms after the crash",
            took.as_secs_f64() * 1000.0
        ));
        c.wait("the client to be served through lb2", STEP, || {
            client.first_success_after(crashed).is_some()
        })?;
        c.pause(Duration::from_secs(3))?;
        let failover = client.phase("failover to lb2", crashed, c.now())?;
        let gap = client.gap_around(crashed, c.now()).unwrap_or_default();
        // A connection attempt that fell into the failover went to the dead balancer's MAC.
        let why = if gap > Duration::from_millis(900) {
            "\n(a connection attempt made while the VIP moved is answered at its SYN \
             retransmission, 1 s after it started)"
        } else {
            ""
        };
        c.say(format!(
            "through lb2: the client's longest time without an answer: {:.0} ms{why}\n{}",
            gap.as_secs_f64() * 1000.0,
            failover.describe()
        ));
        phases.push(failover);
        self.show_lvs(1)?;

        let total = client.stop()?;
        let c = &self.clock;
        let mut summary = format!(
            "client summary: {} requests, {} failed",
            total.requests, total.failed
        );
        for p in &phases {
            summary.push_str(&format!("\n  {}", p.row()));
        }
        c.say(summary);
        Ok(())
    }
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if let Some(why) = skip_reason(&["nft", "nginx", "curl"]) {
        eprintln!("vrrp-lb-demo: cannot run: {why}");
        return ExitCode::from(2);
    }
    // Ctrl-C / SIGTERM stop the waits, so the lab is dropped and leaves nothing behind.
    vrrp_testlab::budget::catch_interrupts();
    let clock = Clock::new(TOTAL_BUDGET);
    let t0 = clock.t0;
    println!("vrrp-lb-demo: vrrpd load balancer | 2 balancers + 4 nginx + 1 client | NAT, wrr");
    let mut lab = match Lab::new("lbdemo") {
        Ok(l) => l,
        Err(e) => {
            eprintln!("vrrp-lb-demo: cannot build the lab: {e}");
            return ExitCode::FAILURE;
        }
    };
    if opts.keep {
        lab.keep_dir();
    }
    let result = setup::build(&mut lab, &opts, clock).and_then(|mut demo| demo.run());
    let code = match &result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if vrrp_testlab::budget::interrupted() => {
            eprintln!("\nvrrp-lb-demo: {e}; cleaning up");
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("\nvrrp-lb-demo: FAILED: {e}{}", lab.diag());
            ExitCode::FAILURE
        }
    };
    let names = lab.namespaces().len();
    let procs = lab.procs().len();
    drop(lab);
    let clock = Clock::since(t0, TOTAL_BUDGET);
    clock.say(format!(
        "cleanup: {procs} process(es) killed and reaped, {names} namespaces deleted"
    ));
    if result.is_ok() {
        clock.say(format!(
            "demo finished OK in {:.1} s",
            Instant::now().duration_since(t0).as_secs_f64()
        ));
    }
    code
}
