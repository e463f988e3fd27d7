//! Data-parallel replicas on Burn's own collective engine (`burn-collective`): one model copy
//! per device — or per thread on a CPU — each training on its slice of every global batch.
//!
//! A step of `W` replicas is the step of one process on the global batch:
//! - a contrastive loss is computed on the representations of *all* replicas (gathered by a
//!   zero-padded all-reduce, exact in floating point since `x + 0 = x`), so every replica's
//!   negatives are the global batch's; each replica back-propagates its own rows' share
//!   `∂L/∂r_own` of that loss into its encoder, and the parameter gradients are **summed**
//!   (see [`grad_cache`](super::train::grad_cache));
//! - a loss that does not couple examples (PrefixLM), or a contrastive one with
//!   `gather_negatives = false`, is a per-replica mean, and the gradients are **averaged**.
//!
//! Gradients travel in a few large buckets rather than one call per parameter. The collective
//! ops work on the inner (non-autodiff) backend: they are not differentiable, which is why the
//! gather happens on detached representations (GradCache's leaves).

use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Tensor, TensorPrimitive};
use std::sync::Mutex;

use burn_collective::{CollectiveConfig, PeerId, ReduceOperation};

/// Gradients are all-reduced in buckets of at most this many values (64 MiB of f32): few
/// calls, and a bounded extra copy.
const BUCKET_VALUES: usize = 1 << 24;

/// A collective operation failed (a peer left, shapes disagreed).
#[derive(Debug, thiserror::Error)]
#[error("replica {rank} of {world}: {operation} failed: {detail}")]
pub struct ReplicaError {
    pub rank: usize,
    pub world: usize,
    pub operation: &'static str,
    pub detail: String,
}

/// How the parameter gradients of the replicas combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GradientReduction {
    /// Each replica holds its share of the global loss's gradient (gathered negatives).
    Sum,
    /// Each replica holds the gradient of its own mean loss.
    Mean,
}

/// This thread's place among the replicas of a run, joined to the collective.
#[derive(Clone, Debug)]
pub struct Replica {
    rank: usize,
    world: usize,
    gather_negatives: bool,
}

impl Replica {
    /// Joins replica `rank` of `world` on `device` (of the inner backend `B`). Blocks until
    /// every replica has joined.
    pub fn join<B: Backend>(
        rank: usize,
        world: usize,
        device: &B::Device,
        gather_negatives: bool,
    ) -> Result<Self, ReplicaError> {
        let replica = Self {
            rank,
            world,
            gather_negatives,
        };
        let config = CollectiveConfig::default().with_num_devices(world);
        burn_collective::register::<B>(replica.peer(), device.clone(), config)
            .map_err(|e| replica.error("joining the collective", e))?;
        Ok(replica)
    }

    /// Leaves the collective (every replica calls it once at the end).
    pub fn leave<B: Backend>(&self) -> Result<(), ReplicaError> {
        burn_collective::finish_collective::<B>(self.peer())
            .map_err(|e| self.error("leaving the collective", e))
    }

    pub fn rank(&self) -> usize {
        self.rank
    }

    pub fn world(&self) -> usize {
        self.world
    }

    /// Whether a contrastive loss takes its negatives from every replica.
    pub fn gathers_negatives(&self) -> bool {
        self.gather_negatives
    }

    fn peer(&self) -> PeerId {
        PeerId::from(self.rank)
    }

    fn error(&self, operation: &'static str, detail: impl std::fmt::Debug) -> ReplicaError {
        ReplicaError {
            rank: self.rank,
            world: self.world,
            operation,
            detail: format!("{detail:?}"),
        }
    }

    fn all_reduce<B: Backend, const D: usize>(
        &self,
        tensor: Tensor<B, D>,
        op: ReduceOperation,
        operation: &'static str,
    ) -> Result<Tensor<B, D>, ReplicaError> {
        let reduced =
            burn_collective::all_reduce::<B>(self.peer(), tensor.into_primitive().tensor(), op)
                .map_err(|e| self.error(operation, e))?;
        Ok(Tensor::from_primitive(TensorPrimitive::Float(reduced)))
    }

    /// Every replica's `[m, d]` rows, in rank order: `[world · m, d]`. Replicas hold the same
    /// number of rows (equal slices of the global batch).
    pub fn gather_rows<B: Backend>(
        &self,
        local: Tensor<B, 2>,
    ) -> Result<Tensor<B, 2>, ReplicaError> {
        let [m, d] = local.dims();
        let own = self.rank * m..(self.rank + 1) * m;
        let padded =
            Tensor::zeros([self.world * m, d], &local.device()).slice_assign([own, 0..d], local);
        self.all_reduce(padded, ReduceOperation::Sum, "gathering representations")
    }

