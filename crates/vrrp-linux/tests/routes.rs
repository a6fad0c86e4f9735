//! Virtual routes and rules in network namespaces (root only; skipped with a message
//! otherwise, a failure under `VRRPD_LAB_REQUIRED=1`). Each test makes its own namespace `vr-<tag>-<pid>` holding a veth pair `va`/`vb`
//! (va: 10.99.N.1/24, fd99:N::1/64), runs the library inside it and checks the result with
//! `ip route show` / `ip rule show`.

mod common;

use std::fs::File;
use std::net::IpAddr;
use std::process::Command;
use std::time::Duration;

use nix::sched::{CloneFlags, setns};
use vrrp_core::packet::Family;
use vrrp_linux::netlink::Netlink;
use vrrp_linux::routes::{RouteKind, RouteSpec, RuleSpec};

use common::{can_run, ip, wait_for};

/// A namespace with a veth pair inside, deleted on drop (also when the test panics).
struct Ns {
    name: String,
    net: u8,
}

impl Ns {
    fn new(tag: &str, net: u8) -> Ns {
        let name = format!("vr-{tag}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        ip(&["netns", "add", &name]);
        let ns = Ns { name, net };
        ns.ip(&["link", "set", "lo", "up"]);
        ns.ip(&["link", "add", "va", "type", "veth", "peer", "name", "vb"]);
        ns.ip(&["addr", "add", &format!("10.99.{net}.1/24"), "dev", "va"]);
        ns.ip(&[
            "addr",
            "add",
            &format!("fd99:{net}::1/64"),
            "dev",
            "va",
            "nodad",
        ]);
        ns.ip(&["link", "set", "va", "up"]);
        ns.ip(&["link", "set", "vb", "up"]);
        wait_for("veth carrier", Duration::from_secs(5), || {
            let text = ns.ip(&["-o", "link", "show", "va"]);
            (text.contains("LOWER_UP") && text.contains("state UP")).then_some(())
        });
        ns
    }

    /// Runs `ip -n NAME ARGS`.
    fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// Runs an async block on a current-thread tokio runtime, on a fresh thread that has
    /// entered this namespace.
    fn block_on<T: Send, F: Future<Output = T>>(&self, f: impl FnOnce() -> F + Send) -> T {
        let path = format!("/run/netns/{}", self.name);
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = File::open(&path).expect("open netns file");
                setns(&file, CloneFlags::CLONE_NEWNET).expect("setns");
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(f())
            })
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
        })
    }

    fn ifindex(&self, name: &str) -> u32 {
        let out = self.ip(&["-o", "link", "show", name]);
        out.split(':')
            .next()
            .and_then(|n| n.trim().parse().ok())
            .expect("ifindex in `ip -o link show`")
    }

    /// `ip [-6] route show table all`.
    fn routes(&self, family: Family) -> String {
        let f = match family {
            Family::Ipv4 => "-4",
            Family::Ipv6 => "-6",
        };
        self.ip(&[f, "route", "show", "table", "all"])
    }

    /// `ip [-6] rule show`.
    fn rules(&self, family: Family) -> String {
        let f = match family {
            Family::Ipv4 => "-4",
            Family::Ipv6 => "-6",
        };
        self.ip(&[f, "rule", "show"])
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// The lines of `out` containing every one of `parts`.
fn lines_with<'a>(out: &'a str, parts: &[&str]) -> Vec<&'a str> {
    out.lines()
        .filter(|l| parts.iter().all(|p| l.contains(p)))
        .collect()
}

fn addr(s: &str) -> IpAddr {
    s.parse().expect("address")
}

