#![no_main]
// The body is seedring::fuzz::v2hash::v2hash (shared with tests/fuzz_corpus.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| seedring::fuzz::v2hash::v2hash(data));
