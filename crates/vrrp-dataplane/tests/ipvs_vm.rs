//! The IPVS data path against a real kernel: only inside the VM (`scripts/vm-test.sh`), as
//! this machine's kernel has no IPVS. Host runs exclude this binary (`_vm`); outside the VM
//! every test fails, saying how to run it.
//!
//! Each test runs in a network namespace of its own (IPVS state is per namespace), entered
//! by the test's thread; `ipvsadm` reads the same namespace through `ip netns exec`. What
//! the data path installs is read back twice, through its own dump ([`Ipvs::list`]) and
//! through `ipvsadm -Ln`, and the two must agree.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::Output;
use std::time::Duration;

use vrrp_dataplane::{
    DataPath, DataPathError, Ipvs, IpvsEntry, IpvsFlushOnStop, IpvsOptions, IpvsTimeouts,
    SyncDaemon, SyncRole,
};
use vrrp_lb::dataplane::{DesiredState, Destination, Service, diff};
use vrrp_lb::spec::{
    Forwarding, IpFamily, Persistence, Protocol, RealServerKey, Scheduler, SchedulerFlags,
    ServiceAddr, ServiceId, ServiceKey, Tunnel, TunnelChecksum,
};
use vrrp_testlab::wait_until;

const IP: &str = "/usr/sbin/ip";
const IPVSADM: &str = "/usr/sbin/ipvsadm";
const STEP: Duration = Duration::from_secs(30);

/// A network namespace the calling thread has entered; deleted on drop.
struct Netns {
    name: String,
}

impl Netns {
    fn enter(tag: &str) -> Netns {
        vrrp_testlab::vm::require_vm("vrrp-dataplane::ipvs_vm");
        let name = format!("ipvsdp-{tag}-{}", std::process::id());
        ok(IP, &["netns", "add", &name]);
        let ns = Netns { name };
        let file = std::fs::File::open(format!("/run/netns/{}", ns.name)).expect("netns file");
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        ns.run(&[IP, "link", "set", "lo", "up"]);
        ns
    }

    /// `args` run in the namespace; must succeed.
    fn run(&self, args: &[&str]) -> String {
        let mut all = vec!["netns", "exec", &self.name];
        all.extend_from_slice(args);
        ok(IP, &all)
    }

    fn ipvsadm(&self, args: &[&str]) -> String {
        let mut all = vec![IPVSADM];
        all.extend_from_slice(args);
        self.run(&all)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run(IP, &["netns", "del", &self.name]);
    }
}

fn run(prog: &str, args: &[&str]) -> Output {
    vrrp_testlab::vm::run(prog, args, STEP)
}

fn ok(prog: &str, args: &[&str]) -> String {
    vrrp_testlab::vm::run_ok(prog, args, STEP)
}

// ---- desired states --------------------------------------------------------------------

fn sock(addr: &str, port: u16) -> ServiceAddr {
    ServiceAddr::Socket(SocketAddr::new(addr.parse().expect("addr"), port))
}

fn id(key: ServiceKey, protocol: Protocol) -> ServiceId {
    ServiceId { key, protocol }
}

fn service(addrs: Vec<ServiceAddr>, scheduler: Scheduler) -> Service {
    Service {
        addrs,
        scheduler,
        flags: SchedulerFlags::default(),
        persistence: None,
        destinations: BTreeMap::new(),
    }
}

fn dest(addr: &str, port: u16, weight: u32, forwarding: Forwarding) -> Destination {
    Destination {
        key: RealServerKey {
            addr: addr.parse().expect("addr"),
            port,
        },
        weight,
        forwarding,
        upper_threshold: 0,
        lower_threshold: 0,
    }
}

fn with(mut s: Service, dests: &[Destination]) -> Service {
    for d in dests {
        s.destinations.insert(d.key, *d);
    }
    s
}

/// Applies `to` from the data path's installed state.
fn go(ipvs: &mut Ipvs, to: &DesiredState) -> Result<(), DataPathError> {
    let changes = diff(ipvs.installed(), to);
    ipvs.apply(to, &changes)
}

