#![no_main]
//! See `hvxform::fuzz::escape`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| hvxform::fuzz::escape(data));
