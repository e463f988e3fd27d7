//! SimVLM's parameters and its forward passes: the prefix encoder, teacher-forced and cached
//! decoding, and the PrefixLM loss of a batch.

use burn::module::{Module, Param};
use burn::nn::{Dropout, Embedding, LayerNorm, Linear};
use burn::tensor::{backend::Backend, Int, Tensor, TensorData};
use contrastive_core::nn::{causal_blocked, padding_blocked, KeyValues, PositionWise, ResNet};
use contrastive_core::ContrastiveError;

use super::layers::{DecoderLayer, EncodedPrefix, EncoderLayer};

use crate::data::batcher::PrefixBatch;
use crate::objective::{prefix_lm_loss, PrefixLmOutput};

/// SimVLM: convolutional stem, Transformer encoder over the prefix, decoder, LM head.
#[derive(Module, Debug)]
pub struct SimVlm<B: Backend> {
    pub(super) stem: ResNet<B>,
    pub(super) patch_projection: Linear<B>,
    pub(super) image_positions: Embedding<B>,
    /// Per head, a learned logit bias for each relative (row, column) offset between two image
    /// tokens: `(2H − 1)(2W − 1)` entries.
    pub(super) relative_bias: Param<Tensor<B, 2>>,
    pub(super) token_embedding: Embedding<B>,
    pub(super) text_positions: Embedding<B>,
    pub(super) encoder: Vec<EncoderLayer<B>>,
    pub(super) encoder_norm: LayerNorm<B>,
    pub(super) decoder: Vec<DecoderLayer<B>>,
    pub(super) decoder_norm: LayerNorm<B>,
    pub(super) lm_head: Linear<B>,
    pub(super) dropout: Dropout,
    #[module(skip)]
    pub(super) grid: [usize; 2],
    #[module(skip)]
    pub(super) max_text_len: usize,
}

/// Index into the relative-bias table of every ordered pair of grid cells, row-major.
pub(super) fn relative_indices(rows: usize, cols: usize) -> Vec<i64> {
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

    /// The PrefixLM loss of a batch ([`prefix_lm_loss`]): the encoder reads the image and the
    /// text prefix, the decoder predicts the rest of the text with teacher forcing.
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
        prefix_lm_loss(logits, batch.labels.clone(), batch.decoder_mask.clone())
    }
}
