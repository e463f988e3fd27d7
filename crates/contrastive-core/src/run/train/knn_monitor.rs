//! A per-epoch k-NN monitor of representation quality during pre-training.
//!
//! The validation steps hand over labelled representations of clean (un-augmented) images; at
//! the end of the validation epoch every image is classified by its `k` nearest *other* images
//! (leave-one-out, cosine, temperature-weighted votes). This needs no second pass over the
//! training split, so it costs one forward pass of the validation images per epoch; the full
//! train-bank k-NN of `eval` remains the reported number.

use std::sync::Arc;

use burn::train::metric::{
    Metric, MetricAttributes, MetricMetadata, MetricName, Numeric, NumericAttributes, NumericEntry,
    SerializedEntry,
};

use super::step_values::{FeatureRows, StepValues};
use crate::eval::weighted_vote;
use crate::similarity::unit_vector;

/// Leave-one-out top-1 accuracy of the weighted cosine k-NN classifier over `rows`: each row is
/// classified by [`weighted_vote`] over its `k` nearest *other* rows.
pub fn leave_one_out_knn(rows: &FeatureRows, k: usize, temperature: f64) -> f64 {
    let n = rows.labels.len();
    if n < 2 || rows.dim == 0 {
        return f64::NAN;
    }
    let normalized: Vec<Vec<f64>> = rows
        .values
        .chunks_exact(rows.dim)
        .map(unit_vector)
        .collect();
    let num_classes = rows.labels.iter().copied().max().unwrap_or(0).max(0) as usize + 1;
    let k = k.min(n - 1);
    let mut correct = 0usize;
    let mut similarities = Vec::with_capacity(n - 1);
    for (i, query) in normalized.iter().enumerate() {
        similarities.clear();
        similarities.extend(normalized.iter().enumerate().filter(|(j, _)| *j != i).map(
            |(j, other)| {
                let cosine: f64 = query.iter().zip(other).map(|(a, b)| a * b).sum();
                (cosine, rows.labels[j])
            },
        ));
        similarities.select_nth_unstable_by(k - 1, |a, b| b.0.total_cmp(&a.0));
        let predicted = weighted_vote(similarities[..k].iter().copied(), temperature, num_classes);
        if predicted == Some(rows.labels[i]) {
            correct += 1;
        }
    }
    correct as f64 / n as f64
}

/// burn-train metric: leave-one-out k-NN top-1 (%) over the epoch's validation representations.
///
/// Until the epoch's last batch its entries carry no weight, so the epoch's mean (what the
/// summary and the best-checkpoint strategy read) is exactly the end-of-epoch accuracy.
#[derive(Clone)]
pub struct KnnMonitor {
    name: MetricName,
    k: usize,
    temperature: f64,
    collected: Option<FeatureRows>,
    /// Accuracy at the end of the last validation epoch, `None` before the first.
    last: Option<f64>,
    /// The latest entry: the last accuracy, weighted 1 at an epoch's end and 0 before it.
    entry: (f64, usize),
}

impl KnnMonitor {
    /// The monitor with `k` voters and vote temperature `temperature` (200 and 0.1 usually).
    pub fn new(k: usize, temperature: f64) -> Self {
        Self {
            name: Arc::new(format!("kNN Top-1 (k={k})")),
            k,
            temperature,
            collected: None,
            last: None,
            entry: (0.0, 0),
        }
    }
}

impl Metric for KnnMonitor {
    type Input = StepValues;

    fn name(&self) -> MetricName {
        self.name.clone()
    }

    fn update(&mut self, step: &StepValues, metadata: &MetricMetadata) -> SerializedEntry {
        if let Some(rows) = &step.features {
            let collected = self.collected.get_or_insert_with(|| FeatureRows {
                dim: rows.dim,
                values: Vec::new(),
                labels: Vec::new(),
            });
            collected.values.extend_from_slice(&rows.values);
            collected.labels.extend_from_slice(&rows.labels);
        }
        let epoch_done = metadata.progress.items_processed >= metadata.progress.items_total;
        let mut weight = 0;
        if let (Some(rows), true) = (&self.collected, epoch_done) {
            self.last = Some(100.0 * leave_one_out_knn(rows, self.k, self.temperature));
            weight = 1;
        }
        // A weightless entry must still be finite: the epoch mean multiplies it by 0.
        self.entry = (self.last.unwrap_or(0.0), weight);
        let formatted = match self.last {
            Some(accuracy) if weight == 1 => format!("epoch {accuracy:.2} %"),
            Some(accuracy) => format!("previous epoch {accuracy:.2} %"),
            None => "computed at the end of the epoch".to_string(),
        };
        SerializedEntry::new(formatted, self.value().serialize())
    }

