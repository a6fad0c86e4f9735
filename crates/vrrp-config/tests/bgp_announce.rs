//! `bgp_announce` and the `bgp_*` keywords of `global_defs` (vrrpd extensions).

mod lvs_common;

use std::time::Duration;

use lvs_common::{errors, has, parse};

#[test]
fn defaults_and_settings() {
    let c = parse("virtual_server 10.0.0.1 80 {\n    real_server 10.0.0.2 80 {\n    }\n}\n");
    assert!(!c.bgp_announces());
    assert_eq!(c.global.lvs.bgp.table, 200);
    assert_eq!(c.global.lvs.bgp.drain, Duration::from_secs(2));
    assert_eq!(
        c.global.lvs.bgp.frr_config.to_str(),
        Some("/etc/frr/frr.conf")
    );
    let text = "global_defs {
    bgp_announce_table 42
    bgp_announce_drain 5
    bgp_frr_config /tmp/frr.conf
}
virtual_server 10.0.0.1 80 {
    bgp_announce
    real_server 10.0.0.2 80 {
    }
}
";
    let c = parse(text);
    assert!(c.bgp_announces());
    let bgp = &c.global.lvs.bgp;
    assert_eq!((bgp.table, bgp.drain), (42, Duration::from_secs(5)));
    assert_eq!(bgp.frr_config.to_str(), Some("/tmp/frr.conf"));
    let site = c.virtual_servers[0]
        .bgp_announce
        .as_ref()
        .map(|s| s.location.line);
    assert_eq!(site, Some(7));
}

#[test]
fn what_cannot_be_announced_is_refused_at_the_keyword() {
    let text = "global_defs {
    bgp_announce_table 253
}
virtual_server fwmark 1 {
    bgp_announce
    real_server 10.0.0.2 80 {
    }
}
virtual_server fd99::1 80 {
    bgp_announce
    real_server fd99::2 80 {
    }
}
";
    let errs = errors(text);
    has(
        &errs,
        5,
        5,
        "bgp_announce: a fwmark service has no address to announce",
    );
    has(
        &errs,
        10,
        5,
        "bgp_announce: IPv6 addresses cannot be announced",
    );
    assert!(
        errs.iter()
            .any(|e| e.line == 2 && e.message.contains("253")),
        "{errs:#?}"
    );
}

#[test]
fn frr_setup_is_checked_at_the_first_bgp_announce() {
    let dir = std::env::temp_dir().join(format!("vrrpd-bgp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("frr.conf");
    std::fs::write(
        &conf,
        "ip import-table 200\nrouter bgp 65001\n redistribute table 200\n",
    )
    .unwrap();
    std::fs::write(dir.join("daemons"), "zebra=yes\nbgpd=no\n").unwrap();
    let text = format!(
        "global_defs {{\n    bgp_frr_config {}\n}}\nvirtual_server 10.0.0.1 80 {{\n    bgp_announce\n    real_server 10.0.0.2 80 {{\n    }}\n}}\n",
        conf.display()
    );
    let c = parse(&text);
    let errs = c.bgp_frr_errors();
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!((errs[0].line, errs[0].column), (5, 5));
    assert!(
        errs[0].message.contains("bgpd is not enabled"),
        "{}",
        errs[0]
    );
    std::fs::write(dir.join("daemons"), "bgpd=yes\n").unwrap();
    assert!(c.bgp_frr_errors().is_empty());
    std::fs::remove_file(&conf).unwrap();
    let errs = c.bgp_frr_errors();
    assert!(
        errs[0].message.contains("cannot read FRR's configuration"),
        "{errs:#?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
