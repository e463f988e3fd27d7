//! ResNet-18/34/50 (He et al. 2016) with an ImageNet or CIFAR stem: SimCLR's encoder `f`, and
//! — truncated after its first stages — SimVLM's convolutional patch stem.

use burn::config::Config;
use burn::module::{Initializer, Module, ModuleVisitor, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{PaddingConfig2d, Relu};
use burn::tensor::{backend::Backend, Tensor};

use super::batch_norm::BatchNorm2d;
use crate::error::ContrastiveError;

/// The first layers, which set how far the input is downsampled before the stages.
#[derive(Config, Debug, PartialEq, Copy)]
pub enum ResNetStem {
    /// 7×7 stride-2 convolution and 3×3 stride-2 max-pool (÷4), for ImageNet-sized inputs.
    ImageNet,
    /// 3×3 stride-1 convolution and no max-pool, for 32×32 inputs (SimCLR's CIFAR-10 variant).
    Cifar,
}

/// Configuration of [`ResNet`].
#[derive(Config, Debug)]
pub struct ResNetConfig {
    /// 18, 34 (basic blocks) or 50 (bottleneck blocks).
    #[config(default = 18)]
    pub depth: usize,
    /// Input stem.
    #[config(default = "ResNetStem::Cifar")]
    pub stem: ResNetStem,
    /// Multiplies every channel count (SimCLR's ResNet-50 (2×), (4×); < 1 for quick CPU runs).
    #[config(default = 1.0)]
    pub width_multiplier: f64,
    /// How many of the four stages to build (SimVLM's stem uses the first three).
    #[config(default = 4)]
    pub stages: usize,
    /// Input channels (3 for RGB).
    #[config(default = 3)]
    pub in_channels: usize,
}

/// Blocks per stage and whether they are bottlenecks (expansion 4).
fn block_table(depth: usize) -> Result<([usize; 4], bool), ContrastiveError> {
    match depth {
        18 => Ok(([2, 2, 2, 2], false)),
        34 => Ok(([3, 4, 6, 3], false)),
        50 => Ok(([3, 4, 6, 3], true)),
        _ => Err(ContrastiveError::InvalidValue {
            key: "depth",
            value: depth as f64,
            expected: "18, 34 or 50",
        }),
    }
}

impl ResNetConfig {
    /// Channels of the stem's output.
    fn stem_channels(&self) -> usize {
        ((64.0 * self.width_multiplier).round() as usize).max(1)
    }

    /// Builds the network on `device`, checking depth, stages and width.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<ResNet<B>, ContrastiveError> {
        let (blocks, bottleneck) = block_table(self.depth)?;
        if !(1..=4).contains(&self.stages) {
            return Err(ContrastiveError::InvalidValue {
                key: "stages",
                value: self.stages as f64,
                expected: "1 to 4",
            });
        }
        if !(self.width_multiplier.is_finite() && self.width_multiplier > 0.0) {
            return Err(ContrastiveError::InvalidValue {
                key: "width_multiplier",
                value: self.width_multiplier,
                expected: "a number > 0",
            });
        }
        let base = self.stem_channels();
        let (stem, max_pool) = match self.stem {
            ResNetStem::ImageNet => (
                ConvBn::new(self.in_channels, base, 7, 2, device),
                Some(
                    MaxPool2dConfig::new([3, 3])
                        .with_strides([2, 2])
                        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                        .init(),
                ),
            ),
            ResNetStem::Cifar => (ConvBn::new(self.in_channels, base, 3, 1, device), None),
        };
        let expansion = if bottleneck { 4 } else { 1 };
        let mut in_channels = base;
        let mut stages = Vec::with_capacity(self.stages);
        for (index, &count) in blocks.iter().take(self.stages).enumerate() {
            let width = base << index;
            let stride = if index == 0 { 1 } else { 2 };
            let blocks = (0..count)
                .map(|b| {
                    let block = ResidualBlock::new(
                        in_channels,
                        width,
                        if b == 0 { stride } else { 1 },
                        bottleneck,
                        device,
                    );
                    in_channels = width * expansion;
                    block
                })
                .collect();
            stages.push(ResNetStage { blocks });
        }
        Ok(ResNet {
            stem,
            max_pool,
            stages,
            relu: Relu::new(),
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            output_dim: in_channels,
        })
    }
}

/// A convolution without bias followed by BatchNorm — the unit every ResNet layer is made of.
#[derive(Module, Debug)]
pub struct ConvBn<B: Backend> {
    conv: Conv2d<B>,
    norm: BatchNorm2d<B>,
}

