//! One module per subcommand.

mod evaluate;
mod explain;
mod flow_input;
mod inventory;
mod selector;

use crate::cli::{Cli, Command};
use anyhow::Result;
use std::process::ExitCode;

pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Inventory(args) => inventory::run(args),
        Command::Selector(args) => selector::run(args),
        Command::Explain(args) => explain::run(args),
        Command::Evaluate(args) => evaluate::run(args),
    }
}

/// The lines of a file, or of stdin for `-`.
pub fn open_input(path: &std::path::Path) -> Result<std::io::Lines<Box<dyn std::io::BufRead>>> {
    use anyhow::Context;
    use std::io::BufRead;
    if path.as_os_str() == "-" {
        let stdin: Box<dyn BufRead> = Box::new(std::io::BufReader::new(std::io::stdin()));
        return Ok(stdin.lines());
    }
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let reader: Box<dyn BufRead> = Box::new(std::io::BufReader::new(file));
    Ok(reader.lines())
}
