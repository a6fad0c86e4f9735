//! Two balancers with VRRP and `lvs_sync_daemon`: a client holds a TCP connection through
//! the Master; the Master's vrrpd is killed (SIGKILL) and its links go down, as when the
//! machine dies; the Backup takes the VIPs and, having the connection from the sync daemon,
//! carries it on to the same real server.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::ipvs::{Vrrpd, settled};
use super::lab::{IPVSADM, Lab, connect, echo_server};

fn conf(priority: u8) -> String {
    format!(
        "global_defs {{
    lb_dataplane ipvs
    lvs_sync_daemon eth1 inst VI_1
}}
vrrp_instance VI_1 {{
    state BACKUP
    interface eth0
    virtual_router_id 51
    priority {priority}
    advert_int 1
    virtual_ipaddress {{
        10.99.220.100/24
        10.99.221.254/24 dev eth1
    }}
}}
virtual_server 10.99.220.100 9000 {{
    delay_loop 2
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.99.221.11 9000 {{
        TCP_CHECK {{
            connect_timeout 3
        }}
    }}
}}
"
    )
}

/// One line out, its echo back.
fn exchange(reader: &mut BufReader<TcpStream>, n: u32) -> Result<(), String> {
    writeln!(reader.get_mut(), "{n}").map_err(|e| format!("send {n}: {e}"))?;
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .map_err(|e| format!("echo of {n}: {e}"))?;
    match line.trim() == format!("r1 {n}") {
        true => Ok(()),
        false => Err(format!("echo of {n}: {line:?}")),
    }
}

fn holds_vip(ns: &str) -> bool {
    let out = super::lab::run(
        super::lab::IP,
        &["-n", ns, "-4", "addr", "show", "dev", "eth0"],
    );
    String::from_utf8_lossy(&out.stdout).contains("10.99.220.100/")
}

/// What the namespaces hold, and d2's log, for a failure message.
fn diagnose(lab: &Lab, ns: &[&str]) -> String {
    let mut out = String::new();
    for n in ns {
        for args in [
            &["-4", "addr"][..],
            &["-4", "neigh"][..],
            &["-4", "route"][..],
        ] {
            let mut all = vec!["-n", n];
            all.extend_from_slice(args);
            let o = super::lab::run(super::lab::IP, &all);
            out += &format!(
                "== {n}: ip {args:?}\n{}",
                String::from_utf8_lossy(&o.stdout)
            );
        }
    }
    let d2 = ns[1];
    for args in [
        &["-Lnc"][..],
        &["-Ln", "--stats"][..],
        &["-L", "--daemon"][..],
    ] {
        let mut all = vec!["netns", "exec", d2, IPVSADM];
        all.extend_from_slice(args);
        let o = super::lab::run(super::lab::IP, &all);
        out += &format!(
            "== d2: ipvsadm {args:?}\n{}",
            String::from_utf8_lossy(&o.stdout)
        );
    }
    out + "== vrrpd-d2\n" + &lab.tail("vrrpd-d2")
}

/// `ipvsadm -L --daemon` contains `want`, within `timeout`.
fn sync_role(lab: &Lab, ns: &str, want: &str, timeout: Duration) -> Result<String, String> {
    let read = || lab.exec(ns, &[IPVSADM, "-L", "--daemon"]);
    settled(timeout, Duration::from_millis(500), read, |t| {
        t.contains(want)
    })
}

