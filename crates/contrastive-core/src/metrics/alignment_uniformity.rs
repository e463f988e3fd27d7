use burn::tensor::{backend::Backend, Bool, Tensor};

use crate::error::{check_batch, check_same_shape, ContrastiveError};
use crate::similarity::l2_normalize;

/// Alignment `E ‖u − v‖^α` over positive pairs of L2-normalised rows (lower is better).
///
/// `x` and `y` are `[N, d]`, row `i` of each forming a positive pair; the rows are normalised
/// first, as in the SimCSE paper. The usual `α` is 2.
pub fn alignment<B: Backend>(
    x: Tensor<B, 2>,
    y: Tensor<B, 2>,
    alpha: f64,
) -> Result<Tensor<B, 1>, ContrastiveError> {
    check_same_shape("alignment", "x", x.dims(), "y", y.dims())?;
    let squared_distance = (l2_normalize(x) - l2_normalize(y)).square().sum_dim(1);
    Ok(squared_distance.powf_scalar(alpha / 2.0).mean())
}

/// Uniformity `log E_{i<j} exp(−t ‖uᵢ − uⱼ‖²)` over all distinct pairs of L2-normalised rows
/// of `x` (`[N, d]`, N ≥ 2; lower is better). The usual `t` is 2.
pub fn uniformity<B: Backend>(x: Tensor<B, 2>, t: f64) -> Result<Tensor<B, 1>, ContrastiveError> {
    let [n, _] = x.dims();
    check_batch(n)?;
    let u = l2_normalize(x);
    // ‖uᵢ − uⱼ‖² = 2 − 2 uᵢ·uⱼ for unit rows; clamped against rounding below zero.
    let squared_distance = u
        .clone()
        .matmul(u.transpose())
        .mul_scalar(-2.0)
        .add_scalar(2.0)
        .clamp_min(0.0);
    // `triu_mask` is true outside the strict upper triangle: exactly the entries that are not pairs i < j.
    let not_a_pair = Tensor::<B, 2, Bool>::triu_mask([n, n], 1, &squared_distance.device());
    let kernel = squared_distance
        .mul_scalar(-t)
        .exp()
        .mask_fill(not_a_pair, 0.0);
    let pairs = (n * (n - 1) / 2) as f64;
    Ok(kernel.sum().div_scalar(pairs).log())
}
