//! What one SimCLR step computes, for the training pipeline's [`MethodStep`].

use burn::tensor::backend::Backend;
use contrastive_core::eval::LabeledFeatures;
use contrastive_core::run::train::{ContrastiveStepOutput, MethodStep};

use crate::data::batcher::ViewPairBatch;
use crate::model::SimClr;

impl<B: Backend> MethodStep<B> for SimClr<B> {
    type Batch = ViewPairBatch<B>;
    type Output = ContrastiveStepOutput<B>;

    /// NT-Xent over the batch's view pairs and, for the k-NN monitor, the representations of
    /// its un-augmented images when the batch carries them.
    fn step_output(&self, batch: ViewPairBatch<B>, _training: bool) -> ContrastiveStepOutput<B> {
        let [views, ..] = batch.views.dims();
        let features = batch.clean.map(|clean| LabeledFeatures {
            features: self.representation(clean).detach(),
            labels: batch.labels,
        });
        // ViewPairDataset never yields a single-image batch and the config requires batch ≥ 2.
        let out = self
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
}
