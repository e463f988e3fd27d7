//! The oracle checks on `NdArray<f32>`, the precision training uses, at the tolerances f32
//! rounding allows; and the stability of the log-softmax formulation at a tiny temperature.

mod oracle;

use burn::backend::{Autodiff, NdArray};
use burn::tensor::Tensor;
use contrastive_core::loss::UnsupervisedSimCseConfig;
use contrastive_tests::values;
use oracle::Tolerance;

type B = Autodiff<NdArray<f32>>;

// f32 keeps ~7 digits; a loss of 0.0027 computed as a difference of logits near 10 loses ~4.
const F32_TOL: Tolerance = Tolerance {
    loss_rtol: 5e-4,
    rtol: 1e-3,
    atol: 2e-4,
};

#[test]
fn nt_xent_matches_oracle() {
    oracle::nt_xent_matches::<B>(F32_TOL);
}

#[test]
fn unsupervised_simcse_matches_oracle() {
    oracle::simcse_unsup_matches::<B>(F32_TOL);
}

#[test]
fn supervised_simcse_matches_oracle() {
    oracle::simcse_sup_matches::<B>(F32_TOL);
}

#[test]
fn alignment_and_uniformity_match_oracle() {
    oracle::alignment_uniformity_match::<B>(F32_TOL);
}

#[test]
fn stable_at_small_temperature_in_f32() {
    // Cosines of ±1 at τ = 0.01 are logits of ±100: e^100 overflows f32, log-softmax does not.
    let z = Tensor::<B, 2>::eye(4, &Default::default()).require_grad();
    let out = UnsupervisedSimCseConfig::new()
        .with_temperature(0.01)
        .init()
        .unwrap()
        .forward(z.clone(), z.clone().neg())
        .unwrap();
    let loss = values(out.loss.clone())[0];
    // Positive at −100, the three negatives at 0: ℓ ≈ 100 + log 3.
    assert!((loss - (100.0 + 3f64.ln())).abs() < 1e-3, "{loss}");
    let grads = out.loss.backward();
    assert!(values(z.grad(&grads).unwrap())
        .iter()
        .all(|g| g.is_finite()));
}
