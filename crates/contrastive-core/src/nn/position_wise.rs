//! A linear layer applied at every position of a sequence, as one matrix product.
//!
//! Burn 0.21 applies `Linear` to a `[batch, len, d]` input as a batched matmul against the
//! broadcast weight. Its weight gradient then computes one `d_in × d_out` product per batch row,
//! each over only `len` positions, and sums them: for SimCSE's MiniLM feed-forward at batch 128
//! that is 300 MB written and read again per layer. On `[batch·len, d]` rows the same gradient
//! is a single matrix product over all positions.

use burn::nn::Linear;
use burn::tensor::{backend::Backend, Tensor};

/// `x W + b` at every position of a `[batch, len, d_in]` sequence.
pub trait PositionWise<B: Backend> {
    fn forward_positions(&self, x: Tensor<B, 3>) -> Tensor<B, 3>;
}

impl<B: Backend> PositionWise<B> for Linear<B> {
    fn forward_positions(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let [batch, len, d_in] = x.dims();
        let y = self.forward(x.reshape([batch * len, d_in]));
        let [_, d_out] = y.dims();
        y.reshape([batch, len, d_out])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_backend::TestAutodiffBackend as AB;
    use burn::nn::LinearConfig;
    use burn::tensor::{Distribution, Tolerance};

    #[test]
    fn equals_the_batched_linear_in_value_and_gradients() {
        let device = Default::default();
        let linear = LinearConfig::new(5, 3).init::<AB>(&device);
        let x = Tensor::<AB, 3>::random([2, 4, 5], Distribution::Default, &device).require_grad();
        let weights = Tensor::<AB, 3>::random([2, 4, 3], Distribution::Default, &device);
        let rows = linear.forward_positions(x.clone());
        let batched = linear.forward(x.clone());
        let tolerance = Tolerance::absolute(1e-12);
        rows.to_data()
            .assert_approx_eq::<f64>(&batched.to_data(), tolerance);
        let g_rows = (rows * weights.clone()).sum().backward();
        let g_batched = (batched * weights).sum().backward();
        x.grad(&g_rows)
            .unwrap()
            .to_data()
            .assert_approx_eq::<f64>(&x.grad(&g_batched).unwrap().to_data(), tolerance);
        let weight = |grads| linear.weight.grad(grads).unwrap().to_data();
        weight(&g_rows).assert_approx_eq::<f64>(&weight(&g_batched), tolerance);
    }
}
