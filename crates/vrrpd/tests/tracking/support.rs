//! Helpers of `tests/tracking.rs`: routers running vrrpd on a namespace LAN, `vrrpctl`,
//! bounded commands, executable scripts written into the lab directory, the daemon's logged
//! transitions.

use std::fs;
use std::io::Read;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;
use vrrp_testlab::{Daemon, DaemonProc, Lab, Node, wait_until};

/// Bound of every wait for a protocol step (an election takes well under a second with
/// advert_int 0.1; the slack is for a loaded two-core machine).
pub(crate) const STEP: Duration = Duration::from_secs(15);
/// How long a daemon may take to start.
pub(crate) const START: Duration = Duration::from_secs(15);
pub(crate) const POLL: Duration = Duration::from_millis(20);

pub(crate) fn vrrpd_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vrrpd"))
}

/// The vrrpctl binary: next to vrrpd (a workspace build puts it there), else built once
/// with `cargo build -p vrrpctl` into the same target directory (bounded).
pub(crate) fn vrrpctl() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = BIN
        .get_or_init(|| vrrp_testlab::vrrpctl_next_to(&vrrpd_binary()).map_err(|e| e.to_string()));
    match found {
        Ok(p) => p.clone(),
        Err(e) => panic!("no vrrpctl binary: {e}"),
    }
}

/// What a finished command printed.
#[derive(Debug)]
pub(crate) struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs a command (in the test's namespace) with a time bound; -1 as the code when it was
/// killed by a signal.
pub(crate) fn run(cmd: &mut Command, timeout: Duration) -> Result<Out, String> {
    let desc = format!("{cmd:?}");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("cannot run {desc}: {e}"))?;
    let mut so = child.stdout.take().expect("piped");
    let mut se = child.stderr.take().expect("piped");
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = so.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = se.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
            break s;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{desc} timed out after {timeout:?}"));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    Ok(Out {
        code: status.code().unwrap_or(-1),
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
    })
}

/// `vrrpctl --socket SOCK args...`.
pub(crate) fn ctl(sock: &Path, args: &[&str]) -> Out {
    run(
        Command::new(vrrpctl()).arg("--socket").arg(sock).args(args),
        Duration::from_secs(60),
    )
    .unwrap_or_else(|e| panic!("vrrpctl: {e}"))
}

/// Writes an executable (0755) shell script `name` into the lab directory.
pub(crate) fn script(lab: &Lab, name: &str, body: &str) -> PathBuf {
    let path = lab
        .write_file(name, &format!("#!/bin/sh\n{body}"))
        .expect("write a script");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod 0755");
    path
}

/// A hook that appends `START END ARGS...` (times from `date +%s.%N`) to `log`, sleeping
/// `slow` seconds first when its first argument is one of `slow_kinds`.
pub(crate) fn logging_hook(
    lab: &Lab,
    name: &str,
    log: &Path,
    slow_kinds: &[&str],
    slow: f64,
) -> PathBuf {
    let cases = if slow_kinds.is_empty() {
        String::new()
    } else {
        format!(
            "case \"$1\" in {}) sleep {slow};; esac\n",
            slow_kinds.join("|")
        )
    };
    script(
        lab,
        name,
        &format!(
            "start=$(date +%s.%N)\n{cases}end=$(date +%s.%N)\necho \"$start $end $*\" >> {}\n",
            log.display()
        ),
    )
}

/// One line of a [`logging_hook`] log.
#[derive(Debug, Clone)]
pub(crate) struct HookLine {
    pub start: f64,
    pub end: f64,
    pub args: Vec<String>,
}

pub(crate) fn hook_lines(log: &Path) -> Vec<HookLine> {
    fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let start = w.next()?.parse().ok()?;
            let end = w.next()?.parse().ok()?;
            Some(HookLine {
                start,
                end,
                args: w.map(str::to_string).collect(),
            })
        })
        .collect()
}

/// A transition logged by vrrpd: `VI_1: BACKUP -> MASTER (reason), priority N...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Logged {
    pub instance: String,
    pub from: String,
    pub to: String,
    pub priority: u32,
}

