//! `vrrpctl sniff --interface` on a real link: two network namespaces joined by a veth
//! pair; the test sends VRRPv3 advertisements from one (a raw IP socket opened in that
//! namespace) while vrrpctl captures in the other. Needs root and `ip`; skipped otherwise (a failure under `VRRPD_LAB_REQUIRED=1`).

use std::fs::File;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use vrrp_core::packet::{Advertisement, Auth, ChecksumForm, MULTICAST_V4, Version, encode};

const MAC_A: &str = "02:00:00:99:03:01";
const ADDR_A: Ipv4Addr = Ipv4Addr::new(10, 99, 203, 1);

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Two namespaces and a veth pair; deletes them, and kills the processes it was given,
/// when dropped (also while a test panics).
struct NsPair {
    a: String,
    b: String,
    children: Vec<Child>,
}

impl NsPair {
    fn new(tag: &str) -> NsPair {
        let pid = std::process::id();
        let pair = NsPair {
            a: format!("vc-{tag}-{pid}-a"),
            b: format!("vc-{tag}-{pid}-b"),
            children: Vec::new(),
        };
        ip(&["netns", "add", &pair.a]);
        ip(&["netns", "add", &pair.b]);
        ip(&[
            "link", "add", "vla", "netns", &pair.a, "type", "veth", "peer", "name", "vlb", "netns",
            &pair.b,
        ]);
        ip(&["-n", &pair.a, "link", "set", "lo", "up"]);
        ip(&["-n", &pair.b, "link", "set", "lo", "up"]);
        ip(&["-n", &pair.a, "link", "set", "vla", "address", MAC_A, "up"]);
        ip(&["-n", &pair.b, "link", "set", "vlb", "up"]);
        ip(&["-n", &pair.a, "addr", "add", "10.99.203.1/24", "dev", "vla"]);
        ip(&["-n", &pair.b, "addr", "add", "10.99.203.2/24", "dev", "vlb"]);
        pair
    }

    /// `vrrpctl ARGS` in namespace b, stdout piped.
    fn spawn_vrrpctl(&mut self, args: &[&str]) -> usize {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.b, env!("CARGO_BIN_EXE_vrrpctl")])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn vrrpctl");
        self.children.push(child);
        self.children.len() - 1
    }

    /// Waits up to `timeout` for child `i`; kills it on timeout. Returns (exit code,
    /// stdout, stderr).
    fn wait(&mut self, i: usize, timeout: Duration) -> (Option<i32>, String, String) {
        let child = &mut self.children[i];
        let start = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().expect("try_wait") {
                break Some(s);
            }
            if start.elapsed() > timeout {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut out = String::new();
        let mut err = String::new();
        if let Some(mut o) = child.stdout.take() {
            let _ = o.read_to_string(&mut out);
        }
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        (status.and_then(|s| s.code()), out, err)
    }
}

