#![no_main]
//! See `hvxform::fuzz::vmx`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| hvxform::fuzz::vmx(data));
