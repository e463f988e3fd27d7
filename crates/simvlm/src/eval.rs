//! Evaluation of a trained model: captioning (corpus BLEU-4, CIDEr-D, exact match) and, where a
//! set has questions, question answering (exact-match accuracy, per question too), each set
//! beside the constant baseline that always says the most frequent training caption.

use std::collections::BTreeMap;

use burn::tensor::backend::Backend;
use serde::Serialize;

use crate::caption_metrics::{corpus_bleu4, corpus_cider_d, words};
use crate::config::SimvlmConfig;
use crate::data::{CaptionedImages, Pixels};
use crate::decode::generate_greedy;
use crate::model::SimVlm;
use crate::tokenizer::{CaptionTokenizer, TokenizerError};

/// How a model does on one evaluation set.
#[derive(Debug, Clone, Serialize)]
pub struct SetReport {
    pub images: usize,
    pub bleu4: f64,
    pub cider_d: f64,
    /// Fraction of images whose caption equals one of its references word for word.
    pub caption_exact_match: f64,
    pub constant_baseline: ConstantBaseline,
    /// The first three generated captions.
    pub examples: Vec<String>,
    /// Every generated caption, in the set's order (for galleries; not in summaries).
    #[serde(skip)]
    pub captions: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vqa_accuracy: Option<f64>,
    /// Accuracy per question, to see which attribute fails to generalise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vqa_accuracy_by_question: Option<BTreeMap<String, f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub questions: Option<usize>,
}

/// The scores of always answering the most frequent training caption.
#[derive(Debug, Clone, Serialize)]
pub struct ConstantBaseline {
    pub caption: String,
    pub bleu4: f64,
    pub cider_d: f64,
}

/// Scores `model` on each named set; `train` gives the constant baseline's caption.
pub fn evaluate<B: Backend>(
    model: &SimVlm<B>,
    tokenizer: &CaptionTokenizer,
    config: &SimvlmConfig,
    train: &CaptionedImages,
    sets: &[(String, CaptionedImages)],
    device: &B::Device,
) -> Result<BTreeMap<String, SetReport>, TokenizerError> {
    let baseline = most_frequent_caption(train);
    let mut reports = BTreeMap::new();
    for (name, set) in sets {
        let images: Vec<&Pixels> = set.images.iter().collect();
        let empty = vec![Vec::new(); images.len()];
        let captions = generate_all(model, tokenizer, &images, &empty, config, device)?;
        let exact = captions
            .iter()
            .zip(&set.captions)
            .filter(|(c, refs)| refs.iter().any(|r| words(r) == words(c)))
            .count();
        let constant = vec![baseline.clone(); images.len()];
        let mut report = SetReport {
            images: images.len(),
            bleu4: corpus_bleu4(&captions, &set.captions),
            cider_d: corpus_cider_d(&captions, &set.captions),
            caption_exact_match: fraction(exact, images.len()),
            constant_baseline: ConstantBaseline {
                caption: baseline.clone(),
                bleu4: corpus_bleu4(&constant, &set.captions),
                cider_d: corpus_cider_d(&constant, &set.captions),
            },
            examples: captions.iter().take(3).cloned().collect(),
            captions: captions.clone(),
            vqa_accuracy: None,
            vqa_accuracy_by_question: None,
            questions: None,
        };
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
                generate_all(model, tokenizer, &question_images, &prompts, config, device)?;
            let right: Vec<bool> = predicted
                .iter()
                .zip(&answers)
                .map(|(p, a)| words(p) == words(a))
                .collect();
            let correct = right.iter().filter(|r| **r).count();
            let mut by_question: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
            let asked = set.questions.iter().flatten().map(|(question, _)| question);
            for (question, right) in asked.zip(&right) {
                let slot = by_question.entry(question.as_str()).or_default();
                slot.0 += usize::from(*right);
                slot.1 += 1;
            }
            report.vqa_accuracy = Some(fraction(correct, answers.len()));
            report.vqa_accuracy_by_question = Some(
                by_question
                    .into_iter()
                    .map(|(q, (hits, total))| (q.to_string(), fraction(hits, total)))
                    .collect(),
            );
            report.questions = Some(answers.len());
        }
        reports.insert(name.clone(), report);
    }
    Ok(reports)
}

/// The most frequent caption of the training set: the constant baseline.
pub fn most_frequent_caption(train: &CaptionedImages) -> String {
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
) -> Result<Vec<String>, TokenizerError> {
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
            texts.push(tokenizer.decode(&ids)?);
        }
    }
    Ok(texts)
}

fn fraction(hits: usize, total: usize) -> f64 {
    hits as f64 / total.max(1) as f64
}
