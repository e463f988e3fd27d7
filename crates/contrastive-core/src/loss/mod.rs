//! Contrastive losses: InfoNCE and its SimCLR and SimCSE instances (METHODS.md §1–3).
//!
//! Every loss is a cross-entropy over a logits matrix of scaled cosine similarities,
//! computed through log-softmax so that it stays finite at τ = 0.05 in reduced precision.

mod info_nce;
mod nt_xent;
mod simcse;

pub use info_nce::{cross_entropy_with_logits, InfoNce, InfoNceConfig};
pub use nt_xent::{NtXent, NtXentConfig};
pub use simcse::{
    SupervisedSimCse, SupervisedSimCseConfig, UnsupervisedSimCse, UnsupervisedSimCseConfig,
};

use burn::tensor::{backend::Backend, Int, Tensor};

/// What a contrastive loss computed: the mean loss and the logits it came from, kept so that
/// metrics (contrastive accuracy) need no second pass.
#[derive(Debug, Clone)]
pub struct ContrastiveOutput<B: Backend> {
    /// Mean loss over anchors, shape `[1]`.
    pub loss: Tensor<B, 1>,
    /// Scaled similarities, `[anchors, candidates]`.
    pub logits: Tensor<B, 2>,
    /// Column of each anchor's positive, `[anchors]`.
    pub targets: Tensor<B, 1, Int>,
}

#[cfg(test)]
mod tests;
