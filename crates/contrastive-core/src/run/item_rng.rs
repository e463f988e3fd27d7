//! Per-item randomness for data loaders (augmentations, PrefixLM split points): a generator
//! derived from `(seed, item index, epoch)`, so the data are the same whatever the number of
//! loader workers or the order they run in, and after a resume.

use rand::rngs::StdRng;
use rand::SeedableRng;

/// A generator seeded from the seed, the item and the epoch, mixed by SplitMix64.
pub fn item_rng(seed: u64, index: usize, epoch: u64) -> StdRng {
    StdRng::seed_from_u64(splitmix(
        seed ^ (index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ epoch.wrapping_mul(0xD1B5_4A32_D192_ED03),
    ))
}

/// A seed for the backend's generator (dropout masks) drawn from a batch's content, which is
/// itself a function of `(seed, epoch)`: re-seeding before each training step makes the masks
/// reproducible across resumes and independent of what ran before.
pub fn content_seed(values: impl IntoIterator<Item = u64>) -> u64 {
    values
        .into_iter()
        .fold(0x5EED, |hash, value| splitmix(hash ^ value))
}

/// SplitMix64's finaliser: a bijective mix in which every input bit affects every output bit.
fn splitmix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}
