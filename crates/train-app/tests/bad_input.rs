//! Every class of bad input a user can give, fed to the real commands: each must fail with
//! exit code 1 and a message naming the file, line or key — never a panic — and leave no
//! artifacts folder behind when it fails before training.

mod common;
use common::{last_json, scratch, sentences, stderr, tiny_model, train_app, train_app_in};

use std::io::Write;
use std::path::Path;

/// One bad input: what it is, the command line, and what the error must say.
struct Case {
    class: &'static str,
    what: &'static str,
    args: Vec<String>,
    expect: Vec<String>,
}

fn case(class: &'static str, what: &'static str, args: &[&str], expect: &[&str]) -> Case {
    Case {
        class,
        what,
        args: args.iter().map(|s| s.to_string()).collect(),
        expect: expect.iter().map(|s| s.to_string()).collect(),
    }
}

fn write(path: &Path, bytes: impl AsRef<[u8]>) -> String {
    std::fs::write(path, bytes).unwrap();
    path.display().to_string()
}

fn gzip(text: &str) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn every_bad_input_gets_a_clear_error() {
    let dir = scratch("bad-input");
    let d = |name: &str| dir.join(name).display().to_string();
    let model = tiny_model(&dir.join("m"), 0);
    let model = model.to_str().unwrap();
    let mismatched = tiny_model(&dir.join("mm"), 5);
    let text = sentences(12).join("\n");

    // Model directories with one thing wrong each (copies of the model and its module folders).
    fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            if entry.path().is_dir() {
                copy_dir(&entry.path(), &to.join(entry.file_name()));
            } else {
                std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
            }
        }
    }
    let copy_model = |name: &str| {
        let target = dir.join(name);
        copy_dir(std::path::Path::new(model), &target);
        target
    };
    let no_weights = copy_model("no-weights");
    std::fs::remove_file(no_weights.join("model.safetensors")).unwrap();
    let wrong_shape = copy_model("wrong-shape");
    let config = std::fs::read_to_string(wrong_shape.join("config.json")).unwrap();
    write(
        &wrong_shape.join("config.json"),
        config.replace("\"intermediate_size\":16", "\"intermediate_size\":24"),
    );
    // A tokenizer whose unknown-word token is not in its vocabulary: it rejects unknown words.
    let no_unknown = copy_model("no-unknown-token");
    let tokenizer = std::fs::read_to_string(no_unknown.join("tokenizer.json")).unwrap();
    write(
        &no_unknown.join("tokenizer.json"),
        tokenizer.replace("\"unk_token\":\"[UNK]\"", "\"unk_token\":\"[NOWHERE]\""),
    );
    let torn_weights = copy_model("torn-weights");
    let bytes = std::fs::read(torn_weights.join("model.safetensors")).unwrap();
    write(
        &torn_weights.join("model.safetensors"),
        &bytes[..bytes.len() / 2],
    );

    // Data files.
    let empty = write(&dir.join("empty.txt"), "");
    let unknown_word = write(
        &dir.join("unknown-word.txt"),
        format!("{text}\nthe zebra runs\n"),
    );
    let truncated_gz = {
        let bytes = gzip(&text);
        write(&dir.join("wiki.txt.gz"), &bytes[..bytes.len() - 12])
    };
    let bad_utf8 = write(&dir.join("latin1.txt"), b"the man runs\ncaf\xe9 au lait\n");
    let nli_columns = write(&dir.join("nli.csv"), "sent0,sent1,hard_neg\na,b,c\na,b\n");
    let sts_dir = dir.join("sts");
    std::fs::create_dir_all(&sts_dir).unwrap();
    write(
        &sts_dir.join("sts-dev.csv"),
        "main\tx\t2012\t1\t4.2\ta man\ta woman\n\
         main\tx\t2012\t2\tfive\ta dog\ta cat\n",
    );
    let captions_fields = write(
        &dir.join("captions.tsv"),
        "image\tcaption\tsplit\na.png\ta dog\n",
    );
    std::fs::create_dir_all(dir.join("images")).unwrap();
    write(&dir.join("images/zero.png"), b"");
    let zero_image = write(
        &dir.join("zero.tsv"),
        "image\tcaption\tsplit\nzero.png\ta dog\ttrain\n",
    );
    // labels.csv whose second label is u64::MAX: classes 1 … 2⁶⁴−2 would be empty.
    let huge_label = dir.join("huge-label");
    std::fs::create_dir_all(&huge_label).unwrap();
    for name in ["a.png", "b.png"] {
        image::RgbImage::from_pixel(8, 8, image::Rgb([9, 99, 199]))
            .save(huge_label.join(name))
            .unwrap();
    }
    write(
        &huge_label.join("labels.csv"),
        "path,label\na.png,0\nb.png,18446744073709551615\n",
    );
    let images = dir.join("images-folder/train/cats");
    std::fs::create_dir_all(&images).unwrap();
    write(
        &images.join("truncated.png"),
        &b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"[..],
    );

    // Configs.
    let typo = write(&dir.join("typo.toml"), "temprature = 0.1\n");
    let wrong_type = write(&dir.join("type.toml"), "batch_size = \"big\"\n");
    let nested_type = write(&dir.join("nested.toml"), "[model]\ntemperature = \"hot\"\n");
    let zero_temperature = write(&dir.join("t0.json"), r#"{"model": {"temperature": 0.0}}"#);
    let simcse_temperature = write(&dir.join("st.toml"), "[model]\ntemperature = -1.0\n");
    let not_toml = write(&dir.join("broken.toml"), "epochs = [1,\n");
    let simvlm_unknown = write(&dir.join("vlm.toml"), "[model]\nd_modle = 64\n");

    let cases = vec![
        // Configs: unknown key, wrong type (top level and nested), out of range, syntax.
        case(
            "config",
            "unknown key",
            &["simclr", "train", "--config", &typo],
            &["unknown key `temprature`", "typo.toml"],
        ),
        case(
            "config",
            "wrong type",
            &["simclr", "train", "--config", &wrong_type],
            &["`batch_size` has the wrong type", "type.toml"],
        ),
        case(
            "config",
            "nested wrong type",
            &["simclr", "train", "--config", &nested_type],
            &["`model.temperature` has the wrong type"],
        ),
        case(
            "config",
            "--set unknown key",
            &["simclr", "train", "--set", "model.temprature=0.2"],
            &[
                "--set model.temprature=0.2",
                "unknown key `model.temprature`",
            ],
        ),
        case(
            "config",
            "--set wrong type",
            &["simvlm", "train", "--set", "model.stem.stages=three"],
            &["`model.stem.stages` has the wrong type"],
        ),
        case(
            "config",
            "--set without a value",
            &["simcse", "config", "--set", "learning_rate"],
            &["expected KEY=VALUE"],
        ),
        case(
            "config",
            "temperature 0",
            &["simclr", "train", "--config", &zero_temperature],
            &["temperature"],
        ),
        case(
            "config",
            "SimCSE temperature < 0",
            &[
                "simcse",
                "train",
                "--data",
                &d("x"),
                "--model",
                model,
                "--config",
                &simcse_temperature,
            ],
            &["temperature"],
        ),
        case(
            "config",
            "batch of 1",
            &["simclr", "train", "--batch-size", "1"],
            &["batch of 1"],
        ),
        case(
            "config",
            "SimCSE batch of 1",
            &[
                "simcse",
                "train",
                "--data",
                &d("x"),
                "--model",
                model,
                "--batch-size",
                "1",
            ],
            &["batch"],
        ),
        case(
            "config",
            "GradCache chunks that do not divide the batch",
            &[
                "simclr",
                "train",
                "--batch-size",
                "6",
                "--grad-cache-chunks",
                "4",
            ],
            &["`grad_cache_chunks` = 4 does not divide `batch_size` = 6"],
        ),
        case(
            "config",
            "SimCSE GradCache chunks of 0",
            &[
                "simcse",
                "train",
                "--data",
                &d("x"),
                "--model",
                model,
                "--grad-cache-chunks",
                "0",
            ],
            &["`grad_cache_chunks`", ">= 1"],
        ),
        case(
            "config",
            "SimVLM accumulation steps that do not divide the batch",
            &[
                "simvlm",
                "train",
                "--batch-size",
                "10",
                "--accumulate-steps",
                "3",
            ],
            &["`accumulate_steps` = 3 does not divide `batch_size` = 10"],
        ),
        case(
            "config",
            "not TOML",
            &["simvlm", "train", "--config", &not_toml],
            &["broken.toml", "not valid TOML"],
        ),
        case(
            "config",
            "SimVLM unknown nested key",
            &["simvlm", "train", "--config", &simvlm_unknown],
            &["unknown key `model.d_modle`"],
        ),
        case(
            "config",
            "missing config file",
            &["simclr", "train", "--config", &d("none.toml")],
            &["cannot read config file", "none.toml"],
        ),
        case(
            "config",
            "batch size beyond the data (and memory)",
            &["simclr", "train", "--batch-size", "1000000000000"],
            &["`batch_size` = 1000000000000", "1000 training examples"],
        ),
        // Data files.
        case(
            "data",
            "a label that is not a class index",
            &["simclr", "train", "--data", huge_label.to_str().unwrap()],
            &[
                "labels.csv:3",
                "label 18446744073709551615",
                "no row has label 1",
            ],
        ),
        case(
            "data",
            "empty sentence file",
            &["simcse", "train", "--data", &empty, "--model", model],
            &["empty.txt"],
        ),
        case(
            "data",
            "truncated gzip",
            &["simcse", "train", "--data", &truncated_gz, "--model", model],
            &["wiki.txt.gz"],
        ),
        case(
            "data",
            "invalid UTF-8",
            &["simcse", "train", "--data", &bad_utf8, "--model", model],
            &["latin1.txt"],
        ),
        case(
            "data",
            "invalid UTF-8 in a SimVLM text corpus",
            &["simvlm", "train", "--text-corpus", &bad_utf8],
            &["latin1.txt:2: not valid UTF-8"],
        ),
        case(
            "data",
            "a sentence the tokenizer rejects",
            &[
                "simcse",
                "train",
                "--data",
                &unknown_word,
                "--model",
                no_unknown.to_str().unwrap(),
            ],
            &[
                "unknown-word.txt",
                "the tokenizer rejects the text `the zebra runs`",
            ],
        ),
        case(
            "data",
            "missing data file",
            &[
                "simcse",
                "train",
                "--data",
                &d("nowhere.txt"),
                "--model",
                model,
            ],
            &["nowhere.txt"],
        ),
        case(
            "data",
            "NLI row with 2 of 3 columns",
            &[
                "simcse",
                "train",
                "--mode",
                "sup",
                "--data",
                &nli_columns,
                "--model",
                model,
            ],
            &["nli.csv:3"],
        ),
        case(
            "data",
            "non-numeric STS score",
            &[
                "simcse",
                "eval",
                "--model",
                model,
                "--sts",
                sts_dir.to_str().unwrap(),
            ],
            &["sts-dev.csv:2", "five"],
        ),
        case(
            "data",
            "caption row with 2 of 3 fields",
            &["simvlm", "train", "--data", &captions_fields],
            &["captions.tsv:2"],
        ),
        case(
            "data",
            "zero-size image",
            &["simvlm", "train", "--data", &zero_image],
            &["zero.png"],
        ),
        case(
            "data",
            "truncated image",
            &[
                "simclr",
                "train",
                "--data",
                &d("images-folder"),
                "--batch-size",
                "2",
            ],
            &["truncated.png"],
        ),
        case(
            "data",
            "no images",
            &["simclr", "train", "--data", &d("empty-folder")],
            &["empty-folder"],
        ),
        // Model directories.
        case(
            "model",
            "missing directory",
            &["simcse", "embed", "--model", &d("no-model")],
            &["no-model", "not a model directory"],
        ),
        case(
            "model",
            "missing weights file",
            &["simcse", "embed", "--model", no_weights.to_str().unwrap()],
            &["no-weights"],
        ),
        case(
            "model",
            "truncated weights",
            &["simcse", "embed", "--model", torn_weights.to_str().unwrap()],
            &["torn-weights"],
        ),
        case(
            "model",
            "tensor of the wrong shape",
            &["simcse", "embed", "--model", wrong_shape.to_str().unwrap()],
            &["intermediate", "shape"],
        ),
        case(
            "model",
            "tokenizer/vocabulary mismatch",
            &["simcse", "embed", "--model", mismatched.to_str().unwrap()],
            &["the tokenizer has 19 tokens but the model's embedding has 14 rows"],
        ),
        case(
            "model",
            "SimVLM run folder missing",
            &["simvlm", "caption", "--checkpoint", &d("no-run"), "x.png"],
            &["no-run", "config.json"],
        ),
        case(
            "model",
            "SimCLR checkpoint missing",
            &["simclr", "eval", "--checkpoint", &d("no-run")],
            &["no-run"],
        ),
        // Devices.
        case(
            "device",
            "GPU index on a CPU backend",
            &["simclr", "train", "--device", "3"],
            &["--device 3", "one device"],
        ),
        case(
            "device",
            "info on a missing device",
            &["info", "--device", "2"],
            &["--device 2"],
        ),
        // Disk.
        case(
            "disk",
            "artifacts under a file",
            &[
                "simclr",
                "train",
                "--epochs",
                "1",
                "--artifacts",
                "/dev/null/run",
            ],
            &["cannot create artifacts folder", "/dev/null/run"],
        ),
        case(
            "disk",
            "artifacts is a file",
            &["simvlm", "train", "--artifacts", &empty],
            &["empty.txt"],
        ),
    ];

    let mut failures = Vec::new();
    let mut per_class = std::collections::BTreeMap::<&str, usize>::new();
    for (i, case) in cases.iter().enumerate() {
        *per_class.entry(case.class).or_default() += 1;
        let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
        // Each case runs in a folder of its own, where a default `artifacts/` would appear.
        let cwd = dir.join(format!("cwd-{i}"));
        std::fs::create_dir_all(&cwd).unwrap();
        let out = train_app_in(&cwd, &args);
        let message = stderr(&out);
        let named = case.expect.iter().all(|e| message.contains(e.as_str()));
        if out.status.code() != Some(1) || !named || message.contains("panicked") {
            failures.push(format!(
                "[{}] {}: exit {:?}, expected {:?} in:\n{message}",
                case.class,
                case.what,
                out.status.code(),
                case.expect
            ));
        }
        if cwd.join("artifacts").exists() {
            failures.push(format!(
                "[{}] {}: left an artifacts folder behind",
                case.class, case.what
            ));
        }
    }
    eprintln!("bad-input cases per class: {per_class:?}");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    std::fs::remove_dir_all(&dir).ok();
}