#[test]
fn ipv4_routes_via_gateway_with_metric_in_main_and_table_100() {
    if !can_run("ipv4_routes_via_gateway_with_metric_in_main_and_table_100") {
        return;
    }
    let ns = Ns::new("gw", 1);
    let va = ns.ifindex("va");
    let n = ns.net;
    let mut main = RouteSpec::new(addr("10.99.50.0"), 24);
    main.gateway = Some(addr(&format!("10.99.{n}.3")));
    main.oif = Some(va);
    main.metric = Some(10);
    let mut t100 = main.clone();
    t100.table = Some(100);
    t100.metric = Some(20);
    // Host bits are cleared, not refused.
    t100.dst = addr("10.99.50.77");

    ns.block_on(|| async {
        let nl = Netlink::new().expect("netlink");
        nl.add_route(&main).await.expect("add route");
        nl.add_route(&t100).await.expect("add route in table 100");
        // Twice: no error, no duplicate.
        nl.add_route(&main).await.expect("add route again");
        nl.add_route(&t100)
            .await
            .expect("add route in table 100 again");
    });
    let out = ns.routes(Family::Ipv4);
    let via = format!("via 10.99.{n}.3 dev va");
    let m = lines_with(
        &out,
        &["10.99.50.0/24", &via, "proto keepalived", "metric 10"],
    );
    assert_eq!(m.len(), 1, "{out}");
    assert!(!m[0].contains("table"), "{out}");
    let t = lines_with(&out, &["10.99.50.0/24", &via, "table 100", "metric 20"]);
    assert_eq!(t.len(), 1, "{out}");
    assert_eq!(lines_with(&out, &["10.99.50.0/24"]).len(), 2, "{out}");

    // A changed gateway (same destination, table and metric) replaces the route.
    let mut moved = main.clone();
    moved.gateway = Some(addr(&format!("10.99.{n}.4")));
    ns.block_on(|| async {
        let nl = Netlink::new().expect("netlink");
        nl.add_route(&moved).await.expect("replace route");
    });
    let out = ns.routes(Family::Ipv4);
    let main_lines: Vec<_> = lines_with(&out, &["10.99.50.0/24", "metric 10"]);
    assert_eq!(main_lines.len(), 1, "{out}");
    assert!(main_lines[0].contains(&format!("via 10.99.{n}.4")), "{out}");

    ns.block_on(|| async {
        let nl = Netlink::new().expect("netlink");
        nl.del_route(&moved).await.expect("del route");
        nl.del_route(&t100).await.expect("del route in table 100");
        // Missing is fine.
        nl.del_route(&moved).await.expect("del route again");
        nl.del_route(&t100)
            .await
            .expect("del route in table 100 again");
        // So is a table that never existed.
        let mut elsewhere = t100.clone();
        elsewhere.table = Some(4242);
        nl.del_route(&elsewhere)
            .await
            .expect("del from missing table");
    });
    let out = ns.routes(Family::Ipv4);
    assert!(lines_with(&out, &["10.99.50.0/24"]).is_empty(), "{out}");
}

#[test]
fn blackhole_unreachable_prohibit_routes() {
    if !can_run("blackhole_unreachable_prohibit_routes") {
        return;
    }
    let ns = Ns::new("bh", 2);
    let mut specs = Vec::new();
    for (i, kind) in [
        RouteKind::Blackhole,
        RouteKind::Unreachable,
        RouteKind::Prohibit,
    ]
    .into_iter()
    .enumerate()
    {
        let mut v4 = RouteSpec::new(addr(&format!("10.99.6{i}.0")), 24);
        v4.kind = kind;
        v4.table = Some(100);
        let mut v6 = RouteSpec::new(addr(&format!("fd99:6{i}::")), 64);
        v6.kind = kind;
        specs.push(v4);
        specs.push(v6);
    }
    ns.block_on(|| async {
        let nl = Netlink::new().expect("netlink");
        for s in &specs {
            nl.add_route(s).await.expect("add");
            nl.add_route(s).await.expect("add again");
        }
    });
    let out4 = ns.routes(Family::Ipv4);
    let out6 = ns.routes(Family::Ipv6);
    for (i, kind) in ["blackhole", "unreachable", "prohibit"].iter().enumerate() {
        let d4 = format!("{kind} 10.99.6{i}.0/24");
        assert_eq!(
            lines_with(&out4, &[&d4, "table 100", "proto keepalived"]).len(),
            1,
            "{out4}"
        );
        let d6 = format!("{kind} fd99:6{i}::/64");
        assert_eq!(
            lines_with(&out6, &[&d6, "proto keepalived"]).len(),
            1,
            "{out6}"
        );
    }
    ns.block_on(|| async {
        let nl = Netlink::new().expect("netlink");
        for s in &specs {
            nl.del_route(s).await.expect("del");
            nl.del_route(s).await.expect("del again");
        }
    });
    let out4 = ns.routes(Family::Ipv4);
    let out6 = ns.routes(Family::Ipv6);
    assert!(lines_with(&out4, &["10.99.6"]).is_empty(), "{out4}");
    assert!(lines_with(&out6, &["fd99:6"]).is_empty(), "{out6}");
}

