//! `flowlens evaluate`: verdicts for a file of flows.

use crate::cli::EvaluateArgs;
use anyhow::Result;
use flowlens_model::PolicyHitFormat;
use flowlens_policy::{DirectionVerdict, Engine};
use serde::Deserialize;
use serde_json::{Value, json};
use std::io::Write;
use std::process::ExitCode;

#[derive(Deserialize)]
struct FlowLine {
    src: String,
    dst: String,
    #[serde(default = "tcp")]
    proto: String,
    #[serde(default)]
    dst_port: u16,
    #[serde(default)]
    src_port: u16,
}

fn tcp() -> String {
    "tcp".into()
}

pub fn run(args: EvaluateArgs) -> Result<ExitCode> {
    let loaded = crate::snapshot::load(&args.snapshot, &args.options)?;
    let engine = Engine::new(loaded.inventory);
    let format: PolicyHitFormat = args.policy_format.into();
    let input = super::open_input(&args.flows)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut errors = 0usize;
    for (i, line) in input.enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let answer = match evaluate_line(&engine, &line, format) {
            Ok(v) => v,
            Err(e) => {
                errors += 1;
                json!({ "error": format!("line {}: {e:#}", i + 1) })
            }
        };
        writeln!(out, "{answer}")?;
    }
    out.flush()?;
    if errors > 0 {
        eprintln!("{errors} line(s) could not be evaluated");
    }
    Ok(ExitCode::SUCCESS)
}

fn evaluate_line(engine: &Engine, line: &str, format: PolicyHitFormat) -> Result<Value> {
    let req: FlowLine = serde_json::from_str(line)?;
    let flow = engine.resolve_flow(&req.src, &req.dst, &req.proto, req.src_port, req.dst_port)?;
    let verdict = engine.evaluate_peers(&flow.src, &flow.dst, &flow.tuple);
    let direction = |d: &Option<DirectionVerdict>| match d {
        Some(d) => json!({ "action": d.action, "policies": engine.hit_strings(&d.hits, format) }),
        None => Value::Null,
    };
    let hits = |d: &Option<DirectionVerdict>| match d {
        Some(d) => json!(engine.hit_strings(&d.hits, format)),
        None => Value::Null,
    };
    // Ingress after an egress deny is what the destination would do, not what happened.
    let mut ingress = direction(&verdict.ingress);
    if let Some(i) = ingress.as_object_mut() {
        let denied = |d: &Option<DirectionVerdict>| {
            d.as_ref()
                .is_some_and(|d| d.action == flowlens_policy::Action::Deny)
        };
        i.insert("reached".into(), json!(!denied(&verdict.egress)));
    }
    let mut answer = json!({
        "action": verdict.action,
        "egress": direction(&verdict.egress),
        "ingress": ingress,
        "pending": {
            "action": verdict.pending.action,
            "egress": hits(&verdict.pending.egress),
            "ingress": hits(&verdict.pending.ingress),
        },
    });
    if !flow.notes.is_empty() {
        answer["notes"] = json!(flow.notes);
    }
    Ok(answer)
}
