//! Replays the `decode` fuzz corpus (fuzz/corpus/decode) through the fuzz target's own
//! body, so that every input the fuzzer found interesting stays a regression test under
//! plain `cargo test`, on stable, without cargo-fuzz.

use std::fs;
use std::path::Path;

use vrrp_core::packet::fuzz_decode_roundtrip;

#[test]
fn fuzz_corpus_decode_replays_cleanly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/decode");
    let entries = fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("cannot read the corpus at {}: {error}", dir.display()));
    let mut replayed = 0;
    for entry in entries {
        let path = entry.expect("corpus entry").path();
        if !path.is_file() {
            continue;
        }
        let data = fs::read(&path).expect("corpus file");
        // On a failure the panic names the file, so it can be fed to the fuzz target.
        eprintln!("replaying {}", path.display());
        fuzz_decode_roundtrip(&data);
        replayed += 1;
    }
    assert!(replayed > 0, "the corpus at {} is empty", dir.display());
}
