//! Real-world style configurations: what they parse to, and where the broken variants fail.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use vrrp_config::{
    ConfigError, Family, InitFile, InitialState, InterfaceDelay, LoadOptions, Loaded, ParamMatch,
    Prefix, Role, RouteType, ScriptUser, TrackFile, TrackInterface, TrackRef, VirtualRoute,
    load_with,
};

fn path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/realworld")
        .join(name)
}

fn opts(id: &str) -> LoadOptions {
    LoadOptions {
        config_id: Some(id.to_owned()),
    }
}

fn ok_as(name: &str, id: &str) -> Loaded {
    match load_with(&path(name), &opts(id)) {
        Ok(l) => l,
        Err(errs) => {
            for e in &errs {
                eprintln!("{e}");
            }
            panic!("{name}: {} errors", errs.len());
        }
    }
}

fn errors_as(name: &str, id: &str) -> Vec<ConfigError> {
    match load_with(&path(name), &opts(id)) {
        Ok(l) => panic!("{name}: expected errors, got {:#?}", l.config),
        Err(e) => e,
    }
}

fn v(s: &str) -> IpAddr {
    s.parse().expect("address")
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

fn track(name: &str, weight: Option<i32>, reverse: Option<bool>) -> TrackRef {
    TrackRef {
        name: name.to_owned(),
        weight,
        reverse,
    }
}

/// Asserts one error at `line:column` whose message contains `msg`.
#[track_caller]
fn has<'a>(errs: &'a [ConfigError], line: usize, column: usize, msg: &str) -> &'a ConfigError {
    let all: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    errs.iter()
        .find(|e| e.line == line && e.column == column && e.message.contains(msg))
        .unwrap_or_else(|| panic!("no error {line}:{column} `{msg}` in:\n{}", all.join("\n")))
}

