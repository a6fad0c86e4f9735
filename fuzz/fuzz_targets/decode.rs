//! Decode arbitrary bytes; whatever decodes must re-encode and decode to the same value.
//! The first input byte picks the IP layer (family, TTL): see
//! `fuzz/shared/decode_roundtrip.rs`, which the corpus replay test also runs.

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../shared/decode_roundtrip.rs"]
mod decode_roundtrip;

fuzz_target!(|data: &[u8]| {
    let _outcome = decode_roundtrip::fuzz_decode_roundtrip(data);
});
