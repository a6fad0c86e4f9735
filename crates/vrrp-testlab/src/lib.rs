//! Network-namespace LANs for vrrpd integration tests and demos.
//!
//! A [`Lab`] is one isolated Ethernet segment: a Linux bridge living in its own
//! network namespace, and one namespace per node ([`Lab::add_router`],
//! [`Lab::add_host`]) plugged into that bridge with a veth pair. Each node sees a
//! single interface, `eth0`, with an IPv4 address `10.99.<octet>.<n>/24` and an
//! IPv6 address `fd99:<octet>::<n>/64`, where `<octet>` is unique among the labs
//! alive on this machine (see `docs/testing.md`).
//!
//! Everything a lab creates (namespaces, veths, processes, nftables tables) is
//! torn down when the [`Lab`] is dropped, also while a test panics. Processes
//! are killed by the PID the lab started, never by name.
//!
//! The tests and the demo shell out to `ip`, `nft`, `ping` and `tcpdump`; the
//! daemon under test never needs to.

pub mod attacker;
pub mod benchkit;
pub mod bgp;
pub mod budget;
pub mod chaos;
pub mod churn;
pub mod conf;
pub mod daemon;
pub mod flood_payloads;
pub mod flows;
pub mod frr;
pub mod outage;
pub mod probe;
mod require;
pub mod scale;
mod servers;
pub mod soak;
pub mod starve;
pub mod sweep;
pub mod vm;
mod watch;

pub use conf::{KeepalivedConf, State, VrrpInstance};
pub use daemon::{Daemon, DaemonProc, vrrpctl_next_to};
pub use probe::{ProbeRecord, ProbeReport, Prober};
pub use require::{
    LAB_REQUIRED_VAR, find_tool, is_root, lab_ready, lab_required, need, skip, skip_reason,
};
pub use servers::{Dnsmasq, Mail, Nginx, Smtpd, UdpEcho};
pub use watch::AddressWatch;

use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Timeout applied to every helper command (`ip`, `nft`, ...) the lab runs.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Signal numbers, re-exported for [`Proc::kill`].
pub use libc::{SIGKILL, SIGTERM};

/// The lab's error: a message that says which step failed.
#[derive(Debug)]
pub struct Error(String);

impl Error {
    /// An error with this message.
    pub fn msg(m: impl Into<String>) -> Self {
        Error(m.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error(e.to_string())
    }
}

/// The result of a lab step.
pub type Result<T> = std::result::Result<T, Error>;

/// Polls `cond` every `poll` until it returns true or `timeout` passes.
/// Returns whether it became true. Bounded in time and in iterations.
pub fn wait_until(timeout: Duration, poll: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    let poll = poll.max(Duration::from_millis(1));
    let max_iter = (timeout.as_millis() / poll.as_millis()).saturating_add(2) as u64;
    for _ in 0..max_iter {
        if cond() {
            return true;
        }
        let elapsed = start.elapsed();
        if elapsed >= timeout {
            return false;
        }
        std::thread::sleep(poll.min(timeout - elapsed));
    }
    cond()
}

/// Runs a command with a time bound, capturing stdout and stderr.
/// The child is killed (SIGKILL) when `timeout` passes.
pub fn run_bounded(mut cmd: Command, timeout: Duration) -> Result<Output> {
    let desc = format!("{cmd:?}");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| Error(format!("cannot run {desc}: {e}")))?;
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let status = match wait_child(&mut child, timeout)? {
        Some(s) => s,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error(format!("{desc} timed out after {timeout:?}")));
        }
    };
    Ok(Output {
        status,
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
    })
}

fn wait_child(child: &mut Child, timeout: Duration) -> Result<Option<ExitStatus>> {
    let start = Instant::now();
    let mut sleep = Duration::from_millis(1);
    loop {
        if let Some(s) = child.try_wait()? {
            return Ok(Some(s));
        }
        if start.elapsed() >= timeout {
            return Ok(None);
        }
        std::thread::sleep(sleep);
        sleep = (sleep * 2).min(Duration::from_millis(20));
    }
}

fn check_output(what: &str, out: Output) -> Result<String> {
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(Error(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        )))
    }
}