#[test]
fn load_balancer_pair() {
    let l = ok_as("lb_pair.conf", "lb1");
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let c = &l.config;
    let g = &c.global;
    assert!(g.enable_script_security);
    assert_eq!(g.startup_delay, Duration::from_secs(5));
    let fifo = g.vrrp_notify_fifo.as_ref().expect("vrrp_notify_fifo");
    assert_eq!(fifo.path, PathBuf::from("/run/keepalived/vrrp.fifo"));
    assert_eq!(
        fifo.owner,
        Some(ScriptUser {
            user: "keepalived_script".into(),
            group: Some("adm".into())
        })
    );
    let reader = fifo.script.as_ref().expect("fifo script");
    assert_eq!(
        reader.argv,
        strings(&[
            "/usr/local/sbin/fifo-reader",
            "--log",
            "/var/log/ka-events.log"
        ])
    );
    assert_eq!(reader.user.as_ref().map(|u| u.user.as_str()), Some("root"));
    assert_eq!(g.notify_fifo, None);

    assert_eq!(c.scripts.len(), 3);
    let s = c.script("chk_haproxy").expect("chk_haproxy");
    assert_eq!(
        s.command.argv,
        strings(&["/usr/bin/killall", "-0", "haproxy"])
    );
    assert_eq!(
        s.command.user,
        Some(ScriptUser {
            user: "haproxy".into(),
            group: Some("haproxy".into())
        })
    );
    assert_eq!(
        (s.interval, s.timeout),
        (Duration::from_secs(2), Duration::from_secs(3))
    );
    assert_eq!(
        (s.weight, s.reverse, s.rise, s.fall, s.init_fail),
        (-20, false, 2, 3, false)
    );
    assert_eq!((s.location.line, s.location.column), (14, 1));
    let h = c.script("chk_http").expect("chk_http");
    assert_eq!(
        h.command.argv,
        strings(&[
            "/usr/local/sbin/check_http.sh",
            "http://127.0.0.1:8080/health check",
            "2"
        ])
    );
    assert_eq!(
        (h.interval, h.timeout),
        (Duration::from_millis(500), Duration::from_millis(500))
    );
    assert_eq!(
        (h.weight, h.reverse, h.rise, h.fall, h.init_fail),
        (10, true, 1, 1, true)
    );
    let p = c.script("chk_plain").expect("chk_plain");
    assert_eq!(
        p.command.argv,
        strings(&["/usr/local/sbin/check_plain.sh", "--quick"])
    );
    assert_eq!(p.command.user, None);
    assert_eq!(
        (p.interval, p.timeout, p.weight),
        (Duration::from_secs(1), Duration::from_secs(1), 0)
    );

    assert_eq!(
        c.track_files,
        vec![
            TrackFile {
                name: "maintenance".into(),
                path: "/etc/keepalived/maintenance".into(),
                weight: -50,
                reverse: false,
                init: Some(InitFile {
                    value: 0,
                    overwrite: false
                }),
                location: c.track_files[0].location.clone(),
            },
            TrackFile {
                name: "drain".into(),
                path: "/run/keepalived/drain".into(),
                weight: 1,
                reverse: true,
                init: Some(InitFile {
                    value: 5,
                    overwrite: true
                }),
                location: c.track_files[1].location.clone(),
            },
        ]
    );
    assert_eq!(c.track_files[1].location.line, 41);
    let hp = c.track_process("haproxy_proc").expect("haproxy_proc");
    assert_eq!(hp.process, "haproxy");
    assert_eq!(hp.args, Some(strings(&["-f", "/etc/haproxy/haproxy.cfg"])));
    assert_eq!(hp.param_match, ParamMatch::Partial);
    assert!(!hp.full_command);
    assert_eq!(
        (hp.weight, hp.reverse, hp.quorum, hp.quorum_max),
        (-30, true, 1, Some(4))
    );
    assert_eq!(hp.fork_delay, Duration::from_millis(500));
    assert_eq!(hp.terminate_delay, Duration::from_secs(2));
    let nx = c.track_process("nginx_any").expect("nginx_any");
    assert_eq!(
        (nx.args.as_ref(), nx.param_match, nx.full_command),
        (None, ParamMatch::Exact, true)
    );
    assert_eq!((nx.weight, nx.quorum, nx.quorum_max), (0, 1, None));
    assert_eq!(
        (nx.fork_delay, nx.terminate_delay),
        (Duration::from_millis(250), Duration::ZERO)
    );

    let i = c.instance("VI_WEB").expect("VI_WEB");
    assert_eq!(
        i.track_interfaces,
        vec![
            TrackInterface {
                name: "eth1".into(),
                weight: -5,
                reverse: true
            },
            TrackInterface {
                name: "eth2".into(),
                weight: 5,
                reverse: false
            },
            TrackInterface {
                name: "eth3".into(),
                weight: 0,
                reverse: false
            },
        ]
    );
    assert_eq!(
        i.track_scripts,
        vec![
            track("chk_haproxy", None, None),
            track("chk_http", Some(5), Some(false)),
            track("chk_plain", None, Some(true)),
        ]
    );
    assert_eq!(
        i.track_files,
        vec![
            track("maintenance", None, None),
            track("drain", Some(-2), Some(true))
        ]
    );
    assert_eq!(
        i.track_processes,
        vec![
            track("haproxy_proc", Some(-40), None),
            track("nginx_any", None, None)
        ]
    );
    let n = &i.notify;
    let m = n.master.as_ref().expect("notify_master");
    assert_eq!(
        m.argv,
        strings(&["/etc/keepalived/notify.sh", "master", "web vip"])
    );
    assert_eq!(m.user, None);
    assert_eq!((m.location.line, m.location.column), (95, 5));
    let b = n.backup.as_ref().expect("notify_backup");
    assert_eq!(b.argv, strings(&["/etc/keepalived/notify.sh"]));
    assert_eq!(
        b.user
            .as_ref()
            .map(|u| (u.user.as_str(), u.group.as_deref())),
        Some(("keepalived_script", None))
    );
    let f = n.fault.as_ref().expect("notify_fault");
    assert_eq!(f.argv, strings(&["/etc/keepalived/notify.sh", "fault"]));
    assert_eq!(
        f.user
            .as_ref()
            .map(|u| (u.user.as_str(), u.group.as_deref())),
        Some(("keepalived_script", Some("adm")))
    );
    let st = n.stop.as_ref().expect("notify_stop");
    assert_eq!(
        st.user
            .as_ref()
            .map(|u| (u.user.as_str(), u.group.as_deref())),
        Some(("root", Some("root")))
    );
    assert_eq!(
        n.any.as_ref().map(|c| c.program()),
        Some("/usr/local/bin/ka-notify.sh")
    );
    assert_eq!(
        n.master_rx_lower_pri.as_ref().map(|c| c.argv.clone()),
        Some(strings(&["/usr/local/bin/cloud-ip-fixup", "--force"]))
    );
    assert!(i.promote_secondaries);
    assert_eq!(i.notify_master_change, None);
    assert_eq!(i.sync_group, None);
    assert!(c.sync_groups.is_empty());
}

