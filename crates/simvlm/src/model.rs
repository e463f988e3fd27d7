//! The SimVLM encoder–decoder. The prefix — image tokens from a convolutional stem (the first
//! three ResNet stages), then the text prefix — is encoded with bidirectional attention (2-D
//! relative position biases among image tokens); the decoder predicts the rest of the text with
//! causal self-attention and cross-attention to the encoder.

use std::sync::Arc;

use burn::config::Config;
use burn::module::{Initializer, Module, Param};
use burn::nn::{
    Dropout, DropoutConfig, Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear,
    LinearConfig,
};
use burn::tensor::activation::{gelu, log_softmax};
use burn::tensor::{backend::Backend, Bool, Int, Tensor, TensorData};
use contrastive_core::nn::{
    causal_blocked, padding_blocked, Attention, AttentionConfig, KeyValues, PositionWise, ResNet,
    ResNetConfig, ResNetStem,
};
use contrastive_core::train::FiniteGuard;
use contrastive_core::ContrastiveError;

/// The architecture.
#[derive(Config, Debug)]
pub struct SimvlmModelConfig {
    /// The convolutional stem: a ResNet whose first `stages` (3, as in the paper) are kept.
    #[config(default = "ResNetConfig::new().with_stages(3).with_width_multiplier(0.25)")]
    pub stem: ResNetConfig,
    /// Side of the (square) input images in pixels.
    #[config(default = 24)]
    pub image_size: usize,
    /// Transformer width.
    #[config(default = 128)]
    pub d_model: usize,
    /// Attention heads.
    #[config(default = 4)]
    pub heads: usize,
    /// Encoder layers.
    #[config(default = 2)]
    pub encoder_layers: usize,
    /// Decoder layers.
    #[config(default = 2)]
    pub decoder_layers: usize,
    /// Width of the feed-forward layers.
    #[config(default = 512)]
    pub d_ff: usize,
    /// Dropout on residual branches and attention probabilities.
    #[config(default = 0.1)]
    pub dropout: f64,
    /// Longest text (prefix and target together, special tokens included).
    #[config(default = 40)]
    pub max_text_len: usize,
}

impl SimvlmModelConfig {
    /// Rows and columns of the image-token grid the stem produces.
    pub fn grid(&self) -> Result<(usize, usize), ContrastiveError> {
        let stem_factor = match self.stem.stem {
            ResNetStem::ImageNet => 4,
            ResNetStem::Cifar => 1,
        };
        let factor = stem_factor << self.stem.stages.saturating_sub(1);
        if self.image_size == 0 || !self.image_size.is_multiple_of(factor) {
            return Err(ContrastiveError::InvalidValue {
                key: "model.image_size",
                value: self.image_size as f64,
                expected: "a positive multiple of the stem's downsampling factor",
            });
        }
        let side = self.image_size / factor;
        Ok((side, side))
    }

    /// Builds the model for a vocabulary of `vocab_size` tokens.
    pub fn init<B: Backend>(
        &self,
        vocab_size: usize,
        device: &B::Device,
    ) -> Result<SimVlm<B>, ContrastiveError> {
        if self.heads == 0 || !self.d_model.is_multiple_of(self.heads) {
            return Err(ContrastiveError::InvalidValue {
                key: "model.heads",
                value: self.heads as f64,
                expected: "a divisor of model.d_model",
            });
        }
        let (rows, cols) = self.grid()?;
        let stem = self.stem.init(device)?;
        let d = self.d_model;
        let attention = || {
            AttentionConfig::new(d, self.heads)
                .with_dropout(self.dropout)
                .init(device)
        };
        let norm = || LayerNormConfig::new(d).init(device);
        let feed_forward = || FeedForward {
            expand: LinearConfig::new(d, self.d_ff).init(device),
            contract: LinearConfig::new(self.d_ff, d).init(device),
        };
        let dropout = || DropoutConfig::new(self.dropout).init();
        Ok(SimVlm {
            patch_projection: LinearConfig::new(stem.output_dim(), d).init(device),
            stem,
            image_positions: EmbeddingConfig::new(rows * cols, d).init(device),
            relative_bias: Initializer::Zeros
                .init([self.heads, (2 * rows - 1) * (2 * cols - 1)], device),
            token_embedding: EmbeddingConfig::new(vocab_size, d).init(device),
            text_positions: EmbeddingConfig::new(self.max_text_len, d).init(device),
            encoder: (0..self.encoder_layers)
                .map(|_| EncoderLayer {
                    attention_norm: norm(),
                    attention: attention(),
                    ff_norm: norm(),
                    ff: feed_forward(),
                    dropout: dropout(),
                })
                .collect(),
            encoder_norm: norm(),
            decoder: (0..self.decoder_layers)
                .map(|_| DecoderLayer {
                    self_norm: norm(),
                    self_attention: attention(),
                    cross_norm: norm(),
                    cross_attention: attention(),
                    ff_norm: norm(),
                    ff: feed_forward(),
                    dropout: dropout(),
                })
                .collect(),
            decoder_norm: norm(),
            lm_head: LinearConfig::new(d, vocab_size).init(device),
            dropout: dropout(),
            grid: [rows, cols],
            max_text_len: self.max_text_len,
            finite_guard: None,
        })
    }
}

