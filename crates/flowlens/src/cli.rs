//! Command-line arguments.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Flowlens: see and troubleshoot network traffic and network policy in Kubernetes.
///
/// Flowlens reads a cluster snapshot (Kubernetes and Calico manifests), evaluates Calico
/// tiered policy, Kubernetes NetworkPolicy and AdminNetworkPolicy exactly as Calico does, and
/// tells you which tier, policy and rule allows or denies a flow.
#[derive(Parser, Debug)]
#[command(
    name = "flowlens",
    version,
    about,
    long_about,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Load manifests and print what they hold: namespaces, endpoints, services, network
    /// sets, and tiers with their policies in evaluation order.
    ///
    /// PATHs are files or directories (read recursively) of YAML (multi-document), JSON, or
    /// `kind: List` output of `kubectl get -o yaml`. Workload controllers become endpoints as
    /// their pods would; addresses missing from manifests are allocated from --pod-cidr and
    /// --service-cidr.
    Inventory(InventoryArgs),
    /// Test a Calico label selector against labels, or many at once with --batch.
    ///
    /// Exit code 0 when the selector matches, 1 when it does not, 2 when it does not parse.
    Selector(SelectorArgs),
    /// Explain, step by step, why a flow is allowed or denied.
    ///
    /// Prints for egress (at the source) and ingress (at the destination) the tiers that
    /// applied, every policy considered and, for each rule, why it matched or not; then the
    /// verdict and the policy hits Calico would log.
    Explain(ExplainArgs),
    /// Evaluate flows from a JSON-lines file and print one verdict per line.
    ///
    /// Input lines: {"src": "ns/pod" | "ns/workload" | "IP", "dst": ..., "proto": "tcp",
    /// "dst_port": 5050, "src_port": 40000 (optional)}. Output lines: {"action", "egress",
    /// "ingress", "pending"} with Calico policy-hit strings; a direction that does not apply
    /// is null. A bad input line gives {"error": ...} and evaluation goes on.
    Evaluate(EvaluateArgs),
    /// Read flow records into a data directory.
    ///
    /// Accepts Calico flow logs (Felix flows.log lines, Elasticsearch `_source` exports),
    /// stored as they are, and raw flow records (JSON lines with src_ip, src_port, dst_ip,
    /// dst_port, proto, start_time, end_time, bytes/packets in and out), which are enriched
    /// from --snapshot, attributed by the policy engine and aggregated as Calico does. A bad
    /// line is reported with its file, line number and reason, and every good line around it
    /// is kept. Records are durable once the command reports them accepted. Exit code 3 when
    /// some lines were rejected.
    Ingest(IngestArgs),
    /// Search stored flow logs, or aggregate them with --group-by.
    ///
    /// Filters: FIELD=VALUE, !=, ^= (prefix), !^=, >, >=, <, <=, =in:A,B and !=in:A,B, on any
    /// flow-log field (source_namespace, dest_name_aggr, dest_port, action, reporter, ...).
    /// Label filters use Calico selectors on source or destination labels.
    Flows(FlowsArgs),
    /// Run SQL over the stored flow logs (a table named `flows`).
    Sql(SqlArgs),
    /// Generate traffic for a scenario and write it to a file, for offline use.
    ///
    /// Writes raw flow records (JSON lines), the same records `flowlens ingest` attributes;
    /// with --calico, runs them through the pipeline and writes attributed Calico flow log
    /// lines instead. Deterministic for a given --seed.
    Simulate(SimulateArgs),
    /// Built-in traffic scenarios.
    #[command(subcommand)]
    Scenario(ScenarioCommand),
    /// Run a scenario live and open the web UI on it: the quickest way to see Flowlens work.
    ///
    /// Loads the scenario, generates an hour of history, then keeps generating traffic in
    /// (optionally sped-up) real time. Every record goes through the same pipeline as real
    /// data: enrichment, the policy engine, aggregation, the embedded store. Prints the URL
    /// to open. Ctrl-C stops it cleanly; without --data the data lives in a temporary
    /// directory that is removed then.
    Demo(DemoArgs),
    /// Serve the API and web UI over a data directory (written by `flowlens ingest`).
    Serve(ServeArgs),
    /// Preview a policy change against stored traffic: which flows would turn from allowed
    /// to denied or back, grouped, with counts; flows whose outcome cannot be known from
    /// what the flow logs kept are listed as uncertain with the reason.
    Preview(crate::cmd::preview::PreviewArgs),
    /// Recommend least-privilege policy from the stored traffic: per namespace, one ingress
    /// and one egress StagedNetworkPolicy in the `namespace-isolation` tier allowing what was
    /// observed in the learning window, by workload labels, namespaces, cluster DNS, network
    /// sets or CIDRs, with dense ports as ranges. --prove previews each one, enforced, over
    /// the same window.
    Recommend(crate::cmd::recommend::RecommendArgs),
    /// Hold today's policies against the stored traffic: which workloads the policies let
    /// reach which (exact per port interval, tiers, pass, admin policies and default deny
    /// included), what of it was never used in the window, which denied flows were
    /// attempted (with the rule that denies them), and the rules no traffic reached.
    Audit(crate::cmd::audit::AuditArgs),
    /// Tidy a data directory once: drop data beyond the retention limits, merge small files,
    /// and write rollups files lack. `serve`, `demo` and `ingest --follow` do this every
    /// few minutes on their own; run it after large one-off ingests or from cron.
    Maintain(MaintainArgs),
    /// Manage a ClickHouse store.
    #[command(subcommand)]
    Store(StoreCommand),
}

