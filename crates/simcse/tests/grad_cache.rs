//! GradCache for SimCSE, in float64: the chunked step's gradient is the gradient of the
//! contrastive loss over the whole batch — unsupervised with dropout on (each chunk's masks
//! replayed in the second pass), and supervised with hard negatives. Replicas that gather each
//! other's sentences as negatives step exactly as one process on the global batch.

use std::cell::Cell;
use std::sync::{Mutex, MutexGuard};

use burn::backend::{Autodiff, NdArray};
use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use burn::train::TrainStep;
use contrastive_core::run::replicas::on_replica_threads;
use contrastive_core::run::text::TokenBatch;
use contrastive_core::run::train::{
    column_rows, grad_cache, max_relative_difference, merge_columns, ChunkedStep,
    ContrastiveStepOutput, MethodStep, NoHook, StepOutput, TrainingModel,
};
use simcse::{BertConfig, Mode, SentenceBatch, SimCse, SimcseModelConfig};

type B = Autodiff<NdArray<f64>>;

const CHUNKS: usize = 4;
const LEN: usize = 6;

/// The backend's random generator is one per process: a test that seeds and draws dropout
/// masks holds it while the others wait.
static RNG: Mutex<()> = Mutex::new(());

fn hold_rng() -> MutexGuard<'static, ()> {
    RNG.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A two-layer BERT with SimCSE's objective, its parameters drawn.
fn model(config: SimcseModelConfig) -> SimCse<B> {
    let device = Default::default();
    B::seed(&device, 3);
    let bert: BertConfig = serde_json::from_value(serde_json::json!({
        "vocab_size": 40, "hidden_size": 16, "num_hidden_layers": 2,
        "num_attention_heads": 2, "intermediate_size": 32,
        "max_position_embeddings": 16, "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1
    }))
    .unwrap();
    let model = config
        .init(&bert, bert.init(&device), None, &device)
        .unwrap();
    // Parameters are drawn on first use: draw them before anything reads them twice.
    let _ = model.valid();
    model
}

/// `size` examples of `columns` sentences, of varied lengths (trailing padding).
fn batch(size: usize, columns: usize) -> SentenceBatch<B> {
    let rows = size * columns;
    let mut ids = Vec::new();
    let mut mask = Vec::new();
    for row in 0..rows {
        let length = 3 + row % (LEN - 2);
        for position in 0..LEN {
            let token = position < length;
            ids.push(if token {
                2 + ((row * 7 + position * 3) % 37) as i64
            } else {
                0
            });
            mask.push(i64::from(token));
        }
    }
    let device = Default::default();
    let tensor =
        |v: Vec<i64>| Tensor::<B, 2, Int>::from_data(TensorData::new(v, [rows, LEN]), &device);
    SentenceBatch {
        tokens: TokenBatch {
            input_ids: tensor(ids),
            token_type_ids: tensor(vec![0; rows * LEN]),
            attention_mask: tensor(mask),
        },
        columns,
        size,
        noise_seed: 11,
    }
}

fn output(model: &SimCse<B>, z: Vec<Tensor<B, 2>>, passes: usize) -> ContrastiveStepOutput<B> {
    let out = model.objective(merge_columns(z, passes), passes).unwrap();
    ContrastiveStepOutput::new(out.contrastive, 0)
}

/// The gradient of the loss under the masks GradCache draws, from one graph through every
/// chunk and one backward pass.
fn one_graph_gradient(model: &SimCse<B>, batch: &SentenceBatch<B>) -> GradientsParams {
    let z = model
        .noisy_chunks(batch, CHUNKS)
        .iter()
        .map(|chunk| model.embed_chunk(chunk))
        .collect();
    let loss = output(model, z, model.passes(batch)).loss;
    GradientsParams::from_grads(loss.backward(), model)
}

/// The plain step's gradient: the whole batch in one encoder pass.
fn whole_batch_gradient(model: &SimCse<B>, batch: &SentenceBatch<B>) -> GradientsParams {
    let loss = model.step_output(batch.clone(), true).loss();
    GradientsParams::from_grads(loss.backward(), model)
}

fn assert_close(model: &SimCse<B>, grads: &GradientsParams, reference: &GradientsParams) {
    let difference = max_relative_difference(model, grads, reference);
    assert!(difference < 1e-6, "relative difference {difference:e}");
}

