//! `simvlm caption`, `ask`, `eval` and `tokenizer`: what a user does with a finished run.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Result;
use burn::tensor::Device;
use contrastive_core::run::text_file::{read_lines, read_text};
use serde_json::json;
use simvlm::data::captions::{load_image, parse_captions};
use simvlm::decode::generate_beam;
use simvlm::eval::{evaluate, SetReport};
use simvlm::tokenizer::CaptionTokenizer;
use simvlm::{SimVlm, SimvlmConfig};

use super::{gallery, AskArgs, CaptionArgs, EvalArgs, Splits, TokenizerArgs};
use crate::backend::{self, InferenceBackend};
use crate::pipeline::FinishedRun;

/// [`evaluate`] on every set, each printed as it is reported.
pub fn evaluate_and_print(
    model: &SimVlm<InferenceBackend>,
    tokenizer: &CaptionTokenizer,
    config: &SimvlmConfig,
    splits: &Splits,
    device: &Device<InferenceBackend>,
) -> Result<BTreeMap<String, SetReport>> {
    let reports = evaluate(
        model,
        tokenizer,
        config,
        &splits.train,
        &splits.eval,
        device,
    )?;
    for (name, report) in &reports {
        println!("{name}: {}", json!(report));
    }
    Ok(reports)
}

/// A trained run: its config, tokenizer and model on the inference backend.
fn load_run(
    dir: &Path,
    device: &Device<InferenceBackend>,
) -> Result<(
    FinishedRun<SimvlmConfig>,
    CaptionTokenizer,
    SimVlm<InferenceBackend>,
)> {
    let run = FinishedRun::open(dir, &SimvlmConfig::new(), "simvlm", "model")?;
    let tokenizer = CaptionTokenizer::from_file(&dir.join("tokenizer.json"))?;
    let model = run.load(
        run.config
            .model
            .init::<InferenceBackend>(tokenizer.vocab_size(), device)?,
        device,
    )?;
    Ok((run, tokenizer, model))
}

pub fn caption(args: CaptionArgs) -> Result<()> {
    let device = backend::device(args.device)?;
    let (run, tokenizer, model) = load_run(&args.checkpoint, &device)?;
    let mut config = run.config;
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
        let caption = [args.prompt.trim(), &tokenizer.decode(&ids)?]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        println!("{}", json!({"image": path, "caption": caption}));
    }
    Ok(())
}

pub fn ask(args: AskArgs) -> Result<()> {
    let device = backend::device(args.device)?;
    let (run, tokenizer, model) = load_run(&args.checkpoint, &device)?;
    let config = run.config;
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
        json!({"image": args.image, "question": args.question, "answer": tokenizer.decode(&ids)?})
    );
    Ok(())
}

pub fn eval(args: EvalArgs) -> Result<()> {
    let device = backend::device(args.device)?;
    let (run, tokenizer, model) = load_run(&args.checkpoint, &device)?;
    let data = args.data.or_recorded(&run)?;
    let splits = data.load(run.config.model.image_size, run.config.seed)?;
    let evaluation = evaluate_and_print(&model, &tokenizer, &run.config, &splits, &device)?;
    let mut summary = json!({
        "task": "simvlm.eval",
        "checkpoint": args.checkpoint,
        "data": data.data(),
        "held_out": data.synthetic().then(|| data.held_out().to_string()),
        "evaluation": evaluation,
    });
    if let Some(out) = &args.gallery {
        gallery::write(&splits.eval, &evaluation, args.gallery_images, out)?;
        summary["gallery"] = json!(out);
    }
    println!("{summary}");
    Ok(())
}

pub fn tokenizer(args: TokenizerArgs) -> Result<()> {
    let texts: Vec<String> = if args.corpus.extension().is_some_and(|e| e == "tsv") {
        let captions = parse_captions(&args.corpus, &read_text(&args.corpus)?, None)?;
        captions.into_values().flatten().collect()
    } else {
        read_lines(&args.corpus)?
    };
    let tokenizer = CaptionTokenizer::train(&texts, args.vocab_size)?;
    tokenizer.save(&args.out)?;
    println!(
        "{}",
        json!({"task": "simvlm.tokenizer", "texts": texts.len(), "vocab_size": tokenizer.vocab_size(), "out": args.out})
    );
    Ok(())
}