    /// The gradients of every replica combined by `reduction`, the same on every replica.
    /// Parameters are taken in `model`'s order, which every replica shares.
    pub fn reduce_gradients<B: AutodiffBackend, M: AutodiffModule<B>>(
        &self,
        model: &M,
        mut grads: GradientsParams,
        reduction: GradientReduction,
    ) -> Result<GradientsParams, ReplicaError> {
        let mut flatten = Flatten::<B> {
            grads: &mut grads,
            flat: Vec::new(),
        };
        model.visit(&mut flatten);
        let flat = flatten.flat;
        let op = match reduction {
            GradientReduction::Sum => ReduceOperation::Sum,
            GradientReduction::Mean => ReduceOperation::Mean,
        };
        let mut reduced = Vec::with_capacity(flat.len());
        let lengths: Vec<usize> = flat.iter().map(|(_, t)| t.dims()[0]).collect();
        for bucket in buckets(&lengths, BUCKET_VALUES) {
            let tensors: Vec<_> = flat[bucket].iter().map(|(_, t)| t.clone()).collect();
            let lengths: Vec<usize> = tensors.iter().map(|t| t.dims()[0]).collect();
            let joined = self.all_reduce(Tensor::cat(tensors, 0), op, "reducing gradients")?;
            let mut start = 0;
            for length in lengths {
                reduced.push(joined.clone().narrow(0, start, length));
                start += length;
            }
        }
        let mut restore = Restore::<B> {
            grads: &mut grads,
            reduced: flat.into_iter().map(|(id, _)| id).zip(reduced).collect(),
        };
        model.visit(&mut restore);
        Ok(grads)
    }
}

/// Runs `step` as `world` replicas, one thread each, joined to one collective on `device`
/// (of the inner backend `B`); their results in rank order. Calls take turns: the collective
/// of a backend type is one per process. A replica that panics must not leave the others
/// waiting in a collective operation: `step` returns its failures instead.
pub fn on_replica_threads<B: Backend, T: Send>(
    world: usize,
    device: &B::Device,
    gather_negatives: bool,
    step: impl Fn(&Replica) -> T + Sync,
) -> Result<Vec<T>, ReplicaError> {
    static TURN: Mutex<()> = Mutex::new(());
    let _turn = TURN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    burn_collective::reset_collective::<B>();
    let step = &step;
    std::thread::scope(|scope| {
        let replicas: Vec<_> = (0..world)
            .map(|rank| {
                scope.spawn(move || {
                    let replica = Replica::join::<B>(rank, world, device, gather_negatives)?;
                    let result = step(&replica);
                    replica.leave::<B>()?;
                    Ok(result)
                })
            })
            .collect();
        replicas
            .into_iter()
            .map(|replica| {
                replica
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p))
            })
            .collect()
    })
}

type Flat<B> = Tensor<<B as AutodiffBackend>::InnerBackend, 1>;

/// Consecutive ranges of items of `lengths` holding at most `limit` values each (a longer
/// item alone).
fn buckets(lengths: &[usize], limit: usize) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let (mut start, mut values) = (0, 0);
    for (i, &n) in lengths.iter().enumerate() {
        if i > start && values + n > limit {
            ranges.push(start..i);
            (start, values) = (i, 0);
        }
        values += n;
    }
    if start < lengths.len() {
        ranges.push(start..lengths.len());
    }
    ranges
}

/// Takes every gradient out of `grads`, flattened, in module order.
struct Flatten<'a, B: AutodiffBackend> {
    grads: &'a mut GradientsParams,
    flat: Vec<(burn::module::ParamId, Flat<B>)>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Flatten<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(grad) = self.grads.remove::<B::InnerBackend, D>(param.id) {
            let n = grad.shape().num_elements();
            self.flat.push((param.id, grad.reshape([n])));
        }
    }
}

/// Puts the reduced gradients back, in the order [`Flatten`] took them, in their shapes.
struct Restore<'a, B: AutodiffBackend> {
    grads: &'a mut GradientsParams,
    reduced: std::collections::VecDeque<(burn::module::ParamId, Flat<B>)>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Restore<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if self.reduced.front().map(|(id, _)| *id) != Some(param.id) {
            return;
        }
        if let Some((id, flat)) = self.reduced.pop_front() {
            let shape: [usize; D] = param.val().dims();
            self.grads
                .register::<B::InnerBackend, D>(id, flat.reshape(shape));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_hold_at_most_the_limit_and_a_longer_gradient_alone() {
        assert_eq!(buckets(&[3, 5, 2, 9, 1], 8), vec![0..2, 2..3, 3..4, 4..5]);
        assert_eq!(buckets(&[1, 1, 1], 8), vec![0..3]);
        assert_eq!(buckets(&[], 8), Vec::<std::ops::Range<usize>>::new());
    }
}
