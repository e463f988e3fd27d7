//! Hugging Face's names of BERT's weights: the one table that the loader reads checkpoints with
//! and the export writes them with, so the two cannot drift apart.

use burn::nn::{Embedding, LayerNorm, Linear};
use burn::tensor::backend::Backend;

use crate::model::Bert;

/// Where SimCSE's exported checkpoints keep the MLP of the `cls` pooler (BERT's pooler layer).
pub const POOLER: &str = "pooler.dense";

/// A sub-module of BERT that holds weights (`NAME.weight`, and `NAME.bias` where it has one).
pub enum Part<'a, B: Backend> {
    Embedding(&'a mut Embedding<B>),
    LayerNorm(&'a mut LayerNorm<B>),
    Linear(&'a mut Linear<B>),
}

/// Every weight-holding sub-module of `bert` with its Hugging Face name (without the `bert.`
/// prefix some checkpoints add), in checkpoint order.
pub fn named_parts<B: Backend>(bert: &mut Bert<B>) -> Vec<(String, Part<'_, B>)> {
    let e = &mut bert.embeddings;
    let mut parts = vec![
        (
            "embeddings.word_embeddings".to_string(),
            Part::Embedding(&mut e.word_embeddings),
        ),
        (
            "embeddings.position_embeddings".to_string(),
            Part::Embedding(&mut e.position_embeddings),
        ),
        (
            "embeddings.token_type_embeddings".to_string(),
            Part::Embedding(&mut e.token_type_embeddings),
        ),
        (
            "embeddings.LayerNorm".to_string(),
            Part::LayerNorm(&mut e.layer_norm),
        ),
    ];
    for (i, layer) in bert.layers.iter_mut().enumerate() {
        let name = |suffix: &str| format!("encoder.layer.{i}.{suffix}");
        let attention = &mut layer.attention;
        parts.extend([
            (
                name("attention.self.query"),
                Part::Linear(&mut attention.query),
            ),
            (name("attention.self.key"), Part::Linear(&mut attention.key)),
            (
                name("attention.self.value"),
                Part::Linear(&mut attention.value),
            ),
            (
                name("attention.output.dense"),
                Part::Linear(&mut attention.output),
            ),
            (
                name("attention.output.LayerNorm"),
                Part::LayerNorm(&mut layer.attention_norm),
            ),
            (
                name("intermediate.dense"),
                Part::Linear(&mut layer.intermediate),
            ),
            (name("output.dense"), Part::Linear(&mut layer.output)),
            (
                name("output.LayerNorm"),
                Part::LayerNorm(&mut layer.output_norm),
            ),
        ]);
    }
    parts
}
