//! burn-train's training and validation steps for [`SimVlm`].

use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, Transaction};
use burn::train::{InferenceStep, ItemLazy, TrainOutput, TrainStep};
use contrastive_core::train::{guarded_output, StepValues};

use crate::model::{PrefixBatch, SimVlm};

/// What one PrefixLM step produced, still on the device.
pub struct PrefixLmStepOutput<B: Backend> {
    pub loss: Tensor<B, 1>,
    pub correct: Tensor<B, 1, Int>,
    pub tokens: Tensor<B, 1, Int>,
    /// Examples in the batch, for throughput.
    pub examples: usize,
}

impl<B: Backend> ItemLazy for PrefixLmStepOutput<B> {
    type ItemSync = StepValues;

    /// Loss and next-token accuracy (over target tokens) in one device read.
    fn sync(self) -> StepValues {
        let data = Transaction::default()
            .register(self.loss)
            .register(self.correct)
            .register(self.tokens)
            .execute();
        let scalar = |i: usize| -> f64 {
            data[i]
                .clone()
                .convert::<f64>()
                .to_vec::<f64>()
                .map_or(f64::NAN, |v| v[0])
        };
        let tokens = scalar(2);
        StepValues {
            loss: scalar(0),
            accuracy: scalar(1) / tokens.max(1.0),
            anchors: tokens as usize,
            items: self.examples,
            extras: Vec::new(),
            features: None,
        }
    }
}

fn step_output<B: Backend>(model: &SimVlm<B>, batch: &PrefixBatch<B>) -> PrefixLmStepOutput<B> {
    let [examples, _] = batch.prefix_ids.dims();
    let out = model.forward(batch);
    PrefixLmStepOutput {
        loss: out.loss,
        correct: out.correct,
        tokens: out.tokens,
        examples,
    }
}

impl<B: AutodiffBackend> TrainStep for SimVlm<B> {
    type Input = PrefixBatch<B>;
    type Output = PrefixLmStepOutput<B>;

    fn step(&self, batch: PrefixBatch<B>) -> TrainOutput<PrefixLmStepOutput<B>> {
        B::seed(&batch.labels.device(), batch.noise_seed);
        let output = step_output(self, &batch);
        guarded_output(self, &output.loss.clone(), self.finite_guard(), output)
    }
}

impl<B: Backend> InferenceStep for SimVlm<B> {
    type Input = PrefixBatch<B>;
    type Output = PrefixLmStepOutput<B>;

    fn step(&self, batch: PrefixBatch<B>) -> PrefixLmStepOutput<B> {
        step_output(self, &batch)
    }
}
