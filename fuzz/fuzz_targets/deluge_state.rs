#![no_main]
// The body is seedring::fuzz::migrate::deluge_state (shared with tests/fuzz_corpus.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| seedring::fuzz::migrate::deluge_state(data));
