//! Noise (dropout masks) drawn from a seed while holding the process's random generator.
//!
//! Burn's CPU backends keep one generator per process. Replicas training as threads would
//! otherwise draw from each other's seeds, so a run would not repeat, and a GradCache replay
//! could see other masks than its first pass — a wrong gradient. One uncontended lock per
//! forward pass costs nothing to a single replica.

use std::sync::Mutex;

use burn::tensor::backend::Backend;

static GENERATOR: Mutex<()> = Mutex::new(());

/// `forward()` with the generator seeded by `seed` and held for its whole duration.
pub fn with_seeded_noise<B: Backend, T>(
    device: &B::Device,
    seed: u64,
    forward: impl FnOnce() -> T,
) -> T {
    let _held = GENERATOR.lock().unwrap_or_else(|p| p.into_inner());
    B::seed(device, seed);
    forward()
}
