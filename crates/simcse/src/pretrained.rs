//! A pretrained sentence-embedding model, loaded as its authors meant it to be used: the
//! library entry point for embedding text.
//!
//! A sentence-transformers directory says how it embeds in its module files: `modules.json`
//! lists the Transformer, Pooling and (optionally) Normalize modules, the Pooling module's
//! `config.json` names the pooling mode, and `sentence_bert_config.json` the maximum sequence
//! length and lower-casing. [`SentenceEncoder`] honours them, so with no overrides it gives
//! the vectors of `SentenceTransformer.encode`; a plain BERT directory (as SimCSE releases
//! its models) falls back to the configured pooler. A name `org/name` is looked up in the
//! local Hugging Face cache (the layout `huggingface-cli download` writes); nothing is ever
//! downloaded.
//!
//! ```no_run
//! use burn::backend::NdArray;
//! use simcse::SentenceEncoder;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let encoder = SentenceEncoder::<NdArray>::from_pretrained(
//!     "sentence-transformers/all-MiniLM-L6-v2",
//!     &Default::default(),
//! )?;
//! let vectors = encoder.encode(&["A man is playing a guitar.", "A woman reads."])?;
//! assert_eq!(vectors[0].len(), 384);
//! # Ok(())
//! # }
//! ```

use std::path::{Path, PathBuf};

use burn::config::Config;
use burn::tensor::{backend::Backend, Tensor, TensorData};
use contrastive_core::run::text::{TextError, TextTokenizer};
use contrastive_core::similarity::unit_vector;
use serde_json::Value;

use crate::config::SimcseModelConfig;
use crate::loader::{load_bert_with_pooler, load_tokenizer, LoadError};
use crate::pooling::Pooler;
use crate::sentence_model::SimCse;
use crate::sts_eval::embed_sentences;

/// How the sentences are turned into vectors, beyond the encoder's weights.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbeddingRecipe {
    /// The directory holding the Transformer's `config.json`, weights and tokenizer.
    pub transformer_dir: PathBuf,
    /// The pooler (from the Pooling module), if the directory names one.
    pub pooler: Option<Pooler>,
    /// Whether a Normalize module scales every vector to unit length.
    pub normalize: bool,
    /// Tokens kept per sentence (`max_seq_length`), if the directory sets it.
    pub max_seq_length: Option<usize>,
    /// Whether sentences are lower-cased before tokenising (`do_lower_case`).
    pub lower_case: bool,
}

const TRANSFORMER: &str = "sentence_transformers.models.Transformer";
const POOLING: &str = "sentence_transformers.models.Pooling";
const NORMALIZE: &str = "sentence_transformers.models.Normalize";

