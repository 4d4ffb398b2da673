//! The `flowlens` command line. Thin by design: it parses arguments and calls the crates that
//! do the work (`flowlens-manifests`, `flowlens-policy`, …), then prints their answers.

mod cli;
mod cmd;
mod snapshot;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // Logs go to stderr; FLOWLENS_LOG=debug (or any tracing filter) shows more.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FLOWLENS_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    match cmd::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