fn open() -> Ipvs {
    Ipvs::open(IpvsOptions::default()).expect("open IPVS")
}

// ---- reading back ----------------------------------------------------------------------

/// A service as both listings show it: name, scheduler, and destinations
/// (`addr:port forward weight`), sorted.
type Shown = BTreeMap<String, (String, Vec<String>)>;

fn shown_by_us(list: &[IpvsEntry]) -> Shown {
    list.iter()
        .map(|e| {
            let mut dests: Vec<String> = e
                .destinations
                .iter()
                .map(|d| {
                    let addr = match d.addr {
                        IpAddr::V4(a) => format!("{a}:{}", d.port),
                        IpAddr::V6(a) => format!("[{a}]:{}", d.port),
                    };
                    format!("{addr} {} {}", d.forward, d.weight)
                })
                .collect();
            dests.sort();
            (e.service.clone(), (e.scheduler.clone(), dests))
        })
        .collect()
}

/// `ipvsadm -Ln` parsed: service lines (`TCP  addr:port sched ...`, `FWM  7 IPv6 sched`)
/// and their `  -> addr:port Forward Weight ...` lines.
fn shown_by_ipvsadm(text: &str) -> Shown {
    let mut out = Shown::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["->", "RemoteAddress:Port", ..] | [] => {}
            ["->", addr, fwd, weight, ..] => {
                let key = current.clone().expect("a destination before its service");
                if let Some(entry) = out.get_mut(&key) {
                    entry.1.push(format!("{addr} {fwd} {weight}"));
                    entry.1.sort();
                }
            }
            ["FWM", mark, "IPv6", sched, ..] => {
                let key = format!("FWM {mark} IPv6");
                out.insert(key.clone(), (sched.to_string(), vec![]));
                current = Some(key);
            }
            [proto @ ("TCP" | "UDP" | "SCTP" | "FWM"), addr, sched, ..] => {
                let key = format!("{proto} {addr}");
                out.insert(key.clone(), (sched.to_string(), vec![]));
                current = Some(key);
            }
            _ => {}
        }
    }
    out
}

/// Both listings agree; returns them.
fn read_back(ns: &Netns, ipvs: &mut Ipvs) -> Shown {
    let ours = shown_by_us(&ipvs.list().expect("list"));
    let text = ns.ipvsadm(&["-Ln"]);
    assert_eq!(ours, shown_by_ipvsadm(&text), "ipvsadm -Ln:\n{text}");
    ours
}

// ---- the tests -------------------------------------------------------------------------

