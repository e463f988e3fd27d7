//! GradCache for SimCLR, in float64: the chunked step's gradient is the gradient of NT-Xent over
//! the whole batch, and BatchNorm's running statistics move once per chunk. Replicas that
//! gather each other's projections step as one process whose chunks are the replicas' slices.

use burn::backend::{Autodiff, NdArray};
use burn::module::{AutodiffModule, Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Int, Tensor};
use burn::train::TrainStep;
use contrastive_core::nn::ResNetConfig;
use contrastive_core::run::replicas::on_replica_threads;
use contrastive_core::run::train::{
    column_rows, even_ranges, max_relative_difference, merge_columns, ChunkedStep, NoHook,
    TrainingModel,
};
use simclr::data::batcher::ViewPairBatch;
use simclr::{SimClr, SimclrModelConfig};

type Inner = NdArray<f64>;
type B = Autodiff<Inner>;

const IMAGES: usize = 8;
const CHUNKS: usize = 4;

/// A narrow ResNet-18 with its parameters drawn, and a batch of `2 · IMAGES` random views.
fn model_and_batch() -> (SimClr<B>, ViewPairBatch<B>) {
    let device = Default::default();
    B::seed(&device, 7);
    let model = SimclrModelConfig::new()
        .with_encoder(ResNetConfig::new().with_width_multiplier(0.125))
        .with_projection_dim(16)
        .init::<B>(&device)
        .unwrap();
    let views = Tensor::<B, 4>::random(
        [2 * IMAGES, 3, 16, 16],
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    // Parameters are drawn on first use: draw them before the model is copied.
    let _ = model.valid();
    let batch = ViewPairBatch {
        views,
        labels: Tensor::<B, 1, Int>::zeros([IMAGES], &device),
        clean: None,
    };
    (model, batch)
}

/// The views of each chunk: both views of its images.
fn chunks(views: &Tensor<B, 4>) -> Vec<Tensor<B, 4>> {
    chunks_of(views, CHUNKS)
}

fn chunks_of(views: &Tensor<B, 4>, chunks: usize) -> Vec<Tensor<B, 4>> {
    even_ranges(IMAGES, chunks)
        .into_iter()
        .map(|images| column_rows(views.clone(), 2, images))
        .collect()
}

#[test]
fn the_chunked_gradient_is_the_whole_batch_gradient_with_batch_norm_per_chunk() {
    let (model, batch) = model_and_batch();
    // The reference: one graph through every chunk (BatchNorm normalising each chunk by its own
    // statistics, as GradCache does), NT-Xent over all 2N projections, one backward pass.
    let z = chunks(&batch.views)
        .into_iter()
        .map(|views| model.project(views))
        .collect();
    let reference_loss = model.objective(merge_columns(z, 2)).unwrap().loss;
    let reference = GradientsParams::from_grads(reference_loss.backward(), &model);

    let (output, grads) = model.chunked_step(batch.clone(), CHUNKS, None);
    let difference = max_relative_difference(&model, &grads, &reference);
    assert!(difference < 1e-6, "relative difference {difference:e}");
    let loss_gap = (output.loss.into_scalar() - reference_loss.into_scalar()).abs();
    assert!(loss_gap < 1e-12, "loss differs by {loss_gap:e}");

    // What GradCache changes for SimCLR: statistics per chunk are not the whole batch's.
    let whole_loss = model.forward(batch.views).unwrap().loss;
    let whole = GradientsParams::from_grads(whole_loss.backward(), &model);
    assert!(max_relative_difference(&model, &whole, &reference) > 1e-4);
}

/// Every float of a module (parameters and running statistics), synced.
fn floats<M: AutodiffModule<B>>(model: &M) -> Vec<f64> {
    struct Collect(Vec<f64>);
    impl ModuleVisitor<Inner> for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<Inner, D>>) {
            self.0
                .extend(param.val().into_data().to_vec::<f64>().unwrap());
        }
    }
    let mut collect = Collect(Vec::new());
    model.valid().visit(&mut collect);
    collect.0
}

#[test]
fn batch_norm_running_statistics_move_once_per_chunk() {
    let (model, batch) = model_and_batch();
    let before = floats(&model);
    // A copy with running statistics of its own, given one plain pass over each chunk.
    let copy = SimClr::<B>::from_inner(model.valid());
    for views in chunks(&batch.views) {
        let _ = copy.project(views);
    }

    let _ = model.chunked_step(batch, CHUNKS, None);
    let (after, expected) = (floats(&model), floats(&copy));
    assert_ne!(after, before, "the running statistics moved");
    let gap = after
        .iter()
        .zip(&expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(gap < 1e-12, "running statistics differ by {gap:e}");
}

#[test]
fn two_replicas_with_gathered_negatives_step_as_one_process_with_batch_norm_per_replica() {
    let (model, batch) = model_and_batch();
    // One graph through each replica's half (BatchNorm over that half's views, as each replica
    // normalises its own), NT-Xent over all 2N projections, one backward pass.
    let z = chunks_of(&batch.views, 2)
        .into_iter()
        .map(|views| model.project(views))
        .collect();
    let reference_loss = model.objective(merge_columns(z, 2)).unwrap().loss;
    let reference = GradientsParams::from_grads(reference_loss.backward(), &model);

    let step = |replica: &contrastive_core::run::replicas::Replica| {
        let images = even_ranges(IMAGES, 2)[replica.rank()].clone();
        let slice = ViewPairBatch {
            views: column_rows(batch.views.clone(), 2, images.clone()),
            labels: batch.labels.clone().slice(images),
            clean: None,
        };
        let trainer = TrainingModel::<B, _, NoHook>::new(model.clone(), None, None)
            .with_replica(replica.clone());
        TrainStep::step(&trainer, slice).grads
    };
    let replicas = on_replica_threads::<Inner, _>(2, &Default::default(), true, step).unwrap();
    for grads in replicas {
        let difference = max_relative_difference(&model, &grads, &reference);
        assert!(difference < 1e-6, "relative difference {difference:e}");
    }
}
