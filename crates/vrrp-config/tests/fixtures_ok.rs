//! Valid fixtures parse to the expected typed values.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use vrrp_config::{
    Family, Garp, InitialState, Loaded, Role, TrackInterface, Vip, VrrpInstance, load,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn ok(name: &str) -> Loaded {
    match load(&fixture(name)) {
        Ok(l) => l,
        Err(errs) => {
            for e in &errs {
                eprintln!("{e}");
            }
            panic!("{name}: {} errors", errs.len());
        }
    }
}

fn inst<'a>(l: &'a Loaded, name: &str) -> &'a VrrpInstance {
    l.config
        .instances
        .iter()
        .find(|i| i.name == name)
        .unwrap_or_else(|| panic!("no instance {name}"))
}

fn v4(s: &str) -> IpAddr {
    IpAddr::V4(s.parse::<Ipv4Addr>().expect("v4"))
}

fn v6(s: &str) -> IpAddr {
    IpAddr::V6(s.parse::<Ipv6Addr>().expect("v6"))
}

#[test]
fn master_backup_pair() {
    let m = ok("master.conf");
    assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    assert_eq!(m.config.global.router_id.as_deref(), Some("LVS_MASTER"));
    let i = inst(&m, "VI_1");
    assert_eq!(i.initial_state, InitialState::Master);
    assert_eq!(i.role, Role::Router);
    assert_eq!(i.interface, "eth0");
    assert_eq!(i.vrid, 51);
    assert_eq!(i.priority, 150);
    assert_eq!(i.advert_interval_cs, 100);
    assert_eq!(i.version, 2);
    assert_eq!(i.family, Family::Ipv4);
    assert_eq!(i.auth.as_deref(), Some("1111"));
    assert!(i.preempt);
    assert!(i.accept);
    assert_eq!(i.vips.len(), 3);
    assert_eq!(
        i.vips[1],
        Vip {
            addr: v4("192.168.200.17"),
            prefix_len: 24,
            broadcast: None,
            dev: Some("eth1".into()),
            scope: None,
            label: Some("eth1:vip".into()),
        }
    );
    assert_eq!(i.vips[2].prefix_len, 32);
    assert_eq!(i.garp, Garp::default());
    assert_eq!(i.location.line, 6);
    assert_eq!(i.location.column, 1);

    let b = ok("backup.conf");
    let j = inst(&b, "VI_1");
    assert_eq!(j.initial_state, InitialState::Backup);
    assert_eq!(j.priority, 100);
    assert!(!j.preempt);
    assert_eq!(j.vips, i.vips);
    // The `{` on its own line is accepted, as in keepalived.
    assert_eq!(j.location.line, 6);
}

#[test]
fn v3_ipv6_instance() {
    let l = ok("v3_ipv6.conf");
    let i = inst(&l, "V6");
    assert_eq!(i.version, 3);
    assert_eq!(i.family, Family::Ipv6);
    assert_eq!(i.advert_interval_cs, 50);
    assert_eq!(i.vips[0].addr, v6("fe80::60"));
    assert_eq!(i.vips[0].prefix_len, 64);
    assert_eq!(i.vips[1].scope.as_deref(), Some("global"));
    // Excluded addresses may be of the other family.
    assert_eq!(i.excluded_vips[0].addr, v4("192.0.2.60"));
    assert_eq!(i.excluded_vips[1].prefix_len, 128);
}

#[test]
fn ipv6_forces_version_3() {
    let l = vrrp_config::parse_str(
        "v6.conf",
        "vrrp_instance X {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n  fe80::1\n }\n}\n",
    )
    .expect("valid");
    assert_eq!(l.config.global.vrrp_version, 2);
    assert_eq!(l.config.instances[0].version, 3);
}

#[test]
fn unicast() {
    let l = ok("unicast.conf");
    let i = inst(&l, "U1");
    assert_eq!(i.unicast_src_ip, Some(v4("10.0.0.1")));
    assert_eq!(i.unicast_peers, vec![v4("10.0.0.2"), v4("10.0.0.3")]);
    assert_eq!(i.interface, "ens3");
    assert_eq!(i.priority, 90);
}

#[test]
fn vmac() {
    let l = ok("vmac.conf");
    let a = inst(&l, "VM1");
    assert_eq!(a.use_vmac.as_deref(), Some("vrrp.12"));
    assert!(a.vmac_xmit_base);
    let b = inst(&l, "VM2");
    assert_eq!(b.use_vmac.as_deref(), Some("vrrp_blue"));
    assert!(!b.vmac_xmit_base);
}

