//! What one SimVLM step computes, for the training pipeline's [`MethodStep`].

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, Transaction};
use burn::train::ItemLazy;
use contrastive_core::run::train::{MethodStep, StepOutput, StepValues};

use crate::data::batcher::PrefixBatch;
use crate::model::SimVlm;

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

impl<B: Backend> StepOutput<B> for PrefixLmStepOutput<B> {
    fn loss(&self) -> Tensor<B, 1> {
        self.loss.clone()
    }
}

impl<B: Backend> MethodStep<B> for SimVlm<B> {
    type Batch = PrefixBatch<B>;
    type Output = PrefixLmStepOutput<B>;

    /// The PrefixLM loss and next-token accuracy. A training step first seeds the dropout masks
    /// from the batch's content, so a replayed batch draws the same noise.
    fn step_output(&self, batch: PrefixBatch<B>, training: bool) -> PrefixLmStepOutput<B> {
        if training {
            B::seed(&batch.labels.device(), batch.noise_seed);
        }
        let [examples, _] = batch.prefix_ids.dims();
        let out = self.forward(&batch);
        PrefixLmStepOutput {
            loss: out.loss,
            correct: out.correct,
            tokens: out.tokens,
            examples,
        }
    }
}