#[test]
fn ipv6_routes() {
    if !can_run("ipv6_routes") {
        return;
    }
    let ns = Ns::new("v6", 3);
    let va = ns.ifindex("va");
    let n = ns.net;
    let mut r = RouteSpec::new(addr("fd99:50::"), 64);
    r.gateway = Some(addr(&format!("fd99:{n}::3")));
    r.oif = Some(va);
    r.metric = Some(100);
    let mut t = r.clone();
    t.table = Some(100);
    t.metric = None;
    // On the link, with a preferred source.
    let mut src = RouteSpec::new(addr("fd99:51::"), 64);
    src.oif = Some(va);
    src.src = Some(addr(&format!("fd99:{n}::1")));
    ns.block_on(|| async {
        let nl = Netlink::new().expect("netlink");
        for s in [&r, &t, &src] {
            nl.add_route(s).await.expect("add");
            nl.add_route(s).await.expect("add again");
        }
    });
    let out = ns.routes(Family::Ipv6);
    let via = format!("via fd99:{n}::3 dev va");
    let main = lines_with(
        &out,
        &["fd99:50::/64", &via, "proto keepalived", "metric 100"],
    );
    assert_eq!(main.len(), 1, "{out}");
    assert!(!main[0].contains("table"), "{out}");
    // No metric: the kernel's default for IPv6, 1024.
    let table = lines_with(&out, &["fd99:50::/64", &via, "table 100", "metric 1024"]);
    assert_eq!(table.len(), 1, "{out}");
    let from = format!("src fd99:{n}::1");
    assert_eq!(
        lines_with(&out, &["fd99:51::/64 dev va", "proto keepalived", &from]).len(),
        1,
        "{out}"
    );
    // A changed gateway (same destination, table and metric) replaces the route.
    let mut moved = r.clone();
    moved.gateway = Some(addr(&format!("fd99:{n}::4")));
    ns.block_on(|| async {
        let nl = Netlink::new().expect("netlink");
        nl.add_route(&moved).await.expect("replace");
    });
    let out = ns.routes(Family::Ipv6);
    let main = lines_with(&out, &["fd99:50::/64", "metric 100"]);
    assert_eq!(main.len(), 1, "{out}");
    assert!(main[0].contains(&format!("via fd99:{n}::4")), "{out}");
    ns.block_on(|| async {
        let nl = Netlink::new().expect("netlink");
        for s in [&moved, &t, &src] {
            nl.del_route(s).await.expect("del");
            nl.del_route(s).await.expect("del again");
        }
    });
    let out = ns.routes(Family::Ipv6);
    assert!(lines_with(&out, &["fd99:5"]).is_empty(), "{out}");
}

