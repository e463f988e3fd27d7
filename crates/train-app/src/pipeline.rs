//! The one training pipeline. A method supplies a [`Recipe`] — its config, data, model,
//! optimizer, metrics and what a finished run reports — and [`train`] does everything else
//! once: overrides and validation, the resume check, the run's folder, data loaders, the
//! learning-rate schedule, burn-train with checkpoints, signals and the non-finite guard, and
//! `summary.json`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataloader::DataLoader;
use burn::lr_scheduler::LrScheduler;
use burn::module::{AutodiffModule, Module, ModuleDisplay};
use burn::optim::Optimizer;
use burn::record::Recorder;
use burn::tensor::backend::Backend;
use burn::tensor::Device;
use burn::train::metric::LearningRateMetric;
use burn::train::{Interrupter, Learner, SupervisedTraining, TrainStep};
use clap::Args;
use contrastive_core::optim::{LrDecay, WarmupSchedule, WarmupScheduleConfig};
use contrastive_core::run::atomic_save::run_recorder;
use contrastive_core::run::epochs::{EpochDataset, EpochOrder, ReplicaSlice};
use contrastive_core::run::ordered_loader::OrderedLoader;
use contrastive_core::run::replicas::Replica;
use contrastive_core::run::train::{
    ChunkedStep, FiniteGuard, KnnMonitor, MethodStep, StepHook, StepMetric, TrainingModel,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use crate::artifacts::RunDir;
use crate::backend::{self, InferenceBackend, TrainBackend};
use crate::config_file;
use crate::curves;
use crate::harness::{self, HarnessOptions, Inputs, OnNonFinite};

/// The flags every `train` command shares.
#[derive(Args, Clone)]
pub struct TrainFlags {
    /// A config file, TOML or JSON, over the defaults (unknown keys are errors).
    /// [default: the method's defaults or its preset for the embedded data]
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Sets one config key, e.g. `--set model.temperature=0.2` (repeatable; applied after
    /// --config, before --epochs, --batch-size and --seed). The value is TOML: a number,
    /// `true`, `[0.6, 1.0]`, or text.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Overrides the config's `epochs`. [default: the config's]
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Overrides the config's `batch_size`. [default: the config's]
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Overrides the config's `seed`. [default: the config's]
    #[arg(long)]
    pub seed: Option<u64>,
    /// The run's folder: config, inputs, checkpoints, logs, model, summary.
    /// [default: artifacts/<method>]
    #[arg(long)]
    pub artifacts: Option<PathBuf>,
    /// Continue from the newest complete checkpoint in the artifacts folder.
    #[arg(long)]
    pub resume: bool,
    /// What a step with a non-finite loss or gradient does: stop the run, or skip the step.
    #[arg(long, value_enum, default_value = "stop")]
    pub on_non_finite: OnNonFinite,
    /// Device index (GPU backends).
    #[arg(long, default_value_t = 0)]
    pub device: usize,
    /// Data-parallel replicas, one per entry: device indices such as `0,1,2,3` on GPUs, or
    /// `0,0` for two replicas on the CPU. Each trains on an equal slice of every batch.
    /// [default: one replica on --device]
    #[arg(long, value_delimiter = ',', num_args = 1.., conflicts_with = "device")]
    pub devices: Option<Vec<usize>>,
}