#[test]
fn router_pair_with_sync_group_and_routes() {
    let l = ok_as("router_pair.conf", "edge-a");
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let c = &l.config;
    let fifo = c.global.notify_fifo.as_ref().expect("notify_fifo");
    assert_eq!(fifo.path, PathBuf::from("/run/keepalived/all.fifo"));
    assert_eq!(fifo.owner, None);
    assert_eq!(
        fifo.script.as_ref().map(|s| s.program()),
        Some("/usr/local/sbin/ka-fifo-logger")
    );
    assert_eq!(
        c.interface_delays,
        vec![
            InterfaceDelay {
                interface: "eth0".into(),
                down: Duration::from_secs(2),
                up: Duration::ZERO
            },
            InterfaceDelay {
                interface: "eth1".into(),
                down: Duration::from_millis(1500),
                up: Duration::from_millis(500)
            },
        ]
    );
    let s = c.script("chk_uplink").expect("chk_uplink");
    assert_eq!((s.interval, s.fall, s.rise), (Duration::from_secs(5), 2, 1));

    assert_eq!(c.sync_groups.len(), 1);
    let g = &c.sync_groups[0];
    assert_eq!(g.name, "EDGE");
    assert_eq!(g.members, strings(&["INSIDE", "OUTSIDE"]));
    assert_eq!(
        g.track_interfaces,
        vec![TrackInterface {
            name: "eth2".into(),
            weight: -10,
            reverse: false
        }]
    );
    assert_eq!(g.track_scripts, vec![track("chk_uplink", Some(-30), None)]);
    assert!(g.track_files.is_empty() && g.track_processes.is_empty());
    assert_eq!(
        g.notify.master.as_ref().map(|c| c.argv.clone()),
        Some(strings(&["/etc/keepalived/edge.sh", "MASTER"]))
    );
    assert!(g.notify.backup.is_some() && g.notify.fault.is_some() && g.notify.stop.is_some());
    assert_eq!(
        g.notify.any.as_ref().map(|c| c.program()),
        Some("/etc/keepalived/edge-any.sh")
    );
    assert_eq!(g.notify.master_rx_lower_pri, None);
    assert!(g.tracking_weight);
    assert_eq!((g.location.line, g.location.column), (22, 1));
    for name in ["INSIDE", "OUTSIDE"] {
        assert_eq!(
            c.instance(name).and_then(|i| i.sync_group.as_deref()),
            Some("EDGE")
        );
    }

    let inside = c.instance("INSIDE").expect("INSIDE");
    let rules = &inside.virtual_rules;
    assert_eq!(rules.len(), 4);
    assert_eq!(
        rules[0].from,
        Some(Prefix {
            addr: v("10.10.0.0"),
            len: 24
        })
    );
    assert_eq!((rules[0].table, rules[0].priority), (100, Some(1000)));
    assert_eq!(rules[1].to.map(|p| p.len), Some(24));
    assert_eq!(
        (rules[1].table, rules[1].priority, rules[1].iif.as_deref()),
        (254, Some(900), Some("eth0"))
    );
    assert_eq!(
        (
            rules[2].fwmark,
            rules[2].fwmask,
            rules[2].table,
            rules[2].priority
        ),
        (Some(16), Some(255), 200, Some(1100))
    );
    assert_eq!(
        (rules[3].from, rules[3].oif.as_deref(), rules[3].table),
        (None, Some("eth1"), 300)
    );
    assert!(rules.iter().all(|r| r.family == Family::Ipv4));
    assert_eq!((rules[2].location.line, rules[2].location.column), (52, 9));

    let outside = c.instance("OUTSIDE").expect("OUTSIDE");
    let r = &outside.virtual_routes;
    assert_eq!(r.len(), 7);
    assert_eq!(
        r[0],
        VirtualRoute {
            kind: RouteType::Unicast,
            dst: Prefix {
                addr: v("0.0.0.0"),
                len: 0
            },
            via: Some(v("203.0.113.254")),
            dev: Some("eth1".into()),
            src: None,
            metric: Some(10),
            table: None,
            scope: None,
            proto: None,
            location: r[0].location.clone(),
        }
    );
    assert_eq!((r[0].location.line, r[0].location.column), (70, 9));
    assert_eq!(r[1].src, Some(v("203.0.113.2")));
    assert_eq!(
        r[1].dst,
        Prefix {
            addr: v("198.51.100.0"),
            len: 24
        }
    );
    assert_eq!(
        (r[1].via, r[1].table, r[1].proto.as_deref()),
        (Some(v("203.0.113.253")), Some(100), Some("static"))
    );
    assert_eq!(
        (r[2].dev.as_deref(), r[2].scope.as_deref(), r[2].via),
        (Some("eth1"), Some("link"), None)
    );
    assert_eq!((r[3].kind, r[3].dst.len), (RouteType::Blackhole, 24));
    assert_eq!((r[4].kind, r[4].table), (RouteType::Unreachable, Some(200)));
    assert_eq!((r[5].kind, r[5].metric), (RouteType::Prohibit, Some(5)));
    assert_eq!(
        r[6].dst,
        Prefix {
            addr: v("::"),
            len: 0
        }
    );
    assert_eq!(
        (r[6].via, r[6].family()),
        (Some(v("2001:db8:1::ff")), Family::Ipv6)
    );

    let w = c.instance("WATCH").expect("WATCH");
    assert_eq!(w.role, Role::Observer);
    let m = w
        .notify_master_change
        .as_ref()
        .expect("notify_master_change");
    assert_eq!(
        m.argv,
        strings(&["/usr/local/sbin/neighbour-changed.sh", "edge b"])
    );
    assert_eq!(
        m.user,
        Some(ScriptUser {
            user: "nobody".into(),
            group: Some("nogroup".into())
        })
    );
    assert_eq!(w.sync_group, None);
}

