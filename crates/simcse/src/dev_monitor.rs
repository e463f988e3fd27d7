//! STS-B dev evaluated every K training steps, keeping the best model on disk — the reference
//! code's checkpoint selection (its `eval_steps` and `load_best_model_at_end`). The best step
//! and score are written beside the model, so a resumed run only replaces it with a better one.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use burn::module::{AutodiffModule, Module};
use burn::tensor::backend::{AutodiffBackend, Backend};
use contrastive_core::run::atomic_save::{run_recorder, write_atomically};
use contrastive_core::run::text::TextTokenizer;
use contrastive_core::run::train::StepHook;

use crate::data::sts::StsPair;
use crate::sentence_model::SimCse;
use crate::sts_eval::sts_spearman;

/// Name of the STS-B dev Spearman (×100) the monitor reports on the steps that evaluated it.
pub const DEV_SPEARMAN: &str = "STS-B dev Spearman";

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
    /// added) atomically, so a kill never leaves a torn one.
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

    /// Where the best model's step and dev score are kept: `{"step": s, "spearman": ρ}`.
    pub fn best_score_path(&self) -> PathBuf {
        self.best_model.with_extension("json")
    }

    /// Continues a run resumed after `steps_done` steps: step numbers go on from there, and the
    /// best model saved before (if its score file is there too) stays until one beats it.
    pub fn resume_after(&self, steps_done: usize) -> std::io::Result<()> {
        self.steps.store(steps_done, Ordering::Relaxed);
        let path = self.best_score_path();
        if !(path.is_file() && self.best_model_path().is_file()) {
            return Ok(());
        }
        let invalid = |reason: String| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: {reason}", path.display()),
            )
        };
        let record: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)
            .map_err(|e| invalid(e.to_string()))?;
        let (Some(step), Some(rho)) = (record["step"].as_u64(), record["spearman"].as_f64()) else {
            return Err(invalid(
                "expected {\"step\": integer, \"spearman\": number}".into(),
            ));
        };
        *self.best.lock().unwrap_or_else(|e| e.into_inner()) = Some((step as usize, rho));
        Ok(())
    }

    /// Writes the model and then its score, each atomically and durably (as checkpoints are),
    /// so that after a crash the score file never describes a model that is not on disk.
    fn save_best<B: Backend>(
        &self,
        model: &SimCse<B>,
        step: usize,
        rho: f64,
    ) -> Result<(), String> {
        model
            .clone()
            .save_file(&self.best_model, &run_recorder())
            .map_err(|e| e.to_string())?;
        let score = serde_json::json!({ "step": step, "spearman": rho }).to_string();
        write_atomically(&self.best_score_path(), score.as_bytes()).map_err(|e| e.to_string())
    }

    /// Counts a step: its number when the dev set is due.
    fn count_step(&self) -> Option<usize> {
        let step = self.steps.fetch_add(1, Ordering::Relaxed) + 1;
        step.is_multiple_of(self.every).then_some(step)
    }

    /// Counts a step; every `every` steps returns the dev Spearman ρ of `model` (an inference
    /// copy: no dropout) and saves it when it is the best so far.
    pub fn step_with<B: Backend>(&self, model: &SimCse<B>, device: &B::Device) -> Option<f64> {
        let step = self.count_step()?;
        Some(self.evaluate(step, model, device))
    }

    /// Scores `model` at `step`, saving it when it is the best so far.
    fn evaluate<B: Backend>(&self, step: usize, model: &SimCse<B>, device: &B::Device) -> f64 {
        let rho = match sts_spearman(model, &self.tokenizer, &self.pairs, self.batch_size, device) {
            Ok(rho) => rho,
            Err(e) => {
                eprintln!("warning: STS-B dev evaluation at step {step} failed: {e}");
                return f64::NAN;
            }
        };
        let mut best = self.best.lock().unwrap_or_else(|e| e.into_inner());
        if best.is_none_or(|(_, b)| rho > b) {
            match self.save_best(model, step, rho) {
                Ok(()) => *best = Some((step, rho)),
                Err(e) => eprintln!(
                    "warning: cannot save the best model to {}: {e}",
                    self.best_model_path().display()
                ),
            }
        }
        rho
    }
}

impl<B: AutodiffBackend> StepHook<SimCse<B>> for DevMonitor {
    /// The training model's dev score (×100) on the steps where it is due.
    fn after_step(&self, model: &SimCse<B>) -> Vec<(&'static str, f64)> {
        let Some(step) = self.count_step() else {
            return Vec::new();
        };
        let inference = model.valid();
        let Some(device) = inference.devices().into_iter().next() else {
            return Vec::new();
        };
        vec![(
            DEV_SPEARMAN,
            100.0 * self.evaluate(step, &inference, &device),
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimcseModelConfig;
    use crate::pooling::Pooler;
    use crate::sentence_model::tests::tiny_model;
    use crate::sts_eval::tests::{letter_pairs, letter_tokenizer};
    use burn::backend::NdArray;

    #[test]
    fn a_resumed_monitor_keeps_the_best_model_until_a_better_one_comes() {
        let dir = std::env::temp_dir().join(format!("dev-monitor-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let device = Default::default();
        let model = tiny_model::<NdArray>(SimcseModelConfig::new().with_pooler(Pooler::Avg));
        let monitor =
            || DevMonitor::new(letter_pairs(), letter_tokenizer(), 2, 1, dir.join("best"));

        let first = monitor();
        let rho = first.step_with(&model, &device).unwrap();
        assert_eq!(first.best(), Some((1, rho)));
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        assert_eq!(files, ["best.json", "best.mpk"], "no staging file is left");
        let saved = std::fs::metadata(first.best_model_path())
            .unwrap()
            .modified()
            .unwrap();

        // After a restart at step 5 the same score is no improvement: nothing is overwritten,
        // and the step count goes on from 5.
        let resumed = monitor();
        resumed.resume_after(5).unwrap();
        assert_eq!(resumed.best(), Some((1, rho)));
        assert_eq!(resumed.step_with(&model, &device), Some(rho));
        assert_eq!(resumed.best(), Some((1, rho)));
        let after = std::fs::metadata(resumed.best_model_path())
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(saved, after, "the best model file was not rewritten");

        // A fresh run (nothing resumed) starts with no best and saves at its first evaluation.
        let fresh = monitor();
        fresh.step_with(&model, &device);
        assert_eq!(fresh.best(), Some((1, rho)));

        std::fs::write(fresh.best_score_path(), "{\"step\": \"one\"}").unwrap();
        let message = monitor().resume_after(0).unwrap_err().to_string();
        assert!(message.contains("best.json"), "{message}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
