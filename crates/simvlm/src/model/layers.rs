//! The Transformer layers of the encoder (bidirectional over the prefix) and of the decoder
//! (causal self-attention, then cross-attention to the encoder).

use burn::module::Module;
use burn::nn::{Dropout, LayerNorm, Linear};
use burn::tensor::activation::gelu;
use burn::tensor::{backend::Backend, Bool, Int, Tensor};
use contrastive_core::nn::{Attention, KeyValues, PositionWise};

/// `W₂ GELU(W₁ x)`.
#[derive(Module, Debug)]
pub struct FeedForward<B: Backend> {
    pub(super) expand: Linear<B>,
    pub(super) contract: Linear<B>,
}

impl<B: Backend> FeedForward<B> {
    pub(super) fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        self.contract
            .forward_positions(gelu(self.expand.forward_positions(x)))
    }
}

/// Pre-LN encoder layer: `x += Attn(LN x)`, `x += FF(LN x)`.
#[derive(Module, Debug)]
pub struct EncoderLayer<B: Backend> {
    pub(super) attention_norm: LayerNorm<B>,
    pub(super) attention: Attention<B>,
    pub(super) ff_norm: LayerNorm<B>,
    pub(super) ff: FeedForward<B>,
    pub(super) dropout: Dropout,
}

impl<B: Backend> EncoderLayer<B> {
    pub(super) fn forward(
        &self,
        x: Tensor<B, 3>,
        bias: Tensor<B, 4>,
        blocked: Tensor<B, 4, Bool>,
    ) -> Tensor<B, 3> {
        let attended = self.attention.forward(
            self.attention_norm.forward(x.clone()),
            Some(bias),
            Some(blocked),
        );
        let x = x + self.dropout.forward(attended);
        let transformed = self.ff.forward(self.ff_norm.forward(x.clone()));
        x + self.dropout.forward(transformed)
    }
}

/// Pre-LN decoder layer: causal self-attention, cross-attention to the encoder, feed-forward.
#[derive(Module, Debug)]
pub struct DecoderLayer<B: Backend> {
    pub(super) self_norm: LayerNorm<B>,
    pub(super) self_attention: Attention<B>,
    pub(super) cross_norm: LayerNorm<B>,
    pub(super) cross_attention: Attention<B>,
    pub(super) ff_norm: LayerNorm<B>,
    pub(super) ff: FeedForward<B>,
    pub(super) dropout: Dropout,
}

/// What decoding needs from the encoder: each layer's cross-attention keys and values and
/// which encoder positions are padding.
#[derive(Clone, Debug)]
pub struct EncodedPrefix<B: Backend> {
    pub cross: Vec<KeyValues<B>>,
    pub blocked: Tensor<B, 4, Bool>,
}

impl<B: Backend> EncodedPrefix<B> {
    /// The rows `indices` (beam reordering or expansion).
    pub fn select(&self, indices: Tensor<B, 1, Int>) -> Self {
        Self {
            cross: self
                .cross
                .iter()
                .map(|kv| kv.clone().select(indices.clone()))
                .collect(),
            blocked: self.blocked.clone().select(0, indices),
        }
    }
}

impl<B: Backend> DecoderLayer<B> {
    /// `x` attends to `self_kv` (its own keys and values, plus any cached earlier ones) and to
    /// the encoder through `cross`.
    pub(super) fn forward(
        &self,
        x: Tensor<B, 3>,
        self_kv: &KeyValues<B>,
        causal: Option<Tensor<B, 4, Bool>>,
        cross: &KeyValues<B>,
        cross_blocked: Tensor<B, 4, Bool>,
    ) -> Tensor<B, 3> {
        let normed = self.self_norm.forward(x.clone());
        let x = x + self
            .dropout
            .forward(self.self_attention.attend(normed, self_kv, None, causal));
        let normed = self.cross_norm.forward(x.clone());
        let x = x + self.dropout.forward(self.cross_attention.attend(
            normed,
            cross,
            None,
            Some(cross_blocked),
        ));
        let transformed = self.ff.forward(self.ff_norm.forward(x.clone()));
        x + self.dropout.forward(transformed)
    }
}
