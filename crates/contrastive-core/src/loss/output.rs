//! What every contrastive loss returns.

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
