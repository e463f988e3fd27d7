//! STS evaluation: the Spearman correlation between the cosine similarity of two sentence
//! embeddings and the gold score, over a set of pairs (SentEval's protocol, as SimCSE reports).

use burn::tensor::backend::Backend;
use contrastive_core::metrics::spearman;
use contrastive_core::run::text::{TextError, TextTokenizer};
use contrastive_core::similarity::{cosine, unit_vector};

use crate::data::sts::StsPair;
use crate::encoder::TokenEncoder;

/// Embeddings of `sentences` (inference: no dropout), in their order, `batch_size` at a time.
/// Sentences are batched by length, so little of each batch is padding.
pub fn embed_sentences<B: Backend>(
    model: &impl TokenEncoder<B>,
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
        let pooled = model.encode(&tokens);
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

/// How a model does on an STS set: the correlation, and the paper's §5 geometry.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct StsScore {
    /// Spearman's ρ (in [-1, 1]) between cosine similarities and gold scores.
    pub spearman: f64,
    /// `ℓ_align`: mean squared distance of normalised embeddings of pairs rated ≥ 4 (lower is
    /// better; NaN when no pair is).
    pub alignment: f64,
    /// `ℓ_uniform`: `log mean exp(−2‖f(x) − f(y)‖²)` over all pairs of the set's sentences
    /// (lower is better).
    pub uniformity: f64,
}

fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).powi(2)).sum()
}

/// Scores `model` on `pairs`: correlation, alignment and uniformity.
pub fn sts_score<B: Backend>(
    model: &impl TokenEncoder<B>,
    tokenizer: &TextTokenizer,
    pairs: &[StsPair],
    batch_size: usize,
    device: &B::Device,
) -> Result<StsScore, TextError> {
    let embeddings = embed_sentences(model, tokenizer, &pair_sentences(pairs), batch_size, device)?;
    score_embeddings(&embeddings, pairs)
}

/// Both sentences of every pair, in order: what [`score_embeddings`] takes the vectors of.
pub fn pair_sentences(pairs: &[StsPair]) -> Vec<&str> {
    pairs
        .iter()
        .flat_map(|p| [p.first.as_str(), p.second.as_str()])
        .collect()
}

/// Scores the vectors of [`pair_sentences`] of `pairs`: correlation, alignment and uniformity.
pub fn score_embeddings(embeddings: &[Vec<f32>], pairs: &[StsPair]) -> Result<StsScore, TextError> {
    if embeddings.len() != 2 * pairs.len() {
        return Err(TextError::Encode(format!(
            "STS scoring: {} vectors for {} pairs",
            embeddings.len(),
            pairs.len()
        )));
    }
    let predicted: Vec<f64> = embeddings
        .chunks_exact(2)
        .map(|pair| cosine(&pair[0], &pair[1]))
        .collect();
    let gold: Vec<f64> = pairs.iter().map(|p| p.score).collect();
    let spearman = spearman(&predicted, &gold)
        .map_err(|e| TextError::Encode(format!("STS correlation: {e}")))?;
    let units: Vec<Vec<f64>> = embeddings.iter().map(|e| unit_vector(e)).collect();
    let positives: Vec<f64> = units
        .chunks_exact(2)
        .zip(&gold)
        .filter(|(_, score)| **score >= 4.0)
        .map(|(pair, _)| squared_distance(&pair[0], &pair[1]))
        .collect();
    let alignment = positives.iter().sum::<f64>() / positives.len() as f64;
    let (mut sum, mut count) = (0.0, 0usize);
    for (i, a) in units.iter().enumerate() {
        for b in &units[i + 1..] {
            sum += (-2.0 * squared_distance(a, b)).exp();
            count += 1;
        }
    }
    Ok(StsScore {
        spearman,
        alignment,
        uniformity: (sum / count.max(1) as f64).ln(),
    })
}

