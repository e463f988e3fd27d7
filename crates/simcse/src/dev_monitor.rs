//! STS-B dev evaluated every K training steps, keeping the best model on disk — the reference
//! code's checkpoint selection (its `eval_steps` and `load_best_model_at_end`).

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use burn::module::Module;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use burn::tensor::backend::Backend;
use contrastive_core::text::TextTokenizer;

use crate::data::sts::StsPair;
use crate::sentence_model::SimCse;
use crate::sts_eval::sts_spearman;

/// Counts training steps and, every `every`, scores the model on the dev pairs.
pub struct DevMonitor {
    pairs: Vec<StsPair>,
    tokenizer: TextTokenizer,
    batch_size: usize,
    every: usize,
    best_model: PathBuf,
    steps: AtomicUsize,
    best: Mutex<Option<(usize, f64)>>,
}

impl std::fmt::Debug for DevMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevMonitor")
            .field("pairs", &self.pairs.len())
            .field("every", &self.every)
            .field("best", &self.best())
            .finish()
    }
}

impl DevMonitor {
    /// Scores `pairs` every `every` steps; the best model is written to `best_model` (`.mpk`
    /// added), through a temporary file so a kill never leaves a torn one.
    pub fn new(
        pairs: Vec<StsPair>,
        tokenizer: TextTokenizer,
        batch_size: usize,
        every: usize,
        best_model: PathBuf,
    ) -> Arc<Self> {
        Arc::new(Self {
            pairs,
            tokenizer,
            batch_size,
            every: every.max(1),
            best_model,
            steps: AtomicUsize::new(0),
            best: Mutex::new(None),
        })
    }

    /// The best (step, Spearman ρ) so far.
    pub fn best(&self) -> Option<(usize, f64)> {
        *self.best.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where the best model is kept.
    pub fn best_model_path(&self) -> PathBuf {
        self.best_model.with_extension("mpk")
    }

    /// Counts a step; every `every` steps returns the dev Spearman ρ of `model` (an inference
    /// copy: no dropout) and saves it when it is the best so far.
    pub fn after_step<B: Backend>(&self, model: &SimCse<B>, device: &B::Device) -> Option<f64> {
        let step = self.steps.fetch_add(1, Ordering::Relaxed) + 1;
        if !step.is_multiple_of(self.every) {
            return None;
        }
        let rho = match sts_spearman(model, &self.tokenizer, &self.pairs, self.batch_size, device) {
            Ok(rho) => rho,
            Err(e) => {
                eprintln!("warning: STS-B dev evaluation at step {step} failed: {e}");
                return Some(f64::NAN);
            }
        };
        let mut best = self.best.lock().unwrap_or_else(|e| e.into_inner());
        if best.is_none_or(|(_, b)| rho > b) {
            // The recorder sets the extension itself: the temporary file needs its own stem.
            let mut stem = self
                .best_model
                .file_name()
                .unwrap_or_default()
                .to_os_string();
            stem.push("-partial");
            let temporary = self.best_model.with_file_name(stem);
            let saved = model
                .clone()
                .save_file(
                    &temporary,
                    &NamedMpkFileRecorder::<FullPrecisionSettings>::new(),
                )
                .map_err(|e| e.to_string())
                .and_then(|()| {
                    std::fs::rename(temporary.with_extension("mpk"), self.best_model_path())
                        .map_err(|e| e.to_string())
                });
            match saved {
                Ok(()) => *best = Some((step, rho)),
                Err(e) => eprintln!(
                    "warning: cannot save the best model to {}: {e}",
                    self.best_model_path().display()
                ),
            }
        }
        Some(rho)
    }
}
