use burn::config::Config;
use burn::tensor::{backend::Backend, Bool, Int, Tensor};

use super::info_nce::cross_entropy_with_logits;
use super::output::ContrastiveOutput;
use crate::error::{check_batch, check_same_shape, check_temperature, ContrastiveError};
use crate::similarity::cosine_similarity_matrix;

/// Configuration of [`NtXent`].
#[derive(Config, Debug)]
pub struct NtXentConfig {
    /// Temperature τ (0.5 is typical for CIFAR-10, 0.1 at ImageNet batch sizes).
    #[config(default = 0.5)]
    pub temperature: f64,
}

impl NtXentConfig {
    /// Checks the temperature and builds the loss.
    pub fn init(&self) -> Result<NtXent, ContrastiveError> {
        check_temperature(self.temperature)?;
        Ok(NtXent {
            temperature: self.temperature,
        })
    }
}

/// NT-Xent, SimCLR's loss (Chen et al. 2020, eq. 1), over `2N` views `z = [z₁; z₂]`:
///
/// `ℓᵢ = −log exp(sim(zᵢ, z_pos(i))/τ) / Σ_{k≠i} exp(sim(zᵢ, z_k)/τ)`, `pos(i) = (i + N) mod 2N`,
///
/// averaged over all `2N` rows (both directions of every pair). The `k ≠ i` indicator is a
/// `−∞` on the diagonal before the log-softmax.
#[derive(Debug, Clone)]
pub struct NtXent {
    temperature: f64,
}

impl NtXent {
    /// The temperature τ.
    pub fn temperature(&self) -> f64 {
        self.temperature
    }

    /// Loss over the two views `z1`, `z2` (`[N, d]` each; row `i` of both is the same image).
    pub fn forward<B: Backend>(
        &self,
        z1: Tensor<B, 2>,
        z2: Tensor<B, 2>,
    ) -> Result<ContrastiveOutput<B>, ContrastiveError> {
        let [n, d] = z1.dims();
        check_batch(n)?;
        check_same_shape("NT-Xent", "view 1", [n, d], "view 2", z2.dims())?;
        let device = z1.device();
        let z = Tensor::cat(vec![z1, z2], 0);
        let self_similarity =
            Tensor::<B, 2, Bool>::diag_mask([2 * n, 2 * n], 0, &device).bool_not();
        let logits = cosine_similarity_matrix(z.clone(), z)
            .div_scalar(self.temperature)
            .mask_fill(self_similarity, f32::NEG_INFINITY);
        let rows = Tensor::<B, 1, Int>::arange(0..2 * n as i64, &device);
        let targets = rows.add_scalar(n as i64).remainder_scalar(2 * n as i64);
        let loss = cross_entropy_with_logits(logits.clone(), targets.clone());
        Ok(ContrastiveOutput {
            loss,
            logits,
            targets,
        })
    }
}
