//! The fuzz targets of this crate run on stable as a bounded smoke test: each harness
//! (shared with `fuzz/fuzz_targets`) over its seed corpus and fixed mutations of it, see
//! `fuzz/harness/smoke.rs`.

#[path = "../../../fuzz/harness/goldmane_flow.rs"]
mod goldmane_flow;
#[path = "../../../fuzz/harness/hubble_jsonpb.rs"]
mod hubble_jsonpb;
#[path = "../../../fuzz/harness/netflow_datagrams.rs"]
mod netflow_datagrams;
#[path = "../../../fuzz/harness/smoke.rs"]
mod smoke;

#[test]
fn netflow_datagrams_survives_its_seeds_and_their_mutations() {
    let runs = smoke::run("netflow_datagrams", netflow_datagrams::run);
    assert!(runs > smoke::MUTATIONS_PER_SEED, "{runs} inputs");
}

#[test]
fn hubble_jsonpb_survives_its_seeds_and_their_mutations() {
    let runs = smoke::run("hubble_jsonpb", hubble_jsonpb::run);
    assert!(runs > smoke::MUTATIONS_PER_SEED, "{runs} inputs");
}

#[test]
fn goldmane_flow_survives_its_seeds_and_their_mutations() {
    let runs = smoke::run("goldmane_flow", goldmane_flow::run);
    assert!(runs > smoke::MUTATIONS_PER_SEED, "{runs} inputs");
}
