//! Per-item randomness for data loaders (augmentations, PrefixLM split points): a generator
//! derived from `(seed, item index, how many times the item was drawn)`, so the data are the
//! same whatever the number of loader workers or the order they run in.

use rand::rngs::StdRng;
use rand::SeedableRng;

/// A generator seeded from the seed, the item and the draw, mixed by SplitMix64.
pub fn item_rng(seed: u64, index: usize, draw: u64) -> StdRng {
    let mut x = seed
        ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ draw.wrapping_mul(0xD1B5_4A32_D192_ED03);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    StdRng::seed_from_u64(x ^ (x >> 31))
}
