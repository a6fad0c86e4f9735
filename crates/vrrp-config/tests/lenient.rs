//! Where keepalived runs a file with a remark, vrrpd does too: repeated keywords (the first
//! wins), authentication under VRRPv3, `1`/`0` after flags; and the diagnostics of `-t`.

use vrrp_config::{LoadOptions, Loaded, Warning, check_with, parse_str};

fn load(text: &str) -> Loaded {
    match parse_str("t.conf", text) {
        Ok(l) => l,
        Err(e) => panic!(
            "expected a valid configuration, got:\n{}",
            e.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

/// Asserts one warning at `line:column` whose message contains `msg`.
#[track_caller]
fn warned<'a>(l: &'a Loaded, line: usize, column: usize, msg: &str) -> &'a Warning {
    l.warnings
        .iter()
        .find(|w| w.line == line && w.column == column && w.message.contains(msg))
        .unwrap_or_else(|| {
            let all: Vec<String> = l.warnings.iter().map(|w| w.to_string()).collect();
            panic!("no warning {line}:{column} `{msg}` in:\n{}", all.join("\n"))
        })
}

/// An instance with `extra` lines from line 5 on.
fn instance(extra: &str) -> String {
    format!(
        "vrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 51\n    advert_int 1\n{extra}    virtual_ipaddress {{\n        10.0.0.1/24\n    }}\n}}\n"
    )
}

#[test]
fn a_repeated_keyword_keeps_the_first_value_with_a_located_warning() {
    let l = load(&format!(
        "global_defs {{\n    router_id first\n    router_id second\n}}\n{}",
        instance(
            "    notify_master /bin/true\n    notify_master /bin/false\n    priority 50\n    priority 150\n    authentication {\n        auth_type PASS\n        auth_pass one\n    }\n    authentication {\n        auth_type PASS\n        auth_pass two\n    }\n"
        )
    ));
    assert_eq!(l.config.global.router_id.as_deref(), Some("first"));
    let w = warned(
        &l,
        3,
        5,
        "`router_id` is already set at line 2, column 5; this one is ignored",
    );
    assert!(
        w.to_string()
            .contains("    3 |     router_id second\n      |     ^^^^^^^^^")
    );
    let i = &l.config.instances[0];
    let master = i.notify.master.as_ref().map(|c| c.argv.clone());
    assert_eq!(master, Some(vec!["/bin/true".to_owned()]));
    warned(
        &l,
        10,
        5,
        "`notify_master` is already set at line 9, column 5",
    );
    assert_eq!(i.priority, 50);
    warned(&l, 12, 5, "`priority` is already set at line 11");
    // A repeated block is skipped whole.
    assert_eq!(i.auth.as_deref(), Some("one"));
    warned(&l, 17, 5, "`authentication` is already set at line 13");
}

#[test]
fn aliases_share_one_setting() {
    let l = load(&instance("    nopreempt\n    preempt\n"));
    assert!(!l.config.instances[0].preempt);
    warned(
        &l,
        6,
        5,
        "`preempt` sets what `nopreempt` already set at line 5, column 5",
    );
}

#[test]
fn authentication_under_vrrp_v3_is_ignored_with_a_warning() {
    let auth = "    authentication {\n        auth_type PASS\n        auth_pass secret\n    }\n";
    let l = load(&instance(&format!("    version 3\n{auth}")));
    assert_eq!(l.config.instances[0].auth, None);
    warned(&l, 6, 5, "VRRP version 3 does not support authentication");
    // The global version too (OpenStack Octavia writes both for IPv6).
    let l = load(&format!(
        "global_defs {{\n    vrrp_version 3\n}}\n{}",
        instance(auth)
    ));
    assert_eq!(l.config.instances[0].version, 3);
    assert_eq!(l.config.instances[0].auth, None);
    warned(&l, 8, 5, "VRRP version 3 does not support authentication");
}

#[test]
fn flags_take_one_and_zero() {
    let l = load(&format!(
        "global_defs {{\n    enable_script_security 1\n    vrrp_skip_check_adv_addr 0\n}}\n{}",
        instance("    nopreempt 1\n    dont_track_primary 0\n")
    ));
    assert!(l.config.global.enable_script_security);
    assert!(!l.config.instances[0].preempt);
    // keepalived ignores the value after these flags: where it would read it otherwise,
    // vrrpd says so.
    warned(&l, 3, 30, "keepalived ignores the value and sets it");
    assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);

    let l = load(&format!(
        "global_defs {{\n    enable_script_security 0\n}}\n{}",
        instance("    nopreempt 0\n")
    ));
    assert!(!l.config.global.enable_script_security);
    assert!(l.config.instances[0].preempt);
    warned(
        &l,
        2,
        28,
        "`enable_script_security 0` turns `enable_script_security` off",
    );
    warned(&l, 8, 15, "`nopreempt 0` turns `nopreempt` off");
}

