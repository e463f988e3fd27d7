//! SimCLR training-step throughput and the augmentation pipeline's throughput, on the CPU
//! backends (ndarray, the reference, and flex).
//!
//! `cargo bench -p simclr --bench train_step` (or `cargo xtask bench simclr`). A step is the
//! forward and backward pass of ResNet-18 (CIFAR stem) + 512→512→128 head over 2N views of
//! 32×32 and a LARS update. Set `SIMCLR_BENCH_BATCHES` (e.g. `16,64`),
//! `SIMCLR_BENCH_WIDTH` (width multiplier) and `SIMCLR_BENCH_BACKENDS` (e.g. `flex`) to change
//! the cases.

use std::sync::Arc;
use std::time::Instant;

use burn::backend::{Autodiff, Flex, NdArray};
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::backend::AutodiffBackend;
use contrastive_core::nn::ResNetConfig;
use contrastive_core::optim::LarsConfig;
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

fn step_images_per_second<B: AutodiffBackend>(batch: usize, width: f64) -> f64 {
    let device = Default::default();
    let config = SimclrModelConfig::new()
        .with_encoder(ResNetConfig::new().with_width_multiplier(width))
        .with_head_hidden_dim(Some((512.0 * width) as usize));
    let mut model: SimClr<B> = config.init(&device).unwrap();
    let mut optim = LarsConfig::new().init::<B, SimClr<B>>().unwrap();
    let images = Arc::new(synthetic::generate(batch, 32, 0));
    let pairs = ViewPairDataset::new(images, Augmenter::new(AugmentConfig::new()), 0, batch);
    let items = (0..batch).map(|i| pairs.get(i).unwrap()).collect();
    let views = Batcher::<B, _, _>::batch(&ViewPairBatcher, items, &device).views;
    let mut times = Vec::new();
    for i in 0..WARMUP + TIMED {
        let start = Instant::now();
        let loss = model.forward(views.clone()).unwrap().loss;
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(0.1, model, grads);
        // Reading the loss synchronises before the clock stops.
        let _ = loss.into_scalar();
        if i >= WARMUP {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    (2 * batch) as f64 / median(times)
}

fn augment_images_per_second() -> f64 {
    let images = Arc::new(synthetic::generate(512, 32, 1));
    let pairs = ViewPairDataset::new(images, Augmenter::new(AugmentConfig::new()), 0, 512);
    let mut times = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        for i in 0..512 {
            let _ = pairs.get(i).unwrap();
        }
        times.push(start.elapsed().as_secs_f64());
    }
    // Each item is two views.
    1024.0 / median(times)
}

fn main() {
    let batches: Vec<usize> = std::env::var("SIMCLR_BENCH_BATCHES")
        .ok()
        .map(|v| v.split(',').filter_map(|b| b.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![64, 256]);
    let width: f64 = std::env::var("SIMCLR_BENCH_WIDTH")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(1.0);
    let augment = augment_images_per_second();
    println!("augmentation pipeline (one thread): {augment:.0} views/s");
    let backends: Vec<String> = std::env::var("SIMCLR_BENCH_BACKENDS")
        .map(|v| v.split(',').map(|b| b.trim().to_string()).collect())
        .unwrap_or_else(|_| vec!["ndarray".into(), "flex".into()]);
    for batch in batches {
        for backend in &backends {
            let step = match backend.as_str() {
                "ndarray" => step_images_per_second::<Autodiff<NdArray>>(batch, width),
                "flex" => step_images_per_second::<Autodiff<Flex>>(batch, width),
                other => panic!("unknown backend {other} (ndarray, flex)"),
            };
            println!(
                "{backend:>8}: ResNet-18 x{width} CIFAR stem, N = {batch} ({} views/step): {step:.1} views/s; one augmentation thread = {:.1}x the step",
                2 * batch,
                augment / step
            );
        }
    }
}