/// Runs `prog args...` (in the caller's namespace) and fails unless it exits 0.
fn sh(prog: &str, args: &[&str]) -> Result<String> {
    let mut c = Command::new(prog);
    c.args(args);
    let out = run_bounded(c, COMMAND_TIMEOUT)?;
    check_output(&format!("{prog} {}", args.join(" ")), out)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

// ---------------------------------------------------------------------------
// Processes

struct ProcState {
    child: Child,
    label: String,
    status: Option<ExitStatus>,
    /// Pidfiles naming children of this process (keepalived's VRRP child).
    child_pidfiles: Vec<PathBuf>,
    /// Children seen through `child_pidfiles`, identified by (pid, start time)
    /// so they can be killed safely even after being re-parented.
    known_children: Vec<(i32, u64)>,
}

impl ProcState {
    fn reap(&mut self) -> Option<ExitStatus> {
        if self.status.is_none()
            && let Ok(Some(s)) = self.child.try_wait()
        {
            self.status = Some(s);
        }
        self.status
    }

    /// Records children named by the pidfiles whose parent is our process.
    fn refresh_children(&mut self) {
        if self.reap().is_some() {
            return; // our PID may be reused now: the parent check is meaningless
        }
        let me = self.child.id() as i32;
        for pf in &self.child_pidfiles {
            let Ok(text) = fs::read_to_string(pf) else {
                continue;
            };
            let Ok(pid) = text.trim().parse::<i32>() else {
                continue;
            };
            if pid <= 1 || self.known_children.iter().any(|(p, _)| *p == pid) {
                continue;
            }
            if let Some((ppid, start)) = proc_stat(pid)
                && ppid == me
            {
                self.known_children.push((pid, start));
            }
        }
    }

    fn live_children(&self) -> Vec<i32> {
        self.known_children
            .iter()
            .filter(|(pid, start)| {
                proc_stat_full(*pid).is_some_and(|(_, s, state)| s == *start && state != 'Z')
            })
            .map(|(p, _)| *p)
            .collect()
    }

    fn signal(&mut self, sig: i32) -> Result<()> {
        self.refresh_children();
        for pid in self.live_children() {
            // SAFETY: plain kill(2); pid verified by (pid, start time).
            unsafe { libc::kill(pid, sig) };
        }
        if self.reap().is_some() {
            return Ok(()); // already exited and reaped: never signal a reused PID
        }
        // SAFETY: plain kill(2) on our own unreaped child.
        let r = unsafe { libc::kill(self.child.id() as i32, sig) };
        if r != 0 {
            return Err(Error(format!(
                "kill({}, {sig}) [{}]: {}",
                self.child.id(),
                self.label,
                io::Error::last_os_error()
            )));
        }
        Ok(())
    }

    fn wait_timeout(&mut self, d: Duration) -> Result<Option<ExitStatus>> {
        if let Some(s) = self.status {
            return Ok(Some(s));
        }
        let r = wait_child(&mut self.child, d)?;
        if r.is_some() {
            self.status = r;
        }
        Ok(r)
    }
}

/// (ppid, starttime) of a process from /proc/PID/stat.
fn proc_stat(pid: i32) -> Option<(i32, u64)> {
    proc_stat_full(pid).map(|(pp, st, _)| (pp, st))
}

fn proc_stat_full(pid: i32) -> Option<(i32, u64, char)> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // fields after comm: state(3) ppid(4) ... starttime(22) => indices 0,1,19
    let state = f.first()?.chars().next()?;
    Some((f.get(1)?.parse().ok()?, f.get(19)?.parse().ok()?, state))
}

/// A process started by the lab inside a node's namespace.
///
/// Cloning gives another handle to the same process. The lab kills it on drop
/// if it is still running.
#[derive(Clone)]
pub struct Proc {
    inner: Arc<Mutex<ProcState>>,
    pid: u32,
    label: String,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl fmt::Debug for Proc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Proc({} pid {})", self.label, self.pid)
    }
}

impl Proc {
    /// The PID of the started command (`ip netns exec` execs in place, so
    /// this is the command's own PID).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// `node/command#n`, the name the lab's reports use for the process.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Sends `sig` to the process and to the children registered with
    /// [`Proc::add_child_pidfile`]. A no-op once the process has been reaped.
    pub fn kill(&self, sig: i32) -> Result<()> {
        lock(&self.inner).signal(sig)
    }

    /// Sends `sig` to the main process only (not to registered children).
    pub fn kill_main(&self, sig: i32) -> Result<()> {
        let mut st = lock(&self.inner);
        if st.reap().is_some() {
            return Ok(());
        }
        // SAFETY: kill(2) on our own, not yet reaped, child.
        if unsafe { libc::kill(st.child.id() as i32, sig) } != 0 {
            return Err(io::Error::last_os_error().into());
        }
        Ok(())
    }

    /// Waits up to `d` for the process to exit; `None` if still running.
    pub fn wait_timeout(&self, d: Duration) -> Result<Option<ExitStatus>> {
        lock(&self.inner).wait_timeout(d)
    }

    /// True until the process has exited.
    pub fn is_running(&self) -> bool {
        lock(&self.inner).reap().is_none()
    }

    /// Exit status once the process has exited.
    pub fn status(&self) -> Option<ExitStatus> {
        lock(&self.inner).reap()
    }

    /// SIGKILL the process (and its registered children), then reap it.
    pub fn kill_and_wait(&self) -> Result<()> {
        let mut st = lock(&self.inner);
        st.signal(SIGKILL)?;
        if st.wait_timeout(Duration::from_secs(10))?.is_none() {
            return Err(Error(format!("{} did not die after SIGKILL", st.label)));
        }
        let kids = st.known_children.clone();
        drop(st);
        wait_until(Duration::from_secs(5), Duration::from_millis(10), || {
            kids.iter().all(|(pid, start)| {
                proc_stat_full(*pid).is_none_or(|(_, s, state)| s != *start || state == 'Z')
            })
        });
        Ok(())
    }

    /// Registers a pidfile the process writes for a child of its own
    /// (keepalived's VRRP process). Such children are signalled with the
    /// process, after checking they really are its children.
    pub fn add_child_pidfile(&self, path: impl Into<PathBuf>) {
        lock(&self.inner).child_pidfiles.push(path.into());
    }

    /// PIDs of live registered children (verified to be ours).
    pub fn children(&self) -> Vec<i32> {
        let mut st = lock(&self.inner);
        st.refresh_children();
        st.live_children()
    }

    /// The file its standard output goes to, in the lab's directory.
    pub fn stdout_path(&self) -> &Path {
        &self.stdout
    }

