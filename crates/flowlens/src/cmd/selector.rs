//! `flowlens selector`: test Calico selectors.

use crate::cli::SelectorArgs;
use anyhow::{Result, bail};
use flowlens_model::Labels;
use flowlens_selector::Selector;
use serde::Deserialize;
use std::io::Write;
use std::process::ExitCode;

pub fn run(args: SelectorArgs) -> Result<ExitCode> {
    if let Some(path) = &args.batch {
        return batch(path);
    }
    let expr = args.expr.unwrap_or_default();
    let labels = parse_labels(&args.labels)?;
    match Selector::parse(&expr) {
        Ok(sel) => {
            let matched = sel.matches(&labels);
            println!("{}: {sel}", if matched { "match" } else { "no match" });
            Ok(ExitCode::from(if matched { 0 } else { 1 }))
        }
        Err(err) => {
            eprintln!("error: {err}\n{}", err.caret());
            Ok(ExitCode::from(2))
        }
    }
}

/// `k=v,k2=v2` → labels. Values may be empty (`k=`); keys may not.
pub fn parse_labels(text: &str) -> Result<Labels> {
    let mut labels = Labels::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((k, v)) = pair.split_once('=') else {
            bail!("label {pair:?} is not of the form key=value");
        };
        if k.trim().is_empty() {
            bail!("label {pair:?} has an empty key");
        }
        labels.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(labels)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchLine {
    selector: String,
    #[serde(default)]
    labels: Labels,
}

fn batch(path: &std::path::Path) -> Result<ExitCode> {
    let input = super::open_input(path)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for (i, line) in input.enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let answer = match serde_json::from_str::<BatchLine>(&line) {
            Err(e) => {
                serde_json::json!({ "error": format!("line {}: not a selector request: {e}", i + 1) })
            }
            Ok(req) => match Selector::parse(&req.selector) {
                Ok(sel) => serde_json::json!({ "match": sel.matches(&req.labels) }),
                Err(e) => serde_json::json!({ "error": e.to_string() }),
            },
        };
        writeln!(out, "{answer}")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
