//! Cosine similarity between rows, the `sim(u, v)` of every method here: on tensors for the
//! losses, and on the host for embeddings read back from the device (STS scoring, the k-NN
//! monitor, `embed --normalize`).

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

/// A vector read back from the device, scaled to unit L2 norm in f64: `v / max(‖v‖, ε)`.
pub fn unit_vector(v: &[f32]) -> Vec<f64> {
    let norm = v
        .iter()
        .map(|x| (*x as f64).powi(2))
        .sum::<f64>()
        .sqrt()
        .max(NORM_EPS);
    v.iter().map(|x| *x as f64 / norm).collect()
}

/// Cosine similarity of two host vectors (0 when either is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    unit_vector(a)
        .iter()
        .zip(unit_vector(b))
        .map(|(x, y)| x * y)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_cosine_matches_the_definition_and_handles_zero_vectors() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 1.0]) - 0.5f64.sqrt()).abs() < 1e-12);
        assert!((cosine(&[3.0, 4.0], &[-3.0, -4.0]) + 1.0).abs() < 1e-12);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 1.0]), 0.0);
        let unit = unit_vector(&[3.0, 4.0]);
        assert!((unit[0] - 0.6).abs() < 1e-12 && (unit[1] - 0.8).abs() < 1e-12);
        assert_eq!(unit_vector(&[0.0, 0.0]), vec![0.0, 0.0]);
    }
}
