//! `train-app simvlm ...`: PrefixLM pre-training of the SimVLM encoder–decoder on generated
//! scenes or image–caption pairs, captioning, visual question answering and evaluation.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use burn::data::dataloader::DataLoaderBuilder;
use burn::module::Module;
use burn::optim::AdamWConfig;
use burn::tensor::backend::Backend;
use burn::tensor::Device;
use burn::train::metric::LearningRateMetric;
use burn::train::{Learner, SupervisedTraining};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Subcommand};
use contrastive_core::epochs::{EpochDataset, EpochOrder};
use contrastive_core::nn::ResNet;
use contrastive_core::optim::WarmupScheduleConfig;
use contrastive_core::text_file::read_lines;
use contrastive_core::train::StepMetric;
use serde_json::{json, Value};
use simclr::SimclrConfig;
use simvlm::caption_metrics::{corpus_bleu4, corpus_cider_d, words};
use simvlm::data::batcher::{PrefixBatcher, PrefixLmDataset};
use simvlm::data::captions::{load_image, read_captions};
use simvlm::data::scenes::{self, HeldOutPair};
use simvlm::data::{CaptionedImages, Pixels};
use simvlm::decode::{generate_beam, generate_greedy};
use simvlm::tokenizer::CaptionTokenizer;
use simvlm::{SimVlm, SimvlmConfig};

use crate::artifacts::RunDir;
use crate::backend::{self, InferenceBackend, TrainBackend};
use crate::config_file;
use crate::harness::{self, HarnessOptions, Inputs, OnNonFinite};
use contrastive_core::atomic_save::run_recorder;

#[derive(Subcommand)]
pub enum SimvlmJob {
    /// PrefixLM pre-training, then evaluation (captioning and, on generated data, VQA).
    Train(TrainArgs),
    /// Caption images with a trained run.
    Caption(CaptionArgs),
    /// Answer a question about an image with a trained run.
    Ask(AskArgs),
    /// Evaluate a trained run: BLEU-4 and CIDEr-D (and exact match / VQA accuracy on scenes).
    Eval(EvalArgs),
    /// Train a word-level tokenizer on a captions TSV or a text file (one text per line).
    Tokenizer(TokenizerArgs),
}

#[derive(Args, Clone)]
pub struct DataArgs {
    /// `synthetic` (generated scenes with held-out attribute combinations) or a captions TSV
    /// (`image`, `caption` and a split column, as in Flickr8k's `captions.tsv`).
    #[arg(long, default_value = "synthetic")]
    data: String,
    /// Split used for training when `--data` is a TSV.
    #[arg(long, default_value = "train")]
    train_split: String,
    /// Split evaluated when `--data` is a TSV.
    #[arg(long, default_value = "dev")]
    eval_split: String,
    /// Generated training scenes (test scenes: a tenth as many, held-in and held-out each).
    #[arg(long, default_value_t = 3000)]
    synthetic_images: usize,
    /// Which two scene attributes have combinations never shown in training (`colour-position`:
    /// no blue shape top left, no yellow bottom right, no red top right). The "held-out" test
    /// scenes show only those combinations. Default: `colour-position` for `train`, the run's
    /// own for `eval`.
    #[arg(
        long,
        value_parser = PossibleValuesParser::new(HeldOutPair::ALL.map(HeldOutPair::name)).try_map(|name| name.parse::<HeldOutPair>())
    )]
    held_out: Option<HeldOutPair>,
}

#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
    /// A `SimvlmConfig` as TOML or JSON (unknown keys are errors).
    #[arg(long)]
    config: Option<PathBuf>,
    /// A `simclr train` run folder whose encoder starts the convolutional stem (same depth,
    /// stem and width; its first stages are kept). Default: the stem starts from random weights.
    #[arg(long)]
    stem_from: Option<PathBuf>,
    /// A text-only corpus (one text per line, plain or gzip) trained with PrefixLM beside the
    /// image–text pairs: each line is split at a random point and the rest predicted.
    #[arg(long)]
    text_corpus: Option<PathBuf>,
    /// An existing `tokenizer.json` with [PAD], [UNK], [BOS], [EOS] (default: trained on the
    /// training captions and the text corpus).
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// Overrides `epochs`.
    #[arg(long)]
    epochs: Option<usize>,
    /// Overrides `batch_size`.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Overrides `seed`.
    #[arg(long)]
    seed: Option<u64>,
    /// The run's folder: config, tokenizer, checkpoints, logs, model, summary.
    #[arg(long, default_value = "artifacts/simvlm")]
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
pub struct CaptionArgs {
    /// The run's folder (`train --artifacts`).
    #[arg(long)]
    checkpoint: PathBuf,
    /// Text the caption continues (e.g. "a picture of").
    #[arg(long, default_value = "")]
    prompt: String,
    /// Beams (1: greedy).
    #[arg(long)]
    beam: Option<usize>,
    /// Images to caption.
    #[arg(required = true)]
    images: Vec<PathBuf>,
}

