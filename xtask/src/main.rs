//! `cargo xtask <task>`: the project's automation in plain Rust.
//!
//! - `ci`: format check, clippy with warnings denied, the whole test suite.
//! - `bench SUITE [--backend B] [--json FILE] [--compare-pytorch]`: the suite's cases (median
//!   step time, throughput, peak memory); `--json` collects one JSON object per case,
//!   `--compare-pytorch` runs ours, the PyTorch peer, ours again for each case with a peer.
//! - `bench core`: NT-Xent forward/backward timings on the CPU backends.
//! - `bench simclr`: SimCLR training-step and augmentation throughput.
//! - `bench simcse`: SimCSE training-step and embedding throughput (MiniLM shape), and the
//!   batch-512 step whole and with GradCache (peak memory and throughput).
//! - `bench simvlm`: SimVLM training-step and cached generation throughput.
//! - `fuzz [SECONDS]`: every parser fuzz target in `xtask/fuzz` for SECONDS each (default 60),
//!   with cargo-fuzz on the nightly toolchain; prints runs and crashes per target.

use std::process::Command;

use anyhow::{bail, Context, Result};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("bench") => bench(&BenchOptions::parse(&args[1..])?),
        Some("fuzz") => fuzz(match args.get(1) {
            Some(seconds) => seconds
                .parse()
                .with_context(|| format!("fuzz SECONDS: `{seconds}` is not a number"))?,
            None => 60,
        }),
        _ => {
            eprintln!(
                "usage: cargo xtask ci | bench [core|simclr|simcse|simvlm|all] [--backend B] [--json FILE] [--compare-pytorch] | fuzz [SECONDS]"
            );
            bail!("unknown or missing task")
        }
    }
}

fn cargo(args: &[&str]) -> Result<()> {
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(env!("CARGO"))
        .args(args)
        .status()
        .with_context(|| format!("cannot run cargo {}", args.join(" ")))?;
    if !status.success() {
        bail!("cargo {} failed ({status})", args.join(" "));
    }
    Ok(())
}

fn ci() -> Result<()> {
    cargo(&["fmt", "--all", "--check"])?;
    cargo(&[
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])?;
    cargo(&["test", "--workspace"])
}

/// `bench SUITE [--backend B[,B]] [--json FILE] [--compare-pytorch]`.
struct BenchOptions {
    suite: String,
    backends: Option<String>,
    json: Option<String>,
    compare_pytorch: bool,
}

impl BenchOptions {
    fn parse(args: &[String]) -> Result<Self> {
        let mut options = BenchOptions {
            suite: "core".into(),
            backends: None,
            json: None,
            compare_pytorch: false,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--backend" => options.backends = args.next().cloned(),
                "--json" => options.json = args.next().cloned(),
                "--compare-pytorch" => options.compare_pytorch = true,
                suite if !suite.starts_with("--") => options.suite = suite.into(),
                other => bail!("bench: unknown option `{other}`"),
            }
        }
        Ok(options)
    }
}

/// The benchmark target of each suite.
fn bench_package(suite: &str) -> Result<(&'static str, &'static str)> {
    Ok(match suite {
        "core" => ("contrastive-core", "nt_xent"),
        "simclr" => ("simclr", "train_step"),
        "simcse" => ("simcse", "train_step"),
        "simvlm" => ("simvlm", "train_step"),
        other => bail!(
            "unknown benchmark suite `{other}` (available: core, simclr, simcse, simvlm, all)"
        ),
    })
}

/// Our cases that have a PyTorch peer at the same shapes in `shared/peers/bench_steps.py`.
const PEER_CASES: [(&str, &str); 3] = [
    ("simclr", "simclr_b64"),
    ("simcse", "simcse_minilm_b64"),
    ("simvlm", "simvlm_b32"),
];

fn bench(options: &BenchOptions) -> Result<()> {
    let suites: Vec<&str> = match options.suite.as_str() {
        "all" => vec!["core", "simclr", "simcse", "simvlm"],
        one => vec![one],
    };
    if let Some(json) = &options.json {
        // Every case appends a line; start the file afresh.
        std::fs::write(json, "").with_context(|| format!("cannot write {json}"))?;
    }
    for suite in suites {
        let (package, target) = bench_package(suite)?;
        let cases = PEER_CASES.iter().find(|(s, _)| *s == suite).map(|p| p.1);
        if options.compare_pytorch {
            let Some(case) = cases else { continue };
            compare_with_pytorch(package, target, case, options)?;
        } else {
            run_bench(package, target, None, options)?;
        }
    }
    Ok(())
}

fn run_bench(
    package: &str,
    target: &str,
    case: Option<&str>,
    options: &BenchOptions,
) -> Result<()> {
    let args = ["bench", "-p", package, "--bench", target];
    eprintln!("$ cargo {}", args.join(" "));
    let mut command = Command::new(env!("CARGO"));
    command.args(args);
    if let Some(backends) = &options.backends {
        command.env("CONTRASTIVE_BENCH_BACKENDS", backends);
    }
    if let Some(json) = &options.json {
        command.env("CONTRASTIVE_BENCH_JSON", std::path::absolute(json)?);
    }
    if let Some(case) = case {
        command.env("CONTRASTIVE_BENCH_CASES", case);
    }
    let status = command.status().context("cannot run cargo bench")?;
    if !status.success() {
        bail!("cargo bench -p {package} failed ({status})");
    }
    Ok(())
}

