//! vrrpd's IPVS data path against the kernel's IPVS. The host kernel has no IPVS: these
//! tests run in a qemu VM booting Debian's stock kernel (`scripts/vm-test.sh --cargo
//! ipvs_vm`); host runs exclude the binary (its name ends in `_vm`), and outside the VM
//! every test fails saying so.
//!
//! The lab is made of namespaces and veth pairs (10.99.210.0/24 in front of the director,
//! 10.99.211.0/24 behind it); the real servers are busybox httpd (and a Rust echo server);
//! ipvsadm is the observer that does not share vrrpd's code.
//!
//! * `nat_dr_and_tun_services_carry_traffic`: HTTP through a NAT, a DR and a TUN service,
//!   and `ipvsadm -Ln --stats` agrees with `vrrpctl lvs`.
//! * `a_failed_checker_removes_the_server`: a real server stops, its checker takes it
//!   out, traffic moves to the other one, and it comes back.
//! * `keepalived_and_vrrpd_program_the_same_table`: the configurations of
//!   `tests/ipvs_parity/` under keepalived 2.2.7, then under vrrpd: the same `ipvsadm -Ln`.
//! * `a_connection_survives_the_masters_death`: two balancers with VRRP and
//!   `lvs_sync_daemon`; the Master is killed, the connection goes on through the Backup.

#[path = "ipvs_vm/ipvs.rs"]
mod ipvs;
#[path = "ipvs_vm/lab.rs"]
mod lab;
#[path = "ipvs_vm/parity.rs"]
mod parity;
#[path = "ipvs_vm/sync.rs"]
mod sync;

use std::net::SocketAddr;
use std::time::Duration;

use ipvs::{Vrrpd, settled, table};
use lab::{Lab, get, in_vm};

/// How long the kernel table may take to reach what the configuration says: checks run
/// every 1-3 s, and TCG makes the guest several times slower than the host.
const CONVERGE: Duration = Duration::from_secs(60);

/// A client, a director and two real servers. Each real server answers "rN" on port 8080
/// (NAT) and on port 80 (DR: the VIP 10.99.210.101 on its loopback; TUN: 10.99.210.102 on
/// its ipip device), and routes back through the director.
pub(crate) struct Farm {
    pub lab: Lab,
    pub client: String,
    pub director: String,
    pub servers: Vec<String>,
    /// httpd processes per server: (port 8080, port 80).
    pub httpd: Vec<(usize, usize)>,
}

impl Farm {
    pub(crate) fn new(tag: &str) -> Farm {
        let mut lab = Lab::new(tag);
        let client = lab.netns("c");
        let director = lab.netns("d");
        let d = director.as_str();
        lab.veth(&client, "eth0", d, "front");
        lab.ip(&client, &["addr", "add", "10.99.210.2/24", "dev", "eth0"]);
        lab.ip(&client, &["route", "add", "default", "via", "10.99.210.1"]);
        lab.ip(d, &["addr", "add", "10.99.210.1/24", "dev", "front"]);
        // The VIPs are local to the director: IPVS takes their packets at LOCAL_IN.
        for vip in (100..=105).chain(110..=112) {
            let a = format!("10.99.210.{vip}/32");
            lab.ip(d, &["addr", "add", &a, "dev", "front"]);
        }
        lab.bridge(d, "back");
        lab.ip(d, &["addr", "add", "10.99.211.1/24", "dev", "back"]);
        // DR and TUN replies come back through the director (the real servers' router
        // here) from a VIP it holds: without accept_local it drops them as martians.
        lab.sysctl(
            d,
            &[
                "net.ipv4.ip_forward=1",
                "net.ipv4.conf.all.accept_local=1",
                "net.ipv4.conf.back.accept_local=1",
            ],
        );
        let mut servers = Vec::new();
        let mut httpd = Vec::new();
        for i in 1..=2 {
            let r = lab.netns(&format!("r{i}"));
            Self::real_server(&lab, d, &r, i);
            let root = lab.docroot(&format!("r{i}"), &format!("r{i}\n"));
            httpd.push((lab.httpd(&r, 8080, &root), lab.httpd(&r, 80, &root)));
            servers.push(r);
        }
        Farm {
            lab,
            client,
            director,
            servers,
            httpd,
        }
    }

