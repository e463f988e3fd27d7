//! A thin wrapper over Hugging Face `tokenizers`: load a `tokenizer.json`, encode batches with
//! truncation and padding into Burn tensors. Shared by SimCSE and SimVLM.

use std::path::{Path, PathBuf};

use burn::tensor::{backend::Backend, Int, Tensor, TensorData};
use tokenizers::{Tokenizer, TruncationParams};

/// Why text could not be tokenised.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    #[error("{path}: not a usable tokenizer.json ({reason})")]
    Load { path: PathBuf, reason: String },
    #[error("tokenizer: {0}")]
    Encode(String),
    #[error("the tokenizer has {tokenizer} tokens but the model's embedding has {model} rows: they do not belong together")]
    VocabularyMismatch { tokenizer: usize, model: usize },
}

/// Token ids, segment ids and attention mask of a padded batch, `[batch, len]` each.
#[derive(Debug, Clone)]
pub struct TokenBatch<B: Backend> {
    pub input_ids: Tensor<B, 2, Int>,
    pub token_type_ids: Tensor<B, 2, Int>,
    pub attention_mask: Tensor<B, 2, Int>,
}

impl<B: Backend> TokenBatch<B> {
    /// The batch with `rows` applied to ids, segment ids and mask alike (to select, repeat or
    /// reorder rows).
    pub fn map_rows(&self, rows: impl Fn(Tensor<B, 2, Int>) -> Tensor<B, 2, Int>) -> Self {
        Self {
            input_ids: rows(self.input_ids.clone()),
            token_type_ids: rows(self.token_type_ids.clone()),
            attention_mask: rows(self.attention_mask.clone()),
        }
    }
}

/// A tokenizer that truncates to `max_length` tokens (special tokens included) and pads each
/// batch to its longest sequence.
#[derive(Clone)]
pub struct TextTokenizer {
    inner: Tokenizer,
    pad_id: u32,
}

impl TextTokenizer {
    /// Loads `tokenizer.json`; sequences are cut to `max_length` tokens.
    pub fn from_file(path: &Path, max_length: usize) -> Result<Self, TextError> {
        let load_error = |reason: String| TextError::Load {
            path: path.to_path_buf(),
            reason,
        };
        let mut inner = Tokenizer::from_file(path).map_err(|e| load_error(e.to_string()))?;
        inner
            .with_truncation(Some(TruncationParams {
                max_length,
                ..Default::default()
            }))
            .map_err(|e| load_error(e.to_string()))?;
        inner.with_padding(None);
        let pad_id = inner
            .get_padding()
            .map(|p| p.pad_id)
            .or_else(|| inner.token_to_id("[PAD]"))
            .or_else(|| inner.token_to_id("<pad>"))
            .unwrap_or(0);
        Ok(Self { inner, pad_id })
    }

    /// Tokens in the vocabulary, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Checks that every id the tokenizer can produce is a row of a `model_vocab`-row embedding.
    pub fn check_vocabulary(&self, model_vocab: usize) -> Result<(), TextError> {
        if self.vocab_size() > model_vocab {
            return Err(TextError::VocabularyMismatch {
                tokenizer: self.vocab_size(),
                model: model_vocab,
            });
        }
        Ok(())
    }