#[test]
fn unsupervised_with_dropout_the_replayed_masks_give_the_whole_batch_gradient() {
    let _rng = hold_rng();
    let model = model(SimcseModelConfig::new());
    let batch = batch(8, 1);
    let (_, grads) = model.chunked_step(batch.clone(), CHUNKS, None);
    let reference = one_graph_gradient(&model, &batch);
    assert_close(&model, &grads, &reference);

    // Without the replay, the second pass draws other masks and the gradient is wrong.
    let passes = Cell::new(0u64);
    let chunks = model.noisy_chunks(&batch, CHUNKS);
    let (_, unreplayed) = grad_cache(
        &model,
        &chunks,
        |m, chunk| {
            passes.set(passes.get() + 1);
            B::seed(&Default::default(), chunk.noise_seed + 1000 * passes.get());
            m.embed(&chunk.tokens, true)
        },
        |z| output(&model, z, 2),
        None,
    );
    let difference = max_relative_difference(&model, &unreplayed, &reference);
    assert!(difference > 1e-3, "only {difference:e} apart");
}

#[test]
fn unsupervised_without_dropout_chunks_equal_the_whole_batch() {
    let _rng = hold_rng();
    let model = model(SimcseModelConfig::new().with_dropout(Some(0.0)));
    let batch = batch(8, 1);
    let (out, grads) = model.chunked_step(batch.clone(), CHUNKS, None);
    assert_close(&model, &grads, &whole_batch_gradient(&model, &batch));
    let whole = model.step_output(batch, true).loss.into_scalar();
    assert!((out.loss.into_scalar() - whole).abs() < 1e-12);
}

#[test]
fn supervised_with_hard_negatives_chunks_give_the_whole_batch_gradient() {
    let _rng = hold_rng();
    let batch = batch(8, 3);
    let with_dropout = model(SimcseModelConfig::new().with_mode(Mode::Sup));
    let (_, grads) = with_dropout.chunked_step(batch.clone(), CHUNKS, None);
    assert_close(
        &with_dropout,
        &grads,
        &one_graph_gradient(&with_dropout, &batch),
    );

    let without = model(
        SimcseModelConfig::new()
            .with_mode(Mode::Sup)
            .with_hard_negative_weight(0.5)
            .with_dropout(Some(0.0)),
    );
    let (_, grads) = without.chunked_step(batch.clone(), CHUNKS, None);
    assert_close(&without, &grads, &whole_batch_gradient(&without, &batch));
}

/// The gradients of two replicas (threads), each stepping on its half of `batch` through the
/// pipeline's training model.
fn replicated_gradients(
    model: &SimCse<B>,
    batch: &SentenceBatch<B>,
    gather_negatives: bool,
) -> Vec<GradientsParams> {
    let half = batch.size / 2;
    let step = |replica: &contrastive_core::run::replicas::Replica| {
        let examples = replica.rank() * half..(replica.rank() + 1) * half;
        let slice = SentenceBatch {
            tokens: batch
                .tokens
                .map_rows(|rows| column_rows(rows, batch.columns, examples.clone())),
            size: half,
            ..batch.clone()
        };
        let trainer = TrainingModel::<B, _, NoHook>::new(model.clone(), None, None)
            .with_replica(replica.clone());
        TrainStep::step(&trainer, slice).grads
    };
    on_replica_threads::<NdArray<f64>, _>(2, &Default::default(), gather_negatives, step).unwrap()
}

#[test]
fn two_replicas_with_gathered_negatives_give_the_whole_batch_gradient() {
    let _rng = hold_rng();
    let unsupervised = SimcseModelConfig::new();
    let supervised = SimcseModelConfig::new()
        .with_mode(Mode::Sup)
        .with_hard_negative_weight(0.5);
    for (config, columns) in [(unsupervised, 1), (supervised, 3)] {
        let model = model(config.with_dropout(Some(0.0)));
        let batch = batch(8, columns);
        let reference = whole_batch_gradient(&model, &batch);
        for grads in replicated_gradients(&model, &batch, true) {
            assert_close(&model, &grads, &reference);
        }
        // Each replica's own negatives only: another gradient.
        let alone = &replicated_gradients(&model, &batch, false)[0];
        let difference = max_relative_difference(&model, alone, &reference);
        assert!(
            difference > 1e-3,
            "{columns} columns: only {difference:e} apart"
        );
    }
}
