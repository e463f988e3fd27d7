//! `train-app simcse ...`: train SimCSE from a Hugging Face BERT directory, score STS sets,
//! embed sentences from stdin and export a trained run as a Hugging Face directory.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use burn::data::dataloader::DataLoaderBuilder;
use burn::module::AutodiffModule;
use burn::module::Module;
use burn::optim::AdamWConfig;
use burn::tensor::backend::Backend;
use burn::tensor::Device;
use burn::train::metric::LearningRateMetric;
use burn::train::{Learner, SupervisedTraining};
use clap::{Args, Subcommand};
use contrastive_core::epochs::{EpochDataset, EpochOrder};
use contrastive_core::optim::WarmupScheduleConfig;
use contrastive_core::text::TextTokenizer;
use contrastive_core::text_file::read_lines;
use contrastive_core::train::StepMetric;
use serde_json::json;
use simcse::data::batcher::{sentence_examples, triplet_examples, ExampleDataset, SentenceBatcher};
use simcse::data::nli::read_nli;
use simcse::data::sts::{find_sts_sets, StsSet};
use simcse::dev_monitor::DevMonitor;
use simcse::export::write_hf_directory;
use simcse::loader::{load_bert_with_pooler, load_config};
use simcse::step::DEV_SPEARMAN;
use simcse::sts_eval::{embed_sentences, sts_score};
use simcse::{Mode, Pooler, SimCse, SimcseConfig, SimcseModelConfig};

use crate::artifacts::RunDir;
use crate::backend::{self, InferenceBackend, TrainBackend};
use crate::config_file;
use crate::harness::{self, HarnessOptions, Inputs, OnNonFinite};
use contrastive_core::atomic_save::run_recorder;

#[derive(Subcommand)]
pub enum SimcseJob {
    /// Train with the unsupervised (dropout) or supervised (NLI) objective.
    Train(Box<TrainArgs>),
    /// Spearman ×100 of cosine similarity against gold scores on every STS set found.
    Eval(EvalArgs),
    /// Embed sentences from stdin (one per line): one JSON array per line on stdout.
    Embed(EmbedArgs),
    /// Write a trained run's model as a Hugging Face directory.
    Export(ExportArgs),
}

#[derive(Args)]
pub struct TrainArgs {
    /// `unsup` (one sentence per line) or `sup` (NLI CSV `sent0,sent1[,hard_neg]`).
    #[arg(long, default_value = "unsup")]
    mode: String,
    /// The initial model: a Hugging Face BERT directory (config.json, model.safetensors,
    /// tokenizer.json).
    #[arg(long)]
    model: PathBuf,
    /// Training data (gzip accepted).
    #[arg(long)]
    data: PathBuf,
    /// A folder with STS-B (`sts-dev.csv`): its dev set is scored every `eval_steps` steps and
    /// the best model kept; every STS set found is scored before and after training.
    #[arg(long)]
    sts: Option<PathBuf>,
    /// A `SimcseConfig` as TOML or JSON (unknown keys are errors).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Overrides `model.pooler` (cls, cls_before_pooler, avg, avg_first_last, avg_top2).
    #[arg(long)]
    pooler: Option<String>,
    /// Overrides `epochs`.
    #[arg(long)]
    epochs: Option<usize>,
    /// Overrides `batch_size`.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Overrides `learning_rate`.
    #[arg(long)]
    learning_rate: Option<f64>,
    /// Overrides `train_examples` (use only the first N).
    #[arg(long)]
    train_examples: Option<usize>,
    /// Overrides `eval_steps`.
    #[arg(long)]
    eval_steps: Option<usize>,
    /// Overrides `model.dropout` (0 is the paper's collapse ablation).
    #[arg(long)]
    dropout: Option<f64>,
    /// Sets `model.same_dropout_mask` (the paper's other collapse ablation).
    #[arg(long)]
    same_mask: bool,
    /// Overrides `seed`.
    #[arg(long)]
    seed: Option<u64>,
    /// The run's folder: config, checkpoints, logs, best model, export, summary.
    #[arg(long, default_value = "artifacts/simcse")]
    artifacts: PathBuf,
    /// Continue from the newest complete checkpoint in the artifacts folder.
    #[arg(long)]
    resume: bool,
    /// What a step with a non-finite loss or gradient does: stop the run, or skip the step.
    #[arg(long, value_enum, default_value = "stop")]
    on_non_finite: OnNonFinite,
    /// Device index (GPU backends).
    #[arg(long, default_value_t = 0)]
    device: usize,
}

