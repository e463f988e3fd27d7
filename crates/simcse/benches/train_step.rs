//! SimCSE throughput on the CPU backends: the unsupervised training step (2 × 64 sequences of
//! 32 tokens through a MiniLM-shaped BERT — 6 layers, width 384, 12 heads, FFN 1536, vocabulary
//! 30522 — and an AdamW update) in sentences per second, and inference embedding (`embed`) in
//! sentences per second. GradCache: the same step at batch 512, whole and in 8 chunks, each in
//! a process of its own so that their peak memory can be compared.
//!
//! `cargo bench -p simcse --bench train_step` (or `cargo xtask bench simcse`). The weights are
//! random: throughput does not depend on them. See `contrastive_core::run::bench` for backends, case
//! selection and JSON output.

use burn::backend::{Autodiff, Flex, NdArray};
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, TensorData};
use contrastive_core::run::bench::{self, Measurement};
use contrastive_core::run::text::TokenBatch;
use contrastive_core::run::train::{ChunkedStep, MethodStep};
use simcse::{BertConfig, SentenceBatch, SimCse, SimcseModelConfig};

const WARMUP: usize = 2;
const TIMED: usize = 10;
const BATCH: usize = 64;
const LEN: usize = 32;

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

/// The unsupervised step (the peer's `simcse_minilm_b64`): 2 × 64 sequences in one forward,
/// dropout active, AdamW (weight decay 0, as the peer).
fn train_step_times<B: AutodiffBackend>() -> Vec<f64> {
    grad_cache_step_times::<B>(BATCH, 1, WARMUP, TIMED)
}

/// The unsupervised step at `batch`, encoded in `chunks` GradCache chunks (1: whole).
fn grad_cache_step_times<B: AutodiffBackend>(
    batch: usize,
    chunks: usize,
    warmup: usize,
    timed: usize,
) -> Vec<f64> {
    let device = Default::default();
    let mut model = model::<B>(&device);
    let mut optim = AdamWConfig::new().with_weight_decay(0.0).init();
    let batch = SentenceBatch {
        tokens: tokens::<B>(batch, &device),
        columns: 1,
        size: batch,
        noise_seed: 0,
    };
    bench::time_steps(warmup, timed, || {
        let (loss, grads) = if chunks == 1 {
            let out = model.step_output(batch.clone(), true);
            let grads = GradientsParams::from_grads(out.loss.backward(), &model);
            (out.loss, grads)
        } else {
            let (out, grads) = model.chunked_step(batch.clone(), chunks, None);
            (out.loss, grads)
        };
        model = optim.step(3e-5, model.clone(), grads);
        let _ = loss.into_scalar();
    })
}

/// Sentences per GradCache step: the paper's supervised batch.
const LARGE_BATCH: usize = 512;
/// A batch-512 step takes most of a minute on two cores.
const LARGE_TIMED: usize = 3;

fn embed_step_times<B: Backend>() -> Vec<f64> {
    let device = Default::default();
    let model = model::<B>(&device);
    let batch = tokens::<B>(BATCH, &device);
    bench::time_steps(WARMUP, TIMED, || {
        let _ = model.embed(&batch, false).into_data();
    })
}

/// Step times of one case on the named backend.
type StepTimes = fn(&str) -> Vec<f64>;

/// A measured case: name, what it runs, sentences per step, whether its peak memory is
/// compared with another case's (then it runs in a process of its own), and the run.
type Case = (&'static str, &'static str, usize, bool, StepTimes);

fn main() {
    contrastive_core::run::allocator::keep_freed_memory();
    let arch = format!("MiniLM-L6 shape (6 layers, 384 wide, 12 heads, FFN 1536, vocab 30522), random weights, {LEN} tokens, cls pooler + MLP");
    for backend in bench::backends(&["ndarray", "flex"]) {
        type Nd = NdArray;
        let cases: [Case; 4] = [
            (
                "simcse_minilm_b64",
                "unsupervised step, 2B sequences, AdamW",
                BATCH,
                false,
                |b| match b {
                    "ndarray" => train_step_times::<Autodiff<Nd>>(),
                    "flex" => train_step_times::<Autodiff<Flex>>(),
                    other => panic!("unknown backend {other} (ndarray, flex)"),
                },
            ),
            (
                "simcse_embed_b64",
                "inference embedding",
                BATCH,
                false,
                |b| match b {
                    "ndarray" => embed_step_times::<Nd>(),
                    "flex" => embed_step_times::<Flex>(),
                    other => panic!("unknown backend {other} (ndarray, flex)"),
                },
            ),
            (
                "simcse_minilm_b512",
                "unsupervised step, 2B sequences, AdamW, the batch whole",
                LARGE_BATCH,
                true,
                |b| match b {
                    "ndarray" => {
                        grad_cache_step_times::<Autodiff<Nd>>(LARGE_BATCH, 1, 1, LARGE_TIMED)
                    }
                    "flex" => {
                        grad_cache_step_times::<Autodiff<Flex>>(LARGE_BATCH, 1, 1, LARGE_TIMED)
                    }
                    other => panic!("unknown backend {other} (ndarray, flex)"),
                },
            ),
            (
                "simcse_minilm_b512_gc8",
                "unsupervised step, 2B sequences, AdamW, GradCache in 8 chunks",
                LARGE_BATCH,
                true,
                |b| match b {
                    "ndarray" => {
                        grad_cache_step_times::<Autodiff<Nd>>(LARGE_BATCH, 8, 1, LARGE_TIMED)
                    }
                    "flex" => {
                        grad_cache_step_times::<Autodiff<Flex>>(LARGE_BATCH, 8, 1, LARGE_TIMED)
                    }
                    other => panic!("unknown backend {other} (ndarray, flex)"),
                },
            ),
        ];
        for (case, what, sentences, isolated, run) in cases {
            if !bench::selected(case) || (isolated && !bench::measured_here(case, &backend)) {
                continue;
            }
            bench::reset_peak_rss();
            let step_seconds = run(&backend);
            Measurement {
                case: case.into(),
                backend: backend.clone(),
                unit: "sentences".into(),
                items_per_step: sentences,
                step_seconds,
                peak_rss_mb: bench::peak_rss_mb(),
                arch: format!("{arch}; batch {sentences}; {what}"),
            }
            .report();
        }
    }
}