/// Services of every protocol and family, firewall marks, a group with a range, NAT, DR
/// and every tunnel; then a weight edit, a removal, and shutdown.
#[test]
fn services_destinations_edits_and_removal() {
    let ns = Netns::enter("svc");
    let mut ipvs = open();
    let tcp = id(
        ServiceKey::Socket("10.99.0.1:80".parse().unwrap()),
        Protocol::Tcp,
    );
    let udp6 = id(
        ServiceKey::Socket("[fd99::1]:53".parse().unwrap()),
        Protocol::Udp,
    );
    let sctp = id(
        ServiceKey::Socket("10.99.0.2:3868".parse().unwrap()),
        Protocol::Sctp,
    );
    let fwm = id(ServiceKey::Fwmark(7), Protocol::Tcp);
    let group = id(ServiceKey::Group("web".into()), Protocol::Tcp);
    let nat = Forwarding::Nat;
    let gue = Forwarding::Tun {
        tunnel: Tunnel::Gue { port: 6080 },
        checksum: TunnelChecksum::Csum,
    };
    let gre = Forwarding::Tun {
        tunnel: Tunnel::Gre,
        checksum: TunnelChecksum::None,
    };
    let ipip = Forwarding::Tun {
        tunnel: Tunnel::Ipip,
        checksum: TunnelChecksum::None,
    };
    let mut tcp_svc = service(vec![sock("10.99.0.1", 80)], Scheduler::Wrr);
    tcp_svc.persistence = Some(Persistence {
        timeout: Duration::from_secs(300),
        granularity: Some(24),
    });
    let mut udp_svc = service(vec![sock("fd99::1", 53)], Scheduler::Rr);
    udp_svc.flags.one_packet = true;
    let mut state = DesiredState::default();
    state.services.insert(
        tcp.clone(),
        with(
            tcp_svc,
            &[
                dest("10.99.1.2", 8080, 3, nat),
                dest("10.99.1.3", 8080, 1, nat),
            ],
        ),
    );
    state.services.insert(
        udp6.clone(),
        with(udp_svc, &[dest("fd99::1:2", 53, 1, Forwarding::Dr)]),
    );
    state.services.insert(
        sctp.clone(),
        with(
            service(vec![sock("10.99.0.2", 3868)], Scheduler::Lc),
            &[
                dest("10.99.1.4", 3868, 2, ipip),
                dest("10.99.1.5", 3868, 2, gre),
            ],
        ),
    );
    state.services.insert(
        fwm.clone(),
        with(
            service(
                vec![
                    ServiceAddr::Fwmark {
                        mark: 7,
                        family: IpFamily::V4,
                    },
                    ServiceAddr::Fwmark {
                        mark: 7,
                        family: IpFamily::V6,
                    },
                ],
                Scheduler::Wlc,
            ),
            // An IPv4 real server of an IPv6 service: tunnelling only.
            &[dest("10.99.1.6", 0, 1, gue)],
        ),
    );
    state.services.insert(
        group.clone(),
        with(
            service(
                vec![
                    sock("10.99.0.20", 443),
                    ServiceAddr::Range {
                        first: "10.99.0.30".parse().unwrap(),
                        last: "10.99.0.32".parse().unwrap(),
                        port: 443,
                    },
                ],
                Scheduler::Sh,
            ),
            &[dest("10.99.1.7", 443, 1, Forwarding::Dr)],
        ),
    );
    go(&mut ipvs, &state).expect("install");
    let shown = read_back(&ns, &mut ipvs);
    assert_eq!(shown.len(), 9, "{shown:#?}");
    assert_eq!(
        shown["TCP 10.99.0.1:80"],
        (
            "wrr".into(),
            vec![
                "10.99.1.2:8080 Masq 3".to_string(),
                "10.99.1.3:8080 Masq 1".into()
            ]
        )
    );
    assert_eq!(
        shown["FWM 7 IPv6"].1,
        vec!["10.99.1.6:0 Tunnel 1".to_string()]
    );
    assert_eq!(shown["TCP 10.99.0.31:443"].0, "sh");
    let text = ns.ipvsadm(&["-Ln"]);
    assert!(text.contains("persistent 300 mask 255.255.255.0"), "{text}");
    assert!(text.contains("ops"), "{text}");
    let list = ipvs.list().unwrap();
    let fwm6 = list.iter().find(|e| e.service == "FWM 7 IPv6").unwrap();
    assert_eq!(fwm6.destinations[0].tunnel, (1, 6080, 1));
    let sctp_e = list.iter().find(|e| e.service.starts_with("SCTP")).unwrap();
    let mut tunnels: Vec<_> = sctp_e.destinations.iter().map(|d| d.tunnel.0).collect();
    tunnels.sort();
    assert_eq!(tunnels, vec![0, 2]);

    // A weight edit: one SET_DEST.
    let mut next = state.clone();
    let svc = next.services.get_mut(&tcp).unwrap();
    let d = dest("10.99.1.3", 8080, 7, nat);
    svc.destinations.insert(d.key, d);
    let changes = diff(&state, &next);
    assert_eq!(changes.len(), 1, "{changes:?}");
    ipvs.apply(&next, &changes).expect("weight");
    let shown = read_back(&ns, &mut ipvs);
    assert!(
        shown["TCP 10.99.0.1:80"]
            .1
            .contains(&"10.99.1.3:8080 Masq 7".to_string())
    );

    // Thresholds.
    let mut thr = next.clone();
    let d = thr
        .services
        .get_mut(&tcp)
        .unwrap()
        .destinations
        .values_mut()
        .next()
        .unwrap();
    (d.upper_threshold, d.lower_threshold) = (100, 10);
    let thr_addr = d.key.addr;
    go(&mut ipvs, &thr).expect("thresholds");
    let list = ipvs.list().unwrap();
    let e = list
        .iter()
        .find(|e| e.service == "TCP 10.99.0.1:80")
        .unwrap();
    let first = e.destinations.iter().find(|x| x.addr == thr_addr).unwrap();
    assert_eq!((first.upper_threshold, first.lower_threshold), (100, 10));

    // A service edit: scheduler and the group's addresses change.
    let mut edited = thr.clone();
    let g = edited.services.get_mut(&group).unwrap();
    g.scheduler = Scheduler::Mh;
    g.addrs.truncate(1);
    go(&mut ipvs, &edited).expect("edit");
    let shown = read_back(&ns, &mut ipvs);
    assert_eq!(shown.len(), 6, "{shown:#?}");
    assert_eq!(shown["TCP 10.99.0.20:443"].0, "mh");

    // Removal of a destination and of a service.
    let mut smaller = edited.clone();
    smaller.services.remove(&sctp);
    smaller
        .services
        .get_mut(&tcp)
        .unwrap()
        .destinations
        .retain(|k, _| k.addr != "10.99.1.2".parse::<IpAddr>().unwrap());
    go(&mut ipvs, &smaller).expect("removal");
    let shown = read_back(&ns, &mut ipvs);
    assert_eq!(shown.len(), 5);
    assert_eq!(shown["TCP 10.99.0.1:80"].1.len(), 1);

    ipvs.shutdown(false).expect("shutdown");
    assert!(shown_by_ipvsadm(&ns.ipvsadm(&["-Ln"])).is_empty());
}

