//! Multi-head scaled dot-product attention with an additive logit bias (e.g. SimVLM's 2-D
//! relative positions), a blocking mask, and keys/values that can be computed once and reused
//! (cross-attention) or grown step by step (a decoder's cache).

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::softmax;
use burn::tensor::{backend::Backend, Bool, Tensor};

use super::position_wise::PositionWise;

/// Configuration of [`Attention`].
#[derive(Config, Debug)]
pub struct AttentionConfig {
    /// Model width `d`.
    pub d_model: usize,
    /// Heads; `d_model` must be a multiple.
    pub heads: usize,
    /// Dropout on the attention probabilities.
    #[config(default = 0.0)]
    pub dropout: f64,
}

/// `softmax(QKᵀ/√d_h + bias, blocked → −∞) V`, per head, then the output projection.
#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    pub query: Linear<B>,
    pub key: Linear<B>,
    pub value: Linear<B>,
    pub output: Linear<B>,
    dropout: Dropout,
    heads: usize,
}

/// Keys and values split into heads, `[batch, heads, len, d_h]` each.
#[derive(Clone, Debug)]
pub struct KeyValues<B: Backend> {
    pub keys: Tensor<B, 4>,
    pub values: Tensor<B, 4>,
}

impl<B: Backend> KeyValues<B> {
    /// These keys and values followed by `next`'s along the sequence.
    pub fn append(self, next: KeyValues<B>) -> Self {
        Self {
            keys: Tensor::cat(vec![self.keys, next.keys], 2),
            values: Tensor::cat(vec![self.values, next.values], 2),
        }
    }

    /// The rows `indices` of the batch (reordering beams).
    pub fn select(self, indices: Tensor<B, 1, burn::tensor::Int>) -> Self {
        Self {
            keys: self.keys.select(0, indices.clone()),
            values: self.values.select(0, indices),
        }
    }
}

impl AttentionConfig {
    pub fn init<B: Backend>(&self, device: &B::Device) -> Attention<B> {
        assert!(
            self.heads > 0 && self.d_model.is_multiple_of(self.heads),
            "d_model {} is not a multiple of heads {}",
            self.d_model,
            self.heads
        );
        let linear = || LinearConfig::new(self.d_model, self.d_model).init(device);
        Attention {
            query: linear(),
            key: linear(),
            value: linear(),
            output: linear(),
            dropout: DropoutConfig::new(self.dropout).init(),
            heads: self.heads,
        }
    }
}

impl<B: Backend> Attention<B> {
    /// The same attention with dropout `p` on its probabilities.
    pub fn with_dropout(mut self, p: f64) -> Self {
        self.dropout = DropoutConfig::new(p).init();
        self
    }

    fn split(&self, x: Tensor<B, 3>) -> Tensor<B, 4> {
        let [batch, len, d] = x.dims();
        x.reshape([batch, len, self.heads, d / self.heads])
            .swap_dims(1, 2)
    }

    /// Keys and values of `x` `[batch, len, d]`.
    pub fn key_values(&self, x: Tensor<B, 3>) -> KeyValues<B> {
        KeyValues {
            keys: self.split(self.key.forward_positions(x.clone())),
            values: self.split(self.value.forward_positions(x)),
        }
    }

    /// Queries `x` `[batch, q_len, d]` attend to `kv`. `bias` `[batch or 1, heads, q_len,
    /// k_len]` is added to the logits; `blocked` `[batch, 1, q_len or 1, k_len]` is true where a
    /// query may not look (padding, the future). Every query must see at least one key.
    pub fn attend(
        &self,
        x: Tensor<B, 3>,
        kv: &KeyValues<B>,
        bias: Option<Tensor<B, 4>>,
        blocked: Option<Tensor<B, 4, Bool>>,
    ) -> Tensor<B, 3> {
        let [batch, q_len, d] = x.dims();
        let q = self.split(self.query.forward_positions(x));
        let [_, heads, k_len, head_dim] = kv.keys.dims();
        let mut scores = q
            .matmul(kv.keys.clone().swap_dims(2, 3))
            .div_scalar((head_dim as f64).sqrt());
        if let Some(bias) = bias {
            scores = scores + bias.expand([batch, heads, q_len, k_len]);
        }
        if let Some(blocked) = blocked {
            scores = scores.mask_fill(
                blocked.expand([batch, heads, q_len, k_len]),
                f32::NEG_INFINITY,
            );
        }
        let probs = self.dropout.forward(softmax(scores, 3));
        let attended = probs
            .matmul(kv.values.clone())
            .swap_dims(1, 2)
            .reshape([batch, q_len, d]);
        self.output.forward_positions(attended)
    }

