//! BERT's configuration, mirroring the fields of a Hugging Face `config.json` that the
//! architecture depends on (other fields in the file are ignored).

use serde::{Deserialize, Serialize};

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
