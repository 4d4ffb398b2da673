//! The `flowlens` command line. Thin by design: it parses arguments and calls the crates that
//! do the work (`flowlens-manifests`, `flowlens-policy`, …), then prints their answers.

mod cli;
mod cmd;
mod snapshot;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match cmd::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
