#![no_main]
//! See `hvxform::fuzz::mapping`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| hvxform::fuzz::mapping(data));
