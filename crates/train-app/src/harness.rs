//! The training harness every method plugs into: burn-train's `SupervisedTraining` with file
//! checkpoints in the run's folder, resume, and the TUI or plain renderer.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{bail, Context, Result};
use burn::record::CompactRecorder;
use burn::train::{LearningComponentsTypes, SupervisedTraining};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config_file;
use crate::renderer::PlainRenderer;

/// Options shared by every training job.
pub struct HarnessOptions {
    /// Epochs to train (in total, counting resumed ones).
    pub epochs: usize,
    /// Epoch of the checkpoint to resume from.
    pub resume_from: Option<usize>,
    /// Print a plain metrics line every this many iterations when stdout is not a terminal.
    pub log_every: usize,
}

/// Adds checkpoints, epochs, resume and the renderer to a burn-train run.
pub fn configure<LC: LearningComponentsTypes>(
    training: SupervisedTraining<LC>,
    options: &HarnessOptions,
) -> SupervisedTraining<LC> {
    let mut training = training
        .with_file_checkpointer(CompactRecorder::new())
        .num_epochs(options.epochs)
        .summary();
    if !std::io::stdout().is_terminal() {
        training = training.renderer(PlainRenderer::new(options.log_every));
    }
    if let Some(epoch) = options.resume_from {
        training = training.checkpoint(epoch);
    }
    training
}

/// The newest complete checkpoint epoch in `run_dir/checkpoint` (model, optimizer and
/// scheduler files all present), if any.
pub fn latest_checkpoint(run_dir: &Path) -> Option<usize> {
    let dir = run_dir.join("checkpoint");
    let epochs = std::fs::read_dir(&dir).ok()?.filter_map(|entry| {
        let name = entry.ok()?.file_name().into_string().ok()?;
        name.strip_prefix("model-")?
            .strip_suffix(".mpk")?
            .parse::<usize>()
            .ok()
    });
    epochs
        .filter(|epoch| {
            ["optim", "scheduler"]
                .iter()
                .all(|kind| dir.join(format!("{kind}-{epoch}.mpk")).is_file())
        })
        .max()
}

/// With `--resume`, the epoch of the newest complete checkpoint in `run_dir` — refused when
/// there is none, or when `config` differs from the run's `config.json` (naming the first
/// differing key), since that would silently change the results. `None` without `--resume`.
pub fn resume_epoch<C: Serialize + DeserializeOwned>(
    resume: bool,
    run_dir: &Path,
    config: &C,
    defaults: &C,
) -> Result<Option<usize>> {
    if !resume {
        return Ok(None);
    }
    let epoch = latest_checkpoint(run_dir).with_context(|| {
        format!(
            "--resume: no complete checkpoint in {}/checkpoint",
            run_dir.display()
        )
    })?;
    let saved = config_file::load(&run_dir.join("config.json"), defaults)?;
    if let Some(key) = config_file::first_difference(&saved, config)? {
        bail!(
            "--resume: `{key}` differs from the run in {} (see its config.json); resuming with another value would silently change the results",
            run_dir.display()
        );
    }
    Ok(Some(epoch))
}

/// A metric's value for each epoch `1..=epochs` of `split` (`"train"` or `"valid"`), read back
/// from burn-train's logs in the run's folder: the entry-weighted mean of the epoch's log, or
/// `None` for an epoch without entries (e.g. interrupted).
pub fn epoch_values(run_dir: &Path, split: &str, metric: &str, epochs: usize) -> Vec<Option<f64>> {
    let file_name = format!("{}.log", metric.replace(' ', "_"));
    (1..=epochs)
        .map(|epoch| {
            let path = run_dir
                .join(split)
                .join(format!("epoch-{epoch}"))
                .join(&file_name);
            let text = std::fs::read_to_string(path).ok()?;
            let (sum, count) = text
                .lines()
                .filter_map(|line| {
                    let (value, count) = line.split_once(',').unwrap_or((line, "1"));
                    Some((value.parse::<f64>().ok()?, count.parse::<usize>().ok()?))
                })
                .fold((0.0, 0), |(s, n), (v, c)| (s + v * c as f64, n + c));
            (count > 0).then(|| sum / count as f64)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_values_are_entry_weighted_means_of_the_logs() {
        let dir = std::env::temp_dir().join(format!("epoch-values-{}", std::process::id()));
        for (epoch, log) in [(1, "0,0\n0,0\n9.5,1\n"), (2, "2,3\n4,1\n")] {
            let folder = dir.join("valid").join(format!("epoch-{epoch}"));
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::write(folder.join("kNN_Top-1.log"), log).unwrap();
        }
        let values = epoch_values(&dir, "valid", "kNN Top-1", 3);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(values, vec![Some(9.5), Some(2.5), None]);
    }
}