impl<B: Backend> ConvBn<B> {
    fn new(
        in_channels: usize,
        out_channels: usize,
        kernel: usize,
        stride: usize,
        device: &B::Device,
    ) -> Self {
        let pad = kernel / 2;
        Self {
            conv: Conv2dConfig::new([in_channels, out_channels], [kernel, kernel])
                .with_stride([stride, stride])
                .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                .with_bias(false)
                // He initialisation, fan-out mode, as torchvision's ResNet.
                .with_initializer(Initializer::KaimingNormal {
                    gain: 2f64.sqrt(),
                    fan_out_only: true,
                })
                .init(device),
            norm: BatchNorm2d::new(out_channels, device),
        }
    }

    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        self.norm.forward(self.conv.forward(x))
    }
}

/// A residual block `relu(F(x) + shortcut(x))`: two 3×3 convolutions (basic) or
/// 1×1 → 3×3 → 1×1 with 4× expansion (bottleneck); the stride sits on the 3×3.
#[derive(Module, Debug)]
pub struct ResidualBlock<B: Backend> {
    layers: Vec<ConvBn<B>>,
    shortcut: Option<ConvBn<B>>,
    relu: Relu,
}

impl<B: Backend> ResidualBlock<B> {
    fn new(
        in_channels: usize,
        width: usize,
        stride: usize,
        bottleneck: bool,
        device: &B::Device,
    ) -> Self {
        let (layers, out_channels) = if bottleneck {
            (
                vec![
                    ConvBn::new(in_channels, width, 1, 1, device),
                    ConvBn::new(width, width, 3, stride, device),
                    ConvBn::new(width, width * 4, 1, 1, device),
                ],
                width * 4,
            )
        } else {
            (
                vec![
                    ConvBn::new(in_channels, width, 3, stride, device),
                    ConvBn::new(width, width, 3, 1, device),
                ],
                width,
            )
        };
        let shortcut = (stride != 1 || in_channels != out_channels)
            .then(|| ConvBn::new(in_channels, out_channels, 1, stride, device));
        Self {
            layers,
            shortcut,
            relu: Relu::new(),
        }
    }

    fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let identity = match &self.shortcut {
            Some(projection) => projection.forward(x.clone()),
            None => x.clone(),
        };
        let last = self.layers.len() - 1;
        let mut out = x;
        for (i, layer) in self.layers.iter().enumerate() {
            out = layer.forward(out);
            if i < last {
                out = self.relu.forward(out);
            }
        }
        self.relu.forward(out + identity)
    }
}

/// One resolution stage: blocks sharing a width, the first one downsampling.
#[derive(Module, Debug)]
pub struct ResNetStage<B: Backend> {
    blocks: Vec<ResidualBlock<B>>,
}

/// A ResNet without its classification layer.
#[derive(Module, Debug)]
pub struct ResNet<B: Backend> {
    stem: ConvBn<B>,
    max_pool: Option<MaxPool2d>,
    stages: Vec<ResNetStage<B>>,
    relu: Relu,
    pool: AdaptiveAvgPool2d,
    output_dim: usize,
}

impl<B: Backend> ResNet<B> {
    /// Feature maps `[batch, C, H', W']` after the last built stage.
    pub fn forward_features(&self, images: Tensor<B, 4>) -> Tensor<B, 4> {
        let mut x = self.relu.forward(self.stem.forward(images));
        if let Some(pool) = &self.max_pool {
            x = pool.forward(x);
        }
        for stage in &self.stages {
            for block in &stage.blocks {
                x = block.forward(x);
            }
        }
        x
    }

    /// The representation `h = f(x)`: global average pooling of the feature maps, `[batch, C]`.
    pub fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        self.pool
            .forward(self.forward_features(images))
            .flatten(1, 3)
    }

    /// Size of the representation `h` (channels of the last stage).
    pub fn output_dim(&self) -> usize {
        self.output_dim
    }

    /// This network with its stem and stages (weights and BatchNorm statistics) taken from
    /// `trained`, a ResNet of the same depth and width with at least as many stages — e.g. a
    /// SimCLR encoder, whose augmentation-invariant features SimVLM's patch stem can start from.
    pub fn with_leading_stages_of(self, trained: ResNet<B>) -> Result<Self, ContrastiveError> {
        let kept = self.stages.len();
        if trained.stages.len() < kept {
            return Err(ContrastiveError::InvalidValue {
                key: "stages",
                value: trained.stages.len() as f64,
                expected: "at least as many stages in the trained ResNet as in the one it starts",
            });
        }
        let mut stages = trained.stages;
        stages.truncate(kept);
        let loaded = ResNet {
            stem: trained.stem,
            max_pool: trained.max_pool,
            stages,
            relu: self.relu.clone(),
            pool: self.pool.clone(),
            output_dim: self.output_dim,
        };
        let (wanted, found) = (ParamShapes::of(&self), ParamShapes::of(&loaded));
        if wanted != found || self.max_pool.is_some() != loaded.max_pool.is_some() {
            // The first parameter whose shape differs, or the parameter counts.
            let (left, right) = wanted
                .iter()
                .zip(&found)
                .find(|(a, b)| a != b)
                .map(|(a, b)| (a.clone(), b.clone()))
                .unwrap_or_else(|| (vec![wanted.len()], vec![found.len()]));
            return Err(ContrastiveError::ShapeMismatch {
                context: "loading trained ResNet stages (depth, stem and width must match)",
                left_name: "the model's parameter",
                left,
                right_name: "the trained network's",
                right,
            });
        }
        Ok(loaded)
    }
}