#[test]
fn ipv4_route_with_src_scope_and_protocol() {
    if !can_run("ipv4_route_with_src_scope_and_protocol") {
        return;
    }
    let ns = Ns::new("src", 4);
    let va = ns.ifindex("va");
    let n = ns.net;
    // On-link route with a source: scope link by default, as `ip` picks.
    let mut onlink = RouteSpec::new(addr("10.99.70.0"), 24);
    onlink.oif = Some(va);
    onlink.src = Some(addr(&format!("10.99.{n}.1")));
    // A default route in table 200 with explicit protocol and scope.
    let mut default = RouteSpec::new(addr("0.0.0.0"), 0);
    default.gateway = Some(addr(&format!("10.99.{n}.254")));
    default.table = Some(200);
    default.protocol = Some(4);
    default.scope = Some(0);
    // A table id above 255 goes in RTA_TABLE.
    let mut big = RouteSpec::new(addr("10.99.71.0"), 24);
    big.gateway = Some(addr(&format!("10.99.{n}.3")));
    big.table = Some(1000);
    ns.block_on(|| async {
        let nl = Netlink::new().expect("netlink");
        for s in [&onlink, &default, &big] {
            nl.add_route(s).await.expect("add");
            nl.add_route(s).await.expect("add again");
        }
    });
    let out = ns.routes(Family::Ipv4);
    let src = format!("src 10.99.{n}.1");
    assert_eq!(
        lines_with(
            &out,
            &[
                "10.99.70.0/24 dev va",
                "proto keepalived",
                "scope link",
                &src
            ]
        )
        .len(),
        1,
        "{out}"
    );
    let gw = format!("default via 10.99.{n}.254 dev va");
    assert_eq!(
        lines_with(&out, &[&gw, "table 200", "proto static"]).len(),
        1,
        "{out}"
    );
    assert_eq!(
        lines_with(&out, &["10.99.71.0/24", "table 1000"]).len(),
        1,
        "{out}"
    );

    ns.block_on(|| async {
        let nl = Netlink::new().expect("netlink");
        for s in [&onlink, &default, &big] {
            nl.del_route(s).await.expect("del");
        }
        // A route of another protocol is not ours to delete.
        let mut admin = RouteSpec::new(addr("10.99.72.0"), 24);
        admin.gateway = Some(addr(&format!("10.99.{n}.3")));
        admin.protocol = Some(3);
        nl.add_route(&admin).await.expect("add admin route");
        admin.protocol = None;
        nl.del_route(&admin).await.expect("del of another protocol");
    });
    let out = ns.routes(Family::Ipv4);
    assert!(lines_with(&out, &["10.99.70.0"]).is_empty(), "{out}");
    assert!(lines_with(&out, &["10.99.71.0"]).is_empty(), "{out}");
    assert!(lines_with(&out, &["default"]).is_empty(), "{out}");
    // (`ip` does not print proto boot, its own default.)
    let admin = lines_with(&out, &["10.99.72.0/24 via"]);
    assert_eq!(admin.len(), 1, "{out}");
    assert!(!admin[0].contains("proto"), "{out}");
}

#[test]
fn route_errors_carry_context() {
    if !can_run("route_errors_carry_context") {
        return;
    }
    let ns = Ns::new("err", 5);
    let n = ns.net;
    let mut no_dev = RouteSpec::new(addr("10.99.80.0"), 24);
    no_dev.oif = Some(9999);
    let mut bad_src = RouteSpec::new(addr("10.99.81.0"), 24);
    bad_src.gateway = Some(addr(&format!("10.99.{n}.3")));
    bad_src.src = Some(addr("10.99.250.1"));
    let mut bad_len = RouteSpec::new(addr("10.99.82.0"), 40);
    bad_len.kind = RouteKind::Blackhole;
    let (e1, e2, e3) = ns.block_on(|| async {
        let nl = Netlink::new().expect("netlink");
        (
            nl.add_route(&no_dev).await.expect_err("no such device"),
            nl.add_route(&bad_src).await.expect_err("src not local"),
            nl.add_route(&bad_len).await.expect_err("prefix too long"),
        )
    });
    let m1 = e1.to_string();
    assert!(
        m1.starts_with("add route (10.99.80.0/24 dev ifindex 9999"),
        "{m1}"
    );
    assert_eq!(e1.errno(), Some(libc_enodev()), "{m1}");
    let m2 = e2.to_string();
    assert!(m2.contains("src 10.99.250.1"), "{m2}");
    // The kernel: "Invalid prefsrc address".
    assert_eq!(e2.errno(), Some(nix::errno::Errno::EINVAL as i32), "{m2}");
    let m3 = e3.to_string();
    assert!(m3.starts_with("add route (blackhole 10.99.82.0/40"), "{m3}");
    assert!(m3.contains("prefix length 40"), "{m3}");
}

