//! One module per subcommand.

mod demo;
mod evaluate;
mod explain;
mod flows;
mod ingest;
mod inventory;
pub(crate) mod preview;
mod scenario;
mod selector;
mod sql;

use crate::cli::{Cli, Command};
use anyhow::Result;
use std::process::ExitCode;

pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Inventory(args) => inventory::run(args),
        Command::Selector(args) => selector::run(args),
        Command::Explain(args) => explain::run(args),
        Command::Evaluate(args) => evaluate::run(args),
        Command::Ingest(args) => ingest::run(args),
        Command::Flows(args) => flows::run(args),
        Command::Sql(args) => sql::run(args),
        Command::Simulate(args) => scenario::simulate(args),
        Command::Scenario(cmd) => scenario::run(cmd),
        Command::Preview(args) => preview::run(args),
        Command::Demo(args) => demo::demo(args),
        Command::Serve(args) => demo::serve(args),
        Command::Maintain(args) => maintain(args),
    }
}

/// How often long-running commands maintain the store.
pub const MAINTENANCE_EVERY: std::time::Duration = std::time::Duration::from_secs(300);

fn maintain(args: crate::cli::MaintainArgs) -> Result<ExitCode> {
    let store = open_store(&args.data)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let rt = runtime()?;
    let report = rt.block_on(store.maintain(args.retention.policy(), now))?;
    let (r, c) = (report.retention, report.compaction);
    println!(
        "retention: {} files removed, {} rewritten, {} records and {} bytes dropped",
        r.files_removed, r.files_rewritten, r.records_removed, r.bytes_freed
    );
    println!(
        "compaction: {} files merged into {} ({} records); rollups written for {} files",
        c.files_in, c.files_out, c.records, c.rollups_added
    );
    rt.block_on(store.close())?;
    Ok(ExitCode::SUCCESS)
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

/// A runtime for the commands that talk to the store.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Opens the data directory's store.
pub fn open_store(data: &crate::cli::DataOptions) -> Result<flowlens_store::EmbeddedStore> {
    use anyhow::Context;
    let store =
        flowlens_store::EmbeddedStore::open(&data.data, flowlens_store::EmbeddedOptions::default())
            .with_context(|| format!("cannot open the data directory {}", data.data.display()))?;
    Ok(store)
}
