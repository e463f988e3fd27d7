//! Loading a Hugging Face BERT directory: `config.json`, `model.safetensors` (keys with or
//! without the `bert.` prefix; PyTorch's `[out, in]` linear layout) and `tokenizer.json`.
//! Every failure names the file, the key and, for shapes, both sizes.

use std::path::{Path, PathBuf};

use burn::module::Param;
use burn::nn::{Embedding, LayerNorm, Linear, LinearConfig};
use burn::tensor::{backend::Backend, Tensor, TensorData};
use contrastive_core::run::text::TextTokenizer;
use safetensors::{Dtype, SafeTensors};

use crate::config::BertConfig;
use crate::hf_names::{named_parts, Part, POOLER};
use crate::model::Bert;

/// Why a model directory could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("{path}: tensor `{key}` is missing")]
    MissingTensor { path: PathBuf, key: String },
    #[error("{path}: tensor `{key}` has shape {found:?}, but config.json implies {expected:?}")]
    WrongShape {
        path: PathBuf,
        key: String,
        found: Vec<usize>,
        expected: Vec<usize>,
    },
    #[error(transparent)]
    Tokenizer(#[from] contrastive_core::run::text::TextError),
}

/// The model directory's `tokenizer.json`, truncating at `max_length`, checked against the
/// model's `vocab_size` (a tokenizer with more tokens than the embedding has rows would index
/// past it).
pub fn load_tokenizer(
    dir: &Path,
    max_length: usize,
    vocab_size: usize,
) -> Result<TextTokenizer, LoadError> {
    let path = dir.join("tokenizer.json");
    let tokenizer = TextTokenizer::from_file(&path, max_length)?;
    tokenizer
        .check_vocabulary(vocab_size)
        .map_err(|e| LoadError::Invalid {
            path,
            reason: e.to_string(),
        })?;
    Ok(tokenizer)
}

/// Reads `config.json` of a model directory.
pub fn load_config(dir: &Path) -> Result<BertConfig, LoadError> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|source| LoadError::Io {
        path: path.clone(),
        source,
    })?;
    let config: BertConfig = serde_json::from_str(&text).map_err(|e| LoadError::Invalid {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    if config.hidden_act != "gelu" {
        return Err(LoadError::Invalid {
            path,
            reason: format!(
                "hidden_act `{}` is not supported (only `gelu`)",
                config.hidden_act
            ),
        });
    }
    if config.num_attention_heads == 0
        || !config
            .hidden_size
            .is_multiple_of(config.num_attention_heads)
    {
        return Err(LoadError::Invalid {
            path,
            reason: format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                config.hidden_size, config.num_attention_heads
            ),
        });
    }
    Ok(config)
}

/// Tensors of one safetensors file, looked up by their Hugging Face name.
struct Weights<'a> {
    path: &'a Path,
    tensors: SafeTensors<'a>,
    prefix: &'static str,
}

impl<'a> Weights<'a> {
    fn tensor<B: Backend, const D: usize>(
        &self,
        key: &str,
        expected: [usize; D],
        device: &B::Device,
    ) -> Result<Tensor<B, D>, LoadError> {
        let name = format!("{}{key}", self.prefix);
        let view = self
            .tensors
            .tensor(&name)
            .map_err(|_| LoadError::MissingTensor {
                path: self.path.into(),
                key: name.clone(),
            })?;
        if view.shape() != expected {
            return Err(LoadError::WrongShape {
                path: self.path.into(),
                key: name,
                found: view.shape().to_vec(),
                expected: expected.to_vec(),
            });
        }
        let values: Vec<f32> = match view.dtype() {
            Dtype::F32 => view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            other => {
                return Err(LoadError::Invalid {
                    path: self.path.into(),
                    reason: format!(
                        "tensor `{name}` is {other:?}; only F32 checkpoints are supported"
                    ),
                })
            }
        };
        Ok(Tensor::from_data(TensorData::new(values, expected), device))
    }

