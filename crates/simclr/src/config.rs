//! SimCLR's configuration, with the paper's CIFAR-10 defaults.

use burn::config::Config;
use contrastive_core::error::{check_pieces, check_positive};
use contrastive_core::nn::ResNetConfig;
use contrastive_core::ContrastiveError;

use crate::data::augment::AugmentConfig;

/// The encoder, head and loss.
#[derive(Config, Debug)]
pub struct SimclrModelConfig {
    /// The encoder `f` (ResNet-18, CIFAR stem by default).
    #[config(default = "ResNetConfig::new()")]
    pub encoder: ResNetConfig,
    /// Hidden width of the projection head (default: the representation size).
    #[config(default = "None")]
    pub head_hidden_dim: Option<usize>,
    /// Output size of the projection head `z` (the paper's 128).
    #[config(default = 128)]
    pub projection_dim: usize,
    /// BatchNorm in the head (SimCLR v2).
    #[config(default = false)]
    pub head_batch_norm: bool,
    /// NT-Xent temperature τ (0.5 for CIFAR-10).
    #[config(default = 0.5)]
    pub temperature: f64,
}

/// Which optimizer updates the weights.
#[derive(Config, Debug, PartialEq, Copy)]
pub enum OptimizerKind {
    /// LARS with momentum (the paper's).
    Lars,
    /// SGD with momentum.
    Sgd,
    /// Adam.
    Adam,
}

/// Everything a SimCLR pre-training run needs besides its data.
#[derive(Config, Debug)]
pub struct SimclrConfig {
    /// Model and loss.
    #[config(default = "SimclrModelConfig::new()")]
    pub model: SimclrModelConfig,
    /// The augmentation `T`.
    #[config(default = "AugmentConfig::new()")]
    pub augment: AugmentConfig,
    /// Optimizer.
    #[config(default = "OptimizerKind::Lars")]
    pub optimizer: OptimizerKind,
    /// Learning rate at batch 256; the run uses `base_learning_rate × batch_size / 256`
    /// (the paper's linear scaling; 1.0 with LARS on CIFAR-10).
    #[config(default = 1.0)]
    pub base_learning_rate: f64,
    /// Weight decay (LARS/SGD: L2 on weights; Adam: L2 penalty).
    #[config(default = 1e-6)]
    pub weight_decay: f64,
    /// Momentum of LARS and SGD.
    #[config(default = 0.9)]
    pub momentum: f64,
    /// Epochs of linear warm-up before the cosine decay (the paper: 10).
    #[config(default = 10)]
    pub warmup_epochs: usize,
    /// Training epochs.
    #[config(default = 100)]
    pub epochs: usize,
    /// Images per batch `N` (each gives two views: 2N per step).
    #[config(default = 256)]
    pub batch_size: usize,
    /// GradCache: each step encodes its batch in this many chunks of images, one after the
    /// other, for NT-Xent's exact gradient over the whole batch at the activation memory of
    /// one chunk (the price: one more forward pass). BatchNorm normalises each chunk by its own
    /// statistics. Must divide `batch_size`; 1 encodes the batch whole.
    #[config(default = 1)]
    pub grad_cache_chunks: usize,
    /// With several replicas (`--devices`), each replica's loss takes the representations of
    /// every replica as negatives: the step is that of one process on the whole batch. `false`
    /// keeps each replica's negatives its own (`batch_size / replicas` per loss).
    #[config(default = true)]
    pub gather_negatives: bool,
    /// Data-loading threads that decode and augment in parallel with the step.
    #[config(default = 2)]
    pub num_workers: usize,
    /// Neighbours of the k-NN monitor: after every epoch, the leave-one-out k-NN top-1 of the
    /// validation images' representations (200 as usual; 0 turns the monitor off).
    #[config(default = 200)]
    pub knn_monitor_k: usize,
    /// Neighbours of the k-NN evaluation after training (200, the usual choice at CIFAR and
    /// ImageNet sizes; a small training split needs fewer, or the votes span several classes).
    #[config(default = 200)]
    pub knn_k: usize,
    /// Seed of weights, data order and augmentations.
    #[config(default = 42)]
    pub seed: u64,
}

impl SimclrConfig {
    /// The learning rate after linear scaling with the batch size.
    pub fn learning_rate(&self) -> f64 {
        self.base_learning_rate * self.batch_size as f64 / 256.0
    }

    /// Rejects values that cannot train, naming the key.
    pub fn validate(&self) -> Result<(), ContrastiveError> {
        contrastive_core::error::check_temperature(self.model.temperature)?;
        if self.batch_size < 2 {
            return Err(ContrastiveError::BatchTooSmall {
                batch: self.batch_size,
            });
        }
        check_pieces("grad_cache_chunks", self.grad_cache_chunks, self.batch_size)?;
        check_positive(&[
            ("epochs", self.epochs as f64),
            ("knn_k", self.knn_k as f64),
            ("augment.size", self.augment.size as f64),
            ("model.projection_dim", self.model.projection_dim as f64),
            ("base_learning_rate", self.base_learning_rate),
        ])?;
        let [lo, hi] = self.augment.crop_scale;
        if !(0.0 < lo && lo <= hi && hi <= 1.0) {
            return Err(ContrastiveError::InvalidValue {
                key: "augment.crop_scale",
                value: lo,
                expected: "0 < min <= max <= 1",
            });
        }
        let [lo, hi] = self.augment.crop_ratio;
        if !(0.0 < lo && lo <= hi) {
            return Err(ContrastiveError::InvalidValue {
                key: "augment.crop_ratio",
                value: lo,
                expected: "0 < min <= max",
            });
        }
        if self.augment.std.iter().any(|s| *s <= 0.0) {
            return Err(ContrastiveError::InvalidValue {
                key: "augment.std",
                value: 0.0,
                expected: "every channel > 0",
            });
        }
        for (key, p) in [
            (
                "augment.jitter_probability",
                self.augment.jitter_probability,
            ),
            (
                "augment.grayscale_probability",
                self.augment.grayscale_probability,
            ),
            ("augment.blur_probability", self.augment.blur_probability),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(ContrastiveError::InvalidValue {
                    key,
                    value: p,
                    expected: "a probability in [0, 1]",
                });
            }
        }
        Ok(())
    }
}
