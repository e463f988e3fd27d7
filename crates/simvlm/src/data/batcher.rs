//! PrefixLM examples and batches. A caption is split at a random point — the words before it
//! join the image in the prefix, the rest is the target — so the loss falls on text only; a
//! question is the prefix and its answer the target; text-only examples split at random too.

use std::ops::Range;
use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::tensor::{backend::Backend, Device, Int, Tensor, TensorData};
use contrastive_core::run::epochs::EpochDataset;
use contrastive_core::run::item_rng::{content_seed, item_rng};
use rand::Rng;

use super::{CaptionedImages, Pixels};
use crate::tokenizer::CaptionTokenizer;

/// A PrefixLM batch. The encoder sees the images (if any) and `prefix_ids`; the decoder reads
/// `decoder_ids` (`[BOS]` + target) and is scored on `labels` (target + `[EOS]`) where
/// `decoder_mask` is 1.
#[derive(Clone, Debug)]
pub struct PrefixBatch<B: Backend> {
    pub images: Option<Tensor<B, 4>>,
    /// `[batch, 1]`: 1 for rows with an image, 0 for text-only rows whose (blank) image tokens
    /// are masked out of attention. `None`: every row has one.
    pub image_rows: Option<Tensor<B, 2, Int>>,
    pub prefix_ids: Tensor<B, 2, Int>,
    pub prefix_mask: Tensor<B, 2, Int>,
    pub decoder_ids: Tensor<B, 2, Int>,
    /// Text positions of the decoder tokens (they continue after each row's prefix).
    pub decoder_positions: Tensor<B, 2, Int>,
    pub decoder_mask: Tensor<B, 2, Int>,
    pub labels: Tensor<B, 2, Int>,
    /// Seeds the dropout masks of the training step (see `content_seed`).
    pub noise_seed: u64,
}

impl<B: Backend> PrefixBatch<B> {
    /// Examples `range` of the batch (a micro-batch of an accumulated step), drawing its
    /// dropout masks from `noise_seed`.
    pub fn rows(&self, range: Range<usize>, noise_seed: u64) -> Self {
        let (start, len) = (range.start, range.len());
        let int = |t: &Tensor<B, 2, Int>| t.clone().narrow(0, start, len);
        Self {
            images: self
                .images
                .as_ref()
                .map(|t| t.clone().narrow(0, start, len)),
            image_rows: self.image_rows.as_ref().map(int),
            prefix_ids: int(&self.prefix_ids),
            prefix_mask: int(&self.prefix_mask),
            decoder_ids: int(&self.decoder_ids),
            decoder_positions: int(&self.decoder_positions),
            decoder_mask: int(&self.decoder_mask),
            labels: int(&self.labels),
            noise_seed,
        }
    }
}

/// One training example before batching.
#[derive(Debug, Clone)]
pub struct PrefixExample {
    pub image: Option<Pixels>,
    pub prefix: Vec<u32>,
    pub target: Vec<u32>,
    /// Target positions whose decoder *input* is replaced by `[UNK]` (word dropout: the
    /// decoder must read the image rather than lean on the previous word).
    pub dropped: Vec<bool>,
}

#[derive(Debug, Clone)]
enum Entry {
    /// A caption of an image, split at a random point at every draw.
    Caption { image: usize, words: Vec<u32> },
    /// A question about an image and its answer.
    Question {
        image: usize,
        question: Vec<u32>,
        answer: Vec<u32>,
    },
    /// A text without an image (text-only PrefixLM), split at a random point at every draw.
    Text { words: Vec<u32> },
}

/// The PrefixLM examples of a set of captioned images — every caption and every question — and
/// optionally of a text-only corpus.
pub struct PrefixLmDataset {
    images: Arc<CaptionedImages>,
    entries: Vec<Entry>,
    /// Most words of one example (`[BOS]` and `[EOS]` excluded).
    room: usize,
    seed: u64,
    word_dropout: f64,
    unk: u32,
}