impl Drop for NsPair {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// Sends a VRRPv3 advertisement every 100 ms from namespace `ns` until stopped: a
/// thread that enters the namespace (setns applies to the calling thread only) and
/// opens a raw IP socket there. Every fourth packet goes out with TTL 64.
struct Sender {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<u32>>,
}

impl Sender {
    fn start(ns: &str) -> Sender {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let path = Path::new("/run/netns").join(ns);
        let thread = std::thread::spawn(move || {
            let nsfile = File::open(&path).expect("open netns");
            // SAFETY: setns on this thread with a valid namespace fd.
            let rc = unsafe { libc::setns(nsfile.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            // SAFETY: plain socket(2); checked below.
            let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, 112) };
            assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
            let iface = libc::in_addr {
                s_addr: u32::from(ADDR_A).to_be(),
            };
            // SAFETY: valid option values of the right sizes.
            unsafe {
                libc::setsockopt(
                    fd,
                    libc::IPPROTO_IP,
                    libc::IP_MULTICAST_IF,
                    (&iface as *const libc::in_addr).cast(),
                    std::mem::size_of::<libc::in_addr>() as libc::socklen_t,
                );
            }
            let adv = Advertisement {
                version: Version::V3,
                vrid: 42,
                priority: 120,
                interval_cs: 100,
                auth: Auth::None,
                addresses: vec![IpAddr::V4(Ipv4Addr::new(10, 99, 203, 100))],
            };
            let bytes = encode(
                &adv,
                IpAddr::V4(ADDR_A),
                IpAddr::V4(MULTICAST_V4),
                ChecksumForm::PseudoHeader,
            )
            .expect("encode");
            // SAFETY: a zeroed sockaddr_in is valid.
            let mut to: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            to.sin_family = libc::AF_INET as libc::sa_family_t;
            to.sin_addr.s_addr = u32::from(MULTICAST_V4).to_be();
            let mut sent = 0u32;
            // Bounded: at most 30 s of sending.
            while !flag.load(Ordering::SeqCst) && sent < 300 {
                let ttl: libc::c_int = if sent % 4 == 3 { 64 } else { 255 };
                // SAFETY: as above; bytes and to outlive the calls.
                unsafe {
                    libc::setsockopt(
                        fd,
                        libc::IPPROTO_IP,
                        libc::IP_MULTICAST_TTL,
                        (&ttl as *const libc::c_int).cast(),
                        std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                    );
                    libc::sendto(
                        fd,
                        bytes.as_ptr().cast(),
                        bytes.len(),
                        0,
                        (&to as *const libc::sockaddr_in).cast(),
                        std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                    );
                }
                sent += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            // SAFETY: fd is ours.
            unsafe { libc::close(fd) };
            sent
        });
        Sender {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[test]
fn live_capture_count_json_and_sigterm_summary() {
    if !vrrp_testlab::lab_ready(&[]) {
        return;
    }
    let mut pair = NsPair::new("live");

    // --count 3 --json: three packets, then exit 0.
    let counted = pair.spawn_vrrpctl(&["sniff", "--interface", "vlb", "--count", "3", "--json"]);
    // A summary capture, ended by SIGTERM below.
    let summarized = pair.spawn_vrrpctl(&["sniff", "--interface", "vlb", "--summary", "--json"]);
    // Give both a moment to bind before sending (they would catch later packets anyway).
    std::thread::sleep(Duration::from_millis(300));
    let sender = Sender::start(&pair.a);

    let (code, out, err) = pair.wait(counted, Duration::from_secs(15));
    assert_eq!(code, Some(0), "stderr: {err}");
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 3, "{out}");
    for p in &lines {
        assert_eq!(p["src"], "10.99.203.1");
        assert_eq!(p["src_mac"], MAC_A);
        assert_eq!(p["version"], 3);
        assert_eq!(p["vrid"], 42);
        assert_eq!(p["priority"], 120);
        assert_eq!(p["addresses"], serde_json::json!(["10.99.203.100"]));
        assert_eq!(p["checksum_ok"], true);
        assert_eq!(p["checksum_form"], "pseudo-header");
    }

    // Let the TTL-64 packet (every fourth) go by, then SIGTERM: the summary is printed.
    std::thread::sleep(Duration::from_millis(700));
    let pid = pair.children[summarized].id();
    // `ip netns exec` execs the command, so this PID is vrrpctl itself.
    // SAFETY: signalling a child we started.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
    let (code, out, err) = pair.wait(summarized, Duration::from_secs(10));
    drop(sender);
    assert_eq!(code, Some(0), "stderr: {err}");
    let s: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(s["groups"][0]["vrid"], 42);
    assert!(s["groups"][0]["packets"].as_u64().unwrap() >= 4, "{s:#}");
    let kinds: Vec<&str> = s["diagnoses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, vec!["ttl_not_255"], "{s:#}");
}

#[test]
fn live_duration_stops_an_idle_capture() {
    if !vrrp_testlab::lab_ready(&[]) {
        return;
    }
    let mut pair = NsPair::new("idle");
    let start = Instant::now();
    let i = pair.spawn_vrrpctl(&[
        "sniff",
        "--interface",
        "vlb",
        "--duration",
        "1",
        "--summary",
    ]);
    let (code, out, err) = pair.wait(i, Duration::from_secs(10));
    assert_eq!(code, Some(0), "stderr: {err}");
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(out.contains("Summary: 0 VRRP packets"), "{out}");
}
