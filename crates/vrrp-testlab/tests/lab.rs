//! Self-tests of the namespace lab. They need root (skipped with a message
//! otherwise); the VRRP ones also need keepalived.

use std::net::IpAddr;
use std::time::Duration;
use vrrp_testlab::{
    Daemon, KeepalivedConf, Lab, Node, SIGKILL, SIGTERM, VrrpInstance, require, wait_until,
};

fn netns_list() -> String {
    let out = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn assert_gone(names: &[String]) {
    let list = netns_list();
    for ns in names {
        assert!(
            !list
                .lines()
                .any(|l| l.split_whitespace().next() == Some(ns)),
            "namespace {ns} left behind:\n{list}"
        );
    }
}

fn lan(tag: &str) -> (Lab, Node, Node, Node) {
    let mut lab = Lab::new(tag).expect("lab");
    let r1 = lab.add_router("r1").expect("r1");
    let r2 = lab.add_router("r2").expect("r2");
    let h = lab.add_host("h1").expect("h1");
    (lab, r1, r2, h)
}

#[test]
fn ping_between_namespaces() {
    require!("ping");
    let (lab, r1, r2, h) = lan("ping");
    assert_eq!(r1.ifname(), "eth0");
    assert_ne!(r1.mac(), r2.mac());
    assert_eq!(lab.ipv4(r1.index()), r1.ipv4());
    for (a, b) in [(&h, &r1), (&h, &r2), (&r1, &r2)] {
        assert!(
            a.ping(b.ipv4(), 2, Duration::from_secs(10)),
            "{} cannot ping {} {}{}",
            a.name(),
            b.name(),
            b.ipv4(),
            lab.diag()
        );
        assert!(
            a.ping(b.ipv6(), 2, Duration::from_secs(10)),
            "{} cannot ping {} {}{}",
            a.name(),
            b.name(),
            b.ipv6(),
            lab.diag()
        );
    }
    assert!(r1.has_address(r1.ipv4()));
    assert!(r1.has_address(r1.ipv6()));
    assert!(!r1.has_address(r2.ipv4()));
    assert_eq!(h.neighbour_mac(r1.ipv4()).as_deref(), Some(r1.mac()));
    // The link helpers.
    r1.link_down().unwrap();
    assert!(!h.ping(r1.ipv4(), 1, Duration::from_secs(2)));
    r1.link_up().unwrap();
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(200), || {
            h.ping(r1.ipv4(), 1, Duration::from_secs(2))
        }),
        "no ping after link_up{}",
        lab.diag()
    );
}

#[test]
fn two_labs_do_not_collide() {
    require!("ping");
    let (a, ..) = lan("para");
    let (b, ..) = lan("para");
    assert_ne!(a.prefix(), b.prefix());
    assert_ne!(a.octet(), b.octet());
    assert!(a.namespaces().iter().all(|n| !b.namespaces().contains(n)));
}

#[test]
fn spawn_pid_is_the_command_and_cleanup_kills_it() {
    require!();
    let (lab, r1, ..) = lan("proc");
    let p = r1.spawn("sleep", &["300"], &[("LAB_TEST", "1")]).unwrap();
    // `ip netns exec` execs in place: the PID we got is sleep's own.
    assert!(wait_until(
        Duration::from_secs(5),
        Duration::from_millis(10),
        || {
            std::fs::read_to_string(format!("/proc/{}/comm", p.pid()))
                .is_ok_and(|c| c.trim() == "sleep")
        }
    ));
    let env = std::fs::read(format!("/proc/{}/environ", p.pid())).unwrap();
    assert!(env.split(|b| *b == 0).any(|kv| kv == b"LAB_TEST=1"));
    // It runs in the node's namespace.
    let ns_of = |pid: u32| std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    assert_ne!(ns_of(p.pid()), ns_of(std::process::id()));
    // wait_timeout is bounded, kill works, a second kill is harmless.
    assert!(
        p.wait_timeout(Duration::from_millis(100))
            .unwrap()
            .is_none()
    );
    p.kill(SIGTERM).unwrap();
    let st = p.wait_timeout(Duration::from_secs(10)).unwrap();
    assert!(st.is_some(), "sleep survived SIGTERM");
    p.kill(SIGKILL).unwrap();

    let q = r1.spawn("sleep", &["300"], &[]).unwrap();
    let (qpid, names) = (q.pid(), lab.namespaces().to_vec());
    drop(lab);
    assert!(
        std::fs::read_to_string(format!("/proc/{qpid}/stat")).is_err(),
        "process {qpid} survived the lab"
    );
    assert_gone(&names);
}