#[test]
fn default_vmac_names_are_unique() {
    // The same VRID on two interfaces and in both families: keepalived's naming.
    let one = |name: &str, ifname: &str, vip: &str| {
        format!(
            "vrrp_instance {name} {{\n interface {ifname}\n virtual_router_id 7\n use_vmac\n virtual_ipaddress {{\n  {vip}\n }}\n}}\n"
        )
    };
    let text = [
        one("A", "eth0", "10.0.0.1"),
        one("B", "eth1", "10.0.1.1"),
        one("C", "eth0", "fe80::7"),
        one("D", "eth2", "10.0.2.1"),
    ]
    .concat();
    let l = vrrp_config::parse_str("v.conf", &text).expect("valid");
    let names: Vec<&str> = l
        .config
        .instances
        .iter()
        .filter_map(|i| i.use_vmac.as_deref())
        .collect();
    assert_eq!(names, ["vrrp.7", "vrrp1.7", "vrrp6.7", "vrrp2.7"]);
}

#[test]
fn observers() {
    let l = ok("observer.conf");
    let a = inst(&l, "WATCH_A");
    assert_eq!(a.role, Role::Observer);
    assert_eq!(a.initial_state, InitialState::Backup);
    let b = inst(&l, "WATCH_B");
    assert_eq!(b.role, Role::Observer);
    assert_eq!(b.priority, 10);
}

#[test]
fn includes_with_globs() {
    let l = ok("main_include.conf");
    assert_eq!(l.config.global.router_id.as_deref(), Some("INCLUDED"));
    assert_eq!(l.config.global.garp.master_delay, Duration::from_secs(10));
    // Lower-priority GARP delay follows the global master delay when unset.
    assert_eq!(
        l.config.global.garp.lower_prio_delay,
        Duration::from_secs(10)
    );
    let names: Vec<&str> = l.config.instances.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["INC_A", "INC_B"]);
    let a = inst(&l, "INC_A");
    assert_eq!(a.vips[0].addr, v4("10.31.0.1"));
    assert!(a.location.file.ends_with("conf.d/instances/a.conf"));
    assert_eq!(a.garp.master_delay, Duration::from_secs(10));
    // A pattern that matches nothing is a warning, as in keepalived.
    assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
    let w = &l.warnings[0];
    assert!(w.message.contains("matches no file"), "{w}");
    assert!(w.file.ends_with("main_include.conf"));
    assert_eq!((w.line, w.column), (4, 1));
}

#[test]
fn kitchen_sink() {
    let l = ok("kitchen_sink.conf");
    let g = &l.config.global;
    assert_eq!(g.router_id.as_deref(), Some("kitchen sink"));
    assert_eq!(g.vrrp_version, 2);
    assert_eq!(
        g.garp,
        Garp {
            master_delay: Duration::from_secs(3),
            master_repeat: 4,
            master_refresh: Some(Duration::from_secs(60)),
            master_refresh_repeat: 2,
            lower_prio_delay: Duration::from_secs(7),
            lower_prio_repeat: 3,
            interval: Duration::from_millis(1),
            gna_interval: Duration::from_micros(250),
            extra_if: None,
        }
    );
    assert!(g.check_unicast_src);
    assert!(g.skip_check_adv_addr);
    assert!(!g.strict);
    assert_eq!(g.startup_delay, Duration::from_millis(2500));
    assert!(g.enable_script_security);
    let su = g.script_user.as_ref().expect("script_user");
    assert_eq!(su.user, "keepalived_script");
    assert_eq!(su.group.as_deref(), Some("nogroup"));
    assert!(g.lower_prio_no_advert);
    assert!(g.higher_prio_send_advert);
    assert!(!g.v3_checksum_as_v2);

    let i = inst(&l, "SINK");
    assert_eq!(i.initial_state, InitialState::Backup);
    assert_eq!(i.vrid, 99);
    assert_eq!(i.priority, 120);
    assert_eq!(i.advert_interval_cs, 25);
    assert_eq!(i.version, 3);
    assert_eq!(i.family, Family::Ipv4);
    assert_eq!(
        i.vips[0],
        Vip {
            addr: v4("203.0.113.1"),
            prefix_len: 24,
            broadcast: Some("203.0.113.255".parse().expect("brd")),
            dev: Some("eth0".into()),
            scope: Some("global".into()),
            label: Some("eth0:sink".into()),
        }
    );
    assert_eq!(i.excluded_vips[0].addr, v6("2001:db8::99"));
    assert_eq!(i.excluded_vips[1].dev.as_deref(), Some("eth1"));
    assert!(!i.preempt);
    assert_eq!(i.unicast_src_ip, Some(v4("203.0.113.10")));
    assert_eq!(i.unicast_peers.len(), 2);
    assert_eq!(i.mcast_src_ip, Some(v4("203.0.113.10")));
    assert!(!i.accept);
    assert_eq!(i.use_vmac.as_deref(), Some("vrrp.sink"));
    assert!(i.vmac_xmit_base);
    assert_eq!(
        i.track_interfaces,
        vec![
            TrackInterface {
                name: "eth1".into(),
                weight: 0,
                reverse: false,
            },
            TrackInterface {
                name: "eth2".into(),
                weight: -20,
                reverse: false,
            },
            TrackInterface {
                name: "eth3".into(),
                weight: 10,
                reverse: false,
            },
        ]
    );
    assert!(i.dont_track_primary);
    assert_eq!(
        i.garp,
        Garp {
            master_delay: Duration::from_secs(1),
            master_repeat: 2,
            master_refresh: Some(Duration::from_secs(30)),
            master_refresh_repeat: 3,
            lower_prio_delay: Duration::from_secs(4),
            lower_prio_repeat: 5,
            interval: Duration::from_millis(1),
            gna_interval: Duration::from_micros(250),
            extra_if: None,
        }
    );
    assert!(!i.lower_prio_no_advert);
    assert!(!i.higher_prio_send_advert);
    assert!(i.v3_checksum_as_v2);

    let a = inst(&l, "SINK_AUTH");
    assert_eq!(a.auth.as_deref(), Some("se cret"));
    assert_eq!(a.preempt_delay, Duration::from_millis(12_500));
    assert_eq!(a.version, 2);
    // Inherited from global_defs.
    assert!(a.lower_prio_no_advert);
    assert!(a.higher_prio_send_advert);
    assert_eq!(a.garp, g.garp);

    // Ignored firewall keywords and keywords given twice are reported as warnings.
    let msgs: Vec<&str> = l.warnings.iter().map(|w| w.message.as_str()).collect();
    for kw in ["vrrp_iptables", "vrrp_ipsets", "nftables"] {
        assert!(
            msgs.iter()
                .any(|m| m.contains(&format!("`{kw}` is accepted and ignored"))),
            "{msgs:?}"
        );
    }
    assert!(
        msgs.iter()
            .any(|m| m.contains("`accept` sets what `no_accept` already set at line 50, column 5"))
    );
    assert!(
        msgs.iter()
            .any(|m| m.contains("`preempt` sets what `nopreempt` already set at line 42"))
    );
}

