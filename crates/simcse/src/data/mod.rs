//! SimCSE's data: one sentence per line (unsupervised), NLI triplets (supervised) and the STS
//! sets (evaluation). Files may be gzip-compressed; every malformed row is an error naming the
//! file and the line.

pub mod batcher;
pub mod nli;
pub mod sts;

use std::path::PathBuf;

pub use contrastive_core::run::text_file::{read_text, TextFileError};

/// Why a data file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    File(#[from] TextFileError),
    #[error("{path}:{line}: {reason}")]
    Row {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// A file under the system temporary folder, removed on drop.
    pub struct TempFile(pub PathBuf);

    impl TempFile {
        pub fn new(name: &str, bytes: &[u8]) -> Self {
            let path = std::env::temp_dir().join(format!("simcse-{}-{name}", std::process::id()));
            std::fs::write(&path, bytes).unwrap();
            Self(path)
        }

        pub fn gzip(name: &str, text: &str) -> Self {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(text.as_bytes()).unwrap();
            Self::new(name, &encoder.finish().unwrap())
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}
