//! Contrastive losses: InfoNCE and its SimCLR and SimCSE instances.
//!
//! Every loss is a cross-entropy over a logits matrix of scaled cosine similarities,
//! computed through log-softmax so that it stays finite at τ = 0.05 in reduced precision.

mod info_nce;
mod nt_xent;
mod output;
mod simcse;

pub use info_nce::{cross_entropy_with_logits, InfoNce, InfoNceConfig};
pub use nt_xent::{NtXent, NtXentConfig};
pub use output::ContrastiveOutput;
pub use simcse::{
    SupervisedSimCse, SupervisedSimCseConfig, UnsupervisedSimCse, UnsupervisedSimCseConfig,
};

#[cfg(test)]
mod tests;
