use burn::config::Config;
use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{LearningRate, SimpleOptimizer};
use burn::record::Record;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::Tensor;

use crate::error::ContrastiveError;

/// Configuration of [`Lars`], with SimCLR's defaults.
#[derive(Config, Debug)]
pub struct LarsConfig {
    /// Momentum `m` of the velocity buffer.
    #[config(default = 0.9)]
    pub momentum: f64,
    /// L2 weight decay (SimCLR: 1e-6), applied to weight matrices/kernels only.
    #[config(default = 1e-6)]
    pub weight_decay: f64,
    /// Trust coefficient η of the layer-wise ratio `η ‖w‖ / ‖g‖`.
    #[config(default = 0.001)]
    pub trust_coefficient: f64,
}

impl LarsConfig {
    /// Checks the hyper-parameters and builds the per-tensor optimizer.
    pub fn build<B: Backend>(&self) -> Result<Lars, ContrastiveError> {
        let checks = [
            (
                "momentum",
                self.momentum,
                (0.0..1.0).contains(&self.momentum),
                "in [0, 1)",
            ),
            (
                "weight_decay",
                self.weight_decay,
                self.weight_decay >= 0.0,
                ">= 0",
            ),
            (
                "trust_coefficient",
                self.trust_coefficient,
                self.trust_coefficient > 0.0,
                "> 0",
            ),
        ];
        for (key, value, valid, expected) in checks {
            if !valid || !value.is_finite() {
                return Err(ContrastiveError::InvalidValue {
                    key,
                    value,
                    expected,
                });
            }
        }
        Ok(Lars {
            momentum: self.momentum,
            weight_decay: self.weight_decay,
            trust_coefficient: self.trust_coefficient,
        })
    }

    /// Builds LARS as a Burn [`Optimizer`](burn::optim::Optimizer) for module `M`.
    pub fn init<B: AutodiffBackend, M: AutodiffModule<B>>(
        &self,
    ) -> Result<OptimizerAdaptor<Lars, M, B>, ContrastiveError> {
        Ok(OptimizerAdaptor::from(self.build::<B::InnerBackend>()?))
    }
}

/// Layer-wise Adaptive Rate Scaling (You et al. 2017), as in SimCLR's reference optimizer:
///
/// ```text
/// g ← g + λ w                          (weights only)
/// r = η ‖w‖ / ‖g‖   (1 if either norm is 0; weights only, else r = 1)
/// v ← m v + lr · r · g
/// w ← w − v
/// ```
///
/// Biases and normalisation scales/shifts — the 1-D parameters in Burn's modules — are
/// excluded from both weight decay and the trust ratio, as the paper does.
#[derive(Clone, Debug)]
pub struct Lars {
    momentum: f64,
    weight_decay: f64,
    trust_coefficient: f64,
}

/// Velocity buffer of one parameter tensor.
#[derive(Record, Clone)]
pub struct LarsState<B: Backend, const D: usize> {
    /// `v` of the update rule.
    pub velocity: Tensor<B, D>,
}

impl Lars {
    /// Whether a parameter of rank `D` takes weight decay and the trust ratio: biases and
    /// norm parameters are the rank-1 parameters.
    pub fn is_adapted<const D: usize>() -> bool {
        D > 1
    }
}

