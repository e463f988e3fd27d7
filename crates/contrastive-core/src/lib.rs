//! The shared, verified core of contrastive-rs, in two parts.
//!
//! **The maths**: the InfoNCE family of losses ([`loss`]), the metrics that judge
//! representations ([`metrics`]), host-side and tensor similarity ([`similarity`]), the layers
//! two methods share ([`nn`]: ResNet, attention, projection head, BatchNorm), LARS and warm-up
//! schedules ([`optim`]), and frozen-feature evaluation ([`eval`]: k-NN, linear probe).
//!
//! **The run infrastructure** ([`run`]): the training pipeline's steps, guard and monitors,
//! data order, per-item randomness, text files and tokenisation, durable writes, benchmarks.
//!
//! Everything is generic over Burn's [`Backend`](burn::tensor::backend::Backend), so the same
//! code runs on ndarray, WGPU and CUDA.

pub mod error;
pub mod eval;
pub mod loss;
pub mod metrics;
pub mod nn;
pub mod optim;
pub mod similarity;

pub mod run;

#[cfg(test)]
mod test_backend;

pub use error::ContrastiveError;
