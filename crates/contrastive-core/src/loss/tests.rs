//! Hand-derived values, error cases and finite-difference gradient checks, independent of
//! any fixture.

use burn::tensor::{Distribution, Tensor, TensorData};

use super::*;
use crate::error::ContrastiveError;
use crate::metrics::{alignment, contrastive_accuracy, uniformity};

use crate::test_backend::{TestAutodiffBackend as AB, TestBackend as B};

fn matrix(rows: &[&[f64]]) -> Tensor<B, 2> {
    let cols = rows[0].len();
    let data: Vec<f64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_data(
        TensorData::new(data, [rows.len(), cols]),
        &Default::default(),
    )
}

fn scalar<BK: burn::tensor::backend::Backend>(t: Tensor<BK, 1>) -> f64 {
    t.into_data().convert::<f64>().to_vec::<f64>().unwrap()[0]
}

fn identity(n: usize) -> Tensor<B, 2> {
    Tensor::eye(n, &Default::default())
}

#[test]
fn nt_xent_two_orthogonal_pairs() {
    // Views [e1, e2, e1, e2]: each row sees its positive at cos 1 and two negatives at cos 0,
    // so every ℓᵢ = −1/τ + log(e^{1/τ} + 2) = log(1 + 2e^{−1/τ}).
    for tau in [0.5, 0.1, 0.05] {
        let loss = NtXentConfig::new().with_temperature(tau).init().unwrap();
        let out = loss.forward(identity(2), identity(2)).unwrap();
        let expected = (1.0 + 2.0 * (-1.0 / tau).exp()).ln();
        assert!((scalar(out.loss) - expected).abs() < 1e-12, "tau {tau}");
    }
}

#[test]
fn nt_xent_masks_self_similarity() {
    // Without the mask, row i's own cos = 1 would enter the denominator: log(1 + e^{1/τ}·…).
    let out = NtXentConfig::new()
        .init()
        .unwrap()
        .forward(identity(2), identity(2))
        .unwrap();
    let logits = out.logits.into_data().to_vec::<f64>().unwrap();
    for i in 0..4 {
        assert_eq!(logits[i * 4 + i], f64::NEG_INFINITY);
    }
    let targets = out
        .targets
        .into_data()
        .convert::<i64>()
        .to_vec::<i64>()
        .unwrap();
    assert_eq!(targets, vec![2, 3, 0, 1]);
}

#[test]
fn unsupervised_simcse_orthonormal_views() {
    // h1 = h2 = I₄: ℓᵢ = log(1 + 3e^{−1/τ}).
    let tau: f64 = 0.05;
    let out = UnsupervisedSimCseConfig::new()
        .init()
        .unwrap()
        .forward(identity(4), identity(4))
        .unwrap();
    let expected = (1.0 + 3.0 * (-1.0 / tau).exp()).ln();
    assert!((scalar(out.loss) - expected).abs() < 1e-12);
}

#[test]
fn supervised_simcse_hand_derived_with_weight() {
    // h = h⁺ = I₃, h⁻ = −I₃: row i has 1/τ at its positive, −1/τ + w at its own hard negative
    // and 0 in the 4 other columns: ℓ = log(e^{1/τ} + 4 + e^{−1/τ + w}) − 1/τ.
    let tau = 0.1;
    for w in [0.0, 2f64.ln(), 0.5f64.ln(), 5.0] {
        let loss = SupervisedSimCseConfig::new()
            .with_temperature(tau)
            .with_hard_negative_weight(w)
            .init()
            .unwrap();
        let out = loss
            .forward(identity(3), identity(3), identity(3).neg())
            .unwrap();
        let expected = ((1.0 / tau).exp() + 4.0 + (-1.0 / tau + w).exp()).ln() - 1.0 / tau;
        assert!((scalar(out.loss) - expected).abs() < 1e-12, "w {w}");
        assert_eq!(out.logits.dims(), [3, 6]);
    }
}

#[test]
fn losses_are_scale_invariant() {
    let z1: Tensor<B, 2> =
        Tensor::random([5, 7], Distribution::Normal(0.0, 1.0), &Default::default());
    let z2: Tensor<B, 2> =
        Tensor::random([5, 7], Distribution::Normal(0.0, 1.0), &Default::default());
    let loss = NtXentConfig::new().init().unwrap();
    let a = scalar(loss.forward(z1.clone(), z2.clone()).unwrap().loss);
    let b = scalar(
        loss.forward(z1.mul_scalar(3.0), z2.mul_scalar(0.25))
            .unwrap()
            .loss,
    );
    assert!((a - b).abs() < 1e-12);
}

