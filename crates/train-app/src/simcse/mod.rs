//! `train-app simcse ...`: train SimCSE from a Hugging Face BERT directory, score STS sets,
//! embed sentences from stdin and export a trained run as a Hugging Face directory.

mod commands;
mod recipe;
mod sts_scatter;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};
use simcse::{Mode, Pooler};

use crate::named_values::NamedValues;
use crate::pipeline::TrainFlags;

#[derive(Subcommand)]
pub enum SimcseJob {
    /// Train with the unsupervised (dropout) or supervised (NLI) objective.
    Train(Box<TrainArgs>),
    /// Print the configuration `train` would use with the same options, as TOML that
    /// `--config` reads back.
    Config(ConfigArgs),
    /// Spearman ×100 of cosine similarity against gold scores on every STS set found.
    Eval(EvalArgs),
    /// Embed sentences from stdin (one per line): one JSON array per line on stdout.
    Embed(EmbedArgs),
    /// Write a trained run's model as a Hugging Face directory.
    Export(ExportArgs),
}

const MODES: &[&str] = &["unsup", "sup"];
const POOLERS: &[&str] = &[
    "cls",
    "cls_before_pooler",
    "avg",
    "avg_first_last",
    "avg_top2",
];

fn parse_mode(name: &str) -> Result<Mode, String> {
    match name {
        "unsup" => Ok(Mode::Unsup),
        "sup" => Ok(Mode::Sup),
        _ => Err("expected unsup or sup".into()),
    }
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Unsup => "unsup",
        Mode::Sup => "sup",
    }
}

fn modes() -> NamedValues<Mode> {
    NamedValues::new(MODES, parse_mode)
}

fn poolers() -> NamedValues<Pooler> {
    NamedValues::new(POOLERS, str::parse)
}

#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    flags: TrainFlags,
    #[command(flatten)]
    overrides: ConfigOverrides,
    /// The initial model: a Hugging Face BERT directory (config.json, model.safetensors,
    /// tokenizer.json).
    #[arg(long)]
    model: PathBuf,
    /// Training data (gzip accepted).
    #[arg(long)]
    data: PathBuf,
    /// A folder with STS-B (`sts-dev.csv`): its dev set is scored every `eval_steps` steps and
    /// the best model kept; every STS set found is scored before and after training.
    /// [default: none: no dev monitor, the last model is kept]
    #[arg(long)]
    sts: Option<PathBuf>,
}

/// The options of `train` that change its config (`config` takes them too).
#[derive(Args)]
pub struct ConfigOverrides {
    /// Overrides `model.mode`. `unsup`: one sentence per line, the positive is the same
    /// sentence under another dropout mask; `sup`: NLI CSV `sent0,sent1[,hard_neg]`.
    /// [default: the config's, unsup]
    #[arg(long, value_parser = modes())]
    mode: Option<Mode>,
    /// Overrides `model.pooler`. [default: the config's, cls]
    #[arg(long, value_parser = poolers())]
    pooler: Option<Pooler>,
    /// Overrides `learning_rate`. [default: the config's]
    #[arg(long)]
    learning_rate: Option<f64>,
    /// Overrides `train_examples` (use only the first N). [default: the config's, all]
    #[arg(long)]
    train_examples: Option<usize>,
    /// Overrides `eval_steps`. [default: the config's]
    #[arg(long)]
    eval_steps: Option<usize>,
    /// Overrides `grad_cache_chunks`: encode each batch in K chunks (GradCache), for batches
    /// larger than memory. [default: the config's, 1]
    #[arg(long, value_name = "K")]
    grad_cache_chunks: Option<usize>,
    /// Overrides `model.dropout` (0 is the paper's collapse ablation). [default: the config's,
    /// the checkpoint's own]
    #[arg(long)]
    dropout: Option<f64>,
    /// Sets `model.same_dropout_mask` (the paper's other collapse ablation).
    #[arg(long)]
    same_mask: bool,
}

/// Options of `simcse config`.
#[derive(Args)]
pub struct ConfigArgs {
    #[command(flatten)]
    flags: TrainFlags,
    #[command(flatten)]
    overrides: ConfigOverrides,
}

#[derive(Args)]
pub struct EvalArgs {
    /// A Hugging Face BERT or sentence-transformers directory, or `org/name` in the local
    /// Hugging Face cache.
    #[arg(long)]
    model: PathBuf,
    /// Folder(s) searched for STS sets (STS-B, SICK-R, SentEval's STS12–16).
    #[arg(long, required = true)]
    sts: Vec<PathBuf>,
    /// How the sentence embedding is read off the encoder (`cls` needs the checkpoint's
    /// pooler.dense). [default: the model's Pooling module, else cls_before_pooler]
    #[arg(long, value_parser = poolers())]
    pooler: Option<Pooler>,
    /// Sentences per batch.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Also write a scatter of predicted cosine against gold score, one panel per set, as
    /// `.svg` or `.png`.
    #[arg(long, value_name = "FILE")]
    scatter: Option<PathBuf>,
    /// Device index (GPU backends).
    #[arg(long, default_value_t = 0)]
    device: usize,
}

#[derive(Args)]
pub struct EmbedArgs {
    /// A Hugging Face BERT or sentence-transformers directory, or `org/name` in the local
    /// Hugging Face cache.
    #[arg(long)]
    model: PathBuf,
    /// How the sentence embedding is read off the encoder (see `eval`). [default: the model's
    /// Pooling module, else cls_before_pooler]
    #[arg(long, value_parser = poolers())]
    pooler: Option<Pooler>,
    /// Scale every embedding to unit length (`--normalize false` turns off a Normalize module).
    /// [default: whether the model has a Normalize module]
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    normalize: Option<bool>,
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
    /// Device index (GPU backends).
    #[arg(long, default_value_t = 0)]
    device: usize,
}

pub fn run(job: SimcseJob) -> Result<()> {
    match job {
        SimcseJob::Train(args) => recipe::train(*args),
        SimcseJob::Config(args) => recipe::print_config(args),
        SimcseJob::Eval(args) => commands::eval(args),
        SimcseJob::Embed(args) => commands::embed(args),
        SimcseJob::Export(args) => commands::export(args),
    }
}