/// What the pipeline needs of every method's config: its defaults, the keys [`TrainFlags`]
/// override, its data-loading threads, and its validation.
pub trait RunConfig: Serialize + DeserializeOwned + Clone {
    fn defaults() -> Self;
    fn epochs(&self) -> usize;
    fn batch_size(&self) -> usize;
    fn seed(&self) -> u64;
    fn num_workers(&self) -> usize;
    /// The key and value of the pieces each training batch is processed in (GradCache chunks
    /// or accumulation steps).
    fn chunks(&self) -> (&'static str, usize);
    /// Whether replicas gather each other's representations as negatives (contrastive methods).
    fn gather_negatives(&self) -> bool;
    /// Applies `--epochs`, `--batch-size` and `--seed` where given.
    fn override_with(&mut self, flags: &TrainFlags);
    fn check(&self) -> Result<()>;
}

/// The three configs share the names of those keys (but for the chunks') and a `validate()`.
macro_rules! run_config {
    ($($config:ty: $chunks:ident $(, $gather:ident)?);*) => {$(
        impl RunConfig for $config {
            fn defaults() -> Self {
                <$config>::new()
            }
            fn epochs(&self) -> usize {
                self.epochs
            }
            fn batch_size(&self) -> usize {
                self.batch_size
            }
            fn seed(&self) -> u64 {
                self.seed
            }
            fn num_workers(&self) -> usize {
                self.num_workers
            }
            fn chunks(&self) -> (&'static str, usize) {
                (stringify!($chunks), self.$chunks)
            }
            fn gather_negatives(&self) -> bool {
                true $(&& self.$gather)?
            }
            fn override_with(&mut self, flags: &TrainFlags) {
                self.epochs = flags.epochs.unwrap_or(self.epochs);
                self.batch_size = flags.batch_size.unwrap_or(self.batch_size);
                self.seed = flags.seed.unwrap_or(self.seed);
            }
            fn check(&self) -> Result<()> {
                Ok(self.validate()?)
            }
        }
    )*};
}
run_config!(
    simclr::SimclrConfig: grad_cache_chunks, gather_negatives;
    simcse::SimcseConfig: grad_cache_chunks, gather_negatives;
    simvlm::SimvlmConfig: accumulate_steps
);

/// Linear warm-up to `peak` over `warmup_steps` (at most the whole run), then `decay` until
/// `total_steps`: the schedule of every method, per optimizer step.
pub fn warmup_schedule(
    peak: f64,
    total_steps: usize,
    warmup_steps: usize,
    decay: LrDecay,
) -> Result<WarmupSchedule> {
    let total_steps = total_steps.max(1);
    Ok(WarmupScheduleConfig::new(peak, total_steps)
        .with_warmup_steps(warmup_steps.min(total_steps))
        .with_decay(decay)
        .init()?)
}

/// The batch type of a training or an inference model.
type BatchOf<M, B> = <M as MethodStep<B>>::Batch;
/// The model burn-train trains for recipe `R`.
pub type Trained<R> = TrainingModel<TrainBackend, <R as Recipe>::Model, <R as Recipe>::Hook>;

/// What a method supplies to the pipeline.
pub trait Recipe {
    /// `simclr`, `simcse` or `simvlm`: the task prefix and the default artifacts folder.
    const NAME: &'static str;
    /// Metrics lines are printed every this many steps when stdout is not a terminal.
    const LOG_EVERY: usize = 10;
    type Config: RunConfig;
    /// Everything read before the run's folder is created (so bad input leaves none behind).
    type Data;
    /// One example as the data loader yields it.
    type Item: Send + Sync + Clone + std::fmt::Debug + 'static;
    type Dataset: EpochDataset<Self::Item> + 'static;
    type Batcher: Batcher<TrainBackend, Self::Item, BatchOf<Self::Model, TrainBackend>>
        + Batcher<InferenceBackend, Self::Item, BatchOf<Self::InferenceModel, InferenceBackend>>
        + Clone
        + 'static;
    type Model: ChunkedStep<TrainBackend>
        + AutodiffModule<TrainBackend, InnerModule = Self::InferenceModel>
        + ModuleDisplay
        + 'static;
    type InferenceModel: MethodStep<InferenceBackend> + ModuleDisplay;
    /// What sees the model after each step ([`contrastive_core::run::train::NoHook`] if nothing).
    type Hook: StepHook<Self::Model> + Clone + std::fmt::Debug + Send + 'static;

