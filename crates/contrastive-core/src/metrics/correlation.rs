//! Pearson and Spearman correlation on plain `f64` scores, as STS evaluation reports them.

/// Why a correlation could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CorrelationError {
    #[error("correlation needs two score lists of the same length, got {left} and {right}")]
    LengthMismatch { left: usize, right: usize },
    #[error("correlation needs at least 2 pairs of scores, got {0}")]
    TooFewPoints(usize),
    #[error("correlation is undefined when one list of scores is constant")]
    ConstantInput,
    #[error("score {index} is not a finite number ({value})")]
    NonFinite { index: usize, value: f64 },
}

fn check_inputs(x: &[f64], y: &[f64]) -> Result<(), CorrelationError> {
    if x.len() != y.len() {
        return Err(CorrelationError::LengthMismatch {
            left: x.len(),
            right: y.len(),
        });
    }
    if x.len() < 2 {
        return Err(CorrelationError::TooFewPoints(x.len()));
    }
    for (index, &value) in x.iter().chain(y.iter()).enumerate() {
        if !value.is_finite() {
            return Err(CorrelationError::NonFinite {
                index: index % x.len(),
                value,
            });
        }
    }
    Ok(())
}

/// Pearson's linear correlation coefficient `cov(x, y) / (σₓ σᵧ)`.
pub fn pearson(x: &[f64], y: &[f64]) -> Result<f64, CorrelationError> {
    check_inputs(x, y)?;
    let n = x.len() as f64;
    let mean_x = x.iter().sum::<f64>() / n;
    let mean_y = y.iter().sum::<f64>() / n;
    let (mut cov, mut var_x, mut var_y) = (0.0, 0.0, 0.0);
    for (&a, &b) in x.iter().zip(y) {
        let (da, db) = (a - mean_x, b - mean_y);
        cov += da * db;
        var_x += da * da;
        var_y += db * db;
    }
    if var_x == 0.0 || var_y == 0.0 {
        return Err(CorrelationError::ConstantInput);
    }
    Ok((cov / (var_x.sqrt() * var_y.sqrt())).clamp(-1.0, 1.0))
}

/// Spearman's rank correlation: Pearson over ranks, ties sharing their average rank
/// (`scipy.stats.spearmanr`).
pub fn spearman(x: &[f64], y: &[f64]) -> Result<f64, CorrelationError> {
    check_inputs(x, y)?;
    pearson(&average_ranks(x), &average_ranks(y))
}

/// 1-based ranks with ties given the mean of the ranks they span (`scipy.stats.rankdata`).
pub fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Positions start..end hold ranks start+1 ..= end; their mean is (start + 1 + end) / 2.
        let shared_rank = (start + 1 + end) as f64 / 2.0;
        for &index in &order[start..end] {
            ranks[index] = shared_rank;
        }
        start = end;
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_ranks_match_scipy_rankdata() {
        // scipy.stats.rankdata([10, 20, 10, 30, 20, 20]) == [1.5, 4, 1.5, 6, 4, 4]
        assert_eq!(
            average_ranks(&[10.0, 20.0, 10.0, 30.0, 20.0, 20.0]),
            vec![1.5, 4.0, 1.5, 6.0, 4.0, 4.0]
        );
    }

    #[test]
    fn spearman_with_ties_uses_average_ranks() {
        // Ranks [1, 2.5, 2.5, 4, 5] and [2, 1, 4.5, 4.5, 3]: cov 3.75, both variances 9.5.
        let rho = spearman(&[1.0, 2.0, 2.0, 3.0, 5.0], &[2.0, 1.0, 4.0, 4.0, 3.0]).unwrap();
        assert!((rho - 3.75 / 9.5).abs() < 1e-12, "{rho}");
    }

    #[test]
    fn pearson_hand_computed() {
        // x = [1, 2, 3, 4], y = [2, 4, 5, 9]: Σdx·dy = 11, Σdx² = 5, Σdy² = 26.
        let r = pearson(&[1.0, 2.0, 3.0, 4.0], &[2.0, 4.0, 5.0, 9.0]).unwrap();
        let expected = 11.0 / (5.0f64 * 26.0).sqrt();
        assert!((r - expected).abs() < 1e-12);
    }

    #[test]
    fn monotone_but_nonlinear_is_spearman_one_pearson_below_one() {
        let x: Vec<f64> = (1..=10).map(f64::from).collect();
        let y: Vec<f64> = x.iter().map(|v| v.powi(3)).collect();
        assert!((spearman(&x, &y).unwrap() - 1.0).abs() < 1e-12);
        assert!(pearson(&x, &y).unwrap() < 0.99);
    }

    #[test]
    fn reversed_order_is_minus_one() {
        let rho = spearman(&[1.0, 2.0, 3.0], &[9.0, 5.0, 1.0]).unwrap();
        assert!((rho + 1.0).abs() < 1e-12);
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert_eq!(
            spearman(&[1.0, 2.0], &[1.0]),
            Err(CorrelationError::LengthMismatch { left: 2, right: 1 })
        );
        assert_eq!(
            pearson(&[1.0], &[1.0]),
            Err(CorrelationError::TooFewPoints(1))
        );
        assert_eq!(
            pearson(&[1.0, 1.0], &[1.0, 2.0]),
            Err(CorrelationError::ConstantInput)
        );
        assert!(matches!(
            pearson(&[1.0, f64::NAN], &[1.0, 2.0]),
            Err(CorrelationError::NonFinite { index: 1, .. })
        ));
    }
}
