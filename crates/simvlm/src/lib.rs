//! SimVLM — simple visual language model pre-training with PrefixLM (Wang et al., 2021).
//!
//! [`model`]: the encoder–decoder with a convolutional stem (the shared ResNet's first three
//! stages) and 2-D relative attention among image tokens; [`data`]: generated scenes, Flickr8k
//! captions and PrefixLM batches; [`tokenizer`]: a word-level caption tokenizer;
//! [`caption_metrics`]: corpus BLEU-4 and CIDEr-D.
//!
//! # Objective
//!
//! PrefixLM: a text `x` is split at `T_p`; the image and `x_{<T_p}` are the prefix, read
//! bidirectionally by the encoder, and the decoder predicts the rest autoregressively:
//!
//! ```text
//! L_PrefixLM(θ) = −E_{x∼D} [ Σ_{t ≥ T_p} log P_θ(x_t | x_{[T_p, t)}, x_{<T_p}, image) ]
//! ```
//!
//! It is computed by [`objective::prefix_lm_loss`] from the logits of [`SimVlm::forward`];
//! [`step`] hands it to the training pipeline.

pub mod caption_metrics;
pub mod config;
pub mod data;
pub mod decode;
pub mod eval;
pub mod model;
pub mod objective;
pub mod step;
pub mod tokenizer;

pub use config::SimvlmConfig;
pub use data::batcher::PrefixBatch;
pub use model::{SimVlm, SimvlmModelConfig};
