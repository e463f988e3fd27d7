//! Representation-quality metrics: alignment and uniformity (Wang & Isola 2020), contrastive
//! top-1 accuracy, and the rank/linear correlations used by STS evaluation.

mod alignment_uniformity;
mod contrastive_accuracy;
mod correlation;

pub use alignment_uniformity::{alignment, uniformity};
pub use contrastive_accuracy::contrastive_accuracy;
pub use correlation::{average_ranks, pearson, spearman, CorrelationError};