    /// A PyTorch linear layer (`weight` `[out, in]`, `bias` `[out]`) into Burn's `[in, out]`.
    fn linear<B: Backend>(
        &self,
        key: &str,
        mut layer: Linear<B>,
        device: &B::Device,
    ) -> Result<Linear<B>, LoadError> {
        let [d_in, d_out] = layer.weight.dims();
        let weight: Tensor<B, 2> = self.tensor(&format!("{key}.weight"), [d_out, d_in], device)?;
        layer.weight = Param::from_tensor(weight.transpose());
        layer.bias = Some(Param::from_tensor(self.tensor(
            &format!("{key}.bias"),
            [d_out],
            device,
        )?));
        Ok(layer)
    }

    fn layer_norm<B: Backend>(
        &self,
        key: &str,
        mut norm: LayerNorm<B>,
        device: &B::Device,
    ) -> Result<LayerNorm<B>, LoadError> {
        let [d] = norm.gamma.dims();
        norm.gamma = Param::from_tensor(self.tensor(&format!("{key}.weight"), [d], device)?);
        norm.beta = Some(Param::from_tensor(self.tensor(
            &format!("{key}.bias"),
            [d],
            device,
        )?));
        Ok(norm)
    }

    fn embedding<B: Backend>(
        &self,
        key: &str,
        mut embedding: Embedding<B>,
        device: &B::Device,
    ) -> Result<Embedding<B>, LoadError> {
        let [rows, d] = embedding.weight.dims();
        embedding.weight =
            Param::from_tensor(self.tensor(&format!("{key}.weight"), [rows, d], device)?);
        Ok(embedding)
    }
}

/// Loads the encoder of a Hugging Face BERT directory (`config.json` + `model.safetensors`).
pub fn load_bert<B: Backend>(
    dir: &Path,
    device: &B::Device,
) -> Result<(BertConfig, Bert<B>), LoadError> {
    load_bert_with_pooler(dir, device).map(|(config, bert, _)| (config, bert))
}

/// A checkpoint's config, encoder and (when it has one) pooler layer.
pub type LoadedBert<B> = (BertConfig, Bert<B>, Option<Linear<B>>);

/// Loads the encoder and, when the checkpoint has one, BERT's pooler layer `pooler.dense`
/// (where SimCSE's exported models keep the MLP of the `cls` pooler).
pub fn load_bert_with_pooler<B: Backend>(
    dir: &Path,
    device: &B::Device,
) -> Result<LoadedBert<B>, LoadError> {
    let config = load_config(dir)?;
    let path = dir.join("model.safetensors");
    let bytes = std::fs::read(&path).map_err(|source| LoadError::Io {
        path: path.clone(),
        source,
    })?;
    let tensors = SafeTensors::deserialize(&bytes).map_err(|e| LoadError::Invalid {
        path: path.clone(),
        reason: format!("not a safetensors file: {e}"),
    })?;
    let prefix = if tensors.names().iter().any(|n| n.starts_with("bert.")) {
        "bert."
    } else {
        ""
    };
    let weights = Weights {
        path: &path,
        tensors,
        prefix,
    };
    let mut model = config.init::<B>(device);
    for (name, part) in named_parts(&mut model) {
        match part {
            Part::Embedding(embedding) => {
                *embedding = weights.embedding(&name, embedding.clone(), device)?
            }
            Part::LayerNorm(norm) => *norm = weights.layer_norm(&name, norm.clone(), device)?,
            Part::Linear(linear) => *linear = weights.linear(&name, linear.clone(), device)?,
        }
    }
    let pooler = match weights.tensors.tensor(&format!("{prefix}{POOLER}.weight")) {
        Ok(_) => Some(weights.linear(
            POOLER,
            LinearConfig::new(config.hidden_size, config.hidden_size).init(device),
            device,
        )?),
        Err(_) => None,
    };
    Ok((config, model, pooler))
}