impl PrefixLmDataset {
    /// Examples of `images`, texts cut so that `[BOS] prefix target [EOS]` fits `max_text_len`.
    pub fn new(
        images: Arc<CaptionedImages>,
        tokenizer: &CaptionTokenizer,
        max_text_len: usize,
        seed: u64,
    ) -> Self {
        let room = max_text_len.saturating_sub(2).max(1);
        let mut entries = Vec::new();
        for (image, captions) in images.captions.iter().enumerate() {
            for caption in captions {
                let mut words = tokenizer.encode(caption);
                words.truncate(room);
                if !words.is_empty() {
                    entries.push(Entry::Caption { image, words });
                }
            }
            for (question, answer) in images.questions.get(image).into_iter().flatten() {
                let mut question = tokenizer.encode(question);
                let mut answer = tokenizer.encode(answer);
                answer.truncate(room);
                question.truncate(room - answer.len());
                entries.push(Entry::Question {
                    image,
                    question,
                    answer,
                });
            }
        }
        Self {
            images,
            entries,
            room,
            seed,
            word_dropout: 0.0,
            unk: tokenizer.unk,
        }
    }

    /// Adds one text-only example per text (SimVLM's PrefixLM on text data: the prefix is a
    /// random number of leading words, the loss falls on the rest).
    pub fn with_texts(mut self, texts: &[String], tokenizer: &CaptionTokenizer) -> Self {
        for text in texts {
            let mut words = tokenizer.encode(text);
            words.truncate(self.room);
            if !words.is_empty() {
                self.entries.push(Entry::Text { words });
            }
        }
        self
    }

    /// Replaces each prefix word and each decoder input word by `[UNK]` with probability `p`
    /// (labels unchanged).
    pub fn with_word_dropout(mut self, p: f64) -> Self {
        self.word_dropout = p;
        self
    }
}

impl EpochDataset<PrefixExample> for PrefixLmDataset {
    fn get(&self, index: usize, epoch: u64) -> Option<PrefixExample> {
        let mut rng = item_rng(self.seed, index, epoch);
        // T_p covers the image (if any) and k ∈ [0, n − 1] words: at least one word is a target.
        let mut split = |words: &[u32]| {
            let k = rng.random_range(0..words.len());
            (words[..k].to_vec(), words[k..].to_vec())
        };
        let (image, (prefix, target)) = match self.entries.get(index)? {
            Entry::Caption { image, words } => (Some(*image), split(words)),
            Entry::Question {
                image,
                question,
                answer,
            } => (Some(*image), (question.clone(), answer.clone())),
            Entry::Text { words } => (None, split(words)),
        };
        let p = self.word_dropout;
        let prefix = prefix
            .into_iter()
            .map(|t| {
                if p > 0.0 && rng.random_bool(p) {
                    self.unk
                } else {
                    t
                }
            })
            .collect();
        let dropped = (0..target.len())
            .map(|_| self.word_dropout > 0.0 && rng.random_bool(self.word_dropout))
            .collect();
        Some(PrefixExample {
            image: image.map(|i| self.images.images[i].clone()),
            prefix,
            target,
            dropped,
        })
    }

    fn len(&self) -> usize {
        self.entries.len()
    }
}

/// Pads examples into a [`PrefixBatch`]: the encoder text is `[BOS] prefix`, the decoder reads
/// `[BOS] target` and predicts `target [EOS]`, positions continuing after the prefix.
#[derive(Clone, Debug)]
pub struct PrefixBatcher {
    pub pad: u32,
    pub unk: u32,
    pub bos: u32,
    pub eos: u32,
    /// Side of the images.
    pub image_size: usize,
}

impl PrefixBatcher {
    pub fn new(tokenizer: &CaptionTokenizer, image_size: usize) -> Self {
        Self {
            pad: tokenizer.pad,
            unk: tokenizer.unk,
            bos: tokenizer.bos,
            eos: tokenizer.eos,
            image_size,
        }
    }
}

fn padded<B: Backend>(
    rows: &[Vec<i64>],
    pad: i64,
    device: &Device<B>,
) -> (Tensor<B, 2, Int>, Tensor<B, 2, Int>) {
    let len = rows.iter().map(Vec::len).max().unwrap_or(1).max(1);
    let mut ids = vec![pad; rows.len() * len];
    let mut mask = vec![0i64; rows.len() * len];
    for (r, row) in rows.iter().enumerate() {
        for (c, &id) in row.iter().enumerate() {
            ids[r * len + c] = id;
            mask[r * len + c] = 1;
        }
    }
    let tensor = |v| Tensor::from_data(TensorData::new(v, [rows.len(), len]), device);
    (tensor(ids), tensor(mask))
}

