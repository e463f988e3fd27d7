//! SimVLM — simple visual language model pre-training with PrefixLM (Wang et al., 2021).
//!
//! [`model`]: the encoder–decoder with a convolutional stem (the shared ResNet's first three
//! stages) and 2-D relative attention among image tokens; [`data`]: generated scenes, Flickr8k
//! captions and PrefixLM batches; [`tokenizer`]: a word-level caption tokenizer;
//! [`caption_metrics`]: corpus BLEU-4 and CIDEr-D.

pub mod caption_metrics;
pub mod config;
pub mod data;
pub mod decode;
pub mod model;
pub mod step;
pub mod tokenizer;

pub use config::SimvlmConfig;
pub use model::{PrefixBatch, SimVlm, SimvlmModelConfig};