    fn clear(&mut self) {
        self.collected = None;
        self.entry = (self.last.unwrap_or(0.0), 0);
    }

    fn attributes(&self) -> MetricAttributes {
        NumericAttributes {
            unit: Some("%".to_string()),
            higher_is_better: true,
        }
        .into()
    }
}

impl Numeric for KnnMonitor {
    fn value(&self) -> NumericEntry {
        NumericEntry::Aggregated {
            aggregated_value: self.entry.0,
            count: self.entry.1,
        }
    }

    fn running_value(&self) -> NumericEntry {
        self.value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{knn_accuracy, KnnConfig, LabeledFeatures};
    use crate::test_backend::TestBackend;
    use burn::data::dataloader::Progress;
    use burn::tensor::{Tensor, TensorData};

    fn rows() -> FeatureRows {
        // Two clusters along x and y, plus a point of class 1 sitting among class 0.
        let points = [
            ([1.0, 0.1], 0),
            ([1.0, -0.1], 0),
            ([0.9, 0.0], 0),
            ([0.95, 0.05], 1),
            ([0.1, 1.0], 1),
            ([-0.1, 1.0], 1),
            ([0.0, 0.8], 1),
        ];
        FeatureRows {
            dim: 2,
            values: points.iter().flat_map(|(p, _)| *p).collect(),
            labels: points.iter().map(|(_, l)| *l).collect(),
        }
    }

    #[test]
    fn leave_one_out_equals_knn_with_every_other_row_as_the_bank() {
        let rows = rows();
        let n = rows.labels.len();
        let device = Default::default();
        let mut correct = 0.0;
        for i in 0..n {
            let keep: Vec<usize> = (0..n).filter(|j| *j != i).collect();
            let bank: Vec<f64> = keep
                .iter()
                .flat_map(|j| rows.values[j * 2..j * 2 + 2].iter().map(|v| *v as f64))
                .collect();
            let bank_labels: Vec<i64> = keep.iter().map(|j| rows.labels[*j]).collect();
            // A query batch needs two rows: the query twice.
            let query: Vec<f64> = (0..2)
                .flat_map(|_| rows.values[i * 2..i * 2 + 2].iter().map(|v| *v as f64))
                .collect();
            let train = LabeledFeatures::<TestBackend> {
                features: Tensor::from_data(TensorData::new(bank, [n - 1, 2]), &device),
                labels: Tensor::from_data(TensorData::new(bank_labels, [n - 1]), &device),
            };
            let test = LabeledFeatures::<TestBackend> {
                features: Tensor::from_data(TensorData::new(query, [2, 2]), &device),
                labels: Tensor::from_data(TensorData::new(vec![rows.labels[i]; 2], [2]), &device),
            };
            let config = KnnConfig::new().with_k(3);
            correct += knn_accuracy(&train, &test, 2, &config).unwrap();
        }
        let expected = correct / n as f64;
        assert!((leave_one_out_knn(&rows, 3, 0.1) - expected).abs() < 1e-12);
        // Only the stray class-1 point among class 0 is misclassified.
        assert!((expected - 6.0 / 7.0).abs() < 1e-12);
    }

    fn step(rows: FeatureRows) -> StepValues {
        StepValues {
            loss: 0.0,
            accuracy: 0.0,
            anchors: rows.labels.len(),
            items: rows.labels.len(),
            extras: Vec::new(),
            features: Some(rows),
        }
    }

    fn metadata(done: usize, total: usize) -> MetricMetadata {
        MetricMetadata {
            progress: Progress {
                items_processed: done,
                items_total: total,
            },
            global_progress: Progress {
                items_processed: 1,
                items_total: 1,
            },
            iteration: Some(1),
            lr: None,
        }
    }

    #[test]
    fn the_epoch_value_is_the_accuracy_over_all_batches() {
        let all = rows();
        let first = FeatureRows {
            dim: 2,
            values: all.values[..8].to_vec(),
            labels: all.labels[..4].to_vec(),
        };
        let second = FeatureRows {
            dim: 2,
            values: all.values[8..].to_vec(),
            labels: all.labels[4..].to_vec(),
        };
        let mut monitor = KnnMonitor::new(3, 0.1);
        monitor.update(&step(first), &metadata(4, 7));
        let NumericEntry::Aggregated { count, .. } = monitor.value() else {
            panic!("a weighted entry")
        };
        assert_eq!(count, 0, "mid-epoch entries carry no weight");
        monitor.update(&step(second), &metadata(7, 7));
        let NumericEntry::Aggregated {
            aggregated_value,
            count,
        } = monitor.value()
        else {
            panic!("a weighted entry")
        };
        assert_eq!(count, 1);
        assert!((aggregated_value - 100.0 * leave_one_out_knn(&all, 3, 0.1)).abs() < 1e-9);
    }
}
