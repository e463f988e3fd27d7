use burn::config::Config;
use burn::module::Module;
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, Relu};
use burn::tensor::{backend::Backend, Tensor};

/// Configuration of [`ProjectionHead`].
#[derive(Config, Debug)]
pub struct ProjectionHeadConfig {
    /// Size of the representation `h` fed to the head.
    pub input_dim: usize,
    /// Width of the hidden layer (SimCLR uses the representation size).
    pub hidden_dim: usize,
    /// Size of the projection `z` the loss sees (the paper's 128).
    #[config(default = 128)]
    pub output_dim: usize,
    /// BatchNorm after the hidden layer, as in SimCLR v2 and MoCo v2-style heads.
    #[config(default = false)]
    pub batch_norm: bool,
}

impl ProjectionHeadConfig {
    /// Builds the head on `device`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> ProjectionHead<B> {
        ProjectionHead {
            // With BatchNorm the hidden bias is redundant (BN's β shifts the same way).
            hidden: LinearConfig::new(self.input_dim, self.hidden_dim)
                .with_bias(!self.batch_norm)
                .init(device),
            norm: self
                .batch_norm
                .then(|| BatchNormConfig::new(self.hidden_dim).init(device)),
            activation: Relu::new(),
            output: LinearConfig::new(self.hidden_dim, self.output_dim).init(device),
        }
    }
}

/// SimCLR's nonlinear projection head `g(h) = W₂ ReLU(W₁ h)` (optionally `W₂ ReLU(BN(W₁ h))`).
///
/// The loss is computed on `z = g(h)`; `h` stays the representation used downstream, because
/// the head learns to discard information (colour, orientation) the loss is invariant to.
#[derive(Module, Debug)]
pub struct ProjectionHead<B: Backend> {
    hidden: Linear<B>,
    norm: Option<BatchNorm<B>>,
    activation: Relu,
    output: Linear<B>,
}

impl<B: Backend> ProjectionHead<B> {
    /// Projects representations `[batch, input_dim]` to `[batch, output_dim]`.
    pub fn forward(&self, h: Tensor<B, 2>) -> Tensor<B, 2> {
        let hidden = self.hidden.forward(h);
        let hidden = match &self.norm {
            Some(norm) => norm.forward(hidden),
            None => hidden,
        };
        self.output.forward(self.activation.forward(hidden))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_backend::TestBackend as NdArray;
    use burn::tensor::Distribution;

    #[test]
    fn projects_to_the_output_dimension() {
        let device = Default::default();
        let h: Tensor<NdArray, 2> =
            Tensor::random([6, 32], Distribution::Normal(0.0, 1.0), &device);
        for batch_norm in [false, true] {
            let head = ProjectionHeadConfig::new(32, 16)
                .with_batch_norm(batch_norm)
                .init::<NdArray>(&device);
            assert_eq!(head.forward(h.clone()).dims(), [6, 128]);
        }
    }
}
