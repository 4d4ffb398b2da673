//! `flowlens audit`: today's policies held against the traffic of a window — what they
//! allow between workloads (static reachability, exact per port interval), what of it was
//! never used, what was denied and attempted, and the rules no traffic reached.

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use flowlens_advisor::audit::{Audit, AuditOptions, RuleRef};
use flowlens_impact::{AuditAnswer, AuditRequest, audit};
use flowlens_pipeline::encode::csv_cell;
use flowlens_policy::Engine;
use flowlens_policy::reachability::PortRange;
use serde_json::json;
use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    /// Sections for people: reachability, allowed but never used, denied and attempted,
    /// rules never hit.
    Text,
    /// The whole audit: workloads, the matrix's cells with their segments, and the lists.
    Json,
    /// One row per finding (`finding,source,dest,protocol,ports,connections,rules`).
    Csv,
}

#[derive(Args, Debug)]
pub struct AuditArgs {
    #[command(flatten)]
    pub input: super::TrafficAndPolicy,
    /// Audit pairs and flows with an end in this namespace (repeatable). Default: all.
    #[arg(long = "namespace", value_name = "NS")]
    pub namespaces: Vec<String>,
    #[arg(long, short, value_enum, default_value = "text")]
    pub output: AuditFormat,
}

pub fn run(args: AuditArgs) -> Result<ExitCode> {
    let runtime = super::runtime()?;
    let inventory = runtime.block_on(args.input.inventory())?;
    let answer = runtime.block_on(async {
        let opened = super::open_any(&args.input.data).await?;
        let store = opened.as_store();
        let window = args.input.window(store).await?;
        let request = AuditRequest {
            options: AuditOptions {
                namespaces: args.namespaces.clone(),
            },
            window,
        };
        let current = Arc::new(Engine::new(inventory));
        audit(store, &current, &request)
            .await
            .context("auditing the policies against the window's flows")
    })?;
    if answer.audit.flows_read == 0 {
        eprintln!("warning: no stored flows in the window: everything allowed reads as unused");
    }
    let text = match args.output {
        AuditFormat::Text => text(&answer),
        AuditFormat::Json => serde_json::to_string_pretty(&to_json(&answer))? + "\n",
        AuditFormat::Csv => csv(&answer.audit),
    };
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
    Ok(ExitCode::SUCCESS)
}