/// Every scheduler this kernel has, with the flags of sh and mh. Should one be missing all
/// the same, the whole apply fails and leaves nothing behind.
#[test]
fn every_scheduler_and_all_or_nothing() {
    let ns = Netns::enter("sched");
    let mut ipvs = open();
    let mut state = DesiredState::default();
    // twos came with Linux 6.3. Asking an older kernel for it makes the kernel run modprobe
    // for a module that does not exist, which hung the guest in about one run of three;
    // the undo path is covered by `a_refused_change_is_undone`.
    let has_twos = kernel_at_least(6, 3);
    let schedulers = Scheduler::ALL
        .into_iter()
        .filter(|s| has_twos || *s != Scheduler::Twos);
    for (n, sched) in schedulers.enumerate() {
        let port = 1000 + n as u16;
        let mut s = service(vec![sock("10.99.2.1", port)], sched);
        if matches!(sched, Scheduler::Sh | Scheduler::Mh) {
            s.flags.flag1 = true;
            s.flags.flag2 = true;
        }
        let s = with(s, &[dest("10.99.3.1", port, 1, Forwarding::Nat)]);
        let key = ServiceKey::Socket(SocketAddr::new([10, 99, 2, 1].into(), port));
        state.services.insert(id(key, Protocol::Tcp), s);
    }
    match go(&mut ipvs, &state) {
        // The kernel has every scheduler (twos since Linux 6.3).
        Ok(()) => {}
        Err(e) => {
            // Only twos may be missing; everything sent before it was undone.
            assert!(matches!(e, DataPathError::Ipvs(_)), "{e}");
            assert!(e.to_string().contains("(twos)"), "{e}");
            assert!(e.to_string().contains("were undone"), "{e}");
            assert!(ipvs.list().unwrap().is_empty(), "left behind after failure");
            state.services.retain(|_, s| s.scheduler != Scheduler::Twos);
            go(&mut ipvs, &state).expect("without twos");
        }
    }
    let shown = read_back(&ns, &mut ipvs);
    for s in state.services.values() {
        assert!(
            shown.values().any(|(name, _)| name == s.scheduler.name()),
            "{} missing: {shown:#?}",
            s.scheduler.name()
        );
    }
    for e in ipvs.list().unwrap() {
        if e.scheduler == "sh" || e.scheduler == "mh" {
            assert_eq!(e.flags & 0x18, 0x18, "{e:?}");
        }
    }
    let text = ns.ipvsadm(&["-Ln"]);
    assert!(
        text.contains("sh-fallback") || text.contains("flag-1"),
        "{text}"
    );
    ipvs.shutdown(false).unwrap();
    assert!(ipvs_is_empty(&ns));
}

