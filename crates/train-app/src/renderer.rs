//! Plain line-by-line progress for logs and CI, used when stdout is not a terminal.
//!
//! burn-train's own fallback prints a debug struct without metric values; this prints the
//! metrics, one line every `every` iterations and at the end of each epoch.

use std::collections::HashMap;

use burn::train::metric::{MetricDefinition, MetricId};
use burn::train::renderer::{
    EvaluationName, EvaluationProgress, MetricState, MetricsRenderer, MetricsRendererEvaluation,
    MetricsRendererTraining, ProgressType, TrainingProgress,
};

/// Prints `train epoch 1/3 iter 20 [640/10000] Loss 2.31 | ...` lines.
pub struct PlainRenderer {
    every: usize,
    names: HashMap<MetricId, String>,
    /// Latest formatted value of each metric, per split, in registration order.
    latest: HashMap<&'static str, Vec<(MetricId, String)>>,
}

impl PlainRenderer {
    /// A renderer printing one line every `every` iterations (at least 1).
    pub fn new(every: usize) -> Self {
        Self {
            every: every.max(1),
            names: HashMap::new(),
            latest: HashMap::new(),
        }
    }

    fn record(&mut self, split: &'static str, state: MetricState) {
        let entry = match state {
            MetricState::Generic(entry) | MetricState::Numeric(entry, _) => entry,
        };
        let value = entry.serialized_entry.formatted;
        let latest = self.latest.entry(split).or_default();
        match latest.iter_mut().find(|(id, _)| *id == entry.metric_id) {
            Some(slot) => slot.1 = value,
            None => latest.push((entry.metric_id, value)),
        }
    }

    fn print(&mut self, split: &'static str, item: &TrainingProgress) {
        let iteration = item.iteration.unwrap_or(0);
        let epoch_done = item
            .progress
            .as_ref()
            .is_some_and(|p| p.items_processed >= p.items_total);
        if !iteration.is_multiple_of(self.every) && !epoch_done {
            return;
        }
        let items = item
            .progress
            .as_ref()
            .map(|p| format!(" [{}/{}]", p.items_processed, p.items_total))
            .unwrap_or_default();
        let metrics = self
            .latest
            .get(split)
            .into_iter()
            .flatten()
            .map(|(id, value)| {
                let name = self.names.get(id).map(String::as_str).unwrap_or("?");
                format!("{name}: {value}")
            })
            .collect::<Vec<_>>()
            .join(" | ");
        println!(
            "{split} epoch {}/{} iter {iteration}{items} {metrics}",
            item.global_progress.items_processed, item.global_progress.items_total
        );
    }
}

impl MetricsRendererTraining for PlainRenderer {
    fn update_train(&mut self, state: MetricState) {
        self.record("train", state);
    }

    fn update_valid(&mut self, state: MetricState) {
        self.record("valid", state);
    }

    fn render_train(&mut self, item: TrainingProgress, _: Vec<ProgressType>) {
        self.print("train", &item);
    }

    fn render_valid(&mut self, item: TrainingProgress, _: Vec<ProgressType>) {
        self.print("valid", &item);
    }
}

impl MetricsRendererEvaluation for PlainRenderer {
    fn update_test(&mut self, _name: EvaluationName, state: MetricState) {
        self.record("test", state);
    }

    fn render_test(&mut self, item: EvaluationProgress, _: Vec<ProgressType>) {
        self.print("test", &TrainingProgress::from(&item));
    }
}

impl MetricsRenderer for PlainRenderer {
    fn manual_close(&mut self) {}

    fn register_metric(&mut self, definition: MetricDefinition) {
        self.names.insert(definition.metric_id, definition.name);
    }
}
