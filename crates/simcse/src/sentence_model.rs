//! The SimCSE model: BERT, a pooler and the contrastive objective. Positives are the same
//! sentence under another dropout mask (unsupervised) or an entailed sentence (supervised).

use std::ops::Range;

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{backend::Backend, Tensor};
use contrastive_core::loss::{
    ContrastiveOutput, SupervisedSimCse, SupervisedSimCseConfig, UnsupervisedSimCse,
    UnsupervisedSimCseConfig,
};
use contrastive_core::run::text::TokenBatch;
use contrastive_core::run::train::column_rows;
use contrastive_core::ContrastiveError;

use crate::config::{BertConfig, SimcseModelConfig};
use crate::data::batcher::SentenceBatch;
use crate::encoder::TokenEncoder;
use crate::model::{Bert, BertInput};
use crate::pooling::Pooler;

/// How sentences are pooled and compared; not learned.
#[derive(Debug, Clone)]
struct Objective {
    pooler: Pooler,
    mlp_only_train: bool,
    same_dropout_mask: bool,
    pairs: UnsupervisedSimCse,
    triplets: SupervisedSimCse,
}

/// BERT with SimCSE's pooler and objective.
#[derive(Module, Debug)]
pub struct SimCse<B: Backend> {
    /// The sentence encoder.
    pub bert: Bert<B>,
    /// The `cls` pooler's MLP `tanh(W h + b)` (BERT's `pooler.dense` in exported checkpoints).
    pub mlp: Linear<B>,
    #[module(skip)]
    objective: Objective,
}

/// The loss with the two views it compared (for alignment and uniformity).
pub struct SimCseOutput<B: Backend> {
    pub contrastive: ContrastiveOutput<B>,
    pub anchors: Tensor<B, 2>,
    pub positives: Tensor<B, 2>,
}

fn bert_input<B: Backend>(tokens: &TokenBatch<B>) -> BertInput<B> {
    BertInput {
        input_ids: tokens.input_ids.clone(),
        token_type_ids: tokens.token_type_ids.clone(),
        attention_mask: tokens.attention_mask.clone(),
    }
}

impl SimcseModelConfig {
    /// SimCSE over a loaded encoder; `mlp` is the checkpoint's pooler layer, if it has one
    /// (otherwise it starts random, as in the reference code).
    pub fn init<B: Backend>(
        &self,
        bert_config: &BertConfig,
        bert: Bert<B>,
        mlp: Option<Linear<B>>,
        device: &B::Device,
    ) -> Result<SimCse<B>, ContrastiveError> {
        let d = bert_config.hidden_size;
        let bert = match self.dropout {
            Some(p) => bert.with_dropout(p),
            None => bert,
        };
        Ok(SimCse {
            bert,
            mlp: mlp.unwrap_or_else(|| LinearConfig::new(d, d).init(device)),
            objective: Objective {
                pooler: self.pooler,
                mlp_only_train: self.mlp_only_train,
                same_dropout_mask: self.same_dropout_mask,
                pairs: UnsupervisedSimCseConfig::new()
                    .with_temperature(self.temperature)
                    .init()?,
                triplets: SupervisedSimCseConfig::new()
                    .with_temperature(self.temperature)
                    .with_hard_negative_weight(self.hard_negative_weight)
                    .init()?,
            },
        })
    }
}

impl<B: Backend> SimCse<B> {
    /// Sentence embeddings `[batch, d]`. The `cls` MLP applies while training and, unless
    /// `mlp_only_train`, at test time too.
    pub fn embed(&self, tokens: &TokenBatch<B>, training: bool) -> Tensor<B, 2> {
        let states = self.bert.forward_all(&bert_input(tokens));
        let pooled = self
            .objective
            .pooler
            .pool(&states, tokens.attention_mask.clone());
        let with_mlp =
            self.objective.pooler == Pooler::Cls && (training || !self.objective.mlp_only_train);
        if with_mlp {
            self.mlp.forward(pooled).tanh()
        } else {
            pooled
        }
    }