/// The transitions vrrpd logged, in order.
pub(crate) fn logged_transitions(log: &str) -> Vec<Logged> {
    log.lines()
        .filter_map(|l| {
            let (before, rest) = l.split_once(" -> ")?;
            // "... VI_1: FROM" before " -> ", "TO (reason), priority N..." after it.
            let (inst_part, from) = before.rsplit_once(": ")?;
            let instance = inst_part.rsplit(' ').next()?.to_string();
            let to = rest.split_whitespace().next()?.to_string();
            let pr = rest.split("), priority ").nth(1)?;
            let priority = pr
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()?;
            let states = ["INIT", "BACKUP", "MASTER", "FAULT", "OBSERVER"];
            let from = from.trim().to_string();
            (states.contains(&from.as_str()) && states.contains(&to.as_str())).then_some(Logged {
                instance,
                from,
                to,
                priority,
            })
        })
        .collect()
}

/// One router: its node and its running daemon.
pub(crate) struct Router {
    pub node: Node,
    pub daemon: Option<DaemonProc>,
}

impl Router {
    pub(crate) fn name(&self) -> &str {
        self.node.name()
    }

    pub(crate) fn daemon(&self) -> &DaemonProc {
        self.daemon.as_ref().expect("the daemon was started")
    }

    pub(crate) fn sock(&self) -> PathBuf {
        self.daemon()
            .control_socket
            .clone()
            .expect("vrrpd has a control socket")
    }

    /// The daemon's standard error (its log).
    pub(crate) fn log(&self) -> String {
        fs::read_to_string(self.daemon().proc.stderr_path()).unwrap_or_default()
    }

    pub(crate) fn ctl(&self, args: &[&str]) -> Out {
        ctl(&self.sock(), args)
    }

    /// `vrrpctl show INSTANCE --json`, if the daemon answers.
    pub(crate) fn show(&self, instance: &str) -> Option<Value> {
        let out = self.ctl(&["show", instance, "--json"]);
        if out.code != 0 {
            return None;
        }
        serde_json::from_str(out.stdout.trim()).ok()
    }

    /// The `status` entry of `instance` (None if the daemon does not answer).
    pub(crate) fn status_of(&self, instance: &str) -> Option<Value> {
        let out = self.ctl(&["status", "--json"]);
        if out.code != 0 {
            return None;
        }
        let v: Value = serde_json::from_str(out.stdout.trim()).ok()?;
        v["instances"]
            .as_array()?
            .iter()
            .find(|i| i["name"] == instance)
            .cloned()
    }