/// ENODEV, without a libc dev-dependency.
fn libc_enodev() -> i32 {
    nix::errno::Errno::ENODEV as i32
}

#[test]
fn rules_from_fwmark_iif_oif() {
    if !can_run("rules_from_fwmark_iif_oif") {
        return;
    }
    let ns = Ns::new("rule", 6);
    let mut from = RuleSpec::new(Family::Ipv4, 100);
    from.from = Some((addr("10.99.90.0"), 24));
    from.priority = Some(100);
    let mut mark = RuleSpec::new(Family::Ipv4, 101);
    mark.fwmark = Some(0x10);
    mark.fwmask = Some(0xff);
    mark.priority = Some(110);
    // No priority: the kernel picks one, idempotence comes from the dump.
    let mut iif = RuleSpec::new(Family::Ipv4, 102);
    iif.iif = Some("va".into());
    let mut oif = RuleSpec::new(Family::Ipv4, 1000);
    oif.oif = Some("vb".into());
    oif.to = Some((addr("10.99.91.0"), 24));
    oif.fwmark = Some(7);
    let mut v6 = RuleSpec::new(Family::Ipv6, 100);
    v6.from = Some((addr("fd99:90::"), 64));
    v6.priority = Some(120);
    let mut v6_any = RuleSpec::new(Family::Ipv6, 103);
    v6_any.iif = Some("va".into());
    let all = [&from, &mark, &iif, &oif, &v6, &v6_any];

    ns.block_on(|| async {
        let nl = Netlink::new().expect("netlink");
        for r in all {
            nl.add_rule(r).await.expect("add rule");
            nl.add_rule(r).await.expect("add rule again");
        }
    });
    let out4 = ns.rules(Family::Ipv4);
    let out6 = ns.rules(Family::Ipv6);
    let expect4: [&[&str]; 4] = [
        &["100:", "from 10.99.90.0/24 lookup 100"],
        &["110:", "from all fwmark 0x10/0xff lookup 101"],
        &["from all iif va lookup 102"],
        &["from all to 10.99.91.0/24 fwmark 0x7 oif vb lookup 1000"],
    ];
    for parts in expect4 {
        assert_eq!(lines_with(&out4, parts).len(), 1, "{parts:?} in\n{out4}");
    }
    let expect6: [&[&str]; 2] = [
        &["120:", "from fd99:90::/64 lookup 100"],
        &["from all iif va lookup 103"],
    ];
    for parts in expect6 {
        assert_eq!(lines_with(&out6, parts).len(), 1, "{parts:?} in\n{out6}");
    }

    // A rule with more selectors than the spec is not the spec's rule: not deleted.
    ns.ip(&[
        "rule", "add", "iif", "va", "fwmark", "0x5", "lookup", "102", "priority", "300",
    ]);
    ns.block_on(|| async {
        let nl = Netlink::new().expect("netlink");
        for r in all {
            nl.del_rule(r).await.expect("del rule");
            nl.del_rule(r).await.expect("del rule again");
        }
    });
    let out4 = ns.rules(Family::Ipv4);
    let out6 = ns.rules(Family::Ipv6);
    assert_eq!(lines_with(&out4, &["lookup 10"]).len(), 1, "{out4}");
    assert_eq!(
        lines_with(&out4, &["300:", "fwmark 0x5 iif va lookup 102"]).len(),
        1,
        "{out4}"
    );
    assert!(lines_with(&out4, &["lookup 1000"]).is_empty(), "{out4}");
    assert!(lines_with(&out6, &["lookup 10"]).is_empty(), "{out6}");
    // Only the kernel's default rules remain besides the administrator's.
    assert_eq!(out4.lines().count(), 4, "{out4}");
    assert_eq!(out6.lines().count(), 2, "{out6}");
}
