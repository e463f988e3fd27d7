//! A non-finite loss or gradient must never reach the weights: one NaN step turns every weight
//! into NaN and, unchecked, the next epoch checkpoint overwrites a good model with it.
//! [`FiniteGuard`] inspects each training step before the optimizer sees its gradients.

use std::sync::{Arc, Mutex};

use burn::module::{AutodiffModule, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::ElementConversion;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::Tensor;
use burn::train::Interrupter;

/// What a step with a non-finite loss or gradient does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonFinitePolicy {
    /// Stop training (after this step, whose update is dropped); the run reports the step.
    Stop,
    /// Drop this step's update, count it, and go on.
    Skip,
}

/// The first non-finite step and how many were skipped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NonFiniteReport {
    /// 1-based training step of the first non-finite step, with what was not finite.
    pub first: Option<(usize, String)>,
    pub skipped: usize,
}

/// Checks every training step's loss and gradients (see the module docs).
pub struct FiniteGuard {
    policy: NonFinitePolicy,
    interrupter: Interrupter,
    state: Mutex<(usize, NonFiniteReport)>,
}

impl FiniteGuard {
    /// A guard that, under [`NonFinitePolicy::Stop`], stops training through `interrupter`.
    /// `steps_done` counts steps already taken (when resuming), so reports name global steps.
    pub fn new(policy: NonFinitePolicy, interrupter: Interrupter, steps_done: usize) -> Arc<Self> {
        Arc::new(Self {
            policy,
            interrupter,
            state: Mutex::new((steps_done, NonFiniteReport::default())),
        })
    }

    /// The gradients to apply: `grads` when the loss and all of them are finite, none otherwise.
    pub fn check<B: AutodiffBackend, M: AutodiffModule<B>>(
        &self,
        module: &M,
        loss: &Tensor<B, 1>,
        grads: GradientsParams,
    ) -> GradientsParams {
        let loss_value: f64 = loss.clone().into_scalar().elem();
        let problem = if !loss_value.is_finite() {
            Some(format!("loss is {loss_value}"))
        } else {
            let mut sum = GradientSum::<B> {
                grads: &grads,
                total: None,
            };
            module.visit(&mut sum);
            let total: f64 = sum.total.map_or(0.0, |t| t.into_scalar().elem());
            (!total.is_finite()).then(|| format!("a gradient holds {total}"))
        };
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.0 += 1;
        let Some(problem) = problem else {
            return grads;
        };
        let step = state.0;
        let report = &mut state.1;
        report.first.get_or_insert((step, problem));
        report.skipped += 1;
        if self.policy == NonFinitePolicy::Stop {
            self.interrupter
                .stop(Some(&format!("non-finite step {step}")));
        }
        GradientsParams::new()
    }

    /// What happened so far.
    pub fn report(&self) -> NonFiniteReport {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .clone()
    }

    pub fn policy(&self) -> NonFinitePolicy {
        self.policy
    }
}

impl std::fmt::Debug for FiniteGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FiniteGuard")
            .field("policy", &self.policy)
            .field("report", &self.report())
            .finish()
    }
}

/// Sums every gradient into one value: a NaN or infinity anywhere makes the sum non-finite.
struct GradientSum<'a, B: AutodiffBackend> {
    grads: &'a GradientsParams,
    total: Option<Tensor<B::InnerBackend, 1>>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for GradientSum<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(grad) = self.grads.get::<B::InnerBackend, D>(param.id) {
            // With |g|, +inf and −inf cannot cancel: any non-finite entry keeps the sum non-finite.
            let part = grad.abs().sum();
            self.total = Some(match self.total.take() {
                Some(total) => total + part,
                None => part,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_backend::TestAutodiffBackend as B;
    use burn::nn::{Linear, LinearConfig};

    fn step(guard: &FiniteGuard, model: &Linear<B>, input: f32) -> usize {
        let device = Default::default();
        let x = Tensor::<B, 2>::from_floats([[input, 1.0]], &device);
        let loss = model.forward(x).sum();
        let grads = GradientsParams::from_grads(loss.backward(), model);
        guard.check(model, &loss, grads).len()
    }

    #[test]
    fn finite_steps_pass_and_non_finite_ones_are_dropped_and_reported() {
        let model: Linear<B> = LinearConfig::new(2, 3).init(&Default::default());
        let interrupter = Interrupter::new();
        let guard = FiniteGuard::new(NonFinitePolicy::Skip, interrupter.clone(), 10);
        assert_eq!(step(&guard, &model, 0.5), 2, "weight and bias gradients");
        assert_eq!(step(&guard, &model, f32::NAN), 0);
        assert_eq!(step(&guard, &model, f32::INFINITY), 0);
        assert_eq!(step(&guard, &model, 0.5), 2);
        let report = guard.report();
        assert_eq!(report.skipped, 2);
        assert_eq!(report.first.as_ref().map(|f| f.0), Some(12));
        assert!(!interrupter.should_stop(), "skip does not stop");

        let stopping = FiniteGuard::new(NonFinitePolicy::Stop, interrupter.clone(), 0);
        assert_eq!(step(&stopping, &model, f32::NAN), 0);
        assert!(interrupter.should_stop());
    }

    #[test]
    fn a_non_finite_gradient_with_a_finite_loss_is_caught() {
        let device = Default::default();
        let model: Linear<B> = LinearConfig::new(2, 1).init(&device);
        // On a zero input the output is the bias b; sqrt(b − b) = 0 is a finite loss, but its
        // gradient 1 / (2·sqrt(0)) is infinite.
        let bias = model.bias.as_ref().unwrap().val().detach().reshape([1, 1]);
        let output = model.forward(Tensor::<B, 2>::zeros([1, 2], &device));
        let loss = (output - bias).sqrt().sum();
        assert_eq!(loss.clone().into_scalar(), 0.0);
        let guard = FiniteGuard::new(NonFinitePolicy::Skip, Interrupter::new(), 0);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        assert_eq!(guard.check(&model, &loss, grads).len(), 0);
        let report = guard.report();
        assert!(report.first.unwrap().1.contains("gradient"));
    }
}
