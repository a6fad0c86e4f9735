//! The keyword table and the parser agree: every keyword the table says vrrpd reads is read
//! (not refused, with or without a block as the table says), every keyword the table says
//! keepalived knows is refused with the hint that says so, and the parser's match arms handle
//! exactly the table's keywords (read from the source, so that an arm cannot be added without
//! its table entry, nor an entry without its arm).

use std::collections::BTreeSet;

use crate::ConfigError;
use crate::keywords::{
    self, Block, KEYWORDS, Keyword, Line, REFUSED_OPTIONS, Repeat, Shape, lookup, markdown,
};

/// The parser's functions holding the match arms of each block's keywords.
const HANDLERS: &[(&str, &str, Block)] = &[
    ("parser.rs", "fn top(", Block::Top),
    ("parser.rs", "fn global_stmt(", Block::Global),
    ("parser.rs", "fn instance_stmt(", Block::Instance),
    ("instance_extra.rs", "fn instance_extra(", Block::Instance),
    ("parser.rs", "fn auth_stmt(", Block::Auth),
    ("tracking.rs", "fn vrrp_script(", Block::Script),
    ("tracking.rs", "fn track_file_block(", Block::TrackFile),
    ("tracking.rs", "fn track_process_block(", Block::Process),
    ("tracking.rs", "fn sync_group(", Block::SyncGroup),
    ("lvs.rs", "fn vs_stmt(", Block::VirtualServer),
    ("lvs.rs", "fn rs_stmt(", Block::RealServer),
    ("lvs_global.rs", "fn ssl_block(", Block::Ssl),
    ("checkers.rs", "fn common_stmt(", Block::Checker),
    ("checkers.rs", "fn http_stmt(", Block::HttpCheck),
    ("checkers.rs", "fn url_block(", Block::Url),
    ("checkers.rs", "fn smtp_stmt(", Block::SmtpCheck),
    ("checkers.rs", "fn dns_stmt(", Block::DnsCheck),
    ("checkers.rs", "fn misc_stmt(", Block::MiscCheck),
    ("checkers.rs", "fn udp_stmt(", Block::UdpCheck),
    ("checkers.rs", "fn file_stmt(", Block::FileCheck),
    ("garp_group.rs", "fn garp_group(", Block::GarpGroup),
];

/// Match arms in those functions that are values, not keywords.
const VALUE_WORDS: &[&str] = &["PASS", "AH", "initial", "partial"];

/// `kw` written in `block`, in a configuration around it.
fn snippet(kw: &Keyword) -> String {
    let stmt = match kw.shape {
        Shape::Section | Shape::List if kw.block == Block::Top => format!("{} N {{\n}}", kw.name),
        Shape::Section | Shape::List => format!("{} {{\n}}", kw.name),
        Shape::Flag => kw.name.to_owned(),
        Shape::Preprocessor if kw.name == "include_check" => kw.name.to_owned(),
        Shape::Value | Shape::Preprocessor | Shape::Unsupported => format!("{} x", kw.name),
    };
    match kw.block {
        Block::Top => format!("{stmt}\n"),
        Block::Global => format!("global_defs {{\n{stmt}\n}}\n"),
        Block::Instance => format!("vrrp_instance I {{\n{stmt}\n}}\n"),
        Block::Auth => format!("vrrp_instance I {{\nauthentication {{\n{stmt}\n}}\n}}\n"),
        Block::Script => format!("vrrp_script S {{\n{stmt}\n}}\n"),
        Block::TrackFile => format!("track_file F {{\n{stmt}\n}}\n"),
        Block::Process => format!("vrrp_track_process P {{\n{stmt}\n}}\n"),
        Block::SyncGroup => format!("vrrp_sync_group G {{\n{stmt}\n}}\n"),
        Block::Ssl => format!("SSL {{\n{stmt}\n}}\n"),
        Block::GarpGroup => format!("garp_group {{\n{stmt}\n}}\n"),
        Block::VirtualServer => in_vs(&stmt),
        Block::RealServer => in_rs(&stmt),
        Block::Checker => in_rs(&format!("TCP_CHECK {{\n{stmt}\n}}")),
        Block::HttpCheck => in_rs(&format!("HTTP_GET {{\n{stmt}\n}}")),
        Block::Url => in_rs(&format!("HTTP_GET {{\nurl {{\n{stmt}\n}}\n}}")),
        Block::SmtpCheck => in_rs(&format!("SMTP_CHECK {{\n{stmt}\n}}")),
        Block::DnsCheck => in_rs(&format!("DNS_CHECK {{\n{stmt}\n}}")),
        Block::MiscCheck => in_rs(&format!("MISC_CHECK {{\n{stmt}\n}}")),
        Block::UdpCheck => in_rs(&format!("UDP_CHECK {{\n{stmt}\n}}")),
        Block::FileCheck => in_rs(&format!("FILE_CHECK {{\n{stmt}\n}}")),
    }
}

