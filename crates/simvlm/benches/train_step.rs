//! SimVLM throughput on the CPU backends: the PrefixLM training step (forward, backward,
//! AdamW) in image–text pairs per second, and greedy caption generation with the key/value
//! cache in tokens per second.
//!
//! Shape (the peer benchmark's): 64×64 images → 8×8 = 64 image tokens (here an ImageNet-stem
//! ResNet-18 cut after two stages, since three would give 4×4 at this size), d_model 256,
//! 4 heads, FFN 1024, 4 encoder + 4 decoder layers, vocabulary 30522, 16 prefix + 16 target
//! tokens, batch 32. `cargo bench -p simvlm --bench train_step` (or `cargo xtask bench
//! simvlm`); see `contrastive_core::run::bench` for backends, case selection and JSON output.

use burn::backend::{Autodiff, Flex, NdArray};
use burn::module::AutodiffModule;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData};
use contrastive_core::nn::{ResNetConfig, ResNetStem};
use contrastive_core::run::bench::{self, Measurement};
use simvlm::{PrefixBatch, SimVlm, SimvlmModelConfig};

const WARMUP: usize = 2;
const TIMED: usize = 10;
const BATCH: usize = 32;
const PREFIX: usize = 16;
const TARGET: usize = 16;
const VOCAB: usize = 30522;

fn config() -> SimvlmModelConfig {
    SimvlmModelConfig::new()
        .with_stem(
            ResNetConfig::new()
                .with_stem(ResNetStem::ImageNet)
                .with_stages(2),
        )
        .with_image_size(64)
        .with_d_model(256)
        .with_heads(4)
        .with_d_ff(1024)
        .with_encoder_layers(4)
        .with_decoder_layers(4)
        .with_max_text_len(PREFIX + TARGET + 1)
}

fn ints<B: Backend>(
    rows: usize,
    len: usize,
    offset: usize,
    device: &B::Device,
) -> Tensor<B, 2, Int> {
    let values: Vec<i64> = (0..rows * len)
        .map(|i| 1000 + ((i + offset) * 7919 % 28000) as i64)
        .collect();
    Tensor::from_data(TensorData::new(values, [rows, len]), device)
}

fn batch<B: Backend>(device: &B::Device) -> PrefixBatch<B> {
    let images: Vec<f32> = (0..BATCH * 3 * 64 * 64)
        .map(|i| ((i * 31 % 255) as f32) / 127.5 - 1.0)
        .collect();
    let positions: Vec<i64> = (0..BATCH)
        .flat_map(|_| (0..TARGET).map(|t| (PREFIX + t) as i64))
        .collect();
    PrefixBatch {
        images: Some(Tensor::from_data(
            TensorData::new(images, [BATCH, 3, 64, 64]),
            device,
        )),
        image_rows: None,
        prefix_ids: ints(BATCH, PREFIX, 0, device),
        prefix_mask: Tensor::ones([BATCH, PREFIX], device),
        decoder_ids: ints(BATCH, TARGET, 1, device),
        decoder_positions: Tensor::from_data(TensorData::new(positions, [BATCH, TARGET]), device),
        decoder_mask: Tensor::ones([BATCH, TARGET], device),
        labels: ints(BATCH, TARGET, 2, device),
        noise_seed: 0,
    }
}

/// The PrefixLM step (the peer's `simvlm_b32` shapes; our stem differs, see the module docs).
fn train_step_times<B: AutodiffBackend>() -> (Vec<f64>, SimVlm<B::InnerBackend>) {
    let device = Default::default();
    let mut model: SimVlm<B> = config().init(VOCAB, &device).expect("a valid config");
    let mut optim = AdamWConfig::new().with_weight_decay(0.01).init();
    let batch = batch::<B>(&device);
    let times = bench::time_steps(WARMUP, TIMED, || {
        let loss = model.forward(&batch).loss;
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-4, model.clone(), grads);
        let _ = loss.into_scalar();
    });
    (times, model.valid())
}

/// Greedy generation of `TARGET` tokens for the batch's images (empty prompt), with the cache.
fn generate_step_times<B: Backend>(model: &SimVlm<B>) -> Vec<f64> {
    let device = Default::default();
    let batch = batch::<B>(&device);
    bench::time_steps(WARMUP, 5, || {
        let prefix = model.encode(
            batch.images.clone(),
            batch.prefix_ids.clone().slice([0..BATCH, 0..1]),
            batch.prefix_mask.clone().slice([0..BATCH, 0..1]),
        );
        let mut cache = Vec::new();
        let mut token: Tensor<B, 2, Int> = Tensor::full([BATCH, 1], 2, &device);
        for t in 0..TARGET {
            let position = Tensor::full([BATCH, 1], 1 + t as i64, &device);
            let logits = model.decode_step(&prefix, token, position, &mut cache);
            token = logits.argmax(1);
        }
        let _ = token.into_data();
    })
}

fn report(case: &str, backend: &str, unit: &str, items: usize, times: Vec<f64>, what: &str) {
    Measurement {
        case: case.into(),
        backend: backend.into(),
        unit: unit.into(),
        items_per_step: items,
        step_seconds: times,
        peak_rss_mb: bench::peak_rss_mb(),
        arch: format!("SimVLM: ResNet-18 ImageNet stem, 2 stages, 64x64 -> 64 image tokens; d 256, 4 heads, FFN 1024, 4+4 layers, vocab 30522, {PREFIX} prefix + {TARGET} target tokens, batch {BATCH}; {what}"),
    }
    .report();
}

fn main() {
    contrastive_core::run::allocator::keep_freed_memory();
    for backend in bench::backends(&["ndarray", "flex"]) {
        if !bench::selected("simvlm_b32") && !bench::selected("simvlm_generate_b32") {
            continue;
        }
        bench::reset_peak_rss();
        let (train, generate) = match backend.as_str() {
            "ndarray" => {
                let (train, model) = train_step_times::<Autodiff<NdArray>>();
                (train, generate_step_times(&model))
            }
            "flex" => {
                let (train, model) = train_step_times::<Autodiff<Flex>>();
                (train, generate_step_times(&model))
            }
            other => panic!("unknown backend {other} (ndarray, flex)"),
        };
        report(
            "simvlm_b32",
            &backend,
            "pairs",
            BATCH,
            train,
            "PrefixLM step, AdamW",
        );
        report(
            "simvlm_generate_b32",
            &backend,
            "tokens",
            BATCH * TARGET,
            generate,
            "greedy generation with the key/value cache",
        );
    }
}
