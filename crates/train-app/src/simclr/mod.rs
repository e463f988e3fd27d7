//! `train-app simclr train | eval | augment | ablate`.

mod commands;
mod recipe;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use simclr::data::dataset::{load_splits, DataSplits, ImageDataset};
use simclr::data::synthetic;

use crate::harness::Inputs;
use crate::pipeline::{FinishedRun, TrainFlags};

/// SimCLR jobs.
#[derive(Subcommand)]
pub enum SimclrJob {
    /// Pre-train an encoder with NT-Xent, then evaluate it (linear probe and k-NN).
    Train(TrainArgs),
    /// Print the configuration `train` would use with the same options, as TOML that
    /// `--config` reads back.
    Config(TrainArgs),
    /// Linear-probe and k-NN top-1 of a trained (or randomly initialised) encoder.
    Eval(EvalArgs),
    /// Write a grid of augmented views of one image, to see what the model sees.
    Augment(AugmentArgs),
    /// The paper's composition ablation: pre-train with each single transform and each pair.
    Ablate(AblateArgs),
}

/// Where the images come from.
#[derive(Args, Clone)]
pub struct DataArgs {
    /// A folder (class sub-folders, `labels.csv` with `path,label[,split]`, or CIFAR-10 binary
    /// batches), or `synthetic` for the embedded generated dataset.
    /// [default: synthetic; for `eval`, the run's]
    #[arg(long)]
    pub data: Option<String>,
    /// Skip unreadable images (counted in the summary) instead of stopping at the first.
    #[arg(long)]
    pub skip_corrupt: bool,
    /// Images in the synthetic train split (the test split has a quarter as many).
    /// [default: 1000; for `eval`, the run's]
    #[arg(long)]
    pub synthetic_images: Option<usize>,
}

/// Options of `simclr train`.
#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub flags: TrainFlags,
    #[command(flatten)]
    pub data: DataArgs,
    /// Overrides `grad_cache_chunks`: encode each batch in K chunks (GradCache), for batches
    /// larger than memory. [default: the config's, 1]
    #[arg(long, value_name = "K")]
    pub grad_cache_chunks: Option<usize>,
    /// Skip the evaluation after training.
    #[arg(long)]
    pub no_eval: bool,
}

/// Options of `simclr eval`.
#[derive(Args)]
pub struct EvalArgs {
    /// A training run's artifacts folder (holding `config.json` and `model.mpk`).
    #[arg(long)]
    pub checkpoint: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// Evaluate the same architecture with random weights instead (the baseline to beat).
    #[arg(long)]
    pub random_init: bool,
    /// Also write a 2-D map of the test representations coloured by class (their first two
    /// principal components), as `.svg` or `.png`.
    #[arg(long, value_name = "FILE")]
    pub map: Option<PathBuf>,
    /// Device index (GPU backends).
    #[arg(long, default_value_t = 0)]
    pub device: usize,
}

/// Options of `simclr augment`.
#[derive(Args)]
pub struct AugmentArgs {
    /// The image to augment.
    #[arg(long)]
    pub image: PathBuf,
    /// The PNG grid to write.
    #[arg(long)]
    pub out: PathBuf,
    /// A config whose `augment` section to use. [default: the paper's augmentation]
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Number of views (the first cell is the un-augmented image).
    #[arg(long, default_value_t = 15)]
    pub views: usize,
    /// Seed of the views.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Options of `simclr ablate`.
#[derive(Args)]
pub struct AblateArgs {
    /// Base config. [default: as for `train`]
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    /// Epochs of each run. [default: the config's]
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Folder holding one sub-folder per run.
    #[arg(long, default_value = "artifacts/simclr-ablation")]
    pub artifacts: PathBuf,
    /// Device index (GPU backends).
    #[arg(long, default_value_t = 0)]
    pub device: usize,
}

/// Runs one SimCLR job.
pub fn run(job: SimclrJob) -> Result<()> {
    match job {
        SimclrJob::Train(args) => recipe::train(args),
        SimclrJob::Config(args) => recipe::print_config(args),
        SimclrJob::Eval(args) => commands::eval(args),
        SimclrJob::Augment(args) => commands::augment(args),
        SimclrJob::Ablate(args) => recipe::ablate(args),
    }
}

/// The images of a job, decoded once and shared by training and evaluation.
pub struct Images {
    pub train: Arc<ImageDataset>,
    /// The test split, or (when the data has none) the first 20 % of the train split.
    pub test: Arc<ImageDataset>,
    /// Unreadable files skipped with `--skip-corrupt`.
    pub skipped: usize,
}

impl DataArgs {
    pub fn data(&self) -> &str {
        self.data.as_deref().unwrap_or("synthetic")
    }

    pub fn synthetic(&self) -> bool {
        self.data() == "synthetic"
    }

    fn synthetic_images(&self) -> usize {
        self.synthetic_images.unwrap_or(1000)
    }

    /// The data arguments, as recorded in a run's `inputs.json`.
    pub fn inputs(&self) -> Inputs {
        Inputs::default()
            .with_path("--data", Some(Path::new(self.data())))
            .with(
                "--synthetic-images",
                self.synthetic().then(|| self.synthetic_images()),
            )
            .with("--skip-corrupt", self.skip_corrupt)
    }

    /// The arguments not given, as the run recorded them.
    pub fn or_recorded<C>(mut self, run: &FinishedRun<C>) -> Result<Self>
    where
        C: serde::Serialize + serde::de::DeserializeOwned,
    {
        if self.data.is_none() {
            self.data = run.recorded_text("--data")?;
        }
        if self.synthetic_images.is_none() {
            self.synthetic_images = run.recorded_count("--synthetic-images")?;
        }
        self.skip_corrupt |= run
            .recorded("--skip-corrupt")?
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        Ok(self)
    }

    /// Decodes the images (or generates the synthetic ones from `seed`).
    pub fn load(&self, seed: u64) -> Result<Images> {
        let splits = if self.synthetic() {
            let count = self.synthetic_images();
            if count < 2 {
                bail!("--synthetic-images {count} is too few: at least 2 are needed");
            }
            DataSplits {
                train: synthetic::generate(count, 32, seed),
                test: Some(synthetic::generate((count / 4).max(2), 32, seed ^ 0x5EED)),
            }
        } else {
            load_splits(Path::new(self.data()), self.skip_corrupt)?
        };
        if splits.train.len() < 2 {
            bail!(
                "{}: {} training image(s); a contrastive loss needs at least 2",
                self.data(),
                splits.train.len()
            );
        }
        let skipped =
            splits.train.skipped.len() + splits.test.as_ref().map_or(0, |t| t.skipped.len());
        let test = splits.test.unwrap_or_else(|| {
            let n = (splits.train.len() / 5).max(2);
            ImageDataset {
                images: splits.train.images[..n].to_vec(),
                labels: splits.train.labels[..n].to_vec(),
                class_names: splits.train.class_names.clone(),
                skipped: Vec::new(),
            }
        });
        Ok(Images {
            train: Arc::new(splits.train),
            test: Arc::new(test),
            skipped,
        })
    }
}