/// A UTF-8 byte-order mark before the header, as spreadsheet programs write CSV, is read: SimCLR
/// trains on such a `labels.csv` and SimCSE on such an NLI file.
#[test]
fn a_byte_order_mark_before_a_csv_header_is_read() {
    let dir = scratch("bom");
    let images = dir.join("images");
    std::fs::create_dir_all(&images).unwrap();
    let mut rows = String::from("\u{feff}path,label,split\n");
    for i in 0..8 {
        let name = format!("{i}.png");
        image::RgbImage::from_pixel(8, 8, image::Rgb([30 * i as u8, 90, 200]))
            .save(images.join(&name))
            .unwrap();
        let split = if i < 6 { "train" } else { "test" };
        rows.push_str(&format!("{name},{},{split}\n", i % 2));
    }
    write(&images.join("labels.csv"), rows);
    let config = write(
        &dir.join("tiny.toml"),
        "optimizer = \"Adam\"\nwarmup_epochs = 0\nnum_workers = 1\n[augment]\nsize = 8\n\
         [model]\nprojection_dim = 8\n[model.encoder]\nwidth_multiplier = 0.0625\n",
    );
    let out = train_app(&[
        "simclr",
        "train",
        "--data",
        images.to_str().unwrap(),
        "--config",
        &config,
        "--epochs",
        "1",
        "--batch-size",
        "3",
        "--no-eval",
        "--artifacts",
        &dir.join("simclr-run").display().to_string(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(last_json(&out)["train_examples"], 6);

    let model = tiny_model(&dir.join("model"), 0);
    let nli = write(
        &dir.join("nli.csv"),
        "\u{feff}sent0,sent1,hard_neg\n".to_string()
            + &sentences(30)
                .chunks(3)
                .map(|t| t.join(","))
                .collect::<Vec<_>>()
                .join("\n"),
    );
    let out = train_app(&[
        "simcse",
        "train",
        "--mode",
        "sup",
        "--model",
        model.to_str().unwrap(),
        "--data",
        &nli,
        "--batch-size",
        "2",
        "--artifacts",
        &dir.join("simcse-run").display().to_string(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Ten triplets: two held out for validation.
    assert_eq!(last_json(&out)["train_examples"], 8);
    std::fs::remove_dir_all(&dir).ok();
}
