//! Decode arbitrary bytes; whatever decodes must re-encode and decode to the same value.
//! The first input byte picks the IP layer (family, TTL): see
//! `vrrp_core::packet::fuzz_decode_roundtrip`, which the corpus replay test also runs.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    vrrp_core::packet::fuzz_decode_roundtrip(data);
});
