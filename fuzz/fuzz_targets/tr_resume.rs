#![no_main]
// The body is seedring::fuzz::migrate::tr_resume (shared with tests/fuzz_corpus.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| seedring::fuzz::migrate::tr_resume(data));
