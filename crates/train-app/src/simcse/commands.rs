//! `simcse eval`, `simcse embed` and `simcse export`, and the STS scoring `train` shares.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::tensor::backend::Backend;
use burn::tensor::Device;
use contrastive_core::run::text::{TextError, TextTokenizer};
use contrastive_core::similarity::cosine;
use serde_json::json;
use simcse::data::sts::{find_sts_sets, StsSet};
use simcse::export::write_hf_directory;
use simcse::loader::load_config;
use simcse::sts_eval::{embed_sentences, pair_sentences, score_embeddings, StsScore};
use simcse::{Pooler, SentenceEncoder, SentenceEncoderConfig, SimcseConfig, TokenEncoder};

use super::{sts_scatter, EmbedArgs, EvalArgs, ExportArgs};
use crate::backend::{self, InferenceBackend};
use crate::pictures;
use crate::pipeline::FinishedRun;

/// One STS set as scored: its scores, and each pair's gold score and predicted cosine.
pub struct ScoredSet {
    pub name: String,
    pub score: StsScore,
    pub gold_and_cosine: Vec<(f64, f64)>,
}

/// Embeds and scores every set, printing one line per set.
pub fn score_sets(
    sets: &[StsSet],
    embed: impl Fn(&[&str]) -> Result<Vec<Vec<f32>>, TextError>,
) -> Result<Vec<ScoredSet>> {
    let mut scored = Vec::new();
    for set in sets {
        let embeddings = embed(&pair_sentences(&set.pairs))?;
        let score = score_embeddings(&embeddings, &set.pairs)?;
        println!(
            "{:<14} {:>6} pairs  Spearman {:6.2}  align {:.3}  uniform {:.3}",
            set.name,
            set.pairs.len(),
            100.0 * score.spearman,
            score.alignment,
            score.uniformity
        );
        let gold_and_cosine = set
            .pairs
            .iter()
            .zip(embeddings.chunks_exact(2))
            .map(|(pair, vectors)| (pair.score, cosine(&vectors[0], &vectors[1])))
            .collect();
        scored.push(ScoredSet {
            name: set.name.clone(),
            score,
            gold_and_cosine,
        });
    }
    Ok(scored)
}

/// The scores by set name, as the summaries report them (Spearman × 100).
pub fn scores_json(scored: &[ScoredSet]) -> serde_json::Map<String, serde_json::Value> {
    scored
        .iter()
        .map(|set| {
            let score = &set.score;
            let value = json!({
                "spearman": 100.0 * score.spearman,
                "alignment": score.alignment,
                "uniformity": score.uniformity,
            });
            (set.name.clone(), value)
        })
        .collect()
}

/// `score_sets` for a SimCSE model and its tokenizer (training's before and after scores).
pub fn score_model_sets<B: Backend>(
    model: &impl TokenEncoder<B>,
    tokenizer: &TextTokenizer,
    sets: &[StsSet],
    device: &B::Device,
) -> Result<serde_json::Map<String, serde_json::Value>> {
    let scored = score_sets(sets, |sentences| {
        embed_sentences(model, tokenizer, sentences, 64, device)
    })?;
    Ok(scores_json(&scored))
}

/// The encoder `--model`, `--pooler`, `--normalize` and `--batch-size` describe.
fn load_encoder(
    model: &Path,
    pooler: Option<Pooler>,
    normalize: Option<bool>,
    batch_size: usize,
    device: &Device<InferenceBackend>,
) -> Result<SentenceEncoder<InferenceBackend>> {
    Ok(SentenceEncoderConfig {
        pooler,
        normalize,
        batch_size,
    }
    .load(model, device)?)
}

fn find_all_sets(folders: &[PathBuf]) -> Result<Vec<StsSet>> {
    let mut sets = Vec::new();
    for folder in folders {
        sets.extend(find_sts_sets(folder)?);
    }
    Ok(sets)
}

pub fn eval(args: EvalArgs) -> Result<()> {
    if let Some(out) = &args.scatter {
        pictures::Format::of(out)?;
    }
    let sets = find_all_sets(&args.sts)?;
    let device = backend::device(args.device)?;
    let encoder = load_encoder(&args.model, args.pooler, None, args.batch_size, &device)?;
    let start = std::time::Instant::now();
    let scored = score_sets(&sets, |sentences| encoder.encode(sentences))?;
    let mut summary = json!({
        "task": "simcse.eval",
        "backend": backend::NAME,
        "model": args.model,
        "pooler": encoder.pooler(),
        "scores": scores_json(&scored),
        "seconds": start.elapsed().as_secs_f64(),
    });
    if let Some(out) = &args.scatter {
        sts_scatter::write(&scored, out)?;
        summary["scatter"] = json!(out);
    }
    println!("{summary}");
    Ok(())
}

pub fn embed(args: EmbedArgs) -> Result<()> {
    let device = backend::device(args.device)?;
    let encoder = load_encoder(
        &args.model,
        args.pooler,
        args.normalize,
        args.batch_size,
        &device,
    )?;
    let stdin = std::io::stdin();
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let mut lines = stdin.lock().lines();
    let mut line_number = 0;
    // Read many batches at a time so that the encoder's length sorting has sentences to sort
    // (less padding), while the output still streams for endless input.
    let window = 32 * args.batch_size.max(1);
    loop {
        let mut batch = Vec::with_capacity(window);
        for line in lines.by_ref().take(window) {
            line_number += 1;
            batch.push(line.with_context(|| format!("stdin line {line_number}"))?);
        }
        if batch.is_empty() {
            break;
        }
        for vector in encoder.encode(&batch)? {
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