fn ipvs_is_empty(ns: &Netns) -> bool {
    shown_by_ipvsadm(&ns.ipvsadm(&["-Ln"])).is_empty()
}

/// A failure in the middle of an apply undoes the commands before it: the installed
/// state and the kernel stay as they were.
#[test]
fn a_refused_change_is_undone() {
    let ns = Netns::enter("undo");
    let mut ipvs = open();
    let a = id(
        ServiceKey::Socket("10.99.4.1:80".parse().unwrap()),
        Protocol::Tcp,
    );
    let b = id(
        ServiceKey::Socket("10.99.4.2:80".parse().unwrap()),
        Protocol::Tcp,
    );
    let mut first = DesiredState::default();
    first.services.insert(
        a.clone(),
        with(
            service(vec![sock("10.99.4.1", 80)], Scheduler::Rr),
            &[dest("10.99.5.1", 80, 1, Forwarding::Nat)],
        ),
    );
    go(&mut ipvs, &first).expect("first");
    let before = read_back(&ns, &mut ipvs);
    // Edit a, remove its destination, add b with a GUE tunnel without a port (refused by
    // ip_vs_add_dest), as the last command.
    let mut second = DesiredState::default();
    second.services.insert(
        a.clone(),
        with(
            service(vec![sock("10.99.4.1", 80)], Scheduler::Wlc),
            &[dest("10.99.5.2", 80, 1, Forwarding::Nat)],
        ),
    );
    let bad = Forwarding::Tun {
        tunnel: Tunnel::Gue { port: 0 },
        checksum: TunnelChecksum::None,
    };
    second.services.insert(
        b,
        with(
            service(vec![sock("10.99.4.2", 80)], Scheduler::Rr),
            &[dest("10.99.5.3", 80, 1, bad)],
        ),
    );
    let e = go(&mut ipvs, &second).expect_err("a GUE tunnel without a port");
    assert!(e.to_string().contains("were undone"), "{e}");
    assert_eq!(read_back(&ns, &mut ipvs), before);
    assert_eq!(ipvs.installed(), &first);
    ipvs.shutdown(false).unwrap();
    assert!(ipvs_is_empty(&ns));
}

/// A service made by ipvsadm is left alone by apply and shutdown; one the configuration
/// names is adopted (and removed at shutdown).
#[test]
fn foreign_services_are_untouched_and_matching_ones_adopted() {
    let ns = Netns::enter("foreign");
    ns.ipvsadm(&["-A", "-t", "10.99.6.9:80", "-s", "rr"]);
    ns.ipvsadm(&[
        "-a",
        "-t",
        "10.99.6.9:80",
        "-r",
        "10.99.7.9:80",
        "-m",
        "-w",
        "4",
    ]);
    ns.ipvsadm(&["-A", "-t", "10.99.6.1:80", "-s", "lc"]);
    ns.ipvsadm(&["-a", "-t", "10.99.6.1:80", "-r", "10.99.7.8:80", "-m"]);
    let foreign_before = shown_by_ipvsadm(&ns.ipvsadm(&["-Ln"]))["TCP 10.99.6.9:80"].clone();
    let mut ipvs = open();
    let mine = id(
        ServiceKey::Socket("10.99.6.1:80".parse().unwrap()),
        Protocol::Tcp,
    );
    let mut state = DesiredState::default();
    state.services.insert(
        mine,
        with(
            service(vec![sock("10.99.6.1", 80)], Scheduler::Wrr),
            &[dest("10.99.7.1", 80, 2, Forwarding::Nat)],
        ),
    );
    go(&mut ipvs, &state).expect("apply");
    let shown = read_back(&ns, &mut ipvs);
    assert_eq!(shown["TCP 10.99.6.9:80"], foreign_before);
    assert_eq!(
        shown["TCP 10.99.6.1:80"],
        ("wrr".into(), vec!["10.99.7.1:80 Masq 2".to_string()])
    );
    ipvs.shutdown(false).expect("shutdown");
    let after = shown_by_ipvsadm(&ns.ipvsadm(&["-Ln"]));
    assert_eq!(after.len(), 1, "{after:#?}");
    assert_eq!(after["TCP 10.99.6.9:80"], foreign_before);
}