fn in_vs(stmt: &str) -> String {
    format!("virtual_server 10.0.0.1 80 {{\n{stmt}\n}}\n")
}

fn in_rs(stmt: &str) -> String {
    in_vs(&format!("real_server 10.0.0.2 80 {{\n{stmt}\n}}"))
}

fn errors(text: &str) -> Vec<ConfigError> {
    crate::parse_str("t.conf", text).err().unwrap_or_default()
}

#[test]
fn every_supported_keyword_is_read_in_its_block() {
    for kw in KEYWORDS.iter().filter(|kw| kw.supported()) {
        let text = snippet(kw);
        for e in errors(&text) {
            let refused = e.message == format!("unsupported keyword `{}`", kw.name);
            let wrong_shape = e.message == format!("`{}` does not take a block", kw.name)
                || e.message
                    .starts_with(&format!("expected `{{` after `{}`", kw.name));
            assert!(!refused && !wrong_shape, "{text}\n{e}");
        }
    }
}

#[test]
fn every_keepalived_keyword_is_refused_with_the_hint() {
    for kw in KEYWORDS.iter().filter(|kw| !kw.supported()) {
        let text = snippet(kw);
        let errs = errors(&text);
        assert!(
            errs.iter().any(|e| {
                (e.message == format!("unsupported keyword `{}`", kw.name)
                    || e.message
                        .starts_with(&format!("{} is not supported: ", kw.name)))
                    && e.hint
                        .as_deref()
                        .is_some_and(|h| h.contains("keepalived knows"))
            }),
            "{text}\n{errs:?}"
        );
    }
}

/// `option` written on a line of the block of `line`.
fn option_snippet(line: Line, option: &str) -> String {
    let entry = match line {
        Line::VirtualIpaddress => format!("10.0.0.1/24 {option} x"),
        Line::UnicastPeer => format!("10.0.0.2 {option} x"),
        Line::VirtualRoutes => format!("10.1.0.0/16 {option} x"),
        Line::VirtualRules => format!("from 10.0.0.0/8 {option} x table 1"),
    };
    format!(
        "vrrp_instance I {{\n{} {{\n{entry}\n}}\n}}\n",
        line.keyword()
    )
}

#[test]
fn every_refused_option_is_refused_as_unsupported() {
    for (line, words) in REFUSED_OPTIONS {
        for option in *words {
            let text = option_snippet(*line, option);
            let want = format!("unsupported `{}` option `{option}`", line.keyword());
            let errs = errors(&text);
            assert!(errs.iter().any(|e| e.message == want), "{text}\n{errs:?}");
        }
    }
}

#[test]
fn a_misspelt_keyword_gets_a_suggestion_from_its_block() {
    let errs = errors("vrrp_instance I {\npriorty 100\n}\n");
    assert!(
        errs.iter()
            .any(|e| e.hint.as_deref() == Some("did you mean `priority`?")),
        "{errs:?}"
    );
}

/// The body of the function starting at `start` in `src`.
fn body<'s>(src: &'s str, start: &str) -> &'s str {
    let Some(from) = src.find(start) else {
        panic!("no `{start}` in the parser");
    };
    let rest = &src[from + start.len()..];
    let end = [
        "\n    fn ",
        "\n    pub(super) fn ",
        "\n    pub(crate) fn ",
        "\n}\n",
    ]
    .iter()
    .filter_map(|e| rest.find(e))
    .min()
    .unwrap_or(rest.len());
    &rest[..end]
}