#[derive(Args)]
pub struct AskArgs {
    /// The run's folder (`train --artifacts`).
    #[arg(long)]
    checkpoint: PathBuf,
    /// The image.
    image: PathBuf,
    /// The question.
    question: String,
}

#[derive(Args)]
pub struct EvalArgs {
    /// The run's folder (`train --artifacts`).
    #[arg(long)]
    checkpoint: PathBuf,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Args)]
pub struct TokenizerArgs {
    /// A captions TSV or a text file with one text per line.
    #[arg(long)]
    corpus: PathBuf,
    /// Words kept, special tokens included.
    #[arg(long, default_value_t = 2000)]
    vocab_size: usize,
    /// Where to write `tokenizer.json`.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(job: SimvlmJob) -> Result<()> {
    match job {
        SimvlmJob::Train(args) => train_command(args),
        SimvlmJob::Caption(args) => caption_command(args),
        SimvlmJob::Ask(args) => ask_command(args),
        SimvlmJob::Eval(args) => eval_command(args),
        SimvlmJob::Tokenizer(args) => tokenizer_command(args),
    }
}

impl DataArgs {
    fn synthetic(&self) -> bool {
        self.data == "synthetic"
    }
}

/// Training and evaluation data of a job.
struct Splits {
    train: Arc<CaptionedImages>,
    /// Named evaluation sets: generated scenes give "held-in" and "held-out".
    eval: Vec<(String, CaptionedImages)>,
}

/// Which combinations the scenes of `run_dir` (a finished `simvlm train` run) held out: the
/// ones recorded in its `inputs.json`, or the default for runs without one.
fn recorded_held_out(run_dir: &Path) -> Result<HeldOutPair> {
    let Some(value) = Inputs::recorded(run_dir, "--held-out")? else {
        return Ok(HeldOutPair::default());
    };
    value
        .as_str()
        .unwrap_or_default()
        .parse()
        .map_err(|error: String| anyhow!("{}: {error}", run_dir.join(Inputs::FILE).display()))
}

fn load_splits(args: &DataArgs, pair: HeldOutPair, size: usize, seed: u64) -> Result<Splits> {
    if args.synthetic() {
        let test = (args.synthetic_images / 10).max(10);
        let (_, train) = scenes::generate(args.synthetic_images, size, pair, false, seed);
        let (_, held_in) = scenes::generate(test, size, pair, false, seed ^ 0x7E57);
        let (_, held_out) = scenes::generate(test, size, pair, true, seed ^ 0x0DD);
        return Ok(Splits {
            train: Arc::new(train),
            eval: vec![("held-in".into(), held_in), ("held-out".into(), held_out)],
        });
    }
    let tsv = Path::new(&args.data);
    Ok(Splits {
        train: Arc::new(read_captions(tsv, Some(&args.train_split), size)?),
        eval: vec![(
            args.eval_split.clone(),
            read_captions(tsv, Some(&args.eval_split), size)?,
        )],
    })
}

/// Every text a tokenizer should cover: captions, questions and answers.
fn corpus_texts(data: &CaptionedImages) -> Vec<String> {
    data.captions
        .iter()
        .flatten()
        .cloned()
        .chain(
            data.questions
                .iter()
                .flatten()
                .flat_map(|(q, a)| [q.clone(), a.clone()]),
        )
        .collect()
}

fn resolve_config(args: &TrainArgs) -> Result<SimvlmConfig> {
    let mut config = match &args.config {
        Some(path) => config_file::load(path, &SimvlmConfig::new())?,
        None => SimvlmConfig::new(),
    };
    if let Some(epochs) = args.epochs {
        config.epochs = epochs;
    }
    if let Some(batch_size) = args.batch_size {
        config.batch_size = batch_size;
    }
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    config.model.grid()?;
    if config.batch_size == 0 || config.epochs == 0 {
        bail!("batch_size and epochs must be > 0");
    }
    Ok(config)
}

