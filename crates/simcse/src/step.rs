//! burn-train's training and validation steps for [`SimCse`].

use burn::module::AutodiffModule;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorData};
use burn::train::{InferenceStep, TrainOutput, TrainStep};
use contrastive_core::metrics::{alignment, uniformity};
use contrastive_core::train::{guarded_output, ContrastiveStepOutput};

use crate::sentence_model::{SentenceBatch, SimCse};

/// Name of the STS-B dev Spearman extra (×100), present on the steps that evaluated it.
pub const DEV_SPEARMAN: &str = "STS-B dev Spearman";

fn step_output<B: Backend>(
    model: &SimCse<B>,
    batch: &SentenceBatch<B>,
) -> ContrastiveStepOutput<B> {
    // The datasets never yield a one-example batch and the config requires batch ≥ 2.
    let out = model
        .forward(batch)
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

impl<B: AutodiffBackend> TrainStep for SimCse<B> {
    type Input = SentenceBatch<B>;
    type Output = ContrastiveStepOutput<B>;

    fn step(&self, batch: SentenceBatch<B>) -> TrainOutput<ContrastiveStepOutput<B>> {
        B::seed(&batch.tokens.input_ids.device(), batch.noise_seed);
        let output = step_output(self, &batch);
        let mut train = guarded_output(self, &output.loss.clone(), self.finite_guard(), output);
        if let Some(monitor) = self.dev_monitor() {
            let device = batch.tokens.input_ids.device();
            if let Some(rho) = monitor.after_step(&self.valid(), &device) {
                let value = TensorData::new(vec![100.0 * rho], [1]);
                train
                    .item
                    .extras
                    .push((DEV_SPEARMAN, Tensor::from_data(value, &device)));
            }
        }
        train
    }
}

impl<B: Backend> InferenceStep for SimCse<B> {
    type Input = SentenceBatch<B>;
    type Output = ContrastiveStepOutput<B>;

    fn step(&self, batch: SentenceBatch<B>) -> ContrastiveStepOutput<B> {
        step_output(self, &batch)
    }
}
