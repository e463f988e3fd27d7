//! What one SimCSE step computes, for the training pipeline's [`MethodStep`] and, for batches
//! larger than memory, its [`ChunkedStep`] (GradCache).

use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use contrastive_core::metrics::{alignment, uniformity};
use contrastive_core::run::replicas::Replica;
use contrastive_core::run::seeded_noise::with_seeded_noise;
use contrastive_core::run::text::TokenBatch;
use contrastive_core::run::train::{
    even_ranges, grad_cache, merge_columns, ChunkedStep, ContrastiveStepOutput, MethodStep,
};

use crate::data::batcher::SentenceBatch;
use crate::sentence_model::{SimCse, SimCseOutput};

/// The datasets never yield a one-example batch and the config requires batch ≥ 2.
const TWO_EXAMPLES: &str = "training batches hold at least two examples";

/// The step's loss with the alignment and uniformity of its two views.
fn step_output<B: Backend>(out: SimCseOutput<B>, items: usize) -> ContrastiveStepOutput<B> {
    let mut extras = Vec::new();
    if let Ok(value) = alignment(
        out.anchors.clone().detach(),
        out.positives.clone().detach(),
        2.0,
    ) {
        extras.push(("Alignment", value));
    }
    if let Ok(value) = uniformity(out.anchors.detach(), 2.0) {
        extras.push(("Uniformity", value));
    }
    ContrastiveStepOutput {
        extras,
        ..ContrastiveStepOutput::new(out.contrastive, items)
    }
}

impl<B: Backend> MethodStep<B> for SimCse<B> {
    type Batch = SentenceBatch<B>;
    type Output = ContrastiveStepOutput<B>;

    /// The contrastive loss with the alignment and uniformity of the batch's two views. A
    /// training step first seeds the dropout masks from the batch's content, so a replayed
    /// batch draws the same noise.
    fn step_output(&self, batch: SentenceBatch<B>, training: bool) -> ContrastiveStepOutput<B> {
        let forward = || self.forward(&batch).expect(TWO_EXAMPLES);
        let out = match training {
            true => with_seeded_noise::<B, _>(
                &batch.tokens.input_ids.device(),
                batch.noise_seed,
                forward,
            ),
            false => forward(),
        };
        step_output(out, batch.size)
    }
}

/// One chunk of a GradCache step: the encoder input of its examples and the seed of its
/// dropout masks, drawn again when the chunk is encoded a second time.
pub struct NoisyChunk<B: Backend> {
    pub tokens: TokenBatch<B>,
    pub noise_seed: u64,
}

impl<B: Backend> SimCse<B> {
    /// The chunk's embeddings under its own dropout masks.
    pub fn embed_chunk(&self, chunk: &NoisyChunk<B>) -> burn::tensor::Tensor<B, 2> {
        with_seeded_noise::<B, _>(&chunk.tokens.input_ids.device(), chunk.noise_seed, || {
            self.embed(&chunk.tokens, true)
        })
    }

    /// The batch in `chunks` chunks of examples, every pass of an example in its chunk; chunk
    /// `i` draws its dropout masks from the batch's seed plus `i`.
    pub fn noisy_chunks(&self, batch: &SentenceBatch<B>, chunks: usize) -> Vec<NoisyChunk<B>> {
        even_ranges(batch.size, chunks)
            .into_iter()
            .zip(0u64..)
            .map(|(examples, i)| NoisyChunk {
                tokens: self.encoder_input(batch, examples),
                noise_seed: batch.noise_seed.wrapping_add(i),
            })
            .collect()
    }
}

impl<B: AutodiffBackend> ChunkedStep<B> for SimCse<B> {
    const CONTRASTIVE: bool = true;

    /// GradCache over `chunks` chunks of examples. The masks of each chunk are replayed in the
    /// second pass, so the gradient is exactly that of the loss under the masks drawn. With
    /// `gather`, the loss runs over the sentences (and hard negatives) of every replica.
    fn chunked_step(
        &self,
        batch: SentenceBatch<B>,
        chunks: usize,
        gather: Option<&Replica>,
    ) -> (ContrastiveStepOutput<B>, GradientsParams) {
        let passes = self.passes(&batch);
        grad_cache(
            self,
            &self.noisy_chunks(&batch, chunks),
            |model, chunk| model.embed_chunk(chunk),
            |z| {
                let out = self
                    .objective(merge_columns(z, passes), passes)
                    .expect(TWO_EXAMPLES);
                step_output(out, batch.size)
            },
            gather,
        )
    }
}
