//! Malformed configurations: every error is reported, at the right place.

use std::path::{Path, PathBuf};

use vrrp_config::{ConfigError, load, parse_str};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn errors(text: &str) -> Vec<ConfigError> {
    match parse_str("t.conf", text) {
        Ok(l) => panic!("expected errors, got {:#?}", l.config),
        Err(e) => e,
    }
}

/// Asserts one error at `line:column` whose message contains `msg`.
#[track_caller]
fn has(errs: &[ConfigError], line: usize, column: usize, msg: &str) {
    let found = errs
        .iter()
        .any(|e| e.line == line && e.column == column && e.message.contains(msg));
    let all: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert!(
        found,
        "no error {line}:{column} `{msg}` in:\n{}",
        all.join("\n")
    );
}

/// A valid instance body with `extra` lines inserted after `virtual_router_id` (line 4).
fn instance(extra: &str) -> String {
    format!(
        "vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n{extra}    virtual_ipaddress {{\n        10.0.0.1/24\n    }}\n}}\n"
    )
}

/// [`instance`] without `state` and `interface` (other lines in their place).
fn instance_without_state_and_interface(extra: &str) -> String {
    instance(extra)
        .replacen("    state BACKUP\n", "    priority 100\n", 1)
        .replacen("    interface eth0\n", "    advert_int 1\n", 1)
}

#[test]
fn unsupported_keyword_exact_location() {
    let errs = errors(&instance("    track_bfd {\n        bfd_1\n    }\n"));
    assert_eq!(errs.len(), 1, "{errs:?}");
    let e = &errs[0];
    assert_eq!((e.line, e.column), (5, 5));
    assert_eq!(e.message, "unsupported keyword `track_bfd`");
    assert_eq!(e.snippet, "    track_bfd {");
    assert_eq!(e.file, PathBuf::from("t.conf"));
    assert_eq!(
        e.to_string(),
        "t.conf:5:5: error: unsupported keyword `track_bfd`\n    5 |     track_bfd {\n      |     ^^^^^^^^^\n   = hint: keepalived knows this keyword but vrrpd does not support it (see docs/config.md)"
    );
}

#[test]
fn unsupported_flag_and_misspelling() {
    let errs = errors(&instance("    use_vmac_addr\n    priorty 50\n"));
    has(&errs, 5, 5, "unsupported keyword `use_vmac_addr`");
    has(&errs, 6, 5, "unsupported keyword `priorty`");
    let e = errs.iter().find(|e| e.line == 6).expect("priorty");
    assert_eq!(e.hint.as_deref(), Some("did you mean `priority`?"));
}

#[test]
fn unknown_block_is_one_error() {
    // `virtual_server` is read now; `bfd_instance` is still refused, with what it holds.
    let text = "bfd_instance b1 {\n    neighbor_ip 10.0.0.2\n    nested {\n        weight 1\n        inner {\n        }\n    }\n}\n";
    let errs = errors(&format!("{text}{}", instance("")));
    assert_eq!(errs.len(), 1, "{errs:?}");
    has(&errs, 1, 1, "unsupported keyword `bfd_instance`");
}

#[test]
fn unknown_global_keyword() {
    let errs = errors(
        "global_defs {\n    router_id A\n    net_namespace {\n        a@b\n    }\n    enable_snmp_vrrp\n}\n",
    );
    assert_eq!(errs.len(), 2, "{errs:?}");
    has(&errs, 3, 5, "unsupported keyword `net_namespace`");
    has(&errs, 6, 5, "unsupported keyword `enable_snmp_vrrp`");
}

