#![no_main]
// The body is seedring::fuzz::migrate::rt_session (shared with tests/fuzz_corpus.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| seedring::fuzz::migrate::rt_session(data));