#[test]
fn fifty_instances_from_seq() {
    for (id, prio) in [("node-a", 150), ("node-b", 100)] {
        let l = ok_as("seq50.conf", id);
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        let c = &l.config;
        assert_eq!(c.instances.len(), 50);
        for (n, i) in (1..=50).zip(&c.instances) {
            assert_eq!(i.name, format!("VLAN_{n}"));
            assert_eq!(i.interface, format!("eth0.{n}"));
            assert_eq!(u32::from(i.vrid), n);
            assert_eq!(i.priority, prio);
            assert_eq!(i.vips[0].addr, v(&format!("10.{n}.0.1")));
            assert_eq!(i.sync_group.as_deref(), Some("ALL_VLANS"));
            // Every instance is located at the line that generated it.
            assert_eq!((i.location.line, i.location.column), (17, 16));
        }
        assert_eq!(c.sync_groups[0].members.len(), 50);
    }
}

#[test]
fn one_file_for_several_nodes() {
    let lb1 = ok_as("multinode.conf", "lb1");
    let lb2 = ok_as("multinode.conf", "lb2");
    let lb3 = ok_as("multinode.conf", "lb3");
    let spare = ok_as("multinode.conf", "lb4");
    let router = |l: &Loaded| l.config.global.router_id.clone();
    assert_eq!(router(&lb1).as_deref(), Some("lb1"));
    assert_eq!(router(&lb2).as_deref(), Some("lb2"));
    assert_eq!(router(&lb3).as_deref(), Some("spare"));
    assert_eq!(
        lb1.config.global.garp.master_refresh,
        Some(Duration::from_secs(60))
    );
    let i1 = &lb1.config.instances[0];
    let i2 = &lb2.config.instances[0];
    let i3 = &lb3.config.instances[0];
    assert_eq!((i1.initial_state, i1.priority), (InitialState::Master, 150));
    assert_eq!((i2.initial_state, i2.priority), (InitialState::Backup, 120));
    assert_eq!((i3.initial_state, i3.priority), (InitialState::Backup, 100));
    assert_eq!(i1.unicast_src_ip, Some(v("192.0.2.11")));
    assert_eq!(i2.unicast_src_ip, Some(v("192.0.2.12")));
    assert_eq!(i1.unicast_peers, vec![v("192.0.2.12"), v("192.0.2.13")]);
    assert_eq!(i2.unicast_peers, vec![v("192.0.2.11"), v("192.0.2.13")]);
    let vips: Vec<IpAddr> = i2.vips.iter().map(|x| x.addr).collect();
    assert_eq!(
        vips,
        vec![v("192.0.2.100"), v("192.0.2.101"), v("192.0.2.102")]
    );
    // The check comes from the included file, with that file's directory as ${_PWD}.
    let dir = path("multinode.d").canonicalize().expect("dir");
    let chk = lb2.config.script("chk_local").expect("chk_local");
    assert_eq!(
        chk.command.argv,
        vec![format!("{}/check.sh", dir.display()), "lb2".to_owned()]
    );
    assert_eq!(chk.weight, -12);
    assert!(chk.location.file.ends_with("multinode.d/node.conf"));
    let notify = i2.notify.any.as_ref().expect("notify");
    assert_eq!(notify.argv, strings(&["/usr/local/bin/notify.sh", "lb2"]));
    let master = i2.notify.master.as_ref().expect("notify_master");
    assert_eq!(master.argv, notify.argv);
    assert_eq!(
        master.user.as_ref().map(|u| u.user.as_str()),
        Some("keepalived_script")
    );
    // Any other node is a spare: the `@^` lines apply to it.
    let s = &spare.config.instances[0];
    assert_eq!(s.unicast_src_ip, Some(v("192.0.2.14")));
    assert_eq!(s.unicast_peers.len(), 3);
}

