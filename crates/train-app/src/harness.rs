//! The run services of the pipeline around burn-train's `SupervisedTraining`: atomic
//! full-precision checkpoints in the run's folder, resume, clean stops on SIGINT/SIGTERM, and
//! the TUI or plain renderer.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::train::logger::{FileMetricLogger, MetricLogger};
use burn::train::metric::store::{EpochSummary, MetricsUpdate, Split};
use burn::train::metric::{MetricDefinition, NumericEntry};
use burn::train::{Interrupter, LearningComponentsTypes, SupervisedTraining};
use contrastive_core::run::train::{FiniteGuard, NonFinitePolicy};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config_file;
use crate::curves::RedrawEachEpoch;
use crate::renderer::PlainRenderer;
use contrastive_core::run::atomic_save::run_recorder;

/// What a step with a non-finite loss or gradient does (`--on-non-finite`).
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default)]
pub enum OnNonFinite {
    /// Stop the run, naming the step; the last good checkpoint is kept.
    #[default]
    Stop,
    /// Drop the step's update, count it in `summary.json`, and go on.
    Skip,
}

impl From<OnNonFinite> for NonFinitePolicy {
    fn from(value: OnNonFinite) -> Self {
        match value {
            OnNonFinite::Stop => NonFinitePolicy::Stop,
            OnNonFinite::Skip => NonFinitePolicy::Skip,
        }
    }
}

/// Options shared by every training job.
pub struct HarnessOptions {
    /// Epochs to train (in total, counting resumed ones).
    pub epochs: usize,
    /// Epoch of the checkpoint to resume from.
    pub resume_from: Option<usize>,
    /// Training steps in one epoch (to name the epoch and batch of a failing step).
    pub steps_per_epoch: usize,
    pub on_non_finite: OnNonFinite,
    /// Print a plain metrics line every this many iterations when stdout is not a terminal.
    pub log_every: usize,
}

/// Adds checkpoints, epochs, resume and the renderer to a burn-train run, and connects
/// SIGINT/SIGTERM and the non-finite step check to its interrupter (see [`RunGuards`]).
pub fn configure<LC: LearningComponentsTypes>(
    training: SupervisedTraining<LC>,
    run_dir: &Path,
    options: &HarnessOptions,
) -> Result<(SupervisedTraining<LC>, RunGuards)> {
    let logs = RedrawEachEpoch::new(
        EpochFiledLogs::new(FileMetricLogger::new(run_dir), options.resume_from),
        run_dir,
    );
    let mut training = training
        .with_metric_logger(logs)
        .with_file_checkpointer(run_recorder())
        .num_epochs(options.epochs)
        .summary();
    if !std::io::stdout().is_terminal() {
        training = training.renderer(PlainRenderer::new(options.log_every));
    }
    if let Some(epoch) = options.resume_from {
        training = training.checkpoint(epoch);
    }
    let signals = StopSignals::install(training.interrupter())?;
    let steps_done = options.resume_from.unwrap_or(0) * options.steps_per_epoch;
    let finite = FiniteGuard::new(
        options.on_non_finite.into(),
        training.interrupter(),
        steps_done,
    );
    let guards = RunGuards {
        signals,
        finite,
        steps_per_epoch: options.steps_per_epoch.max(1),
    };
    Ok((training, guards))
}

/// What may stop a run early: a signal, or a non-finite step.
pub struct RunGuards {
    signals: StopSignals,
    /// The step check the pipeline gives its `TrainingModel`.
    pub finite: Arc<FiniteGuard>,
    steps_per_epoch: usize,
}

impl RunGuards {
    /// After training returned: fails when a signal or a non-finite step stopped it (see
    /// [`StopSignals::check`]); otherwise the number of non-finite steps skipped.
    pub fn check<B: Backend, M: Module<B>>(&self, model: &M, run_dir: &Path) -> Result<usize> {
        let report = self.finite.report();
        if let (NonFinitePolicy::Stop, Some((step, problem))) =
            (self.finite.policy(), &report.first)
        {
            let (epoch, batch) = (
                (step - 1) / self.steps_per_epoch + 1,
                (step - 1) % self.steps_per_epoch + 1,
            );
            let checkpoint = match latest_checkpoint(run_dir) {
                Some(epoch) => format!("the last good checkpoint is epoch {epoch} in {}/checkpoint (untouched; `--resume` continues from it)", run_dir.display()),
                None => "no epoch had completed, so there is no checkpoint".into(),
            };
            bail!(
                "training stopped at step {step} (epoch {epoch}, batch {batch}): {problem}; the step's update was not applied; {checkpoint}. Lower the learning rate, check the data, or pass `--on-non-finite skip` to drop such steps"
            );
        }
        self.signals.check(model, run_dir)?;
        Ok(report.skipped)
    }
}

