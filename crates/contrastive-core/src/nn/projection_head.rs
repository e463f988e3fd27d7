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
    use burn::module::Param;
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

    /// Row-major values of a tensor.
    fn host<const D: usize>(t: Tensor<NdArray, D>) -> Vec<f64> {
        t.into_data().convert::<f64>().to_vec().unwrap()
    }

    /// `x W + b` on the host, `W` stored `[in, out]` as burn's `Linear` stores it.
    fn affine(x: &[f64], rows: usize, w: &[f64], b: &[f64]) -> Vec<f64> {
        let (inputs, outputs) = (x.len() / rows, b.len());
        (0..rows)
            .flat_map(|r| {
                (0..outputs).map(move |o| {
                    b[o] + (0..inputs)
                        .map(|i| x[r * inputs + i] * w[i * outputs + o])
                        .sum::<f64>()
                })
            })
            .collect()
    }

    #[test]
    fn computes_w2_relu_w1_h_with_biases() {
        let device = Default::default();
        let h: Tensor<NdArray, 2> = Tensor::random([3, 5], Distribution::Normal(0.0, 1.0), &device);
        let mut head = ProjectionHeadConfig::new(5, 4)
            .with_output_dim(2)
            .init::<NdArray>(&device);
        // Rows `h` and `−h` with a zero hidden bias: every unit is negative for one of them.
        let h = Tensor::cat(vec![h.clone().slice(0..2), -h.slice(0..1)], 0);
        head.hidden.bias = Some(Param::from_tensor(Tensor::zeros([4], &device)));
        let bias = |l: &Linear<NdArray>| host(l.bias.as_ref().unwrap().val());
        let hidden = affine(
            &host(h.clone()),
            3,
            &host(head.hidden.weight.val()),
            &bias(&head.hidden),
        );
        let relu: Vec<f64> = hidden.iter().map(|v| v.max(0.0)).collect();
        assert!(relu.contains(&0.0), "ReLU is exercised");
        let expected = affine(
            &relu,
            3,
            &host(head.output.weight.val()),
            &bias(&head.output),
        );
        let got = host(head.forward(h));
        for (g, e) in got.iter().zip(&expected) {
            assert!((g - e).abs() < 1e-12, "{got:?} vs {expected:?}");
        }
    }
}