#[test]
fn broken_trackers_sync_groups_and_routes() {
    let errs = errors_as("bad/tracking.conf", "x");
    has(
        &errs,
        3,
        12,
        "invalid weight `300`: must be an integer between -253 and 253",
    );
    has(&errs, 4, 10, "invalid rise `0`");
    has(&errs, 7, 1, "vrrp_script `chk_nocmd` has no `script`");
    has(&errs, 8, 14, "invalid interval `0`: must be more than 0");
    has(&errs, 11, 1, "track_file `tf` has no `file`");
    has(&errs, 12, 14, "unexpected `sideways` after the weight");
    has(&errs, 18, 16, "quorum_max 2 is below quorum 3");
    has(&errs, 19, 17, "invalid param_match `fuzzy`");
    let e = has(
        &errs,
        24,
        14,
        "unknown vrrp_instance `VI_X` in sync group `G1`",
    );
    assert_eq!(e.hint.as_deref(), Some("did you mean `VI_1`?"));
    has(
        &errs,
        26,
        5,
        "unsupported keyword `notify_priority_changes`",
    );
    has(
        &errs,
        31,
        9,
        "instance `VI_1` is already in sync group `G1`",
    );
    has(&errs, 42, 9, "unknown vrrp_script `chk_b`");
    has(&errs, 43, 22, "invalid weight `254`");
    has(&errs, 44, 15, "unexpected `sideways` in `track_script`");
    has(&errs, 47, 32, "unexpected `extra` in `track_interface`");
    has(
        &errs,
        49,
        45,
        "unexpected `extra` after `notify_master SCRIPT USER GROUP`",
    );
    has(&errs, 50, 5, "unsupported keyword `use_ipvlan`");
    has(&errs, 52, 36, "unsupported `virtual_routes` option `mtu`");
    has(
        &errs,
        53,
        25,
        "`via` 2001:db8::1 is not of the family of the destination",
    );
    has(
        &errs,
        54,
        35,
        "a blackhole, unreachable or prohibit route has no gateway",
    );
    has(&errs, 55, 9, "a virtual route needs a destination");
    has(&errs, 58, 9, "a virtual rule needs `table`");
    has(&errs, 59, 26, "unsupported `virtual_rules` option `goto`");
    has(&errs, 60, 16, "invalid fwmark `0xzz`");
    assert_eq!(errs.len(), 24, "{errs:#?}");
}

#[test]
fn errors_in_generated_text_point_at_the_generating_line() {
    let errs = errors_as("bad/expansion.conf", "x");
    // Line 15: `~LST({N, P}, ...) $INST`; the errors are in the `$INST` body.
    let e = has(&errs, 15, 54, "invalid priority `2500`");
    assert_eq!(
        e.snippet,
        "~LST({N, P}, {1, $PRIO}, {2, $BAD_PRIO}, {256, 100}) $INST"
    );
    let hint = e.hint.as_deref().unwrap_or_default();
    assert!(
        hint.contains("`~LST` iteration with N = 2, P = 2500"),
        "{hint}"
    );
    assert!(
        hint.contains("`$INST` line at") && hint.ends_with("expansion.conf:9"),
        "{hint}"
    );
    has(&errs, 15, 54, "invalid virtual_router_id `256`");
    has(&errs, 15, 54, "invalid address `10.0.256.1/24`");
    // A parameter in a plain line: at the reference, naming both definitions.
    let e = has(&errs, 20, 14, "invalid priority `2500`");
    let hint = e.hint.as_deref().unwrap_or_default();
    assert!(
        hint.contains("`$BAD_PRIO` defined at") && hint.contains("`$PRIO` defined at"),
        "{hint}"
    );
    // ~SEQ(I, 250, 2, 258): 256 and 258 are not octets, at the address's column.
    let e = has(&errs, 22, 30, "invalid address `10.9.0.256/24`");
    assert!(
        e.hint.as_deref().is_some_and(|h| h.contains("I = 256")),
        "{e}"
    );
    has(&errs, 22, 30, "invalid address `10.9.0.258/24`");
    has(&errs, 25, 9, "undefined parameter `$MISSING`");
    assert_eq!(errs.len(), 7, "{errs:#?}");
    // The rendered error quotes the generating line with the caret under `$INST`.
    let shown = errs[0].to_string();
    assert!(shown.contains("\n   15 | ~LST("), "{shown}");
    assert!(
        shown.contains(&format!("\n      | {}^^^^^", " ".repeat(53))),
        "{shown}"
    );
}