fn train_command(args: TrainArgs) -> Result<()> {
    let config = resolve_config(&args)?;
    let device = backend::device(args.device)?;
    let synthetic = args.data.synthetic();
    let held_out = args.data.held_out.unwrap_or_default();
    let inputs = Inputs::default()
        .with_path("--data", Some(Path::new(&args.data.data)))
        .with(
            "--train-split",
            (!synthetic).then_some(&args.data.train_split),
        )
        .with(
            "--synthetic-images",
            synthetic.then_some(args.data.synthetic_images),
        )
        .with("--held-out", synthetic.then(|| held_out.to_string()))
        .with_path("--text-corpus", args.text_corpus.as_deref())
        .with_path("--stem-from", args.stem_from.as_deref())
        .with_path("--tokenizer", args.tokenizer.as_deref());
    let resume_from = harness::resume_epoch(
        args.resume,
        &args.artifacts,
        &config,
        &SimvlmConfig::new(),
        &inputs,
    )?;
    let splits = load_splits(&args.data, held_out, config.model.image_size, config.seed)?;
    let texts = match &args.text_corpus {
        Some(path) => read_lines(path)?,
        None => Vec::new(),
    };
    let tokenizer = match (&args.tokenizer, resume_from) {
        (Some(path), _) => CaptionTokenizer::from_file(path)?,
        (None, Some(_)) => CaptionTokenizer::from_file(&args.artifacts.join("tokenizer.json"))?,
        (None, None) => CaptionTokenizer::train(
            &[corpus_texts(&splits.train), texts.clone()].concat(),
            config.vocab_size,
        )?,
    };
    let run = RunDir::create(&args.artifacts)?;
    run.write_json("config.json", &config)?;
    run.write_json(Inputs::FILE, &inputs)?;
    tokenizer.save(&run.path().join("tokenizer.json"))?;

    TrainBackend::seed(&device, config.seed);
    let mut model = config
        .model
        .init::<TrainBackend>(tokenizer.vocab_size(), &device)?;
    if let (Some(dir), None) = (&args.stem_from, resume_from) {
        model = model
            .with_stem_from(simclr_encoder(dir, &device)?)
            .with_context(|| format!("--stem-from {}", dir.display()))?;
    }
    let max_text_len = config.model.max_text_len;
    let train = PrefixLmDataset::new(splits.train.clone(), &tokenizer, max_text_len, config.seed)
        .with_texts(&texts, &tokenizer)
        .with_word_dropout(config.word_dropout);
    let (first_eval_name, first_eval) = &splits.eval[0];
    let valid = PrefixLmDataset::new(
        Arc::new(first_eval.clone()),
        &tokenizer,
        max_text_len,
        config.seed ^ 1,
    );
    let steps_per_epoch = train.len().div_ceil(config.batch_size);
    let total_steps = steps_per_epoch * config.epochs;
    let schedule = WarmupScheduleConfig::new(config.learning_rate, total_steps)
        .with_warmup_steps(config.warmup_steps.min(total_steps))
        .with_decay(config.decay)
        .init()?;
    let optim = AdamWConfig::new()
        .with_weight_decay(config.weight_decay as f32)
        .init();
    let batcher = PrefixBatcher::new(&tokenizer, config.model.image_size);
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
    let training = SupervisedTraining::new(run.path(), loader_train, loader_valid)
        .metric_train_numeric(StepMetric::loss())
        .metric_valid_numeric(StepMetric::loss())
        .metric_train_numeric(StepMetric::accuracy_named("Token Accuracy"))
        .metric_valid_numeric(StepMetric::accuracy_named("Token Accuracy"))
        .metric_train_numeric(StepMetric::throughput("examples/s"))
        .metric_train_numeric(LearningRateMetric::new());
    let (training, guards) = harness::configure(
        training,
        &HarnessOptions {
            epochs: config.epochs,
            resume_from,
            steps_per_epoch,
            on_non_finite: args.on_non_finite,
            log_every: 20,
        },
    )?;
    let start = std::time::Instant::now();
    let model = model.with_finite_guard(guards.finite.clone());
    let result = training.launch(Learner::new(model, optim, schedule));
    let skipped_steps = guards.check(&result.model, run.path())?;
    let seconds = start.elapsed().as_secs_f64();
    result
        .model
        .clone()
        .save_file(run.path().join("model"), &run_recorder())
        .context("cannot save the trained model")?;
    let evaluation = evaluate(&result.model, &tokenizer, &config, &splits, &device);
    let summary = json!({
        "task": "simvlm.train",
        "backend": backend::NAME,
        "data": args.data.data,
        "held_out": synthetic.then(|| held_out.to_string()),
        "train_images": splits.train.len(),
        "train_examples": train_examples,
        "text_corpus": args.text_corpus,
        "stem_from": args.stem_from,
        "text_lines": texts.len(),
        "vocab_size": tokenizer.vocab_size(),
        "validation_split": first_eval_name,
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "steps": total_steps,
        "train_seconds": seconds,
        "non_finite_steps_skipped": skipped_steps,
        "evaluation": evaluation,
        "artifacts": run.path(),
    });
    run.finish(&summary)
}

