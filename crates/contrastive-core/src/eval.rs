//! Evaluation of frozen representations: a weighted k-NN classifier (the usual SimCLR monitor)
//! and the linear-evaluation protocol (a linear classifier trained on frozen features).

use burn::config::Config;
use burn::module::AutodiffModule;
use burn::nn::{Linear, LinearConfig};
use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Int, Tensor};

use crate::error::{check_batch, ContrastiveError};
use crate::loss::cross_entropy_with_logits;
use crate::similarity::l2_normalize;

/// Features `[n, d]` with their class labels `[n]`.
#[derive(Clone, Debug)]
pub struct LabeledFeatures<B: Backend> {
    pub features: Tensor<B, 2>,
    pub labels: Tensor<B, 1, Int>,
}

impl<B: Backend> LabeledFeatures<B> {
    fn check(&self, split: &'static str) -> Result<usize, ContrastiveError> {
        let [n, d] = self.features.dims();
        let [m] = self.labels.dims();
        if n != m {
            return Err(ContrastiveError::ShapeMismatch {
                context: split,
                left_name: "features",
                left: vec![n, d],
                right_name: "labels",
                right: vec![m],
            });
        }
        check_batch(n)?;
        Ok(d)
    }
}

/// Fraction of rows whose argmax equals the label.
fn top1<B: Backend>(scores: Tensor<B, 2>, labels: Tensor<B, 1, Int>) -> f64 {
    let [n, _] = scores.dims();
    let correct: i64 = scores
        .argmax(1)
        .reshape([n])
        .equal(labels)
        .int()
        .sum()
        .into_scalar()
        .elem();
    correct as f64 / n as f64
}

/// Configuration of [`knn_accuracy`].
#[derive(Config, Debug)]
pub struct KnnConfig {
    /// Neighbours that vote (200 in the usual monitor).
    #[config(default = 200)]
    pub k: usize,
    /// Votes are weighted by `exp(cos / temperature)`.
    #[config(default = 0.1)]
    pub temperature: f64,
    /// Test rows compared with the training set at a time (bounds memory at `chunk × n_train`).
    #[config(default = 256)]
    pub chunk: usize,
}

/// The weighted k-NN rule (Wu et al. 2018, as in the SimCLR/MoCo monitors): the class with
/// the largest `Σ_{j ∈ neighbours} exp(cos(x, xⱼ)/T) · [yⱼ = c]`, ties to the smaller class.
/// Both [`knn_accuracy`] and the training monitor (`leave_one_out_knn`) classify with it.
pub fn weighted_vote(
    neighbours: impl IntoIterator<Item = (f64, i64)>,
    temperature: f64,
    num_classes: usize,
) -> Option<i64> {
    let mut votes = vec![0.0f64; num_classes];
    for (cosine, label) in neighbours {
        if let Some(slot) = usize::try_from(label).ok().and_then(|c| votes.get_mut(c)) {
            *slot += (cosine / temperature).exp();
        }
    }
    let mut best: Option<(usize, f64)> = None;
    for (class, vote) in votes.into_iter().enumerate() {
        if best.is_none_or(|(_, top)| vote > top) {
            best = Some((class, vote));
        }
    }
    best.map(|(class, _)| class as i64)
}

/// Top-1 accuracy of the cosine k-NN classifier [`weighted_vote`] over the `k` nearest training
/// rows. Similarities and the top-k run on the device; only `k` neighbours per test row are
/// read back to vote.
pub fn knn_accuracy<B: Backend>(
    train: &LabeledFeatures<B>,
    test: &LabeledFeatures<B>,
    num_classes: usize,
    config: &KnnConfig,
) -> Result<f64, ContrastiveError> {
    train.check("k-NN train split")?;
    test.check("k-NN test split")?;
    let [n_train, _] = train.features.dims();
    let [n_test, _] = test.features.dims();
    let k = config.k.min(n_train);
    let bank = l2_normalize(train.features.clone()).transpose();
    let queries = l2_normalize(test.features.clone());
    let test_labels = read_back::<B, i64, 1, Int>(test.labels.clone());
    let mut correct = 0usize;
    for start in (0..n_test).step_by(config.chunk.max(1)) {
        let end = (start + config.chunk.max(1)).min(n_test);
        let rows = end - start;
        let similarity = queries.clone().slice(start..end).matmul(bank.clone());
        let (top, indices) = similarity.topk_with_indices(k, 1);
        let neighbour_labels = train.labels.clone().select(0, indices.reshape([rows * k]));
        let cosines = read_back::<B, f64, 2, burn::tensor::Float>(top);
        let labels = read_back::<B, i64, 1, Int>(neighbour_labels);
        for row in 0..rows {
            let neighbours = (0..k).map(|j| (cosines[row * k + j], labels[row * k + j]));
            let predicted = weighted_vote(neighbours, config.temperature, num_classes);
            correct += usize::from(predicted == Some(test_labels[start + row]));
        }
    }
    Ok(correct as f64 / n_test as f64)
}

/// A tensor's values on the host.
fn read_back<B: Backend, E: burn::tensor::Element, const D: usize, K>(
    tensor: Tensor<B, D, K>,
) -> Vec<E>
where
    K: burn::tensor::TensorKind<B> + burn::tensor::BasicOps<B>,
{
    tensor
        .into_data()
        .convert::<E>()
        .to_vec::<E>()
        .unwrap_or_default()
}

