//! SimCSE for the training pipeline: `simcse train`.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use burn::module::Module;
use burn::nn::Linear;
use burn::optim::AdamWConfig;
use burn::tensor::Device;
use contrastive_core::optim::WarmupSchedule;
use contrastive_core::run::atomic_save::run_recorder;
use contrastive_core::run::text::TextTokenizer;
use contrastive_core::run::text_file::read_lines;
use contrastive_core::run::train::StepMetric;
use serde_json::{json, Value};
use simcse::data::batcher::{
    sentence_examples, triplet_examples, Example, ExampleDataset, SentenceBatcher, TokenizedExample,
};
use simcse::data::nli::read_nli;
use simcse::data::sts::{find_sts_sets, StsSet};
use simcse::dev_monitor::{DevMonitor, DEV_SPEARMAN};
use simcse::export::{copy_base_files, write_hf_directory};
use simcse::loader::{load_bert_with_pooler, load_tokenizer};
use simcse::{Bert, BertConfig, Mode, SimCse, SimcseConfig};

use super::commands::score_model_sets;
use super::{mode_name, ConfigArgs, ConfigOverrides, TrainArgs};
use crate::artifacts::RunDir;
use crate::backend::{InferenceBackend, TrainBackend};
use crate::config_file;
use crate::harness::Inputs;
use crate::pipeline::{self, Fitted, Launch, Metrics, Recipe, Trained};

pub fn train(args: TrainArgs) -> Result<()> {
    let flags = args.flags.clone();
    pipeline::train(&SimcseRecipe(args), &flags)
}

pub fn print_config(args: ConfigArgs) -> Result<()> {
    let config = resolve_config(args.flags.config.as_deref(), &args.overrides)?;
    pipeline::print_config(SimcseRecipe::NAME, config, &args.flags)
}

/// The config of `file` (or the defaults) with the command line's overrides.
fn resolve_config(file: Option<&Path>, args: &ConfigOverrides) -> Result<SimcseConfig> {
    let mut config = match file {
        Some(path) => config_file::load(path, &SimcseConfig::new())?,
        None => SimcseConfig::new(),
    };
    if let Some(mode) = args.mode {
        config.model.mode = mode;
    }
    if let Some(pooler) = args.pooler {
        config.model.pooler = pooler;
    }
    if let Some(rate) = args.learning_rate {
        config.learning_rate = rate;
    }
    if let Some(steps) = args.eval_steps {
        config.eval_steps = steps;
    }
    if let Some(chunks) = args.grad_cache_chunks {
        config.grad_cache_chunks = chunks;
    }
    if args.train_examples.is_some() {
        config.train_examples = args.train_examples;
    }
    if args.dropout.is_some() {
        config.model.dropout = args.dropout;
    }
    if args.same_mask {
        config.model.same_dropout_mask = true;
    }
    Ok(config)
}

/// SimCSE for the training pipeline.
struct SimcseRecipe(TrainArgs);

/// What a SimCSE run reads before its folder is created.
struct SimcseData {
    sets: Vec<StsSet>,
    train: ExampleDataset,
    valid: ExampleDataset,
    bert_config: BertConfig,
    bert: Bert<TrainBackend>,
    mlp: Option<Linear<TrainBackend>>,
    /// Truncates at the config's `max_length` (training).
    tokenizer: TextTokenizer,
    /// Truncates at the model's longest position (evaluation).
    eval_tokenizer: TextTokenizer,
}

