//! Writing a trained model back as a Hugging Face directory that `transformers` (`BertModel`)
//! and `sentence-transformers` load unchanged: `model.safetensors` in BERT's names (PyTorch's
//! `[out, in]` linear layout, the `cls` MLP as `pooler.dense`), the base model's `config.json`
//! and tokenizer files, and the sentence-transformers module files for the pooler.

use std::path::Path;

use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::{Embedding, LayerNorm, Linear};
use burn::tensor::{backend::Backend, Tensor};
use safetensors::{tensor::TensorView, Dtype};
use serde_json::json;

use crate::hf_names::{named_parts, Part, POOLER};
use crate::loader::LoadError;
use crate::pooling::Pooler;
use crate::sentence_model::SimCse;

/// Files of the base model directory carried over unchanged (those that exist).
const CARRIED_FILES: [&str; 5] = [
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
];

/// Named tensors in PyTorch layout, as little-endian f32 bytes.
#[derive(Default)]
struct StateDict(Vec<(String, Vec<usize>, Vec<u8>)>);

impl StateDict {
    fn push<B: Backend, const D: usize>(&mut self, name: String, tensor: Tensor<B, D>) {
        let shape = tensor.dims().to_vec();
        let values = tensor
            .into_data()
            .convert::<f32>()
            .to_vec::<f32>()
            .unwrap_or_default();
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.0.push((name, shape, bytes));
    }

    fn linear<B: Backend>(&mut self, name: &str, layer: &Linear<B>) {
        self.push(format!("{name}.weight"), layer.weight.val().transpose());
        if let Some(bias) = &layer.bias {
            self.push(format!("{name}.bias"), bias.val());
        }
    }

    fn layer_norm<B: Backend>(&mut self, name: &str, norm: &LayerNorm<B>) {
        self.push(format!("{name}.weight"), norm.gamma.val());
        if let Some(beta) = &norm.beta {
            self.push(format!("{name}.bias"), beta.val());
        }
    }

    fn embedding<B: Backend>(&mut self, name: &str, embedding: &Embedding<B>) {
        self.push(format!("{name}.weight"), embedding.weight.val());
    }
}

fn state_dict<B: Backend>(model: &SimCse<B>) -> StateDict {
    let mut dict = StateDict::default();
    let mut bert = materialized(&model.bert);
    for (name, part) in named_parts(&mut bert) {
        match part {
            Part::Embedding(embedding) => dict.embedding(&name, embedding),
            Part::LayerNorm(norm) => dict.layer_norm(&name, norm),
            Part::Linear(linear) => dict.linear(&name, linear),
        }
    }
    dict.linear(POOLER, &model.mlp);
    dict
}

/// A copy of `module` whose parameters hold the same values. Burn draws a new parameter's
/// value lazily, at first use, and a copy of a parameter never used draws its own: every
/// parameter is read here first, so the copy shares what the original holds.
fn materialized<B: Backend, M: Module<B>>(module: &M) -> M {
    struct ReadAll;
    impl<B: Backend> ModuleVisitor<B> for ReadAll {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            param.val();
        }
    }
    module.visit(&mut ReadAll);
    module.clone()
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> LoadError + '_ {
    move |source| LoadError::Io {
        path: path.into(),
        source,
    }
}

/// Copies the base model's files that an export carries over unchanged (those that exist in
/// `base`) into `out`: a training run keeps them so that it alone can be exported.
pub fn copy_base_files(base: &Path, out: &Path) -> Result<(), LoadError> {
    std::fs::create_dir_all(out).map_err(io_error(out))?;
    for name in CARRIED_FILES {
        let source = base.join(name);
        if source.is_file() {
            std::fs::copy(&source, out.join(name)).map_err(io_error(&source))?;
        }
    }
    Ok(())
}

/// Sentence-transformers' pooling config for `pooler` (it has no layer-averaging modes: those
/// export as the mean of the last layer, and `cls` as the `[CLS]` state without the MLP).
fn pooling_config(pooler: Pooler, dim: usize) -> serde_json::Value {
    let cls = matches!(pooler, Pooler::Cls | Pooler::ClsBeforePooler);
    json!({
        "word_embedding_dimension": dim,
        "pooling_mode_cls_token": cls,
        "pooling_mode_mean_tokens": !cls,
        "pooling_mode_max_tokens": false,
        "pooling_mode_mean_sqrt_len_tokens": false,
    })
}

