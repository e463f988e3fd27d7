use burn::config::Config;
use burn::tensor::{backend::Backend, Tensor};

use super::info_nce::{cross_entropy_with_logits, InfoNce};
use super::output::ContrastiveOutput;
use crate::error::{check_same_shape, check_temperature, ContrastiveError};

/// Configuration of [`UnsupervisedSimCse`].
#[derive(Config, Debug)]
pub struct UnsupervisedSimCseConfig {
    /// Temperature τ (the paper's 0.05).
    #[config(default = 0.05)]
    pub temperature: f64,
}

impl UnsupervisedSimCseConfig {
    /// Checks the temperature and builds the loss.
    pub fn init(&self) -> Result<UnsupervisedSimCse, ContrastiveError> {
        check_temperature(self.temperature)?;
        Ok(UnsupervisedSimCse {
            info_nce: InfoNce::new_checked(self.temperature),
        })
    }
}

/// Unsupervised SimCSE (Gao et al. 2021, eq. 4): each sentence's positive is its own second
/// dropout view, `ℓᵢ = −log exp(sim(hᵢ,hᵢ′)/τ) / Σⱼ exp(sim(hᵢ,hⱼ′)/τ)` — an `N × N` InfoNCE in
/// one direction, exactly as the reference code.
#[derive(Debug, Clone)]
pub struct UnsupervisedSimCse {
    info_nce: InfoNce,
}

impl UnsupervisedSimCse {
    /// Loss over the two dropout views `h1`, `h2` (`[N, d]` each).
    pub fn forward<B: Backend>(
        &self,
        h1: Tensor<B, 2>,
        h2: Tensor<B, 2>,
    ) -> Result<ContrastiveOutput<B>, ContrastiveError> {
        self.info_nce.forward(h1, h2, None)
    }
}

/// Configuration of [`SupervisedSimCse`].
#[derive(Config, Debug)]
pub struct SupervisedSimCseConfig {
    /// Temperature τ (the paper's 0.05).
    #[config(default = 0.05)]
    pub temperature: f64,
    /// Additive weight `w = ln α` on the anchor's own hard-negative logit (the reference code's
    /// `hard_negative_weight`); 0 is the paper's best (α = 1).
    #[config(default = 0.0)]
    pub hard_negative_weight: f64,
}

impl SupervisedSimCseConfig {
    /// Checks the temperature and weight and builds the loss.
    pub fn init(&self) -> Result<SupervisedSimCse, ContrastiveError> {
        check_temperature(self.temperature)?;
        if !self.hard_negative_weight.is_finite() {
            return Err(ContrastiveError::InvalidValue {
                key: "hard_negative_weight",
                value: self.hard_negative_weight,
                expected: "a finite number (ln α)",
            });
        }
        Ok(SupervisedSimCse {
            info_nce: InfoNce::new_checked(self.temperature),
            hard_negative_weight: self.hard_negative_weight,
        })
    }
}

/// Supervised SimCSE with hard negatives (Gao et al. 2021, eq. 5) over triplets `(h, h⁺, h⁻)`:
/// logits row `i` is `[sim(hᵢ,h⁺ⱼ)/τ]ⱼ ++ [sim(hᵢ,h⁻ⱼ)/τ + w·1[i=j]]ⱼ` (`N × 2N`), target `i`.
#[derive(Debug, Clone)]
pub struct SupervisedSimCse {
    info_nce: InfoNce,
    hard_negative_weight: f64,
}

impl SupervisedSimCse {
    /// Loss over anchors `h`, positives `h_pos` and hard negatives `h_neg` (`[N, d]` each).
    pub fn forward<B: Backend>(
        &self,
        h: Tensor<B, 2>,
        h_pos: Tensor<B, 2>,
        h_neg: Tensor<B, 2>,
    ) -> Result<ContrastiveOutput<B>, ContrastiveError> {
        let [n, d] = h.dims();
        check_same_shape(
            "supervised SimCSE",
            "anchors",
            [n, d],
            "hard negatives",
            h_neg.dims(),
        )?;
        let device = h.device();
        let (mut logits, targets) = self.info_nce.logits(h, h_pos, Some(h_neg))?;
        if self.hard_negative_weight != 0.0 {
            let own_hard_negative = Tensor::cat(
                vec![
                    Tensor::<B, 2>::zeros([n, n], &device),
                    Tensor::<B, 2>::eye(n, &device).mul_scalar(self.hard_negative_weight),
                ],
                1,
            );
            logits = logits + own_hard_negative;
        }
        let loss = cross_entropy_with_logits(logits.clone(), targets.clone());
        Ok(ContrastiveOutput {
            loss,
            logits,
            targets,
        })
    }
}
