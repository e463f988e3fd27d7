//! The training harness every method plugs into: burn-train's `SupervisedTraining` with file
//! checkpoints in the run's folder, resume, and the TUI or plain renderer.

use std::io::IsTerminal;
use std::path::Path;

use burn::record::CompactRecorder;
use burn::train::{LearningComponentsTypes, SupervisedTraining};

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
