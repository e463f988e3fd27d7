//! burn-train's training and validation steps for [`SimClr`].

use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::train::{InferenceStep, TrainOutput, TrainStep};
use contrastive_core::eval::LabeledFeatures;
use contrastive_core::train::{guarded_output, ContrastiveStepOutput};

use crate::data::batcher::ViewPairBatch;
use crate::model::SimClr;

fn step_output<B: Backend>(model: &SimClr<B>, batch: ViewPairBatch<B>) -> ContrastiveStepOutput<B> {
    let [views, ..] = batch.views.dims();
    let features = batch.clean.map(|clean| LabeledFeatures {
        features: model.representation(clean).detach(),
        labels: batch.labels,
    });
    // ViewPairDataset never yields a single-image batch and the config requires batch ≥ 2.
    let out = model
        .forward(batch.views)
        .expect("view-pair batches hold at least two images");
    ContrastiveStepOutput {
        loss: out.loss,
        logits: out.logits,
        targets: out.targets,
        items: views,
        extras: Vec::new(),
        features,
    }
}

impl<B: AutodiffBackend> TrainStep for SimClr<B> {
    type Input = ViewPairBatch<B>;
    type Output = ContrastiveStepOutput<B>;

    fn step(&self, batch: ViewPairBatch<B>) -> TrainOutput<ContrastiveStepOutput<B>> {
        let output = step_output(self, batch);
        guarded_output(self, &output.loss.clone(), self.finite_guard(), output)
    }
}

impl<B: Backend> InferenceStep for SimClr<B> {
    type Input = ViewPairBatch<B>;
    type Output = ContrastiveStepOutput<B>;

    fn step(&self, batch: ViewPairBatch<B>) -> ContrastiveStepOutput<B> {
        step_output(self, batch)
    }
}
