//! SimCLR — a simple framework for contrastive learning of visual representations
//! (Chen et al., 2020), on Burn.
//!
//! Two random augmentations of each image ([`data::augment`]) go through a ResNet encoder and a
//! projection head ([`model`]); NT-Xent pulls the two projections together and pushes the other
//! `2N − 2` views of the batch apart ([`step`]). The encoder's pooled output `h` is then judged
//! by a linear probe and a k-NN classifier ([`eval`]).

pub mod config;
pub mod data;
pub mod eval;
pub mod model;
pub mod step;

pub use config::{OptimizerKind, SimclrConfig, SimclrModelConfig};
pub use model::SimClr;
