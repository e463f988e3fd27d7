//! Images in, batches of views out: loading, the embedded synthetic set, augmentation, batching.

pub mod augment;
pub mod batcher;
pub mod dataset;
pub mod image;
pub mod synthetic;
