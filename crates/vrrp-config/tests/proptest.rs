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
}

#[test]
fn valid_fixture_is_valid() {
    assert!(parse_str("k.conf", VALID).is_ok());
}
