//! Sentence embeddings from token states, as SimCSE's poolers compute them. Every mean is
//! masked: padding never enters it.

use burn::tensor::{backend::Backend, Int, Tensor};

/// How a sentence embedding is read off the encoder (the reference code's `pooler_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooler {
    /// The last layer's `[CLS]` state through the MLP `tanh(W h + b)`; [`Pooler::pool`] gives
    /// the `[CLS]` state, the model owning the MLP applies it.
    Cls,
    /// The last layer's `[CLS]` state.
    ClsBeforePooler,
    /// Mean of the last layer over real tokens.
    Avg,
    /// Mean over real tokens of the average of the first Transformer layer's output and the last.
    AvgFirstLast,
    /// Mean over real tokens of the average of the last two layers.
    AvgTop2,
}

impl std::str::FromStr for Pooler {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        match name {
            "cls" => Ok(Self::Cls),
            "cls_before_pooler" => Ok(Self::ClsBeforePooler),
            "avg" => Ok(Self::Avg),
            "avg_first_last" => Ok(Self::AvgFirstLast),
            "avg_top2" => Ok(Self::AvgTop2),
            other => Err(format!(
                "unknown pooler `{other}` (cls, cls_before_pooler, avg, avg_first_last, avg_top2)"
            )),
        }
    }
}

/// `Σₜ mask·h / Σₜ mask` over the sequence, `[batch, d]`.
pub fn masked_mean<B: Backend>(
    states: Tensor<B, 3>,
    attention_mask: Tensor<B, 2, Int>,
) -> Tensor<B, 2> {
    let [batch, len, d] = states.dims();
    let mask = attention_mask.float().reshape([batch, len, 1]);
    let summed = (states * mask.clone()).sum_dim(1).reshape([batch, d]);
    let counts = mask.sum_dim(1).reshape([batch, 1]).clamp_min(1.0);
    summed / counts
}

impl Pooler {
    /// Pools `states` (every layer's output, embeddings first, as `Bert::forward_all` gives).
    pub fn pool<B: Backend>(
        &self,
        states: &[Tensor<B, 3>],
        attention_mask: Tensor<B, 2, Int>,
    ) -> Tensor<B, 2> {
        let last = states[states.len() - 1].clone();
        match self {
            Pooler::Cls | Pooler::ClsBeforePooler => {
                let [batch, _, d] = last.dims();
                last.slice([0..batch, 0..1]).reshape([batch, d])
            }
            Pooler::Avg => masked_mean(last, attention_mask),
            Pooler::AvgFirstLast => {
                masked_mean((states[1].clone() + last).div_scalar(2.0), attention_mask)
            }
            Pooler::AvgTop2 => masked_mean(
                (states[states.len() - 2].clone() + last).div_scalar(2.0),
                attention_mask,
            ),
        }
    }
}