/// The trained encoder of the SimCLR run in `dir`.
fn simclr_encoder(dir: &Path, device: &Device<TrainBackend>) -> Result<ResNet<TrainBackend>> {
    let config = config_file::load(&dir.join("config.json"), &SimclrConfig::new())?;
    let weights = dir.join("model.mpk");
    let model = config
        .model
        .init::<TrainBackend>(device)?
        .load_file(&weights, &run_recorder(), device)
        .with_context(|| {
            format!(
                "cannot load SimCLR weights {} (do they match its config.json?)",
                weights.display()
            )
        })?;
    Ok(model.encoder)
}

/// The most frequent caption of the training set: the constant baseline.
fn most_frequent_caption(train: &CaptionedImages) -> String {
    let mut counts = std::collections::HashMap::new();
    for caption in train.captions.iter().flatten() {
        *counts.entry(words(caption).join(" ")).or_insert(0usize) += 1;
    }
    counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
        .map(|(caption, _)| caption)
        .unwrap_or_default()
}

/// Greedy captions (empty prompt) or answers (the questions as prompts) for every image.
fn generate_all<B: Backend>(
    model: &SimVlm<B>,
    tokenizer: &CaptionTokenizer,
    images: &[&Pixels],
    prompts: &[Vec<u32>],
    config: &SimvlmConfig,
    device: &B::Device,
) -> Vec<String> {
    let mut texts = Vec::with_capacity(images.len());
    for (chunk, prompt_chunk) in images.chunks(64).zip(prompts.chunks(64)) {
        for ids in generate_greedy(
            model,
            tokenizer,
            chunk,
            config.model.image_size,
            prompt_chunk,
            config.decode.max_len,
            device,
        ) {
            texts.push(tokenizer.decode(&ids));
        }
    }
    texts
}

fn fraction(hits: usize, total: usize) -> f64 {
    hits as f64 / total.max(1) as f64
}

/// Captioning (BLEU-4, CIDEr-D, exact match) and question answering (accuracy) on each
/// evaluation set, with the constant-caption baseline.
fn evaluate<B: Backend>(
    model: &SimVlm<B>,
    tokenizer: &CaptionTokenizer,
    config: &SimvlmConfig,
    splits: &Splits,
    device: &B::Device,
) -> Value {
    let baseline = most_frequent_caption(&splits.train);
    let mut report = serde_json::Map::new();
    for (name, set) in &splits.eval {
        let images: Vec<&Pixels> = set.images.iter().collect();
        let empty = vec![Vec::new(); images.len()];
        let captions = generate_all(model, tokenizer, &images, &empty, config, device);
        let exact = captions
            .iter()
            .zip(&set.captions)
            .filter(|(c, refs)| refs.iter().any(|r| words(r) == words(c)))
            .count();
        let constant = vec![baseline.clone(); images.len()];
        let mut entry = json!({
            "images": images.len(),
            "bleu4": corpus_bleu4(&captions, &set.captions),
            "cider_d": corpus_cider_d(&captions, &set.captions),
            "caption_exact_match": fraction(exact, images.len()),
            "constant_baseline": {
                "caption": baseline,
                "bleu4": corpus_bleu4(&constant, &set.captions),
                "cider_d": corpus_cider_d(&constant, &set.captions),
            },
            "examples": captions.iter().take(3).collect::<Vec<_>>(),
        });
        let (mut question_images, mut prompts, mut answers) = (Vec::new(), Vec::new(), Vec::new());
        for (image, questions) in images.iter().zip(&set.questions) {
            for (question, answer) in questions {
                question_images.push(*image);
                prompts.push(tokenizer.encode(question));
                answers.push(answer.clone());
            }
        }
        if !prompts.is_empty() {
            let predicted =
                generate_all(model, tokenizer, &question_images, &prompts, config, device);
            let right: Vec<bool> = predicted
                .iter()
                .zip(&answers)
                .map(|(p, a)| words(p) == words(a))
                .collect();
            let correct = right.iter().filter(|r| **r).count();
            entry["vqa_accuracy"] = json!(fraction(correct, answers.len()));
            // Accuracy per question, to see which attribute fails to generalise.
            let mut by_question: std::collections::BTreeMap<&str, (usize, usize)> =
                Default::default();
            let asked = set.questions.iter().flatten().map(|(question, _)| question);
            for (question, right) in asked.zip(&right) {
                let slot = by_question.entry(question.as_str()).or_default();
                slot.0 += usize::from(*right);
                slot.1 += 1;
            }
            entry["vqa_accuracy_by_question"] = by_question
                .into_iter()
                .map(|(q, (hits, total))| (q.to_string(), json!(fraction(hits, total))))
                .collect::<serde_json::Map<_, _>>()
                .into();
            entry["questions"] = json!(answers.len());
        }
        println!("{name}: {entry}");
        report.insert(name.clone(), entry);
    }
    Value::Object(report)
}

