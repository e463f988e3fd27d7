//! burn-train's training and validation steps, written once for every method.
//!
//! A method's model says what one batch computes ([`MethodStep`]); [`TrainingModel`] wraps it
//! with the run services of the training pipeline — the [`FiniteGuard`] between the backward
//! pass and the optimizer, and a [`StepHook`] that sees the model after each step (SimCSE's
//! STS-B dev monitor) — so that models hold parameters only. A batch larger than memory goes
//! through the model's [`ChunkedStep`] in pieces.

use std::marker::PhantomData;
use std::sync::Arc;

use burn::module::{AutodiffModule, Module};
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::train::{InferenceStep, ItemLazy, TrainOutput, TrainStep};

use super::finite_guard::FiniteGuard;
use super::step_values::{StepOutput, StepValues};
use crate::run::replicas::{GradientReduction, Replica};

/// What a method's model computes for one batch, in training and in validation.
pub trait MethodStep<B: Backend>: Module<B> {
    type Batch: Send + Clone + std::fmt::Debug + 'static;
    type Output: StepOutput<B>;

    /// The outputs of one batch. `training` is true for the steps whose loss is minimised
    /// (a method that replays its dropout noise seeds it here).
    fn step_output(&self, batch: Self::Batch, training: bool) -> Self::Output;
}

/// A training step over a batch processed in `chunks` pieces, one after the other, so that
/// activation memory is that of one piece: GradCache for a contrastive loss (its gradient is
/// exactly the whole batch's), gradient accumulation for a per-token loss. Returns the step's
/// outputs over the whole batch and the parameter gradients of its loss.
pub trait ChunkedStep<B: AutodiffBackend>: MethodStep<B> + AutodiffModule<B> {
    /// Whether the loss couples the examples of a batch (a contrastive loss), so that
    /// replicas gather each other's representations as negatives.
    const CONTRASTIVE: bool;

    /// With `gather` (only if [`Self::CONTRASTIVE`]), `batch` is this replica's slice of the
    /// global batch and the loss is the global batch's (see [`super::grad_cache`]).
    fn chunked_step(
        &self,
        batch: Self::Batch,
        chunks: usize,
        gather: Option<&Replica>,
    ) -> (Self::Output, GradientsParams);
}

/// Something that looks at the model after every training step and may report named numbers
/// for the dashboard (e.g. a dev-set score every K steps).
pub trait StepHook<M>: Send + Sync {
    fn after_step(&self, model: &M) -> Vec<(&'static str, f64)>;
}

/// The pipeline's training model: the method's model and the run services of its steps.
#[derive(Module, Debug)]
pub struct TrainingModel<B: Backend, M: Module<B>, H> {
    /// The method's model: what is optimised, checkpointed and saved.
    pub model: M,
    backend: PhantomData<B>,
    #[module(skip)]
    services: StepServices<H>,
}

/// The run services of a training step, shared by every clone of the model (a hook that
/// keeps state is an `Arc`).
#[derive(Clone, Debug)]
pub struct StepServices<H> {
    guard: Option<Arc<FiniteGuard>>,
    hook: Option<H>,
    /// Pieces a training batch is processed in (1: whole).
    chunks: usize,
    /// This model's place among data-parallel replicas, if it has peers.
    replica: Option<Replica>,
}

impl<B: Backend, M: Module<B>, H> TrainingModel<B, M, H> {
    /// `model` trained with a step check `guard` and a `hook` after each step, when given.
    pub fn new(model: M, guard: Option<Arc<FiniteGuard>>, hook: Option<H>) -> Self {
        Self {
            model,
            backend: PhantomData,
            services: StepServices {
                guard,
                hook,
                chunks: 1,
                replica: None,
            },
        }
    }

    /// Training batches go through [`ChunkedStep`] in `chunks` pieces (1: whole).
    pub fn with_chunks(mut self, chunks: usize) -> Self {
        self.services.chunks = chunks.max(1);
        self
    }

