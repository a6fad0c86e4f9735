//! Namespaces, veth pairs and processes of one VM test, all removed on drop (processes
//! killed by PID, namespaces deleted), also when the test panics. Sockets are made in a
//! namespace by a thread that entered it (`setns`), so that clients and the echo server are
//! plain Rust, without a tool per request (TCG makes every process start slow).
#![allow(dead_code)]

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

pub(crate) const IP: &str = "/usr/sbin/ip";
pub(crate) const IPVSADM: &str = "/usr/sbin/ipvsadm";
pub(crate) const BUSYBOX: &str = "/usr/bin/busybox";
/// One command's bound: TCG makes a guest 5-20 times slower than the host.
const STEP: Duration = Duration::from_secs(60);

/// Fails unless the VM runner started the test (the host kernel has no IPVS).
pub(crate) fn in_vm() {
    vrrp_testlab::vm::require_vm("ipvs_vm");
}

/// Runs `prog args` (bounded); panics naming the command when it fails.
pub(crate) fn ok(prog: &str, args: &[&str]) -> String {
    vrrp_testlab::vm::run_ok(prog, args, STEP)
}

/// Runs `prog args` (bounded), whatever its exit status.
pub(crate) fn run(prog: &str, args: &[&str]) -> Output {
    vrrp_testlab::vm::run(prog, args, STEP)
}

/// A test's namespaces, files and processes.
pub(crate) struct Lab {
    prefix: String,
    namespaces: Vec<String>,
    procs: Vec<Child>,
    /// Pid files of processes the ones above forked (keepalived's children).
    child_pidfiles: Vec<PathBuf>,
    pub(crate) dir: PathBuf,
}

