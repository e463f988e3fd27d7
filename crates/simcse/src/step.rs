//! What one SimCSE step computes, for the training pipeline's [`MethodStep`].

use burn::tensor::backend::Backend;
use contrastive_core::metrics::{alignment, uniformity};
use contrastive_core::run::train::{ContrastiveStepOutput, MethodStep};

use crate::data::batcher::SentenceBatch;
use crate::sentence_model::SimCse;

impl<B: Backend> MethodStep<B> for SimCse<B> {
    type Batch = SentenceBatch<B>;
    type Output = ContrastiveStepOutput<B>;

    /// The contrastive loss with the alignment and uniformity of the batch's two views. A
    /// training step first seeds the dropout masks from the batch's content, so a replayed
    /// batch draws the same noise.
    fn step_output(&self, batch: SentenceBatch<B>, training: bool) -> ContrastiveStepOutput<B> {
        if training {
            B::seed(&batch.tokens.input_ids.device(), batch.noise_seed);
        }
        // The datasets never yield a one-example batch and the config requires batch ≥ 2.
        let out = self
            .forward(&batch)
            .expect("training batches hold at least two examples");
        let mut extras = Vec::new();
        if let Ok(value) = alignment(
            out.anchors.clone().detach(),
            out.positives.clone().detach(),
            2.0,
        ) {
            extras.push(("Alignment", value));
        }
        if let Ok(value) = uniformity(out.anchors.clone().detach(), 2.0) {
            extras.push(("Uniformity", value));
        }
        ContrastiveStepOutput {
            loss: out.contrastive.loss,
            logits: out.contrastive.logits,
            targets: out.contrastive.targets,
            items: batch.size,
            extras,
            features: None,
        }
    }
}
