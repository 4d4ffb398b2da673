//! `flowlens recommend`: least-privilege staged policies recommended from the traffic stored
//! over a learning window, optionally proven against that traffic with the impact preview.

use anyhow::{Context, Result, anyhow};
use clap::{Args, ValueEnum};
use flowlens_advisor::kubernetes::{KubernetesPolicies, as_kubernetes};
use flowlens_advisor::{Learn, Lifecycle, Options, PolicyStatus, PortDensity};
use flowlens_impact::{Advice, AdviceRequest, advise};
use flowlens_manifests::{policy_to_yaml, tier_to_yaml};
use flowlens_policy::Engine;
use flowlens_policy::preview::{ChangeKind, Preview};
use flowlens_store::TimeRange;
use serde_json::json;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum YamlOrJson {
    /// Calico manifests (a Tier and StagedNetworkPolicies), with the evidence as comments.
    Yaml,
    /// The manifests as JSON objects with their evidence, notes and proof.
    Json,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum PolicyFormat {
    /// Calico: a Tier and StagedNetworkPolicies, one ingress and one egress per namespace.
    Calico,
    /// Kubernetes NetworkPolicies (`networking.k8s.io/v1`): per namespace one for every pod
    /// (it isolates the namespace) and one per local workload; what that API cannot say is
    /// left out and listed.
    K8s,
}

#[derive(Args, Debug)]
pub struct RecommendArgs {
    #[command(flatten)]
    pub input: super::TrafficAndPolicy,
    /// Recommend for this namespace (repeatable). Default: every namespace with pods except
    /// kube-*, calico-* and tigera-*.
    #[arg(long = "namespace", value_name = "NS")]
    pub namespaces: Vec<String>,
    /// Learn only from traffic today's policy allowed. Without it, every attempted
    /// connection is learned, denied ones too (each rule says how many were denied).
    #[arg(long)]
    pub allowed_only: bool,
    /// Observed ports become a range when at least this many lie together...
    #[arg(long, value_name = "N", default_value_t = PortDensity::default().min_ports)]
    pub range_min_ports: usize,
    /// ...each at most this far from the next.
    #[arg(long, value_name = "GAP", default_value_t = PortDensity::default().max_gap)]
    pub range_max_gap: u16,
    /// A policy is stable once the traffic of this last stretch of the window added no rule
    /// to it; until then it is learning.
    #[arg(long, value_name = "DURATION", default_value = "10m")]
    pub stabilization: String,
    /// Preview each recommended policy, enforced, over the learning window: which stored
    /// flows it would turn allowed → denied (should be none), denied → allowed, or cannot
    /// decide from what the flow logs kept.
    #[arg(long)]
    pub prove: bool,
    #[arg(long, short, value_enum, default_value = "yaml")]
    pub output: YamlOrJson,
    /// The kind of policy to write.
    #[arg(long, value_enum, default_value = "calico")]
    pub format: PolicyFormat,
    /// Kubernetes format: the names' prefix (`<prefix>-<namespace>`, `<prefix>-<workload>`).
    #[arg(long, value_name = "PREFIX", default_value = "recommended")]
    pub name_prefix: String,
}

pub fn run(args: RecommendArgs) -> Result<ExitCode> {
    let runtime = super::runtime()?;
    let inventory = runtime.block_on(args.input.inventory())?;
    let options = Options {
        namespaces: args.namespaces.clone(),
        learn: if args.allowed_only {
            Learn::AllowedOnly
        } else {
            Learn::Attempted
        },
        ports: PortDensity {
            min_ports: args.range_min_ports,
            max_gap: args.range_max_gap,
        },
        ..Options::default()
    };
    let stabilization = flowlens_store::parse_duration(&args.stabilization)?;
    let advice = runtime.block_on(async {
        let opened = super::open_any(&args.input.data).await?;
        let store = opened.as_store();
        let window = args.input.window(store).await?;
        let request = AdviceRequest {
            options,
            window,
            stabilization_secs: i64::try_from(stabilization.as_secs()).unwrap_or(i64::MAX),
            prove: args.prove,
        };
        let current = Arc::new(Engine::new(inventory));
        advise(store, &current, &request)
            .await
            .context("recommending from the learning window's flows")
    })?;
    let rec = &advice.recommendation;
    if rec.flows_read == 0 {
        eprintln!(
            "warning: no stored flows in the learning window: every recommended policy is empty"
        );
    }
    let text = match (args.format, args.output) {
        (PolicyFormat::Calico, YamlOrJson::Yaml) => yaml(&advice)?,
        (PolicyFormat::Calico, YamlOrJson::Json) => {
            serde_json::to_string_pretty(&to_json(&advice)?)? + "\n"
        }
        (PolicyFormat::K8s, output) => {
            let k8s = as_kubernetes(rec, &args.name_prefix);
            match output {
                YamlOrJson::Yaml => k8s_yaml(&advice, &k8s)?,
                YamlOrJson::Json => serde_json::to_string_pretty(&k8s_json(&advice, &k8s)?)? + "\n",
            }
        }
    };
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
    Ok(ExitCode::SUCCESS)
}

fn window_text(range: Option<TimeRange>) -> String {
    match range {
        None => "no stored traffic".into(),
        Some(r) => format!("unix {}..{}", r.from, r.to),
    }
}

fn strip_marker(doc: &str) -> &str {
    doc.trim_start_matches("---\n")
}

/// The recommendation as a multi-document YAML stream: the tier, then each policy with its
/// evidence (and proof) as comments above it.
fn yaml(advice: &Advice) -> Result<String> {
    use std::fmt::Write;
    let rec = &advice.recommendation;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Recommended by flowlens from {} of {} observed flow tuples ({}).",
        rec.flows_used,
        rec.flows_read,
        window_text(advice.window)
    );
    for note in &rec.notes {
        let _ = writeln!(out, "# note: {note}");
    }
    let _ = write!(out, "---\n{}", strip_marker(&tier_to_yaml(&rec.tier)));
    for (i, p) in rec.policies.iter().enumerate() {
        out.push_str("---\n");
        let rules = p.evidence.len();
        let _ = writeln!(
            out,
            "# {}: {rules} rule{}, {}",
            p.policy.name,
            if rules == 1 { "" } else { "s" },
            status_text(&advice.statuses[i])
        );
        for (r, (e, peer)) in p.evidence.iter().zip(&p.peers).enumerate() {
            let _ = writeln!(
                out,
                "#   rule {r}: {peer}: {} connections allowed, {} denied today, {} ports seen",
                e.allowed_connections, e.denied_connections, e.observed_ports
            );
        }
        if let Some(proof) = advice.proofs.get(i) {
            for line in proof_lines(proof) {
                let _ = writeln!(out, "#   {line}");
            }
        }
        let doc = policy_to_yaml(&p.policy).map_err(|e| anyhow!("{e}"))?;
        out.push_str(strip_marker(&doc));
    }
    Ok(out)
}