#[test]
fn bad_values() {
    let errs = errors(
        "vrrp_instance A {\n    interface eth0\n    virtual_router_id 0\n    priority 300\n    advert_int 0.005\n    virtual_ipaddress {\n        10.0.0.300/24\n        10.0.0.1/40\n    }\n}\n",
    );
    has(&errs, 3, 23, "invalid virtual_router_id `0`");
    has(
        &errs,
        4,
        14,
        "invalid priority `300`: must be an integer between 1 and 255",
    );
    has(&errs, 5, 16, "invalid advert_int `0.005`");
    has(&errs, 7, 9, "invalid address `10.0.0.300/24`");
    has(&errs, 8, 9, "invalid address `10.0.0.1/40`");
    // No cascade: a bad virtual_router_id is not also reported as missing.
    assert!(
        !errs
            .iter()
            .any(|e| e.message.contains("has no `virtual_router_id`"))
    );
}

#[test]
fn more_bad_values() {
    // `state` and `interface` are written once here (a repetition would be ignored).
    let errs = errors(&instance_without_state_and_interface(
        "    state PRIMARY\n    nopreempt maybe\n    preempt_delay 1001\n    interface eth0/1\n    version 4\n    unicast_peer {\n        10.0.0.2 min_ttl 2\n        nonsense\n    }\n    track_interface {\n        eth1 weight 300\n        eth2 reverse\n    }\n    use_vmac a b\n",
    ));
    has(&errs, 5, 11, "invalid state `PRIMARY`");
    has(&errs, 6, 15, "invalid nopreempt `maybe`");
    has(&errs, 7, 19, "invalid preempt_delay `1001`");
    has(&errs, 8, 15, "invalid interface `eth0/1`");
    has(&errs, 9, 13, "invalid version `4`");
    has(&errs, 11, 18, "unsupported `unicast_peer` option `min_ttl`");
    has(&errs, 12, 9, "invalid address `nonsense` in `unicast_peer`");
    has(&errs, 15, 21, "invalid weight `300`");
    has(&errs, 16, 14, "unexpected `reverse` in `track_interface`");
    has(&errs, 18, 16, "unsupported `use_vmac` option `b`");
}

#[test]
fn missing_value_and_extra_value() {
    let errs = errors(&instance("    priority\n    advert_int 1 2\n"));
    has(&errs, 5, 5, "`priority` needs a value");
    has(
        &errs,
        6,
        18,
        "unexpected `2` after the value of `advert_int`",
    );
}

#[test]
fn missing_close_brace() {
    let text = "vrrp_instance A {\n    interface eth0\n    virtual_router_id 1\n    virtual_ipaddress {\n        10.0.0.1\n    }\n\nvrrp_instance B {\n    interface eth0\n    virtual_router_id 2\n    virtual_ipaddress {\n        10.0.0.2\n    }\n}\n";
    let errs = errors(text);
    assert_eq!(errs.len(), 1, "{errs:?}");
    has(
        &errs,
        1,
        1,
        "missing `}`: the `vrrp_instance` block is not closed",
    );
    assert!(
        errs[0]
            .hint
            .as_deref()
            .is_some_and(|h| h.contains("line 8"))
    );
}

#[test]
fn missing_close_brace_at_end_of_file() {
    let errs = errors("global_defs {\n    router_id A\n");
    assert_eq!(errs.len(), 1, "{errs:?}");
    has(
        &errs,
        1,
        1,
        "missing `}`: the `global_defs` block is not closed",
    );
}

#[test]
fn stray_close_brace() {
    let errs = errors(&format!("{}}}\n", instance("")));
    assert_eq!(errs.len(), 1, "{errs:?}");
    has(&errs, 9, 1, "unmatched `}`");
}

#[test]
fn unterminated_quote() {
    let errs = errors(&instance(
        "    authentication {\n        auth_type PASS\n        auth_pass \"secret\n    }\n",
    ));
    has(&errs, 7, 19, "unterminated quoted string");
}

#[test]
fn line_continuation_joins_lines() {
    let text = instance("    priority \\\n        120\n");
    let l = parse_str("t.conf", &text).expect("valid");
    assert_eq!(l.config.instances[0].priority, 120);
    // The error in a continued line points at the physical line of the bad value.
    let errs = errors(&instance("    priority \\\n        1200\n"));
    has(&errs, 6, 9, "invalid priority `1200`");
}

