//! Plain or gzip-compressed UTF-8 text files, read whole. Shared by SimCLR's `labels.csv`, the
//! SimCSE sentence, NLI and STS readers and SimVLM's text-only PrefixLM corpus, so every one of
//! them reads gzip and a byte-order mark alike and names the file and the line of a bad byte in
//! the same way.

use std::io::Read;
use std::path::{Path, PathBuf};

/// Why a text file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TextFileError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a valid gzip stream ({reason})")]
    Gzip { path: PathBuf, reason: String },
    #[error("{path}:{line}: not valid UTF-8")]
    Utf8 { path: PathBuf, line: usize },
    #[error("{path}: no text (the file is empty or blank)")]
    Blank { path: PathBuf },
}

/// The UTF-8 byte-order mark spreadsheet programs write before the first byte of a CSV.
const BYTE_ORDER_MARK: char = '\u{feff}';

/// The text of `path`, decompressed when it starts with the gzip magic bytes, without a leading
/// byte-order mark.
pub fn read_text(path: &Path) -> Result<String, TextFileError> {
    let bytes = std::fs::read(path).map_err(|source| TextFileError::Io {
        path: path.into(),
        source,
    })?;
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut decoded = Vec::new();
        flate2::read::MultiGzDecoder::new(bytes.as_slice())
            .read_to_end(&mut decoded)
            .map_err(|e| TextFileError::Gzip {
                path: path.into(),
                reason: e.to_string(),
            })?;
        decoded
    } else {
        bytes
    };
    let mut text = String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        TextFileError::Utf8 {
            path: path.into(),
            line: 1 + valid.iter().filter(|b| **b == b'\n').count(),
        }
    })?;
    if text.starts_with(BYTE_ORDER_MARK) {
        text.drain(..BYTE_ORDER_MARK.len_utf8());
    }
    Ok(text)
}

/// One text per non-blank line, trimmed (the Wikipedia format of unsupervised SimCSE, and a
/// text-only PrefixLM corpus). A file without any is an error.
pub fn read_lines(path: &Path) -> Result<Vec<String>, TextFileError> {
    let lines: Vec<String> = read_text(path)?
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect();
    if lines.is_empty() {
        return Err(TextFileError::Blank { path: path.into() });
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A file under the system temporary folder, removed on drop.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(name: &str, bytes: &[u8]) -> Self {
            let path = std::env::temp_dir().join(format!("core-{}-{name}", std::process::id()));
            std::fs::write(&path, bytes).unwrap();
            Self(path)
        }

        fn gzip(name: &str, text: &str) -> Self {
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

    #[test]
    fn lines_are_read_plain_or_gzipped_without_blank_lines() {
        let text = "YMCA in South Australia\n\n  Second line. \n";
        for file in [
            TempFile::new("plain.txt", text.as_bytes()),
            TempFile::gzip("zipped.txt.gz", text),
        ] {
            assert_eq!(
                read_lines(&file.0).unwrap(),
                vec!["YMCA in South Australia", "Second line."]
            );
        }
    }

    #[test]
    fn a_byte_order_mark_is_not_part_of_the_text() {
        for file in [
            TempFile::new("bom.csv", "\u{feff}path,label\n".as_bytes()),
            TempFile::gzip("bom.csv.gz", "\u{feff}path,label\n"),
        ] {
            assert_eq!(read_text(&file.0).unwrap(), "path,label\n");
        }
    }

    #[test]
    fn bad_files_are_errors_naming_file_and_line() {
        let file = TempFile::new("bad-utf8.txt", b"fine\nalso fine\nbad \xff byte\n");
        let message = read_lines(&file.0).unwrap_err().to_string();
        assert!(
            message.ends_with("bad-utf8.txt:3: not valid UTF-8"),
            "{message}"
        );

        let mut truncated =
            std::fs::read(&TempFile::gzip("t.gz", &"words ".repeat(500)).0).unwrap();
        truncated.truncate(truncated.len() / 2);
        let file = TempFile::new("truncated.txt.gz", &truncated);
        let message = read_lines(&file.0).unwrap_err().to_string();
        assert!(
            message.contains("truncated.txt.gz: not a valid gzip stream"),
            "{message}"
        );

        let file = TempFile::new("empty.txt", b"\n \n");
        let message = read_lines(&file.0).unwrap_err().to_string();
        assert!(
            message.ends_with("empty.txt: no text (the file is empty or blank)"),
            "{message}"
        );
        assert!(read_lines(Path::new("/no/such/file.txt"))
            .unwrap_err()
            .to_string()
            .starts_with("cannot read /no/such/file.txt"));
    }
}