/// SIGINT/SIGTERM during training: the first asks burn-train to stop after the current step
/// (it keeps its last complete epoch checkpoint); a second exits at once.
pub struct StopSignals {
    received: std::sync::Arc<std::sync::Mutex<Option<&'static str>>>,
    #[cfg(unix)]
    handle: signal_hook::iterator::Handle,
}

impl StopSignals {
    #[cfg(unix)]
    fn install(interrupter: Interrupter) -> Result<Self> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
            .context("cannot install the SIGINT/SIGTERM handler")?;
        let handle = signals.handle();
        let received = std::sync::Arc::new(std::sync::Mutex::new(None));
        let seen = received.clone();
        std::thread::spawn(move || {
            for signal in signals.forever() {
                let name = if signal == SIGINT {
                    "SIGINT"
                } else {
                    "SIGTERM"
                };
                let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
                if seen.is_some() {
                    eprintln!("{name} again: exiting without waiting for the step");
                    std::process::exit(128 + signal);
                }
                *seen = Some(name);
                eprintln!("{name}: stopping after the current step (again to exit at once)");
                interrupter.stop(Some(name));
            }
        });
        Ok(Self { received, handle })
    }

    #[cfg(not(unix))]
    fn install(_interrupter: Interrupter) -> Result<Self> {
        Ok(Self {
            received: Default::default(),
        })
    }

    /// The signal that stopped training, if one did.
    fn received(&self) -> Option<&'static str> {
        *self.received.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// After training returned: when a signal stopped it, saves the weights reached to
    /// `run_dir/interrupted/model.mpk` and fails, saying how to continue. Nothing written
    /// before (checkpoints, config) is touched.
    fn check<B: Backend, M: Module<B>>(&self, model: &M, run_dir: &Path) -> Result<()> {
        let Some(signal) = self.received() else {
            return Ok(());
        };
        let weights = run_dir.join("interrupted").join("model");
        model
            .clone()
            .save_file(&weights, &run_recorder())
            .with_context(|| format!("{signal}: cannot save the weights reached"))?;
        let resume = match latest_checkpoint(run_dir) {
            Some(epoch) => {
                format!("`--resume` continues from the last complete checkpoint (epoch {epoch})")
            }
            None => "no epoch had completed, so there is no checkpoint to resume from".into(),
        };
        Err(Stopped {
            signal,
            message: format!(
                "training stopped by {signal}; the weights reached are in {}.mpk; {resume}",
                weights.display()
            ),
        }
        .into())
    }
}

impl Drop for StopSignals {
    fn drop(&mut self) {
        #[cfg(unix)]
        self.handle.close();
    }
}

/// A run stopped on request: `main` exits with the shell's code for the signal.
#[derive(Debug)]
pub struct Stopped {
    pub signal: &'static str,
    message: String,
}

impl Stopped {
    /// 130 for SIGINT, 143 for SIGTERM.
    pub fn exit_code(&self) -> i32 {
        if self.signal == "SIGINT" {
            130
        } else {
            143
        }
    }
}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Stopped {}

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
/// there is none, when `config` differs from the run's `config.json` (naming the first
/// differing key), or when `inputs` (the data arguments, see [`Inputs`]) differ from the run's
/// `inputs.json`, since either would silently change the results. `None` without `--resume`.
pub fn resume_epoch<C: Serialize + DeserializeOwned>(
    resume: bool,
    run_dir: &Path,
    config: &C,
    defaults: &C,
    inputs: &Inputs,
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
    inputs.check_against(&run_dir.join(Inputs::FILE))?;
    Ok(Some(epoch))
}

/// The command-line arguments that choose a run's data (`--data`, `--text-corpus`, …), kept
/// in the run's `inputs.json` so that `--resume` can refuse a different training set: unlike
/// config keys, they are not in `config.json`. Paths are recorded absolute, so a run can be
/// resumed from another working folder.
#[derive(Debug, Default, Serialize)]
pub struct Inputs(serde_json::Map<String, serde_json::Value>);