#[derive(Args)]
pub struct EvalArgs {
    /// A Hugging Face BERT directory.
    #[arg(long)]
    model: PathBuf,
    /// Folder(s) searched for STS sets (STS-B, SICK-R, SentEval's STS12–16).
    #[arg(long, required = true)]
    sts: Vec<PathBuf>,
    /// cls (needs the checkpoint's pooler.dense), cls_before_pooler, avg, avg_first_last,
    /// avg_top2.
    #[arg(long, default_value = "cls_before_pooler")]
    pooler: String,
    /// Sentences per batch.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Device index (GPU backends).
    #[arg(long, default_value_t = 0)]
    device: usize,
}

#[derive(Args)]
pub struct EmbedArgs {
    /// A Hugging Face BERT directory.
    #[arg(long)]
    model: PathBuf,
    /// The pooler (see `eval`).
    #[arg(long, default_value = "cls_before_pooler")]
    pooler: String,
    /// Scale every embedding to unit length.
    #[arg(long)]
    normalize: bool,
    /// Sentences per batch.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Device index (GPU backends).
    #[arg(long, default_value_t = 0)]
    device: usize,
}

#[derive(Args)]
pub struct ExportArgs {
    /// The run's folder (`train --artifacts`).
    #[arg(long)]
    checkpoint: PathBuf,
    /// The Hugging Face directory to write.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(job: SimcseJob) -> Result<()> {
    match job {
        SimcseJob::Train(args) => train_command(*args),
        SimcseJob::Eval(args) => eval_command(args),
        SimcseJob::Embed(args) => embed_command(args),
        SimcseJob::Export(args) => export_command(args),
    }
}

fn parse_pooler(name: &str) -> Result<Pooler> {
    name.parse::<Pooler>().map_err(anyhow::Error::msg)
}

/// An inference model for `eval` and `embed`: the checkpoint's encoder, its `pooler.dense` as
/// the `cls` MLP, and its tokenizer (checked against the embedding).
fn load_inference_model(
    dir: &Path,
    pooler: Pooler,
    max_length: Option<usize>,
    device: &Device<InferenceBackend>,
) -> Result<(SimCse<InferenceBackend>, TextTokenizer)> {
    let (config, bert, mlp) = load_bert_with_pooler::<InferenceBackend>(dir, device)?;
    if pooler == Pooler::Cls && mlp.is_none() {
        bail!(
            "{}: pooler `cls` needs the MLP weights `pooler.dense.*`, which this checkpoint lacks (use cls_before_pooler or avg)",
            dir.join("model.safetensors").display()
        );
    }
    let tokenizer = TextTokenizer::from_file(
        &dir.join("tokenizer.json"),
        max_length.unwrap_or(config.max_position_embeddings),
    )?;
    tokenizer
        .check_vocabulary(config.vocab_size)
        .with_context(|| format!("{}", dir.join("tokenizer.json").display()))?;
    let model = SimcseModelConfig::new()
        .with_pooler(pooler)
        .with_mlp_only_train(false)
        .init(&config, bert, mlp, device)?;
    Ok((model, tokenizer))
}

/// Spearman ×100 of every set, printed as a table row each.
fn score_sets<B: Backend>(
    model: &SimCse<B>,
    tokenizer: &TextTokenizer,
    sets: &[StsSet],
    batch_size: usize,
    device: &B::Device,
) -> Result<serde_json::Map<String, serde_json::Value>> {
    let mut scores = serde_json::Map::new();
    for set in sets {
        let score = sts_score(model, tokenizer, &set.pairs, batch_size, device)?;
        println!(
            "{:<14} {:>6} pairs  Spearman {:6.2}  align {:.3}  uniform {:.3}",
            set.name,
            set.pairs.len(),
            100.0 * score.spearman,
            score.alignment,
            score.uniformity
        );
        scores.insert(
            set.name.clone(),
            json!({
                "spearman": 100.0 * score.spearman,
                "alignment": score.alignment,
                "uniformity": score.uniformity,
            }),
        );
    }
    Ok(scores)
}

