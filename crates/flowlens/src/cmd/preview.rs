//! `flowlens preview`: what a draft policy (or deleting one) would have done to the stored
//! traffic.

use crate::cli::{DataOptions, SnapshotOptions, TextOrJson};
use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use flowlens_impact::{PolicyChange, preview_change};
use flowlens_manifests::LoadOptions;
use flowlens_model::PolicyId;
use flowlens_policy::Engine;
use flowlens_policy::preview::{ChangeKind, Preview};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Args, Debug)]
pub struct PreviewArgs {
    #[command(flatten)]
    pub data: DataOptions,
    /// Manifests of the cluster as it is now (repeatable).
    #[arg(long, value_name = "PATH", required = true)]
    pub snapshot: Vec<PathBuf>,
    #[command(flatten)]
    pub options: SnapshotOptions,
    /// The draft: one policy document (any Calico, Kubernetes or admin policy kind) that is
    /// added, or replaces the policy of the same kind, namespace and name.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "delete",
        required_unless_present = "delete"
    )]
    pub policy: Option<PathBuf>,
    /// Preview deleting this policy instead (`np:NS/NAME`, `gnp:NAME`, `knp:NS/NAME`, ...).
    #[arg(long, value_name = "ID")]
    pub delete: Option<String>,
    /// Only the last DURATION of stored traffic (e.g. 15m, 1h, 7d), counted back from the
    /// newest stored flow log; everything stored when not given.
    #[arg(long, value_name = "DURATION")]
    pub since: Option<String>,
    #[arg(long, short, value_enum, default_value = "text")]
    pub output: TextOrJson,
    /// Text output: show at most N groups of changed flows (largest first); JSON has all.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

pub fn run(args: PreviewArgs) -> Result<ExitCode> {
    let loaded = crate::snapshot::load(&args.snapshot, &args.options)?;
    let change = match (&args.policy, &args.delete) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let opts = LoadOptions {
                default_namespace: args.options.namespace.clone(),
                pod_cidr: args.options.pod_cidr,
                service_cidr: args.options.service_cidr,
                skip_invalid_objects: false,
            };
            let policy =
                flowlens_manifests::parse_policy(&text, &path.display().to_string(), &opts)
                    .map_err(|e| anyhow!("the draft policy has errors:\n{e}"))?;
            PolicyChange::Upsert(Box::new(policy))
        }
        (None, Some(id)) => PolicyChange::Delete(PolicyId::parse(id)?),
        (None, None) => bail!("give --policy FILE or --delete ID"),
    };
    let current = Arc::new(Engine::new(loaded.inventory));
    let runtime = super::runtime()?;
    let result = runtime.block_on(async {
        let opened = super::open_any(&args.data).await?;
        let store = opened.as_store();
        let range = super::window_back_from_newest(store, args.since.as_deref()).await?;
        let result = preview_change(store, &current, change, range).await?;
        opened.close().await?;
        Ok::<_, anyhow::Error>(result)
    })?;
    let text = match args.output {
        TextOrJson::Json => serde_json::to_string_pretty(&result)? + "\n",
        TextOrJson::Text => render(&result, args.limit),
    };
    // A closed pipe (`| head`) is not an error.
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
    Ok(ExitCode::SUCCESS)
}

fn end(ns: &Option<String>, name: &str) -> String {
    match ns {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    }
}

/// The preview as text: a summary, then each group of changed flows.
fn render(p: &Preview, limit: usize) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Preview of {} {} ({} verdicts) over {} flow logs ({} connections, {} distinct tuples, {} evaluated)",
        match p.operation {
            flowlens_policy::preview::Operation::Create => "creating",
            flowlens_policy::preview::Operation::Replace => "replacing",
            flowlens_policy::preview::Operation::Delete => "deleting",
        },
        p.policy,
        match p.compared {
            flowlens_policy::preview::Compared::Enforced => "enforced",
            flowlens_policy::preview::Compared::Pending => "pending",
        },
        p.flow_logs,
        p.num_flows,
        p.tuples,
        p.evaluated_tuples
    );
    let (s, n) = (&p.summary, &p.summary_num_flows);
    for (label, logs, flows) in [
        ("allow → deny", s.allow_to_deny, n.allow_to_deny),
        ("deny → allow", s.deny_to_allow, n.deny_to_allow),
        ("uncertain", s.uncertain, n.uncertain),
        ("unchanged", s.unchanged, n.unchanged),
    ] {
        let _ = writeln!(
            out,
            "  {label:<13} {logs:>10} flow logs  {flows:>10} connections"
        );
    }
    if p.stored_mismatch_flow_logs > 0 {
        let _ = writeln!(
            out,
            "  note: {} flow logs were logged with another verdict than the current policy gives",
            p.stored_mismatch_flow_logs
        );
    }
    if p.changes.is_empty() {
        let _ = writeln!(out, "\nNo flow changes.");
        return out;
    }
    let _ = writeln!(out);
    for c in p.changes.iter().take(limit) {
        let kind = match c.change {
            ChangeKind::AllowToDeny => "ALLOW → DENY",
            ChangeKind::DenyToAllow => "DENY → ALLOW",
            ChangeKind::Uncertain => "UNCERTAIN",
        };
        let port = c.dest_port.map_or("-".to_string(), |p| p.to_string());
        let _ = writeln!(
            out,
            "{kind:<13} {} → {} {}/{port}: {} flow logs, {} connections",
            end(&c.source_namespace, &c.source_name_aggr),
            end(&c.dest_namespace, &c.dest_name_aggr),
            c.proto,
            c.flow_logs,
            c.num_flows
        );
        if c.before.is_some() || c.after.is_some() {
            let _ = writeln!(
                out,
                "              before {}  after {}",
                c.before.as_deref().unwrap_or("-"),
                c.after.as_deref().unwrap_or("-")
            );
        }
        if let Some(reason) = &c.reason {
            let _ = writeln!(out, "              why uncertain: {reason}");
        }
    }
    if p.changes.len() > limit {
        let _ = writeln!(
            out,
            "… and {} more groups (--limit, or --output json for all)",
            p.changes.len() - limit
        );
    }
    out
}
