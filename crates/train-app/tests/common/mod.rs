//! Helpers shared by the `train-app` end-to-end tests.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use burn::backend::NdArray;
use simcse::export::write_hf_directory;
use simcse::{BertConfig, SimcseModelConfig};
use tokenizers::models::wordlevel::WordLevel;
use tokenizers::pre_tokenizers::whitespace::Whitespace;
use tokenizers::Tokenizer;

/// Runs the `train-app` binary with `args`.
pub fn train_app(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_train-app"))
        .args(args)
        .output()
        .expect("train-app runs")
}

/// `train-app` run in the folder `cwd`, where its default `artifacts/` would go.
pub fn train_app_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_train-app"))
        .current_dir(cwd)
        .args(args)
        .output()
        .expect("train-app runs")
}

/// An empty folder under the system temporary folder, unique to `name` and this process.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("contrastive-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The command's standard error as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The last stdout line (every command's JSON summary), parsed.
pub fn last_json(output: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.lines().last().expect("a summary line")).unwrap()
}

pub const WORDS: [&str; 12] = [
    "a", "man", "woman", "dog", "cat", "runs", "sleeps", "eats", "the", "park", "house", "food",
];

/// A random two-layer BERT with a word-level tokenizer of `extra_tokens` more words than the
/// model has rows when positive (a mismatched pair).
pub fn tiny_model(dir: &Path, extra_tokens: usize) -> PathBuf {
    let base = dir.join("base");
    std::fs::create_dir_all(&base).unwrap();
    let specials = ["[PAD]", "[UNK]"];
    let mut vocab: Vec<String> = specials
        .iter()
        .chain(WORDS.iter())
        .map(|w| w.to_string())
        .collect();
    let vocab_size = vocab.len();
    vocab.extend((0..extra_tokens).map(|i| format!("extra{i}")));
    let config: BertConfig = serde_json::from_value(serde_json::json!({
        "vocab_size": vocab_size, "hidden_size": 8, "num_hidden_layers": 2,
        "num_attention_heads": 2, "intermediate_size": 16, "max_position_embeddings": 16
    }))
    .unwrap();
    std::fs::write(
        base.join("config.json"),
        serde_json::to_string(&config).unwrap(),
    )
    .unwrap();
    let word_level = WordLevel::builder()
        .vocab(
            vocab
                .into_iter()
                .enumerate()
                .map(|(i, w)| (w, i as u32))
                .collect(),
        )
        .unk_token("[UNK]".into())
        .build()
        .unwrap();
    let mut tokenizer = Tokenizer::new(word_level);
    tokenizer.with_pre_tokenizer(Some(Whitespace {}));
    tokenizer.save(base.join("tokenizer.json"), false).unwrap();
    let device = Default::default();
    let model = SimcseModelConfig::new()
        .init::<NdArray>(&config, config.init(&device), None, &device)
        .unwrap();
    let out = dir.join("model");
    write_hf_directory(&model, &base, &out).unwrap();
    out
}

/// `n` sentences of the tiny vocabulary.
pub fn sentences(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                "the {} {} {}",
                WORDS[1 + i % 4],
                WORDS[5 + (i / 4) % 3],
                WORDS[9 + (i / 12) % 3]
            )
        })
        .collect()
}
