//! Parity with the Python stack on real weights: for the sentences of
//! `shared/fixtures/minilm_reference.json`, our token ids equal the reference ids and our
//! `[CLS]`, masked-mean and normalised-mean embeddings of `shared/models/all-minilm-l6-v2`
//! match PyTorch `transformers` / `sentence-transformers` within 1e-4, on ndarray (f32) and on
//! wgpu (skipped without an adapter unless `CONTRASTIVE_REQUIRE_WGPU=1`). All sentences go
//! through as one padded batch, so the padding mask is exercised too.

use burn::backend::{NdArray, Wgpu};
use burn::tensor::backend::Backend;
use contrastive_core::run::text::TextTokenizer;
use contrastive_core::similarity::l2_normalize;
use contrastive_tests::{assert_all_close, load_fixture, shared_path, values};
use safetensors::SafeTensors;
use simcse::export::write_hf_directory;
use simcse::loader::{load_bert, load_bert_with_pooler};
use simcse::pooling::{masked_mean, Pooler};
use simcse::{BertInput, SimcseModelConfig};

mod wgpu_probe;

type B = NdArray<f32>;

#[test]
fn minilm_ids_and_embeddings_match_pytorch() {
    check_against_reference::<B>();
}

#[test]
fn minilm_embeddings_match_pytorch_on_wgpu() {
    if wgpu_probe::wgpu_available().is_some() {
        check_against_reference::<Wgpu>();
    }
}

/// all-MiniLM-L6-v2 as Hugging Face ships it, from the shared reference data.
fn minilm_dir() -> Option<std::path::PathBuf> {
    let weights = shared_path("models/all-minilm-l6-v2/model.safetensors")?;
    weights.parent().map(|dir| dir.to_path_buf())
}

