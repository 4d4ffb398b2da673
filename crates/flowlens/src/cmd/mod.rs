//! One module per subcommand.

pub(crate) mod audit;
mod cluster;
mod demo;
mod evaluate;
mod explain;
mod flows;
mod ingest;
mod inventory;
pub(crate) mod preview;
pub(crate) mod recommend;
mod scenario;
mod selector;
mod sources;
mod sql;
mod store_copy;

use crate::cli::{Cli, Command};
use anyhow::Result;
use std::process::ExitCode;

pub fn run(cli: Cli) -> Result<ExitCode> {
    if prints_for_a_pipe(&cli.command) {
        stop_quietly_on_a_closed_pipe();
    }
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
        Command::Recommend(args) => recommend::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Demo(args) => demo::demo(args),
        Command::Serve(args) => demo::serve(args),
        Command::Maintain(args) => maintain(args),
        Command::Store(command) => store_command(command),
    }
}

/// Commands whose output is read by `head`, `less` or `grep -q`, which may close the pipe
/// before the end. Servers and the ingest loop are left out: they write to sockets and must
/// never be stopped by a peer that went away.
fn prints_for_a_pipe(command: &Command) -> bool {
    !matches!(
        command,
        Command::Ingest(_) | Command::Demo(_) | Command::Serve(_) | Command::Scenario(_)
    )
}

