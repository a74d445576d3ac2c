#![no_main]
//! See `hvxform::fuzz::scan`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| hvxform::fuzz::scan(data));
