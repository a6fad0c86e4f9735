//! `static_ipaddress`, `static_routes`, `static_rules` and the `global_defs` keywords of
//! VRRP's network side (`vrrp_mcast_group4/6`, `default_interface`, `max_auto_priority`),
//! and the refusals whose hint says why.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use vrrp_config::{ConfigError, Family, Loaded, RouteType, parse_str};

fn ok(text: &str) -> Loaded {
    parse_str("t.conf", text).unwrap_or_else(|e| {
        let all: Vec<String> = e.iter().map(|e| e.to_string()).collect();
        panic!("unexpected errors:\n{}", all.join("\n"))
    })
}

fn errors(text: &str) -> Vec<ConfigError> {
    match parse_str("t.conf", text) {
        Ok(l) => panic!("expected errors, got {:#?}", l.config),
        Err(e) => e,
    }
}

#[track_caller]
fn has(errs: &[ConfigError], line: usize, column: usize, msg: &str) -> ConfigError {
    let all: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    errs.iter()
        .find(|e| e.line == line && e.column == column && e.message.contains(msg))
        .cloned()
        .unwrap_or_else(|| panic!("no error {line}:{column} `{msg}` in:\n{}", all.join("\n")))
}

const STATICS: &str = "global_defs {
    default_interface eth9
}
static_ipaddress {
    10.99.1.1/24 dev eth1 label eth1:st
    10.99.2.1/24
    fd99::1/64 dev eth1
}
static_routes {
    10.99.50.0/24 via 10.99.1.254 dev eth1 metric 7
    blackhole 10.99.60.0/24 table 100
}
static_rules {
    from 10.99.1.0/24 table 100 priority 1000
    to fd99:5::/64 table 100
    fwmark 7 table 101
}
";

#[test]
fn static_blocks_are_read_with_the_virtual_line_syntax() {
    let l = ok(STATICS);
    let s = &l.config.statics;
    assert_eq!(s.addresses.len(), 3);
    let a = &s.addresses[0];
    assert_eq!(a.address.addr, IpAddr::from([10, 99, 1, 1]));
    assert_eq!(a.address.prefix_len, 24);
    assert_eq!(a.address.dev.as_deref(), Some("eth1"));
    assert_eq!(a.address.label.as_deref(), Some("eth1:st"));
    assert_eq!((a.location.line, a.location.column), (5, 5));
    // No `dev`: default_interface.
    assert_eq!(s.addresses[1].address.dev.as_deref(), Some("eth9"));
    assert_eq!(s.addresses[2].address.family(), Family::Ipv6);

    assert_eq!(s.routes.len(), 2);
    assert_eq!(s.routes[0].via, Some(IpAddr::from([10, 99, 1, 254])));
    assert_eq!(s.routes[0].metric, Some(7));
    assert_eq!(s.routes[1].kind, RouteType::Blackhole);
    assert_eq!(s.routes[1].table, Some(100));
    assert_eq!(s.routes[1].location.line, 11);

    assert_eq!(s.rules.len(), 3);
    assert_eq!(s.rules[0].priority, Some(1000));
    assert_eq!(s.rules[0].family, Family::Ipv4);
    assert_eq!(s.rules[1].family, Family::Ipv6);
    // No address: IPv4, as keepalived.
    assert_eq!(s.rules[2].family, Family::Ipv4);
    assert_eq!(s.rules[2].fwmark, Some(7));
    // Rules without a priority are warned about, as keepalived does.
    let lines: Vec<usize> = l
        .warnings
        .iter()
        .filter(|w| w.message.contains("static rule without `priority`"))
        .map(|w| w.line)
        .collect();
    assert_eq!(lines, vec![15, 16]);
}

#[test]
fn default_interface_defaults_to_eth0_as_keepalived() {
    let l = ok("static_ipaddress {\n    10.99.2.1/24\n}\n");
    let s = &l.config.statics;
    assert_eq!(s.addresses[0].address.dev.as_deref(), Some("eth0"));
    assert!(l.config.instances.is_empty());
}

#[test]
fn static_lines_report_errors_at_their_place_under_their_own_name() {
    let errs = errors(
        "static_routes {\n    10.99.50.0/24 via fd99::1\n    10.99.51.0/24 nexthop via 10.99.1.1\n}\nstatic_rules {\n    from 10.99.1.0/24\n}\nstatic_ipaddress {\n    10.99.1.300/24\n}\n",
    );
    has(&errs, 2, 23, "not of the family");
    has(&errs, 3, 19, "unsupported `static_routes` option `nexthop`");
    has(&errs, 6, 5, "needs `table`");
    has(&errs, 9, 5, "10.99.1.300");
    let errs = errors("static_ipaddress {\n    10.99.1.1/24 track_group G1\n}\n");
    has(
        &errs,
        2,
        18,
        "unsupported `static_ipaddress` option `track_group`",
    );
}

#[test]
fn static_block_needs_braces() {
    let errs = errors("static_routes 10.99.50.0/24\n");
    has(&errs, 1, 1, "static_routes");
}

