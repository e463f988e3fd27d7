use burn::tensor::{backend::Backend, ElementConversion, Int, Tensor};

/// Fraction of anchors whose positive has the largest logit in its row (contrastive top-1).
pub fn contrastive_accuracy<B: Backend>(logits: Tensor<B, 2>, targets: Tensor<B, 1, Int>) -> f64 {
    let [n, _] = logits.dims();
    if n == 0 {
        return 0.0;
    }
    let predicted = logits.argmax(1).reshape([n]);
    let correct: i64 = predicted.equal(targets).int().sum().into_scalar().elem();
    correct as f64 / n as f64
}
