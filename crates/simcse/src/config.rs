//! BERT's configuration, mirroring the fields of a Hugging Face `config.json` that the
//! architecture depends on (other fields in the file are ignored).

use serde::{Deserialize, Serialize};

use contrastive_core::error::{
    check_dropout, check_non_negative, check_pieces, check_positive, check_temperature,
};
use contrastive_core::optim::LrDecay;
use contrastive_core::ContrastiveError;

use crate::pooling::Pooler;

/// The architecture of a BERT encoder, as Hugging Face writes it in `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    /// Tokens in the vocabulary (rows of the word embedding).
    pub vocab_size: usize,
    /// Width `d` of every hidden state.
    pub hidden_size: usize,
    /// Transformer layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer (`hidden_size` must be a multiple).
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Activation of the feed-forward layer; only `gelu` (exact, erf-based) is supported.
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Dropout on hidden states (the SimCSE augmentation, with the next one).
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f64,
    /// Dropout on attention probabilities.
    #[serde(default = "default_dropout")]
    pub attention_probs_dropout_prob: f64,
    /// Rows of the learned position embedding (longest input).
    pub max_position_embeddings: usize,
    /// Segment types (2 for BERT).
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    /// LayerNorm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Id of the padding token.
    #[serde(default)]
    pub pad_token_id: usize,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_dropout() -> f64 {
    0.1
}
fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}

/// Which SimCSE objective trains the encoder.
#[derive(burn::config::Config, Debug, PartialEq, Copy)]
pub enum Mode {
    /// Each sentence against itself under another dropout mask.
    Unsup,
    /// NLI premise against its entailment, with the contradiction as a hard negative.
    Sup,
}

/// The model and objective of a SimCSE run (the reference code's defaults for BERT-base).
#[derive(burn::config::Config, Debug)]
pub struct SimcseModelConfig {
    /// Objective.
    #[config(default = "Mode::Unsup")]
    pub mode: Mode,
    /// Pooler at training time (`cls`: the `[CLS]` state through an MLP).
    #[config(default = "Pooler::Cls")]
    pub pooler: Pooler,
    /// Use the `cls` MLP only while training and `cls_before_pooler` at test time (unsupervised
    /// SimCSE's setting).
    #[config(default = true)]
    pub mlp_only_train: bool,
    /// Temperature τ of the InfoNCE objective.
    #[config(default = 0.05)]
    pub temperature: f64,
    /// `ln α` added to the logits of an anchor's own hard negative (0: weight 1, the paper's).
    #[config(default = 0.0)]
    pub hard_negative_weight: f64,
    /// Overrides the checkpoint's dropout on hidden states and attention (0 is the paper's
    /// "no dropout" ablation, which collapses unsupervised SimCSE).
    #[config(default = "None")]
    pub dropout: Option<f64>,
    /// Pass each sentence once and use the same representation twice (the paper's "same mask"
    /// ablation).
    #[config(default = false)]
    pub same_dropout_mask: bool,
}

/// Everything a SimCSE training run needs besides its data and initial model (the reference
/// code's unsupervised BERT-base settings by default).
#[derive(burn::config::Config, Debug)]
pub struct SimcseConfig {
    /// Model and objective.
    #[config(default = "SimcseModelConfig::new()")]
    pub model: SimcseModelConfig,
    /// Peak AdamW learning rate (3e-5 unsupervised, 5e-5 supervised for BERT-base).
    #[config(default = 3e-5)]
    pub learning_rate: f64,
    /// AdamW decoupled weight decay (Hugging Face's default 0).
    #[config(default = 0.0)]
    pub weight_decay: f64,
    /// Steps of linear warm-up.
    #[config(default = 0)]
    pub warmup_steps: usize,
    /// Decay after the warm-up (the reference: linear to 0).
    #[config(default = "LrDecay::Linear")]
    pub decay: LrDecay,
    /// Passes over the training examples.
    #[config(default = 1)]
    pub epochs: usize,
    /// Examples per batch (64 unsupervised, 512 supervised in the paper).
    #[config(default = 64)]
    pub batch_size: usize,
    /// GradCache: each step encodes its batch in this many chunks of examples, one after the
    /// other, for the loss's exact gradient over the whole batch at the activation memory of
    /// one chunk (the price: one more forward pass). Each chunk's dropout masks are drawn again
    /// in the second pass. Must divide `batch_size`; 1 encodes the batch whole.
    #[config(default = 1)]
    pub grad_cache_chunks: usize,
    /// With several replicas (`--devices`), each replica's loss takes the representations of
    /// every replica as negatives: the step is that of one process on the whole batch. `false`
    /// keeps each replica's negatives its own (`batch_size / replicas` per loss).
    #[config(default = true)]
    pub gather_negatives: bool,
    /// Tokens per sentence after truncation (32 in the paper).
    #[config(default = 32)]
    pub max_length: usize,
    /// Training steps between STS-B dev evaluations (the best model is kept).
    #[config(default = 125)]
    pub eval_steps: usize,
    /// Use only the first this many training examples.
    #[config(default = "None")]
    pub train_examples: Option<usize>,
    /// Examples held out from the end of the training data for the validation loss.
    #[config(default = 256)]
    pub valid_examples: usize,
    /// Tokenising threads that prepare batches in parallel with the step.
    #[config(default = 2)]
    pub num_workers: usize,
    /// Seed of the MLP's initialisation, data order and dropout.
    #[config(default = 42)]
    pub seed: u64,
}

impl SimcseConfig {
    /// Rejects values that cannot train, naming the key.
    pub fn validate(&self) -> Result<(), ContrastiveError> {
        check_temperature(self.model.temperature)?;
        if self.batch_size < 2 {
            return Err(ContrastiveError::BatchTooSmall {
                batch: self.batch_size,
            });
        }
        check_pieces("grad_cache_chunks", self.grad_cache_chunks, self.batch_size)?;
        check_positive(&[
            ("learning_rate", self.learning_rate),
            ("epochs", self.epochs as f64),
            ("max_length", self.max_length as f64),
            ("eval_steps", self.eval_steps as f64),
        ])?;
        if let Some(p) = self.model.dropout {
            check_dropout("model.dropout", p)?;
        }
        check_non_negative("weight_decay", self.weight_decay)?;
        Ok(())
    }
}