#[test]
fn a_connection_survives_the_masters_death() {
    super::in_vm();
    let started = std::time::Instant::now();
    let mut lab = Lab::new("sy");
    let c = lab.netns("c");
    let r = lab.netns("r1");
    lab.bridge(&c, "front");
    lab.ip(&c, &["addr", "add", "10.99.220.2/24", "dev", "front"]);
    lab.bridge(&r, "back");
    lab.ip(&r, &["addr", "add", "10.99.221.11/24", "dev", "back"]);
    lab.ip(&r, &["route", "add", "default", "via", "10.99.221.254"]);
    let mut directors = Vec::new();
    for i in 1..=2 {
        let d = lab.netns(&format!("d{i}"));
        lab.veth(&d, "eth0", &c, &format!("f{i}"));
        lab.ip(&c, &["link", "set", &format!("f{i}"), "master", "front"]);
        lab.veth(&d, "eth1", &r, &format!("b{i}"));
        lab.ip(&r, &["link", "set", &format!("b{i}"), "master", "back"]);
        lab.ip(
            &d,
            &["addr", "add", &format!("10.99.220.1{i}/24"), "dev", "eth0"],
        );
        lab.ip(
            &d,
            &["addr", "add", &format!("10.99.221.{i}/24"), "dev", "eth1"],
        );
        directors.push(d);
    }
    echo_server(&r, "10.99.221.11:9000".parse().expect("addr"), "r1");
    let (d1, d2) = (directors[0].clone(), directors[1].clone());
    let master = Vrrpd::start(&mut lab, &d1, "vrrpd-d1", &conf(150));
    let up = vrrp_testlab::wait_until(Duration::from_secs(60), Duration::from_millis(200), || {
        holds_vip(&d1)
    });
    assert!(
        up,
        "d1 is not Master within 60 s:\n{}",
        lab.tail("vrrpd-d1")
    );
    // A killed run leaves its sync daemon in the kernel: vrrpd must replace it.
    let stale = [
        "--start-daemon",
        "master",
        "--mcast-interface",
        "eth1",
        "--syncid",
        "51",
    ];
    let mut args = vec![IPVSADM];
    args.extend_from_slice(&stale);
    lab.exec(&d2, &args);
    sync_role(&lab, &d2, "master sync daemon", Duration::from_secs(10))
        .unwrap_or_else(|t| panic!("no stale master sync daemon in d2: {t}"));
    let _backup = Vrrpd::start(&mut lab, &d2, "vrrpd-d2", &conf(100));
    sync_role(&lab, &d1, "master sync daemon", Duration::from_secs(30))
        .unwrap_or_else(|t| panic!("d1 runs no master sync daemon: {t}"));
    let roles = sync_role(&lab, &d2, "backup sync daemon", Duration::from_secs(60))
        .unwrap_or_else(|t| panic!("d2 runs no backup sync daemon: {t}"));
    assert!(
        !roles.contains("master"),
        "d2 kept the stale master: {roles}"
    );

    let stream = connect(&c, "10.99.220.100:9000".parse().expect("addr"));
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("a read timeout");
    let mut conn = BufReader::new(stream);
    for n in 0..6 {
        exchange(&mut conn, n).unwrap_or_else(|e| panic!("through d1: {e}"));
    }
    // IPVS syncs a connection after its third packet: the Backup must hold it.
    let synced = settled(
        Duration::from_secs(30),
        Duration::from_millis(500),
        || lab.exec(&d2, &[IPVSADM, "-Lnc"]),
        |t| t.contains("10.99.220.2:"),
    );
    let table = synced.unwrap_or_else(|t| panic!("d2 has no synced connection: {t}"));
    println!("d2's connection table before the failover:\n{table}");

    // The Master dies: vrrpd killed, its links down (its kernel state goes with the box).
    lab.signal(master.index, nix::sys::signal::Signal::SIGKILL);
    let killed = Instant::now();
    lab.ip(&d1, &["link", "set", "eth0", "down"]);
    lab.ip(&d1, &["link", "set", "eth1", "down"]);
    for n in 6..10 {
        if let Err(e) = exchange(&mut conn, n) {
            panic!(
                "through d2 after the failover: {e}\n{}",
                diagnose(&lab, &[&c, &d2, &r])
            );
        }
    }
    println!(
        "the connection went on through d2 {:?} after the Master's death",
        killed.elapsed()
    );
    assert!(holds_vip(&d2), "d2 does not hold the VIP");
    sync_role(&lab, &d2, "master sync daemon", Duration::from_secs(30))
        .unwrap_or_else(|t| panic!("d2 did not switch its sync daemon to master: {t}"));
    println!(
        "a_connection_survives_the_masters_death: {:?} of guest time",
        started.elapsed()
    );
}
