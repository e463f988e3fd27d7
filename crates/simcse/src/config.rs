//! BERT's configuration, mirroring the fields of a Hugging Face `config.json` that the
//! architecture depends on (other fields in the file are ignored).

use serde::{Deserialize, Serialize};

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
