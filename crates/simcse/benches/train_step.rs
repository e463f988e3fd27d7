//! SimCSE throughput on the CPU backends: the unsupervised training step (2 × 64 sequences of
//! 32 tokens through a MiniLM-shaped BERT — 6 layers, width 384, 12 heads, FFN 1536, vocabulary
//! 30522 — and an AdamW update) in sentences per second, and inference embedding (`embed`) in
//! sentences per second.
//!
//! `cargo bench -p simcse --bench train_step` (or `cargo xtask bench simcse`). The weights are
//! random: throughput does not depend on them. `SIMCSE_BENCH_BACKENDS` (e.g. `flex`) picks the
//! backends.

use std::time::Instant;

use burn::backend::{Autodiff, Flex, NdArray};
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData};
use contrastive_core::text::TokenBatch;
use simcse::{BertConfig, SentenceBatch, SimCse, SimcseModelConfig};

const WARMUP: usize = 2;
const TIMED: usize = 10;
const BATCH: usize = 64;
const LEN: usize = 32;

fn median(mut times: Vec<f64>) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn minilm_shape() -> BertConfig {
    serde_json::from_value(serde_json::json!({
        "vocab_size": 30522, "hidden_size": 384, "num_hidden_layers": 6,
        "num_attention_heads": 12, "intermediate_size": 1536, "max_position_embeddings": 512
    }))
    .expect("a valid BERT config")
}

/// `rows` sequences of `LEN` deterministic token ids, no padding.
fn tokens<B: Backend>(rows: usize, device: &B::Device) -> TokenBatch<B> {
    let ids: Vec<i64> = (0..rows * LEN)
        .map(|i| 1000 + (i * 7919 % 20000) as i64)
        .collect();
    let tensor =
        |v: Vec<i64>| Tensor::<B, 2, Int>::from_data(TensorData::new(v, [rows, LEN]), device);
    TokenBatch {
        input_ids: tensor(ids),
        token_type_ids: tensor(vec![0; rows * LEN]),
        attention_mask: tensor(vec![1; rows * LEN]),
    }
}

fn model<B: Backend>(device: &B::Device) -> SimCse<B> {
    let config = minilm_shape();
    SimcseModelConfig::new()
        .init(&config, config.init(device), None, device)
        .expect("a valid SimCSE config")
}

fn train_sentences_per_second<B: AutodiffBackend>() -> f64 {
    let device = Default::default();
    let mut model = model::<B>(&device);
    let mut optim = AdamWConfig::new().init();
    let batch = SentenceBatch {
        tokens: tokens::<B>(BATCH, &device),
        columns: 1,
        size: BATCH,
    };
    let mut times = Vec::new();
    for i in 0..WARMUP + TIMED {
        let start = Instant::now();
        let loss = model
            .forward(&batch)
            .expect("a valid batch")
            .contrastive
            .loss;
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(3e-5, model, grads);
        // Reading the loss synchronises before the clock stops.
        let _ = loss.into_scalar();
        if i >= WARMUP {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    BATCH as f64 / median(times)
}

fn embed_sentences_per_second<B: Backend>() -> f64 {
    let device = Default::default();
    let model = model::<B>(&device);
    let batch = tokens::<B>(BATCH, &device);
    let mut times = Vec::new();
    for i in 0..WARMUP + TIMED {
        let start = Instant::now();
        let _ = model.embed(&batch, false).into_data();
        if i >= WARMUP {
            times.push(start.elapsed().as_secs_f64());
        }
    }
    BATCH as f64 / median(times)
}

fn main() {
    let backends: Vec<String> = std::env::var("SIMCSE_BENCH_BACKENDS")
        .map(|v| v.split(',').map(|b| b.trim().to_string()).collect())
        .unwrap_or_else(|_| vec!["ndarray".into(), "flex".into()]);
    for backend in &backends {
        let (train, embed) = match backend.as_str() {
            "ndarray" => (
                train_sentences_per_second::<Autodiff<NdArray>>(),
                embed_sentences_per_second::<NdArray>(),
            ),
            "flex" => (
                train_sentences_per_second::<Autodiff<Flex>>(),
                embed_sentences_per_second::<Flex>(),
            ),
            other => panic!("unknown backend {other} (ndarray, flex)"),
        };
        println!(
            "{backend:>8}: MiniLM shape, unsupervised step (2 x {BATCH} x {LEN} tokens, AdamW): {train:.1} sentences/s; embed ({BATCH} x {LEN}): {embed:.1} sentences/s"
        );
    }
}