/// Writes `model` as a Hugging Face directory `out`, taking `config.json` and the tokenizer
/// files from the base model directory `base`. The weights go through a temporary file, so an
/// interrupted export never leaves a torn `model.safetensors`.
pub fn write_hf_directory<B: Backend>(
    model: &SimCse<B>,
    base: &Path,
    out: &Path,
) -> Result<(), LoadError> {
    std::fs::create_dir_all(out.join("1_Pooling")).map_err(io_error(out))?;
    for name in ["config.json", "tokenizer.json"] {
        let source = base.join(name);
        if !source.is_file() {
            return Err(LoadError::Io {
                path: source,
                source: std::io::ErrorKind::NotFound.into(),
            });
        }
    }
    copy_base_files(base, out)?;
    let dict = state_dict(model);
    let views = dict
        .0
        .iter()
        .map(|(name, shape, bytes)| {
            TensorView::new(Dtype::F32, shape.clone(), bytes).map(|view| (name.clone(), view))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| LoadError::Invalid {
            path: out.join("model.safetensors"),
            reason: e.to_string(),
        })?;
    let weights = out.join("model.safetensors");
    let partial = out.join("model.safetensors.partial");
    let metadata = [("format".to_string(), "pt".to_string())].into();
    safetensors::serialize_to_file(views, Some(metadata), &partial).map_err(|e| {
        LoadError::Invalid {
            path: partial.clone(),
            reason: e.to_string(),
        }
    })?;
    std::fs::rename(&partial, &weights).map_err(io_error(&weights))?;
    let [_, dim] = model.mlp.weight.dims();
    let modules = json!([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]);
    let files = [
        (out.join("modules.json"), modules),
        (
            out.join("1_Pooling").join("config.json"),
            pooling_config(model.pooler(), dim),
        ),
    ];
    for (path, value) in files {
        let text = serde_json::to_string_pretty(&value).unwrap_or_default();
        std::fs::write(&path, text).map_err(io_error(&path))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimcseModelConfig;
    use crate::loader::load_bert_with_pooler;
    use crate::sentence_model::tests::{tiny_bert_config, tokens};
    use burn::backend::NdArray;
    use tokenizers::models::wordlevel::WordLevel;
    use tokenizers::Tokenizer;

    #[test]
    fn an_exported_directory_loads_back_to_the_same_embeddings() {
        let root = std::env::temp_dir().join(format!("simcse-export-{}", std::process::id()));
        let (base, out) = (root.join("base"), root.join("out"));
        std::fs::create_dir_all(&base).unwrap();
        let bert_config = tiny_bert_config();
        std::fs::write(
            base.join("config.json"),
            serde_json::to_string(&bert_config).unwrap(),
        )
        .unwrap();
        let vocab = [("[PAD]".to_string(), 0), ("[UNK]".to_string(), 1)].into();
        let word_level = WordLevel::builder()
            .vocab(vocab)
            .unk_token("[UNK]".into())
            .build()
            .unwrap();
        Tokenizer::new(word_level)
            .save(base.join("tokenizer.json"), false)
            .unwrap();

        let device = Default::default();
        let bert = bert_config.init::<NdArray>(&device);
        let config = SimcseModelConfig::new().with_mlp_only_train(false);
        let model = config.init(&bert_config, bert, None, &device).unwrap();
        write_hf_directory(&model, &base, &out).unwrap();

        let (loaded_config, bert, pooler) =
            load_bert_with_pooler::<NdArray>(&out, &device).unwrap();
        assert_eq!(loaded_config, bert_config);
        let reloaded = config.init(&bert_config, bert, pooler, &device).unwrap();
        let input = tokens::<NdArray>(&[[2, 5, 6, 3, 0], [2, 7, 3, 0, 0]], &[4, 3]);
        let before = model.embed(&input, false).into_data();
        let after = reloaded.embed(&input, false).into_data();
        before.assert_approx_eq::<f32>(&after, burn::tensor::Tolerance::absolute(1e-6));
        assert!(out.join("tokenizer.json").is_file());
        assert!(out.join("1_Pooling/config.json").is_file());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
