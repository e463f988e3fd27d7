//! SimCLR training-step throughput and the augmentation pipeline's throughput, on the CPU
//! backends (ndarray, the reference, and flex).
//!
//! `cargo bench -p simclr --bench train_step` (or `cargo xtask bench simclr`). A step is the
//! peer's (`shared/peers/bench_steps.py`, cases `simclr_b64` and `simclr_b256`): the forward
//! and backward pass of ResNet-18 (CIFAR stem) + 512→512→128 head over 2N views of 32×32,
//! NT-Xent τ 0.5, and an SGD update (momentum 0.9, weight decay 5e-4). `SIMCLR_BENCH_BATCHES`
//! (e.g. `16,64`) and `SIMCLR_BENCH_WIDTH` (width multiplier) change the cases; see
//! `contrastive_core::run::bench` for backends, case selection and JSON output.

use std::sync::Arc;
use std::time::Instant;

use burn::backend::{Autodiff, Flex, NdArray};
use burn::data::dataloader::batcher::Batcher;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, Optimizer, SgdConfig};
use burn::tensor::backend::AutodiffBackend;
use contrastive_core::nn::ResNetConfig;
use contrastive_core::run::bench::{self, Measurement};
use contrastive_core::run::epochs::EpochDataset;
use simclr::data::augment::{AugmentConfig, Augmenter};
use simclr::data::batcher::{ViewPairBatcher, ViewPairDataset};
use simclr::data::synthetic;
use simclr::{SimClr, SimclrModelConfig};

const WARMUP: usize = 2;
const TIMED: usize = 10;

fn median(mut times: Vec<f64>) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// The step's seconds, each timed after the loss is read (which synchronises the device).
fn step_times<B: AutodiffBackend>(batch: usize, width: f64) -> Vec<f64> {
    let device = Default::default();
    let config = SimclrModelConfig::new()
        .with_encoder(ResNetConfig::new().with_width_multiplier(width))
        .with_head_hidden_dim(Some((512.0 * width) as usize));
    let mut model: SimClr<B> = config.init(&device).unwrap();
    let mut optim = SgdConfig::new()
        .with_momentum(Some(MomentumConfig::new().with_momentum(0.9)))
        .with_weight_decay(Some(WeightDecayConfig::new(5e-4)))
        .init::<B, SimClr<B>>();
    let images = Arc::new(synthetic::generate(batch, 32, 0));
    let pairs = ViewPairDataset::new(images, Augmenter::new(AugmentConfig::new()), 0, batch);
    let items = (0..batch).map(|i| pairs.get(i, 0).unwrap()).collect();
    let views = Batcher::<B, _, _>::batch(&ViewPairBatcher, items, &device).views;
    bench::time_steps(WARMUP, TIMED, || {
        let loss = model.forward(views.clone()).unwrap().loss;
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(0.1, model.clone(), grads);
        let _ = loss.into_scalar();
    })
}
fn augment_images_per_second() -> f64 {
    let images = Arc::new(synthetic::generate(512, 32, 1));
    let pairs = ViewPairDataset::new(images, Augmenter::new(AugmentConfig::new()), 0, 512);
    let mut times = Vec::new();
    for epoch in 0..5 {
        let start = Instant::now();
        for i in 0..512 {
            let _ = pairs.get(i, epoch).unwrap();
        }
        times.push(start.elapsed().as_secs_f64());
    }
    // Each item is two views.
    1024.0 / median(times)
}

fn main() {
    contrastive_core::run::allocator::keep_freed_memory();
    let batches: Vec<usize> = std::env::var("SIMCLR_BENCH_BATCHES")
        .ok()
        .map(|v| v.split(',').filter_map(|b| b.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![64, 256]);
    let width: f64 = std::env::var("SIMCLR_BENCH_WIDTH")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(1.0);
    if bench::selected("simclr_augment") {
        let augment = augment_images_per_second();
        println!("augmentation pipeline (one thread): {augment:.0} views/s");
    }
    for batch in batches {
        // The peer's case names hold for its shape (full width) only.
        let case = if width == 1.0 {
            format!("simclr_b{batch}")
        } else {
            format!("simclr_b{batch}_w{width}")
        };
        if !bench::selected(&case) {
            continue;
        }
        for backend in bench::backends(&["ndarray", "flex"]) {
            bench::reset_peak_rss();
            let step_seconds = match backend.as_str() {
                "ndarray" => step_times::<Autodiff<NdArray>>(batch, width),
                "flex" => step_times::<Autodiff<Flex>>(batch, width),
                other => panic!("unknown backend {other} (ndarray, flex)"),
            };
            Measurement {
                case: case.clone(),
                backend,
                unit: "images".into(),
                items_per_step: 2 * batch,
                step_seconds,
                peak_rss_mb: bench::peak_rss_mb(),
                arch: format!("ResNet-18 x{width} CIFAR stem + 512x{width}->512x{width}->128 head, {} views 3x32x32, NT-Xent tau 0.5, SGD momentum 0.9 wd 5e-4", 2 * batch),
            }
            .report();
        }
    }
}
