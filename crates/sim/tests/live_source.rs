//! The live scenario as an ingest source: it backfills, goes live, and applies a manual step
//! in order with its traffic.

mod common;

use flowlens_ingest::{CalicoLines, IngestLoop, IngestOptions};
use flowlens_model::PolicyHitFormat;
use flowlens_policy::Engine;
use flowlens_sim::{AppliedStep, InstallStep, LiveOptions, LiveScenario, Simulation};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[test]
fn a_step_asked_for_after_the_backfill_is_applied_and_answered() {
    let backfill = Duration::from_secs(300);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let start = (now - backfill).as_secs() as i64;
    let simulation = Simulation::new(common::builtin("storefront"), 1, start);
    let engine = Arc::new(Engine::new(simulation.inventory()));
    let install: InstallStep =
        Box::new(|step: &AppliedStep| Arc::new(Engine::new(step.inventory.clone())));
    let options = LiveOptions {
        speed: 30.0,
        backfill,
        tick: Duration::from_millis(50),
    };
    let (source, scenario) = LiveScenario::new(simulation, options, install);

    let mut out = Vec::new();
    let mut lines = CalicoLines::new(&mut out, PolicyHitFormat::Calico);
    let summary = std::thread::scope(|s| {
        let mut ingest = IngestLoop::new(engine, &mut lines, IngestOptions::default());
        ingest.add_source(source);
        let running = s.spawn(move || ingest.run());
        // Asked at once, the step waits for the backfill to end; it must not wait longer.
        let answer = scenario.apply_step("rogue");
        let applied = answer.recv_timeout(Duration::from_secs(60));
        let unknown = scenario
            .apply_step("no-such-step")
            .recv_timeout(Duration::from_secs(60));
        // A few simulated minutes of traffic after the step.
        std::thread::sleep(Duration::from_secs(4));
        scenario.stop();
        let summary = running.join().unwrap().unwrap();
        let applied = applied.expect("no answer to the step").unwrap();
        assert_eq!(applied.name, "rogue");
        assert!(
            applied.time >= start + backfill.as_secs() as i64 - 1,
            "{applied:?}"
        );
        assert!(unknown.expect("no answer").is_err());
        let status = scenario.status();
        assert!(status.steps.iter().any(|s| s.name == "rogue" && s.applied));
        summary
    });
    assert!(summary.failures.is_empty(), "{:?}", summary.failures);
    assert!(summary.stats.raw_records > 0);
    let text = String::from_utf8(out).unwrap();
    // Flows of the rogue pod exist only after the step, and were denied.
    assert!(
        text.lines()
            .any(|l| l.contains("\"source_name_aggr\":\"rogue-")
                && l.contains("\"action\":\"deny\"")),
        "no denied rogue flow in {} lines",
        text.lines().count()
    );
}
