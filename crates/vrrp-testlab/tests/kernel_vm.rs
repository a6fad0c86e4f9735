//! Proof of the VM runner (`scripts/vm-test.sh`): the guest kernel has IPVS, a NAT virtual
//! service made with ipvsadm forwards HTTP between namespaces, and keepalived and vrrpd run
//! there. Host runs exclude this binary (`_vm`, .config/nextest.toml); outside the VM every
//! test fails, saying how to run it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::Duration;
use vrrp_testlab::{Daemon, wait_until};

const IP: &str = "/usr/sbin/ip";
const IPVSADM: &str = "/usr/sbin/ipvsadm";
const BUSYBOX: &str = "/usr/bin/busybox";
const STEP: Duration = Duration::from_secs(30);

fn in_vm() {
    vrrp_testlab::vm::require_vm("kernel_vm");
}

/// Runs `prog args` with a time limit; the output, or a panic naming the command.
fn run(prog: &str, args: &[&str]) -> Output {
    vrrp_testlab::vm::run(prog, args, STEP)
}

/// Like [`run`], and the command must succeed.
fn ok(prog: &str, args: &[&str]) -> String {
    vrrp_testlab::vm::run_ok(prog, args, STEP)
}

/// `args` run in namespace `ns` (`ip netns exec`).
fn ns_ok(ns: &str, args: &[&str]) -> String {
    let mut all = vec!["netns", "exec", ns];
    all.extend_from_slice(args);
    ok(IP, &all)
}

#[test]
fn ipvs_generic_netlink_family_exists() {
    in_vm();
    let out = ok(IPVSADM, &["-Ln"]);
    assert!(
        out.contains("IP Virtual Server version"),
        "ipvsadm -Ln: {out}"
    );
}

/// Three namespaces (client, director, real server) joined by veth pairs; everything is
/// removed on drop, the server killed by its PID, also when the test fails.
struct NatLab {
    client: String,
    director: String,
    server: String,
    httpd: Option<Child>,
    docroot: PathBuf,
}

impl NatLab {
    fn new() -> NatLab {
        let id = std::process::id();
        let lab = NatLab {
            client: format!("vmc{id}"),
            director: format!("vmd{id}"),
            server: format!("vmr{id}"),
            httpd: None,
            docroot: std::env::temp_dir().join(format!("vm-httpd-{id}")),
        };
        for ns in [&lab.client, &lab.director, &lab.server] {
            ok(IP, &["netns", "add", ns]);
            ns_ok(ns, &[IP, "link", "set", "lo", "up"]);
        }
        lab.link(&lab.client, "10.99.201.2/24", "10.99.201.1/24");
        lab.link(&lab.server, "10.99.202.2/24", "10.99.202.1/24");
        let d = lab.director.as_str();
        // The VIP is local to the director, so that IPVS sees it at LOCAL_IN.
        ns_ok(d, &[IP, "addr", "add", "10.99.201.100/32", "dev", "vd-c"]);
        ns_ok(d, &[BUSYBOX, "sysctl", "-w", "net.ipv4.ip_forward=1"]);
        ns_ok(
            &lab.client,
            &[IP, "route", "add", "default", "via", "10.99.201.1"],
        );
        // NAT (masq): replies must come back through the director.
        ns_ok(
            &lab.server,
            &[IP, "route", "add", "default", "via", "10.99.202.1"],
        );
        lab
    }

    /// A veth pair from `ns` (eth0, `addr`) to the director (`vd-<first letter>`, `gw`).
    fn link(&self, ns: &str, addr: &str, gw: &str) {
        let peer = format!("vd-{}", &ns[2..3]);
        let d = self.director.as_str();
        ok(
            IP,
            &[
                "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", &peer, "netns",
                d,
            ],
        );
        ns_ok(ns, &[IP, "addr", "add", addr, "dev", "eth0"]);
        ns_ok(ns, &[IP, "link", "set", "eth0", "up"]);
        ns_ok(d, &[IP, "addr", "add", gw, "dev", &peer]);
        ns_ok(d, &[IP, "link", "set", &peer, "up"]);
    }

    fn start_httpd(&mut self, body: &str) {
        std::fs::create_dir_all(&self.docroot).expect("docroot");
        std::fs::write(self.docroot.join("index.html"), body).expect("index.html");
        let root = self.docroot.to_string_lossy().into_owned();
        let child = Command::new(IP)
            .args(["netns", "exec", &self.server, BUSYBOX, "httpd", "-f"])
            .args(["-p", "10.99.202.2:80", "-h", &root])
            .spawn()
            .expect("busybox httpd");
        self.httpd = Some(child);
    }

