//! `docs/config.md` is in step with the keyword table: its keyword index is the one generated
//! from the table, every keyword the table supports is described in the hand-written part,
//! and the hand-written keyword tables name no keyword that the table does not support in
//! their block.
//!
//! After changing the table: `VRRPD_REGEN_DOCS=1 cargo test -p vrrp-config --test keywords_doc`
//! rewrites the index.

use std::path::PathBuf;

// The table uses nothing else of the crate; including it keeps it out of the public API.
#[allow(dead_code)]
#[path = "../src/keywords.rs"]
mod keywords;

use keywords::{Block, KEYWORDS};

const BEGIN: &str = "<!-- keywords:begin (generated: do not edit by hand) -->\n";
const END: &str = "<!-- keywords:end -->";
const REGEN: &str = "VRRPD_REGEN_DOCS=1 cargo test -p vrrp-config --test keywords_doc";

fn doc_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/config.md")
}

fn read_doc() -> String {
    std::fs::read_to_string(doc_path()).unwrap_or_else(|e| panic!("{}: {e}", doc_path().display()))
}

/// The text before the index, the index, and the text after it.
fn split(doc: &str) -> (&str, &str, &str) {
    let begin = doc
        .find(BEGIN)
        .unwrap_or_else(|| panic!("docs/config.md has no `{}` line", BEGIN.trim_end()));
    let body_at = begin + BEGIN.len();
    let end = doc[body_at..]
        .find(END)
        .map(|i| body_at + i)
        .unwrap_or_else(|| panic!("docs/config.md has no `{END}` line"));
    (&doc[..body_at], &doc[body_at..end], &doc[end..])
}

#[test]
fn the_keyword_index_is_generated_from_the_table() {
    let doc = read_doc();
    let (before, index, after) = split(&doc);
    let expected = keywords::markdown();
    if index == expected {
        return;
    }
    if std::env::var_os("VRRPD_REGEN_DOCS").is_some() {
        // Written aside and renamed: the other tests read the file meanwhile.
        let tmp = doc_path().with_extension("md.regen");
        std::fs::write(&tmp, format!("{before}{expected}{after}"))
            .and_then(|()| std::fs::rename(&tmp, doc_path()))
            .unwrap_or_else(|e| panic!("{}: {e}", doc_path().display()));
        return;
    }
    panic!(
        "the keyword index of docs/config.md is not the one generated from \
         crates/vrrp-config/src/keywords.rs; regenerate it with\n    {REGEN}\n\
         expected between the markers:\n{expected}"
    );
}

/// The words written in backquotes in `text` (`a b` gives a and b).
fn quoted_words(text: &str) -> Vec<&str> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .flat_map(|span| span.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-')))
        .filter(|w| !w.is_empty())
        .collect()
}

#[test]
fn every_supported_keyword_is_described() {
    let doc = read_doc();
    let (before, _, after) = split(&doc);
    let described = quoted_words(before);
    let described_after = quoted_words(after);
    for kw in KEYWORDS.iter().filter(|kw| kw.supported()) {
        assert!(
            described.contains(&kw.name) || described_after.contains(&kw.name),
            "docs/config.md does not describe `{}` ({})",
            kw.name,
            kw.block.title()
        );
    }
}

/// The block whose keywords a `### ` heading of "Supported keywords" documents.
fn heading_block(heading: &str) -> Option<Block> {
    let first = quoted_words(heading).first().copied();
    [
        Block::Global,
        Block::Instance,
        Block::Script,
        Block::TrackFile,
        Block::Process,
        Block::SyncGroup,
    ]
    .into_iter()
    .find(|b| Some(b.title()) == first)
    .or_else(|| {
        heading
            .eq_ignore_ascii_case("top level")
            .then_some(Block::Top)
    })
}

/// The first word of each backquoted text of the first cell of a table row: the keywords the
/// row documents (upper-case words are placeholders).
fn row_keywords(row: &str) -> Vec<&str> {
    let cell = row
        .trim_start_matches('|')
        .split(" | ")
        .next()
        .unwrap_or("");
    cell.split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|span| span.split([' ', '[']).next())
        .filter(|w| w.starts_with(|c: char| c.is_ascii_lowercase()))
        .collect()
}

#[test]
fn the_keyword_tables_name_only_keywords_of_the_table() {
    let doc = read_doc();
    let section = doc
        .split("\n## ")
        .find(|s| s.starts_with("Supported keywords"))
        .expect("docs/config.md has a `## Supported keywords` section");
    let mut checked = 0;
    for sub in section.split("\n### ").skip(1) {
        let (heading, body) = sub.split_once('\n').unwrap_or((sub, ""));
        let Some(block) = heading_block(heading.trim()) else {
            continue;
        };
        for row in body.lines().filter(|l| l.starts_with("| `")) {
            for name in row_keywords(row) {
                let known = KEYWORDS
                    .iter()
                    .any(|kw| kw.block == block && kw.name == name && kw.supported());
                assert!(
                    known,
                    "docs/config.md documents `{name}` in {} but the keyword table does not \
                     have it (crates/vrrp-config/src/keywords.rs)\n{row}",
                    block.title()
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 50, "only {checked} keywords found in the tables");
}