/// The peer script: `$CONTRASTIVE_SHARED/peers/bench_steps.py`, else `../shared/peers`.
fn peer_script() -> std::path::PathBuf {
    let shared = std::env::var("CONTRASTIVE_SHARED")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared").into());
    std::path::Path::new(&shared).join("peers/bench_steps.py")
}

/// The Python that runs the peer: `$PYTHON`, else `python3` on the PATH.
fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Ours, then the peer, then ours again (A B A on one machine state), and the ratio.
fn compare_with_pytorch(
    package: &str,
    target: &str,
    case: &str,
    options: &BenchOptions,
) -> Result<()> {
    let script = peer_script();
    let torch = Command::new(python())
        .args(["-c", "import torch, torchvision"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !script.is_file() || !torch {
        println!(
            "{case}: PyTorch peer unavailable ({}); ours measured alone, no ratio",
            if torch {
                format!("{} not found", script.display())
            } else {
                format!("{} cannot import torch and torchvision", python())
            }
        );
        return run_bench(package, target, Some(case), options);
    }
    // Our measurements go to a file of their own, so the ratio uses exactly these runs.
    let ours = std::env::temp_dir().join(format!("contrastive-bench-{case}.jsonl"));
    std::fs::write(&ours, "")?;
    let with_ours = BenchOptions {
        suite: options.suite.clone(),
        backends: options.backends.clone(),
        json: Some(ours.display().to_string()),
        compare_pytorch: true,
    };
    run_bench(package, target, Some(case), &with_ours)?;
    let peer_case = if case == "simcse_minilm_b64" {
        "simcse_minilm_b64_sdpa"
    } else {
        case
    };
    let out = Command::new(python())
        .args([script.to_str().unwrap_or_default(), "--case", peer_case])
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .context("cannot run the PyTorch peer")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let peer = stdout
        .lines()
        .last()
        .and_then(|line| json_number(line, "throughput_median"));
    run_bench(package, target, Some(case), &with_ours)?;
    let lines = std::fs::read_to_string(&ours)?;
    if let Some(json) = &options.json {
        let mut all = std::fs::read_to_string(json).unwrap_or_default();
        all.push_str(&lines);
        std::fs::write(json, all)?;
    }
    let Some(peer) = peer else {
        println!(
            "{case}: the PyTorch peer failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return Ok(());
    };
    let mut by_backend: Vec<(String, Vec<f64>)> = Vec::new();
    // Only this case's lines: a bench target may measure other cases alongside.
    for line in lines.lines() {
        let (Some(backend), Some(value)) = (
            json_text(line, "backend"),
            json_number(line, "throughput_median"),
        ) else {
            continue;
        };
        if json_text(line, "case").as_deref() != Some(case) {
            continue;
        }
        match by_backend.iter_mut().find(|(b, _)| *b == backend) {
            Some((_, values)) => values.push(value),
            None => by_backend.push((backend, vec![value])),
        }
    }
    for (backend, values) in by_backend {
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        println!(
            "{case} {backend}: ours {mean:.2}/s (mean of {} runs around the peer), PyTorch {peer:.2}/s, ratio {:.2}",
            values.len(),
            mean / peer
        );
    }
    Ok(())
}

/// A string field of a one-line JSON object (plain strings only).
fn json_text(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!("\"{key}\":\""))? + key.len() + 4;
    let end = line[start..].find('"')?;
    Some(line[start..start + end].to_string())
}

/// A number field of a one-line JSON object, without a JSON dependency.
fn json_number(line: &str, key: &str) -> Option<f64> {
    let start = line.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = line[start..].trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c)))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// The fuzz targets of `xtask/fuzz/Cargo.toml`, one per text parser.
const FUZZ_TARGETS: [&str; 4] = ["nli_csv", "sts_tsv", "captions_tsv", "config"];

/// Runs each fuzz target for `seconds`; a crash fails the task, leaving its input under
/// `xtask/fuzz/artifacts/TARGET/` to turn into a regression test.
fn fuzz(seconds: u64) -> Result<()> {
    // `+nightly` needs rustup's `cargo` proxy, not the toolchain binary in $CARGO.
    let installed = Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .output()
        .is_ok_and(|out| out.status.success());
    if !installed {
        bail!("fuzzing needs cargo-fuzz and the nightly toolchain: `rustup toolchain install nightly && cargo install cargo-fuzz`");
    }
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let mut crashed = Vec::new();
    for target in FUZZ_TARGETS {
        eprintln!("$ cargo +nightly fuzz run {target} -- -max_total_time={seconds}");
        let out = Command::new("cargo")
            .current_dir(root)
            // Safe Rust: the panics are what we hunt, so no sanitizer (a much faster build).
            .args(["+nightly", "fuzz", "run", "--sanitizer", "none"])
            .args(["--fuzz-dir", "xtask/fuzz", target])
            .args(["--", &format!("-max_total_time={seconds}")])
            .output()
            .with_context(|| format!("cannot run the fuzz target {target}"))?;
        let log = String::from_utf8_lossy(&out.stderr);
        // libFuzzer's last line: "Done 123456 runs in 60 second(s)".
        let done = log
            .lines()
            .rev()
            .find(|line| line.starts_with("Done "))
            .unwrap_or("no summary line");
        println!(
            "{target}: {done}; {}",
            if out.status.success() {
                "no crash"
            } else {
                "CRASH"
            }
        );
        if !out.status.success() {
            eprintln!("{log}");
            crashed.push(target);
        }
    }
    if !crashed.is_empty() {
        bail!("fuzz targets crashed: {crashed:?} (inputs in xtask/fuzz/artifacts/)");
    }
    Ok(())
}
