//! burn-train adapters shared by the method crates: the output of a contrastive training step
//! and the metrics the dashboard shows for it.
//!
//! A step output is synced into plain numbers ([`StepValues`]) off the training thread, in one
//! device read, so metrics never name a backend and never stall the loop.

use std::sync::Arc;
use std::time::Instant;

use burn::tensor::{backend::Backend, Int, Tensor, Transaction};
use burn::train::metric::state::{FormatOptions, NumericMetricState};
use burn::train::metric::{
    Adaptor, Metric, MetricAttributes, MetricMetadata, MetricName, Numeric, NumericAttributes,
    NumericEntry, SerializedEntry,
};
use burn::train::ItemLazy;

use crate::eval::LabeledFeatures;

mod finite_guard;
mod knn_monitor;

pub use finite_guard::{guarded_output, FiniteGuard, NonFinitePolicy, NonFiniteReport};
pub use knn_monitor::{leave_one_out_knn, KnnMonitor};

/// What one contrastive step produced, still on the device.
pub struct ContrastiveStepOutput<B: Backend> {
    /// Mean loss, `[1]`.
    pub loss: Tensor<B, 1>,
    /// Logits the loss was computed from, `[anchors, candidates]`.
    pub logits: Tensor<B, 2>,
    /// Positive column of each anchor.
    pub targets: Tensor<B, 1, Int>,
    /// Items (images, sentences, pairs) the step consumed, for throughput.
    pub items: usize,
    /// Further scalars to report by name (e.g. alignment, uniformity), `[1]` each.
    pub extras: Vec<(&'static str, Tensor<B, 1>)>,
    /// Labelled representations for the [`KnnMonitor`] (validation steps that compute them).
    pub features: Option<LabeledFeatures<B>>,
}

/// Labelled representations read back from the device: `labels.len()` rows of `dim` values.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureRows {
    pub dim: usize,
    pub values: Vec<f32>,
    pub labels: Vec<i64>,
}

/// A step's numbers, read back from the device.
#[derive(Debug, Clone)]
pub struct StepValues {
    /// Mean loss.
    pub loss: f64,
    /// Contrastive top-1 accuracy in [0, 1].
    pub accuracy: f64,
    /// Anchors the accuracy was measured over.
    pub anchors: usize,
    /// Items consumed by the step.
    pub items: usize,
    /// Named extra scalars.
    pub extras: Vec<(&'static str, f64)>,
    /// Representations of the step's images, when it computed them.
    pub features: Option<FeatureRows>,
}

impl<B: Backend> ItemLazy for ContrastiveStepOutput<B> {
    type ItemSync = StepValues;

    fn sync(self) -> StepValues {
        let [anchors, _] = self.logits.dims();
        let correct = self
            .logits
            .argmax(1)
            .reshape([anchors])
            .equal(self.targets)
            .int()
            .sum();
        let mut transaction = Transaction::default().register(self.loss).register(correct);
        for (_, value) in &self.extras {
            transaction = transaction.register(value.clone());
        }
        let dim = self.features.as_ref().map(|f| f.features.dims()[1]);
        if let Some(features) = self.features {
            transaction = transaction
                .register(features.features)
                .register(features.labels);
        }
        let data = transaction.execute();
        let scalar = |i: usize| -> f64 {
            data[i]
                .clone()
                .convert::<f64>()
                .to_vec::<f64>()
                .map(|v| v[0])
                .unwrap_or(f64::NAN)
        };
        StepValues {
            loss: scalar(0),
            accuracy: scalar(1) / anchors.max(1) as f64,
            anchors,
            items: self.items,
            extras: self
                .extras
                .iter()
                .enumerate()
                .map(|(i, (name, _))| (*name, scalar(i + 2)))
                .collect(),
            features: dim.map(|dim| {
                let first = 2 + self.extras.len();
                FeatureRows {
                    dim,
                    values: data[first]
                        .clone()
                        .convert::<f32>()
                        .to_vec()
                        .unwrap_or_default(),
                    labels: data[first + 1]
                        .clone()
                        .convert::<i64>()
                        .to_vec()
                        .unwrap_or_default(),
                }
            }),
        }
    }
}

impl Adaptor<StepValues> for StepValues {
    fn adapt(&self) -> StepValues {
        self.clone()
    }
}

/// Which number of [`StepValues`] a [`StepMetric`] shows.
#[derive(Clone, Debug)]
enum Quantity {
    Loss,
    Accuracy,
    Extra(&'static str),
    Latest {
        name: &'static str,
        value: f64,
    },
    Throughput {
        started: Option<Instant>,
        items: usize,
    },
}

/// A numeric burn-train metric over [`StepValues`]: loss, contrastive accuracy, a named extra,
/// or items per second.
#[derive(Clone)]
pub struct StepMetric {
    name: MetricName,
    quantity: Quantity,
    unit: Option<String>,
    higher_is_better: bool,
    state: NumericMetricState,
}

impl StepMetric {
    fn new(name: &str, quantity: Quantity, unit: Option<&str>, higher_is_better: bool) -> Self {
        Self {
            name: Arc::new(name.to_string()),
            quantity,
            unit: unit.map(str::to_string),
            higher_is_better,
            state: NumericMetricState::new(),
        }
    }