#[test]
fn duplicate_instance_name_and_vrid() {
    let one = instance("");
    let errs = errors(&format!("{one}{one}"));
    has(&errs, 9, 15, "duplicate instance name `VI_1`");
    let other = one.replace("VI_1", "VI_2");
    let errs = errors(&format!("{one}{other}"));
    assert_eq!(errs.len(), 1, "{errs:?}");
    has(
        &errs,
        12,
        23,
        "virtual_router_id 51 is already used for IPv4 on interface `eth0`",
    );
    // Another interface or another family is fine.
    let ok = format!("{one}{}", other.replace("eth0", "eth1"));
    assert!(parse_str("t.conf", &ok).is_ok());
}

#[test]
fn v2_sub_second_interval() {
    let errs = errors(&instance("    advert_int 0.5\n"));
    has(
        &errs,
        5,
        16,
        "is not a whole number of seconds, as VRRP version 2 requires",
    );
    assert!(parse_str("t.conf", &instance("    advert_int 0.5\n    version 3\n")).is_ok());
    let errs = errors(&instance("    advert_int 41\n    version 3\n"));
    has(&errs, 5, 16, "at most 40.95 seconds");
}

#[test]
fn ipv6_with_explicit_version_2() {
    let errs = errors(
        "vrrp_instance A {\n    interface eth0\n    virtual_router_id 1\n    version 2\n    virtual_ipaddress {\n        fe80::1\n    }\n}\n",
    );
    has(&errs, 4, 13, "VRRP version 2 does not support IPv6");
}

#[test]
fn mixed_families() {
    let errs = errors(
        "vrrp_instance A {\n    interface eth0\n    virtual_router_id 1\n    unicast_src_ip fe80::9\n    virtual_ipaddress {\n        10.0.0.1\n        fe80::1\n    }\n}\n",
    );
    has(&errs, 7, 9, "IPv6 address fe80::1 in an IPv4 instance");
    has(
        &errs,
        4,
        20,
        "`unicast_src_ip` fe80::9 is IPv6 but the instance is IPv4",
    );
}

#[test]
fn missing_interface_and_vrid() {
    let errs = errors("vrrp_instance A {\n    virtual_ipaddress {\n        10.0.0.1\n    }\n}\n");
    has(&errs, 1, 1, "instance `A` has no `interface`");
    has(&errs, 1, 1, "instance `A` has no `virtual_router_id`");
}

#[test]
fn auth_errors() {
    let errs = errors(&instance(
        "    authentication {\n        auth_type AH\n        auth_pass x\n    }\n",
    ));
    has(&errs, 6, 19, "auth_type AH is not supported");
    // One error per mistake: the refused type is not also reported as missing.
    assert_eq!(errs.len(), 1, "{errs:?}");
    let errs = errors(&instance(
        "    authentication {\n        auth_type PASS;\n        auth_pass x\n    }\n",
    ));
    has(&errs, 6, 19, "invalid auth_type `PASS;`");
    assert_eq!(errs.len(), 1, "{errs:?}");
    let errs = errors(&instance(
        "    authentication {\n        auth_pass x\n    }\n",
    ));
    has(&errs, 5, 5, "authentication needs `auth_type PASS`");
}

#[test]
fn observer_rules() {
    let errs = errors(
        &instance("    state OBSERVER\n    priority 255\n").replacen(
            "    state BACKUP\n",
            "    advert_int 1\n",
            1,
        ),
    );
    has(&errs, 6, 14, "an observer cannot have priority 255");
}

