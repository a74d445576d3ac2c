#![no_main]
//! See `hvxform::fuzz::input`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| hvxform::fuzz::input(data));
