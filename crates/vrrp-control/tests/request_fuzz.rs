//! The request decoder (`Request::parse`, what the daemon runs on every control line) under
//! a committed corpus and a bounded, seeded mutation of it (crates/vrrp-fuzz): stable Rust,
//! deterministic, in the ordinary test suite (cargo-fuzz needs nightly).
//!
//! `tests/corpus/requests-valid.jsonl`: one request per line, each must parse and survive a
//! round trip through its wire form. `tests/corpus/requests-invalid.tsv`: a line, a tab and
//! a fragment of the error sentence it must get. A mutant must never panic; when it parses,
//! it must round-trip too; its error sentence stays a sentence (no longer than the line
//! plus a little). A mutant that once broke the decoder belongs in the corpus.

use std::path::Path;

use vrrp_control::Request;
use vrrp_fuzz::{Campaign, Mutator};

/// Mutants in the ordinary suite (under a second in a debug build).
const MUTANTS: u64 = 91_500;

fn corpus(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn valid() -> Vec<String> {
    corpus("requests-valid.jsonl")
        .lines()
        .map(str::to_string)
        .collect()
}

fn invalid() -> Vec<(String, String)> {
    corpus("requests-invalid.tsv")
        .lines()
        .map(|l| {
            let (line, error) = l.rsplit_once('\t').unwrap_or((l, ""));
            (line.to_string(), error.to_string())
        })
        .collect()
}

/// What a parsed request must satisfy: its wire form parses back to itself.
fn check_round_trip(line: &str, request: &Request) {
    let wire = request.to_line();
    assert_eq!(
        Request::parse(&wire).as_ref(),
        Ok(request),
        "{line:?} -> {wire:?}"
    );
}

#[test]
fn valid_corpus_parses_and_round_trips() {
    for line in valid() {
        let request = Request::parse(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
        check_round_trip(&line, &request);
    }
}

#[test]
fn invalid_corpus_gets_its_error() {
    for (line, want) in invalid() {
        let short: String = line.chars().take(80).collect();
        match Request::parse(&line) {
            Ok(r) => panic!("{short:?} parsed as {r:?}"),
            Err(e) => assert!(e.contains(&want), "{short:?}: {e:?} lacks {want:?}"),
        }
    }
}

/// Bytes and words that matter to JSON and to the decoder.
const DICTIONARY: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b":",
    b",",
    b"\\",
    b"\\u0000",
    b"-",
    b"1e999",
    b"0.5",
    b"null",
    b"true",
    b"false",
    b"\"cmd\"",
    b"\"vrid\"",
    b"\"instance\"",
    b"\xc3",
    b"\xff",
];

#[test]
fn mutants_of_the_corpus_never_panic_and_round_trip_when_they_parse() {
    let mut lines = valid();
    lines.extend(
        invalid()
            .into_iter()
            .map(|(l, _)| l)
            .filter(|l| l.len() < 4096),
    );
    let corpus: Vec<Vec<u8>> = lines.iter().map(|l| l.as_bytes().to_vec()).collect();
    let mutator = Mutator::new(corpus.clone(), DICTIONARY);
    let campaign = Campaign::new("control-request", MUTANTS, 30);
    let report = campaign.run(&corpus, &mutator, |mutant| {
        // As the daemon reads a line: bytes, made text.
        let text = String::from_utf8_lossy(mutant);
        match Request::parse(text.trim()) {
            Ok(request) => {
                check_round_trip(&text, &request);
                "parsed".to_string()
            }
            Err(e) => {
                assert!(e.len() <= text.len() + 200, "{text:?}: {e:?}");
                "refused".to_string()
            }
        }
    });
    // The mutator reaches both sides of the decoder.
    assert!(
        report.count("parsed") > report.executions / 100,
        "{report:?}"
    );
    assert!(
        report.count("refused") > report.executions / 2,
        "{report:?}"
    );
}
