//! What the load-balancer scenarios share: the lab (a client, balancers, nginx real
//! servers on one LAN), vrrpd's configuration, `vrrpctl` as the observer, and the clients
//! (curl; a bounded Rust client that requests continuously; a held keep-alive connection).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use vrrp_testlab::{Daemon, DaemonProc, Lab, Nginx, Node, Proc, wait_until};

pub(crate) const START: Duration = Duration::from_secs(15);
pub(crate) const POLL: Duration = Duration::from_millis(50);
/// How long a real server may take to leave or join the rotation: its checker runs every
/// second (delay_loop 1, connect_timeout 1, retry 1, delay_before_retry 0.5), so a few
/// seconds at most; the rest is slack for a loaded machine.
pub(crate) const ROTATION: Duration = Duration::from_secs(15);

pub(crate) fn vrrpd_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vrrpd"))
}

pub(crate) fn vrrpctl() -> PathBuf {
    vrrp_testlab::vrrpctl_next_to(&vrrpd_binary()).expect("a vrrpctl binary")
}

/// One real server of a virtual server, as configuration text.
pub(crate) struct Rs {
    pub(crate) addr: Ipv4Addr,
    pub(crate) weight: u32,
    /// The HTTP_GET check's path (`None`: no checker).
    pub(crate) check: Option<String>,
    /// More lines inside the `real_server` block.
    pub(crate) extra: Vec<String>,
}

impl Rs {
    /// Port 8080, checked by HTTP_GET on /health every second.
    pub(crate) fn new(addr: Ipv4Addr, weight: u32) -> Rs {
        Rs {
            addr,
            weight,
            check: Some("/health".into()),
            extra: Vec::new(),
        }
    }

    pub(crate) fn check_path(mut self, path: &str) -> Rs {
        self.check = Some(path.into());
        self
    }

    pub(crate) fn line(mut self, l: impl Into<String>) -> Rs {
        self.extra.push(l.into());
        self
    }

    fn text(&self) -> String {
        let mut s = format!(
            "    real_server {} 8080 {{\n        weight {}\n",
            self.addr, self.weight
        );
        for l in &self.extra {
            s.push_str(&format!("        {l}\n"));
        }
        if let Some(path) = &self.check {
            s.push_str(&format!(
                "        HTTP_GET {{\n            url {{\n                path {path}\n                \
                 status_code 200\n            }}\n            connect_timeout 1\n            \
                 retry 1\n            delay_before_retry 0.5\n        }}\n"
            ));
        }
        s.push_str("    }\n");
        s
    }
}

/// A balancer's configuration: `global_defs` with `lb_nat_masquerade` and `globals`, a VRRP
/// instance holding `vip` (advert_int 0.1), and one virtual server `vip`:80 over `servers`
/// with `vs_lines` (delay_loop 1, `scheduler`, NAT).
pub(crate) fn config(
    vip: Ipv4Addr,
    priority: u8,
    scheduler: &str,
    globals: &[String],
    vs_lines: &[String],
    servers: &[Rs],
) -> String {
    let mut g = String::from("    lb_nat_masquerade\n");
    for l in globals {
        g.push_str(&format!("    {l}\n"));
    }
    let mut vs = String::new();
    for l in vs_lines {
        vs.push_str(&format!("    {l}\n"));
    }
    for rs in servers {
        vs.push_str(&rs.text());
    }
    format!(
        "global_defs {{\n{g}}}\n\
         vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    \
         priority {priority}\n    advert_int 0.1\n    version 3\n    virtual_ipaddress {{\n        {vip}/24\n    }}\n}}\n\
         virtual_server {vip} 80 {{\n    delay_loop 1\n    lb_algo {scheduler}\n    lb_kind NAT\n    protocol TCP\n{vs}}}\n"
    )
}

/// Starts vrrpd in `node` and waits until it logs that it started.
pub(crate) fn start_vrrpd(node: &Node, conf: &str) -> DaemonProc {
    let d = Daemon::Vrrpd {
        binary: vrrpd_binary(),
    }
    .start_with(node, conf, &[], &[])
    .expect("spawn vrrpd");
    d.wait_ready(START).expect("vrrpd starts");
    d
}

fn ctl_args(daemon: &DaemonProc, args: &[&str]) -> Vec<String> {
    let sock = daemon
        .control_socket
        .as_ref()
        .expect("a control socket")
        .to_string_lossy()
        .into_owned();
    let mut all = vec!["--socket".to_string(), sock];
    all.extend(args.iter().map(|a| a.to_string()));
    all
}