/// Spearman's ρ (in [-1, 1]) between predicted cosine similarities and gold scores.
pub fn sts_spearman<B: Backend>(
    model: &impl TokenEncoder<B>,
    tokenizer: &TextTokenizer,
    pairs: &[StsPair],
    batch_size: usize,
    device: &B::Device,
) -> Result<f64, TextError> {
    sts_score(model, tokenizer, pairs, batch_size, device).map(|s| s.spearman)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::SimcseModelConfig;
    use crate::pooling::Pooler;
    use crate::sentence_model::tests::tiny_model;
    use burn::backend::NdArray;
    use tokenizers::models::wordlevel::WordLevel;
    use tokenizers::pre_tokenizers::whitespace::Whitespace;
    use tokenizers::Tokenizer;

    /// A whitespace word-level tokenizer over `[PAD] [UNK] a b c d e` (ids 0 to 6).
    pub fn letter_tokenizer() -> TextTokenizer {
        let path = std::env::temp_dir().join(format!(
            "sts-eval-tok-{}-{:?}.json",
            std::process::id(),
            std::thread::current().id()
        ));
        let words = ["[PAD]", "[UNK]", "a", "b", "c", "d", "e"];
        let vocab = words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.to_string(), i as u32))
            .collect();
        let model = WordLevel::builder()
            .vocab(vocab)
            .unk_token("[UNK]".into())
            .build()
            .unwrap();
        let mut tokenizer = Tokenizer::new(model);
        tokenizer.with_pre_tokenizer(Some(Whitespace {}));
        tokenizer.save(&path, false).unwrap();
        let tokenizer = TextTokenizer::from_file(&path, 8).unwrap();
        std::fs::remove_file(&path).unwrap();
        tokenizer
    }

    /// STS pairs over the letter vocabulary.
    pub fn letter_pairs() -> Vec<StsPair> {
        [("a b", "a b", 5.0), ("a", "e", 0.0), ("c d", "c", 4.0)]
            .iter()
            .map(|(x, y, s)| StsPair {
                first: x.to_string(),
                second: y.to_string(),
                score: *s,
            })
            .collect()
    }

    #[test]
    fn embeddings_keep_the_input_order_and_scores_are_consistent() {
        let tokenizer = letter_tokenizer();
        let device = Default::default();
        let model = tiny_model::<NdArray>(SimcseModelConfig::new().with_pooler(Pooler::Avg));
        let sentences = ["a b c d e", "a", "c d", "b"];
        let batched = embed_sentences(&model, &tokenizer, &sentences, 3, &device).unwrap();
        for (sentence, embedding) in sentences.iter().zip(&batched) {
            let alone = embed_sentences(&model, &tokenizer, &[sentence], 1, &device).unwrap();
            for (x, y) in alone[0].iter().zip(embedding) {
                assert!(
                    (x - y).abs() < 1e-5,
                    "{sentence}: padding changed the embedding"
                );
            }
        }
    }

    /// Ranks 1..n of distinct values.
    fn ranks(values: &[f64]) -> Vec<f64> {
        values
            .iter()
            .map(|v| 1.0 + values.iter().filter(|w| *w < v).count() as f64)
            .collect()
    }

    #[test]
    fn the_score_is_spearman_alignment_and_uniformity_of_the_embeddings() {
        let tokenizer = letter_tokenizer();
        let device = Default::default();
        let model = tiny_model::<NdArray>(SimcseModelConfig::new().with_pooler(Pooler::Avg));
        let pairs = letter_pairs();
        let score = sts_score(&model, &tokenizer, &pairs, 2, &device).unwrap();

        // The same numbers from each sentence encoded alone and the formulas written out.
        let unit = |text: &str| -> Vec<f64> {
            let tokens = tokenizer.encode_batch::<NdArray>(&[text], &device).unwrap();
            let v: Vec<f64> = model
                .encode(&tokens)
                .into_data()
                .convert::<f64>()
                .to_vec()
                .unwrap();
            let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            v.iter().map(|x| x / norm).collect()
        };
        let units: Vec<[Vec<f64>; 2]> = pairs
            .iter()
            .map(|p| [unit(&p.first), unit(&p.second)])
            .collect();
        let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let distance2 = |a: &[f64], b: &[f64]| 2.0 - 2.0 * dot(a, b);
        let cosines: Vec<f64> = units.iter().map(|[a, b]| dot(a, b)).collect();
        let gold: Vec<f64> = pairs.iter().map(|p| p.score).collect();
        let n = pairs.len() as f64;
        let d2: f64 = ranks(&cosines)
            .iter()
            .zip(ranks(&gold))
            .map(|(a, b)| (a - b).powi(2))
            .sum();
        let spearman = 1.0 - 6.0 * d2 / (n * (n * n - 1.0));
        // Pairs rated ≥ 4: the first (identical sentences, distance 0) and the third.
        let alignment =
            (distance2(&units[0][0], &units[0][1]) + distance2(&units[2][0], &units[2][1])) / 2.0;
        let all: Vec<&Vec<f64>> = units.iter().flatten().collect();
        let mut terms = Vec::new();
        for i in 0..all.len() {
            for j in i + 1..all.len() {
                terms.push((-2.0 * distance2(all[i], all[j])).exp());
            }
        }
        let uniformity = (terms.iter().sum::<f64>() / terms.len() as f64).ln();

        assert!(
            (score.spearman - spearman).abs() < 1e-9,
            "{score:?} vs ρ {spearman}"
        );
        assert!(
            (score.alignment - alignment).abs() < 1e-5,
            "{score:?} vs {alignment}"
        );
        assert!(
            (score.uniformity - uniformity).abs() < 1e-5,
            "{score:?} vs {uniformity}"
        );
        assert!(alignment > 1e-3, "the check does not rest on a zero");
    }
}