    /// The config: `file` over the defaults (or a preset), with the method's own flags applied.
    fn config(&self, file: Option<&Path>) -> Result<Self::Config>;
    /// The data arguments, recorded in the run's `inputs.json`.
    fn inputs(&self) -> Inputs;
    /// Reads and checks the data. `resume_from` is the epoch a resumed run continues after.
    fn load(
        &self,
        config: &Self::Config,
        artifacts: &Path,
        resume_from: Option<usize>,
        device: &Device<TrainBackend>,
    ) -> Result<Self::Data>;
    /// Writes what the run's folder needs besides config and inputs (a tokenizer, base files).
    fn prepare(&self, _data: &Self::Data, _run: &RunDir) -> Result<()> {
        Ok(())
    }
    fn model(
        &self,
        config: &Self::Config,
        data: &Self::Data,
        resume_from: Option<usize>,
        device: &Device<TrainBackend>,
    ) -> Result<Self::Model>;
    /// The hook of this run, if it has one; `steps_done` counts the steps of resumed epochs.
    fn hook(
        &self,
        _config: &Self::Config,
        _data: &Self::Data,
        _run: &RunDir,
        _steps_done: usize,
    ) -> Result<Option<Self::Hook>> {
        Ok(None)
    }
    /// Training and validation examples, and their batcher.
    fn datasets(
        &self,
        config: &Self::Config,
        data: &Self::Data,
    ) -> (Self::Dataset, Self::Dataset, Self::Batcher);
    /// The learning-rate schedule over `steps_per_epoch · epochs` steps.
    fn schedule(&self, config: &Self::Config, steps_per_epoch: usize) -> Result<WarmupSchedule>;
    /// Calls `launch` with this config's optimizer (a method may offer several types).
    fn optimizer<L: Launch<Trained<Self>>>(
        &self,
        config: &Self::Config,
        launch: L,
    ) -> Result<L::Output>
    where
        Self: Sized;
    fn metrics(&self, config: &Self::Config) -> Metrics;
    /// Evaluation of the untrained model, handed to [`Recipe::report`] (e.g. STS before
    /// training). Nothing by default.
    fn evaluate_before(
        &self,
        _model: &Self::InferenceModel,
        _data: &Self::Data,
        _device: &Device<InferenceBackend>,
    ) -> Result<Value> {
        Ok(Value::Null)
    }
    /// After training: saves what the run keeps of the model, evaluates it, and returns the
    /// method's fields of `summary.json`.
    fn report(
        &self,
        config: &Self::Config,
        data: &Self::Data,
        fitted: Fitted<Self>,
        run: &RunDir,
        device: &Device<InferenceBackend>,
    ) -> Result<Value>
    where
        Self: Sized;
}

/// Runs training with an optimizer whose type the recipe picks.
pub trait Launch<M: AutodiffModule<TrainBackend>> {
    type Output;
    fn launch<O: Optimizer<M, TrainBackend> + 'static>(self, optimizer: O) -> Self::Output;
}

/// The metrics a method shows on the dashboard (burn-train's learning rate is always added).
pub struct Metrics {
    /// Shown for training and validation steps.
    pub both: Vec<StepMetric>,
    /// Shown for training steps only.
    pub train: Vec<StepMetric>,
    /// The k-NN monitor on validation steps.
    pub knn: Option<KnnMonitor>,
}

/// A finished training: the model reached and what the run measured.
pub struct Fitted<R: Recipe> {
    pub model: R::InferenceModel,
    pub hook: Option<R::Hook>,
    /// What [`Recipe::evaluate_before`] returned.
    pub before: Value,
    pub seconds: f64,
    pub train_examples: usize,
    pub steps_per_epoch: usize,
    pub non_finite_steps_skipped: usize,
}

/// The config a run uses: `config` (the file over the defaults or the preset, with the
/// method's own flags), then `--set`, then `--epochs`, `--batch-size` and `--seed`; validated.
pub fn effective_config<C: RunConfig>(config: C, flags: &TrainFlags) -> Result<C> {
    let mut config = config_file::set(config, &flags.set)?;
    config.override_with(flags);
    config.check()?;
    Ok(config)
}

/// `train-app <method> config`: the config `train` would use with the same options, as TOML
/// that `--config` reads back.
pub fn print_config<C: RunConfig>(method: &str, config: C, flags: &TrainFlags) -> Result<()> {
    let config = effective_config(config, flags)?;
    println!("# The configuration of `train-app {method} train` with these options;");
    println!("# `--config FILE` reads it back.");
    println!("{}", config_file::to_toml(&config)?.trim_end());
    Ok(())
}

/// `train-app <method> train`: the whole run, ending with `summary.json` as the last stdout line.
pub fn train<R: Recipe>(recipe: &R, flags: &TrainFlags) -> Result<()> {
    let config = effective_config(recipe.config(flags.config.as_deref())?, flags)?;
    let devices = flags.devices.clone().unwrap_or_else(|| vec![flags.device]);
    check_replicas(&config, devices.len())?;
    let devices = devices
        .into_iter()
        .map(backend::device)
        .collect::<Result<Vec<_>>>()?;
    let device = devices[0].clone();
    let artifacts = flags
        .artifacts
        .clone()
        .unwrap_or_else(|| Path::new("artifacts").join(R::NAME));
    let inputs = recipe.inputs();
    let resume_from = harness::resume_epoch(
        flags.resume,
        &artifacts,
        &config,
        &R::Config::defaults(),
        &inputs,
    )?;
    // Every input is read and checked before the run's folder is touched.
    let data = recipe.load(&config, &artifacts, resume_from, &device)?;
    let sets = checked_datasets(recipe, &config, &data)?;
    let run = RunDir::create(&artifacts)?;
    run.write_json("config.json", &config)?;
    run.write_json(Inputs::FILE, &inputs)?;
    recipe.prepare(&data, &run)?;
    let control = RunControl {
        resume_from,
        on_non_finite: flags.on_non_finite,
    };
    let fitted = fit(recipe, &config, &data, sets, &run, control, &devices)?;
    // The pictures are a view of the logs: failing to draw them must not fail the run.
    if let Err(err) = curves::write_for_run(run.path()) {
        eprintln!("warning: no training curves: {err:#}");
    }
    let mut summary = json!({
        "task": format!("{}.train", R::NAME),
        "backend": backend::NAME,
    });
    let epochs = config.epochs();
    let (chunks_key, chunks) = config.chunks();
    let common = json!({
        "epochs": epochs,
        "batch_size": config.batch_size(),
        chunks_key: chunks,
        "train_examples": fitted.train_examples,
        "steps_per_epoch": fitted.steps_per_epoch,
        "steps": fitted.steps_per_epoch * epochs,
        "replicas": devices.len(),
        "nodes": 1,
        "train_seconds": fitted.seconds,
        "train_loss_per_epoch": harness::epoch_values(run.path(), "train", "Loss", epochs),
        "non_finite_steps_skipped": fitted.non_finite_steps_skipped,
        "artifacts": run.path(),
    });
    let method = recipe.report(&config, &data, fitted, &run, &device)?;
    for fields in [common, method] {
        if let (Value::Object(summary), Value::Object(fields)) = (&mut summary, fields) {
            summary.extend(fields);
        }
    }
    run.finish(&summary)
}

/// With several replicas, `batch_size` is the global batch: it must split into equal slices
/// of at least two examples, each splitting into the config's chunks.
fn check_replicas<C: RunConfig>(config: &C, replicas: usize) -> Result<()> {
    let batch_size = config.batch_size();
    let (chunks_key, chunks) = config.chunks();
    if replicas < 2 {
        return Ok(());
    }
    if !batch_size.is_multiple_of(replicas) || batch_size / replicas < 2 {
        anyhow::bail!(
            "`batch_size` = {batch_size} does not split into {replicas} equal slices of at least 2 examples (one per replica of --devices); use a multiple of {replicas}, at least {}",
            2 * replicas
        );
    }
    let per_replica = batch_size / replicas;
    if !per_replica.is_multiple_of(chunks) {
        anyhow::bail!(
            "`{chunks_key}` = {chunks} does not divide each replica's slice of {per_replica} examples (`batch_size` = {batch_size} over {replicas} replicas)"
        );
    }
    Ok(())
}

/// A run's training and validation examples and their batcher.
pub type Datasets<R> = (
    <R as Recipe>::Dataset,
    <R as Recipe>::Dataset,
    <R as Recipe>::Batcher,
);

/// `recipe`'s datasets for `config`. A batch larger than the training data is refused: it would
/// only ever be one smaller batch, so it is a mistyped size (say `1000000000000`), caught
/// before anything is batched.
pub fn checked_datasets<R: Recipe>(
    recipe: &R,
    config: &R::Config,
    data: &R::Data,
) -> Result<Datasets<R>> {
    let sets = recipe.datasets(config, data);
    let (batch_size, train_examples) = (config.batch_size(), sets.0.len());
    if batch_size > train_examples {
        anyhow::bail!(
            "`batch_size` = {batch_size} is larger than the {train_examples} training examples; \
             use at most {train_examples}"
        );
    }
    Ok(sets)
}

/// Where a training starts and what it does on a non-finite step.
#[derive(Clone, Copy)]
pub struct RunControl {
    pub resume_from: Option<usize>,
    pub on_non_finite: OnNonFinite,
}

/// Trains `recipe`'s model on `data` into `run` with burn-train, as one replica per entry of
/// `devices` (the first one's thread runs burn-train: it logs, validates and checkpoints).
pub fn fit<R: Recipe>(
    recipe: &R,
    config: &R::Config,
    data: &R::Data,
    (train, valid, batcher): Datasets<R>,
    run: &RunDir,
    control: RunControl,
    devices: &[Device<TrainBackend>],
) -> Result<Fitted<R>> {
    let (epochs, batch_size, seed) = (config.epochs(), config.batch_size(), config.seed());
    let (device, world) = (&devices[0], devices.len());
    TrainBackend::seed(device, seed);
    let model = recipe.model(config, data, control.resume_from, device)?;
    let before = recipe.evaluate_before(&model.valid(), data, device)?;
    let train_examples = train.len();
    // Replicas take equal slices of every global batch, the last incomplete one dropped.
    let steps_per_epoch = match world {
        1 => train_examples.div_ceil(batch_size),
        _ => train_examples / batch_size,
    };
    let done = control.resume_from.unwrap_or(0);
    let hook = recipe.hook(config, data, run, done * steps_per_epoch)?;
    let workers = config.num_workers();
    let batcher = Arc::new(batcher);
    let local_batch = batch_size / world;
    let order = |train: R::Dataset, rank: usize| {
        let order = EpochOrder::shuffled(train, seed);
        let order = match world {
            1 => order,
            _ => order.for_replica(ReplicaSlice {
                rank,
                world,
                per_replica: local_batch,
            }),
        };
        Arc::new(order.starting_at(done))
    };
    let loader = |train: R::Dataset, rank: usize| -> Loader<TrainBackend, R::Model> {
        let device = devices[rank].clone();
        Arc::new(OrderedLoader::new(
            order(train, rank),
            batcher.clone(),
            local_batch,
            workers,
            device,
        ))
    };
    let peers = (1..world)
        .map(|rank| Peer {
            rank,
            loader: loader(recipe.datasets(config, data).0, rank),
            device: devices[rank].clone(),
        })
        .collect();
    let loader_train = loader(train, 0);
    let loader_valid: Loader<InferenceBackend, R::InferenceModel> = Arc::new(OrderedLoader::new(
        Arc::new(EpochOrder::sequential(valid).starting_at(done)),
        batcher,
        batch_size,
        workers,
        device.clone(),
    ));
    let launch = Fit::<R> {
        run,
        loader_train,
        loader_valid,
        model,
        device: device.clone(),
        hook,
        chunks: config.chunks().1,
        peers,
        gather_negatives: config.gather_negatives(),
        schedule: recipe.schedule(config, steps_per_epoch)?,
        metrics: recipe.metrics(config),
        options: HarnessOptions {
            epochs,
            resume_from: control.resume_from,
            steps_per_epoch,
            on_non_finite: control.on_non_finite,
            log_every: R::LOG_EVERY,
        },
    };
    let trained = recipe.optimizer(config, launch)??;
    Ok(Fitted {
        model: trained.model,
        hook: trained.hook,
        before,
        seconds: trained.seconds,
        train_examples,
        steps_per_epoch,
        non_finite_steps_skipped: trained.non_finite_steps_skipped,
    })
}

type Loader<B, M> = Arc<dyn DataLoader<B, BatchOf<M, B>>>;

/// A replica besides the first: its rank, slice of the data and device.
struct Peer<R: Recipe> {
    rank: usize,
    loader: Loader<TrainBackend, R::Model>,
    device: Device<TrainBackend>,
}

/// A training ready to launch but for its optimizer.
struct Fit<'a, R: Recipe> {
    run: &'a RunDir,
    loader_train: Loader<TrainBackend, R::Model>,
    loader_valid: Loader<InferenceBackend, R::InferenceModel>,
    model: R::Model,
    device: Device<TrainBackend>,
    hook: Option<R::Hook>,
    /// Pieces each training batch is processed in.
    chunks: usize,
    /// The other replicas (none for a single one).
    peers: Vec<Peer<R>>,
    gather_negatives: bool,
    schedule: WarmupSchedule,
    metrics: Metrics,
    options: HarnessOptions,
}