impl<B: Backend> Batcher<B, PrefixExample, PrefixBatch<B>> for PrefixBatcher {
    fn batch(&self, items: Vec<PrefixExample>, device: &Device<B>) -> PrefixBatch<B> {
        let (bos, eos, pad) = (self.bos as i64, self.eos as i64, self.pad as i64);
        let ids = |v: &[u32]| v.iter().map(|&t| t as i64).collect::<Vec<_>>();
        let prefixes: Vec<Vec<i64>> = items
            .iter()
            .map(|e| [vec![bos], ids(&e.prefix)].concat())
            .collect();
        let unk = self.unk as i64;
        // The decoder reads [BOS] then the target words, dropped ones as [UNK].
        let inputs: Vec<Vec<i64>> = items
            .iter()
            .map(|e| {
                let dropped = e.dropped.iter().chain(std::iter::repeat(&false));
                std::iter::once(bos)
                    .chain(
                        e.target
                            .iter()
                            .zip(dropped)
                            .map(|(&t, &d)| if d { unk } else { t as i64 }),
                    )
                    .collect()
            })
            .collect();
        let labels: Vec<Vec<i64>> = items
            .iter()
            .map(|e| [ids(&e.target), vec![eos]].concat())
            .collect();
        let positions: Vec<Vec<i64>> = prefixes
            .iter()
            .zip(&inputs)
            .map(|(p, d)| (0..d.len()).map(|t| (p.len() + t) as i64).collect())
            .collect();
        let noise_seed = content_seed(
            prefixes
                .iter()
                .chain(&inputs)
                .chain(&labels)
                .flatten()
                .map(|&id| id as u64),
        );
        let (prefix_ids, prefix_mask) = padded(&prefixes, pad, device);
        let (decoder_ids, decoder_mask) = padded(&inputs, pad, device);
        let (labels, _) = padded(&labels, pad, device);
        let (decoder_positions, _) = padded(&positions, 0, device);
        // Text-only rows of a mixed batch get a blank image whose tokens the encoder masks out.
        let with_image = items.iter().filter(|e| e.image.is_some()).count();
        let images = (with_image > 0).then(|| {
            let s = self.image_size;
            let blank = vec![0.0; 3 * s * s];
            let data: Vec<f32> = items
                .iter()
                .flat_map(|e| e.image.as_ref().unwrap_or(&blank).iter().copied())
                .collect();
            Tensor::from_data(TensorData::new(data, [items.len(), 3, s, s]), device)
        });
        let image_rows = (with_image > 0 && with_image < items.len()).then(|| {
            let rows: Vec<i64> = items.iter().map(|e| i64::from(e.image.is_some())).collect();
            Tensor::from_data(TensorData::new(rows, [items.len(), 1]), device)
        });
        PrefixBatch {
            images,
            image_rows,
            prefix_ids,
            prefix_mask,
            decoder_ids,
            decoder_positions,
            decoder_mask,
            labels,
            noise_seed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::scenes;
    use burn::backend::NdArray;

    #[test]
    fn captions_split_into_prefix_and_nonempty_target_and_questions_keep_answers() {
        let (_, data) = scenes::generate(4, 8, scenes::HeldOutPair::default(), false, 0);
        let tokenizer = CaptionTokenizer::train(&data.texts(), 100).unwrap();
        let dataset = PrefixLmDataset::new(Arc::new(data.clone()), &tokenizer, 40, 7);
        assert_eq!(dataset.len(), 4 * 5);
        let mut prefix_lengths = std::collections::HashSet::new();
        for epoch in 0..30 {
            let example = dataset.get(0, epoch).unwrap();
            assert!(!example.target.is_empty());
            let whole = [example.prefix.clone(), example.target.clone()].concat();
            assert_eq!(tokenizer.decode(&whole).unwrap(), data.captions[0][0]);
            prefix_lengths.insert(example.prefix.len());
        }
        assert!(
            prefix_lengths.len() > 3,
            "the split point varies: {prefix_lengths:?}"
        );
        let noisy =
            PrefixLmDataset::new(Arc::new(data.clone()), &tokenizer, 40, 7).with_word_dropout(0.5);
        let (mut dropped, mut words) = (0, 0);
        for epoch in 0..40 {
            let example = noisy.get(0, epoch).unwrap();
            dropped += example.dropped.iter().filter(|d| **d).count();
            words += example.target.len();
        }
        assert!(
            dropped * 4 > words && dropped * 4 < 3 * words,
            "about half: {dropped} of {words}"
        );
        let example = PrefixExample {
            image: None,
            prefix: vec![],
            target: vec![7, 8],
            dropped: vec![true, false],
        };
        let noisy_batch: PrefixBatch<NdArray> =
            PrefixBatcher::new(&tokenizer, 8).batch(vec![example], &Default::default());
        assert_eq!(
            noisy_batch.decoder_ids.to_data().to_vec::<i64>().unwrap(),
            vec![tokenizer.bos as i64, tokenizer.unk as i64, 8]
        );
        assert_eq!(
            noisy_batch.labels.to_data().to_vec::<i64>().unwrap(),
            vec![7, 8, tokenizer.eos as i64]
        );
        let question = dataset.get(1, 0).unwrap();
        assert_eq!(
            tokenizer.decode(&question.target).unwrap(),
            data.questions[0][0].1
        );

        let batch: PrefixBatch<NdArray> = PrefixBatcher::new(&tokenizer, 8).batch(
            vec![dataset.get(1, 0).unwrap(), dataset.get(2, 0).unwrap()],
            &Default::default(),
        );
        let labels = batch.labels.to_data().to_vec::<i64>().unwrap();
        let inputs = batch.decoder_ids.to_data().to_vec::<i64>().unwrap();
        let [rows, len] = batch.labels.dims();
        assert_eq!(rows, 2);
        // The decoder input is the label sequence shifted right behind [BOS].
        assert_eq!(inputs[0], tokenizer.bos as i64);
        assert_eq!(inputs[1..len], labels[..len - 1]);
        let positions = batch.decoder_positions.to_data().to_vec::<i64>().unwrap();
        let prefix_len = 1 + dataset.get(1, 0).unwrap().prefix.len() as i64;
        assert_eq!(positions[0], prefix_len);
        assert_eq!(batch.images.unwrap().dims(), [2, 3, 8, 8]);
        assert!(batch.image_rows.is_none(), "every row has an image");
    }

    #[test]
    fn text_only_examples_split_at_random_and_batch_beside_image_examples() {
        let (_, data) = scenes::generate(2, 8, scenes::HeldOutPair::default(), false, 0);
        let texts = vec!["the quick brown fox jumps over the lazy dog".to_string()];
        let tokenizer =
            CaptionTokenizer::train(&[texts.clone(), data.captions.concat()].concat(), 100)
                .unwrap();
        let dataset =
            PrefixLmDataset::new(Arc::new(data), &tokenizer, 40, 3).with_texts(&texts, &tokenizer);
        let text_index = 2 * 5;
        assert_eq!(dataset.len(), text_index + 1);
        let mut split_points = std::collections::HashSet::new();
        for epoch in 0..30 {
            let example = dataset.get(text_index, epoch).unwrap();
            assert!(example.image.is_none());
            assert!(!example.target.is_empty());
            let whole = [example.prefix.clone(), example.target].concat();
            assert_eq!(tokenizer.decode(&whole).unwrap(), texts[0]);
            split_points.insert(example.prefix.len());
        }
        assert!(split_points.len() > 3, "{split_points:?}");

        let batch: PrefixBatch<NdArray> = PrefixBatcher::new(&tokenizer, 8).batch(
            vec![
                dataset.get(0, 0).unwrap(),
                dataset.get(text_index, 0).unwrap(),
            ],
            &Default::default(),
        );
        assert_eq!(batch.images.unwrap().dims(), [2, 3, 8, 8]);
        assert_eq!(
            batch.image_rows.unwrap().to_data().to_vec::<i64>().unwrap(),
            vec![1, 0]
        );
        let text_batch: PrefixBatch<NdArray> = PrefixBatcher::new(&tokenizer, 8).batch(
            vec![dataset.get(text_index, 0).unwrap()],
            &Default::default(),
        );
        assert!(text_batch.images.is_none() && text_batch.image_rows.is_none());
    }
}