    fn real_server(lab: &Lab, d: &str, r: &str, i: u8) {
        let port = format!("vr{i}");
        lab.veth(r, "eth0", d, &port);
        lab.ip(d, &["link", "set", &port, "master", "back"]);
        lab.ip(
            r,
            &["addr", "add", &format!("10.99.211.1{i}/24"), "dev", "eth0"],
        );
        lab.ip(r, &["route", "add", "default", "via", "10.99.211.1"]);
        // DR: the VIP on the loopback, never answered for in ARP (the LVS-DR recipe).
        lab.sysctl(
            r,
            &[
                "net.ipv4.conf.all.arp_ignore=1",
                "net.ipv4.conf.all.arp_announce=2",
                "net.ipv4.conf.all.rp_filter=0",
            ],
        );
        lab.ip(r, &["addr", "add", "10.99.210.101/32", "dev", "lo"]);
        lab.ip(r, &["addr", "add", "10.99.210.105/32", "dev", "lo"]);
        // TUN: ipip's fallback device takes the decapsulated packets for the VIP.
        lab.ip(r, &["link", "set", "tunl0", "up"]);
        lab.ip(r, &["addr", "add", "10.99.210.102/32", "dev", "tunl0"]);
        lab.sysctl(r, &["net.ipv4.conf.tunl0.rp_filter=0"]);
    }

    /// `n` GETs of `vip`:80 from the client: the bodies.
    pub(crate) fn requests(&self, vip: &str, n: usize) -> Vec<String> {
        let to: SocketAddr = format!("{vip}:80").parse().expect("an address");
        (0..n)
            .map(|k| {
                get(&self.client, to)
                    .unwrap_or_else(|e| panic!("request {k} to {to}: {e}"))
                    .trim()
                    .to_string()
            })
            .collect()
    }
}

const THREE_SERVICES: &str = "global_defs {
    lb_dataplane ipvs
}
virtual_server 10.99.210.100 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.99.211.11 8080 {
        TCP_CHECK {
            connect_timeout 3
        }
    }
    real_server 10.99.211.12 8080 {
        TCP_CHECK {
            connect_timeout 3
        }
    }
}
virtual_server 10.99.210.101 80 {
    delay_loop 1
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 10.99.211.11 80 {
        TCP_CHECK {
            connect_timeout 3
        }
    }
    real_server 10.99.211.12 80 {
        TCP_CHECK {
            connect_timeout 3
        }
    }
}
virtual_server 10.99.210.102 80 {
    delay_loop 1
    lb_algo rr
    lb_kind TUN
    protocol TCP
    real_server 10.99.211.11 80 {
        TCP_CHECK {
            connect_timeout 3
        }
    }
    real_server 10.99.211.12 80 {
        TCP_CHECK {
            connect_timeout 3
        }
    }
}
";

/// Waits until the director's table has `services` services of `servers` servers each.
fn wait_table(farm: &Farm, services: usize, servers: usize, why: &str) -> ipvs::Table {
    let read = || table(&farm.lab, &farm.director);
    let done = |t: &ipvs::Table| t.len() == services && t.values().all(|v| v.len() == servers);
    settled(CONVERGE, Duration::from_millis(500), read, done)
        .unwrap_or_else(|t| panic!("{why}: the IPVS table is not there in {CONVERGE:?}: {t:#?}"))
}

