//! Everything a SimVLM run needs besides its data.

use burn::config::Config;
use contrastive_core::optim::LrDecay;

use crate::decode::DecodeConfig;
use crate::model::SimvlmModelConfig;

/// Model, optimisation, tokenizer size and decoding of a SimVLM run (sized for a CPU run on
/// the generated scenes by default).
#[derive(Config, Debug)]
pub struct SimvlmConfig {
    /// The architecture.
    #[config(default = "SimvlmModelConfig::new()")]
    pub model: SimvlmModelConfig,
    /// Peak AdamW learning rate.
    #[config(default = 1e-3)]
    pub learning_rate: f64,
    /// AdamW decoupled weight decay.
    #[config(default = 0.01)]
    pub weight_decay: f64,
    /// Steps of linear warm-up.
    #[config(default = 200)]
    pub warmup_steps: usize,
    /// Decay after the warm-up.
    #[config(default = "LrDecay::Cosine")]
    pub decay: LrDecay,
    /// Passes over the training examples.
    #[config(default = 6)]
    pub epochs: usize,
    /// Examples per batch.
    #[config(default = 64)]
    pub batch_size: usize,
    /// Words kept by the trained tokenizer (special tokens included).
    #[config(default = 2000)]
    pub vocab_size: usize,
    /// Probability that a decoder input word reads as `[UNK]` while training (word dropout, so
    /// the decoder relies on the image more than on the previous word).
    #[config(default = 0.25)]
    pub word_dropout: f64,
    /// Data-loading threads.
    #[config(default = 2)]
    pub num_workers: usize,
    /// Seed of weights, data order, prefix splits and generated data.
    #[config(default = 42)]
    pub seed: u64,
    /// Generation for evaluation and the `caption`/`ask` commands.
    #[config(default = "DecodeConfig::new()")]
    pub decode: DecodeConfig,
}
