//! Training examples and their batcher: tokenisation runs in the data loader's workers.

use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::tensor::{backend::Backend, Device};
use contrastive_core::run::epochs::EpochDataset;
use contrastive_core::run::item_rng::content_seed;
use contrastive_core::run::text::{TextTokenizer, TokenBatch};

use super::nli::NliTriplet;

/// Sentences of a training batch, tokenised together: `columns` groups of `size` rows
/// (1: unsupervised sentences; 2: anchors, positives; 3: anchors, positives, hard negatives).
#[derive(Debug, Clone)]
pub struct SentenceBatch<B: Backend> {
    pub tokens: TokenBatch<B>,
    pub columns: usize,
    pub size: usize,
    /// Seeds the dropout masks of the training step (see `content_seed`).
    pub noise_seed: u64,
}

/// One training example: a sentence (unsupervised), or an anchor with its positive and
/// optionally its hard negative (supervised).
pub type Example = Vec<String>;

/// Training examples in memory (shared by clones).
#[derive(Clone)]
pub struct ExampleDataset {
    examples: Arc<Vec<Example>>,
}

impl ExampleDataset {
    pub fn new(examples: Vec<Example>) -> Self {
        Self {
            examples: Arc::new(examples),
        }
    }
}

/// Unsupervised examples: one sentence each.
pub fn sentence_examples(sentences: Vec<String>) -> Vec<Example> {
    sentences.into_iter().map(|s| vec![s]).collect()
}

/// Supervised examples from NLI triplets (pairs, when they have no hard negative).
pub fn triplet_examples(triplets: Vec<NliTriplet>) -> Vec<Example> {
    triplets
        .into_iter()
        .map(|t| {
            let mut example = vec![t.anchor, t.positive];
            example.extend(t.hard_negative);
            example
        })
        .collect()
}

impl EpochDataset<Example> for ExampleDataset {
    fn get(&self, index: usize, _epoch: u64) -> Option<Example> {
        self.examples.get(index).cloned()
    }

    fn len(&self) -> usize {
        self.examples.len()
    }
}

/// Tokenises a batch column by column: all anchors, then all positives, then all negatives.
#[derive(Clone)]
pub struct SentenceBatcher {
    tokenizer: TextTokenizer,
}

impl SentenceBatcher {
    pub fn new(tokenizer: TextTokenizer) -> Self {
        Self { tokenizer }
    }
}

impl<B: Backend> Batcher<B, Example, SentenceBatch<B>> for SentenceBatcher {
    fn batch(&self, items: Vec<Example>, device: &Device<B>) -> SentenceBatch<B> {
        let columns = items.iter().map(Vec::len).min().unwrap_or(1);
        let texts: Vec<&str> = (0..columns)
            .flat_map(|c| items.iter().map(move |item| item[c].as_str()))
            .collect();
        let tokens = self
            .tokenizer
            .encode_batch(&texts, device)
            .unwrap_or_else(|e| panic!("the tokenizer failed on a training batch: {e}"));
        SentenceBatch {
            tokens,
            columns,
            size: items.len(),
            noise_seed: content_seed(texts.iter().flat_map(|t| t.bytes().map(u64::from))),
        }
    }
}