/// The shapes of a module's float parameters in visiting order.
#[derive(Default)]
struct ParamShapes(Vec<Vec<usize>>);

impl ParamShapes {
    fn of<B: Backend, M: Module<B>>(module: &M) -> Vec<Vec<usize>> {
        let mut shapes = Self::default();
        module.visit(&mut shapes);
        shapes.0
    }
}

impl<B: Backend> ModuleVisitor<B> for ParamShapes {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        self.0.push(param.val().dims().to_vec());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_backend::TestBackend as NdArray;

    #[test]
    fn output_shapes_for_both_stems_and_depths() {
        let device = Default::default();
        let cases = [
            (18, ResNetStem::Cifar, 32, 512, [4, 4]),
            (18, ResNetStem::ImageNet, 64, 512, [2, 2]),
            (34, ResNetStem::Cifar, 16, 512, [2, 2]),
            (50, ResNetStem::ImageNet, 64, 2048, [2, 2]),
        ];
        for (depth, stem, side, dim, spatial) in cases {
            let config = ResNetConfig::new()
                .with_depth(depth)
                .with_stem(stem)
                .with_width_multiplier(0.125);
            let net = config.init::<NdArray>(&device).unwrap();
            let images = Tensor::<NdArray, 4>::ones([2, 3, side, side], &device);
            let scaled = dim / 8;
            assert_eq!(net.output_dim(), scaled, "depth {depth}");
            assert_eq!(
                net.forward_features(images.clone()).dims(),
                [2, scaled, spatial[0], spatial[1]]
            );
            assert_eq!(net.forward(images).dims(), [2, scaled]);
        }
    }

    #[test]
    fn truncated_to_three_stages() {
        let device = Default::default();
        let net = ResNetConfig::new()
            .with_stages(3)
            .with_stem(ResNetStem::ImageNet)
            .with_width_multiplier(0.25)
            .init::<NdArray>(&device)
            .unwrap();
        // 64×64 input: ÷4 in the stem, ÷2 in stages 2 and 3 → 4×4 tokens of 16·4 channels.
        let features = net.forward_features(Tensor::ones([1, 3, 64, 64], &device));
        assert_eq!(features.dims(), [1, 64, 4, 4]);
        assert_eq!(net.output_dim(), 64);
    }

    /// Every float parameter's values, in visiting order (stem, then stage after stage).
    #[derive(Default)]
    struct ParamValues(Vec<Vec<f64>>);

    impl ModuleVisitor<NdArray> for ParamValues {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<NdArray, D>>) {
            self.0.push(param.val().into_data().to_vec().unwrap());
        }
    }

    fn values(net: &ResNet<NdArray>) -> Vec<Vec<f64>> {
        let mut values = ParamValues::default();
        net.visit(&mut values);
        values.0
    }

    #[test]
    fn leading_stages_load_from_a_deeper_trained_network_of_the_same_width() {
        let device = Default::default();
        let config = ResNetConfig::new().with_width_multiplier(0.125);
        let trained = config.init::<NdArray>(&device).unwrap();
        let fresh = config
            .clone()
            .with_stages(3)
            .init::<NdArray>(&device)
            .unwrap();
        let fresh_values = values(&fresh);
        let trained_values = values(&trained);
        let loaded = fresh.with_leading_stages_of(trained).unwrap();
        let loaded_values = values(&loaded);
        // The stem and the first three stages are the trained network's; the fourth is dropped.
        assert_eq!(loaded_values.len(), fresh_values.len());
        assert!(loaded_values.len() < trained_values.len());
        assert_eq!(loaded_values[..], trained_values[..loaded_values.len()]);
        assert_ne!(loaded_values, fresh_values);
        assert_eq!(loaded.output_dim(), 32);
        let features = loaded.forward_features(Tensor::ones([1, 3, 16, 16], &device));
        assert_eq!(features.dims(), [1, 32, 4, 4]);

        let wider = config
            .clone()
            .with_width_multiplier(0.25)
            .init(&device)
            .unwrap();
        let err = config
            .with_stages(3)
            .init::<NdArray>(&device)
            .unwrap()
            .with_leading_stages_of(wider)
            .unwrap_err();
        assert!(err.to_string().contains("[8, 3, 3, 3]"), "{err}");
    }

    #[test]
    fn invalid_depth_is_an_error() {
        let err = ResNetConfig::new()
            .with_depth(20)
            .init::<NdArray>(&Default::default())
            .unwrap_err();
        assert!(err.to_string().contains("18, 34 or 50"), "{err}");
    }
}