    /// The file its standard error goes to, in the lab's directory.
    pub fn stderr_path(&self) -> &Path {
        &self.stderr
    }

    /// The last `n` lines of stdout and stderr, for failure messages.
    pub fn tail(&self, n: usize) -> String {
        let mut s = String::new();
        for (what, p) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let text = fs::read_to_string(p).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(n);
            s.push_str(&format!(
                "--- {} {what} ({}), last {} lines:\n",
                self.label,
                p.display(),
                lines.len() - from
            ));
            for l in &lines[from..] {
                s.push_str(l);
                s.push('\n');
            }
        }
        s
    }
}

// ---------------------------------------------------------------------------
// Lab

struct Shared {
    prefix: String,
    dir: PathBuf,
    procs: Mutex<Vec<Proc>>,
    keep_dir: AtomicBool,
    file_counter: AtomicU32,
}

/// What a node is for; routers get IPv4/IPv6 forwarding enabled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// A VRRP router (forwarding on).
    Router,
    /// A client on the LAN.
    Host,
}

/// One namespace on the lab's LAN. Cheap to clone.
#[derive(Clone)]
pub struct Node {
    name: String,
    ns: String,
    ifname: String,
    bridge_port: String,
    index: u8,
    kind: NodeKind,
    ipv4: Ipv4Addr,
    ipv6: Ipv6Addr,
    mac: String,
    shared: Arc<Shared>,
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Node({} ns={} {} {} {})",
            self.name, self.ns, self.ipv4, self.ipv6, self.mac
        )
    }
}

static LAB_COUNTER: AtomicU32 = AtomicU32::new(0);

const LOCK_DIR: &str = "/run/vrrp-testlab";

/// A LAN made of network namespaces. See the crate documentation.
pub struct Lab {
    shared: Arc<Shared>,
    bridge_ns: String,
    /// Namespaces we created, in creation order.
    namespaces: Vec<String>,
    nodes: Vec<Node>,
    octet: u8,
    octet_lock: Option<PathBuf>,
    next_index: u8,
}

fn base36(mut n: u64) -> String {
    const D: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    if n == 0 {
        return "0".into();
    }
    let mut v = Vec::new();
    while n > 0 {
        v.push(D[(n % 36) as usize]);
        n /= 36;
    }
    v.reverse();
    String::from_utf8(v).expect("ascii")
}

fn sanitize(s: &str, max: usize) -> String {
    let t: String = s
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .take(max)
        .collect();
    if t.is_empty() { "x".into() } else { t }
}

