//! Everything a SimVLM run needs besides its data.

use burn::config::Config;
use contrastive_core::error::{check_dropout, check_non_negative, check_pieces, check_positive};
use contrastive_core::optim::LrDecay;
use contrastive_core::ContrastiveError;

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
    /// Examples per optimizer step.
    #[config(default = 64)]
    pub batch_size: usize,
    /// Gradient accumulation: each step runs its batch as this many micro-batches, one after
    /// the other, and sums their gradients into one optimizer step (exact for the per-token
    /// loss; the stem's BatchNorm normalises each micro-batch by its own statistics). Must
    /// divide `batch_size`; 1 runs the batch whole.
    #[config(default = 1)]
    pub accumulate_steps: usize,
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

impl SimvlmConfig {
    /// Checks what the types cannot, naming the first key out of range.
    pub fn validate(&self) -> Result<(), ContrastiveError> {
        self.model.validate()?;
        check_positive(&[
            ("epochs", self.epochs as f64),
            ("batch_size", self.batch_size as f64),
            ("learning_rate", self.learning_rate),
            ("vocab_size", self.vocab_size as f64),
        ])?;
        check_non_negative("weight_decay", self.weight_decay)?;
        check_dropout("word_dropout", self.word_dropout)?;
        check_pieces("accumulate_steps", self.accumulate_steps, self.batch_size)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_key_out_of_range() {
        assert!(SimvlmConfig::new().validate().is_ok());
        let cases = [
            ("epochs", SimvlmConfig::new().with_epochs(0)),
            ("batch_size", SimvlmConfig::new().with_batch_size(0)),
            (
                "learning_rate",
                SimvlmConfig::new().with_learning_rate(f64::NAN),
            ),
            ("word_dropout", SimvlmConfig::new().with_word_dropout(1.0)),
            ("weight_decay", SimvlmConfig::new().with_weight_decay(-1.0)),
            (
                "model.image_size",
                SimvlmConfig::new().with_model(SimvlmModelConfig::new().with_image_size(25)),
            ),
            (
                "model.heads",
                SimvlmConfig::new().with_model(SimvlmModelConfig::new().with_heads(3)),
            ),
        ];
        for (key, config) in cases {
            let message = config.validate().unwrap_err().to_string();
            assert!(message.contains(key), "{key}: {message}");
        }
    }
}
