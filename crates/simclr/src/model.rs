//! The SimCLR model: `h = f(x̃)` (ResNet), `z = g(h)` (projection head), NT-Xent on `z`.

use burn::module::Module;
use burn::tensor::{backend::Backend, Tensor};
use contrastive_core::loss::{ContrastiveOutput, NtXent, NtXentConfig};
use contrastive_core::nn::{ProjectionHead, ProjectionHeadConfig, ResNet};
use contrastive_core::ContrastiveError;

use crate::config::SimclrModelConfig;

/// Encoder and projection head, trained together; only the encoder is kept for downstream use.
#[derive(Module, Debug)]
pub struct SimClr<B: Backend> {
    /// `f`: images to representations `h`.
    pub encoder: ResNet<B>,
    /// `g`: representations to the projections `z` the loss sees.
    pub head: ProjectionHead<B>,
    #[module(skip)]
    loss: NtXent,
}

impl SimclrModelConfig {
    /// Builds the model on `device`.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<SimClr<B>, ContrastiveError> {
        let encoder = self.encoder.init(device)?;
        let dim = encoder.output_dim();
        let head = ProjectionHeadConfig::new(dim, self.head_hidden_dim.unwrap_or(dim))
            .with_output_dim(self.projection_dim)
            .with_batch_norm(self.head_batch_norm)
            .init(device);
        let loss = NtXentConfig::new()
            .with_temperature(self.temperature)
            .init()?;
        Ok(SimClr {
            encoder,
            head,
            loss,
        })
    }
}

impl<B: Backend> SimClr<B> {
    /// The representation `h = f(x)`, `[batch, dim]`.
    pub fn representation(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        self.encoder.forward(images)
    }

    /// The projections `z = g(f(x̃))` the loss sees, `[views, projection_dim]`.
    pub fn project(&self, views: Tensor<B, 4>) -> Tensor<B, 2> {
        self.head.forward(self.encoder.forward(views))
    }

    /// NT-Xent over the projections of `2N` views (first views, then second views).
    pub fn objective(&self, z: Tensor<B, 2>) -> Result<ContrastiveOutput<B>, ContrastiveError> {
        let n = z.dims()[0] / 2;
        self.loss.forward(z.clone().slice(0..n), z.slice(n..2 * n))
    }

    /// NT-Xent over a batch of `2N` views (first views, then second views). Both views go
    /// through the encoder in one pass, so BatchNorm statistics cover all 2N of them.
    pub fn forward(&self, views: Tensor<B, 4>) -> Result<ContrastiveOutput<B>, ContrastiveError> {
        self.objective(self.project(views))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::augment::{AugmentConfig, Augmenter};
    use crate::data::batcher::{ViewPairBatcher, ViewPairDataset};
    use crate::data::synthetic;
    use burn::backend::{Autodiff, NdArray};
    use burn::data::dataloader::batcher::Batcher;
    use burn::optim::{AdamConfig, GradientsParams, Optimizer};
    use contrastive_core::nn::ResNetConfig;
    use contrastive_core::run::epochs::EpochDataset;
    use std::sync::Arc;

    type B = Autodiff<NdArray>;

    #[test]
    fn training_steps_lower_the_loss_on_a_fixed_batch() {
        let device = Default::default();
        <B as Backend>::seed(&device, 0);
        let config = SimclrModelConfig::new()
            .with_encoder(ResNetConfig::new().with_width_multiplier(0.125))
            .with_projection_dim(16);
        let mut model = config.init::<B>(&device).unwrap();
        let images = Arc::new(synthetic::generate(8, 16, 3));
        let dataset = ViewPairDataset::new(
            images,
            Augmenter::new(AugmentConfig::new().with_size(16)),
            0,
            8,
        );
        let pairs = (0..8).map(|i| dataset.get(i, 0).unwrap()).collect();
        let batch = Batcher::<B, _, _>::batch(&ViewPairBatcher, pairs, &device);
        let mut optim = AdamConfig::new().init();
        let loss_of = |m: &SimClr<B>| m.forward(batch.views.clone()).unwrap().loss;
        let before = loss_of(&model).into_scalar();
        for _ in 0..5 {
            let loss = loss_of(&model);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(1e-3, model, grads);
        }
        let after = loss_of(&model).into_scalar();
        assert!(after < before, "loss did not decrease: {before} -> {after}");
    }
}
