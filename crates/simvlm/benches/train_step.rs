//! SimVLM throughput on the CPU backends: the PrefixLM training step (forward, backward,
//! AdamW) in image–text pairs per second, and greedy caption generation with the key/value
//! cache in tokens per second.
//!
//! Shape (the peer benchmark's): 64×64 images → 8×8 = 64 image tokens (here an ImageNet-stem
//! ResNet-18 cut after two stages, since three would give 4×4 at this size), d_model 256,
//! 4 heads, FFN 1024, 4 encoder + 4 decoder layers, vocabulary 30522, 16 prefix + 16 target
//! tokens, batch 32. `cargo bench -p simvlm --bench train_step` (or `cargo xtask bench
//! simvlm`); `SIMVLM_BENCH_BACKENDS` (e.g. `flex`) picks the backends.

use std::time::Instant;

use burn::backend::{Autodiff, Flex, NdArray};
use burn::module::AutodiffModule;
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData};
use contrastive_core::nn::{ResNetConfig, ResNetStem};
use simvlm::{PrefixBatch, SimVlm, SimvlmModelConfig};

const WARMUP: usize = 2;
const TIMED: usize = 10;
const BATCH: usize = 32;
const PREFIX: usize = 16;
const TARGET: usize = 16;
const VOCAB: usize = 30522;

fn median(mut times: Vec<f64>) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

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
        prefix_ids: ints(BATCH, PREFIX, 0, device),
        prefix_mask: Tensor::ones([BATCH, PREFIX], device),
        decoder_ids: ints(BATCH, TARGET, 1, device),
        decoder_positions: Tensor::from_data(TensorData::new(positions, [BATCH, TARGET]), device),
        decoder_mask: Tensor::ones([BATCH, TARGET], device),
        labels: ints(BATCH, TARGET, 2, device),
    }
}

fn train_pairs_per_second<B: AutodiffBackend>() -> (f64, SimVlm<B::InnerBackend>) {
    let device = Default::default();
    let mut model: SimVlm<B> = config().init(VOCAB, &device).expect("a valid config");
    let mut optim = AdamWConfig::new().with_weight_decay(0.01).init();
    let batch = batch::<B>(&device);
    let mut times = Vec::new();
    for i in 0..WARMUP + TIMED {
        let start = Instant::now();
        let loss = model.forward(&batch).loss;
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-4, model, grads);
        // Reading the loss synchronises before the clock stops.
        let _ = loss.into_scalar();
        if i >= WARMUP {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    (BATCH as f64 / median(times), model.valid())
}

/// Greedy generation of `TARGET` tokens for the batch's images (empty prompt), with the cache.
fn generate_tokens_per_second<B: Backend>(model: &SimVlm<B>) -> f64 {
    let device = Default::default();
    let batch = batch::<B>(&device);
    let mut times = Vec::new();
    for i in 0..WARMUP + 5 {
        let start = Instant::now();
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
        if i >= WARMUP {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    (BATCH * TARGET) as f64 / median(times)
}

fn main() {
    let backends: Vec<String> = std::env::var("SIMVLM_BENCH_BACKENDS")
        .map(|v| v.split(',').map(|b| b.trim().to_string()).collect())
        .unwrap_or_else(|_| vec!["ndarray".into(), "flex".into()]);
    for backend in &backends {
        let (train, generate) = match backend.as_str() {
            "ndarray" => {
                let (train, model) = train_pairs_per_second::<Autodiff<NdArray>>();
                (train, generate_tokens_per_second(&model))
            }
            "flex" => {
                let (train, model) = train_pairs_per_second::<Autodiff<Flex>>();
                (train, generate_tokens_per_second(&model))
            }
            other => panic!("unknown backend {other} (ndarray, flex)"),
        };
        println!(
            "{backend:>8}: SimVLM 4+4 layers d=256, 64 image + {PREFIX} prefix + {TARGET} target tokens, batch {BATCH}: {train:.2} pairs/s; greedy generation with cache: {generate:.0} tokens/s"
        );
    }
}
