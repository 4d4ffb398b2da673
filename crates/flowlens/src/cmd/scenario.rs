//! `flowlens simulate` and `flowlens scenario`: built-in traffic scenarios.

use crate::cli::{ScaleOptions, ScenarioCommand, ScenarioOptions, SimulateArgs};
use anyhow::{Context, Result};
use flowlens_ingest::{CalicoLines, IngestLoop, IngestOptions};
use flowlens_model::PolicyHitFormat;
use flowlens_policy::Engine;
use flowlens_sim::{Generator, ReplaySource, ScaleParams, Scenario};
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

/// Loads the scenario the options name.
pub fn load(options: &ScenarioOptions) -> Result<Scenario> {
    load_named(&options.scenario, &options.scale)
}

/// Loads a scenario by name or directory; `scale` sizes the generated one.
pub fn load_named(name: &str, scale: &ScaleOptions) -> Result<Scenario> {
    if name == flowlens_sim::SCALE {
        let params = ScaleParams {
            namespaces: scale.namespaces,
            workloads: scale.workloads,
            policies: scale.policies,
            tiers: scale.tiers,
            flows_per_second: scale.rate,
            endpoints_per_workload: scale.pods_per_workload,
            ..ScaleParams::default()
        };
        return Scenario::scale(&params).context("building the scale scenario");
    }
    let path = std::path::Path::new(name);
    if path.is_dir() {
        return Scenario::load(path).with_context(|| format!("loading scenario {name}"));
    }
    Scenario::builtin(name).with_context(|| {
        format!("scenario {name:?}; `flowlens scenario list` shows the built-in ones")
    })
}

pub fn run(cmd: ScenarioCommand) -> Result<ExitCode> {
    match cmd {
        ScenarioCommand::List => {
            for (name, description) in flowlens_sim::list_builtin() {
                println!("{name}\n    {description}");
                let steps: Vec<String> = match Scenario::builtin(&name) {
                    Ok(s) if name != flowlens_sim::SCALE => {
                        s.steps().iter().map(|st| st.name.clone()).collect()
                    }
                    _ => Vec::new(),
                };
                if !steps.is_empty() {
                    println!("    steps: {}", steps.join(", "));
                }
            }
        }
        ScenarioCommand::Step {
            scenario,
            step,
            url,
        } => return apply_step(&url, &scenario, &step),
    }
    Ok(ExitCode::SUCCESS)
}

/// Asks a running demo to apply a step, after checking it runs the scenario named.
fn apply_step(url: &str, scenario: &str, step: &str) -> Result<ExitCode> {
    // The URL the demo printed carries its token in the fragment; FLOWLENS_TOKEN works too.
    let (url, token) = match url.split_once("#token=") {
        Some((url, token)) => (url, Some(token.to_string())),
        None => (url, std::env::var("FLOWLENS_TOKEN").ok()),
    };
    let auth = token
        .map(|t| format!("Bearer {}", t.trim()))
        .unwrap_or_default();
    let base = url.trim_end_matches('/');
    let unreachable = || {
        format!(
            "cannot reach a flowlens demo at {base}; start one with `flowlens demo --scenario {scenario}` (or give --url)"
        )
    };
    let info: serde_json::Value = ureq::get(format!("{base}/api/scenario"))
        .header("authorization", &auth)
        .call()
        .with_context(unreachable)?
        .body_mut()
        .read_json()
        .context("reading the demo's answer")?;
    let running = info["name"].as_str().unwrap_or("");
    if running != scenario {
        anyhow::bail!("the demo at {base} runs scenario {running:?}, not {scenario:?}");
    }
    let mut response = ureq::post(format!("{base}/api/scenario/steps/{step}"))
        .header("authorization", &auth)
        .config()
        .http_status_as_error(false)
        .build()
        .send_empty()
        .with_context(unreachable)?;
    let body: serde_json::Value = response.body_mut().read_json().unwrap_or_default();
    if !response.status().is_success() {
        anyhow::bail!(
            "{}",
            body["error"]
                .as_str()
                .unwrap_or("the demo refused the step")
        );
    }
    println!("step {step} applied to {scenario} at {}", body["time"]);
    for warning in body["warnings"].as_array().into_iter().flatten() {
        eprintln!("warning: {}", warning.as_str().unwrap_or_default());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn simulate(args: SimulateArgs) -> Result<ExitCode> {
    let mut scenario = load(&args.scenario)?;
    for step in &args.steps {
        scenario
            .apply_step(step)
            .with_context(|| format!("step {step:?}"))?;
    }
    let duration = args.duration.as_secs() as i64;
    let start = args.start.unwrap_or_else(|| super::now() - duration);
    let mut generator = Generator::new(&scenario, args.seed, start);
    let sink: Box<dyn Write + Send> = if args.output.as_os_str() == "-" {
        Box::new(std::io::stdout())
    } else {
        Box::new(
            std::fs::File::create(&args.output)
                .with_context(|| format!("cannot create {}", args.output.display()))?,
        )
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 20, sink);
    if args.calico {
        // Attributed and aggregated by the ingest loop, written as Calico flow log lines.
        let mut lines = CalicoLines::new(&mut out, PolicyHitFormat::Calico);
        let engine = Arc::new(Engine::new(scenario.inventory().clone()));
        let options = IngestOptions {
            aggregation: args.aggregation.config(),
            ..IngestOptions::default()
        };
        let mut ingest = IngestLoop::new(engine, &mut lines, options);
        ingest.add_source(ReplaySource::new(generator, duration, "simulate"));
        let summary = ingest.run()?;
        if let Some(failure) = summary.failures.into_iter().next() {
            return Err(anyhow::Error::from_boxed(failure.error));
        }
        let records = summary.stats.accepted + summary.stats.rejected;
        eprintln!(
            "{records} raw records → {} Calico flow logs written to {}",
            lines.written(),
            args.output.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut records = 0u64;
    let mut buf = Vec::new();
    let mut line = Vec::new();
    for _ in 0..duration {
        buf.clear();
        generator.advance_into(1.0, &mut buf);
        records += buf.len() as u64;
        for r in &buf {
            line.clear();
            serde_json::to_writer(&mut line, r)?;
            line.push(b'\n');
            out.write_all(&line)?;
        }
    }
    out.flush()?;
    eprintln!("{records} raw records written to {}", args.output.display());
    Ok(ExitCode::SUCCESS)
}