fn find_all_sets(folders: &[PathBuf]) -> Result<Vec<StsSet>> {
    let mut sets = Vec::new();
    for folder in folders {
        sets.extend(find_sts_sets(folder)?);
    }
    Ok(sets)
}

fn eval_command(args: EvalArgs) -> Result<()> {
    let pooler = parse_pooler(&args.pooler)?;
    let sets = find_all_sets(&args.sts)?;
    let device = backend::device(args.device)?;
    let (model, tokenizer) = load_inference_model(&args.model, pooler, None, &device)?;
    let start = std::time::Instant::now();
    let scores = score_sets(&model, &tokenizer, &sets, args.batch_size, &device)?;
    let summary = json!({
        "task": "simcse.eval",
        "backend": backend::NAME,
        "model": args.model,
        "pooler": args.pooler,
        "scores": scores,
        "seconds": start.elapsed().as_secs_f64(),
    });
    println!("{summary}");
    Ok(())
}

fn embed_command(args: EmbedArgs) -> Result<()> {
    let pooler = parse_pooler(&args.pooler)?;
    let device = backend::device(args.device)?;
    let (model, tokenizer) = load_inference_model(&args.model, pooler, None, &device)?;
    let stdin = std::io::stdin();
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let mut lines = stdin.lock().lines();
    let mut line_number = 0;
    loop {
        let mut batch = Vec::with_capacity(args.batch_size);
        for line in lines.by_ref().take(args.batch_size.max(1)) {
            line_number += 1;
            batch.push(line.with_context(|| format!("stdin line {line_number}"))?);
        }
        if batch.is_empty() {
            break;
        }
        let texts: Vec<&str> = batch.iter().map(String::as_str).collect();
        for mut vector in embed_sentences(&model, &tokenizer, &texts, args.batch_size, &device)? {
            if args.normalize {
                let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
                vector.iter_mut().for_each(|v| *v /= norm);
            }
            writeln!(stdout, "{}", serde_json::to_string(&vector)?)?;
        }
        stdout.flush()?;
    }
    Ok(())
}

/// Files of the initial model kept in the run (`base/`), so that the run alone can be exported.
fn keep_base_files(model_dir: &Path, run: &RunDir) -> Result<PathBuf> {
    let base = run.path().join("base");
    std::fs::create_dir_all(&base)?;
    for name in [
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "vocab.txt",
    ] {
        let source = model_dir.join(name);
        if source.is_file() {
            std::fs::copy(&source, base.join(name))
                .with_context(|| format!("cannot copy {}", source.display()))?;
        }
    }
    Ok(base)
}

fn resolve_config(args: &TrainArgs) -> Result<SimcseConfig> {
    let mut config = match &args.config {
        Some(path) => config_file::load(path, &SimcseConfig::new())?,
        None => SimcseConfig::new(),
    };
    config.model.mode = match args.mode.as_str() {
        "unsup" => Mode::Unsup,
        "sup" => Mode::Sup,
        other => bail!("--mode `{other}`: expected unsup or sup"),
    };
    if let Some(pooler) = &args.pooler {
        config.model.pooler = parse_pooler(pooler)?;
    }
    macro_rules! overrides {
        ($($arg:ident => $($field:ident).+),* $(,)?) => {
            $(if let Some(value) = args.$arg { config.$($field).+ = value; })*
        };
    }
    overrides!(
        epochs => epochs,
        batch_size => batch_size,
        learning_rate => learning_rate,
        eval_steps => eval_steps,
        seed => seed,
    );
    if args.train_examples.is_some() {
        config.train_examples = args.train_examples;
    }
    if args.dropout.is_some() {
        config.model.dropout = args.dropout;
    }
    if args.same_mask {
        config.model.same_dropout_mask = true;
    }
    config.validate()?;
    Ok(config)
}

