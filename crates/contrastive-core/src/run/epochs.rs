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
    /// The share of each global batch this loader serves, when replicas split it.
    slice: Option<ReplicaSlice>,
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
            slice: None,
            order: Mutex::new(None),
        }
    }

    /// Serves only `slice` of every global batch of the pass.
    pub fn for_replica(mut self, slice: ReplicaSlice) -> Self {
        self.slice = Some(slice);
        self
    }

    /// Items this loader serves in one pass of `len` items.
    fn pass_len(&self, len: usize) -> usize {
        self.slice.map_or(len, |slice| slice.served(len))
    }

    /// Continues as if `epochs` passes had already been served (resuming after epoch `epochs`).
    pub fn starting_at<I>(self, epochs: usize) -> Self
    where
        D: EpochDataset<I>,
    {
        let served = epochs as u64 * self.pass_len(self.inner.len()) as u64;
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
        let served = self.pass_len(len);
        if index >= served {
            return None;
        }
        let epoch = self.served.fetch_add(1, Ordering::Relaxed) / served as u64;
        let index = self.slice.map_or(index, |slice| slice.position(index));
        let index = match self.shuffle_seed {
            Some(seed) => self.permutation(seed, epoch, len)[index],
            None => index,
        };
        self.inner.get(index, epoch)
    }

    fn len(&self) -> usize {
        self.pass_len(self.inner.len())
    }
}

/// Replica `rank`'s share of every global batch of `world · per_replica` items: its items
/// `[rank · per_replica, (rank + 1) · per_replica)`. The last, incomplete global batch is
/// dropped, so every replica takes the same number of equal steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplicaSlice {
    pub rank: usize,
    pub world: usize,
    pub per_replica: usize,
}

impl ReplicaSlice {
    /// Items the replica serves of a pass of `len`.
    pub fn served(&self, len: usize) -> usize {
        len / (self.world * self.per_replica) * self.per_replica
    }

    /// The position in the pass of the replica's item `index`.
    fn position(&self, index: usize) -> usize {
        let (batch, offset) = (index / self.per_replica, index % self.per_replica);
        batch * self.world * self.per_replica + self.rank * self.per_replica + offset
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
    fn replicas_split_every_global_batch_of_the_pass_and_drop_the_incomplete_one() {
        let global = EpochOrder::shuffled(Tagged(23), 5);
        let passes: Vec<_> = (0..2).map(|_| pass(&global)).collect();
        let slices: Vec<_> = (0..2)
            .map(|rank| {
                let slice = ReplicaSlice {
                    rank,
                    world: 2,
                    per_replica: 3,
                };
                EpochOrder::shuffled(Tagged(23), 5).for_replica(slice)
            })
            .collect();
        for (epoch, expected) in passes.iter().enumerate() {
            let served: Vec<_> = slices.iter().map(pass).collect();
            assert!(
                served.iter().all(|s| s.len() == 9),
                "3 global batches of 6, 5 left over"
            );
            for batch in 0..3 {
                let joined: Vec<_> = served
                    .iter()
                    .flat_map(|s| s[3 * batch..3 * batch + 3].to_vec())
                    .collect();
                assert_eq!(joined, expected[6 * batch..6 * batch + 6], "epoch {epoch}");
            }
        }
        let resumed = EpochOrder::shuffled(Tagged(23), 5)
            .for_replica(ReplicaSlice {
                rank: 1,
                world: 2,
                per_replica: 3,
            })
            .starting_at(1);
        assert_eq!(pass(&resumed)[..3], passes[1][3..6]);
    }

    #[test]
    fn sequential_passes_keep_index_order() {
        let data = EpochOrder::sequential(Tagged(3));
        assert_eq!(pass(&data), vec![(0, 0), (1, 0), (2, 0)]);
        assert_eq!(pass(&data), vec![(0, 1), (1, 1), (2, 1)]);
    }
}
