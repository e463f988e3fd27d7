//! SimVLM's data: the embedded generated scenes, image–caption pairs in the Flickr8k TSV format,
//! and the PrefixLM examples and batches built from them.

pub mod batcher;
pub mod captions;
pub mod scenes;

use std::path::PathBuf;

/// Why data could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error(transparent)]
    File(#[from] contrastive_core::run::text_file::TextFileError),
    #[error("{path}: not a readable image ({reason})")]
    Image { path: PathBuf, reason: String },
    #[error("{path}:{line}: {reason}")]
    Row {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

/// An RGB image as `[3, size, size]` values in [-1, 1], channel-major.
pub type Pixels = Vec<f32>;

/// Images with their reference captions and, for generated scenes, questions and answers.
#[derive(Debug, Clone, Default)]
pub struct CaptionedImages {
    pub images: Vec<Pixels>,
    /// Reference captions of each image (one or more).
    pub captions: Vec<Vec<String>>,
    /// Question–answer pairs of each image (empty for real captioning data).
    pub questions: Vec<Vec<(String, String)>>,
    /// Side of every image in pixels.
    pub size: usize,
}

impl CaptionedImages {
    pub fn len(&self) -> usize {
        self.images.len()
    }

    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// Every text a tokenizer should cover: captions, questions and answers.
    pub fn texts(&self) -> Vec<String> {
        self.captions
            .iter()
            .flatten()
            .cloned()
            .chain(
                self.questions
                    .iter()
                    .flatten()
                    .flat_map(|(q, a)| [q.clone(), a.clone()]),
            )
            .collect()
    }
}