/// Training and validation examples: the data file, optionally cut, with the last
/// `valid_examples` held out. A one-example last batch (no negatives) is dropped.
fn load_examples(config: &SimcseConfig, data: &Path) -> Result<(ExampleDataset, ExampleDataset)> {
    let mut examples = match config.model.mode {
        Mode::Unsup => sentence_examples(read_lines(data)?),
        Mode::Sup => triplet_examples(read_nli(data)?),
    };
    let valid_len = config.valid_examples.min(examples.len() / 5);
    let valid = examples.split_off(examples.len() - valid_len);
    if let Some(n) = config.train_examples {
        examples.truncate(n);
    }
    let trim = |mut e: Vec<Vec<String>>| {
        if e.len() % config.batch_size == 1 {
            e.pop();
        }
        e
    };
    let (train, valid) = (trim(examples), trim(valid));
    if train.len() < 2 || valid.len() < 2 {
        bail!(
            "{}: {} training and {} validation examples; at least 2 of each are needed",
            data.display(),
            train.len(),
            valid.len()
        );
    }
    Ok((ExampleDataset::new(train), ExampleDataset::new(valid)))
}

fn train_command(args: TrainArgs) -> Result<()> {
    let config = resolve_config(&args)?;
    let device = backend::device(args.device)?;
    let inputs = Inputs::default()
        .with_path("--model", Some(&args.model))
        .with_path("--data", Some(&args.data))
        .with_path("--sts", args.sts.as_deref());
    let resume_from = harness::resume_epoch(
        args.resume,
        &args.artifacts,
        &config,
        &SimcseConfig::new(),
        &inputs,
    )?;
    // Every input is read and checked before the run's folder is touched.
    let sets = match &args.sts {
        Some(folder) => find_sts_sets(folder)?,
        None => Vec::new(),
    };
    let (train, valid) = load_examples(&config, &args.data)?;
    let (bert_config, bert, mlp) = load_bert_with_pooler::<TrainBackend>(&args.model, &device)?;
    let tokenizer =
        TextTokenizer::from_file(&args.model.join("tokenizer.json"), config.max_length)?;
    tokenizer
        .check_vocabulary(bert_config.vocab_size)
        .with_context(|| format!("{}", args.model.join("tokenizer.json").display()))?;
    let run = RunDir::create(&args.artifacts)?;
    run.write_json("config.json", &config)?;
    run.write_json(Inputs::FILE, &inputs)?;
    let base = keep_base_files(&args.model, &run)?;

    TrainBackend::seed(&device, config.seed);
    let mut model = config.model.init(&bert_config, bert, mlp, &device)?;
    let eval_tokenizer = TextTokenizer::from_file(
        &args.model.join("tokenizer.json"),
        bert_config.max_position_embeddings,
    )?;
    let before = score_sets(&model.valid(), &eval_tokenizer, &sets, 64, &device)?;
    let monitor = sets
        .iter()
        .find(|s| s.name.starts_with("STS-B dev"))
        .map(|dev| {
            DevMonitor::new(
                dev.pairs.clone(),
                eval_tokenizer.clone(),
                64,
                config.eval_steps,
                run.path().join("best-model"),
            )
        });
    let steps_per_epoch = train.len().div_ceil(config.batch_size);
    if let Some(monitor) = &monitor {
        let steps_done = resume_from.unwrap_or(0) * steps_per_epoch;
        monitor.resume_after(steps_done)?;
        model = model.with_dev_monitor(monitor.clone());
    }

    let total_steps = steps_per_epoch * config.epochs;
    let schedule = WarmupScheduleConfig::new(config.learning_rate, total_steps)
        .with_warmup_steps(config.warmup_steps.min(total_steps))
        .with_decay(config.decay)
        .init()?;
    let optim = AdamWConfig::new()
        .with_epsilon(1e-8)
        .with_weight_decay(config.weight_decay as f32)
        .init();
    let batcher = SentenceBatcher::new(tokenizer);
    let train_examples = train.len();
    let done = resume_from.unwrap_or(0);
    let loader_train = DataLoaderBuilder::new(batcher.clone())
        .batch_size(config.batch_size)
        .num_workers(config.num_workers)
        .set_device(device.clone())
        .build(EpochOrder::shuffled(train, config.seed).starting_at(done));
    let loader_valid = DataLoaderBuilder::new(batcher)
        .batch_size(config.batch_size)
        .num_workers(config.num_workers)
        .set_device(device.clone())
        .build(EpochOrder::sequential(valid).starting_at(done));
    let mut training = SupervisedTraining::new(run.path(), loader_train, loader_valid);
    for (metric, split_valid) in [
        (StepMetric::loss(), true),
        (StepMetric::accuracy(), true),
        (StepMetric::extra("Alignment", false), true),
        (StepMetric::extra("Uniformity", false), true),
        (StepMetric::throughput("examples/s"), false),
    ] {
        if split_valid {
            training = training.metric_valid_numeric(metric.clone());
        }
        training = training.metric_train_numeric(metric);
    }
    training = training.metric_train_numeric(LearningRateMetric::new());
    if monitor.is_some() {
        training = training.metric_train_numeric(StepMetric::latest(DEV_SPEARMAN, true));
    }
    let (training, guards) = harness::configure(
        training,
        &HarnessOptions {
            epochs: config.epochs,
            resume_from,
            steps_per_epoch,
            on_non_finite: args.on_non_finite,
            log_every: 10,
        },
    )?;
    let start = std::time::Instant::now();
    let model = model.with_finite_guard(guards.finite.clone());
    let result = training.launch(Learner::new(model, optim, schedule));
    let skipped_steps = guards.check(&result.model, run.path())?;
    let seconds = start.elapsed().as_secs_f64();

    // The best dev checkpoint when there is one (the reference's load_best_model_at_end).
    let mut trained = result.model;
    let best = monitor.as_ref().and_then(|m| m.best());
    if let (Some(monitor), Some(_)) = (&monitor, best) {
        trained = trained
            .load_file(monitor.best_model_path(), &run_recorder(), &device)
            .with_context(|| format!("cannot load {}", monitor.best_model_path().display()))?;
    } else {
        trained
            .clone()
            .save_file(run.path().join("best-model"), &run_recorder())
            .context("cannot save the trained model")?;
    }
    let after = score_sets(&trained, &eval_tokenizer, &sets, 64, &device)?;
    let hf = run.path().join("hf");
    write_hf_directory(&trained, &base, &hf)?;
    let summary = json!({
        "task": "simcse.train",
        "backend": backend::NAME,
        "mode": args.mode,
        "model": args.model,
        "data": args.data,
        "train_examples": train_examples,
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "steps": total_steps,
        "train_seconds": seconds,
        "non_finite_steps_skipped": skipped_steps,
        "best_dev_step": best.map(|(step, _)| step),
        "best_dev_spearman": best.map(|(_, rho)| rho),
        "sts_before": before,
        "sts_after": after,
        "hf_export": hf,
        "artifacts": run.path(),
    });
    run.finish(&summary)
}

fn export_command(args: ExportArgs) -> Result<()> {
    let run = &args.checkpoint;
    let config = config_file::load(&run.join("config.json"), &SimcseConfig::new())?;
    let base = run.join("base");
    let bert_config = load_config(&base)?;
    let device = backend::device(0)?;
    let model = config.model.init::<InferenceBackend>(
        &bert_config,
        bert_config.init(&device),
        None,
        &device,
    )?;
    let weights = run.join("best-model.mpk");
    if !weights.is_file() {
        bail!(
            "{}: no trained model (is this a finished `simcse train` run?)",
            weights.display()
        );
    }
    let model = model
        .load_file(&weights, &run_recorder(), &device)
        .with_context(|| format!("cannot load {}", weights.display()))?;
    write_hf_directory(&model, &base, &args.out)?;
    println!(
        "{}",
        json!({"task": "simcse.export", "checkpoint": run, "out": args.out})
    );
    Ok(())
}