#[test]
fn cleanup_after_panic() {
    require!();
    let names = std::sync::Mutex::new(Vec::new());
    let pid = std::sync::Mutex::new(0u32);
    let dir = std::sync::Mutex::new(std::path::PathBuf::new());
    let r = std::panic::catch_unwind(|| {
        let (lab, r1, ..) = lan("pnc");
        *names.lock().unwrap() = lab.namespaces().to_vec();
        *dir.lock().unwrap() = lab.dir().to_path_buf();
        *pid.lock().unwrap() = r1.spawn("sleep", &["300"], &[]).unwrap().pid();
        panic!("deliberate panic inside a lab");
    });
    assert!(r.is_err());
    let names = names.into_inner().unwrap();
    assert_eq!(names.len(), 4, "bridge + 3 nodes");
    assert_gone(&names);
    let pid = pid.into_inner().unwrap();
    assert!(std::fs::read_to_string(format!("/proc/{pid}/stat")).is_err());
    // The lab directory (logs) is kept after a panic, for debugging.
    let dir = dir.into_inner().unwrap();
    assert!(dir.join("r1-sleep-0.stderr").exists(), "{}", dir.display());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn nft_helpers_install_rules() {
    require!("nft", "ping");
    let (lab, r1, _r2, h) = lan("nft");
    r1.drop_vrrp_multicast().unwrap();
    r1.drop_vrrp_multicast().unwrap(); // idempotent
    let rules = r1
        .run_ok("nft", &["list", "table", "inet", "vrrplab_drop"])
        .unwrap();
    assert!(rules.contains("224.0.0.18"), "{rules}");
    assert!(rules.contains("ff02::12"), "{rules}");
    assert_eq!(r1.vrrp_drop_count().unwrap(), 0);
    r1.allow_vrrp_multicast().unwrap();
    assert!(
        !r1.run_ok("nft", &["list", "ruleset"])
            .unwrap()
            .contains("vrrplab_drop")
    );

    // 100 % loss blocks ping, 0 % restores it.
    h.set_loss(1.0).unwrap();
    assert!(!h.ping(r1.ipv4(), 2, Duration::from_secs(2)));
    assert!(h.loss_count().unwrap() > 0);
    h.set_loss(0.0).unwrap();
    assert!(
        h.ping(r1.ipv4(), 2, Duration::from_secs(10)),
        "{}",
        lab.diag()
    );
    // 30 %: some pings lost, not all (200 pings: P(all or none) is negligible).
    h.set_loss(0.3).unwrap();
    let out = h
        .run(
            "ping",
            &[
                "-n",
                "-q",
                "-i",
                "0.005",
                "-c",
                "200",
                "-W",
                "1",
                &r1.ipv4().to_string(),
            ],
        )
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("packet loss") && !text.contains(" 0% packet loss"),
        "{text}"
    );
    assert!(!text.contains("100% packet loss"), "{text}");
}

#[test]
fn prober_sees_the_owner_mac_and_gaps() {
    require!();
    let (lab, r1, r2, h) = lan("prb");
    let vip = lab.vip4(100);
    let cidr = format!("{vip}/24");
    r1.add_address(&cidr).unwrap();
    let p = h
        .start_probe(vip, Duration::from_millis(10), Duration::from_secs(30))
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(5), Duration::from_millis(20), || p
            .last_answer()
            .is_some()),
        "no answer from {vip}{}",
        lab.diag()
    );
    // Move the address: r1 loses it, r2 gets it after a short pause.
    r1.link_down().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    r2.add_address(&cidr).unwrap();
    let r2mac = r2.mac().to_string();
    assert!(
        wait_until(Duration::from_secs(5), Duration::from_millis(20), || p
            .last_answer()
            .is_some_and(|(_, m)| m == r2mac)),
        "r2 never answered{}",
        lab.diag()
    );
    std::thread::sleep(Duration::from_millis(100));
    let rep = p.stop().unwrap();
    let macs: Vec<String> = rep.mac_changes().into_iter().map(|(_, m)| m).collect();
    assert_eq!(macs, vec![r1.mac().to_string(), r2mac], "{rep:?}");
    let gap = rep.longest_gap();
    assert!(gap >= Duration::from_millis(200), "gap {gap:?}");
    assert!(rep.longest_outage().unwrap().lost >= 10);
}