#[derive(Subcommand, Debug)]
pub enum StoreCommand {
    /// Create the ClickHouse database and Flowlens's tables, or bring an older schema up to
    /// this version's (each version applied is recorded in the table `flowlens_schema`).
    /// Safe to run again.
    Migrate(StoreMigrateArgs),
    /// Copy every flow log of one store into another (a data directory into ClickHouse when
    /// one machine is outgrown, or back), oldest first, with progress. Stopped, it resumes
    /// where it stopped when run again; finished, running it again copies nothing. Copy from
    /// a store no process is writing to.
    Copy(StoreCopyArgs),
}

#[derive(Args, Debug)]
pub struct StoreCopyArgs {
    /// The store to read: a data directory, or clickhouse://[USER[:PASSWORD]@]HOST[:PORT]/DATABASE.
    #[arg(long, value_name = "DIR|ADDRESS")]
    pub from: String,
    /// The store to write: clickhouse://… or a data directory (created if missing).
    #[arg(long, value_name = "ADDRESS|DIR")]
    pub to: String,
    /// A file whose first line is the ClickHouse password (for the clickhouse:// side; or
    /// FLOWLENS_CLICKHOUSE_PASSWORD).
    #[arg(long, value_name = "FILE")]
    pub store_password_file: Option<PathBuf>,
    /// Flow logs read and written at once (at most 10,000).
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub batch: usize,
}

#[derive(Args, Debug)]
pub struct StoreMigrateArgs {
    #[command(flatten)]
    pub store: StoreOptions,
}

/// How much history the store keeps. Without either limit it keeps everything.
#[derive(Args, Debug, Clone, Default)]
pub struct RetentionOptions {
    /// Drop flow logs older than this (e.g. `7d`, `36h`). A ClickHouse store drops whole
    /// days, once wholly older.
    #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
    pub retain_for: Option<std::time::Duration>,
    /// Drop the oldest data files (for ClickHouse: days) once the flow logs take more than
    /// this on disk (e.g. `20GB`, `512MiB`).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub retain_size: Option<u64>,
}

impl RetentionOptions {
    pub fn policy(&self) -> flowlens_store::RetentionPolicy {
        flowlens_store::RetentionPolicy {
            max_age: self.retain_for,
            max_bytes: self.retain_size,
        }
    }
}

/// Parses a byte size: a number with an optional unit (B, kB, MB, GB, TB, or KiB, MiB, GiB,
/// TiB; case-insensitive).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. 20GB, 512MiB)"))?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "unknown size unit {other:?} (B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)"
            ));
        }
    };
    let bytes = number * scale;
    if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 {
        return Err(format!("{text:?} is not a usable size"));
    }
    Ok(bytes as u64)
}

