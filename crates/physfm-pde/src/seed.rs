//! The one seeded mixing function of physfm: SplitMix64, which turns neighbouring integers
//! (a run's seed plus a split, trajectory or subset index) into decorrelated 64-bit seeds and
//! streams.

/// One step of SplitMix64 (Steele, Lea and Flood 2014): `z` advanced by the golden-ratio
/// increment, then finalised. `splitmix64(s)`, `splitmix64(s + G)`, `splitmix64(s + 2G)`, ...
/// (`G = 0x9E37_79B9_7F4A_7C15`) is the SplitMix64 stream of state `s`.
///
/// ```
/// use physfm_pde::splitmix64;
/// // The first output of the stream seeded with 0 (the reference implementation's value).
/// assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
/// assert_ne!(splitmix64(1), splitmix64(2));
/// ```
pub fn splitmix64(z: u64) -> u64 {
    let mut z = z.wrapping_add(GOLDEN);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The increment of the SplitMix64 stream (the golden ratio in 64-bit fixed point).
pub const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// A seed for item `(a, b)` of a run seeded with `seed` (a split and a trajectory, say):
/// SplitMix64 of the seed mixed with both indices, so that every pair gets its own stream.
pub fn derive_seed(seed: u64, a: u64, b: u64) -> u64 {
    splitmix64(seed ^ a.wrapping_mul(GOLDEN) ^ b.wrapping_mul(0xD1B5_4A32_D192_ED03))
}