/// Claims a /24 octet for this lab: a file `net-<octet>` created with
/// O_EXCL in /run/vrrp-testlab holding our PID. Stale claims (PID gone)
/// are taken over.
fn claim_octet(seed: u32) -> Result<(u8, PathBuf)> {
    let dir = if is_root() {
        PathBuf::from(LOCK_DIR)
    } else {
        std::env::temp_dir().join("vrrp-testlab-locks")
    };
    fs::create_dir_all(&dir)?;
    let me = std::process::id();
    for i in 0..254u32 {
        let octet = ((seed + i) % 254 + 1) as u8;
        let path = dir.join(format!("net-{octet}"));
        for _attempt in 0..2 {
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    use std::io::Write;
                    writeln!(f, "{me}")?;
                    return Ok((octet, path));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let owner = fs::read_to_string(&path)
                        .ok()
                        .and_then(|t| t.trim().parse::<u32>().ok());
                    match owner {
                        Some(pid) if Path::new(&format!("/proc/{pid}")).exists() => break,
                        Some(_) => {
                            // owner is gone: stale claim, take it over
                            let _ = fs::remove_file(&path);
                        }
                        None => break, // being written right now, or garbage: skip
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Err(Error::msg("no free 10.99.X.0/24 subnet (254 labs alive?)"))
}

impl Lab {
    /// Creates an empty LAN: the bridge namespace `<prefix>-br` with bridge
    /// `br0`. `tag` (first 4 alphanumerics used) helps to recognise the lab's
    /// namespaces in `ip netns list`.
    pub fn new(tag: &str) -> Result<Lab> {
        let pid = std::process::id();
        let n = LAB_COUNTER.fetch_add(1, Ordering::SeqCst);
        let prefix = format!(
            "{}{}x{}",
            sanitize(tag, 4),
            base36(pid as u64),
            base36(n as u64)
        );
        let (octet, lock_path) = claim_octet(pid.wrapping_mul(7).wrapping_add(n * 13))?;
        let base = if is_root() {
            PathBuf::from("/tmp/vrrp-testlab")
        } else {
            std::env::temp_dir().join("vrrp-testlab")
        };
        let dir = base.join(&prefix);
        let _ = fs::remove_dir_all(&dir); // a leftover of a dead process with our PID
        fs::create_dir_all(&dir)?;
        let shared = Arc::new(Shared {
            prefix: prefix.clone(),
            dir,
            procs: Mutex::new(Vec::new()),
            keep_dir: AtomicBool::new(std::env::var_os("VRRP_LAB_KEEP").is_some()),
            file_counter: AtomicU32::new(0),
        });
        let mut lab = Lab {
            shared,
            bridge_ns: format!("{prefix}-br"),
            namespaces: Vec::new(),
            nodes: Vec::new(),
            octet,
            octet_lock: Some(lock_path),
            next_index: 1,
        };
        lab.setup_bridge()?;
        Ok(lab)
    }

    fn add_netns(&mut self, ns: &str) -> Result<()> {
        if Path::new("/run/netns").join(ns).exists() {
            return Err(Error(format!(
                "namespace {ns} already exists (left over by a dead process?); not touching it"
            )));
        }
        sh("ip", &["netns", "add", ns])?;
        self.namespaces.push(ns.to_string());
        Ok(())
    }

    fn setup_bridge(&mut self) -> Result<()> {
        let br = self.bridge_ns.clone();
        self.add_netns(&br)?;
        sh("ip", &["-n", &br, "link", "set", "lo", "up"])?;
        // The bridge itself needs no IPv6: keep it quiet on the LAN.
        let _ = sh(
            "ip",
            &[
                "netns",
                "exec",
                &br,
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.disable_ipv6=1",
                "net.ipv6.conf.default.disable_ipv6=1",
            ],
        );
        sh(
            "ip",
            &[
                "-n",
                &br,
                "link",
                "add",
                "br0",
                "type",
                "bridge",
                "stp_state",
                "0",
                "forward_delay",
                "0",
                "mcast_snooping",
                "0",
            ],
        )?;
        sh("ip", &["-n", &br, "link", "set", "br0", "up"])?;
        Ok(())
    }

    /// Adds a router node (IP forwarding on).
    pub fn add_router(&mut self, name: &str) -> Result<Node> {
        self.add_node(name, NodeKind::Router)
    }

    /// Adds a host node.
    pub fn add_host(&mut self, name: &str) -> Result<Node> {
        self.add_node(name, NodeKind::Host)
    }

    /// Adds a node of `kind`: a namespace with a veth on the bridge and the next `.N` addresses.
    pub fn add_node(&mut self, name: &str, kind: NodeKind) -> Result<Node> {
        if self.next_index > 99 {
            return Err(Error::msg("a lab holds at most 99 nodes"));
        }
        let index = self.next_index;
        self.next_index += 1;
        let clean = sanitize(name, 8);
        if self.nodes.iter().any(|n| n.name == clean) {
            return Err(Error(format!("node {clean} already exists")));
        }
        let prefix = self.shared.prefix.clone();
        let ns = format!("{prefix}-{clean}");
        let br = self.bridge_ns.clone();
        let port = format!("p{index}-{clean}");
        let port: String = port.chars().take(15).collect();
        self.add_netns(&ns)?;
        let in_ns = |args: &[&str]| -> Result<String> {
            let mut v = vec!["netns", "exec", ns.as_str()];
            v.extend_from_slice(args);
            sh("ip", &v)
        };
        in_ns(&[
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.accept_dad=0",
            "net.ipv6.conf.default.accept_dad=0",
            "net.ipv6.conf.default.dad_transmits=0",
        ])?;
        if kind == NodeKind::Router {
            in_ns(&[
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
                "net.ipv6.conf.all.forwarding=1",
            ])?;
        }
        sh("ip", &["-n", &ns, "link", "set", "lo", "up"])?;
        sh(
            "ip",
            &[
                "-n", &br, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns",
                &ns,
            ],
        )?;
        sh(
            "ip",
            &["-n", &br, "link", "set", &port, "master", "br0", "up"],
        )?;
        in_ns(&[
            "sysctl",
            "-qw",
            "net.ipv6.conf.eth0.accept_dad=0",
            "net.ipv6.conf.eth0.dad_transmits=0",
        ])?;
        let ipv4 = self.ipv4(index);
        let ipv6 = self.ipv6(index);
        sh(
            "ip",
            &[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{ipv4}/24"),
                "dev",
                "eth0",
            ],
        )?;
        sh(
            "ip",
            &[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{ipv6}/64"),
                "dev",
                "eth0",
                "nodad",
            ],
        )?;
        sh("ip", &["-n", &ns, "link", "set", "eth0", "up"])?;
        // DAD is off, but wait (bounded) for any tentative address to settle.
        let settled = wait_until(Duration::from_secs(5), Duration::from_millis(20), || {
            sh("ip", &["-n", &ns, "-6", "addr", "show", "dev", "eth0"])
                .map(|s| !s.contains("tentative") && s.contains("fe80"))
                .unwrap_or(false)
        });
        if !settled {
            eprintln!("vrrp-testlab: {ns}: IPv6 addresses still tentative after 5 s");
        }
        let link = sh("ip", &["-n", &ns, "-j", "link", "show", "dev", "eth0"])?;
        let mac = json_strings(&link, "address")
            .into_iter()
            .next()
            .ok_or_else(|| Error(format!("no MAC in {link}")))?;
        let node = Node {
            name: clean,
            ns,
            ifname: "eth0".into(),
            bridge_port: port,
            index,
            kind,
            ipv4,
            ipv6,
            mac,
            shared: self.shared.clone(),
        };
        self.nodes.push(node.clone());
        Ok(node)
    }

    /// Plugs an existing node of another lab into this lab's bridge: a veth `ifname` in the
    /// node's namespace with the next `10.99.<octet>.<n>/24` of this lab (IPv4 only). Many
    /// LANs per router (one lab each) hold more VRIDs than one LAN's 255. The veth goes with
    /// this lab's bridge namespace.
    pub fn attach(&mut self, node: &Node, ifname: &str) -> Result<Ipv4Addr> {
        if self.next_index > 99 {
            return Err(Error::msg("a lab holds at most 99 nodes"));
        }
        let index = self.next_index;
        self.next_index += 1;
        let br = self.bridge_ns.clone();
        let port: String = format!("a{index}-{}", node.name).chars().take(15).collect();
        sh(
            "ip",
            &[
                "-n", &br, "link", "add", &port, "type", "veth", "peer", "name", ifname, "netns",
                &node.ns,
            ],
        )?;
        sh(
            "ip",
            &["-n", &br, "link", "set", &port, "master", "br0", "up"],
        )?;
        let ipv4 = self.ipv4(index);
        let cidr = format!("{ipv4}/24");
        sh("ip", &["-n", &node.ns, "addr", "add", &cidr, "dev", ifname])?;
        sh("ip", &["-n", &node.ns, "link", "set", ifname, "up"])?;
        Ok(ipv4)
    }

    /// The lab-unique third IPv4 octet (and second IPv6 group).
    pub fn octet(&self) -> u8 {
        self.octet
    }

    /// `10.99.<octet>.<n>`.
    pub fn ipv4(&self, n: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 99, self.octet, n)
    }

    /// `fd99:<octet>::<n>` (the octet's decimal digits read as hex, so
    /// 10.99.37.5 pairs with fd99:37::5).
    pub fn ipv6(&self, n: u8) -> Ipv6Addr {
        let group = u16::from_str_radix(&self.octet.to_string(), 16).expect("digits");
        let last = u16::from_str_radix(&n.to_string(), 16).expect("digits");
        Ipv6Addr::new(0xfd99, group, 0, 0, 0, 0, 0, last)
    }

    /// A free address for a VIP: nodes use .1-.99, VIPs .100 and up.
    pub fn vip4(&self, n: u8) -> Ipv4Addr {
        self.ipv4(n.max(100))
    }

    /// The IPv6 counterpart of [`Lab::vip4`].
    pub fn vip6(&self, n: u8) -> Ipv6Addr {
        self.ipv6(n.max(100))
    }

    /// The prefix of the lab's namespace names, unique per lab.
    pub fn prefix(&self) -> &str {
        &self.shared.prefix
    }

    /// Name of the namespace that holds the bridge `br0`.
    pub fn bridge_ns(&self) -> &str {
        &self.bridge_ns
    }

    /// The lab's temporary directory (configs, logs, captures).
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// The nodes, in the order they were added.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// Namespaces this lab created (and deletes on drop).
    pub fn namespaces(&self) -> &[String] {
        &self.namespaces
    }

    /// Writes `text` to `name` in the lab's directory and returns the path.
    pub fn write_file(&self, name: &str, text: &str) -> Result<PathBuf> {
        write_in(&self.shared, name, text)
    }

    /// Keeps the lab directory after drop (it is always kept when the drop
    /// happens during a panic, or when VRRP_LAB_KEEP is set).
    pub fn keep_dir(&self) {
        self.shared.keep_dir.store(true, Ordering::SeqCst);
    }

    /// Processes started in this lab so far.
    pub fn procs(&self) -> Vec<Proc> {
        lock(&self.shared.procs).clone()
    }

    /// A diagnostic dump for failure messages: the lab directory and the tail
    /// of every process's output. Use as `assert!(c, "...\n{}", lab.diag())`.
    pub fn diag(&self) -> String {
        self.keep_dir();
        let mut s = format!(
            "\n=== vrrp-testlab {} (files kept in {}) ===\n",
            self.shared.prefix,
            self.shared.dir.display()
        );
        for p in self.procs() {
            let state = match p.status() {
                None => "running".to_string(),
                Some(st) => match (st.code(), st.signal()) {
                    (Some(c), _) => format!("exited {c}"),
                    (_, Some(sig)) => format!("killed by signal {sig}"),
                    _ => format!("{st}"),
                },
            };
            s.push_str(&format!("* {} pid {} ({state})\n", p.label, p.pid));
            s.push_str(&p.tail(20));
        }
        s
    }

    /// Starts tcpdump on the bridge (sees all LAN traffic), writing
    /// `<name>.pcap` in the lab directory. `filter` is a pcap filter
    /// expression ("" for everything). Stop with [`Capture::stop`].
    pub fn capture(&self, name: &str, filter: &str) -> Result<Capture> {
        let path = self.shared.dir.join(format!("{}.pcap", sanitize(name, 32)));
        let p = path.to_string_lossy().into_owned();
        let mut args = vec![
            "-i",
            "br0",
            "--immediate-mode",
            "-U",
            "-n",
            "-w",
            p.as_str(),
        ];
        if !filter.is_empty() {
            args.push(filter);
        }
        let proc = spawn_in(
            &self.shared,
            &self.bridge_ns,
            "capture",
            "tcpdump",
            &args,
            &[],
        )?;
        // tcpdump prints "listening on br0" once the capture is armed.
        let armed = wait_until(Duration::from_secs(5), Duration::from_millis(20), || {
            fs::read_to_string(proc.stderr_path())
                .map(|t| t.contains("listening on"))
                .unwrap_or(false)
                || !proc.is_running()
        });
        if !armed || !proc.is_running() {
            return Err(Error(format!("tcpdump did not start:\n{}", proc.tail(10))));
        }
        Ok(Capture { proc, path })
    }

    fn cleanup(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        let procs = std::mem::take(&mut *lock(&self.shared.procs));
        let mut orphans = Vec::new();
        for p in &procs {
            orphans.extend(lock(&p.inner).known_children.clone());
            if let Err(e) = p.kill_and_wait() {
                problems.push(format!("{}: {e}", p.label));
            }
        }
        // Killed grandchildren (keepalived's VRRP process) are re-parented to
        // init once their parent is gone; give init a moment to reap them so
        // nothing of ours shows up in `ps` after the lab, not even a zombie.
        wait_until(Duration::from_secs(3), Duration::from_millis(20), || {
            orphans
                .iter()
                .all(|(pid, start)| proc_stat(*pid).is_none_or(|(_, s)| s != *start))
        });
        // veths first (deleting one end removes the pair), then namespaces.
        for n in &self.nodes {
            let _ = sh(
                "ip",
                &["-n", &self.bridge_ns, "link", "del", &n.bridge_port],
            );
        }
        for ns in self.namespaces.drain(..).rev() {
            if let Err(e) = sh("ip", &["netns", "del", &ns]) {
                problems.push(format!("deleting namespace {ns}: {e}"));
            }
        }
        if let Some(l) = self.octet_lock.take() {
            let _ = fs::remove_file(l);
        }
        problems
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let panicking = std::thread::panicking();
        let problems = self.cleanup();
        for p in &problems {
            eprintln!("vrrp-testlab {}: cleanup: {p}", self.shared.prefix);
        }
        let keep = panicking || !problems.is_empty() || self.shared.keep_dir.load(Ordering::SeqCst);
        if keep {
            eprintln!(
                "vrrp-testlab {}: logs and configs kept in {}",
                self.shared.prefix,
                self.shared.dir.display()
            );
        } else if let Err(e) = fs::remove_dir_all(&self.shared.dir) {
            eprintln!(
                "vrrp-testlab {}: cannot remove {}: {e}",
                self.shared.prefix,
                self.shared.dir.display()
            );
        }
    }
}

/// A running tcpdump capture on the lab's bridge.
pub struct Capture {
    proc: Proc,
    path: PathBuf,
}

impl Capture {
    /// Stops tcpdump (SIGTERM, flushing the file) and returns the pcap path.
    pub fn stop(self) -> Result<PathBuf> {
        self.proc.kill(SIGTERM)?;
        if self.proc.wait_timeout(Duration::from_secs(5))?.is_none() {
            self.proc.kill_and_wait()?;
        }
        Ok(self.path)
    }

    /// Where the pcap file is written.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn write_in(shared: &Shared, name: &str, text: &str) -> Result<PathBuf> {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let path = shared.dir.join(clean);
    fs::write(&path, text)?;
    Ok(path)
}

fn spawn_in(
    shared: &Arc<Shared>,
    ns: &str,
    node: &str,
    cmd: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<Proc> {
    let n = shared.file_counter.fetch_add(1, Ordering::SeqCst);
    let base = Path::new(cmd)
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "cmd".into());
    let label = format!("{node}/{}#{n}", sanitize(&base, 16));
    let stem = format!("{node}-{}-{n}", sanitize(&base, 16));
    let stdout = shared.dir.join(format!("{stem}.stdout"));
    let stderr = shared.dir.join(format!("{stem}.stderr"));
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, cmd])
        .args(args)
        .stdin(Stdio::null())
        .stdout(fs::File::create(&stdout)?)
        .stderr(fs::File::create(&stderr)?);
    for (k, v) in env {
        c.env(k, v);
    }
    let child = c
        .spawn()
        .map_err(|e| Error(format!("cannot spawn {cmd} in {ns}: {e}")))?;
    let pid = child.id();
    let proc = Proc {
        inner: Arc::new(Mutex::new(ProcState {
            child,
            label: label.clone(),
            status: None,
            child_pidfiles: Vec::new(),
            known_children: Vec::new(),
        })),
        pid,
        label,
        stdout,
        stderr,
    };
    lock(&shared.procs).push(proc.clone());
    Ok(proc)
}

