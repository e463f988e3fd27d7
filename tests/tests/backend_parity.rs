//! The same losses and a small conv + linear model give the same numbers (forward and
//! backward, within 1e-4) on `ndarray` and `wgpu`.
//!
//! WGPU runs here on Mesa's software Vulkan driver (llvmpipe); `CUBECL_AUTOTUNE_LEVEL=minimal`
//! (set by `.ci/run`) keeps kernel autotuning short. Without any adapter the tests skip with a
//! reason, unless `CONTRASTIVE_REQUIRE_WGPU=1` (set by `.ci/run` when the driver is installed)
//! makes that a failure.

use burn::backend::{Autodiff, NdArray, Wgpu};
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig};
use burn::nn::{Linear, LinearConfig, Relu};
use burn::record::{BinBytesRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use contrastive_core::loss::{NtXentConfig, SupervisedSimCseConfig};
use contrastive_core::metrics::uniformity;
use contrastive_tests::{assert_all_close, values};

mod wgpu_probe;
use wgpu_probe::wgpu_available;

type Cpu = Autodiff<NdArray<f32>>;
type Gpu = Autodiff<Wgpu>;

const TOL: f64 = 1e-4;

/// Deterministic, backend-independent input values in [-1, 1].
fn pattern<B: Backend, const D: usize>(shape: [usize; D], phase: f64) -> Tensor<B, D> {
    let count: usize = shape.iter().product();
    let data: Vec<f32> = (0..count)
        .map(|i| ((i as f64 * 0.7373 + phase).sin()) as f32)
        .collect();
    Tensor::from_data(TensorData::new(data, shape), &Default::default())
}

/// Loss value and input gradients of NT-Xent and supervised SimCSE (with a hard-negative
/// weight) and uniformity, on one backend.
fn loss_values<B: AutodiffBackend>() -> Vec<(String, Vec<f64>)> {
    let z1 = pattern::<B, 2>([6, 16], 0.0).require_grad();
    let z2 = pattern::<B, 2>([6, 16], 1.0).require_grad();
    let z3 = pattern::<B, 2>([6, 16], 2.0).require_grad();
    let nt_xent = NtXentConfig::new()
        .with_temperature(0.1)
        .init()
        .unwrap()
        .forward(z1.clone(), z2.clone())
        .unwrap();
    let sup = SupervisedSimCseConfig::new()
        .with_hard_negative_weight(0.5)
        .init()
        .unwrap()
        .forward(z1.clone(), z2.clone(), z3.clone())
        .unwrap();
    let uniform = uniformity(z3.clone(), 2.0).unwrap();
    let total = nt_xent.loss.clone() + sup.loss.clone() + uniform.clone();
    let grads = total.backward();
    vec![
        ("NT-Xent loss".into(), values(nt_xent.loss)),
        ("sup SimCSE loss".into(), values(sup.loss)),
        ("uniformity".into(), values(uniform)),
        ("d/dz1".into(), values(z1.grad(&grads).unwrap())),
        ("d/dz2".into(), values(z2.grad(&grads).unwrap())),
        ("d/dz3".into(), values(z3.grad(&grads).unwrap())),
    ]
}

#[derive(Module, Debug)]
struct ConvLinear<B: Backend> {
    conv: Conv2d<B>,
    pool: AdaptiveAvgPool2d,
    relu: Relu,
    linear: Linear<B>,
}

impl<B: Backend> ConvLinear<B> {
    fn new(device: &B::Device) -> Self {
        Self {
            conv: Conv2dConfig::new([3, 4], [3, 3]).init(device),
            pool: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            relu: Relu::new(),
            linear: LinearConfig::new(4, 5).init(device),
        }
    }

    fn forward(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        let x = self
            .pool
            .forward(self.relu.forward(self.conv.forward(images)));
        self.linear.forward(x.flatten(1, 3))
    }
}

fn model_values<B: AutodiffBackend>(weights: &[u8]) -> Vec<(String, Vec<f64>)> {
    let device = Default::default();
    let record = BinBytesRecorder::<FullPrecisionSettings>::new()
        .load(weights.to_vec(), &device)
        .expect("weights load on every backend");
    let model = ConvLinear::<B>::new(&device).load_record(record);
    let images = pattern::<B, 4>([2, 3, 8, 8], 0.3);
    let out = model.forward(images);
    let loss = out.clone().square().mean();
    let grads = loss.backward();
    vec![
        ("model output".into(), values(out)),
        (
            "conv weight grad".into(),
            values(model.conv.weight.grad(&grads).unwrap()),
        ),
        (
            "linear weight grad".into(),
            values(model.linear.weight.grad(&grads).unwrap()),
        ),
    ]
}

fn assert_same(cpu: Vec<(String, Vec<f64>)>, gpu: Vec<(String, Vec<f64>)>) {
    for ((name, a), (_, b)) in cpu.iter().zip(&gpu) {
        assert_all_close(&format!("{name} (wgpu vs ndarray)"), b, a, TOL, TOL);
    }
}

#[test]
fn losses_agree_between_ndarray_and_wgpu() {
    if wgpu_available().is_none() {
        return;
    }
    assert_same(loss_values::<Cpu>(), loss_values::<Gpu>());
}

#[test]
fn conv_linear_model_agrees_between_ndarray_and_wgpu() {
    if wgpu_available().is_none() {
        return;
    }
    let weights = BinBytesRecorder::<FullPrecisionSettings>::new()
        .record(
            ConvLinear::<NdArray<f32>>::new(&Default::default()).into_record(),
            (),
        )
        .unwrap();
    assert_same(model_values::<Cpu>(&weights), model_values::<Gpu>(&weights));
}