#[derive(Args, Debug)]
pub struct MaintainArgs {
    #[command(flatten)]
    pub data: DataOptions,
    #[command(flatten)]
    pub retention: RetentionOptions,
    /// Also read every data file through (opening checks only their footers): damaged files
    /// are moved to `quarantine/` and named, and the command exits with 1.
    #[arg(long)]
    pub verify: bool,
}

/// Where the server listens, and where its UI comes from.
#[derive(Args, Debug, Clone)]
pub struct ListenOptions {
    /// Port to listen on; 0 picks a free one (the URL is printed either way).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Address to listen on. Any address but loopback needs TLS (--http-tls-cert) and
    /// authentication, or --insecure.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// Serve the web UI from this directory (a `ui/dist` build) instead of the embedded one.
    #[arg(long, value_name = "DIR")]
    pub ui_dir: Option<PathBuf>,
    /// File holding the API token (at least 16 printable characters). Without it the token
    /// is `api-token` in the data directory, generated (mode 0600) on first start.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Users, their tokens and what each may see and change (YAML: admin, or read/write per
    /// tier and per namespace). With it, the users of the file are the only ones; without
    /// it the one token (--token-file or `api-token`) is the administrator.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["token_file", "no_auth"])]
    pub roles: Option<PathBuf>,
    /// No authentication: anyone who reaches the port can read every flow and change
    /// policies. Refused on a non-loopback address unless --insecure.
    #[arg(long)]
    pub no_auth: bool,
    /// Allow listening on a non-loopback address without TLS or without authentication.
    #[arg(long)]
    pub insecure: bool,
    /// Serve HTTPS (HTTP/2 and HTTP/1.1) with this certificate chain (PEM). The files are
    /// read again when they change, as cert-manager rotates them.
    #[arg(long, value_name = "PEM", requires = "http_tls_key")]
    pub http_tls_cert: Option<PathBuf>,
    /// The private key of --http-tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "PEM", requires = "http_tls_cert")]
    pub http_tls_key: Option<PathBuf>,
    /// A host name the server answers to besides localhost and IP addresses (repeatable;
    /// requests addressed to other names get 421, against DNS rebinding).
    #[arg(long, value_name = "NAME")]
    pub allowed_host: Vec<String>,
    /// Live flow streams (the UI's live views) open at once; one more gets 503 with
    /// Retry-After until another closes.
    #[arg(long, value_name = "N", default_value_t = flowlens_server::DEFAULT_MAX_LIVE_STREAMS)]
    pub max_live_streams: usize,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    #[command(flatten)]
    pub scenario: ScenarioOptions,
    #[command(flatten)]
    pub listen: ListenOptions,
    /// Data directory to keep the flow logs in; a temporary one when not given. With
    /// --store, it keeps only the API token and the audit log.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreOptions,
    #[command(flatten)]
    pub memory: QueryMemoryOptions,
    #[command(flatten)]
    pub retention: RetentionOptions,
    /// Simulated seconds per second (60 runs an hour of traffic per minute).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// History generated at start, ending now.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub backfill: std::time::Duration,
    /// Random seed; the same seed gives the same traffic.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Data directory holding the flow logs (and the API token and audit log). With
    /// --store, it keeps only the token and the audit log.
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    #[command(flatten)]
    pub store: StoreOptions,
    #[command(flatten)]
    pub memory: QueryMemoryOptions,
    /// Manifest files or directories: the inventory that explains flows and holds the
    /// policies shown on the Policy Board (repeatable).
    #[arg(long, value_name = "PATH")]
    pub snapshot: Vec<PathBuf>,
    #[command(flatten)]
    pub options: SnapshotOptions,
    #[command(flatten)]
    pub cluster: ClusterOptions,
    #[command(flatten)]
    pub listen: ListenOptions,
    #[command(flatten)]
    pub retention: RetentionOptions,
    #[command(flatten)]
    pub sources: SourceOptions,
    #[command(flatten)]
    pub aggregation: AggregationOptions,
}