    fn get(&self, url: &str) -> Output {
        let c = self.client.as_str();
        // (No `-T`: busybox 1.35 wget segfaults with it; run_bounded limits the time.)
        run(
            IP,
            &["netns", "exec", c, BUSYBOX, "wget", "-q", "-O", "-", url],
        )
    }
}

impl Drop for NatLab {
    fn drop(&mut self) {
        if let Some(mut h) = self.httpd.take() {
            let _ = h.kill();
            let _ = h.wait();
        }
        for ns in [&self.client, &self.director, &self.server] {
            let _ = run(IP, &["netns", "del", ns]);
        }
        let _ = std::fs::remove_dir_all(&self.docroot);
    }
}

#[test]
fn ipvs_nat_service_forwards_http_to_the_real_server() {
    in_vm();
    let mut lab = NatLab::new();
    let body = "served by the real server behind IPVS\n";
    lab.start_httpd(body);
    let d = lab.director.clone();
    ns_ok(&d, &[IPVSADM, "-A", "-t", "10.99.201.100:80", "-s", "rr"]);
    ns_ok(
        &d,
        &[
            IPVSADM,
            "-a",
            "-t",
            "10.99.201.100:80",
            "-r",
            "10.99.202.2:80",
            "-m",
        ],
    );

    // httpd may still be starting: the first request is retried.
    let url = "http://10.99.201.100/";
    let first = wait_until(Duration::from_secs(20), Duration::from_millis(200), || {
        lab.get(url).status.success()
    });
    assert!(first, "no answer through the VIP within 20 s");
    for n in 0..3 {
        let out = lab.get(url);
        assert!(
            out.status.success(),
            "request {n}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), body, "request {n}");
    }
    // Every request went through IPVS: the connection table holds one entry per request.
    let conns = ns_ok(&d, &[IPVSADM, "-Lnc"]);
    let entries = conns
        .lines()
        .filter(|l| l.contains("10.99.202.2:80"))
        .count();
    assert!(
        entries >= 4,
        "ipvsadm -Lnc shows {entries} connections:\n{conns}"
    );
}

#[test]
fn keepalived_and_vrrpd_run() {
    in_vm();
    let out = run("/usr/sbin/keepalived", &["--version"]);
    let text = String::from_utf8_lossy(&out.stderr) + String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("Keepalived"),
        "keepalived --version: {text}"
    );
    let Daemon::Vrrpd { binary } = Daemon::vrrpd_next_to_exe() else {
        unreachable!("vrrpd_next_to_exe names vrrpd")
    };
    assert!(
        Path::new(&binary).is_file(),
        "{} is not in the VM",
        binary.display()
    );
    let version = ok(&binary.to_string_lossy(), &["--version"]);
    assert!(version.contains("vrrpd"), "vrrpd --version: {version}");
}

/// A namespace removed on drop.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = format!("vm{tag}{}", std::process::id());
        ok(IP, &["netns", "add", &name]);
        Netns(name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run(IP, &["netns", "del", &self.0]);
    }
}

#[test]
fn every_ipvs_scheduler_loads_on_first_use() {
    in_vm();
    // Only ip_vs_rr and ip_vs_wrr are loaded at boot; the kernel asks modprobe for the
    // others ("ip_vs_<name>", net/netfilter/ipvs/ip_vs_sched.c).
    let ns = Netns::new("s");
    let scheds = [
        "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "mh", "fo", "ovf",
    ];
    for (port, s) in scheds.iter().chain(&["sed", "nq"]).enumerate() {
        let vip = format!("10.99.203.1:{}", 1000 + port);
        ns_ok(&ns.0, &[IPVSADM, "-A", "-t", &vip, "-s", s]);
    }
    let list = ns_ok(&ns.0, &[IPVSADM, "-Ln"]);
    for s in scheds {
        assert!(
            list.contains(&format!(" {s} ")) || list.contains(&format!(" {s}\n")),
            "{s}: {list}"
        );
    }
}

#[test]
fn tunnel_links_for_ipvs_tun_can_be_made() {
    in_vm();
    // ipip and GRE load on first use ("rtnl-link-<kind>"); fou (GUE) is loaded at boot.
    let ns = Netns::new("t");
    let n = ns.0.as_str();
    ns_ok(n, &[IP, "fou", "add", "port", "5555", "ipproto", "4"]);
    for kind in ["ipip", "gre"] {
        let name = format!("tunl-{kind}");
        let remote = ["remote", "10.99.204.2"];
        ns_ok(
            n,
            &[&[IP, "link", "add", &name, "type", kind][..], &remote].concat(),
        );
        let link = ns_ok(n, &[IP, "-d", "link", "show", &name]);
        let ok = link.contains(&format!("link/{kind} ")) && link.contains("remote 10.99.204.2");
        assert!(ok, "{kind}: {link}");
    }
}
