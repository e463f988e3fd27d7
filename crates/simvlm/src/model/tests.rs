//! The model's properties on a tiny configuration: padding, masks, causality, caching.

use super::encoder_decoder::relative_indices;
use super::*;
use crate::data::batcher::PrefixBatch;
use burn::backend::{Autodiff, NdArray};
use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use contrastive_core::nn::ResNetConfig;

type B = Autodiff<NdArray>;

/// The tiny model with weights drawn from `seed`. Every test builds its model here: the
/// backend's random generator is process-wide, parameters are drawn lazily at first use, and
/// the tests run on parallel threads, so the weights are drawn here, under a lock, in one go.
pub fn tiny_model<Be: Backend>(vocab_size: usize, seed: u64) -> SimVlm<Be> {
    struct DrawAll;
    impl<Be: Backend> ModuleVisitor<Be> for DrawAll {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<Be, D>>) {
            param.val();
        }
    }
    static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _only_this_init = INIT.lock().unwrap_or_else(|e| e.into_inner());
    let device = Default::default();
    Be::seed(&device, seed);
    let model = tiny_config().init::<Be>(vocab_size, &device).unwrap();
    model.visit(&mut DrawAll);
    model
}

pub fn tiny_config() -> SimvlmModelConfig {
    SimvlmModelConfig::new()
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
}

fn ints<Be: Backend>(rows: &[&[i64]]) -> Tensor<Be, 2, Int> {
    let len = rows[0].len();
    let values: Vec<i64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_data(
        TensorData::new(values, [rows.len(), len]),
        &Default::default(),
    )
}

pub fn batch<Be: Backend>(prefix_padding: usize) -> PrefixBatch<Be> {
    let images: Vec<f32> = (0..2 * 3 * 16 * 16)
        .map(|i| ((i * 7 % 13) as f32 - 6.0) / 6.0)
        .collect();
    let pad = vec![0i64; prefix_padding];
    let prefix_a: Vec<i64> = [1i64, 5, 6].iter().copied().chain(pad.clone()).collect();
    let prefix_b: Vec<i64> = [1i64, 7, 0].iter().copied().chain(pad).collect();
    let mask_of = |p: &[i64]| -> Vec<i64> {
        p.iter()
            .enumerate()
            .map(|(i, &t)| i64::from(i == 0 || t != 0))
            .collect()
    };
    PrefixBatch {
        images: Some(Tensor::from_data(
            TensorData::new(images, [2, 3, 16, 16]),
            &Default::default(),
        )),
        image_rows: None,
        prefix_ids: ints(&[&prefix_a, &prefix_b]),
        prefix_mask: ints(&[&mask_of(&prefix_a), &mask_of(&prefix_b)]),
        decoder_ids: ints(&[&[1, 8, 9, 10], &[1, 11, 12, 0]]),
        decoder_positions: ints(&[&[3, 4, 5, 6], &[2, 3, 4, 5]]),
        decoder_mask: ints(&[&[1, 1, 1, 1], &[1, 1, 1, 0]]),
        labels: ints(&[&[8, 9, 10, 2], &[11, 12, 2, 0]]),
        noise_seed: 0,
    }
}

#[test]
fn prefix_padding_does_not_change_the_loss() {
    let model = tiny_model::<NdArray>(20, 1);
    let a = model.forward(&batch(0)).loss.into_scalar();
    let b = model.forward(&batch(3)).loss.into_scalar();
    assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    assert!(a.is_finite() && a > 0.0);
}

fn with_ints<Be: Backend>(
    t: &Tensor<Be, 2, Int>,
    row: usize,
    col: usize,
    value: i64,
) -> Tensor<Be, 2, Int> {
    let [rows, cols] = t.dims();
    let mut values = t.to_data().to_vec::<i64>().unwrap();
    values[row * cols + col] = value;
    Tensor::from_data(TensorData::new(values, [rows, cols]), &t.device())
}

#[test]
fn a_text_only_row_of_a_mixed_batch_is_encoded_as_if_it_had_no_image() {
    let model = tiny_model::<NdArray>(20, 1);
    let logits = |batch: &PrefixBatch<NdArray>| {
        let prefix = model.encode_rows(
            batch.images.clone(),
            batch.image_rows.clone(),
            batch.prefix_ids.clone(),
            batch.prefix_mask.clone(),
        );
        model.decode(
            &prefix,
            batch.decoder_ids.clone(),
            batch.decoder_positions.clone(),
        )
    };
    let mut mixed = batch::<NdArray>(0);
    mixed.image_rows = Some(ints(&[&[1], &[0]]));
    let row = |t: &Tensor<NdArray, 2, Int>| t.clone().slice(1..2);
    let text_only = PrefixBatch {
        images: None,
        image_rows: None,
        prefix_ids: row(&mixed.prefix_ids),
        prefix_mask: row(&mixed.prefix_mask),
        decoder_ids: row(&mixed.decoder_ids),
        decoder_positions: row(&mixed.decoder_positions),
        decoder_mask: row(&mixed.decoder_mask),
        labels: row(&mixed.labels),
        noise_seed: 0,
    };
    let from_mixed = logits(&mixed).slice(1..2);
    let alone = logits(&text_only);
    let difference = (from_mixed.clone() - alone).abs().max().into_scalar();
    assert!(difference < 1e-5, "text-only row differs by {difference}");
    // The image row still sees its image: without the mask row 0 would be unchanged too,
    // so check the mask really switched something off in row 1.
    let unmasked = logits(&batch::<NdArray>(0)).slice(1..2);
    let effect = (unmasked - from_mixed).abs().max().into_scalar();
    assert!(
        effect > 1e-4,
        "the image changes row 1 when not masked: {effect}"
    );
}

