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
        let len = encodings
            .iter()
            .map(|e| e.get_ids().len())
            .max()
            .unwrap_or(0)
            .max(1);
        let batch = encodings.len();
        let mut ids = vec![self.pad_id as i64; batch * len];
        let mut types = vec![0i64; batch * len];
        let mut mask = vec![0i64; batch * len];
        for (row, encoding) in encodings.iter().enumerate() {
            for (col, ((&id, &ty), &m)) in encoding
                .get_ids()
                .iter()
                .zip(encoding.get_type_ids())
                .zip(encoding.get_attention_mask())
                .enumerate()
            {
                ids[row * len + col] = id as i64;
                types[row * len + col] = ty as i64;
                mask[row * len + col] = m as i64;
            }
        }
        let tensor =
            |values: Vec<i64>| Tensor::from_data(TensorData::new(values, [batch, len]), device);
        Ok(TokenBatch {
            input_ids: tensor(ids),
            token_type_ids: tensor(types),
            attention_mask: tensor(mask),
        })
    }
}
