//! The oracle checks on `NdArray<f64>`, near float64's rounding: losses to 1e-12 relative,
//! logits and gradients (through Burn's autodiff) to 1e-9 relative plus 1e-13 absolute, so
//! that entries far below the largest are checked as well.

mod oracle;

use burn::backend::{Autodiff, NdArray};
use oracle::Tolerance;

type B = Autodiff<NdArray<f64>>;

const F64_TOL: Tolerance = Tolerance {
    loss_rtol: 1e-12,
    rtol: 1e-9,
    atol: 1e-13,
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
