//! `train-app simclr train | eval | augment | ablate`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use burn::data::dataloader::DataLoaderBuilder;
use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, Optimizer, SgdConfig};
use burn::tensor::backend::Backend;
use burn::tensor::Device;
use burn::train::metric::{LearningRateMetric, Metric};
use burn::train::{Learner, SupervisedTraining};
use clap::{Args, Subcommand};
use contrastive_core::epochs::{EpochDataset, EpochOrder};
use contrastive_core::eval::{KnnConfig, LinearProbeConfig};
use contrastive_core::item_rng::item_rng;
use contrastive_core::optim::{LarsConfig, LrDecay, WarmupScheduleConfig};
use contrastive_core::train::{KnnMonitor, StepMetric};
use serde_json::{json, Value};
use simclr::data::augment::Augmenter;
use simclr::data::batcher::{ViewPairBatcher, ViewPairDataset};
use simclr::data::dataset::{load_splits, DataSplits, ImageDataset};
use simclr::data::image::Image;
use simclr::data::synthetic;
use simclr::eval::{evaluate, EvaluationReport};
use simclr::{OptimizerKind, SimClr, SimclrConfig};

use crate::artifacts::RunDir;
use crate::backend::{self, InferenceBackend, TrainBackend};
use crate::config_file;
use crate::harness::{self, HarnessOptions, Inputs, OnNonFinite};
use contrastive_core::atomic_save::run_recorder;

/// SimCLR jobs.
#[derive(Subcommand)]
pub enum SimclrJob {
    /// Pre-train an encoder with NT-Xent, then evaluate it (linear probe and k-NN).
    Train(TrainArgs),
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
    #[arg(long, default_value = "synthetic")]
    pub data: String,
    /// Skip unreadable images (counted in the summary) instead of stopping at the first.
    #[arg(long)]
    pub skip_corrupt: bool,
    /// Images in the synthetic train split (the test split has a quarter as many).
    #[arg(long, default_value_t = 1000)]
    pub synthetic_images: usize,
}

/// Options of `simclr train`.
#[derive(Args)]
pub struct TrainArgs {
    /// A `SimclrConfig` as TOML or JSON (unknown keys are errors). Without it, the paper's
    /// defaults — or, on the synthetic data, a quick CPU preset.
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    /// Overrides `epochs`.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Overrides `batch_size`.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Overrides `seed`.
    #[arg(long)]
    pub seed: Option<u64>,
    /// The run's folder: config, checkpoints, logs, model, summary.
    #[arg(long, default_value = "artifacts/simclr")]
    pub artifacts: PathBuf,
    /// Continue from the newest complete checkpoint in the artifacts folder.
    #[arg(long)]
    pub resume: bool,
    /// What a step with a non-finite loss or gradient does: stop the run, or skip the step.
    #[arg(long, value_enum, default_value = "stop")]
    pub on_non_finite: OnNonFinite,
    /// Device index (GPU backends).
    #[arg(long, default_value_t = 0)]
    pub device: usize,
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
    /// A config whose `augment` section to use (defaults otherwise).
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
    /// Base config (defaults as for `train`).
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    /// Epochs of each run.
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
        SimclrJob::Train(args) => train_command(args),
        SimclrJob::Eval(args) => eval_command(args),
        SimclrJob::Augment(args) => augment_command(args),
        SimclrJob::Ablate(args) => ablate_command(args),
    }
}

/// The quick CPU preset used on the synthetic data when no config file is given: an
/// eighth-width ResNet-18 that pre-trains in a few minutes on two cores. A few hundred steps
/// are far too few for LARS, whose per-step change is `lr · η` of each weight's norm; Adam at
/// 1e-3 learns in that budget. Crops keep at least 20 % of the image: on 32 px scenes of one
/// shape, smaller crops often hold no shape at all.
fn quick_cpu_preset() -> SimclrConfig {
    let mut config = SimclrConfig::new()
        .with_optimizer(OptimizerKind::Adam)
        .with_base_learning_rate(4e-3);
    config.augment.crop_scale = [0.2, 1.0];
    config.model.encoder.width_multiplier = 0.125;
    config.epochs = 8;
    config.batch_size = 64;
    config.warmup_epochs = 1;
    // The synthetic test split has 250 images: 200 voters would be most of it.
    config.knn_monitor_k = 20;
    config
}

fn resolve_config(path: Option<&Path>, synthetic_data: bool) -> Result<SimclrConfig> {
    Ok(match path {
        Some(path) => config_file::load(path, &SimclrConfig::new())?,
        None if synthetic_data => quick_cpu_preset(),
        None => SimclrConfig::new(),
    })
}

