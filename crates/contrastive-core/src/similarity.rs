//! Cosine similarity between rows, the `sim(u, v)` of every method here.

use burn::tensor::{backend::Backend, Tensor};

/// Smallest norm a row is divided by (`F.normalize`'s default), so a zero row gives zeros, not NaN.
pub const NORM_EPS: f64 = 1e-12;

/// Scales each row to unit L2 norm: `u / max(‖u‖, ε)`.
pub fn l2_normalize<B: Backend>(x: Tensor<B, 2>) -> Tensor<B, 2> {
    let norm = x.clone().square().sum_dim(1).sqrt().clamp_min(NORM_EPS);
    x / norm
}

/// All-pairs cosine similarity `S[i, j] = sim(a_i, b_j)` of two row sets `[n, d]` and `[m, d]`.
pub fn cosine_similarity_matrix<B: Backend>(a: Tensor<B, 2>, b: Tensor<B, 2>) -> Tensor<B, 2> {
    l2_normalize(a).matmul(l2_normalize(b).transpose())
}