#[test]
fn defaults() {
    let l = vrrp_config::parse_str(
        "d.conf",
        "vrrp_instance D {\n interface eth0\n virtual_router_id 5\n virtual_ipaddress {\n  10.0.0.5\n }\n}\n",
    )
    .expect("valid");
    let i = &l.config.instances[0];
    assert_eq!(i.priority, 100);
    assert_eq!(i.initial_state, InitialState::Backup);
    assert_eq!(i.advert_interval_cs, 100);
    assert_eq!(i.version, 2);
    assert!(i.preempt && i.accept);
    assert_eq!(i.preempt_delay, Duration::ZERO);
    assert_eq!(i.garp.master_delay, Duration::from_secs(5));
    assert_eq!(i.garp.master_repeat, 5);
    assert_eq!(i.garp.master_refresh, None);
    assert_eq!(i.garp.master_refresh_repeat, 1);
    assert_eq!(i.garp.lower_prio_delay, Duration::from_secs(5));
    assert_eq!(i.garp.lower_prio_repeat, 5);
    assert_eq!(i.garp.interval, Duration::ZERO);
    assert_eq!(i.use_vmac, None);
    assert_eq!(i.location.file, PathBuf::from("d.conf"));
}

#[test]
fn state_master_without_priority_is_owner() {
    // keepalived derives priority 255 from `state MASTER` when no priority is given.
    let l = vrrp_config::parse_str(
        "m.conf",
        "vrrp_instance M {\n state MASTER\n interface eth0\n virtual_router_id 5\n virtual_ipaddress {\n  10.0.0.5\n }\n}\n",
    )
    .expect("valid");
    assert_eq!(l.config.instances[0].priority, 255);
    // And priority 255 without state starts as Master.
    let l = vrrp_config::parse_str(
        "o.conf",
        "vrrp_instance O {\n priority 255\n interface eth0\n virtual_router_id 5\n virtual_ipaddress {\n  10.0.0.5\n }\n}\n",
    )
    .expect("valid");
    assert_eq!(l.config.instances[0].initial_state, InitialState::Master);
}

#[test]
fn empty_configuration_warns() {
    let l = vrrp_config::parse_str("e.conf", "# nothing\nglobal_defs {\n}\n").expect("valid");
    assert!(l.config.instances.is_empty());
    assert_eq!(l.warnings.len(), 1);
    assert_eq!(
        l.warnings[0].to_string(),
        "e.conf: warning: no vrrp_instance is configured"
    );
}