fn read_json(path: &Path) -> Result<Value, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(text.trim_start_matches('\u{feff}')).map_err(|e| LoadError::Invalid {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn invalid(path: &Path, reason: impl Into<String>) -> LoadError {
    LoadError::Invalid {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

impl EmbeddingRecipe {
    /// Reads a model directory's sentence-transformers module files; a directory without
    /// `modules.json` is a plain encoder (no pooler named, no normalisation).
    pub fn read(dir: &Path) -> Result<Self, LoadError> {
        let modules_path = dir.join("modules.json");
        let mut recipe = Self {
            transformer_dir: dir.to_path_buf(),
            pooler: None,
            normalize: false,
            max_seq_length: None,
            lower_case: false,
        };
        if !modules_path.exists() {
            return Ok(recipe);
        }
        let modules = read_json(&modules_path)?;
        let modules = modules
            .as_array()
            .ok_or_else(|| invalid(&modules_path, "expected a list of modules"))?;
        for (index, module) in modules.iter().enumerate() {
            let field = |key: &str| module.get(key).and_then(Value::as_str);
            let kind = field("type")
                .ok_or_else(|| invalid(&modules_path, format!("module {index} has no `type`")))?;
            let module_dir = dir.join(field("path").unwrap_or(""));
            match kind {
                TRANSFORMER => {
                    recipe.transformer_dir = module_dir.clone();
                    let settings_path = module_dir.join("sentence_bert_config.json");
                    if settings_path.exists() {
                        let settings = read_json(&settings_path)?;
                        recipe.max_seq_length = settings
                            .get("max_seq_length")
                            .and_then(Value::as_u64)
                            .map(|n| n as usize);
                        recipe.lower_case = settings
                            .get("do_lower_case")
                            .and_then(Value::as_bool)
                            .unwrap_or(false);
                    }
                }
                POOLING => recipe.pooler = Some(pooling_mode(&module_dir.join("config.json"))?),
                NORMALIZE => recipe.normalize = true,
                other => {
                    return Err(invalid(
                        &modules_path,
                        format!("module {index} is `{other}`, which is not supported (Transformer, Pooling and Normalize are)"),
                    ))
                }
            }
        }
        Ok(recipe)
    }
}

/// The pooler a sentence-transformers Pooling `config.json` names: exactly one mode, CLS or
/// mean (the others have no SimCSE pooler).
fn pooling_mode(path: &Path) -> Result<Pooler, LoadError> {
    let config = read_json(path)?;
    let object = config
        .as_object()
        .ok_or_else(|| invalid(path, "expected an object"))?;
    let modes: Vec<&str> = object
        .iter()
        .filter(|(key, value)| key.starts_with("pooling_mode_") && value.as_bool() == Some(true))
        .map(|(key, _)| key.as_str())
        .collect();
    match modes.as_slice() {
        ["pooling_mode_cls_token"] => Ok(Pooler::ClsBeforePooler),
        ["pooling_mode_mean_tokens"] => Ok(Pooler::Avg),
        [one] => Err(invalid(
            path,
            format!(
                "`{one}` is not supported (pooling_mode_cls_token or pooling_mode_mean_tokens)"
            ),
        )),
        _ => Err(invalid(
            path,
            format!("exactly one pooling mode must be true, found {modes:?}"),
        )),
    }
}

/// The directory of a model given as a path, or as `org/name` in the local Hugging Face cache
/// (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`), at the snapshot its
/// `refs/main` names.
pub fn resolve_model(name_or_dir: &Path) -> Result<PathBuf, LoadError> {
    if name_or_dir.is_dir() {
        return Ok(name_or_dir.to_path_buf());
    }
    let name = name_or_dir.to_string_lossy();
    let parts: Vec<&str> = name.split('/').collect();
    let [org, model] = parts.as_slice() else {
        return Err(invalid(name_or_dir, "not a model directory"));
    };
    if org.is_empty() || model.is_empty() || org.starts_with('.') {
        return Err(invalid(name_or_dir, "not a model directory"));
    }
    let hub = hub_cache().ok_or_else(|| {
        invalid(
            name_or_dir,
            "not a model directory, and no Hugging Face cache is set (HF_HUB_CACHE, HF_HOME or HOME)",
        )
    })?;
    cached_snapshot(&hub, org, model)
}

/// `org/model` at the snapshot `refs/main` names, in the Hugging Face cache `hub`.
fn cached_snapshot(hub: &Path, org: &str, model: &str) -> Result<PathBuf, LoadError> {
    let repo = hub.join(format!("models--{org}--{model}"));
    let reference = repo.join("refs").join("main");
    let snapshot = std::fs::read_to_string(&reference).map_err(|_| {
        invalid(
            Path::new(&format!("{org}/{model}")),
            format!(
                "not a model directory, nor in the Hugging Face cache (no {}); fetch it with `huggingface-cli download {org}/{model}`",
                reference.display()
            ),
        )
    })?;
    let dir = repo.join("snapshots").join(snapshot.trim());
    if !dir.is_dir() {
        return Err(invalid(
            &reference,
            format!(
                "names snapshot `{}`, which is not in the cache",
                snapshot.trim()
            ),
        ));
    }
    Ok(dir)
}

fn hub_cache() -> Option<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("HF_HUB_CACHE")
        .or_else(|| var("HF_HOME").map(|home| home.join("hub")))
        .or_else(|| var("XDG_CACHE_HOME").map(|cache| cache.join("huggingface").join("hub")))
        .or_else(|| var("HOME").map(|home| home.join(".cache").join("huggingface").join("hub")))
}

/// Overrides of what the model directory says; `None` keeps the directory's choice.
#[derive(Config, Debug)]
pub struct SentenceEncoderConfig {
    /// The pooler; default: the Pooling module's, else `cls_before_pooler` (SimCSE's
    /// evaluation pooler for its unsupervised models).
    pub pooler: Option<Pooler>,
    /// Unit-length vectors; default: whether the directory has a Normalize module.
    pub normalize: Option<bool>,
    /// Sentences per forward pass (batched by length, so little of a batch is padding).
    #[config(default = 64)]
    pub batch_size: usize,
}

/// A pretrained encoder with its tokenizer and embedding recipe: sentences in, vectors out.
pub struct SentenceEncoder<B: Backend> {
    model: SimCse<B>,
    tokenizer: TextTokenizer,
    normalize: bool,
    lower_case: bool,
    batch_size: usize,
    dim: usize,
    device: B::Device,
}

impl SentenceEncoderConfig {
    /// Loads a model directory (or `org/name` from the Hugging Face cache) onto `device`.
    pub fn load<B: Backend>(
        &self,
        name_or_dir: impl AsRef<Path>,
        device: &B::Device,
    ) -> Result<SentenceEncoder<B>, LoadError> {
        let dir = resolve_model(name_or_dir.as_ref())?;
        let recipe = EmbeddingRecipe::read(&dir)?;
        let pooler = self
            .pooler
            .or(recipe.pooler)
            .unwrap_or(Pooler::ClsBeforePooler);
        let weights_dir = &recipe.transformer_dir;
        let (config, bert, mlp) = load_bert_with_pooler::<B>(weights_dir, device)?;
        if pooler == Pooler::Cls && mlp.is_none() {
            return Err(invalid(
                &weights_dir.join("model.safetensors"),
                "pooler `cls` needs the MLP weights `pooler.dense.*`, which this checkpoint lacks (use cls_before_pooler or avg)",
            ));
        }
        let max_length = recipe
            .max_seq_length
            .map_or(config.max_position_embeddings, |n| {
                n.min(config.max_position_embeddings)
            });
        let tokenizer = load_tokenizer(weights_dir, max_length, config.vocab_size)?;
        let model = SimcseModelConfig::new()
            .with_pooler(pooler)
            .with_mlp_only_train(false)
            .init(&config, bert, mlp, device)
            .map_err(|e| invalid(&weights_dir.join("config.json"), e.to_string()))?;
        Ok(SentenceEncoder {
            model,
            tokenizer,
            normalize: self.normalize.unwrap_or(recipe.normalize),
            lower_case: recipe.lower_case,
            batch_size: self.batch_size.max(1),
            dim: config.hidden_size,
            device: device.clone(),
        })
    }
}

impl<B: Backend> SentenceEncoder<B> {
    /// Loads a model directory (or `org/name` from the Hugging Face cache) as it says to embed.
    pub fn from_pretrained(
        name_or_dir: impl AsRef<Path>,
        device: &B::Device,
    ) -> Result<Self, LoadError> {
        SentenceEncoderConfig::new().load(name_or_dir, device)
    }

    /// One vector per sentence, in their order.
    pub fn encode(&self, sentences: &[impl AsRef<str>]) -> Result<Vec<Vec<f32>>, TextError> {
        let lowered: Vec<String>;
        let texts: Vec<&str> = if self.lower_case {
            lowered = sentences
                .iter()
                .map(|s| s.as_ref().to_lowercase())
                .collect();
            lowered.iter().map(String::as_str).collect()
        } else {
            sentences.iter().map(AsRef::as_ref).collect()
        };
        let vectors = embed_sentences(
            &self.model,
            &self.tokenizer,
            &texts,
            self.batch_size,
            &self.device,
        )?;
        Ok(if self.normalize {
            vectors
                .iter()
                .map(|v| unit_vector(v).into_iter().map(|x| x as f32).collect())
                .collect()
        } else {
            vectors
        })
    }

    /// The vectors of [`Self::encode`] as a `[sentences, dim]` tensor on the encoder's device.
    pub fn encode_tensor(&self, sentences: &[impl AsRef<str>]) -> Result<Tensor<B, 2>, TextError> {
        let rows = sentences.len();
        let values: Vec<f32> = self.encode(sentences)?.into_iter().flatten().collect();
        Ok(Tensor::from_data(
            TensorData::new(values, [rows, self.dim]),
            &self.device,
        ))
    }

    /// Length of every vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The pooler the vectors are read off with.
    pub fn pooler(&self) -> Pooler {
        self.model.pooler()
    }

    /// Whether the vectors are scaled to unit length.
    pub fn normalizes(&self) -> bool {
        self.normalize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("pretrained-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write(dir: &Path, file: &str, text: &str) {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    const MODULES: &str = r#"[
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}
    ]"#;

    #[test]
    fn sentence_transformers_modules_set_pooling_normalisation_and_length() {
        let dir = scratch("modules");
        write(&dir, "modules.json", MODULES);
        write(
            &dir,
            "1_Pooling/config.json",
            r#"{"pooling_mode_cls_token": false, "pooling_mode_mean_tokens": true, "pooling_mode_max_tokens": false}"#,
        );
        write(
            &dir,
            "sentence_bert_config.json",
            r#"{"max_seq_length": 128, "do_lower_case": true}"#,
        );
        let recipe = EmbeddingRecipe::read(&dir).unwrap();
        assert_eq!(
            recipe,
            EmbeddingRecipe {
                transformer_dir: dir.clone(),
                pooler: Some(Pooler::Avg),
                normalize: true,
                max_seq_length: Some(128),
                lower_case: true,
            }
        );
        write(
            &dir,
            "1_Pooling/config.json",
            r#"{"pooling_mode_cls_token": true, "pooling_mode_mean_tokens": false}"#,
        );
        assert_eq!(
            EmbeddingRecipe::read(&dir).unwrap().pooler,
            Some(Pooler::ClsBeforePooler)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_plain_directory_names_no_pooler_and_does_not_normalise() {
        let dir = scratch("plain");
        let recipe = EmbeddingRecipe::read(&dir).unwrap();
        assert_eq!(recipe.pooler, None);
        assert!(!recipe.normalize);
        assert_eq!(recipe.max_seq_length, None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unsupported_modules_are_errors_naming_the_file_and_key() {
        let cases = [
            (
                MODULES,
                r#"{"pooling_mode_max_tokens": true}"#,
                "1_Pooling/config.json: `pooling_mode_max_tokens` is not supported",
            ),
            (
                MODULES,
                r#"{"pooling_mode_cls_token": true, "pooling_mode_mean_tokens": true}"#,
                "1_Pooling/config.json: exactly one pooling mode must be true",
            ),
            (
                r#"[{"path": "", "type": "sentence_transformers.models.Transformer"},
                    {"path": "2_Dense", "type": "sentence_transformers.models.Dense"}]"#,
                "{}",
                "modules.json: module 1 is `sentence_transformers.models.Dense`, which is not supported",
            ),
            ("{}", "{}", "modules.json: expected a list of modules"),
        ];
        for (modules, pooling, expected) in cases {
            let dir = scratch("unsupported");
            write(&dir, "modules.json", modules);
            write(&dir, "1_Pooling/config.json", pooling);
            let message = EmbeddingRecipe::read(&dir).unwrap_err().to_string();
            assert!(message.contains(expected), "{message}");
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn cache_names_resolve_to_the_snapshot_refs_main_names() {
        let hub = scratch("hub");
        let repo = hub.join("models--org--model");
        write(&repo, "refs/main", "abc\n");
        std::fs::create_dir_all(repo.join("snapshots/abc")).unwrap();
        assert_eq!(
            cached_snapshot(&hub, "org", "model").unwrap(),
            repo.join("snapshots/abc")
        );
        let missing = cached_snapshot(&hub, "org", "other")
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains("org/other: not a model directory, nor in the Hugging Face cache"),
            "{missing}"
        );
        write(&repo, "refs/main", "def");
        let dangling = cached_snapshot(&hub, "org", "model")
            .unwrap_err()
            .to_string();
        assert!(dangling.contains("names snapshot `def`"), "{dangling}");
        std::fs::remove_dir_all(&hub).unwrap();
        // Paths that are not there are never looked up as cache names.
        for path in ["/nope", "./nope/model", "nope/", "a/b/c"] {
            let error = resolve_model(Path::new(path)).unwrap_err().to_string();
            assert_eq!(error, format!("{path}: not a model directory"));
        }
    }
}
