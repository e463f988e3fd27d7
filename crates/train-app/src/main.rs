//! `train-app`: one binary to train and evaluate SimCLR, SimCSE and SimVLM on the backend
//! chosen at build time.

// Devices are `Copy` on the CPU backends but not on the GPU ones; the code clones them.
#![allow(clippy::clone_on_copy)]

mod artifacts;
mod backend;
mod config_file;
mod curves;
mod embedding_map;
mod harness;
mod named_values;
mod pictures;
mod pipeline;
mod renderer;
mod simclr;
mod simcse;
mod simvlm;

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{CommandFactory, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "train-app",
    version,
    about = "Train and evaluate SimCLR, SimCSE and SimVLM with Burn"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the compiled backend, the device a run would use, and versions.
    Info {
        /// Device index to probe (GPU backends).
        #[arg(long, default_value_t = 0)]
        device: usize,
    },
    /// SimCLR: contrastive pre-training of image encoders.
    Simclr {
        #[command(subcommand)]
        job: simclr::SimclrJob,
    },
    /// SimCSE: contrastive sentence embeddings from a BERT checkpoint.
    Simcse {
        #[command(subcommand)]
        job: simcse::SimcseJob,
    },
    /// SimVLM: PrefixLM vision–language pre-training, captioning and VQA.
    Simvlm {
        #[command(subcommand)]
        job: simvlm::SimvlmJob,
    },
    /// Draw the training curves of one or several runs on shared axes, one panel per metric
    /// (training values per step, validation per epoch, global steps on the x axis).
    Plot {
        /// Run folders (`train --artifacts`).
        #[arg(required = true)]
        runs: Vec<PathBuf>,
        /// The picture to write: `.svg` or `.png`.
        #[arg(long, default_value = "curves.svg")]
        out: PathBuf,
        /// A metric to draw (repeatable): its logged name, or a prefix such as `loss`.
        /// [default: every logged metric but throughput]
        #[arg(long = "metric", value_name = "NAME")]
        metrics: Vec<String>,
    },
    /// Print a shell completion script, e.g. `train-app completions bash > ~/.local/share/bash-completion/completions/train-app`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

fn main() {
    contrastive_core::run::allocator::keep_freed_memory();
    // A command line clap refuses is bad input like any other: exit code 1 (help and version 0).
    let cli = Cli::try_parse().unwrap_or_else(|err| {
        let _ = err.print();
        std::process::exit(if err.use_stderr() { 1 } else { 0 });
    });
    if let Err(err) = run(cli) {
        eprintln!("error: {err:#}");
        let code = err
            .downcast_ref::<harness::Stopped>()
            .map_or(1, harness::Stopped::exit_code);
        std::process::exit(code);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Info { device } => info(device),
        Command::Simclr { job } => simclr::run(job),
        Command::Simcse { job } => simcse::run(job),
        Command::Simvlm { job } => simvlm::run(job),
        Command::Plot { runs, out, metrics } => plot(&runs, &out, &metrics),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "train-app",
                &mut std::io::stdout(),
            );
            Ok(())
        }
    }
}

fn plot(runs: &[PathBuf], out: &Path, wanted: &[String]) -> Result<()> {
    pictures::Format::of(out)?;
    let runs = runs
        .iter()
        .map(|run| curves::RunCurves::read(run))
        .collect::<Result<Vec<_>>>()?;
    let metrics = curves::choose_metrics(&runs, wanted)?;
    curves::write(&runs, &metrics, out)?;
    let summary = serde_json::json!({
        "task": "plot",
        "out": out,
        "runs": runs.iter().map(|r| &r.label).collect::<Vec<_>>(),
        "metrics": metrics,
    });
    println!("{summary}");
    Ok(())
}

fn info(index: usize) -> Result<()> {
    let device = backend::device(index)?;
    println!("train-app {}", env!("CARGO_PKG_VERSION"));
    println!("backend: {}", backend::NAME);
    println!("device: {device:?}");
    println!("burn: {}", env!("BURN_VERSION"));
    let summary = serde_json::json!({
        "task": "info",
        "backend": backend::NAME,
        "device": format!("{device:?}"),
        "burn": env!("BURN_VERSION"),
        "train_app": env!("CARGO_PKG_VERSION"),
    });
    println!("{summary}");
    Ok(())
}
