//! A word-level caption tokenizer built on Hugging Face `tokenizers`: trained on the captions
//! themselves (a 30k BERT vocabulary is wasteful for a small captioner), saved and loaded as an
//! ordinary `tokenizer.json`.

use std::path::{Path, PathBuf};

use tokenizers::models::wordlevel::{WordLevel, WordLevelTrainerBuilder};
use tokenizers::models::TrainerWrapper;
use tokenizers::normalizers::utils::Lowercase;
use tokenizers::pre_tokenizers::whitespace::Whitespace;
use tokenizers::{AddedToken, Tokenizer};

/// The special tokens, with these ids in every tokenizer this module makes.
pub const SPECIAL_TOKENS: [&str; 4] = ["[PAD]", "[UNK]", "[BOS]", "[EOS]"];

/// Why a tokenizer could not be made or loaded.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("{path}: not a usable tokenizer.json ({reason})")]
    Load { path: PathBuf, reason: String },
    #[error("{path}: the tokenizer has no `{token}` token; captioning needs {SPECIAL_TOKENS:?}")]
    MissingSpecial { path: PathBuf, token: &'static str },
    #[error("tokenizer: {0}")]
    Other(String),
}

/// Caption text ↔ token ids (no special tokens added: the model adds `[BOS]`/`[EOS]`).
#[derive(Clone)]
pub struct CaptionTokenizer {
    inner: Tokenizer,
    pub pad: u32,
    pub unk: u32,
    pub bos: u32,
    pub eos: u32,
}

impl CaptionTokenizer {
    /// A lower-casing word-level tokenizer over the `vocab_size` most frequent words of `texts`
    /// (special tokens included in the count).
    pub fn train(texts: &[String], vocab_size: usize) -> Result<Self, TokenizerError> {
        let other = |e: tokenizers::Error| TokenizerError::Other(e.to_string());
        let model = WordLevel::builder()
            .unk_token("[UNK]".into())
            .build()
            .map_err(other)?;
        let mut inner = Tokenizer::new(model);
        inner.with_normalizer(Some(Lowercase)).map_err(other)?;
        inner.with_pre_tokenizer(Some(Whitespace {}));
        let mut trainer: TrainerWrapper = WordLevelTrainerBuilder::default()
            .vocab_size(vocab_size)
            .special_tokens(
                SPECIAL_TOKENS
                    .iter()
                    .map(|t| AddedToken::from(*t, true))
                    .collect(),
            )
            .build()
            .map_err(|e| TokenizerError::Other(e.to_string()))?
            .into();
        inner.train(&mut trainer, texts.iter()).map_err(other)?;
        Self::from_tokenizer(inner, Path::new("<trained>"))
    }

    /// Loads a `tokenizer.json` that has the [`SPECIAL_TOKENS`].
    pub fn from_file(path: &Path) -> Result<Self, TokenizerError> {
        let inner = Tokenizer::from_file(path).map_err(|e| TokenizerError::Load {
            path: path.into(),
            reason: e.to_string(),
        })?;
        Self::from_tokenizer(inner, path)
    }

    fn from_tokenizer(inner: Tokenizer, path: &Path) -> Result<Self, TokenizerError> {
        let id = |token: &'static str| {
            inner
                .token_to_id(token)
                .ok_or(TokenizerError::MissingSpecial {
                    path: path.into(),
                    token,
                })
        };
        Ok(Self {
            pad: id("[PAD]")?,
            unk: id("[UNK]")?,
            bos: id("[BOS]")?,
            eos: id("[EOS]")?,
            inner,
        })
    }

    /// Writes `tokenizer.json`.
    pub fn save(&self, path: &Path) -> Result<(), TokenizerError> {
        self.inner
            .save(path, true)
            .map_err(|e| TokenizerError::Other(format!("{}: {e}", path.display())))
    }

    /// Tokens in the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// The ids of `text`.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        self.inner
            .encode(text, false)
            .map(|e| e.get_ids().to_vec())
            .unwrap_or_default()
    }

    /// The text of `ids` through the tokenizer's own decoder (so WordPiece's `##` pieces and
    /// BPE's byte-level pieces join into words), with padding and `[BOS]`/`[EOS]` left out and
    /// `[UNK]` shown.
    pub fn decode(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        let kept: Vec<u32> = ids
            .iter()
            .copied()
            .filter(|&id| id != self.pad && id != self.bos && id != self.eos)
            .collect();
        self.inner
            .decode(&kept, false)
            .map_err(|e| TokenizerError::Other(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trained_tokenizers_round_trip_and_keep_special_ids() {
        let texts = vec![
            "A red circle".to_string(),
            "a blue square .".into(),
            "a red square".into(),
        ];
        let tokenizer = CaptionTokenizer::train(&texts, 100).unwrap();
        assert_eq!((tokenizer.pad, tokenizer.bos, tokenizer.eos), (0, 2, 3));
        assert_eq!(tokenizer.vocab_size(), 4 + 6);
        let ids = tokenizer.encode("a red square .");
        assert_eq!(tokenizer.decode(&ids).unwrap(), "a red square .");
        assert_eq!(
            tokenizer
                .decode(&tokenizer.encode("a green square"))
                .unwrap(),
            "a [UNK] square"
        );
        let path = std::env::temp_dir().join(format!("simvlm-tok-{}.json", std::process::id()));
        tokenizer.save(&path).unwrap();
        let loaded = CaptionTokenizer::from_file(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            loaded.encode("a red circle"),
            tokenizer.encode("a red circle")
        );
        // The vocabulary size bounds the words kept: the most frequent first.
        let small = CaptionTokenizer::train(&texts, 6).unwrap();
        assert_eq!(
            small.decode(&small.encode("a red circle")).unwrap(),
            "a red [UNK]"
        );
    }

    /// A BERT-style tokenizer.json: WordPiece pieces, a WordPiece decoder.
    const WORDPIECE: &str = r###"{
      "version": "1.0", "truncation": null, "padding": null,
      "added_tokens": [
        {"id": 0, "content": "[PAD]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
        {"id": 1, "content": "[UNK]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
        {"id": 2, "content": "[BOS]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
        {"id": 3, "content": "[EOS]", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true}
      ],
      "normalizer": {"type": "Lowercase"},
      "pre_tokenizer": {"type": "Whitespace"},
      "post_processor": null,
      "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
      "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                "max_input_chars_per_word": 100,
                "vocab": {"[PAD]": 0, "[UNK]": 1, "[BOS]": 2, "[EOS]": 3, "a": 4, "man": 5,
                          "play": 6, "##ing": 7, ".": 8}}
    }"###;

    #[test]
    fn subword_tokenizers_decode_to_words() {
        let path = std::env::temp_dir().join(format!("simvlm-wp-{}.json", std::process::id()));
        std::fs::write(&path, WORDPIECE).unwrap();
        let tokenizer = CaptionTokenizer::from_file(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let ids = tokenizer.encode("A man playing.");
        assert_eq!(ids, [4, 5, 6, 7, 8]);
        let mut caption = vec![tokenizer.bos];
        caption.extend(&ids);
        caption.extend([tokenizer.eos, tokenizer.pad]);
        assert_eq!(tokenizer.decode(&caption).unwrap(), "a man playing.");
    }
}
