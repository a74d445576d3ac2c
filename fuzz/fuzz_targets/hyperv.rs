#![no_main]
//! See `hvxform::fuzz::hyperv`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| hvxform::fuzz::hyperv(data));
