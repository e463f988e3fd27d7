//! Datasets of augmented view pairs and of evaluation views, and their batchers.
//!
//! Augmentation runs in the data loader's worker threads. Every view's randomness is derived
//! from `(seed, image index, how many times that image has been drawn)`, so the views are the
//! same whatever the number of workers or the order they run in.

use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::tensor::{backend::Backend, Device, Int, Tensor, TensorData};
use contrastive_core::run::epochs::EpochDataset;
use contrastive_core::run::item_rng::item_rng;

use super::augment::Augmenter;
use super::dataset::ImageDataset;
use super::image::Image;

/// Two independent augmented views of one image (normalised), and its label.
#[derive(Clone, Debug)]
pub struct ViewPair {
    pub first: Image,
    pub second: Image,
    pub label: usize,
    /// The un-augmented evaluation view, for the k-NN monitor (see
    /// [`ViewPairDataset::with_clean_views`]).
    pub clean: Option<Image>,
}

/// The images as pairs of random views: SimCLR's training input.
pub struct ViewPairDataset {
    images: Arc<ImageDataset>,
    augmenter: Augmenter,
    seed: u64,
    len: usize,
    clean_views: bool,
}

impl ViewPairDataset {
    /// Pairs of views of `images`. When the last batch of `batch_size` would hold a single image
    /// (no negative for NT-Xent), the last image is left out.
    pub fn new(
        images: Arc<ImageDataset>,
        augmenter: Augmenter,
        seed: u64,
        batch_size: usize,
    ) -> Self {
        let n = images.len();
        let len = if batch_size > 1 && n % batch_size == 1 {
            n - 1
        } else {
            n
        };
        Self {
            images,
            augmenter,
            seed,
            len,
            clean_views: false,
        }
    }

    /// Also yields each image's evaluation view, so that validation can monitor the
    /// representation with a k-NN classifier.
    pub fn with_clean_views(mut self) -> Self {
        self.clean_views = true;
        self
    }
}

impl EpochDataset<ViewPair> for ViewPairDataset {
    fn get(&self, index: usize, epoch: u64) -> Option<ViewPair> {
        if index >= self.len {
            return None;
        }
        let image = &self.images.images[index];
        let mut rng = item_rng(self.seed, index, epoch);
        let mut first = self.augmenter.view(image, &mut rng);
        let mut second = self.augmenter.view(image, &mut rng);
        self.augmenter.normalize(&mut first);
        self.augmenter.normalize(&mut second);
        let clean = self.clean_views.then(|| {
            let mut view = self.augmenter.eval_view(image);
            self.augmenter.normalize(&mut view);
            view
        });
        Some(ViewPair {
            first,
            second,
            label: self.images.labels[index],
            clean,
        })
    }

    fn len(&self) -> usize {
        self.len
    }
}

/// The deterministic evaluation view of each image (resized, normalised), with its label.
pub struct EvalViewDataset {
    images: Arc<ImageDataset>,
    augmenter: Augmenter,
}

impl EvalViewDataset {
    /// Evaluation views of `images`.
    pub fn new(images: Arc<ImageDataset>, augmenter: Augmenter) -> Self {
        Self { images, augmenter }
    }
}

impl Dataset<(Image, usize)> for EvalViewDataset {
    fn get(&self, index: usize) -> Option<(Image, usize)> {
        let image = self.images.images.get(index)?;
        let mut view = self.augmenter.eval_view(image);
        self.augmenter.normalize(&mut view);
        Some((view, self.images.labels[index]))
    }

    fn len(&self) -> usize {
        self.images.len()
    }
}

/// A batch of `2N` views: rows `0..N` are the first views, `N..2N` the second.
#[derive(Clone, Debug)]
pub struct ViewPairBatch<B: Backend> {
    pub views: Tensor<B, 4>,
    pub labels: Tensor<B, 1, Int>,
    /// Evaluation views `[N, 3, h, w]`, when the dataset yields them.
    pub clean: Option<Tensor<B, 4>>,
}

/// A batch of single images with labels.
#[derive(Clone, Debug)]
pub struct ImageBatch<B: Backend> {
    pub images: Tensor<B, 4>,
    pub labels: Tensor<B, 1, Int>,
}

/// Stacks images (all the same size) into `[n, 3, h, w]`.
fn stack<B: Backend>(images: Vec<&Image>, device: &Device<B>) -> Tensor<B, 4> {
    let (w, h) = (images[0].width, images[0].height);
    let mut data = Vec::with_capacity(images.len() * 3 * w * h);
    for image in &images {
        data.extend_from_slice(&image.data);
    }
    Tensor::from_data(TensorData::new(data, [images.len(), 3, h, w]), device)
}

fn labels<B: Backend>(
    labels: impl Iterator<Item = usize>,
    device: &Device<B>,
) -> Tensor<B, 1, Int> {
    let labels: Vec<i64> = labels.map(|l| l as i64).collect();
    let n = labels.len();
    Tensor::from_data(TensorData::new(labels, [n]), device)
}