#[test]
fn the_loss_ignores_padded_labels_and_counts_only_target_tokens() {
    let model = tiny_model::<NdArray>(20, 1);
    let batch = batch::<NdArray>(0);
    let out = model.forward(&batch);
    assert_eq!(
        out.tokens.into_scalar(),
        7,
        "4 + 3 target tokens, padding excluded"
    );
    // A different label where the decoder mask is 0 leaves the loss unchanged…
    let mut padded = batch.clone();
    padded.labels = with_ints(&batch.labels, 1, 3, 17);
    let same = model.forward(&padded).loss.into_scalar();
    assert!((same - out.loss.clone().into_scalar()).abs() < 1e-6);
    // …while a different target token changes it.
    let mut changed = batch.clone();
    changed.labels = with_ints(&batch.labels, 1, 1, 17);
    let other = model.forward(&changed).loss.into_scalar();
    assert!((other - out.loss.into_scalar()).abs() > 1e-4);
}

#[test]
fn the_decoder_is_causal_and_the_prefix_bidirectional() {
    let model = tiny_model::<NdArray>(20, 1);
    let batch = batch::<NdArray>(0);
    let logits = |b: &PrefixBatch<NdArray>| {
        let prefix = model.encode(
            b.images.clone(),
            b.prefix_ids.clone(),
            b.prefix_mask.clone(),
        );
        model.decode(&prefix, b.decoder_ids.clone(), b.decoder_positions.clone())
    };
    let base = logits(&batch);
    // A later decoder token does not change the logits before it.
    let mut future = batch.clone();
    future.decoder_ids = with_ints(&batch.decoder_ids, 0, 3, 15);
    let after = logits(&future);
    base.clone()
        .slice([0..1, 0..3])
        .into_data()
        .assert_approx_eq::<f32>(
            &after.clone().slice([0..1, 0..3]).into_data(),
            burn::tensor::Tolerance::absolute(1e-6),
        );
    let moved = (base.clone().slice([0..1, 3..4]) - after.slice([0..1, 3..4]))
        .abs()
        .max()
        .into_scalar();
    assert!(moved > 1e-4, "the changed position itself does change");
    // The last prefix token reaches the first image token's encoding (no causal prefix).
    let prefix = model.encode(
        batch.images.clone(),
        batch.prefix_ids.clone(),
        batch.prefix_mask.clone(),
    );
    let mut late = batch.clone();
    late.prefix_ids = with_ints(&batch.prefix_ids, 0, 2, 13);
    let changed = model.encode(
        late.images.clone(),
        late.prefix_ids.clone(),
        late.prefix_mask.clone(),
    );
    let first_key = |p: &EncodedPrefix<NdArray>| p.cross[0].keys.clone().slice([0..1, 0..2, 0..1]);
    let difference = (first_key(&prefix) - first_key(&changed))
        .abs()
        .max()
        .into_scalar();
    assert!(
        difference > 1e-5,
        "image token 0 sees the text prefix: {difference}"
    );
}

#[test]
fn cached_decoding_matches_teacher_forcing() {
    let model = tiny_model::<NdArray>(20, 1);
    let batch = batch::<NdArray>(0);
    let prefix = model.encode(
        batch.images.clone(),
        batch.prefix_ids.clone(),
        batch.prefix_mask.clone(),
    );
    let full = model.decode(
        &prefix,
        batch.decoder_ids.clone(),
        batch.decoder_positions.clone(),
    );
    let mut cache = Vec::new();
    for t in 0..4 {
        let step = model.decode_step(
            &prefix,
            batch.decoder_ids.clone().slice([0..2, t..t + 1]),
            batch.decoder_positions.clone().slice([0..2, t..t + 1]),
            &mut cache,
        );
        step.into_data().assert_approx_eq::<f32>(
            &full
                .clone()
                .slice([0..2, t..t + 1])
                .reshape([2, 20])
                .into_data(),
            burn::tensor::Tolerance::absolute(1e-4),
        );
    }
}

#[test]
fn training_steps_lower_the_prefix_lm_loss() {
    let mut model = tiny_model::<B>(20, 1);
    let batch = batch::<B>(0);
    let mut optim = AdamConfig::new().init();
    let before = model.forward(&batch).loss.into_scalar();
    for _ in 0..10 {
        let loss = model.forward(&batch).loss;
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(3e-3, model, grads);
    }
    let after = model.forward(&batch).loss.into_scalar();
    assert!(
        after < before * 0.8,
        "loss did not fall: {before} -> {after}"
    );
}

#[test]
fn relative_indices_depend_only_on_the_offset() {
    let (rows, cols) = (3, 4);
    let indices = relative_indices(rows, cols);
    let cells = rows * cols;
    let at = |i: usize, j: usize| indices[i * cells + j];
    // Same offset (one row down, two columns right) from two different cells.
    assert_eq!(at(0, 6), at(1, 7));
    assert_ne!(at(0, 6), at(0, 7));
    // Zero offset is the table's centre; all indices are inside the table.
    assert_eq!(at(5, 5), ((rows - 1) * (2 * cols - 1) + cols - 1) as i64);
    let table = ((2 * rows - 1) * (2 * cols - 1)) as i64;
    assert!(indices.iter().all(|&k| (0..table).contains(&k)));
    let distinct: std::collections::HashSet<_> = indices.iter().collect();
    assert_eq!(distinct.len() as i64, table);
}
