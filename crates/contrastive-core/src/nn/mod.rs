//! Building blocks shared by the method crates.

mod projection_head;
mod resnet;

pub use projection_head::{ProjectionHead, ProjectionHeadConfig};
pub use resnet::{ConvBn, ResNet, ResNetConfig, ResNetStage, ResNetStem, ResidualBlock};
