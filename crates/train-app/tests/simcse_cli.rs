//! `train-app simcse` end to end on a tiny random BERT written as a Hugging Face directory:
//! training with the STS-B dev monitor, export, embedding, and clear errors for bad input.

mod common;
use common::{last_json, scratch, sentences, stderr, tiny_model, train_app};
use contrastive_tests::{assert_all_close, load_fixture, shared_path};

use std::path::Path;
use std::process::Command;

fn embed(model: &Path, input: &str, normalize: bool) -> Vec<Vec<f64>> {
    let mut args = vec!["--model", model.to_str().unwrap(), "--pooler", "avg"];
    if normalize {
        args.push("--normalize");
    }
    embed_with(&args, &[], input)
}

/// `train-app simcse embed ARGS` with `input` on stdin and `env` set: one vector per line.
fn embed_with(args: &[&str], env: &[(&str, &Path)], input: &str) -> Vec<Vec<f64>> {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_train-app"))
        .args(["simcse", "embed"])
        .args(args)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// With no flags, `embed` pools and normalises as the directory's sentence-transformers
/// modules say, so all-MiniLM-L6-v2 gives `SentenceTransformer.encode`'s vectors; the same
/// model named `org/name` is found in a Hugging Face cache.
#[test]
fn embed_with_no_flags_gives_sentence_transformers_vectors() {
    let Some(reference) = load_fixture("minilm_reference.json") else {
        return;
    };
    let Some(model) = shared_path("models/all-minilm-l6-v2") else {
        return;
    };
    let sentences = reference["sentences"].as_array().unwrap();
    let input: String = sentences
        .iter()
        .map(|s| format!("{}\n", s["text"].as_str().unwrap()))
        .collect();
    let expected: Vec<Vec<f64>> = sentences
        .iter()
        .map(|s| serde_json::from_value(s["st_encode"].clone()).unwrap())
        .collect();

    let cache = scratch("hf-cache");
    let repo = cache.join("models--sentence-transformers--all-MiniLM-L6-v2");
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), "0123abcd").unwrap();
    copy_dir(&model, &repo.join("snapshots/0123abcd"));

    let by_dir = embed_with(&["--model", model.to_str().unwrap()], &[], &input);
    let by_name = embed_with(
        &["--model", "sentence-transformers/all-MiniLM-L6-v2"],
        &[("HF_HUB_CACHE", &cache)],
        &input,
    );
    for vectors in [&by_dir, &by_name] {
        assert_eq!(vectors.len(), expected.len());
        for ((actual, expected), s) in vectors.iter().zip(&expected).zip(sentences) {
            assert_all_close(
                &format!("embedding of {}", s["text"]),
                actual,
                expected,
                0.0,
                1e-4,
            );
        }
    }
    std::fs::remove_dir_all(&cache).unwrap();
}