/// `W₂ GELU(W₁ x)`.
#[derive(Module, Debug)]
pub struct FeedForward<B: Backend> {
    expand: Linear<B>,
    contract: Linear<B>,
}

impl<B: Backend> FeedForward<B> {
    fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        self.contract
            .forward_positions(gelu(self.expand.forward_positions(x)))
    }
}

/// Pre-LN encoder layer: `x += Attn(LN x)`, `x += FF(LN x)`.
#[derive(Module, Debug)]
pub struct EncoderLayer<B: Backend> {
    attention_norm: LayerNorm<B>,
    attention: Attention<B>,
    ff_norm: LayerNorm<B>,
    ff: FeedForward<B>,
    dropout: Dropout,
}

impl<B: Backend> EncoderLayer<B> {
    fn forward(
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
    self_norm: LayerNorm<B>,
    self_attention: Attention<B>,
    cross_norm: LayerNorm<B>,
    cross_attention: Attention<B>,
    ff_norm: LayerNorm<B>,
    ff: FeedForward<B>,
    dropout: Dropout,
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
    fn forward(
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

/// A PrefixLM batch. The encoder sees the images (if any) and `prefix_ids`; the decoder reads
/// `decoder_ids` (`[BOS]` + target) and is scored on `labels` (target + `[EOS]`) where
/// `decoder_mask` is 1.
#[derive(Clone, Debug)]
pub struct PrefixBatch<B: Backend> {
    pub images: Option<Tensor<B, 4>>,
    /// `[batch, 1]`: 1 for rows with an image, 0 for text-only rows whose (blank) image tokens
    /// are masked out of attention. `None`: every row has one.
    pub image_rows: Option<Tensor<B, 2, Int>>,
    pub prefix_ids: Tensor<B, 2, Int>,
    pub prefix_mask: Tensor<B, 2, Int>,
    pub decoder_ids: Tensor<B, 2, Int>,
    /// Text positions of the decoder tokens (they continue after each row's prefix).
    pub decoder_positions: Tensor<B, 2, Int>,
    pub decoder_mask: Tensor<B, 2, Int>,
    pub labels: Tensor<B, 2, Int>,
    /// Seeds the dropout masks of the training step (see `content_seed`).
    pub noise_seed: u64,
}

/// The mean token loss of a batch and what the metrics need.
pub struct PrefixLmOutput<B: Backend> {
    pub loss: Tensor<B, 1>,
    /// Correctly predicted target tokens and target tokens, `[1]` each.
    pub correct: Tensor<B, 1, Int>,
    pub tokens: Tensor<B, 1, Int>,
}

/// SimVLM: convolutional stem, Transformer encoder over the prefix, decoder, LM head.
#[derive(Module, Debug)]
pub struct SimVlm<B: Backend> {
    stem: ResNet<B>,
    patch_projection: Linear<B>,
    image_positions: Embedding<B>,
    /// Per head, a learned logit bias for each relative (row, column) offset between two image
    /// tokens: `(2H − 1)(2W − 1)` entries.
    relative_bias: Param<Tensor<B, 2>>,
    token_embedding: Embedding<B>,
    text_positions: Embedding<B>,
    encoder: Vec<EncoderLayer<B>>,
    encoder_norm: LayerNorm<B>,
    decoder: Vec<DecoderLayer<B>>,
    decoder_norm: LayerNorm<B>,
    lm_head: Linear<B>,
    dropout: Dropout,
    #[module(skip)]
    grid: [usize; 2],
    #[module(skip)]
    max_text_len: usize,
    #[module(skip)]
    finite_guard: Option<Arc<FiniteGuard>>,
}

/// Index into the relative-bias table of every ordered pair of grid cells, row-major.
fn relative_indices(rows: usize, cols: usize) -> Vec<i64> {
    let cells = rows * cols;
    let mut indices = Vec::with_capacity(cells * cells);
    for i in 0..cells {
        for j in 0..cells {
            let dr = (i / cols) as i64 - (j / cols) as i64 + rows as i64 - 1;
            let dc = (i % cols) as i64 - (j % cols) as i64 + cols as i64 - 1;
            indices.push(dr * (2 * cols as i64 - 1) + dc);
        }
    }
    indices
}

impl<B: Backend> SimVlm<B> {
    /// Checks every training step's loss and gradients with `guard`.
    pub fn with_finite_guard(mut self, guard: Arc<FiniteGuard>) -> Self {
        self.finite_guard = Some(guard);
        self
    }

    pub fn finite_guard(&self) -> Option<&FiniteGuard> {
        self.finite_guard.as_deref()
    }

    /// Starts the patch stem from a trained ResNet of the same depth and width, e.g. a SimCLR
    /// encoder (the paper's stem is trained from scratch; this is an option for small data).
    pub fn with_stem_from(mut self, trained: ResNet<B>) -> Result<Self, ContrastiveError> {
        self.stem = self.stem.with_leading_stages_of(trained)?;
        Ok(self)
    }

    /// Longest text the position embedding covers.
    pub fn max_text_len(&self) -> usize {
        self.max_text_len
    }

    /// Image tokens `[batch, H·W, d]`: stem feature maps as a sequence, projected, plus the image
    /// position embedding.
    fn image_tokens(&self, images: Tensor<B, 4>) -> Tensor<B, 3> {
        let features = self.stem.forward_features(images);
        let [batch, channels, rows, cols] = features.dims();
        let tokens = features
            .reshape([batch, channels, rows * cols])
            .swap_dims(1, 2);
        let positions = Tensor::<B, 1, Int>::arange(0..(rows * cols) as i64, &tokens.device())
            .reshape([1, rows * cols]);
        self.patch_projection.forward_positions(tokens) + self.image_positions.forward(positions)
    }

    /// The 2-D relative bias among the first `image_len` of `len` encoder positions (zero
    /// elsewhere), `[1, heads, len, len]`.
    fn encoder_bias(&self, image_len: usize, len: usize, device: &B::Device) -> Tensor<B, 4> {
        let [heads, _] = self.relative_bias.dims();
        let mut bias = Tensor::<B, 3>::zeros([heads, len, len], device);
        if image_len > 0 {
            let [rows, cols] = self.grid;
            let indices = Tensor::<B, 1, Int>::from_data(
                TensorData::new(relative_indices(rows, cols), [image_len * image_len]),
                device,
            );
            let image = self
                .relative_bias
                .val()
                .select(1, indices)
                .reshape([heads, image_len, image_len]);
            bias = bias.slice_assign([0..heads, 0..image_len, 0..image_len], image);
        }
        bias.unsqueeze_dim(0)
    }

    /// Runs the encoder over `[image tokens ; prefix text]` and prepares the decoder's
    /// cross-attention.
    pub fn encode(
        &self,
        images: Option<Tensor<B, 4>>,
        prefix_ids: Tensor<B, 2, Int>,
        prefix_mask: Tensor<B, 2, Int>,
    ) -> EncodedPrefix<B> {
        self.encode_rows(images, None, prefix_ids, prefix_mask)
    }

    /// [`encode`](Self::encode) for a batch mixing image–text and text-only rows: where
    /// `image_rows` (`[batch, 1]`) is 0 the row's image tokens are blocked, so it is encoded as
    /// if it had no image.
    pub fn encode_rows(
        &self,
        images: Option<Tensor<B, 4>>,
        image_rows: Option<Tensor<B, 2, Int>>,
        prefix_ids: Tensor<B, 2, Int>,
        prefix_mask: Tensor<B, 2, Int>,
    ) -> EncodedPrefix<B> {
        let [batch, text_len] = prefix_ids.dims();
        let device = prefix_ids.device();
        let positions =
            Tensor::<B, 1, Int>::arange(0..text_len as i64, &device).reshape([1, text_len]);
        let text =
            self.token_embedding.forward(prefix_ids) + self.text_positions.forward(positions);
        let (mut x, mask) = match images {
            Some(images) => {
                let image = self.image_tokens(images);
                let [_, image_len, _] = image.dims();
                let image_mask = match image_rows {
                    Some(rows) => rows.repeat_dim(1, image_len),
                    None => Tensor::<B, 2, Int>::ones([batch, image_len], &device),
                };
                (
                    Tensor::cat(vec![image, text], 1),
                    Tensor::cat(vec![image_mask, prefix_mask], 1),
                )
            }
            None => (text, prefix_mask),
        };
        let [_, len, _] = x.dims();
        let image_len = len - text_len;
        let bias = self.encoder_bias(image_len, len, &device);
        let blocked = padding_blocked(mask);
        x = self.dropout.forward(x);
        for layer in &self.encoder {
            x = layer.forward(x, bias.clone(), blocked.clone());
        }
        let memory = self.encoder_norm.forward(x);
        EncodedPrefix {
            cross: self
                .decoder
                .iter()
                .map(|layer| layer.cross_attention.key_values(memory.clone()))
                .collect(),
            blocked,
        }
    }

    fn embed_decoder(&self, ids: Tensor<B, 2, Int>, positions: Tensor<B, 2, Int>) -> Tensor<B, 3> {
        let positions = positions.clamp_max(self.max_text_len as i64 - 1);
        self.dropout
            .forward(self.token_embedding.forward(ids) + self.text_positions.forward(positions))
    }

    /// Next-token logits `[batch, len, vocab]` for every decoder position (teacher forcing).
    pub fn decode(
        &self,
        prefix: &EncodedPrefix<B>,
        decoder_ids: Tensor<B, 2, Int>,
        decoder_positions: Tensor<B, 2, Int>,
    ) -> Tensor<B, 3> {
        let [_, len] = decoder_ids.dims();
        let device = decoder_ids.device();
        let mut x = self.embed_decoder(decoder_ids, decoder_positions);
        let causal = causal_blocked::<B>(len, &device);
        for (layer, cross) in self.decoder.iter().zip(&prefix.cross) {
            let self_kv = layer
                .self_attention
                .key_values(layer.self_norm.forward(x.clone()));
            x = layer.forward(
                x,
                &self_kv,
                Some(causal.clone()),
                cross,
                prefix.blocked.clone(),
            );
        }
        self.lm_head.forward_positions(self.decoder_norm.forward(x))
    }

    /// One decoding step: logits `[batch, vocab]` for the token after `token` `[batch, 1]`
    /// at text position `position`, growing each layer's self-attention `cache`.
    pub fn decode_step(
        &self,
        prefix: &EncodedPrefix<B>,
        token: Tensor<B, 2, Int>,
        position: Tensor<B, 2, Int>,
        cache: &mut Vec<Option<KeyValues<B>>>,
    ) -> Tensor<B, 2> {
        cache.resize(self.decoder.len(), None);
        let mut x = self.embed_decoder(token, position);
        for ((layer, cross), slot) in self.decoder.iter().zip(&prefix.cross).zip(cache.iter_mut()) {
            let kv = layer
                .self_attention
                .key_values(layer.self_norm.forward(x.clone()));
            let kv = match slot.take() {
                Some(previous) => previous.append(kv),
                None => kv,
            };
            x = layer.forward(x, &kv, None, cross, prefix.blocked.clone());
            *slot = Some(kv);
        }
        let [batch, _, d] = x.dims();
        self.lm_head
            .forward(self.decoder_norm.forward(x).reshape([batch, d]))
    }

    /// PrefixLM loss: mean negative log-likelihood of the target tokens (padding excluded).
    pub fn forward(&self, batch: &PrefixBatch<B>) -> PrefixLmOutput<B> {
        let prefix = self.encode_rows(
            batch.images.clone(),
            batch.image_rows.clone(),
            batch.prefix_ids.clone(),
            batch.prefix_mask.clone(),
        );
        let logits = self.decode(
            &prefix,
            batch.decoder_ids.clone(),
            batch.decoder_positions.clone(),
        );
        let [rows, len, _] = logits.dims();
        let log_probs = log_softmax(logits.clone(), 2);
        let target_log_probs = log_probs
            .gather(2, batch.labels.clone().reshape([rows, len, 1]))
            .reshape([rows, len]);
        let mask = batch.decoder_mask.clone();
        let tokens = mask.clone().sum();
        let loss = -(target_log_probs * mask.clone().float()).sum()
            / tokens.clone().float().clamp_min(1.0);
        let correct = logits
            .argmax(2)
            .reshape([rows, len])
            .equal(batch.labels.clone())
            .int()
            .mul(mask)
            .sum();
        PrefixLmOutput {
            loss,
            correct,
            tokens,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_indices_depend_only_on_the_offset() {
        let (rows, cols) = (3, 4);
        let indices = relative_indices(rows, cols);
        let cells = rows * cols;
        let at = |i: usize, j: usize| indices[i * cells + j];
        // Same offset (one row down, two columns right) from two different cells.
        assert_eq!(at(0, 6), at(1, 7));
        assert_ne!(at(0, 6), at(0, 7));
        // Zero offset is the table's centre; all indices are inside the table.
        assert_eq!(at(5, 5), ((rows - 1) * (2 * cols - 1) + cols - 1) as i64);
        let table = ((2 * rows - 1) * (2 * cols - 1)) as i64;
        assert!(indices.iter().all(|&k| (0..table).contains(&k)));
        let distinct: std::collections::HashSet<_> = indices.iter().collect();
        assert_eq!(distinct.len() as i64, table);
    }
}

#[cfg(test)]
pub(crate) mod model_tests {
    use super::*;
    use burn::backend::{Autodiff, NdArray};
    use burn::optim::{AdamConfig, GradientsParams, Optimizer};

    type B = Autodiff<NdArray>;

    pub fn tiny_config() -> SimvlmModelConfig {
        SimvlmModelConfig::new()
            .with_stem(
                ResNetConfig::new()
                    .with_stages(3)
                    .with_width_multiplier(0.125),
            )
            .with_image_size(16)
            .with_d_model(16)
            .with_heads(2)
            .with_d_ff(32)
            .with_dropout(0.0)
            .with_max_text_len(12)
    }

    fn ints<Be: Backend>(rows: &[&[i64]]) -> Tensor<Be, 2, Int> {
        let len = rows[0].len();
        let values: Vec<i64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        Tensor::from_data(
            TensorData::new(values, [rows.len(), len]),
            &Default::default(),
        )
    }

    pub fn batch<Be: Backend>(prefix_padding: usize) -> PrefixBatch<Be> {
        let images: Vec<f32> = (0..2 * 3 * 16 * 16)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 6.0)
            .collect();
        let pad = vec![0i64; prefix_padding];
        let prefix_a: Vec<i64> = [1i64, 5, 6].iter().copied().chain(pad.clone()).collect();
        let prefix_b: Vec<i64> = [1i64, 7, 0].iter().copied().chain(pad).collect();
        let mask_of = |p: &[i64]| -> Vec<i64> {
            p.iter()
                .enumerate()
                .map(|(i, &t)| i64::from(i == 0 || t != 0))
                .collect()
        };
        PrefixBatch {
            images: Some(Tensor::from_data(
                TensorData::new(images, [2, 3, 16, 16]),
                &Default::default(),
            )),
            image_rows: None,
            prefix_ids: ints(&[&prefix_a, &prefix_b]),
            prefix_mask: ints(&[&mask_of(&prefix_a), &mask_of(&prefix_b)]),
            decoder_ids: ints(&[&[1, 8, 9, 10], &[1, 11, 12, 0]]),
            decoder_positions: ints(&[&[3, 4, 5, 6], &[2, 3, 4, 5]]),
            decoder_mask: ints(&[&[1, 1, 1, 1], &[1, 1, 1, 0]]),
            labels: ints(&[&[8, 9, 10, 2], &[11, 12, 2, 0]]),
            noise_seed: 0,
        }
    }

    #[test]
    fn prefix_padding_does_not_change_the_loss() {
        let device = Default::default();
        let model = tiny_config().init::<NdArray>(20, &device).unwrap();
        let a = model.forward(&batch(0)).loss.into_scalar();
        let b = model.forward(&batch(3)).loss.into_scalar();
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        assert!(a.is_finite() && a > 0.0);
    }

    fn with_ints<Be: Backend>(
        t: &Tensor<Be, 2, Int>,
        row: usize,
        col: usize,
        value: i64,
    ) -> Tensor<Be, 2, Int> {
        let [rows, cols] = t.dims();
        let mut values = t.to_data().to_vec::<i64>().unwrap();
        values[row * cols + col] = value;
        Tensor::from_data(TensorData::new(values, [rows, cols]), &t.device())
    }

    #[test]
    fn a_text_only_row_of_a_mixed_batch_is_encoded_as_if_it_had_no_image() {
        let device = Default::default();
        let model = tiny_config().init::<NdArray>(20, &device).unwrap();
        let logits = |batch: &PrefixBatch<NdArray>| {
            let prefix = model.encode_rows(
                batch.images.clone(),
                batch.image_rows.clone(),
                batch.prefix_ids.clone(),
                batch.prefix_mask.clone(),
            );
            model.decode(
                &prefix,
                batch.decoder_ids.clone(),
                batch.decoder_positions.clone(),
            )
        };
        let mut mixed = batch::<NdArray>(0);
        mixed.image_rows = Some(ints(&[&[1], &[0]]));
        let row = |t: &Tensor<NdArray, 2, Int>| t.clone().slice(1..2);
        let text_only = PrefixBatch {
            images: None,
            image_rows: None,
            prefix_ids: row(&mixed.prefix_ids),
            prefix_mask: row(&mixed.prefix_mask),
            decoder_ids: row(&mixed.decoder_ids),
            decoder_positions: row(&mixed.decoder_positions),
            decoder_mask: row(&mixed.decoder_mask),
            labels: row(&mixed.labels),
            noise_seed: 0,
        };
        let from_mixed = logits(&mixed).slice(1..2);
        let alone = logits(&text_only);
        let difference = (from_mixed.clone() - alone).abs().max().into_scalar();
        assert!(difference < 1e-5, "text-only row differs by {difference}");
        // The image row still sees its image: without the mask row 0 would be unchanged too,
        // so check the mask really switched something off in row 1.
        let unmasked = logits(&batch::<NdArray>(0)).slice(1..2);
        let effect = (unmasked - from_mixed).abs().max().into_scalar();
        assert!(
            effect > 1e-4,
            "the image changes row 1 when not masked: {effect}"
        );
    }

    #[test]
    fn the_loss_ignores_padded_labels_and_counts_only_target_tokens() {
        let device = Default::default();
        let model = tiny_config().init::<NdArray>(20, &device).unwrap();
        let batch = batch::<NdArray>(0);
        let out = model.forward(&batch);
        assert_eq!(
            out.tokens.into_scalar(),
            7,
            "4 + 3 target tokens, padding excluded"
        );
        // A different label where the decoder mask is 0 leaves the loss unchanged…
        let mut padded = batch.clone();
        padded.labels = with_ints(&batch.labels, 1, 3, 17);
        let same = model.forward(&padded).loss.into_scalar();
        assert!((same - out.loss.clone().into_scalar()).abs() < 1e-6);
        // …while a different target token changes it.
        let mut changed = batch.clone();
        changed.labels = with_ints(&batch.labels, 1, 1, 17);
        let other = model.forward(&changed).loss.into_scalar();
        assert!((other - out.loss.into_scalar()).abs() > 1e-4);
    }

    #[test]
    fn the_decoder_is_causal_and_the_prefix_bidirectional() {
        let device = Default::default();
        let model = tiny_config().init::<NdArray>(20, &device).unwrap();
        let batch = batch::<NdArray>(0);
        let logits = |b: &PrefixBatch<NdArray>| {
            let prefix = model.encode(
                b.images.clone(),
                b.prefix_ids.clone(),
                b.prefix_mask.clone(),
            );
            model.decode(&prefix, b.decoder_ids.clone(), b.decoder_positions.clone())
        };
        let base = logits(&batch);
        // A later decoder token does not change the logits before it.
        let mut future = batch.clone();
        future.decoder_ids = with_ints(&batch.decoder_ids, 0, 3, 15);
        let after = logits(&future);
        base.clone()
            .slice([0..1, 0..3])
            .into_data()
            .assert_approx_eq::<f32>(
                &after.clone().slice([0..1, 0..3]).into_data(),
                burn::tensor::Tolerance::absolute(1e-6),
            );
        let moved = (base.clone().slice([0..1, 3..4]) - after.slice([0..1, 3..4]))
            .abs()
            .max()
            .into_scalar();
        assert!(moved > 1e-4, "the changed position itself does change");
        // The last prefix token reaches the first image token's encoding (no causal prefix).
        let prefix = model.encode(
            batch.images.clone(),
            batch.prefix_ids.clone(),
            batch.prefix_mask.clone(),
        );
        let mut late = batch.clone();
        late.prefix_ids = with_ints(&batch.prefix_ids, 0, 2, 13);
        let changed = model.encode(
            late.images.clone(),
            late.prefix_ids.clone(),
            late.prefix_mask.clone(),
        );
        let first_key =
            |p: &EncodedPrefix<NdArray>| p.cross[0].keys.clone().slice([0..1, 0..2, 0..1]);
        let difference = (first_key(&prefix) - first_key(&changed))
            .abs()
            .max()
            .into_scalar();
        assert!(
            difference > 1e-5,
            "image token 0 sees the text prefix: {difference}"
        );
    }

    #[test]
    fn cached_decoding_matches_teacher_forcing() {
        let device = Default::default();
        let model = tiny_config().init::<NdArray>(20, &device).unwrap();
        let batch = batch::<NdArray>(0);
        let prefix = model.encode(
            batch.images.clone(),
            batch.prefix_ids.clone(),
            batch.prefix_mask.clone(),
        );
        let full = model.decode(
            &prefix,
            batch.decoder_ids.clone(),
            batch.decoder_positions.clone(),
        );
        let mut cache = Vec::new();
        for t in 0..4 {
            let step = model.decode_step(
                &prefix,
                batch.decoder_ids.clone().slice([0..2, t..t + 1]),
                batch.decoder_positions.clone().slice([0..2, t..t + 1]),
                &mut cache,
            );
            step.into_data().assert_approx_eq::<f32>(
                &full
                    .clone()
                    .slice([0..2, t..t + 1])
                    .reshape([2, 20])
                    .into_data(),
                burn::tensor::Tolerance::absolute(1e-4),
            );
        }
    }

    #[test]
    fn training_steps_lower_the_prefix_lm_loss() {
        let device = Default::default();
        let mut model = tiny_config().init::<B>(20, &device).unwrap();
        let batch = batch::<B>(0);
        let mut optim = AdamConfig::new().init();
        let before = model.forward(&batch).loss.into_scalar();
        for _ in 0..10 {
            let loss = model.forward(&batch).loss;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(3e-3, model, grads);
        }
        let after = model.forward(&batch).loss.into_scalar();
        assert!(
            after < before * 0.8,
            "loss did not fall: {before} -> {after}"
        );
    }
}