#[test]
fn tracker_weights_of_owners_and_group_members() {
    // The weights of these trackers cannot act: they are warnings (see the next test); the
    // file's other mistakes are still errors.
    let errs = errors_as("bad/weights.conf", "x");
    has(&errs, 5, 13, "duplicate vrrp_script name `chk`");
    has(&errs, 36, 26, "`${` without a closing `}`");
    has(&errs, 43, 17, "duplicate vrrp_sync_group name `SG`");
    assert_eq!(errs.len(), 3, "{errs:#?}");
}

#[test]
fn weighted_trackers_of_owners_and_group_members_act_with_weight_0() {
    let text = "vrrp_script chk {\n    script /bin/true\n    weight -10\n}\n\
        vrrp_instance OWNER {\n    interface eth0\n    virtual_router_id 1\n    priority 255\n\
        virtual_ipaddress {\n        10.0.0.1/24\n    }\n    track_script {\n        chk\n    }\n}\n\
        vrrp_instance M1 {\n    interface eth0\n    virtual_router_id 2\n\
        virtual_ipaddress {\n        10.0.0.2/24\n    }\n    track_interface {\n        eth1 weight 5\n    }\n}\n\
        vrrp_instance M2 {\n    interface eth0\n    virtual_router_id 3\n\
        virtual_ipaddress {\n        10.0.0.3/24\n    }\n}\n\
        vrrp_sync_group SG {\n    group {\n        M1\n        M2\n    }\n}\n";
    let l = vrrp_config::parse_str("t.conf", text).expect("valid");
    let w: Vec<(usize, &str)> = l
        .warnings
        .iter()
        .map(|w| (w.line, w.message.as_str()))
        .collect();
    assert!(
        w.iter().any(|(line, m)| *line == 13
            && m.starts_with(
                "track_script `chk` has weight -10 but instance `OWNER` is the address owner"
            )
            && m.contains("used with weight 0")),
        "{w:#?}"
    );
    assert!(
        w.iter().any(|(line, m)| *line == 23
            && m.starts_with("track_interface `eth1` has weight 5 but instance `M1`")),
        "{w:#?}"
    );
    let owner = &l.config.instances[0];
    assert_eq!(owner.track_scripts, [track("chk", Some(0), None)]);
    assert_eq!(l.config.instances[1].track_interfaces[0].weight, 0);
}

#[test]
fn deprecated_and_single_member_groups_warn() {
    let text = "vrrp_instance A {\n    interface eth0\n    virtual_router_id 1\n    virtual_ipaddress {\n        10.0.0.1/24\n    }\n}\nvrrp_sync_group G {\n    group {\n        A\n    }\n    global_tracking\n}\ninterface_up_down_delays {\n    eth0 1\n    eth0 2 3\n}\n";
    let l = vrrp_config::parse_str("t.conf", text).expect("valid");
    let w: Vec<(usize, usize, &str)> = l
        .warnings
        .iter()
        .map(|w| (w.line, w.column, w.message.as_str()))
        .collect();
    assert_eq!(
        w,
        [
            (
                8,
                1,
                "vrrp_sync_group `G` has only one instance; a group is for several"
            ),
            (12, 5, "`global_tracking` is deprecated and ignored"),
            (
                16,
                5,
                "interface `eth0` has up/down delays twice; the last are used"
            ),
        ]
    );
    assert_eq!(
        l.config.interface_delays,
        vec![InterfaceDelay {
            interface: "eth0".into(),
            down: Duration::from_secs(2),
            up: Duration::from_secs(3)
        }]
    );
}
