//! Training examples and their batcher. Sentences are tokenised once, when the data is read,
//! so a text the tokenizer rejects is an error naming it before training starts; the data
//! loader's workers only pad.

use std::path::Path;
use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::tensor::{backend::Backend, Device};
use contrastive_core::run::epochs::EpochDataset;
use contrastive_core::run::item_rng::content_seed;
use contrastive_core::run::text::{TextTokenizer, TokenBatch};

use super::nli::NliTriplet;
use super::DataError;

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

/// An [`Example`] tokenised: each sentence's token ids, special tokens included.
pub type TokenizedExample = Vec<Vec<u32>>;

/// Tokenised training examples in memory (shared by clones).
#[derive(Clone)]
pub struct ExampleDataset {
    examples: Arc<Vec<TokenizedExample>>,
}

impl ExampleDataset {
    /// `examples` tokenised by `tokenizer`; an error names `source`, the example and its text.
    pub fn tokenize(
        examples: &[Example],
        tokenizer: &TextTokenizer,
        source: &Path,
    ) -> Result<Self, DataError> {
        let texts: Vec<&str> = examples.iter().flatten().map(String::as_str).collect();
        let mut ids = tokenizer
            .encode_all(&texts)
            .map_err(|(i, error)| DataError::Invalid {
                path: source.into(),
                reason: format!("the tokenizer rejects the text `{}`: {error}", texts[i]),
            })?
            .into_iter();
        let examples = examples
            .iter()
            .map(|example| ids.by_ref().take(example.len()).collect())
            .collect();
        Ok(Self {
            examples: Arc::new(examples),
        })
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

impl EpochDataset<TokenizedExample> for ExampleDataset {
    fn get(&self, index: usize, _epoch: u64) -> Option<TokenizedExample> {
        self.examples.get(index).cloned()
    }

    fn len(&self) -> usize {
        self.examples.len()
    }
}

/// Pads a batch column by column: all anchors, then all positives, then all negatives.
#[derive(Clone)]
pub struct SentenceBatcher {
    tokenizer: TextTokenizer,
}

impl SentenceBatcher {
    pub fn new(tokenizer: TextTokenizer) -> Self {
        Self { tokenizer }
    }
}

impl<B: Backend> Batcher<B, TokenizedExample, SentenceBatch<B>> for SentenceBatcher {
    fn batch(&self, items: Vec<TokenizedExample>, device: &Device<B>) -> SentenceBatch<B> {
        let columns = items.iter().map(Vec::len).min().unwrap_or(1);
        let rows: Vec<&[u32]> = (0..columns)
            .flat_map(|c| items.iter().map(move |item| item[c].as_slice()))
            .collect();
        SentenceBatch {
            tokens: self.tokenizer.pad(&rows, device),
            columns,
            size: items.len(),
            noise_seed: content_seed(rows.iter().flat_map(|r| r.iter().map(|&id| u64::from(id)))),
        }
    }
}
