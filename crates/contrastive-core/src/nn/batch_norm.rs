//! Batch normalisation of `[batch, channels, height, width]` feature maps, the ResNet's.
//!
//! The arithmetic is burn-nn's `BatchNorm` (biased batch variance, momentum 0.1, ε 1e-5), laid
//! out for Burn's CPU kernels: statistics are reduced over contiguous rows (`[N, C, H·W]`,
//! space first, then batch) rather than after a channel-first transpose, and every full-size
//! elementwise op meets either a same-shape tensor or one scalar per (sample, channel) row —
//! the broadcasts flex runs with SIMD. burn-nn's `[1, C, 1, 1]` broadcasts and transposes go
//! element by element through a strided iterator instead: half of a SimCLR step in the profile.

use burn::module::{Module, Param, RunningState};
use burn::tensor::{backend::Backend, Tensor};

/// `y = γ (x − μ) / √(σ² + ε) + β` per channel, with batch statistics while training (autodiff
/// enabled) and running ones otherwise. Same fields as `burn::nn::BatchNorm`, so records and
/// checkpoints are interchangeable.
#[derive(Module, Debug)]
pub struct BatchNorm2d<B: Backend> {
    pub gamma: Param<Tensor<B, 1>>,
    pub beta: Param<Tensor<B, 1>>,
    pub running_mean: RunningState<Tensor<B, 1>>,
    pub running_var: RunningState<Tensor<B, 1>>,
    pub momentum: f64,
    pub epsilon: f64,
}

impl<B: Backend> BatchNorm2d<B> {
    /// γ = 1, β = 0, running mean 0 and variance 1.
    pub fn new(channels: usize, device: &B::Device) -> Self {
        Self {
            gamma: Param::from_tensor(Tensor::ones([channels], device)),
            beta: Param::from_tensor(Tensor::zeros([channels], device)),
            running_mean: RunningState::new(Tensor::zeros([channels], device)),
            running_var: RunningState::new(Tensor::ones([channels], device)),
            momentum: 0.1,
            epsilon: 1e-5,
        }
    }

    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let [n, c, h, w] = x.dims();
        let device = x.device();
        let rows = x.reshape([n, c, h * w]);
        let per_row = |t: Tensor<B, 3>| t.repeat_dim(0, n);
        let (mean, var) = if B::ad_enabled(&device) {
            let mean = rows.clone().mean_dim(2).mean_dim(0);
            let centred = rows.clone() - per_row(mean.clone());
            let var = centred.square().mean_dim(2).mean_dim(0);
            self.update_running(&mean, &var, c);
            (mean, var)
        } else {
            let running = |state: &RunningState<Tensor<B, 1>>| {
                state.value().to_device(&device).reshape([1, c, 1])
            };
            (running(&self.running_mean), running(&self.running_var))
        };
        let scale = self.gamma.val().reshape([1, c, 1]) / (var + self.epsilon).sqrt();
        let shift = self.beta.val().reshape([1, c, 1]) - mean * scale.clone();
        (rows * per_row(scale) + per_row(shift)).reshape([n, c, h, w])
    }

    /// `running ← (1 − momentum) running + momentum batch`, outside the autodiff graph.
    fn update_running(&self, mean: &Tensor<B, 3>, var: &Tensor<B, 3>, c: usize) {
        let device = mean.device();
        let blend = |state: &RunningState<Tensor<B, 1>>, batch: &Tensor<B, 3>| {
            let running = state.value_sync().to_device(&device);
            let batch = batch.clone().detach().reshape([c]);
            state.update(
                (running.mul_scalar(1.0 - self.momentum) + batch.mul_scalar(self.momentum))
                    .detach(),
            );
        };
        blend(&self.running_mean, mean);
        blend(&self.running_var, var);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_backend::{TestAutodiffBackend as AB, TestBackend as B};
    use burn::module::AutodiffModule;
    use burn::nn::{BatchNorm, BatchNormConfig};
    use burn::tensor::{Distribution, Tolerance};

    /// Ours and burn-nn's with the same (non-trivial) γ and β.
    fn pair<Be: Backend>(channels: usize) -> (BatchNorm2d<Be>, BatchNorm<Be>) {
        let device = Default::default();
        let gamma = Tensor::<Be, 1>::random([channels], Distribution::Uniform(0.5, 1.5), &device);
        let beta = Tensor::<Be, 1>::random([channels], Distribution::Normal(0.0, 1.0), &device);
        let mut ours = BatchNorm2d::new(channels, &device);
        let mut theirs = BatchNormConfig::new(channels).init(&device);
        ours.gamma = Param::from_tensor(gamma.clone());
        ours.beta = Param::from_tensor(beta.clone());
        theirs.gamma = Param::from_tensor(gamma);
        theirs.beta = Param::from_tensor(beta);
        (ours, theirs)
    }

    fn input<Be: Backend>() -> Tensor<Be, 4> {
        Tensor::random(
            [3, 4, 5, 6],
            Distribution::Normal(2.0, 3.0),
            &Default::default(),
        )
    }

    #[test]
    fn training_outputs_gradients_and_running_statistics_match_burn_nn() {
        let (ours, theirs) = pair::<AB>(4);
        let x = input::<AB>().require_grad();
        let weights = Tensor::<AB, 4>::random(x.dims(), Distribution::Default, &x.device());
        let y_ours = ours.forward(x.clone());
        let y_theirs = theirs.forward(x.clone());
        y_ours
            .to_data()
            .assert_approx_eq::<f64>(&y_theirs.to_data(), Tolerance::absolute(1e-10));

        // A non-uniform upstream gradient, so the batch statistics' gradients matter.
        let grads_ours = (y_ours * weights.clone()).sum().backward();
        let grads_theirs = (y_theirs * weights).sum().backward();
        let tolerance = Tolerance::absolute(1e-10);
        x.grad(&grads_ours)
            .unwrap()
            .to_data()
            .assert_approx_eq::<f64>(&x.grad(&grads_theirs).unwrap().to_data(), tolerance);
        for (a, b) in [(&ours.gamma, &theirs.gamma), (&ours.beta, &theirs.beta)] {
            a.grad(&grads_ours)
                .unwrap()
                .to_data()
                .assert_approx_eq::<f64>(&b.grad(&grads_theirs).unwrap().to_data(), tolerance);
        }
        for (a, b) in [
            (&ours.running_mean, &theirs.running_mean),
            (&ours.running_var, &theirs.running_var),
        ] {
            a.value()
                .to_data()
                .assert_approx_eq::<f64>(&b.value().to_data(), tolerance);
        }
    }

    #[test]
    fn inference_uses_the_running_statistics_as_burn_nn_does() {
        let (ours, theirs) = pair::<AB>(4);
        // One training pass moves the running statistics away from 0 and 1.
        let first = input::<AB>();
        ours.forward(first.clone());
        theirs.forward(first);
        let (ours, theirs) = (ours.valid(), theirs.valid());
        let x = input::<B>();
        ours.forward(x.clone())
            .to_data()
            .assert_approx_eq::<f64>(&theirs.forward(x).to_data(), Tolerance::absolute(1e-10));
    }
}