    pub(crate) fn state(&self, instance: &str) -> String {
        self.status_of(instance)
            .and_then(|s| s["state"].as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// The effective priority (`status`), 0 if unknown.
    pub(crate) fn priority(&self, instance: &str) -> u64 {
        self.status_of(instance)
            .and_then(|s| s["priority"].as_u64())
            .unwrap_or(0)
    }
}

/// A LAN of routers r1..rN (VRRP daemons started later).
pub(crate) struct Net {
    pub lab: Lab,
    pub routers: Vec<Router>,
}

impl Net {
    pub(crate) fn new(tag: &str, routers: usize) -> Net {
        let mut lab = Lab::new(tag).expect("lab");
        let routers = (1..=routers)
            .map(|i| Router {
                node: lab.add_router(&format!("r{i}")).expect("router"),
                daemon: None,
            })
            .collect();
        Net { lab, routers }
    }

    pub(crate) fn vip(&self, n: u8) -> IpAddr {
        self.lab.vip4(n).into()
    }

    pub(crate) fn vip_cidr(&self, n: u8) -> String {
        format!("{}/24", self.lab.vip4(n))
    }

    /// A path in the lab directory.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.lab.dir().join(name)
    }

    pub(crate) fn start(&mut self, i: usize, conf: &str) {
        let d = start_vrrpd(&self.routers[i].node, conf);
        self.routers[i].daemon = Some(d);
    }

    /// SIGTERM to router `i`'s daemon; waits (bounded) for its exit.
    pub(crate) fn stop(&self, i: usize) {
        let clean = self.routers[i]
            .daemon()
            .stop(STEP)
            .expect("stop the daemon");
        assert!(
            clean,
            "{} did not exit on SIGTERM{}",
            self.routers[i].name(),
            self.lab.diag()
        );
    }

    /// Waits (bounded) for `cond`, else fails with `what` and the lab's diagnostics.
    pub(crate) fn expect(&self, what: &str, cond: impl FnMut() -> bool) {
        assert!(wait_until(STEP, POLL, cond), "{what}{}", self.lab.diag());
    }

    pub(crate) fn expect_state(&self, i: usize, instance: &str, state: &str) {
        let r = &self.routers[i];
        self.expect(
            &format!("{} should be {state} in {instance}", r.name()),
            || r.state(instance) == state,
        );
    }

    /// Routers holding `ip` in the kernel.
    pub(crate) fn holders(&self, ip: IpAddr) -> Vec<String> {
        self.routers
            .iter()
            .filter(|r| r.node.has_address(ip))
            .map(|r| r.name().to_string())
            .collect()
    }

    /// Router `i` is the only holder of `ip` (the only Master).
    pub(crate) fn expect_sole_holder(&self, i: usize, ip: IpAddr) {
        let name = self.routers[i].name().to_string();
        self.expect(&format!("{name} should be the only holder of {ip}"), || {
            self.holders(ip) == [name.clone()]
        });
    }
}

/// Starts vrrpd in `node` like `Daemon::Vrrpd` (`-n -l -D -f CONF -p PID --control-socket
/// SOCK`, files in the lab directory); waits until it logs "vrrpd started".
pub(crate) fn start_vrrpd(node: &Node, conf: &str) -> DaemonProc {
    let d = Daemon::Vrrpd {
        binary: vrrpd_binary(),
    }
    .start(node, conf)
    .expect("start vrrpd");
    d.wait_ready(START).expect("vrrpd starts");
    d
}

/// `global_defs { script_user root }` plus `extra` lines.
pub(crate) fn global_defs(extra: &[String]) -> String {
    let mut s = String::from("global_defs {\n    script_user root\n");
    for l in extra {
        s.push_str("    ");
        s.push_str(l);
        s.push('\n');
    }
    s.push_str("}\n");
    s
}

/// A VRRPv3 instance block (advert_int 0.1) on eth0 with `lines` inside.
pub(crate) fn instance(name: &str, vrid: u8, priority: u8, vip: &str, lines: &[String]) -> String {
    let mut s = format!(
        "vrrp_instance {name} {{\n    interface eth0\n    virtual_router_id {vrid}\n    priority {priority}\n    advert_int 0.1\n    version 3\n    virtual_ipaddress {{\n        {vip}\n    }}\n"
    );
    for l in lines {
        s.push_str("    ");
        s.push_str(l);
        s.push('\n');
    }
    s.push_str("}\n");
    s
}

/// PIDs of processes whose command line matches `pattern` (`pgrep -f`).
pub(crate) fn pgrep(pattern: &str) -> Vec<u32> {
    run(
        Command::new("pgrep").args(["-f", pattern]),
        Duration::from_secs(30),
    )
    .map(|o| {
        o.stdout
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    })
    .unwrap_or_default()
}

/// The notify events vrrpd's log implies, in order: `(INSTANCE|GROUP, name, EVENT, priority)`
/// for every instance transition (EVENT = the new state, STOP for a return to INIT) and
/// every `sync group NAME: STATE` line (priority 0). Hooks and FIFO lines follow this order.
pub(crate) fn logged_events(log: &str) -> Vec<(String, String, String, u32)> {
    let mut events = Vec::new();
    for line in log.lines() {
        if let Some(t) = logged_transitions(line).pop() {
            let event = match t.to.as_str() {
                "INIT" => "STOP".to_string(),
                "OBSERVER" => continue,
                s => s.to_string(),
            };
            events.push(("INSTANCE".to_string(), t.instance, event, t.priority));
        } else if let Some((_, rest)) = line.split_once(" sync group ")
            && let Some((name, state)) = rest.split_once(": ")
        {
            events.push(("GROUP".into(), name.into(), state.trim().into(), 0));
        }
    }
    events
}

/// Seconds since the epoch now (to compare with `date +%s.%N` in hooks).
pub(crate) fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Reads lines from a FIFO on a thread (it blocks in open and read until every writer is
/// gone); the receiver gets them.
pub(crate) fn fifo_reader(path: &Path) -> std::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    let (tx, rx) = std::sync::mpsc::channel();
    let path = path.to_path_buf();
    std::thread::spawn(move || {
        let Ok(f) = fs::File::open(&path) else { return };
        for line in std::io::BufReader::new(f).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

/// Receives lines until there are `n` (or `timeout` passes), then whatever else arrives
/// within 300 ms.
pub(crate) fn receive(
    rx: &std::sync::mpsc::Receiver<String>,
    n: usize,
    timeout: Duration,
) -> Vec<String> {
    use std::sync::mpsc::RecvTimeoutError;
    let mut got = Vec::new();
    let deadline = Instant::now() + timeout;
    while got.len() < n && Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(l) => got.push(l),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return got,
        }
    }
    while let Ok(l) = rx.recv_timeout(Duration::from_millis(300)) {
        got.push(l);
    }
    got
}