/// `80,443,8000-9000`.
pub fn ports_text(ranges: &[PortRange]) -> String {
    ranges
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn rules_text(rules: &[&Option<RuleRef>]) -> String {
    rules
        .iter()
        .filter_map(|r| r.as_ref().map(RuleRef::text))
        .collect::<Vec<_>>()
        .join("; ")
}

fn text(answer: &AuditAnswer) -> String {
    let a = &answer.audit;
    let mut out = String::new();
    let window = match answer.window {
        Some(w) => format!("unix {}..{}", w.from, w.to),
        None => "no stored traffic".into(),
    };
    let _ = writeln!(
        out,
        "Audit of {} workloads over {window}: {} observed flow tuples, {} between workloads; {} questions to the engine.",
        a.workloads.len(),
        a.flows_read,
        a.flows_in_matrix,
        a.questions
    );
    let label = |i: usize| format!("{}/{}", a.workloads[i].namespace, a.workloads[i].name);

    let _ = writeln!(
        out,
        "\nAllowed by policy (source => destination : connections):"
    );
    let mut any = false;
    for c in a.cells.iter().filter(|c| c.allowed != "No Connections") {
        any = true;
        let _ = writeln!(
            out,
            "  {} => {} : {}",
            label(c.source),
            label(c.dest),
            c.allowed
        );
    }
    if !any {
        let _ = writeln!(out, "  (nothing)");
    }

    let _ = writeln!(
        out,
        "\nAllowed, never used in the window ({}):",
        a.unused.len()
    );
    for u in &a.unused {
        let ports = match &u.ports {
            Some(r) => format!("{} {}", u.protocol, ports_text(r)),
            None => u.protocol.to_string(),
        };
        let _ = writeln!(
            out,
            "  {} => {} : {ports}{}\n      allowed by {}",
            u.source,
            u.dest,
            if u.partly_used {
                " (the rest of the range was used)"
            } else {
                ""
            },
            rules_text(&[&u.egress_rule, &u.ingress_rule])
        );
    }

    let _ = writeln!(
        out,
        "\nDenied and attempted ({}):",
        a.denied_attempted.len()
    );
    for d in &a.denied_attempted {
        let ports = if d.ports.is_empty() {
            String::new()
        } else if d.distinct_ports > 12 {
            format!(
                " {} ports ({})",
                d.distinct_ports,
                ports_text(&d.ports[..3.min(d.ports.len())]) + ",…"
            )
        } else {
            format!(" {}", ports_text(&d.ports))
        };
        let by = match (&d.rule, d.allowed_today) {
            (Some(r), _) => format!("denied by {}", r.text()),
            (None, true) => "allowed by today's policy (it changed since)".into(),
            (None, false) => "the rule cannot be told (an end was aggregated away)".into(),
        };
        let _ = writeln!(
            out,
            "  {} => {} : {}{ports}, {} connections\n      {by}",
            d.source, d.dest, d.protocol, d.connections
        );
    }

    let never: Vec<_> = a.rules_never_hit().collect();
    let _ = writeln!(
        out,
        "\nRules never hit by traffic between workloads ({} of {}):",
        never.len(),
        a.rules.len()
    );
    for r in &never {
        let _ = writeln!(
            out,
            "  {}: in the traces of {} pair{}",
            r.rule.text(),
            r.pairs,
            if r.pairs == 1 { "" } else { "s" }
        );
        for p in r.idle_pairs.iter().take(5) {
            let _ = writeln!(out, "      {} => {} : {}", p.source, p.dest, p.connections);
        }
        if r.idle_pairs.len() > 5 {
            let _ = writeln!(
                out,
                "      … and {} more pairs (--output json lists all)",
                r.idle_pairs.len() - 5
            );
        }
    }
    let partly: Vec<_> = a
        .rules
        .iter()
        .filter(|r| r.pairs_hit > 0 && !r.idle_pairs.is_empty())
        .collect();
    if !partly.is_empty() {
        let _ = writeln!(out, "\nRules hit by some pairs, never by others:");
        for r in partly {
            let _ = writeln!(
                out,
                "  {}: {} of {} pairs hit, {} connections; never by {}",
                r.rule.text(),
                r.pairs_hit,
                r.pairs,
                r.connections,
                r.idle_pairs
                    .iter()
                    .take(3)
                    .map(|p| format!("{} => {}", p.source, p.dest))
                    .collect::<Vec<_>>()
                    .join(", ")
                    + if r.idle_pairs.len() > 3 { ", …" } else { "" }
            );
        }
    }
    for note in &a.notes {
        let _ = writeln!(out, "\nnote: {note}");
    }
    out
}

fn to_json(answer: &AuditAnswer) -> serde_json::Value {
    let mut v = serde_json::to_value(&answer.audit).unwrap_or_default();
    v["window"] = json!(answer.window.map(|w| json!({"from": w.from, "to": w.to})));
    v
}

/// One row per finding.
pub fn csv(a: &Audit) -> String {
    let mut out = String::from("finding,source,dest,protocol,ports,connections,rules\n");
    let mut row = |cells: [String; 7]| {
        let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    };
    for u in &a.unused {
        row([
            "allowed_unused".into(),
            u.source.clone(),
            u.dest.clone(),
            u.protocol.to_string(),
            u.ports.as_deref().map(ports_text).unwrap_or_default(),
            "0".into(),
            rules_text(&[&u.egress_rule, &u.ingress_rule]),
        ]);
    }
    for d in &a.denied_attempted {
        row([
            "denied_attempted".into(),
            d.source.clone(),
            d.dest.clone(),
            d.protocol.to_string(),
            ports_text(&d.ports),
            d.connections.to_string(),
            d.rule.as_ref().map(RuleRef::text).unwrap_or_default(),
        ]);
    }
    for r in a.rules_never_hit() {
        for p in &r.idle_pairs {
            row([
                "rule_never_hit".into(),
                p.source.clone(),
                p.dest.clone(),
                String::new(),
                p.connections.clone(),
                "0".into(),
                r.rule.text(),
            ]);
        }
    }
    out
}
