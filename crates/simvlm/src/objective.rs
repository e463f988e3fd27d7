//! The PrefixLM objective (SimVLM §3.1). A text `x` is split at `T_p`: the image and
//! `x_{<T_p}` form the prefix, which the encoder reads bidirectionally; the decoder predicts the
//! rest autoregressively, so the loss falls on the target tokens only:
//!
//! ```text
//! L_PrefixLM(θ) = −E_{x∼D} [ Σ_{t = T_p}^{T} log P_θ(x_t | x_{[T_p, t)}, x_{<T_p}, image) ]
//! ```
//!
//! Per batch this is the mean over target tokens (padding excluded) of the negative
//! log-likelihood, computed here from the decoder's logits under teacher forcing.

use burn::tensor::activation::log_softmax;
use burn::tensor::{backend::Backend, Int, Tensor};

/// The mean token loss of a batch and what the metrics need.
pub struct PrefixLmOutput<B: Backend> {
    pub loss: Tensor<B, 1>,
    /// Correctly predicted target tokens and target tokens, `[1]` each.
    pub correct: Tensor<B, 1, Int>,
    pub tokens: Tensor<B, 1, Int>,
}

/// `L = −(1/|T|) Σ_{t ∈ T} log softmax(logits_t)[label_t]` over the target positions `T`
/// where `mask` is 1. `logits`: `[batch, len, vocab]`; `labels`, `mask`: `[batch, len]`.
pub fn prefix_lm_loss<B: Backend>(
    logits: Tensor<B, 3>,
    labels: Tensor<B, 2, Int>,
    mask: Tensor<B, 2, Int>,
) -> PrefixLmOutput<B> {
    let [rows, len, _] = logits.dims();
    let log_probs = log_softmax(logits.clone(), 2);
    let target_log_probs = log_probs
        .gather(2, labels.clone().reshape([rows, len, 1]))
        .reshape([rows, len]);
    let tokens = mask.clone().sum();
    let loss =
        -(target_log_probs * mask.clone().float()).sum() / tokens.clone().float().clamp_min(1.0);
    let correct = logits
        .argmax(2)
        .reshape([rows, len])
        .equal(labels)
        .int()
        .mul(mask)
        .sum();
    PrefixLmOutput {
        loss,
        correct,
        tokens,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;
    use burn::tensor::TensorData;

    #[test]
    fn the_loss_is_the_mean_target_token_negative_log_likelihood() {
        let device = Default::default();
        // One row, three positions over a vocabulary of 2; the last position is padding.
        let logits = Tensor::<NdArray, 3>::from_data(
            TensorData::new(vec![1.0f32, 0.0, 2.0, 0.0, 5.0, -5.0], [1, 3, 2]),
            &device,
        );
        let labels = Tensor::from_data(TensorData::new(vec![0i64, 1, 1], [1, 3]), &device);
        let mask = Tensor::from_data(TensorData::new(vec![1i64, 1, 0], [1, 3]), &device);
        let out = prefix_lm_loss(logits, labels, mask);
        // By hand: position 0 has label 0 with logits (1, 0): −log(e¹ / (e¹ + e⁰)) = ln(1 + e⁻¹);
        // position 1 has label 1 with logits (2, 0): ln(1 + e²). Position 2 is not counted.
        let expected = ((1.0 + (-1f64).exp()).ln() + (1.0 + 2f64.exp()).ln()) / 2.0;
        let loss = out.loss.into_scalar() as f64;
        assert!((loss - expected).abs() < 1e-5, "{loss} vs {expected}");
        assert_eq!(out.tokens.into_scalar(), 2);
        // argmax: position 0 picks its label, position 1 picks 0 ≠ label 1.
        assert_eq!(out.correct.into_scalar(), 1);
    }
}