#[test]
fn strict_mode_violations() {
    let text = format!(
        "global_defs {{\n    vrrp_strict\n}}\n{}",
        "vrrp_instance S {\n    state MASTER\n    priority 100\n    interface eth0\n    virtual_router_id 9\n    unicast_peer {\n        10.0.0.2\n    }\n    authentication {\n        auth_type PASS\n        auth_pass x\n    }\n    preempt_delay 5\n    accept\n    higher_prio_send_advert\n    garp_lower_prio_repeat 2\n}\n"
    );
    let errs = errors(&text);
    has(
        &errs,
        4,
        1,
        "vrrp_strict: instance `S` needs at least one virtual_ipaddress",
    );
    has(
        &errs,
        5,
        11,
        "vrrp_strict: state MASTER must match being the address owner",
    );
    has(&errs, 9, 5, "vrrp_strict: unicast peers are not allowed");
    has(&errs, 12, 5, "vrrp_strict: authentication is not allowed");
    has(&errs, 16, 19, "vrrp_strict: preempt_delay is not allowed");
    has(&errs, 17, 5, "vrrp_strict: accept mode with VRRP version 2");
    has(
        &errs,
        18,
        5,
        "vrrp_strict: higher_prio_send_advert is not allowed",
    );
    has(
        &errs,
        19,
        5,
        "vrrp_strict: garp_lower_prio_repeat must be 0",
    );
}

#[test]
fn strict_mode_defaults() {
    let l = parse_str(
        "s.conf",
        "global_defs {\n    vrrp_strict\n}\nvrrp_instance S {\n    interface eth0\n    virtual_router_id 9\n    virtual_ipaddress {\n        10.0.0.1\n    }\n}\n",
    )
    .expect("valid");
    let i = &l.config.instances[0];
    assert!(!i.accept);
    assert!(i.lower_prio_no_advert);
    assert!(!i.higher_prio_send_advert);
    assert_eq!(i.garp.lower_prio_repeat, 0);
}

#[test]
fn nopreempt_with_master_is_a_warning() {
    let l = parse_str(
        "w.conf",
        &instance("    nopreempt\n    priority 100\n").replace("BACKUP", "MASTER"),
    )
    .expect("valid");
    assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
    let w = &l.warnings[0];
    assert_eq!((w.line, w.column), (5, 5));
    assert!(
        w.message
            .contains("nopreempt does not work with state MASTER")
    );
    assert!(w.to_string().starts_with("w.conf:5:5: warning: nopreempt"));
    assert!(l.config.instances[0].preempt);
    // Without a priority, `state MASTER` means priority 255, where nopreempt is moot too.
    let l = parse_str(
        "w.conf",
        &instance("    nopreempt\n").replace("BACKUP", "MASTER"),
    )
    .expect("valid");
    assert!(l.warnings[0].message.contains("priority 255"));
}

#[test]
fn multiple_errors_at_once() {
    let text = "global_defs {\n    router_id\n    vrrp_version 4\n}\nvrrp_instance A {\n    interface eth0\n    virtual_router_id 256\n    track_script {\n        chk\n    }\n    virtual_ipaddress {\n        10.0.0.1 peer 10.0.0.2\n    }\n}\n}\n";
    let errs = errors(text);
    has(&errs, 2, 5, "`router_id` needs a value");
    has(&errs, 3, 18, "invalid vrrp_version `4`");
    has(&errs, 7, 23, "invalid virtual_router_id `256`");
    has(&errs, 9, 9, "unknown vrrp_script `chk`");
    has(
        &errs,
        12,
        18,
        "unsupported `virtual_ipaddress` option `peer`",
    );
    has(&errs, 15, 1, "unmatched `}`");
    assert_eq!(errs.len(), 6, "{errs:#?}");
    // Sorted by position.
    let lines: Vec<usize> = errs.iter().map(|e| e.line).collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted);
}

#[test]
fn undefined_parameters() {
    let errs = errors(&format!(
        "@ global_defs {{\n}}\n$VIP=10.0.0.1\nrouter_id $NOPE\n{}",
        instance("")
    ));
    has(&errs, 1, 1, "a conditional line needs a configuration id");
    has(&errs, 4, 11, "undefined parameter `$NOPE`");
}