/// As other Unix tools do: a reader that closed the pipe ends the process silently, where
/// Rust's default (SIGPIPE ignored) makes the next `println!` panic.
fn stop_quietly_on_a_closed_pipe() {
    // SAFETY: sets a signal's disposition to the default before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// What the advisor's commands read: stored traffic over a window, and the cluster's
/// manifests as they are now.
#[derive(clap::Args, Debug)]
pub struct TrafficAndPolicy {
    #[command(flatten)]
    pub data: crate::cli::DataOptions,
    /// Manifests of the cluster as it is now (repeatable); or --kube.
    #[arg(long, value_name = "PATH", required_unless_present = "kube")]
    pub snapshot: Vec<std::path::PathBuf>,
    /// The cluster itself instead of a snapshot: listed once, as `serve --kube` lists it.
    #[command(flatten)]
    pub cluster: crate::cli::ClusterOptions,
    /// Range pod addresses are allocated from when a manifest gives none.
    #[arg(long, value_name = "CIDR", default_value = "10.244.0.0/16")]
    pub pod_cidr: ipnet::IpNet,
    /// Range Service cluster IPs are allocated from when a manifest gives none.
    #[arg(long, value_name = "CIDR", default_value = "10.96.0.0/12")]
    pub service_cidr: ipnet::IpNet,
    /// Refuse the snapshot on any error.
    #[arg(long)]
    pub strict: bool,
    /// The window of stored traffic: the last DURATION (e.g. 1h, 7d), counted back from the
    /// newest stored flow log (or --until); everything stored when not given.
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,
    /// End the window here (unix seconds or RFC 3339, exclusive): --since then counts back
    /// from it. Default: the newest stored flow log.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
}

impl TrafficAndPolicy {
    /// The cluster as it is now: the snapshot's manifests, or with --kube the cluster listed.
    pub async fn inventory(&self) -> Result<flowlens_model::Inventory> {
        let options = crate::cli::SnapshotOptions {
            namespace: "default".into(),
            pod_cidr: self.pod_cidr,
            service_cidr: self.service_cidr,
            strict: self.strict,
        };
        if self.cluster.kube {
            return cluster::list_once(&self.cluster, &options).await;
        }
        Ok(crate::snapshot::load(&self.snapshot, &options)?.inventory)
    }

    pub async fn window(
        &self,
        store: &dyn flowlens_store::Store,
    ) -> Result<flowlens_store::TimeRange> {
        window_until(store, self.since.as_deref(), self.until.as_deref()).await
    }
}

/// The window `since` (e.g. `1h`) reaches back from the newest stored flow log, so that
/// data written at another time (a replay, a simulation) is found; everything without it.
pub async fn window_back_from_newest(
    store: &dyn flowlens_store::Store,
    since: Option<&str>,
) -> Result<flowlens_store::TimeRange> {
    use flowlens_store::TimeRange;
    let Some(since) = since else {
        return Ok(TimeRange::all());
    };
    let back = flowlens_store::parse_duration(since)?;
    Ok(match store.time_bounds().await? {
        Some((_, newest)) => TimeRange::since(back, newest),
        None => TimeRange::all(),
    })
}

/// The window of `--since` and `--until`: with `until` (unix seconds or RFC 3339,
/// exclusive) the window ends there and `since` counts back from it (everything before it
/// without `since`); without it, as [`window_back_from_newest`].
pub async fn window_until(
    store: &dyn flowlens_store::Store,
    since: Option<&str>,
    until: Option<&str>,
) -> Result<flowlens_store::TimeRange> {
    use flowlens_store::TimeRange;
    let Some(until) = until else {
        return window_back_from_newest(store, since).await;
    };
    let end = flows::parse_time(until)?;
    Ok(match since {
        None => TimeRange::new(i64::MIN, end),
        Some(since) => {
            let back = flowlens_store::parse_duration(since)?;
            let secs = i64::try_from(back.as_secs()).unwrap_or(i64::MAX);
            TimeRange::new(end.saturating_sub(secs), end)
        }
    })
}

/// How often long-running commands maintain the store.
pub const MAINTENANCE_EVERY: std::time::Duration = std::time::Duration::from_secs(300);

fn maintain(args: crate::cli::MaintainArgs) -> Result<ExitCode> {
    let rt = runtime()?;
    let store = match rt.block_on(open_any(&args.data))? {
        OpenedStore::Embedded(store) => store,
        OpenedStore::ClickHouse(store) => {
            if args.verify {
                anyhow::bail!(
                    "--verify reads a data directory's files; ClickHouse checks its own parts \
                     (CHECK TABLE flows)"
                );
            }
            let report = rt.block_on(store.apply_retention(args.retention.policy(), now()))?;
            print_day_retention(&report);
            return Ok(ExitCode::SUCCESS);
        }
    };
    let damaged = if args.verify {
        let damaged = rt.block_on(store.verify())?;
        for warning in &damaged {
            eprintln!("damaged: {warning}");
        }
        println!("verified every data file: {} damaged", damaged.len());
        damaged.len()
    } else {
        0
    };
    let report = rt.block_on(store.maintain(args.retention.policy(), now()))?;
    print_maintenance(&report);
    rt.block_on(store.close())?;
    Ok(if damaged == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
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
    use anyhow::Context;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Where `--data` or `--store` say the flow logs are.
pub enum StoreLocation {
    /// A data directory, and the memory its queries may hold.
    Directory(std::path::PathBuf, usize),
    ClickHouse(Box<flowlens_store_clickhouse::ClickHouseConfig>),
}

impl StoreLocation {
    /// From `--data DIR` or `--store ADDRESS` (one of them).
    pub fn of(data: &crate::cli::DataOptions) -> Result<StoreLocation> {
        match (&data.data, &data.store.store) {
            (Some(dir), None) => Ok(StoreLocation::Directory(dir.clone(), data.memory.bytes())),
            (None, Some(_)) => StoreLocation::of_store(&data.store, &data.memory)?
                .ok_or_else(|| anyhow::anyhow!("give --data DIR or --store ADDRESS")),
            (Some(_), Some(_)) => anyhow::bail!("give --data DIR or --store ADDRESS, not both"),
            (None, None) => anyhow::bail!(
                "give --data DIR (a data directory) or --store clickhouse://HOST:8123/DATABASE"
            ),
        }
    }

    /// From `--store` alone; `None` without it.
    pub fn of_store(
        options: &crate::cli::StoreOptions,
        memory: &crate::cli::QueryMemoryOptions,
    ) -> Result<Option<StoreLocation>> {
        use flowlens_store_clickhouse::ClickHouseConfig;
        let Some(address) = &options.store else {
            return Ok(None);
        };
        if !ClickHouseConfig::is_address(address) {
            if options.store_password_file.is_some() {
                anyhow::bail!("--store-password-file is for a clickhouse:// store");
            }
            return Ok(Some(StoreLocation::Directory(
                address.into(),
                memory.bytes(),
            )));
        }
        let mut config = ClickHouseConfig::parse(address)?;
        if let Some(file) = &options.store_password_file {
            config = config.with_password_file(file)?;
        }
        Ok(Some(StoreLocation::ClickHouse(Box::new(
            config.with_password_from_env()?,
        ))))
    }
}

/// An open store of either kind.
pub enum OpenedStore {
    Embedded(flowlens_store::EmbeddedStore),
    ClickHouse(flowlens_store_clickhouse::ClickHouseStore),
}

impl OpenedStore {
    pub fn shared(&self) -> std::sync::Arc<dyn flowlens_store::Store> {
        match self {
            OpenedStore::Embedded(s) => std::sync::Arc::new(s.clone()),
            OpenedStore::ClickHouse(s) => std::sync::Arc::new(s.clone()),
        }
    }

    pub fn as_store(&self) -> &dyn flowlens_store::Store {
        match self {
            OpenedStore::Embedded(s) => s,
            OpenedStore::ClickHouse(s) => s,
        }
    }

    /// Where the flow logs are, for messages (a ClickHouse password masked).
    pub fn describe(&self) -> String {
        match self {
            OpenedStore::Embedded(s) => s.dir().display().to_string(),
            OpenedStore::ClickHouse(s) => s.config().to_string(),
        }
    }

    /// Keeps the store within `retention` every few minutes until the task is aborted (the
    /// embedded store also merges small files; ClickHouse merges its parts itself, so
    /// without limits it needs no task). Needs a Tokio runtime.
    pub fn spawn_maintenance(
        &self,
        retention: flowlens_store::RetentionPolicy,
    ) -> Option<tokio::task::JoinHandle<()>> {
        match self {
            OpenedStore::Embedded(s) => Some(s.spawn_maintenance(retention, MAINTENANCE_EVERY)),
            OpenedStore::ClickHouse(_)
                if retention == flowlens_store::RetentionPolicy::default() =>
            {
                None
            }
            OpenedStore::ClickHouse(s) => Some(s.spawn_retention(retention, MAINTENANCE_EVERY)),
        }
    }

    /// Flushes what the embedded store buffers; ClickHouse has it all already.
    pub async fn close(self) -> Result<()> {
        if let OpenedStore::Embedded(s) = self {
            s.close().await?;
        }
        Ok(())
    }
}

/// Opens the store at `location`.
pub async fn open_location(location: &StoreLocation) -> Result<OpenedStore> {
    use anyhow::Context;
    Ok(match location {
        StoreLocation::Directory(dir, query_memory) => {
            OpenedStore::Embedded(open_store_with(dir, *query_memory)?)
        }
        StoreLocation::ClickHouse(config) => OpenedStore::ClickHouse(
            flowlens_store_clickhouse::ClickHouseStore::open((**config).clone())
                .await
                .with_context(|| format!("cannot open the ClickHouse store {config}"))?,
        ),
    })
}

/// Opens the store `--data` or `--store` names.
pub async fn open_any(data: &crate::cli::DataOptions) -> Result<OpenedStore> {
    open_location(&StoreLocation::of(data)?).await
}

/// `flowlens store migrate`.
fn store_command(command: crate::cli::StoreCommand) -> Result<ExitCode> {
    match command {
        crate::cli::StoreCommand::Copy(args) => store_copy::run(args),
        crate::cli::StoreCommand::Migrate(args) => {
            let Some(StoreLocation::ClickHouse(config)) =
                StoreLocation::of_store(&args.store, &Default::default())?
            else {
                anyhow::bail!(
                    "give --store clickhouse://HOST:8123/DATABASE (a data directory needs no \
                     migration: it is brought up to date when opened)"
                );
            };
            use anyhow::Context;
            let report = runtime()?
                .block_on(flowlens_store_clickhouse::ClickHouseStore::migrate(
                    (*config).clone(),
                ))
                .with_context(|| format!("cannot migrate the ClickHouse store {config}"))?;
            println!(
                "ClickHouse {} at {config}: schema version {} → {}",
                report.server_version, report.from, report.to
            );
            for applied in &report.applied {
                println!("applied {applied}");
            }
            if report.applied.is_empty() {
                println!("nothing to do: the schema is up to date");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Opens the store in the data directory `dir`, its queries holding at most `query_memory`
/// bytes at once.
pub fn open_store_with(
    dir: &std::path::Path,
    query_memory: usize,
) -> Result<flowlens_store::EmbeddedStore> {
    use anyhow::Context;
    let options = flowlens_store::EmbeddedOptions {
        query_memory,
        ..flowlens_store::EmbeddedOptions::default()
    };
    flowlens_store::EmbeddedStore::open(dir, options)
        .with_context(|| format!("cannot open the data directory {}", dir.display()))
}

/// The current time in Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Prints what a maintenance pass did.
/// A ClickHouse store's retention, which drops whole days.
pub fn print_day_retention(report: &flowlens_store::RetentionReport) {
    let days = report.files_removed;
    println!(
        "retention: {days} day{} dropped, {} records and {} bytes",
        if days == 1 { "" } else { "s" },
        report.records_removed,
        report.bytes_freed
    );
}

pub fn print_maintenance(report: &flowlens_store::MaintenanceReport) {
    println!("retention: {}", report.retention);
    println!("compaction: {}", report.compaction);
}
