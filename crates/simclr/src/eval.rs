//! Evaluation of a (frozen) encoder: features extracted once, then the linear-evaluation
//! protocol and the k-NN classifier on them.

use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Device, Tensor};
use contrastive_core::eval::{
    knn_accuracy, linear_probe, KnnConfig, LabeledFeatures, LinearProbeConfig, LinearProbeResult,
};
use contrastive_core::nn::ResNet;
use contrastive_core::ContrastiveError;

use crate::data::augment::Augmenter;
use crate::data::batcher::{EvalViewDataset, ImageBatcher};
use crate::data::dataset::ImageDataset;

/// Representations `h` of every image (evaluation view), with labels.
pub fn extract_features<B: Backend>(
    encoder: &ResNet<B>,
    images: Arc<ImageDataset>,
    augmenter: &Augmenter,
    batch_size: usize,
    device: &Device<B>,
) -> LabeledFeatures<B> {
    let dataset = EvalViewDataset::new(images, augmenter.clone());
    let mut features = Vec::new();
    let mut labels = Vec::new();
    for start in (0..dataset.len()).step_by(batch_size.max(1)) {
        let end = (start + batch_size.max(1)).min(dataset.len());
        let items = (start..end).filter_map(|i| dataset.get(i)).collect();
        let batch = Batcher::<B, _, _>::batch(&ImageBatcher, items, device);
        features.push(encoder.forward(batch.images));
        labels.push(batch.labels);
    }
    LabeledFeatures {
        features: Tensor::cat(features, 0),
        labels: Tensor::cat(labels, 0),
    }
}

/// Linear-probe and k-NN top-1 of one encoder.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct EvaluationReport {
    pub linear: LinearProbeResult,
    pub knn_top1: f64,
}

/// Extracts train and test features with `encoder` and scores them both ways.
pub fn evaluate<B: AutodiffBackend>(
    encoder: &ResNet<B::InnerBackend>,
    train: Arc<ImageDataset>,
    test: Arc<ImageDataset>,
    augmenter: &Augmenter,
    knn: &KnnConfig,
    probe: &LinearProbeConfig,
    device: &Device<B::InnerBackend>,
) -> Result<EvaluationReport, ContrastiveError> {
    let num_classes = train.num_classes().max(test.num_classes());
    let train_features = extract_features(encoder, train, augmenter, 256, device);
    let test_features = extract_features(encoder, test, augmenter, 256, device);
    Ok(EvaluationReport {
        linear: linear_probe::<B>(&train_features, &test_features, num_classes, probe)?,
        knn_top1: knn_accuracy(&train_features, &test_features, num_classes, knn)?,
    })
}
