//! The fuzz targets of this crate run on stable as a bounded smoke test: each harness
//! (shared with `fuzz/fuzz_targets`) over its seed corpus and fixed mutations of it, see
//! `fuzz/harness/smoke.rs`.

#[path = "../../../fuzz/harness/flow_lines.rs"]
mod flow_lines;
#[path = "../../../fuzz/harness/smoke.rs"]
mod smoke;

#[test]
fn flow_lines_survives_its_seeds_and_their_mutations() {
    let runs = smoke::run("flow_lines", flow_lines::run);
    assert!(runs > smoke::MUTATIONS_PER_SEED, "{runs} inputs");
}
