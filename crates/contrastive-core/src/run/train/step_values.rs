//! What a training or validation step produced: on the device until burn-train syncs it, then
//! plain numbers ([`StepValues`]) read in one device transfer, so metrics never name a backend
//! and never stall the loop.

use burn::tensor::{backend::Backend, Int, Tensor, Transaction};
use burn::train::metric::Adaptor;
use burn::train::ItemLazy;

use crate::eval::LabeledFeatures;
use crate::loss::ContrastiveOutput;

/// A step's output: its loss stays on the device until burn-train syncs it into [`StepValues`].
pub trait StepOutput<B: Backend>: ItemLazy<ItemSync = StepValues> + 'static {
    /// The mean loss the optimizer minimises, `[1]`.
    fn loss(&self) -> Tensor<B, 1>;
}

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

impl<B: Backend> ContrastiveStepOutput<B> {
    /// What a loss computed over a step of `items` items, without extras or features.
    pub fn new(out: ContrastiveOutput<B>, items: usize) -> Self {
        Self {
            loss: out.loss,
            logits: out.logits,
            targets: out.targets,
            items,
            extras: Vec::new(),
            features: None,
        }
    }
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

impl<B: Backend> StepOutput<B> for ContrastiveStepOutput<B> {
    fn loss(&self) -> Tensor<B, 1> {
        self.loss.clone()
    }
}

impl Adaptor<StepValues> for StepValues {
    fn adapt(&self) -> StepValues {
        self.clone()
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