/// All `"key":"value"` string values in a JSON text (enough for `ip -j`).
fn json_strings(json: &str, key: &str) -> Vec<String> {
    let pat = format!("\"{key}\":\"");
    let mut out = Vec::new();
    let mut rest = json;
    while let Some(i) = rest.find(&pat) {
        let after = &rest[i + pat.len()..];
        match after.find('"') {
            Some(j) => {
                out.push(after[..j].to_string());
                rest = &after[j..];
            }
            None => break,
        }
    }
    out
}

impl Node {
    /// The node's name, as given to `add_router`/`add_host`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The namespace name (`ip netns exec <ns> ...`).
    pub fn ns(&self) -> &str {
        &self.ns
    }

    /// The node's LAN interface inside its namespace (always `eth0`).
    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    /// The veth end plugged into the bridge (in the bridge namespace).
    pub fn bridge_port(&self) -> &str {
        &self.bridge_port
    }

    /// Host number N of `10.99.X.N`.
    pub fn index(&self) -> u8 {
        self.index
    }

    /// Router or host.
    pub fn kind(&self) -> NodeKind {
        self.kind
    }

    /// The node's address on the LAN, `10.99.X.N`.
    pub fn ipv4(&self) -> Ipv4Addr {
        self.ipv4
    }

    /// The node's IPv6 address on the LAN, `fd99:X::N`.
    pub fn ipv6(&self) -> Ipv6Addr {
        self.ipv6
    }

