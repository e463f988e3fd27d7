//! A data loader whose batches reach the training step in the sampler's order, whatever the
//! number of workers, as PyTorch's `DataLoader` does.
//!
//! burn's multi-threaded loader splits a pass into one contiguous part per worker and hands on
//! each batch as soon as any worker finishes one, so the order of batches — and with it every
//! step of a run — depends on thread timing: two runs with one seed differ from the first
//! epoch. Here batch `b` holds items `[b·size, (b+1)·size)` of the dataset, worker `w` builds
//! batches `w, w + W, w + 2W, …` one ahead at most, and the iterator takes batch `b` from worker
//! `b mod W`: the order is fixed, and the workers still run ahead of the step in parallel.

use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataloader::{DataLoader, DataLoaderIterator, Progress};
use burn::data::dataset::transform::PartialDataset;
use burn::data::dataset::Dataset;
use burn::tensor::backend::Backend;

/// Batches of `batch_size` consecutive items (the last one possibly shorter), in order, built
/// by `workers` threads (at least one).
pub struct OrderedLoader<B: Backend, I, O> {
    dataset: Arc<dyn Dataset<I>>,
    batcher: Arc<dyn Batcher<B, I, O>>,
    batch_size: usize,
    workers: usize,
    device: B::Device,
}

impl<B: Backend, I, O> OrderedLoader<B, I, O> {
    pub fn new(
        dataset: Arc<dyn Dataset<I>>,
        batcher: Arc<dyn Batcher<B, I, O>>,
        batch_size: usize,
        workers: usize,
        device: B::Device,
    ) -> Self {
        Self {
            dataset,
            batcher,
            batch_size: batch_size.max(1),
            workers: workers.max(1),
            device,
        }
    }

    fn with_dataset(&self, dataset: Arc<dyn Dataset<I>>, device: B::Device) -> Self {
        Self {
            dataset,
            batcher: self.batcher.clone(),
            batch_size: self.batch_size,
            workers: self.workers,
            device,
        }
    }

    fn batches(&self) -> usize {
        self.dataset.len().div_ceil(self.batch_size)
    }
}

impl<B, I, O> DataLoader<B, O> for OrderedLoader<B, I, O>
where
    B: Backend,
    I: Send + Sync + Clone + 'static,
    O: Send + 'static,
{
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<O> + 'a> {
        let batches = self.batches();
        let workers = self.workers.min(batches).max(1);
        let (senders, receivers): (Vec<_>, Vec<_>) = (0..workers).map(|_| sync_channel(1)).unzip();
        let handles = senders
            .into_iter()
            .enumerate()
            .map(|(worker, sender)| {
                let dataset = self.dataset.clone();
                let batcher = self.batcher.clone();
                let device = self.device.clone();
                let (size, len) = (self.batch_size, self.dataset.len());
                let handle = std::thread::Builder::new()
                    .name(format!("ordered-loader-{worker}"))
                    .spawn(move || {
                        for batch in (worker..batches).step_by(workers) {
                            let items = (batch * size..len.min((batch + 1) * size))
                                .filter_map(|index| dataset.get(index))
                                .collect();
                            // The iterator was dropped: nothing waits for more batches.
                            if sender.send(batcher.batch(items, &device)).is_err() {
                                return;
                            }
                        }
                    })
                    .expect("the data loader's worker thread starts");
                Some(handle)
            })
            .collect();
        Box::new(OrderedIterator {
            receivers,
            handles,
            next: 0,
            batches,
            batch_size: self.batch_size,
            items: self.dataset.len(),
        })
    }

    fn num_items(&self) -> usize {
        self.dataset.len()
    }

    fn to_device(&self, device: &B::Device) -> Arc<dyn DataLoader<B, O>> {
        Arc::new(self.with_dataset(self.dataset.clone(), device.clone()))
    }

    fn slice(&self, start: usize, end: usize) -> Arc<dyn DataLoader<B, O>> {
        let part = PartialDataset::new(self.dataset.clone(), start, end);
        Arc::new(self.with_dataset(Arc::new(part), self.device.clone()))
    }
}

/// One pass: batch `next` comes from worker `next mod W`.
struct OrderedIterator<O> {
    receivers: Vec<Receiver<O>>,
    handles: Vec<Option<JoinHandle<()>>>,
    next: usize,
    batches: usize,
    batch_size: usize,
    items: usize,
}

impl<O> Iterator for OrderedIterator<O> {
    type Item = O;

    fn next(&mut self) -> Option<O> {
        if self.next >= self.batches {
            return None;
        }
        let worker = self.next % self.receivers.len();
        self.next += 1;
        match self.receivers[worker].recv() {
            Ok(batch) => Some(batch),
            // The worker ended without this batch: it panicked, and so does the pass, rather
            // than end short.
            Err(_) => match self.handles[worker].take().map(JoinHandle::join) {
                Some(Err(panic)) => std::panic::resume_unwind(panic),
                _ => panic!(
                    "data loader worker {worker} stopped before batch {}",
                    self.next - 1
                ),
            },
        }
    }
}

impl<O> DataLoaderIterator<O> for OrderedIterator<O> {
    fn progress(&self) -> Progress {
        Progress::new(self.items.min(self.next * self.batch_size), self.items)
    }
}

impl<O> Drop for OrderedIterator<O> {
    /// Stops the workers (their next send fails) and waits for them, so that no item of this
    /// pass is fetched after the next pass has begun.
    fn drop(&mut self) {
        self.receivers.clear();
        for handle in self.handles.drain(..).flatten() {
            let _ = handle.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_backend::TestBackend as B;
    use burn::data::dataset::InMemDataset;

    /// Batches as the item lists they were built from, after a delay that grows with the
    /// batch's first item, so that later batches finish before earlier ones on other workers.
    #[derive(Clone)]
    struct SlowFirstBatches;

    impl Batcher<B, usize, Vec<usize>> for SlowFirstBatches {
        fn batch(&self, items: Vec<usize>, _device: &burn::tensor::Device<B>) -> Vec<usize> {
            let first = items.first().copied().unwrap_or(0);
            std::thread::sleep(std::time::Duration::from_millis(
                ((20 - first.min(20)) * 3) as u64,
            ));
            items
        }
    }

    #[test]
    fn batches_arrive_in_the_order_of_the_items_whatever_the_workers() {
        let dataset: Arc<dyn Dataset<usize>> = Arc::new(InMemDataset::new((0..23).collect()));
        let expected: Vec<Vec<usize>> = (0..23)
            .collect::<Vec<usize>>()
            .chunks(4)
            .map(<[usize]>::to_vec)
            .collect();
        for workers in [1, 2, 3, 8] {
            let loader = OrderedLoader::new(
                dataset.clone(),
                Arc::new(SlowFirstBatches),
                4,
                workers,
                Default::default(),
            );
            for _pass in 0..2 {
                let batches: Vec<Vec<usize>> = loader.iter().collect();
                assert_eq!(batches, expected, "{workers} workers");
            }
            assert_eq!(loader.num_items(), 23);
        }
        let part = OrderedLoader::new(
            dataset,
            Arc::new(SlowFirstBatches),
            4,
            2,
            Default::default(),
        )
        .slice(4, 10);
        let batches: Vec<Vec<usize>> = part.iter().collect();
        assert_eq!(batches, vec![vec![4, 5, 6, 7], vec![8, 9]]);
    }
}