/// What [`Fit`] returns.
struct Launched<R: Recipe> {
    model: R::InferenceModel,
    hook: Option<R::Hook>,
    seconds: f64,
    non_finite_steps_skipped: usize,
}

impl<R: Recipe> Launch<Trained<R>> for Fit<'_, R> {
    type Output = Result<Launched<R>>;

    fn launch<O: Optimizer<Trained<R>, TrainBackend> + 'static>(
        self,
        optimizer: O,
    ) -> Self::Output {
        let mut training =
            SupervisedTraining::new(self.run.path(), self.loader_train, self.loader_valid);
        for metric in self.metrics.both {
            training = training
                .metric_train_numeric(metric.clone())
                .metric_valid_numeric(metric);
        }
        for metric in self.metrics.train {
            training = training.metric_train_numeric(metric);
        }
        training = training.metric_train_numeric(LearningRateMetric::new());
        if let Some(knn) = self.metrics.knn {
            training = training.metric_valid_numeric(knn);
        }
        let (training, guards) = harness::configure(training, self.run.path(), &self.options)?;
        let world = self.peers.len() + 1;
        let mut peers = Vec::new();
        let mut replica = None;
        if world > 1 {
            // Every replica starts from these weights (drawn now, before they are copied).
            let _ = self.model.valid();
            let start = PeerStart {
                model: self.model.clone(),
                chunks: self.chunks,
                optimizer: optimizer.clone(),
                schedule: self.schedule.clone(),
                options: &self.options,
                run: self.run,
                gather_negatives: self.gather_negatives,
                world,
            };
            for peer in self.peers {
                peers.push(start.spawn(peer)?);
            }
            replica = Some(Replica::join::<InferenceBackend>(
                0,
                world,
                &self.device,
                self.gather_negatives,
            )?);
        }
        let mut model =
            TrainingModel::new(self.model, Some(guards.finite.clone()), self.hook.clone())
                .with_chunks(self.chunks);
        if let Some(replica) = &replica {
            model = model.with_replica(replica.clone());
        }
        let start = std::time::Instant::now();
        let result = training.launch(Learner::new(model, optimizer, self.schedule));
        let non_finite_steps_skipped = guards.check(&result.model.model, self.run.path())?;
        // Training ran to its end: the other replicas took their last step with this one.
        if let Some(replica) = replica {
            replica.leave::<InferenceBackend>()?;
        }
        for peer in peers {
            // A replica that failed has ended the process: the others return normally.
            let _ = peer.join();
        }
        Ok(Launched {
            model: result.model.model,
            hook: self.hook,
            seconds: start.elapsed().as_secs_f64(),
            non_finite_steps_skipped,
        })
    }
}