    /// The pooler this model embeds with.
    pub fn pooler(&self) -> Pooler {
        self.objective.pooler
    }

    /// Encoder rows per example: the sentence twice (unsupervised, so each copy gets its own
    /// dropout mask), once (unsupervised with `same_dropout_mask`), or one per column
    /// (supervised: anchor, positive and, with hard negatives, the negative).
    pub fn passes(&self, batch: &SentenceBatch<B>) -> usize {
        match batch.columns {
            1 if self.objective.same_dropout_mask => 1,
            1 => 2,
            columns => columns,
        }
    }

    /// The encoder input of examples `range`: every pass of those examples, pass after pass.
    pub fn encoder_input(&self, batch: &SentenceBatch<B>, range: Range<usize>) -> TokenBatch<B> {
        let columns = batch.columns;
        let twice = self.passes(batch) == 2 && columns == 1;
        batch.tokens.map_rows(|rows| {
            let chunk = column_rows(rows, columns, range.clone());
            if twice {
                Tensor::cat(vec![chunk.clone(), chunk], 0)
            } else {
                chunk
            }
        })
    }

    /// The contrastive loss on the embeddings `z` of every pass of a batch's `n` examples,
    /// pass after pass (`[passes · n, d]`).
    pub fn objective(
        &self,
        z: Tensor<B, 2>,
        passes: usize,
    ) -> Result<SimCseOutput<B>, ContrastiveError> {
        let n = z.dims()[0] / passes;
        let column = |i: usize| z.clone().slice(i * n..(i + 1) * n);
        let anchors = column(0);
        let positives = if passes == 1 { column(0) } else { column(1) };
        let contrastive = match passes {
            3 => self
                .objective
                .triplets
                .forward(anchors.clone(), positives.clone(), column(2))?,
            _ => self
                .objective
                .pairs
                .forward(anchors.clone(), positives.clone())?,
        };
        Ok(SimCseOutput {
            contrastive,
            anchors,
            positives,
        })
    }

    /// The contrastive loss of a batch, all of its passes through the encoder together.
    pub fn forward(&self, batch: &SentenceBatch<B>) -> Result<SimCseOutput<B>, ContrastiveError> {
        let z = self.embed(&self.encoder_input(batch, 0..batch.size), true);
        self.objective(z, self.passes(batch))
    }
}

