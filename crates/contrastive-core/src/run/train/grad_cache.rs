//! GradCache (Gao et al. 2021, "Scaling Deep Contrastive Learning Batch Size under Memory
//! Limited Setup"): the exact gradient of a contrastive loss over a whole batch, at the
//! activation memory of one chunk of it.
//!
//! A contrastive loss couples the batch only through the representations `r = f_θ(x)`, so
//! `∂L/∂θ = Σ_c (∂L/∂r_c)ᵀ ∂r_c/∂θ` over the chunks `c`. [`grad_cache`] therefore
//! 1. encodes every chunk without recording a graph;
//! 2. computes the loss on all representations, held as leaves, and its gradient
//!    `g_c = ∂L/∂r_c` for each chunk;
//! 3. encodes each chunk again with its graph and back-propagates `Σ r_c ⊙ g_c`, summing the
//!    parameter gradients over the chunks.
//!
//! The price is one extra forward pass of the encoder. Step 3 must reproduce step 1: `encode`
//! seeds its own noise (dropout masks) from the chunk, and augmentations are part of the chunk.
//! BatchNorm sees each chunk's statistics. Step 1 runs on a copy of the model with running
//! statistics of its own, so those move once per chunk, in step 3, as in a plain step over the
//! chunk.

use std::ops::Range;

use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::prelude::ElementConversion;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{BasicOps, Tensor, TensorKind};

use super::step_values::StepOutput;
use crate::run::replicas::Replica;

/// `0..n` in at most `chunks` contiguous ranges whose lengths differ by at most one (a last,
/// incomplete batch splits as evenly as it can; fewer ranges when `n < chunks`).
pub fn even_ranges(n: usize, chunks: usize) -> Vec<Range<usize>> {
    let chunks = chunks.clamp(1, n.max(1));
    let (size, longer) = (n / chunks, n % chunks);
    let mut start = 0;
    (0..chunks)
        .map(|i| {
            let end = start + size + usize::from(i < longer);
            let range = start..end;
            start = end;
            range
        })
        .collect()
}

/// Examples `range` of a column-major batch — `columns` blocks of `n` rows, block `k` holding
/// the `k`-th view of every example — as a column-major batch of its own.
pub fn column_rows<B: Backend, const D: usize, K: TensorKind<B> + BasicOps<B>>(
    batch: Tensor<B, D, K>,
    columns: usize,
    range: Range<usize>,
) -> Tensor<B, D, K> {
    let n = batch.dims()[0] / columns;
    if range == (0..n) {
        // The whole batch (a plain step): nothing to copy.
        return batch;
    }
    let blocks = (0..columns)
        .map(|k| batch.clone().narrow(0, k * n + range.start, range.len()))
        .collect();
    Tensor::cat(blocks, 0)
}

/// The inverse of [`column_rows`]: per-chunk column-major blocks, in chunk order, back into the
/// column-major layout of the whole batch.
pub fn merge_columns<B: Backend>(chunks: Vec<Tensor<B, 2>>, columns: usize) -> Tensor<B, 2> {
    let blocks = (0..columns)
        .flat_map(|k| {
            chunks.iter().map(move |chunk| {
                let rows = chunk.dims()[0] / columns;
                chunk.clone().narrow(0, k * rows, rows)
            })
        })
        .collect();
    Tensor::cat(blocks, 0)
}

/// One GradCache step of `model` over `chunks`: `encode` maps a chunk to its representations
/// (and seeds any noise it draws from the chunk), `objective` computes the step's output from
/// every chunk's representations in chunk order. Returns that output and the parameter
/// gradients of its loss.
///
/// With `gather`, the chunks are this replica's slice of a global batch: the objective sees the
/// chunks of every replica, in rank order (the global batch), and the gradients returned are
/// this replica's share of the global loss's — summed over replicas, they are its gradient.
/// A single chunk is then encoded once, its graph kept for step 3.
pub fn grad_cache<B, M, C, O>(
    model: &M,
    chunks: &[C],
    encode: impl Fn(&M, &C) -> Tensor<B, 2>,
    objective: impl FnOnce(Vec<Tensor<B, 2>>) -> O,
    gather: Option<&Replica>,
) -> (O, GradientsParams)
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
    O: StepOutput<B>,
{
    // 1. Without a graph, on a copy whose BatchNorm running statistics are its own — or, for
    //    one chunk of a replica, with its graph, used again in step 3.
    let tracked = (gather.is_some() && chunks.len() == 1).then(|| encode(model, &chunks[0]));
    let local: Vec<Tensor<B, 2>> = match &tracked {
        Some(representations) => vec![representations.clone().detach()],
        None => {
            let untracked = M::from_inner(model.valid()).no_grad();
            let encoded = chunks.iter().map(|chunk| encode(&untracked, chunk));
            encoded.map(|r| r.detach()).collect()
        }
    };
    let (all, own) = match gather {
        Some(replica) => (gathered(replica, &local), replica.rank() * local.len()),
        None => (local, 0),
    };
    let leaves: Vec<Tensor<B, 2>> = all.into_iter().map(Tensor::require_grad).collect();
    // 2. The loss over the whole batch and its gradient with respect to this replica's chunks.
    let output = objective(leaves.clone());
    let loss_grads = output.loss().backward();
    let upstream =
        leaves[own..own + chunks.len()]
            .iter()
            .map(|leaf| match leaf.grad(&loss_grads) {
                Some(grad) => Tensor::from_inner(grad),
                None => leaf.zeros_like().detach(),
            });
    // 3. Each chunk again, with its graph, weighted by its upstream gradient.
    let mut accumulated = GradientsAccumulator::<M>::new();
    for (chunk, upstream) in chunks.iter().zip(upstream) {
        let representations = match &tracked {
            Some(representations) => representations.clone(),
            None => encode(model, chunk),
        };
        let surrogate = (representations * upstream).sum();
        accumulated.accumulate(
            model,
            GradientsParams::from_grads(surrogate.backward(), model),
        );
    }
    (output, accumulated.grads())
}