/// The images of a job, decoded once and shared by training and evaluation.
struct Images {
    train: Arc<ImageDataset>,
    /// The test split, or (when the data has none) the first 20 % of the train split.
    test: Arc<ImageDataset>,
    /// Unreadable files skipped with `--skip-corrupt`.
    skipped: usize,
}

fn load_data(args: &DataArgs, seed: u64) -> Result<Images> {
    let splits = if args.data == "synthetic" {
        if args.synthetic_images < 2 {
            bail!(
                "--synthetic-images {} is too few: at least 2 are needed",
                args.synthetic_images
            );
        }
        DataSplits {
            train: synthetic::generate(args.synthetic_images, 32, seed),
            test: Some(synthetic::generate(
                (args.synthetic_images / 4).max(2),
                32,
                seed ^ 0x5EED,
            )),
        }
    } else {
        load_splits(Path::new(&args.data), args.skip_corrupt)?
    };
    if splits.train.len() < 2 {
        bail!(
            "{}: {} training image(s); a contrastive loss needs at least 2",
            args.data,
            splits.train.len()
        );
    }
    let skipped = splits.train.skipped.len() + splits.test.as_ref().map_or(0, |t| t.skipped.len());
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

/// Where a pre-training starts and what it does on a non-finite step.
#[derive(Clone, Copy)]
struct RunControl {
    resume_from: Option<usize>,
    on_non_finite: OnNonFinite,
}

/// What a finished pre-training returns.
struct TrainOutcome {
    model: SimClr<InferenceBackend>,
    seconds: f64,
    steps_per_epoch: usize,
    non_finite_steps_skipped: usize,
}

/// Pre-trains with the configured optimizer; the generic part is [`fit`].
fn pretrain(
    config: &SimclrConfig,
    images: &Images,
    run: &RunDir,
    control: RunControl,
    device: &Device<InferenceBackend>,
) -> Result<TrainOutcome> {
    let wd = config.weight_decay;
    match config.optimizer {
        OptimizerKind::Lars => {
            let optim = LarsConfig::new()
                .with_momentum(config.momentum)
                .with_weight_decay(wd)
                .init::<TrainBackend, SimClr<TrainBackend>>()?;
            fit(config, images, run, control, device, optim)
        }
        OptimizerKind::Sgd => {
            let optim = SgdConfig::new()
                .with_momentum(Some(
                    MomentumConfig::new()
                        .with_momentum(config.momentum)
                        .with_dampening(0.0),
                ))
                .with_weight_decay(Some(WeightDecayConfig::new(wd as f32)))
                .init();
            fit(config, images, run, control, device, optim)
        }
        OptimizerKind::Adam => {
            let optim = AdamConfig::new()
                .with_weight_decay(Some(WeightDecayConfig::new(wd as f32)))
                .init();
            fit(config, images, run, control, device, optim)
        }
    }
}

fn fit<O>(
    config: &SimclrConfig,
    images: &Images,
    run: &RunDir,
    control: RunControl,
    device: &Device<InferenceBackend>,
    optim: O,
) -> Result<TrainOutcome>
where
    O: Optimizer<SimClr<TrainBackend>, TrainBackend> + 'static,
{
    TrainBackend::seed(device, config.seed);
    let augmenter = Augmenter::new(config.augment.clone());
    let train = images.train.clone();
    let test = images.test.clone();
    let train_pairs =
        ViewPairDataset::new(train, augmenter.clone(), config.seed, config.batch_size);
    let steps_per_epoch = train_pairs.len().div_ceil(config.batch_size);
    let mut valid_pairs =
        ViewPairDataset::new(test, augmenter, config.seed ^ 0xA11CE, config.batch_size);
    if config.knn_monitor_k > 0 {
        valid_pairs = valid_pairs.with_clean_views();
    }
    let RunControl {
        resume_from,
        on_non_finite,
    } = control;
    let done = resume_from.unwrap_or(0);
    let loader_train = DataLoaderBuilder::new(ViewPairBatcher)
        .batch_size(config.batch_size)
        .num_workers(config.num_workers)
        .set_device(device.clone())
        .build(EpochOrder::shuffled(train_pairs, config.seed).starting_at(done));
    let loader_valid = DataLoaderBuilder::new(ViewPairBatcher)
        .batch_size(config.batch_size)
        .num_workers(config.num_workers)
        .set_device(device.clone())
        .build(EpochOrder::sequential(valid_pairs).starting_at(done));
    let total_steps = (steps_per_epoch * config.epochs).max(1);
    let schedule = WarmupScheduleConfig::new(config.learning_rate(), total_steps)
        .with_warmup_steps((steps_per_epoch * config.warmup_epochs).min(total_steps))
        .with_decay(LrDecay::Cosine)
        .init()?;
    let model = config.model.init::<TrainBackend>(device)?;
    let training = SupervisedTraining::new(run.path(), loader_train, loader_valid)
        .metric_train_numeric(StepMetric::loss())
        .metric_valid_numeric(StepMetric::loss())
        .metric_train_numeric(StepMetric::accuracy())
        .metric_valid_numeric(StepMetric::accuracy())
        .metric_train_numeric(StepMetric::throughput("images/s"))
        .metric_train_numeric(LearningRateMetric::new());
    let training = if config.knn_monitor_k > 0 {
        training.metric_valid_numeric(KnnMonitor::new(config.knn_monitor_k, 0.1))
    } else {
        training
    };
    let (training, guards) = harness::configure(
        training,
        &HarnessOptions {
            epochs: config.epochs,
            resume_from,
            steps_per_epoch,
            on_non_finite,
            log_every: 10,
        },
    )?;
    let start = std::time::Instant::now();
    let model = model.with_finite_guard(guards.finite.clone());
    let result = training.launch(Learner::new(model, optim, schedule));
    let skipped_steps = guards.check(&result.model, run.path())?;
    Ok(TrainOutcome {
        model: result.model,
        seconds: start.elapsed().as_secs_f64(),
        steps_per_epoch,
        non_finite_steps_skipped: skipped_steps,
    })
}

fn evaluate_encoder(
    model: &SimClr<InferenceBackend>,
    config: &SimclrConfig,
    images: &Images,
    device: &Device<InferenceBackend>,
) -> Result<EvaluationReport> {
    let augmenter = Augmenter::new(config.augment.clone());
    Ok(evaluate::<TrainBackend>(
        &model.encoder,
        images.train.clone(),
        images.test.clone(),
        &augmenter,
        &KnnConfig::new(),
        &LinearProbeConfig::new(),
        device,
    )?)
}

fn report_json(report: &EvaluationReport) -> Value {
    json!({
        "linear_top1": report.linear.test_accuracy,
        "linear_train_top1": report.linear.train_accuracy,
        "knn_top1": report.knn_top1,
    })
}

fn train_command(args: TrainArgs) -> Result<()> {
    let synthetic = args.data.data == "synthetic";
    let mut config = resolve_config(args.config.as_deref(), synthetic)?;
    if let Some(epochs) = args.epochs {
        config.epochs = epochs;
    }
    if let Some(batch_size) = args.batch_size {
        config.batch_size = batch_size;
    }
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    config.validate()?;
    let device = backend::device(args.device)?;
    let run = RunDir::create(&args.artifacts)?;
    let inputs = Inputs::default()
        .with_path("--data", Some(Path::new(&args.data.data)))
        .with(
            "--synthetic-images",
            (args.data.data == "synthetic").then_some(args.data.synthetic_images),
        )
        .with("--skip-corrupt", args.data.skip_corrupt);
    let resume_from = harness::resume_epoch(
        args.resume,
        run.path(),
        &config,
        &SimclrConfig::new(),
        &inputs,
    )?;
    run.write_json("config.json", &config)?;
    run.write_json(Inputs::FILE, &inputs)?;
    let images = load_data(&args.data, config.seed)?;
    let control = RunControl {
        resume_from,
        on_non_finite: args.on_non_finite,
    };
    let outcome = pretrain(&config, &images, &run, control, &device)?;
    outcome
        .model
        .clone()
        .save_file(run.path().join("model"), &run_recorder())
        .context("cannot save the trained model")?;
    let mut summary = json!({
        "task": "simclr.train",
        "backend": backend::NAME,
        "data": args.data.data,
        "train_images": images.train.len(),
        "skipped_images": images.skipped,
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "steps_per_epoch": outcome.steps_per_epoch,
        "train_seconds": outcome.seconds,
        "non_finite_steps_skipped": outcome.non_finite_steps_skipped,
        "artifacts": run.path(),
    });
    if config.knn_monitor_k > 0 {
        let metric = KnnMonitor::new(config.knn_monitor_k, 0.1).name();
        summary["knn_monitor_top1"] = json!(harness::epoch_values(
            run.path(),
            "valid",
            &metric,
            config.epochs
        ));
    }
    if !args.no_eval {
        let trained = evaluate_encoder(&outcome.model, &config, &images, &device)?;
        TrainBackend::seed(&device, config.seed);
        let random = config.model.init::<InferenceBackend>(&device)?;
        let baseline = evaluate_encoder(&random, &config, &images, &device)?;
        summary["trained"] = report_json(&trained);
        summary["random_init"] = report_json(&baseline);
    }
    run.finish(&summary)
}

fn eval_command(args: EvalArgs) -> Result<()> {
    let config = config_file::load(&args.checkpoint.join("config.json"), &SimclrConfig::new())?;
    let device = backend::device(args.device)?;
    let mut model = config.model.init::<InferenceBackend>(&device)?;
    if !args.random_init {
        let weights = args.checkpoint.join("model.mpk");
        model = model
            .load_file(&weights, &run_recorder(), &device)
            .with_context(|| {
                format!(
                    "cannot load weights {} (do they match config.json?)",
                    weights.display()
                )
            })?;
    }
    let images = load_data(&args.data, config.seed)?;
    let report = evaluate_encoder(&model, &config, &images, &device)?;
    let mut summary = report_json(&report);
    summary["task"] = json!("simclr.eval");
    summary["random_init"] = json!(args.random_init);
    summary["data"] = json!(args.data.data);
    println!("{summary}");
    Ok(())
}

fn augment_command(args: AugmentArgs) -> Result<()> {
    let config = match &args.config {
        Some(path) => config_file::load(path, &SimclrConfig::new())?,
        None => SimclrConfig::new(),
    };
    let decoded = image::open(&args.image)
        .with_context(|| format!("{}: not a readable image", args.image.display()))?
        .to_rgb8();
    let source = Image::from_rgb(&decoded);
    let augmenter = Augmenter::new(config.augment.clone());
    let size = config.augment.size;
    let cells: Vec<Image> = std::iter::once(augmenter.eval_view(&source))
        .chain(
            (0..args.views as u64)
                .map(|draw| augmenter.view(&source, &mut item_rng(args.seed, 0, draw))),
        )
        .collect();
    let columns = 8.min(cells.len());
    let rows = cells.len().div_ceil(columns);
    let gap = 2;
    let mut grid = image::RgbImage::from_pixel(
        (columns * (size + gap) - gap) as u32,
        (rows * (size + gap) - gap) as u32,
        image::Rgb([255, 255, 255]),
    );
    for (i, cell) in cells.iter().enumerate() {
        let (x0, y0) = ((i % columns) * (size + gap), (i / columns) * (size + gap));
        image::imageops::replace(&mut grid, &cell.to_rgb(), x0 as i64, y0 as i64);
    }
    grid.save(&args.out)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    println!(
        "{}",
        json!({"task": "simclr.augment", "out": args.out, "views": args.views})
    );
    Ok(())
}

fn ablate_command(args: AblateArgs) -> Result<()> {
    let synthetic = args.data.data == "synthetic";
    let mut base = resolve_config(args.config.as_deref(), synthetic)?;
    if let Some(epochs) = args.epochs {
        base.epochs = epochs;
    }
    base.validate()?;
    let device = backend::device(args.device)?;
    let images = load_data(&args.data, base.seed)?;
    let transforms = ["crop", "color", "grayscale", "blur"];
    let mut grid = Vec::new();
    for i in 0..transforms.len() {
        for j in i..transforms.len() {
            let chosen = [transforms[i], transforms[j]];
            let mut config = base.clone();
            config.augment.crop = chosen.contains(&"crop");
            config.augment.color_jitter = chosen.contains(&"color");
            config.augment.grayscale = chosen.contains(&"grayscale");
            config.augment.blur = chosen.contains(&"blur");
            let name = if i == j {
                transforms[i].to_string()
            } else {
                format!("{}+{}", transforms[i], transforms[j])
            };
            let run = RunDir::create(args.artifacts.join(&name))?;
            run.write_json("config.json", &config)?;
            let control = RunControl {
                resume_from: None,
                on_non_finite: OnNonFinite::Stop,
            };
            let outcome = pretrain(&config, &images, &run, control, &device)?;
            let report = evaluate_encoder(&outcome.model, &config, &images, &device)?;
            eprintln!(
                "ablation {name}: linear top-1 {:.4}",
                report.linear.test_accuracy
            );
            grid.push(json!({"transforms": name, "linear_top1": report.linear.test_accuracy, "knn_top1": report.knn_top1}));
        }
    }
    let run = RunDir::create(&args.artifacts)?;
    run.finish(&json!({"task": "simclr.ablate", "epochs": base.epochs, "grid": grid}))
}