#[test]
fn nat_dr_and_tun_services_carry_traffic() {
    in_vm();
    let started = std::time::Instant::now();
    let mut farm = Farm::new("tr");
    let d = farm.director.clone();
    let vrrpd = Vrrpd::start(&mut farm.lab, &d, "vrrpd", THREE_SERVICES);
    let t = wait_table(&farm, 3, 2, "three services");
    let methods: Vec<String> = t.values().map(|v| v.join(",")).collect();
    for m in ["Masq", "Route", "Tunnel"] {
        assert!(
            methods.iter().any(|l| l.contains(m)),
            "no {m} service: {t:#?}"
        );
    }
    let status = vrrpd.lvs(&farm.lab);
    assert!(status.data_path.starts_with("ipvs"), "{}", status.data_path);

    const N: usize = 6;
    for vip in ["10.99.210.100", "10.99.210.101", "10.99.210.102"] {
        let bodies = farm.requests(vip, N);
        for r in ["r1", "r2"] {
            let n = bodies.iter().filter(|b| *b == r).count();
            // rr over two servers: half each.
            assert_eq!(n, N / 2, "{vip}: {r} answered {n} of {N}: {bodies:?}");
        }
        println!("{vip}: {N} requests answered by {bodies:?}");
    }

    // The kernel sums its per-CPU counters every 2 s: poll until both observers agree
    // and have seen every connection.
    let read = || {
        let kernel = ipvs::stats(&farm.lab, &d);
        let ours = ipvs::lvs_counters(&vrrpd.lvs(&farm.lab));
        (kernel, ours)
    };
    let done = |(kernel, ours): &(ipvs::StatsMap, ipvs::StatsMap)| {
        kernel == ours
            && kernel
                .iter()
                .filter(|(k, _)| !k.contains("->"))
                .all(|(_, c)| c.connections == N as u64)
    };
    match settled(Duration::from_secs(30), Duration::from_secs(1), read, done) {
        Ok((kernel, _)) => println!("ipvsadm -Ln --stats and vrrpctl lvs agree: {kernel:#?}"),
        Err((kernel, ours)) => panic!("ipvsadm: {kernel:#?}\nvrrpctl lvs: {ours:#?}"),
    }
    assert!(vrrpd.stop(&mut farm.lab), "vrrpd did not stop on SIGTERM");
    let left = table(&farm.lab, &d);
    assert!(left.is_empty(), "vrrpd left services behind: {left:#?}");
    println!(
        "nat_dr_and_tun_services_carry_traffic: {:?} of guest time",
        started.elapsed()
    );
}

const ONE_NAT_SERVICE: &str = "global_defs {
    lb_dataplane ipvs
}
virtual_server 10.99.210.100 80 {
    delay_loop 1
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.99.211.11 8080 {
        TCP_CHECK {
            connect_timeout 2
            retry 0
        }
    }
    real_server 10.99.211.12 8080 {
        TCP_CHECK {
            connect_timeout 2
            retry 0
        }
    }
}
";

#[test]
fn a_failed_checker_removes_the_server() {
    in_vm();
    let started = std::time::Instant::now();
    let mut farm = Farm::new("ck");
    let d = farm.director.clone();
    let vrrpd = Vrrpd::start(&mut farm.lab, &d, "vrrpd", ONE_NAT_SERVICE);
    wait_table(&farm, 1, 2, "both servers");
    let (r2_8080, _) = farm.httpd[1];
    farm.lab.signal(r2_8080, nix::sys::signal::Signal::SIGKILL);
    let t = wait_table(&farm, 1, 1, "r2 stopped");
    let only: Vec<&String> = t.values().flatten().collect();
    assert!(only[0].starts_with("10.99.211.11:8080"), "{t:#?}");
    let status = vrrpd.lvs(&farm.lab);
    let r2 = status.services[0]
        .real_servers
        .iter()
        .find(|rs| rs.address.contains("10.99.211.12"))
        .expect("r2 in vrrpctl lvs");
    assert!(!r2.up, "vrrpctl lvs still shows r2 up: {r2:?}");
    let bodies = farm.requests("10.99.210.100", 4);
    assert!(bodies.iter().all(|b| b == "r1"), "{bodies:?}");

    // Back: the checker adds it again.
    let root = farm.lab.path("r2").to_string_lossy().into_owned();
    let r2 = farm.servers[1].clone();
    farm.lab.httpd(&r2, 8080, &root);
    wait_table(&farm, 1, 2, "r2 restarted");
    let bodies = farm.requests("10.99.210.100", 4);
    assert!(bodies.iter().any(|b| b == "r2"), "{bodies:?}");
    assert!(vrrpd.stop(&mut farm.lab), "vrrpd did not stop on SIGTERM");
    println!(
        "a_failed_checker_removes_the_server: {:?} of guest time",
        started.elapsed()
    );
}
