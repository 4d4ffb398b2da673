//! `flowlens inventory`: what a snapshot holds.

use crate::cli::{InventoryArgs, TextOrJson};
use anyhow::Result;
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use flowlens_model::{EndpointType, Inventory};
use std::process::ExitCode;

pub fn run(args: InventoryArgs) -> Result<ExitCode> {
    let loaded = crate::snapshot::load(&args.paths, &args.snapshot)?;
    let inv = &loaded.inventory;
    if args.output == TextOrJson::Json {
        println!("{}", serde_json::to_string_pretty(inv)?);
        return Ok(ExitCode::SUCCESS);
    }
    let report = &loaded.report;
    let counts = inv.counts();
    println!(
        "Loaded {} documents from {} files.",
        report.documents, report.files
    );
    if !report.skipped_kinds.is_empty() {
        let skipped: Vec<String> = report
            .skipped_kinds
            .iter()
            .map(|(k, n)| format!("{k} ×{n}"))
            .collect();
        println!(
            "Skipped {} documents of kinds Flowlens does not use: {}.",
            report.skipped_kinds.values().sum::<usize>(),
            skipped.join(", ")
        );
    }
    if let Some(summary) = crate::snapshot::skipped_summary(report) {
        println!(
            "{}{} (see the warnings).",
            &summary[..1].to_uppercase(),
            &summary[1..]
        );
    }
    println!();
    println!("Namespaces ({}):", counts.namespaces);
    let mut ns_table = Table::new();
    ns_table.load_preset(UTF8_BORDERS_ONLY).set_header([
        "namespace",
        "pods",
        "services",
        "network sets",
        "policies",
        "labels",
    ]);
    for ns in &inv.namespaces {
        let in_ns = |n: Option<&String>| n.is_some_and(|n| *n == ns.name);
        ns_table.add_row([
            ns.name.clone(),
            inv.endpoints
                .iter()
                .filter(|e| in_ns(e.namespace.as_ref()))
                .count()
                .to_string(),
            inv.services
                .iter()
                .filter(|s| s.namespace == ns.name)
                .count()
                .to_string(),
            inv.network_sets
                .iter()
                .filter(|s| in_ns(s.namespace.as_ref()))
                .count()
                .to_string(),
            inv.policies
                .iter()
                .filter(|p| in_ns(p.namespace.as_ref()))
                .count()
                .to_string(),
            flowlens_policy::format_labels(&ns.labels),
        ]);
    }
    println!("{ns_table}");
    println!(
        "\nEndpoints: {} workload (wep), {} host (hep); {} services; {} network sets ({} global); {} service accounts.",
        counts.workload_endpoints,
        counts.host_endpoints,
        counts.services,
        counts.network_sets,
        inv.network_sets
            .iter()
            .filter(|s| s.namespace.is_none())
            .count(),
        counts.service_accounts,
    );
    print_workloads(inv);
    println!("\nTiers and policies, in evaluation order:");
    for tier in inv.tiers_in_order() {
        let policies = inv.policies_in_tier(&tier.name);
        let order = tier
            .order
            .map(|o| o.to_string())
            .unwrap_or_else(|| "none".into());
        println!(
            "  tier {} (order {order}, default action {:?}): {} policies",
            tier.name,
            tier.default_action,
            policies.len()
        );
        for p in policies {
            let order = p.order.map(|o| o.to_string()).unwrap_or_else(|| "-".into());
            let types = match (p.types.ingress, p.types.egress) {
                (true, true) => "ingress+egress",
                (true, false) => "ingress",
                (false, true) => "egress",
                (false, false) => "none",
            };
            let staged = if p.kind.is_staged() { " [staged]" } else { "" };
            println!(
                "    {order:>8}  {}:{}{staged}  {types}, {} ingress / {} egress rules, selector {}",
                p.kind.hit_tag(),
                p.qualified_name(),
                p.ingress.len(),
                p.egress.len(),
                p.selector
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_workloads(inv: &Inventory) {
    let mut table = Table::new();
    table.load_preset(UTF8_BORDERS_ONLY).set_header([
        "type",
        "namespace",
        "aggregated name",
        "endpoints",
        "addresses",
        "labels",
    ]);
    let mut groups: std::collections::BTreeMap<
        (EndpointType, String, String),
        Vec<&flowlens_model::Endpoint>,
    > = Default::default();
    for e in &inv.endpoints {
        groups
            .entry((
                e.endpoint_type,
                e.namespace.clone().unwrap_or_else(|| "-".into()),
                e.name_aggr.clone(),
            ))
            .or_default()
            .push(e);
    }
    for ((t, ns, aggr), eps) in &groups {
        let ips: Vec<String> = eps
            .iter()
            .flat_map(|e| e.ips.iter().map(|i| i.to_string()))
            .take(3)
            .collect();
        let more = eps
            .iter()
            .map(|e| e.ips.len())
            .sum::<usize>()
            .saturating_sub(3);
        let ips = if more > 0 {
            format!("{} (+{more})", ips.join(", "))
        } else {
            ips.join(", ")
        };
        table.add_row([
            t.to_string(),
            ns.clone(),
            aggr.clone(),
            eps.len().to_string(),
            ips,
            flowlens_policy::format_labels(&eps[0].labels),
        ]);
    }
    if !groups.is_empty() {
        println!("{table}");
    }
}
