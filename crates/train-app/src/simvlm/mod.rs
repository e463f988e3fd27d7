//! `train-app simvlm ...`: PrefixLM pre-training of the SimVLM encoder–decoder on generated
//! scenes or image–caption pairs, captioning, visual question answering and evaluation.

mod commands;
mod gallery;
mod recipe;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, Result};
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Subcommand};
use simvlm::data::captions::read_captions;
use simvlm::data::scenes::{self, HeldOutPair};
use simvlm::data::CaptionedImages;

use crate::harness::Inputs;
use crate::pipeline::{FinishedRun, TrainFlags};

#[derive(Subcommand)]
pub enum SimvlmJob {
    /// PrefixLM pre-training, then evaluation (captioning and, on generated data, VQA).
    Train(TrainArgs),
    /// Print the configuration `train` would use with the same options, as TOML that
    /// `--config` reads back.
    Config(TrainArgs),
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
    /// [default: synthetic; for `eval`, the run's]
    #[arg(long)]
    data: Option<String>,
    /// Split used for training when `--data` is a TSV. [default: train; for `eval`, the run's]
    #[arg(long)]
    train_split: Option<String>,
    /// Split evaluated when `--data` is a TSV.
    #[arg(long, default_value = "dev")]
    eval_split: String,
    /// Generated training scenes (test scenes: a tenth as many, held-in and held-out each).
    /// [default: 3000; for `eval`, the run's]
    #[arg(long)]
    synthetic_images: Option<usize>,
    /// Which two scene attributes have combinations never shown in training (`colour-position`:
    /// no blue shape top left, no yellow bottom right, no red top right). The "held-out" test
    /// scenes show only those combinations. [default: colour-position; for `eval`, the run's]
    #[arg(
        long,
        value_parser = PossibleValuesParser::new(HeldOutPair::ALL.map(HeldOutPair::name)).try_map(|name| name.parse::<HeldOutPair>())
    )]
    held_out: Option<HeldOutPair>,
}

#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub flags: TrainFlags,
    #[command(flatten)]
    pub data: DataArgs,
    /// A `simclr train` run folder whose encoder starts the convolutional stem (same depth,
    /// stem and width; its first stages are kept). [default: the stem starts from random weights]
    #[arg(long)]
    stem_from: Option<PathBuf>,
    /// A text-only corpus (one text per line, plain or gzip) trained with PrefixLM beside the
    /// image–text pairs: each line is split at a random point and the rest predicted.
    #[arg(long)]
    text_corpus: Option<PathBuf>,
    /// An existing `tokenizer.json` with [PAD], [UNK], [BOS], [EOS].
    /// [default: trained on the training captions and the text corpus]
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// Overrides `accumulate_steps`: run each batch as K micro-batches, one optimizer step.
    /// [default: the config's, 1]
    #[arg(long, value_name = "K")]
    accumulate_steps: Option<usize>,
}

#[derive(Args)]
pub struct CaptionArgs {
    /// The run's folder (`train --artifacts`).
    #[arg(long)]
    checkpoint: PathBuf,
    /// Text the caption continues (e.g. "a picture of").
    #[arg(long, default_value = "")]
    prompt: String,
    /// Beams (1: greedy). [default: the run's `decode.beam_width`]
    #[arg(long)]
    beam: Option<usize>,
    /// Device index (GPU backends).
    #[arg(long, default_value_t = 0)]
    device: usize,
    /// Images to caption.
    #[arg(required = true)]
    images: Vec<PathBuf>,
}

#[derive(Args)]
pub struct AskArgs {
    /// The run's folder (`train --artifacts`).
    #[arg(long)]
    checkpoint: PathBuf,
    /// Device index (GPU backends).
    #[arg(long, default_value_t = 0)]
    device: usize,
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
    /// Also write an HTML page of each evaluation set's images with their generated and
    /// reference captions (self-contained: the images are inlined).
    #[arg(long, value_name = "OUT.html")]
    gallery: Option<PathBuf>,
    /// Images per set on the gallery page.
    #[arg(long, default_value_t = 48)]
    gallery_images: usize,
    /// Device index (GPU backends).
    #[arg(long, default_value_t = 0)]
    device: usize,
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
        SimvlmJob::Train(args) => recipe::train(args),
        SimvlmJob::Config(args) => recipe::print_config(args),
        SimvlmJob::Caption(args) => commands::caption(args),
        SimvlmJob::Ask(args) => commands::ask(args),
        SimvlmJob::Eval(args) => commands::eval(args),
        SimvlmJob::Tokenizer(args) => commands::tokenizer(args),
    }
}
impl DataArgs {
    pub fn data(&self) -> &str {
        self.data.as_deref().unwrap_or("synthetic")
    }

    pub fn synthetic(&self) -> bool {
        self.data() == "synthetic"
    }

    pub fn held_out(&self) -> HeldOutPair {
        self.held_out.unwrap_or_default()
    }

    /// The arguments not given, as the run recorded them in its `inputs.json`.
    pub fn or_recorded<C: serde::Serialize + serde::de::DeserializeOwned>(
        mut self,
        run: &FinishedRun<C>,
    ) -> Result<Self> {
        if self.data.is_none() {
            self.data = run.recorded_text("--data")?;
        }
        if self.train_split.is_none() {
            self.train_split = run.recorded_text("--train-split")?;
        }
        if self.synthetic_images.is_none() {
            self.synthetic_images = run.recorded_count("--synthetic-images")?;
        }
        if self.held_out.is_none() {
            if let Some(name) = run.recorded_text("--held-out")? {
                let pair = name.parse().map_err(|error: String| {
                    anyhow!("{}: {error}", run.dir.join(Inputs::FILE).display())
                })?;
                self.held_out = Some(pair);
            }
        }
        Ok(self)
    }

    pub fn inputs(&self) -> Inputs {
        let synthetic = self.synthetic();
        Inputs::default()
            .with_path("--data", Some(Path::new(self.data())))
            .with("--train-split", (!synthetic).then(|| self.train_split()))
            .with(
                "--synthetic-images",
                synthetic.then(|| self.synthetic_images()),
            )
            .with("--held-out", synthetic.then(|| self.held_out().to_string()))
    }

    fn train_split(&self) -> &str {
        self.train_split.as_deref().unwrap_or("train")
    }

    fn synthetic_images(&self) -> usize {
        self.synthetic_images.unwrap_or(3000)
    }

    /// Training images and the named evaluation sets: generated scenes give "held-in" and
    /// "held-out".
    pub fn load(&self, size: usize, seed: u64) -> Result<Splits> {
        if self.synthetic() {
            let (count, pair) = (self.synthetic_images(), self.held_out());
            let test = (count / 10).max(10);
            let (_, train) = scenes::generate(count, size, pair, false, seed);
            let (_, held_in) = scenes::generate(test, size, pair, false, seed ^ 0x7E57);
            let (_, held_out) = scenes::generate(test, size, pair, true, seed ^ 0x0DD);
            return Ok(Splits {
                train: Arc::new(train),
                eval: vec![("held-in".into(), held_in), ("held-out".into(), held_out)],
            });
        }
        let tsv = Path::new(self.data());
        Ok(Splits {
            train: Arc::new(read_captions(tsv, Some(self.train_split()), size)?),
            eval: vec![(
                self.eval_split.clone(),
                read_captions(tsv, Some(&self.eval_split), size)?,
            )],
        })
    }
}

/// Training and evaluation data of a job.
pub struct Splits {
    pub train: Arc<CaptionedImages>,
    /// Named evaluation sets; the first is validated on during training.
    pub eval: Vec<(String, CaptionedImages)>,
}