/// `lvs_flush` at open and `lvs_flush_on_stop` (all) remove foreign services too;
/// `shutdown(true)` keeps everything.
#[test]
fn flush_and_keep() {
    let ns = Netns::enter("flush");
    ns.ipvsadm(&["-A", "-u", "10.99.8.9:53", "-s", "rr"]);
    let mut ipvs = Ipvs::open(IpvsOptions {
        flush: true,
        ..IpvsOptions::default()
    })
    .expect("open");
    assert!(ipvs_is_empty(&ns));
    let mut state = DesiredState::default();
    state.services.insert(
        id(
            ServiceKey::Socket("10.99.8.1:53".parse().unwrap()),
            Protocol::Udp,
        ),
        service(vec![sock("10.99.8.1", 53)], Scheduler::Rr),
    );
    go(&mut ipvs, &state).unwrap();
    ipvs.shutdown(true).unwrap();
    assert_eq!(read_back(&ns, &mut open()).len(), 1);
    ns.ipvsadm(&["-A", "-u", "10.99.8.9:53", "-s", "rr"]);
    let mut ipvs = Ipvs::open(IpvsOptions {
        flush_on_stop: IpvsFlushOnStop::All,
        ..IpvsOptions::default()
    })
    .unwrap();
    // Restarted: the same configuration re-adopts its service.
    go(&mut ipvs, &state).unwrap();
    assert_eq!(read_back(&ns, &mut ipvs).len(), 2);
    ipvs.shutdown(false).unwrap();
    assert!(ipvs_is_empty(&ns));
}

/// `lvs_timeouts` through IPVS_CMD_SET_CONFIG.
#[test]
fn timeouts() {
    let ns = Netns::enter("timeouts");
    let _ipvs = Ipvs::open(IpvsOptions {
        timeouts: IpvsTimeouts {
            tcp: Some(901),
            tcpfin: Some(61),
            udp: Some(121),
        },
        ..IpvsOptions::default()
    })
    .expect("open");
    let text = ns.ipvsadm(&["-L", "--timeout"]);
    assert!(text.contains("901 61 121"), "{text}");
    // Only what is given changes.
    let _ipvs = Ipvs::open(IpvsOptions {
        timeouts: IpvsTimeouts {
            udp: Some(33),
            ..IpvsTimeouts::default()
        },
        ..IpvsOptions::default()
    })
    .expect("open");
    let text = ns.ipvsadm(&["-L", "--timeout"]);
    assert!(text.contains("901 61 33"), "{text}");
}

