//! The parser never panics, whatever the input.

use proptest::prelude::*;
use vrrp_config::parse_str;

const VALID: &str = include_str!("fixtures/kitchen_sink.conf");

/// Words and punctuation that matter to the lexer and the parser.
const PIECES: &[&str] = &[
    "{",
    "}",
    "\"",
    "'",
    "#",
    "!",
    "\\",
    "\n",
    " ",
    "\t",
    "vrrp_instance",
    "global_defs",
    "virtual_ipaddress",
    "virtual_ipaddress_excluded",
    "unicast_peer",
    "track_interface",
    "authentication",
    "auth_type",
    "PASS",
    "AH",
    "auth_pass",
    "include",
    "x.conf",
    "10.0.0.1/24",
    "fe80::1",
    "2001:db8::1/64",
    "priority",
    "255",
    "0",
    "300",
    "state",
    "MASTER",
    "BACKUP",
    "OBSERVER",
    "SLAVE",
    "advert_int",
    "0.01",
    "0.005",
    "2.5",
    "version",
    "3",
    "2",
    "vrrp_strict",
    "nopreempt",
    "preempt_delay",
    "use_vmac",
    "weight",
    "-20",
    "brd",
    "dev",
    "scope",
    "label",
    "eth0",
    "@node",
    "$X",
    "~SEQ(i,1,1,3)",
    "virtual_server",
    "track_bfd",
    "interface",
    "virtual_router_id",
    "51",
    "é",
    "\u{feff}",
    "\r",
];

/// Pieces for the preprocessor: definitions, references, loops, conditions, continuations.
const PRE_PIECES: &[&str] = &[
    "~SEQ(i,1,1,3)",
    "~SEQ(i, 3)",
    "~SEQ(j, 2, 1)",
    "~SEQx(h, 0x9, 0xb)",
    "~SEQ(i, 1, 0, 3)",
    "~SEQ(",
    "~SEQ(i",
    "~LST(x, a, b)",
    "~LST({x, y}, {1, 2}, {3, 4})",
    "~LST({x}, {1, 2})",
    "~LST(",
    "$X=1",
    "$X=${X}${X}",
    "$Y=$X $X",
    "$M= \\",
    "$X",
    "${X}",
    "${Y}",
    "$M",
    "${i}",
    "${x}",
    "$i",
    "${_PWD}",
    "${_INSTANCE}",
    "${_HASH}",
    "${_BANG}",
    "${_RANDOM}",
    "${_ENV PATH}",
    "${_ENV}",
    "${",
    "${ }",
    "$",
    "$$",
    "@node",
    "@^node",
    "@",
    "@^",
    "\\",
    "(",
    ")",
    ",",
    "-1",
    "0x10",
    "99999999999999999999",
    "include_check",
    "includea",
    "vrrp_script",
    "track_script",
    "track_file",
    "vrrp_track_process",
    "process",
    "notify",
    "notify_master",
    "vrrp_sync_group",
    "group",
    "virtual_routes",
    "virtual_rules",
    "via",
    "table",
    "from",
    "fwmark",
    "weight",
    "reverse",
    "script",
    "\"a 'b c' d\"",
];

fn pre_line() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        prop::sample::select(PRE_PIECES),
        prop::sample::select(PIECES),
    ];
    prop::collection::vec(piece, 0..10).prop_map(|v| v.join(" "))
}

fn pre_text() -> impl Strategy<Value = String> {
    prop::collection::vec(pre_line(), 0..25).prop_map(|v| v.join("\n"))
}

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..120).prop_map(|v| v.join(" "))
}

#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, &'static str),
    DupLine(usize),
    DropLine(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1usize..20).prop_map(|(a, n)| Edit::Delete(a, n)),
        (any::<usize>(), prop::sample::select(PIECES)).prop_map(|(a, p)| Edit::Insert(a, p)),
        any::<usize>().prop_map(Edit::DupLine),
        any::<usize>().prop_map(Edit::DropLine),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for e in edits {
        match *e {
            Edit::Delete(at, n) if !chars.is_empty() => {
                let at = at % chars.len();
                let end = (at + n).min(chars.len());
                chars.drain(at..end);
            }
            Edit::Insert(at, piece) => {
                let at = at % (chars.len() + 1);
                chars.splice(at..at, piece.chars());
            }
            Edit::DupLine(n) | Edit::DropLine(n) => {
                let s: String = chars.iter().collect();
                let mut lines: Vec<&str> = s.lines().collect();
                if lines.is_empty() {
                    continue;
                }
                let i = n % lines.len();
                if matches!(e, Edit::DupLine(_)) {
                    let l = lines[i];
                    lines.insert(i, l);
                } else {
                    lines.remove(i);
                }
                chars = lines.join("\n").chars().collect();
            }
            Edit::Delete(..) => {}
        }
    }
    chars.into_iter().collect()
}

