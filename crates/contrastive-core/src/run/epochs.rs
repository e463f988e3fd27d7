//! Epoch-indexed data, so that a resumed run sees exactly what an uninterrupted one would.
//!
//! burn's loaders reshuffle with a generator that lives only as long as the process, and
//! augmentations drawn from a running counter start over after a restart. Here both the order
//! of a pass and every item's randomness are functions of `(seed, epoch)` alone: a run resumed
//! at epoch k (see [`EpochOrder::starting_at`]) draws the same batches, views and PrefixLM
//! splits as a run that never stopped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use burn::data::dataset::Dataset;
use rand::seq::SliceRandom;

use crate::run::item_rng::item_rng;

/// A dataset whose items may differ from pass to pass (fresh augmentations, new split points).
pub trait EpochDataset<I>: Send + Sync {
    /// Item `index` as drawn in pass `epoch` (0-based).
    fn get(&self, index: usize, epoch: u64) -> Option<I>;
    /// Items in one pass.
    fn len(&self) -> usize;
    /// Whether a pass has no items.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Serves an [`EpochDataset`] to burn's data loaders, optionally in a fresh random order every
/// pass (then leave the loader's own `shuffle` off).
///
/// The epoch is read from how many items have been served: a loader's pass fetches every index
/// exactly once, whatever its number of workers, so items `[e·n, (e+1)·n)` belong to pass `e`.
pub struct EpochOrder<D> {
    inner: D,
    shuffle_seed: Option<u64>,
    served: AtomicU64,
    /// The permutation of the latest pass, built once per pass.
    order: Mutex<Option<(u64, Arc<Vec<usize>>)>>,
}

impl<D> EpochOrder<D> {
    /// Passes over `inner` in index order.
    pub fn sequential(inner: D) -> Self {
        Self::with_shuffle(inner, None)
    }

    /// Passes over `inner`, each in its own random order drawn from `seed` and the epoch.
    pub fn shuffled(inner: D, seed: u64) -> Self {
        Self::with_shuffle(inner, Some(seed))
    }

    fn with_shuffle(inner: D, shuffle_seed: Option<u64>) -> Self {
        Self {
            inner,
            shuffle_seed,
            served: AtomicU64::new(0),
            order: Mutex::new(None),
        }
    }

    /// Continues as if `epochs` passes had already been served (resuming after epoch `epochs`).
    pub fn starting_at<I>(self, epochs: usize) -> Self
    where
        D: EpochDataset<I>,
    {
        let served = epochs as u64 * self.inner.len() as u64;
        self.served.store(served, Ordering::Relaxed);
        self
    }

    /// The dataset served.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    fn permutation(&self, seed: u64, epoch: u64, len: usize) -> Arc<Vec<usize>> {
        let mut order = self
            .order
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        match &*order {
            Some((cached, permutation)) if *cached == epoch => permutation.clone(),
            _ => {
                let mut permutation: Vec<usize> = (0..len).collect();
                permutation.shuffle(&mut item_rng(seed, usize::MAX, epoch));
                let permutation = Arc::new(permutation);
                *order = Some((epoch, permutation.clone()));
                permutation
            }
        }
    }
}

impl<I, D: EpochDataset<I>> Dataset<I> for EpochOrder<D> {
    fn get(&self, index: usize) -> Option<I> {
        let len = self.inner.len();
        if index >= len {
            return None;
        }
        let epoch = self.served.fetch_add(1, Ordering::Relaxed) / len as u64;
        let index = match self.shuffle_seed {
            Some(seed) => self.permutation(seed, epoch, len)[index],
            None => index,
        };
        self.inner.get(index, epoch)
    }

    fn len(&self) -> usize {
        self.inner.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Item `(index, epoch)`: shows which item was served in which pass.
    struct Tagged(usize);

    impl EpochDataset<(usize, u64)> for Tagged {
        fn get(&self, index: usize, epoch: u64) -> Option<(usize, u64)> {
            (index < self.0).then_some((index, epoch))
        }
        fn len(&self) -> usize {
            self.0
        }
    }

    fn pass(data: &EpochOrder<Tagged>) -> Vec<(usize, u64)> {
        (0..data.len()).map(|i| data.get(i).unwrap()).collect()
    }

    #[test]
    fn every_pass_is_a_fresh_permutation_of_all_items() {
        let data = EpochOrder::shuffled(Tagged(50), 7);
        let first = pass(&data);
        let second = pass(&data);
        assert!(first.iter().all(|&(_, epoch)| epoch == 0));
        assert!(second.iter().all(|&(_, epoch)| epoch == 1));
        let sorted = |pass: &[(usize, u64)]| {
            let mut indices: Vec<usize> = pass.iter().map(|p| p.0).collect();
            indices.sort();
            indices
        };
        assert_eq!(sorted(&first), (0..50).collect::<Vec<_>>());
        assert_eq!(sorted(&second), (0..50).collect::<Vec<_>>());
        assert_ne!(
            first.iter().map(|p| p.0).collect::<Vec<_>>(),
            second.iter().map(|p| p.0).collect::<Vec<_>>()
        );
        assert_eq!(data.get(50), None);
    }

    #[test]
    fn a_resumed_order_equals_the_uninterrupted_one() {
        let uninterrupted = EpochOrder::shuffled(Tagged(20), 3);
        let passes: Vec<_> = (0..4).map(|_| pass(&uninterrupted)).collect();
        let resumed = EpochOrder::shuffled(Tagged(20), 3).starting_at(2);
        assert_eq!(pass(&resumed), passes[2]);
        assert_eq!(pass(&resumed), passes[3]);
    }

    #[test]
    fn sequential_passes_keep_index_order() {
        let data = EpochOrder::sequential(Tagged(3));
        assert_eq!(pass(&data), vec![(0, 0), (1, 0), (2, 0)]);
        assert_eq!(pass(&data), vec![(0, 1), (1, 1), (2, 1)]);
    }
}
