//! Helpers the unit tests share.

/// A xorshift generator of indices below `n`, seeded: the same sequence on
/// every run, for tests that build thousands of texts from pieces.
pub(crate) fn picker(mut seed: u64) -> impl FnMut(usize) -> usize {
    move |n| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    }
}