fn check(text: &str) {
    match parse_str("p.conf", text) {
        Ok(l) => {
            for w in &l.warnings {
                let _ = w.to_string();
            }
        }
        Err(errs) => {
            assert!(!errs.is_empty());
            for e in &errs {
                let _ = e.to_string();
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text(text in "\\PC{0,300}") {
        // Keep random text away from globbing the file system.
        check(&text.replace("include", "inc"));
    }

    #[test]
    fn token_soup(text in soup()) {
        check(&text);
    }

    #[test]
    fn mutated_valid_config(edits in prop::collection::vec(edit(), 1..8)) {
        check(&apply(VALID, &edits));
    }

    #[test]
    fn preprocessor_lines(text in pre_text()) {
        check(&text.replace("include ", "inc "));
    }

    #[test]
    fn mutated_real_world_config(edits in prop::collection::vec(pre_edit(), 1..8)) {
        check(&apply(REAL, &edits).replace("include ", "inc "));
    }

    #[test]
    fn mutated_lvs_config(
        which in 0..LVS.len(),
        edits in prop::collection::vec(lvs_edit(), 1..8),
    ) {
        check(&apply(LVS[which], &edits));
    }
}

/// keepalived LVS configurations (virtual servers, groups, every checker).
const LVS: [&str; 4] = [
    include_str!("fixtures/lvs/http_dr.conf"),
    include_str!("fixtures/lvs/ssl_nat.conf"),
    include_str!("fixtures/lvs/misc_udp.conf"),
    include_str!("fixtures/lvs/group_fwmark.conf"),
];

/// Words that matter to the LVS parser.
const LVS_PIECES: &[&str] = &[
    "real_server",
    "virtual_server",
    "group",
    "fwmark",
    "url",
    "path",
    "digest",
    "TUN",
    "type",
    "gue",
    "port",
    "-",
    "10.0.0.1-0",
    "::1-ffff",
    "0/0",
    "lvs_method",
    "lvs_sched",
    "weight",
    "HTTP_GET",
    "MISC_CHECK",
    "FILE_CHECK",
    "inet6",
    "2001:db8::9",
    "XX",
    "0x",
    "65536",
    "status_code",
    "99-600",
    "regex",
    "(",
    "sorry_server",
    "persistence_granularity",
];

fn lvs_edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        edit(),
        (any::<usize>(), prop::sample::select(LVS_PIECES)).prop_map(|(a, p)| Edit::Insert(a, p)),
    ]
}

/// A real-world configuration with every preprocessor feature and the tracking keywords.
const REAL: &str = include_str!("fixtures/realworld/lb_pair.conf");

fn pre_edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        edit(),
        (any::<usize>(), prop::sample::select(PRE_PIECES)).prop_map(|(a, p)| Edit::Insert(a, p)),
    ]
}

#[test]
fn valid_fixture_is_valid() {
    assert!(parse_str("k.conf", VALID).is_ok());
    assert!(parse_str("r.conf", REAL).is_ok());
    for text in LVS {
        assert!(parse_str("l.conf", text).is_ok());
    }
}

#[test]
fn expansion_bombs_stop() {
    // Nested loops, self-doubling and self-nesting parameters: bounded, reported.
    for text in [
        "~SEQ(a, 300) ~SEQ(b, 300) ~SEQ(c, 300) # nothing\n",
        "~SEQ(a, 300) ~SEQ(b, 300) ~SEQ(c, 300) router_id x\n",
        "$A=${A}${A}\nrouter_id $A\n",
        "$M= \\\n$M \\\n$M\n$M\n",
        "$M= \\\n~SEQ(i, 9) $M\n$M\n",
    ] {
        let errs = parse_str("b.conf", text).expect_err(text);
        assert!(!errs.is_empty());
    }
}