#[test]
fn capture_writes_a_pcap() {
    require!("tcpdump", "ping");
    let (lab, r1, _r2, h) = lan("cap");
    let cap = lab.capture("icmp", "icmp").unwrap();
    assert!(h.ping(r1.ipv4(), 3, Duration::from_secs(10)));
    let path = cap.stop().unwrap();
    let len = std::fs::metadata(&path).unwrap().len();
    // pcap header is 24 bytes; 6 ICMP packets make it much bigger.
    assert!(len > 200, "{} is {len} bytes", path.display());
}

// --- VRRP with keepalived ---------------------------------------------------

fn keepalived_conf(lab: &Lab, name: &str, prio: u8) -> String {
    KeepalivedConf::new()
        .router_id(name)
        .instance(
            VrrpInstance::new("VI_1", "eth0", 51, prio)
                .version(2)
                .advert_int(1.0)
                .vip(format!("{}/24", lab.vip4(100))),
        )
        .render()
}

fn keepalived_available() -> bool {
    vrrp_testlab::need(
        Daemon::Keepalived.unavailable().is_none(),
        "keepalived is not installed",
    )
}

#[test]
fn keepalived_failover() {
    require!("ping");
    if !keepalived_available() {
        return;
    }
    let (lab, r1, r2, h) = lan("kafo");
    let vip: IpAddr = lab.vip4(100).into();
    let d = Daemon::Keepalived;
    let k1 = d.start(&r1, &keepalived_conf(&lab, "r1", 150)).unwrap();
    let k2 = d.start(&r2, &keepalived_conf(&lab, "r2", 100)).unwrap();
    k1.wait_started(Duration::from_secs(10)).unwrap();
    k2.wait_started(Duration::from_secs(10)).unwrap();
    // The VIP ends up on the higher priority router, and only there.
    let settled = wait_until(Duration::from_secs(20), Duration::from_millis(100), || {
        r1.has_address(vip) && !r2.has_address(vip)
    });
    assert!(settled, "VIP not on r1 alone{}", lab.diag());
    assert!(h.ping(vip, 2, Duration::from_secs(10)), "{}", lab.diag());
    assert_eq!(h.neighbour_mac(vip).as_deref(), Some(r1.mac()));

    // Crash r1 (SIGKILL, cable pulled): r2 takes over.
    k1.crash().unwrap();
    assert!(!k1.is_running());
    assert!(k1.proc.children().is_empty(), "keepalived child survived");
    r1.link_down().unwrap();
    assert!(
        wait_until(Duration::from_secs(10), Duration::from_millis(100), || r2
            .has_address(vip)),
        "VIP did not move to r2{}",
        lab.diag()
    );
    assert!(
        wait_until(Duration::from_secs(15), Duration::from_millis(200), || h
            .ping(vip, 1, Duration::from_secs(2))),
        "host cannot ping the VIP on r2{}",
        lab.diag()
    );
    assert_eq!(h.neighbour_mac(vip).as_deref(), Some(r2.mac()));

    // Clean stop: SIGTERM, keepalived releases the VIP.
    assert!(k2.stop(Duration::from_secs(10)).unwrap());
    assert!(!r2.has_address(vip), "{}", lab.diag());
}