    /// Training steps run in step with the other replicas of `replica`'s collective.
    pub fn with_replica(mut self, replica: Replica) -> Self {
        self.services.replica = Some(replica);
        self
    }
}

/// A step's output with the hook's numbers, read back together.
pub struct HookedOutput<O> {
    pub output: O,
    pub extras: Vec<(&'static str, f64)>,
}

impl<O: ItemLazy<ItemSync = StepValues>> ItemLazy for HookedOutput<O> {
    type ItemSync = StepValues;

    fn sync(self) -> StepValues {
        let mut values = self.output.sync();
        values.extras.extend(self.extras);
        values
    }
}

impl<B, M, H> TrainStep for TrainingModel<B, M, H>
where
    B: AutodiffBackend,
    M: ChunkedStep<B>,
    H: StepHook<M> + Clone + std::fmt::Debug + 'static,
{
    type Input = M::Batch;
    type Output = HookedOutput<M::Output>;

    /// Forward and backward (whole or in chunks), the gradients combined with the other
    /// replicas', the guard's check of loss and gradients, then the hook.
    fn step(&self, batch: M::Batch) -> TrainOutput<HookedOutput<M::Output>> {
        let replica = self.services.replica.as_ref();
        let gather = replica.filter(|replica| M::CONTRASTIVE && replica.gathers_negatives());
        let (output, grads) = match (self.services.chunks, gather) {
            (1, None) => {
                let output = self.model.step_output(batch, true);
                let grads = GradientsParams::from_grads(output.loss().backward(), &self.model);
                (output, grads)
            }
            (chunks, gather) => self.model.chunked_step(batch, chunks, gather),
        };
        let grads = match replica {
            Some(replica) => {
                let reduction = match gather {
                    Some(_) => GradientReduction::Sum,
                    None => GradientReduction::Mean,
                };
                replica
                    .reduce_gradients(&self.model, grads, reduction)
                    .unwrap_or_else(|error| panic!("{error}"))
            }
            None => grads,
        };
        let loss = output.loss();
        let grads = match &self.services.guard {
            Some(guard) => guard.check(&self.model, &loss, grads),
            None => grads,
        };
        let extras = match &self.services.hook {
            Some(hook) => hook.after_step(&self.model),
            None => Vec::new(),
        };
        TrainOutput {
            grads,
            item: HookedOutput { output, extras },
        }
    }
}

impl<B: Backend, M: MethodStep<B>, H> InferenceStep for TrainingModel<B, M, H>
where
    H: Clone + std::fmt::Debug + Send,
{
    type Input = M::Batch;
    type Output = M::Output;

    fn step(&self, batch: M::Batch) -> M::Output {
        self.model.step_output(batch, false)
    }
}

impl<M, H: StepHook<M>> StepHook<M> for Arc<H> {
    fn after_step(&self, model: &M) -> Vec<(&'static str, f64)> {
        H::after_step(self, model)
    }
}

/// The hook of methods that have none.
#[derive(Clone, Debug)]
pub struct NoHook;

impl<M> StepHook<M> for NoHook {
    fn after_step(&self, _model: &M) -> Vec<(&'static str, f64)> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::train::finite_guard::NonFinitePolicy;
    use crate::run::train::step_values::StepValues;
    use crate::test_backend::{TestAutodiffBackend as Ad, TestBackend};
    use burn::nn::{Linear, LinearConfig};
    use burn::prelude::ElementConversion;
    use burn::tensor::Tensor;
    use burn::train::Interrupter;

    /// `Σᵢ sum(W xᵢ + b)` over rows `xᵢ = [vᵢ, 1]`: a loss whose gradient is easy to break.
    #[derive(Module, Debug)]
    struct Probe<B: Backend> {
        linear: Linear<B>,
    }

    struct ProbeOutput<B: Backend>(Tensor<B, 1>);

    impl<B: Backend> ItemLazy for ProbeOutput<B> {
        type ItemSync = StepValues;
        fn sync(self) -> StepValues {
            StepValues {
                loss: self.0.into_scalar().elem(),
                accuracy: 0.0,
                anchors: 1,
                items: 1,
                extras: Vec::new(),
                features: None,
            }
        }
    }

    impl<B: Backend> StepOutput<B> for ProbeOutput<B> {
        fn loss(&self) -> Tensor<B, 1> {
            self.0.clone()
        }
    }

    impl<B: Backend> MethodStep<B> for Probe<B> {
        type Batch = Vec<f32>;
        type Output = ProbeOutput<B>;
        fn step_output(&self, rows: Vec<f32>, _training: bool) -> ProbeOutput<B> {
            let device = self.linear.weight.device();
            let x: Vec<f32> = rows.iter().flat_map(|&v| [v, 1.0]).collect();
            let x = Tensor::<B, 1>::from_floats(x.as_slice(), &device).reshape([rows.len(), 2]);
            ProbeOutput(self.linear.forward(x).sum())
        }
    }

    /// The loss is a sum over rows, so its chunks' gradients add up.
    impl<B: AutodiffBackend> ChunkedStep<B> for Probe<B> {
        const CONTRASTIVE: bool = false;

        fn chunked_step(
            &self,
            rows: Vec<f32>,
            chunks: usize,
            _gather: Option<&Replica>,
        ) -> (ProbeOutput<B>, GradientsParams) {
            let mut accumulated = burn::optim::GradientsAccumulator::<Self>::new();
            let mut total = Tensor::zeros([1], &self.linear.weight.device());
            for chunk in rows.chunks(rows.len().div_ceil(chunks)) {
                let loss = self.step_output(chunk.to_vec(), true).0;
                accumulated.accumulate(self, GradientsParams::from_grads(loss.backward(), self));
                total = total + loss.detach();
            }
            (ProbeOutput(total), accumulated.grads())
        }
    }

    /// Counts the steps it saw and reports the count.
    #[derive(Debug, Default)]
    struct Counter(std::sync::atomic::AtomicUsize);

    impl<M> StepHook<M> for Counter {
        fn after_step(&self, _model: &M) -> Vec<(&'static str, f64)> {
            let seen = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            vec![("Steps", seen as f64)]
        }
    }

    #[test]
    fn the_guard_drops_non_finite_steps_and_the_hook_reports_after_each_step() {
        let device = Default::default();
        let probe = Probe::<Ad> {
            linear: LinearConfig::new(2, 3).init(&device),
        };
        let guard = FiniteGuard::new(NonFinitePolicy::Skip, Interrupter::new(), 0);
        let model = TrainingModel::new(
            probe,
            Some(guard.clone()),
            Some(Arc::new(Counter::default())),
        );

        let good = TrainStep::step(&model, vec![0.5]);
        assert_eq!(good.grads.len(), 2, "weight and bias gradients");
        assert_eq!(good.item.sync().extras, vec![("Steps", 1.0)]);
        let bad = TrainStep::step(&model, vec![f32::NAN]);
        assert_eq!(
            bad.grads.len(),
            0,
            "the non-finite step's update is dropped"
        );
        assert_eq!(bad.item.sync().extras, vec![("Steps", 2.0)]);
        assert_eq!(guard.report().skipped, 1);

        // Validation runs the inner model's step, without the services.
        let valid = model.valid();
        let values = InferenceStep::step(&valid, vec![0.5]).sync();
        assert!(values.loss.is_finite());
    }

    #[test]
    fn a_model_with_chunks_steps_through_its_chunked_step() {
        let device = Default::default();
        let probe = Probe::<Ad> {
            linear: LinearConfig::new(2, 3).init(&device),
        };
        // Parameters are drawn on first use; a clone before that would draw its own.
        let _ = probe.step_output(vec![0.0], true);
        let weight = probe.linear.weight.id;
        let rows = vec![0.5, -1.0, 2.0, 0.25];
        let whole = TrainingModel::<Ad, _, NoHook>::new(probe.clone(), None, None);
        let chunked = TrainingModel::<Ad, _, NoHook>::new(probe, None, None).with_chunks(2);

        let a = TrainStep::step(&whole, rows.clone());
        let b = TrainStep::step(&chunked, rows);
        let grad = |out: &TrainOutput<HookedOutput<ProbeOutput<Ad>>>| {
            out.grads.get::<TestBackend, 2>(weight).unwrap().into_data()
        };
        grad(&b).assert_approx_eq::<f64>(&grad(&a), burn::tensor::Tolerance::absolute(1e-12));
        assert!((a.item.sync().loss - b.item.sync().loss).abs() < 1e-12);
    }
}
