#![no_main]
//! See `hvxform::fuzz::session`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| hvxform::fuzz::session(data));
