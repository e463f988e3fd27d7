//! What one SimCLR step computes, for the training pipeline's [`MethodStep`] and, for batches
//! larger than memory, its [`ChunkedStep`] (GradCache).

use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use contrastive_core::eval::LabeledFeatures;
use contrastive_core::loss::ContrastiveOutput;
use contrastive_core::run::replicas::Replica;
use contrastive_core::run::train::{
    column_rows, even_ranges, grad_cache, merge_columns, ChunkedStep, ContrastiveStepOutput,
    MethodStep,
};

use crate::data::batcher::ViewPairBatch;
use crate::model::SimClr;

impl<B: Backend> SimClr<B> {
    /// The k-NN monitor's representations of the batch's un-augmented images, if it has them.
    fn monitored(&self, batch: &ViewPairBatch<B>) -> Option<LabeledFeatures<B>> {
        batch.clean.clone().map(|clean| LabeledFeatures {
            features: self.representation(clean).detach(),
            labels: batch.labels.clone(),
        })
    }
}

fn step_output<B: Backend>(
    out: ContrastiveOutput<B>,
    views: usize,
    features: Option<LabeledFeatures<B>>,
) -> ContrastiveStepOutput<B> {
    ContrastiveStepOutput {
        features,
        ..ContrastiveStepOutput::new(out, views)
    }
}

/// ViewPairDataset never yields a single-image batch and the config requires batch ≥ 2.
const TWO_VIEWS: &str = "view-pair batches hold at least two images";

impl<B: Backend> MethodStep<B> for SimClr<B> {
    type Batch = ViewPairBatch<B>;
    type Output = ContrastiveStepOutput<B>;

    /// NT-Xent over the batch's view pairs and, for the k-NN monitor, the representations of
    /// its un-augmented images when the batch carries them.
    fn step_output(&self, batch: ViewPairBatch<B>, _training: bool) -> ContrastiveStepOutput<B> {
        let [views, ..] = batch.views.dims();
        let features = self.monitored(&batch);
        let out = self.forward(batch.views).expect(TWO_VIEWS);
        step_output(out, views, features)
    }
}

impl<B: AutodiffBackend> ChunkedStep<B> for SimClr<B> {
    const CONTRASTIVE: bool = true;

    /// GradCache over `chunks` groups of images, each chunk holding both views of its images
    /// (so each chunk is normalised by BatchNorm over its own `2N/chunks` views). The views are
    /// augmented once, by the loader, so both passes see the same pixels. With `gather`,
    /// NT-Xent runs over the views of every replica.
    fn chunked_step(
        &self,
        batch: ViewPairBatch<B>,
        chunks: usize,
        gather: Option<&Replica>,
    ) -> (ContrastiveStepOutput<B>, GradientsParams) {
        let [views, ..] = batch.views.dims();
        let features = self.monitored(&batch);
        let pieces: Vec<_> = even_ranges(views / 2, chunks)
            .into_iter()
            .map(|images| column_rows(batch.views.clone(), 2, images))
            .collect();
        grad_cache(
            self,
            &pieces,
            |model, views| model.project(views.clone()),
            |z| {
                let out = self.objective(merge_columns(z, 2)).expect(TWO_VIEWS);
                step_output(out, views, features)
            },
            gather,
        )
    }
}
