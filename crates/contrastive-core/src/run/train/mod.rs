//! burn-train adapters shared by the method crates: the training model every method trains as
//! ([`TrainingModel`]), the output of a contrastive training step and the metrics the dashboard
//! shows for it, and GradCache for batches larger than memory.
//!
//! A step output is synced into plain numbers ([`StepValues`]) off the training thread, in one
//! device read, so metrics never name a backend and never stall the loop.

mod finite_guard;
mod grad_cache;
mod knn_monitor;
mod step_metric;
mod step_values;
mod training_model;

pub use finite_guard::{FiniteGuard, NonFinitePolicy, NonFiniteReport};
pub use grad_cache::{
    column_rows, even_ranges, grad_cache, max_relative_difference, merge_columns,
};
pub use knn_monitor::{leave_one_out_knn, KnnMonitor};
pub use step_metric::StepMetric;
pub use step_values::{ContrastiveStepOutput, FeatureRows, StepOutput, StepValues};
pub use training_model::{
    ChunkedStep, HookedOutput, MethodStep, NoHook, StepHook, StepServices, TrainingModel,
};