    /// Self-attention of `x` over itself.
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        bias: Option<Tensor<B, 4>>,
        blocked: Option<Tensor<B, 4, Bool>>,
    ) -> Tensor<B, 3> {
        let kv = self.key_values(x.clone());
        self.attend(x, &kv, bias, blocked)
    }
}

/// `[batch, 1, 1, len]`: true at padded key positions (`mask` is 1 for tokens, 0 for padding).
pub fn padding_blocked<B: Backend>(mask: Tensor<B, 2, burn::tensor::Int>) -> Tensor<B, 4, Bool> {
    let [batch, len] = mask.dims();
    mask.equal_elem(0).reshape([batch, 1, 1, len])
}

/// `[1, 1, len, len]`: true above the diagonal (a position may not see later ones).
pub fn causal_blocked<B: Backend>(len: usize, device: &B::Device) -> Tensor<B, 4, Bool> {
    Tensor::<B, 2, Bool>::tril_mask([len, len], 0, device).reshape([1, 1, len, len])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_backend::TestBackend;
    use burn::tensor::{Int, TensorData};

    fn input(batch: usize, len: usize, d: usize) -> Tensor<TestBackend, 3> {
        let values: Vec<f64> = (0..batch * len * d)
            .map(|i| ((i * 37 % 17) as f64 - 8.0) / 8.0)
            .collect();
        Tensor::from_data(
            TensorData::new(values, [batch, len, d]),
            &Default::default(),
        )
    }

    #[test]
    fn padded_keys_do_not_change_the_output() {
        let device = Default::default();
        let attention = AttentionConfig::new(8, 2).init::<TestBackend>(&device);
        let x = input(1, 5, 8);
        let mask = Tensor::<TestBackend, 2, Int>::from_data(
            TensorData::from([[1i64, 1, 1, 0, 0]]),
            &device,
        );
        let padded = attention.forward(x.clone(), None, Some(padding_blocked(mask)));
        let short = attention.forward(x.clone().slice([0..1, 0..3]), None, None);
        padded
            .slice([0..1, 0..3])
            .into_data()
            .assert_approx_eq::<f64>(&short.into_data(), burn::tensor::Tolerance::absolute(1e-10));
    }

    #[test]
    fn causal_attention_matches_growing_the_cache_one_step_at_a_time() {
        let device = Default::default();
        let attention = AttentionConfig::new(8, 2).init::<TestBackend>(&device);
        let x = input(2, 4, 8);
        let full = attention.forward(x.clone(), None, Some(causal_blocked(4, &device)));
        let mut cache: Option<KeyValues<TestBackend>> = None;
        for t in 0..4 {
            let step = x.clone().slice([0..2, t..t + 1]);
            let kv = attention.key_values(step.clone());
            let kv = match cache.take() {
                Some(previous) => previous.append(kv),
                None => kv,
            };
            let out = attention.attend(step, &kv, None, None);
            out.into_data().assert_approx_eq::<f64>(
                &full.clone().slice([0..2, t..t + 1]).into_data(),
                burn::tensor::Tolerance::absolute(1e-10),
            );
            cache = Some(kv);
        }
    }

    #[test]
    fn the_bias_is_added_to_the_logits() {
        let device = Default::default();
        let attention = AttentionConfig::new(4, 1).init::<TestBackend>(&device);
        let x = input(1, 3, 4);
        // A huge bias towards key 2 makes every query return value 2's projection.
        let mut bias = vec![0.0f64; 9];
        for q in 0..3 {
            bias[q * 3 + 2] = 1e4;
        }
        let bias = Tensor::from_data(TensorData::new(bias, [1, 1, 3, 3]), &device);
        let out = attention.forward(x.clone(), Some(bias), None);
        let expected = attention
            .output
            .forward(attention.value.forward(x.slice([0..1, 2..3])));
        for q in 0..3 {
            out.clone()
                .slice([0..1, q..q + 1])
                .into_data()
                .assert_approx_eq::<f64>(
                    &expected.clone().into_data(),
                    burn::tensor::Tolerance::absolute(1e-8),
                );
        }
    }
}
