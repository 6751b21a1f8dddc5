#![no_main]
// The body is seedring::fuzz::mse::mse (shared with tests/fuzz_corpus.rs).
libfuzzer_sys::fuzz_target!(|data: &[u8]| seedring::fuzz::mse::mse(data));