/// A live cluster instead of a snapshot.
#[derive(Args, Debug, Clone, Default)]
pub struct ClusterOptions {
    /// A live cluster instead of a snapshot: its pods, services, namespaces and policies are
    /// the inventory (`serve` and `demo` follow its changes and save policies to it; other
    /// commands list it once). From --kubeconfig, else KUBECONFIG or ~/.kube/config, else the
    /// pod's service account (in the cluster, with neither --kubeconfig nor --context, the
    /// service account is used).
    #[arg(long, conflicts_with = "snapshot")]
    pub kube: bool,
    /// The kubeconfig file for --kube.
    #[arg(long, value_name = "FILE", requires = "kube")]
    pub kubeconfig: Option<PathBuf>,
    /// A context of the kubeconfig instead of its current one, for --kube.
    #[arg(long, value_name = "NAME", requires = "kube")]
    pub context: Option<String>,
}

/// Live flow sources, and the TLS files they use.
#[derive(Args, Debug, Clone, Default)]
pub struct SourceOptions {
    /// A live flow source (repeatable; all of them go into one store):
    /// goldmane://HOST:PORT (Calico Goldmane, mTLS), felix+unix:///PATH or
    /// felix://ADDR:PORT (Felix pushes its flows here), hubble://HOST:PORT (Cilium Hubble,
    /// TLS optional), ipfix://ADDR:PORT or netflow://ADDR:PORT (IPFIX, NetFlow v9 and v5
    /// over UDP). A URL may name its own TLS files: ?ca=PATH&cert=PATH&key=PATH, or tls=off.
    #[arg(long = "source", value_name = "URL")]
    pub source: Vec<String>,
    /// Certificate (PEM): the client's for goldmane:// and hubble://, the server's for
    /// felix://.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The key of --tls-cert (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// CA certificate (PEM): the server's CA for goldmane:// and hubble:// (turns TLS on),
    /// the CA clients' certificates must chain to for felix:// (mTLS).
    #[arg(long, value_name = "PEM")]
    pub ca: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum ScenarioCommand {
    /// List the built-in scenarios and their steps.
    List,
    /// Apply a step (e.g. `rogue`, `fix`) to the scenario of a running `flowlens demo`.
    Step {
        /// The scenario the demo runs (checked, so a step never lands on the wrong one).
        scenario: String,
        /// The step to apply.
        step: String,
        /// Where the demo listens: the URL it printed, with its `#token=` (or set
        /// FLOWLENS_TOKEN).
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
    },
}

/// Which scenario, and the parameters of the generated `scale` one.
#[derive(Args, Debug, Clone)]
pub struct ScenarioOptions {
    /// A built-in scenario name (see `flowlens scenario list`) or a scenario directory.
    #[arg(long, default_value = "storefront")]
    pub scenario: String,
    #[command(flatten)]
    pub scale: ScaleOptions,
}

/// The size of the generated `scale` scenario.
#[derive(Args, Debug, Clone)]
pub struct ScaleOptions {
    /// scale: namespaces.
    #[arg(long, default_value_t = 50)]
    pub namespaces: usize,
    /// scale: workloads in all.
    #[arg(long, default_value_t = 250)]
    pub workloads: usize,
    /// scale: policies in all.
    #[arg(long, default_value_t = 100)]
    pub policies: usize,
    /// scale: tiers, counting `default`.
    #[arg(long, default_value_t = 5)]
    pub tiers: usize,
    /// scale: connections per second across the cluster.
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// scale: pods per workload.
    #[arg(long, default_value_t = 2)]
    pub pods_per_workload: usize,
}

#[derive(Args, Debug)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub scenario: ScenarioOptions,
    /// Simulated time to generate, e.g. 10m or 1h.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub duration: std::time::Duration,
    /// Steps to apply before generating (e.g. rogue, fix); repeatable.
    #[arg(long = "step", value_name = "STEP")]
    pub steps: Vec<String>,
    /// Random seed; the same seed gives the same records.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Start time (unix seconds); defaults to now minus --duration.
    #[arg(long)]
    pub start: Option<i64>,
    /// Output file (`-` for stdout).
    #[arg(long, short, value_name = "FILE")]
    pub output: PathBuf,
    /// Write attributed Calico flow logs instead of raw records.
    #[arg(long)]
    pub calico: bool,
    /// With --calico: how the records are aggregated.
    #[command(flatten)]
    pub aggregation: AggregationOptions,
}