fn end(ns: &Option<String>, name: &str) -> String {
    match ns {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    }
}

/// What the preview says about one policy, for comments.
fn proof_lines(p: &Preview) -> Vec<String> {
    let s = &p.summary;
    let mut lines = vec![format!(
        "proof, enforced over the window: {} flow logs allowed → denied, {} denied → allowed, {} uncertain, {} unchanged",
        s.allow_to_deny, s.deny_to_allow, s.uncertain, s.unchanged
    )];
    // Every change that denies or cannot be decided is listed; of what it would newly
    // allow, the largest groups.
    let mut allowed_shown = 0;
    for c in &p.changes {
        if c.change == ChangeKind::DenyToAllow {
            allowed_shown += 1;
            if allowed_shown > SHOWN_ALLOWED {
                continue;
            }
        }
        let kind = match c.change {
            ChangeKind::AllowToDeny => "WOULD DENY",
            ChangeKind::DenyToAllow => "would allow",
            ChangeKind::Uncertain => "uncertain",
        };
        let port = c.dest_port.map_or("-".to_string(), |p| p.to_string());
        let mut line = format!(
            "  {kind}: {} → {} {}/{port} ({} flow logs)",
            end(&c.source_namespace, &c.source_name_aggr),
            end(&c.dest_namespace, &c.dest_name_aggr),
            c.proto,
            c.flow_logs
        );
        if let Some(reason) = &c.reason {
            line.push_str(&format!(": {reason}"));
        } else if let Some(after) = &c.after {
            line.push_str(&format!(": {after}"));
        }
        lines.push(line);
    }
    if allowed_shown > SHOWN_ALLOWED {
        lines.push(format!(
            "  … and {} more groups it would allow (--output json lists all)",
            allowed_shown - SHOWN_ALLOWED
        ));
    }
    lines
}

/// Groups of newly allowed flows listed in the YAML comments.
const SHOWN_ALLOWED: usize = 5;

/// A policy's lifecycle state in words.
fn status_text(s: &PolicyStatus) -> String {
    let applied = if s.differs_from_applied {
        ", the recommendation has changed since"
    } else {
        ""
    };
    match s.lifecycle {
        Lifecycle::Learning => format!(
            "learning ({} rule{} new in the stabilization period)",
            s.new_rules,
            if s.new_rules == 1 { "" } else { "s" }
        ),
        Lifecycle::Stable => "stable".into(),
        Lifecycle::Staged => format!("staged{applied}"),
        Lifecycle::Enforced => format!("enforced{applied}"),
    }
}