    /// MAC of `eth0`, lower-case `aa:bb:cc:dd:ee:ff`.
    pub fn mac(&self) -> &str {
        &self.mac
    }

    /// Writes a file in the lab directory (same as [`Lab::write_file`]).
    pub fn write_file(&self, name: &str, text: &str) -> Result<PathBuf> {
        write_in(&self.shared, name, text)
    }

    /// Path of a file in the lab directory (not created).
    pub fn lab_path(&self, name: &str) -> PathBuf {
        self.shared.dir.join(name)
    }

    /// Runs a command in the namespace and waits (bounded by
    /// [`COMMAND_TIMEOUT`]) for its output. Non-zero exit is not an error.
    pub fn run(&self, cmd: &str, args: &[&str]) -> Result<Output> {
        self.run_timeout(cmd, args, COMMAND_TIMEOUT)
    }

    /// [`Node::run`] with its own time bound.
    pub fn run_timeout(&self, cmd: &str, args: &[&str], timeout: Duration) -> Result<Output> {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns, cmd]).args(args);
        run_bounded(c, timeout)
    }

    /// Like [`Node::run`] but fails on a non-zero exit; returns stdout.
    pub fn run_ok(&self, cmd: &str, args: &[&str]) -> Result<String> {
        let out = self.run(cmd, args)?;
        check_output(&format!("[{}] {cmd} {}", self.name, args.join(" ")), out)
    }

    /// Starts a long-running command in the namespace with stdout/stderr
    /// going to files in the lab directory. The lab kills it on drop.
    pub fn spawn(&self, cmd: &str, args: &[&str], env: &[(&str, &str)]) -> Result<Proc> {
        spawn_in(&self.shared, &self.ns, &self.name, cmd, args, env)
    }

    /// All addresses on all interfaces of the namespace (`ip -j addr`).
    pub fn addresses(&self) -> Result<Vec<IpAddr>> {
        let out = self.run_ok("ip", &["-j", "addr", "show"])?;
        Ok(json_strings(&out, "local")
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect())
    }

    /// Whether `ip` is configured on any interface of the node (how a VIP's
    /// owner, i.e. the Master, is recognised). Panics when `ip` cannot be run: a
    /// failed probe must not read as "no address" and pass a negative check.
    #[track_caller]
    pub fn has_address(&self, ip: impl Into<IpAddr>) -> bool {
        let ip = ip.into();
        match self.addresses() {
            Ok(v) => v.contains(&ip),
            Err(e) => panic!("vrrp-testlab: {}: cannot list addresses: {e}", self.name),
        }
    }

    /// `ip addr add ADDR/PLEN dev eth0`.
    pub fn add_address(&self, cidr: &str) -> Result<()> {
        self.run_ok("ip", &["addr", "add", cidr, "dev", &self.ifname])
            .map(|_| ())
    }

    /// `ip addr del ADDR/PLEN dev eth0`.
    pub fn del_address(&self, cidr: &str) -> Result<()> {
        self.run_ok("ip", &["addr", "del", cidr, "dev", &self.ifname])
            .map(|_| ())
    }

    /// Pings `ip` `count` times (one per 0.2 s), giving up after `timeout`.
    /// True if at least one reply came back.
    pub fn ping(&self, ip: impl Into<IpAddr>, count: u32, timeout: Duration) -> bool {
        let ip = ip.into().to_string();
        let secs = timeout.as_secs().max(1).to_string();
        let count = count.max(1).to_string();
        let args = [
            "-n", "-q", "-i", "0.2", "-c", &count, "-W", "1", "-w", &secs, &ip,
        ];
        match self.run_timeout("ping", &args, timeout + Duration::from_secs(5)) {
            Ok(o) => o.status.success(),
            Err(e) => {
                eprintln!("vrrp-testlab: {}: ping: {e}", self.name);
                false
            }
        }
    }

    /// The MAC the node's neighbour table holds for `ip` (if reachable/stale).
    pub fn neighbour_mac(&self, ip: impl Into<IpAddr>) -> Option<String> {
        let ip = ip.into().to_string();
        let out = self
            .run_ok("ip", &["neigh", "show", "to", &ip, "dev", &self.ifname])
            .ok()?;
        let line = out.lines().find(|l| l.contains("lladdr"))?;
        if line.contains("FAILED") || line.contains("INCOMPLETE") {
            return None;
        }
        let mut it = line.split_whitespace();
        it.find(|w| *w == "lladdr")?;
        it.next().map(str::to_string)
    }

    /// Forgets the neighbour entry for `ip` (ignores errors).
    pub fn flush_neighbour(&self, ip: impl Into<IpAddr>) {
        let ip = ip.into().to_string();
        let _ = self.run("ip", &["neigh", "flush", "to", &ip]);
    }

    /// Sets the node's `eth0` down (as if the cable were pulled).
    pub fn link_down(&self) -> Result<()> {
        self.run_ok("ip", &["link", "set", &self.ifname, "down"])
            .map(|_| ())
    }

    /// Sets the node's `eth0` up again.
    pub fn link_up(&self) -> Result<()> {
        self.run_ok("ip", &["link", "set", &self.ifname, "up"])
            .map(|_| ())
    }

    /// `sysctl -w key=value` inside the namespace.
    pub fn sysctl(&self, key: &str, value: &str) -> Result<()> {
        self.run_ok("sysctl", &["-qw", &format!("{key}={value}")])
            .map(|_| ())
    }

    fn nft_script(&self, name: &str, script: &str) -> Result<()> {
        let path = self.write_file(&format!("{}-{name}.nft", self.name), script)?;
        self.run_ok("nft", &["-f", &path.to_string_lossy()])
            .map(|_| ())
    }

    /// Drops VRRP (IP protocol 112) to 224.0.0.18 and ff02::12, in and out,
    /// with an nftables table `vrrplab_drop` in the node (counted).
    pub fn drop_vrrp_multicast(&self) -> Result<()> {
        self.nft_script(
            "drop-vrrp",
            "table inet vrrplab_drop {}\ndelete table inet vrrplab_drop\n\
             table inet vrrplab_drop {\n\
               chain input {\n\
                 type filter hook input priority -10; policy accept;\n\
                 ip protocol 112 ip daddr 224.0.0.18 counter drop\n\
                 meta l4proto 112 ip6 daddr ff02::12 counter drop\n\
               }\n\
               chain output {\n\
                 type filter hook output priority -10; policy accept;\n\
                 ip protocol 112 ip daddr 224.0.0.18 counter drop\n\
                 meta l4proto 112 ip6 daddr ff02::12 counter drop\n\
               }\n\
             }\n",
        )
    }

    /// Removes the rules of [`Node::drop_vrrp_multicast`].
    pub fn allow_vrrp_multicast(&self) -> Result<()> {
        self.nft_script(
            "allow-vrrp",
            "table inet vrrplab_drop {}\ndelete table inet vrrplab_drop\n",
        )
    }

    /// Packets dropped so far by the [`Node::drop_vrrp_multicast`] rules.
    pub fn vrrp_drop_count(&self) -> Result<u64> {
        let out = self.run_ok("nft", &["list", "table", "inet", "vrrplab_drop"])?;
        Ok(nft_counter_packets(&out))
    }

    /// Random loss on `eth0`, both directions: each packet is dropped with
    /// `probability` (0.0..=1.0, rounded to whole percent) using
    /// `numgen random mod 100 < N` (no netem needed). 0 removes the rules.
    pub fn set_loss(&self, probability: f64) -> Result<()> {
        let pct = (probability.clamp(0.0, 1.0) * 100.0).round() as u32;
        let mut s = String::from("table inet vrrplab_loss {}\ndelete table inet vrrplab_loss\n");
        if pct > 0 {
            let ifn = &self.ifname;
            let cond = if pct >= 100 {
                String::new()
            } else {
                format!("numgen random mod 100 < {pct} ")
            };
            s.push_str(&format!(
                "table inet vrrplab_loss {{\n\
                   chain input {{\n\
                     type filter hook prerouting priority -300; policy accept;\n\
                     iifname \"{ifn}\" {cond}counter drop\n\
                   }}\n\
                   chain output {{\n\
                     type filter hook output priority -300; policy accept;\n\
                     oifname \"{ifn}\" {cond}counter drop\n\
                   }}\n\
                 }}\n"
            ));
        }
        self.nft_script("loss", &s)
    }

    /// Packets dropped so far by [`Node::set_loss`].
    pub fn loss_count(&self) -> Result<u64> {
        let out = self.run_ok("nft", &["list", "table", "inet", "vrrplab_loss"])?;
        Ok(nft_counter_packets(&out))
    }

    /// Starts a background prober sending ARP + ICMP echo to `target` every
    /// `interval`, for at most `max` (see [`Prober`]).
    pub fn start_probe(
        &self,
        target: Ipv4Addr,
        interval: Duration,
        max: Duration,
    ) -> Result<Prober> {
        probe::Prober::start(self, target, interval, max)
    }

    /// Probes `target` for `duration` (blocking) and returns the report.
    pub fn probe(
        &self,
        target: Ipv4Addr,
        interval: Duration,
        duration: Duration,
    ) -> Result<ProbeReport> {
        let p = self.start_probe(target, interval, duration)?;
        std::thread::sleep(duration);
        p.stop()
    }
}

