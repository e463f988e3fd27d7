//! SimCSE — contrastive learning of sentence embeddings (Gao et al., 2021), on Burn.
//!
//! The BERT encoder ([`model`]) loads Hugging Face directories ([`loader`]) and is checked
//! against PyTorch on all-MiniLM-L6-v2; [`SimCse`] adds the poolers and the unsupervised
//! (dropout noise) and supervised (NLI, hard negatives) objectives; [`sts_eval`] scores STS sets
//! and [`export`] writes a Hugging Face directory back. [`SentenceEncoder`] embeds text with a
//! pretrained model, as its sentence-transformers module files say ([`pretrained`]).
//!
//! # Objective
//!
//! With `h_i` the pooled embedding of sentence `i`, `sim` the cosine similarity and `N` sentences
//! per batch, unsupervised SimCSE encodes each sentence twice under independent dropout masks
//! (`h_i`, `h_i⁺`); supervised SimCSE takes an entailed sentence as `h_i⁺` and its contradiction
//! as the hard negative `h_i⁻`:
//!
//! ```text
//! unsupervised: ℓ_i = −log [ e^{sim(h_i, h_i⁺)/τ} / Σ_{j=1}^{N} e^{sim(h_i, h_j⁺)/τ} ]
//! supervised:   ℓ_i = −log [ e^{sim(h_i, h_i⁺)/τ} / Σ_{j=1}^{N} (e^{sim(h_i, h_j⁺)/τ} + e^{sim(h_i, h_j⁻)/τ}) ]
//! ```
//!
//! averaged over `i`. They are computed by [`contrastive_core::loss::UnsupervisedSimCse`] and
//! [`contrastive_core::loss::SupervisedSimCse`], called from [`SimCse::forward`]; [`step`]
//! hands the loss to the training pipeline.

pub mod config;
pub mod data;
pub mod dev_monitor;
pub mod encoder;
pub mod export;
pub mod hf_names;
pub mod loader;
pub mod model;
pub mod pooling;
pub mod pretrained;
pub mod sentence_model;
pub mod step;
pub mod sts_eval;

pub use config::{BertConfig, Mode, SimcseConfig, SimcseModelConfig};
pub use data::batcher::SentenceBatch;
pub use encoder::TokenEncoder;
pub use model::{Bert, BertInput};
pub use pooling::Pooler;
pub use pretrained::{SentenceEncoder, SentenceEncoderConfig};
pub use sentence_model::SimCse;