/// The sync daemon: master, switched to backup, stopped.
#[test]
fn sync_daemon_roles() {
    let ns = Netns::enter("sync");
    ns.run(&[
        IP, "link", "add", "sync0", "type", "veth", "peer", "name", "sync1",
    ]);
    ns.run(&[IP, "link", "set", "sync0", "up"]);
    ns.run(&[IP, "link", "set", "sync1", "up"]);
    ns.run(&[IP, "addr", "add", "10.99.9.1/24", "dev", "sync0"]);
    // An IPv6 master sends from a global address of the interface.
    ns.run(&[IP, "addr", "add", "fd99:9::1/64", "dev", "sync0", "nodad"]);
    let mut ipvs = open();
    let daemon = SyncDaemon {
        interface: "sync0".into(),
        sync_id: 9,
        max_len: Some(1400),
        port: Some(8848),
        ttl: Some(1),
        group: Some(IpAddr::V4(Ipv4Addr::new(224, 0, 0, 81))),
    };
    let daemons = |ns: &Netns| ns.ipvsadm(&["-L", "--daemon"]);
    ipvs.set_sync_daemon(Some(SyncRole::Master), &daemon)
        .expect("master");
    let text = daemons(&ns);
    assert!(text.contains("master sync daemon"), "{text}");
    assert!(
        text.contains("sync0") && text.contains("syncid=9"),
        "{text}"
    );
    ipvs.set_sync_daemon(Some(SyncRole::Backup), &daemon)
        .expect("backup");
    // The master thread stops asynchronously: poll.
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
            let t = daemons(&ns);
            t.contains("backup sync daemon") && !t.contains("master sync daemon")
        }),
        "{}",
        daemons(&ns)
    );
    let v6 = SyncDaemon {
        group: Some(IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x81))),
        ..daemon.clone()
    };
    ipvs.set_sync_daemon(Some(SyncRole::Master), &v6)
        .expect("master v6");
    assert!(daemons(&ns).contains("master sync daemon"));
    ipvs.set_sync_daemon(None, &daemon).expect("stop");
    let stopped = |ns: &Netns| {
        wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
            !daemons(ns).contains("sync daemon")
        })
    };
    assert!(stopped(&ns), "{}", daemons(&ns));
    // `None` also stops a daemon this data path did not start.
    ns.ipvsadm(&["--start-daemon", "backup", "--mcast-interface", "sync0"]);
    assert!(daemons(&ns).contains("backup sync daemon"));
    open().set_sync_daemon(None, &daemon).expect("stop");
    assert!(stopped(&ns), "{}", daemons(&ns));
    // `shutdown(false)` stops the daemon the data path started; `shutdown(true)` keeps it.
    ipvs.set_sync_daemon(Some(SyncRole::Backup), &daemon)
        .expect("backup");
    ipvs.shutdown(false).expect("shutdown");
    assert!(stopped(&ns), "{}", daemons(&ns));
    let mut kept = open();
    kept.set_sync_daemon(Some(SyncRole::Master), &daemon)
        .expect("master");
    kept.shutdown(true).expect("shutdown");
    assert!(daemons(&ns).contains("master sync daemon"));
}