fn nft_counter_packets(listing: &str) -> u64 {
    let mut total = 0;
    for l in listing.lines() {
        let mut it = l.split_whitespace();
        while let Some(w) = it.next() {
            if w == "packets" {
                total += it.next().and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_parse() {
        let j = r#"[{"ifname":"eth0","address":"aa:bb:cc:dd:ee:ff","addr_info":[{"local":"10.0.0.1"},{"local":"fe80::1"}]}]"#;
        assert_eq!(json_strings(j, "local"), vec!["10.0.0.1", "fe80::1"]);
        assert_eq!(json_strings(j, "address"), vec!["aa:bb:cc:dd:ee:ff"]);
    }

    #[test]
    fn names() {
        assert_eq!(base36(0), "0");
        assert_eq!(base36(4194304), "2hwcg");
        assert_eq!(sanitize("Lab-Test_1!", 4), "labt");
        assert_eq!(
            nft_counter_packets("counter packets 3 bytes 4\ncounter packets 2 bytes 1"),
            5
        );
    }

    #[test]
    fn wait_until_is_bounded() {
        let t = Instant::now();
        assert!(!wait_until(
            Duration::from_millis(50),
            Duration::from_millis(10),
            || false
        ));
        assert!(t.elapsed() < Duration::from_secs(2));
        let mut n = 0;
        assert!(wait_until(
            Duration::from_secs(1),
            Duration::from_millis(1),
            || {
                n += 1;
                n > 3
            }
        ));
    }
}