#[test]
fn keepalived_split_brain_when_vrrp_is_dropped() {
    require!("nft");
    if !keepalived_available() {
        return;
    }
    let (lab, r1, r2, _h) = lan("kasb");
    let vip: IpAddr = lab.vip4(100).into();
    let d = Daemon::Keepalived;
    let _k1 = d.start(&r1, &keepalived_conf(&lab, "r1", 150)).unwrap();
    let _k2 = d.start(&r2, &keepalived_conf(&lab, "r2", 100)).unwrap();
    assert!(
        wait_until(Duration::from_secs(20), Duration::from_millis(100), || {
            r1.has_address(vip) && !r2.has_address(vip)
        }),
        "{}",
        lab.diag()
    );
    // r2 no longer hears r1's adverts: it becomes Master too.
    r2.drop_vrrp_multicast().unwrap();
    assert!(
        wait_until(Duration::from_secs(15), Duration::from_millis(100), || r2
            .has_address(vip)),
        "r2 did not take the VIP{}",
        lab.diag()
    );
    assert!(
        r1.has_address(vip),
        "r1 should still be Master{}",
        lab.diag()
    );
    assert!(r2.vrrp_drop_count().unwrap() > 0);
    // Heal: r2 hears the higher priority again and goes back to Backup.
    r2.allow_vrrp_multicast().unwrap();
    assert!(
        wait_until(Duration::from_secs(15), Duration::from_millis(100), || !r2
            .has_address(vip)),
        "r2 kept the VIP after healing{}",
        lab.diag()
    );
}

#[test]
fn vrrpd_is_started_with_the_agreed_flags() {
    require!();
    // A stand-in for vrrpd: records its arguments, writes its pid file, waits.
    let (lab, r1, ..) = lan("vstb");
    let args_file = lab.dir().join("stub.args");
    let stub = lab
        .write_file(
            "vrrpd-stub",
            &format!(
                "#!/bin/sh\nprintf '%s\\n' \"$*\" > {}\nwhile [ $# -gt 0 ]; do\n  \
                 if [ \"$1\" = -p ]; then echo $$ > \"$2\"; fi\n  shift\ndone\nexec sleep 300\n",
                args_file.display()
            ),
        )
        .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    let d = Daemon::Vrrpd { binary: stub };
    assert!(d.unavailable().is_none());
    let p = d.start(&r1, "# empty\n").unwrap();
    p.wait_started(Duration::from_secs(10)).unwrap();
    let args = std::fs::read_to_string(&args_file).unwrap();
    let want = format!(
        "-n -l -D -f {} -p {} --control-socket {} --state-file {} --stats-file {}",
        p.conf.display(),
        p.pidfile.display(),
        p.control_socket.as_ref().unwrap().display(),
        p.state_file().display(),
        p.stats_file().display()
    );
    assert_eq!(args.trim(), want);
    let pid: u32 = std::fs::read_to_string(&p.pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(pid, p.pid(), "the daemon's own pid is the one we started");
    assert!(p.stop(Duration::from_secs(10)).unwrap(), "SIGTERM ends it");
    assert!(
        Daemon::Vrrpd {
            binary: "/nonexistent/vrrpd".into()
        }
        .unavailable()
        .is_some()
    );
}

#[test]
fn nginx_serves_its_name_over_http_and_https() {
    require!("nginx", "curl", "openssl");
    let mut lab = Lab::new("nginx").expect("lab");
    let rs = lab.add_host("rs1").expect("rs1");
    let client = lab.add_host("c1").expect("c1");
    let web = vrrp_testlab::Nginx::start_with(&rs, "rs1", 8080, Some(8443)).expect("nginx");
    let get = |url: &str| {
        client
            .run_ok("curl", &["-sk", "--max-time", "5", url])
            .expect("curl")
    };
    assert_eq!(get(&format!("http://{}:8080/", rs.ipv4())), "rs1\n");
    assert_eq!(get(&format!("http://[{}]:8080/health", rs.ipv6())), "ok\n");
    assert_eq!(get(&format!("https://{}:8443/", rs.ipv4())), "rs1\n");
    web.put("page.txt", b"hello\n").expect("put");
    assert_eq!(
        get(&format!("http://{}:8080/page.txt", rs.ipv4())),
        "hello\n"
    );
    web.kill().expect("kill");
    assert!(!web.proc().is_running());
}