impl Lab {
    pub(crate) fn new(tag: &str) -> Lab {
        let prefix = format!("{tag}{}", std::process::id());
        let dir = std::env::temp_dir().join(format!("ipvs-vm-{prefix}"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("the lab's directory");
        Lab {
            prefix,
            namespaces: Vec::new(),
            procs: Vec::new(),
            child_pidfiles: Vec::new(),
            dir,
        }
    }

    /// A new namespace (its loopback up); its full name.
    pub(crate) fn netns(&mut self, name: &str) -> String {
        let ns = format!("{}-{name}", self.prefix);
        ok(IP, &["netns", "add", &ns]);
        self.namespaces.push(ns.clone());
        self.exec(&ns, &[IP, "link", "set", "lo", "up"]);
        ns
    }

    /// `args` in namespace `ns`; must succeed.
    pub(crate) fn exec(&self, ns: &str, args: &[&str]) -> String {
        let mut all = vec!["netns", "exec", ns];
        all.extend_from_slice(args);
        ok(IP, &all)
    }

    /// `ip ARGS` in `ns`.
    pub(crate) fn ip(&self, ns: &str, args: &[&str]) {
        let mut all = vec!["-n", ns];
        all.extend_from_slice(args);
        ok(IP, &all);
    }

    pub(crate) fn sysctl(&self, ns: &str, settings: &[&str]) {
        for s in settings {
            self.exec(ns, &[BUSYBOX, "sysctl", "-q", "-w", s]);
        }
    }

    /// A veth pair `a_if` in `a` and `b_if` in `b`, both up.
    pub(crate) fn veth(&self, a: &str, a_if: &str, b: &str, b_if: &str) {
        ok(
            IP,
            &[
                "link", "add", a_if, "netns", a, "type", "veth", "peer", "name", b_if, "netns", b,
            ],
        );
        self.ip(a, &["link", "set", a_if, "up"]);
        self.ip(b, &["link", "set", b_if, "up"]);
    }

    /// A bridge `name` in `ns`, up.
    pub(crate) fn bridge(&self, ns: &str, name: &str) {
        self.ip(
            ns,
            &["link", "add", name, "type", "bridge", "forward_delay", "0"],
        );
        self.ip(ns, &["link", "set", name, "up"]);
    }

    /// Starts `args` in `ns` with its output in the lab's directory; its index.
    pub(crate) fn spawn(&mut self, ns: &str, label: &str, args: &[&str]) -> usize {
        let log = |ext: &str| {
            let path = self.dir.join(format!("{label}.{ext}"));
            fs::File::create(path).expect("a log file")
        };
        let child = Command::new(IP)
            .args(["netns", "exec", ns])
            .args(args)
            .stdin(Stdio::null())
            .stdout(log("out"))
            .stderr(log("err"))
            .spawn()
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        self.procs.push(child);
        self.procs.len() - 1
    }

    /// The last lines of a process's stderr.
    pub(crate) fn tail(&self, label: &str) -> String {
        let text = fs::read_to_string(self.dir.join(format!("{label}.err"))).unwrap_or_default();
        let lines: Vec<&str> = text.lines().filter(|l| !l.contains(" DEBUG ")).collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    pub(crate) fn pid(&self, index: usize) -> i32 {
        i32::try_from(self.procs[index].id()).expect("a pid")
    }

    /// Sends `signal` to process `index`.
    pub(crate) fn signal(&self, index: usize, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.pid(index));
        let _ = nix::sys::signal::kill(pid, signal);
    }

    /// Waits (bounded) for process `index` to end; whether it did.
    pub(crate) fn wait(&mut self, index: usize, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            match self.procs[index].try_wait() {
                Ok(Some(_)) | Err(_) => return true,
                Ok(None) if std::time::Instant::now() >= deadline => return false,
                Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }

    /// SIGTERM, then SIGKILL after `grace`.
    pub(crate) fn stop(&mut self, index: usize, grace: Duration) -> bool {
        self.signal(index, nix::sys::signal::Signal::SIGTERM);
        let clean = self.wait(index, grace);
        if !clean {
            let _ = self.procs[index].kill();
            let _ = self.procs[index].wait();
        }
        clean
    }

    /// Kills, at drop, the process whose PID `path` holds.
    pub(crate) fn kill_at_drop(&mut self, path: PathBuf) {
        self.child_pidfiles.push(path);
    }

    /// A document root with `index.html` holding `body`.
    pub(crate) fn docroot(&self, name: &str, body: &str) -> String {
        let root = self.dir.join(name);
        fs::create_dir_all(&root).expect("a document root");
        fs::write(root.join("index.html"), body).expect("index.html");
        root.to_string_lossy().into_owned()
    }

    /// busybox httpd on `port` in `ns` serving `root`; its index.
    pub(crate) fn httpd(&mut self, ns: &str, port: u16, root: &str) -> usize {
        let label = format!("httpd-{ns}-{port}");
        let p = port.to_string();
        self.spawn(ns, &label, &[BUSYBOX, "httpd", "-f", "-p", &p, "-h", root])
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for path in &self.child_pidfiles {
            if let Some(pid) = read_pid(path) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        for child in &mut self.procs {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in self.namespaces.iter().rev() {
            let _ = run(IP, &["netns", "del", ns]);
        }
        if std::env::var_os("VRRP_LAB_KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn read_pid(path: &Path) -> Option<i32> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Runs `f` on a thread that entered namespace `ns`: sockets it makes live there.
pub(crate) fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = PathBuf::from("/run/netns").join(ns);
    std::thread::spawn(move || {
        let file = fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
            .unwrap_or_else(|e| panic!("setns {}: {e}", path.display()));
        f()
    })
    .join()
    .expect("the namespace thread")
}

/// One HTTP GET of `/` from namespace `ns`: the body, or why not.
pub(crate) fn get(ns: &str, to: SocketAddr) -> Result<String, String> {
    in_ns(ns, move || {
        let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(5))
            .map_err(|e| format!("connect {to}: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        write!(s, "GET / HTTP/1.0\r\nHost: {to}\r\n\r\n").map_err(|e| e.to_string())?;
        let mut text = String::new();
        s.read_to_string(&mut text)
            .map_err(|e| format!("read from {to}: {e}"))?;
        match text.split_once("\r\n\r\n") {
            Some((head, body)) if head.contains(" 200 ") => Ok(body.to_string()),
            _ => Err(format!("{to} answered {text:?}")),
        }
    })
}

/// A line-echo server on `addr` in `ns` (each line comes back prefixed with `tag`),
/// serving until the namespace goes.
pub(crate) fn echo_server(ns: &str, addr: SocketAddr, tag: &'static str) {
    let listener =
        in_ns(ns, move || TcpListener::bind(addr)).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let Ok(mut out) = conn.try_clone() else {
                    return;
                };
                for line in BufReader::new(conn).lines() {
                    let Ok(line) = line else { return };
                    if writeln!(out, "{tag} {line}").is_err() {
                        return;
                    }
                }
            });
        }
    });
}

/// A TCP connection made from namespace `ns`.
pub(crate) fn connect(ns: &str, to: SocketAddr) -> TcpStream {
    in_ns(ns, move || {
        TcpStream::connect_timeout(&to, Duration::from_secs(10))
    })
    .unwrap_or_else(|e| panic!("connect {to}: {e}"))
}
