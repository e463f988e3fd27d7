//! STS evaluation: the Spearman correlation between the cosine similarity of two sentence
//! embeddings and the gold score, over a set of pairs (SentEval's protocol, as SimCSE reports).

use burn::tensor::backend::Backend;
use contrastive_core::metrics::spearman;
use contrastive_core::text::{TextError, TextTokenizer};

use crate::data::sts::StsPair;
use crate::sentence_model::SimCse;

/// Embeddings of `sentences` (inference: no dropout), in their order, `batch_size` at a time.
/// Sentences are batched by length, so little of each batch is padding.
pub fn embed_sentences<B: Backend>(
    model: &SimCse<B>,
    tokenizer: &TextTokenizer,
    sentences: &[&str],
    batch_size: usize,
    device: &B::Device,
) -> Result<Vec<Vec<f32>>, TextError> {
    let mut order: Vec<usize> = (0..sentences.len()).collect();
    order.sort_by_key(|&i| sentences[i].len());
    let mut embeddings = vec![Vec::new(); sentences.len()];
    for chunk in order.chunks(batch_size.max(1)) {
        let texts: Vec<&str> = chunk.iter().map(|&i| sentences[i]).collect();
        let tokens = tokenizer.encode_batch::<B>(&texts, device)?;
        let pooled = model.embed(&tokens, false);
        let [_, d] = pooled.dims();
        let values = pooled
            .into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .map_err(|e| TextError::Encode(format!("{e:?}")))?;
        for (row, &i) in chunk.iter().enumerate() {
            embeddings[i] = values[row * d..(row + 1) * d].to_vec();
        }
    }
    Ok(embeddings)
}

/// Cosine similarity of two vectors (0 when either is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let denominator = norm(a) * norm(b);
    if denominator > 0.0 {
        dot / denominator
    } else {
        0.0
    }
}

/// Spearman's ρ (in [-1, 1]) between predicted cosine similarities and gold scores.
pub fn sts_spearman<B: Backend>(
    model: &SimCse<B>,
    tokenizer: &TextTokenizer,
    pairs: &[StsPair],
    batch_size: usize,
    device: &B::Device,
) -> Result<f64, TextError> {
    let sentences: Vec<&str> = pairs
        .iter()
        .flat_map(|p| [p.first.as_str(), p.second.as_str()])
        .collect();
    let embeddings = embed_sentences(model, tokenizer, &sentences, batch_size, device)?;
    let predicted: Vec<f64> = embeddings
        .chunks_exact(2)
        .map(|pair| cosine(&pair[0], &pair[1]))
        .collect();
    let gold: Vec<f64> = pairs.iter().map(|p| p.score).collect();
    spearman(&predicted, &gold).map_err(|e| TextError::Encode(format!("STS correlation: {e}")))
}