impl<B: Backend> TokenEncoder<B> for SimCse<B> {
    fn encode(&self, tokens: &TokenBatch<B>) -> Tensor<B, 2> {
        self.embed(tokens, false)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::{Mode, SimcseModelConfig};
    use burn::backend::{Autodiff, NdArray};
    use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
    use burn::tensor::{Int, TensorData};

    type B = Autodiff<NdArray>;

    /// A two-layer BERT small enough for unit tests.
    pub fn tiny_bert_config() -> BertConfig {
        serde_json::from_value(serde_json::json!({
            "vocab_size": 20, "hidden_size": 8, "num_hidden_layers": 2,
            "num_attention_heads": 2, "intermediate_size": 16,
            "max_position_embeddings": 16, "hidden_dropout_prob": 0.1,
            "attention_probs_dropout_prob": 0.1
        }))
        .unwrap()
    }

    /// `rows` sequences of ids with trailing padding (id 0) after `lengths[i]` tokens.
    pub fn tokens<Be: Backend>(ids: &[[i64; 5]], lengths: &[usize]) -> TokenBatch<Be> {
        let device = Default::default();
        let n = ids.len();
        let mask: Vec<i64> = lengths
            .iter()
            .flat_map(|&l| (0..5).map(move |j| i64::from(j < l)))
            .collect();
        let ids: Vec<i64> = ids.iter().flatten().copied().collect();
        let tensor =
            |v: Vec<i64>| Tensor::<Be, 2, Int>::from_data(TensorData::new(v, [n, 5]), &device);
        TokenBatch {
            input_ids: tensor(ids),
            token_type_ids: tensor(vec![0; n * 5]),
            attention_mask: tensor(mask),
        }
    }

    /// A seeded SimCSE model on [`tiny_bert_config`].
    pub(crate) fn tiny_model<M: Backend>(config: SimcseModelConfig) -> SimCse<M> {
        let device = Default::default();
        M::seed(&device, 1);
        let bert_config = tiny_bert_config();
        let bert = bert_config.init(&device);
        config.init(&bert_config, bert, None, &device).unwrap()
    }

    fn batch() -> SentenceBatch<B> {
        SentenceBatch {
            tokens: tokens(
                &[
                    [2, 5, 6, 3, 0],
                    [2, 7, 8, 9, 3],
                    [2, 11, 3, 0, 0],
                    [2, 12, 13, 3, 0],
                ],
                &[4, 5, 3, 4],
            ),
            columns: 1,
            size: 4,
            noise_seed: 0,
        }
    }

    fn alignment_of(model: &SimCse<B>) -> f64 {
        let out = model.forward(&batch()).unwrap();
        (out.anchors - out.positives).abs().sum().into_scalar() as f64
    }

    #[test]
    fn unsupervised_copies_differ_only_through_dropout() {
        assert!(alignment_of(&tiny_model(SimcseModelConfig::new())) > 1e-3);
        let no_dropout = SimcseModelConfig::new().with_dropout(Some(0.0));
        assert!(alignment_of(&tiny_model(no_dropout)) < 1e-6);
        let same_mask = SimcseModelConfig::new().with_same_dropout_mask(true);
        assert!(alignment_of(&tiny_model(same_mask)) < 1e-6);
    }

    #[test]
    fn supervised_triplets_use_the_hard_negatives_as_extra_columns() {
        let model = tiny_model::<B>(SimcseModelConfig::new().with_mode(Mode::Sup));
        let triplets = SentenceBatch {
            tokens: tokens(
                &[
                    [2, 5, 3, 0, 0],
                    [2, 6, 3, 0, 0],
                    [2, 7, 3, 0, 0],
                    [2, 8, 3, 0, 0],
                    [2, 9, 3, 0, 0],
                    [2, 10, 3, 0, 0],
                ],
                &[3; 6],
            ),
            columns: 3,
            size: 2,
            noise_seed: 0,
        };
        let out = model.forward(&triplets).unwrap();
        assert_eq!(out.contrastive.logits.dims(), [2, 4]);
    }

    #[test]
    fn training_steps_lower_the_unsupervised_loss() {
        use burn::module::AutodiffModule;
        // Without dropout the objective has no randomness (whatever the initial weights), so
        // the check cannot depend on which masks were drawn: the copies are identical and the
        // loss falls as the sentences spread apart.
        let config = SimcseModelConfig::new()
            .with_temperature(0.1)
            .with_dropout(Some(0.0));
        let mut model = tiny_model::<B>(config);
        let mut optim = AdamWConfig::new().init();
        let eval_batch = SentenceBatch {
            tokens: tokens::<NdArray>(
                &[
                    [2, 5, 6, 3, 0],
                    [2, 7, 8, 9, 3],
                    [2, 11, 3, 0, 0],
                    [2, 12, 13, 3, 0],
                ],
                &[4, 5, 3, 4],
            ),
            columns: 1,
            size: 4,
            noise_seed: 0,
        };
        let loss_of = |m: &SimCse<B>| -> f32 {
            m.valid()
                .forward(&eval_batch)
                .unwrap()
                .contrastive
                .loss
                .into_scalar()
        };
        let before = loss_of(&model);
        for _ in 0..15 {
            let loss = model.forward(&batch()).unwrap().contrastive.loss;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(1e-3, model, grads);
        }
        let after = loss_of(&model);
        assert!(after < before, "loss did not decrease: {before} -> {after}");
    }
}