#[test]
fn multicast_groups_are_read_and_checked() {
    let l =
        ok("global_defs {\n    vrrp_mcast_group4 224.0.0.19\n    vrrp_mcast_group6 ff02::13\n}\n");
    let net = &l.config.global.vrrp_net;
    assert_eq!(net.mcast_group4, Ipv4Addr::new(224, 0, 0, 19));
    assert_eq!(
        net.mcast_group6,
        "ff02::13".parse::<Ipv6Addr>().expect("addr")
    );

    let d = ok("global_defs {\n    router_id a\n}\n");
    assert_eq!(
        d.config.global.vrrp_net.mcast_group4,
        Ipv4Addr::new(224, 0, 0, 18)
    );

    let errs = errors(
        "global_defs {\n    vrrp_mcast_group4 10.99.0.1\n    vrrp_mcast_group6 224.0.0.19\n}\n",
    );
    has(&errs, 2, 23, "not a multicast address");
    has(&errs, 3, 23, "IPv6 multicast");
    let errs = errors("global_defs {\n    vrrp_mcast_group4 nope\n}\n");
    has(&errs, 2, 23, "invalid vrrp_mcast_group4 `nope`");
}

#[test]
fn max_auto_priority_is_accepted_with_a_warning() {
    let l = ok("global_defs {\n    max_auto_priority 50\n}\n");
    assert_eq!(l.config.global.vrrp_net.max_auto_priority, Some(50));
    let w = l
        .warnings
        .iter()
        .find(|w| w.message.contains("max_auto_priority"))
        .expect("a warning");
    assert_eq!((w.line, w.column), (2, 5));
    let bare = ok("global_defs {\n    max_auto_priority\n}\n");
    assert_eq!(bare.config.global.vrrp_net.max_auto_priority, Some(99));
    let errs = errors("global_defs {\n    max_auto_priority 100\n}\n");
    has(&errs, 2, 23, "invalid max_auto_priority");
}

#[test]
fn dynamic_interfaces_is_read() {
    let off = ok("global_defs {\n    router_id a\n}\n");
    assert!(!off.config.global.vrrp_net.dynamic_interfaces);
    for line in ["dynamic_interfaces", "dynamic_interfaces allow_if_changes"] {
        let l = ok(&format!("global_defs {{\n    {line}\n}}\n"));
        assert!(l.config.global.vrrp_net.dynamic_interfaces, "{line}");
    }
    let errs = errors("global_defs {\n    dynamic_interfaces sometimes\n}\n");
    has(&errs, 2, 24, "unexpected `sometimes`");
}

#[test]
fn refusals_say_why_and_what_to_do() {
    let errs = errors("net_namespace blue\n");
    let e = has(&errs, 1, 1, "unsupported keyword `net_namespace`");
    assert!(
        e.hint
            .as_deref()
            .is_some_and(|h| h.contains("ip netns exec")),
        "{e}"
    );
    // A keepalived keyword of the sweep, with the general hint.
    let errs = errors("global_defs {\n    enable_dbus\n}\n");
    let e = has(&errs, 2, 5, "unsupported keyword `enable_dbus`");
    assert!(
        e.hint
            .as_deref()
            .is_some_and(|h| h.contains("keepalived knows")),
        "{e}"
    );
}

const GARP_GROUP: &str = "global_defs {
    vrrp_garp_interval 0.01
}
garp_group {
    garp_interval 0.002
    gna_interval 0.003
    interface eth1
}
vrrp_instance A {
    interface eth1
    virtual_router_id 1
    virtual_ipaddress {
        10.99.1.100/24
    }
}
vrrp_instance B {
    interface eth2
    virtual_router_id 2
    virtual_ipaddress {
        10.99.2.100/24
    }
}
";

#[test]
fn garp_group_sets_the_gaps_of_the_instances_on_its_interface() {
    use std::time::Duration;
    let l = ok(GARP_GROUP);
    let a = &l.config.instances[0].garp;
    assert_eq!(a.interval, Duration::from_millis(2));
    assert_eq!(a.gna_interval, Duration::from_millis(3));
    // Not in the group: the global values.
    let b = &l.config.instances[1].garp;
    assert_eq!(b.interval, Duration::from_millis(10));
    assert_eq!(b.gna_interval, Duration::ZERO);
}

#[test]
fn garp_group_errors_are_located() {
    let errs = errors(
        "garp_group {\n    garp_interval 0.1\n}\ngarp_group {\n    interface eth1\n}\ngarp_group {\n    interface eth1\n    interfaces {\n        eth2\n    }\n    gna_interval soon\n}\n",
    );
    has(&errs, 1, 1, "`garp_group` needs `interface`");
    has(&errs, 8, 15, "interface `eth1` is already in a garp_group");
    let e = has(&errs, 9, 5, "unsupported keyword `interfaces`");
    assert!(
        e.hint
            .as_deref()
            .is_some_and(|h| h.contains("one `garp_group` per interface")),
        "{e}"
    );
    has(&errs, 12, 18, "invalid gna_interval `soon`");
    // A group no instance uses is only a warning.
    let l = ok("garp_group {\n    interface eth7\n}\n");
    assert!(
        l.warnings.iter().any(|w| w.line == 2
            && w.message
                .contains("no vrrp_instance is on interface `eth7`")),
        "{:?}",
        l.warnings
    );
}
