//! Labelled image datasets: a folder per class, a CSV of `path,label[,split]`, the CIFAR-10
//! binary batches, all decoded once into memory with the failing file named in every error.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use contrastive_core::run::csv_records::parse_csv;
use contrastive_core::run::text_file::{read_text, TextFileError};
use image::RgbImage;

use super::image::Image;

/// Why a dataset could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a readable image ({reason}); pass --skip-corrupt to skip such files")]
    Corrupt { path: PathBuf, reason: String },
    #[error("{path}:{line}: {reason}")]
    Malformed {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error(transparent)]
    File(#[from] TextFileError),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> DataError + '_ {
    move |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Images with class labels, in memory.
#[derive(Clone, Debug, Default)]
pub struct ImageDataset {
    pub images: Vec<Image>,
    pub labels: Vec<usize>,
    /// Class names by label id.
    pub class_names: Vec<String>,
    /// Files that could not be decoded and were skipped (only with `skip_corrupt`).
    pub skipped: Vec<PathBuf>,
}

impl ImageDataset {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// Whether there are no images.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }

    /// Number of classes (the largest label + 1, or the named classes).
    pub fn num_classes(&self) -> usize {
        let from_labels = self.labels.iter().max().map_or(0, |m| m + 1);
        from_labels.max(self.class_names.len())
    }
}

/// A train split and, when the source has one, a test split.
#[derive(Clone, Debug)]
pub struct DataSplits {
    pub train: ImageDataset,
    pub test: Option<ImageDataset>,
}

/// Loads the splits found in `dir`: `labels.csv` (columns `path,label` and optionally `split`),
/// CIFAR-10 binary batches (`data_batch_*.bin`, `test_batch.bin`), `train/` and `test/` class
/// folders, or class folders directly (train only).
pub fn load_splits(dir: &Path, skip_corrupt: bool) -> Result<DataSplits, DataError> {
    if !dir.is_dir() {
        return Err(DataError::Invalid {
            path: dir.to_path_buf(),
            reason: "not a folder (expected class folders, labels.csv or CIFAR-10 binary batches)"
                .into(),
        });
    }
    let csv = dir.join("labels.csv");
    if csv.is_file() {
        let rows = read_csv_rows(&csv)?;
        let has_split = rows.rows.iter().any(|r| r.split.is_some());
        let train = rows.select(&csv, has_split.then_some("train"), skip_corrupt)?;
        let test = if rows.rows.iter().any(|r| r.split.as_deref() == Some("test")) {
            Some(rows.select(&csv, Some("test"), skip_corrupt)?)
        } else {
            None
        };
        return Ok(DataSplits { train, test });
    }
    let batches: Vec<PathBuf> = (1..=5)
        .map(|i| dir.join(format!("data_batch_{i}.bin")))
        .filter(|p| p.is_file())
        .collect();
    if !batches.is_empty() {
        let test_file = dir.join("test_batch.bin");
        return Ok(DataSplits {
            train: load_cifar_binary(&batches)?,
            test: if test_file.is_file() {
                Some(load_cifar_binary(&[test_file])?)
            } else {
                None
            },
        });
    }
    if dir.join("train").is_dir() {
        let test_dir = dir.join("test");
        return Ok(DataSplits {
            train: load_folder(&dir.join("train"), skip_corrupt)?,
            test: if test_dir.is_dir() {
                Some(load_folder(&test_dir, skip_corrupt)?)
            } else {
                None
            },
        });
    }
    Ok(DataSplits {
        train: load_folder(dir, skip_corrupt)?,
        test: None,
    })
}

/// One sub-folder per class (sorted by name → label ids), image files inside.
pub fn load_folder(dir: &Path, skip_corrupt: bool) -> Result<ImageDataset, DataError> {
    let mut classes: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_error(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    classes.sort();
    let mut files = Vec::new();
    let mut class_names = Vec::new();
    for (label, class_dir) in classes.iter().enumerate() {
        class_names.push(
            class_dir
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned(),
        );
        let mut entries: Vec<PathBuf> = std::fs::read_dir(class_dir)
            .map_err(io_error(class_dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        entries.sort();
        files.extend(entries.into_iter().map(|p| (p, label)));
    }
    if files.is_empty() {
        return Err(DataError::Invalid {
            path: dir.to_path_buf(),
            reason: "no images found (expected one sub-folder of images per class)".into(),
        });
    }
    decode_all(files, class_names, skip_corrupt)
}

/// A CSV with a header naming at least `path` (relative to the CSV's folder) and `label`
/// (an integer), and optionally `split` and `class_name`; with `split` given, only its rows
/// are loaded.
pub fn load_csv(
    csv: &Path,
    split: Option<&str>,
    skip_corrupt: bool,
) -> Result<ImageDataset, DataError> {
    read_csv_rows(csv)?.select(csv, split, skip_corrupt)
}

/// One row of a labels CSV.
struct CsvRow {
    path: PathBuf,
    label: usize,
    split: Option<String>,
    /// The line it starts on, for errors.
    line: usize,
}

/// All rows of a labels CSV, checked, with the class names it gives.
struct CsvRows {
    rows: Vec<CsvRow>,
    class_names: Vec<String>,
}

impl CsvRows {
    /// Decodes the rows of `split` (all rows when `None`).
    fn select(
        &self,
        csv: &Path,
        split: Option<&str>,
        skip_corrupt: bool,
    ) -> Result<ImageDataset, DataError> {
        let files: Vec<(PathBuf, usize)> = self
            .rows
            .iter()
            .filter(|row| split.is_none() || row.split.as_deref() == split)
            .map(|row| (row.path.clone(), row.label))
            .collect();
        if files.is_empty() {
            return Err(DataError::Invalid {
                path: csv.into(),
                reason: format!(
                    "no rows{}",
                    split
                        .map(|s| format!(" with split `{s}`"))
                        .unwrap_or_default()
                ),
            });
        }
        decode_all(files, self.class_names.clone(), skip_corrupt)
    }
}

fn read_csv_rows(csv: &Path) -> Result<CsvRows, DataError> {
    let text = read_text(csv)?;
    let malformed = |line: usize, reason: String| DataError::Malformed {
        path: csv.into(),
        line,
        reason,
    };
    let mut records = parse_csv(&text)
        .map_err(|(line, reason)| malformed(line, reason))?
        .into_iter();
    let Some((_, header)) = records.next() else {
        return Err(DataError::Invalid {
            path: csv.into(),
            reason: "empty file (expected a header `path,label[,split]`)".into(),
        });
    };
    let columns: Vec<&str> = header.iter().map(|c| c.trim()).collect();
    let find = |name: &str| columns.iter().position(|c| *c == name);
    let (Some(path_col), Some(label_col)) = (find("path"), find("label")) else {
        return Err(malformed(
            1,
            format!(
                "header must name `path` and `label` columns, got `{}`",
                header.join(",")
            ),
        ));
    };
    let (split_col, name_col) = (find("split"), find("class_name"));
    let root = csv.parent().unwrap_or(Path::new("."));
    let mut rows = Vec::new();
    let mut names: BTreeMap<usize, String> = BTreeMap::new();
    for (line, fields) in records {
        if fields.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if fields.len() != columns.len() {
            return Err(malformed(
                line,
                format!(
                    "expected {} fields like the header, got {}",
                    columns.len(),
                    fields.len()
                ),
            ));
        }
        let field = |col: usize| fields[col].trim();
        let label: usize = field(label_col).parse().map_err(|_| {
            malformed(
                line,
                format!("label `{}` is not a non-negative integer", field(label_col)),
            )
        })?;
        if let Some(col) = name_col {
            names.insert(label, field(col).to_string());
        }
        rows.push(CsvRow {
            path: root.join(field(path_col)),
            label,
            split: split_col.map(|col| field(col).to_string()),
            line,
        });
    }
    check_dense_labels(csv, &rows)?;
    Ok(CsvRows {
        class_names: names.into_values().collect(),
        rows,
    })
}

/// Labels must be the class indices `0..K`, each used by some row: the classifier heads and the
/// k-NN vote index their classes by label, so a gap or a stray huge label is a mistake in the
/// file, named with its line.
fn check_dense_labels(csv: &Path, rows: &[CsvRow]) -> Result<(), DataError> {
    let used: BTreeSet<usize> = rows.iter().map(|row| row.label).collect();
    let Some(missing) = (0..).zip(&used).find(|(class, label)| class != *label) else {
        return Ok(());
    };
    let (class, first_beyond) = missing;
    let row = rows
        .iter()
        .find(|row| row.label == *first_beyond)
        .expect("every used label has a row");
    Err(DataError::Malformed {
        path: csv.into(),
        line: row.line,
        reason: format!(
            "label {first_beyond}, but no row has label {class}: labels must be the class indices 0..K-1 ({} classes are used)",
            used.len()
        ),
    })
}

/// CIFAR-10 binary batches: records of one label byte and 3 × 32 × 32 planar RGB bytes.
pub fn load_cifar_binary(files: &[PathBuf]) -> Result<ImageDataset, DataError> {
    const RECORD: usize = 1 + 3 * 32 * 32;
    let mut dataset = ImageDataset {
        class_names: [
            "airplane",
            "automobile",
            "bird",
            "cat",
            "deer",
            "dog",
            "frog",
            "horse",
            "ship",
            "truck",
        ]
        .map(String::from)
        .to_vec(),
        ..Default::default()
    };
    for file in files {
        let bytes = std::fs::read(file).map_err(io_error(file))?;
        if bytes.is_empty() || bytes.len() % RECORD != 0 {
            return Err(DataError::Invalid {
                path: file.clone(),
                reason: format!(
                    "{} bytes is not a whole number of {RECORD}-byte CIFAR-10 records (truncated?)",
                    bytes.len()
                ),
            });
        }
        for (i, record) in bytes.chunks_exact(RECORD).enumerate() {
            if record[0] > 9 {
                return Err(DataError::Invalid {
                    path: file.clone(),
                    reason: format!(
                        "record {i} has label {} (CIFAR-10 labels are 0-9)",
                        record[0]
                    ),
                });
            }
            dataset.labels.push(record[0] as usize);
            dataset.images.push(Image {
                width: 32,
                height: 32,
                data: record[1..].iter().map(|&b| b as f32 / 255.0).collect(),
            });
        }
    }
    Ok(dataset)
}

fn decode(path: &Path) -> Result<RgbImage, DataError> {
    let bytes = std::fs::read(path).map_err(io_error(path))?;
    let corrupt = |reason: String| DataError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    if bytes.is_empty() {
        return Err(corrupt("empty file".into()));
    }
    let decoded = image::load_from_memory(&bytes).map_err(|e| corrupt(e.to_string()))?;
    if decoded.width() == 0 || decoded.height() == 0 {
        return Err(corrupt("zero-size image".into()));
    }
    Ok(decoded.to_rgb8())
}

/// Decodes `files` on all cores, keeping their order.
fn decode_all(
    files: Vec<(PathBuf, usize)>,
    class_names: Vec<String>,
    skip_corrupt: bool,
) -> Result<ImageDataset, DataError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = files.len().div_ceil(threads).max(1);
    let decoded: Vec<Result<RgbImage, DataError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || part.iter().map(|(p, _)| decode(p)).collect::<Vec<_>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("decoder thread"))
            .collect()
    });
    let mut dataset = ImageDataset {
        class_names,
        ..Default::default()
    };
    for ((path, label), result) in files.into_iter().zip(decoded) {
        match result {
            Ok(rgb) => {
                dataset.images.push(Image::from_rgb(&rgb));
                dataset.labels.push(label);
            }
            Err(DataError::Corrupt { .. }) if skip_corrupt => dataset.skipped.push(path),
            Err(err) => return Err(err),
        }
    }
    if dataset.is_empty() {
        return Err(DataError::Invalid {
            path: dataset.skipped.first().cloned().unwrap_or_default(),
            reason: "every image was unreadable".into(),
        });
    }
    Ok(dataset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("simclr-data-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn cifar_binary_records_and_truncation() {
        let dir = scratch("cifar");
        let mut bytes = Vec::new();
        for label in [3u8, 7] {
            bytes.push(label);
            bytes.extend((0..3072).map(|i| (i % 256) as u8));
        }
        let file = dir.join("data_batch_1.bin");
        std::fs::write(&file, &bytes).unwrap();
        let splits = load_splits(&dir, false).unwrap();
        assert_eq!(splits.train.labels, vec![3, 7]);
        assert!(splits.test.is_none());
        let image = &splits.train.images[1];
        // Planar RGB: the first byte of the green plane is byte 1024 of the record's pixels.
        assert_eq!((image.width, image.height), (32, 32));
        assert_eq!(image.get(1, 0, 0), (1024 % 256) as f32 / 255.0);

        std::fs::write(&file, &bytes[..5000]).unwrap();
        let err = load_splits(&dir, false).unwrap_err().to_string();
        assert!(
            err.contains("data_batch_1.bin") && err.contains("truncated"),
            "{err}"
        );
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn csv_rows_are_checked_with_line_numbers() {
        let dir = scratch("csv");
        image::RgbImage::from_pixel(4, 4, image::Rgb([10, 20, 30]))
            .save(dir.join("a.png"))
            .unwrap();
        let csv = dir.join("labels.csv");
        std::fs::write(&csv, "path,label,split\na.png,0,train\na.png,1,test\n").unwrap();
        let splits = load_splits(&dir, false).unwrap();
        assert_eq!(
            (splits.train.len(), splits.test.as_ref().unwrap().len()),
            (1, 1)
        );

        std::fs::write(&csv, "path,label,split\na.png,0,train\na.png,x,train\n").unwrap();
        let err = load_csv(&csv, Some("train"), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("labels.csv:3") && err.contains("`x`"), "{err}");
        std::fs::write(&csv, "path,label\na.png\n").unwrap();
        let err = load_csv(&csv, None, false).unwrap_err().to_string();
        assert!(
            err.contains("labels.csv:2") && err.contains("expected 2 fields"),
            "{err}"
        );
        std::fs::write(&csv, "file,class\n").unwrap();
        assert!(load_csv(&csv, None, false)
            .unwrap_err()
            .to_string()
            .contains("header"));

        // A spreadsheet's byte-order mark and quoted fields are read.
        image::RgbImage::from_pixel(4, 4, image::Rgb([1, 2, 3]))
            .save(dir.join("b, c.png"))
            .unwrap();
        std::fs::write(&csv, "\u{feff}path,label\na.png,0\n\"b, c.png\",1\n").unwrap();
        assert_eq!(load_csv(&csv, None, false).unwrap().labels, vec![0, 1]);
        // Labels are class indices 0..K-1: a gap or a stray huge label is named with its line.
        std::fs::write(&csv, "path,label\na.png,0\na.png,18446744073709551615\n").unwrap();
        let err = load_csv(&csv, None, false).unwrap_err().to_string();
        assert!(
            err.contains("labels.csv:3") && err.contains("no row has label 1"),
            "{err}"
        );
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn empty_and_zero_size_images_are_named() {
        let dir = scratch("empty");
        std::fs::create_dir_all(dir.join("cls")).unwrap();
        std::fs::write(dir.join("cls/empty.png"), b"").unwrap();
        let err = load_folder(&dir, false).unwrap_err().to_string();
        assert!(
            err.contains("empty.png") && err.contains("empty file"),
            "{err}"
        );
        let err = load_folder(&dir, true).unwrap_err().to_string();
        assert!(err.contains("every image was unreadable"), "{err}");
        std::fs::remove_dir_all(dir).ok();
    }
}
