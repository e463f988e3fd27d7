//! Gradient accumulation for SimVLM, in float64: four micro-batches give the gradient of the
//! whole batch's PrefixLM loss (a mean over its target tokens), even when the micro-batches
//! hold different numbers of target tokens. The one thing a micro-batch changes is the
//! convolutional stem's BatchNorm, which normalises each micro-batch's images by their own
//! statistics.

use burn::backend::{Autodiff, NdArray};
use burn::module::AutodiffModule;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use contrastive_core::nn::ResNetConfig;
use contrastive_core::run::train::{even_ranges, max_relative_difference, ChunkedStep, MethodStep};
use simvlm::{PrefixBatch, SimVlm, SimvlmModelConfig};

type B = Autodiff<NdArray<f64>>;

const EXAMPLES: usize = 8;
const MICRO_BATCHES: usize = 4;
const VOCAB: usize = 24;

fn model() -> SimVlm<B> {
    let device = Default::default();
    B::seed(&device, 5);
    let model = SimvlmModelConfig::new()
        .with_stem(
            ResNetConfig::new()
                .with_stages(3)
                .with_width_multiplier(0.125),
        )
        .with_image_size(16)
        .with_d_model(16)
        .with_heads(2)
        .with_d_ff(32)
        .with_dropout(0.0)
        .with_max_text_len(12)
        .init::<B>(VOCAB, &device)
        .unwrap();
    // Parameters are drawn on first use: draw them before anything reads them twice.
    let _ = model.valid();
    model
}

fn ints(values: Vec<i64>, rows: usize) -> Tensor<B, 2, Int> {
    let len = values.len() / rows;
    Tensor::from_data(TensorData::new(values, [rows, len]), &Default::default())
}

/// Eight examples with 1 to 5 target tokens; rows 2 and 5 are text-only, and with
/// `images = false` all are.
fn batch(images: bool) -> PrefixBatch<B> {
    const PREFIX: usize = 3;
    const DECODER: usize = 5;
    let pixels: Vec<f32> = (0..EXAMPLES * 3 * 16 * 16)
        .map(|i| ((i * 7 % 13) as f32 - 6.0) / 6.0)
        .collect();
    let (mut prefix, mut prefix_mask, mut decoder, mut positions, mut mask, mut labels) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for row in 0..EXAMPLES {
        let targets = 1 + row % DECODER;
        for p in 0..PREFIX {
            prefix.push(if p < 2 {
                3 + ((row + p) % 20) as i64
            } else {
                0
            });
            prefix_mask.push(i64::from(p < 2));
        }
        for t in 0..DECODER {
            let scored = t < targets;
            let label = 3 + ((row * 5 + t * 3) % 20) as i64;
            decoder.push(if t == 0 {
                1
            } else if scored {
                3 + ((row * 5 + (t - 1) * 3) % 20) as i64
            } else {
                0
            });
            positions.push((2 + t) as i64);
            mask.push(i64::from(scored));
            labels.push(if scored { label } else { 0 });
        }
    }
    let image_rows: Vec<i64> = (0..EXAMPLES).map(|r| i64::from(r != 2 && r != 5)).collect();
    PrefixBatch {
        images: images.then(|| {
            Tensor::from_data(
                TensorData::new(pixels, [EXAMPLES, 3, 16, 16]),
                &Default::default(),
            )
        }),
        image_rows: images.then(|| ints(image_rows, EXAMPLES)),
        prefix_ids: ints(prefix, EXAMPLES),
        prefix_mask: ints(prefix_mask, EXAMPLES),
        decoder_ids: ints(decoder, EXAMPLES),
        decoder_positions: ints(positions, EXAMPLES),
        decoder_mask: ints(mask, EXAMPLES),
        labels: ints(labels, EXAMPLES),
        noise_seed: 0,
    }
}

#[test]
fn four_micro_batches_of_text_equal_the_whole_batch() {
    let model = model();
    let batch = batch(false);
    let whole = model.step_output(batch.clone(), true);
    let reference = GradientsParams::from_grads(whole.loss.backward(), &model);

    let (accumulated, grads) = model.chunked_step(batch.clone(), MICRO_BATCHES, None);
    let difference = max_relative_difference(&model, &grads, &reference);
    assert!(difference < 1e-6, "relative difference {difference:e}");
    let loss_gap = (accumulated.loss.into_scalar() - whole.loss.into_scalar()).abs();
    assert!(loss_gap < 1e-12, "loss differs by {loss_gap:e}");
    assert_eq!(
        accumulated.tokens.into_scalar(),
        whole.tokens.into_scalar(),
        "every target token counted once"
    );
    assert_eq!(
        accumulated.correct.into_scalar(),
        whole.correct.into_scalar()
    );

    // Averaging the micro-batches' mean losses instead would weight their tokens unequally.
    let mut naive = GradientsAccumulator::<SimVlm<B>>::new();
    for rows in even_ranges(EXAMPLES, MICRO_BATCHES) {
        let loss = model.step_output(batch.rows(rows, 0), true).loss / MICRO_BATCHES as f64;
        naive.accumulate(&model, GradientsParams::from_grads(loss.backward(), &model));
    }
    assert!(max_relative_difference(&model, &naive.grads(), &reference) > 1e-3);
}

#[test]
fn with_images_micro_batches_give_the_whole_loss_with_batch_norm_per_micro_batch() {
    let model = model();
    let batch = batch(true);
    // The reference: one graph through every micro-batch, the losses weighted by their
    // target tokens, one backward pass.
    let target_tokens = batch.decoder_mask.clone().sum().float();
    let loss = even_ranges(EXAMPLES, MICRO_BATCHES)
        .into_iter()
        .map(|rows| {
            let micro = model.step_output(batch.rows(rows, 0), true);
            micro.loss * micro.tokens.float() / target_tokens.clone()
        })
        .reduce(|a, b| a + b)
        .unwrap();
    let reference = GradientsParams::from_grads(loss.backward(), &model);

    let (_, grads) = model.chunked_step(batch.clone(), MICRO_BATCHES, None);
    let difference = max_relative_difference(&model, &grads, &reference);
    assert!(difference < 1e-6, "relative difference {difference:e}");

    // What accumulation changes: BatchNorm statistics per micro-batch are not the whole's.
    let whole = model.step_output(batch, true).loss;
    let whole = GradientsParams::from_grads(whole.backward(), &model);
    assert!(max_relative_difference(&model, &whole, &reference) > 1e-4);
}
