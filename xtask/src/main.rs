//! `cargo xtask <task>`: the project's automation in plain Rust.
//!
//! - `ci`: format check, clippy with warnings denied, the whole test suite.
//! - `bench core`: NT-Xent forward/backward timings on the CPU backends.
//! - `bench simclr`: SimCLR training-step and augmentation throughput.
//! - `bench simcse`: SimCSE training-step and embedding throughput (MiniLM shape).
//! - `bench simvlm`: SimVLM training-step and cached generation throughput.

use std::process::Command;

use anyhow::{bail, Context, Result};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("bench") => bench(args.get(1).map(String::as_str).unwrap_or("core")),
        _ => {
            eprintln!("usage: cargo xtask ci | bench [core|simclr|simcse|simvlm|all]");
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

fn bench(suite: &str) -> Result<()> {
    match suite {
        "core" => cargo(&["bench", "-p", "contrastive-core", "--bench", "nt_xent"]),
        "simclr" => cargo(&["bench", "-p", "simclr", "--bench", "train_step"]),
        "simcse" => cargo(&["bench", "-p", "simcse", "--bench", "train_step"]),
        "simvlm" => cargo(&["bench", "-p", "simvlm", "--bench", "train_step"]),
        "all" => ["core", "simclr", "simcse", "simvlm"]
            .into_iter()
            .try_for_each(bench),
        other => bail!(
            "unknown benchmark suite `{other}` (available: core, simclr, simcse, simvlm, all)"
        ),
    }
}