#[test]
fn misuse_is_a_typed_error() {
    assert_eq!(
        NtXentConfig::new()
            .with_temperature(0.0)
            .init()
            .unwrap_err(),
        ContrastiveError::InvalidTemperature { temperature: 0.0 }
    );
    assert!(InfoNceConfig::new()
        .with_temperature(f64::NAN)
        .init()
        .is_err());
    let loss = NtXentConfig::new().init().unwrap();
    assert_eq!(
        loss.forward(identity(1), identity(1)).unwrap_err(),
        ContrastiveError::BatchTooSmall { batch: 1 }
    );
    let err = loss.forward(identity(3), identity(2)).unwrap_err();
    assert!(
        err.to_string().contains("[3, 3]") && err.to_string().contains("[2, 2]"),
        "{err}"
    );
    let sup = SupervisedSimCseConfig::new().init().unwrap();
    let err = sup
        .forward(identity(3), identity(3), matrix(&[&[1.0, 0.0]]))
        .unwrap_err();
    assert!(err.to_string().contains("hard negatives"), "{err}");
    assert!(SupervisedSimCseConfig::new()
        .with_hard_negative_weight(f64::INFINITY)
        .init()
        .is_err());
}

#[test]
fn accuracy_counts_rows_whose_positive_wins() {
    let logits = matrix(&[&[3.0, 1.0, 0.0], &[5.0, 1.0, 0.0], &[0.0, 0.0, 9.0]]);
    let targets = Tensor::arange(0..3, &Default::default());
    assert!((contrastive_accuracy(logits, targets) - 2.0 / 3.0).abs() < 1e-12);
}

/// Central finite differences of a scalar function of one input matrix, against autodiff.
fn check_gradient(f: impl Fn(Tensor<AB, 2>) -> Tensor<AB, 1>, shape: [usize; 2], seed: u64) {
    use burn::tensor::backend::Backend;
    AB::seed(&Default::default(), seed);
    let x: Tensor<AB, 2> =
        Tensor::random(shape, Distribution::Normal(0.0, 1.0), &Default::default());
    let x = x.require_grad();
    let grads = f(x.clone()).backward();
    let analytic = x.grad(&grads).unwrap().into_data().to_vec::<f64>().unwrap();
    let base = x.inner().into_data().to_vec::<f64>().unwrap();
    let h = 1e-6;
    for i in 0..base.len() {
        let mut plus = base.clone();
        let mut minus = base.clone();
        plus[i] += h;
        minus[i] -= h;
        let eval = |v: Vec<f64>| {
            scalar(f(Tensor::from_data(
                TensorData::new(v, shape),
                &Default::default(),
            )))
        };
        let numeric = (eval(plus) - eval(minus)) / (2.0 * h);
        assert!(
            (numeric - analytic[i]).abs() < 1e-6 + 1e-5 * numeric.abs(),
            "element {i}: finite difference {numeric}, autodiff {}",
            analytic[i]
        );
    }
}

#[test]
fn nt_xent_gradient_matches_finite_differences() {
    let loss = NtXentConfig::new().with_temperature(0.2).init().unwrap();
    check_gradient(
        |z| {
            loss.forward(z.clone().slice(0..3), z.slice(3..6))
                .unwrap()
                .loss
        },
        [6, 5],
        1,
    );
}

#[test]
fn supervised_simcse_gradient_matches_finite_differences() {
    let loss = SupervisedSimCseConfig::new()
        .with_temperature(0.1)
        .with_hard_negative_weight(0.7)
        .init()
        .unwrap();
    check_gradient(
        |x| {
            loss.forward(x.clone().slice(0..3), x.clone().slice(3..6), x.slice(6..9))
                .unwrap()
                .loss
        },
        [9, 4],
        2,
    );
}

#[test]
fn alignment_and_uniformity_gradients_match_finite_differences() {
    check_gradient(
        |x| alignment(x.clone().slice(0..4), x.slice(4..8), 2.0).unwrap(),
        [8, 3],
        3,
    );
    check_gradient(|x| uniformity(x, 2.0).unwrap(), [5, 3], 4);
}

#[test]
fn uniformity_of_opposite_points() {
    // Two antipodal unit vectors: ‖u − v‖² = 4, so uniformity = −2·4 = −8.
    let u = uniformity(matrix(&[&[1.0, 0.0], &[-2.0, 0.0]]), 2.0).unwrap();
    assert!((scalar(u) + 8.0).abs() < 1e-12);
    // Identical points: exp(0) = 1, log 1 = 0; alignment of a pair with itself is 0.
    let same = matrix(&[&[1.0, 2.0], &[2.0, 4.0], &[0.5, 1.0]]);
    assert!(scalar(uniformity(same.clone(), 2.0).unwrap()).abs() < 1e-12);
    assert!(scalar(alignment(same.clone(), same, 2.0).unwrap()).abs() < 1e-12);
}
