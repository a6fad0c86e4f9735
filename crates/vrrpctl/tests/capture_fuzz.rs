//! The capture readers of `vrrpctl sniff` (pcap and pcapng) and the frame decoder behind
//! them under seeded mutation (vrrp-fuzz). Corpus: the committed captures of
//! tests/fixtures plus tests/corpus (inputs that once broke the reader).
//!
//! Properties: nothing panics, from the file header to the summary; a file that ends inside
//! a header, record or block gets a truncation error at its last byte, after the frames
//! before it; every other error says where it is; every prefix of a valid capture reads as
//! its frames up to the cut, then at most a truncation error.

use std::io::Cursor;
use std::path::Path;

use vrrp_fuzz::{Campaign, Mutator, read_corpus};
use vrrpctl::capture::{CaptureError, CaptureReader, Frame};
use vrrpctl::frame::parse_frame;
use vrrpctl::record::Record;
use vrrpctl::summary::Summary;

/// Mutants in the ordinary suite (a few seconds in a debug build).
const MUTANTS: u64 = 6_000;

const LINKTYPES: [u32; 7] = [1, 101, 113, 228, 229, 276, 0];

/// Magic numbers, block types, link types, ethertypes, IP headers, protocol 112.
const DICTIONARY: &[&[u8]] = &[
    &[0xd4, 0xc3, 0xb2, 0xa1],
    &[0xa1, 0xb2, 0x3c, 0x4d],
    &[0x0a, 0x0d, 0x0d, 0x0a],
    &[0x4d, 0x3c, 0x2b, 0x1a],
    &[0x06, 0, 0, 0],
    &[0x03, 0, 0, 0],
    &[0x02, 0, 0, 0],
    &[0x01, 0, 0, 0],
    &[0x09, 0x00, 0x01, 0x00],
    &[0x0e, 0x00, 0x08, 0x00],
    &[0x71, 0, 0, 0],
    &[0x14, 0x01, 0, 0],
    &[0x08, 0x00],
    &[0x86, 0xdd],
    &[0x81, 0x00],
    &[0x88, 0xa8],
    &[0x45, 0x00],
    &[0x60, 0x00, 0x00, 0x00],
    &[0xff, 112],
    &[0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0x7f],
];

/// What reading a whole file gave: its frames, and the error that stopped it.
fn read(bytes: &[u8]) -> (Vec<Frame>, Option<CaptureError>) {
    let mut reader = match CaptureReader::new(Cursor::new(bytes)) {
        Ok(reader) => reader,
        Err(e) => return (Vec::new(), Some(e)),
    };
    let mut frames = Vec::new();
    // Every frame takes at least one byte of the file: this bound is never reached.
    for _ in 0..=bytes.len() {
        match reader.next_frame() {
            Ok(Some(frame)) => frames.push(frame),
            Ok(None) => return (frames, None),
            Err(e) => return (frames, Some(e)),
        }
    }
    panic!("more frames than bytes");
}

/// The error's position, checked against the input: every error has one.
fn position(e: &CaptureError, len: usize, frames: usize) -> u64 {
    let CaptureError::At {
        frames: n, offset, ..
    } = e
    else {
        panic!("an error without a position: {e}");
    };
    assert_eq!(*n, frames as u64, "{e}");
    assert!(*offset <= len as u64, "{e} in {len} bytes");
    if e.is_truncated() {
        assert_eq!(*offset, len as u64, "a truncation before the end: {e}");
    }
    *offset
}

/// One input through everything `vrrpctl sniff` does with a file; returns its outcome.
fn check(input: &[u8]) -> String {
    let (frames, error) = read(input);
    let mut summary = Summary::default();
    for frame in &frames {
        let _ = frame.time.rfc3339();
        for linktype in LINKTYPES.iter().copied().chain([frame.linktype]) {
            if let Some(pkt) = parse_frame(linktype, &frame.data) {
                let record = Record::from_packet(frame.time, &pkt);
                let _ = record.to_text(true);
                let _ = serde_json::to_string(&record.to_json());
                summary.add(&record);
            }
        }
    }
    let _ = summary.to_text(true);
    let _ = serde_json::to_string(&summary.to_json(false));
    match error {
        None => "ok".into(),
        Some(e) => {
            position(&e, input.len(), frames.len());
            let kind = e.kind().to_string();
            // The error's words up to its first number.
            let kind: Vec<&str> = kind
                .split(' ')
                .take_while(|w| !w.starts_with(|c: char| c.is_ascii_digit() || c == '('))
                .collect();
            let kind = kind.join(" ");
            format!(
                "{}: {kind}",
                if frames.is_empty() {
                    "error"
                } else {
                    "error after frames"
                }
            )
        }
    }
}

fn corpus() -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut corpus: Vec<Vec<u8>> = read_corpus(&dir.join("fixtures"))
        .into_iter()
        // The captures (pcap in either order and resolution, pcapng), not the scripts.
        .filter(|f| {
            [[0xd4, 0xc3], [0xa1, 0xb2], [0x4d, 0x3c], [0x0a, 0x0d]]
                .iter()
                .any(|magic| f.starts_with(magic))
        })
        .collect();
    corpus.extend(read_corpus(&dir.join("corpus")));
    corpus
}

#[test]
fn every_prefix_of_a_valid_capture_reads_up_to_the_cut() {
    for file in corpus().iter().filter(|f| read(f).1.is_none()) {
        let (all, _) = read(file);
        for cut in 0..file.len() {
            let (frames, error) = read(&file[..cut]);
            assert_eq!(frames[..], all[..frames.len()], "cut at {cut}");
            if let Some(e) = error {
                assert!(e.is_truncated(), "cut at {cut}: {e}");
                position(&e, cut, frames.len());
            }
        }
    }
}

#[test]
fn capture_mutants_never_panic_and_errors_say_where() {
    let corpus = corpus();
    let mutator = Mutator::new(corpus.clone(), DICTIONARY);
    let report = Campaign::new("capture", MUTANTS, 30).run(&corpus, &mutator, check);
    assert!(report.count("ok") > report.executions / 20, "{report:?}");
    assert!(report.count_prefix("error after frames") > 0, "{report:?}");
}
