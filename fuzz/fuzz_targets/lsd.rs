#![no_main]
// The body is seedring::fuzz::lsd (shared with tests/fuzz_corpus.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| seedring::fuzz::lsd(data));