fn to_json(advice: &Advice) -> Result<serde_json::Value> {
    let rec = &advice.recommendation;
    let manifest = |yaml: &str| -> Result<serde_json::Value> {
        serde_saphyr::from_str(yaml).map_err(|e| anyhow!("cannot re-read a written manifest: {e}"))
    };
    let mut policies = Vec::new();
    for (i, p) in rec.policies.iter().enumerate() {
        let doc = policy_to_yaml(&p.policy).map_err(|e| anyhow!("{e}"))?;
        let mut entry = json!({
            "namespace": p.namespace,
            "direction": p.direction,
            "manifest": manifest(&doc)?,
            "rules": p.evidence.iter().zip(&p.peers).map(|(e, peer)| json!({
                "peer": peer,
                "allowed_connections": e.allowed_connections,
                "denied_connections": e.denied_connections,
                "observed_ports": e.observed_ports,
            })).collect::<Vec<_>>(),
        });
        entry["status"] = serde_json::to_value(&advice.statuses[i])?;
        if let Some(proof) = advice.proofs.get(i) {
            entry["proof"] = serde_json::to_value(proof)?;
        }
        policies.push(entry);
    }
    Ok(json!({
        "window": advice.window.map(|w| json!({"from": w.from, "to": w.to})),
        "flows_read": rec.flows_read,
        "flows_used": rec.flows_used,
        "tier": manifest(&tier_to_yaml(&rec.tier))?,
        "policies": policies,
        "notes": rec.notes,
    }))
}

/// The Kubernetes form as a YAML stream: what it leaves out and where it reads differently
/// as comments at the top, then one document per NetworkPolicy.
fn k8s_yaml(advice: &Advice, k8s: &KubernetesPolicies) -> Result<String> {
    use std::fmt::Write;
    let rec = &advice.recommendation;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Recommended by flowlens from {} of {} observed flow tuples ({}), as Kubernetes NetworkPolicies.",
        rec.flows_used,
        rec.flows_read,
        window_text(advice.window)
    );
    for note in rec.notes.iter().chain(&k8s.notes) {
        let _ = writeln!(out, "# note: {note}");
    }
    if !k8s.omitted.is_empty() {
        let _ = writeln!(
            out,
            "# Not expressible as a Kubernetes NetworkPolicy, left out ({} rules):",
            k8s.omitted.len()
        );
        for o in &k8s.omitted {
            let _ = writeln!(
                out,
                "#   {}/{} rule {}: {}: {}",
                o.namespace, o.policy, o.rule, o.peer, o.reason
            );
        }
    }
    for p in &k8s.policies {
        out.push_str("---\n");
        let rules = p.ingress.len() + p.egress.len();
        // The pod selector without the orchestrator term Calico's conversion adds.
        let selector = p.selector.to_string();
        let pods = selector
            .trim_start_matches('(')
            .trim_end_matches(')')
            .trim_start_matches(r#"projectcalico.org/orchestrator == "k8s""#)
            .trim_start_matches(" && ");
        let _ = writeln!(
            out,
            "# {}: {}, {rules} rule{}",
            p.name,
            if pods.is_empty() {
                "every pod of the namespace".to_string()
            } else {
                format!("pods {pods}")
            },
            if rules == 1 { "" } else { "s" }
        );
        let doc = policy_to_yaml(p).map_err(|e| anyhow!("{e}"))?;
        out.push_str(strip_marker(&doc));
    }
    Ok(out)
}

fn k8s_json(advice: &Advice, k8s: &KubernetesPolicies) -> Result<serde_json::Value> {
    let rec = &advice.recommendation;
    let mut policies = Vec::new();
    for p in &k8s.policies {
        let doc = policy_to_yaml(p).map_err(|e| anyhow!("{e}"))?;
        let manifest: serde_json::Value = serde_saphyr::from_str(&doc)
            .map_err(|e| anyhow!("cannot re-read a written manifest: {e}"))?;
        policies.push(manifest);
    }
    Ok(json!({
        "format": "k8s",
        "window": advice.window.map(|w| json!({"from": w.from, "to": w.to})),
        "flows_read": rec.flows_read,
        "flows_used": rec.flows_used,
        "policies": policies,
        "omitted": k8s.omitted,
        "notes": rec.notes.iter().chain(&k8s.notes).collect::<Vec<_>>(),
    }))
}
