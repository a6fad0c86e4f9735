//! keepalived's less common `vrrp_instance` keywords: values, defaults against
//! `global_defs`, located errors, and the refusals that say why.

use std::time::Duration;

use vrrp_config::{ConfigError, GarpExtraIf, Loaded, VrrpInstance, parse_str};

/// A unicast instance with `extra` lines inserted after `virtual_router_id` (line 5), and
/// `global` inside `global_defs` (line 2).
fn conf(global: &str, extra: &str) -> String {
    format!(
        "global_defs {{\n{global}}}\nvrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 51\n{extra}    unicast_peer {{\n        10.0.0.2\n    }}\n    virtual_ipaddress {{\n        10.0.0.100/24\n    }}\n}}\n"
    )
}

fn ok(text: &str) -> Loaded {
    match parse_str("t.conf", text) {
        Ok(l) => l,
        Err(e) => panic!(
            "{}",
            e.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

fn inst(text: &str) -> VrrpInstance {
    ok(text).config.instances.remove(0)
}

fn errors(text: &str) -> Vec<ConfigError> {
    match parse_str("t.conf", text) {
        Ok(l) => panic!("expected errors, got {:#?}", l.config.instances),
        Err(e) => e,
    }
}

/// Asserts one error at `line:column` whose message contains `msg`; returns it.
#[track_caller]
fn has<'a>(errs: &'a [ConfigError], line: usize, column: usize, msg: &str) -> &'a ConfigError {
    let all: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    errs.iter()
        .find(|e| e.line == line && e.column == column && e.message.contains(msg))
        .unwrap_or_else(|| panic!("no error {line}:{column} `{msg}` in:\n{}", all.join("\n")))
}

#[test]
fn defaults_are_keepalived_ones() {
    let i = inst(&conf("", ""));
    assert_eq!(i.unicast_ttl, 255);
    assert!(!i.check_unicast_src && !i.skip_check_adv_addr && !i.strict);
    assert_eq!(i.garp.extra_if, None);
    assert_eq!(i.notify_deleted, None);
    assert!(!i.notify_priority_changes);
    assert_eq!(i.down_timer_adverts, 3);
    assert!(!i.owner_ignore_adverts);
    assert!(!i.track_src_ip);
    assert!(inst(&conf("", "    track_src_ip\n")).track_src_ip);
    assert!(inst(&conf("", "    old_unicast_checksum\n")).old_unicast_checksum);
    assert!(!inst(&conf("", "    old_unicast_checksum never\n")).old_unicast_checksum);
    let errs = errors(&conf("", "    old_unicast_checksum always\n"));
    has(&errs, 6, 26, "invalid old_unicast_checksum `always`");
}

#[test]
fn values_are_read() {
    let i = inst(&conf(
        "",
        "    unicast_ttl 64\n    check_unicast_src\n    skip_check_adv_addr\n    garp_extra_if all 100\n    notify_deleted \"/bin/deleted.sh arg\"\n    notify_priority_changes\n    down_timer_adverts 5\n    unicast_fault_no_peer\n",
    ));
    assert_eq!(i.unicast_ttl, 64);
    assert!(i.check_unicast_src && i.skip_check_adv_addr);
    assert_eq!(
        i.garp.extra_if,
        Some(GarpExtraIf {
            interval: Duration::from_secs(100),
            all: true
        })
    );
    let script = i.notify_deleted.expect("notify_deleted").expect("script");
    assert_eq!(script.argv, ["/bin/deleted.sh", "arg"]);
    assert!(i.notify_priority_changes);
    assert_eq!(i.down_timer_adverts, 5);
    let i = inst(&conf("", "    notify_deleted\n"));
    assert_eq!(i.notify_deleted, Some(None));
}

#[test]
fn instance_keywords_override_global_defaults() {
    let g = "    vrrp_check_unicast_src\n    vrrp_skip_check_adv_addr\n    vrrp_garp_extra_if 60\n";
    let i = inst(&conf(g, ""));
    assert!(i.check_unicast_src && i.skip_check_adv_addr);
    assert_eq!(
        i.garp.extra_if,
        Some(GarpExtraIf {
            interval: Duration::from_secs(60),
            all: false
        })
    );
    // Without `all` nothing is sent in vrrpd: a warning says so.
    let l = ok(&conf(g, ""));
    assert!(
        l.warnings
            .iter()
            .any(|w| w.line == 4 && w.message.contains("without `all` sends nothing")),
        "{:?}",
        l.warnings
    );
    // `garp_extra_if 0` turns the global default off; `skip_check_adv_addr false` too.
    let i = inst(&conf(
        g,
        "    garp_extra_if 0\n    skip_check_adv_addr false\n",
    ));
    assert_eq!(i.garp.extra_if, None);
    assert!(!i.skip_check_adv_addr);
    // check_unicast_src: either one turns it on (keepalived ORs them).
    assert!(inst(&conf("", "    check_unicast_src\n")).check_unicast_src);
}

/// A real file refreshes its GARPs every 4 hours: keepalived reads whole seconds up to
/// UINT_MAX, not the 4,294 s of a microsecond `unsigned`.
#[test]
fn garp_master_refresh_of_four_hours() {
    let l = ok(&conf(
        "    vrrp_garp_master_refresh 14400\n",
        "    garp_master_refresh 14400\n",
    ));
    let four_hours = Some(Duration::from_secs(14_400));
    assert_eq!(l.config.global.garp.master_refresh, four_hours);
    assert_eq!(l.config.instances[0].garp.master_refresh, four_hours);
    let i = inst(&conf("", "    garp_master_refresh 4294967295\n"));
    assert_eq!(
        i.garp.master_refresh,
        Some(Duration::from_secs(4_294_967_295))
    );
    let errs = errors(&conf("", "    garp_master_refresh 4294967296\n"));
    has(&errs, 6, 25, "invalid garp_master_refresh");
    // The delay keeps keepalived's microsecond bound.
    let errs = errors(&conf("", "    garp_master_delay 14400\n"));
    has(&errs, 6, 23, "invalid garp_master_delay");
}

#[test]
fn strict_mode_per_instance() {
    let i = inst(&conf("", "    strict_mode false\n"));
    assert!(!i.strict);
    // strict_mode refuses unicast peers, like vrrp_strict.
    let errs = errors(&conf("", "    strict_mode\n"));
    assert!(
        errs.iter()
            .any(|e| e.message.contains("unicast peers are not allowed")),
        "{errs:?}"
    );
    // and an instance can leave the global strict mode.
    let i = inst(&conf("    vrrp_strict\n", "    strict_mode off\n"));
    assert!(!i.strict);
}

#[test]
fn located_errors() {
    let errs = errors(&conf(
        "",
        "    unicast_ttl 256\n    down_timer_adverts 0\n    garp_extra_if all\n    garp_extra_if 86401\n    strict_mode maybe\n",
    ));
    has(&errs, 6, 17, "invalid unicast_ttl `256`");
    has(&errs, 7, 24, "invalid down_timer_adverts `0`");
    has(&errs, 8, 19, "invalid garp_extra_if: needs an interval");
    // The repeated garp_extra_if (line 9) is ignored with a warning: the first one counts.
    has(&errs, 10, 17, "invalid strict_mode `maybe`");
    let errs = errors(&conf("", "    garp_extra_if 86401\n"));
    has(&errs, 6, 19, "invalid garp_extra_if");
    let errs = errors(&conf("    vrrp_garp_extra_if 0\n", ""));
    has(&errs, 2, 24, "invalid vrrp_garp_extra_if");
}

#[test]
fn rules_of_keepalived() {
    // down_timer_adverts is a deviation that strict mode refuses.
    let text = "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    strict_mode\n    down_timer_adverts 4\n    virtual_ipaddress {\n        10.0.0.100\n    }\n}\n";
    has(
        &errors(text),
        5,
        24,
        "vrrp_strict: down_timer_adverts must be 3",
    );
    // owner_ignore_adverts: only for the owner, and only when asked (also in strict mode).
    let l = ok(&conf("", "    owner_ignore_adverts\n"));
    assert!(!l.config.instances[0].owner_ignore_adverts);
    assert!(
        l.warnings
            .iter()
            .any(|w| w.message.contains("owner_ignore_adverts"))
    );
    let owner = text.replace("down_timer_adverts 4", "priority 255");
    assert!(!inst(&owner).owner_ignore_adverts);
    let owner = owner.replace("strict_mode", "owner_ignore_adverts");
    assert!(inst(&owner).owner_ignore_adverts);
    // unicast_ttl without peers is ignored with a warning (keepalived "resets" it).
    let mcast = text.replace("down_timer_adverts 4", "unicast_ttl 10");
    let mcast = mcast.replace("    strict_mode\n", "");
    let l = ok(&mcast);
    assert_eq!(l.config.instances[0].unicast_ttl, 255);
    assert!(l.warnings.iter().any(|w| w.message.contains("unicast_ttl")));
    // unicast_fault_no_peer without peers could only stay in FAULT.
    let none = mcast.replace("unicast_ttl 10", "unicast_fault_no_peer");
    has(
        &errors(&none),
        4,
        5,
        "unicast_fault_no_peer without unicast_peer",
    );
}

#[test]
fn no_virtual_ipaddress_silences_the_version_2_warning() {
    let text = "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    no_virtual_ipaddress\n}\n";
    assert!(ok(text).warnings.is_empty(), "{:?}", ok(text).warnings);
    let without = text.replace("    no_virtual_ipaddress\n", "");
    assert!(!ok(&without).warnings.is_empty());
    // VRRPv3 advertisements carry at least one address (RFC 9568 erratum 8299).
    let v3 = text.replace(
        "no_virtual_ipaddress",
        "no_virtual_ipaddress\n    version 3",
    );
    let errs = errors(&v3);
    let e = has(&errs, 1, 1, "needs at least one virtual_ipaddress");
    assert!(e.hint.as_deref().unwrap_or("").contains("8299"));
}

#[test]
fn refusals_say_why() {
    for (kw, why) in [
        ("mcast_dst_ip 224.0.0.19", "single multicast group"),
        ("use_ipvlan", "macvlan"),
        ("auth_hmac", "HMAC"),
    ] {
        let errs = errors(&conf("", &format!("    {kw}\n")));
        let name = kw.split(' ').next().unwrap_or(kw);
        let e = has(&errs, 6, 5, &format!("unsupported keyword `{name}`"));
        let hint = e.hint.as_deref().unwrap_or("");
        assert!(
            hint.contains("vrrpd refuses it") && hint.contains(why),
            "{kw}: {hint}"
        );
    }
    // track_group is an option of keepalived's static addresses, not an instance keyword.
    let errs = errors(&conf("", "    track_group G\n"));
    has(&errs, 6, 5, "unsupported keyword `track_group`");
}

/// A unicast pair written for keepalived 2.2.7 (its `keepalived -t` knows every keyword):
/// vrrpd reads it whole, with keepalived's meaning.
#[test]
fn a_keepalived_unicast_pair_loads() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/realworld/unicast_pair.conf");
    let l = match vrrp_config::load(&path) {
        Ok(l) => l,
        Err(e) => panic!(
            "{}",
            e.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        ),
    };
    assert!(l.warnings.is_empty(), "{:?}", l.warnings);
    let g = &l.config.global;
    assert_eq!(g.garp.master_refresh, Some(Duration::from_secs(14_400)));
    assert!(g.skip_check_adv_addr);
    let public = &l.config.instances[0];
    assert_eq!(public.unicast_ttl, 64);
    assert!(public.check_unicast_src && public.skip_check_adv_addr && !public.strict);
    assert_eq!(
        public.garp.master_refresh,
        Some(Duration::from_secs(14_400))
    );
    assert_eq!(
        public.garp.extra_if,
        Some(GarpExtraIf {
            interval: Duration::from_secs(120),
            all: true
        })
    );
    assert_eq!(public.down_timer_adverts, 5);
    assert!(public.notify_priority_changes && public.track_src_ip);
    let deleted = public.notify_deleted.clone().flatten().expect("script");
    assert_eq!(deleted.argv, ["/etc/keepalived/deleted.sh", "VI_PUBLIC"]);
    let mgmt = &l.config.instances[1];
    assert!(!mgmt.skip_check_adv_addr);
    assert_eq!(
        mgmt.garp.extra_if,
        Some(GarpExtraIf {
            interval: Duration::from_secs(300),
            all: true
        })
    );
}
