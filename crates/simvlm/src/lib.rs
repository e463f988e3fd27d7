//! SimVLM — simple visual language model pre-training with PrefixLM (Wang et al., 2021).
//!
//! [`model`]: the encoder–decoder with a convolutional stem (the shared ResNet's first three
//! stages) and 2-D relative attention among image tokens; [`caption_metrics`]: corpus BLEU-4 and
//! CIDEr-D.

pub mod caption_metrics;
pub mod model;

pub use model::{PrefixBatch, SimVlm, SimvlmModelConfig};
