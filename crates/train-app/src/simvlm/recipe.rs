//! SimVLM for the training pipeline: `simvlm train`.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use burn::optim::AdamWConfig;
use burn::tensor::Device;
use contrastive_core::nn::ResNet;
use contrastive_core::optim::WarmupSchedule;
use contrastive_core::run::text_file::read_lines;
use contrastive_core::run::train::{NoHook, StepMetric};
use serde_json::{json, Value};
use simclr::SimclrConfig;
use simvlm::data::batcher::{PrefixBatcher, PrefixExample, PrefixLmDataset};
use simvlm::tokenizer::CaptionTokenizer;
use simvlm::{SimVlm, SimvlmConfig};

use super::commands::evaluate_and_print;
use super::{Splits, TrainArgs};
use crate::artifacts::RunDir;
use crate::backend::{InferenceBackend, TrainBackend};
use crate::config_file;
use crate::harness::Inputs;
use crate::pipeline::{self, FinishedRun, Fitted, Launch, Metrics, Recipe, Trained};

pub fn train(args: TrainArgs) -> Result<()> {
    let flags = args.flags.clone();
    pipeline::train(&SimvlmRecipe(args), &flags)
}

pub fn print_config(args: TrainArgs) -> Result<()> {
    let flags = args.flags.clone();
    let config = SimvlmRecipe(args).config(flags.config.as_deref())?;
    pipeline::print_config(SimvlmRecipe::NAME, config, &flags)
}

/// SimVLM for the training pipeline.
struct SimvlmRecipe(TrainArgs);

/// What a SimVLM run reads before its folder is created.
struct SimvlmData {
    splits: Splits,
    texts: Vec<String>,
    tokenizer: CaptionTokenizer,
}

impl Recipe for SimvlmRecipe {
    const NAME: &'static str = "simvlm";
    const LOG_EVERY: usize = 20;
    type Config = SimvlmConfig;
    type Data = SimvlmData;
    type Item = PrefixExample;
    type Dataset = PrefixLmDataset;
    type Batcher = PrefixBatcher;
    type Model = SimVlm<TrainBackend>;
    type InferenceModel = SimVlm<InferenceBackend>;
    type Hook = NoHook;

    fn config(&self, file: Option<&Path>) -> Result<SimvlmConfig> {
        let mut config = match file {
            Some(path) => config_file::load(path, &SimvlmConfig::new())?,
            None => SimvlmConfig::new(),
        };
        config.accumulate_steps = self.0.accumulate_steps.unwrap_or(config.accumulate_steps);
        Ok(config)
    }

    fn inputs(&self) -> Inputs {
        let args = &self.0;
        args.data
            .inputs()
            .with_path("--text-corpus", args.text_corpus.as_deref())
            .with_path("--stem-from", args.stem_from.as_deref())
            .with_path("--tokenizer", args.tokenizer.as_deref())
    }

    fn load(
        &self,
        config: &SimvlmConfig,
        artifacts: &Path,
        resume_from: Option<usize>,
        _device: &Device<TrainBackend>,
    ) -> Result<SimvlmData> {
        let args = &self.0;
        let splits = args.data.load(config.model.image_size, config.seed)?;
        let texts = match &args.text_corpus {
            Some(path) => read_lines(path)?,
            None => Vec::new(),
        };
        let tokenizer = match (&args.tokenizer, resume_from) {
            (Some(path), _) => CaptionTokenizer::from_file(path)?,
            (None, Some(_)) => CaptionTokenizer::from_file(&artifacts.join("tokenizer.json"))?,
            (None, None) => CaptionTokenizer::train(
                &[splits.train.texts(), texts.clone()].concat(),
                config.vocab_size,
            )?,
        };
        Ok(SimvlmData {
            splits,
            texts,
            tokenizer,
        })
    }

    fn prepare(&self, data: &SimvlmData, run: &RunDir) -> Result<()> {
        Ok(data.tokenizer.save(&run.path().join("tokenizer.json"))?)
    }

    fn model(
        &self,
        config: &SimvlmConfig,
        data: &SimvlmData,
        resume_from: Option<usize>,
        device: &Device<TrainBackend>,
    ) -> Result<SimVlm<TrainBackend>> {
        let model = config
            .model
            .init::<TrainBackend>(data.tokenizer.vocab_size(), device)?;
        match (&self.0.stem_from, resume_from) {
            (Some(dir), None) => model
                .with_stem_from(simclr_encoder(dir, device)?)
                .with_context(|| format!("--stem-from {}", dir.display())),
            _ => Ok(model),
        }
    }

    fn datasets(
        &self,
        config: &SimvlmConfig,
        data: &SimvlmData,
    ) -> (PrefixLmDataset, PrefixLmDataset, PrefixBatcher) {
        let (tokenizer, max_len) = (&data.tokenizer, config.model.max_text_len);
        let train =
            PrefixLmDataset::new(data.splits.train.clone(), tokenizer, max_len, config.seed)
                .with_texts(&data.texts, tokenizer)
                .with_word_dropout(config.word_dropout);
        let first_eval = Arc::new(data.splits.eval[0].1.clone());
        let valid = PrefixLmDataset::new(first_eval, tokenizer, max_len, config.seed ^ 1);
        let batcher = PrefixBatcher::new(tokenizer, config.model.image_size);
        (train, valid, batcher)
    }

    fn schedule(&self, config: &SimvlmConfig, steps_per_epoch: usize) -> Result<WarmupSchedule> {
        pipeline::warmup_schedule(
            config.learning_rate,
            steps_per_epoch * config.epochs,
            config.warmup_steps,
            config.decay,
        )
    }

    fn optimizer<L: Launch<Trained<Self>>>(
        &self,
        config: &SimvlmConfig,
        launch: L,
    ) -> Result<L::Output> {
        let optim = AdamWConfig::new()
            .with_weight_decay(config.weight_decay as f32)
            .init();
        Ok(launch.launch(optim))
    }

    fn metrics(&self, _config: &SimvlmConfig) -> Metrics {
        Metrics {
            both: vec![
                StepMetric::loss(),
                StepMetric::accuracy_named("Token Accuracy"),
            ],
            train: vec![StepMetric::throughput("examples/s")],
            knn: None,
        }
    }

    fn report(
        &self,
        config: &SimvlmConfig,
        data: &SimvlmData,
        fitted: Fitted<Self>,
        run: &RunDir,
        device: &Device<InferenceBackend>,
    ) -> Result<Value> {
        pipeline::save_model(&fitted.model, run, "model")?;
        let evaluation =
            evaluate_and_print(&fitted.model, &data.tokenizer, config, &data.splits, device)?;
        let args = &self.0;
        let synthetic = args.data.synthetic();
        Ok(json!({
            "data": args.data.data(),
            "held_out": synthetic.then(|| args.data.held_out().to_string()),
            "train_images": data.splits.train.len(),
            "text_corpus": args.text_corpus,
            "stem_from": args.stem_from,
            "text_lines": data.texts.len(),
            "vocab_size": data.tokenizer.vocab_size(),
            "validation_split": data.splits.eval[0].0,
            "evaluation": evaluation,
        }))
    }
}

/// The trained encoder of the SimCLR run in `dir`.
fn simclr_encoder(dir: &Path, device: &Device<TrainBackend>) -> Result<ResNet<TrainBackend>> {
    let run = FinishedRun::open(dir, &SimclrConfig::new(), "simclr", "model")?;
    let model = run.load(run.config.model.init::<TrainBackend>(device)?, device)?;
    Ok(model.encoder)
}
