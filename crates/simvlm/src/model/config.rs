//! The architecture's hyper-parameters and the construction of a [`SimVlm`] from them.

use burn::config::Config;
use burn::module::Initializer;
use burn::nn::{DropoutConfig, EmbeddingConfig, LayerNormConfig, LinearConfig};
use burn::tensor::backend::Backend;
use contrastive_core::error::check_dropout;
use contrastive_core::nn::{AttentionConfig, ResNetConfig, ResNetStem};
use contrastive_core::ContrastiveError;

use super::encoder_decoder::SimVlm;
use super::layers::{DecoderLayer, EncoderLayer, FeedForward};

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

    /// Checks what the types cannot: an image grid the stem can produce, heads dividing the
    /// width, a text of at least `[BOS]` and one token.
    pub fn validate(&self) -> Result<(), ContrastiveError> {
        self.grid()?;
        if self.heads == 0 || !self.d_model.is_multiple_of(self.heads) {
            return Err(ContrastiveError::InvalidValue {
                key: "model.heads",
                value: self.heads as f64,
                expected: "a divisor of model.d_model",
            });
        }
        if self.max_text_len < 2 {
            return Err(ContrastiveError::InvalidValue {
                key: "model.max_text_len",
                value: self.max_text_len as f64,
                expected: ">= 2",
            });
        }
        check_dropout("model.dropout", self.dropout)
    }

    /// Builds the model for a vocabulary of `vocab_size` tokens.
    pub fn init<B: Backend>(
        &self,
        vocab_size: usize,
        device: &B::Device,
    ) -> Result<SimVlm<B>, ContrastiveError> {
        self.validate()?;
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
        })
    }
}