#[test]
fn error_in_included_file() {
    let errs = load(&fixture("bad_include.conf")).expect_err("must fail");
    assert_eq!(errs.len(), 1, "{errs:?}");
    let e = &errs[0];
    assert!(e.file.ends_with("bad.d/inst.conf"), "{e}");
    assert_eq!((e.line, e.column), (7, 5));
    assert_eq!(e.message, "unsupported keyword `track_bfd`");
}

#[test]
fn include_cycle() {
    let errs = load(&fixture("cycle/a.conf")).expect_err("must fail");
    assert_eq!(errs.len(), 1, "{errs:?}");
    let e = &errs[0];
    assert!(e.message.contains("include cycle"), "{e}");
    assert!(e.file.ends_with("cycle/b.conf"), "{e}");
    assert_eq!((e.line, e.column), (1, 1));
}

#[test]
fn missing_main_file() {
    let errs = load(&fixture("does_not_exist.conf")).expect_err("must fail");
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].line, 0);
    assert!(errs[0].message.contains("cannot read"));
    assert!(errs[0].to_string().contains(": error: cannot read"));
}

#[test]
fn missing_open_brace_reads_the_block() {
    let errs = errors(
        "vrrp_instance A\n    interface eth0\n    virtual_router_id 1\n    virtual_ipaddress {\n        10.0.0.1\n    }\n}\n",
    );
    assert_eq!(errs.len(), 1, "{errs:?}");
    has(&errs, 1, 1, "expected `{` after `vrrp_instance`");
}

#[test]
fn vmac_name_conflicts() {
    let a = instance("    use_vmac vm1\n");
    let b = a.replace("VI_1", "VI_2").replace("51", "52");
    let errs = errors(&format!("{a}{b}"));
    assert_eq!(errs.len(), 1, "{errs:?}");
    has(
        &errs,
        14,
        5,
        "use_vmac interface `vm1` is also used by instance `VI_1`",
    );
    let errs = errors(&instance("    use_vmac eth0\n"));
    has(&errs, 5, 5, "is the name of a configured interface");
}

/// Found by tests/config_fuzz.rs: a file that is not UTF-8 had its error at line 0.
#[test]
fn bad_utf8_points_at_the_first_bad_byte() {
    let dir = std::env::temp_dir().join(format!("vrrp-config-utf8-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("inc")).unwrap();
    std::fs::write(
        dir.join("main.conf"),
        b"! x\nglobal_defs {\n  \xc3\x28\n}\ninclude inc/b.conf\n",
    )
    .unwrap();
    std::fs::write(dir.join("inc/b.conf"), b"! fine\n! \xff\n").unwrap();
    let errs = load(&dir.join("main.conf")).expect_err("not UTF-8");
    has(&errs, 3, 3, "is not valid UTF-8 (at byte 20)");
    std::fs::remove_file(dir.join("main.conf")).unwrap();
    std::fs::write(dir.join("main.conf"), b"include inc/b.conf\n").unwrap();
    let errs = load(&dir.join("main.conf")).expect_err("not UTF-8");
    let _ = std::fs::remove_dir_all(&dir);
    has(&errs, 2, 3, "is not valid UTF-8 (at byte 9)");
    assert!(errs[0].file.ends_with("inc/b.conf"), "{errs:?}");
}

/// Found by tests/config_fuzz.rs: the "did you mean" hint of an unknown keyword compared a
/// word of a whole line with every keyword of its block, character by character, so that a
/// file of long garbage words took minutes to be refused.
#[test]
fn long_unknown_keywords_are_refused_at_once() {
    let word = "x".repeat(60_000);
    let body = format!("    {word}\n").repeat(20);
    let text = instance(&body);
    let started = std::time::Instant::now();
    let errs = errors(&text);
    assert_eq!(
        errs.iter()
            .filter(|e| e.message.starts_with("unsupported keyword"))
            .count(),
        20
    );
    // A debug build refuses them in milliseconds; it took 261 s on a loaded machine.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}