#[test]
fn simcse_trains_keeps_the_best_dev_model_exports_and_embeds() {
    let dir = scratch("train");
    let model = tiny_model(&dir, 0);
    let data = dir.join("sentences.txt");
    std::fs::write(&data, sentences(40).join("\n")).unwrap();
    let sts = dir.join("sts");
    std::fs::create_dir_all(&sts).unwrap();
    let rows: Vec<String> = sentences(16)
        .chunks(2)
        .enumerate()
        .map(|(i, p)| format!("g\tf\t2012\t{i}\t{}\t{}\t{}", i % 5, p[0], p[1]))
        .collect();
    std::fs::write(sts.join("sts-dev.csv"), rows.join("\n")).unwrap();
    let config = dir.join("tiny.toml");
    std::fs::write(
        &config,
        "batch_size = 8\nmax_length = 8\neval_steps = 2\nvalid_examples = 8\nnum_workers = 1\nlearning_rate = 0.001\n",
    )
    .unwrap();
    let run = dir.join("run");
    let train_args = [
        "simcse",
        "train",
        "--mode",
        "unsup",
        "--model",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--sts",
        sts.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--artifacts",
        run.to_str().unwrap(),
    ];
    let out = train_app(&train_args);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["task"], "simcse.train");
    assert_eq!(summary["train_examples"], 32);
    assert_eq!(summary["steps"], 4);
    // The dev monitor scored steps 2 and 4 (its log weighs those steps 1, the others 0) and
    // kept the step whose Spearman was the higher.
    let log = std::fs::read_to_string(run.join("train/epoch-1/STS-B_dev_Spearman.log")).unwrap();
    let scores: Vec<f64> = log
        .lines()
        .filter_map(|line| line.split_once(','))
        .filter(|(_, weight)| *weight == "1")
        .map(|(value, _)| value.parse().unwrap())
        .collect();
    assert_eq!(scores.len(), 2, "{log}");
    let best = if scores[1] > scores[0] { 1 } else { 0 };
    assert_eq!(
        summary["best_dev_step"],
        2 * (best + 1),
        "{summary} {scores:?}"
    );
    let kept = summary["best_dev_spearman"].as_f64().unwrap();
    assert!(
        (100.0 * kept - scores[best]).abs() < 1e-6,
        "{summary} {scores:?}"
    );
    assert!(
        summary["sts_after"]["STS-B dev"]["spearman"].is_number(),
        "{summary}"
    );
    assert!(run.join("best-model.mpk").is_file());

    let exported = dir.join("exported");
    let out = train_app(&[
        "simcse",
        "export",
        "--checkpoint",
        run.to_str().unwrap(),
        "--out",
        exported.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let input = "the man runs\na dog sleeps in the house\n";
    let from_export = embed(&exported, input, false);
    assert_eq!(from_export.len(), 2);
    assert_eq!(from_export[0].len(), 8);
    assert_eq!(from_export, embed(&run.join("hf"), input, false));
    assert_ne!(
        from_export,
        embed(&model, input, false),
        "training changed the weights"
    );
    for vector in embed(&exported, input, true) {
        let norm: f64 = vector.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
    }

    let best: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("best-model.json")).unwrap())
            .unwrap();
    assert_eq!(best["step"], summary["best_dev_step"]);
    assert_eq!(best["spearman"], summary["best_dev_spearman"]);

    // `eval --scatter`: one panel per set, one point per pair, captioned with its Spearman.
    let scatter = dir.join("scatter.svg");
    let out = train_app(&[
        "simcse",
        "eval",
        "--model",
        exported.to_str().unwrap(),
        "--sts",
        sts.to_str().unwrap(),
        "--scatter",
        scatter.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let scores = last_json(&out)["scores"].as_object().unwrap().clone();
    let svg = std::fs::read_to_string(&scatter).unwrap();
    for (set, score) in &scores {
        let caption = format!("{set}: Spearman {:.2}", score["spearman"].as_f64().unwrap());
        assert!(svg.contains(&caption), "no `{caption}` in the scatter");
    }
    assert_eq!(svg.matches("<circle").count(), 8, "one point per STS pair");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `simcse train` of `model` on `data` with `config` and dropout 0 into `run`, plus `flags`.
fn train_without_dropout(
    model: &Path,
    data: &Path,
    config: &Path,
    run: &Path,
    flags: &[&str],
) -> std::process::Output {
    let paths = [model, data, config, run].map(|path| path.to_str().unwrap());
    let [model, data, config, run] = paths;
    let common = [
        "simcse",
        "train",
        "--model",
        model,
        "--data",
        data,
        "--config",
        config,
        "--dropout",
        "0",
        "--artifacts",
        run,
    ];
    train_app(&[&common[..], flags].concat())
}

/// Without dropout a step has no noise, so GradCache's exact gradient must train the very
/// model the whole batch trains (up to float32 rounding).
#[test]
fn grad_cache_chunks_train_the_model_the_whole_batch_trains() {
    let dir = scratch("grad-cache");
    let model = tiny_model(&dir, 0);
    let data = dir.join("sentences.txt");
    std::fs::write(&data, sentences(32).join("\n")).unwrap();
    let config = dir.join("tiny.toml");
    std::fs::write(
        &config,
        "batch_size = 8\nmax_length = 8\nnum_workers = 1\nlearning_rate = 0.001\n",
    )
    .unwrap();
    let train = |chunks: &str| {
        let run = dir.join(format!("run-{chunks}"));
        let out = train_without_dropout(
            &model,
            &data,
            &config,
            &run,
            &["--grad-cache-chunks", chunks],
        );
        assert!(out.status.success(), "{}", stderr(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        let summary: serde_json::Value =
            serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
        assert_eq!(summary["grad_cache_chunks"], chunks.parse::<u64>().unwrap());
        assert_eq!(summary["steps"], 4);
        run
    };
    let input = "the man runs\na dog sleeps in the house\n";
    let whole = embed(&train("1").join("hf"), input, false);
    let chunked = embed(&train("4").join("hf"), input, false);
    let gap = whole
        .iter()
        .flatten()
        .zip(chunked.iter().flatten())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(gap < 1e-4, "embeddings differ by {gap}");
    assert_ne!(
        whole,
        embed(&model, input, false),
        "training changed the weights"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Two replicas on the CPU (threads, negatives gathered from both) take the steps of one
/// process on the whole batch: the same epoch losses and, without dropout, the same model.
#[test]
fn two_replicas_train_as_one_process_on_the_whole_batch() {
    let dir = scratch("replicas");
    let model = tiny_model(&dir, 0);
    let data = dir.join("sentences.txt");
    // 40 sentences: 8 for validation, 4 batches of 8 for training.
    std::fs::write(&data, sentences(40).join("\n")).unwrap();
    let config = dir.join("tiny.toml");
    std::fs::write(
        &config,
        "batch_size = 8\nmax_length = 8\nnum_workers = 1\nlearning_rate = 0.001\nepochs = 2\n",
    )
    .unwrap();
    let train = |devices: &str| {
        let run = dir.join(format!("run-{devices}"));
        let out = train_without_dropout(&model, &data, &config, &run, &["--devices", devices]);
        (run, out)
    };
    let losses = |summary: &serde_json::Value| -> Vec<f64> {
        let losses = summary["train_loss_per_epoch"].as_array().unwrap();
        losses.iter().map(|loss| loss.as_f64().unwrap()).collect()
    };
    let (one, out) = train("0");
    assert!(out.status.success(), "{}", stderr(&out));
    let single = last_json(&out);
    let (two, out) = train("0,0");
    assert!(out.status.success(), "{}", stderr(&out));
    let replicated = last_json(&out);
    assert_eq!(single["replicas"], 1);
    assert_eq!(replicated["replicas"], 2);
    assert_eq!(replicated["steps"], single["steps"]);
    let (single, replicated) = (losses(&single), losses(&replicated));
    assert_eq!(single.len(), 2);
    for (a, b) in single.iter().zip(&replicated) {
        assert!(
            (a - b).abs() <= 2e-3 * a.abs(),
            "epoch losses {single:?} vs {replicated:?}"
        );
    }
    let input = "the man runs\na dog sleeps in the house\n";
    let (a, b) = (
        embed(&one.join("hf"), input, false),
        embed(&two.join("hf"), input, false),
    );
    let gap = a
        .iter()
        .flatten()
        .zip(b.iter().flatten())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    assert!(gap < 1e-4, "the two runs' embeddings differ by {gap}");

    // Three replicas cannot split a batch of 8.
    let (_, out) = train("0,0,0");
    assert!(!out.status.success());
    let error = stderr(&out);
    assert!(
        error.contains("`batch_size` = 8 does not split into 3 equal slices"),
        "{error}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn simcse_bad_inputs_are_clear_errors() {
    let dir = scratch("errors");
    let model = tiny_model(&dir, 0);
    let nli = dir.join("nli.csv");
    std::fs::write(&nli, "sent0,sent1,hard_neg\na,b,c\n\"open,b,c\n").unwrap();
    let mismatched = tiny_model(&scratch("mismatch"), 5);
    let cases: Vec<(Vec<String>, String)> = vec![
        (
            vec![
                "train".into(),
                "--mode".into(),
                "sup".into(),
                "--data".into(),
                nli.display().to_string(),
                "--model".into(),
                model.display().to_string(),
            ],
            "nli.csv:3: a quoted field is never closed".into(),
        ),
        (
            vec![
                "eval".into(),
                "--model".into(),
                dir.join("missing").display().to_string(),
                "--sts".into(),
                dir.display().to_string(),
            ],
            "no STS data found".into(),
        ),
        (
            vec![
                "embed".into(),
                "--model".into(),
                dir.join("missing").display().to_string(),
            ],
            format!("{}: not a model directory", dir.join("missing").display()),
        ),
        (
            vec![
                "embed".into(),
                "--model".into(),
                mismatched.display().to_string(),
            ],
            "the tokenizer has 19 tokens but the model's embedding has 14 rows".into(),
        ),
        (
            vec![
                "embed".into(),
                "--model".into(),
                model.display().to_string(),
                "--pooler".into(),
                "max".into(),
            ],
            "unknown pooler `max`".into(),
        ),
        (
            vec![
                "train".into(),
                "--mode".into(),
                "semi".into(),
                "--data".into(),
                nli.display().to_string(),
                "--model".into(),
                model.display().to_string(),
            ],
            "--mode `semi`: expected unsup or sup".into(),
        ),
    ];
    for (args, expected) in cases {
        let mut full = vec!["simcse".to_string()];
        full.extend(args);
        let refs: Vec<&str> = full.iter().map(String::as_str).collect();
        let out = train_app(&refs);
        assert_eq!(out.status.code(), Some(1), "{full:?}: {}", stderr(&out));
        let message = stderr(&out);
        assert!(message.contains(&expected), "{full:?}: {message}");
        assert!(!message.contains("panicked"), "{full:?}: {message}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