/// Builds [`ViewPairBatch`]es.
#[derive(Clone, Debug, Default)]
pub struct ViewPairBatcher;

impl<B: Backend> Batcher<B, ViewPair, ViewPairBatch<B>> for ViewPairBatcher {
    fn batch(&self, items: Vec<ViewPair>, device: &Device<B>) -> ViewPairBatch<B> {
        let views = items
            .iter()
            .map(|p| &p.first)
            .chain(items.iter().map(|p| &p.second))
            .collect();
        let clean: Option<Vec<&Image>> = items.iter().map(|p| p.clean.as_ref()).collect();
        ViewPairBatch {
            views: stack(views, device),
            labels: labels(items.iter().map(|p| p.label), device),
            clean: clean.map(|clean| stack(clean, device)),
        }
    }
}

/// Builds [`ImageBatch`]es.
#[derive(Clone, Debug, Default)]
pub struct ImageBatcher;

impl<B: Backend> Batcher<B, (Image, usize), ImageBatch<B>> for ImageBatcher {
    fn batch(&self, items: Vec<(Image, usize)>, device: &Device<B>) -> ImageBatch<B> {
        ImageBatch {
            images: stack(items.iter().map(|(im, _)| im).collect(), device),
            labels: labels(items.iter().map(|(_, l)| *l), device),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::augment::AugmentConfig;
    use crate::data::synthetic;
    use burn::backend::NdArray;

    #[test]
    fn views_depend_on_seed_index_and_epoch_not_on_call_order() {
        let images = Arc::new(synthetic::generate(6, 16, 0));
        let augmenter = Augmenter::new(AugmentConfig::new().with_size(16));
        let a = ViewPairDataset::new(images.clone(), augmenter.clone(), 9, 4);
        let b = ViewPairDataset::new(images, augmenter, 9, 4);
        // Draw items in different orders: each (index, epoch) pair gives the same views.
        let a_first: Vec<_> = (0..6).map(|i| a.get(i, 0).unwrap().first).collect();
        let b_first: Vec<_> = (0..6).rev().map(|i| b.get(i, 0).unwrap().first).collect();
        for i in 0..6 {
            assert_eq!(a_first[i], b_first[5 - i]);
        }
        assert_eq!(a.get(0, 0).unwrap().first, a_first[0]);
        // The next epoch gives new views.
        assert_ne!(a.get(0, 1).unwrap().first, a_first[0]);
        let pair = b.get(2, 0).unwrap();
        assert_ne!(
            pair.first, pair.second,
            "the two views are independent draws"
        );
    }

    #[test]
    fn a_single_image_last_batch_is_left_out() {
        let images = Arc::new(synthetic::generate(9, 8, 0));
        let augmenter = Augmenter::new(AugmentConfig::new().with_size(8));
        assert_eq!(
            EpochDataset::len(&ViewPairDataset::new(
                images.clone(),
                augmenter.clone(),
                0,
                4
            )),
            8
        );
        assert_eq!(
            EpochDataset::len(&ViewPairDataset::new(images, augmenter, 0, 3)),
            9
        );
    }

    #[test]
    fn batches_stack_first_views_then_second_views() {
        let images = Arc::new(synthetic::generate(3, 8, 0));
        let dataset = ViewPairDataset::new(
            images,
            Augmenter::new(AugmentConfig::new().with_size(8)),
            1,
            3,
        );
        let items: Vec<ViewPair> = (0..3).map(|i| dataset.get(i, 0).unwrap()).collect();
        let batch: ViewPairBatch<NdArray> =
            ViewPairBatcher.batch(items.clone(), &Default::default());
        assert_eq!(batch.views.dims(), [6, 3, 8, 8]);
        let row4 = batch.views.slice(4..5).into_data().to_vec::<f32>().unwrap();
        assert_eq!(row4, items[1].second.data);
        assert!(batch.clean.is_none());
    }

    #[test]
    fn clean_views_are_the_deterministic_evaluation_views() {
        let images = Arc::new(synthetic::generate(3, 8, 0));
        let augmenter = Augmenter::new(AugmentConfig::new().with_size(8));
        let dataset =
            ViewPairDataset::new(images.clone(), augmenter.clone(), 1, 3).with_clean_views();
        let eval = EvalViewDataset::new(images, augmenter);
        let items: Vec<ViewPair> = (0..3).map(|i| dataset.get(i, 0).unwrap()).collect();
        for (i, item) in items.iter().enumerate() {
            assert_eq!(item.clean.as_ref(), Some(&eval.get(i).unwrap().0));
        }
        let batch: ViewPairBatch<NdArray> = ViewPairBatcher.batch(items, &Default::default());
        assert_eq!(batch.clean.map(|c| c.dims()), Some([3, 3, 8, 8]));
    }
}
