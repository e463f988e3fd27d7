//! The BERT encoder (Devlin et al. 2019): embeddings, then post-LayerNorm Transformer layers
//! with exact GELU. Dropout on hidden states and attention probabilities is the only noise —
//! SimCSE's "minimal augmentation".

use burn::module::Module;
use burn::nn::{
    Dropout, DropoutConfig, Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear,
    LinearConfig,
};
use burn::tensor::activation::gelu;
use burn::tensor::{backend::Backend, Bool, Int, Tensor};

use contrastive_core::nn::{padding_blocked, Attention, AttentionConfig, PositionWise};

use crate::config::BertConfig;

/// Word, position and segment embeddings, summed and normalised.
#[derive(Module, Debug)]
pub struct BertEmbeddings<B: Backend> {
    pub word_embeddings: Embedding<B>,
    pub position_embeddings: Embedding<B>,
    pub token_type_embeddings: Embedding<B>,
    pub layer_norm: LayerNorm<B>,
    pub(crate) dropout: Dropout,
}

/// One post-LN Transformer layer: `h ← LN(h + Attn(h))`, `h ← LN(h + W₂ GELU(W₁ h))`, where
/// `Attn` is multi-head scaled dot-product self-attention with its output projection and a
/// padding mask.
#[derive(Module, Debug)]
pub struct BertLayer<B: Backend> {
    pub attention: Attention<B>,
    pub attention_norm: LayerNorm<B>,
    pub intermediate: Linear<B>,
    pub output: Linear<B>,
    pub output_norm: LayerNorm<B>,
    pub(crate) dropout: Dropout,
}

/// The BERT encoder without its pooler.
#[derive(Module, Debug)]
pub struct Bert<B: Backend> {
    pub embeddings: BertEmbeddings<B>,
    pub layers: Vec<BertLayer<B>>,
}

/// A tokenised batch: ids, segment ids and the attention mask (1 for tokens, 0 for padding).
#[derive(Debug, Clone)]
pub struct BertInput<B: Backend> {
    pub input_ids: Tensor<B, 2, Int>,
    pub token_type_ids: Tensor<B, 2, Int>,
    pub attention_mask: Tensor<B, 2, Int>,
}

impl BertConfig {
    /// A randomly initialised encoder (weights are usually loaded from a checkpoint instead).
    pub fn init<B: Backend>(&self, device: &B::Device) -> Bert<B> {
        let d = self.hidden_size;
        let norm = || {
            LayerNormConfig::new(d)
                .with_epsilon(self.layer_norm_eps)
                .init(device)
        };
        let hidden_dropout = || DropoutConfig::new(self.hidden_dropout_prob).init();
        Bert {
            embeddings: BertEmbeddings {
                word_embeddings: EmbeddingConfig::new(self.vocab_size, d).init(device),
                position_embeddings: EmbeddingConfig::new(self.max_position_embeddings, d)
                    .init(device),
                token_type_embeddings: EmbeddingConfig::new(self.type_vocab_size, d).init(device),
                layer_norm: norm(),
                dropout: hidden_dropout(),
            },
            layers: (0..self.num_hidden_layers)
                .map(|_| BertLayer {
                    attention: AttentionConfig::new(d, self.num_attention_heads)
                        .with_dropout(self.attention_probs_dropout_prob)
                        .init(device),
                    attention_norm: norm(),
                    intermediate: LinearConfig::new(d, self.intermediate_size).init(device),
                    output: LinearConfig::new(self.intermediate_size, d).init(device),
                    output_norm: norm(),
                    dropout: hidden_dropout(),
                })
                .collect(),
        }
    }
}

impl<B: Backend> BertLayer<B> {
    fn forward(&self, h: Tensor<B, 3>, padding: Tensor<B, 4, Bool>) -> Tensor<B, 3> {
        let attended = self.attention.forward(h.clone(), None, Some(padding));
        let h = self
            .attention_norm
            .forward(h + self.dropout.forward(attended));
        let expanded = gelu(self.intermediate.forward_positions(h.clone()));
        self.output_norm.forward(
            h + self
                .dropout
                .forward(self.output.forward_positions(expanded)),
        )
    }
}

impl<B: Backend> Bert<B> {
    /// The same encoder with every dropout (hidden states and attention) set to `p`.
    pub fn with_dropout(mut self, p: f64) -> Self {
        let dropout = || DropoutConfig::new(p).init();
        self.embeddings.dropout = dropout();
        for layer in &mut self.layers {
            layer.dropout = dropout();
            layer.attention = layer.attention.clone().with_dropout(p);
        }
        self
    }

    /// Hidden states of every layer: index 0 is the embedding output, the last is the final
    /// layer, each `[batch, len, d]` (the poolers that average layers need them all).
    pub fn forward_all(&self, input: &BertInput<B>) -> Vec<Tensor<B, 3>> {
        let [batch, len] = input.input_ids.dims();
        let device = input.input_ids.device();
        let positions = Tensor::<B, 1, Int>::arange(0..len as i64, &device)
            .reshape([1, len])
            .expand([batch, len]);
        let e = &self.embeddings;
        let embedded = e.word_embeddings.forward(input.input_ids.clone())
            + e.position_embeddings.forward(positions)
            + e.token_type_embeddings
                .forward(input.token_type_ids.clone());
        let mut h = e.dropout.forward(e.layer_norm.forward(embedded));
        let padding = padding_blocked(input.attention_mask.clone());
        let mut states = Vec::with_capacity(self.layers.len() + 1);
        states.push(h.clone());
        for layer in &self.layers {
            h = layer.forward(h, padding.clone());
            states.push(h.clone());
        }
        states
    }

    /// The last layer's hidden states `[batch, len, d]`.
    pub fn forward(&self, input: &BertInput<B>) -> Tensor<B, 3> {
        self.forward_all(input)
            .pop()
            .expect("the embedding output is always there")
    }
}
