//! Captioning metrics: corpus BLEU-4 (Papineni et al. 2002) and CIDEr-D (Vedantam et al. 2015,
//! as the COCO caption evaluation code computes it). Captions are compared as lower-cased
//! words with punctuation removed.

use std::collections::HashMap;

/// Lower-cased alphanumeric words of a caption.
pub fn words(caption: &str) -> Vec<String> {
    caption
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Counts of the `n`-grams of `tokens`.
fn ngram_counts(tokens: &[String], n: usize) -> HashMap<&[String], usize> {
    let mut counts = HashMap::new();
    if tokens.len() >= n {
        for gram in tokens.windows(n) {
            *counts.entry(gram).or_insert(0) += 1;
        }
    }
    counts
}

/// Corpus BLEU-4 in [0, 1]: clipped n-gram precisions (n = 1..4) pooled over the corpus, their
/// geometric mean, times the brevity penalty `min(1, exp(1 − r/c))` with `r` the summed length
/// of each candidate's closest reference (the shorter on ties).
pub fn corpus_bleu4(candidates: &[String], references: &[Vec<String>]) -> f64 {
    let mut matched = [0usize; 4];
    let mut total = [0usize; 4];
    let (mut candidate_length, mut reference_length) = (0usize, 0usize);
    for (candidate, refs) in candidates.iter().zip(references) {
        let candidate = words(candidate);
        let refs: Vec<Vec<String>> = refs.iter().map(|r| words(r)).collect();
        candidate_length += candidate.len();
        reference_length += refs
            .iter()
            .map(Vec::len)
            .min_by_key(|&len| (len.abs_diff(candidate.len()), len))
            .unwrap_or(0);
        for n in 1..=4 {
            let mut most = HashMap::new();
            for reference in &refs {
                for (gram, count) in ngram_counts(reference, n) {
                    let entry = most.entry(gram.to_vec()).or_insert(0);
                    *entry = (*entry).max(count);
                }
            }
            for (gram, count) in ngram_counts(&candidate, n) {
                matched[n - 1] += count.min(most.get(gram).copied().unwrap_or(0));
                total[n - 1] += count;
            }
        }
    }
    if matched.contains(&0) || candidate_length == 0 {
        return 0.0;
    }
    let log_precision: f64 = (0..4)
        .map(|i| (matched[i] as f64 / total[i] as f64).ln())
        .sum::<f64>()
        / 4.0;
    let brevity = if candidate_length > reference_length {
        1.0
    } else {
        (1.0 - reference_length as f64 / candidate_length as f64).exp()
    };
    brevity * log_precision.exp()
}

/// TF-IDF vectors of one caption for n = 1..4, their norms, and its length.
struct CiderVector {
    grams: [HashMap<Vec<String>, f64>; 4],
    norms: [f64; 4],
    length: f64,
}

fn cider_vector(
    tokens: &[String],
    document_frequency: &HashMap<Vec<String>, f64>,
    log_n: f64,
) -> CiderVector {
    let mut grams: [HashMap<Vec<String>, f64>; 4] = Default::default();
    let mut norms = [0.0; 4];
    for n in 1..=4 {
        for (gram, count) in ngram_counts(tokens, n) {
            let df = document_frequency
                .get(gram)
                .copied()
                .unwrap_or(0.0)
                .max(1.0);
            let weight = count as f64 * (log_n - df.ln());
            norms[n - 1] += weight * weight;
            grams[n - 1].insert(gram.to_vec(), weight);
        }
        norms[n - 1] = norms[n - 1].sqrt();
    }
    CiderVector {
        grams,
        norms,
        // The reference implementation counts bigrams as the length.
        length: tokens.len().saturating_sub(1) as f64,
    }
}

/// CIDEr-D of a corpus (×10, as reported): for each image, the mean over its references of the
/// average over n = 1..4 of the clipped cosine similarity of TF-IDF n-gram vectors, damped by
/// the Gaussian length penalty `exp(−Δ²/2σ²)`, σ = 6; then the mean over images. Document
/// frequencies come from the references of the corpus.
pub fn corpus_cider_d(candidates: &[String], references: &[Vec<String>]) -> f64 {
    let refs: Vec<Vec<Vec<String>>> = references
        .iter()
        .map(|r| r.iter().map(|c| words(c)).collect())
        .collect();
    let mut document_frequency: HashMap<Vec<String>, f64> = HashMap::new();
    for image_refs in &refs {
        let mut seen = std::collections::HashSet::new();
        for reference in image_refs {
            for n in 1..=4 {
                for gram in ngram_counts(reference, n).into_keys() {
                    seen.insert(gram.to_vec());
                }
            }
        }
        for gram in seen {
            *document_frequency.entry(gram).or_insert(0.0) += 1.0;
        }
    }
    let log_n = (refs.len().max(1) as f64).ln();
    let sigma = 6.0f64;
    let mut total = 0.0;
    for (candidate, image_refs) in candidates.iter().zip(&refs) {
        let hypothesis = cider_vector(&words(candidate), &document_frequency, log_n);
        let mut score = 0.0;
        for reference in image_refs {
            let reference = cider_vector(reference, &document_frequency, log_n);
            let delta = hypothesis.length - reference.length;
            let penalty = (-(delta * delta) / (2.0 * sigma * sigma)).exp();
            for n in 0..4 {
                let mut value: f64 = hypothesis.grams[n]
                    .iter()
                    .filter_map(|(gram, h)| reference.grams[n].get(gram).map(|r| h.min(*r) * r))
                    .sum();
                if hypothesis.norms[n] != 0.0 && reference.norms[n] != 0.0 {
                    value /= hypothesis.norms[n] * reference.norms[n];
                }
                score += value * penalty;
            }
        }
        total += 10.0 * score / 4.0 / image_refs.len().max(1) as f64;
    }
    total / candidates.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> String {
        text.to_string()
    }

    #[test]
    fn bleu_matches_hand_computed_values() {
        let reference = vec![vec![s("the cat sat on the mat")]];
        assert!((corpus_bleu4(&[s("The cat sat on the mat.")], &reference) - 1.0).abs() < 1e-12);
        // One extra word: p = 6/7, 5/6, 4/5, 3/4 and no brevity penalty.
        let longer = corpus_bleu4(&[s("the cat sat on the mat today")], &reference);
        assert!(
            (longer - (3.0f64 / 7.0).powf(0.25)).abs() < 1e-12,
            "{longer}"
        );
        // Too short: all precisions 1, brevity penalty exp(1 − 6/5).
        let shorter = corpus_bleu4(&[s("the cat sat on the")], &reference);
        assert!((shorter - (-0.2f64).exp()).abs() < 1e-12, "{shorter}");
        // No matching 4-gram: 0.
        assert_eq!(corpus_bleu4(&[s("the cat is on the mat")], &reference), 0.0);
    }

    #[test]
    fn bleu_clips_counts_and_takes_the_closest_reference_length() {
        let refs = vec![vec![s("a b c d e f g h"), s("a b c d")]];
        // Closest reference has length 4: no brevity penalty for a 4-word candidate.
        assert!((corpus_bleu4(&[s("a b c d")], &refs) - 1.0).abs() < 1e-12);
        // "a a a a a": p1 clipped to 1/5, no bigram matches → 0.
        assert_eq!(corpus_bleu4(&[s("a a a a a")], &refs), 0.0);
    }

    #[test]
    fn cider_d_is_ten_for_exact_captions_and_zero_for_disjoint_ones() {
        let refs = vec![
            vec![s("a red circle left")],
            vec![s("two blue squares below")],
        ];
        let perfect = corpus_cider_d(
            &[s("a red circle left"), s("two blue squares below")],
            &refs,
        );
        assert!((perfect - 10.0).abs() < 1e-9, "{perfect}");
        let disjoint = corpus_cider_d(&[s("green triangle"), s("yellow star")], &refs);
        assert_eq!(disjoint, 0.0);
    }

    #[test]
    fn cider_d_matches_a_hand_computed_clipped_and_length_penalised_case() {
        let refs = vec![vec![s("a red circle")], vec![s("two blue squares")]];
        let padded = corpus_cider_d(
            &[
                s("a red circle a red circle a red circle"),
                s("two blue squares"),
            ],
            &refs,
        );
        // Image 1 (every idf is ln 2, so it cancels): n = 1: 3/(√27·√3) = 1/3; n = 2:
        // 2/(√22·√2); n = 3: 1/√17; n = 4: no reference 4-gram. Length gap 8 − 2 = 6 bigrams:
        // penalty exp(−36/72). Image 2 is exact but has no 4-gram: 10 · 3/4.
        let image1 =
            10.0 / 4.0 * (1.0 / 3.0 + 2.0 / 44f64.sqrt() + 1.0 / 17f64.sqrt()) * (-0.5f64).exp();
        let expected = (image1 + 7.5) / 2.0;
        assert!((padded - expected).abs() < 1e-9, "{padded} vs {expected}");
    }
}