impl<B: Backend> SimpleOptimizer<B> for Lars {
    type State<const D: usize> = LarsState<B, D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<B, D>,
        grad: Tensor<B, D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<B, D>, Option<Self::State<D>>) {
        let scaled_step = if Self::is_adapted::<D>() {
            let grad = grad + tensor.clone().mul_scalar(self.weight_decay);
            let weight_norm = tensor.clone().square().sum().sqrt();
            let grad_norm = grad.clone().square().sum().sqrt();
            let undefined = weight_norm
                .clone()
                .equal_elem(0.0)
                .bool_or(grad_norm.clone().equal_elem(0.0));
            let trust_ratio = (weight_norm.mul_scalar(self.trust_coefficient)
                / grad_norm.clamp_min(f32::MIN_POSITIVE))
            .mask_fill(undefined, 1.0);
            grad * trust_ratio.mul_scalar(lr).unsqueeze::<D>()
        } else {
            grad.mul_scalar(lr)
        };
        let velocity = match state {
            Some(state) => state.velocity.mul_scalar(self.momentum) + scaled_step,
            None => scaled_step,
        };
        (tensor - velocity.clone(), Some(LarsState { velocity }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &B::Device) -> Self::State<D> {
        LarsState {
            velocity: state.velocity.to_device(device),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::{GradientsParams, Optimizer};
    use burn::tensor::{Distribution, TensorData};

    use crate::test_backend::{TestAutodiffBackend as AB, TestBackend as B};

    fn tensor<const D: usize>(data: Vec<f64>, shape: [usize; D]) -> Tensor<B, D> {
        Tensor::from_data(TensorData::new(data, shape), &Default::default())
    }

    fn lars(momentum: f64, weight_decay: f64) -> Lars {
        LarsConfig::new()
            .with_momentum(momentum)
            .with_weight_decay(weight_decay)
            .build::<B>()
            .unwrap()
    }

    fn to_vec<const D: usize>(t: Tensor<B, D>) -> Vec<f64> {
        t.into_data().to_vec::<f64>().unwrap()
    }

    #[test]
    fn weight_step_uses_trust_ratio_and_decay() {
        // w = [3, 4] (‖w‖ = 5), g = [0.6, 0.8] − λw with λ = 0.01 → g + λw = [0.63, 0.84] (‖·‖ = 1.05).
        let opt = lars(0.9, 0.01);
        let w = tensor(vec![3.0, 4.0], [1, 2]);
        let g = tensor(vec![0.6, 0.8], [1, 2]);
        let (w1, state) = opt.step(0.5, w, g.clone(), None);
        let ratio = 0.001 * 5.0 / 1.05;
        let v1 = [0.5 * ratio * 0.63, 0.5 * ratio * 0.84];
        let got = to_vec(w1.clone());
        assert!((got[0] - (3.0 - v1[0])).abs() < 1e-12 && (got[1] - (4.0 - v1[1])).abs() < 1e-12);

        // Second step: v₂ = m v₁ + lr r₂ (g + λ w₁).
        let (w2, _) = opt.step(0.5, w1.clone(), g, state);
        let w1v = to_vec(w1);
        let gd = [0.6 + 0.01 * w1v[0], 0.8 + 0.01 * w1v[1]];
        let ratio2 = 0.001 * (w1v[0].powi(2) + w1v[1].powi(2)).sqrt()
            / (gd[0].powi(2) + gd[1].powi(2)).sqrt();
        let expected = [
            w1v[0] - (0.9 * v1[0] + 0.5 * ratio2 * gd[0]),
            w1v[1] - (0.9 * v1[1] + 0.5 * ratio2 * gd[1]),
        ];
        let got = to_vec(w2);
        assert!((got[0] - expected[0]).abs() < 1e-12 && (got[1] - expected[1]).abs() < 1e-12);
    }

    #[test]
    fn biases_and_norm_parameters_skip_adaptation_and_decay() {
        let opt = lars(0.9, 0.5);
        let (b1, _) = opt.step(
            0.1,
            tensor(vec![1.0, 2.0], [2]),
            tensor(vec![0.5, -0.5], [2]),
            None,
        );
        assert_eq!(to_vec(b1), vec![1.0 - 0.05, 2.0 + 0.05]);
    }

    #[test]
    fn zero_weights_fall_back_to_plain_sgd() {
        let opt = lars(0.0, 0.0);
        let (w1, _) = opt.step(
            0.1,
            tensor(vec![0.0, 0.0], [1, 2]),
            tensor(vec![1.0, 2.0], [1, 2]),
            None,
        );
        let got = to_vec(w1);
        assert!((got[0] + 0.1).abs() < 1e-12 && (got[1] + 0.2).abs() < 1e-12);
    }

    #[test]
    fn invalid_hyper_parameters_are_rejected() {
        let err = LarsConfig::new()
            .with_momentum(1.5)
            .build::<B>()
            .unwrap_err();
        assert!(err.to_string().contains("momentum"), "{err}");
        assert!(LarsConfig::new()
            .with_trust_coefficient(0.0)
            .build::<B>()
            .is_err());
    }

    #[test]
    fn lowers_a_regression_loss_through_burn_optimizer() {
        let device = Default::default();
        let mut model: Linear<AB> = LinearConfig::new(4, 1).init(&device);
        let mut optim = LarsConfig::new()
            .with_trust_coefficient(0.02)
            .init::<AB, Linear<AB>>()
            .unwrap();
        let x: Tensor<AB, 2> = Tensor::random([32, 4], Distribution::Normal(0.0, 1.0), &device);
        let y = x.clone().matmul(Tensor::from_data(
            TensorData::new(vec![1.0, -2.0, 0.5, 3.0], [4, 1]),
            &device,
        ));
        let loss_of = |m: &Linear<AB>| (m.forward(x.clone()) - y.clone()).square().mean();
        let before = loss_of(&model).into_scalar();
        for _ in 0..50 {
            let loss = loss_of(&model);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(1.0, model, grads);
        }
        let after = loss_of(&model).into_scalar();
        assert!(after < 0.5 * before, "loss {before} -> {after}");
    }
}