/// The chunks of every replica, in rank order, each replica's as `local` is split.
fn gathered<B: AutodiffBackend>(replica: &Replica, local: &[Tensor<B, 2>]) -> Vec<Tensor<B, 2>> {
    let rows: Vec<usize> = local.iter().map(|chunk| chunk.dims()[0]).collect();
    let joined = Tensor::cat(local.iter().map(|chunk| chunk.clone().inner()).collect(), 0);
    let all = replica
        .gather_rows(joined)
        .unwrap_or_else(|error| panic!("{error}"));
    let mut start = 0;
    (0..replica.world())
        .flat_map(|_| rows.iter().copied())
        .map(|n| {
            let chunk = all.clone().narrow(0, start, n);
            start += n;
            Tensor::from_inner(chunk)
        })
        .collect()
}

/// The largest difference between two gradients of `model`'s parameters, relative to the
/// largest magnitude of `reference`'s gradient of the same parameter: how the exactness of a
/// chunked step is checked. A parameter whose reference gradient is below 1e-8 of the largest
/// (one that is zero in exact arithmetic, like an attention key bias) is measured against
/// that floor instead of its own rounding noise. Parameters without a gradient are skipped.
pub fn max_relative_difference<B: AutodiffBackend, M: AutodiffModule<B>>(
    model: &M,
    grads: &GradientsParams,
    reference: &GradientsParams,
) -> f64 {
    /// `(max |a − b|, max |b|)` of every parameter both gradients have.
    struct Compare<'a> {
        grads: &'a GradientsParams,
        reference: &'a GradientsParams,
        found: Vec<(f64, f64)>,
    }
    impl<B: AutodiffBackend> ModuleVisitor<B> for Compare<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            let get = |g: &GradientsParams| g.get::<B::InnerBackend, D>(param.id);
            if let (Some(a), Some(b)) = (get(self.grads), get(self.reference)) {
                let scale = b.clone().abs().max().into_scalar().elem();
                let difference = (a - b).abs().max().into_scalar().elem();
                self.found.push((difference, scale));
            }
        }
    }
    let mut compare = Compare {
        grads,
        reference,
        found: Vec::new(),
    };
    model.visit(&mut compare);
    let floor = 1e-8 * compare.found.iter().map(|f| f.1).fold(0.0, f64::max);
    compare
        .found
        .iter()
        .map(|(difference, scale)| difference / scale.max(floor).max(f64::MIN_POSITIVE))
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::NtXentConfig;
    use crate::run::replicas::{on_replica_threads, GradientReduction};
    use crate::run::train::step_values::{ContrastiveStepOutput, StepValues};
    use crate::test_backend::{TestAutodiffBackend as AB, TestBackend};
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::{Distribution, Int, TensorData};
    use burn::train::ItemLazy;

    #[test]
    fn even_ranges_cover_the_batch_in_near_equal_parts() {
        assert_eq!(even_ranges(8, 4), vec![0..2, 2..4, 4..6, 6..8]);
        assert_eq!(even_ranges(10, 4), vec![0..3, 3..6, 6..8, 8..10]);
        assert_eq!(even_ranges(3, 4), vec![0..1, 1..2, 2..3]);
        assert_eq!(even_ranges(5, 1), vec![0..5]);
    }

    #[test]
    fn column_rows_and_merge_columns_are_inverse() {
        let device = Default::default();
        // Three columns (views) of four examples: row value = 10·column + example.
        let values: Vec<i64> = (0..3)
            .flat_map(|k| (0..4).map(move |i| 10 * k + i))
            .collect();
        let batch = Tensor::<AB, 1, Int>::from_data(TensorData::new(values.clone(), [12]), &device)
            .reshape([12, 1]);
        let chunk = column_rows(batch.clone(), 3, 1..3);
        assert_eq!(
            chunk.to_data().to_vec::<i64>().unwrap(),
            vec![1, 2, 11, 12, 21, 22]
        );
        let chunks = even_ranges(4, 3)
            .into_iter()
            .map(|range| column_rows(batch.clone(), 3, range).float())
            .collect();
        let merged = merge_columns(chunks, 3).int();
        assert_eq!(merged.to_data().to_vec::<i64>().unwrap(), values);
    }

    /// A linear encoder under NT-Xent: the two views of example `i` are rows `i` and `n + i`.
    fn step(representations: Vec<Tensor<AB, 2>>) -> ContrastiveStepOutput<AB> {
        let z = merge_columns(representations, 2);
        let n = z.dims()[0] / 2;
        let out = NtXentConfig::new()
            .init()
            .unwrap()
            .forward(z.clone().slice(0..n), z.slice(n..2 * n))
            .unwrap();
        ContrastiveStepOutput::new(out, 2 * n)
    }

    #[test]
    fn the_chunked_gradient_is_the_whole_batch_gradient() {
        let device = Default::default();
        let encoder = LinearConfig::new(6, 4).init::<AB>(&device);
        let views = Tensor::<AB, 2>::random([16, 6], Distribution::Normal(0.0, 1.0), &device);
        let encode = |m: &Linear<AB>, x: &Tensor<AB, 2>| m.forward(x.clone());

        let whole = step(vec![encode(&encoder, &views)]);
        let reference = GradientsParams::from_grads(whole.loss.backward(), &encoder);
        let chunks: Vec<_> = even_ranges(8, 4)
            .into_iter()
            .map(|range| column_rows(views.clone(), 2, range))
            .collect();
        let (output, grads) = grad_cache(&encoder, &chunks, encode, step, None);

        let values: StepValues = output.sync();
        assert!((values.loss - whole.loss.into_scalar()).abs() < 1e-12);
        assert_eq!(grads.len(), 2, "weight and bias");
        assert!(max_relative_difference(&encoder, &grads, &reference) < 1e-10);
        // The comparison can fail: half the chunks' gradients are not the whole.
        let (_, half) = grad_cache(&encoder, &chunks[..2], encode, step, None);
        assert!(max_relative_difference(&encoder, &half, &reference) > 1e-3);
    }

    /// Examples of the replicated batches.
    const EXAMPLES: usize = 8;

    /// Each of `world` replicas (threads) steps on its slice of `views` in `chunks` chunks;
    /// returns every replica's loss and reduced gradients.
    fn replicated_step(
        encoder: &Linear<AB>,
        views: &Tensor<AB, 2>,
        world: usize,
        chunks: usize,
        gather_negatives: bool,
    ) -> Vec<(f64, GradientsParams)> {
        let per_replica = EXAMPLES / world;
        let step = |replica: &Replica| {
            let range = replica.rank() * per_replica..(replica.rank() + 1) * per_replica;
            let slice = column_rows(views.clone(), 2, range);
            let pieces: Vec<_> = even_ranges(per_replica, chunks)
                .into_iter()
                .map(|range| column_rows(slice.clone(), 2, range))
                .collect();
            let encode = |m: &Linear<AB>, x: &Tensor<AB, 2>| m.forward(x.clone());
            let gather = gather_negatives.then_some(replica);
            let (output, grads) = grad_cache(encoder, &pieces, encode, step, gather);
            let reduction = match gather {
                Some(_) => GradientReduction::Sum,
                None => GradientReduction::Mean,
            };
            let grads = replica.reduce_gradients(encoder, grads, reduction).unwrap();
            (output.loss().into_scalar(), grads)
        };
        on_replica_threads::<TestBackend, _>(world, &Default::default(), gather_negatives, step)
            .unwrap()
    }

    #[test]
    fn replicas_with_gathered_negatives_step_as_one_process_on_the_global_batch() {
        let device = Default::default();
        let encoder = LinearConfig::new(6, 4).init::<AB>(&device);
        let views =
            Tensor::<AB, 2>::random([2 * EXAMPLES, 6], Distribution::Normal(0.0, 1.0), &device);
        let whole = step(vec![encoder.forward(views.clone())]).loss;
        let whole_loss = whole.clone().into_scalar();
        let reference = GradientsParams::from_grads(whole.backward(), &encoder);

        for (world, chunks) in [(2, 1), (2, 2), (4, 1)] {
            for (loss, grads) in replicated_step(&encoder, &views, world, chunks, true) {
                assert!(
                    (loss - whole_loss).abs() < 1e-12,
                    "{world} replicas: loss {loss}"
                );
                assert_eq!(grads.len(), 2, "weight and bias");
                let difference = max_relative_difference(&encoder, &grads, &reference);
                assert!(
                    difference < 1e-10,
                    "{world} replicas × {chunks} chunks: {difference:e}"
                );
            }
        }
        // Without the gather each replica's negatives are its own: another gradient.
        let (_, alone) = &replicated_step(&encoder, &views, 2, 1, false)[0];
        assert!(max_relative_difference(&encoder, alone, &reference) > 1e-3);
    }
}
