//! `flowlens explain`: why a flow is allowed or denied, step by step.

use crate::cli::{ExplainArgs, TextOrJson};
use anyhow::Result;
use flowlens_policy::{Engine, render_explanation};
use std::process::ExitCode;

pub fn run(args: ExplainArgs) -> Result<ExitCode> {
    let loaded = crate::snapshot::load(&args.snapshot, &args.options)?;
    let engine = Engine::new(loaded.inventory);
    let flow = engine.resolve_flow(&args.from, &args.to, &args.proto, args.src_port, args.port)?;
    let mut explanation =
        engine.explain(&flow.src, &flow.dst, &flow.tuple, args.policy_format.into());
    explanation.notes.clone_from(&flow.notes);
    match args.output {
        TextOrJson::Json => {
            let mut value = serde_json::to_value(&explanation)?;
            if let Some(t) = &flow.service {
                value["service"] = serde_json::json!({
                    "namespace": t.namespace, "name": t.name, "port": t.port,
                    "port_name": t.port_name, "target_port": t.target_port,
                });
            }
            println!("{}", serde_json::to_string_pretty(&value)?);
        }
        TextOrJson::Text => {
            print!(
                "{}",
                render_explanation(&explanation, flow.service.as_ref())
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
