//! The request decoder (`Request::parse`, what the daemon runs on every control line) under
//! a committed corpus and a bounded, seeded mutation of it: stable Rust, deterministic, in
//! the ordinary test suite (cargo-fuzz needs nightly).
//!
//! `tests/corpus/requests-valid.jsonl`: one request per line, each must parse and survive a
//! round trip through its wire form. `tests/corpus/requests-invalid.tsv`: a line, a tab and
//! a fragment of the error sentence it must get. A mutant must never panic; when it parses,
//! it must round-trip too; its error sentence stays a sentence (no longer than the line
//! plus a little). A mutant that once broke the decoder belongs in the corpus.

use std::path::Path;

use vrrp_control::Request;

/// Mutants per corpus line.
const MUTANTS: usize = 1500;

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

/// xorshift64*: small, seeded, the same sequence everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes that matter to JSON and to the decoder.
const INTERESTING: &[u8] = b"{}[]\":,\\01-+.eEntfu \t\n\x00\xff\xc3";

/// One to four edits of `line`: bit flips, JSON-significant bytes, deletions,
/// duplications, splices from another line, truncation.
fn mutate(rng: &mut Rng, line: &[u8], donors: &[String]) -> Vec<u8> {
    let mut out = line.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(6) {
            0 if at < out.len() => out[at] ^= 1 << rng.below(8),
            1 if at < out.len() => out[at] = INTERESTING[rng.below(INTERESTING.len())],
            2 => {
                let end = (at + rng.below(8)).min(out.len());
                out.drain(at..end);
            }
            3 => {
                let end = (at + rng.below(16)).min(out.len());
                let chunk = out[at..end].to_vec();
                out.splice(at..at, chunk);
            }
            4 => {
                let donor = donors[rng.below(donors.len())].as_bytes();
                let from = rng.below(donor.len());
                let end = (from + rng.below(24)).min(donor.len());
                out.splice(at..at, donor[from..end].iter().copied());
            }
            _ => out.truncate(at),
        }
    }
    out
}

#[test]
fn mutants_of_the_corpus_never_panic_and_round_trip_when_they_parse() {
    let mut lines = valid();
    lines.extend(
        invalid()
            .into_iter()
            .map(|(l, _)| l)
            .filter(|l| l.len() < 4096),
    );
    let mut rng = Rng(0x5eed_1e55_c0de_0013);
    let (mut parsed, mut refused) = (0usize, 0usize);
    for line in &lines {
        for _ in 0..MUTANTS {
            let mutant = mutate(&mut rng, line.as_bytes(), &lines);
            // As the daemon reads a line: bytes, made text.
            let text = String::from_utf8_lossy(&mutant);
            match Request::parse(text.trim()) {
                Ok(request) => {
                    parsed += 1;
                    check_round_trip(&text, &request);
                }
                Err(e) => {
                    refused += 1;
                    assert!(e.len() <= text.len() + 200, "{text:?}: {e:?}");
                }
            }
        }
    }
    // The mutator reaches both sides of the decoder.
    assert!(parsed > lines.len() * MUTANTS / 100, "{parsed} parsed");
    assert!(refused > lines.len() * MUTANTS / 2, "{refused} refused");
}
