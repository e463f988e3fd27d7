//! Checks of losses and gradients against the float64 PyTorch oracle in
//! `shared/fixtures/oracle_losses.json`, generic over the backend.
//!
//! Burn 0.21 fixes a device's default float type at its first use, per device and not per
//! backend type, so each precision runs in its own test binary (`oracle_losses_f64.rs`,
//! `oracle_losses_f32.rs`).

use burn::tensor::backend::Backend;
use burn::tensor::Tensor;
use contrastive_core::loss::{NtXentConfig, SupervisedSimCseConfig, UnsupervisedSimCseConfig};
use contrastive_core::metrics::{alignment, uniformity};
use contrastive_core::similarity::cosine_similarity_matrix;
use contrastive_tests::{
    assert_all_close, json_f64, json_matrix, load_fixture, tensor_from_json, values,
};
use serde_json::Value;

/// Tolerances of one precision: losses relative; gradients and logits element-wise
/// `|a − e| ≤ atol + rtol·|e|`, so that small entries are checked too.
#[derive(Clone, Copy)]
pub struct Tolerance {
    pub loss_rtol: f64,
    pub rtol: f64,
    pub atol: f64,
}

fn fixture() -> Option<Value> {
    load_fixture("oracle_losses.json")
}

fn leaf<B: burn::tensor::backend::AutodiffBackend>(value: &Value) -> Tensor<B, 2> {
    tensor_from_json::<B>(value, &Default::default()).require_grad()
}

/// `actual` against the oracle's matrix; `scale` is the magnitude the entries reach (logits
/// reach 1/τ), by which the absolute part of the tolerance grows.
fn expect_matrix(what: &str, actual: Vec<f64>, expected: &Value, tol: Tolerance, scale: f64) {
    assert_all_close(
        what,
        &actual,
        &json_matrix(expected).0,
        tol.rtol,
        tol.atol * scale,
    );
}

fn expect_loss(what: &str, actual: Tensor<impl Backend, 1>, expected: &Value, tol: Tolerance) {
    assert_all_close(
        what,
        &values(actual),
        &[json_f64(expected)],
        tol.loss_rtol,
        0.0,
    );
}

pub fn nt_xent_matches<B: burn::tensor::backend::AutodiffBackend>(tol: Tolerance) {
    let Some(oracle) = fixture() else { return };
    let fx = &oracle["nt_xent"];
    let n = fx["N"].as_u64().unwrap() as usize;
    let (z, [rows, d]) = json_matrix(&fx["inputs"]["z"]);
    assert_eq!(rows, 2 * n);
    let device = Default::default();
    let z_all = Tensor::<B, 2>::from_data(burn::tensor::TensorData::new(z, [rows, d]), &device);
    for case in fx["cases"].as_array().unwrap() {
        let tau = json_f64(&case["tau"]);
        let z1 = z_all.clone().slice(0..n).detach().require_grad();
        let z2 = z_all.clone().slice(n..2 * n).detach().require_grad();
        let what = format!("NT-Xent tau={tau}");
        expect_matrix(
            &format!("{what} cosine matrix"),
            values(cosine_similarity_matrix(z_all.clone(), z_all.clone())),
            &case["cos_sim_matrix"],
            tol,
            1.0,
        );
        let out = NtXentConfig::new()
            .with_temperature(tau)
            .init()
            .unwrap()
            .forward(z1.clone(), z2.clone())
            .unwrap();
        expect_loss(&what, out.loss.clone(), &case["loss"], tol);
        let grads = out.loss.backward();
        expect_matrix(
            &format!("{what} dL/dz1"),
            values(z1.grad(&grads).unwrap()),
            &case["grad_z1"],
            tol,
            1.0,
        );
        expect_matrix(
            &format!("{what} dL/dz2"),
            values(z2.grad(&grads).unwrap()),
            &case["grad_z2"],
            tol,
            1.0,
        );
    }

    let case = &fx["near_identical_views_case"];
    let (z, [rows, d]) = json_matrix(&case["inputs"]["z"]);
    let z_all = Tensor::<B, 2>::from_data(burn::tensor::TensorData::new(z, [rows, d]), &device);
    let z1 = z_all.clone().slice(0..n).require_grad();
    let z2 = z_all.slice(n..2 * n).require_grad();
    let out = NtXentConfig::new()
        .with_temperature(json_f64(&case["tau"]))
        .init()
        .unwrap()
        .forward(z1.clone(), z2.clone())
        .unwrap();
    expect_loss(
        "NT-Xent near-identical views",
        out.loss.clone(),
        &case["loss"],
        tol,
    );
    let grads = out.loss.backward();
    let expected = json_matrix(&case["grad_z"]).0;
    let mut actual = values(z1.grad(&grads).unwrap());
    actual.extend(values(z2.grad(&grads).unwrap()));
    assert_all_close(
        "NT-Xent near-identical dL/dz",
        &actual,
        &expected,
        tol.rtol,
        tol.atol,
    );
}