/// What every replica besides the first starts from: the first one's weights, optimizer and
/// schedule (and, when resuming, its checkpoint).
struct PeerStart<'a, R: Recipe, O> {
    model: R::Model,
    chunks: usize,
    optimizer: O,
    schedule: WarmupSchedule,
    options: &'a HarnessOptions,
    run: &'a RunDir,
    gather_negatives: bool,
    world: usize,
}

impl<R: Recipe, O: Optimizer<Trained<R>, TrainBackend> + 'static> PeerStart<'_, R, O> {
    /// Starts `peer`'s training loop on a thread of its own: burn-train's single-device loop
    /// (schedule step, training step, optimizer step) without logging, validation or
    /// checkpoints. A replica that fails ends the process: the others would wait for it
    /// forever in their next collective operation.
    fn spawn(&self, peer: Peer<R>) -> Result<std::thread::JoinHandle<()>> {
        let (epochs, done) = (self.options.epochs, self.options.resume_from.unwrap_or(0));
        let steps_done = done * self.options.steps_per_epoch;
        let guard = FiniteGuard::new(
            self.options.on_non_finite.into(),
            Interrupter::new(),
            steps_done,
        );
        let mut model: Trained<R> =
            TrainingModel::new(self.model.clone().fork(&peer.device), Some(guard), None)
                .with_chunks(self.chunks);
        let mut optimizer = self.optimizer.clone();
        let mut schedule = self.schedule.clone();
        if let Some(epoch) = self.options.resume_from {
            let checkpoint = self.run.path().join("checkpoint");
            let read = |name: &str| checkpoint.join(format!("{name}-{epoch}"));
            let failed = || format!("replica {}: cannot read checkpoint {epoch}", peer.rank);
            let recorder = run_recorder();
            let weights = recorder
                .load(read("model"), &peer.device)
                .with_context(failed)?;
            model = model.load_record(weights);
            let state = recorder
                .load(read("optim"), &peer.device)
                .with_context(failed)?;
            optimizer = optimizer.load_record(state);
            for _ in 0..steps_done {
                schedule.step();
            }
        }
        let (world, gather_negatives) = (self.world, self.gather_negatives);
        let train = move || -> Result<()> {
            let replica = Replica::join::<InferenceBackend>(
                peer.rank,
                world,
                &peer.device,
                gather_negatives,
            )?;
            model = model.with_replica(replica.clone());
            for _ in done..epochs {
                for batch in peer.loader.iter() {
                    let lr = schedule.step();
                    let grads = TrainStep::step(&model, batch).grads;
                    model = optimizer.step(lr, model, grads);
                }
            }
            replica.leave::<InferenceBackend>()?;
            Ok(())
        };
        let rank = peer.rank;
        let thread = std::thread::Builder::new().name(format!("replica-{rank}"));
        Ok(thread.spawn(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(train));
            if let Ok(Err(error)) = &outcome {
                eprintln!("error: replica {rank}: {error:#}");
            }
            if !matches!(outcome, Ok(Ok(()))) {
                eprintln!("replica {rank} stopped: ending the run (the last checkpoint is kept)");
                std::process::exit(1);
            }
        })?)
    }
}

