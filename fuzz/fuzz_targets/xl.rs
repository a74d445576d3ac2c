#![no_main]
//! See `hvxform::fuzz::xl`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| hvxform::fuzz::xl(data));
