//! SimCSE — contrastive learning of sentence embeddings (Gao et al., 2021), on Burn.
//!
//! So far: the BERT encoder ([`model`]), loading of Hugging Face directories ([`loader`]) and
//! the poolers ([`pooling`]), checked against PyTorch on all-MiniLM-L6-v2. The contrastive
//! objectives are `contrastive_core::loss::{UnsupervisedSimCse, SupervisedSimCse}`; training,
//! STS evaluation and export are still to come.

pub mod config;
pub mod loader;
pub mod model;
pub mod pooling;

pub use config::BertConfig;
pub use model::{Bert, BertInput};
