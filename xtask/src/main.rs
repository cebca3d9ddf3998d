//! Developer tasks that are no part of the product, run with `cargo run --release -p xtask --`.
//! Only the benchmark so far: it times `gitops-promote diff` against building every overlay.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod bench;

#[derive(Debug, Parser)]
#[command(name = "xtask", about = "Developer tasks for gitops-promote")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Generate many overlays over shared bases and time `gitops-promote diff` against building
    /// every overlay at both refs.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    match Cli::parse().task {
        Task::Bench(args) => match bench::run(&args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}
