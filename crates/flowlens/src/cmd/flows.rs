//! `flowlens flows`: search and aggregate stored flow logs.

use crate::cli::{FlowsArgs, GroupByArg, TableFormat};
use anyhow::{Result, anyhow};
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use flowlens_model::{FlowLog, PolicyHitFormat, RuleDirection};
use flowlens_pipeline::encode::{calico_json, csv_cell, csv_header, csv_row};
use flowlens_selector::Selector;
use flowlens_store::{
    AggregateRow, FieldFilter, FlowSearch, GroupBy, HitCounts, PolicyFilter, PolicyMetrics,
    SortKey, TimeRange,
};
use std::io::Write;
use std::process::ExitCode;

pub fn run(args: FlowsArgs) -> Result<ExitCode> {
    let rt = super::runtime()?;
    let opened = rt.block_on(super::open_any(&args.data))?;
    let store = opened.as_store();
    // `--since` counts back from the newest stored flow log when it is ahead of the clock
    // (a replay, a sender whose clock runs ahead), as the API does.
    let newest = rt.block_on(store.time_bounds())?.map(|(_, newest)| newest);
    let now = super::now().max(newest.unwrap_or(i64::MIN));
    let query = build_query(&args, now)?;
    let format: PolicyHitFormat = args.policy_format.into();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if let Some(group @ (GroupByArg::Policy | GroupByArg::PolicyRule)) = args.group_by {
        let mut metrics = rt.block_on(store.policy_metrics(&query))?;
        // Busiest first, as the other groupings are.
        metrics.sort_by_key(|m| std::cmp::Reverse(m.total.connections));
        metrics.truncate(args.limit);
        print_policy_metrics(
            &mut out,
            &metrics,
            group == GroupByArg::PolicyRule,
            args.output,
        )?;
    } else if let Some(group) = args.group_by {
        let rows = rt.block_on(store.aggregate(&query, group_by(group)))?;
        print_aggregates(&mut out, &rows, args.output)?;
    } else {
        let page = rt.block_on(store.query_flows(&query))?;
        print_flows(&mut out, &page.flows, args.output, format)?;
        out.flush()?;
        if args.output == TableFormat::Table {
            eprintln!("{} of {} matching flow logs", page.flows.len(), page.total);
            if let Some(token) = &page.next_page_token {
                eprintln!("more: --page-token {token}");
            }
        }
    }
    out.flush()?;
    rt.block_on(opened.close())?;
    Ok(ExitCode::SUCCESS)
}

/// Unix seconds or RFC 3339.
pub(crate) fn parse_time(text: &str) -> Result<i64> {
    if let Ok(n) = text.trim().parse::<i64>() {
        return Ok(n);
    }
    let t = humantime::parse_rfc3339_weak(text.trim()).map_err(|e| {
        anyhow!("time {text:?}: {e}; use unix seconds or RFC 3339 like 2026-11-21T14:00:00Z")
    })?;
    Ok(t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0))
}

fn build_query(args: &FlowsArgs, now: i64) -> Result<FlowSearch> {
    let time = match (&args.since, &args.from, &args.to) {
        (Some(since), _, _) => {
            let d = flowlens_store::parse_duration(since)?;
            TimeRange::since(d, now)
        }
        (None, from, to) => TimeRange::new(
            from.as_deref()
                .map(parse_time)
                .transpose()?
                .unwrap_or(i64::MIN),
            to.as_deref()
                .map(parse_time)
                .transpose()?
                .unwrap_or(i64::MAX),
        ),
    };
    let mut query = FlowSearch::new(time).limit(args.limit);
    for f in &args.filters {
        query = query.filter(FieldFilter::parse(f)?);
    }
    let selector = |text: &Option<String>, what: &str| -> Result<Option<Selector>> {
        text.as_deref()
            .map(|t| Selector::parse(t).map_err(|e| anyhow!("{what}: {e}\n{}", e.caret())))
            .transpose()
    };
    query.source_selector = selector(&args.src_selector, "--src-selector")?;
    query.dest_selector = selector(&args.dst_selector, "--dst-selector")?;
    query.policy = PolicyFilter::parse(
        args.policy.as_deref(),
        args.policy_action.as_deref(),
        args.policy_rule.as_deref(),
    )?;
    for s in &args.sort {
        query = query.sorted_by(SortKey::parse(s)?);
    }
    query.page_token = args.page_token.clone();
    Ok(query)
}

