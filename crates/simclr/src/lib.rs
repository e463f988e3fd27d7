//! SimCLR — a simple framework for contrastive learning of visual representations
//! (Chen et al., 2020), on Burn.
//!
//! Two random augmentations of each image ([`data::augment`]) go through a ResNet encoder and a
//! projection head ([`model`]); NT-Xent pulls the two projections together and pushes the other
//! `2N − 2` views of the batch apart. The encoder's pooled output `h` is then judged by a
//! linear probe and a k-NN classifier ([`eval`]).
//!
//! # Objective
//!
//! For `N` images, two views each, `z = g(f(x̃))` and `sim(u, v) = uᵀv / (‖u‖‖v‖)`, the loss of
//! the positive pair `(i, j)` and the batch loss are
//!
//! ```text
//! ℓ(i, j) = −log [ exp(sim(z_i, z_j)/τ) / Σ_{k=1}^{2N} 1[k ≠ i] exp(sim(z_i, z_k)/τ) ]
//! L = 1/(2N) Σ_{k=1}^{N} [ ℓ(2k−1, 2k) + ℓ(2k, 2k−1) ]
//! ```
//!
//! It is computed by [`contrastive_core::loss::NtXent`], called from [`SimClr::forward`];
//! [`step`] hands it to the training pipeline.

pub mod config;
pub mod data;
pub mod eval;
pub mod model;
pub mod step;

pub use config::{OptimizerKind, SimclrConfig, SimclrModelConfig};
pub use model::SimClr;