    /// The mean loss. Named "Loss" so burn-train's best-checkpoint strategy finds it.
    pub fn loss() -> Self {
        Self::new("Loss", Quantity::Loss, None, false)
    }

    /// Contrastive top-1 accuracy, in percent.
    pub fn accuracy() -> Self {
        Self::accuracy_named("Contrastive Accuracy")
    }

    /// The step's accuracy in percent under another name (e.g. next-token accuracy).
    pub fn accuracy_named(name: &str) -> Self {
        Self::new(name, Quantity::Accuracy, Some("%"), true)
    }

    /// A named extra scalar of the step output (e.g. `"Alignment"`).
    pub fn extra(name: &'static str, higher_is_better: bool) -> Self {
        Self::new(name, Quantity::Extra(name), None, higher_is_better)
    }

    /// A named extra that only some steps report (e.g. a dev score every K steps): each report
    /// weighs 1, other steps 0, and the display holds the latest report.
    pub fn latest(name: &'static str, higher_is_better: bool) -> Self {
        Self::new(
            name,
            Quantity::Latest { name, value: 0.0 },
            None,
            higher_is_better,
        )
    }

    /// Items per second since the epoch started, `unit` naming the items (e.g. `"images/s"`).
    pub fn throughput(unit: &str) -> Self {
        Self::new(
            "Throughput",
            Quantity::Throughput {
                started: None,
                items: 0,
            },
            Some(unit),
            true,
        )
    }
}

impl Metric for StepMetric {
    type Input = StepValues;

    fn name(&self) -> MetricName {
        self.name.clone()
    }

    fn update(&mut self, step: &StepValues, _metadata: &MetricMetadata) -> SerializedEntry {
        let (value, weight) = match &mut self.quantity {
            Quantity::Loss => (step.loss, step.anchors),
            Quantity::Accuracy => (100.0 * step.accuracy, step.anchors),
            Quantity::Extra(name) => (
                step.extras
                    .iter()
                    .find(|(n, _)| n == name)
                    .map_or(f64::NAN, |(_, v)| *v),
                step.anchors,
            ),
            Quantity::Latest { name, value } => {
                match step.extras.iter().find(|(n, _)| n == name) {
                    Some((_, reported)) => {
                        *value = *reported;
                        (*value, 1)
                    }
                    // Finite, weightless: the epoch mean multiplies it by 0.
                    None => (*value, 0),
                }
            }
            Quantity::Throughput { started, items } => match started {
                // The first step only starts the clock: its time includes warm-up.
                None => {
                    *started = Some(Instant::now());
                    (0.0, 1)
                }
                Some(start) => {
                    *items += step.items;
                    (*items as f64 / start.elapsed().as_secs_f64(), 1)
                }
            },
        };
        let mut format = FormatOptions::new(self.name.clone()).precision(3);
        if let Some(unit) = &self.unit {
            format = format.unit(unit);
        }
        let weight = match self.quantity {
            Quantity::Latest { .. } => weight,
            _ => weight.max(1),
        };
        self.state.update(value, weight, format)
    }

    fn clear(&mut self) {
        self.state.reset();
        if let Quantity::Throughput { started, items } = &mut self.quantity {
            *started = None;
            *items = 0;
        }
    }

    fn attributes(&self) -> MetricAttributes {
        NumericAttributes {
            unit: self.unit.clone(),
            higher_is_better: self.higher_is_better,
        }
        .into()
    }
}

impl Numeric for StepMetric {
    fn value(&self) -> NumericEntry {
        self.state.current_value()
    }

    fn running_value(&self) -> NumericEntry {
        self.state.running_value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_backend::TestBackend as NdArray;
    use burn::tensor::TensorData;

    #[test]
    fn sync_reads_loss_accuracy_and_extras() {
        let device = Default::default();
        let logits =
            Tensor::<NdArray, 2>::from_data(TensorData::from([[3.0f64, 1.0], [2.0, 0.5]]), &device);
        let output = ContrastiveStepOutput {
            loss: Tensor::from_data(TensorData::from([0.25f64]), &device),
            logits,
            targets: Tensor::from_data(TensorData::from([0i64, 1]), &device),
            items: 4,
            extras: vec![(
                "Alignment",
                Tensor::from_data(TensorData::from([0.5f64]), &device),
            )],
            features: Some(LabeledFeatures {
                features: Tensor::from_data(
                    TensorData::from([[1.0f64, 2.0, 3.0], [4.0, 5.0, 6.0]]),
                    &device,
                ),
                labels: Tensor::from_data(TensorData::from([7i64, 3]), &device),
            }),
        };
        let values = output.sync();
        assert_eq!(values.loss, 0.25);
        assert_eq!(values.accuracy, 0.5);
        assert_eq!(values.extras, vec![("Alignment", 0.5)]);
        assert_eq!(
            values.features,
            Some(FeatureRows {
                dim: 3,
                values: vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                labels: vec![7, 3],
            })
        );
    }
}