fn check_against_reference<B: Backend>() {
    let Some(reference) = load_fixture("minilm_reference.json") else {
        return;
    };
    let Some(model_dir) = minilm_dir() else {
        return;
    };
    let device = Default::default();
    let (config, bert) = load_bert::<B>(&model_dir, &device).expect("all-MiniLM-L6-v2 loads");
    let tokenizer = TextTokenizer::from_file(&model_dir.join("tokenizer.json"), 256).unwrap();
    tokenizer.check_vocabulary(config.vocab_size).unwrap();

    let sentences = reference["sentences"].as_array().unwrap();
    let texts: Vec<&str> = sentences
        .iter()
        .map(|s| s["text"].as_str().unwrap())
        .collect();
    for (sentence, text) in sentences.iter().zip(&texts) {
        let expected: Vec<u32> = sentence["input_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(
            tokenizer.encode_ids(text).unwrap(),
            expected,
            "token ids of {text:?}"
        );
    }

    let batch = tokenizer.encode_batch::<B>(&texts, &device).unwrap();
    let input = BertInput {
        input_ids: batch.input_ids,
        token_type_ids: batch.token_type_ids,
        attention_mask: batch.attention_mask.clone(),
    };
    let states = bert.forward_all(&input);
    let cls = values(Pooler::ClsBeforePooler.pool(&states, batch.attention_mask.clone()));
    let mean_tensor = masked_mean(states.last().unwrap().clone(), batch.attention_mask);
    let normalized = values(l2_normalize(mean_tensor.clone()));
    let mean = values(mean_tensor);
    let d = config.hidden_size;
    for (i, (sentence, text)) in sentences.iter().zip(&texts).enumerate() {
        let row = |v: &Vec<f64>| v[i * d..(i + 1) * d].to_vec();
        let expect = |key: &str| -> Vec<f64> {
            sentence[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        };
        assert_all_close(
            &format!("[CLS] of {text:?}"),
            &row(&cls),
            &expect("cls"),
            0.0,
            1e-4,
        );
        assert_all_close(
            &format!("mean of {text:?}"),
            &row(&mean),
            &expect("mean"),
            0.0,
            1e-4,
        );
        assert_all_close(
            &format!("normalised mean of {text:?}"),
            &row(&normalized),
            &expect("st_encode"),
            0.0,
            1e-4,
        );
    }
}

#[test]
fn model_directory_faults_name_the_file_and_key() {
    let Some(model_dir) = minilm_dir() else {
        return;
    };
    let scratch = std::env::temp_dir().join(format!("minilm-faults-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    // A config that promises a wider model than the weights hold.
    let config = std::fs::read_to_string(model_dir.join("config.json"))
        .unwrap()
        .replace("\"intermediate_size\": 1536", "\"intermediate_size\": 1600");
    std::fs::write(scratch.join("config.json"), config).unwrap();
    std::fs::copy(
        model_dir.join("model.safetensors"),
        scratch.join("model.safetensors"),
    )
    .unwrap();
    let err = load_bert::<B>(&scratch, &Default::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("encoder.layer.0.intermediate.dense.weight")
            && err.contains("1536")
            && err.contains("1600"),
        "{err}"
    );
    std::fs::remove_file(scratch.join("model.safetensors")).unwrap();
    let err = load_bert::<B>(&scratch, &Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("model.safetensors"), "{err}");
    // A tokenizer whose vocabulary is larger than the embedding.
    let tokenizer = TextTokenizer::from_file(&model_dir.join("tokenizer.json"), 32).unwrap();
    let err = tokenizer.check_vocabulary(1000).unwrap_err().to_string();
    assert!(err.contains("30522") && err.contains("1000"), "{err}");
    std::fs::remove_dir_all(scratch).ok();
}

/// Exporting the unmodified model reproduces every tensor of the original checkpoint bit for
/// bit, under the same names and shapes — what `transformers` and `sentence-transformers` load
/// by (the only tensor left out is the `position_ids` buffer, which current `transformers`
/// rebuilds itself).
#[test]
fn exporting_minilm_reproduces_its_checkpoint_tensors() {
    let Some(model_dir) = minilm_dir() else {
        return;
    };
    let device = Default::default();
    let (config, bert, pooler) = load_bert_with_pooler::<B>(&model_dir, &device).unwrap();
    assert!(pooler.is_some(), "the checkpoint has pooler.dense");
    let model = SimcseModelConfig::new()
        .with_pooler(Pooler::Avg)
        .init(&config, bert, pooler, &device)
        .unwrap();
    let out = std::env::temp_dir().join(format!("minilm-export-{}", std::process::id()));
    write_hf_directory(&model, &model_dir, &out).unwrap();

    let original_bytes = std::fs::read(model_dir.join("model.safetensors")).unwrap();
    let exported_bytes = std::fs::read(out.join("model.safetensors")).unwrap();
    let original = SafeTensors::deserialize(&original_bytes).unwrap();
    let exported = SafeTensors::deserialize(&exported_bytes).unwrap();
    let mut expected: Vec<String> = original
        .names()
        .into_iter()
        .filter(|n| *n != "embeddings.position_ids")
        .map(str::to_string)
        .collect();
    let mut names: Vec<String> = exported.names().into_iter().map(str::to_string).collect();
    expected.sort();
    names.sort();
    assert_eq!(names, expected);
    for name in &names {
        let (a, b) = (
            original.tensor(name).unwrap(),
            exported.tensor(name).unwrap(),
        );
        assert_eq!((a.dtype(), a.shape()), (b.dtype(), b.shape()), "{name}");
        assert!(a.data() == b.data(), "{name}: values differ");
    }
    for file in [
        "config.json",
        "tokenizer.json",
        "vocab.txt",
        "modules.json",
        "1_Pooling/config.json",
    ] {
        assert!(out.join(file).is_file(), "{file}");
    }
    let pooling: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("1_Pooling/config.json")).unwrap())
            .unwrap();
    assert_eq!(pooling["pooling_mode_mean_tokens"], true);
    std::fs::remove_dir_all(&out).unwrap();
}
