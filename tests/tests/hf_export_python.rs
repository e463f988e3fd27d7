//! An exported SimCSE model loads in Python `transformers` and gives the same mean-pooled
//! embeddings as ours (within 1e-4). Runs when a Python with `transformers` and `torch` is
//! found (`CONTRASTIVE_PYTHON`, default `python3`) and the shared MiniLM weights are present;
//! otherwise it says why it skipped.

use std::process::Command;

use burn::backend::NdArray;
use contrastive_core::run::text::TextTokenizer;
use contrastive_tests::{assert_all_close, shared_path};
use simcse::export::write_hf_directory;
use simcse::loader::load_bert_with_pooler;
use simcse::sts_eval::embed_sentences;
use simcse::{Pooler, SimcseModelConfig};

type B = NdArray<f32>;

const SCRIPT: &str = r#"
import json, sys, torch
from transformers import AutoModel, AutoTokenizer
path, sentences = sys.argv[1], json.loads(sys.argv[2])
tokenizer = AutoTokenizer.from_pretrained(path)
model = AutoModel.from_pretrained(path).eval()
batch = tokenizer(sentences, padding=True, return_tensors="pt")
with torch.no_grad():
    states = model(**batch).last_hidden_state
mask = batch["attention_mask"].unsqueeze(-1).float()
print(json.dumps(((states * mask).sum(1) / mask.sum(1)).tolist()))
"#;

#[test]
fn an_exported_model_gives_our_embeddings_in_transformers() {
    let python = std::env::var("CONTRASTIVE_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python)
        .args(["-c", "import transformers, torch"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!(
            "SKIPPED: no Python with transformers and torch ({python}); set CONTRASTIVE_PYTHON"
        );
        return;
    }
    let Some(weights) = shared_path("models/all-minilm-l6-v2/model.safetensors") else {
        return;
    };
    let model_dir = weights.parent().unwrap();
    let device = Default::default();
    let (config, bert, pooler) = load_bert_with_pooler::<B>(model_dir, &device).unwrap();
    let mut model = SimcseModelConfig::new()
        .with_pooler(Pooler::Avg)
        .init(&config, bert, pooler, &device)
        .unwrap();
    // Perturb the weights so the check cannot pass by reading the original checkpoint.
    let word = model
        .bert
        .embeddings
        .word_embeddings
        .weight
        .val()
        .mul_scalar(1.01);
    model.bert.embeddings.word_embeddings.weight = burn::module::Param::from_tensor(word);
    let out = std::env::temp_dir().join(format!("hf-export-python-{}", std::process::id()));
    write_hf_directory(&model, model_dir, &out).unwrap();

    let sentences = [
        "A man is playing a guitar.",
        "Two dogs run on the beach.",
        "Hi",
    ];
    let tokenizer = TextTokenizer::from_file(&out.join("tokenizer.json"), 128).unwrap();
    let ours = embed_sentences(&model, &tokenizer, &sentences, 8, &device).unwrap();
    let output = Command::new(&python)
        .args([
            "-c",
            SCRIPT,
            out.to_str().unwrap(),
            &serde_json::to_string(&sentences).unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let theirs: Vec<Vec<f64>> = serde_json::from_slice(&output.stdout).unwrap();
    for ((sentence, a), b) in sentences.iter().zip(&ours).zip(&theirs) {
        let a: Vec<f64> = a.iter().map(|v| *v as f64).collect();
        assert_all_close(sentence, &a, b, 0.0, 1e-4);
    }
    std::fs::remove_dir_all(&out).unwrap();
}
