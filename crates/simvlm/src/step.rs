//! What one SimVLM step computes, for the training pipeline's [`MethodStep`] and, for batches
//! larger than memory, its [`ChunkedStep`] (gradient accumulation).

use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor, Transaction};
use burn::train::ItemLazy;
use contrastive_core::run::replicas::Replica;
use contrastive_core::run::seeded_noise::with_seeded_noise;
use contrastive_core::run::train::{even_ranges, ChunkedStep, MethodStep, StepOutput, StepValues};

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
        let [examples, _] = batch.prefix_ids.dims();
        let out = match training {
            true => with_seeded_noise::<B, _>(&batch.labels.device(), batch.noise_seed, || {
                self.forward(&batch)
            }),
            false => self.forward(&batch),
        };
        PrefixLmStepOutput {
            loss: out.loss,
            correct: out.correct,
            tokens: out.tokens,
            examples,
        }
    }
}

impl<B: AutodiffBackend> ChunkedStep<B> for SimVlm<B> {
    /// The PrefixLM loss is per token: replicas average their gradients.
    const CONTRASTIVE: bool = false;

    /// Gradient accumulation over `chunks` micro-batches of examples. The PrefixLM loss is a
    /// mean over the batch's target tokens, so micro-batch `i`'s loss is weighted by its share
    /// `Tᵢ / T` of them: the summed gradients are exactly the whole batch's. Micro-batch `i`
    /// draws its dropout masks from the batch's seed plus `i`.
    fn chunked_step(
        &self,
        batch: PrefixBatch<B>,
        chunks: usize,
        _gather: Option<&Replica>,
    ) -> (PrefixLmStepOutput<B>, GradientsParams) {
        let [examples, _] = batch.prefix_ids.dims();
        let device = batch.labels.device();
        let target_tokens = batch.decoder_mask.clone().sum().float().clamp_min(1.0);
        let mut accumulated = GradientsAccumulator::<Self>::new();
        let mut total = PrefixLmStepOutput {
            loss: Tensor::zeros([1], &device),
            correct: Tensor::zeros([1], &device),
            tokens: Tensor::zeros([1], &device),
            examples,
        };
        for (rows, i) in even_ranges(examples, chunks).into_iter().zip(0u64..) {
            let micro = self.step_output(batch.rows(rows, batch.noise_seed.wrapping_add(i)), true);
            let share = micro.tokens.clone().float().clamp_min(1.0) / target_tokens.clone();
            let weighted = micro.loss * share;
            accumulated.accumulate(self, GradientsParams::from_grads(weighted.backward(), self));
            total.loss = total.loss + weighted.detach();
            total.correct = total.correct + micro.correct;
            total.tokens = total.tokens + micro.tokens;
        }
        (total, accumulated.grads())
    }
}
