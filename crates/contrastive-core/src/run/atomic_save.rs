//! Saves that a kill cannot tear: burn's file recorders write in place, so a process killed
//! mid-write leaves a truncated `model-N.mpk` that the next `--resume` would load.
//! [`AtomicRecorder`] and [`write_atomically`] write beside the target, flush to disk, then
//! rename over it — an observer (or a restart) sees the previous file or the new one, never a
//! mix.

use std::fs::File;
use std::path::{Path, PathBuf};

use burn::record::{
    FileRecorder, FullPrecisionSettings, NamedMpkFileRecorder, Recorder, RecorderError,
};
use burn::tensor::backend::Backend;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// How runs save checkpoints and models: full precision (a half-precision copy would round
/// away fine-tuning updates and make a resumed run differ from an uninterrupted one), atomic.
pub type RunRecorder = AtomicRecorder<NamedMpkFileRecorder<FullPrecisionSettings>>;

/// The recorder of every run's checkpoints and models.
pub fn run_recorder() -> RunRecorder {
    AtomicRecorder::new(NamedMpkFileRecorder::new())
}

/// Wraps a file recorder `R` so that every save is atomic (temporary file, fsync, rename).
#[derive(Debug, Default, Clone)]
pub struct AtomicRecorder<R>(R);

impl<R> AtomicRecorder<R> {
    pub fn new(recorder: R) -> Self {
        Self(recorder)
    }
}

/// Where a save to `target` is staged: a hidden name in the same folder (same file system, so
/// the rename is atomic), without the `model-N` shape that resume looks for.
fn staging_path(target: &Path) -> PathBuf {
    let stem = target.file_stem().unwrap_or_default().to_string_lossy();
    target.with_file_name(format!(".partial-{stem}"))
}

fn io_error(action: &str, path: &Path, error: std::io::Error) -> RecorderError {
    RecorderError::Unknown(format!("cannot {action} {}: {error}", path.display()))
}

/// Flushes the complete file `staged` to disk and renames it over `target`, then persists the
/// rename itself (best effort: not every platform can sync a folder).
fn commit(staged: &Path, target: &Path) -> Result<(), RecorderError> {
    File::open(staged)
        .and_then(|f| f.sync_all())
        .map_err(|e| io_error("flush", staged, e))?;
    std::fs::rename(staged, target).map_err(|e| io_error("rename into", target, e))?;
    if let Some(folder) = target.parent() {
        let _ = File::open(folder).and_then(|f| f.sync_all());
    }
    Ok(())
}

/// Writes `contents` to `target` as atomically as [`AtomicRecorder`] saves a model: for the
/// small files (scores, summaries) that must agree with a model saved beside them.
pub fn write_atomically(target: &Path, contents: &[u8]) -> Result<(), RecorderError> {
    let name = target.file_name().unwrap_or_default().to_string_lossy();
    let staging = target.with_file_name(format!(".partial-{name}"));
    std::fs::write(&staging, contents).map_err(|e| io_error("write", &staging, e))?;
    commit(&staging, target)
}

impl<B: Backend, R: FileRecorder<B>> Recorder<B> for AtomicRecorder<R> {
    type Settings = R::Settings;
    type RecordArgs = PathBuf;
    type RecordOutput = ();
    type LoadArgs = PathBuf;

    fn save_item<I: Serialize>(&self, item: I, file: PathBuf) -> Result<(), RecorderError> {
        let extension = <R as FileRecorder<B>>::file_extension();
        let mut target = file;
        target.set_extension(extension);
        let staging = staging_path(&target);
        self.0.save_item(item, staging.clone())?;
        let mut staged = staging;
        staged.set_extension(extension);
        commit(&staged, &target)
    }

    fn load_item<I: DeserializeOwned>(&self, file: &mut PathBuf) -> Result<I, RecorderError> {
        self.0.load_item(file)
    }
}

impl<B: Backend, R: FileRecorder<B>> FileRecorder<B> for AtomicRecorder<R> {
    fn file_extension() -> &'static str {
        R::file_extension()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_backend::TestBackend;
    use burn::module::Module;
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::Tolerance;

    #[test]
    fn saves_replace_the_file_whole_and_leave_no_staging_file() {
        let dir = std::env::temp_dir().join(format!("atomic-recorder-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let device = Default::default();
        let recorder = run_recorder();
        let first: Linear<TestBackend> = LinearConfig::new(3, 2).init(&device);
        let second: Linear<TestBackend> = LinearConfig::new(3, 2).init(&device);
        // Parameters initialise lazily: read the values before saving so they are the ones saved.
        let expected = second.weight.val().into_data();
        first.save_file(dir.join("model-1"), &recorder).unwrap();
        second.save_file(dir.join("model-1"), &recorder).unwrap();
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec!["model-1.mpk".to_string()]);
        let loaded = LinearConfig::new(3, 2)
            .init::<TestBackend>(&device)
            .load_file(dir.join("model-1"), &recorder, &device)
            .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        // Stored as f32 (full precision), read back into this crate's f64 test backend.
        loaded
            .weight
            .val()
            .into_data()
            .assert_approx_eq::<f64>(&expected, Tolerance::absolute(1e-6));
    }

    #[test]
    fn small_files_are_replaced_whole() {
        let dir = std::env::temp_dir().join(format!("atomic-write-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("best.json");
        write_atomically(&target, b"{\"step\": 1}").unwrap();
        write_atomically(&target, b"{\"step\": 2}").unwrap();
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        let contents = std::fs::read_to_string(&target).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(names, vec!["best.json".to_string()]);
        assert_eq!(contents, "{\"step\": 2}");
    }
}