/// Saves `model` as `name.mpk` in the run's folder, atomically.
pub fn save_model<B: Backend, M: Module<B>>(model: &M, run: &RunDir, name: &str) -> Result<()> {
    model
        .clone()
        .save_file(run.path().join(name), &run_recorder())
        .with_context(|| format!("cannot save the trained model to {}", run.path().display()))
}

/// A finished run's folder, opened for an inference command: its config, recorded inputs and
/// trained weights.
pub struct FinishedRun<C> {
    pub dir: PathBuf,
    pub config: C,
    weights: PathBuf,
}

impl<C: Serialize + DeserializeOwned> FinishedRun<C> {
    /// Opens `dir`, a finished `<method> train` run whose weights are `weights` (`.mpk`).
    pub fn open(dir: &Path, defaults: &C, method: &str, weights: &str) -> Result<Self> {
        let config = config_file::load(&dir.join("config.json"), defaults)?;
        let weights = dir.join(weights).with_extension("mpk");
        if !weights.is_file() {
            anyhow::bail!(
                "{}: no trained model (is this a finished `{method} train` run?)",
                weights.display()
            );
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            config,
            weights,
        })
    }

    /// `model` (built from the config) with the run's trained weights.
    pub fn load<B: Backend, M: Module<B>>(&self, model: M, device: &Device<B>) -> Result<M> {
        model
            .load_file(&self.weights, &run_recorder(), device)
            .with_context(|| {
                format!(
                    "cannot load weights {} (do they match its config.json?)",
                    self.weights.display()
                )
            })
    }

    /// The value `flag` had when the run started (its `inputs.json`), if recorded.
    pub fn recorded(&self, flag: &str) -> Result<Option<Value>> {
        Inputs::recorded(&self.dir, flag)
    }

    /// A recorded text (or path) argument.
    pub fn recorded_text(&self, flag: &str) -> Result<Option<String>> {
        Ok(self
            .recorded(flag)?
            .and_then(|value| value.as_str().map(str::to_string)))
    }

    /// A recorded count argument.
    pub fn recorded_count(&self, flag: &str) -> Result<Option<usize>> {
        Ok(self
            .recorded(flag)?
            .and_then(|value| value.as_u64())
            .map(|n| n as usize))
    }
}
