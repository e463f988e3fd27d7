//! The dashboard's numeric metrics over [`StepValues`].

use std::sync::Arc;
use std::time::Instant;

use burn::train::metric::state::{FormatOptions, NumericMetricState};
use burn::train::metric::{
    Metric, MetricAttributes, MetricMetadata, MetricName, Numeric, NumericAttributes, NumericEntry,
    SerializedEntry,
};

use super::step_values::StepValues;

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
