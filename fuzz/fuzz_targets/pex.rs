#![no_main]
// The body is seedring::fuzz::pex (shared with tests/fuzz_corpus.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| seedring::fuzz::pex(data));