/// Configuration of [`linear_probe`].
#[derive(Config, Debug)]
pub struct LinearProbeConfig {
    /// Full-batch optimisation steps of the classifier.
    #[config(default = 500)]
    pub steps: usize,
    /// AdamW learning rate.
    #[config(default = 0.01)]
    pub learning_rate: f64,
    /// AdamW (decoupled) weight decay.
    #[config(default = 1e-4)]
    pub weight_decay: f32,
}

/// Train and test top-1 of the linear-evaluation protocol.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct LinearProbeResult {
    pub train_accuracy: f64,
    pub test_accuracy: f64,
}

/// The linear-evaluation protocol: features frozen (and standardised with the train split's
/// statistics), a linear softmax classifier trained on the train split, top-1 on the test split.
pub fn linear_probe<B: AutodiffBackend>(
    train: &LabeledFeatures<B::InnerBackend>,
    test: &LabeledFeatures<B::InnerBackend>,
    num_classes: usize,
    config: &LinearProbeConfig,
) -> Result<LinearProbeResult, ContrastiveError> {
    let dim = train.check("linear-probe train split")?;
    test.check("linear-probe test split")?;
    let mean = train.features.clone().mean_dim(0);
    let std = train.features.clone().var(0).sqrt().clamp_min(1e-6);
    let standardise = |x: &Tensor<B::InnerBackend, 2>| (x.clone() - mean.clone()) / std.clone();
    let device = train.features.device();
    let x_train = Tensor::<B, 2>::from_inner(standardise(&train.features));
    let y_train = Tensor::<B, 1, Int>::from_inner(train.labels.clone());
    let mut classifier: Linear<B> = LinearConfig::new(dim, num_classes).init(&device);
    let mut optimizer = AdamWConfig::new()
        .with_weight_decay(config.weight_decay)
        .init();
    for _ in 0..config.steps {
        let loss = cross_entropy_with_logits(classifier.forward(x_train.clone()), y_train.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &classifier);
        classifier = optimizer.step(config.learning_rate, classifier, grads);
    }
    let classifier = classifier.valid();
    Ok(LinearProbeResult {
        train_accuracy: top1(
            classifier.forward(standardise(&train.features)),
            train.labels.clone(),
        ),
        test_accuracy: top1(
            classifier.forward(standardise(&test.features)),
            test.labels.clone(),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Distribution, TensorData};

    use crate::test_backend::{TestAutodiffBackend, TestBackend as B};

    /// Two Gaussian blobs per class around distinct directions: separable, so both evaluators
    /// must score near 100 %, and labels shuffled against the features must score near chance.
    fn blobs(n_per_class: usize, classes: usize, seed_shift: f64) -> LabeledFeatures<B> {
        let device = Default::default();
        let dim = 8;
        let mut rows = Vec::new();
        let mut labels = Vec::new();
        for c in 0..classes {
            for i in 0..n_per_class {
                for j in 0..dim {
                    let centre = if j == c { 3.0 } else { 0.0 };
                    rows.push(centre + ((i * 31 + j * 7) as f64 + seed_shift).sin() * 0.5);
                }
                labels.push(c as i64);
            }
        }
        LabeledFeatures {
            features: Tensor::from_data(
                TensorData::new(rows, [classes * n_per_class, dim]),
                &device,
            ),
            labels: Tensor::from_data(TensorData::new(labels, [classes * n_per_class]), &device),
        }
    }

    #[test]
    fn knn_separates_blobs_and_rejects_mismatch() {
        let (train, test) = (blobs(30, 4, 0.0), blobs(10, 4, 0.5));
        let acc = knn_accuracy(&train, &test, 4, &KnnConfig::new().with_k(20)).unwrap();
        assert!(acc > 0.95, "{acc}");
        let random: Tensor<B, 2> =
            Tensor::random([40, 8], Distribution::Normal(0.0, 1.0), &Default::default());
        let noise = LabeledFeatures {
            features: random,
            labels: test.labels.clone(),
        };
        let chance = knn_accuracy(&train, &noise, 4, &KnnConfig::new().with_k(20)).unwrap();
        assert!(chance < 0.6, "{chance}");
        let bad = LabeledFeatures {
            features: test.features.clone(),
            labels: train.labels.clone(),
        };
        assert!(knn_accuracy(&train, &bad, 4, &KnnConfig::new()).is_err());
    }

    #[test]
    fn the_weighted_vote_sums_exp_cosine_over_temperature_per_class() {
        // Class 1 has two neighbours at 0.5 (2·e^5 ≈ 297), class 0 one at 0.9 (e^9 ≈ 8103).
        let neighbours = [(0.9, 0), (0.5, 1), (0.5, 1)];
        assert_eq!(weighted_vote(neighbours, 0.1, 2), Some(0));
        // At T = 1 the two class-1 votes win: 2·e^0.5 ≈ 3.30 > e^0.9 ≈ 2.46.
        assert_eq!(weighted_vote(neighbours, 1.0, 2), Some(1));
        // Ties go to the smaller class; labels outside the classes are ignored.
        assert_eq!(
            weighted_vote([(0.3, 1), (0.3, 0), (0.9, 7)], 0.1, 2),
            Some(0)
        );
    }

    #[test]
    fn linear_probe_fits_separable_features() {
        let (train, test) = (blobs(30, 4, 0.0), blobs(10, 4, 0.5));
        let result = linear_probe::<TestAutodiffBackend>(
            &train,
            &test,
            4,
            &LinearProbeConfig::new().with_steps(100),
        )
        .unwrap();
        assert!(
            result.train_accuracy > 0.95 && result.test_accuracy > 0.95,
            "{result:?}"
        );
    }
}