/// Training and validation examples: the data file, optionally cut, with the last
/// `valid_examples` held out, tokenised. A one-example last batch (no negatives) is dropped.
fn load_examples(
    config: &SimcseConfig,
    data: &Path,
    tokenizer: &TextTokenizer,
) -> Result<(ExampleDataset, ExampleDataset)> {
    let mut examples = match config.model.mode {
        Mode::Unsup => sentence_examples(read_lines(data)?),
        Mode::Sup => triplet_examples(read_nli(data)?),
    };
    let valid_len = config.valid_examples.min(examples.len() / 5);
    let valid = examples.split_off(examples.len() - valid_len);
    if let Some(n) = config.train_examples {
        examples.truncate(n);
    }
    let trim = |mut e: Vec<Example>| {
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
    Ok((
        ExampleDataset::tokenize(&train, tokenizer, data)?,
        ExampleDataset::tokenize(&valid, tokenizer, data)?,
    ))
}

impl Recipe for SimcseRecipe {
    const NAME: &'static str = "simcse";
    type Config = SimcseConfig;
    type Data = SimcseData;
    type Item = TokenizedExample;
    type Dataset = ExampleDataset;
    type Batcher = SentenceBatcher;
    type Model = SimCse<TrainBackend>;
    type InferenceModel = SimCse<InferenceBackend>;
    type Hook = Arc<DevMonitor>;

    fn config(&self, file: Option<&Path>) -> Result<SimcseConfig> {
        resolve_config(file, &self.0.overrides)
    }

    fn inputs(&self) -> Inputs {
        let args = &self.0;
        Inputs::default()
            .with_path("--model", Some(&args.model))
            .with_path("--data", Some(&args.data))
            .with_path("--sts", args.sts.as_deref())
    }

    fn load(
        &self,
        config: &SimcseConfig,
        _artifacts: &Path,
        _resume_from: Option<usize>,
        device: &Device<TrainBackend>,
    ) -> Result<SimcseData> {
        let args = &self.0;
        let sets = match &args.sts {
            Some(folder) => find_sts_sets(folder)?,
            None => Vec::new(),
        };
        let (bert_config, bert, mlp) = load_bert_with_pooler::<TrainBackend>(&args.model, device)?;
        let vocab = bert_config.vocab_size;
        let tokenizer = load_tokenizer(&args.model, config.max_length, vocab)?;
        let (train, valid) = load_examples(config, &args.data, &tokenizer)?;
        Ok(SimcseData {
            sets,
            train,
            valid,
            tokenizer,
            eval_tokenizer: load_tokenizer(
                &args.model,
                bert_config.max_position_embeddings,
                vocab,
            )?,
            bert_config,
            bert,
            mlp,
        })
    }

    fn prepare(&self, _data: &SimcseData, run: &RunDir) -> Result<()> {
        Ok(copy_base_files(&self.0.model, &run.path().join("base"))?)
    }

    fn model(
        &self,
        config: &SimcseConfig,
        data: &SimcseData,
        _resume_from: Option<usize>,
        device: &Device<TrainBackend>,
    ) -> Result<SimCse<TrainBackend>> {
        Ok(config.model.init(
            &data.bert_config,
            data.bert.clone(),
            data.mlp.clone(),
            device,
        )?)
    }

    /// STS-B dev scored every `eval_steps` steps, the best model kept, when `--sts` has it.
    fn hook(
        &self,
        config: &SimcseConfig,
        data: &SimcseData,
        run: &RunDir,
        steps_done: usize,
    ) -> Result<Option<Arc<DevMonitor>>> {
        let Some(dev) = data.sets.iter().find(|s| s.name.starts_with("STS-B dev")) else {
            return Ok(None);
        };
        let monitor = DevMonitor::new(
            dev.pairs.clone(),
            data.eval_tokenizer.clone(),
            64,
            config.eval_steps,
            run.path().join("best-model"),
        );
        monitor.resume_after(steps_done)?;
        Ok(Some(monitor))
    }

    fn datasets(
        &self,
        _config: &SimcseConfig,
        data: &SimcseData,
    ) -> (ExampleDataset, ExampleDataset, SentenceBatcher) {
        let batcher = SentenceBatcher::new(data.tokenizer.clone());
        (data.train.clone(), data.valid.clone(), batcher)
    }

    fn schedule(&self, config: &SimcseConfig, steps_per_epoch: usize) -> Result<WarmupSchedule> {
        pipeline::warmup_schedule(
            config.learning_rate,
            steps_per_epoch * config.epochs,
            config.warmup_steps,
            config.decay,
        )
    }

    fn optimizer<L: Launch<Trained<Self>>>(
        &self,
        config: &SimcseConfig,
        launch: L,
    ) -> Result<L::Output> {
        let optim = AdamWConfig::new()
            .with_epsilon(1e-8)
            .with_weight_decay(config.weight_decay as f32)
            .init();
        Ok(launch.launch(optim))
    }

    fn metrics(&self, _config: &SimcseConfig) -> Metrics {
        let mut train = vec![StepMetric::throughput("examples/s")];
        if self.0.sts.is_some() {
            train.push(StepMetric::latest(DEV_SPEARMAN, true));
        }
        Metrics {
            both: vec![
                StepMetric::loss(),
                StepMetric::accuracy(),
                StepMetric::extra("Alignment", false),
                StepMetric::extra("Uniformity", false),
            ],
            train,
            knn: None,
        }
    }

    fn evaluate_before(
        &self,
        model: &SimCse<InferenceBackend>,
        data: &SimcseData,
        device: &Device<InferenceBackend>,
    ) -> Result<Value> {
        Ok(Value::Object(score_model_sets(
            model,
            &data.eval_tokenizer,
            &data.sets,
            device,
        )?))
    }

    /// Keeps the best dev checkpoint when there is one (the reference's
    /// `load_best_model_at_end`), scores it and exports it as a Hugging Face directory.
    fn report(
        &self,
        config: &SimcseConfig,
        data: &SimcseData,
        fitted: Fitted<Self>,
        run: &RunDir,
        device: &Device<InferenceBackend>,
    ) -> Result<Value> {
        let mut trained = fitted.model;
        let best = fitted.hook.as_ref().and_then(|m| m.best());
        match (&fitted.hook, best) {
            (Some(monitor), Some(_)) => {
                let path = monitor.best_model_path();
                trained = trained
                    .load_file(&path, &run_recorder(), device)
                    .with_context(|| format!("cannot load {}", path.display()))?;
            }
            _ => pipeline::save_model(&trained, run, "best-model")?,
        }
        let after = score_model_sets(&trained, &data.eval_tokenizer, &data.sets, device)?;
        let hf = run.path().join("hf");
        write_hf_directory(&trained, &run.path().join("base"), &hf)?;
        let args = &self.0;
        Ok(json!({
            "mode": mode_name(config.model.mode),
            "model": args.model,
            "data": args.data,
            "best_dev_step": best.map(|(step, _)| step),
            "best_dev_spearman": best.map(|(_, rho)| rho),
            "sts_before": fitted.before,
            "sts_after": after,
            "hf_export": hf,
        }))
    }
}