fn group_by(g: GroupByArg) -> GroupBy {
    match g {
        GroupByArg::NamespacePair => GroupBy::NamespacePair,
        GroupByArg::NamePair => GroupBy::NamePair,
        GroupByArg::Edge => GroupBy::Edge,
        GroupByArg::Policy => GroupBy::Policy,
        GroupByArg::PolicyRule => GroupBy::PolicyRule,
        GroupByArg::Action => GroupBy::Action,
    }
}

fn dash(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".into())
}

fn end_label(namespace: &Option<String>, name: &Option<String>, aggr: &str) -> String {
    let who = name.clone().unwrap_or_else(|| aggr.to_string());
    match namespace {
        Some(ns) => format!("{ns}/{who}"),
        None => who,
    }
}

fn print_flows(
    out: &mut impl Write,
    flows: &[FlowLog],
    format: TableFormat,
    hits: PolicyHitFormat,
) -> Result<()> {
    match format {
        TableFormat::Json => {
            let all: Vec<_> = flows.iter().map(|f| calico_json(f, hits)).collect();
            writeln!(out, "{}", serde_json::to_string_pretty(&all)?)?;
        }
        TableFormat::Jsonl => {
            for f in flows {
                writeln!(out, "{}", calico_json(f, hits))?;
            }
        }
        TableFormat::Csv => {
            writeln!(out, "{}", csv_header())?;
            for f in flows {
                writeln!(out, "{}", csv_row(&calico_json(f, hits)))?;
            }
        }
        TableFormat::Table => {
            let mut t = Table::new();
            t.load_preset(UTF8_BORDERS_ONLY).set_header([
                "end time",
                "rep",
                "action",
                "source",
                "destination",
                "port",
                "proto",
                "decided by",
                "flows",
                "bytes in/out",
            ]);
            for f in flows {
                let decided = f
                    .enforced_policies
                    .last()
                    .map(|h| h.to_string_in(hits))
                    .unwrap_or_else(|| "-".into());
                t.add_row([
                    humantime::format_rfc3339_seconds(
                        std::time::UNIX_EPOCH
                            + std::time::Duration::from_secs(f.end_time.max(0) as u64),
                    )
                    .to_string(),
                    f.reporter.as_str().to_string(),
                    f.action.to_string(),
                    end_label(&f.source.namespace, &f.source.name, &f.source.name_aggr),
                    end_label(&f.dest.namespace, &f.dest.name, &f.dest.name_aggr),
                    f.dest
                        .port
                        .map(|p| p.to_string())
                        .unwrap_or_else(|| "-".into()),
                    f.proto.flow_log_name().into_owned(),
                    decided,
                    f.num_flows.to_string(),
                    format!("{}/{}", f.bytes_in, f.bytes_out),
                ]);
            }
            writeln!(out, "{t}")?;
        }
    }
    Ok(())
}

/// Rows of text as a table or as CSV.
fn print_table(
    out: &mut impl Write,
    header: &[&str],
    rows: &[Vec<String>],
    format: TableFormat,
) -> Result<()> {
    if format == TableFormat::Csv {
        writeln!(out, "{}", header.join(","))?;
        for r in rows {
            writeln!(
                out,
                "{}",
                r.iter().map(|c| csv_cell(c)).collect::<Vec<_>>().join(",")
            )?;
        }
    } else {
        let mut t = Table::new();
        t.load_preset(UTF8_BORDERS_ONLY).set_header(header);
        for r in rows {
            t.add_row(r);
        }
        writeln!(out, "{t}")?;
    }
    Ok(())
}