/// Runs `f` in a thread of its own inside namespace `ns`.
fn in_ns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let file = std::fs::File::open(format!("/run/netns/{ns}")).expect("netns file");
    std::thread::spawn(move || {
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
}

/// A namespace joined to the director's (the test thread's) by a veth pair: `addr` on its
/// eth0, `gw` on the director's `peer`, default route via the director. Deleted on drop.
fn attach(director: &Netns, tag: &str, peer: &str, addr: &str, gw: &str) -> Netns {
    let name = format!("{}-{tag}", director.name);
    ok(IP, &["netns", "add", &name]);
    let ns = Netns { name };
    director.run(&[
        IP, "link", "add", peer, "type", "veth", "peer", "name", "eth0", "netns", &ns.name,
    ]);
    director.run(&[IP, "addr", "add", &format!("{gw}/24"), "dev", peer]);
    director.run(&[IP, "link", "set", peer, "up"]);
    ns.run(&[IP, "addr", "add", &format!("{addr}/24"), "dev", "eth0"]);
    ns.run(&[IP, "link", "set", "eth0", "up"]);
    ns.run(&[IP, "link", "set", "lo", "up"]);
    ns.run(&[IP, "route", "add", "default", "via", gw]);
    ns
}

/// Counters after traffic: three connections from a client namespace through a NAT
/// service of the director (this thread's namespace) to a real server namespace. The
/// estimator refreshes the counters every 2 s, so poll.
#[test]
fn stats_after_traffic() {
    use std::io::{Read, Write};
    let ns = Netns::enter("stats");
    let client = attach(&ns, "c", "dc", "10.99.12.2", "10.99.12.1");
    let server = attach(&ns, "s", "ds", "10.99.10.2", "10.99.10.1");
    // The VIP is local to the director, so that IPVS sees it at LOCAL_IN.
    ns.run(&[IP, "addr", "add", "10.99.11.1/32", "dev", "dc"]);
    ns.run(&["/usr/bin/busybox", "sysctl", "-w", "net.ipv4.ip_forward=1"]);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let listener = in_ns(&server.name, move || {
        let l = std::net::TcpListener::bind("10.99.10.2:8080").expect("bind");
        let _ = ready_tx.send(());
        for _ in 0..3 {
            if let Ok((mut s, _)) = l.accept() {
                let _ = s.write_all(b"hello");
            }
        }
    });
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("listener");
    let mut ipvs = open();
    let svc = id(
        ServiceKey::Socket("10.99.11.1:80".parse().unwrap()),
        Protocol::Tcp,
    );
    let rs = dest("10.99.10.2", 8080, 1, Forwarding::Nat);
    let mut state = DesiredState::default();
    state.services.insert(
        svc.clone(),
        with(service(vec![sock("10.99.11.1", 80)], Scheduler::Rr), &[rs]),
    );
    go(&mut ipvs, &state).unwrap();
    let answers = in_ns(&client.name, || {
        (0..3)
            .map(|_| {
                let mut c = std::net::TcpStream::connect_timeout(
                    &"10.99.11.1:80".parse().unwrap(),
                    Duration::from_secs(5),
                )?;
                c.set_read_timeout(Some(Duration::from_secs(5)))?;
                let mut buf = String::new();
                c.read_to_string(&mut buf)?;
                Ok(buf)
            })
            .collect::<std::io::Result<Vec<String>>>()
    })
    .join()
    .expect("client thread");
    assert_eq!(answers.expect("through IPVS"), vec!["hello"; 3]);
    listener.join().expect("listener thread");
    let mut last = None;
    let counted = wait_until(Duration::from_secs(15), Duration::from_millis(250), || {
        let s = ipvs.stats().expect("stats");
        let c = s.services[&svc].destinations[&rs.key];
        last = Some(s);
        c.connections == 3 && c.packets > 0 && c.bytes > 0
    });
    assert!(counted, "{last:?}");
    let s = last.expect("stats");
    assert_eq!(
        s.services[&svc].total,
        s.services[&svc].destinations[&rs.key]
    );
    let listed = ipvs.list().expect("list");
    assert_eq!(listed[0].counters.connections, 3);
    ipvs.shutdown(false).unwrap();
}

/// An address that moves from one service to another in one apply (the service's name
/// changed): removed, then added.
#[test]
fn an_address_moves_between_services() {
    let ns = Netns::enter("move");
    let mut ipvs = open();
    let old = id(
        ServiceKey::Socket("10.99.13.1:80".parse().unwrap()),
        Protocol::Tcp,
    );
    let new = id(ServiceKey::Group("a".into()), Protocol::Tcp);
    let svc = with(
        service(vec![sock("10.99.13.1", 80)], Scheduler::Rr),
        &[dest("10.99.14.1", 80, 1, Forwarding::Nat)],
    );
    let mut first = DesiredState::default();
    first.services.insert(old, svc.clone());
    go(&mut ipvs, &first).expect("first");
    let mut second = DesiredState::default();
    let mut moved = svc;
    moved.scheduler = Scheduler::Wrr;
    second.services.insert(new, moved);
    go(&mut ipvs, &second).expect("moved");
    let shown = read_back(&ns, &mut ipvs);
    assert_eq!(
        shown["TCP 10.99.13.1:80"],
        ("wrr".into(), vec!["10.99.14.1:80 Masq 1".to_string()])
    );
    ipvs.shutdown(false).unwrap();
    assert!(ipvs_is_empty(&ns));
}

/// The running kernel is at least `major.minor`.
fn kernel_at_least(major: u32, minor: u32) -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    found >= (major, minor)
}
