//! SimCSE — contrastive learning of sentence embeddings (Gao et al., 2021), on Burn.
//!
//! The BERT encoder ([`model`]) loads Hugging Face directories ([`loader`]) and is checked
//! against PyTorch on all-MiniLM-L6-v2; [`SimCse`] adds the poolers and the unsupervised
//! (dropout noise) and supervised (NLI, hard negatives) objectives; [`sts_eval`] scores STS sets
//! and [`export`] writes a Hugging Face directory back.

pub mod config;
pub mod data;
pub mod dev_monitor;
pub mod export;
pub mod loader;
pub mod model;
pub mod pooling;
pub mod sentence_model;
pub mod step;
pub mod sts_eval;

pub use config::{BertConfig, Mode, SimcseConfig, SimcseModelConfig};
pub use model::{Bert, BertInput};
pub use pooling::Pooler;
pub use sentence_model::{SentenceBatch, SimCse};