/// How raw records are aggregated into flow logs.
#[derive(Args, Debug, Clone)]
pub struct AggregationOptions {
    /// Aggregation level for allowed flows (Calico's 0-3).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(0..=3))]
    pub allowed_level: u8,
    /// Aggregation level for denied flows (Calico's 0-3).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=3))]
    pub denied_level: u8,
    /// Aggregation time bucket, e.g. 15s or 1m.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    pub interval: std::time::Duration,
}

impl AggregationOptions {
    pub fn config(&self) -> flowlens_pipeline::AggregationConfig {
        use flowlens_pipeline::AggregationLevel;
        flowlens_pipeline::AggregationConfig {
            allowed: AggregationLevel::from_number(self.allowed_level)
                .unwrap_or(AggregationLevel::PodPrefix),
            denied: AggregationLevel::from_number(self.denied_level)
                .unwrap_or(AggregationLevel::SourcePorts),
            interval_secs: self.interval.as_secs().max(1) as i64,
        }
    }
}

/// How snapshots are read.
#[derive(Args, Debug, Clone)]
pub struct SnapshotOptions {
    /// Namespace for namespaced resources that do not name one.
    #[arg(long = "namespace", value_name = "NS", default_value = "default")]
    pub namespace: String,
    /// Range pod addresses are allocated from when a manifest gives none.
    #[arg(long, value_name = "CIDR", default_value = "10.244.0.0/16")]
    pub pod_cidr: ipnet::IpNet,
    /// Range Service cluster IPs are allocated from when a manifest gives none.
    #[arg(long, value_name = "CIDR", default_value = "10.96.0.0/12")]
    pub service_cidr: ipnet::IpNet,
    /// Refuse the snapshot on any error. Without it, a namespace, pod, workload, service or
    /// network set with errors is skipped with a warning and the rest loads (errors in
    /// policies, tiers and host endpoints always refuse).
    #[arg(long)]
    pub strict: bool,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum TextOrJson {
    Text,
    Json,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum HitFormat {
    /// `<idx>|<tier>|<kind>:[<ns>/]<name>|<action>|<rule>` (Calico 3.32 and later).
    Calico,
    /// `<idx>|<tier>|[<ns>/]<tier>.<name>|<action>|<rule>` (Calico Enterprise).
    Enterprise,
}

impl From<HitFormat> for flowlens_model::PolicyHitFormat {
    fn from(f: HitFormat) -> Self {
        match f {
            HitFormat::Calico => flowlens_model::PolicyHitFormat::Calico,
            HitFormat::Enterprise => flowlens_model::PolicyHitFormat::Enterprise,
        }
    }
}

#[derive(Args, Debug)]
pub struct InventoryArgs {
    /// Manifest files or directories.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub snapshot: SnapshotOptions,
    /// `text` prints a summary; `json` prints the whole inventory.
    #[arg(long, short, value_enum, default_value = "text")]
    pub output: TextOrJson,
}

#[derive(Args, Debug)]
pub struct SelectorArgs {
    /// The selector, e.g. 'app == "frontend" && tier in {"web", "api"}'.
    #[arg(
        value_name = "EXPR",
        required_unless_present = "batch",
        conflicts_with = "batch"
    )]
    pub expr: Option<String>,
    /// Labels to test against, as k=v pairs separated by commas.
    #[arg(long, value_name = "K=V,...", default_value = "")]
    pub labels: String,
    /// Read JSON lines {"selector": "...", "labels": {"k": "v"}} from FILE (`-` for stdin)
    /// and write one line per input: {"match": true|false} or {"error": "..."}.
    #[arg(long, value_name = "FILE")]
    pub batch: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// Manifests describing the cluster (files or directories).
    #[arg(long, required = true, value_name = "PATH")]
    pub snapshot: Vec<PathBuf>,
    /// Source: `ns/pod`, `ns/workload` (any of its pods), `ns/service`, or an IP.
    #[arg(long = "from", value_name = "SRC")]
    pub from: String,
    /// Destination: `ns/pod`, `ns/workload`, `ns/service`, or an IP.
    #[arg(long = "to", value_name = "DST")]
    pub to: String,
    /// Protocol name (tcp, udp, sctp, icmp, …) or number.
    #[arg(long, default_value = "tcp")]
    pub proto: String,
    /// Destination port.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Source port (only matters to rules with source ports).
    #[arg(long, default_value_t = 0)]
    pub src_port: u16,
    #[command(flatten)]
    pub options: SnapshotOptions,
    #[arg(long, short, value_enum, default_value = "text")]
    pub output: TextOrJson,
    /// Spelling of policy hits.
    #[arg(long, value_enum, default_value = "calico")]
    pub policy_format: HitFormat,
}