pub fn simcse_unsup_matches<B: burn::tensor::backend::AutodiffBackend>(tol: Tolerance) {
    let Some(oracle) = fixture() else { return };
    let fx = &oracle["simcse_unsup"];
    let loss = UnsupervisedSimCseConfig::new()
        .with_temperature(json_f64(&fx["tau"]))
        .init()
        .unwrap();
    let h1 = leaf::<B>(&fx["inputs"]["h1"]);
    let h2 = leaf::<B>(&fx["inputs"]["h2"]);
    let out = loss.forward(h1.clone(), h2.clone()).unwrap();
    expect_loss("unsup SimCSE", out.loss.clone(), &fx["loss"], tol);
    // Logits reach 1/τ = 20, so compare them relative to that scale.
    expect_matrix(
        "unsup SimCSE logits",
        values(out.logits),
        &fx["logits"],
        tol,
        20.0,
    );
    let grads = out.loss.backward();
    expect_matrix(
        "unsup SimCSE dL/dh1",
        values(h1.grad(&grads).unwrap()),
        &fx["grad_h1"],
        tol,
        1.0,
    );
    expect_matrix(
        "unsup SimCSE dL/dh2",
        values(h2.grad(&grads).unwrap()),
        &fx["grad_h2"],
        tol,
        1.0,
    );

    // The symmetric variant is the mean of both directions.
    let sym = &fx["symmetric"];
    let h1 = leaf::<B>(&fx["inputs"]["h1"]);
    let h2 = leaf::<B>(&fx["inputs"]["h2"]);
    let both = (loss.forward(h1.clone(), h2.clone()).unwrap().loss
        + loss.forward(h2.clone(), h1.clone()).unwrap().loss)
        .div_scalar(2.0);
    expect_loss("symmetric unsup SimCSE", both.clone(), &sym["loss"], tol);
    let grads = both.backward();
    expect_matrix(
        "symmetric dL/dh1",
        values(h1.grad(&grads).unwrap()),
        &sym["grad_h1"],
        tol,
        1.0,
    );
    expect_matrix(
        "symmetric dL/dh2",
        values(h2.grad(&grads).unwrap()),
        &sym["grad_h2"],
        tol,
        1.0,
    );
}

pub fn simcse_sup_matches<B: burn::tensor::backend::AutodiffBackend>(tol: Tolerance) {
    let Some(oracle) = fixture() else { return };
    let fx = &oracle["simcse_sup"];
    let cases = fx["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 3, "three hard-negative weights expected");
    for case in cases {
        let w = json_f64(&case["w_additive"]);
        let loss = SupervisedSimCseConfig::new()
            .with_temperature(json_f64(&fx["tau"]))
            .with_hard_negative_weight(w)
            .init()
            .unwrap();
        let [h, h_pos, h_neg] = ["h", "h_pos", "h_neg"].map(|k| leaf::<B>(&fx["inputs"][k]));
        let out = loss
            .forward(h.clone(), h_pos.clone(), h_neg.clone())
            .unwrap();
        let what = format!("sup SimCSE w={w}");
        expect_loss(&what, out.loss.clone(), &case["loss"], tol);
        expect_matrix(
            &format!("{what} logits"),
            values(out.logits),
            &case["logits"],
            tol,
            20.0,
        );
        let grads = out.loss.backward();
        for (name, tensor) in [("grad_h", h), ("grad_h_pos", h_pos), ("grad_h_neg", h_neg)] {
            expect_matrix(
                &format!("{what} {name}"),
                values(tensor.grad(&grads).unwrap()),
                &case[name],
                tol,
                1.0,
            );
        }
    }
}

pub fn alignment_uniformity_match<B: burn::tensor::backend::AutodiffBackend>(tol: Tolerance) {
    let Some(oracle) = fixture() else { return };
    let fx = &oracle["align_uniform"];
    let x = leaf::<B>(&fx["inputs"]["x"]);
    let y = leaf::<B>(&fx["inputs"]["y"]);
    expect_loss(
        "align α=1",
        alignment(x.clone(), y.clone(), 1.0).unwrap(),
        &fx["align_alpha1"],
        tol,
    );
    expect_loss(
        "uniform(y)",
        uniformity(y.clone(), 2.0).unwrap(),
        &fx["uniform_t2_y"],
        tol,
    );
    let xy = Tensor::cat(vec![x.clone(), y.clone()], 0);
    expect_loss(
        "uniform([x; y])",
        uniformity(xy, 2.0).unwrap(),
        &fx["uniform_t2_concat_xy"],
        tol,
    );

    let align = alignment(x.clone(), y.clone(), 2.0).unwrap();
    expect_loss("align α=2", align.clone(), &fx["align_alpha2"], tol);
    let grads = align.backward();
    expect_matrix(
        "d align / dx",
        values(x.grad(&grads).unwrap()),
        &fx["grad_align_alpha2_wrt_raw_x"],
        tol,
        1.0,
    );
    expect_matrix(
        "d align / dy",
        values(y.grad(&grads).unwrap()),
        &fx["grad_align_alpha2_wrt_raw_y"],
        tol,
        1.0,
    );

    let x = leaf::<B>(&fx["inputs"]["x"]);
    let uniform = uniformity(x.clone(), 2.0).unwrap();
    expect_loss("uniform(x)", uniform.clone(), &fx["uniform_t2_x"], tol);
    let grads = uniform.backward();
    // The Gram form ‖uᵢ − uⱼ‖² = 2 − 2 uᵢ·uⱼ (memory O(N·d), where PyTorch's pdist takes
    // O(N²·d)) loses digits to cancellation on close pairs: 5.2e-8 relative in float64 here.
    let gram = Tolerance {
        rtol: tol.rtol.max(1e-7),
        ..tol
    };
    expect_matrix(
        "d uniform / dx",
        values(x.grad(&grads).unwrap()),
        &fx["grad_uniform_t2_wrt_raw_x"],
        gram,
        1.0,
    );
}