#[test]
fn a_block_keyword_out_of_place_says_where_it_belongs() {
    let errs = parse_str(
        "t.conf",
        &format!(
            "authentication {{\n    auth_type PASS\n}}\n{}",
            instance("    real_server 10.0.0.2 80 {\n        weight 1\n    }\n")
        ),
    )
    .expect_err("misplaced blocks");
    let all: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert_eq!(errs.len(), 2, "{}", all.join("\n"));
    assert_eq!(
        errs[0].message,
        "the `authentication` block is not allowed at the top level"
    );
    assert!(
        errs[0]
            .hint
            .as_deref()
            .is_some_and(|h| h.contains("belongs inside `vrrp_instance`")),
        "{}",
        all[0]
    );
    assert_eq!((errs[1].line, errs[1].column), (8, 5));
    assert_eq!(
        errs[1].message,
        "the `real_server` block is not allowed inside `vrrp_instance`"
    );
    assert!(
        all[1].contains("belongs inside `virtual_server`"),
        "{}",
        all[1]
    );

    // A checker's `url` inside the real server: where it belongs is named.
    let errs = parse_str(
        "t.conf",
        "virtual_server 192.0.2.1 80 {\n    real_server 192.0.2.2 80 {\n        url {\n            path /\n        }\n    }\n}\n",
    )
    .expect_err("a misplaced url");
    assert_eq!(
        (errs[0].line, errs[0].message.as_str()),
        (3, "the `url` block is not allowed inside `real_server`")
    );
    assert!(
        errs[0]
            .hint
            .as_deref()
            .is_some_and(|h| h.contains("belongs inside `HTTP_GET` or `SSL_GET`")),
        "{}",
        errs[0]
    );
}

#[test]
fn every_error_in_one_pass() {
    let errs = parse_str(
        "t.conf",
        &format!(
            "global_defs {{\n    vrrp_garp_interval x\n}}\n{}vrrp_script s {{\n    interval -1\n}}\n",
            instance("    priority 300\n    state NEITHER\n")
        ),
    )
    .expect_err("errors");
    let at: Vec<(usize, usize)> = errs.iter().map(|e| (e.line, e.column)).collect();
    assert!(at.contains(&(2, 24)), "{errs:#?}");
    assert!(at.contains(&(8, 14)), "{errs:#?}");
    assert!(at.contains(&(9, 11)), "{errs:#?}");
    assert!(at.iter().any(|&(l, _)| l >= 14), "{errs:#?}");
}

#[test]
fn the_caret_lines_up_under_wide_characters() {
    let errs = parse_str(
        "t.conf",
        "global_defs {\n    router_id \"路由器\" extra\n}\n",
    )
    .expect_err("an extra word");
    let text = errs[0].to_string();
    // `    router_id "路由器" ` is 17 characters but 23 columns wide (CJK: 2 columns each).
    assert!(
        text.contains(&format!("\n      | {}^^^^^\n", " ".repeat(23))),
        "{text}"
    );
}

#[test]
fn one_error_per_mistake() {
    // A refused `script` is not also reported as missing; a refused VIP does not also make
    // the instance one "without virtual_ipaddress" (a warning: `check_with` keeps them).
    let path =
        std::env::temp_dir().join(format!("vrrp-config-lenient-{}.conf", std::process::id()));
    std::fs::write(
        &path,
        "vrrp_script s {\n    script\n}\nvrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n    virtual_ipaddress {\n        10.0.0.300/24\n    }\n}\n",
    )
    .expect("write");
    let checked = check_with(&path, &LoadOptions::default());
    let _ = std::fs::remove_file(&path);
    let errs = &checked.errors;
    let all: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert_eq!(errs.len(), 2, "{}", all.join("\n"));
    assert_eq!(
        (errs[0].line, errs[0].message.as_str()),
        (2, "`script` needs a command")
    );
    assert_eq!(errs[1].line, 8);
    assert!(checked.warnings.is_empty(), "{:?}", checked.warnings);
}

#[test]
fn a_refused_scheduler_is_not_echoed_by_the_data_path_check() {
    let errs = parse_str(
        "t.conf",
        "global_defs {\n    lb_dataplane nftables\n}\nvirtual_server 192.0.2.1 80 {\n    lb_algo xx\n    real_server 192.0.2.2 80 {\n        TCP_CHECK {\n            connect_timeout 3\n        }\n    }\n}\n",
    )
    .expect_err("a bad lb_algo");
    let all: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert_eq!(errs.len(), 1, "{}", all.join("\n"));
    assert!(
        errs[0].message.contains("invalid lb_algo `xx`"),
        "{}",
        all[0]
    );
}

#[test]
fn an_unreadable_file_is_one_error_and_no_warning() {
    let checked = check_with(
        std::path::Path::new("/nonexistent/vrrp-config-test.conf"),
        &LoadOptions::default(),
    );
    assert_eq!(checked.errors.len(), 1, "{:?}", checked.errors);
    assert!(checked.warnings.is_empty(), "{:?}", checked.warnings);
}
