//! What evaluation needs of a sentence model: token batches in, one embedding per sentence out.
//! STS scoring and the dev monitor depend on this, not on the training model.

use burn::tensor::{backend::Backend, Tensor};
use contrastive_core::run::text::TokenBatch;

/// A model that embeds tokenised sentences for inference (no dropout).
pub trait TokenEncoder<B: Backend> {
    /// One embedding per row of `tokens`, `[batch, dim]`.
    fn encode(&self, tokens: &TokenBatch<B>) -> Tensor<B, 2>;
}
