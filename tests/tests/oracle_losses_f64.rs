//! The oracle checks on `NdArray<f64>` at the stated tolerances: losses to 1e-5 relative,
//! gradients (through Burn's autodiff) to 1e-4.

mod oracle;

use burn::backend::{Autodiff, NdArray};
use oracle::Tolerance;

type B = Autodiff<NdArray<f64>>;

const F64_TOL: Tolerance = Tolerance {
    loss_rtol: 1e-5,
    grad_atol: 1e-4,
};

#[test]
fn nt_xent_matches_oracle() {
    oracle::nt_xent_matches::<B>(F64_TOL);
}

#[test]
fn unsupervised_simcse_matches_oracle() {
    oracle::simcse_unsup_matches::<B>(F64_TOL);
}

#[test]
fn supervised_simcse_matches_oracle() {
    oracle::simcse_sup_matches::<B>(F64_TOL);
}

#[test]
fn alignment_and_uniformity_match_oracle() {
    oracle::alignment_uniformity_match::<B>(F64_TOL);
}