fn print_aggregates(
    out: &mut impl Write,
    rows: &[AggregateRow],
    format: TableFormat,
) -> Result<()> {
    match format {
        TableFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(rows)?)?,
        TableFormat::Jsonl => {
            for r in rows {
                writeln!(out, "{}", serde_json::to_string(r)?)?;
            }
        }
        TableFormat::Csv | TableFormat::Table => {
            let header = [
                "source",
                "destination",
                "proto/port",
                "action",
                "flows",
                "allowed",
                "denied",
                "conn/s",
                "pkt/s",
                "bit/s",
            ];
            let rows_text: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    let k = &r.key;
                    vec![
                        [dash(&k.source_namespace), dash(&k.source_name_aggr)].join("/"),
                        [dash(&k.dest_namespace), dash(&k.dest_name_aggr)].join("/"),
                        format!(
                            "{}/{}",
                            dash(&k.proto),
                            k.dest_port
                                .map(|p| p.to_string())
                                .unwrap_or_else(|| "-".into())
                        ),
                        k.action
                            .map(|a| a.to_string())
                            .unwrap_or_else(|| "-".into()),
                        r.num_flows.to_string(),
                        r.allowed_flows.to_string(),
                        r.denied_flows.to_string(),
                        format!("{:.2}", r.connections_per_second),
                        format!("{:.2}", r.packets_per_second),
                        format!("{:.0}", r.bits_per_second),
                    ]
                })
                .collect();
            print_table(out, &header, &rows_text, format)?;
        }
    }
    Ok(())
}

/// A policy as hits name it: `tier|kind:[namespace/]name`.
fn policy_label(m: &PolicyMetrics) -> String {
    let kind = m
        .kind
        .map(|k| format!("{}:", k.hit_tag()))
        .unwrap_or_default();
    let ns = m
        .namespace
        .as_ref()
        .map(|n| format!("{n}/"))
        .unwrap_or_default();
    format!("{}|{kind}{ns}{}", m.tier, m.name)
}

/// The Policy Board's numbers: one row per policy, or (`rules`) one per policy, direction
/// and rule.
fn print_policy_metrics(
    out: &mut impl Write,
    metrics: &[PolicyMetrics],
    rules: bool,
    format: TableFormat,
) -> Result<()> {
    match format {
        TableFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(metrics)?)?,
        TableFormat::Jsonl => {
            for m in metrics {
                writeln!(out, "{}", serde_json::to_string(m)?)?;
            }
        }
        TableFormat::Csv | TableFormat::Table => {
            let counts = |c: &HitCounts| {
                [
                    c.connections,
                    c.allowed,
                    c.denied,
                    c.passed,
                    c.pending_connections,
                    c.pending_allowed,
                    c.pending_denied,
                    c.pending_passed,
                ]
                .map(|n| n.to_string())
            };
            let mut header = vec!["policy"];
            if rules {
                header.extend(["direction", "rule"]);
            }
            header.extend([
                "connections",
                "allowed",
                "denied",
                "passed",
                "pending",
                "pending allowed",
                "pending denied",
                "pending passed",
            ]);
            let mut rows: Vec<Vec<String>> = Vec::new();
            for m in metrics {
                let label = policy_label(m);
                if !rules {
                    rows.push(std::iter::once(label).chain(counts(&m.total)).collect());
                    continue;
                }
                for (direction, name) in [
                    (RuleDirection::Ingress, "ingress"),
                    (RuleDirection::Egress, "egress"),
                ] {
                    for (rule, c) in m.rules(direction) {
                        let mut row = vec![label.clone(), name.to_string(), rule.to_string()];
                        row.extend(counts(c));
                        rows.push(row);
                    }
                }
            }
            print_table(out, &header, &rows, format)?;
        }
    }
    Ok(())
}