/// A trained run: its config, tokenizer and model on the inference backend.
fn load_run(
    dir: &Path,
    device: &Device<InferenceBackend>,
) -> Result<(SimvlmConfig, CaptionTokenizer, SimVlm<InferenceBackend>)> {
    let config = config_file::load(&dir.join("config.json"), &SimvlmConfig::new())?;
    let tokenizer = CaptionTokenizer::from_file(&dir.join("tokenizer.json"))?;
    let weights = dir.join("model.mpk");
    if !weights.is_file() {
        bail!(
            "{}: no trained model (is this a finished `simvlm train` run?)",
            weights.display()
        );
    }
    let model = config
        .model
        .init::<InferenceBackend>(tokenizer.vocab_size(), device)?
        .load_file(&weights, &run_recorder(), device)
        .with_context(|| format!("cannot load {}", weights.display()))?;
    Ok((config, tokenizer, model))
}

fn caption_command(args: CaptionArgs) -> Result<()> {
    let device = backend::device(0)?;
    let (mut config, tokenizer, model) = load_run(&args.checkpoint, &device)?;
    if let Some(beam) = args.beam {
        config.decode.beam_width = beam;
    }
    let prompt = tokenizer.encode(&args.prompt);
    for path in &args.images {
        let pixels = load_image(path, config.model.image_size)?;
        let ids = generate_beam(
            &model,
            &tokenizer,
            Some(&pixels),
            config.model.image_size,
            &prompt,
            &config.decode,
            &device,
        );
        let caption = [args.prompt.trim(), &tokenizer.decode(&ids)]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        println!("{}", json!({"image": path, "caption": caption}));
    }
    Ok(())
}

fn ask_command(args: AskArgs) -> Result<()> {
    let device = backend::device(0)?;
    let (config, tokenizer, model) = load_run(&args.checkpoint, &device)?;
    let pixels = load_image(&args.image, config.model.image_size)?;
    let ids = generate_beam(
        &model,
        &tokenizer,
        Some(&pixels),
        config.model.image_size,
        &tokenizer.encode(&args.question),
        &config.decode,
        &device,
    );
    println!(
        "{}",
        json!({"image": args.image, "question": args.question, "answer": tokenizer.decode(&ids)})
    );
    Ok(())
}

fn eval_command(args: EvalArgs) -> Result<()> {
    let device = backend::device(0)?;
    let (config, tokenizer, model) = load_run(&args.checkpoint, &device)?;
    let held_out = match args.data.held_out {
        Some(pair) => pair,
        None => recorded_held_out(&args.checkpoint)?,
    };
    let splits = load_splits(&args.data, held_out, config.model.image_size, config.seed)?;
    let evaluation = evaluate(&model, &tokenizer, &config, &splits, &device);
    println!(
        "{}",
        json!({
            "task": "simvlm.eval",
            "checkpoint": args.checkpoint,
            "data": args.data.data,
            "held_out": args.data.synthetic().then(|| held_out.to_string()),
            "evaluation": evaluation,
        })
    );
    Ok(())
}

fn tokenizer_command(args: TokenizerArgs) -> Result<()> {
    let texts: Vec<String> = if args.corpus.extension().is_some_and(|e| e == "tsv") {
        read_caption_texts(&args.corpus)?
    } else {
        std::fs::read_to_string(&args.corpus)
            .with_context(|| format!("cannot read {}", args.corpus.display()))?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect()
    };
    let tokenizer = CaptionTokenizer::train(&texts, args.vocab_size)?;
    tokenizer.save(&args.out)?;
    println!(
        "{}",
        json!({"task": "simvlm.tokenizer", "texts": texts.len(), "vocab_size": tokenizer.vocab_size(), "out": args.out})
    );
    Ok(())
}

/// The `caption` column of a captions TSV.
fn read_caption_texts(tsv: &Path) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(tsv).with_context(|| format!("cannot read {}", tsv.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split('\t').collect();
    let Some(column) = header.iter().position(|h| h.trim() == "caption") else {
        bail!("{}:1: no `caption` column in the header", tsv.display());
    };
    Ok(lines
        .filter_map(|l| l.split('\t').nth(column).map(str::to_string))
        .collect())
}