/// The string literals that are match arm patterns (`"a" | "b" =>`, one per line or several);
/// a line holding only a message string is not one.
fn arm_words(body: &str) -> BTreeSet<&str> {
    let mut out = BTreeSet::new();
    for line in body.lines() {
        let mut t = line.trim_start();
        t = t.strip_prefix("| ").unwrap_or(t);
        let mut words = Vec::new();
        while let Some(after) = t.strip_prefix('"') {
            let Some((w, rest)) = after.split_once('"') else {
                break;
            };
            words.push(w);
            t = rest.trim_start();
            t = t.strip_prefix('|').map_or(t, str::trim_start);
        }
        let keyword_like = |w: &&str| {
            w.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        if (t.is_empty() || t.starts_with("=>")) && words.iter().all(keyword_like) {
            out.extend(words);
        }
    }
    out
}

#[test]
fn the_match_arms_handle_exactly_the_table() {
    let src = |file: &str| match file {
        "parser.rs" => include_str!("../parser.rs"),
        "lvs.rs" => include_str!("lvs.rs"),
        "lvs_global.rs" => include_str!("lvs_global.rs"),
        "checkers.rs" => include_str!("checkers.rs"),
        "instance_extra.rs" => include_str!("instance_extra.rs"),
        "garp_group.rs" => include_str!("garp_group.rs"),
        _ => include_str!("tracking.rs"),
    };
    for &(file, start, block) in HANDLERS {
        // A block may be read by several functions: their arms together are the table.
        let handled: BTreeSet<&str> = HANDLERS
            .iter()
            .filter(|h| h.2 == block)
            .flat_map(|&(file, start, _)| arm_words(body(src(file), start)))
            .filter(|w| !VALUE_WORDS.contains(w))
            .collect();
        let table: BTreeSet<&str> = keywords::supported(block)
            .filter(|name| {
                keywords::lookup(block, name).is_some_and(|kw| kw.shape != Shape::Preprocessor)
            })
            .collect();
        assert_eq!(handled, table, "{} (`{start}` in {file})", block.title());
    }
}

// The table on its own.
#[test]
fn no_keyword_twice_in_a_block() {
    for (i, a) in KEYWORDS.iter().enumerate() {
        for b in &KEYWORDS[i + 1..] {
            assert!(
                a.name != b.name || a.block != b.block,
                "`{}` is twice in {}",
                a.name,
                a.block.title()
            );
        }
    }
}

#[test]
fn aliases_share_the_key_of_a_keyword_of_their_block() {
    for kw in KEYWORDS {
        if let Repeat::SameAs(key) = kw.repeat {
            assert!(lookup(kw.block, key).is_some(), "`{}`: no `{key}`", kw.name);
        }
    }
}

#[test]
fn only_top_level_blocks_are_top_level_only() {
    for kw in KEYWORDS.iter().filter(|kw| kw.top_level_only) {
        assert_eq!(kw.block, Block::Top, "`{}`", kw.name);
        assert!(
            kw.shape.opens_block() || kw.shape == Shape::Unsupported,
            "`{}`",
            kw.name
        );
    }
}

#[test]
fn lists_accumulate_and_nothing_else_does() {
    for kw in KEYWORDS.iter().filter(|kw| kw.block != Block::Top) {
        // Blocks that each add an entry (`real_server`, the checkers, `url`) accumulate too.
        let entries = kw.shape == Shape::Section && kw.repeat == Repeat::Adds;
        assert_eq!(
            kw.shape == Shape::List,
            kw.repeat == Repeat::Adds && !entries,
            "`{}` in {}",
            kw.name,
            kw.block.title()
        );
    }
}

#[test]
fn the_index_has_one_row_per_keyword() {
    let rows = markdown().lines().filter(|l| l.starts_with("| ")).count();
    assert_eq!(rows, KEYWORDS.len() + 1);
}

#[test]
fn docs_are_one_line() {
    for kw in KEYWORDS {
        assert!(
            !kw.doc.is_empty() && !kw.doc.contains('\n'),
            "`{}`",
            kw.name
        );
    }
}