    /// The ids of one text, special tokens included.
    pub fn encode_ids(&self, text: &str) -> Result<Vec<u32>, TextError> {
        let encoding = self
            .inner
            .encode(text, true)
            .map_err(|e| TextError::Encode(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The ids of every text, special tokens included, encoded in parallel; an error gives
    /// the index of the first text the tokenizer rejects.
    pub fn encode_all(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>, (usize, TextError)> {
        const CHUNK: usize = 4096;
        let mut ids = Vec::with_capacity(texts.len());
        for (c, chunk) in texts.chunks(CHUNK).enumerate() {
            match self.inner.encode_batch(chunk.to_vec(), true) {
                Ok(encodings) => ids.extend(encodings.iter().map(|e| e.get_ids().to_vec())),
                // The batch call does not say which text failed: find it one by one.
                Err(batch_error) => {
                    for (i, text) in chunk.iter().enumerate() {
                        self.encode_ids(text).map_err(|e| (c * CHUNK + i, e))?;
                    }
                    return Err((c * CHUNK, TextError::Encode(batch_error.to_string())));
                }
            }
        }
        Ok(ids)
    }

    /// Encodes `texts` and pads them to the longest into tensors on `device`.
    pub fn encode_batch<B: Backend>(
        &self,
        texts: &[&str],
        device: &B::Device,
    ) -> Result<TokenBatch<B>, TextError> {
        let encodings = self
            .inner
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| TextError::Encode(e.to_string()))?;
        let rows: Vec<&[u32]> = encodings.iter().map(|e| e.get_ids()).collect();
        Ok(self.pad(&rows, device))
    }

    /// Token ids of single texts (from [`Self::encode_ids`]) padded to the longest into
    /// tensors on `device`: segment 0 throughout, mask 1 on the tokens.
    pub fn pad<B: Backend>(&self, rows: &[&[u32]], device: &B::Device) -> TokenBatch<B> {
        let len = rows.iter().map(|r| r.len()).max().unwrap_or(0).max(1);
        let batch = rows.len();
        let mut ids = vec![self.pad_id as i64; batch * len];
        let mut mask = vec![0i64; batch * len];
        for (row, tokens) in rows.iter().enumerate() {
            for (col, &id) in tokens.iter().enumerate() {
                ids[row * len + col] = id as i64;
                mask[row * len + col] = 1;
            }
        }
        let tensor =
            |values: Vec<i64>| Tensor::from_data(TensorData::new(values, [batch, len]), device);
        TokenBatch {
            input_ids: tensor(ids),
            token_type_ids: tensor(vec![0; batch * len]),
            attention_mask: tensor(mask),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_backend::TestBackend as B;
    use tokenizers::models::wordlevel::WordLevel;
    use tokenizers::pre_tokenizers::whitespace::Whitespace;

    /// A word-level tokenizer of `[PAD] a b c` whose unknown-word token is `unknown`.
    fn word_tokenizer(unknown: &str) -> TextTokenizer {
        let vocab = ["[PAD]", "[UNK]", "a", "b", "c"];
        let model = WordLevel::builder()
            .vocab(
                vocab
                    .iter()
                    .enumerate()
                    .map(|(i, w)| (w.to_string(), i as u32))
                    .collect(),
            )
            .unk_token(unknown.into())
            .build()
            .unwrap();
        let mut tokenizer = Tokenizer::new(model);
        tokenizer.with_pre_tokenizer(Some(Whitespace {}));
        let path = std::env::temp_dir().join(format!("text-{}-{unknown}.json", std::process::id()));
        tokenizer.save(&path, false).unwrap();
        let loaded = TextTokenizer::from_file(&path, 3).unwrap();
        std::fs::remove_file(path).unwrap();
        loaded
    }

    #[test]
    fn texts_encode_truncated_and_pad_to_the_longest_with_a_mask() {
        let tokenizer = word_tokenizer("[UNK]");
        let ids = tokenizer.encode_all(&["a b c a", "c", "b zebra"]).unwrap();
        assert_eq!(ids, vec![vec![2, 3, 4], vec![4], vec![3, 1]]);
        let rows: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
        let batch = tokenizer.pad::<B>(&rows, &Default::default());
        let values = |t: Tensor<B, 2, Int>| t.into_data().convert::<i64>().to_vec::<i64>().unwrap();
        assert_eq!(values(batch.input_ids), [2, 3, 4, 4, 0, 0, 3, 1, 0]);
        assert_eq!(values(batch.attention_mask), [1, 1, 1, 1, 0, 0, 1, 1, 0]);
        assert_eq!(values(batch.token_type_ids), [0; 9]);
    }

    #[test]
    fn a_rejected_text_is_named_by_its_index() {
        let tokenizer = word_tokenizer("[NOWHERE]");
        let texts: Vec<&str> = (0..5000)
            .map(|i| if i == 4321 { "a zebra" } else { "a b" })
            .collect();
        let (index, error) = tokenizer.encode_all(&texts).unwrap_err();
        assert_eq!(index, 4321);
        assert!(matches!(error, TextError::Encode(_)), "{error}");
    }
}