#[derive(Args, Debug)]
pub struct EvaluateArgs {
    /// Manifests describing the cluster (files or directories).
    #[arg(long, required = true, value_name = "PATH")]
    pub snapshot: Vec<PathBuf>,
    /// JSON-lines flows (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    pub flows: PathBuf,
    #[command(flatten)]
    pub options: SnapshotOptions,
    /// Spelling of policy hits.
    #[arg(long, value_enum, default_value = "calico")]
    pub policy_format: HitFormat,
}

/// Where flow logs are stored: a data directory (the embedded store) or a ClickHouse
/// database.
#[derive(Args, Debug, Clone)]
pub struct DataOptions {
    /// The data directory (created if missing).
    #[arg(long, value_name = "DIR", conflicts_with = "store")]
    pub data: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreOptions,
    #[command(flatten)]
    pub memory: QueryMemoryOptions,
}

/// How much memory an embedded store's queries may hold.
#[derive(Args, Debug, Clone, Default)]
pub struct QueryMemoryOptions {
    /// Memory the query engine's sorts and groupings may hold at once over all queries of
    /// a data directory (e.g. `2GiB`; default 4 GiB). Past it they spill to temporary files
    /// where they can, and a query that still needs more fails with a message saying so.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub query_memory: Option<u64>,
}

impl QueryMemoryOptions {
    pub fn bytes(&self) -> usize {
        self.query_memory
            .map_or(flowlens_store::DEFAULT_QUERY_MEMORY, |b| {
                usize::try_from(b).unwrap_or(usize::MAX)
            })
    }
}

