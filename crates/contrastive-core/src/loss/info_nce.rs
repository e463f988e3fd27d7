use burn::config::Config;
use burn::tensor::{activation::log_softmax, backend::Backend, Int, Tensor};

use super::output::ContrastiveOutput;
use crate::error::{check_batch, check_same_shape, check_temperature, ContrastiveError};
use crate::similarity::cosine_similarity_matrix;

/// Mean cross-entropy `CE(l, y) = −l[y] + log Σⱼ exp(l[j])` of each row of `logits`
/// (`[n, m]`) against its target column, through log-softmax for stability.
pub fn cross_entropy_with_logits<B: Backend>(
    logits: Tensor<B, 2>,
    targets: Tensor<B, 1, Int>,
) -> Tensor<B, 1> {
    let [n, _] = logits.dims();
    let log_probs = log_softmax(logits, 1);
    let picked = log_probs.gather(1, targets.reshape([n, 1]));
    picked.mean().neg()
}

/// Configuration of [`InfoNce`].
#[derive(Config, Debug)]
pub struct InfoNceConfig {
    /// Temperature τ dividing the cosine similarities.
    #[config(default = 0.07)]
    pub temperature: f64,
}

impl InfoNceConfig {
    /// Checks the temperature and builds the loss.
    pub fn init(&self) -> Result<InfoNce, ContrastiveError> {
        check_temperature(self.temperature)?;
        Ok(InfoNce::new_checked(self.temperature))
    }
}

/// InfoNCE with in-batch negatives:
///
/// `L(qᵢ) = −log exp(sim(qᵢ,kᵢ)/τ) / Σⱼ exp(sim(qᵢ,cⱼ)/τ)`,
///
/// where the candidates `c` are the keys `k` (row `i` is query `i`'s positive, the other rows
/// its negatives) followed by optional extra negatives (e.g. hard negatives).
#[derive(Debug, Clone)]
pub struct InfoNce {
    temperature: f64,
}

impl InfoNce {
    /// Builds the loss from a temperature its caller has already validated.
    pub(crate) fn new_checked(temperature: f64) -> Self {
        Self { temperature }
    }

    /// The temperature τ.
    pub fn temperature(&self) -> f64 {
        self.temperature
    }

    /// Scaled similarities `[n, n + m]` of `queries` `[n, d]` to `keys` `[n, d]` and then
    /// `extra_negatives` `[m, d]`, with their targets `0..n`.
    pub fn logits<B: Backend>(
        &self,
        queries: Tensor<B, 2>,
        keys: Tensor<B, 2>,
        extra_negatives: Option<Tensor<B, 2>>,
    ) -> Result<(Tensor<B, 2>, Tensor<B, 1, Int>), ContrastiveError> {
        let [n, d] = queries.dims();
        check_batch(n)?;
        check_same_shape("InfoNCE", "queries", [n, d], "keys", keys.dims())?;
        let candidates = match extra_negatives {
            Some(extra) => {
                let [m, d_extra] = extra.dims();
                if d_extra != d {
                    return Err(ContrastiveError::ShapeMismatch {
                        context: "InfoNCE (feature dimensions must agree)",
                        left_name: "queries",
                        left: vec![n, d],
                        right_name: "extra negatives",
                        right: vec![m, d_extra],
                    });
                }
                Tensor::cat(vec![keys, extra], 0)
            }
            None => keys,
        };
        let device = queries.device();
        let logits = cosine_similarity_matrix(queries, candidates).div_scalar(self.temperature);
        let targets = Tensor::arange(0..n as i64, &device);
        Ok((logits, targets))
    }

    /// The mean InfoNCE loss over the `n` queries.
    pub fn forward<B: Backend>(
        &self,
        queries: Tensor<B, 2>,
        keys: Tensor<B, 2>,
        extra_negatives: Option<Tensor<B, 2>>,
    ) -> Result<ContrastiveOutput<B>, ContrastiveError> {
        let (logits, targets) = self.logits(queries, keys, extra_negatives)?;
        let loss = cross_entropy_with_logits(logits.clone(), targets.clone());
        Ok(ContrastiveOutput {
            loss,
            logits,
            targets,
        })
    }
}
