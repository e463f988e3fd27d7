//! Building blocks shared by the method crates.

mod attention;
mod batch_norm;
mod position_wise;
mod projection_head;
mod resnet;

pub use attention::{causal_blocked, padding_blocked, Attention, AttentionConfig, KeyValues};
pub use batch_norm::BatchNorm2d;
pub use position_wise::PositionWise;
pub use projection_head::{ProjectionHead, ProjectionHeadConfig};
pub use resnet::{ConvBn, ResNet, ResNetConfig, ResNetStage, ResNetStem, ResidualBlock};