/// A ClickHouse store (or a data directory) named by address.
#[derive(Args, Debug, Clone, Default)]
pub struct StoreOptions {
    /// Store in ClickHouse: clickhouse://[USER[:PASSWORD]@]HOST[:PORT]/DATABASE (port 8123
    /// by default; the database and its tables are created on first use). The password may
    /// instead come from FLOWLENS_CLICKHOUSE_PASSWORD or --store-password-file. A directory
    /// here is a data directory, as with --data.
    #[arg(long, value_name = "ADDRESS")]
    pub store: Option<String>,
    /// A file whose first line is the ClickHouse password.
    #[arg(long, value_name = "FILE", requires = "store")]
    pub store_password_file: Option<PathBuf>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum InputFormatArg {
    /// Decide per line.
    Auto,
    /// Calico flow logs.
    Calico,
    /// Raw 5-tuple records.
    Raw,
    /// `hubble observe -o jsonpb` output (Cilium Hubble flow events, attributed by the
    /// engine like raw records). Auto recognises it by a file's first line.
    Hubble,
}

#[derive(Args, Debug)]
pub struct IngestArgs {
    #[command(flatten)]
    pub data: DataOptions,
    /// Manifests describing the cluster; needed to attribute raw records.
    #[arg(long, value_name = "PATH")]
    pub snapshot: Vec<PathBuf>,
    /// Attribute with a scenario's cluster instead of --snapshot (records written by
    /// `flowlens simulate` with the same scenario options).
    #[arg(long, value_name = "NAME", conflicts_with = "snapshot")]
    pub scenario: Option<String>,
    #[command(flatten)]
    pub scale: ScaleOptions,
    #[command(flatten)]
    pub options: SnapshotOptions,
    /// Files to read (`-` for stdin).
    #[arg(value_name = "FILE", required_unless_present = "source")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub sources: SourceOptions,
    #[arg(long, value_enum, default_value = "auto")]
    pub format: InputFormatArg,
    #[command(flatten)]
    pub aggregation: AggregationOptions,
    /// Keep reading the (last) file as it grows, until interrupted; the store is maintained
    /// (retention, compaction) every few minutes meanwhile.
    #[arg(long)]
    pub follow: bool,
    /// Read the files from their start. By default a file an earlier run stored part of is
    /// read on from where that run stopped (the store keeps how far it got, by path, device
    /// and inode), so nothing is stored twice.
    #[arg(long)]
    pub from_start: bool,
    #[command(flatten)]
    pub retention: RetentionOptions,
    /// Print no progress.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum TableFormat {
    Table,
    Json,
    Jsonl,
    Csv,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum GroupByArg {
    NamespacePair,
    NamePair,
    Edge,
    Policy,
    PolicyRule,
    Action,
}

#[derive(Args, Debug)]
pub struct FlowsArgs {
    #[command(flatten)]
    pub data: DataOptions,
    /// Only the last DURATION (e.g. 15m, 1h, 7d), counted back from now.
    #[arg(long, value_name = "DURATION", conflicts_with_all = ["from", "to"])]
    pub since: Option<String>,
    /// Start of the time range: unix seconds or RFC 3339 (2026-11-21T14:00:00Z).
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// End of the time range (exclusive).
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// A field filter such as action=deny or dest_port>=1024; repeatable (all must hold).
    #[arg(long = "filter", short = 'f', value_name = "FILTER")]
    pub filters: Vec<String>,
    /// A Calico selector over source labels.
    #[arg(long, value_name = "SELECTOR")]
    pub src_selector: Option<String>,
    /// A Calico selector over destination labels.
    #[arg(long, value_name = "SELECTOR")]
    pub dst_selector: Option<String>,
    /// Flows whose enforced trace has a hit of this policy: TIER, TIER/NAME,
    /// TIER/NAMESPACE/NAME or TIER/KIND:[NAMESPACE/]NAME (KIND: np, gnp, knp, snp, sgnp,
    /// sknp, kcnp).
    #[arg(long, value_name = "POLICY")]
    pub policy: Option<String>,
    /// With --policy: only its hits with this action (allow, deny or pass).
    #[arg(long, value_name = "ACTION", requires = "policy")]
    pub policy_action: Option<String>,
    /// With --policy: only its hits of this rule index (-1: the end of the tier).
    #[arg(
        long,
        value_name = "INDEX",
        requires = "policy",
        allow_hyphen_values = true
    )]
    pub policy_rule: Option<String>,
    /// Sort key, e.g. end_time:desc or -bytes_out; repeatable.
    #[arg(long, value_name = "KEY")]
    pub sort: Vec<String>,
    /// Rows per page.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Continue from a previous page.
    #[arg(long, value_name = "TOKEN")]
    pub page_token: Option<String>,
    /// Aggregate instead of listing: traffic with rates per namespace pair, name pair, edge
    /// or action; the Policy Board's hit counts per policy (policy) or per policy, direction
    /// and rule (policy-rule). --limit caps the groups (policies).
    #[arg(long, value_enum)]
    pub group_by: Option<GroupByArg>,
    #[arg(long, short, value_enum, default_value = "table")]
    pub output: TableFormat,
    /// Spelling of policy hits.
    #[arg(long, value_enum, default_value = "calico")]
    pub policy_format: HitFormat,
}

#[derive(Args, Debug)]
pub struct SqlArgs {
    #[command(flatten)]
    pub data: DataOptions,
    /// The query, e.g. "SELECT action, count(*) FROM flows GROUP BY action".
    pub query: String,
    #[arg(long, short, value_enum, default_value = "table")]
    pub output: TableFormat,
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_take_decimal_and_binary_units() {
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("20GB"), Ok(20_000_000_000));
        assert_eq!(parse_size("1.5 kB"), Ok(1_500));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("2tib"), Ok(2 << 40));
        for bad in ["", "GB", "0", "-1GB", "12 parsecs", "1e999"] {
            assert!(parse_size(bad).is_err(), "{bad:?}");
        }
    }
}