impl Inputs {
    /// The file in the run's folder.
    pub const FILE: &str = "inputs.json";

    /// Adds `flag` (e.g. `"--data"`) with a plain value.
    pub fn with(mut self, flag: &str, value: impl Serialize) -> Self {
        let value = serde_json::to_value(value).expect("argument values serialize");
        self.0.insert(flag.into(), value);
        self
    }

    /// Adds `flag` with a path (or a name such as `synthetic` that is not a file), absolute
    /// when it exists.
    pub fn with_path(self, flag: &str, path: Option<&Path>) -> Self {
        let value = path.map(|path| {
            std::fs::canonicalize(path)
                .unwrap_or_else(|_| path.to_path_buf())
                .display()
                .to_string()
        });
        self.with(flag, value)
    }

    /// The value `flag` had when the run in `run_dir` started, when its `inputs.json` records
    /// one: commands on a finished run use it as their default.
    pub fn recorded(run_dir: &Path, flag: &str) -> Result<Option<serde_json::Value>> {
        let saved = Self::read(&run_dir.join(Self::FILE))?;
        Ok(saved
            .and_then(|mut saved| saved.remove(flag))
            .filter(|value| !value.is_null()))
    }

    /// A run's `inputs.json`; `None` for runs from before it existed.
    fn read(path: &Path) -> Result<Option<serde_json::Map<String, serde_json::Value>>> {
        let Ok(text) = std::fs::read_to_string(path) else {
            return Ok(None);
        };
        let saved = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a JSON object", path.display()))?;
        Ok(Some(saved))
    }

    /// Fails, naming the first differing flag, when `recorded` (a run's `inputs.json`) holds
    /// other values. Runs from before `inputs.json` existed are not checked.
    fn check_against(&self, recorded: &Path) -> Result<()> {
        let Some(saved) = Self::read(recorded)? else {
            return Ok(());
        };
        if let Some(flag) = config_file::first_difference(&saved, &self.0)? {
            let null = serde_json::Value::Null;
            bail!(
                "--resume: `{flag}` was {} when the run in {} started and is {} now (see its {}); resuming on other data would silently change the results",
                saved.get(&flag).unwrap_or(&null),
                recorded.parent().unwrap_or(Path::new(".")).display(),
                self.0.get(&flag).unwrap_or(&null),
                Self::FILE
            );
        }
        Ok(())
    }
}

/// burn-train's metric logs, each entry filed under the epoch being trained.
///
/// burn-train 0.21's event store numbers the epochs it logs from 1 in every process and only
/// learns the true number when an epoch ends, so a resumed run's first epoch would be filed
/// under `epoch-1`, over the first epoch's logs, and its own folder left empty. Until a split's
/// first epoch ends, this files its entries under `first_epoch` (the epoch after the
/// checkpoint); from then on the store's numbers are right.
pub struct EpochFiledLogs<L> {
    inner: L,
    first_epoch: usize,
    ended: Vec<Split>,
}

impl<L> EpochFiledLogs<L> {
    pub fn new(inner: L, resume_from: Option<usize>) -> Self {
        Self {
            inner,
            first_epoch: resume_from.unwrap_or(0) + 1,
            ended: Vec::new(),
        }
    }
}

impl<L: MetricLogger> MetricLogger for EpochFiledLogs<L> {
    fn log(&mut self, update: MetricsUpdate, epoch: usize, split: &Split) {
        let epoch = if self.ended.contains(split) {
            epoch
        } else {
            self.first_epoch
        };
        self.inner.log(update, epoch, split);
    }

    fn read_numeric(
        &mut self,
        name: &str,
        epoch: usize,
        split: &Split,
    ) -> Result<Vec<NumericEntry>, String> {
        self.inner.read_numeric(name, epoch, split)
    }

    fn log_metric_definition(&mut self, definition: MetricDefinition) {
        self.inner.log_metric_definition(definition);
    }

    fn log_epoch_summary(&mut self, summary: EpochSummary) {
        if !self.ended.contains(&summary.split) {
            self.ended.push(summary.split.clone());
        }
        self.inner.log_epoch_summary(summary);
    }
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
