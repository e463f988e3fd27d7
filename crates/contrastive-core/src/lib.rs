//! The shared, verified core of contrastive-rs: the InfoNCE family of losses, the metrics that
//! judge representations, the projection head, LARS and warm-up schedules.
//!
//! Everything is generic over Burn's [`Backend`](burn::tensor::backend::Backend), so the same
//! code runs on ndarray, WGPU and CUDA.

pub mod allocator;
pub mod atomic_save;
pub mod bench;
pub mod epochs;
pub mod error;
pub mod eval;
pub mod item_rng;
pub mod loss;
pub mod metrics;
pub mod nn;
pub mod optim;
pub mod similarity;
pub mod text;
pub mod text_file;
pub mod train;

#[cfg(test)]
mod test_backend;

pub use error::ContrastiveError;
