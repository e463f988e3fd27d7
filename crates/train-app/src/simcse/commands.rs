//! `simcse eval`, `simcse embed` and `simcse export`, and the STS scoring `train` shares.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use burn::tensor::backend::Backend;
use burn::tensor::Device;
use contrastive_core::run::text::TextTokenizer;
use contrastive_core::similarity::unit_vector;
use serde_json::json;
use simcse::data::sts::{find_sts_sets, StsSet};
use simcse::export::write_hf_directory;
use simcse::loader::{load_bert_with_pooler, load_config};
use simcse::sts_eval::{embed_sentences, sts_score};
use simcse::{Pooler, SentenceEncoder, SimCse, SimcseConfig, SimcseModelConfig};

use super::{EmbedArgs, EvalArgs, ExportArgs};
use crate::backend::{self, InferenceBackend};
use crate::pipeline::FinishedRun;

/// An inference model for `eval` and `embed`: the checkpoint's encoder, its `pooler.dense` as
/// the `cls` MLP, and its tokenizer (checked against the embedding).
fn load_inference_model(
    dir: &Path,
    pooler: Pooler,
    device: &Device<InferenceBackend>,
) -> Result<(SimCse<InferenceBackend>, TextTokenizer)> {
    let (config, bert, mlp) = load_bert_with_pooler::<InferenceBackend>(dir, device)?;
    if pooler == Pooler::Cls && mlp.is_none() {
        bail!(
            "{}: pooler `cls` needs the MLP weights `pooler.dense.*`, which this checkpoint lacks (use cls_before_pooler or avg)",
            dir.join("model.safetensors").display()
        );
    }
    let tokenizer = checked_tokenizer(dir, config.max_position_embeddings, config.vocab_size)?;
    let model = SimcseModelConfig::new()
        .with_pooler(pooler)
        .with_mlp_only_train(false)
        .init(&config, bert, mlp, device)?;
    Ok((model, tokenizer))
}

/// The model directory's `tokenizer.json`, truncating at `max_length`, checked against the
/// model's `vocab_size`.
pub fn checked_tokenizer(
    dir: &Path,
    max_length: usize,
    vocab_size: usize,
) -> Result<TextTokenizer> {
    let path = dir.join("tokenizer.json");
    let tokenizer = TextTokenizer::from_file(&path, max_length)?;
    tokenizer
        .check_vocabulary(vocab_size)
        .with_context(|| format!("{}", path.display()))?;
    Ok(tokenizer)
}

/// Spearman ×100 of every set, printed as a table row each.
pub fn score_sets<B: Backend>(
    model: &impl SentenceEncoder<B>,
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

pub fn eval(args: EvalArgs) -> Result<()> {
    let sets = find_all_sets(&args.sts)?;
    let device = backend::device(args.device)?;
    let (model, tokenizer) = load_inference_model(&args.model, args.pooler, &device)?;
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

pub fn embed(args: EmbedArgs) -> Result<()> {
    let device = backend::device(args.device)?;
    let (model, tokenizer) = load_inference_model(&args.model, args.pooler, &device)?;
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
                vector = unit_vector(&vector).into_iter().map(|v| v as f32).collect();
            }
            writeln!(stdout, "{}", serde_json::to_string(&vector)?)?;
        }
        stdout.flush()?;
    }
    Ok(())
}

pub fn export(args: ExportArgs) -> Result<()> {
    let run = FinishedRun::open(
        &args.checkpoint,
        &SimcseConfig::new(),
        "simcse",
        "best-model",
    )?;
    let base = run.dir.join("base");
    let bert_config = load_config(&base)?;
    let device = backend::device(args.device)?;
    let model = run.config.model.init::<InferenceBackend>(
        &bert_config,
        bert_config.init(&device),
        None,
        &device,
    )?;
    let model = run.load(model, &device)?;
    write_hf_directory(&model, &base, &args.out)?;
    println!(
        "{}",
        json!({"task": "simcse.export", "checkpoint": run.dir, "out": args.out})
    );
    Ok(())
}