/// `vrrpctl --socket SOCK ARGS` in `node`: its output (fails on a non-zero exit).
pub(crate) fn ctl(node: &Node, daemon: &DaemonProc, args: &[&str]) -> String {
    let all = ctl_args(daemon, args);
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    node.run_ok(&vrrpctl().to_string_lossy(), &all)
        .expect("vrrpctl")
}

/// `vrrpctl --socket SOCK ARGS --json` in `node`, as JSON.
pub(crate) fn ctl_json(node: &Node, daemon: &DaemonProc, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let out = ctl(node, daemon, &args);
    serde_json::from_str(&out).expect("vrrpctl --json prints JSON")
}

/// The real servers of the first service as `vrrpctl lvs` shows them: address -> weight in
/// the data path (None: out). The sorry server is left out.
pub(crate) fn rotation(node: &Node, daemon: &DaemonProc) -> BTreeMap<String, Option<u64>> {
    let lvs = ctl_json(node, daemon, &["lvs"]);
    lvs["services"][0]["real_servers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|rs| rs["sorry_server"] != Value::Bool(true))
                .map(|rs| {
                    (
                        rs["address"].as_str().unwrap_or_default().to_string(),
                        rs["weight"].as_u64(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `[ADDR]:8080`, as `vrrpctl lvs` names a real server.
pub(crate) fn rs_name(addr: Ipv4Addr) -> String {
    format!("[{addr}]:8080")
}

/// Waits until `vrrpctl lvs` shows exactly `want` for the servers it names; panics with
/// what it shows otherwise.
#[track_caller]
pub(crate) fn wait_rotation(
    node: &Node,
    daemon: &DaemonProc,
    want: &[(Ipv4Addr, Option<u64>)],
    what: &str,
) -> Duration {
    let start = Instant::now();
    let ok = wait_until(ROTATION, POLL, || {
        let r = rotation(node, daemon);
        want.iter().all(|(a, w)| r.get(&rs_name(*a)) == Some(w))
    });
    assert!(
        ok,
        "{what}: the rotation is {:?}, not {want:?}\n{}",
        rotation(node, daemon),
        daemon.tail(30)
    );
    start.elapsed()
}

/// `n` requests to `http://VIP/` from `client` with curl, one connection each: who
/// answered, and how many requests failed.
pub(crate) fn requests(client: &Node, vip: Ipv4Addr, n: usize) -> (BTreeMap<String, usize>, usize) {
    let script =
        format!("for i in $(seq {n}); do curl -s --max-time 2 http://{vip}/ || echo FAILED; done");
    let out = client
        .run_timeout(
            "bash",
            &["-c", &script],
            Duration::from_secs(n as u64 * 3 + 30),
        )
        .expect("curl loop");
    let mut seen = BTreeMap::new();
    let mut failed = 0;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if line.contains("FAILED") {
            failed += 1;
        } else {
            *seen.entry(line.to_string()).or_default() += 1;
        }
    }
    (seen, failed)
}

pub(crate) struct Setup {
    pub(crate) lab: Lab,
    pub(crate) client: Node,
    pub(crate) balancer: Node,
    pub(crate) servers: Vec<(Node, Nginx)>,
    pub(crate) vip: Ipv4Addr,
}

impl Setup {
    /// The address of real server `i` (from 1).
    pub(crate) fn rs(&self, i: usize) -> Ipv4Addr {
        self.servers[i - 1].0.ipv4()
    }
}

/// A lab: balancer `lb1`, a client, and `count` nginx real servers `rs1...` on port 8080
/// answering their name on `/`.
pub(crate) fn setup(tag: &str, count: usize) -> Setup {
    let mut lab = Lab::new(tag).expect("lab");
    let balancer = lab.add_router("lb1").expect("lb1");
    let client = lab.add_host("client").expect("client");
    let mut servers = Vec::new();
    for i in 1..=count {
        let node = lab.add_host(&format!("rs{i}")).expect("real server");
        let web = Nginx::start(&node, &format!("rs{i}"), 8080).expect("nginx");
        servers.push((node, web));
    }
    let vip = lab.vip4(100);
    Setup {
        lab,
        client,
        balancer,
        servers,
        vip,
    }
}

/// An executable shell script in the lab directory.
pub(crate) fn script(lab: &Lab, name: &str, body: &str) -> PathBuf {
    let path = lab
        .write_file(name, &format!("#!/bin/sh\n{body}"))
        .expect("write a script");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod 0755");
    path
}

/// Seconds since the epoch.
pub(crate) fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// A client that requests continuously, one connection per request.

/// One request of [`Client`].
#[derive(Clone, Debug)]
pub(crate) struct Record {
    /// When it started, from the client's start.
    pub(crate) at: Duration,
    /// When it started, seconds since the epoch.
    pub(crate) wall: f64,
    /// How long it took.
    pub(crate) took: Duration,
    /// The client's port (0 when the connection was never made).
    pub(crate) port: u16,
    /// The server that answered, or why it failed.
    pub(crate) result: Result<String, String>,
}

/// A thread in a node's namespace requesting `http://VIP/` in a loop, one connection per
/// request (`Connection: close`), each bounded (connect and each read within `timeout`).
pub(crate) struct Client {
    stop: Arc<AtomicBool>,
    records: Arc<Mutex<Vec<Record>>>,
    thread: Option<JoinHandle<()>>,
    /// When it started.
    pub(crate) start: Instant,
}

impl Client {
    pub(crate) fn start(node: &Node, vip: Ipv4Addr, pause: Duration, timeout: Duration) -> Client {
        let path = format!("/run/netns/{}", node.ns());
        let stop = Arc::new(AtomicBool::new(false));
        let records = Arc::new(Mutex::new(Vec::new()));
        let start = Instant::now();
        let (st, rec) = (stop.clone(), records.clone());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let file = fs::File::open(&path).expect("open the namespace");
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            let _ = ready_tx.send(());
            let addr = SocketAddr::from((vip, 80));
            while !st.load(Ordering::Relaxed) {
                let begun = Instant::now();
                let wall = unix_now();
                let (port, result) = one_request(addr, timeout);
                let record = Record {
                    at: begun - start,
                    wall,
                    took: begun.elapsed(),
                    port,
                    result,
                };
                rec.lock().unwrap().push(record);
                std::thread::sleep(pause);
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the client thread started");
        Client {
            stop,
            records,
            thread: Some(thread),
            start,
        }
    }

    pub(crate) fn records(&self) -> Vec<Record> {
        self.records.lock().unwrap().clone()
    }

    /// How many requests succeeded so far.
    pub(crate) fn answered(&self) -> usize {
        self.records
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.result.is_ok())
            .count()
    }

    /// Waits until `n` more requests have been answered (bounded).
    #[track_caller]
    pub(crate) fn wait_answers(&self, n: usize, timeout: Duration) {
        let base = self.answered();
        let ok = wait_until(timeout, Duration::from_millis(20), || {
            self.answered() >= base + n
        });
        assert!(
            ok,
            "the client got no {n} answers in {timeout:?}: {:?}",
            self.records().iter().rev().take(5).collect::<Vec<_>>()
        );
    }

    pub(crate) fn stop(mut self) -> Vec<Record> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.records()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn one_request(addr: SocketAddr, timeout: Duration) -> (u16, Result<String, String>) {
    let mut s = match TcpStream::connect_timeout(&addr, timeout) {
        Ok(s) => s,
        Err(e) => return (0, Err(format!("connect: {e}"))),
    };
    let port = s.local_addr().map(|a| a.port()).unwrap_or(0);
    let _ = s.set_read_timeout(Some(timeout));
    let _ = s.set_write_timeout(Some(timeout));
    if let Err(e) = s.write_all(b"GET / HTTP/1.0\r\nHost: lab\r\nConnection: close\r\n\r\n") {
        return (port, Err(format!("write: {e}")));
    }
    let mut buf = Vec::new();
    let read = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf);
    // A whole answer counts even if a reset came after it.
    match text.split_once("\r\n\r\n") {
        Some((head, body)) if head.starts_with("HTTP/1.1 200") && body.ends_with('\n') => {
            (port, Ok(body.trim().to_string()))
        }
        _ => match read {
            Err(e) => (port, Err(format!("read: {e}"))),
            Ok(_) => (port, Err(format!("answer: {text:?}"))),
        },
    }
}

/// Who answered, and the failures.
pub(crate) fn tally(records: &[Record]) -> (BTreeMap<String, usize>, Vec<Record>) {
    let mut seen = BTreeMap::new();
    let mut failed = Vec::new();
    for r in records {
        match &r.result {
            Ok(name) => *seen.entry(name.clone()).or_default() += 1,
            Err(_) => failed.push(r.clone()),
        }
    }
    (seen, failed)
}

// ---------------------------------------------------------------------------------------
// A held keep-alive connection.

/// A TCP connection through the VIP held open by a bash script in the client: one request
/// at once (`0 NAME`), then one more each time [`Held::ask`] is called (`N NAME`, or
/// `N closed STATUS`: 1 reset or closed, above 128 no answer in 4 s, or `N closed write`).
pub(crate) struct Held {
    proc: Proc,
    trigger: PathBuf,
    asked: std::cell::Cell<u32>,
}

const HOLD: &str = r#"
trap '' PIPE
exec 3<>/dev/tcp/$VIP/80 || { echo "connect failed"; exit 1; }
ask() {
  printf 'GET / HTTP/1.1\r\nHost: t\r\n\r\n' >&3 || { echo "$1 closed write"; return; }
  local line
  while true; do
    IFS= read -r -t 4 line <&3 || { echo "$1 closed $?"; return; }
    if [ "$line" = $'\r' ]; then
      IFS= read -r -t 4 line <&3 && echo "$1 $line" || echo "$1 closed $?"
      return
    fi
  done
}
ask 0
n=1
while [ $n -le 20 ]; do
  while [ ! -e "$TRIGGER.$n" ]; do sleep 0.02; done
  ask $n
  n=$((n + 1))
done
"#;

impl Held {
    pub(crate) fn open(client: &Node, vip: Ipv4Addr, tag: &str) -> Held {
        let trigger = client.lab_path(&format!("trigger-{tag}"));
        let script = client
            .write_file(&format!("hold-{tag}.sh"), HOLD)
            .expect("write the script");
        let vip = vip.to_string();
        let trig = trigger.display().to_string();
        let proc = client
            .spawn(
                "bash",
                &[&script.display().to_string()],
                &[("VIP", &vip), ("TRIGGER", &trig)],
            )
            .expect("spawn the held connection");
        let held = Held {
            proc,
            trigger,
            asked: std::cell::Cell::new(0),
        };
        held.wait_line(0);
        held
    }

    fn output(&self) -> String {
        fs::read_to_string(self.proc.stdout_path()).unwrap_or_default()
    }

    /// What answered request `n` (waits up to 10 s).
    #[track_caller]
    fn wait_line(&self, n: u32) -> String {
        let prefix = format!("{n} ");
        let line = || {
            self.output()
                .lines()
                .find(|l| l.starts_with(&prefix))
                .map(|l| l[prefix.len()..].to_string())
        };
        let found = wait_until(Duration::from_secs(10), Duration::from_millis(10), || {
            line().is_some()
        });
        assert!(
            found,
            "no answer {n} on the held connection: {:?} {}",
            self.output(),
            self.proc.tail(5)
        );
        line().unwrap_or_default()
    }

    /// The server of the first answer.
    pub(crate) fn server(&self) -> String {
        self.wait_line(0)
    }

    /// One more request on the connection: who answered (or `closed ...`), and how long it
    /// took.
    pub(crate) fn ask(&self) -> (String, Duration) {
        let n = self.asked.get() + 1;
        self.asked.set(n);
        let start = Instant::now();
        fs::write(format!("{}.{n}", self.trigger.display()), "").expect("trigger");
        let line = self.wait_line(n);
        (line, start.elapsed())
    }
}

// ---------------------------------------------------------------------------------------
// vrrpctl watch --json.

/// `vrrpctl watch --json` running in a node, its lines in a file.
pub(crate) struct Watch {
    proc: Proc,
}

impl Watch {
    pub(crate) fn start(node: &Node, daemon: &DaemonProc) -> Watch {
        let args = ctl_args(daemon, &["watch", "--json"]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let proc = node
            .spawn(&vrrpctl().to_string_lossy(), &args, &[])
            .expect("spawn vrrpctl watch");
        // It is watching once the daemon has answered.
        std::thread::sleep(Duration::from_millis(300));
        Watch { proc }
    }

    /// The events so far (`{"type": ...}` objects).
    pub(crate) fn events(&self) -> Vec<Value> {
        fs::read_to_string(self.proc.stdout_path())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|v| v.get("event").cloned().unwrap_or(v))
            .filter(|v| v.get("type").is_some())
            .collect()
    }

    /// Waits (bounded) for an event that `pred` accepts.
    pub(crate) fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let mut found = None;
        wait_until(timeout, POLL, || {
            found = self.events().into_iter().find(|e| pred(e));
            found.is_some()
        });
        found
    }

    pub(crate) fn tail(&self) -> String {
        self.proc.tail(20)
    }
}
