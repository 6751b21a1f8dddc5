#![no_main]
// The body is seedring::fuzz::utp::utp (shared with tests/fuzz_corpus.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| seedring::fuzz::utp::utp(data));
